//! What persists between runtime commands: `<root>/<id>/state.json`.
//!
//! Written with write-to-temporary + rename, so a crash at any instant leaves the
//! old or the new file, never a torn one. The file lives on the runtime's state
//! directory (a tmpfs under /run by default): it describes processes, which do not
//! survive a reboot, so it is not fsynced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_cgroups::{Cgroup, FreezerState};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// A container's status, as the runtime spec names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The persisted record of a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Host pid of the container's init process.
    pub pid: i32,
    /// Its start time (clock ticks since boot, /proc/<pid>/stat field 22): a pid
    /// with another start time is a recycled pid, not our process.
    pub pid_start: u64,
    pub created: String,
    pub owner: String,
    pub cgroup: Cgroup,
    pub systemd_cgroup: bool,
    /// The container's configuration (exec and delete need it after the bundle
    /// may have changed).
    pub config: Spec,
}

/// The OCI state of a container (`runc state` output and hook stdin).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl State {
    pub fn dir(&self, root: &Path) -> PathBuf {
        container_dir(root, &self.id)
    }

    pub fn load(root: &Path, id: &str) -> Result<State> {
        crate::spec::validate_id(id)?;
        let path = container_dir(root, id).join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound),
            Err(e) => return Err(e).context(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Other(format!("corrupt state file {}: {e}", path.display())))
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = self.dir(root);
        let tmp = dir.join(".state.json.tmp");
        let bytes = serde_json::to_vec(self).expect("state serialises");
        std::fs::write(&tmp, bytes).context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(STATE_FILE))
            .context(|| format!("rename {} into place", tmp.display()))
    }

    /// Whether the recorded init process is still alive (and is still ours).
    pub fn alive(&self) -> bool {
        self.pid > 0 && process_start_time(self.pid) == Some(self.pid_start)
    }

    pub fn status(&self, root: &Path) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if self.dir(root).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self.cgroup.freezer_state() == FreezerState::Frozen {
            return Status::Paused;
        }
        Status::Running
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.config
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: crate::OCI_VERSION.into(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: Some(self.rootfs.clone()),
            created: Some(self.created.clone()),
            owner: Some(self.owner.clone()),
            annotations: self.annotations(),
        }
    }
}

/// Start time of a live (non-zombie) process, from /proc/<pid>/stat.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // fields[0] is the state (field 3); start time is field 22 → index 19.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Ids of every container under `root`.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(e).context(|| format!("read {}", root.display())),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && e.path().join(STATE_FILE).exists() {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
}

/// The current time in RFC 3339 with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_readable() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
        assert!(process_start_time(i32::MAX).is_none());
    }
}

//! The lifecycle operations, each an entry point of the runtime.
//!
//! Every operation loads the container's [`State`], checks that the operation
//! fits its status, acts, and saves. Creation records nothing until the container
//! process reports that it is ready; a failure before that undoes every step
//! (process, cgroup, state directory) through a guard.

mod create;
mod exec;
mod held;
mod lifecycle;
mod query;

use std::path::{Path, PathBuf};

pub use create::CreateOptions;
pub use exec::ExecOptions;
pub use held::Held;
pub use query::Listed;

use crate::state::{State, Status};
use crate::{Context, Error, Result};

/// A runtime instance: where state lives and how cgroups are driven.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// State directory (`--root`), e.g. /run/berth-runc.
    pub root: PathBuf,
    /// `--systemd-cgroup`: interpret cgroupsPath as `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            systemd_cgroup: false,
        }
    }

    /// The default state directory: /run/berth-runc as root, else under
    /// $XDG_RUNTIME_DIR.
    pub fn default_root() -> PathBuf {
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/run/berth-runc");
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) => Path::new(&d).join("berth-runc"),
            None => PathBuf::from(format!("/tmp/berth-runc-{}", nix::unistd::geteuid())),
        }
    }

    fn seccomp_cache(&self) -> PathBuf {
        self.root.join(".cache").join("seccomp")
    }

    pub(crate) fn ensure_root(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .context(|| format!("create the state directory {}", self.root.display()))
    }

    /// Load a container and its current status.
    pub fn load(&self, id: &str) -> Result<(State, Status)> {
        let s = State::load(&self.root, id)?;
        let status = s.status(&self.root);
        Ok((s, status))
    }
}

/// Write a pid file atomically (temporary file + rename), as runc does.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string())
        .context(|| format!("write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).context(|| format!("write pid file {}", path.display()))
}

pub(crate) fn not_running(id: &str, status: Status, what: &str) -> Error {
    Error::WrongState(format!(
        "cannot {what} container {id}: container is {status}"
    ))
}

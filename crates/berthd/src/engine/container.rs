//! A container's record: what `docker inspect` shows, persisted atomically at
//! `<data-root>/containers/<id>/config.v2.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// created, running, paused, restarting, removing, exited, dead
    pub status: String,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// The monitor process (not part of Docker's shape; kept for live restore).
    #[serde(default)]
    pub monitor_pid: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    /// With the leading slash, as Docker shows it.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// Docker's container Config (image defaults merged in).
    pub config: Value,
    pub host_config: Value,
    /// The image ID (sha256:…).
    pub image: String,
    pub state: ContainerState,
    pub restart_count: u32,
    pub log_path: String,
    /// The user asked to stop it: no restart policy applies until started again.
    #[serde(default)]
    pub manually_stopped: bool,
    /// The networks it belongs to (by name), with what it asked of each.
    #[serde(default)]
    pub net_requests: std::collections::BTreeMap<String, super::network::EndpointRequest>,
    /// Its place on each network while it runs.
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, super::network::Attachment>,
}

impl Container {
    pub fn dir(data_root: &Path, id: &str) -> PathBuf {
        data_root.join("containers").join(id)
    }

    /// Write to a temporary file, fsync, rename: a crash leaves the old or the
    /// new record, never a torn one.
    pub fn save(&self, data_root: &Path) -> std::io::Result<()> {
        self.save_with(data_root, true)
    }

    /// `durable`: fsync before the rename, so that the record also survives
    /// a power loss. Run-state changes skip it (the rename alone keeps them
    /// atomic for a daemon crash, and live restore re-derives them from the
    /// monitors); creation and user changes (rename, update) keep it.
    pub fn save_with(&self, data_root: &Path, durable: bool) -> std::io::Result<()> {
        let dir = Self::dir(data_root, &self.id);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(".config.v2.json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(self).expect("serialises"))?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, dir.join("config.v2.json"))?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Option<Container> {
        serde_json::from_slice(&std::fs::read(dir.join("config.v2.json")).ok()?).ok()
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn tty(&self) -> bool {
        self.config["Tty"].as_bool().unwrap_or(false)
    }

    pub fn running(&self) -> bool {
        matches!(
            self.state.status.as_str(),
            "running" | "paused" | "restarting"
        )
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config["AutoRemove"].as_bool().unwrap_or(false)
    }

    /// The image reference the user gave.
    pub fn image_name(&self) -> String {
        self.config["Image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn labels(&self) -> serde_json::Map<String, Value> {
        self.config["Labels"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// Docker's human status for `docker ps`: "Up 5 minutes", "Exited (0) 2 seconds ago", "Created".
    pub fn human_status(&self) -> String {
        let since = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| chrono::Utc::now().signed_duration_since(t))
                .ok()
        };
        match self.state.status.as_str() {
            "running" | "paused" | "restarting" => {
                let d = since(&self.state.started_at)
                    .map(human_duration)
                    .unwrap_or_default();
                let mut s = format!("Up {d}");
                if self.state.status == "paused" {
                    s.push_str(" (Paused)");
                } else if let Some(h) = &self.state.health {
                    match h.status.as_str() {
                        "starting" => s.push_str(" (health: starting)"),
                        st => s.push_str(&format!(" ({st})")),
                    }
                }
                s
            }
            "exited" | "dead" => {
                if self.state.finished_at.is_empty() || self.state.started_at.is_empty() {
                    return "Created".into();
                }
                let d = since(&self.state.finished_at)
                    .map(human_duration)
                    .unwrap_or_default();
                format!("Exited ({}) {d} ago", self.state.exit_code)
            }
            "removing" => "Removal In Progress".into(),
            _ => "Created".into(),
        }
    }
}

/// go-units HumanDuration, as Docker prints it.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = d.num_minutes();
    if mins == 1 {
        return "About a minute".into();
    }
    if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

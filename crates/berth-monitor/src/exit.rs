//! `<dir>/exit.json`: how the container ended, written atomically by the
//! monitor and read by the daemon (also after a daemon restart).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC3339 with nanoseconds.
    pub finished_at: String,
}

impl ExitRecord {
    pub fn now(exit_code: i32, oom_killed: bool) -> ExitRecord {
        ExitRecord {
            exit_code,
            oom_killed,
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }

    pub fn path(dir: &Path) -> std::path::PathBuf {
        dir.join("exit.json")
    }

    /// Write to a temporary file, fsync, rename: readers see the whole record or none.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(".exit.json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(self).expect("serialises"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, Self::path(dir))
    }

    pub fn load(dir: &Path) -> Option<ExitRecord> {
        serde_json::from_slice(&std::fs::read(Self::path(dir)).ok()?).ok()
    }
}

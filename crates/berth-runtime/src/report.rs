//! A start failure's typed reason, written to a file the caller named
//! (`berth-runc exec --report`), so that a daemon tells "not found" (127)
//! from "not executable" (126) without reading message text.

use std::path::Path;

use crate::{Error, StartFailure};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartReport {
    pub failure: StartFailure,
    pub message: String,
}

impl StartReport {
    /// The report of an error, if it is a start failure.
    pub fn of(e: &Error) -> Option<StartReport> {
        match e {
            Error::Start { kind, message } => Some(StartReport {
                failure: *kind,
                message: message.clone(),
            }),
            _ => None,
        }
    }

    /// Write atomically (temp + rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).expect("report serialises"))?;
        std::fs::rename(&tmp, path)
    }

    pub fn load(path: &Path) -> Option<StartReport> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("r");
        let e = Error::Start {
            kind: StartFailure::NotFound,
            message: "exec: \"x\": executable file not found in $PATH".into(),
        };
        StartReport::of(&e).unwrap().save(&p).unwrap();
        assert_eq!(
            StartReport::load(&p).unwrap().failure,
            StartFailure::NotFound
        );
        assert!(StartReport::of(&Error::NotFound).is_none());
        assert!(StartReport::load(&t.path().join("none")).is_none());
    }
}

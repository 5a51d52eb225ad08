//! The image config JSON (Docker/OCI), kept as-is, with typed accessors.

use std::collections::BTreeMap;

use berth_api::container::Config;

use crate::error::{Result, invalid_archive};

/// An image config: berth-api's typed form of the stored JSON (whose
/// digest is the image id; the bytes themselves stay in the blob store).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageConfig(pub berth_api::imagespec::ImageConfig);

/// One `history` item of the config.
pub type HistoryItem = berth_api::imagespec::History;

impl ImageConfig {
    /// Parses config JSON; it must have `rootfs.diff_ids` of sha256 digests.
    pub fn from_slice(data: &[u8]) -> Result<ImageConfig> {
        let v: serde_json::Value = serde_json::from_slice(data)
            .map_err(|e| invalid_archive(format!("image config: {e}")))?;
        if !v.is_object() {
            return Err(invalid_archive("image config: not a JSON object"));
        }
        let ids_ok = v
            .pointer("/rootfs/diff_ids")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|ids| {
                ids.iter()
                    .all(|d| d.as_str().is_some_and(crate::digest::is_digest))
            });
        if !ids_ok {
            return Err(invalid_archive(
                "image config: rootfs.diff_ids missing or not sha256 digests",
            ));
        }
        let spec =
            serde_json::from_value(v).map_err(|e| invalid_archive(format!("image config: {e}")))?;
        Ok(ImageConfig(spec))
    }

    /// The bytes to store (and digest).
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("image config serialises")
    }

    /// The container defaults (empty when the image has none).
    pub fn runtime(&self) -> Config {
        self.0.runtime()
    }

    /// `config.Cmd`.
    pub fn cmd(&self) -> Option<Vec<String>> {
        self.0.config.as_ref()?.cmd.as_ref().map(|c| c.0.clone())
    }

    /// `config.Entrypoint`.
    pub fn entrypoint(&self) -> Option<Vec<String>> {
        self.0
            .config
            .as_ref()?
            .entrypoint
            .as_ref()
            .map(|c| c.0.clone())
    }

    /// `config.Env` (`K=V` strings).
    pub fn env(&self) -> Vec<String> {
        self.runtime().env.unwrap_or_default()
    }

    /// `config.WorkingDir`, when not empty.
    pub fn working_dir(&self) -> Option<String> {
        Some(self.runtime().working_dir).filter(|s| !s.is_empty())
    }

    /// `config.User`, when not empty.
    pub fn user(&self) -> Option<String> {
        Some(self.runtime().user).filter(|s| !s.is_empty())
    }

    /// `config.ExposedPorts` keys (`80/tcp`).
    pub fn exposed_ports(&self) -> Vec<String> {
        self.runtime().exposed_ports().cloned().collect()
    }

    /// `config.Volumes` keys.
    pub fn volumes(&self) -> Vec<String> {
        self.runtime().volumes().cloned().collect()
    }

    /// `config.Labels`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.runtime().labels()
    }

    /// `config.StopSignal`, when not empty.
    pub fn stop_signal(&self) -> Option<String> {
        Some(self.runtime().stop_signal).filter(|s| !s.is_empty())
    }

    /// `config.Healthcheck`.
    pub fn healthcheck(&self) -> Option<berth_api::container::HealthConfig> {
        self.runtime().healthcheck
    }

    /// `created` (RFC3339), if present.
    pub fn created(&self) -> Option<&str> {
        Some(self.0.created.as_str()).filter(|s| !s.is_empty())
    }

    /// `created` as unix seconds (0 when absent or unparsable).
    pub fn created_unix(&self) -> i64 {
        self.created().map(rfc3339_to_unix).unwrap_or(0)
    }

    /// `architecture`.
    pub fn architecture(&self) -> Option<&str> {
        Some(self.0.architecture.as_str()).filter(|s| !s.is_empty())
    }

    /// `os`.
    pub fn os(&self) -> Option<&str> {
        Some(self.0.os.as_str()).filter(|s| !s.is_empty())
    }

    /// `author`.
    pub fn author(&self) -> Option<&str> {
        Some(self.0.author.as_str()).filter(|s| !s.is_empty())
    }

    /// `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Vec<String> {
        self.0.rootfs.diff_ids.clone()
    }

    /// `history`.
    pub fn history(&self) -> Vec<HistoryItem> {
        self.0.history.clone()
    }
}

/// RFC3339 → unix seconds (0 when unparsable).
pub fn rfc3339_to_unix(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Now, as Docker writes `created` (RFC3339, nanoseconds, `Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The Go name of this machine's architecture, as image configs use it.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let raw = br#"{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05.123Z",
            "config":{"Cmd":["sh"],"Entrypoint":null,"Env":["A=1"],"WorkingDir":"/w","User":"",
              "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"Labels":{"k":"v"},"StopSignal":"SIGTERM",
              "Healthcheck":{"Test":["CMD","true"]}},
            "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},
            "history":[{"created_by":"x","empty_layer":true},{"comment":"c"}]}"#;
        let c = ImageConfig::from_slice(raw).unwrap();
        assert_eq!(c.cmd(), Some(vec!["sh".to_string()]));
        assert_eq!(c.entrypoint(), None);
        assert_eq!(c.env(), ["A=1"]);
        assert_eq!(c.working_dir().as_deref(), Some("/w"));
        assert_eq!(c.user(), None);
        assert_eq!(c.exposed_ports(), ["80/tcp"]);
        assert_eq!(c.volumes(), ["/data"]);
        assert_eq!(c.labels().get("k").map(String::as_str), Some("v"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGTERM"));
        assert!(c.healthcheck().is_some());
        assert_eq!(c.created_unix(), 1704164645);
        assert_eq!((c.architecture(), c.os()), (Some("amd64"), Some("linux")));
        assert_eq!(c.diff_ids().len(), 1);
        let h = c.history();
        assert!(h[0].empty_layer && h[1].comment.as_deref() == Some("c"));
    }

    #[test]
    fn rejects_configs_without_rootfs() {
        assert!(ImageConfig::from_slice(b"[]").is_err());
        assert!(ImageConfig::from_slice(b"{}").is_err());
        assert!(ImageConfig::from_slice(b"{\"rootfs\":{\"diff_ids\":[\"x\"]}}").is_err());
        assert!(ImageConfig::from_slice(b"not json").is_err());
        assert!(now_rfc3339().ends_with('Z'));
    }
}

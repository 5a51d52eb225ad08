//! The image config JSON (Docker/OCI), kept as-is, with typed accessors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, invalid_archive};

/// An image config, exactly as stored (its digest is the image id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageConfig(pub Value);

/// One `history` item of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    let arr = v?.as_array()?;
    Some(
        arr.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
    )
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl ImageConfig {
    /// Parses config JSON; it must be an object with `rootfs.diff_ids`.
    pub fn from_slice(data: &[u8]) -> Result<ImageConfig> {
        let v: Value = serde_json::from_slice(data)
            .map_err(|e| invalid_archive(format!("image config: {e}")))?;
        if !v.is_object() {
            return Err(invalid_archive("image config: not a JSON object"));
        }
        let c = ImageConfig(v);
        let ids = c.0.pointer("/rootfs/diff_ids").and_then(Value::as_array);
        match ids {
            Some(ids)
                if ids
                    .iter()
                    .all(|d| d.as_str().is_some_and(crate::digest::is_digest)) =>
            {
                Ok(c)
            }
            _ => Err(invalid_archive(
                "image config: rootfs.diff_ids missing or not sha256 digests",
            )),
        }
    }

    /// The `config` object (container defaults), if any.
    pub fn container_config(&self) -> Option<&Map<String, Value>> {
        self.0.get("config").and_then(Value::as_object)
    }

    fn field(&self, name: &str) -> Option<&Value> {
        self.container_config()?.get(name).filter(|v| !v.is_null())
    }

    /// `config.Cmd`.
    pub fn cmd(&self) -> Option<Vec<String>> {
        strings(self.field("Cmd"))
    }

    /// `config.Entrypoint`.
    pub fn entrypoint(&self) -> Option<Vec<String>> {
        strings(self.field("Entrypoint"))
    }

    /// `config.Env` (`K=V` strings).
    pub fn env(&self) -> Vec<String> {
        strings(self.field("Env")).unwrap_or_default()
    }

    /// `config.WorkingDir`, when not empty.
    pub fn working_dir(&self) -> Option<String> {
        nonempty(self.field("WorkingDir"))
    }

    /// `config.User`, when not empty.
    pub fn user(&self) -> Option<String> {
        nonempty(self.field("User"))
    }

    /// `config.ExposedPorts` keys (`80/tcp`).
    pub fn exposed_ports(&self) -> Vec<String> {
        keys(self.field("ExposedPorts"))
    }

    /// `config.Volumes` keys.
    pub fn volumes(&self) -> Vec<String> {
        keys(self.field("Volumes"))
    }

    /// `config.Labels`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.field("Labels")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `config.StopSignal`, when not empty.
    pub fn stop_signal(&self) -> Option<String> {
        nonempty(self.field("StopSignal"))
    }

    /// `config.Healthcheck` as stored.
    pub fn healthcheck(&self) -> Option<&Value> {
        self.field("Healthcheck")
    }

    /// `created` (RFC3339), if present.
    pub fn created(&self) -> Option<&str> {
        self.0.get("created").and_then(Value::as_str)
    }

    /// `created` as unix seconds (0 when absent or unparsable).
    pub fn created_unix(&self) -> i64 {
        self.created().map(rfc3339_to_unix).unwrap_or(0)
    }

    /// `architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.0.get("architecture").and_then(Value::as_str)
    }

    /// `os`.
    pub fn os(&self) -> Option<&str> {
        self.0.get("os").and_then(Value::as_str)
    }

    /// `author`.
    pub fn author(&self) -> Option<&str> {
        self.0.get("author").and_then(Value::as_str)
    }

    /// `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Vec<String> {
        strings(self.0.pointer("/rootfs/diff_ids")).unwrap_or_default()
    }

    /// `history`.
    pub fn history(&self) -> Vec<HistoryItem> {
        self.0
            .get("history")
            .and_then(|h| serde_json::from_value(h.clone()).ok())
            .unwrap_or_default()
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

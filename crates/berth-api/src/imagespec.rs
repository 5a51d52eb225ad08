//! The image config JSON (Docker image spec v1.2, a superset of OCI's):
//! what an image's id is the digest of. Its `config` is a container
//! [`Config`] (Docker writes the same Go type there); unknown fields are
//! kept so a config can be rewritten without losing what a newer builder
//! put in it.

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::container::Config;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

/// One `history` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(rename = "os.version", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub docker_version: String,
    pub rootfs: RootFs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImageConfig {
    /// The container defaults (an empty Config when the image has none).
    pub fn runtime(&self) -> Config {
        self.config.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_and_keeps_unknown_fields() {
        let j = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["A=1"]},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"x","empty_layer":true}],
            "container_config":{"Cmd":["x"]},"moby.buildkit.buildinfo.v1":"e30="}"#;
        let c: ImageConfig = serde_json::from_slice(j).unwrap();
        assert_eq!(c.runtime().cmd(), ["sh"]);
        assert!(c.history[0].empty_layer);
        assert!(c.extra.contains_key("container_config"));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["moby.buildkit.buildinfo.v1"], "e30=");
    }
}

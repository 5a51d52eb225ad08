//! `docker save` archives: the legacy `manifest.json` (one entry per image)
//! and `repositories` (`repo → tag → layer id`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ManifestEntry {
    /// The config blob's path in the archive.
    pub config: String,
    pub repo_tags: Option<Vec<String>>,
    /// Layer tar paths, lowest first.
    pub layers: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent: String,
}

/// The legacy `repositories` file.
pub type Repositories = BTreeMap<String, BTreeMap<String, String>>;

//! The classic builder's endpoints: `POST /build` (query parameters),
//! `/build/prune`, `/build/cancel`, and build cache records.

use serde::{Deserialize, Serialize};

/// A build cache entry (`system df`, `builder prune`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CacheRecord {
    #[serde(rename = "ID")]
    pub id: String,
    pub parents: Option<Vec<String>>,
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: String,
    pub in_use: bool,
    pub shared: bool,
    pub size: i64,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub usage_count: i64,
}

/// `POST /build/prune`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PruneReport {
    pub caches_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// The `aux` message of a finished build: the image's ID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildResult {
    #[serde(rename = "ID")]
    pub id: String,
}

//! Volumes: create, inspect/list, remove, prune, and their usage in
//! `system df`.

use serde::{Deserialize, Serialize};

use crate::StringMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// A volume as inspect, list and create show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    /// `null` when there are none, as Docker sends it.
    pub labels: Option<StringMap>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<StringMap>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// `POST /volumes/create`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub driver_opts: Option<StringMap>,
    pub labels: Option<StringMap>,
}

/// `GET /volumes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ListResponse {
    pub volumes: Vec<Volume>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PruneReport {
    pub volumes_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

//! The Docker Engine API as Rust types, and the small protocol pieces that
//! come with it — for the daemon (berthd), the engine (berth-engine) and the
//! clients (berth-client, the berth CLI, berth compose).
//!
//! This is the only crate of the workspace that spells Docker's JSON field
//! names (`tests/boundary.rs` checks that no other crate's code does). It
//! does no I/O: serde types, and pure functions over bytes and strings.
//!
//! - [`container`], [`exec`], [`image`], [`network`], [`volume`],
//!   [`system`], [`events`], [`auth`], [`build`], [`stats`]: requests and
//!   responses per endpoint group, as the docker CLI, docker-py and compose
//!   send and read them (API 1.51). Records that a newer client may extend
//!   keep unknown fields in a flattened [`Extra`] map, so that what a client
//!   sent comes back in `inspect`.
//! - [`filters`]: the `filters` query parameter (both JSON forms) and its
//!   validation.
//! - [`stdcopy`]: the 8-byte multiplexed stream frames.
//! - [`units`]: go-units (`FromHumanSize`, `RAMInBytes`, `HumanDuration`,
//!   `HumanSize`, `BytesSize`) with Docker's rules and messages.
//! - [`version`]: API versions and their negotiation.
//! - [`jsonmessage`]: the progress/stream messages of pull, push, build,
//!   load and import.
//! - [`json`]: decoding request bodies with Go's error words.
//! - [`archive`]: the docker-archive `manifest.json` of `docker save`.
//! - [`imagespec`]: the image config JSON (Docker image spec / OCI).
//! - [`cli`]: the docker CLI's format contexts (what `--format` templates
//!   of `ps`, `images`, `network ls`, `version`… see).

pub mod archive;
pub mod auth;
pub mod build;
pub mod cli;
pub mod container;
pub mod events;
pub mod exec;
pub mod filters;
pub mod image;
pub mod imagespec;
pub mod json;
pub mod jsonmessage;
pub mod network;
pub mod query;
pub mod seccomp;
pub mod stats;
pub mod stdcopy;
pub mod system;
pub mod units;
pub mod version;
pub mod volume;

use serde::{Deserialize, Serialize};

/// Fields a client sent that these types do not know, kept as they came.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A JSON object standing for "present" in Docker's sets
/// (`ExposedPorts`, `Volumes`: `{"80/tcp": {}}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Docker's `{"message": "…"}` error body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// `{"Id": "…"}` (exec create, commit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// Labels and other string maps: sorted by key, as Go encodes maps.
pub type StringMap = std::collections::BTreeMap<String, String>;

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// The zero time as Go prints it (`time.Time{}`), used where Docker shows
/// a timestamp that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

//! berth's OCI runtime: an OCI bundle (rootfs + config.json) in, an isolated
//! process out.
//!
//! The library is what `berth-runc` (the runc-compatible command) and berth's
//! per-container monitor call. It is synchronous and forks: call it from a
//! single-threaded process.
//!
//! Layout:
//! * [`spec`] loads and checks config.json; [`mounts`](rootfs) and the other
//!   planning code turn it into concrete steps;
//! * [`process`] forks the container process and drives it through setup with a
//!   small message protocol;
//! * [`container`] holds the lifecycle operations (create, start, kill, delete, …)
//!   and [`state`] what persists between them.

pub mod caps;
pub mod cgroup;
pub mod channel;
pub mod container;
pub mod default_spec;
mod error;
pub mod exeseal;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod lsm;
pub mod namespaces;
pub mod paths;
pub mod process;
pub mod report;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod state;
pub mod timing;
pub mod tty;

pub use error::{Context, Error, Result, StartFailure};

/// The OCI runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.1";

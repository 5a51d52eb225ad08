//! berth compose: loading and normalising compose projects (discovery,
//! `.env`, interpolation, merging of several files, `extends`, `include`,
//! profiles), dependency planning and docker compose's labels — pure, no
//! daemon —, and what the commands do against a daemon through
//! berth-client ([`engine`], [`build`]).
//!
//! ```no_run
//! let opts = berth_compose::LoadOptions::from_process_env();
//! let project = berth_compose::load(&opts)?;
//! for level in berth_compose::plan::order(&project, &[])? {
//!     println!("start in parallel: {level:?}");
//! }
//! # Ok::<(), berth_compose::Error>(())
//! ```

pub mod api;
pub mod build;
pub mod config;
pub mod engine;
mod error;
pub mod labels;
pub mod load;
pub mod model;
pub mod plan;

pub use error::{Error, Result};
pub use load::{LoadOptions, load, load_in};
pub use model::{
    Build, Condition, Config, DependsOn, Healthcheck, Ipam, IpamConfig, Logging, Network, Port,
    Project, Secret, Service, ServiceFileRef, ServiceNetwork, ServiceVolume, Ulimit, Volume,
    VolumeKind,
};

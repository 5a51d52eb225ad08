//! berth-engine: the container engine as a library — containers, images,
//! networks, exec, events, health, logs, archives, stats — with typed
//! records (berth-api's) and error kinds. It knows no HTTP (its manifest
//! has no axum, hyper or http): berthd maps requests onto these calls and
//! [`ErrorKind`]s onto statuses.
//!
//! Where things are:
//! - [`container`]: one module per capability (create, lifecycle and
//!   restart policy, spec, monitor, attach, exec, logs, health, stats,
//!   top, archive, commit, inspect, /etc files, users).
//! - [`network`]: bridges, addresses, published ports ([`network::ports`]),
//!   the firewall tables, the embedded DNS.
//! - [`image`]: the image operations over berth-image's store; root
//!   filesystems are berth-image's snapshots (`berth_image::snapshot`).
//! - [`volume`]: volumes (records, the `local` driver, copy-up through
//!   `berth_image::treecopy`), and their mounting into containers.
//! - [`events`], [`system`]: the event bus, version/info/df.
//! - [`model`]: the records (no behaviour).
//!
//! State: `<data-root>/containers/<id>/` (record, log, /etc files),
//! `<data-root>/image/` (images), `<data-root>/snapshots/<id>/`
//! (root filesystems), `<data-root>/network/` (networks),
//! `<data-root>/volumes/<name>/` (volume record and `_data`);
//! `<exec-root>/runtime` (runtime state), `<exec-root>/containers/<id>/`
//! (bundle, exit record), `<exec-root>/s/` (monitor sockets).

pub mod build;
pub mod check;
pub mod container;
pub mod error;
pub mod events;
pub mod image;
pub mod model;
pub mod network;
pub mod system;
pub mod util;
pub mod volume;

use std::path::{Path, PathBuf};

pub use berth_image::idmap::IdMap;
pub use container::commit::CommitRequest;
pub use error::{Error, ErrorKind, Result};

/// What the daemon's flags and daemon.json decide.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub cgroup_parent: String,
    pub init_path: Option<PathBuf>,
    /// The default bridge's interface (`none`: no default bridge).
    pub bridge: String,
    pub bip: Option<String>,
    pub mtu: u32,
    pub dns: Vec<std::net::IpAddr>,
    /// daemon.json `default-address-pools`: (base, size).
    pub address_pools: Vec<(String, u8)>,
    pub log_driver: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    pub registry: RegistryOptions,
    /// `--userns-remap`: containers' root is this remap user's first
    /// subordinate id (unless `--userns=host`).
    pub userns_remap: Option<Remap>,
}

/// `--userns-remap user[:group]` resolved: the names, and the maps of
/// their subordinate ids.
#[derive(Clone, Debug)]
pub struct Remap {
    pub user: String,
    pub group: String,
    pub map: berth_image::idmap::IdMap,
    /// Image layers reach remapped containers through idmapped mounts
    /// (false: through chowned copies, as where the kernel refuses them).
    pub idmapped_layers: bool,
}

/// How the engine talks to registries (daemon.json and dockerd's flags).
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// `insecure-registries`: hosts and CIDRs (127.0.0.0/8 always is).
    pub insecure: Vec<String>,
    /// `registry-mirrors`, for docker.io.
    pub mirrors: Vec<String>,
    /// `max-concurrent-downloads` (3, as dockerd).
    pub max_downloads: usize,
    /// `max-concurrent-uploads` (5, as dockerd).
    pub max_uploads: usize,
    /// `max-download-attempts` per layer (5, as dockerd).
    pub max_attempts: u32,
    /// Keep pulled layers' compressed blobs (berth's `keep-pulled-blobs`).
    pub keep_pulled_blobs: bool,
    /// Where per-registry TLS material lives (`<dir>/<host:port>/`).
    pub cert_dirs: Vec<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            max_downloads: 3,
            max_uploads: 5,
            max_attempts: 5,
            keep_pulled_blobs: false,
            cert_dirs: berth_registry::RegistryConfig::default().cert_dirs,
        }
    }
}

pub struct Engine {
    pub cfg: EngineConfig,
    pub runtime_root: PathBuf,
    pub containers: container::Containers,
    pub images: berth_image::Store,
    pub snapshots: berth_image::Snapshotter,
    /// Bridge networks: the default one (unless `--bridge none`) and the
    /// user-defined ones.
    pub networks: Option<network::Networks>,
    pub events: events::Bus,
    pub execs: container::exec::Registry,
    pub defaults: container::create::Defaults,
    pub caps: container::spec::HostCaps,
    /// Registry clients, their TLS trust and token cache.
    pub registries: std::sync::Arc<berth_registry::Registries>,
    /// Downloads, uploads and layer locks shared by all pulls and pushes.
    pub transfers: image::transfer::Transfers,
    pub volumes: volume::Volumes,
    /// Builds running, by build id (`/build/cancel`).
    pub builds: build::Builds,
    /// What builds cut short by a crash left, read at open (before any
    /// new build), undone by `restore`.
    pub build_leftovers: std::sync::Mutex<build::Leftovers>,
    /// When this daemon opened its stores: temp files older than this are
    /// a crashed one's ([`check`]).
    pub started: std::time::SystemTime,
}

/// The name containers' `HostConfig.Runtime` shows for berth-runc: runc's,
/// as it is runc-compatible (tools compare against "runc").
pub const RUNTIME_NAME: &str = "runc";

impl Engine {
    pub async fn open(cfg: EngineConfig) -> std::result::Result<Engine, String> {
        let started = std::time::SystemTime::now();
        for d in [
            cfg.data_root.join("containers"),
            cfg.data_root.join("image"),
            cfg.exec_root.join("containers"),
            cfg.exec_root.join("runtime"),
            cfg.exec_root.join("s"),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
        }
        let images = berth_image::Store::open(&cfg.data_root.join("image"))
            .map_err(|e| format!("open the image store: {e}"))?;
        let volumes = volume::Volumes::open(
            &cfg.data_root.join("volumes"),
            cfg.userns_remap.as_ref().map(|r| r.map.root()),
        )
        .map_err(|e| format!("open the volumes: {e}"))?;
        let snapshots = berth_image::Snapshotter::open(&cfg.data_root.join("snapshots"))
            .map_err(|e| format!("open the snapshots: {e}"))?;
        if let Some(r) = &cfg.userns_remap {
            snapshots.set_idmapped_mounts(r.idmapped_layers);
        }
        // Layers interrupted pulls left: kept a day for the next pull.
        if let Err(e) = images.remove_unused_layers(
            &snapshots.lowers_in_use(),
            std::time::Duration::from_secs(24 * 3600),
        ) {
            tracing::warn!(error = %e, "removing unused layers");
        }
        let networks = network::Networks::open(
            &cfg.data_root,
            &cfg.bridge,
            cfg.bip.as_deref(),
            cfg.mtu,
            cfg.dns.clone(),
            network::candidates(&cfg.address_pools)?,
        )
        .await
        .map_err(|e| format!("networks: {e}"))?;
        let defaults = container::create::Defaults {
            log_driver: cfg.log_driver.clone(),
            log_opts: cfg.log_opts.clone(),
            runtime: RUNTIME_NAME.into(),
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        };
        Ok(Engine {
            runtime_root: cfg.exec_root.join("runtime"),
            containers: container::Containers::open(&cfg.data_root),
            images,
            snapshots,
            networks: Some(networks),
            events: events::Bus::new(),
            execs: container::exec::Registry::default(),
            defaults,
            caps: container::spec::HostCaps::detect(),
            registries: berth_registry::Registries::new(berth_registry::RegistryConfig {
                insecure: cfg.registry.insecure.clone(),
                mirrors: cfg.registry.mirrors.clone(),
                cert_dirs: cfg.registry.cert_dirs.clone(),
            }),
            transfers: image::transfer::Transfers::new(&cfg.registry),
            volumes,
            builds: Default::default(),
            build_leftovers: std::sync::Mutex::new({
                let root = cfg.data_root.join("build");
                let _ = std::fs::remove_dir_all(root.join("tmp"));
                build::Journal::leftovers(&root.join("journal"))
            }),
            started,
            cfg,
        })
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        model::Container::dir(&self.cfg.data_root, id)
    }

    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("containers").join(id)
    }

    /// A monitor's socket: short, as unix socket paths must be (< 108 bytes).
    pub fn monitor_socket(&self, id: &str) -> PathBuf {
        self.cfg
            .exec_root
            .join("s")
            .join(format!("{}.sock", &id[..16]))
    }

    pub fn runtime(&self) -> berth_runtime::container::Runtime {
        berth_runtime::container::Runtime::new(&self.runtime_root)
    }
}

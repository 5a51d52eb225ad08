//! The engine's records, apart from behaviour so that the modules that act
//! on them never import each other in circles. Persisted records are
//! written with serde in berth's own field names; the Docker-shaped parts
//! (`Config`, `HostConfig`, health) are berth-api's types.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_api::container::{Config, Health, HostConfig, Status};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

/// A hijacked client connection (attach, exec): any byte stream both ways.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncStream for T {}
pub type Io = Box<dyn AsyncStream>;

/// How a container's run is going (`State` in inspect).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    /// The monitor process, for live restore.
    pub monitor_pid: i32,
    pub health: Option<Health>,
}

impl RunState {
    pub fn running(&self) -> bool {
        self.status.is_running()
    }
}

/// A container's record, persisted at `<data-root>/containers/<id>/config.v2.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    pub id: String,
    /// With the leading slash, as Docker shows it.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// The user's Config with the image's defaults merged in.
    pub config: Config,
    /// The user's HostConfig with the daemon's defaults filled in.
    pub host_config: HostConfig,
    /// The image id (`sha256:…`).
    pub image: String,
    pub state: RunState,
    pub restart_count: u32,
    pub log_path: String,
    /// The user stopped it: no restart policy applies until started again.
    pub manually_stopped: bool,
    /// The networks it belongs to (by name), with what it asked of each.
    pub net_requests: BTreeMap<String, EndpointRequest>,
    /// Its place on each network while it runs.
    pub endpoints: BTreeMap<String, Attachment>,
    /// What is mounted into it besides its image (binds, tmpfs, volume paths).
    pub mounts: Vec<MountRecord>,
    /// `--userns-remap`: its ids' maps onto the host's (None: not remapped,
    /// the daemon's remapping off or `--userns=host`). Kept from create on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_map: Option<berth_image::idmap::IdMap>,
}

impl Container {
    pub fn dir(data_root: &Path, id: &str) -> PathBuf {
        data_root.join("containers").join(id)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// Without the leading slash.
    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    pub fn tty(&self) -> bool {
        self.config.tty
    }

    pub fn running(&self) -> bool {
        self.state.running()
    }

    pub fn status(&self) -> Status {
        self.state.status
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config.auto_remove
    }

    /// The image reference the user gave.
    pub fn image_name(&self) -> &str {
        &self.config.image
    }

    pub fn labels(&self) -> berth_api::StringMap {
        self.config.labels()
    }

    /// The hostname the container gets (its short id unless set).
    pub fn hostname(&self) -> String {
        if self.config.hostname.is_empty() {
            self.short_id().to_string()
        } else {
            self.config.hostname.clone()
        }
    }

    /// `path args…` as one line (ps's COMMAND, events).
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Started at least once.
    pub fn has_run(&self) -> bool {
        !self.state.started_at.is_empty()
    }
}

/// What a container asked of a network (kept while it is stopped too).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    /// `--mac-address`.
    pub mac: Option<String>,
    /// Endpoint `Links` (`container:alias`).
    pub links: Vec<String>,
    /// Endpoint `DriverOpts`, reported back in inspect.
    pub driver_opts: BTreeMap<String, String>,
}

/// A container's place on one network while it runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Attachment {
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub veth: String,
    pub ports: Vec<berth_net::PortMap>,
    pub network_id: String,
    pub aliases: Vec<String>,
    /// The interface name inside the container (eth0, eth1, …).
    pub dev: String,
}

/// A mount of a container besides its image, as inspect's `Mounts` shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MountRecord {
    pub kind: berth_api::container::MountType,
    /// A volume's name (empty for binds and tmpfs).
    pub name: String,
    pub source: String,
    pub destination: String,
    /// `ro`, `rw,z`… as given for binds; empty for `--mount`.
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
    /// Options of the mount itself (tmpfs size/mode, bind recursion).
    pub options: Vec<String>,
    /// `-v /src:/dst`: a missing source directory is created (with
    /// `--mount` it is an error).
    pub create_source: bool,
    /// A volume's driver (empty for binds and tmpfs).
    pub driver: String,
    /// A volume the container made for itself (`-v /path`, an image
    /// `VOLUME`, `--mount type=volume` without source): `rm -v` removes it.
    pub anonymous: bool,
    /// `nocopy`: a new volume is not filled from the image.
    pub no_copy: bool,
}

/// A volume as persisted at `<data-root>/volumes/<name>/volume.json`
/// (its data is the driver's: `<data-root>/volumes/<name>/_data` for
/// `local`). Who uses it is read from the container records.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// RFC 3339, seconds, as Docker shows it.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// The driver's options (`type`, `device`, `o` for `local`).
    pub options: BTreeMap<String, String>,
}

/// A network as persisted in `<data-root>/network/<id>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetDef {
    pub id: String,
    pub name: String,
    /// The Linux bridge.
    pub iface: String,
    pub pool: berth_net::Pool,
    #[serde(default)]
    pub ip_range: Option<ipnet::Ipv4Net>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// IPAM auxiliary addresses (kept out of the pool), reported back.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, String>,
    /// IPv6 subnets asked for: stored and reported (no IPv6 on bridges yet).
    #[serde(default)]
    pub ipv6_configs: Vec<berth_api::network::IpamConfig>,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub attachable: bool,
    pub created: String,
}

/// What waiters watch: a container's exits and its removal.
#[derive(Clone, Debug, Default)]
pub struct Gen {
    pub exits: u64,
    pub exit_code: i32,
    pub removed: bool,
    pub error: Option<String>,
}

/// An attach connection (arriving once the 101 is out) waiting for its
/// container to start.
pub struct PendingAttach {
    pub io: tokio::sync::oneshot::Receiver<Io>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The detach sequence (empty: none).
    pub detach_keys: Vec<u8>,
}

/// Options of `logs`.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// None: all.
    pub tail: Option<usize>,
    /// Unix seconds (fractional).
    pub since: Option<f64>,
    pub until: Option<f64>,
}

/// How a start failed, from the runtime's own reason (not message text):
/// the exit code docker reports for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFailure {
    /// 127: the executable does not exist.
    NotFound,
    /// 126: it exists but cannot be executed.
    NotExecutable,
    /// 128: anything else.
    Other,
}

impl StartFailure {
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::NotFound => 127,
            StartFailure::NotExecutable => 126,
            StartFailure::Other => 128,
        }
    }
}

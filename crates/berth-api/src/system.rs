//! System endpoints: `/version`, `/info`, `/system/df`, and the headers of
//! `/_ping` and of every response.

use serde::{Deserialize, Serialize};

use crate::{Extra, StringMap};

/// Response headers dockerd sets on every answer, and those of `/_ping`.
pub mod headers {
    pub const API_VERSION: &str = "Api-Version";
    pub const OS_TYPE: &str = "Ostype";
    pub const EXPERIMENTAL: &str = "Docker-Experimental";
    pub const SERVER: &str = "Server";
    pub const BUILDER_VERSION: &str = "Builder-Version";
    pub const SWARM: &str = "Swarm";
    pub const REGISTRY_AUTH: &str = "X-Registry-Auth";
    pub const REGISTRY_CONFIG: &str = "X-Registry-Config";
    pub const PATH_STAT: &str = "X-Docker-Container-Path-Stat";
}

/// Media types of Docker's streams.
pub mod media {
    pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
    pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
    pub const JSON: &str = "application/json";
    pub const TAR: &str = "application/x-tar";
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PlatformName {
    pub name: String,
}

/// A component's details: Docker's `map[string]string`, kept as the daemon
/// sent it (the Engine gives its versions, containerd and runc their
/// `GitCommit`; `docker version` prints whatever is there).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComponentDetails(pub StringMap);

impl ComponentDetails {
    pub const API_VERSION: &str = "ApiVersion";
    pub const MIN_API_VERSION: &str = "MinAPIVersion";
    pub const OS: &str = "Os";
    pub const ARCH: &str = "Arch";
    pub const KERNEL_VERSION: &str = "KernelVersion";
    pub const EXPERIMENTAL: &str = "Experimental";
    pub const GIT_COMMIT: &str = "GitCommit";
    pub const GO_VERSION: &str = "GoVersion";
    pub const BUILD_TIME: &str = "BuildTime";

    /// The detail `key` (one of the constants above, or any other), or "".
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_string(), value.into());
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Component {
    pub name: String,
    pub version: String,
    pub details: ComponentDetails,
}

/// `GET /version`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Version {
    pub platform: PlatformName,
    pub components: Vec<Component>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub build_time: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Plugins {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeInfo {
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    pub index_configs: std::collections::BTreeMap<String, IndexInfo>,
    pub mirrors: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct IndexInfo {
    pub name: String,
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// `GET /info` (the fields the docker CLI and the SDKs read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: Plugins,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: i64,
    pub n_goroutines: i64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub n_events_listener: i64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "IndexServerAddress")]
    pub index_server_address: String,
    pub registry_config: Option<RegistryConfig>,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub docker_root_dir: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: std::collections::BTreeMap<String, RuntimeInfo>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The commit of a component `info` names (containerd, runc, init).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
    /// `Expected` of older daemons.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /system/check`, `POST /system/check?repair=1`: berth's own
/// endpoint (Docker has none) behind `berth system check [--repair]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CheckReport {
    pub problems: Vec<CheckProblem>,
    /// Layers no image uses, kept a day for the next pull (not a problem).
    pub unused_layers: u64,
    pub unused_layers_size: u64,
}

/// One thing a crash or a full disk left.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CheckProblem {
    /// `missing-content`, `half-written`, `dangling-snapshot`,
    /// `orphaned-mount`, `orphaned-cgroup`, `orphaned-veth`.
    pub kind: String,
    /// The image, path, snapshot key, cgroup or interface concerned.
    pub subject: String,
    pub detail: String,
    /// Fixed by this run (`repair`); else what is left to do, in `detail`.
    pub repaired: bool,
}

/// `GET /system/df` (API ≤ 1.51 shape).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DiskUsage {
    pub layers_size: i64,
    pub images: Vec<crate::image::Summary>,
    pub containers: Vec<crate::container::Summary>,
    pub volumes: Vec<crate::volume::Volume>,
    pub build_cache: Vec<crate::build::CacheRecord>,
}

/// `Labels` of info come as `key=value` strings; this is for configs.
pub type Labels = StringMap;

//! Containers: create (Config, HostConfig, NetworkingConfig), inspect, list,
//! wait, update, top, changes, archive stats, prune.
//!
//! Go's encoding rules, kept: a field without `omitempty` is always
//! written (zero values included), nil slices and maps are `null`
//! (`Option::None`), maps are written with sorted keys (`BTreeMap`).
//! Request bodies are decoded with [`crate::json::decode`], which treats
//! `null` as "not given", as Go's decoder does.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::network::{EndpointSettings, PortMap};
use crate::{Empty, Extra, StringMap, is_false};

/// A command as `Cmd`/`Entrypoint`/`Shell`: a JSON array, or a single
/// string (Docker's `StrSlice`: a string is one argument).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StrSlice(pub Vec<String>);

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Either::deserialize(d)? {
            Either::One(s) => StrSlice(vec![s]),
            Either::Many(v) => StrSlice(v),
        })
    }
}

impl StrSlice {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<String>> for StrSlice {
    fn from(v: Vec<String>) -> Self {
        StrSlice(v)
    }
}

/// `HEALTHCHECK` / `--health-*`: durations in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disabled, `["CMD", args…]`, `["CMD-SHELL", cmd]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub interval: i64,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub retries: i64,
}

/// What a health check test means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthTest {
    /// No test given: the image's applies.
    Inherit,
    /// `NONE`: checks disabled.
    Disabled,
    /// The argument vector to run (`CMD-SHELL` already wrapped in `/bin/sh -c`).
    Run(Vec<String>),
}

impl HealthConfig {
    pub fn test_kind(&self) -> HealthTest {
        let t = self.test.as_deref().unwrap_or_default();
        match t.first().map(String::as_str) {
            None => HealthTest::Inherit,
            Some("NONE") => HealthTest::Disabled,
            Some("CMD") if t.len() > 1 => HealthTest::Run(t[1..].to_vec()),
            Some("CMD-SHELL") if t.len() > 1 => {
                HealthTest::Run(vec!["/bin/sh".into(), "-c".into(), t[1..].join(" ")])
            }
            _ => HealthTest::Disabled,
        }
    }
}

/// A container's `Config` (the image's defaults merged in, in records).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrSlice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    pub entrypoint: Option<StrSlice>,
    #[serde(skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    /// Deprecated at API 1.44 (moved to the endpoint), still sent by older clients.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    pub labels: Option<StringMap>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<StrSlice>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Config {
    pub fn env(&self) -> &[String] {
        self.env.as_deref().unwrap_or_default()
    }
    pub fn labels(&self) -> StringMap {
        self.labels.clone().unwrap_or_default()
    }
    pub fn exposed_ports(&self) -> impl Iterator<Item = &String> {
        self.exposed_ports.iter().flat_map(|m| m.keys())
    }
    pub fn volumes(&self) -> impl Iterator<Item = &String> {
        self.volumes.iter().flat_map(|m| m.keys())
    }
    pub fn cmd(&self) -> &[String] {
        self.cmd
            .as_ref()
            .map(|c| c.0.as_slice())
            .unwrap_or_default()
    }
    pub fn entrypoint(&self) -> &[String] {
        self.entrypoint
            .as_ref()
            .map(|c| c.0.as_slice())
            .unwrap_or_default()
    }
}

/// `RestartPolicy.Name`. Unknown names are kept so the engine can refuse
/// them in Docker's words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RestartPolicyMode {
    /// `""`: not given (means `no`).
    #[default]
    Unset,
    No,
    Always,
    OnFailure,
    UnlessStopped,
    Other(String),
}

impl RestartPolicyMode {
    pub fn as_str(&self) -> &str {
        match self {
            RestartPolicyMode::Unset => "",
            RestartPolicyMode::No => "no",
            RestartPolicyMode::Always => "always",
            RestartPolicyMode::OnFailure => "on-failure",
            RestartPolicyMode::UnlessStopped => "unless-stopped",
            RestartPolicyMode::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> RestartPolicyMode {
        match s {
            "" => RestartPolicyMode::Unset,
            "no" => RestartPolicyMode::No,
            "always" => RestartPolicyMode::Always,
            "on-failure" => RestartPolicyMode::OnFailure,
            "unless-stopped" => RestartPolicyMode::UnlessStopped,
            other => RestartPolicyMode::Other(other.to_string()),
        }
    }

    /// `no` or not given.
    pub fn is_none(&self) -> bool {
        matches!(self, RestartPolicyMode::Unset | RestartPolicyMode::No)
    }
}

impl Serialize for RestartPolicyMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RestartPolicyMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RestartPolicyMode::parse(&String::deserialize(d)?))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: RestartPolicyMode,
    pub maximum_retry_count: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    /// The driver; empty means the daemon's default.
    #[serde(rename = "Type")]
    pub driver: String,
    pub config: Option<StringMap>,
}

impl LogConfig {
    pub fn opt(&self, k: &str) -> Option<&str> {
        self.config.as_ref()?.get(k).map(String::as_str)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeviceRequest {
    pub driver: String,
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    pub capabilities: Option<Vec<Vec<String>>>,
    pub options: Option<StringMap>,
}

/// `--ulimit name=soft:hard`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// The resource part of HostConfig; also the body of `POST …/update`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Resources {
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<DeviceRequest>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

/// `POST /containers/{id}/update`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateConfig {
    #[serde(flatten)]
    pub resources: Resources,
    pub restart_policy: Option<RestartPolicy>,
}

/// A network mode: `default`, `bridge`, `host`, `none`,
/// `container:<name|id>`, or a network's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetworkMode(pub String);

impl NetworkMode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_default(&self) -> bool {
        self.0.is_empty() || self.0 == "default"
    }
    pub fn is_bridge(&self) -> bool {
        self.0 == "bridge"
    }
    pub fn is_host(&self) -> bool {
        self.0 == "host"
    }
    pub fn is_none(&self) -> bool {
        self.0 == "none"
    }
    /// `container:<x>` → `x`.
    pub fn container(&self) -> Option<&str> {
        self.0.strip_prefix("container:")
    }
    /// A user-defined network's name (not default/bridge/host/none/container:).
    pub fn user_defined(&self) -> Option<&str> {
        (!self.is_default()
            && !self.is_bridge()
            && !self.is_host()
            && !self.is_none()
            && self.container().is_none())
        .then_some(self.0.as_str())
    }
}

/// A namespace mode (`PidMode`, `IpcMode`, `UTSMode`, `UsernsMode`,
/// `CgroupnsMode`): empty, `host`, `private`, `shareable`, `none`,
/// `container:<x>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NsMode(pub String);

impl NsMode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_host(&self) -> bool {
        self.0 == "host"
    }
    pub fn container(&self) -> Option<&str> {
        self.0.strip_prefix("container:")
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `HostConfig` of a create request and of a container record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: NetworkMode,
    pub port_bindings: Option<PortMap>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub console_size: [u64; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: NsMode,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: NsMode,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: NsMode,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<StringMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<StringMap>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: NsMode,
    pub userns_mode: NsMode,
    pub shm_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<StringMap>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl HostConfig {
    pub fn list(v: &Option<Vec<String>>) -> &[String] {
        v.as_deref().unwrap_or_default()
    }
}

/// `NetworkingConfig` of a create request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// `POST /containers/create`: Config's fields at the top level.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateRequest {
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfig>,
    #[serde(flatten)]
    pub config: Config,
}

/// `201 {"Id","Warnings"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    pub warnings: Vec<String>,
}

/// `mount.Type`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    #[default]
    Bind,
    Volume,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

impl MountType {
    pub fn as_str(&self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
            MountType::Npipe => "npipe",
            MountType::Cluster => "cluster",
            MountType::Image => "image",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BindOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(skip_serializing_if = "is_false")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub create_mountpoint: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_non_recursive: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_force_recursive: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeDriverConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<StringMap>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub size_bytes: i64,
    /// Go's os.FileMode: the permission bits.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// `HostConfig.Mounts[]` (`--mount`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: MountType,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `Mounts[]` of inspect and list: what is mounted where.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: MountType,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// A container's state: what `State.Status` says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => return None,
        })
    }

    /// Running, paused or restarting: it has (or is about to have) processes.
    pub fn is_running(&self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// `State.Health.Status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    None,
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::None => "none",
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: i64,
    pub log: Vec<HealthcheckResult>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct State {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct GraphDriver {
    pub name: String,
    pub data: Option<StringMap>,
}

/// `NetworkSettings` of inspect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: i64,
    pub ports: PortMap,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<String>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<String>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `GET /containers/{id}/json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct InspectResponse {
    #[serde(rename = "Id")]
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: GraphDriver,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub mounts: Vec<MountPoint>,
    pub config: Config,
    pub network_settings: NetworkSettings,
}

/// `Ports[]` of the list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PortSummary {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub public_port: u16,
    #[serde(rename = "Type")]
    pub kind: String,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// An entry of `GET /containers/json` (`docker ps`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Summary {
    #[serde(rename = "Id")]
    pub id: String,
    /// Each with a leading `/`.
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<PortSummary>,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub size_rw: i64,
    #[serde(skip_serializing_if = "crate::is_zero_i64")]
    pub size_root_fs: i64,
    pub labels: StringMap,
    pub state: Status,
    /// The daemon's human status ("Up 5 minutes").
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<MountPoint>,
}

/// `POST /containers/{id}/wait`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitResponse {
    pub status_code: i64,
    pub error: Option<WaitExitError>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitExitError {
    pub message: String,
}

/// `condition` of wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Option<WaitCondition> {
        Some(match s {
            "" | "not-running" => WaitCondition::NotRunning,
            "next-exit" => WaitCondition::NextExit,
            "removed" => WaitCondition::Removed,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            WaitCondition::NotRunning => "not-running",
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateResponse {
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct FilesystemChange {
    pub path: String,
    pub kind: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PruneReport {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// The `X-Docker-Container-Path-Stat` header of archive endpoints (base64
/// of this JSON). `mode` holds Go's os.FileMode bits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    pub link_target: String,
}

/// Go os.FileMode type bits, as `PathStat.mode` carries them.
pub mod file_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
}

/// The default detach sequence: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// A detach-keys spec (`ctrl-p,ctrl-q`, `a,b`) as bytes, as Docker's
/// term.ToBytes reads it.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for k in spec.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let mut chars = c.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                return Err(format!("Unknown character: '{k}'"));
            };
            out.push(match ch {
                'a'..='z' => ch as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            });
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

/// `POST /commit` query's config body and the image's resulting config:
/// a Config.
pub type CommitConfig = Config;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_keeps_unknown_fields_and_splits_the_parts() {
        let body =
            br#"{"Image":"busybox","Cmd":"echo","HostConfig":{"Memory":7000000,"NewThing":1},
            "NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":["a"]}}},"FutureField":{"x":1}}"#;
        let r: CreateRequest = crate::json::decode(body, "CreateRequest").unwrap();
        assert_eq!(r.config.image, "busybox");
        assert_eq!(r.config.cmd(), ["echo"]);
        assert_eq!(r.config.extra["FutureField"]["x"], 1);
        let hc = r.host_config.unwrap();
        assert_eq!(hc.resources.memory, 7_000_000);
        assert_eq!(hc.extra["NewThing"], 1);
        assert!(!hc.extra.contains_key("Memory"));
        let eps = r.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(eps["n"].aliases.as_deref().unwrap(), ["a"]);
        // Back out: the unknown fields round-trip.
        let v = serde_json::to_value(&hc).unwrap();
        assert_eq!(v["NewThing"], 1);
        assert_eq!(v["Memory"], 7_000_000);
        assert!(v["Binds"].is_null());
    }

    #[test]
    fn go_zero_values_are_written() {
        let v = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(v["Hostname"], "");
        assert_eq!(v["Tty"], false);
        assert!(v["Cmd"].is_null());
        assert!(v.get("Healthcheck").is_none());
        assert!(v.get("StopSignal").is_none());
    }

    #[test]
    fn restart_policy_names() {
        let p: RestartPolicy =
            serde_json::from_str(r#"{"Name":"on-failure","MaximumRetryCount":3}"#).unwrap();
        assert_eq!(p.name, RestartPolicyMode::OnFailure);
        let p: RestartPolicy = serde_json::from_str(r#"{"Name":"sometimes"}"#).unwrap();
        assert_eq!(p.name, RestartPolicyMode::Other("sometimes".into()));
        assert_eq!(
            serde_json::to_string(&RestartPolicy::default()).unwrap(),
            r#"{"Name":"","MaximumRetryCount":0}"#
        );
    }

    #[test]
    fn health_tests() {
        let h = |t: &[&str]| HealthConfig {
            test: Some(t.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert_eq!(h(&[]).test_kind(), HealthTest::Inherit);
        assert_eq!(h(&["NONE"]).test_kind(), HealthTest::Disabled);
        assert_eq!(
            h(&["CMD-SHELL", "true"]).test_kind(),
            HealthTest::Run(vec!["/bin/sh".into(), "-c".into(), "true".into()])
        );
        assert_eq!(
            h(&["CMD", "ls", "/"]).test_kind(),
            HealthTest::Run(vec!["ls".into(), "/".into()])
        );
    }

    #[test]
    fn detach_keys() {
        assert_eq!(
            parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(),
            vec![16, 17]
        );
        assert_eq!(parse_detach_keys("a,ctrl-a").unwrap(), vec![b'a', 1]);
        assert_eq!(
            parse_detach_keys("ctrl-").unwrap_err(),
            "Unknown character: 'ctrl-'"
        );
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn network_modes() {
        let m = |s: &str| NetworkMode(s.into());
        assert!(m("").is_default() && m("default").is_default());
        assert_eq!(m("container:abc").container(), Some("abc"));
        assert_eq!(m("mynet").user_defined(), Some("mynet"));
        assert_eq!(m("bridge").user_defined(), None);
    }
}

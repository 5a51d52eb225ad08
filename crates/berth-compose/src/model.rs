//! Typed, normalised structs of the compose specification.
//!
//! Everything here is the *output* of [`crate::load`]: short syntaxes are
//! converted to their long form, relative paths are absolute, `env_file`
//! contents are merged into `environment`, durations and byte sizes are
//! parsed. The structs serialise (serde) to the shape `docker compose config`
//! prints, which is also what [`crate::plan::config_hash`] hashes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::Error;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A loaded compose project.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Project {
    /// The project name (`-p`, `COMPOSE_PROJECT_NAME`, `name:`, or the directory's basename).
    pub name: String,
    /// The project directory: relative paths in the model were resolved against it.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// The enabled services, by name.
    pub services: BTreeMap<String, Service>,
    /// Top-level networks, including the implicit `default` when a service uses it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Top-level volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Top-level secrets.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Top-level configs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
    /// Services filtered out by profiles.
    #[serde(skip)]
    pub disabled: BTreeMap<String, Service>,
    /// The compose files loaded, absolute, in order (for `com.docker.compose.project.config_files`).
    #[serde(skip)]
    pub config_files: Vec<PathBuf>,
    /// The env files that were read for interpolation (`--env-file` or `<project dir>/.env`).
    #[serde(skip)]
    pub env_files: Vec<PathBuf>,
    /// The active profiles (`--profile` plus `COMPOSE_PROFILES`).
    #[serde(skip)]
    pub profiles: Vec<String>,
    /// The environment used for interpolation: the `.env` files overridden by the process environment.
    #[serde(skip)]
    pub environment: BTreeMap<String, String>,
    /// Non-fatal remarks compose prints as warnings (unset variables, obsolete `version`, ignored keys).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Project {
    /// An enabled service by name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }

    /// Names of the enabled services, sorted.
    pub fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// Enabled and disabled services together.
    pub fn all_services(&self) -> BTreeMap<String, Service> {
        let mut all = self.disabled.clone();
        all.extend(self.services.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    /// Returns a copy of the project where the given services are enabled,
    /// as docker compose does when a service is named on the command line:
    /// the profiles of each named, disabled service are activated (which may
    /// enable other services of the same profiles).
    ///
    /// A name that is neither enabled nor disabled is an error
    /// (`no such service: x`).
    pub fn with_services_enabled(&self, names: &[String]) -> Result<Project, Error> {
        let mut profiles = self.profiles.clone();
        for name in names {
            if self.services.contains_key(name) {
                continue;
            }
            match self.disabled.get(name) {
                Some(s) => {
                    for p in &s.profiles {
                        if !profiles.contains(p) {
                            profiles.push(p.clone());
                        }
                    }
                }
                None => return Err(Error::Other(format!("no such service: {name}"))),
            }
        }
        Ok(self.with_profiles(&profiles))
    }

    /// Returns a copy of the project with exactly `profiles` active.
    pub fn with_profiles(&self, profiles: &[String]) -> Project {
        let mut p = self.clone();
        let all = p.all_services();
        p.services.clear();
        p.disabled.clear();
        for (name, s) in all {
            if s.enabled_for(profiles) {
                p.services.insert(name, s);
            } else {
                p.disabled.insert(name, s);
            }
        }
        p.profiles = profiles.to_vec();
        p
    }
}

/// One service, normalised.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Service {
    /// The service's key in `services:`.
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Exec form; a string in the file is split with shell-words rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Exec form; a string in the file is split with shell-words rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `env_file` contents, then `environment` on top. `None` is a variable
    /// declared without a value that the environment did not provide either.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    /// The env files that were read into `environment` (absolute).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Container ports (`"3000"`, `"8000-8010"`, `"53/udp"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    /// `/path[:options]` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// The networks the service joins; `default` when the file names none
    /// and there is no `network_mode`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped` (also derived from `deploy.restart_policy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// `scale` or `deploy.replicas`; 1 when neither is set.
    #[serde(skip_serializing_if = "is_one")]
    pub scale: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// `host:ip` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// `host[:container[:permissions]]` entries, as docker's `--device`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// Bytes (`mem_limit` or `deploy.resources.limits.memory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<u64>,
    /// Bytes (`mem_reservation` or `deploy.resources.reservations.memory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<u64>,
    /// Bytes; -1 is unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<i64>,
    /// `cpus` or `deploy.resources.limits.cpus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// `pids_limit` or `deploy.resources.limits.pids`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceFileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceFileRef>,
    /// `always`, `never`, `missing`, `build`, `daily`, `weekly`, `every_<duration>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Legacy links (`service[:alias]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    /// `service:name[:ro]` / `container:name[:ro]` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// `attach: false` excludes the service's logs from `up`'s output.
    #[serde(skip_serializing_if = "is_true")]
    pub attach: bool,
}

impl Service {
    /// Whether the service is enabled with `active` profiles: services without
    /// profiles always are; others when one of their profiles is active (or `*` is).
    pub fn enabled_for(&self, active: &[String]) -> bool {
        self.profiles.is_empty() || active.iter().any(|a| a == "*" || self.profiles.contains(a))
    }

    /// The image name compose uses for this service: `image`, else
    /// `<project>-<service>` (for services that are built).
    pub fn image_name(&self, project: &str) -> String {
        match &self.image {
            Some(i) => i.clone(),
            None => format!("{project}-{}", self.name),
        }
    }
}

/// `build:`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Build {
    /// Absolute path of the context directory (or a remote URL verbatim).
    pub context: PathBuf,
    /// Relative to the context, as given; `Dockerfile` by default.
    pub dockerfile: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// `None`: declared without a value and not in the environment.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `host:ip` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub no_cache: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub pull: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_contexts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
}

impl Build {
    /// Whether the context is a remote (git/http) URL rather than a directory.
    pub fn is_remote(&self) -> bool {
        is_remote_context(&self.context.to_string_lossy())
    }
}

pub(crate) fn is_remote_context(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

/// One published or exposed port (long syntax).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Port {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ingress` (default) or `host`.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub target: u16,
    /// A port or a range (`"8000-8010"`); `None` lets the engine choose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `tcp` (default), `udp`, `sctp`.
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// The kind of a service mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeKind {
    Bind,
    #[default]
    Volume,
    Tmpfs,
    Image,
    Npipe,
    Cluster,
}

impl VolumeKind {
    /// The compose/docker spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeKind::Bind => "bind",
            VolumeKind::Volume => "volume",
            VolumeKind::Tmpfs => "tmpfs",
            VolumeKind::Image => "image",
            VolumeKind::Npipe => "npipe",
            VolumeKind::Cluster => "cluster",
        }
    }
}

/// One entry of a service's `volumes:` (long syntax).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceVolume {
    pub kind: VolumeKind,
    /// Bind: absolute host path. Volume: the key in top-level `volumes`
    /// (`None` for an anonymous volume). Tmpfs: `None`.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub consistency: Option<String>,
    /// Bind: create the host directory when missing (true for the short syntax and by default).
    pub bind_create_host_path: bool,
    /// Bind: `rprivate`, `shared`, ...
    pub bind_propagation: Option<String>,
    /// Bind: `z` or `Z`.
    pub bind_selinux: Option<String>,
    /// Volume: do not copy the image's content into a new volume.
    pub volume_nocopy: bool,
    /// Volume: mount a sub-directory of the volume.
    pub volume_subpath: Option<String>,
    /// Tmpfs: size in bytes.
    pub tmpfs_size: Option<u64>,
    /// Tmpfs: file mode.
    pub tmpfs_mode: Option<u32>,
}

impl Serialize for ServiceVolume {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.kind.as_str())?;
        if let Some(src) = &self.source {
            m.serialize_entry("source", src)?;
        }
        m.serialize_entry("target", &self.target)?;
        if self.read_only {
            m.serialize_entry("read_only", &true)?;
        }
        if let Some(c) = &self.consistency {
            m.serialize_entry("consistency", c)?;
        }
        if self.kind == VolumeKind::Bind {
            let mut b = BTreeMap::new();
            b.insert(
                "create_host_path",
                serde_json::Value::Bool(self.bind_create_host_path),
            );
            if let Some(p) = &self.bind_propagation {
                b.insert("propagation", p.clone().into());
            }
            if let Some(p) = &self.bind_selinux {
                b.insert("selinux", p.clone().into());
            }
            m.serialize_entry("bind", &b)?;
        }
        if self.kind == VolumeKind::Volume && (self.volume_nocopy || self.volume_subpath.is_some())
        {
            let mut b = BTreeMap::new();
            if self.volume_nocopy {
                b.insert("nocopy", serde_json::Value::Bool(true));
            }
            if let Some(p) = &self.volume_subpath {
                b.insert("subpath", p.clone().into());
            }
            m.serialize_entry("volume", &b)?;
        }
        if self.kind == VolumeKind::Tmpfs
            && (self.tmpfs_size.is_some() || self.tmpfs_mode.is_some())
        {
            let mut b = BTreeMap::new();
            if let Some(v) = self.tmpfs_size {
                b.insert("size", serde_json::Value::from(v));
            }
            if let Some(v) = self.tmpfs_mode {
                b.insert("mode", serde_json::Value::from(v));
            }
            m.serialize_entry("tmpfs", &b)?;
        }
        m.end()
    }
}

/// A service's attachment to one network.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// Connection order: higher first.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub priority: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub gw_priority: i64,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// What a dependent service waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    /// The compose spelling (`service_started`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DependsOn {
    pub condition: Condition,
    /// Restart the dependent when this dependency is restarted by compose.
    pub restart: bool,
    /// `false`: a missing/disabled dependency is ignored (compose warns).
    pub required: bool,
}

impl Default for DependsOn {
    fn default() -> Self {
        DependsOn {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        }
    }
}

/// `healthcheck:`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", args...]`, `["CMD-SHELL", "cmd"]` or `["NONE"]`;
    /// empty means "inherit the image's test".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub interval: Option<Duration>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub start_period: Option<Duration>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub start_interval: Option<Duration>,
    /// `disable: true` (then `test` is `["NONE"]`).
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
}

/// One ulimit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

/// `logging:`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Logging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A service's use of a secret or config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ServiceFileRef {
    /// The key in top-level `secrets` / `configs`.
    pub source: String,
    /// Absolute path in the container: default `/run/secrets/<source>` for
    /// secrets, `/<source>` for configs; a relative secret target is put under `/run/secrets`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Network {
    /// The engine-side name: `name:`, else the key for external networks,
    /// else `<project>_<key>`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
}

/// A network's IPAM configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Ipam {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamConfig>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// One IPAM pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct IpamConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Volume {
    /// The engine-side name: `name:`, else the key for external volumes,
    /// else `<project>_<key>`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Secret {
    /// `name:`, else the key for external secrets, else `<project>_<key>`.
    pub name: String,
    /// Absolute path of the file holding the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

/// A top-level config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Config {
    /// `name:`, else the key for external configs, else `<project>_<key>`.
    pub name: String,
    /// Absolute path of the file holding the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Inline content (interpolated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_none(),
    }
}

/// Formats a duration as Go's `time.Duration.String` does (`1m30s`, `500ms`, `1h0m0s`),
/// which is how compose prints durations.
pub fn format_duration(d: Duration) -> String {
    fn frac(n: u128, div: u128) -> String {
        let int = n / div;
        let rem = n % div;
        if rem == 0 {
            return int.to_string();
        }
        let width = div.to_string().len() - 1;
        let digits = format!("{rem:0width$}");
        format!("{int}.{}", digits.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac(ns, div));
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac(
        u128::from(s) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    ));
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_nanos(12)), "12ns");
    }

    #[test]
    fn profiles_enablement() {
        let mut s = Service::default();
        assert!(s.enabled_for(&[]));
        s.profiles = vec!["debug".into()];
        assert!(!s.enabled_for(&[]));
        assert!(!s.enabled_for(&["other".into()]));
        assert!(s.enabled_for(&["debug".into()]));
        assert!(s.enabled_for(&["*".into()]));
    }
}

//! berthd's configuration: dockerd's flags, and /etc/berth/daemon.json with
//! docker's daemon.json keys where they apply. Flags win over the file.

use std::path::{Path, PathBuf};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: a Docker-compatible container engine"
)]
pub struct Flags {
    /// Daemon socket(s) to connect to
    #[arg(short = 'H', long = "host")]
    pub host: Vec<String>,
    /// Root directory of persistent berth state
    #[arg(long = "data-root")]
    pub data_root: Option<PathBuf>,
    /// Root directory for execution state files
    #[arg(long = "exec-root")]
    pub exec_root: Option<PathBuf>,
    /// Path to use for daemon PID file
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Daemon configuration file
    #[arg(long = "config-file", default_value = "/etc/berth/daemon.json")]
    pub config_file: PathBuf,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set parent cgroup for all containers
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Path to the docker-init binary (--init): a static init such as tini
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
    /// The default bridge's name ("none": no default bridge)
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// The default bridge's gateway address and subnet (CIDR, e.g. 172.18.0.1/16)
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// MTU of the default bridge and its containers' interfaces
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// DNS server for containers (the embedded DNS forwards to it; default: the host's resolvers)
    #[arg(long = "dns")]
    pub dns: Vec<std::net::IpAddr>,
    /// Use TLS on tcp:// hosts; --tls=false serves them in the clear (insecure)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls: Option<bool>,
    /// Use TLS and verify the remote (client certificates signed by --tlscacert)
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
    /// Default driver for container logs
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Default driver options for container logs
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Enable insecure registry communication (host[:port] or CIDR)
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
    /// Preferred registry mirror (for docker.io)
    #[arg(long = "registry-mirror")]
    pub registry_mirror: Vec<String>,
    /// Set the max concurrent downloads
    #[arg(long = "max-concurrent-downloads")]
    pub max_concurrent_downloads: Option<usize>,
    /// Set the max concurrent uploads
    #[arg(long = "max-concurrent-uploads")]
    pub max_concurrent_uploads: Option<usize>,
    /// Set the max download attempts for each pull
    #[arg(long = "max-download-attempts")]
    pub max_download_attempts: Option<u32>,
    /// User/Group setting for user namespaces ("default" or user[:group])
    #[arg(long = "userns-remap")]
    pub userns_remap: Option<String>,
}

/// TLS settings for tcp:// hosts.
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// `--tls` given explicitly (true or false).
    pub enabled: Option<bool>,
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log_level: String,
    /// Containers' cgroups go under `/<cgroup_parent>/<id>`.
    pub cgroup_parent: String,
    /// The static init bind-mounted as /sbin/docker-init for `--init`.
    pub init_path: Option<PathBuf>,
    pub tls: Tls,
    pub bridge: String,
    pub bip: Option<String>,
    pub mtu: u32,
    pub dns: Vec<std::net::IpAddr>,
    /// daemon.json `default-address-pools`: where automatic subnets come from.
    pub address_pools: Vec<AddressPool>,
    pub log_driver: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    pub registry: berth_engine::RegistryOptions,
    /// `--userns-remap`, resolved.
    pub userns_remap: Option<berth_engine::Remap>,
}

/// A `default-address-pools` entry: subnets of `size` bits carved from `base`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct File {
    hosts: Option<Vec<String>>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    log_level: Option<String>,
    debug: Option<bool>,
    cgroup_parent: Option<String>,
    init_path: Option<PathBuf>,
    bridge: Option<String>,
    bip: Option<String>,
    mtu: Option<u32>,
    dns: Option<Vec<std::net::IpAddr>>,
    default_address_pools: Option<Vec<AddressPool>>,
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    log_driver: Option<String>,
    log_opts: Option<std::collections::BTreeMap<String, String>>,
    insecure_registries: Option<Vec<String>>,
    registry_mirrors: Option<Vec<String>>,
    max_concurrent_downloads: Option<usize>,
    max_concurrent_uploads: Option<usize>,
    max_download_attempts: Option<u32>,
    userns_remap: Option<String>,
    /// berth's own: with `userns-remap`, false gives remapped containers
    /// chowned copies of the image layers instead of idmapped mounts (what
    /// berth falls back to where the kernel refuses those).
    idmapped_layers: Option<bool>,
    /// berth's own: keep pulled layers' compressed blobs (pushes of them
    /// then send the very bytes pulled; costs their disk space).
    keep_pulled_blobs: Option<bool>,
    /// berth's own: where per-registry TLS material is looked up
    /// (`<dir>/<host:port>/{ca.crt,client.cert,client.key}`), first match
    /// wins; default /etc/berth/certs.d then /etc/docker/certs.d.
    certs_dirs: Option<Vec<PathBuf>>,
}

/// Where a static init is found when none is configured: berth's own name,
/// then Debian's tini-static (tini is what Docker ships as docker-init).
fn find_init() -> Option<PathBuf> {
    let own = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("berth-init"));
    own.into_iter()
        .chain(
            [
                "/usr/bin/tini-static",
                "/usr/bin/docker-init",
                "/usr/libexec/docker/docker-init",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}

impl Config {
    pub fn load(f: Flags) -> Result<Config, String> {
        let file: File = match std::fs::read(&f.config_file) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                format!(
                    "unable to configure the daemon with file {}: {e}",
                    f.config_file.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(format!("{}: {e}", f.config_file.display())),
        };
        let hosts = if !f.host.is_empty() {
            f.host
        } else {
            file.hosts
                .unwrap_or_else(|| vec!["unix:///run/berth.sock".into()])
        };
        let hosts = hosts
            .into_iter()
            .map(|h| {
                if h.starts_with('/') {
                    format!("unix://{h}")
                } else {
                    h
                }
            })
            .collect();
        let debug = f.debug || file.debug.unwrap_or(false);
        let mut log_opts = file.log_opts.unwrap_or_default();
        for o in &f.log_opt {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("invalid --log-opt {o:?}: expected key=value"))?;
            log_opts.insert(k.to_string(), v.to_string());
        }
        let log_driver = f
            .log_driver
            .or(file.log_driver)
            .unwrap_or_else(|| "json-file".into());
        if !berth_engine::container::create::LOG_DRIVERS.contains(&log_driver.as_str()) {
            return Err(format!(
                "logger: no log driver named '{log_driver}' is registered"
            ));
        }
        let either = |flag: Vec<String>, file: Option<Vec<String>>| {
            if flag.is_empty() {
                file.unwrap_or_default()
            } else {
                flag
            }
        };
        let defaults = berth_engine::RegistryOptions::default();
        let positive = |name: &str, v: Option<usize>, d: usize| match v {
            Some(0) => Err(format!("invalid max concurrent {name}: 0")),
            Some(n) => Ok(n),
            None => Ok(d),
        };
        let registry = berth_engine::RegistryOptions {
            insecure: either(f.insecure_registry, file.insecure_registries),
            mirrors: either(f.registry_mirror, file.registry_mirrors),
            max_downloads: positive(
                "downloads",
                f.max_concurrent_downloads.or(file.max_concurrent_downloads),
                defaults.max_downloads,
            )?,
            max_uploads: positive(
                "uploads",
                f.max_concurrent_uploads.or(file.max_concurrent_uploads),
                defaults.max_uploads,
            )?,
            max_attempts: f
                .max_download_attempts
                .or(file.max_download_attempts)
                .unwrap_or(defaults.max_attempts)
                .max(1),
            keep_pulled_blobs: file.keep_pulled_blobs.unwrap_or(false),
            cert_dirs: file.certs_dirs.unwrap_or(defaults.cert_dirs),
        };
        let userns_remap = match f.userns_remap.or(file.userns_remap) {
            Some(spec) if !spec.is_empty() => crate::remap::resolve(&spec)?.map(|mut r| {
                r.idmapped_layers = file.idmapped_layers.unwrap_or(true);
                r
            }),
            _ => None,
        };
        Ok(Config {
            registry,
            userns_remap,
            hosts,
            data_root: f
                .data_root
                .or(file.data_root)
                .unwrap_or_else(|| "/var/lib/berth".into()),
            exec_root: f
                .exec_root
                .or(file.exec_root)
                .unwrap_or_else(|| "/run/berth".into()),
            pidfile: f
                .pidfile
                .or(file.pidfile)
                .unwrap_or_else(|| "/run/berth.pid".into()),
            cgroup_parent: f
                .cgroup_parent
                .or(file.cgroup_parent)
                .unwrap_or_else(|| "berth".into())
                .trim_matches('/')
                .to_string(),
            init_path: f.init_path.or(file.init_path).or_else(find_init),
            bridge: f.bridge.or(file.bridge).unwrap_or_else(|| "berth0".into()),
            bip: f.bip.or(file.bip),
            mtu: f.mtu.or(file.mtu).unwrap_or(1500),
            address_pools: file.default_address_pools.unwrap_or_default(),
            log_driver,
            log_opts,
            dns: if f.dns.is_empty() {
                file.dns.unwrap_or_default()
            } else {
                f.dns
            },
            tls: Tls {
                enabled: f.tls.or(file.tls),
                verify: f.tlsverify || file.tlsverify.unwrap_or(false),
                ca: f.tlscacert.or(file.tlscacert),
                cert: f.tlscert.or(file.tlscert),
                key: f.tlskey.or(file.tlskey),
            },
            log_level: if debug {
                "debug".into()
            } else {
                f.log_level
                    .or(file.log_level)
                    .unwrap_or_else(|| "info".into())
            },
        })
    }
}

impl Config {
    /// What the engine needs of the configuration.
    pub fn engine(&self) -> berth_engine::EngineConfig {
        berth_engine::EngineConfig {
            data_root: self.data_root.clone(),
            exec_root: self.exec_root.clone(),
            cgroup_parent: self.cgroup_parent.clone(),
            init_path: self.init_path.clone(),
            bridge: self.bridge.clone(),
            bip: self.bip.clone(),
            mtu: self.mtu,
            dns: self.dns.clone(),
            address_pools: self
                .address_pools
                .iter()
                .map(|p| (p.base.clone(), p.size))
                .collect(),
            log_driver: self.log_driver.clone(),
            log_opts: self.log_opts.clone(),
            registry: self.registry.clone(),
            userns_remap: self.userns_remap.clone(),
        }
    }
}

/// Refuse to start twice on one pid file (a live pid in it), then write ours.
pub fn write_pidfile(path: &Path) -> Result<(), String> {
    if let Ok(s) = std::fs::read_to_string(path)
        && let Ok(pid) = s.trim().parse::<i32>()
        && pid != std::process::id() as i32
        && Path::new(&format!("/proc/{pid}")).exists()
    {
        return Err(format!(
            "pid file found, ensure berthd is not running or delete {}",
            path.display()
        ));
    }
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    std::fs::write(path, format!("{}", std::process::id()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The gid of a group from /etc/group.
pub fn group_id(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2)?.parse().ok())
}

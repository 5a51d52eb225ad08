//! `POST /containers/create`: check the request, merge the image's
//! defaults and the daemon's, record the container.
//!
//! The pure steps — [`validate`], [`merge_image`], [`fill_defaults`],
//! [`mounts_of`] — are unit-tested here without root.

use std::collections::BTreeMap;

use berth_api::container::{
    Config, CreateRequest, CreateResponse, HealthConfig, HostConfig, MountType, StrSlice,
};
use berth_api::network::EndpointSettings;

use super::{names, restart, save_record};
use crate::model::{Container, EndpointRequest, MountRecord, RunState};
use crate::util::{new_id, now_rfc3339};
use crate::{Engine, Error, Result};

/// The log drivers berth has.
pub const LOG_DRIVERS: &[&str] = &["json-file", "none"];
/// Options the json-file driver takes (Docker's list).
const JSON_FILE_OPTS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Docker's masked and read-only paths of an unprivileged container.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The default /dev/shm size (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// What the daemon fills into a HostConfig the client left empty.
#[derive(Clone, Debug)]
pub struct Defaults {
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    /// The default runtime's name (as `docker info` lists it).
    pub runtime: String,
    /// Pure cgroup v2 host: containers get a private cgroup namespace.
    pub cgroup_v2: bool,
}

/// Checks that need only the request.
pub fn validate(cfg: &Config, hc: &HostConfig) -> Result<()> {
    restart::validate(&hc.restart_policy, hc.auto_remove)?;
    let r = &hc.resources;
    if r.memory != 0 && r.memory < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if r.memory_swap > 0 && r.memory > 0 && r.memory_swap < r.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if r.memory_reservation > 0 && r.memory > 0 && r.memory < r.memory_reservation {
        return Err(Error::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    if r.nano_cpus < 0 || r.nano_cpus > ncpu * 1_000_000_000 {
        return Err(Error::invalid(format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares: must be positive"));
    }
    if hc.shm_size < 0 {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    if let Some(s) = r.memory_swappiness
        && !(-1..=100).contains(&s)
    {
        return Err(Error::invalid(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if hc.oom_score_adj < -1000 || hc.oom_score_adj > 1000 {
        return Err(Error::invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    validate_log_config(hc)?;
    if hc.network_mode.container().is_some() && !cfg.hostname.is_empty() {
        return Err(Error::invalid(
            "conflicting options: hostname and the network mode",
        ));
    }
    if hc.network_mode.is_host() && hc.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(Error::invalid(
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        ));
    }
    for m in &hc.mounts {
        if m.target.is_empty() {
            return Err(Error::invalid(
                "invalid mount config: Target must not be empty",
            ));
        }
        if !m.target.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
                m.kind.as_str(),
                m.target
            )));
        }
    }
    Ok(())
}

/// `--userns`, and what user-namespace remapping (`remapped`: the daemon's
/// on and the container not `--userns=host`) rules out, in dockerd's words.
pub fn validate_userns(hc: &HostConfig, remapped: bool) -> Result<()> {
    if !hc.userns_mode.is_empty() && !hc.userns_mode.is_host() {
        return Err(Error::invalid(format!(
            "invalid USER mode: {}",
            hc.userns_mode.as_str()
        )));
    }
    if !remapped {
        return Ok(());
    }
    if hc.privileged {
        return Err(Error::invalid(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        ));
    }
    if hc.network_mode.is_host() {
        return Err(Error::invalid(
            "cannot share the host's network namespace when user namespaces are enabled",
        ));
    }
    if hc.pid_mode.is_host() {
        return Err(Error::invalid(
            "cannot share the host PID namespace when user namespaces are enabled",
        ));
    }
    Ok(())
}

/// The log driver must be one berth has; json-file's options are checked
/// by name here, by value when the container starts (as Docker does).
pub fn validate_log_config(hc: &HostConfig) -> Result<()> {
    let d = hc.log_config.driver.as_str();
    if !d.is_empty() && !LOG_DRIVERS.contains(&d) {
        return Err(Error::invalid(format!(
            "logger: no log driver named '{d}' is registered"
        )));
    }
    if d == "json-file" || d.is_empty() {
        for k in hc.log_config.config.iter().flatten().map(|(k, _)| k) {
            if !JSON_FILE_OPTS.contains(&k.as_str()) {
                return Err(Error::invalid(format!(
                    "unknown log opt '{k}' for json-file log driver"
                )));
            }
        }
    }
    Ok(())
}

/// The json-file rotation a container's log options ask for:
/// (max bytes per file, 0 = unlimited; files kept). Docker's words when
/// a value is bad (these surface when the container starts).
pub fn log_rotation(hc: &HostConfig) -> Result<(u64, u32)> {
    let fail = |e: String| Error::invalid(format!("failed to initialize logging driver: {e}"));
    let max_size = match hc.log_config.opt("max-size") {
        None => 0,
        Some(s) => {
            let n = berth_api::units::from_human_size(s).map_err(|e| fail(e.to_string()))?;
            if n <= 0 {
                return Err(fail("max-size must be a positive number".into()));
            }
            n as u64
        }
    };
    let max_file = match hc.log_config.opt("max-file") {
        None => 1,
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| fail(format!("strconv.Atoi: parsing {s:?}: invalid syntax")))?;
            if n < 1 {
                return Err(fail("max-file cannot be less than 1".into()));
            }
            n as u32
        }
    };
    if let Some(c) = hc.log_config.opt("compress") {
        let on = matches!(c, "1" | "t" | "T" | "true" | "TRUE" | "True");
        if !on && !matches!(c, "0" | "f" | "F" | "false" | "FALSE" | "False") {
            return Err(fail(format!(
                "strconv.ParseBool: parsing {c:?}: invalid syntax"
            )));
        }
        if on && (max_file == 1 || max_size == 0) {
            return Err(fail(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
                    .into(),
            ));
        }
    }
    Ok((max_size, max_file))
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Docker's merge of the image's config into the user's (daemon/create.go):
/// returns the container's argv.
pub fn merge_image(cfg: &mut Config, img: &Config) -> Result<Vec<String>> {
    if cfg.user.is_empty() {
        cfg.user = img.user.clone();
    }
    if let Some(ports) = &img.exposed_ports {
        let mine = cfg.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert(*v);
        }
    }
    let mut env: Vec<String> = img.env().to_vec();
    for e in cfg.env() {
        env.retain(|x| env_key(x) != env_key(e));
        env.push(e.clone());
    }
    cfg.env = Some(env);
    let mut labels = img.labels();
    labels.extend(cfg.labels());
    cfg.labels = Some(labels);
    if cfg.entrypoint().is_empty() {
        if cfg.cmd().is_empty() {
            cfg.cmd = img.cmd.clone();
            cfg.args_escaped = img.args_escaped;
        }
        if cfg.entrypoint.is_none() {
            cfg.entrypoint = img.entrypoint.clone();
        }
    }
    if cfg.entrypoint.as_ref().is_some_and(StrSlice::is_empty) {
        cfg.entrypoint = None;
    }
    if cfg.cmd.as_ref().is_some_and(StrSlice::is_empty) {
        cfg.cmd = None;
    }
    cfg.healthcheck = merge_health(cfg.healthcheck.take(), img.healthcheck.as_ref());
    if cfg.working_dir.is_empty() {
        cfg.working_dir = img.working_dir.clone();
    }
    if let Some(v) = &img.volumes {
        let mine = cfg.volumes.get_or_insert_with(Default::default);
        for (k, e) in v {
            mine.entry(k.clone()).or_insert(*e);
        }
    }
    if cfg.stop_signal.is_empty() {
        cfg.stop_signal = img.stop_signal.clone();
    }
    if cfg.shell.is_none() {
        cfg.shell = img.shell.clone();
    }
    let argv: Vec<String> = cfg.entrypoint().iter().chain(cfg.cmd()).cloned().collect();
    if argv.is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    Ok(argv)
}

/// A user's health check with the image's filling what it leaves out.
fn merge_health(user: Option<HealthConfig>, img: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(img) = img else { return user };
    let Some(mut h) = user else {
        return Some(img.clone());
    };
    if h.test.as_ref().is_none_or(|t| t.is_empty()) {
        h.test = img.test.clone();
    }
    if h.interval == 0 {
        h.interval = img.interval;
    }
    if h.timeout == 0 {
        h.timeout = img.timeout;
    }
    if h.start_period == 0 {
        h.start_period = img.start_period;
    }
    if h.start_interval == 0 {
        h.start_interval = img.start_interval;
    }
    if h.retries == 0 {
        h.retries = img.retries;
    }
    Some(h)
}

/// The daemon's defaults for what the client left empty, as dockerd
/// fills them (inspect shows them; SDKs read them).
pub fn fill_defaults(hc: &mut HostConfig, d: &Defaults) {
    if hc.network_mode.as_str().is_empty() {
        hc.network_mode = berth_api::container::NetworkMode("default".into());
    }
    if hc.log_config.driver.is_empty() {
        hc.log_config.driver = d.log_driver.clone();
        if hc.log_config.config.as_ref().is_none_or(|c| c.is_empty()) {
            hc.log_config.config = Some(d.log_opts.clone());
        }
    }
    if hc.log_config.config.is_none() {
        hc.log_config.config = Some(Default::default());
    }
    if hc.runtime.is_empty() {
        hc.runtime = d.runtime.clone();
    }
    if hc.shm_size == 0 {
        hc.shm_size = DEFAULT_SHM_SIZE;
    }
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = berth_api::container::NsMode("private".into());
    }
    if hc.cgroupns_mode.is_empty() {
        hc.cgroupns_mode =
            berth_api::container::NsMode(if d.cgroup_v2 { "private" } else { "host" }.into());
    }
    if hc.restart_policy.name == berth_api::container::RestartPolicyMode::Unset {
        hc.restart_policy.name = berth_api::container::RestartPolicyMode::No;
    }
    for l in [&mut hc.dns, &mut hc.dns_options, &mut hc.dns_search] {
        if l.is_none() {
            *l = Some(Vec::new());
        }
    }
    let r = &mut hc.resources;
    if r.blkio_weight_device.is_none() {
        r.blkio_weight_device = Some(Vec::new());
    }
    for l in [
        &mut r.blkio_device_read_bps,
        &mut r.blkio_device_write_bps,
        &mut r.blkio_device_read_iops,
        &mut r.blkio_device_write_iops,
    ] {
        if l.is_none() {
            *l = Some(Vec::new());
        }
    }
    if r.devices.is_none() {
        r.devices = Some(Vec::new());
    }
    if r.oom_kill_disable.is_none() {
        r.oom_kill_disable = Some(false);
    }
    if hc.port_bindings.is_none() {
        hc.port_bindings = Some(Default::default());
    }
    if !hc.privileged {
        if hc.masked_paths.is_none() {
            hc.masked_paths = Some(MASKED_PATHS.iter().map(|s| s.to_string()).collect());
        }
        if hc.readonly_paths.is_none() {
            hc.readonly_paths = Some(READONLY_PATHS.iter().map(|s| s.to_string()).collect());
        }
    }
}

/// `-v src:dst[:opts]` split as Docker does (`src` may be a volume name).
pub fn parse_bind(spec: &str) -> Result<(String, String, String)> {
    let parts: Vec<&str> = spec.split(':').collect();
    let bad = || Error::invalid(format!("invalid volume specification: '{spec}'"));
    match parts.as_slice() {
        [dst] => Ok((String::new(), dst.to_string(), String::new())),
        [src, dst] => Ok((src.to_string(), dst.to_string(), String::new())),
        [src, dst, mode] => {
            for o in mode.split(',') {
                if !matches!(
                    o,
                    "ro" | "rw" | "z" | "Z" | "nocopy" | "private" | "rprivate" | "shared"
                        | "rshared" | "slave" | "rslave" | "consistent" | "cached" | "delegated"
                ) {
                    return Err(Error::invalid(format!(
                        "invalid mode: {mode}"
                    )));
                }
            }
            Ok((src.to_string(), dst.to_string(), mode.to_string()))
        }
        _ => Err(bad()),
    }
    .and_then(|(s, d, m): (String, String, String)| {
        if d.is_empty() || !d.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid mount path: '{d}' mount path must be absolute"
            )));
        }
        if d == "/" {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
            )));
        }
        Ok((s, d, m))
    })
}

/// What a container mounts besides its image, from `Binds`, `Mounts` and
/// `Tmpfs`, in inspect's `Mounts` form. Volumes are named here, made (and
/// anonymous ones named) by the volume store at create.
pub fn mounts_of(hc: &HostConfig, data_root: &std::path::Path) -> Result<Vec<MountRecord>> {
    // Docker: a bind whose source holds (or is inside) the daemon's root
    // gets rslave, so that the container cannot pin mounts of the daemon.
    let default_propagation = |src: &str| {
        let src = std::path::Path::new(src);
        if data_root.starts_with(src) || src.starts_with(data_root) {
            "rslave".to_string()
        } else {
            "rprivate".to_string()
        }
    };
    let mut out: Vec<MountRecord> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut dup = |d: &str| -> Result<()> {
        if !seen.insert(d.trim_end_matches('/').to_string()) {
            return Err(Error::invalid(format!("Duplicate mount point: {d}")));
        }
        Ok(())
    };
    for b in HostConfig::list(&hc.binds) {
        let (src, dst, mode) = parse_bind(b)?;
        if src.is_empty() {
            // `-v /path`: an anonymous volume (named at create).
            dup(&dst)?;
            out.push(MountRecord {
                kind: MountType::Volume,
                destination: dst,
                rw: true,
                anonymous: true,
                driver: hc.volume_driver.clone(),
                ..Default::default()
            });
            continue;
        }
        if !src.starts_with('/') {
            // `-v name:/path[:opts]`: a named volume, made if missing.
            dup(&dst)?;
            let opts: Vec<&str> = mode.split(',').collect();
            out.push(MountRecord {
                kind: MountType::Volume,
                name: src,
                destination: dst,
                rw: !opts.contains(&"ro"),
                no_copy: opts.contains(&"nocopy"),
                mode: if mode.is_empty() { "z".into() } else { mode },
                driver: hc.volume_driver.clone(),
                ..Default::default()
            });
            continue;
        }
        dup(&dst)?;
        let opts: Vec<&str> = mode.split(',').filter(|s| !s.is_empty()).collect();
        let propagation = opts
            .iter()
            .find(|o| o.ends_with("private") || o.ends_with("shared") || o.ends_with("slave"))
            .map(|s| s.to_string())
            .unwrap_or_else(|| default_propagation(&src));
        out.push(MountRecord {
            kind: MountType::Bind,
            source: src,
            destination: dst,
            rw: !opts.contains(&"ro"),
            mode,
            propagation,
            create_source: true,
            ..Default::default()
        });
    }
    for m in &hc.mounts {
        dup(&m.target)?;
        match m.kind {
            MountType::Bind => {
                if m.source.is_empty() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"bind\": field Source must not be empty",
                    ));
                }
                let b = m.bind_options.clone().unwrap_or_default();
                out.push(MountRecord {
                    kind: MountType::Bind,
                    source: m.source.clone(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    propagation: if b.propagation.is_empty() {
                        default_propagation(&m.source)
                    } else {
                        b.propagation.clone()
                    },
                    options: if b.non_recursive {
                        vec!["bind".into()]
                    } else {
                        vec!["rbind".into()]
                    },
                    ..Default::default()
                });
            }
            MountType::Tmpfs => {
                if !m.source.is_empty() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"tmpfs\": field Source must not be specified",
                    ));
                }
                let t = m.tmpfs_options.clone().unwrap_or_default();
                let mut options = Vec::new();
                if t.size_bytes > 0 {
                    options.push(format!("size={}", t.size_bytes));
                }
                if t.mode != 0 {
                    options.push(format!("mode={:o}", t.mode));
                }
                for o in t.options.iter().flatten() {
                    options.push(o.join("="));
                }
                out.push(MountRecord {
                    kind: MountType::Tmpfs,
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    options,
                    ..Default::default()
                });
            }
            MountType::Volume => {
                if m.bind_options.is_some() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"volume\": field BindOptions must not be specified",
                    ));
                }
                if m.tmpfs_options.is_some() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"volume\": field TmpfsOptions must not be specified",
                    ));
                }
                let v = m.volume_options.clone().unwrap_or_default();
                out.push(MountRecord {
                    kind: MountType::Volume,
                    name: m.source.clone(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    mode: "z".into(),
                    anonymous: m.source.is_empty(),
                    no_copy: v.no_copy,
                    driver: v
                        .driver_config
                        .map(|d| d.name)
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| hc.volume_driver.clone()),
                    ..Default::default()
                });
            }
            ref other => {
                return Err(Error::invalid(format!(
                    "mount type \"{}\" is not supported by this daemon yet",
                    other.as_str()
                )));
            }
        }
    }
    Ok(out)
}

impl Engine {
    /// The networks a new container joins: its NetworkMode's (the default
    /// bridge for `default`/`bridge`), and every other network the request
    /// names, with aliases, links, a fixed address and a MAC.
    fn net_requests(
        &self,
        hc: &HostConfig,
        eps: &BTreeMap<String, EndpointSettings>,
        cfg_mac: &str,
    ) -> Result<BTreeMap<String, EndpointRequest>> {
        let mode = &hc.network_mode;
        let mut out = BTreeMap::new();
        if mode.is_none() || mode.is_host() {
            return Ok(out);
        }
        if let Some(t) = mode.container() {
            self.containers.get(t)?;
            return Ok(out);
        }
        let primary = if mode.is_default() || mode.is_bridge() {
            if self.network(crate::network::DEFAULT).is_err() {
                None
            } else {
                Some(crate::network::DEFAULT.to_string())
            }
        } else {
            Some(self.network(mode.as_str())?.name())
        };
        // Endpoints for networks other than the mode's must exist too.
        let mut names: Vec<(String, Option<&EndpointSettings>)> = Vec::new();
        if let Some(p) = &primary {
            let ep = eps.get(p).or_else(|| eps.get(mode.as_str()));
            names.push((p.clone(), ep));
        }
        for (k, ep) in eps {
            if Some(k) == primary.as_ref() || k == mode.as_str() {
                continue;
            }
            let n = self.network(k)?;
            names.push((n.name(), Some(ep)));
        }
        for (i, (name, ep)) in names.into_iter().enumerate() {
            let ep = ep.cloned().unwrap_or_default();
            let ipam = ep.ipam_config.clone().unwrap_or_default();
            let ipv4 = match ipam.ipv4_address.as_str() {
                "" => None,
                s => Some(
                    s.parse()
                        .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}")))?,
                ),
            };
            if ipv4.is_some() && name == crate::network::DEFAULT {
                return Err(Error::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            let mac = Some(ep.mac_address.as_str())
                .filter(|s| !s.is_empty())
                .or((i == 0 && !cfg_mac.is_empty()).then_some(cfg_mac))
                .map(String::from);
            if let Some(m) = &mac
                && berth_net::ipam::parse_mac(m).is_none()
            {
                return Err(Error::invalid(format!("invalid MAC address: {m}")));
            }
            out.insert(
                name,
                EndpointRequest {
                    aliases: ep.aliases.clone().unwrap_or_default(),
                    ipv4,
                    mac,
                    links: ep.links.clone().unwrap_or_default(),
                    driver_opts: ep.driver_opts.clone().unwrap_or_default(),
                },
            );
        }
        Ok(out)
    }

    /// `--volumes-from c[:ro|:rw]`: the mounts of `c` that the new
    /// container's own do not replace, read-only if asked (never made
    /// writable), never filled from the image again.
    fn volumes_from(&self, hc: &HostConfig, mounts: &mut Vec<MountRecord>) -> Result<()> {
        let mut taken: std::collections::BTreeSet<String> = mounts
            .iter()
            .map(|m| m.destination.trim_end_matches('/').to_string())
            .collect();
        for spec in hc.volumes_from.iter().flatten() {
            let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
            if !matches!(mode, "" | "ro" | "rw" | "z" | "Z") {
                return Err(Error::invalid(format!("invalid mode: {mode}")));
            }
            // dockerd answers 400 here (a 404 would make the CLI pull).
            let src = self
                .containers
                .resolve(name)
                .and_then(|id| self.containers.get(&id))
                .map_err(|e| Error::invalid(e.message))?;
            for m in src.mounts {
                if !taken.insert(m.destination.trim_end_matches('/').to_string()) {
                    continue;
                }
                mounts.push(MountRecord {
                    rw: m.rw && mode != "ro",
                    mode: String::new(),
                    no_copy: true,
                    ..m
                });
            }
        }
        Ok(())
    }

    /// `POST /containers/create`.
    pub fn container_create(
        &self,
        name: Option<String>,
        req: CreateRequest,
    ) -> Result<CreateResponse> {
        let mut cfg = req.config;
        if cfg.image.is_empty() {
            return Err(Error::invalid("No image specified"));
        }
        let mut hc = req.host_config.unwrap_or_default();
        validate(&cfg, &hc)?;
        let id_map = match &self.cfg.userns_remap {
            Some(r) if !hc.userns_mode.is_host() => Some(r.map.clone()),
            _ => None,
        };
        validate_userns(&hc, id_map.is_some())?;
        fill_defaults(&mut hc, &self.defaults);
        let eps = req
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        let net_requests = self.net_requests(&hc, &eps, &cfg.mac_address)?;
        if let Some(n) = &name
            && !names::valid(n)
        {
            return Err(names::invalid_name(n));
        }
        let mut mounts = mounts_of(&hc, &self.cfg.data_root)?;
        self.volumes_from(&hc, &mut mounts)?;
        let img = self.images.resolve(&cfg.image).map_err(|e| match e {
            berth_image::Error::NotFound(_) => Error::no_such_image(
                &berth_image::Reference::parse(&cfg.image)
                    .map(|r| r.familiar())
                    .unwrap_or(cfg.image.clone()),
            ),
            other => other.into(),
        })?;
        let argv = merge_image(&mut cfg, &img.config.runtime())?;
        for b in HostConfig::list(&hc.binds) {
            if let Ok((src, dst, _)) = parse_bind(b)
                && src.is_empty()
            {
                cfg.volumes
                    .get_or_insert_with(Default::default)
                    .entry(dst)
                    .or_default();
            }
        }
        // Image `VOLUME`s no mount covers: an anonymous volume each.
        for v in cfg.volumes() {
            if !v.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid volume specification: '{v}': invalid mount config for type \"volume\": invalid mount path: '{v}' mount path must be absolute"
                )));
            }
            let covered = mounts
                .iter()
                .any(|m| m.destination.trim_end_matches('/') == v.trim_end_matches('/'));
            if !covered {
                mounts.push(MountRecord {
                    kind: MountType::Volume,
                    destination: v.clone(),
                    rw: true,
                    anonymous: true,
                    driver: hc.volume_driver.clone(),
                    ..Default::default()
                });
            }
        }
        mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
        let id = new_id();
        if cfg.hostname.is_empty()
            && hc.network_mode.container().is_none()
            && !hc.network_mode.is_host()
        {
            cfg.hostname = id[..12].to_string();
        }
        let name = match name {
            Some(n) => format!("/{}", n.trim_start_matches('/')),
            None => format!(
                "/{}",
                names::generate(&|n| self.containers.name_owner(&format!("/{n}")).is_some())
            ),
        };
        if let Some(other) = self.containers.name_owner(&name) {
            return Err(super::name_conflict(&name, &other));
        }
        // Last of the checks, first of the things made: undone below if
        // the record cannot be kept.
        let made_volumes = self.prepare_volumes(&mut mounts, &hc)?;
        let dir = Container::dir(&self.cfg.data_root, &id);
        let c = Container {
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            id: id.clone(),
            name,
            created: now_rfc3339(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config: cfg,
            host_config: hc,
            image: img.id.as_str().to_string(),
            state: RunState::default(),
            restart_count: 0,
            manually_stopped: false,
            net_requests,
            endpoints: BTreeMap::new(),
            mounts,
            id_map,
        };
        if let Err(e) = save_record(&self.cfg.data_root, &c, true) {
            crate::util::remove_dir(&dir);
            self.drop_volumes(&made_volumes);
            return Err(e.into());
        }
        if let Err(e) = self.containers.insert(c.clone()) {
            crate::util::remove_dir(&dir);
            self.drop_volumes(&made_volumes);
            return Err(e);
        }
        self.emit_container(&c, "create", &[]);
        Ok(CreateResponse {
            id,
            warnings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::{Mount, RestartPolicy, RestartPolicyMode};

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn image() -> Config {
        Config {
            cmd: Some(StrSlice(strs(&["sh"]))),
            env: Some(strs(&["PATH=/bin", "A=image"])),
            working_dir: "/srv".into(),
            labels: Some([("from".to_string(), "image".to_string())].into()),
            stop_signal: "SIGQUIT".into(),
            healthcheck: Some(HealthConfig {
                test: Some(strs(&["CMD", "true"])),
                interval: 5,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn image_defaults_fill_what_the_user_left_out() {
        let mut c = Config {
            env: Some(strs(&["A=user", "B=1"])),
            labels: Some([("k".to_string(), "v".to_string())].into()),
            healthcheck: Some(HealthConfig {
                retries: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        let argv = merge_image(&mut c, &image()).unwrap();
        assert_eq!(argv, ["sh"]);
        assert_eq!(c.env(), ["PATH=/bin", "A=user", "B=1"]);
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.stop_signal, "SIGQUIT");
        assert_eq!(c.labels().len(), 2);
        let h = c.healthcheck.unwrap();
        assert_eq!((h.interval, h.retries), (5, 7));
        assert_eq!(h.test.unwrap(), ["CMD", "true"]);
    }

    #[test]
    fn entrypoint_and_cmd_rules() {
        // A user entrypoint drops the image's Cmd.
        let mut c = Config {
            entrypoint: Some(StrSlice(strs(&["echo"]))),
            ..Default::default()
        };
        assert_eq!(merge_image(&mut c, &image()).unwrap(), ["echo"]);
        assert!(c.cmd.is_none());
        // A user Cmd replaces the image's, keeping its entrypoint.
        let mut img = image();
        img.entrypoint = Some(StrSlice(strs(&["/init"])));
        let mut c = Config {
            cmd: Some(StrSlice(strs(&["x"]))),
            ..Default::default()
        };
        assert_eq!(merge_image(&mut c, &img).unwrap(), ["/init", "x"]);
        // An empty entrypoint clears the image's.
        let mut c = Config {
            entrypoint: Some(StrSlice(vec![])),
            cmd: Some(StrSlice(strs(&["ls"]))),
            ..Default::default()
        };
        assert_eq!(merge_image(&mut c, &img).unwrap(), ["ls"]);
        let mut c = Config::default();
        assert_eq!(
            merge_image(&mut c, &Config::default()).unwrap_err().message,
            "no command specified"
        );
    }

    fn defaults() -> Defaults {
        Defaults {
            log_driver: "json-file".into(),
            log_opts: BTreeMap::new(),
            runtime: "runc".into(),
            cgroup_v2: false,
        }
    }

    #[test]
    fn daemon_defaults_as_dockerd_fills_them() {
        let mut hc = HostConfig::default();
        fill_defaults(&mut hc, &defaults());
        let v = serde_json::to_value(&hc).unwrap();
        assert_eq!(
            v["LogConfig"],
            serde_json::json!({"Type": "json-file", "Config": {}})
        );
        assert_eq!(v["Runtime"], "runc");
        assert_eq!(v["ShmSize"], 67108864);
        assert_eq!(v["NetworkMode"], "default");
        assert_eq!(v["RestartPolicy"]["Name"], "no");
        assert_eq!(v["CgroupnsMode"], "host");
        assert_eq!(
            v["MaskedPaths"].as_array().unwrap().len(),
            MASKED_PATHS.len()
        );
        let mut p = HostConfig {
            privileged: true,
            ..Default::default()
        };
        fill_defaults(&mut p, &defaults());
        assert!(p.masked_paths.is_none());
    }

    #[test]
    fn validation_in_dockers_words() {
        let c = Config::default();
        let mut hc = HostConfig::default();
        hc.resources.memory = 1024;
        assert_eq!(
            validate(&c, &hc).unwrap_err().message,
            "Minimum memory limit allowed is 6MB"
        );
        let mut hc = HostConfig::default();
        hc.log_config.driver = "asdf".into();
        assert_eq!(
            validate(&c, &hc).unwrap_err().message,
            "logger: no log driver named 'asdf' is registered"
        );
        let mut hc = HostConfig::default();
        hc.log_config.config = Some([("bogus".to_string(), "1".to_string())].into());
        assert_eq!(
            validate(&c, &hc).unwrap_err().message,
            "unknown log opt 'bogus' for json-file log driver"
        );
        let hc = HostConfig {
            restart_policy: RestartPolicy {
                name: RestartPolicyMode::Always,
                maximum_retry_count: 0,
            },
            auto_remove: true,
            ..Default::default()
        };
        assert!(validate(&c, &hc).is_err());
    }

    #[test]
    fn log_rotation_counts_in_thousands() {
        let hc = |k: &str, v: &str| HostConfig {
            log_config: berth_api::container::LogConfig {
                driver: "json-file".into(),
                config: Some([(k.to_string(), v.to_string())].into()),
            },
            ..Default::default()
        };
        assert_eq!(
            log_rotation(&hc("max-size", "10m")).unwrap(),
            (10_000_000, 1)
        );
        assert_eq!(
            log_rotation(&hc("max-size", "10mb")).unwrap(),
            (10_000_000, 1)
        );
        assert_eq!(
            log_rotation(&hc("max-size", "bogus")).unwrap_err().message,
            "failed to initialize logging driver: invalid size: 'bogus'"
        );
        assert_eq!(log_rotation(&hc("max-file", "3")).unwrap(), (0, 3));
        assert!(log_rotation(&hc("max-file", "0")).is_err());
        assert!(log_rotation(&hc("compress", "true")).is_err());
        assert_eq!(log_rotation(&HostConfig::default()).unwrap(), (0, 1));
    }

    #[test]
    fn mounts_in_inspect_form() {
        let hc = HostConfig {
            binds: Some(strs(&["/h:/c:ro", "/h:/d"])),
            mounts: vec![
                Mount {
                    kind: MountType::Bind,
                    source: "/h".into(),
                    target: "/e".into(),
                    ..Default::default()
                },
                Mount {
                    kind: MountType::Tmpfs,
                    target: "/t".into(),
                    tmpfs_options: Some(berth_api::container::TmpfsOptions {
                        size_bytes: 1 << 20,
                        mode: 0o1777,
                        options: None,
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let m = mounts_of(&hc, std::path::Path::new("/var/lib/berth")).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[0].rw, m[0].mode.as_str(), m[0].propagation.as_str()),
            (false, "ro", "rprivate")
        );
        assert!(m[1].rw && m[1].mode.is_empty());
        assert_eq!(m[3].options, ["size=1048576", "mode=1777"]);
        let dup = HostConfig {
            binds: Some(strs(&["/h:/c", "/g:/c/"])),
            ..Default::default()
        };
        assert!(
            mounts_of(&dup, std::path::Path::new("/var/lib/berth"))
                .unwrap_err()
                .message
                .contains("Duplicate mount point")
        );
        let under = HostConfig {
            binds: Some(strs(&["/var:/v", "/var/lib/berth/x:/x", "/srv:/s"])),
            ..Default::default()
        };
        let m = mounts_of(&under, std::path::Path::new("/var/lib/berth")).unwrap();
        let props: Vec<&str> = m.iter().map(|m| m.propagation.as_str()).collect();
        assert_eq!(props, ["rslave", "rslave", "rprivate"]);
        assert!(parse_bind("/h:rel").is_err());
        assert!(parse_bind("/h:/c:bogus").is_err());
    }
}

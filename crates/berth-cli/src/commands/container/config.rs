//! `docker create`/`run` flags and their translation into the create body.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use berth_api::container::{
    BindOptions, Config, CreateRequest, DeviceMapping, HealthConfig, HostConfig, LogConfig, Mount,
    MountType, NetworkMode, NetworkingConfig, NsMode, Resources, RestartPolicy, RestartPolicyMode,
    StrSlice, TmpfsOptions, Ulimit, VolumeOptions,
};
use berth_api::network::{EndpointSettings, PortBinding, PortMap};
use berth_api::{Empty, StringMap};
use clap::{ArgAction, Args};

use crate::opts::{env_entry, go_duration, ram_in_bytes, read_env_file};

#[derive(Args, Clone, Default)]
pub struct ContainerOpts {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Run an init inside the container
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

fn kv_map(items: &[String]) -> StringMap {
    let mut m = StringMap::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        m.insert(k.to_string(), v.to_string());
    }
    m
}

fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    let soft: i64 = soft
        .parse()
        .map_err(|_| anyhow!("invalid ulimit soft value: {soft}"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| anyhow!("invalid ulimit hard value: {hard}"))?;
    Ok(Ulimit {
        name: name.to_string(),
        hard,
        soft,
    })
}

fn parse_device(s: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|x| "rwm".contains(x)) && !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => bail!("invalid device specification: {s}"),
    };
    Ok(DeviceMapping {
        path_on_host: host.to_string(),
        path_in_container: ctr.to_string(),
        cgroup_permissions: perms.to_string(),
    })
}

fn parse_mount(s: &str) -> Result<Mount> {
    let mut m = Mount {
        kind: MountType::Volume,
        ..Default::default()
    };
    let mut bind = BindOptions::default();
    let mut tmpfs = TmpfsOptions::default();
    let mut vol = VolumeOptions::default();
    let (mut has_bind, mut has_tmpfs, mut has_vol) = (false, false, false);
    let mut target = false;
    // docker's setValueOnMap: `k=v` (a bare `k` maps to ""), empty keys skipped
    let set_kv = |m: &mut StringMap, kv: &str| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if !k.is_empty() {
            m.insert(k.to_string(), v.to_string());
        }
    };
    let fields =
        csv_fields(s).map_err(|e| anyhow!("invalid argument \"{s}\" for \"--mount\" flag: {e}"))?;
    for field in &fields {
        let field = field.as_str();
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), v.to_string()),
            None => (field.trim().to_lowercase(), String::new()),
        };
        let truthy = v.is_empty() || matches!(v.as_str(), "1" | "true");
        match k.as_str() {
            "type" => {
                m.kind = serde_json::from_value(serde_json::Value::String(v.to_lowercase()))
                    .map_err(|_| {
                        anyhow!("invalid mount config for type \"{v}\": mount type unknown")
                    })?
            }
            "source" | "src" => m.source = v,
            "target" | "destination" | "dst" => {
                m.target = v;
                target = true;
            }
            "readonly" | "ro" => m.read_only = truthy,
            "consistency" => m.consistency = v,
            "bind-propagation" => {
                bind.propagation = v;
                has_bind = true;
            }
            "bind-recursive" => {
                bind.non_recursive = v == "disabled";
                has_bind = true;
            }
            "bind-create-host-path" => {
                bind.create_mountpoint = truthy;
                has_bind = true;
            }
            "tmpfs-size" => {
                tmpfs.size_bytes = ram_in_bytes(&v)?;
                has_tmpfs = true;
            }
            "tmpfs-mode" => {
                tmpfs.mode = u32::from_str_radix(&v, 8)
                    .map_err(|_| anyhow!("invalid value for tmpfs-mode: {v}"))?;
                has_tmpfs = true;
            }
            "volume-nocopy" => {
                vol.no_copy = truthy;
                has_vol = true;
            }
            "volume-driver" => {
                vol.driver_config.get_or_insert_default().name = v;
                has_vol = true;
            }
            "volume-label" | "volume-opt" if !field.contains('=') => bail!(
                "invalid argument \"{s}\" for \"--mount\" flag: invalid field '{field}' must be a key=value pair"
            ),
            "volume-label" => {
                set_kv(vol.labels.get_or_insert_default(), &v);
                has_vol = true;
            }
            "volume-opt" => {
                let d = vol.driver_config.get_or_insert_default();
                set_kv(d.options.get_or_insert_default(), &v);
                has_vol = true;
            }
            "volume-subpath" => {
                vol.subpath = v;
                has_vol = true;
            }
            _ => bail!("invalid argument for --mount: unexpected key '{k}' in '{field}'"),
        }
    }
    if !target {
        bail!("invalid argument \"{s}\" for \"--mount\" flag: target is required");
    }
    m.bind_options = has_bind.then_some(bind);
    m.tmpfs_options = has_tmpfs.then_some(tmpfs);
    if has_vol {
        // As docker's volumeOptions(): a driver config is always there, and
        // an empty label map is left out.
        vol.driver_config.get_or_insert_default();
        if vol.labels.as_ref().is_some_and(|l| l.is_empty()) {
            vol.labels = None;
        }
    }
    m.volume_options = has_vol.then_some(vol);
    Ok(m)
}

/// The fields of one line of CSV, as Go's encoding/csv reads the `--mount`
/// value: a field starting with `"` is quoted (`""` inside is a quote), so a
/// value can hold commas (`"volume-opt=o=addr=10.0.0.1,rw"`).
fn csv_fields(s: &str) -> std::result::Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            i + 1
                        ));
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
            if !matches!(chars.get(i), None | Some(',')) {
                return Err(format!(
                    "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                    i + 1
                ));
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(format!(
                        "parse error on line 1, column {}: bare \" in non-quoted-field",
                        i + 1
                    ));
                }
                field.push(c);
                i += 1;
            }
        }
        fields.push(field);
        if chars.get(i) == Some(&',') {
            i += 1;
        } else {
            return Ok(fields);
        }
    }
}

/// `-p [ip:][hostPort:]containerPort[/proto]` → (port key, binding).
fn parse_port(s: &str) -> Result<(String, PortBinding)> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (s, "tcp"),
    };
    // IPv6 in brackets: [::1]:80:80
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| anyhow!("invalid ip address: {s}"))?;
        (ip.to_string(), after.trim_start_matches(':').to_string())
    } else {
        (String::new(), spec.to_string())
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (ip, "", *c),
        [h, c] if ip.is_empty() => (String::new(), *h, *c),
        [h, c] => (ip, *h, *c),
        [i, h, c] => (i.to_string(), *h, *c),
        _ => bail!("invalid port format for --publish: {s}"),
    };
    if ctr.is_empty() || ctr.parse::<u16>().is_err() && !ctr.contains('-') {
        bail!("invalid containerPort: {ctr}");
    }
    Ok((
        format!("{ctr}/{proto}"),
        PortBinding {
            host_ip: ip,
            host_port: host.to_string(),
        },
    ))
}

/// `Some(list)`, or None (JSON null) for an empty one.
fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn size_opt(v: &Option<String>) -> Result<i64> {
    v.as_deref()
        .map(ram_in_bytes)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Builds the create request from the flags, image and command.
pub fn build_body(
    o: &ContainerOpts,
    image: &str,
    cmd: &[String],
    detach: bool,
) -> Result<CreateRequest> {
    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(o.env.iter().filter_map(|e| env_entry(e)));
    let mut labels = StringMap::new();
    for f in &o.label_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow!("open {f}: {}", crate::opts::io_msg(&e)))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        labels.extend(kv_map(&lines));
    }
    labels.extend(kv_map(&o.label));

    let mut attach_stdin = o.interactive;
    let (mut attach_stdout, mut attach_stderr) = (true, true);
    if !o.attach.is_empty() {
        attach_stdin = false;
        attach_stdout = false;
        attach_stderr = false;
        for a in &o.attach {
            match a.to_lowercase().as_str() {
                "stdin" => attach_stdin = true,
                "stdout" => attach_stdout = true,
                "stderr" => attach_stderr = true,
                _ => bail!(
                    "invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                ),
            }
        }
    }
    if detach {
        attach_stdin = false;
        attach_stdout = false;
        attach_stderr = false;
    }

    let mut exposed = BTreeMap::new();
    let mut bindings = PortMap::new();
    for p in &o.publish {
        let (k, b) = parse_port(p)?;
        exposed.insert(k.clone(), Empty {});
        bindings
            .entry(k)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_default()
            .push(b);
    }
    for e in &o.expose {
        let k = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(k, Empty {});
    }

    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &o.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), Empty {});
        }
    }
    let mounts: Vec<Mount> = o
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<_>>()?;
    let mut tmpfs = StringMap::new();
    for t in &o.tmpfs {
        let (p, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(p.to_string(), opts.to_string());
    }

    let restart = {
        let (name, count) = o.restart.split_once(':').unwrap_or((&o.restart, "0"));
        let count: i64 = count
            .parse()
            .map_err(|_| anyhow!("invalid restart policy: {}", o.restart))?;
        if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure" | "") {
            bail!(
                "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            );
        }
        RestartPolicy {
            name: RestartPolicyMode::parse(name),
            maximum_retry_count: count,
        }
    };
    if o.rm && !matches!(o.restart.as_str(), "no" | "") {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }

    let duration = |v: &Option<String>| -> Result<i64> {
        v.as_deref()
            .map(go_duration)
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let healthcheck = if o.no_healthcheck {
        Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        })
    } else if o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some()
    {
        Some(HealthConfig {
            test: o
                .health_cmd
                .as_ref()
                .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
            interval: duration(&o.health_interval)?,
            timeout: duration(&o.health_timeout)?,
            start_period: duration(&o.health_start_period)?,
            start_interval: duration(&o.health_start_interval)?,
            retries: o.health_retries.unwrap_or(0),
        })
    } else {
        None
    };

    let (h, w) = if o.tty {
        crate::term::term_size()
    } else {
        (0, 0)
    };
    let network = o.network.clone().unwrap_or_else(|| "default".into());

    let host = HostConfig {
        binds: non_empty(&binds),
        log_config: LogConfig {
            driver: o.log_driver.clone().unwrap_or_default(),
            config: Some(kv_map(&o.log_opt)),
        },
        network_mode: NetworkMode(network),
        port_bindings: Some(bindings),
        restart_policy: restart,
        auto_remove: o.rm,
        volumes_from: non_empty(&o.volumes_from),
        console_size: [h.into(), w.into()],
        cap_add: non_empty(&o.cap_add),
        cap_drop: non_empty(&o.cap_drop),
        cgroupns_mode: NsMode(o.cgroupns.clone().unwrap_or_default()),
        dns: Some(o.dns.clone()),
        dns_options: Some(o.dns_option.clone()),
        dns_search: Some(o.dns_search.clone()),
        extra_hosts: non_empty(&o.add_host),
        group_add: non_empty(&o.group_add),
        ipc_mode: NsMode(o.ipc.clone().unwrap_or_default()),
        oom_score_adj: o.oom_score_adj.unwrap_or(0),
        pid_mode: NsMode(o.pid.clone().unwrap_or_default()),
        privileged: o.privileged,
        publish_all_ports: o.publish_all,
        readonly_rootfs: o.read_only,
        security_opt: non_empty(&o.security_opt),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        uts_mode: NsMode(o.uts.clone().unwrap_or_default()),
        userns_mode: NsMode(o.userns.clone().unwrap_or_default()),
        shm_size: size_opt(&o.shm_size)?,
        sysctls: (!o.sysctl.is_empty()).then(|| kv_map(&o.sysctl)),
        runtime: o.runtime.clone().unwrap_or_default(),
        resources: Resources {
            cgroup_parent: o.cgroup_parent.clone().unwrap_or_default(),
            memory: size_opt(&o.memory)?,
            memory_reservation: size_opt(&o.memory_reservation)?,
            memory_swap: match o.memory_swap.as_deref() {
                Some("-1") => -1,
                Some(s) => ram_in_bytes(s)?,
                None => 0,
            },
            nano_cpus: o.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            cpu_shares: o.cpu_shares.unwrap_or(0),
            cpu_period: o.cpu_period.unwrap_or(0),
            cpu_quota: o.cpu_quota.unwrap_or(0),
            cpuset_cpus: o.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: o.cpuset_mems.clone().unwrap_or_default(),
            devices: Some(
                o.device
                    .iter()
                    .map(|d| parse_device(d))
                    .collect::<Result<_>>()?,
            ),
            ulimits: Some(
                o.ulimit
                    .iter()
                    .map(|u| parse_ulimit(u))
                    .collect::<Result<_>>()?,
            ),
            oom_kill_disable: Some(o.oom_kill_disable),
            pids_limit: o.pids_limit,
            ..Default::default()
        },
        mounts,
        init: o.init.then_some(true),
        ..Default::default()
    };

    let mut endpoints = BTreeMap::new();
    if let Some(n) = &o.network {
        let builtin =
            matches!(n.as_str(), "default" | "none" | "host") || n.starts_with("container:");
        if !builtin || !o.network_alias.is_empty() {
            endpoints.insert(
                n.clone(),
                EndpointSettings {
                    aliases: non_empty(&o.network_alias),
                    ..Default::default()
                },
            );
        }
    }

    let config = Config {
        hostname: o.hostname.clone().unwrap_or_default(),
        domainname: o.domainname.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: o.tty,
        open_stdin: o.interactive,
        stdin_once: o.interactive && attach_stdin,
        env: Some(env),
        cmd: (!cmd.is_empty()).then(|| StrSlice(cmd.to_vec())),
        healthcheck,
        image: image.to_string(),
        volumes: Some(volumes),
        working_dir: o.workdir.clone().unwrap_or_default(),
        entrypoint: o.entrypoint.as_ref().map(|e| StrSlice(vec![e.clone()])),
        labels: Some(labels),
        stop_signal: o.stop_signal.clone().unwrap_or_default(),
        stop_timeout: o.stop_timeout,
        ..Default::default()
    };
    Ok(CreateRequest {
        host_config: Some(host),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_volume_opts_and_labels() {
        let m = parse_mount(
            "type=volume,src=v,dst=/data,volume-driver=local,volume-opt=type=tmpfs,\
             \"volume-opt=o=size=1m,uid=1\",volume-opt=device=tmpfs,volume-label=a=b,volume-label=c",
        )
        .unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v["VolumeOptions"],
            serde_json::json!({
                "Labels": {"a": "b", "c": ""},
                "DriverConfig": {"Name": "local", "Options": {
                    "type": "tmpfs", "o": "size=1m,uid=1", "device": "tmpfs"}}
            })
        );
        // docker's volumeOptions() always makes a driver config
        let v = serde_json::to_value(parse_mount("dst=/d,volume-nocopy").unwrap()).unwrap();
        assert_eq!(
            v["VolumeOptions"],
            serde_json::json!({"NoCopy": true, "DriverConfig": {}})
        );
        // empty keys are skipped
        let v = serde_json::to_value(parse_mount("dst=/d,volume-label==x").unwrap()).unwrap();
        assert_eq!(v["VolumeOptions"], serde_json::json!({"DriverConfig": {}}));
        let e = parse_mount("dst=/d,volume-opt").unwrap_err().to_string();
        assert!(
            e.ends_with("invalid field 'volume-opt' must be a key=value pair"),
            "{e}"
        );
        let e = parse_mount("dst=/d,a\"b").unwrap_err().to_string();
        assert!(e.contains("bare \" in non-quoted-field"), "{e}");
    }

    #[test]
    fn csv_like_go() {
        assert_eq!(csv_fields("a,b").unwrap(), ["a", "b"]);
        assert_eq!(csv_fields("\"a,b\",c").unwrap(), ["a,b", "c"]);
        assert_eq!(csv_fields("\"a\"\"b\"").unwrap(), ["a\"b"]);
        assert_eq!(csv_fields("a,").unwrap(), ["a", ""]);
        assert!(csv_fields("\"a\"b").is_err());
        assert!(csv_fields("\"a").is_err());
    }
}

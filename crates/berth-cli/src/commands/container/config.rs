//! `docker create`/`run` flags and their translation into the create body.

use anyhow::{Result, anyhow, bail};
use clap::{ArgAction, Args};
use serde_json::{Map, Value, json};

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

fn kv_map(items: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    m
}

fn parse_ulimit(s: &str) -> Result<Value> {
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
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

fn parse_device(s: &str) -> Result<Value> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|x| "rwm".contains(x)) && !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => bail!("invalid device specification: {s}"),
    };
    Ok(json!({"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}))
}

fn parse_mount(s: &str) -> Result<Value> {
    let mut m = Map::new();
    let mut typ = "volume".to_string();
    let mut bind = Map::new();
    let mut tmpfs = Map::new();
    let mut vol = Map::new();
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), v.to_string()),
            None => (field.trim().to_lowercase(), String::new()),
        };
        let truthy = v.is_empty() || matches!(v.as_str(), "1" | "true");
        match k.as_str() {
            "type" => typ = v,
            "source" | "src" => {
                m.insert("Source".into(), json!(v));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(v));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(v));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v));
            }
            "bind-recursive" => {
                bind.insert("NonRecursive".into(), json!(v == "disabled"));
            }
            "bind-create-host-path" => {
                bind.insert("CreateMountpoint".into(), json!(truthy));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(ram_in_bytes(&v)?));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&v, 8)
                    .map_err(|_| anyhow!("invalid value for tmpfs-mode: {v}"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(truthy));
            }
            "volume-driver" => {
                vol.insert("DriverConfig".into(), json!({"Name": v}));
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(v));
            }
            _ => bail!("invalid argument for --mount: unexpected key '{k}' in '{field}'"),
        }
    }
    if !m.contains_key("Target") {
        bail!("invalid argument \"{s}\" for \"--mount\" flag: target is required");
    }
    m.insert("Type".into(), json!(typ));
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    if !vol.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    Ok(Value::Object(m))
}

/// `-p [ip:][hostPort:]containerPort[/proto]` → (port key, binding).
fn parse_port(s: &str) -> Result<(String, Value)> {
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
        json!({"HostIp": ip, "HostPort": host}),
    ))
}

/// Builds the create request body from the flags, image and command.
pub fn build_body(o: &ContainerOpts, image: &str, cmd: &[String], detach: bool) -> Result<Value> {
    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(o.env.iter().filter_map(|e| env_entry(e)));
    let mut labels = Map::new();
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

    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for p in &o.publish {
        let (k, b) = parse_port(p)?;
        exposed.insert(k.clone(), json!({}));
        bindings
            .entry(k)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(b);
    }
    for e in &o.expose {
        let k = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(k, json!({}));
    }

    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &o.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    let mounts: Vec<Value> = o
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<_>>()?;
    let mut tmpfs = Map::new();
    for t in &o.tmpfs {
        let (p, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(p.to_string(), json!(opts));
    }

    let restart = {
        let (name, count) = o.restart.split_once(':').unwrap_or((&o.restart, "0"));
        let count: i64 = count
            .parse()
            .map_err(|_| anyhow!("invalid restart policy: {}", o.restart))?;
        let name = if name == "no" { "no" } else { name };
        if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure" | "") {
            bail!(
                "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            );
        }
        json!({"Name": name, "MaximumRetryCount": count})
    };
    if o.rm && !matches!(o.restart.as_str(), "no" | "") {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }

    let healthcheck = if o.no_healthcheck {
        Some(json!({"Test": ["NONE"]}))
    } else if o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some()
    {
        let mut h = Map::new();
        if let Some(c) = &o.health_cmd {
            h.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        for (k, v) in [
            ("Interval", &o.health_interval),
            ("Timeout", &o.health_timeout),
            ("StartPeriod", &o.health_start_period),
            ("StartInterval", &o.health_start_interval),
        ] {
            if let Some(v) = v {
                h.insert(k.into(), json!(go_duration(v)?));
            }
        }
        if let Some(r) = o.health_retries {
            h.insert("Retries".into(), json!(r));
        }
        Some(Value::Object(h))
    } else {
        None
    };

    let (h, w) = if o.tty {
        crate::stream::term_size()
    } else {
        (0, 0)
    };
    let network = o.network.clone().unwrap_or_else(|| "default".into());

    let mut host = json!({
        "Binds": if binds.is_empty() { Value::Null } else { json!(binds) },
        "ContainerIDFile": "",
        "LogConfig": {"Type": o.log_driver.clone().unwrap_or_default(), "Config": kv_map(&o.log_opt)},
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": o.rm,
        "VolumeDriver": "",
        "VolumesFrom": if o.volumes_from.is_empty() { Value::Null } else { json!(o.volumes_from) },
        "ConsoleSize": [h, w],
        "CapAdd": if o.cap_add.is_empty() { Value::Null } else { json!(o.cap_add) },
        "CapDrop": if o.cap_drop.is_empty() { Value::Null } else { json!(o.cap_drop) },
        "CgroupnsMode": o.cgroupns.clone().unwrap_or_default(),
        "Dns": o.dns,
        "DnsOptions": o.dns_option,
        "DnsSearch": o.dns_search,
        "ExtraHosts": if o.add_host.is_empty() { Value::Null } else { json!(o.add_host) },
        "GroupAdd": if o.group_add.is_empty() { Value::Null } else { json!(o.group_add) },
        "IpcMode": o.ipc.clone().unwrap_or_default(),
        "OomScoreAdj": o.oom_score_adj.unwrap_or(0),
        "PidMode": o.pid.clone().unwrap_or_default(),
        "Privileged": o.privileged,
        "PublishAllPorts": o.publish_all,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": if o.security_opt.is_empty() { Value::Null } else { json!(o.security_opt) },
        "UTSMode": o.uts.clone().unwrap_or_default(),
        "UsernsMode": o.userns.clone().unwrap_or_default(),
        "ShmSize": match &o.shm_size { Some(s) => ram_in_bytes(s)?, None => 0 },
        "Runtime": o.runtime.clone().unwrap_or_default(),
        "CgroupParent": o.cgroup_parent.clone().unwrap_or_default(),
        "Memory": match &o.memory { Some(s) => ram_in_bytes(s)?, None => 0 },
        "MemoryReservation": match &o.memory_reservation { Some(s) => ram_in_bytes(s)?, None => 0 },
        "MemorySwap": match o.memory_swap.as_deref() { Some("-1") => -1, Some(s) => ram_in_bytes(s)?, None => 0 },
        "NanoCpus": o.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
        "CpuShares": o.cpu_shares.unwrap_or(0),
        "CpuPeriod": o.cpu_period.unwrap_or(0),
        "CpuQuota": o.cpu_quota.unwrap_or(0),
        "CpusetCpus": o.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": o.cpuset_mems.clone().unwrap_or_default(),
        "Devices": o.device.iter().map(|d| parse_device(d)).collect::<Result<Vec<_>>>()?,
        "Ulimits": o.ulimit.iter().map(|u| parse_ulimit(u)).collect::<Result<Vec<_>>>()?,
        "OomKillDisable": o.oom_kill_disable,
        "PidsLimit": o.pids_limit,
        "Mounts": if mounts.is_empty() { Value::Null } else { json!(mounts) },
    });
    if o.init {
        host["Init"] = json!(true);
    }
    if !tmpfs.is_empty() {
        host["Tmpfs"] = Value::Object(tmpfs);
    }
    if !o.sysctl.is_empty() {
        host["Sysctls"] = Value::Object(kv_map(&o.sysctl));
    }

    let mut config = json!({
        "Hostname": o.hostname.clone().unwrap_or_default(),
        "Domainname": o.domainname.clone().unwrap_or_default(),
        "User": o.user.clone().unwrap_or_default(),
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive && attach_stdin,
        "Env": env,
        "Cmd": if cmd.is_empty() { Value::Null } else { json!(cmd) },
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": o.workdir.clone().unwrap_or_default(),
        "Entrypoint": match &o.entrypoint { Some(e) => json!([e]), None => Value::Null },
        "OnBuild": null,
        "Labels": labels,
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": {}},
    });
    if !exposed.is_empty() {
        config["ExposedPorts"] = Value::Object(exposed);
    }
    if let Some(hc) = healthcheck {
        config["Healthcheck"] = hc;
    }
    if let Some(s) = &o.stop_signal {
        config["StopSignal"] = json!(s);
    }
    if let Some(t) = o.stop_timeout {
        config["StopTimeout"] = json!(t);
    }
    if let Some(n) = &o.network {
        let builtin =
            matches!(n.as_str(), "default" | "none" | "host") || n.starts_with("container:");
        if !builtin || !o.network_alias.is_empty() {
            let mut ep = json!({});
            if !o.network_alias.is_empty() {
                ep["Aliases"] = json!(o.network_alias);
            }
            config["NetworkingConfig"]["EndpointsConfig"][n] = ep;
        }
    }
    Ok(config)
}

//! A container's Docker Config + HostConfig → an OCI runtime spec, with
//! Docker's defaults: capabilities, mounts, masked paths, device rules.

use std::path::Path;

use serde_json::{Value, json};

use super::container::Container;
use super::user;
use crate::error::{ApiError, ApiResult};

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: &[&str] = &[
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

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Every capability the kernel knows (for --privileged and --cap-add ALL).
fn all_caps() -> Vec<String> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    (0..=last)
        .filter_map(|i| caps_name(i).map(|s| s.to_string()))
        .collect()
}

fn caps_name(i: u32) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES.get(i as usize).copied()
}

/// Capabilities present in this process's bounding set (a container cannot
/// get more; Docker drops the rest silently for --privileged).
fn bounding() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    all_caps()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, n)| n)
        .collect()
}

fn normalise_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after --cap-add/--cap-drop, checked against the known names.
pub fn capabilities(hc: &Value) -> ApiResult<Vec<String>> {
    let list = |k: &str| -> Vec<String> {
        hc[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(normalise_cap)
                    .collect()
            })
            .unwrap_or_default()
    };
    let known = all_caps();
    let (add, drop) = (list("CapAdd"), list("CapDrop"));
    for c in add.iter().chain(drop.iter()) {
        if c != "ALL" && !known.contains(c) {
            return Err(ApiError::bad_request(format!(
                "invalid CapAdd: unknown capability: \"{c}\""
            )));
        }
    }
    let bnd = bounding();
    let mut caps: Vec<String> =
        if hc["Privileged"].as_bool().unwrap_or(false) || add.iter().any(|c| c == "ALL") {
            bnd.clone()
        } else {
            DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
        };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    for c in &add {
        if c != "ALL" && !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    caps.retain(|c| !drop.contains(c));
    caps.retain(|c| bnd.contains(c));
    Ok(caps)
}

fn parse_mode(opts: &str) -> Vec<String> {
    opts.split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Build the OCI spec for a container whose root filesystem is mounted at `rootfs`.
pub fn build(
    c: &Container,
    rootfs: &Path,
    files_dir: &Path,
    cgroup_parent: &str,
    init: Option<&Path>,
    netns: Option<&str>,
) -> ApiResult<Value> {
    let cfg = &c.config;
    let hc = &c.host_config;
    let privileged = hc["Privileged"].as_bool().unwrap_or(false);
    let tty = c.tty();
    let mut args = vec![c.path.clone()];
    args.extend(c.args.iter().cloned());
    // --init: a small init as PID 1 forwards signals and reaps zombies.
    let init_mount = if hc["Init"].as_bool() == Some(true) {
        let Some(init) = init else {
            return Err(ApiError::internal(
                "exec: \"docker-init\": executable file not found in $PATH",
            ));
        };
        args.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
        Some(
            json!({"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["bind", "ro"]}),
        )
    } else {
        None
    };

    let mut env: Vec<String> = Vec::new();
    let user_env: Vec<String> = cfg["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !user_env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.into());
    }
    env.push(format!("HOSTNAME={}", hostname(c)));
    if tty {
        env.push("TERM=xterm".into());
    }
    env.extend(user_env);

    let user = user::resolve(rootfs, cfg["User"].as_str().unwrap_or(""))?;
    let caps = capabilities(hc)?;
    let cwd = match cfg["WorkingDir"].as_str() {
        Some(w) if !w.is_empty() => w.to_string(),
        _ => "/".to_string(),
    };
    let mut no_new_privs = false;
    // Docker's default profile, for the capabilities this container gets;
    // privileged containers run unconfined.
    let mut seccomp: Option<Value> =
        (!privileged).then(|| super::seccomp_default::default_profile(&caps));
    for o in hc["SecurityOpt"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o, ""));
        match k {
            "no-new-privileges" => no_new_privs = v.is_empty() || v == "true",
            "seccomp" if v == "unconfined" => seccomp = None,
            "seccomp" => {
                let profile: Value = serde_json::from_str(v).map_err(|e| {
                    ApiError::bad_request(format!("Decoding seccomp profile failed: {e}"))
                })?;
                seccomp = Some(docker_seccomp_to_oci(&profile));
            }
            "label" | "apparmor" => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid --security-opt: \"{o}\""
                )));
            }
        }
    }

    let shm_size = hc["ShmSize"]
        .as_u64()
        .filter(|s| *s > 0)
        .unwrap_or(64 << 20);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev", if privileged {"rw"} else {"ro"}]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid","noexec","nodev","relatime", if privileged {"rw"} else {"ro"}]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid","noexec","nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777", format!("size={shm_size}")]}),
    ];
    mounts.extend(init_mount);
    let network_mode = hc["NetworkMode"].as_str().unwrap_or("default");
    let host_net = network_mode == "host";
    for (name, dest) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": files_dir.join(name), "options": ["rbind","rprivate"]}));
    }
    for (path, opts) in hc["Tmpfs"].as_object().into_iter().flatten() {
        let mut o = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        o.extend(parse_mode(opts.as_str().unwrap_or("")));
        mounts.push(json!({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    for b in hc["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 || !parts[0].starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "invalid volume specification: '{b}': named volumes are not supported yet"
            )));
        }
        let ro = parts
            .get(2)
            .is_some_and(|m| m.split(',').any(|x| x == "ro"));
        if !Path::new(parts[0]).exists() {
            std::fs::create_dir_all(parts[0])?;
        }
        mounts.push(
            json!({"destination": parts[1], "type": "bind", "source": parts[0],
            "options": ["rbind", if ro {"ro"} else {"rw"}, "rprivate"]}),
        );
    }
    for m in hc["Mounts"].as_array().into_iter().flatten() {
        let target = m["Target"].as_str().unwrap_or_default();
        let ro = m["ReadOnly"].as_bool().unwrap_or(false);
        match m["Type"].as_str().unwrap_or("") {
            "bind" => {
                let src = m["Source"].as_str().unwrap_or_default();
                if !Path::new(src).exists() {
                    return Err(ApiError::bad_request(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                    )));
                }
                mounts.push(json!({"destination": target, "type": "bind", "source": src,
                    "options": ["rbind", if ro {"ro"} else {"rw"}, "rprivate"]}));
            }
            "tmpfs" => {
                let mut o = vec![
                    "nosuid".to_string(),
                    "nodev".to_string(),
                    "noexec".to_string(),
                ];
                if let Some(sz) = m["TmpfsOptions"]["SizeBytes"].as_u64() {
                    o.push(format!("size={sz}"));
                }
                if let Some(mode) = m["TmpfsOptions"]["Mode"].as_u64() {
                    o.push(format!("mode={mode:o}"));
                }
                mounts.push(json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": o}));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "mount type \"{other}\" is not supported yet"
                )));
            }
        }
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match netns {
        // --network container:<x>: the other container's namespace.
        Some(path) => namespaces.push(json!({"type": "network", "path": path})),
        None if !host_net => namespaces.push(json!({"type": "network"})),
        None => {}
    }
    if berth_runtime_cgroup_v2() {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let mut resources = json!({});
    let mut devices_rules = vec![json!({"allow": false, "access": "rwm"})];
    if privileged {
        devices_rules = vec![json!({"allow": true, "access": "rwm"})];
    } else {
        for (t, maj, min) in [
            ("c", 1, 3),
            ("c", 1, 5),
            ("c", 1, 7),
            ("c", 1, 8),
            ("c", 1, 9),
            ("c", 5, 0),
            ("c", 5, 1),
            ("c", 5, 2),
            ("c", 136, -1),
            ("c", 10, 200),
        ] {
            let mut r = json!({"allow": true, "type": t, "major": maj, "access": "rwm"});
            if min >= 0 {
                r["minor"] = json!(min);
            }
            devices_rules.push(r);
        }
        devices_rules.push(json!({"allow": true, "type": "c", "access": "m"}));
        devices_rules.push(json!({"allow": true, "type": "b", "access": "m"}));
    }
    let mut devices = Vec::new();
    for d in hc["Devices"].as_array().into_iter().flatten() {
        let host = d["PathOnHost"].as_str().unwrap_or_default();
        let inside = d["PathInContainer"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(host);
        let perms = d["CgroupPermissions"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("rwm");
        let st = nix::sys::stat::stat(host).map_err(|e| {
            ApiError::bad_request(format!(
                "error gathering device information while adding custom device \"{host}\": {e}"
            ))
        })?;
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFCHR => "c",
            libc::S_IFBLK => "b",
            _ => {
                return Err(ApiError::bad_request(format!(
                    "error gathering device information while adding custom device \"{host}\": not a device node"
                )));
            }
        };
        let (maj, min) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        devices.push(
            json!({"path": inside, "type": kind, "major": maj, "minor": min,
            "fileMode": st.st_mode & 0o777, "uid": 0, "gid": 0}),
        );
        devices_rules.push(
            json!({"allow": true, "type": kind, "major": maj, "minor": min, "access": perms}),
        );
    }
    resources["devices"] = json!(devices_rules);
    if let Value::Object(l) = limits(hc) {
        for (k, v) in l {
            resources[k] = v;
        }
    }

    let mut rlimits = Vec::new();
    for u in hc["Ulimits"].as_array().into_iter().flatten() {
        let name = u["Name"].as_str().unwrap_or_default().to_ascii_uppercase();
        rlimits.push(json!({"type": format!("RLIMIT_{name}"), "soft": u["Soft"].as_i64().unwrap_or(0), "hard": u["Hard"].as_i64().unwrap_or(0)}));
    }

    let mut process = json!({
        "terminal": tty,
        "user": user,
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": no_new_privs,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if let Some([h, w]) = hc["ConsoleSize"].as_array().map(|a| {
        [
            a.first().and_then(|v| v.as_u64()).unwrap_or(0),
            a.get(1).and_then(|v| v.as_u64()).unwrap_or(0),
        ]
    }) && h > 0
        && w > 0
    {
        process["consoleSize"] = json!({"height": h, "width": w});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("/{cgroup_parent}/{}", c.id),
        "devices": devices,
    });
    if !privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    if let Some(s) = hc["Sysctls"].as_object().filter(|s| !s.is_empty()) {
        linux["sysctl"] = json!(s);
    }
    if let Some(s) = seccomp {
        linux["seccomp"] = s;
    }
    Ok(json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": rootfs, "readonly": hc["ReadonlyRootfs"].as_bool().unwrap_or(false)},
        "hostname": if host_net { String::new() } else { hostname(c) },
        "domainname": if host_net { "" } else { c.config["Domainname"].as_str().unwrap_or("") },
        "mounts": mounts,
        "linux": linux,
    }))
}

/// The memory, CPU and pids limits of a HostConfig as OCI `linux.resources`
/// (also what `docker update` applies to a running container).
pub fn limits(hc: &Value) -> Value {
    let mut r = json!({});
    let mut memory = json!({});
    if let Some(m) = hc["Memory"].as_i64().filter(|m| *m > 0) {
        memory["limit"] = json!(m);
        match hc["MemorySwap"].as_i64() {
            Some(-1) => memory["swap"] = json!(-1),
            Some(s) if s > 0 => memory["swap"] = json!(s),
            _ => memory["swap"] = json!(m * 2),
        }
    }
    if let Some(r) = hc["MemoryReservation"].as_i64().filter(|m| *m > 0) {
        memory["reservation"] = json!(r);
    }
    if hc["OomKillDisable"].as_bool() == Some(true) {
        memory["disableOOMKiller"] = json!(true);
    }
    if memory.as_object().is_some_and(|o| !o.is_empty()) {
        r["memory"] = memory;
    }
    let mut cpu = json!({});
    if let Some(n) = hc["NanoCpus"].as_i64().filter(|n| *n > 0) {
        cpu["period"] = json!(100_000);
        cpu["quota"] = json!(n / 10_000);
    }
    if let Some(q) = hc["CpuQuota"].as_i64().filter(|n| *n > 0) {
        cpu["quota"] = json!(q);
        cpu["period"] = json!(
            hc["CpuPeriod"]
                .as_i64()
                .filter(|p| *p > 0)
                .unwrap_or(100_000)
        );
    }
    if let Some(s) = hc["CpuShares"].as_i64().filter(|n| *n > 0) {
        cpu["shares"] = json!(s);
    }
    if let Some(s) = hc["CpusetCpus"].as_str().filter(|s| !s.is_empty()) {
        cpu["cpus"] = json!(s);
    }
    if let Some(s) = hc["CpusetMems"].as_str().filter(|s| !s.is_empty()) {
        cpu["mems"] = json!(s);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        r["cpu"] = cpu;
    }
    if let Some(p) = hc["PidsLimit"].as_i64().filter(|n| *n != 0) {
        r["pids"] = json!({"limit": p});
    }
    r
}

pub fn hostname(c: &Container) -> String {
    match c.config["Hostname"].as_str() {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => c.id[..12].to_string(),
    }
}

/// Whether the host runs pure cgroup v2 (then containers get a cgroup namespace, as Docker does).
fn berth_runtime_cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Docker's seccomp profile format → the OCI one (names arrays, actions and args
/// are already in OCI form; `archMap` and `syscalls[].name` differ).
fn docker_seccomp_to_oci(p: &Value) -> Value {
    let mut out = json!({"defaultAction": p["defaultAction"]});
    if let Some(e) = p.get("defaultErrnoRet") {
        out["defaultErrnoRet"] = e.clone();
    }
    let mut arches: Vec<Value> = p["architectures"].as_array().cloned().unwrap_or_default();
    for a in p["archMap"].as_array().into_iter().flatten() {
        arches.push(a["architecture"].clone());
        arches.extend(
            a["subArchitectures"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    if !arches.is_empty() {
        out["architectures"] = json!(arches);
    }
    let mut syscalls = Vec::new();
    for s in p["syscalls"].as_array().into_iter().flatten() {
        let mut s = s.clone();
        if let Some(name) = s.get("name").cloned() {
            s["names"] = json!([name]);
        }
        if let Some(o) = s.as_object_mut() {
            o.remove("name");
            o.remove("includes");
            o.remove("excludes");
            o.remove("comment");
        }
        syscalls.push(s);
    }
    out["syscalls"] = json!(syscalls);
    out
}

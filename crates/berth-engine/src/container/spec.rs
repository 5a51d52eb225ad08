//! A container's record → the OCI runtime spec (oci-spec's types), with
//! Docker's defaults: capabilities, mounts, namespaces, devices, limits,
//! masked paths, the default seccomp profile. One small function per part,
//! each tested without root; [`build`] puts them together.

use std::collections::HashSet;
use std::path::Path;

use berth_api::container::{HostConfig, MountType};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice,
    LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxSeccomp, Mount, MountBuilder,
    PosixRlimit, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder,
};

use crate::model::{Container, MountRecord};
use crate::{Error, Result};

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

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The kernel's capability names, by number.
const CAP_NAMES: &[&str] = &[
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

/// What the host allows: the capabilities the kernel knows and those in
/// the daemon's bounding set (a container cannot get more; Docker drops
/// the rest silently for `--privileged`).
#[derive(Clone, Debug)]
pub struct HostCaps {
    pub known: Vec<String>,
    pub bounding: Vec<String>,
}

impl HostCaps {
    pub fn detect() -> HostCaps {
        let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        let known: Vec<String> = CAP_NAMES
            .iter()
            .take(last + 1)
            .map(|s| s.to_string())
            .collect();
        let mask = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(u64::MAX);
        let bounding = known
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1u64 << i) != 0)
            .map(|(_, n)| n.clone())
            .collect();
        HostCaps { known, bounding }
    }
}

fn normalise_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after `--privileged`, `--cap-add`, `--cap-drop`.
pub fn capabilities(hc: &HostConfig, host: &HostCaps) -> Result<Vec<String>> {
    let list = |v: &Option<Vec<String>>| -> Vec<String> {
        HostConfig::list(v)
            .iter()
            .map(|c| normalise_cap(c))
            .collect()
    };
    let (add, drop) = (list(&hc.cap_add), list(&hc.cap_drop));
    for c in add.iter().chain(drop.iter()) {
        if c != "ALL" && !host.known.contains(c) {
            return Err(Error::invalid(format!(
                "invalid CapAdd: unknown capability: \"{c}\""
            )));
        }
    }
    let mut caps: Vec<String> = if hc.privileged || add.iter().any(|c| c == "ALL") {
        host.bounding.clone()
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
    caps.retain(|c| host.bounding.contains(c));
    Ok(caps)
}

fn oci_caps(names: &[String]) -> HashSet<Capability> {
    names
        .iter()
        .filter_map(|n| n.strip_prefix("CAP_")?.parse().ok())
        .collect()
}

/// The process environment: PATH unless given, HOSTNAME, TERM with a tty,
/// then the container's.
pub fn env(c: &Container, hostname: &str) -> Vec<String> {
    let mut env = Vec::new();
    if !c.config.env().iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.to_string());
    }
    env.push(format!("HOSTNAME={hostname}"));
    if c.tty() {
        env.push("TERM=xterm".into());
    }
    env.extend(c.config.env().iter().cloned());
    env
}

fn oci(e: oci_spec::OciSpecError) -> Error {
    Error::system(format!("runtime spec: {e}"))
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(kind)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .expect("a mount with destination, type, source")
}

/// `--tmpfs` options: `size=64m,mode=1777` (Docker's defaults first).
fn tmpfs_options(opts: &str) -> Vec<String> {
    let mut o = vec![
        "nosuid".to_string(),
        "nodev".to_string(),
        "noexec".to_string(),
    ];
    o.extend(opts.split(',').filter(|s| !s.is_empty()).map(String::from));
    o
}

/// Every mount: the system ones, the /etc files, `--init`, `--tmpfs`,
/// and the container's binds and `--mount`s.
pub fn mounts(c: &Container, files_dir: &Path, init: Option<&Path>) -> Result<Vec<Mount>> {
    let hc = &c.host_config;
    let ro_or_rw = if hc.privileged { "rw" } else { "ro" };
    let shm = if hc.shm_size > 0 {
        hc.shm_size
    } else {
        super::create::DEFAULT_SHM_SIZE
    };
    let shm_size = format!("size={shm}");
    let mut out = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", ro_or_rw],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", ro_or_rw],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ];
    if let Some(init) = init {
        out.push(mount(
            "/sbin/docker-init",
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro"],
        ));
    }
    // The container's own mounts after the defaults, shallowest first (a
    // volume on /etc goes under /etc/hosts, as Docker orders them); the
    // /etc files give way to a mount of the user's on the same path.
    let defaults = out.len();
    let own = |d: &str| {
        c.mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == d)
            || hc
                .tmpfs
                .iter()
                .flatten()
                .any(|(p, _)| p.trim_end_matches('/') == d)
    };
    for (name, dest) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        if own(dest) {
            continue;
        }
        out.push(mount(
            dest,
            "bind",
            &files_dir.join(name).to_string_lossy(),
            &["rbind", "rprivate"],
        ));
    }
    for (path, opts) in hc.tmpfs.iter().flatten() {
        out.push(
            MountBuilder::default()
                .destination(path)
                .typ("tmpfs")
                .source("tmpfs")
                .options(tmpfs_options(opts))
                .build()
                .map_err(oci)?,
        );
    }
    for m in &c.mounts {
        out.push(user_mount(m)?);
    }
    let depth = |m: &Mount| {
        m.destination()
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count()
    };
    out[defaults..].sort_by_key(depth);
    Ok(out)
}

/// One bind, volume (a bind of its mountpoint) or tmpfs mount of the
/// container's.
fn user_mount(m: &MountRecord) -> Result<Mount> {
    let b = MountBuilder::default().destination(&m.destination);
    let b = match m.kind {
        MountType::Bind | MountType::Volume => {
            let src = Path::new(&m.source);
            if !src.exists() {
                if m.create_source {
                    std::fs::create_dir_all(src)?;
                } else {
                    return Err(Error::invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
            }
            let rec = m.options.first().map(String::as_str).unwrap_or("rbind");
            let prop = if m.propagation.is_empty() {
                "rprivate"
            } else {
                &m.propagation
            };
            b.typ("bind").source(&m.source).options(vec![
                rec.to_string(),
                if m.rw { "rw" } else { "ro" }.to_string(),
                prop.to_string(),
            ])
        }
        MountType::Tmpfs => {
            let mut o = tmpfs_options(&m.options.join(","));
            if !m.rw {
                o.push("ro".into());
            }
            b.typ("tmpfs").source("tmpfs").options(o)
        }
        ref k => {
            return Err(Error::invalid(format!(
                "mount type \"{}\" is not supported",
                k.as_str()
            )));
        }
    };
    b.build().map_err(oci)
}

fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
    let mut b = LinuxNamespaceBuilder::default().typ(t);
    if let Some(p) = path {
        b = b.path(p);
    }
    b.build().expect("a namespace has a type")
}

/// The namespaces: private pid/ipc/uts/mount; the network's unless host
/// (or another container's, `container:<x>`); cgroup on pure v2 unless
/// `--cgroupns=host`.
pub fn namespaces(hc: &HostConfig, netns: Option<&str>, cgroup_v2: bool) -> Vec<LinuxNamespace> {
    let mut out = Vec::new();
    if !hc.pid_mode.is_host() {
        out.push(ns(LinuxNamespaceType::Pid, None));
    }
    if !hc.ipc_mode.is_host() {
        out.push(ns(LinuxNamespaceType::Ipc, None));
    }
    if !hc.uts_mode.is_host() {
        out.push(ns(LinuxNamespaceType::Uts, None));
    }
    out.push(ns(LinuxNamespaceType::Mount, None));
    match netns {
        Some(path) => out.push(ns(LinuxNamespaceType::Network, Some(path))),
        None if !hc.network_mode.is_host() => out.push(ns(LinuxNamespaceType::Network, None)),
        None => {}
    }
    if cgroup_v2 && !hc.cgroupns_mode.is_host() || hc.cgroupns_mode.as_str() == "private" {
        out.push(ns(LinuxNamespaceType::Cgroup, None));
    }
    out
}

fn rule(
    allow: bool,
    kind: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(k) = kind {
        b = b.typ(k);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().expect("a device rule")
}

/// Docker's device cgroup rules (deny all, allow the usual character
/// devices and mknod), and `--device` nodes with their rules.
pub fn devices(hc: &HostConfig) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>)> {
    use LinuxDeviceType::{B, C};
    if hc.privileged {
        return Ok((Vec::new(), vec![rule(true, None, None, None, "rwm")]));
    }
    let mut rules = vec![rule(false, None, None, None, "rwm")];
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (136, -1),
        (10, 200),
    ] {
        rules.push(rule(
            true,
            Some(C),
            Some(maj),
            (min >= 0).then_some(min),
            "rwm",
        ));
    }
    rules.push(rule(true, Some(C), None, None, "m"));
    rules.push(rule(true, Some(B), None, None, "m"));
    let mut devs = Vec::new();
    for d in hc.resources.devices.iter().flatten() {
        let host = d.path_on_host.as_str();
        let inside = if d.path_in_container.is_empty() {
            host
        } else {
            &d.path_in_container
        };
        let perms = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            &d.cgroup_permissions
        };
        let st = nix::sys::stat::stat(host).map_err(|e| {
            Error::invalid(format!(
                "error gathering device information while adding custom device \"{host}\": {e}"
            ))
        })?;
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFCHR => C,
            libc::S_IFBLK => B,
            _ => {
                return Err(Error::invalid(format!(
                    "error gathering device information while adding custom device \"{host}\": not a device node"
                )));
            }
        };
        let (maj, min) = (
            libc::major(st.st_rdev) as i64,
            libc::minor(st.st_rdev) as i64,
        );
        devs.push(
            LinuxDeviceBuilder::default()
                .path(inside)
                .typ(kind)
                .major(maj)
                .minor(min)
                .file_mode(st.st_mode & 0o777)
                .uid(0u32)
                .gid(0u32)
                .build()
                .map_err(oci)?,
        );
        rules.push(rule(true, Some(kind), Some(maj), Some(min), perms));
    }
    Ok((devs, rules))
}

/// Memory, CPU and pids limits as OCI resources (also what `update`
/// applies to a running container).
pub fn limits(r: &berth_api::container::Resources) -> Result<LinuxResources> {
    let mut out = LinuxResourcesBuilder::default();
    let mut mem = LinuxMemoryBuilder::default();
    let mut any_mem = false;
    if r.memory > 0 {
        any_mem = true;
        mem = mem.limit(r.memory).swap(match r.memory_swap {
            -1 => -1,
            s if s > 0 => s,
            _ => r.memory * 2,
        });
    }
    if r.memory_reservation > 0 {
        any_mem = true;
        mem = mem.reservation(r.memory_reservation);
    }
    if r.oom_kill_disable == Some(true) {
        any_mem = true;
        mem = mem.disable_oom_killer(true);
    }
    if let Some(s) = r.memory_swappiness.filter(|s| *s >= 0) {
        any_mem = true;
        mem = mem.swappiness(s as u64);
    }
    if any_mem {
        out = out.memory(mem.build().map_err(oci)?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if r.nano_cpus > 0 {
        any_cpu = true;
        cpu = cpu.period(100_000u64).quota(r.nano_cpus / 10_000);
    }
    if r.cpu_quota > 0 {
        any_cpu = true;
        cpu = cpu.quota(r.cpu_quota).period(if r.cpu_period > 0 {
            r.cpu_period as u64
        } else {
            100_000
        });
    } else if r.cpu_period > 0 && r.nano_cpus == 0 {
        any_cpu = true;
        cpu = cpu.period(r.cpu_period as u64);
    }
    if r.cpu_shares > 0 {
        any_cpu = true;
        cpu = cpu.shares(r.cpu_shares as u64);
    }
    if !r.cpuset_cpus.is_empty() {
        any_cpu = true;
        cpu = cpu.cpus(&r.cpuset_cpus);
    }
    if !r.cpuset_mems.is_empty() {
        any_cpu = true;
        cpu = cpu.mems(&r.cpuset_mems);
    }
    if any_cpu {
        out = out.cpu(cpu.build().map_err(oci)?);
    }
    if let Some(p) = r.pids_limit.filter(|n| *n != 0) {
        out = out.pids(LinuxPidsBuilder::default().limit(p).build().map_err(oci)?);
    }
    out.build().map_err(oci)
}

/// `--ulimit` as OCI rlimits.
pub fn rlimits(hc: &HostConfig) -> Result<Vec<PosixRlimit>> {
    let mut out = Vec::new();
    for u in hc.resources.ulimits.iter().flatten() {
        let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
        let t: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
            .map_err(|_| Error::invalid(format!("invalid ulimit type: {}", u.name)))?;
        out.push(
            PosixRlimitBuilder::default()
                .typ(t)
                .soft(u.soft as u64)
                .hard(u.hard as u64)
                .build()
                .map_err(oci)?,
        );
    }
    Ok(out)
}

/// A libseccomp name (`SCMP_ACT_ERRNO`, `SCMP_ARCH_X86_64`, `SCMP_CMP_EQ`)
/// as oci-spec's enum.
fn scmp<T: serde::de::DeserializeOwned>(name: &str, what: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        Error::invalid(format!(
            "Decoding seccomp profile failed: unknown {what} {name:?}"
        ))
    })
}

/// Docker's seccomp profile format (berth-api's) → oci-spec's. A
/// profile's `includes`/`excludes` conditions are dropped: every rule
/// applies.
pub fn docker_seccomp_to_oci(profile: &str) -> Result<LinuxSeccomp> {
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscallBuilder};
    let fail = |e: String| Error::invalid(format!("Decoding seccomp profile failed: {e}"));
    let p: berth_api::seccomp::Profile =
        serde_json::from_str(profile).map_err(|e| fail(e.to_string()))?;
    let mut b = LinuxSeccompBuilder::default().default_action(scmp::<
        oci_spec::runtime::LinuxSeccompAction,
    >(&p.default_action, "action")?);
    if let Some(e) = p.default_errno_ret {
        b = b.default_errno_ret(e);
    }
    let arches = p
        .all_architectures()
        .iter()
        .map(|a| scmp::<oci_spec::runtime::Arch>(a, "architecture"))
        .collect::<Result<Vec<_>>>()?;
    if !arches.is_empty() {
        b = b.architectures(arches);
    }
    if let Some(l) = &p.listener_path {
        b = b.listener_path(l);
    }
    if let Some(m) = &p.listener_metadata {
        b = b.listener_metadata(m);
    }
    if !p.flags.is_empty() {
        b = b.flags(
            p.flags
                .iter()
                .map(|f| scmp::<oci_spec::runtime::LinuxSeccompFilterFlag>(f, "flag"))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    let mut rules = Vec::new();
    for s in &p.syscalls {
        let mut r = LinuxSyscallBuilder::default()
            .names(s.all_names())
            .action(scmp::<oci_spec::runtime::LinuxSeccompAction>(
                &s.action, "action",
            )?);
        if let Some(e) = s.errno_ret {
            r = r.errno_ret(e);
        }
        if !s.args.is_empty() {
            let mut args = Vec::new();
            for a in &s.args {
                let mut x = LinuxSeccompArgBuilder::default()
                    .index(a.index as usize)
                    .value(a.value)
                    .op(scmp::<oci_spec::runtime::LinuxSeccompOperator>(
                        &a.op, "operator",
                    )?);
                if let Some(v2) = a.value_two {
                    x = x.value_two(v2);
                }
                args.push(x.build().map_err(oci)?);
            }
            r = r.args(args);
        }
        rules.push(r.build().map_err(oci)?);
    }
    b.syscalls(rules).build().map_err(oci)
}

/// `--security-opt`: no-new-privileges, the seccomp profile (Docker's
/// default for the container's capabilities unless privileged).
pub fn security(hc: &HostConfig, caps: &[String]) -> Result<(bool, Option<LinuxSeccomp>)> {
    let mut no_new_privs = false;
    let mut seccomp = (!hc.privileged).then(|| super::seccomp_default::default_profile(caps));
    for o in HostConfig::list(&hc.security_opt) {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o, ""));
        match k {
            "no-new-privileges" => no_new_privs = v.is_empty() || v == "true",
            "seccomp" if v == "unconfined" => seccomp = None,
            "seccomp" => seccomp = Some(docker_seccomp_to_oci(v)?),
            "label" | "apparmor" => {}
            _ => {
                return Err(Error::invalid(format!("Invalid --security-opt: \"{o}\"")));
            }
        }
    }
    Ok((no_new_privs, seccomp))
}

/// What the spec needs besides the record.
pub struct Inputs<'a> {
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    /// Where hostname, hosts and resolv.conf are.
    pub files_dir: &'a Path,
    pub cgroup_parent: &'a str,
    /// `--init`'s binary (docker-init).
    pub init: Option<&'a Path>,
    /// `container:<x>` mode: the other container's network namespace.
    pub netns: Option<&'a str>,
    /// The hostname (the other container's in `container:` mode).
    pub hostname: &'a str,
    pub cgroup_v2: bool,
    pub caps: &'a HostCaps,
    /// Extra environment (`--link` variables).
    pub extra_env: &'a [String],
}

/// The whole spec.
pub fn build(c: &Container, i: &Inputs) -> Result<Spec> {
    let hc = &c.host_config;
    let mut args = vec![c.path.clone()];
    args.extend(c.args.iter().cloned());
    let init = if hc.init == Some(true) {
        let Some(init) = i.init else {
            return Err(Error::system(
                "exec: \"docker-init\": executable file not found in $PATH",
            ));
        };
        args.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
        Some(init)
    } else {
        None
    };
    let mut env = env(c, i.hostname);
    env.extend(i.extra_env.iter().cloned());
    let user = super::user::resolve(i.rootfs, &c.config.user, HostConfig::list(&hc.group_add))?;
    let caps = capabilities(hc, i.caps)?;
    let (no_new_privs, seccomp) = security(hc, &caps)?;
    let cwd = if c.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        c.config.working_dir.clone()
    };
    let capset = oci_caps(&caps);
    let mut process = ProcessBuilder::default()
        .terminal(c.tty())
        .user(user)
        .args(args)
        .env(env)
        .cwd(cwd)
        .no_new_privileges(no_new_privs)
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(capset.clone())
                .effective(capset.clone())
                .permitted(capset)
                .build()
                .map_err(oci)?,
        );
    let rl = rlimits(hc)?;
    if !rl.is_empty() {
        process = process.rlimits(rl);
    }
    let [h, w] = hc.console_size;
    if c.tty() && h > 0 && w > 0 {
        process = process.console_size(
            oci_spec::runtime::BoxBuilder::default()
                .height(h)
                .width(w)
                .build()
                .map_err(oci)?,
        );
    }
    let (devs, rules) = devices(hc)?;
    let mut resources = limits(&hc.resources)?;
    resources.set_devices(Some(rules));
    let mut namespaces = namespaces(hc, i.netns, i.cgroup_v2);
    let mut linux = LinuxBuilder::default();
    if let Some(m) = &c.id_map {
        // --userns-remap: root inside is the remap user's first subordinate id.
        namespaces.insert(0, ns(LinuxNamespaceType::User, None));
        let maps = |rs: &[berth_image::idmap::IdRange]| {
            rs.iter()
                .map(|r| {
                    oci_spec::runtime::LinuxIdMappingBuilder::default()
                        .container_id(r.container)
                        .host_id(r.host)
                        .size(r.size)
                        .build()
                        .map_err(oci)
                })
                .collect::<Result<Vec<_>>>()
        };
        linux = linux
            .uid_mappings(maps(&m.uids)?)
            .gid_mappings(maps(&m.gids)?);
    }
    let mut linux = linux
        .namespaces(namespaces)
        .resources(resources)
        .cgroups_path(format!("/{}/{}", i.cgroup_parent, c.id))
        .devices(devs);
    if !hc.privileged {
        linux = linux
            .masked_paths(hc.masked_paths.clone().unwrap_or_else(|| {
                super::create::MASKED_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }))
            .readonly_paths(hc.readonly_paths.clone().unwrap_or_else(|| {
                super::create::READONLY_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }));
    }
    if let Some(s) = hc.sysctls.as_ref().filter(|s| !s.is_empty()) {
        linux = linux.sysctl(
            s.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    if let Some(s) = seccomp {
        linux = linux.seccomp(s);
    }
    let host_net = hc.network_mode.is_host();
    SpecBuilder::default()
        .version("1.2.0")
        .process(process.build().map_err(oci)?)
        .root(
            RootBuilder::default()
                .path(i.rootfs)
                .readonly(hc.readonly_rootfs)
                .build()
                .map_err(oci)?,
        )
        .hostname(if host_net {
            String::new()
        } else {
            i.hostname.to_string()
        })
        .domainname(if host_net {
            String::new()
        } else {
            c.config.domainname.clone()
        })
        .mounts(mounts(c, i.files_dir, init)?)
        .linux(linux.build().map_err(oci)?)
        .build()
        .map_err(oci)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::{NetworkMode, NsMode, Resources};

    fn host() -> HostCaps {
        let known: Vec<String> = CAP_NAMES.iter().map(|s| s.to_string()).collect();
        HostCaps {
            bounding: known.clone(),
            known,
        }
    }

    fn strs(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn capability_options() {
        let hc = HostConfig::default();
        assert_eq!(
            capabilities(&hc, &host()).unwrap().len(),
            DEFAULT_CAPS.len()
        );
        let hc = HostConfig {
            cap_add: strs(&["sys_admin"]),
            cap_drop: strs(&["CAP_CHOWN", "net_raw"]),
            ..Default::default()
        };
        let c = capabilities(&hc, &host()).unwrap();
        assert!(c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()) && !c.contains(&"CAP_NET_RAW".to_string()));
        let hc = HostConfig {
            cap_drop: strs(&["ALL"]),
            cap_add: strs(&["KILL"]),
            ..Default::default()
        };
        assert_eq!(capabilities(&hc, &host()).unwrap(), ["CAP_KILL"]);
        let hc = HostConfig {
            privileged: true,
            ..Default::default()
        };
        let mut h = host();
        h.bounding.retain(|c| c != "CAP_SYS_RESOURCE");
        let c = capabilities(&hc, &h).unwrap();
        assert_eq!(c.len(), CAP_NAMES.len() - 1);
        let bad = HostConfig {
            cap_add: strs(&["NOPE"]),
            ..Default::default()
        };
        assert_eq!(
            capabilities(&bad, &host()).unwrap_err().message,
            "invalid CapAdd: unknown capability: \"CAP_NOPE\""
        );
    }

    #[test]
    fn limits_map_to_oci_fields() {
        let r = Resources {
            memory: 64 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            pids_limit: Some(50),
            ..Default::default()
        };
        let v = serde_json::to_value(limits(&r).unwrap()).unwrap();
        assert_eq!(v["memory"]["limit"], 64 << 20);
        assert_eq!(v["memory"]["swap"], 128 << 20);
        assert_eq!(v["cpu"]["quota"], 150_000);
        assert_eq!(v["cpu"]["period"], 100_000);
        assert_eq!(v["cpu"]["shares"], 512);
        assert_eq!(v["cpu"]["cpus"], "0");
        assert_eq!(v["pids"]["limit"], 50);
        let r = Resources {
            memory: 10 << 20,
            memory_swap: -1,
            cpu_quota: 20_000,
            cpu_period: 50_000,
            ..Default::default()
        };
        let v = serde_json::to_value(limits(&r).unwrap()).unwrap();
        assert_eq!(v["memory"]["swap"], -1);
        assert_eq!(
            (v["cpu"]["quota"].clone(), v["cpu"]["period"].clone()),
            (20_000.into(), 50_000.into())
        );
        let v = serde_json::to_value(limits(&Resources::default()).unwrap()).unwrap();
        assert!(v.get("memory").is_none() && v.get("cpu").is_none());
    }

    #[test]
    fn namespaces_per_mode() {
        let types = |n: Vec<LinuxNamespace>| -> Vec<(LinuxNamespaceType, bool)> {
            n.iter().map(|x| (x.typ(), x.path().is_some())).collect()
        };
        let hc = HostConfig::default();
        let n = types(namespaces(&hc, None, false));
        assert_eq!(n.len(), 5);
        assert!(n.contains(&(LinuxNamespaceType::Network, false)));
        let n = types(namespaces(&hc, None, true));
        assert!(n.contains(&(LinuxNamespaceType::Cgroup, false)));
        let host = HostConfig {
            network_mode: NetworkMode("host".into()),
            pid_mode: NsMode("host".into()),
            ..Default::default()
        };
        let n = types(namespaces(&host, None, false));
        assert!(
            !n.iter()
                .any(|(t, _)| *t == LinuxNamespaceType::Network || *t == LinuxNamespaceType::Pid)
        );
        let n = types(namespaces(&hc, Some("/proc/1/ns/net"), false));
        assert!(n.contains(&(LinuxNamespaceType::Network, true)));
    }

    #[test]
    fn device_rules_and_ulimits() {
        let (devs, rules) = devices(&HostConfig::default()).unwrap();
        assert!(devs.is_empty());
        assert!(!rules[0].allow() && rules.len() == 13);
        let p = HostConfig {
            privileged: true,
            ..Default::default()
        };
        assert!(devices(&p).unwrap().1[0].allow());
        let mut hc = HostConfig::default();
        hc.resources.devices = Some(vec![berth_api::container::DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            cgroup_permissions: "rw".into(),
        }]);
        let (devs, rules) = devices(&hc).unwrap();
        assert_eq!(devs[0].path(), Path::new("/dev/mynull"));
        assert_eq!(rules.last().unwrap().access().as_deref(), Some("rw"));
        hc.resources.devices.as_mut().unwrap()[0].path_on_host = "/etc/passwd".into();
        assert!(
            devices(&hc)
                .unwrap_err()
                .message
                .contains("not a device node")
        );
        let mut hc = HostConfig::default();
        hc.resources.ulimits = Some(vec![berth_api::container::Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        }]);
        let v = serde_json::to_value(rlimits(&hc).unwrap()).unwrap();
        assert_eq!(v[0]["type"], "RLIMIT_NOFILE");
        hc.resources.ulimits.as_mut().unwrap()[0].name = "bogus".into();
        assert!(rlimits(&hc).is_err());
    }

    #[test]
    fn mounts_and_env() {
        let mut c = Container {
            id: "a".repeat(64),
            ..Default::default()
        };
        c.config.tty = true;
        c.config.env = strs(&["A=1"]);
        assert_eq!(
            env(&c, "h"),
            [DEFAULT_PATH, "HOSTNAME=h", "TERM=xterm", "A=1"]
        );
        c.host_config.tmpfs = Some([("/run".to_string(), "size=1m".to_string())].into());
        c.host_config.shm_size = 1 << 20;
        c.mounts = vec![MountRecord {
            kind: MountType::Bind,
            source: "/tmp".into(),
            destination: "/host-tmp".into(),
            rw: false,
            ..Default::default()
        }];
        let m = mounts(&c, Path::new("/files"), None).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        let by = |d: &str| {
            v.as_array()
                .unwrap()
                .iter()
                .find(|m| m["destination"] == d)
                .unwrap()
                .clone()
        };
        assert_eq!(by("/dev/shm")["options"][4], "size=1048576");
        assert_eq!(by("/etc/hosts")["source"], "/files/hosts");
        assert_eq!(by("/run")["options"][3], "size=1m");
        assert_eq!(
            by("/host-tmp")["options"],
            serde_json::json!(["rbind", "ro", "rprivate"])
        );
        // A volume on /etc is mounted before the /etc files on top of it;
        // a mount of the user's on /etc/hosts replaces berth's.
        c.mounts.push(MountRecord {
            kind: MountType::Volume,
            source: "/tmp".into(),
            destination: "/etc".into(),
            rw: true,
            ..Default::default()
        });
        c.mounts.push(MountRecord {
            kind: MountType::Bind,
            source: "/tmp".into(),
            destination: "/etc/hosts".into(),
            rw: true,
            ..Default::default()
        });
        let m = mounts(&c, Path::new("/files"), None).unwrap();
        let dests: Vec<String> = m
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        let at = |d: &str| dests.iter().position(|x| x == d).unwrap();
        assert!(at("/etc") < at("/etc/hostname"), "{dests:?}");
        assert_eq!(dests.iter().filter(|d| *d == "/etc/hosts").count(), 1);
        assert_eq!(
            m[at("/etc/hosts")].source().as_deref(),
            Some(Path::new("/tmp"))
        );
        c.mounts.truncate(1);
        c.mounts[0].source = "/nonexistent-berth-test".into();
        assert!(
            mounts(&c, Path::new("/f"), None)
                .unwrap_err()
                .message
                .contains("does not exist")
        );
    }

    #[test]
    fn docker_seccomp_profiles() {
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
            "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":1,"includes":{"caps":["X"]}}]}"#;
        let s = docker_seccomp_to_oci(p).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["architectures"].as_array().unwrap().len(), 2);
        assert_eq!(v["syscalls"][0]["names"][0], "mkdir");
        assert!(
            docker_seccomp_to_oci("{")
                .unwrap_err()
                .message
                .starts_with("Decoding seccomp profile failed")
        );
        let hc = HostConfig {
            security_opt: strs(&["no-new-privileges", "seccomp=unconfined"]),
            ..Default::default()
        };
        let (nnp, s) = security(&hc, &[]).unwrap();
        assert!(nnp && s.is_none());
        let hc = HostConfig {
            security_opt: strs(&["bogus"]),
            ..Default::default()
        };
        assert!(security(&hc, &[]).is_err());
    }
}

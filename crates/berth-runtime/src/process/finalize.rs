//! The last steps before `execve`, shared by a container's init and `exec`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{Resource, setrlimit};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};

use crate::caps::Sets;
use crate::seccomp::Prepared;
use crate::state::OciState;
use crate::{Error, Result, StartFailure};

/// Default `$PATH` when the process environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An error of the container process, carried to the runtime over the channel.
#[derive(Debug)]
pub struct Failure {
    pub kind: StartFailure,
    pub message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Start { kind, message } => Failure { kind, message },
            other => Failure {
                kind: StartFailure::Other,
                message: other.to_string(),
            },
        }
    }
}

fn rlimit_resource(t: PosixRlimitType) -> Option<Resource> {
    Some(match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

fn rlimit_name(t: PosixRlimitType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{t:?}"))
}

/// Apply `process.rlimits`. Raising a hard limit needs CAP_SYS_RESOURCE: say so.
pub fn rlimits(p: &Process, field: &str) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let Some(res) = rlimit_resource(r.typ()) else {
            return Err(Error::Config(format!(
                "{field}.rlimits[{i}]: unsupported rlimit"
            )));
        };
        if let Err(e) = setrlimit(res, r.soft(), r.hard()) {
            let (_, cur_hard) = nix::sys::resource::getrlimit(res).unwrap_or((0, 0));
            let hint = if e == nix::errno::Errno::EPERM && r.hard() > cur_hard {
                format!(
                    ": raising the hard limit from {cur_hard} to {} needs CAP_SYS_RESOURCE, which the runtime does not have",
                    r.hard()
                )
            } else {
                String::new()
            };
            return Err(Error::Config(format!(
                "{field}.rlimits[{i}]: setrlimit {} (soft {}, hard {}): {}{hint}",
                rlimit_name(r.typ()),
                r.soft(),
                r.hard(),
                e.desc()
            )));
        }
    }
    Ok(())
}

/// Write `process.oomScoreAdj`. Lowering it needs CAP_SYS_RESOURCE: say so.
pub fn oom_score_adj(p: &Process, field: &str) -> Result<()> {
    let Some(adj) = p.oom_score_adj() else {
        return Ok(());
    };
    let cur: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if adj == cur {
        return Ok(());
    }
    std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::EACCES) || e.raw_os_error() == Some(libc::EPERM) {
            format!(": lowering it below the current {cur} needs CAP_SYS_RESOURCE, which the runtime does not have")
        } else {
            String::new()
        };
        Error::Config(format!("{field}.oomScoreAdj: set {adj}: {e}{hint}"))
    })
}

/// I/O priority and scheduler policy.
pub fn scheduling(p: &Process, field: &str) -> Result<()> {
    if let Some(io) = p.io_priority() {
        let class = match serde_json::to_value(io.class())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .as_deref()
        {
            Some("IOPRIO_CLASS_RT") => 1,
            Some("IOPRIO_CLASS_BE") => 2,
            Some("IOPRIO_CLASS_IDLE") => 3,
            _ => 0,
        };
        berth_sys::sched::ioprio_set(class, io.priority() as u32)
            .map_err(|e| Error::Config(format!("{field}.ioPriority: {e}")))?;
    }
    if let Some(s) = p.scheduler() {
        let name = serde_json::to_value(s.policy())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let policy = match name.as_str() {
            "SCHED_OTHER" => 0,
            "SCHED_FIFO" => 1,
            "SCHED_RR" => 2,
            "SCHED_BATCH" => 3,
            "SCHED_ISO" => 4,
            "SCHED_IDLE" => 5,
            "SCHED_DEADLINE" => 6,
            _ => {
                return Err(Error::Config(format!(
                    "{field}.scheduler.policy: unknown policy {name:?}"
                )));
            }
        };
        let mut flags = 0u64;
        for f in s.flags().iter().flatten() {
            let n = serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            flags |= match n.as_str() {
                "SCHED_FLAG_RESET_ON_FORK" => 0x01,
                "SCHED_FLAG_RECLAIM" => 0x02,
                "SCHED_FLAG_DL_OVERRUN" => 0x04,
                "SCHED_FLAG_KEEP_POLICY" => 0x08,
                "SCHED_FLAG_KEEP_PARAMS" => 0x10,
                "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
                "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
                _ => 0,
            };
        }
        let attr = berth_sys::sched::SchedAttr {
            sched_policy: policy,
            sched_flags: flags,
            sched_nice: s.nice().unwrap_or(0),
            sched_priority: s.priority().unwrap_or(0) as u32,
            sched_runtime: s.runtime().unwrap_or(0),
            sched_deadline: s.deadline().unwrap_or(0),
            sched_period: s.period().unwrap_or(0),
            ..Default::default()
        };
        berth_sys::sched::sched_setattr(attr)
            .map_err(|e| Error::Config(format!("{field}.scheduler: {e}")))?;
    }
    Ok(())
}

/// The environment of the process as C strings, and its `$PATH`. Without
/// a `HOME`, the user's home from the container's /etc/passwd is added
/// (`/` when it has none), as runc does.
pub fn environment(p: &Process) -> (Vec<CString>, String) {
    let mut env: Vec<CString> = p
        .env()
        .iter()
        .flatten()
        .filter_map(|e| CString::new(e.as_bytes()).ok())
        .collect();
    let has_home = p.env().iter().flatten().any(|e| e.starts_with("HOME="));
    if !has_home {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let home = home_of(&passwd, p.user().uid());
        if let Ok(c) = CString::new(format!("HOME={home}")) {
            env.push(c);
        }
    }
    let path = p
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    (env, path)
}

/// The home directory of the first passwd entry with `uid`, else `/`.
fn home_of(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".to_string())
}

fn is_executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
        && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Find the executable the way `execvp` (and runc) would, with runc's messages.
pub fn find_executable(arg0: &str, path_var: &str) -> std::result::Result<PathBuf, Failure> {
    if arg0.contains('/') {
        let p = Path::new(arg0);
        return match std::fs::metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure {
                kind: StartFailure::NotFound,
                message: format!("exec: {arg0:?}: stat {arg0}: no such file or directory"),
            }),
            Err(e) => Err(Failure {
                kind: StartFailure::NotExecutable,
                message: format!("exec: {arg0:?}: stat {arg0}: {e}"),
            }),
            // execve(2) says EACCES for a directory; runc reports it so.
            Ok(m) if m.is_dir() => Err(Failure {
                kind: StartFailure::NotExecutable,
                message: format!("exec: {arg0:?}: permission denied"),
            }),
            Ok(_) if !is_executable(p) => Err(Failure {
                kind: StartFailure::NotExecutable,
                message: format!("exec: {arg0:?}: permission denied"),
            }),
            Ok(_) => Ok(p.to_path_buf()),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(arg0);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(Failure {
        kind: StartFailure::NotFound,
        message: format!("exec: {arg0:?}: executable file not found in $PATH"),
    })
}

/// The stdio descriptors (the terminal above all) belong to the user the
/// process runs as, so it can use its console, as runc does: only the owner
/// changes (the devpts mount chose the group); /dev/null, descriptors that are
/// already the user's, and ones that cannot change (an owner or group not mapped
/// in a user namespace, a read-only /dev) are left as they are.
fn fix_stdio_owner(uid: u32) {
    use nix::sys::stat::{SFlag, fstat, stat};
    let null = stat("/dev/null").ok().map(|s| s.st_rdev);
    for fd in 0..3 {
        // SAFETY: 0, 1 and 2 stay open for the life of this process.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(st) = fstat(fd) else { continue };
        let chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
        if st.st_uid == uid || (chr && Some(st.st_rdev) == null) {
            continue;
        }
        if let Err(e) = std::os::unix::fs::fchown(fd, Some(uid), None) {
            tracing::debug!("chown stdio {} to {uid}: {e}", fd.as_raw_fd());
        }
    }
}

/// User, groups, working directory, capabilities and no_new_privs — in the order
/// that keeps the privileges each step needs.
pub fn identity(
    p: &Process,
    caps: &Sets,
    seccomp: Option<&Prepared>,
    state: &OciState,
    setgroups_allowed: bool,
) -> Result<()> {
    fix_stdio_owner(p.user().uid());
    let nnp = p.no_new_privileges() == Some(true);
    if let (Some(s), false) = (seccomp, nnp) {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it now.
        s.load(state)?;
    }
    caps.apply_bounding()?;
    nix::sys::prctl::set_keepcaps(true)
        .map_err(|e| Error::Other(format!("PR_SET_KEEPCAPS: {e}")))?;
    // First try the working directory as root: it may be reachable only by root.
    let cwd = p.cwd().clone();
    let mut cwd_done = nix::unistd::chdir(&cwd).is_ok();
    let user = p.user();
    if setgroups_allowed {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(|e| {
            Error::Other(format!(
                "setgroups {:?}: {}",
                user.additional_gids(),
                e.desc()
            ))
        })?;
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| {
        Error::Config(format!(
            "process.user.gid: setgid {}: {}",
            user.gid(),
            e.desc()
        ))
    })?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| {
        Error::Config(format!(
            "process.user.uid: setuid {}: {}",
            user.uid(),
            e.desc()
        ))
    })?;
    if !cwd_done {
        nix::unistd::chdir(&cwd).map_err(|e| {
            Error::Config(format!(
                "chdir to cwd ({:?}) set in config.json failed: {}",
                cwd,
                e.desc().to_lowercase()
            ))
        })?;
        cwd_done = true;
    }
    debug_assert!(cwd_done);
    check_cwd()?;
    nix::sys::prctl::set_keepcaps(false)
        .map_err(|e| Error::Other(format!("PR_SET_KEEPCAPS: {e}")))?;
    caps.apply()?;
    if nnp {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| Error::Other(format!("PR_SET_NO_NEW_PRIVS: {e}")))?;
    }
    Ok(())
}

/// The working directory must be inside the container's root: a directory reached
/// through a leaked descriptor (CVE-2024-21626) is "unreachable" from it.
pub fn check_cwd() -> Result<()> {
    match nix::unistd::getcwd() {
        Ok(p) if p.as_os_str().as_bytes().starts_with(b"/") => Ok(()),
        Ok(p) => Err(Error::Config(format!(
            "current working directory {p:?} is outside of the container's root filesystem"
        ))),
        Err(e) => Err(Error::Config(format!(
            "current working directory is outside of the container's root filesystem ({})",
            e.desc()
        ))),
    }
}

/// Close (on exec) every descriptor above stdio and the preserved ones, then exec
/// — through the sealed trampoline when there is one (see `exeseal`), with
/// `report` receiving the errno should the program fail to execute.
pub fn exec(
    exe: &Path,
    p: &Process,
    env: &[CString],
    preserve_fds: u32,
    trampoline: Option<BorrowedFd<'_>>,
    report: BorrowedFd<'_>,
) -> Failure {
    berth_sys::signal::reset_all();
    if let Err(e) = berth_sys::fd::cloexec_from(3 + preserve_fds as i32) {
        return Failure {
            kind: StartFailure::Other,
            message: format!("close inherited descriptors: {e}"),
        };
    }
    let path = match CString::new(exe.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(_) => {
            return Failure {
                kind: StartFailure::NotFound,
                message: "executable path contains NUL".into(),
            };
        }
    };
    let args: Vec<CString> = p
        .args()
        .iter()
        .flatten()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let e = match trampoline {
        Some(t) => crate::exeseal::exec_via(t, report, 3 + preserve_fds as i32, &path, &args, env),
        None => nix::unistd::execve(&path, &args, env).unwrap_err(),
    };
    let arg0 = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = match e {
        nix::errno::Errno::ENOENT => StartFailure::NotFound,
        _ if trampoline.is_some() => StartFailure::Other,
        _ => StartFailure::NotExecutable,
    };
    Failure {
        kind,
        message: format!("exec: {arg0:?}: {}", e.desc().to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn home_comes_from_the_uids_passwd_entry() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n# app\napp:x:1000:1000::/home/app:/bin/sh\n";
        assert_eq!(super::home_of(passwd, 0), "/root");
        assert_eq!(super::home_of(passwd, 1000), "/home/app");
        assert_eq!(super::home_of(passwd, 2000), "/");
        assert_eq!(super::home_of("", 0), "/");
    }
}

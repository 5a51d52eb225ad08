//! The container's first process, from fork to `execve`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use berth_cgroups::Cgroup;
use nix::fcntl::{OFlag, open};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::finalize::{self, Failure};
use crate::caps::Sets;
use crate::channel::{Channel, Msg};
use crate::hooks;
use crate::namespaces::{Plan, clone_flag};
use crate::rootfs;
use crate::seccomp::Prepared;
use crate::state::{OciState, Status};
use crate::{Context, Error, Result, StartFailure};

/// How the process learns that it may start.
pub enum Gate<'a> {
    /// `create`/`start`: block opening the exec fifo for writing until `start`
    /// opens it for reading.
    Fifo(&'a OwnedFd),
    /// `run`: a `Start` message on the channel.
    Channel,
}

/// Everything the container init needs (borrowed from the runtime's memory, which
/// the forked child has a copy of).
pub struct Init<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub cgroup: &'a Cgroup,
    pub plan: &'a Plan,
    /// The container gets a user namespace (new or joined).
    pub in_userns: bool,
    pub channel: &'a Channel,
    pub gate: Gate<'a>,
    pub console: Option<&'a UnixStream>,
    pub seccomp: Option<&'a Prepared>,
    pub caps: &'a Sets,
    pub hooks_state: &'a OciState,
    pub runtime_hooks: bool,
    pub no_pivot: bool,
    /// The sealed exec trampoline (see `exeseal`), if used.
    pub trampoline: Option<&'a OwnedFd>,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub id: &'a str,
    /// Bind sources opened before the user namespace (by mount index).
    pub bind_sources: &'a [(usize, OwnedFd)],
}

/// Entry point in the child: never returns normally; the exit code on failure.
pub fn main(cfg: Init<'_>) -> i32 {
    let failure = match run(&cfg) {
        Ok(f) => f,
        Err(e) => Failure::from(e),
    };
    let sent = cfg.channel.send(&Msg::Error {
        kind: failure.kind,
        message: failure.message.clone(),
    });
    if sent.is_err() {
        // The runtime is gone: the container's stderr is the only witness left.
        eprintln!(
            "berth: unable to start container process: {}",
            failure.message
        );
    }
    match failure.kind {
        StartFailure::NotFound => 127,
        StartFailure::NotExecutable => 126,
        StartFailure::Other => 1,
    }
}

fn run(cfg: &Init<'_>) -> Result<Failure> {
    let spec = cfg.spec;
    let process = spec.process().as_ref().expect("validated");
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).ok();
    // Nobody may open /proc/<pid>/exe (the host binary) while we set up.
    nix::sys::prctl::set_dumpable(false).ok();
    crate::timing::mark("init: forked");
    if cfg.plan.unshare_flags != 0 {
        berth_sys::clone::unshare(cfg.plan.unshare_flags).context(|| "create namespaces".into())?;
    }
    cfg.channel.expect(&Msg::Continue)?;
    // Into the cgroups before anything else: nothing of the container runs outside them.
    cfg.cgroup.join_self_v1()?;
    crate::timing::mark("init: in cgroups");
    if cfg.plan.creates(LinuxNamespaceType::User) {
        // Become root of the new user namespace (if root is mapped).
        let _ = nix::unistd::setresgid(0.into(), 0.into(), 0.into());
        let _ = nix::unistd::setresuid(0.into(), 0.into(), 0.into());
    }
    for j in &cfg.plan.joins {
        berth_sys::clone::setns(j.fd.as_fd(), clone_flag(j.typ))
            .context(|| format!("join the {} namespace", crate::namespaces::ns_name(j.typ)))?;
    }
    if cfg.plan.unshare_cgroup {
        berth_sys::clone::unshare(libc::CLONE_NEWCGROUP as u64)
            .context(|| "create the cgroup namespace".into())?;
    }
    nix::unistd::setsid().context(|| "setsid".into())?;
    if cfg.plan.creates(LinuxNamespaceType::Network) {
        berth_sys::net::loopback_up().context(|| "bring up the loopback interface".into())?;
    }
    let in_userns = cfg.in_userns;
    let userns_path = std::path::PathBuf::from("/proc/self/ns/user");
    let new_mount_ns = cfg.plan.creates(LinuxNamespaceType::Mount);
    if new_mount_ns {
        let ctx = rootfs::Ctx {
            rootfs: cfg.rootfs,
            bundle: cfg.bundle,
            spec,
            cgroup: cfg.cgroup,
            in_userns,
            cgroupns: cfg.plan.unshare_cgroup || cfg.plan.joins(LinuxNamespaceType::Cgroup),
            userns_path: if in_userns { Some(&userns_path) } else { None },
            bind_sources: cfg.bind_sources,
        };
        rootfs::prepare(&ctx)?;
        crate::timing::mark("init: mounts done");
    }
    if cfg.runtime_hooks {
        cfg.channel.send(&Msg::RunHooks)?;
        cfg.channel.expect(&Msg::HooksDone)?;
    }
    let mut hook_state = cfg.hooks_state.clone();
    hook_state.pid = std::process::id() as i32;
    hook_state.status = Status::Creating;
    hooks::run_all(
        hooks::Kind::CreateContainer,
        &hooks::Kind::CreateContainer.of(spec),
        &hook_state,
    )?;
    if new_mount_ns {
        rootfs::enter(cfg.rootfs, cfg.no_pivot)?;
    }
    // Before /proc/sys becomes read-only (readonlyPaths), as runc does.
    set_names_and_sysctls(spec)?;
    if new_mount_ns {
        rootfs::finish(spec)?;
        crate::timing::mark("init: rootfs finished");
    }
    if process.terminal() == Some(true) {
        setup_console(cfg, process)?;
    }
    crate::lsm::apply(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    if !cfg.no_new_keyring {
        // Best effort: keyrings may be unavailable (e.g. in some user namespaces).
        if let Err(e) = berth_sys::keyring::join_session_keyring(&format!("_ses.{}", cfg.id)) {
            tracing::debug!("join session keyring: {e}");
        }
    }
    finalize::oom_score_adj(process, "process")?;
    finalize::rlimits(process, "process")?;
    finalize::scheduling(process, "process")?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        let persona = match serde_json::to_value(p.domain())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .as_deref()
        {
            Some("LINUX32") => 0x0008,
            _ => 0,
        };
        berth_sys::sched::personality(persona).context(|| "personality".into())?;
    }
    if let Some(mask) = process.user().umask() {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    let setgroups = !in_userns || setgroups_allowed();
    finalize::identity(process, cfg.caps, cfg.seccomp, &hook_state, setgroups)?;
    crate::timing::mark("init: identity set");
    let (env, path_var) = finalize::environment(process);
    let arg0 = &process.args().as_ref().expect("validated")[0];
    let exe = match finalize::find_executable(arg0, &path_var) {
        Ok(p) => p,
        Err(f) => return Ok(f),
    };
    // With no_new_privs the filter goes on as late as runc puts it: before
    // waiting for `start`, so startContainer hooks run under it and a seccomp
    // agent has its listener once `create` returns.
    if let (Some(s), true) = (cfg.seccomp, process.no_new_privileges() == Some(true)) {
        s.load(&hook_state)?;
    }
    // From here the runtime may exit (create, exec -d) and the process lives on.
    nix::sys::prctl::set_pdeathsig(None).ok();
    cfg.channel.send(&Msg::Ready)?;
    match cfg.gate {
        Gate::Fifo(fifo) => {
            let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
            let fd = open(
                path.as_str(),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .context(|| "open the exec fifo".into())?;
            nix::unistd::write(&fd, b"0").context(|| "write the exec fifo".into())?;
        }
        Gate::Channel => cfg.channel.expect(&Msg::Start)?,
    }
    hook_state.status = Status::Created;
    hooks::run_all(
        hooks::Kind::StartContainer,
        &hooks::Kind::StartContainer.of(spec),
        &hook_state,
    )?;
    crate::timing::mark("init: exec");
    Ok(finalize::exec(
        &exe,
        process,
        &env,
        cfg.preserve_fds,
        cfg.trampoline.map(|t| t.as_fd()),
        cfg.channel.fd(),
    ))
}

/// Whether setgroups(2) is allowed in our user namespace.
/// hostname, domainname and `linux.sysctl`, inside the new namespaces.
fn set_names_and_sysctls(spec: &oci_spec::runtime::Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).context(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        berth_sys::uts::set_domainname(d).context(|| format!("set domainname {d:?}"))?;
    }
    if let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        let mut keys: Vec<_> = sysctls.iter().collect();
        keys.sort();
        for (k, v) in keys {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::write(&path, v)
                .map_err(|e| Error::Config(format!("linux.sysctl: set {k}={v}: {e}")))?;
        }
    }
    Ok(())
}

pub(crate) fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() == "allow")
}

/// Allocate the container's terminal from its own devpts, pass the master to the
/// console socket, and make the slave our stdio and controlling terminal.
fn setup_console(cfg: &Init<'_>, process: &oci_spec::runtime::Process) -> Result<()> {
    let sock = cfg.console.ok_or_else(|| {
        Error::Config(
            "process.terminal is set but no console socket was given (--console-socket)".into(),
        )
    })?;
    let pty = berth_sys::pty::open_pty(Path::new("/dev/ptmx"))
        .context(|| "allocate a pty in the container".into())?;
    if let Some(size) = process.console_size() {
        let _ = berth_sys::pty::set_winsize(
            pty.master.as_fd(),
            berth_sys::pty::WinSize {
                rows: size.height() as u16,
                cols: size.width() as u16,
            },
        );
    }
    crate::tty::send_master(sock.as_fd(), pty.master.as_fd())?;
    drop(pty.master);
    // /dev/console is the terminal, as in runc.
    let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
        .context(|| "find the pty slave".into())?;
    let console = Path::new("/dev/console");
    if rootfs::mounts::ensure_file(console).is_ok() {
        let _ = nix::mount::mount(
            Some(&slave_path),
            console,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        );
    }
    for fd in 0..3 {
        berth_sys::fd::dup_onto(pty.slave.as_raw_fd(), fd)
            .context(|| "dup the pty slave".into())?;
    }
    berth_sys::pty::set_controlling_tty(pty.slave.as_fd())
        .context(|| "set the controlling terminal".into())?;
    Ok(())
}

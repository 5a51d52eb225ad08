//! A new process in a running container (`exec`), from fork to `execve`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::finalize::{self, Failure};
use crate::caps::Sets;
use crate::channel::{Channel, Msg};
use crate::namespaces::clone_flag;
use crate::seccomp::Prepared;
use crate::state::OciState;
use crate::{Context, Error, Result, StartFailure};

pub struct Exec<'a> {
    pub process: &'a Process,
    /// The container's namespaces to enter (pid and time were entered by the
    /// parent for us), user first.
    pub joins: &'a [(LinuxNamespaceType, OwnedFd)],
    pub channel: &'a Channel,
    pub console: Option<&'a UnixStream>,
    pub seccomp: Option<&'a Prepared>,
    pub caps: &'a Sets,
    pub cgroup: &'a berth_cgroups::Cgroup,
    pub state: &'a OciState,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub trampoline: Option<&'a OwnedFd>,
    pub id: &'a str,
}

pub fn main(cfg: Exec<'_>) -> i32 {
    let failure = match run(&cfg) {
        Ok(f) => f,
        Err(e) => Failure::from(e),
    };
    let _ = cfg.channel.send(&Msg::Error {
        kind: failure.kind,
        message: failure.message.clone(),
    });
    match failure.kind {
        StartFailure::NotFound => 127,
        StartFailure::NotExecutable => 126,
        StartFailure::Other => 1,
    }
}

fn run(cfg: &Exec<'_>) -> Result<Failure> {
    let p = cfg.process;
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).ok();
    nix::sys::prctl::set_dumpable(false).ok();
    cfg.cgroup.join_self_v1()?;
    cfg.channel.expect(&Msg::Continue)?;
    let mut in_userns = false;
    for (t, fd) in cfg.joins {
        berth_sys::clone::setns(fd.as_fd(), clone_flag(*t)).context(|| {
            format!(
                "join the container's {} namespace",
                crate::namespaces::ns_name(*t)
            )
        })?;
        in_userns |= *t == LinuxNamespaceType::User;
    }
    if p.terminal() == Some(true) {
        nix::unistd::setsid().context(|| "setsid".into())?;
        let sock = cfg.console.ok_or_else(|| {
            Error::Config("a terminal was requested but no console socket was given".into())
        })?;
        let pty = berth_sys::pty::open_pty(Path::new("/dev/ptmx"))
            .context(|| "allocate a pty in the container".into())?;
        if let Some(size) = p.console_size() {
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
        for fd in 0..3 {
            berth_sys::fd::dup_onto(pty.slave.as_raw_fd(), fd)
                .context(|| "dup the pty slave".into())?;
        }
        berth_sys::pty::set_controlling_tty(pty.slave.as_fd())
            .context(|| "set the controlling terminal".into())?;
    }
    crate::lsm::apply(
        p.apparmor_profile().as_deref(),
        p.selinux_label().as_deref(),
    )?;
    if !cfg.no_new_keyring {
        let _ = berth_sys::keyring::join_session_keyring(&format!("_ses.{}", cfg.id));
    }
    finalize::rlimits(p, "process")?;
    finalize::scheduling(p, "process")?;
    if let Some(mask) = p.user().umask() {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    let setgroups = !in_userns || super::init::setgroups_allowed();
    finalize::identity(p, cfg.caps, cfg.seccomp, cfg.state, setgroups)?;
    let (env, path_var) = finalize::environment(p);
    let arg0 = &p.args().as_ref().expect("validated")[0];
    let exe = match finalize::find_executable(arg0, &path_var) {
        Ok(e) => e,
        Err(f) => return Ok(f),
    };
    // From here the runtime may exit (create, exec -d) and the process lives on.
    nix::sys::prctl::set_pdeathsig(None).ok();
    cfg.channel.send(&Msg::Ready)?;
    if let (Some(s), true) = (cfg.seccomp, p.no_new_privileges() == Some(true)) {
        s.load(cfg.state)?;
    }
    Ok(finalize::exec(
        &exe,
        p,
        &env,
        cfg.preserve_fds,
        cfg.trampoline.map(|t| t.as_fd()),
        cfg.channel.fd(),
    ))
}

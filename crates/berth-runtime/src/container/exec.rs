//! `exec`: a new process in a running container.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::{Runtime, write_pid_file};
use crate::caps::Sets;
use crate::channel::{Channel, Msg};
use crate::namespaces::{Join, Plan, proc_name};
use crate::process::exec::{self as child, Exec};
use crate::process::{foreground, spawn};
use crate::state::Status;
use crate::{Context, Error, Result, StartFailure, lsm, seccomp, spec};

/// Options of `exec`.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
    /// `--cgroup`: sub-cgroups to run in (see `berth_cgroups::Cgroup::sub`).
    pub cgroups: Vec<String>,
}

/// The order in which the container's namespaces are entered by the new process.
const ORDER: [LinuxNamespaceType; 6] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

impl Runtime {
    /// Run `o.process` in container `id`. Returns its exit code, or 0 when detached.
    pub fn exec(&self, id: &str, o: &ExecOptions) -> Result<i32> {
        let (state, status) = self.load(id)?;
        // Another process of the container may hold CAP_SYS_PTRACE (a previous
        // `exec --cap`): an exec'd process always runs from a sealed image.
        let sealing = crate::exeseal::prepare(&self.root, true)?;
        if status == Status::Created
            && !crate::exeseal::ptrace_exposed(&state.config, None)
            && crate::exeseal::ptrace_exposed(&state.config, Some(&o.process))
        {
            // The waiting init still runs the runtime's binary, shielded only by
            // being non-dumpable: CAP_SYS_PTRACE would reach it.
            return Err(Error::WrongState(format!(
                "cannot exec a process with CAP_SYS_PTRACE in container {id} before it is started: its bounding set does not include CAP_SYS_PTRACE"
            )));
        }
        match status {
            Status::Created | Status::Running => {}
            Status::Paused => {
                return Err(Error::WrongState(format!(
                    "cannot exec in a paused container {id}"
                )));
            }
            _ => {
                return Err(Error::WrongState(
                    "cannot exec in a stopped container".into(),
                ));
            }
        }
        let p = &o.process;
        spec::validate_process(p, "process")?;
        let caps = Sets::from_spec(p.capabilities().as_ref(), "process.capabilities")?;
        caps.check_available("process.capabilities")?;
        lsm::check(
            p.apparmor_profile().as_deref(),
            p.selinux_label().as_deref(),
            "process",
        )?;
        let seccomp = match state
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
        {
            Some(s) => Some(seccomp::prepare(s, &self.seccomp_cache())?),
            None => None,
        };
        let namespaces = state
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let open_ns = |t: LinuxNamespaceType| -> Result<OwnedFd> {
            let path = format!("/proc/{}/ns/{}", state.pid, proc_name(t));
            open(
                path.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .context(|| format!("open {path}"))
        };
        let mut joins: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
        for t in ORDER {
            if namespaces.iter().any(|n| n.typ() == t) {
                joins.push((t, open_ns(t)?));
            }
        }
        let mut plan = Plan::default();
        for t in [LinuxNamespaceType::Pid, LinuxNamespaceType::Time] {
            if namespaces.iter().any(|n| n.typ() == t) {
                plan.joins.push(Join {
                    typ: t,
                    fd: open_ns(t)?,
                });
            }
        }
        // The process must stay alive while we use its namespaces.
        if !state.alive() {
            return Err(Error::WrongState(
                "cannot exec in a stopped container".into(),
            ));
        }
        let terminal = p.terminal() == Some(true);
        let (console_child, console_ours) = match (terminal, &o.console_socket) {
            (true, Some(path)) => (Some(crate::tty::connect(path)?), None),
            (true, None) if !o.detach => {
                let (a, b) = UnixStream::pair().context(|| "socketpair".into())?;
                (Some(b), Some(a))
            }
            (true, None) => {
                return Err(Error::Config(
                    "cannot allocate tty if runc will detach without setting console socket".into(),
                ));
            }
            (false, _) => (None, None),
        };
        let (ours, theirs) = Channel::pair()?;
        let oci_state = state.oci_state(status);
        let cgroup = if o.cgroups.is_empty() {
            state.cgroup.clone()
        } else {
            state
                .cgroup
                .sub(&o.cgroups)
                .map_err(|e| Error::Config(e.to_string()))?
        };
        let cgroup_fd = match cgroup.open_v2() {
            Some(r) => Some(r?),
            None => None,
        };
        let cfg = Exec {
            process: p,
            joins: &joins,
            channel: &theirs,
            console: console_child.as_ref(),
            seccomp: seccomp.as_ref(),
            caps: &caps,
            cgroup: &cgroup,
            state: &oci_state,
            no_new_keyring: false,
            preserve_fds: o.preserve_fds,
            trampoline: match &sealing {
                crate::exeseal::Sealing::Trampoline(fd) => Some(fd),
                crate::exeseal::Sealing::Direct => None,
            },
            id,
        };
        let spawned = spawn::spawn(
            &mut plan,
            cgroup_fd.as_ref().map(|f| f.as_fd()),
            move || child::main(cfg),
        )?;
        drop(theirs);
        drop(console_child);
        let reap = || {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(spawned.pid), None);
        };
        let placed = if spawned.in_v2_cgroup {
            Ok(())
        } else {
            cgroup.add_process_v2(spawned.pid)
        };
        if let Err(e) = placed {
            let _ = berth_sys::pidfd::pidfd_send_signal(spawned.pidfd.as_fd(), libc::SIGKILL);
            reap();
            return Err(e.into());
        }
        ours.send(&Msg::Continue)?;
        match ours.recv()? {
            Some(Msg::Ready) => {}
            Some(Msg::Error { kind, message }) => {
                reap();
                return Err(Error::Start { kind, message });
            }
            other => {
                let _ = berth_sys::pidfd::pidfd_send_signal(spawned.pidfd.as_fd(), libc::SIGKILL);
                reap();
                return Err(Error::Start {
                    kind: StartFailure::Other,
                    message: format!("exec process failed during setup ({other:?})"),
                });
            }
        }
        if let Some(path) = &o.pid_file {
            write_pid_file(path, spawned.pid)?;
        }
        if o.detach {
            return Ok(0);
        }
        let sfd = foreground::signal_fd()?;
        let master = match &console_ours {
            Some(sock) => Some(crate::tty::recv_master(sock.as_fd())?),
            None => None,
        };
        // An execve failure after Ready arrives as an error message.
        let arg0 = p
            .args()
            .as_ref()
            .and_then(|a| a.first().cloned())
            .unwrap_or_default();
        match ours.recv()? {
            Some(Msg::Error { kind, message }) => {
                reap();
                return Err(Error::Start { kind, message });
            }
            Some(Msg::ExecFailed(errno)) => {
                reap();
                return Err(crate::channel::exec_failure(errno, &arg0));
            }
            _ => {}
        }
        foreground::supervise(spawned.pid, &spawned.pidfd, master, sfd)
    }
}

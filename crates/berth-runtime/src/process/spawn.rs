//! The parent side of forking a container process.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_sys::clone::{self, CloneOptions, Forked};
use oci_spec::runtime::LinuxNamespaceType;

use crate::namespaces::Plan;
use crate::{Context, Error, Result};

/// A forked container process.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Whether the child was cloned into the v2 cgroup already.
    pub in_v2_cgroup: bool,
}

/// Run `child` in a new process created according to `plan`; it must not return
/// (its result is the exit code of the process).
///
/// Namespaces that only apply to children (pid, time) are entered by the caller
/// around the clone and restored afterwards. A user namespace to join must be
/// entered before anything else is created, which the caller cannot undo: an
/// intermediate process does it and clones the container process as a sibling
/// (`CLONE_PARENT`), so that the caller remains its parent.
pub fn spawn<F: FnOnce() -> i32>(
    plan: &mut Plan,
    cgroup: Option<BorrowedFd<'_>>,
    child: F,
) -> Result<Spawned> {
    if let Some(userns) = plan.take_join(LinuxNamespaceType::User) {
        return via_intermediate(plan, userns, child);
    }
    let (pid, pidfd) = clone_with_plan(plan, cgroup, 0, child)?;
    Ok(Spawned {
        pid,
        pidfd,
        in_v2_cgroup: cgroup.is_some(),
    })
}

fn run_child<F: FnOnce() -> i32>(child: F) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(1);
    clone::exit_immediately(code)
}

/// Restores a namespace of the calling process on drop.
struct Restore(Option<(OwnedFd, u64)>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some((fd, t)) = self.0.take()
            && let Err(e) = clone::setns(fd.as_fd(), t)
        {
            tracing::error!("restoring the runtime's namespace failed: {e}");
        }
    }
}

fn own_ns(name: &str) -> Result<OwnedFd> {
    let path = format!("/proc/self/ns/{name}");
    nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context(|| format!("open {path}"))
}

fn clone_with_plan<F: FnOnce() -> i32>(
    plan: &mut Plan,
    cgroup: Option<BorrowedFd<'_>>,
    extra: u64,
    child: F,
) -> Result<(i32, OwnedFd)> {
    let mut restores = Vec::new();
    if let Some(fd) = plan.take_join(LinuxNamespaceType::Pid) {
        let own = own_ns("pid")?;
        clone::setns(fd.as_fd(), libc::CLONE_NEWPID as u64)
            .context(|| "join the pid namespace".into())?;
        restores.push(Restore(Some((own, libc::CLONE_NEWPID as u64))));
    }
    if let Some(fd) = plan.take_join(LinuxNamespaceType::Time) {
        let own = own_ns("time")?;
        clone::setns(fd.as_fd(), clone::CLONE_NEWTIME)
            .context(|| "join the time namespace".into())?;
        restores.push(Restore(Some((own, clone::CLONE_NEWTIME))));
    } else if !plan.time_offsets.is_empty() {
        let own = own_ns("time")?;
        clone::unshare(clone::CLONE_NEWTIME).context(|| "create a time namespace".into())?;
        restores.push(Restore(Some((own, clone::CLONE_NEWTIME))));
        let offsets: String = plan
            .time_offsets
            .iter()
            .map(|(clock, secs, nanos)| format!("{clock} {secs} {nanos}\n"))
            .collect();
        std::fs::write("/proc/self/timens_offsets", offsets)
            .context(|| "write linux.timeOffsets to /proc/self/timens_offsets".into())?;
    }
    let opts = CloneOptions {
        flags: plan.clone_flags | extra,
        cgroup,
        pidfd: true,
    };
    // SAFETY: the runtime is single-threaded whenever it forks (documented
    // contract of this library); the child only runs `child` and then _exits.
    let forked = unsafe { clone::clone3(opts) };
    match forked {
        Ok(Forked::Child) => {
            std::mem::forget(restores);
            run_child(child)
        }
        Ok(Forked::Parent { pid, pidfd }) => {
            drop(restores);
            let pidfd = match pidfd {
                Some(fd) => fd,
                None => {
                    berth_sys::pidfd::pidfd_open(pid).context(|| format!("pidfd_open {pid}"))?
                }
            };
            Ok((pid, pidfd))
        }
        Err(e) => {
            drop(restores);
            Err(Error::Io {
                context: format!(
                    "clone the container process (namespaces {:#x})",
                    plan.clone_flags
                ),
                source: e,
            })
        }
    }
}

fn via_intermediate<F: FnOnce() -> i32>(
    plan: &mut Plan,
    userns: OwnedFd,
    child: F,
) -> Result<Spawned> {
    let (mut rd, mut wr) = std::io::pipe().context(|| "pipe".into())?;
    let opts = CloneOptions {
        flags: 0,
        cgroup: None,
        pidfd: false,
    };
    // SAFETY: as in clone_with_plan.
    match unsafe { clone::clone3(opts) }.context(|| "fork".into())? {
        Forked::Child => {
            drop(rd);
            let res = clone::setns(userns.as_fd(), libc::CLONE_NEWUSER as u64)
                .context(|| "join the user namespace".into())
                .and_then(|_| clone_with_plan(plan, None, clone::CLONE_PARENT, child));
            let msg = match res {
                Ok((pid, _)) => format!("{pid}"),
                Err(e) => format!("error {e}"),
            };
            let _ = wr.write_all(msg.as_bytes());
            clone::exit_immediately(0)
        }
        Forked::Parent { pid, .. } => {
            drop(wr);
            let mut msg = String::new();
            let _ = rd.read_to_string(&mut msg);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            if let Some(err) = msg.strip_prefix("error ") {
                return Err(Error::Other(err.to_string()));
            }
            let pid: i32 = msg
                .trim()
                .parse()
                .map_err(|_| Error::Other("the intermediate process failed".into()))?;
            let pidfd =
                berth_sys::pidfd::pidfd_open(pid).context(|| format!("pidfd_open {pid}"))?;
            Ok(Spawned {
                pid,
                pidfd,
                in_v2_cgroup: false,
            })
        }
    }
}

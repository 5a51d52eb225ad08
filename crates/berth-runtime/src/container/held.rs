//! A container created by this process and held until it is started: `run`
//! in two steps, for a supervisor (berth's per-container monitor) that must act
//! between creation and start — connect output readers — and then wait for the
//! process itself, as its parent.

use std::os::fd::{AsFd, OwnedFd};

use super::Runtime;
use super::create::{CreateOptions, Created, StartBy};
use crate::channel::Msg;
use crate::{Error, Result};

/// A created container whose process waits for [`Runtime::start_held`].
pub struct Held {
    created: Created,
}

impl Held {
    /// The container's init process (a child of the calling process).
    pub fn pid(&self) -> i32 {
        self.created.spawned.pid
    }

    /// A pidfd of the init process.
    pub fn pidfd(&self) -> &OwnedFd {
        &self.created.spawned.pidfd
    }

    /// Whether the kernel's OOM killer killed a process of the container
    /// (read before [`Runtime::finish_held`] removes the cgroup).
    pub fn oom_killed(&self) -> bool {
        self.created
            .state
            .cgroup
            .stats()
            .is_ok_and(|s| s.memory.oom_kill > 0)
    }

    /// The pty master when the spec asks for a terminal (once).
    pub fn take_console(&mut self) -> Result<Option<OwnedFd>> {
        match self.created.console.take() {
            Some(sock) => Ok(Some(crate::tty::recv_master(sock.as_fd())?)),
            None => Ok(None),
        }
    }
}

impl Runtime {
    /// Create a container held by this process. Its stdio is this process's
    /// fds 0–2 at the time of the call (unless the spec asks for a terminal).
    pub fn create_held(&self, o: &CreateOptions) -> Result<Held> {
        Ok(Held {
            created: self.create_inner(o, StartBy::Channel)?,
        })
    }

    /// Start a held container. If its program cannot be executed the error
    /// says why in runc's words, and the container is gone.
    pub fn start_held(&self, held: &Held) -> Result<()> {
        let created = &held.created;
        created.channel.send(&Msg::Start)?;
        // The channel closes on a successful execve; an error message means not.
        let failed = match created.channel.recv()? {
            Some(Msg::Error { kind, message }) => Some(Error::Start { kind, message }),
            Some(Msg::ExecFailed(errno)) => {
                Some(crate::channel::exec_failure(errno, &created.arg0))
            }
            _ => None,
        };
        if let Some(e) = failed {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(created.spawned.pid), None);
            let _ = self.delete(&created.state.id, true);
            return Err(e);
        }
        self.poststart(&created.state);
        Ok(())
    }

    /// After the held container's init has exited and been reaped: kill what
    /// is left in its cgroup, run poststop hooks, remove cgroup and state.
    pub fn finish_held(&self, held: Held) -> Result<()> {
        self.destroy(&held.created.state)
    }
}

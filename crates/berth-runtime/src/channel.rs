//! The message protocol between the runtime and the container process it forks.
//!
//! A `SOCK_SEQPACKET` pair keeps message boundaries; both ends are close-on-exec,
//! so a successful `execve` in the container closes the child's end and the parent
//! reads end-of-file: that is how "the container process is running" is observed.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Result, StartFailure};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Msg {
    /// Parent → child: ids are mapped and the child is in its cgroups.
    Continue,
    /// Child → parent: run the prestart/createRuntime hooks now (before pivot_root).
    RunHooks,
    /// Parent → child: the hooks ran.
    HooksDone,
    /// Child → parent: setup is complete; the child now waits to be started.
    Ready,
    /// Parent → child: start (used by `run`; `create` uses the exec fifo).
    Start,
    /// Intermediate child → parent: the pid of the container process.
    Pid(i32),
    /// Child → parent: setup failed.
    Error { kind: StartFailure, message: String },
    /// The exec trampoline → parent: executing the program failed with this errno
    /// (sent as 4 raw bytes, not JSON).
    ExecFailed(i32),
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(OwnedFd);

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context(|| "socketpair".into())?;
        Ok((Channel(a), Channel(b)))
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        let bytes = serde_json::to_vec(m).expect("messages serialise");
        nix::sys::socket::send(
            std::os::fd::AsRawFd::as_raw_fd(&self.0),
            &bytes,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )
        .context(|| "send to the container process".into())?;
        Ok(())
    }

    /// The next message, or `None` when the other end is closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match nix::sys::socket::recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.0),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            ) {
                Ok(0) => return Ok(None),
                Ok(4) if buf[0] != b'"' && buf[0] != b'{' => {
                    return Ok(Some(Msg::ExecFailed(i32::from_ne_bytes([
                        buf[0], buf[1], buf[2], buf[3],
                    ]))));
                }
                Ok(n) => {
                    return serde_json::from_slice(&buf[..n]).map(Some).map_err(|e| {
                        Error::Other(format!("bad message from the container process: {e}"))
                    });
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) => return Ok(None),
                Err(e) => return Err(e).context(|| "receive from the container process".into()),
            }
        }
    }

    /// Receive and require a specific message; an `Error` message becomes an error.
    pub fn expect(&self, want: &Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if &m == want => Ok(()),
            Some(Msg::Error { kind, message }) => Err(Error::Start { kind, message }),
            Some(Msg::ExecFailed(errno)) => Err(exec_failure(errno, "")),
            Some(other) => Err(Error::Other(format!(
                "container process protocol: expected {want:?}, got {other:?}"
            ))),
            None => Err(Error::Start {
                kind: StartFailure::Other,
                message: format!(
                    "container process exited during setup (while waiting for {want:?})"
                ),
            }),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The error for an `execve` of `arg0` that failed with `errno`.
pub fn exec_failure(errno: i32, arg0: &str) -> Error {
    let e = nix::errno::Errno::from_raw(errno);
    let kind = match e {
        nix::errno::Errno::ENOENT => StartFailure::NotFound,
        _ => StartFailure::NotExecutable,
    };
    Error::Start {
        kind,
        message: format!("exec: {arg0:?}: {}", e.desc().to_lowercase()),
    }
}

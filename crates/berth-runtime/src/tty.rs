//! Terminals: the console socket protocol (the pty master travels to whoever
//! listens on `--console-socket`, as with runc), and a local proxy for `run -t`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use berth_sys::pty::{self, WinSize};
use nix::sys::termios::{self, SetArg, Termios};

use crate::{Context, Error, Result};

/// Connect to the console socket given on the command line.
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| {
        Error::Config(format!(
            "--console-socket: cannot connect to {}: {e}",
            path.display()
        ))
    })
}

/// Send the pty master over the console socket (payload: the device name, as runc).
pub fn send_master(sock: BorrowedFd<'_>, master: BorrowedFd<'_>) -> Result<()> {
    berth_sys::scm::send_fds(sock, b"/dev/ptmx", &[master.as_raw_fd()])
        .context(|| "send the pty master to the console socket".into())
}

/// Receive a pty master from a console socket connection.
pub fn recv_master(sock: BorrowedFd<'_>) -> Result<OwnedFd> {
    let (_, mut fds) =
        berth_sys::scm::recv_fds(sock, 4096).context(|| "receive the pty master".into())?;
    fds.pop()
        .ok_or_else(|| Error::Other("console socket message carried no descriptor".into()))
}

/// Put a terminal in raw mode; the returned guard restores it.
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    pub fn enter(fd: BorrowedFd<'_>) -> Result<RawMode> {
        let saved = termios::tcgetattr(fd).context(|| "tcgetattr".into())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).context(|| "tcsetattr".into())?;
        let fd = fd.try_clone_to_owned().context(|| "dup".into())?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Copy the size of terminal `from` to `to`.
pub fn copy_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = pty::get_winsize(from)
        && ws != WinSize::default()
    {
        let _ = pty::set_winsize(to, ws);
    }
}

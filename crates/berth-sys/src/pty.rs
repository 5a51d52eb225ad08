//! Pseudo-terminals.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::cvt;

const TIOCGPTPEER: libc::c_ulong = 0x5441;

/// A master/slave pair.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Open a new pty from the `ptmx` at `ptmx` (the container's own devpts instance when
/// called inside the container) and its peer through `TIOCGPTPEER`, which cannot be
/// redirected by a path swap.
pub fn open_pty(ptmx: &Path) -> io::Result<Pty> {
    let master = open(
        ptmx,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let fd = master.as_raw_fd();
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &mut unlock) } as libc::c_long)?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let slave = cvt(unsafe {
        libc::ioctl(
            fd,
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    } as libc::c_long)?;
    // SAFETY: a fresh descriptor owned by nobody else.
    let slave = unsafe { OwnedFd::from_raw_fd(slave as i32) };
    Ok(Pty { master, slave })
}

/// Make `fd` the controlling terminal of the calling session leader.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) } as libc::c_long).map(drop)
}

/// Terminal size in character cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// Set the window size of a terminal.
pub fn set_winsize(fd: BorrowedFd<'_>, size: WinSize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } as libc::c_long).map(drop)
}

/// Read the window size of a terminal.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<WinSize> {
    // SAFETY: winsize is plain old data.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } as libc::c_long)?;
    Ok(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

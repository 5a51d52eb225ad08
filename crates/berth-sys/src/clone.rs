//! `clone3(2)`: fork with new namespaces, straight into a cgroup, with a pidfd.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::cvt;

pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
pub const CLONE_NEWTIME: u64 = 0x80;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The two sides of a fork.
#[derive(Debug)]
pub enum Forked {
    Child,
    Parent { pid: i32, pidfd: Option<OwnedFd> },
}

/// Options for [`clone3`].
#[derive(Default)]
pub struct CloneOptions<'a> {
    /// `CLONE_*` flags: namespaces, `CLONE_PARENT`, …
    pub flags: u64,
    /// Place the child in this cgroup v2 directory before it runs (`CLONE_INTO_CGROUP`).
    pub cgroup: Option<BorrowedFd<'a>>,
    /// Return a pidfd for the child (`CLONE_PIDFD`).
    pub pidfd: bool,
}

/// Fork the calling process with `clone3(2)` (fork semantics: no new stack).
///
/// # Safety
///
/// The calling process must be single-threaded: the child continues with a copy of
/// the whole address space, including any lock another thread may have held.
pub unsafe fn clone3(opts: CloneOptions<'_>) -> io::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: opts.flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if opts.pidfd {
        args.flags |= CLONE_PIDFD;
        args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    }
    if let Some(cgroup) = opts.cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args structure of the size passed; the pidfd
    // pointer (if any) points to a live local. Fork semantics are the caller's contract.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    if ret == 0 {
        return Ok(Forked::Child);
    }
    let pidfd = if opts.pidfd && pidfd >= 0 {
        // SAFETY: the kernel just handed us this descriptor and nobody else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(pidfd) })
    } else {
        None
    };
    Ok(Forked::Parent {
        pid: ret as i32,
        pidfd,
    })
}

/// `unshare(2)` with the full 64-bit flag set (nix's `CloneFlags` lacks `CLONE_NEWTIME`).
pub fn unshare(flags: u64) -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    cvt(unsafe { libc::unshare(flags as libc::c_int) } as libc::c_long).map(drop)
}

/// `setns(2)` into the namespace referred to by `fd`; `nstype` may be 0.
pub fn setns(fd: BorrowedFd<'_>, nstype: u64) -> io::Result<()> {
    // SAFETY: fd is a live descriptor borrowed for the duration of the call.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype as libc::c_int) } as libc::c_long).map(drop)
}

/// `_exit(2)`: leave a forked child without running destructors or atexit handlers.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

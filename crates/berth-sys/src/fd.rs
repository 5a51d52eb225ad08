//! File-descriptor hygiene.

use std::io;
use std::os::fd::RawFd;

use crate::cvt;

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Mark every descriptor from `first` upward close-on-exec (`close_range(2)`).
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    // SAFETY: close_range takes plain integers; CLOEXEC mode closes nothing now.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    // Fallback for kernels without CLOSE_RANGE_CLOEXEC: walk /proc/self/fd.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        set_cloexec(fd, true).ok();
    }
    Ok(())
}

/// Set or clear `FD_CLOEXEC` on a raw descriptor number.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer; an invalid fd is reported as EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) } as libc::c_long)? as libc::c_int;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) } as libc::c_long).map(drop)
}

/// Duplicate `src` onto `dst` (no CLOEXEC on the result), like `dup2(2)`.
pub fn dup_onto(src: RawFd, dst: RawFd) -> io::Result<()> {
    if src == dst {
        return set_cloexec(dst, false);
    }
    // SAFETY: dup3 on integers; both are validated by the kernel.
    cvt(unsafe { libc::dup3(src, dst, 0) } as libc::c_long).map(drop)
}

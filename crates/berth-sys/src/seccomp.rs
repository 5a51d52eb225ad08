//! Loading a compiled seccomp BPF program (`seccomp(2)`).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::cvt;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
pub const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1 << 0;
pub const SECCOMP_FILTER_FLAG_LOG: u32 = 1 << 1;
pub const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
pub const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Install `program` (raw `struct sock_filter` array, 8 bytes per instruction) as a
/// seccomp filter on the calling thread. Returns the notification listener when
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` is among `flags`.
pub fn load_filter(program: &[u8], flags: u32) -> io::Result<Option<OwnedFd>> {
    if program.is_empty() || !program.len().is_multiple_of(8) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp program is not a whole number of instructions",
        ));
    }
    // Copy into properly aligned sock_filter structures.
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: filters.len() as u16,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points to a live array of `len` instructions.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    })?;
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: the kernel returned a fresh listener descriptor.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }))
    } else {
        Ok(None)
    }
}

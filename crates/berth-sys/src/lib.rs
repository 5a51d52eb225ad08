//! The one crate of berth that contains `unsafe` code.
//!
//! Every function here is a thin wrapper around a single Linux system call (or a
//! tightly related pair) that `nix` does not offer. Policy — which call to make,
//! with which arguments, in which order — lives in the callers.

pub mod bpf;
pub mod clone;
pub mod fd;
pub mod keyring;
pub mod mount;
pub mod net;
pub mod pidfd;
pub mod pty;
pub mod sched;
pub mod scm;
pub mod seccomp;
pub mod signal;
pub mod userns;
pub mod uts;

use std::io;

/// Turn a raw `-1`/errno return value into an `io::Result`.
pub(crate) fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

//! Session keyrings (`keyctl(2)`).

use std::ffi::CString;
use std::io;

use crate::cvt;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
/// The kernel's default for a new session keyring (possessor: all; user: view, read,
/// link) plus user search, which is what runc sets.
const SESSION_KEYRING_PERM: libc::c_long = 0x3f1b_0000;

/// Join a new named session keyring, so that containers do not share the host's
/// (or each other's) keys.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: keyctl with a valid NUL-terminated string pointer.
    let serial = cvt(unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr())
    })?;
    // SAFETY: keyctl with integer arguments.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            serial,
            SESSION_KEYRING_PERM,
        )
    })
    .map(drop)
}

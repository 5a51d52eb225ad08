//! A user namespace with given id maps and no process in it: what an
//! idmapped mount (`mount_setattr(MOUNT_ATTR_IDMAP)`) takes its mapping from.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::clone::{CloneOptions, Forked, clone3, exit_immediately};

/// Make a user namespace whose `uid_map` and `gid_map` are the given texts
/// (`/proc/<pid>/uid_map` lines: `inside outside count`), and return a
/// descriptor of it (which keeps it alive).
///
/// A child is cloned into the new namespace and waits on a pipe while its
/// maps are written and the namespace opened; then it exits and is reaped.
pub fn with_maps(uid_map: &str, gid_map: &str) -> io::Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    // SAFETY: the child only calls close(2), read(2) and _exit(2), which are
    // async-signal-safe, so forking a multi-threaded caller is sound.
    let forked = unsafe {
        clone3(CloneOptions {
            flags: libc::CLONE_NEWUSER as u64,
            ..Default::default()
        })
    }?;
    let pid = match forked {
        Forked::Child => {
            // Its copy of the write end closed, the read ends when ours is.
            // SAFETY: closing a descriptor this process owns.
            unsafe { libc::close(w.as_raw_fd()) };
            let mut b = [0u8; 1];
            // SAFETY: a valid buffer of the length passed.
            unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            exit_immediately(0)
        }
        Forked::Parent { pid, .. } => pid,
    };
    drop(r);
    let res = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), uid_map)?;
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
        std::fs::write(format!("/proc/{pid}/gid_map"), gid_map)?;
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))?;
        Ok::<_, io::Error>(OwnedFd::from(f))
    })();
    drop(w);
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    res
}

//! Fallback sealing: re-execute the runtime from an unwritable copy of itself
//! before forking — a detached read-only clone of its mount, or, without the
//! privilege to mount, a sealed memfd.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::{Context, Error, Result};

const MARK: &str = "_BERTH_EXE_SEALED";

/// Whether `/proc/self/exe` already cannot be written: on a read-only mount, or a
/// sealed memfd.
pub fn is_sealed() -> bool {
    if let Ok(target) = std::fs::read_link("/proc/self/exe")
        && target.as_os_str().as_bytes().starts_with(b"/memfd:")
    {
        return true;
    }
    nix::sys::statvfs::statvfs("/proc/self/exe")
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Re-execute the current program from an unwritable copy unless it already runs
/// from one. Returns only when no re-execution was needed (or possible).
pub fn ensure_sealed(scratch: &Path) -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    if std::env::var_os(MARK).is_some() {
        tracing::warn!("running from a writable binary although sealing was attempted");
        return Ok(());
    }
    let _ = scratch;
    let fd = match sealed_bind() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!("read-only bind of the runtime binary failed ({e}); using a memfd");
            sealed_memfd()?
        }
    };
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).expect("arguments contain no NUL"))
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv: OsString = k;
            kv.push("=");
            kv.push(v);
            CString::new(kv.as_bytes()).expect("environment contains no NUL")
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).unwrap());
    let err = nix::unistd::fexecve(fd.as_fd(), &args, &env).unwrap_err();
    Err(Error::Io {
        context: "re-execute the runtime from its sealed copy".into(),
        source: err.into(),
    })
}

/// A detached, read-only clone of the mount the binary lives on, and the binary
/// opened through it. Nothing is attached to any mount namespace: the clone
/// lives exactly as long as the descriptor (and then the process image) using it.
fn sealed_bind() -> Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe").context(|| "readlink /proc/self/exe".into())?;
    let tree = berth_sys::mount::open_tree_clone(&exe, false)
        .context(|| format!("clone the mount of {}", exe.display()))?;
    berth_sys::mount::mount_setattr(
        tree.as_fd(),
        false,
        berth_sys::mount::MOUNT_ATTR_RDONLY,
        None,
    )
    .context(|| "make the runtime binary read-only".into())?;
    nix::fcntl::openat(
        &tree,
        "",
        OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::from_bits_retain(libc::O_NOFOLLOW),
        Mode::empty(),
    )
    .or_else(|_| {
        // Some kernels refuse an empty path without AT_EMPTY_PATH: go through /proc.
        let p = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&tree));
        open(p.as_str(), OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
    })
    .context(|| "open the sealed runtime binary".into())
}

fn sealed_memfd() -> Result<OwnedFd> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let memfd = memfd_create(
        c"berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .context(|| "memfd_create".into())?;
    let mut src = std::fs::File::open("/proc/self/exe").context(|| "open /proc/self/exe".into())?;
    let mut dst = std::fs::File::from(memfd);
    std::io::copy(&mut src, &mut dst).context(|| "copy the runtime binary".into())?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    nix::fcntl::fcntl(
        &dst,
        nix::fcntl::FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::from_bits_truncate(seals)),
    )
    .context(|| "seal the runtime binary copy".into())?;
    Ok(OwnedFd::from(dst))
}

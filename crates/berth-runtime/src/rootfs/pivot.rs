//! Making the prepared root filesystem the process's root.

use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::{Context, Result};

/// pivot_root(2) with the old root stacked on the new one and then detached,
/// which needs no directory for the old root inside the container.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| "open /".into())?;
    let new = open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open {}", rootfs.display()))?;
    fchdir(&new).context(|| "fchdir to the new root".into())?;
    pivot_root(".", ".").context(|| format!("pivot_root {}", rootfs.display()))?;
    fchdir(&old).context(|| "fchdir to the old root".into())?;
    // Unmounting the old root must not propagate to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| "make the old root a slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).context(|| "detach the old root".into())?;
    chdir("/").context(|| "chdir /".into())
}

/// `--no-pivot`: move the root filesystem over / and chroot into it (for roots on
/// ramfs, where pivot_root is impossible; weaker: the old root stays underneath).
pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).context(|| format!("chdir {}", rootfs.display()))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .context(|| format!("move {} to /", rootfs.display()))?;
    chroot(".").context(|| "chroot".into())?;
    chdir("/").context(|| "chdir /".into())
}

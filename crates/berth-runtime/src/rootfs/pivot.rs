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
    hide_host_kernel_filesystems(rootfs)?;
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

/// Under chroot the host's own /proc and /sys stay in the container's mount
/// namespace, unmasked: the kernel would then let a process that makes a user
/// namespace mount a fresh, bare proc. Detach every proc and sysfs mount outside
/// the rootfs (in this namespace only), or cover it where it cannot be detached.
fn hide_host_kernel_filesystems(rootfs: &Path) -> Result<()> {
    let rootfs =
        std::fs::canonicalize(rootfs).context(|| format!("resolve {}", rootfs.display()))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .context(|| "read /proc/self/mountinfo".into())?;
    let mut targets: Vec<std::path::PathBuf> = info
        .lines()
        .filter_map(berth_sys::mount::parse_mountinfo_line)
        .filter(|m| matches!(m.fstype.as_str(), "proc" | "sysfs"))
        .map(|m| m.mount_point)
        .filter(|p| !p.starts_with(&rootfs))
        .collect();
    // Parents first: detaching one takes its submounts along.
    targets.sort_by_key(|p| p.components().count());
    targets.dedup();
    for t in targets {
        match umount2(&t, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Already gone with a parent.
            Err(nix::errno::Errno::ENOENT) => {}
            Err(nix::errno::Errno::EINVAL) if !t.exists() => {}
            Err(_) => mount(
                Some("tmpfs"),
                &t,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0k,mode=000"),
            )
            .context(|| format!("cover the host's {}", t.display()))?,
        }
    }
    Ok(())
}

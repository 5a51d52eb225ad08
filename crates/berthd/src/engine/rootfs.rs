//! A container's root filesystem: the image's unpacked layers as overlayfs
//! lower directories, with the container's own upper and work directories.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

pub struct Paths {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

pub fn paths(container_dir: &Path) -> Paths {
    Paths {
        upper: container_dir.join("fs/upper"),
        work: container_dir.join("fs/work"),
        merged: container_dir.join("fs/merged"),
    }
}

pub fn is_mounted(p: &Path) -> bool {
    let target = p.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&target))
}

/// Mount the overlay (layers lowest first) unless it already is.
pub fn mount(container_dir: &Path, layers: &[PathBuf]) -> std::io::Result<PathBuf> {
    let p = paths(container_dir);
    for d in [&p.upper, &p.work, &p.merged] {
        std::fs::create_dir_all(d)?;
    }
    if is_mounted(&p.merged) {
        return Ok(p.merged);
    }
    let lower = if layers.is_empty() {
        // An image without layers (FROM scratch + import of nothing).
        let empty = container_dir.join("fs/empty");
        std::fs::create_dir_all(&empty)?;
        empty.display().to_string()
    } else {
        layers
            .iter()
            .rev()
            .map(|l| l.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let opts = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        p.upper.display(),
        p.work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        &p.merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| std::io::Error::other(format!("mount overlay on {}: {e}", p.merged.display())))?;
    Ok(p.merged)
}

pub fn unmount(container_dir: &Path) {
    let p = paths(container_dir);
    while is_mounted(&p.merged) {
        if nix::mount::umount2(&p.merged, MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
}

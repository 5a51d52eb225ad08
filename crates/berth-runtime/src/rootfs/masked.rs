//! maskedPaths and readonlyPaths, and the read-only root.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};

use super::mounts::remount_bind;
use crate::{Context, Result};

/// Hide each path: a directory under an empty read-only tmpfs, a file under
/// /dev/null. Paths that do not exist need no hiding.
pub fn mask(paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).context(|| format!("mask {p}")),
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0k,mode=555"),
            )
            .context(|| format!("mask {p}"))?;
        } else {
            match mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ) {
                Ok(()) => {}
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e).context(|| format!("mask {p}")),
            }
        }
    }
    Ok(())
}

/// Make each path read-only with a recursive bind onto itself.
pub fn readonly(paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        match mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).context(|| format!("make {p} read-only")),
        }
        remount_bind(path, MsFlags::MS_RDONLY | MsFlags::MS_REC)?;
    }
    Ok(())
}

/// Remount the new root read-only.
pub fn readonly_root() -> Result<()> {
    remount_bind(Path::new("/"), MsFlags::MS_RDONLY)
}

//! A container's root filesystem: the image's unpacked layers as overlayfs
//! lower directories, with the container's own upper and work directories.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

pub struct Paths {
    /// Docker's "init layer": the mount points the runtime needs, so that
    /// creating them does not show up in `diff`, `commit` or `export`.
    pub init: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

pub fn paths(container_dir: &Path) -> Paths {
    Paths {
        init: container_dir.join("fs/init"),
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
///
/// `volatile`: overlayfs skips syncing the upper directory (on umount
/// above all); for containers removed at exit, whose upper directory never
/// needs to survive a host crash.
pub fn mount(container_dir: &Path, layers: &[PathBuf], volatile: bool) -> std::io::Result<PathBuf> {
    let p = paths(container_dir);
    for d in [&p.upper, &p.work, &p.merged] {
        std::fs::create_dir_all(d)?;
    }
    if is_mounted(&p.merged) {
        return Ok(p.merged);
    }
    make_init_layer(&p.init, layers)?;
    let lower = std::iter::once(&p.init)
        .chain(layers.iter().rev())
        .map(|l| l.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut opts = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        p.upper.display(),
        p.work.display()
    );
    if volatile {
        opts.push_str(",volatile");
    }
    let mount = |opts: &str| {
        nix::mount::mount(
            Some("overlay"),
            &p.merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts),
        )
    };
    let mut res = mount(&opts);
    if res == Err(nix::errno::Errno::EINVAL) && volatile {
        // Kernels before 5.10 do not know `volatile`.
        res = mount(opts.trim_end_matches(",volatile"));
    }
    res.map_err(|e| {
        std::io::Error::other(format!("mount overlay on {}: {e}", p.merged.display()))
    })?;
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

/// What the image shows at `rel` (layers lowest first): the top-most entry
/// wins, a whiteout hides what is below.
fn image_kind(layers: &[PathBuf], rel: &str) -> Option<std::fs::FileType> {
    let m = layers
        .iter()
        .rev()
        .find_map(|l| std::fs::symlink_metadata(l.join(rel)).ok())?;
    (!berth_image::diff::is_whiteout(&m)).then(|| m.file_type())
}

/// Mount points the runtime creates in every container (Docker's init layer):
/// made once per container, skipped where the image has something else
/// there (a symlinked /etc is followed by the runtime, not shadowed here).
fn make_init_layer(init: &Path, layers: &[PathBuf]) -> std::io::Result<()> {
    let done = init.with_extension("done");
    if done.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(init)?;
    for d in ["proc", "sys", "dev"] {
        match image_kind(layers, d) {
            None => std::fs::create_dir_all(init.join(d))?,
            Some(t) if t.is_dir() => {}
            Some(_) => continue,
        }
    }
    if image_kind(layers, "etc").is_none_or(|t| t.is_dir()) {
        std::fs::create_dir_all(init.join("etc"))?;
        // The merged /etc takes its owner and mode from the top-most layer.
        if let Some(m) = layers
            .iter()
            .rev()
            .find_map(|l| std::fs::metadata(l.join("etc")).ok())
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            std::fs::set_permissions(
                init.join("etc"),
                std::fs::Permissions::from_mode(m.mode() & 0o7777),
            )?;
            std::os::unix::fs::chown(init.join("etc"), Some(m.uid()), Some(m.gid()))?;
        }
        for f in ["hosts", "hostname", "resolv.conf"] {
            if image_kind(layers, &format!("etc/{f}")).is_none() {
                std::fs::File::create(init.join("etc").join(f))?;
            }
        }
    }
    std::fs::File::create(done)?;
    Ok(())
}

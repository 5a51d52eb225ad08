//! Building the container's filesystem view inside its new mount namespace.
//!
//! In order: [`prepare`] (propagation, the rootfs as a mount, every configured
//! mount, device nodes) runs before the createRuntime/createContainer hooks;
//! [`enter`] switches root; [`finish`] masks and write-protects paths.

pub mod devices;
pub mod masked;
pub mod mounts;
pub mod options;
pub mod pivot;

use std::path::Path;

use berth_cgroups::Cgroup;
use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Spec;

use crate::{Context, Result};

/// What rootfs setup needs to know.
pub struct Ctx<'a> {
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub spec: &'a Spec,
    pub cgroup: &'a Cgroup,
    /// The container has its own user namespace (no mknod; flags may be locked).
    pub in_userns: bool,
    pub cgroupns: bool,
    /// `/proc/<pid>/ns/user` of the container, for idmapped mounts.
    pub userns_path: Option<&'a Path>,
    /// Bind sources cloned by the runtime before the user namespace existed
    /// (see [`mounts::open_bind_sources`]), by mount index.
    pub bind_sources: &'a [(usize, std::os::fd::OwnedFd)],
}

fn linux(spec: &Spec) -> Option<&oci_spec::runtime::Linux> {
    spec.linux().as_ref()
}

/// Everything before the hooks and pivot_root.
pub fn prepare(ctx: &Ctx<'_>) -> Result<()> {
    let prop = linux(ctx.spec)
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(options::propagation)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // Nothing mounted from here on may propagate back to the host.
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .context(|| "set the propagation of /".into())?;
    make_parent_private(ctx.rootfs)?;
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("bind the root filesystem {}", ctx.rootfs.display()))?;
    let mut dev_is_bind = false;
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        if m.destination() == Path::new("/dev") {
            dev_is_bind = options::parse(m).is_ok_and(|p| p.bind);
        }
        mounts::mount_one(ctx, i, m)?;
    }
    if !dev_is_bind {
        let configured = linux(ctx.spec)
            .and_then(|l| l.devices().clone())
            .unwrap_or_default();
        devices::create(ctx.rootfs, &devices::plan(&configured)?, ctx.in_userns)?;
        devices::symlinks(ctx.rootfs)?;
    }
    Ok(())
}

/// pivot_root requires the parent mount of the new root not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let mut p = Some(rootfs);
    while let Some(dir) = p {
        match mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            // Not a mount point: try its parent.
            Err(nix::errno::Errno::EINVAL) => p = dir.parent(),
            Err(e) => return Err(e).context(|| format!("make {} private", dir.display())),
        }
    }
    Ok(())
}

/// Switch to the new root.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        pivot::move_root(rootfs)
    } else {
        pivot::pivot(rootfs)
    }
}

/// After the switch: masked and read-only paths, the read-only root, propagation.
pub fn finish(spec: &Spec) -> Result<()> {
    mounts::readonly_dev(spec.mounts().as_deref().unwrap_or(&[]))?;
    if let Some(l) = linux(spec) {
        masked::readonly(l.readonly_paths().as_deref().unwrap_or(&[]))?;
        masked::mask(l.masked_paths().as_deref().unwrap_or(&[]))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        masked::readonly_root()?;
    }
    if let Some(prop) = linux(spec)
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(options::propagation)
    {
        mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
            .context(|| "set the propagation of the new root".into())?;
    }
    Ok(())
}

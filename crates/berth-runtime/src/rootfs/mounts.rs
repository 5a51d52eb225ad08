//! Performing the mounts of config.json inside the new mount namespace.

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_cgroups::{Cgroup, Mode};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Mount;

use super::Ctx;
use super::options::{self, Parsed, REMOUNT_FLAGS};
use crate::paths::secure_join;
use crate::{Context, Error, Result};

fn mnt(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: &str,
) -> nix::Result<()> {
    let data = if data.is_empty() { None } else { Some(data) };
    mount(src, target, fstype, flags, data)
}

/// Create `path` as a directory (mount point of a filesystem or a directory bind).
pub(crate) fn ensure_dir(path: &Path) -> Result<()> {
    match std::fs::create_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) => Err(e).context(|| format!("create mount point {}", path.display())),
    }
}

/// Create `path` as an empty file (mount point of a file bind).
pub(crate) fn ensure_file(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(()),
        Err(_) => std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map(drop)
            .context(|| format!("create mount point {}", path.display())),
    }
}

/// The flags a remount must keep: in a user namespace the kernel refuses to clear
/// `nodev`/`nosuid`/`noexec`/atime flags "locked" by the mount's creator.
fn locked_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(s) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    let f = s.flags();
    let mut out = MsFlags::empty();
    for (st, ms) in [
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if f.contains(st) {
            out |= ms;
        }
    }
    out
}

/// Remount a bind mount with `flags`, retrying with the locked flags kept.
pub(crate) fn remount_bind(path: &Path, flags: MsFlags) -> Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mnt(None, path, None, base | flags, "") {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let keep = locked_flags(path) & !MsFlags::MS_RDONLY;
            mnt(None, path, None, base | flags | keep, "")
                .context(|| format!("remount {} with {:?}", path.display(), flags))
        }
        Err(e) => Err(e).context(|| format!("remount {} with {:?}", path.display(), flags)),
    }
}

/// Mount one entry of config.json.
pub(crate) fn mount_one(ctx: &Ctx<'_>, index: usize, m: &Mount) -> Result<()> {
    let field = || format!("mounts[{index}]");
    let p = options::parse(m).map_err(|e| Error::Config(format!("{}: {e}", field())))?;
    let dest = secure_join(ctx.rootfs, m.destination())
        .map_err(|e| Error::Config(format!("{}.destination: {e}", field())))?;
    let typ = m.typ().as_deref().unwrap_or("");
    if p.bind {
        return bind(ctx, index, m, &p, &dest);
    }
    match typ {
        "cgroup" | "cgroup2" => return cgroup_mount(ctx, &dest, &p),
        "proc" | "sysfs" => ordinary_directory(ctx.rootfs, m.destination(), typ)
            .map_err(|e| Error::Config(format!("{}: {e}", field())))?,
        _ => {}
    }
    ensure_dir(&dest)?;
    let source = m
        .source()
        .as_ref()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new(typ));
    let mut flags = p.flags & !MsFlags::MS_REMOUNT;
    if is_dev(m.destination()) {
        // Device nodes are made in /dev after the mounts: it is write-protected
        // at the end ([`readonly_dev`]).
        flags &= !MsFlags::MS_RDONLY;
    }
    let res = mnt(Some(source), &dest, Some(typ), flags, &p.data);
    match (res, typ) {
        (Ok(()), _) => {}
        // Without owning the network namespace (user namespaces) sysfs cannot be
        // mounted: give a read-only recursive bind of the host's instead.
        (Err(Errno::EPERM), "sysfs") => {
            mnt(
                Some(Path::new("/sys")),
                &dest,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                "",
            )
            .context(|| format!("bind /sys on {}", dest.display()))?;
            remount_bind(&dest, flags | MsFlags::MS_RDONLY)?;
        }
        (Err(Errno::EPERM), "mqueue") => {
            mnt(
                Some(Path::new("/dev/mqueue")),
                &dest,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                "",
            )
            .context(|| format!("bind /dev/mqueue on {}", dest.display()))?;
        }
        // An unmapped gid=5 in a user namespace: retry without it.
        (Err(Errno::EINVAL), "devpts") if p.data.contains("gid=") => {
            let data: Vec<&str> = p
                .data
                .split(',')
                .filter(|o| !o.starts_with("gid="))
                .collect();
            mnt(Some(source), &dest, Some(typ), flags, &data.join(","))
                .context(|| format!("mount devpts on {}", dest.display()))?;
        }
        (Err(e), _) => {
            return Err(Error::Config(format!(
                "{}: mount {} ({typ}) on {}: {}",
                field(),
                source.display(),
                m.destination().display(),
                e.desc()
            )));
        }
    }
    for prop in &p.propagation {
        mnt(None, &dest, None, *prop, "")
            .context(|| format!("set propagation of {}", dest.display()))?;
    }
    Ok(())
}

/// Whether a mount's destination is the container's /dev.
pub(crate) fn is_dev(dest: &Path) -> bool {
    let parts: Vec<_> = dest
        .components()
        .filter(|c| {
            !matches!(
                c,
                std::path::Component::RootDir | std::path::Component::CurDir
            )
        })
        .collect();
    parts.len() == 1 && parts[0].as_os_str() == "dev"
}

/// proc and sysfs go on a real directory of the rootfs, never through a
/// symlink (which could point anywhere) or onto a file.
fn ordinary_directory(rootfs: &Path, dest: &Path, typ: &str) -> std::result::Result<(), String> {
    let mut at = rootfs.to_path_buf();
    for c in dest.components() {
        match c {
            std::path::Component::Normal(n) => at.push(n),
            std::path::Component::ParentDir => {
                return Err(format!("{typ} destination {} has '..'", dest.display()));
            }
            _ => {}
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "error mounting {typ:?} to rootfs at {:?}: filesystem {typ:?} must be mounted on ordinary directory",
                    dest.display()
                ));
            }
            // Missing: it is created as a directory.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A read-only /dev tmpfs is remounted read-only once its devices exist.
pub(crate) fn readonly_dev(mounts: &[Mount]) -> Result<()> {
    for m in mounts {
        if !is_dev(m.destination()) {
            continue;
        }
        let Ok(p) = options::parse(m) else { continue };
        if !p.bind && p.flags.contains(MsFlags::MS_RDONLY) {
            remount_bind(Path::new("/dev"), p.flags & REMOUNT_FLAGS)?;
        }
    }
    Ok(())
}

/// A bind mount's source on the host (relative ones are in the bundle).
fn bind_source(m: &Mount, bundle: &Path) -> Option<PathBuf> {
    let src = m.source().as_ref()?;
    Some(if src.is_absolute() {
        src.clone()
    } else {
        bundle.join(src)
    })
}

/// Clone the source tree of every plain bind mount, in the runtime (the host's
/// root, in the host's mount namespace), for a user-namespaced container whose
/// mapped root may not be allowed to reach them (runc passes mount-source
/// descriptors for the same reason). A source that cannot be cloned is left to
/// the container, which reports it.
pub fn open_bind_sources(spec: &oci_spec::runtime::Spec, bundle: &Path) -> Vec<(usize, OwnedFd)> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Ok(p) = options::parse(m) else { continue };
        if !p.bind || p.idmap {
            continue;
        }
        let Some(src) = bind_source(m, bundle) else {
            continue;
        };
        if let Ok(fd) = berth_sys::mount::open_tree_clone(&src, p.recursive) {
            out.push((i, fd));
        }
    }
    out
}

fn bind(ctx: &Ctx<'_>, index: usize, m: &Mount, p: &Parsed, dest: &Path) -> Result<()> {
    let src = bind_source(m, ctx.bundle).ok_or_else(|| {
        Error::Config(format!(
            "mounts[{index}].source: a bind mount needs a source"
        ))
    })?;
    let cloned = ctx
        .bind_sources
        .iter()
        .find(|(i, _)| *i == index)
        .map(|(_, fd)| fd);
    let is_dir = match cloned {
        Some(fd) => nix::sys::stat::fstat(fd)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .context(|| format!("stat {}", src.display()))?,
        None => std::fs::metadata(&src)
            .map_err(|e| {
                Error::Config(format!(
                    "mounts[{index}].source: {}: {}",
                    src.display(),
                    e.kind().to_string().to_lowercase().replace('_', " ")
                ))
            })?
            .is_dir(),
    };
    if is_dir {
        ensure_dir(dest)?;
    } else {
        ensure_file(dest)?;
    }
    let mut flags = MsFlags::MS_BIND;
    if p.recursive {
        flags |= MsFlags::MS_REC;
    }
    if let Some(fd) = cloned {
        use std::os::fd::AsFd;
        berth_sys::mount::move_mount_to(fd.as_fd(), dest).map_err(|e| {
            Error::Config(format!(
                "mounts[{index}]: bind {} on {}: {e}",
                src.display(),
                m.destination().display(),
            ))
        })?;
    } else if p.idmap {
        idmapped(ctx, &src, dest, p.recursive)?;
    } else {
        mnt(Some(&src), dest, None, flags, "").map_err(|e| {
            Error::Config(format!(
                "mounts[{index}]: bind {} on {}: {}",
                src.display(),
                m.destination().display(),
                e.desc()
            ))
        })?;
    }
    let remount = p.flags & REMOUNT_FLAGS;
    if !remount.is_empty() {
        remount_bind(dest, remount)?;
    }
    if p.recursive_attr != 0 {
        let fd = nix::fcntl::open(
            dest,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context(|| format!("open {}", dest.display()))?;
        berth_sys::mount::mount_setattr(
            std::os::fd::AsFd::as_fd(&fd),
            true,
            p.recursive_attr,
            None,
        )
        .context(|| format!("make {} recursively read-only", dest.display()))?;
    }
    for prop in &p.propagation {
        mnt(None, dest, None, *prop, "")
            .context(|| format!("set propagation of {}", dest.display()))?;
    }
    Ok(())
}

/// An idmapped bind: clone the tree, attach the container's user namespace to it.
fn idmapped(ctx: &Ctx<'_>, src: &Path, dest: &Path, recursive: bool) -> Result<()> {
    use std::os::fd::AsFd;
    let userns = ctx
        .userns_path
        .ok_or_else(|| Error::Config("idmap mounts need a user namespace".into()))?;
    let ns = std::fs::File::open(userns).context(|| format!("open {}", userns.display()))?;
    let tree = berth_sys::mount::open_tree_clone(src, recursive)
        .context(|| format!("open_tree {}", src.display()))?;
    berth_sys::mount::mount_setattr(
        tree.as_fd(),
        recursive,
        berth_sys::mount::MOUNT_ATTR_IDMAP,
        Some(ns.as_fd()),
    )
    .context(|| format!("idmap {}", src.display()))?;
    berth_sys::mount::move_mount_to(tree.as_fd(), dest)
        .context(|| format!("attach {}", dest.display()))
}

/// `type: cgroup`: the container's own cgroups at /sys/fs/cgroup, read-only unless
/// asked otherwise. Inside a cgroup namespace the kernel shows the container's
/// cgroup as the root; without one, the container's directories are bind-mounted.
fn cgroup_mount(ctx: &Ctx<'_>, dest: &Path, p: &Parsed) -> Result<()> {
    let cg: &Cgroup = ctx.cgroup;
    let flags = (p.flags & !MsFlags::MS_REMOUNT)
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    ensure_dir(dest)?;
    if cg.mode == Mode::Unified {
        return cgroup2_at(ctx, cg, dest, flags);
    }
    mnt(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        flags & !MsFlags::MS_RDONLY,
        "mode=755",
    )
    .context(|| format!("mount tmpfs on {}", dest.display()))?;
    // One directory per v1 hierarchy, named after its controllers.
    let mut done: Vec<&Path> = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for (ctrl, dir) in &cg.v1 {
        if done.contains(&dir.as_path()) {
            continue;
        }
        done.push(dir);
        let ctrls: Vec<&str> = cg
            .v1
            .iter()
            .filter(|(_, d)| *d == dir)
            .map(|(c, _)| c.as_str())
            .collect();
        let name = ctrls
            .iter()
            .map(|c| c.strip_prefix("name=").unwrap_or(c))
            .collect::<Vec<_>>()
            .join(",");
        let target = dest.join(&name);
        ensure_dir(&target)?;
        if ctx.cgroupns {
            let opts = ctrls.join(",");
            mnt(
                Some(Path::new("cgroup")),
                &target,
                Some("cgroup"),
                flags,
                &opts,
            )
            .context(|| format!("mount cgroup {opts} on {}", target.display()))?;
        } else {
            mnt(
                Some(dir),
                &target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                "",
            )
            .context(|| format!("bind {} on {}", dir.display(), target.display()))?;
            remount_bind(&target, flags & REMOUNT_FLAGS)?;
        }
        if ctrls.len() > 1 {
            for c in &ctrls {
                links.push((c.to_string(), name.clone()));
            }
        }
        let _ = ctrl;
    }
    for (link, target) in links {
        let _ = std::os::unix::fs::symlink(&target, dest.join(link));
    }
    if cg.v2.is_some() {
        let unified = dest.join("unified");
        ensure_dir(&unified)?;
        cgroup2_at(ctx, cg, &unified, flags)?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(dest, flags & REMOUNT_FLAGS)?;
    }
    Ok(())
}

fn cgroup2_at(ctx: &Ctx<'_>, cg: &Cgroup, dest: &Path, flags: MsFlags) -> Result<()> {
    if ctx.cgroupns {
        return mnt(Some(Path::new("cgroup2")), dest, Some("cgroup2"), flags, "")
            .context(|| format!("mount cgroup2 on {}", dest.display()));
    }
    let dir = cg.v2.as_ref().expect("v2 directory");
    mnt(
        Some(dir),
        dest,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        "",
    )
    .context(|| format!("bind {} on {}", dir.display(), dest.display()))?;
    remount_bind(dest, flags & REMOUNT_FLAGS)
}

/// Set a directory's permission bits (mkdir is subject to the umask).
pub(crate) fn chmod(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .context(|| format!("chmod {}", path.display()))
}

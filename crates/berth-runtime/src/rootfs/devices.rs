//! Device nodes and the standard /dev symlinks.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::mounts::ensure_file;
use crate::paths::secure_join;
use crate::{Context, Error, Result};

/// A device node to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

fn node(path: &str, major: u64, minor: u64) -> Node {
    Node {
        path: PathBuf::from(path),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    }
}

/// The devices every container gets, then the configured ones (which win on the
/// same path).
pub fn plan(configured: &[LinuxDevice]) -> Result<Vec<Node>> {
    let mut nodes = vec![
        node("/dev/null", 1, 3),
        node("/dev/zero", 1, 5),
        node("/dev/full", 1, 7),
        node("/dev/random", 1, 8),
        node("/dev/urandom", 1, 9),
        node("/dev/tty", 5, 0),
    ];
    for (i, d) in configured.iter().enumerate() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Config(format!(
                    "linux.devices[{i}].type: \"a\" is not a device type (c, b, u or p)"
                )));
            }
        };
        let n = Node {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        nodes.retain(|x| x.path != n.path);
        nodes.push(n);
    }
    Ok(nodes)
}

/// Create the nodes below `rootfs`. In a user namespace mknod is not allowed: the
/// host's device of the same path is bind-mounted instead (as runc does).
pub fn create(rootfs: &Path, nodes: &[Node], bind_only: bool) -> Result<()> {
    for n in nodes {
        let dest = secure_join(rootfs, &n.path)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).context(|| format!("mkdir {}", parent.display()))?;
        }
        if bind_only || !make(&dest, n)? {
            ensure_file(&dest)?;
            nix::mount::mount(
                Some(&n.path),
                &dest,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .context(|| format!("bind device {} into the container", n.path.display()))?;
        }
    }
    Ok(())
}

/// mknod; `false` when not permitted (the caller falls back to a bind mount).
fn make(dest: &Path, n: &Node) -> Result<bool> {
    match std::fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(|| format!("remove {}", dest.display())),
    }
    match mknod(
        dest,
        n.kind,
        Mode::from_bits_truncate(n.mode),
        makedev(n.major, n.minor),
    ) {
        Ok(()) => {}
        Err(Errno::EPERM) => return Ok(false),
        Err(e) => return Err(e).context(|| format!("mknod {}", n.path.display())),
    }
    // mknod is subject to the umask: set the exact mode, then the owner.
    super::mounts::chmod(dest, n.mode)?;
    nix::unistd::chown(
        dest,
        Some(nix::unistd::Uid::from_raw(n.uid)),
        Some(nix::unistd::Gid::from_raw(n.gid)),
    )
    .context(|| format!("chown {}", n.path.display()))?;
    Ok(true)
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx → pts/ptmx.
pub fn symlinks(rootfs: &Path) -> Result<()> {
    let dev = rootfs.join("dev");
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match std::os::unix::fs::symlink(target, dev.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).context(|| format!("symlink /dev/{name}")),
        }
    }
    let ptmx = dev.join("ptmx");
    let _ = std::fs::remove_file(&ptmx);
    std::os::unix::fs::symlink("pts/ptmx", &ptmx).context(|| "symlink /dev/ptmx".into())
}

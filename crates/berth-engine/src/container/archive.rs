//! A container's files from the host: `docker cp` (archive GET/HEAD/PUT),
//! `docker export` and `docker diff`.
//!
//! Paths are resolved with `openat2(RESOLVE_IN_ROOT)` against the
//! container's root — `/proc/<pid>/root` while it runs (its mounts
//! included), its overlay otherwise — so a symlink inside the container can
//! never lead to a host file.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_api::container::{PathStat, file_mode};
use bytes::Bytes;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use tokio::sync::mpsc;

use crate::model::Container;
use crate::util::blocking;
use crate::{Engine, Error, Result};

/// A container's root for the duration of one operation; an overlay mounted
/// only for it is unmounted on drop.
pub struct FsRoot {
    fd: OwnedFd,
    unmount: Option<(berth_image::Snapshotter, String)>,
}

impl Drop for FsRoot {
    fn drop(&mut self) {
        if let Some((s, key)) = self.unmount.take() {
            s.unmount(&key);
        }
    }
}

/// A `Write` that hands chunks to an async body.
pub struct ChannelWriter(pub mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn open_in_root(root: &OwnedFd, rel: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = if rel.trim_matches('/').is_empty() {
        "."
    } else {
        rel
    };
    nix::fcntl::openat2(
        root,
        rel,
        OpenHow::new()
            .flags(flags | OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS),
    )
}

/// Go's `os.FileMode` bits, which `docker cp` reads from the stat header.
fn go_mode(m: &std::fs::Metadata) -> u32 {
    let ft = m.file_type();
    let mut mode = m.mode() & 0o777;
    if ft.is_dir() {
        mode |= file_mode::DIR;
    }
    if ft.is_symlink() {
        mode |= file_mode::SYMLINK;
    }
    if ft.is_block_device() {
        mode |= file_mode::DEVICE;
    }
    if ft.is_char_device() {
        mode |= file_mode::DEVICE | file_mode::CHAR_DEVICE;
    }
    if ft.is_fifo() {
        mode |= file_mode::NAMED_PIPE;
    }
    if ft.is_socket() {
        mode |= file_mode::SOCKET;
    }
    if m.mode() & 0o4000 != 0 {
        mode |= file_mode::SETUID;
    }
    if m.mode() & 0o2000 != 0 {
        mode |= file_mode::SETGID;
    }
    if m.mode() & 0o1000 != 0 {
        mode |= file_mode::STICKY;
    }
    mode
}

/// `path` split into its parent (to open) and last component (to name the
/// tar entries): `/a/b` → (`/a`, `b`); `/a/.` and `/` keep `.`.
fn split(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return ("/".into(), ".".into());
    }
    match trimmed.rsplit_once('/') {
        Some((p, b)) => (if p.is_empty() { "/" } else { p }.into(), b.into()),
        None => (".".into(), trimmed.into()),
    }
}

pub struct Located {
    pub _root: FsRoot,
    pub parent: OwnedFd,
    pub base: String,
    pub meta: std::fs::Metadata,
}

impl Located {
    pub fn host_path(&self) -> PathBuf {
        fd_path(&self.parent).join(&self.base)
    }

    /// The `X-Docker-Container-Path-Stat` value (before base64).
    pub fn stat(&self, path: &str) -> PathStat {
        let link = if self.meta.file_type().is_symlink() {
            std::fs::read_link(self.host_path())
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let name = if self.base == "." {
            split(path.trim_end_matches("/."))
                .1
                .trim_start_matches('/')
                .to_string()
        } else {
            self.base.clone()
        };
        PathStat {
            name: if name.is_empty() || name == "." {
                "/".to_string()
            } else {
                name
            },
            size: self.meta.len() as i64,
            mode: go_mode(&self.meta),
            mtime: chrono::DateTime::from_timestamp(
                self.meta.mtime(),
                self.meta.mtime_nsec() as u32,
            )
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            link_target: link,
        }
    }
}

fn not_found(path: &str, c: &Container) -> Error {
    Error::not_found(format!(
        "Could not find the file {path} in container {}",
        c.bare_name()
    ))
}

impl Engine {
    /// The container's root: its process's view while it runs, else its
    /// overlay (mounted for the time of the operation).
    fn fs_root(&self, c: &Container) -> Result<FsRoot> {
        if c.running() && c.state.pid > 0 {
            let p = format!("/proc/{}/root", c.state.pid);
            if let Ok(fd) = nix::fcntl::open(
                p.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            ) {
                return Ok(FsRoot { fd, unmount: None });
            }
        }
        let (merged, unmount) = self.mount_rootfs(c)?;
        let fd = nix::fcntl::open(
            &merged,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        );
        let guard = FsRoot {
            fd: match fd {
                Ok(fd) => fd,
                Err(e) => {
                    if let Some((s, key)) = unmount {
                        s.unmount(&key);
                    }
                    return Err(Error::system(format!("open rootfs: {e}")));
                }
            },
            unmount,
        };
        Ok(guard)
    }

    /// The container's overlay, mounted unless it already is: (merged
    /// directory, the container directory to unmount afterwards if we
    /// mounted it).
    #[allow(clippy::type_complexity)]
    fn mount_rootfs(
        &self,
        c: &Container,
    ) -> Result<(PathBuf, Option<(berth_image::Snapshotter, String)>)> {
        let was_mounted = self.snapshots.is_mounted(&c.id);
        if !self.snapshots.exists(&c.id) {
            let img = self.images.resolve(&c.image)?;
            let layers = self.images.layer_dirs(&img)?;
            self.snapshots
                .prepare_mapped(&c.id, &layers, c.id_map.as_ref())?;
        }
        let merged = self.snapshots.mount(&c.id, false)?;
        Ok((
            merged,
            (!was_mounted).then(|| (self.snapshots.clone(), c.id.clone())),
        ))
    }

    /// Find `path` inside the container (not following a final symlink).
    fn locate(&self, c: &Container, path: &str) -> Result<Located> {
        let root = self.fs_root(c)?;
        let (parent, base) = split(path);
        let pfd =
            open_in_root(&root.fd, &parent, OFlag::O_DIRECTORY).map_err(|_| not_found(path, c))?;
        let meta =
            std::fs::symlink_metadata(fd_path(&pfd).join(&base)).map_err(|_| not_found(path, c))?;
        if path.ends_with('/') && !meta.is_dir() && !meta.file_type().is_symlink() {
            return Err(Error::invalid(format!("not a directory: {path}")));
        }
        Ok(Located {
            _root: root,
            parent: pfd,
            base,
            meta,
        })
    }

    /// `HEAD /containers/{id}/archive`: the stat of `path`.
    pub async fn container_stat_path(
        self: &std::sync::Arc<Self>,
        r: &str,
        path: &str,
    ) -> Result<PathStat> {
        let c = self.containers.get(r)?;
        let lock = self.containers.op_lock(&c.id)?;
        let _g = lock.lock().await;
        let this = self.clone();
        let path = path.to_string();
        blocking(move || Ok(this.locate(&c, &path)?.stat(&path))).await
    }

    /// `GET /containers/{id}/archive`: the stat, and a tar of `path` whose
    /// entries are named after its last component, streamed into `tx`.
    pub async fn container_get_archive(
        self: &std::sync::Arc<Self>,
        r: &str,
        path: &str,
        tx: mpsc::Sender<Bytes>,
    ) -> Result<PathStat> {
        let c = self.containers.get(r)?;
        let lock = self.containers.op_lock(&c.id)?.lock_owned().await;
        let this = self.clone();
        let path = path.to_string();
        let loc = {
            let (c, path) = (c.clone(), path.clone());
            blocking(move || this.locate(&c, &path)).await?
        };
        let stat = loc.stat(&path);
        self.emit_container(&c, "archive-path", &[]);
        tokio::task::spawn_blocking(move || {
            let _lock = lock;
            let mut b = tar::Builder::new(ChannelWriter(tx));
            let res = berth_image::diff::tree_to_tar(
                &mut b,
                &loc.host_path(),
                &loc.base,
                c.id_map.as_ref(),
            )
            .map_err(|e| e.to_string())
            .and_then(|_| b.finish().map_err(|e| e.to_string()));
            if let Err(e) = res {
                tracing::warn!("archive of {path}: {e}");
            }
            drop(loc);
        });
        Ok(stat)
    }

    /// `PUT /containers/{id}/archive`: unpack a tar into the directory
    /// `path`, owned by the container's root (or by its user with
    /// `copyUIDGID`).
    pub async fn container_put_archive(
        self: &std::sync::Arc<Self>,
        r: &str,
        path: &str,
        body: Bytes,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> Result<()> {
        let c = self.containers.get(r)?;
        let lock = self.containers.op_lock(&c.id)?;
        let _g = lock.lock().await;
        if c.host_config.readonly_rootfs {
            return Err(Error::forbidden("container rootfs is marked read-only"));
        }
        let this = self.clone();
        let path = path.to_string();
        let c2 = c.clone();
        blocking(move || {
            let root = this.fs_root(&c2)?;
            open_in_root(&root.fd, &path, OFlag::O_DIRECTORY).map_err(|e| {
                if e == nix::errno::Errno::ENOTDIR {
                    Error::invalid("extraction point is not a directory")
                } else {
                    not_found(&path, &c2)
                }
            })?;
            unpack(
                &root.fd,
                &path,
                &body[..],
                no_overwrite_dir_non_dir,
                copy_uid_gid,
                c2.id_map.as_ref(),
            )
        })
        .await?;
        self.emit_container(&c, "extract-to-dir", &[]);
        Ok(())
    }

    /// `GET /containers/{id}/export`: the whole root filesystem as a tar.
    pub async fn container_export(
        self: &std::sync::Arc<Self>,
        r: &str,
        tx: mpsc::Sender<Bytes>,
    ) -> Result<()> {
        let c = self.containers.get(r)?;
        let lock = self.containers.op_lock(&c.id)?.lock_owned().await;
        let (merged, unmount) = self.mount_rootfs(&c)?;
        self.emit_container(&c, "export", &[]);
        tokio::task::spawn_blocking(move || {
            let _lock = lock;
            let mut b = tar::Builder::new(ChannelWriter(tx));
            let res = berth_image::diff::tree_to_tar(&mut b, &merged, "", c.id_map.as_ref())
                .map_err(|e| e.to_string())
                .and_then(|_| b.finish().map_err(|e| e.to_string()));
            if let Err(e) = res {
                tracing::warn!("export: {e}");
            }
            drop(b);
            if let Some((s, key)) = unmount {
                s.unmount(&key);
            }
        });
        Ok(())
    }

    /// `GET /containers/{id}/changes`.
    pub async fn container_changes(
        &self,
        r: &str,
    ) -> Result<Vec<berth_api::container::FilesystemChange>> {
        let c = self.containers.get(r)?;
        let snaps = self.snapshots.clone();
        blocking(move || {
            if !snaps.exists(&c.id) {
                return Ok(Vec::new());
            }
            Ok(snaps.changes(&c.id)?.into_iter().map(Into::into).collect())
        })
        .await
    }
}

/// Unpack `tar` into the directory `dest` inside `root`: every entry's
/// parent is resolved again inside the root, an existing non-directory at
/// the target is replaced (never written through), hard links must point
/// inside the root.
fn unpack(
    root: &OwnedFd,
    dest: &str,
    tar: &[u8],
    no_overwrite_dir_non_dir: bool,
    keep_owners: bool,
    map: Option<&berth_image::idmap::IdMap>,
) -> Result<()> {
    let bad = |m: String| Error::invalid(m);
    let mut a = tar::Archive::new(tar);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_unpack_xattrs(false);
    // Owners are set below: the archive's (copyUIDGID) or root, either as
    // a remapped container's ids stand on the host.
    a.set_preserve_ownerships(false);
    for entry in a.entries().map_err(|e| bad(format!("invalid tar: {e}")))? {
        let mut entry = entry.map_err(|e| bad(format!("invalid tar: {e}")))?;
        let rel = entry
            .path()
            .map_err(|e| bad(format!("invalid tar entry: {e}")))?
            .into_owned();
        let mut parts = Vec::new();
        for comp in rel.components() {
            match comp {
                std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                std::path::Component::CurDir => {}
                _ => return Err(bad(format!("invalid tar entry path: {}", rel.display()))),
            }
        }
        let Some(name) = parts.pop() else { continue };
        let parent_rel = format!("{}/{}", dest.trim_end_matches('/'), parts.join("/"));
        let pfd = open_in_root(root, &parent_rel, OFlag::O_DIRECTORY)
            .map_err(|e| Error::system(format!("{parent_rel}: {e}")))?;
        let target = fd_path(&pfd).join(&name);
        let is_dir_entry = entry.header().entry_type().is_dir();
        if let Ok(m) = std::fs::symlink_metadata(&target) {
            if m.is_dir() && !is_dir_entry {
                if no_overwrite_dir_non_dir {
                    return Err(bad(format!(
                        "cannot overwrite directory \"{}\" with non-directory",
                        Path::new(&parent_rel).join(&name).display()
                    )));
                }
                std::fs::remove_dir_all(&target)?;
            } else if !m.is_dir() {
                if is_dir_entry && no_overwrite_dir_non_dir {
                    return Err(bad(format!(
                        "cannot overwrite non-directory \"{}\" with directory",
                        Path::new(&parent_rel).join(&name).display()
                    )));
                }
                std::fs::remove_file(&target)?;
            }
        }
        if entry.header().entry_type().is_hard_link() {
            let link = entry
                .link_name()
                .ok()
                .flatten()
                .ok_or_else(|| bad("hard link without a target".into()))?
                .into_owned();
            let (lp, lb) = split(&format!(
                "{}/{}",
                dest.trim_end_matches('/'),
                link.display()
            ));
            let lfd = open_in_root(root, &lp, OFlag::O_DIRECTORY)
                .map_err(|e| Error::system(format!("{}: {e}", link.display())))?;
            std::fs::hard_link(fd_path(&lfd).join(lb), &target)?;
            continue;
        }
        // Docker: files copied in belong to the container's root, unless
        // copyUIDGID keeps the archive's owners.
        let (uid, gid) = if keep_owners {
            let h = entry.header();
            (
                h.uid().unwrap_or(0).try_into().unwrap_or(0),
                h.gid().unwrap_or(0).try_into().unwrap_or(0),
            )
        } else {
            (0, 0)
        };
        let (uid, gid) = map.map_or((uid, gid), |m| m.to_host(uid, gid));
        let mode = entry.header().mode().unwrap_or(0);
        let is_symlink = entry.header().entry_type().is_symlink();
        entry
            .unpack(&target)
            .map_err(|e| Error::system(format!("{}: {e}", rel.display())))?;
        std::os::unix::fs::lchown(&target, Some(uid), Some(gid))?;
        if mode & 0o6000 != 0 && !is_symlink {
            // chown cleared the set-id bits
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
    }
    Ok(())
}

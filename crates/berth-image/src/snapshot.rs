//! Snapshots: a writable filesystem over an image's unpacked layers
//! (overlayfs), one per container or build step. The one place that
//! mounts layers; start, cp, commit, export and the builder all go
//! through it.
//!
//! `<root>/<key>/`:
//! - `lowers`: the layer directories, lowest first (one per line);
//! - `init/`: Docker's "init layer" — the mount points the runtime needs
//!   (/proc, /sys, /dev, /etc/hosts…), the top-most lower, so creating
//!   them never shows in `diff`, `commit` or `export`;
//! - `upper/`, `work/`: overlayfs' own; `merged/`: the mount point;
//! - `idmap` (remapped snapshots, `--userns-remap`): the container's id
//!   maps. Its layers are then mounted idmapped — a file of uid 0 in a
//!   layer shows as the remapped root's — while the upper directory holds
//!   host ids (what the container's processes write as); `idmapped/` is
//!   where the layers' idmapped view is attached for the moment of the
//!   overlay mount (the overlay keeps its own private copy of it). Where
//!   idmapped mounts are refused (a file system or kernel without them,
//!   or turned off), each layer gets a chowned copy per remap root instead,
//!   beside its `diff/` (`remap-<uid>.<gid>/`, made once, removed with the
//!   layer), and the snapshot a copy of its init layer (`init-<uid>.<gid>/`).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::mount::{MntFlags, MsFlags};

use crate::diff::{Change, is_whiteout};
use crate::error::{Error, IoContext, Result};
use crate::idmap::IdMap;

#[derive(Debug, Clone)]
pub struct Snapshotter {
    root: PathBuf,
    /// One user namespace per id map, for idmapped layer mounts.
    userns: Arc<Mutex<HashMap<IdMap, Arc<OwnedFd>>>>,
    /// Idmapped layer mounts may be tried (else chowned copies are used).
    idmapped: Arc<AtomicBool>,
    /// One chowned copy made at a time (two starts may want the same).
    copying: Arc<Mutex<()>>,
}

/// The directories of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub dir: PathBuf,
    pub init: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

/// Whether `p` is a mount point (per /proc/self/mountinfo).
pub fn is_mounted(p: &Path) -> bool {
    let target = p.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&target))
}

/// Detach every mount stacked on `p`.
pub fn unmount_all(p: &Path) -> nix::Result<()> {
    while is_mounted(p) {
        nix::mount::umount2(p, MntFlags::MNT_DETACH)?;
    }
    Ok(())
}

impl Snapshotter {
    /// The layer directories every snapshot stands on (what layer
    /// collection must keep).
    pub fn lowers_in_use(&self) -> Vec<PathBuf> {
        self.keys()
            .iter()
            .flat_map(|k| self.lowers(k).unwrap_or_default())
            .collect()
    }

    pub fn open(root: &Path) -> Result<Snapshotter> {
        fs::create_dir_all(root).ctx(|| format!("create {}", root.display()))?;
        Ok(Snapshotter {
            root: root.to_path_buf(),
            userns: Default::default(),
            idmapped: Arc::new(AtomicBool::new(true)),
            copying: Default::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn paths(&self, key: &str) -> Paths {
        let dir = self.root.join(key);
        Paths {
            init: dir.join("init"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            dir,
        }
    }

    pub fn exists(&self, key: &str) -> bool {
        self.root.join(key).join("lowers").exists()
    }

    /// Make a snapshot over `layers` (lowest first). Idempotent: an
    /// existing snapshot keeps its contents.
    pub fn prepare(&self, key: &str, layers: &[PathBuf]) -> Result<Paths> {
        self.prepare_mapped(key, layers, None)
    }

    /// [`prepare`](Self::prepare) for a container whose ids are remapped
    /// (`map`): its root directory belongs to the remapped root, and it is
    /// mounted with idmapped layers. A snapshot keeps the map it was made
    /// with.
    pub fn prepare_mapped(
        &self,
        key: &str,
        layers: &[PathBuf],
        map: Option<&IdMap>,
    ) -> Result<Paths> {
        let p = self.paths(key);
        for d in [&p.upper, &p.work, &p.merged] {
            fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        make_init_layer(&p.init, layers)?;
        let idmap = p.dir.join("idmap");
        if let Some(m) = map
            && !idmap.exists()
        {
            let (uid, gid) = m.root();
            std::os::unix::fs::lchown(&p.upper, Some(uid), Some(gid))
                .ctx(|| format!("chown {}", p.upper.display()))?;
            let tmp = p.dir.join(".idmap.tmp");
            fs::write(&tmp, serde_json::to_vec(m).expect("an id map serializes"))
                .ctx(|| format!("write {}", tmp.display()))?;
            fs::rename(&tmp, &idmap).ctx(|| format!("rename {}", idmap.display()))?;
        }
        let lowers = p.dir.join("lowers");
        if !lowers.exists() {
            let text: String = layers
                .iter()
                .map(|l| format!("{}\n", l.display()))
                .collect();
            let tmp = p.dir.join(".lowers.tmp");
            fs::write(&tmp, text).ctx(|| format!("write {}", tmp.display()))?;
            fs::rename(&tmp, &lowers).ctx(|| format!("rename {}", lowers.display()))?;
        }
        Ok(p)
    }

    /// The id map a snapshot was made with (None: not remapped).
    pub fn idmap(&self, key: &str) -> Result<Option<IdMap>> {
        let f = self.root.join(key).join("idmap");
        match fs::read(&f) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Io(format!("read {}", f.display()), std::io::Error::other(e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io(format!("read {}", f.display()), e)),
        }
    }

    /// The user namespace of `map` (made once, kept for the daemon's life).
    pub fn userns(&self, map: &IdMap) -> Result<Arc<OwnedFd>> {
        let mut g = self.userns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fd) = g.get(map) {
            return Ok(fd.clone());
        }
        let fd = Arc::new(
            berth_sys::userns::with_maps(&map.uid_map_text(), &map.gid_map_text())
                .ctx(|| "make a user namespace for the id map".to_string())?,
        );
        g.insert(map.clone(), fd.clone());
        Ok(fd)
    }

    /// Whether remapped snapshots may use idmapped layer mounts (on by
    /// default; off: chowned copies, as where the kernel refuses them).
    pub fn set_idmapped_mounts(&self, on: bool) {
        self.idmapped.store(on, Ordering::Relaxed);
    }

    /// The lowers of a remapped snapshot as its container must see them:
    /// idmapped where the kernel allows, chowned copies otherwise.
    fn remapped_lowers(
        &self,
        p: &Paths,
        lowers: &[PathBuf],
        map: &IdMap,
    ) -> Result<(Vec<PathBuf>, bool)> {
        let staging = p.dir.join("idmapped");
        if self.idmapped.load(Ordering::Relaxed) {
            match self.idmapped_lowers(lowers, map, &staging) {
                Ok(l) => return Ok((l, true)),
                Err(Error::Io(what, e))
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOSYS | libc::EPERM)
                    ) =>
                {
                    let _ = unmount_all(&staging);
                    tracing::warn!(
                        "{what}: {e}; remapped containers get chowned copies of their layers"
                    );
                    self.idmapped.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    let _ = unmount_all(&staging);
                    return Err(e);
                }
            }
        }
        let copies = lowers
            .iter()
            .map(|l| {
                let to = if l == &p.init {
                    p.dir.join(format!("init-{}", map.name()))
                } else {
                    l.with_file_name(format!("remap-{}", map.name()))
                };
                self.chowned_copy(l, &to, map).map(|()| to)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((copies, false))
    }

    /// `to`: a copy of `from` with its owners as the remapped container's
    /// ids stand on the host (made once; a crash's half copy is redone).
    fn chowned_copy(&self, from: &Path, to: &Path, map: &IdMap) -> Result<()> {
        if to.exists() {
            return Ok(());
        }
        let _one = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        if to.exists() {
            return Ok(());
        }
        let name = to.file_name().unwrap_or_default().to_string_lossy();
        let tmp = to.with_file_name(format!(".tmp-{name}"));
        let io = |e: std::io::Error| Error::Io(format!("chowned copy of {}", from.display()), e);
        match fs::remove_dir_all(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        fs::create_dir(&tmp).map_err(io)?;
        let made =
            crate::treecopy::copy_tree(from, &tmp, Some(map)).and_then(|_| fs::rename(&tmp, to));
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io(e));
        }
        Ok(())
    }

    /// Attach an idmapped view of the directory holding all of `lowers` at
    /// `at`; returns the lowers as seen through it.
    fn idmapped_lowers(&self, lowers: &[PathBuf], map: &IdMap, at: &Path) -> Result<Vec<PathBuf>> {
        let mut base = lowers.first().cloned().unwrap_or_default();
        while !lowers.iter().all(|l| l.starts_with(&base)) {
            if !base.pop() {
                break;
            }
        }
        let ns = self.userns(map)?;
        let idmap =
            |e: std::io::Error| Error::Io(format!("idmapped mount of {}", base.display()), e);
        let tree = berth_sys::mount::open_tree_clone(&base, false).map_err(idmap)?;
        berth_sys::mount::mount_setattr(
            tree.as_fd(),
            false,
            berth_sys::mount::MOUNT_ATTR_IDMAP,
            Some(ns.as_fd()),
        )
        .map_err(idmap)?;
        fs::create_dir_all(at).ctx(|| format!("create {}", at.display()))?;
        berth_sys::mount::move_mount_to(tree.as_fd(), at).map_err(idmap)?;
        Ok(lowers
            .iter()
            .map(|l| at.join(l.strip_prefix(&base).expect("under the base")))
            .collect())
    }

    /// The layer directories of a prepared snapshot, lowest first.
    pub fn lowers(&self, key: &str) -> Result<Vec<PathBuf>> {
        let f = self.root.join(key).join("lowers");
        let text =
            fs::read_to_string(&f).map_err(|_| Error::NotFound(format!("snapshot {key}")))?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect())
    }

    pub fn is_mounted(&self, key: &str) -> bool {
        is_mounted(&self.paths(key).merged)
    }

    /// Mount the snapshot (unless it is) and return the merged directory.
    ///
    /// `volatile`: overlayfs skips syncing the upper directory (at umount
    /// above all) — for containers removed at exit.
    pub fn mount(&self, key: &str, volatile: bool) -> Result<PathBuf> {
        let p = self.paths(key);
        if is_mounted(&p.merged) {
            return Ok(p.merged);
        }
        let layers = self.lowers(key)?;
        let plain: Vec<PathBuf> = std::iter::once(p.init.clone())
            .chain(layers.iter().rev().cloned())
            .collect();
        let map = self.idmap(key)?;
        let staging = p.dir.join("idmapped");
        let (lowers, staged) = match &map {
            Some(m) => self.remapped_lowers(&p, &plain, m)?,
            None => (plain.clone(), false),
        };
        let mut res = self.mount_overlay(&p, &lowers, volatile);
        // The overlay holds its own copy of the idmapped view.
        if staged && let Err(e) = unmount_all(&staging) {
            tracing::warn!("unmount {}: {e}", staging.display());
        }
        if let (Err(nix::errno::Errno::EINVAL), true, Some(m)) = (&res, staged, &map) {
            // Kernels before 5.19 take no idmapped layers in an overlay.
            tracing::warn!(
                "overlay refused idmapped layers; remapped containers get chowned copies of their layers"
            );
            self.idmapped.store(false, Ordering::Relaxed);
            let (lowers, _) = self.remapped_lowers(&p, &plain, m)?;
            res = self.mount_overlay(&p, &lowers, volatile);
        }
        res.map_err(|e| {
            Error::Io(
                format!("mount overlay on {}", p.merged.display()),
                std::io::Error::from(e),
            )
        })?;
        Ok(p.merged)
    }

    fn mount_overlay(&self, p: &Paths, lowers: &[PathBuf], volatile: bool) -> nix::Result<()> {
        let lower = lowers
            .iter()
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
        let res = mount(&opts);
        if res == Err(nix::errno::Errno::EINVAL) && volatile {
            // Kernels before 5.10 do not know `volatile`.
            return mount(opts.trim_end_matches(",volatile"));
        }
        res
    }

    /// Unmount (all stacked mounts of) the merged directory, and an
    /// idmapped view a crash left attached.
    pub fn unmount(&self, key: &str) {
        let p = self.paths(key);
        for m in [p.merged, p.dir.join("idmapped")] {
            if let Err(e) = unmount_all(&m) {
                tracing::warn!("unmount {}: {e}", m.display());
            }
        }
    }

    /// Unmount and delete the snapshot.
    pub fn remove(&self, key: &str) -> Result<()> {
        self.unmount(key);
        let d = self.root.join(key);
        // Never delete through a mount (an idmapped view is of the layers).
        for m in [d.join("merged"), d.join("idmapped")] {
            if is_mounted(&m) {
                return Err(Error::Io(
                    format!("remove {}", d.display()),
                    std::io::Error::other(format!("{} is still mounted", m.display())),
                ));
            }
        }
        match fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io(format!("remove {}", d.display()), e)),
        }
    }

    /// The snapshot's changes as a layer tar in Docker's whiteout form.
    pub fn diff_tar(&self, key: &str, w: impl Write) -> Result<()> {
        let upper = self.paths(key).upper;
        if upper.exists() {
            crate::diff::upper_to_tar(&upper, self.idmap(key)?.as_ref(), w)
        } else {
            tar::Builder::new(w)
                .finish()
                .map_err(|e| Error::Io("empty layer".into(), e))
        }
    }

    /// `docker diff`: what changed against the layers (the init layer counts
    /// as the image's).
    pub fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let p = self.paths(key);
        if !p.upper.exists() {
            return Ok(Vec::new());
        }
        let mut lowers = self.lowers(key)?;
        lowers.push(p.init);
        crate::diff::changes(&p.upper, &lowers)
    }

    /// Bytes written in the snapshot (`SizeRw`).
    pub fn usage(&self, key: &str) -> u64 {
        walkdir::WalkDir::new(self.paths(key).upper)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Keys of every snapshot present.
    pub fn keys(&self) -> Vec<String> {
        fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What the image shows at `rel` (layers lowest first): the top-most entry
/// wins, a whiteout hides what is below.
fn image_kind(layers: &[PathBuf], rel: &str) -> Option<fs::FileType> {
    let m = layers
        .iter()
        .rev()
        .find_map(|l| fs::symlink_metadata(l.join(rel)).ok())?;
    (!is_whiteout(&m)).then(|| m.file_type())
}

/// Mount points the runtime creates in every container (Docker's init
/// layer): made once, skipped where the image has something else there
/// (a symlinked /etc is followed by the runtime, not shadowed here).
fn make_init_layer(init: &Path, layers: &[PathBuf]) -> Result<()> {
    let done = init.with_extension("done");
    if done.exists() {
        return Ok(());
    }
    let io = |what: &str, e: std::io::Error| Error::Io(format!("init layer: {what}"), e);
    fs::create_dir_all(init).map_err(|e| io("create", e))?;
    for d in ["proc", "sys", "dev"] {
        match image_kind(layers, d) {
            None => fs::create_dir_all(init.join(d)).map_err(|e| io(d, e))?,
            Some(t) if t.is_dir() => {}
            Some(_) => continue,
        }
    }
    if image_kind(layers, "etc").is_none_or(|t| t.is_dir()) {
        fs::create_dir_all(init.join("etc")).map_err(|e| io("etc", e))?;
        // The merged /etc takes its owner and mode from the top-most layer.
        if let Some(m) = layers
            .iter()
            .rev()
            .find_map(|l| fs::metadata(l.join("etc")).ok())
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            fs::set_permissions(
                init.join("etc"),
                fs::Permissions::from_mode(m.mode() & 0o7777),
            )
            .map_err(|e| io("etc mode", e))?;
            std::os::unix::fs::chown(init.join("etc"), Some(m.uid()), Some(m.gid()))
                .map_err(|e| io("etc owner", e))?;
        }
        for f in ["hosts", "hostname", "resolv.conf"] {
            if image_kind(layers, &format!("etc/{f}")).is_none() {
                fs::File::create(init.join("etc").join(f)).map_err(|e| io(f, e))?;
            }
        }
    }
    fs::File::create(done).map_err(|e| io("done", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_records_lowers_and_init_layer() {
        let t = tempfile::tempdir().unwrap();
        let l1 = t.path().join("l1");
        fs::create_dir_all(l1.join("etc")).unwrap();
        fs::write(l1.join("etc/hosts"), "x").unwrap();
        let s = Snapshotter::open(&t.path().join("snap")).unwrap();
        assert!(!s.exists("c1"));
        let p = s.prepare("c1", std::slice::from_ref(&l1)).unwrap();
        assert!(s.exists("c1"));
        assert_eq!(s.lowers("c1").unwrap(), vec![l1.clone()]);
        assert!(p.init.join("proc").is_dir());
        // The image's /etc/hosts is not shadowed; the others are made.
        assert!(!p.init.join("etc/hosts").exists());
        assert!(p.init.join("etc/resolv.conf").exists());
        assert_eq!(s.keys(), ["c1"]);
        assert!(s.changes("c1").unwrap().is_empty());
        s.remove("c1").unwrap();
        assert!(!s.exists("c1") && s.keys().is_empty());
        assert!(matches!(s.lowers("c1"), Err(Error::NotFound(_))));
    }
}

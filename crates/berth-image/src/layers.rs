//! Unpacked layers, one per chain id: `<root>/layers/<chainid hex>/{diff,meta.json}`.
//!
//! A layer is unpacked into a staging directory under `<root>/tmp`, checked
//! against its expected diff_id, then renamed into place; if another thread
//! or process got there first, the staged copy is dropped. A crash never
//! leaves a half layer under `layers/`.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use crate::compression::decompress;
use crate::error::{Error, IoContext, Result, invalid_archive};
use crate::fsutil::{sync_dir, write_atomic};
use crate::unpack::{unpack_layer, unpack_layer_with_split};

/// What `meta.json` of a layer records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: String,
    pub diff_id: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// Sum of the regular files' sizes.
    pub size: u64,
    /// Length of the uncompressed tar.
    pub tar_size: u64,
    /// `split.zst` beside `diff/` can rebuild the layer's tar.
    #[serde(default)]
    pub split: bool,
}

/// Chain ids of a stack of diff_ids (OCI image spec): the first is the
/// diff_id itself, then `sha256(parent_chain + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => {
                let h = Sha256::digest(format!("{parent} {d}").as_bytes());
                format!("sha256:{}", hex::encode(h))
            }
        };
        out.push(next);
    }
    out
}

/// How a layer is staged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stage {
    /// Record a tar-split (the blob will not be kept).
    pub(crate) split: bool,
    /// Flush it to disk before it may be committed (else the caller
    /// flushes once for many layers, [`Layers::sync`]).
    pub(crate) sync: bool,
}

impl Stage {
    /// Durable, blob kept.
    pub(crate) const KEEP: Stage = Stage {
        split: false,
        sync: true,
    };
}

/// A layer unpacked and verified, not yet visible.
#[derive(Debug)]
pub(crate) struct StagedLayer {
    dir: TempDir,
    pub(crate) meta: LayerMeta,
}

/// The layer directory plus a per-chain lock for lazy unpacking.
#[derive(Debug)]
pub(crate) struct Layers {
    dir: PathBuf,
    tmp: PathBuf,
    busy: Mutex<HashSet<String>>,
    freed: Condvar,
}

/// Held while one thread works on a chain id.
pub(crate) struct ChainGuard<'a> {
    layers: &'a Layers,
    chain: String,
}

impl Drop for ChainGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.layers.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.remove(&self.chain);
        self.layers.freed.notify_all();
    }
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

impl Layers {
    pub(crate) fn open(dir: &Path, tmp: &Path) -> Result<Layers> {
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        Ok(Layers {
            dir: dir.to_path_buf(),
            tmp: tmp.to_path_buf(),
            busy: Mutex::default(),
            freed: Condvar::new(),
        })
    }

    /// Waits until no other thread works on `chain`, then claims it.
    pub(crate) fn lock_chain(&self, chain: &str) -> ChainGuard<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while busy.contains(chain) {
            busy = self.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        busy.insert(chain.to_string());
        ChainGuard {
            layers: self,
            chain: chain.to_string(),
        }
    }

    /// The directory of the layers.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, chain: &str) -> PathBuf {
        self.dir.join(hex_of(chain))
    }

    /// The unpacked content of a layer (overlay lowerdir).
    pub(crate) fn diff_dir(&self, chain: &str) -> PathBuf {
        self.path(chain).join("diff")
    }

    /// True when the layer is fully present.
    pub(crate) fn exists(&self, chain: &str) -> bool {
        self.path(chain).join("meta.json").is_file()
    }

    /// The layer's metadata.
    pub(crate) fn meta(&self, chain: &str) -> Result<LayerMeta> {
        let p = self.path(chain).join("meta.json");
        let data = fs::read(&p).ctx(|| format!("read {}", p.display()))?;
        serde_json::from_slice(&data)
            .map_err(|e| Error::Io(format!("parse {}", p.display()), e.into()))
    }

    /// The tar-split of a layer (see [`crate::split`]).
    pub(crate) fn split_file(&self, chain: &str) -> PathBuf {
        self.path(chain).join("split.zst")
    }

    /// Unpacks a (possibly compressed) layer stream into a staging
    /// directory and checks its diff_id; with `split`, also records a
    /// tar-split so the tar can be rebuilt without its blob.
    pub(crate) fn stage(
        &self,
        r: impl Read,
        diff_id: &str,
        chain: &str,
        parent: Option<&str>,
        what: &str,
        opts: Stage,
    ) -> Result<StagedLayer> {
        let split = opts.split;
        let dir = tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(&self.tmp)
            .ctx(|| format!("create staging dir in {}", self.tmp.display()))?;
        let diff = dir.path().join("diff");
        fs::create_dir(&diff).ctx(|| format!("create {}", diff.display()))?;
        let stats = if split {
            unpack_layer_with_split(decompress(r)?, &diff, &dir.path().join("split.zst"))
        } else {
            unpack_layer(decompress(r)?, &diff)
        };
        let stats = stats.map_err(|e| match e {
            Error::InvalidArchive(m) => invalid_archive(format!("{what}: {m}")),
            e => e,
        })?;
        if stats.diff_id != diff_id {
            return Err(invalid_archive(format!(
                "{what}: layer content has diff_id {} but the image config expects {diff_id}",
                stats.diff_id
            )));
        }
        let meta = LayerMeta {
            chain_id: chain.to_string(),
            diff_id: diff_id.to_string(),
            parent: parent.map(str::to_string),
            size: stats.size,
            tar_size: stats.tar_size,
            split: stats.split,
        };
        let json = serde_json::to_vec_pretty(&meta).expect("serialize layer meta");
        write_atomic(&dir.path().join("meta.json"), &json)?;
        if opts.sync {
            syncfs(dir.path())?;
        }
        Ok(StagedLayer { dir, meta })
    }

    /// Makes a staged layer visible; if the chain id appeared meanwhile the
    /// staged copy is discarded.
    pub(crate) fn commit(&self, staged: StagedLayer) -> Result<()> {
        let target = self.path(&staged.meta.chain_id);
        if self.exists(&staged.meta.chain_id) {
            return Ok(());
        }
        let src = staged.dir.keep();
        match fs::rename(&src, &target) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {
                fs::remove_dir_all(&src).ctx(|| format!("remove {}", src.display()))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&src);
                Err(Error::Io(
                    format!("rename layer into {}", target.display()),
                    e,
                ))
            }
        }
    }

    /// Flushes the filesystem holding the layers.
    pub(crate) fn sync(&self) -> Result<()> {
        syncfs(&self.dir)
    }

    /// Removes a layer (renamed away first, so it disappears at once).
    pub(crate) fn remove(&self, chain: &str) -> Result<()> {
        let p = self.path(chain);
        let doomed = self.tmp.join(format!("removing-{}", hex_of(chain)));
        match fs::rename(&p, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).ctx(|| format!("remove {}", doomed.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io(format!("remove layer {}", p.display()), e)),
        }
    }

    /// Chain ids of the layers holding `diff_id` (a scan: for the rare
    /// layer whose own chain is gone).
    pub(crate) fn find(&self, diff_id: &str) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .filter(|c| self.meta(c).is_ok_and(|m| m.diff_id == diff_id))
            .collect()
    }

    /// The metadata file of a layer (its mtime is when it was committed).
    pub(crate) fn meta_file(&self, chain: &str) -> PathBuf {
        self.path(chain).join("meta.json")
    }

    /// Chain ids of every complete layer present.
    pub(crate) fn all(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .filter(|c| self.exists(c))
            .collect()
    }

    /// Chain ids of the layers present.
    #[cfg(test)]
    pub(crate) fn list(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        for e in fs::read_dir(&self.dir).ctx(|| format!("read {}", self.dir.display()))? {
            let e = e.ctx(|| format!("read {}", self.dir.display()))?;
            v.push(format!("sha256:{}", e.file_name().to_string_lossy()));
        }
        v.sort();
        Ok(v)
    }
}

/// Flushes the filesystem holding `p`, so a renamed layer is durable.
fn syncfs(p: &Path) -> Result<()> {
    let f = fs::File::open(p).ctx(|| format!("open {}", p.display()))?;
    // SAFETY: the fd is valid for the lifetime of `f`.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(Error::Io(
            format!("syncfs {}", p.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;
    use crate::unpack::tests::build_tar;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = sha256_digest(b"a");
        let b = sha256_digest(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256_digest(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn stage_commit_and_race() {
        let t = tempfile::tempdir().unwrap();
        let tmp = t.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let layers = Layers::open(&t.path().join("layers"), &tmp).unwrap();
        let tar = build_tar(&[("f", tar::EntryType::Regular, b"hi")]);
        let d = sha256_digest(&tar);
        let s1 = layers
            .stage(&tar[..], &d, &d, None, "l", Stage::KEEP)
            .unwrap();
        let s2 = layers
            .stage(&tar[..], &d, &d, None, "l", Stage::KEEP)
            .unwrap();
        assert!(!layers.exists(&d));
        layers.commit(s1).unwrap();
        layers.commit(s2).unwrap();
        assert_eq!(fs::read(layers.diff_dir(&d).join("f")).unwrap(), b"hi");
        let m = layers.meta(&d).unwrap();
        assert_eq!((m.size, m.tar_size), (2, tar.len() as u64));
        assert_eq!(layers.list().unwrap(), std::slice::from_ref(&d));
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
        layers.remove(&d).unwrap();
        assert!(!layers.exists(&d) && layers.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[test]
    fn wrong_diff_id_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let tmp = t.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let layers = Layers::open(&t.path().join("layers"), &tmp).unwrap();
        let tar = build_tar(&[("f", tar::EntryType::Regular, b"hi")]);
        let wrong = sha256_digest(b"other");
        let e = layers
            .stage(&tar[..], &wrong, &wrong, None, "x.tar", Stage::KEEP)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.tar") && e.contains("diff_id"), "{e}");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
        assert!(layers.list().unwrap().is_empty());
    }

    #[test]
    fn chain_lock_serialises() {
        let t = tempfile::tempdir().unwrap();
        let layers = Layers::open(&t.path().join("layers"), t.path()).unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let _g = layers.lock_chain("c");
                    let before = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    assert_eq!(
                        counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst),
                        before + 1
                    );
                    assert_eq!(before, 0);
                });
            }
        });
    }
}

//! What the store remembers about registries, as dockerd's v2 metadata
//! does: which repositories of which registry hold a blob (so a push to
//! the same registry mounts it instead of uploading it again), and which
//! compressed blob a layer became when it was pushed (so the next push
//! sends the same digest without compressing again).
//!
//! Layout: `<root>/distribution/sources/<blob hex>.json` (a list of
//! `registry/repository`), `<root>/distribution/compressed/<diff hex>.json`
//! (compression → {digest, size, media_type}). Small files written
//! atomically; losing one only costs an upload.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};
use crate::fsutil::write_atomic;
use crate::store::Store;

/// A compressed form of a layer that a registry received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compressed {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug)]
pub(crate) struct Distribution {
    sources: PathBuf,
    compressed: PathBuf,
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(p: &Path) -> T {
    fs::read(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl Distribution {
    pub(crate) fn open(root: &Path) -> Result<Distribution> {
        let sources = root.join("distribution").join("sources");
        let compressed = root.join("distribution").join("compressed");
        for d in [&sources, &compressed] {
            fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        Ok(Distribution {
            sources,
            compressed,
        })
    }
}

impl Store {
    /// Remember that `registry/repository` holds `digest`.
    pub fn add_blob_source(&self, digest: &str, repository: &str) -> Result<()> {
        let p = self.dist.sources.join(format!("{}.json", hex(digest)));
        let _g = self.dist_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = read_json(&p);
        if v.iter().any(|r| r == repository) {
            return Ok(());
        }
        v.push(repository.to_string());
        // A blob shared by very many repositories: keep the latest few.
        if v.len() > 16 {
            v.remove(0);
        }
        write_atomic(&p, &serde_json::to_vec(&v).expect("serialise"))
    }

    /// The `registry/repository`s known to hold `digest`, latest last.
    pub fn blob_sources(&self, digest: &str) -> Vec<String> {
        read_json(&self.dist.sources.join(format!("{}.json", hex(digest))))
    }

    /// Remember what a layer was compressed into for a push.
    pub fn set_compressed(&self, diff_id: &str, kind: &str, c: &Compressed) -> Result<()> {
        let p = self.dist.compressed.join(format!("{}.json", hex(diff_id)));
        let _g = self.dist_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut m: BTreeMap<String, Compressed> = read_json(&p);
        m.insert(kind.to_string(), c.clone());
        write_atomic(&p, &serde_json::to_vec(&m).expect("serialise"))
    }

    /// What a layer was compressed into before (`kind`: gzip, zstd).
    pub fn compressed(&self, diff_id: &str, kind: &str) -> Option<Compressed> {
        let m: BTreeMap<String, Compressed> =
            read_json(&self.dist.compressed.join(format!("{}.json", hex(diff_id))));
        m.get(kind).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_compressed_forms_are_remembered() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path()).unwrap();
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(s.blob_sources(&d).is_empty());
        s.add_blob_source(&d, "127.0.0.1:5000/x").unwrap();
        s.add_blob_source(&d, "127.0.0.1:5000/x").unwrap();
        s.add_blob_source(&d, "127.0.0.1:5000/y").unwrap();
        assert_eq!(s.blob_sources(&d), ["127.0.0.1:5000/x", "127.0.0.1:5000/y"]);
        let c = Compressed {
            digest: d.clone(),
            size: 3,
            media_type: "gz".into(),
        };
        assert_eq!(s.compressed(&d, "gzip"), None);
        s.set_compressed(&d, "gzip", &c).unwrap();
        let s = Store::open(t.path()).unwrap();
        assert_eq!(s.compressed(&d, "gzip"), Some(c));
        assert_eq!(s.compressed(&d, "zstd"), None);
    }
}

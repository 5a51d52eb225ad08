//! The build cache as `system df` and `builder prune` see it: one record
//! per cached step (its key, the image it made, when it was last used),
//! plus the `RUN --mount=type=cache` directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use berth_api::build::{CacheRecord, PruneReport};
use berth_api::filters::Filters;

use crate::util::blocking;
use crate::{Engine, Result};

struct Entry {
    key: String,
    path: PathBuf,
    image: String,
    used: SystemTime,
    size: u64,
    kind: &'static str,
    description: String,
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

impl Engine {
    fn build_dir(&self) -> PathBuf {
        self.cfg.data_root.join("build")
    }

    fn cache_entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let dir = self.build_dir().join("cache");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let image = std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let Ok(img) = self.images.resolve(&image) else {
                    // The image went (rmi, prune): the entry is stale.
                    let _ = std::fs::remove_file(e.path());
                    continue;
                };
                let used = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                let history = img.config.history();
                let top = history.last();
                let layer_size = if top.is_some_and(|h| !h.empty_layer) {
                    img.layers.last().map(|l| l.unpacked_size).unwrap_or(0)
                } else {
                    0
                };
                out.push(Entry {
                    key: name,
                    path: e.path(),
                    image,
                    used,
                    size: layer_size,
                    kind: "regular",
                    description: top.and_then(|h| h.created_by.clone()).unwrap_or_default(),
                });
            }
        }
        let mounts = self.build_dir().join("cache-mounts");
        if let Ok(rd) = std::fs::read_dir(&mounts) {
            for e in rd.flatten() {
                let used = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                out.push(Entry {
                    key: e.file_name().to_string_lossy().into_owned(),
                    path: e.path(),
                    image: String::new(),
                    used,
                    size: dir_size(&e.path()),
                    kind: "exec.cachemount",
                    description: "cached mount".into(),
                });
            }
        }
        out
    }

    /// The build cache records (`system df`).
    pub fn build_cache_records(&self) -> Vec<CacheRecord> {
        let tagged_chain = self.tagged_ancestors();
        self.cache_entries()
            .into_iter()
            .map(|e| CacheRecord {
                id: e.key[..e.key.len().min(25)].to_string(),
                parents: None,
                kind: e.kind.into(),
                description: e.description,
                in_use: false,
                shared: tagged_chain.contains(&e.image),
                size: e.size as i64,
                created_at: rfc3339(e.used),
                last_used_at: Some(rfc3339(e.used)),
                usage_count: 1,
            })
            .collect()
    }

    /// Images that are tagged or ancestors of a tagged one.
    fn tagged_ancestors(&self) -> std::collections::HashSet<String> {
        let all = self.images.list().unwrap_or_default();
        let by_id: std::collections::HashMap<String, &berth_image::Image> =
            all.iter().map(|i| (i.id.to_string(), i)).collect();
        let mut out = std::collections::HashSet::new();
        for i in all.iter().filter(|i| !i.repo_tags.is_empty()) {
            let mut cur = Some(i.id.to_string());
            while let Some(c) = cur.take() {
                if !out.insert(c.clone()) {
                    break;
                }
                cur = by_id
                    .get(&c)
                    .and_then(|i| i.parent.as_ref().map(|p| p.to_string()));
            }
        }
        out
    }

    /// `POST /build/prune`: cache entries not behind a tagged image (all
    /// with `all`), unused since `until`, oldest first, until what is
    /// kept fits `keep-storage`; their images go when nothing else needs
    /// them; cache mounts go too.
    pub async fn build_prune(
        self: &Arc<Self>,
        all: bool,
        f: &Filters,
        keep_storage: Option<i64>,
    ) -> Result<PruneReport> {
        f.validate(&[
            "until",
            "id",
            "type",
            "description",
            "inuse",
            "shared",
            "private",
            "parent",
            "last-used-at",
        ])?;
        let now = chrono::Utc::now().timestamp() as f64;
        let until = f.timestamps("until", now)?;
        let this = self.clone();
        blocking(move || {
            let keep = keep_storage.unwrap_or(0).max(0) as u64;
            let shared = this.tagged_ancestors();
            let mut entries = this.cache_entries();
            entries.sort_by_key(|e| e.used);
            let mut total: u64 = entries.iter().map(|e| e.size).sum();
            let before = this.images.disk_usage().unwrap_or(0);
            let mut deleted = Vec::new();
            let mut mounts_freed = 0u64;
            let used_images = this.image_use_count();
            for e in entries {
                if keep > 0 && total <= keep {
                    break;
                }
                let age_ok = until.iter().all(|u| {
                    let t = e
                        .used
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    t < *u
                });
                if !age_ok || (!all && shared.contains(&e.image)) {
                    continue;
                }
                if e.kind == "exec.cachemount" {
                    if std::fs::remove_dir_all(&e.path).is_ok() {
                        mounts_freed += e.size;
                        total = total.saturating_sub(e.size);
                        deleted.push(e.key.clone());
                    }
                    continue;
                }
                let _ = std::fs::remove_file(&e.path);
                total = total.saturating_sub(e.size);
                deleted.push(e.key.clone());
                if !shared.contains(&e.image) && !used_images.contains_key(&e.image) {
                    // Untagged and childless only: the store refuses the rest.
                    let _ = this.images.remove(&e.image, false, &|_| None);
                }
            }
            let after = this.images.disk_usage().unwrap_or(0);
            Ok(PruneReport {
                caches_deleted: Some(deleted),
                space_reclaimed: before.saturating_sub(after) + mounts_freed,
            })
        })
        .await
    }
}

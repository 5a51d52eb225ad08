//! The image store: open, look up, list, tag, layer directories.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use std::io::Read;

use crate::blobs::Blobs;
use crate::compression::decompress;
use crate::config::ImageConfig;
use crate::digest::ImageId;
use crate::distribution::Distribution;
use crate::error::{Error, IoContext, Result};
use crate::layers::{Layers, Stage, chain_ids};
use crate::meta::{ImageRecord, LayerRecord, MetaDir};
use crate::reference::Reference;
use crate::split::Reassembled;

/// An image as the daemon sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `sha256:<hex>` of the config JSON.
    pub id: ImageId,
    /// The config JSON, as stored.
    pub config: ImageConfig,
    /// Tags in familiar form (`busybox:latest`), sorted.
    pub repo_tags: Vec<String>,
    /// Digest references in familiar form (`busybox@sha256:…`), sorted.
    pub repo_digests: Vec<String>,
    /// Sum of the layers' unpacked sizes.
    pub size: u64,
    /// Creation time (unix seconds) from the config.
    pub created: i64,
    /// The image this one was committed from, if known.
    pub parent: Option<ImageId>,
    /// The layer blobs, lowest first.
    pub layers: Vec<LayerRecord>,
}

impl Image {
    /// Creation time as RFC3339, as `docker inspect` shows it.
    pub fn created_rfc3339(&self) -> String {
        match self.config.created() {
            Some(s) => s.to_string(),
            None => "0001-01-01T00:00:00Z".to_string(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) record: ImageRecord,
    pub(crate) config: ImageConfig,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) images: BTreeMap<ImageId, Entry>,
    /// Full reference → image id.
    pub(crate) tags: BTreeMap<String, ImageId>,
}

/// A content-addressed, Docker-compatible image store rooted at a directory.
#[derive(Debug)]
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) blobs: Blobs,
    pub(crate) layers: Layers,
    pub(crate) meta: MetaDir,
    pub(crate) state: Mutex<State>,
    pub(crate) dist: Distribution,
    pub(crate) dist_lock: Mutex<()>,
}

impl Store {
    /// Opens (creating) a store; removes leftovers of interrupted work.
    pub fn open(root: &Path) -> Result<Store> {
        fs::create_dir_all(root).ctx(|| format!("create {}", root.display()))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).ctx(|| format!("clean {}", tmp.display()))?;
        }
        fs::create_dir_all(&tmp).ctx(|| format!("create {}", tmp.display()))?;
        let blobs = Blobs::open(&root.join("blobs").join("sha256"))?;
        let layers = Layers::open(&root.join("layers"), &tmp)?;
        let meta = MetaDir::open(root)?;
        let mut state = State::default();
        for record in meta.load_records()? {
            match blobs
                .read(record.id.as_str())
                .and_then(|d| ImageConfig::from_slice(&d))
            {
                Ok(config) => {
                    state
                        .images
                        .insert(record.id.clone(), Entry { record, config });
                }
                Err(e) => {
                    tracing::warn!(id = %record.id, error = %e, "ignoring image without a usable config")
                }
            }
        }
        state.tags = meta.load_tags()?;
        state.tags.retain(|_, id| state.images.contains_key(id));
        Ok(Store {
            root: root.to_path_buf(),
            blobs,
            layers,
            meta,
            state: Mutex::new(state),
            dist: Distribution::open(root)?,
            dist_lock: Mutex::new(()),
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store (for pull/push).
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn image_of(st: &State, id: &ImageId) -> Option<Image> {
        let e = st.images.get(id)?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        for (full, tid) in &st.tags {
            if tid != id {
                continue;
            }
            if let Ok(r) = Reference::parse(full) {
                if r.digest().is_some() {
                    repo_digests.push(r.familiar());
                } else {
                    repo_tags.push(r.familiar());
                }
            }
        }
        repo_tags.sort();
        repo_digests.sort();
        Some(Image {
            id: id.clone(),
            config: e.config.clone(),
            repo_tags,
            repo_digests,
            size: e.record.layers.iter().map(|l| l.unpacked_size).sum(),
            created: e.config.created_unix(),
            parent: e.record.parent.clone(),
            layers: e.record.layers.clone(),
        })
    }

    /// Finds an image by reference, familiar name, full id or unique id
    /// prefix (with or without `sha256:`).
    pub(crate) fn lookup(st: &State, name: &str) -> Result<ImageId> {
        if let Ok(r) = Reference::parse(name) {
            if let Some(id) = st.tags.get(&r.full()) {
                return Ok(id.clone());
            }
            if let Some(d) = r.digest() {
                let repo = r.repository();
                let found = st.images.values().find(|e| {
                    e.record.manifest_digest.as_deref() == Some(d)
                        && st
                            .tags
                            .iter()
                            .any(|(t, id)| *id == e.record.id && t.starts_with(&format!("{repo}:")))
                });
                if let Some(e) = found {
                    return Ok(e.record.id.clone());
                }
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let mut found = st.images.keys().filter(|id| id.hex().starts_with(hex));
            if let (Some(id), None) = (found.next(), found.next()) {
                return Ok(id.clone());
            }
        }
        Err(Error::NotFound(name.to_string()))
    }

    /// Looks an image up by reference, name or (short) id.
    pub fn resolve(&self, name_or_id: &str) -> Result<Image> {
        let st = self.lock();
        let id = Self::lookup(&st, name_or_id)?;
        Ok(Self::image_of(&st, &id).expect("looked-up image exists"))
    }

    /// Records `parent` as the image `id` was made from (a builder step
    /// found in a `--cache-from` image).
    pub fn set_parent(&self, id: &ImageId, parent: &ImageId) -> Result<()> {
        let mut st = self.lock();
        let Some(e) = st.images.get_mut(id) else {
            return Ok(());
        };
        if e.record.parent.as_ref() == Some(parent) {
            return Ok(());
        }
        let mut record = e.record.clone();
        record.parent = Some(parent.clone());
        self.meta.write_record(&record)?;
        e.record = record;
        Ok(())
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let st = self.lock();
        let mut v: Vec<Image> = st
            .images
            .keys()
            .filter_map(|id| Self::image_of(&st, id))
            .collect();
        v.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    /// Records `repo@digest` for an image (after a push), as a RepoDigest.
    pub fn add_repo_digest(&self, id: &ImageId, r: &Reference) -> Result<()> {
        if r.digest().is_none() {
            return Err(Error::InvalidArgument(format!(
                "{}: not a digest reference",
                r.familiar()
            )));
        }
        let mut st = self.lock();
        if !st.images.contains_key(id) {
            return Err(Error::NotFound(id.to_string()));
        }
        st.tags.insert(r.full(), id.clone());
        self.meta.write_tags(&st.tags)
    }

    /// Points a tag at an image (moving it if it pointed elsewhere).
    pub fn tag(&self, id: &ImageId, r: &Reference) -> Result<()> {
        if r.digest().is_some() {
            return Err(Error::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let mut st = self.lock();
        if !st.images.contains_key(id) {
            return Err(Error::NotFound(id.to_string()));
        }
        st.tags.insert(r.full(), id.clone());
        self.meta.write_tags(&st.tags)
    }

    /// Adds an image (record written) and points `refs` at it; returns the
    /// images that lost a tag to it as `(familiar ref, old id)`. Caller holds the lock.
    pub(crate) fn insert_locked(
        &self,
        st: &mut State,
        record: ImageRecord,
        config: ImageConfig,
        refs: &[Reference],
    ) -> Result<Vec<(String, ImageId)>> {
        let id = record.id.clone();
        if !st.images.contains_key(&id) {
            self.meta.write_record(&record)?;
            st.images.insert(id.clone(), Entry { record, config });
        }
        let mut moved = Vec::new();
        for r in refs {
            if let Some(old) = st.tags.insert(r.full(), id.clone())
                && old != id
            {
                moved.push((r.familiar(), old));
            }
        }
        if !refs.is_empty() {
            self.meta.write_tags(&st.tags)?;
        }
        Ok(moved)
    }

    /// Unpacked layer directories of an image, lowest first (overlay
    /// lowerdirs in reverse order). Missing layers are unpacked from their
    /// blobs, once per chain id even with concurrent callers.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let diff_ids = image.config.diff_ids();
        let layers = {
            let st = self.lock();
            st.images
                .get(&image.id)
                .ok_or_else(|| Error::NotFound(image.id.to_string()))?
                .record
                .layers
                .clone()
        };
        if layers.len() != diff_ids.len() {
            return Err(Error::InvalidArchive(format!(
                "image {} has {} layer blobs for {} diff_ids",
                image.id,
                layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(&diff_ids);
        let mut out = Vec::with_capacity(chains.len());
        for (i, chain) in chains.iter().enumerate() {
            if !self.layers.exists(chain) {
                let _guard = self.layers.lock_chain(chain);
                if !self.layers.exists(chain) {
                    let l = &layers[i];
                    let keep_split = !self.blobs.exists(&l.digest);
                    let tar = self.layer_tar_of(&diff_ids[i], chain, &l.digest)?;
                    let parent = i.checked_sub(1).map(|p| chains[p].as_str());
                    let staged = self.layers.stage(
                        tar,
                        &diff_ids[i],
                        chain,
                        parent,
                        &format!("layer {}", l.digest),
                        Stage {
                            split: keep_split,
                            sync: true,
                        },
                    )?;
                    self.layers.commit(staged)?;
                }
            }
            out.push(self.layers.diff_dir(chain));
        }
        Ok(out)
    }

    /// The uncompressed tar of an image's `i`-th layer: from its blob, or
    /// rebuilt from an unpacked copy and its tar-split (pulled layers keep
    /// no blob).
    pub fn layer_tar(&self, image: &Image, i: usize) -> Result<Box<dyn Read>> {
        let diff_ids = image.config.diff_ids();
        let chains = chain_ids(&diff_ids);
        let (Some(l), Some(d), Some(c)) = (image.layers.get(i), diff_ids.get(i), chains.get(i))
        else {
            return Err(Error::InvalidArgument(format!(
                "image {} has no layer {i}",
                image.id
            )));
        };
        self.layer_tar_of(d, c, &l.digest)
    }

    fn layer_tar_of(&self, diff_id: &str, chain: &str, digest: &str) -> Result<Box<dyn Read>> {
        if self.blobs.exists(digest) {
            return decompress(self.blobs.open_blob(digest)?);
        }
        let with_split = |c: &str| {
            self.layers
                .meta(c)
                .is_ok_and(|m| m.split && m.diff_id == diff_id)
        };
        let source = if with_split(chain) {
            Some(chain.to_string())
        } else {
            self.layers
                .find(diff_id)
                .into_iter()
                .find(|c| with_split(c))
        };
        match source {
            Some(c) => Ok(Box::new(Reassembled::open(
                &self.layers.split_file(&c),
                &self.layers.diff_dir(&c),
            )?)),
            None => Err(Error::InvalidArchive(format!(
                "layer {diff_id}: neither its blob {digest} nor a rebuildable copy is present"
            ))),
        }
    }

    /// Bytes used by the store (apparent size of all files).
    pub fn disk_usage(&self) -> Result<u64> {
        let mut total = 0u64;
        for e in walkdir::WalkDir::new(&self.root).follow_links(false) {
            let e = e.map_err(|e| Error::Io(format!("walk {}", self.root.display()), e.into()))?;
            if e.file_type().is_file() {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(total)
    }
}

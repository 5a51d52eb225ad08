//! `docker save`: one tar with both the docker-archive layout
//! (`manifest.json`, `repositories`) and an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`), as dockerd ≥ 25 writes. Layers are
//! written uncompressed, named by their diff_id, so any `docker load` since
//! 1.10 accepts them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use serde_json::{Value, json};

use crate::digest::{ImageId, sha256_digest};
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::store::{Image, Store};

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Yields exactly `len` bytes of `inner` or fails.
struct Exact<R> {
    inner: io::Take<R>,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "layer blob shorter than recorded",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn header(kind: tar::EntryType, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

struct TarOut<W: Write> {
    b: tar::Builder<W>,
    written: BTreeSet<String>,
    mtime: u64,
}

impl<W: Write> TarOut<W> {
    fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = header(tar::EntryType::Directory, 0, self.mtime);
        self.b
            .append_data(&mut h, path, io::empty())
            .ctx(|| format!("write {path}"))
    }

    fn file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        if self.written.insert(path.to_string()) {
            let mut h = header(tar::EntryType::Regular, data.len() as u64, self.mtime);
            self.b
                .append_data(&mut h, path, data)
                .ctx(|| format!("write {path}"))?;
        }
        Ok(())
    }

    fn stream(&mut self, path: &str, size: u64, r: impl Read) -> Result<()> {
        if self.written.insert(path.to_string()) {
            let mut h = header(tar::EntryType::Regular, size, self.mtime);
            let exact = Exact {
                inner: r.take(size),
                left: size,
            };
            self.b
                .append_data(&mut h, path, exact)
                .ctx(|| format!("write {path}"))?;
        }
        Ok(())
    }
}

fn blob_name(digest: &str) -> String {
    format!(
        "blobs/sha256/{}",
        digest.strip_prefix("sha256:").unwrap_or(digest)
    )
}

impl Store {
    /// Which images (and which of their tags) `names` select: a repository
    /// name without tag selects all its tags, as `docker save` does.
    fn save_selection(&self, names: &[&str]) -> Result<Vec<(Image, Vec<Reference>)>> {
        let st = self.lock();
        let mut order: Vec<ImageId> = Vec::new();
        let mut tags: BTreeMap<ImageId, Vec<Reference>> = BTreeMap::new();
        let mut add = |id: &ImageId, r: Option<Reference>| {
            if !order.contains(id) {
                order.push(id.clone());
            }
            let list = tags.entry(id.clone()).or_default();
            if let Some(r) = r
                && !list.contains(&r)
            {
                list.push(r);
            }
        };
        for name in names {
            if let Ok(r) = Reference::parse_named(name)
                && r.is_name_only()
            {
                let repo = r.repository();
                let mut found = false;
                for (full, id) in &st.tags {
                    if let Ok(t) = Reference::parse(full)
                        && t.digest().is_none()
                        && t.repository() == repo
                    {
                        add(id, Some(t));
                        found = true;
                    }
                }
                if found {
                    continue;
                }
            }
            let id = Self::lookup(&st, name)?;
            let via_tag = Reference::parse(name)
                .ok()
                .filter(|r| r.digest().is_none() && st.tags.get(&r.full()) == Some(&id));
            add(&id, via_tag);
        }
        Ok(order
            .into_iter()
            .map(|id| {
                let img = Self::image_of(&st, &id).expect("selected image exists");
                let t = tags.remove(&id).unwrap_or_default();
                (img, t)
            })
            .collect())
    }

    /// `docker save`.
    pub fn save(&self, names: &[&str], w: impl Write) -> Result<()> {
        if names.is_empty() {
            return Err(Error::InvalidArgument("no images to save".into()));
        }
        let selection = self.save_selection(names)?;
        let mut out = TarOut {
            b: tar::Builder::new(w),
            written: BTreeSet::new(),
            mtime: 0,
        };
        out.b.mode(tar::HeaderMode::Deterministic);
        out.dir("blobs/")?;
        out.dir("blobs/sha256/")?;
        let mut docker_manifest = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (img, refs) in &selection {
            out.mtime = img.created.max(0) as u64;
            let config = self.blobs.read(img.id.as_str())?;
            out.file(&blob_name(img.id.as_str()), &config)?;
            let diff_ids = img.config.diff_ids();
            let mut layer_paths = Vec::new();
            let mut layer_descs = Vec::new();
            for (i, (l, diff_id)) in img.layers.iter().zip(&diff_ids).enumerate() {
                let path = blob_name(diff_id);
                out.stream(&path, l.tar_size, self.layer_tar(img, i)?)?;
                layer_descs
                    .push(json!({"mediaType": MEDIA_LAYER, "digest": diff_id, "size": l.tar_size}));
                layer_paths.push(path);
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, "digest": img.id.as_str(), "size": config.len()},
                "layers": layer_descs,
            }))
            .expect("serialize manifest");
            let manifest_digest = sha256_digest(&manifest);
            out.file(&blob_name(&manifest_digest), &manifest)?;
            let desc = |annotations: Option<Value>| {
                let mut d = json!({"mediaType": MEDIA_MANIFEST, "digest": manifest_digest, "size": manifest.len()});
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                d
            };
            if refs.is_empty() {
                index.push(desc(None));
            }
            for r in refs {
                let tag = r.tag().unwrap_or("latest");
                index.push(desc(Some(json!({
                    "io.containerd.image.name": r.full(),
                    "org.opencontainers.image.ref.name": tag,
                }))));
                if let Some(top) = diff_ids.last() {
                    repositories
                        .entry(r.repository_familiar())
                        .or_default()
                        .insert(
                            tag.to_string(),
                            top.trim_start_matches("sha256:").to_string(),
                        );
                }
            }
            let repo_tags: Option<Vec<String>> = if refs.is_empty() {
                None
            } else {
                Some(refs.iter().map(Reference::familiar).collect())
            };
            docker_manifest.push(berth_api::archive::ManifestEntry {
                config: blob_name(img.id.as_str()),
                repo_tags,
                layers: layer_paths,
                parent: String::new(),
            });
        }
        out.mtime = 0;
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
        out.file(
            "index.json",
            &serde_json::to_vec(&index).expect("serialize index"),
        )?;
        out.file(
            "manifest.json",
            &serde_json::to_vec(&docker_manifest).expect("serialize manifest.json"),
        )?;
        out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        if !repositories.is_empty() {
            out.file(
                "repositories",
                &serde_json::to_vec(&repositories).expect("serialize repositories"),
            )?;
        }
        let mut w = out.b.into_inner().ctx(|| "finish tar".to_string())?;
        w.flush().ctx(|| "flush tar".to_string())
    }
}

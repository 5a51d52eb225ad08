//! `docker load`: docker-archive tars (`manifest.json`, old `<id>/layer.tar`
//! and newer `blobs/sha256/…` layouts) and OCI image layouts (`index.json`).
//!
//! Nothing becomes visible until everything checked out: archive files are
//! staged as temp blobs (hashed while read), layers are unpacked into staging
//! directories and checked against the configs' diff_ids, and only then are
//! blobs, layers, records and tags committed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};

use serde::Deserialize;

use crate::blobs::{Blobs, StagedBlob};
use crate::compression::{Compression, decompress, detect};
use crate::config::{ImageConfig, host_architecture};
use crate::digest::{ImageId, is_digest};
use crate::error::{Error, Result, invalid_archive};
use crate::layers::{Stage, StagedLayer, chain_ids};
use crate::meta::{ImageRecord, LayerRecord, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, MEDIA_LAYER_ZSTD};
use crate::reference::Reference;
use crate::store::Store;
use crate::unpack::{clean_components, hash_layer};

/// One image a load brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: ImageId,
    /// Tags in familiar form.
    pub tags: Vec<String>,
}

/// The regular files and symlinks of an archive; files staged as blobs.
struct ArchiveFiles {
    files: BTreeMap<String, StagedBlob>,
    links: BTreeMap<String, String>,
}

fn normalize(path: &str) -> Option<String> {
    clean_components(path.trim_start_matches('/').as_bytes())
        .ok()
        .map(|c| {
            c.iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
}

impl ArchiveFiles {
    fn read(blobs: &Blobs, r: impl Read) -> Result<ArchiveFiles> {
        let mut ar = tar::Archive::new(decompress(r)?);
        let mut files = BTreeMap::new();
        let mut links = BTreeMap::new();
        let bad = |e: std::io::Error| invalid_archive(format!("invalid tar header: {e}"));
        for entry in ar.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize(&raw) else {
                return Err(invalid_archive(format!("{raw}: path escapes the archive")));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let staged = blobs.stage(entry).map_err(|e| match e {
                        Error::Io(_, io) => {
                            invalid_archive(format!("{name}: truncated archive: {io}"))
                        }
                        e => e,
                    })?;
                    if let Some(hex) = name.strip_prefix("blobs/sha256/")
                        && staged.digest() != format!("sha256:{hex}")
                    {
                        return Err(invalid_archive(format!(
                            "{name}: content digest is {}",
                            staged.digest()
                        )));
                    }
                    files.insert(name, staged);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned());
                    let target = target.unwrap_or_default();
                    let base = match (entry.header().entry_type(), name.rsplit_once('/')) {
                        (tar::EntryType::Symlink, Some((dir, _))) if !target.starts_with('/') => {
                            format!("{dir}/")
                        }
                        _ => String::new(),
                    };
                    if let Some(t) = normalize(&format!("{base}{target}")) {
                        links.insert(name, t);
                    }
                }
                _ => {}
            }
        }
        Ok(ArchiveFiles { files, links })
    }

    /// The staged file at `path`, following links; `what` says who refers to it.
    fn get(&self, path: &str, what: &str) -> Result<(&str, &StagedBlob)> {
        let mut p = normalize(path).unwrap_or_default();
        for _ in 0..16 {
            if let Some((k, f)) = self.files.get_key_value(&p) {
                return Ok((k.as_str(), f));
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(invalid_archive(format!(
            "{what}: {path} not found in archive"
        )))
    }

    fn has(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }
}

/// One image to load: archive paths of its config and layers, and tags.
struct Plan {
    source: String,
    config: String,
    layers: Vec<String>,
    refs: Vec<Reference>,
    manifest: Option<String>,
}

type DockerManifestEntry = berth_api::archive::ManifestEntry;

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

fn parse_json<T: serde::de::DeserializeOwned>(data: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| invalid_archive(format!("{what}: {e}")))
}

fn blob_path(digest: &str, what: &str) -> Result<String> {
    if !is_digest(digest) {
        return Err(invalid_archive(format!(
            "{what}: unsupported digest {digest}"
        )));
    }
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

fn docker_plans(files: &ArchiveFiles) -> Result<Vec<Plan>> {
    let (_, mf) = files.get("manifest.json", "archive")?;
    let entries: Vec<DockerManifestEntry> = parse_json(&mf.read_all()?, "manifest.json")?;
    let mut plans = Vec::new();
    for e in entries {
        let mut refs = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            let r = Reference::parse(&t).map_err(|err| {
                invalid_archive(format!("manifest.json: invalid tag {t:?}: {err}"))
            })?;
            refs.push(r);
        }
        plans.push(Plan {
            source: "manifest.json".into(),
            config: e.config,
            layers: e.layers,
            refs,
            manifest: None,
        });
    }
    Ok(plans)
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fn oci_plans(files: &ArchiveFiles) -> Result<Vec<Plan>> {
    let (_, ix) = files.get("index.json", "archive")?;
    let index: Index = parse_json(&ix.read_all()?, "index.json")?;
    let mut plans = Vec::new();
    for d in index.manifests {
        let mut refs = Vec::new();
        let name = d.annotations.get("io.containerd.image.name").or_else(|| {
            d.annotations
                .get("org.opencontainers.image.ref.name")
                .filter(|n| n.contains(['/', ':']))
        });
        if let Some(n) = name {
            refs.push(
                Reference::parse(n)
                    .map_err(|e| invalid_archive(format!("index.json: invalid name {n:?}: {e}")))?,
            );
        }
        let digest = pick_manifest(files, &d, 0)?;
        let path = blob_path(&digest, "index.json")?;
        let (_, mblob) = files.get(&path, "index.json")?;
        let m: Manifest = parse_json(&mblob.read_all()?, &path)?;
        let config = blob_path(&m.config.digest, &path)?;
        let layers = m
            .layers
            .iter()
            .map(|l| blob_path(&l.digest, &path))
            .collect::<Result<Vec<_>>>()?;
        plans.push(Plan {
            source: path,
            config,
            layers,
            refs,
            manifest: Some(digest),
        });
    }
    Ok(plans)
}

/// Follows (nested) indexes to the manifest for this platform.
fn pick_manifest(files: &ArchiveFiles, d: &Descriptor, depth: usize) -> Result<String> {
    let path = blob_path(&d.digest, "index.json")?;
    let is_index = INDEX_TYPES.contains(&d.media_type.as_str())
        || (d.media_type.is_empty()
            && files
                .files
                .get(&path)
                .and_then(|b| b.read_all().ok())
                .is_some_and(|data| {
                    serde_json::from_slice::<serde_json::Value>(&data)
                        .is_ok_and(|v| v.get("manifests").is_some())
                }));
    if !is_index {
        return Ok(d.digest.clone());
    }
    if depth > 4 {
        return Err(invalid_archive("index.json: indexes nested too deeply"));
    }
    let (_, blob) = files.get(&path, "index.json")?;
    let nested: Index = parse_json(&blob.read_all()?, &path)?;
    let arch = host_architecture();
    let fits = |m: &&Descriptor| {
        m.platform
            .as_ref()
            .is_none_or(|p| p.os == "linux" && p.architecture == arch)
            && blob_path(&m.digest, "").is_ok_and(|p| files.has(&p))
    };
    match nested.manifests.iter().find(fits) {
        Some(m) => pick_manifest(files, m, depth + 1),
        None => Err(invalid_archive(format!(
            "{path}: no manifest for linux/{arch} in archive"
        ))),
    }
}

/// Checks (once per archive file and diff_id) that a layer blob
/// decompresses to `diff_id`; returns the uncompressed length.
fn verify_layer(
    verified: &mut BTreeMap<(String, String), u64>,
    key: &str,
    blob: &StagedBlob,
    diff_id: &str,
    what: &str,
) -> Result<u64> {
    let k = (key.to_string(), diff_id.to_string());
    if let Some(n) = verified.get(&k) {
        return Ok(*n);
    }
    let (d, n) = hash_layer(decompress(blob.open()?)?)?;
    if d != diff_id {
        return Err(invalid_archive(format!(
            "{what}: content has diff_id {d}, config expects {diff_id}"
        )));
    }
    verified.insert(k, n);
    Ok(n)
}

fn media_type_of(blob: &StagedBlob) -> Result<&'static str> {
    Ok(match detect(&mut BufReader::new(blob.open()?))? {
        Compression::None => MEDIA_LAYER_TAR,
        Compression::Gzip => MEDIA_LAYER_GZIP,
        Compression::Zstd => MEDIA_LAYER_ZSTD,
        Compression::Bzip2 | Compression::Xz => {
            return Err(Error::InvalidArchive(
                "a layer compressed with bzip2 or xz is not supported".into(),
            ));
        }
    })
}

impl Store {
    /// `docker load`. Reports "Loaded image: <ref>" per tag (or "Loaded
    /// image ID: <id>" for an untagged image) through `progress`.
    pub fn load(&self, r: impl Read, progress: &mut dyn FnMut(&str)) -> Result<Vec<LoadedImage>> {
        let mut files = ArchiveFiles::read(&self.blobs, r)?;
        let plans = if files.has("manifest.json") {
            docker_plans(&files)?
        } else if files.has("index.json") {
            oci_plans(&files)?
        } else {
            return Err(invalid_archive("no manifest.json or index.json in archive"));
        };

        // Check everything and unpack new layers into staging.
        let mut staged_layers: BTreeMap<String, StagedLayer> = BTreeMap::new();
        let mut verified: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut needed: BTreeSet<String> = BTreeSet::new();
        let mut images = Vec::new();
        for plan in &plans {
            let (cfg_key, cfg_blob) = files.get(&plan.config, &plan.source)?;
            let config = ImageConfig::from_slice(&cfg_blob.read_all()?).map_err(|e| match e {
                Error::InvalidArchive(m) => invalid_archive(format!("{}: {m}", plan.config)),
                e => e,
            })?;
            let id = ImageId::from_digest(cfg_blob.digest());
            needed.insert(cfg_key.to_string());
            let diff_ids = config.diff_ids();
            if diff_ids.len() != plan.layers.len() {
                return Err(invalid_archive(format!(
                    "{}: image {} lists {} layers but its config has {} diff_ids",
                    plan.source,
                    id,
                    plan.layers.len(),
                    diff_ids.len()
                )));
            }
            let chains = chain_ids(&diff_ids);
            let mut layers = Vec::new();
            for (i, path) in plan.layers.iter().enumerate() {
                let what = format!("{}: layer {path}", plan.source);
                let (key, blob) = files.get(path, &plan.source).map_err(|_| {
                    invalid_archive(format!(
                        "{}: layer {path} not found in archive",
                        plan.source
                    ))
                })?;
                needed.insert(key.to_string());
                let (chain, diff_id) = (&chains[i], &diff_ids[i]);
                let (tar_size, unpacked_size) = if let Some(s) = staged_layers.get(chain) {
                    verify_layer(&mut verified, key, blob, diff_id, &what)?;
                    (s.meta.tar_size, s.meta.size)
                } else if self.layers.exists(chain) {
                    let n = verify_layer(&mut verified, key, blob, diff_id, &what)?;
                    (n, self.layers.meta(chain)?.size)
                } else {
                    let parent = i.checked_sub(1).map(|p| chains[p].as_str());
                    let s = self.layers.stage(
                        blob.open()?,
                        diff_id,
                        chain,
                        parent,
                        &what,
                        Stage::KEEP,
                    )?;
                    let sizes = (s.meta.tar_size, s.meta.size);
                    verified.insert((key.to_string(), diff_id.clone()), sizes.0);
                    staged_layers.insert(chain.clone(), s);
                    sizes
                };
                layers.push(LayerRecord {
                    digest: blob.digest().to_string(),
                    media_type: media_type_of(blob)?.to_string(),
                    size: blob.size(),
                    diff_id: diff_id.clone(),
                    tar_size,
                    unpacked_size,
                });
            }
            if let Some(m) = &plan.manifest {
                needed.insert(blob_path(m, &plan.source)?);
            }
            let record = ImageRecord {
                id,
                layers,
                manifest_digest: plan.manifest.clone(),
                parent: None,
            };
            images.push((record, config, plan.refs.clone()));
        }

        // Commit: blobs, layers, then records and tags.
        let mut messages = Vec::new();
        let mut loaded = Vec::new();
        {
            let mut st = self.lock();
            for key in &needed {
                if let Some(blob) = files.files.remove(key) {
                    self.blobs.commit(blob)?;
                }
            }
            for (_, layer) in staged_layers {
                self.layers.commit(layer)?;
            }
            for (record, config, refs) in images {
                let id = record.id.clone();
                for (name, old) in self.insert_locked(&mut st, record, config, &refs)? {
                    messages.push(format!(
                        "The image {name} already exists, renaming the old one with ID {old} to empty string"
                    ));
                }
                let tags: Vec<String> = refs.iter().map(Reference::familiar).collect();
                if tags.is_empty() {
                    messages.push(format!("Loaded image ID: {id}"));
                }
                messages.extend(tags.iter().map(|t| format!("Loaded image: {t}")));
                loaded.push(LoadedImage { id, tags });
            }
        }
        for m in &messages {
            progress(m);
        }
        Ok(loaded)
    }
}

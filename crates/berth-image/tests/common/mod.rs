//! Builders for test archives.
#![allow(dead_code)]

use std::io::Write;

use sha2::{Digest, Sha256};

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn hexof(d: &str) -> &str {
    d.trim_start_matches("sha256:")
}

/// A layer tar of (name, content) files; a name ending in `/` is a directory.
pub fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_mtime(1);
        if name.contains("..") {
            // The builder refuses such names; hostile archives have them.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        } else {
            b.append_data(&mut h, name, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

pub fn config(layers: &[&[u8]], cmd: &str) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| serde_json::json!({"created": "2020-01-01T00:00:00Z", "created_by": format!("step {i}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
        "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": ids},
        "history": history,
    }))
    .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

pub struct TarOut(tar::Builder<Vec<u8>>);

impl TarOut {
    pub fn new() -> Self {
        TarOut(tar::Builder::new(Vec::new()))
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        self.0.append_link(&mut h, name, target).unwrap();
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// docker-archive in the old layout: `<n>/layer.tar`, `<cfg>.json`.
pub fn docker_archive_old(cfg: &[u8], layers: &[Vec<u8>], tags: &[&str]) -> Vec<u8> {
    let mut t = TarOut::new();
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("layer{i}/layer.tar");
        t.file(&p, l);
        paths.push(p);
    }
    let cfg_name = format!("{}.json", hexof(&sha(cfg)));
    t.file(&cfg_name, cfg);
    let m = serde_json::json!([{"Config": cfg_name, "RepoTags": tags, "Layers": paths}]);
    t.file("manifest.json", &serde_json::to_vec(&m).unwrap());
    t.finish()
}

/// OCI layout with one manifest; `name` goes in the annotations.
pub fn oci_archive(cfg: &[u8], layers: &[Vec<u8>], name: Option<&str>) -> Vec<u8> {
    let mut t = TarOut::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut descs = Vec::new();
    for l in layers {
        t.file(&format!("blobs/sha256/{}", hexof(&sha(l))), l);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(l), "size": l.len()}));
    }
    t.file(&format!("blobs/sha256/{}", hexof(&sha(cfg))), cfg);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": cfg.len()},
        "layers": descs})).unwrap();
    t.file(&format!("blobs/sha256/{}", hexof(&sha(&m))), &m);
    let mut d = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&m), "size": m.len()});
    if let Some(n) = name {
        d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": n});
    }
    t.file(
        "index.json",
        &serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [d]})).unwrap(),
    );
    t.finish()
}

/// Everything under a store root except directories, sorted.
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(root).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

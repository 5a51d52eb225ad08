//! Image records (`<root>/images/<id hex>.json`) and the tag map
//! (`<root>/repositories.json`: full reference → image id), written atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::ImageId;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{remove_temp_files, write_atomic};

/// Media types of layer blobs.
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// One layer of an image as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the blob as received (possibly compressed).
    pub digest: String,
    pub media_type: String,
    /// Size of the blob.
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Length of the uncompressed tar.
    pub tar_size: u64,
    /// Sum of the regular files' sizes in the layer.
    pub unpacked_size: u64,
}

/// What the store knows about an image besides its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: ImageId,
    pub layers: Vec<LayerRecord>,
    /// Digest of the manifest the image came with (OCI layout, pull).
    #[serde(default)]
    pub manifest_digest: Option<String>,
    /// The image this one was committed from.
    #[serde(default)]
    pub parent: Option<ImageId>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TagFile {
    refs: BTreeMap<String, ImageId>,
}

/// Reads and writes records and tags.
#[derive(Debug)]
pub(crate) struct MetaDir {
    images: PathBuf,
    tags: PathBuf,
}

impl MetaDir {
    pub(crate) fn open(root: &Path) -> Result<MetaDir> {
        let images = root.join("images");
        fs::create_dir_all(&images).ctx(|| format!("create {}", images.display()))?;
        remove_temp_files(&images)?;
        remove_temp_files(root)?;
        Ok(MetaDir {
            images,
            tags: root.join("repositories.json"),
        })
    }

    pub(crate) fn load_records(&self) -> Result<Vec<ImageRecord>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.images).ctx(|| format!("read {}", self.images.display()))? {
            let p = e.ctx(|| format!("read {}", self.images.display()))?.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let data = fs::read(&p).ctx(|| format!("read {}", p.display()))?;
            match serde_json::from_slice::<ImageRecord>(&data) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "ignoring unreadable image record")
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn write_record(&self, r: &ImageRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(r).expect("serialize image record");
        write_atomic(&self.images.join(format!("{}.json", r.id.hex())), &json)
    }

    pub(crate) fn remove_record(&self, id: &ImageId) -> Result<()> {
        let p = self.images.join(format!("{}.json", id.hex()));
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::Io(format!("remove {}", p.display()), e))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn load_tags(&self) -> Result<BTreeMap<String, ImageId>> {
        match fs::read(&self.tags) {
            Ok(data) => serde_json::from_slice::<TagFile>(&data)
                .map(|t| t.refs)
                .map_err(|e| Error::Io(format!("parse {}", self.tags.display()), e.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(Error::Io(format!("read {}", self.tags.display()), e)),
        }
    }

    pub(crate) fn write_tags(&self, refs: &BTreeMap<String, ImageId>) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(&TagFile { refs: refs.clone() }).expect("serialize tags");
        write_atomic(&self.tags, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_tags_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let m = MetaDir::open(t.path()).unwrap();
        assert!(m.load_tags().unwrap().is_empty());
        let id = ImageId::parse(&"a".repeat(64)).unwrap();
        let r = ImageRecord {
            id: id.clone(),
            layers: vec![],
            manifest_digest: None,
            parent: None,
        };
        m.write_record(&r).unwrap();
        assert_eq!(m.load_records().unwrap(), [r]);
        let mut tags = BTreeMap::new();
        tags.insert("docker.io/library/x:latest".to_string(), id.clone());
        m.write_tags(&tags).unwrap();
        assert_eq!(m.load_tags().unwrap(), tags);
        m.remove_record(&id).unwrap();
        m.remove_record(&id).unwrap();
        assert!(m.load_records().unwrap().is_empty());
    }
}

//! What `berth system check` asks of the image store: images whose content
//! is gone, half-written blobs and layers, layers nothing uses.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::layers::chain_ids;
use crate::store::Store;

/// Something of the store that is not as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// An image's config, or a layer with neither its unpacked copy (and
    /// tar-split) nor its blob: the image cannot be run or saved.
    MissingContent { image: String, what: String },
    /// A temp file or directory an interrupted write left, older than the
    /// given time (so no write running now owns it).
    HalfWritten(PathBuf),
}

fn older(p: &Path, than: SystemTime) -> bool {
    std::fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t < than)
}

impl Store {
    /// Every image's content, and what interrupted writes left before
    /// `before`.
    pub fn defects(&self, before: SystemTime) -> Vec<Defect> {
        let mut out = Vec::new();
        let records: Vec<_> = {
            let st = self.lock();
            st.images
                .values()
                .map(|e| (e.record.clone(), e.config.diff_ids()))
                .collect()
        };
        for (rec, diff_ids) in records {
            let image = rec.id.to_string();
            if !self.blobs.exists(rec.id.as_str()) {
                out.push(Defect::MissingContent {
                    image: image.clone(),
                    what: format!("its config blob {}", rec.id),
                });
            }
            for (chain, l) in chain_ids(&diff_ids).iter().zip(&rec.layers) {
                let blob = self.blobs.exists(&l.digest);
                let unpacked =
                    self.layers.exists(chain) && (blob || self.layers.split_file(chain).is_file());
                if !blob && !unpacked {
                    out.push(Defect::MissingContent {
                        image: image.clone(),
                        what: format!("layer {} (blob {})", l.diff_id, l.digest),
                    });
                }
            }
        }
        let mut temp = |dir: &Path, all: bool| {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if (all || name.starts_with(".tmp-")) && older(&e.path(), before) {
                    out.push(Defect::HalfWritten(e.path()));
                }
            }
        };
        temp(self.blobs.dir(), false);
        temp(&self.root.join("tmp"), true);
        temp(self.layers.dir(), false);
        // A layer directory without its meta.json was never committed.
        for e in std::fs::read_dir(self.layers.dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(".tmp-")
                && !self.layers.exists(&format!("sha256:{name}"))
                && older(&e.path(), before)
            {
                out.push(Defect::HalfWritten(e.path()));
            }
        }
        out
    }

    /// Remove what [`Store::defects`] found half-written (under the store's
    /// root only).
    pub fn remove_half_written(&self, p: &Path) -> std::io::Result<()> {
        if !p.starts_with(&self.root) {
            return Err(std::io::Error::other(format!(
                "{} is not in the image store",
                p.display()
            )));
        }
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
            Ok(_) => std::fs::remove_file(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Layers no image uses and no snapshot stands on (`in_use`: lower
    /// directories): how many, and their bytes. They are kept a day for the
    /// next pull, then removed at start.
    pub fn unused_layers(&self, in_use: &[PathBuf]) -> (u64, u64) {
        let chains = self.unused_chains(&self.lock(), in_use);
        let size = chains
            .iter()
            .map(|c| self.layers.meta(c).map(|m| m.size).unwrap_or(0))
            .sum();
        (chains.len() as u64, size)
    }
}

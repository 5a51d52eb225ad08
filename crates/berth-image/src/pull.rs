//! What a registry pull needs from the store: layers staged straight from
//! the download stream — hashed, decompressed and unpacked in one pass,
//! with a tar-split recorded so that no copy of the compressed blob is
//! needed (one is kept only when asked) — and the image committed with its
//! manifest once every layer checked out.
//!
//! A verified layer may be committed on its own before the image (so a
//! concurrent pull of the same layer finds it, and a pull killed midway
//! leaves its finished layers for the next one); no image, tag or record is
//! visible before [`Store::commit_pull`].

use std::io::{self, Read, Write};

use crate::blobs::{BlobSink, StagedBlob};
use crate::config::ImageConfig;
use crate::digest::{HashingReader, ImageId, sha256_digest};
use crate::error::{Error, Result, invalid_archive};
use crate::layers::{Stage, StagedLayer, chain_ids};
use crate::meta::{ImageRecord, LayerRecord};
use crate::reference::Reference;
use crate::store::Store;

/// A pulled layer: verified, maybe not yet committed.
#[derive(Debug)]
pub struct PulledLayer {
    blob: Option<StagedBlob>,
    layer: Option<StagedLayer>,
    /// Neither a kept blob nor a tar-split can give its tar back.
    needs_blob: bool,
    pub record: LayerRecord,
}

impl PulledLayer {
    /// The layer's tar could not be split (duplicate paths, …): its blob
    /// must be kept, see [`Store::attach_blob`].
    pub fn needs_blob(&self) -> bool {
        self.needs_blob
    }
}

/// What a registry says about a layer blob, and where it goes.
#[derive(Debug, Clone)]
pub struct LayerSource<'a> {
    pub digest: &'a str,
    /// 0 when unknown.
    pub size: u64,
    pub media_type: &'a str,
    pub diff_id: &'a str,
    pub chain_id: &'a str,
    pub parent: Option<&'a str>,
}

/// Copies what is read into a blob being staged.
struct Tee<'a, R> {
    inner: R,
    sink: Option<&'a mut BlobSink>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(s) = &mut self.sink {
            s.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

fn verification_failed(digest: &str) -> Error {
    invalid_archive(format!(
        "filesystem layer verification failed for digest {digest}"
    ))
}

impl Store {
    /// The layer, if it is unpacked here already for this chain and its tar
    /// can be given back ("Already exists").
    pub fn present_layer(&self, src: &LayerSource<'_>) -> Option<LayerRecord> {
        let meta = self.layers.meta(src.chain_id).ok()?;
        if meta.diff_id != src.diff_id || !(meta.split || self.blobs.exists(src.digest)) {
            return None;
        }
        Some(LayerRecord {
            digest: src.digest.to_string(),
            media_type: src.media_type.to_string(),
            size: src.size,
            diff_id: src.diff_id.to_string(),
            tar_size: meta.tar_size,
            unpacked_size: meta.size,
        })
    }

    /// True when the layer of this chain id is unpacked here.
    pub fn has_layer(&self, chain_id: &str) -> bool {
        self.layers.exists(chain_id)
    }

    /// Stages a layer from its (possibly compressed) blob stream. Fails,
    /// leaving nothing, if the blob's digest or size or the layer's diff_id
    /// is not what the registry and the config said. With `keep_blob` the
    /// blob is kept as received (and no tar-split is recorded).
    pub fn pull_layer(
        &self,
        r: impl Read,
        src: &LayerSource<'_>,
        keep_blob: bool,
    ) -> Result<PulledLayer> {
        let mut sink = if keep_blob {
            Some(self.blobs.sink()?)
        } else {
            None
        };
        let what = format!("layer {}", src.digest);
        let mut hashed = HashingReader::new(Tee {
            inner: r,
            sink: sink.as_mut(),
        });
        let layer = if self.present_layer(src).is_some() {
            None
        } else {
            let staged = self.layers.stage(
                &mut hashed,
                src.diff_id,
                src.chain_id,
                src.parent,
                &what,
                // Flushed once for the whole image, in commit_pull.
                Stage {
                    split: !keep_blob,
                    sync: false,
                },
            );
            match staged {
                Ok(s) => Some(s),
                // A stream cut short or not a tar: say which layer failed;
                // a wrong digest wins over what it broke.
                Err(e) => {
                    return match hashed.finish() {
                        Ok((d, _)) if d != src.digest => Err(verification_failed(src.digest)),
                        _ => Err(e),
                    };
                }
            }
        };
        // Whatever the decompressor left unread still counts for the digest.
        let (digest, size) = hashed
            .finish()
            .map_err(|e| Error::Io(format!("read {what}"), e))?;
        if digest != src.digest || (src.size > 0 && size != src.size) {
            return Err(verification_failed(src.digest));
        }
        let blob = sink.map(|s| s.finish()).transpose()?;
        let meta = match &layer {
            Some(l) => l.meta.clone(),
            None => self.layers.meta(src.chain_id)?,
        };
        if meta.diff_id != src.diff_id {
            return Err(invalid_archive(format!(
                "{what}: present layer has diff_id {}, config expects {}",
                meta.diff_id, src.diff_id
            )));
        }
        Ok(PulledLayer {
            needs_blob: blob.is_none() && !meta.split && !self.blobs.exists(src.digest),
            record: LayerRecord {
                digest: src.digest.to_string(),
                media_type: src.media_type.to_string(),
                size,
                diff_id: src.diff_id.to_string(),
                tar_size: meta.tar_size,
                unpacked_size: meta.size,
            },
            blob,
            layer,
        })
    }

    /// Keeps the blob of a layer that needs it (read again from the registry).
    pub fn attach_blob(&self, l: &mut PulledLayer, r: impl Read) -> Result<()> {
        let b = self.blobs.stage(r)?;
        if b.digest() != l.record.digest {
            return Err(verification_failed(&l.record.digest));
        }
        l.blob = Some(b);
        l.needs_blob = false;
        Ok(())
    }

    /// Makes a verified layer visible on its own (not yet part of an
    /// image): a concurrent pull finds it, and a later pull reuses it if
    /// this one fails.
    pub fn commit_layer(&self, mut l: PulledLayer) -> Result<LayerRecord> {
        if l.needs_blob {
            return Err(invalid_archive(format!(
                "layer {}: its tar cannot be kept",
                l.record.digest
            )));
        }
        if let Some(b) = l.blob.take() {
            self.blobs.commit(b)?;
        }
        if let Some(s) = l.layer.take() {
            self.layers.commit(s)?;
        }
        Ok(l.record)
    }

    /// Makes a pulled image visible once its layers are committed
    /// ([`Store::commit_layer`]): config and manifest blobs, its record,
    /// then `refs` (its tag and `repo@digest`). Returns the image id and
    /// the images that lost a tag to it.
    pub fn commit_pull(
        &self,
        config: &[u8],
        manifest: Option<&[u8]>,
        layers: Vec<LayerRecord>,
        refs: &[Reference],
    ) -> Result<(ImageId, Vec<(String, ImageId)>)> {
        let parsed = ImageConfig::from_slice(config)?;
        let id = ImageId::from_digest(&sha256_digest(config));
        let diff_ids = parsed.diff_ids();
        if diff_ids.len() != layers.len()
            || diff_ids.iter().zip(&layers).any(|(d, l)| *d != l.diff_id)
        {
            return Err(invalid_archive(format!(
                "image {id}: layers do not match the config's diff_ids"
            )));
        }
        for (chain, l) in chain_ids(&diff_ids).iter().zip(&layers) {
            if !self.layers.exists(chain) {
                return Err(invalid_archive(format!(
                    "image {id}: layer {} is not here",
                    l.digest
                )));
            }
        }
        // The layers' content reaches the disk before an image points at it.
        self.layers.sync()?;
        let manifest_digest = match manifest {
            Some(m) => Some(self.blobs.ingest(m, None)?.0),
            None => None,
        };
        self.blobs.ingest(config, Some(id.as_str()))?;
        let record = ImageRecord {
            id: id.clone(),
            layers,
            manifest_digest,
            parent: None,
        };
        let mut st = self.lock();
        let moved = self.insert_locked(&mut st, record, parsed, refs)?;
        Ok((id, moved))
    }
}

//! What a push needs from the store: a layer's blob as a registry should
//! receive it — the kept compressed blob when there is one, else the
//! layer's exact tar compressed deterministically (same tar, same settings,
//! same bytes: the pushed digest is stable across pushes), with the tar
//! checked against its diff_id on the way.

use std::io::{self, Read, Write};

use crate::compression::{Compression, detect};
use crate::digest::HashingWriter;
use crate::distribution::Compressed;
use crate::error::{Error, Result, invalid_archive};
use crate::meta::{MEDIA_LAYER_GZIP, MEDIA_LAYER_ZSTD};
use crate::store::{Image, Store};

/// How layers are compressed for a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushCompression {
    Gzip,
    Zstd,
}

impl PushCompression {
    pub fn name(self) -> &'static str {
        match self {
            PushCompression::Gzip => "gzip",
            PushCompression::Zstd => "zstd",
        }
    }

    /// The OCI media type of a layer compressed so.
    pub fn media_type(self) -> &'static str {
        match self {
            PushCompression::Gzip => MEDIA_LAYER_GZIP,
            PushCompression::Zstd => MEDIA_LAYER_ZSTD,
        }
    }
}

/// gzip level for pushes: zlib-rs at 6 (zlib's default, what registries'
/// users expect in size) runs at a fraction of network speeds on a local
/// registry; 3 is ≈2× faster for a few percent more bytes.
const GZIP_LEVEL: u32 = 3;
/// zstd level (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// Counts what is read (for progress).
struct Counting<'a, R> {
    inner: R,
    seen: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.seen)(n as u64);
        Ok(n)
    }
}

impl Store {
    /// The kept blob of an image's `i`-th layer, if it is compressed as a
    /// registry takes it: (digest, size, OCI media type).
    pub fn push_blob(&self, image: &Image, i: usize) -> Option<Compressed> {
        let l = image.layers.get(i)?;
        let f = self.blobs.open_blob(&l.digest).ok()?;
        let media = match detect(&mut io::BufReader::new(f)).ok()? {
            Compression::Gzip => MEDIA_LAYER_GZIP,
            Compression::Zstd => MEDIA_LAYER_ZSTD,
            Compression::None | Compression::Bzip2 | Compression::Xz => return None,
        };
        Some(Compressed {
            digest: l.digest.clone(),
            size: self.blobs.size(&l.digest).ok()?,
            media_type: media.to_string(),
        })
    }

    /// The manifest an image came with (pull, OCI load), if kept.
    pub fn manifest_of(&self, id: &crate::ImageId) -> Option<Vec<u8>> {
        let d = {
            let st = self.lock();
            st.images.get(id)?.record.manifest_digest.clone()?
        };
        self.blobs.read(&d).ok()
    }

    /// Opens a blob for upload.
    pub fn open_push_blob(&self, digest: &str) -> Result<std::fs::File> {
        self.blobs.open_blob(digest)
    }

    /// Compress an image's `i`-th layer tar into `out`; `seen` gets the
    /// tar bytes as they are read. The tar must hash to the layer's
    /// diff_id. The result is remembered for the next push.
    pub fn compress_layer(
        &self,
        image: &Image,
        i: usize,
        kind: PushCompression,
        out: impl Write,
        seen: &mut dyn FnMut(u64),
    ) -> Result<Compressed> {
        let diff_ids = image.config.diff_ids();
        let diff_id = diff_ids
            .get(i)
            .ok_or_else(|| Error::InvalidArgument(format!("image {} has no layer {i}", image.id)))?
            .clone();
        let tar = self.layer_tar(image, i)?;
        let mut tar = crate::digest::HashingReader::new(Counting { inner: tar, seen });
        let w = HashingWriter::new(out);
        let io_err = |e: io::Error| Error::Io(format!("compress layer {diff_id}"), e);
        let w = match kind {
            PushCompression::Gzip => {
                // No name, mtime 0: the same tar always gives the same bytes.
                let mut gz = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(w, flate2::Compression::new(GZIP_LEVEL));
                io::copy(&mut tar, &mut gz).map_err(io_err)?;
                gz.finish().map_err(io_err)?
            }
            PushCompression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL).map_err(io_err)?;
                z.include_checksum(false).map_err(io_err)?;
                io::copy(&mut tar, &mut z).map_err(io_err)?;
                z.finish().map_err(io_err)?
            }
        };
        let (got, _) = tar.finish().map_err(io_err)?;
        if got != diff_id {
            return Err(invalid_archive(format!(
                "layer {diff_id}: its content now hashes to {got}"
            )));
        }
        let (mut out, digest, size) = w.finish();
        out.flush().map_err(io_err)?;
        let c = Compressed {
            digest,
            size,
            media_type: kind.media_type().to_string(),
        };
        self.set_compressed(&diff_id, kind.name(), &c)?;
        Ok(c)
    }
}

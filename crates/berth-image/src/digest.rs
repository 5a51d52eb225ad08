//! sha256 digests: the image id type and streaming hash helpers.

use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// An image id: `sha256:<64 hex>`, the digest of the image's config JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageId(String);

impl ImageId {
    /// Accepts `sha256:<64 hex>` or the bare 64 hex digits.
    pub fn parse(s: &str) -> Result<ImageId> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if is_sha256_hex(hex) {
            Ok(ImageId(format!("sha256:{hex}")))
        } else {
            Err(Error::InvalidArgument(format!("invalid image id: {s}")))
        }
    }

    pub(crate) fn from_digest(digest: &str) -> ImageId {
        debug_assert!(is_digest(digest));
        ImageId(digest.to_string())
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The first 12 hex digits, as `docker images` shows.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `sha256:<64 lowercase hex>`.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_sha256_hex)
}

/// `sha256:<hex>` of a byte string.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (so the digest covers all of it) and
    /// returns `(digest, bytes)`.
    pub(crate) fn finish(self) -> io::Result<(String, u64)> {
        self.finish_inner().map(|(d, n, _)| (d, n))
    }

    /// [`HashingReader::finish`], also giving the inner reader back.
    pub(crate) fn finish_inner(mut self) -> io::Result<(String, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
            self.inner,
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Returns the inner writer, `sha256:<hex>` and the byte count.
    pub(crate) fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests_of_bytes_and_streams_agree() {
        assert_eq!(sha256_digest(b""), format!("sha256:{EMPTY}"));
        let r = HashingReader::new(&b"hello"[..]);
        let (d, n) = r.finish().unwrap();
        assert_eq!((d, n), (sha256_digest(b"hello"), 5));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (v, d, n) = w.finish();
        assert_eq!((v, d, n), (b"hello".to_vec(), sha256_digest(b"hello"), 5));
    }

    #[test]
    fn image_ids() {
        let id = ImageId::parse(EMPTY).unwrap();
        assert_eq!(id.as_str(), format!("sha256:{EMPTY}"));
        assert_eq!(id.short(), "e3b0c44298fc");
        assert_eq!(ImageId::parse(&format!("sha256:{EMPTY}")).unwrap(), id);
        assert!(ImageId::parse("sha256:abc").is_err());
        assert!(ImageId::parse(&EMPTY.to_uppercase()).is_err());
        assert!(is_digest(id.as_str()) && !is_digest(EMPTY));
    }
}

//! Content-addressed blobs under `<root>/blobs/sha256/<hex>`.
//!
//! A blob only ever appears under its name complete and verified: it is
//! written to a temp file in the same directory, fsynced, its sha256 checked,
//! then renamed into place.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::digest::{HashingWriter, is_digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{remove_temp_files, sync_dir};

/// The blob directory.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

/// A blob written to a temp file and hashed, not yet visible under its name.
/// Dropping it removes the temp file.
#[derive(Debug)]
pub struct StagedBlob {
    tmp: NamedTempFile,
    digest: String,
    size: u64,
}

impl StagedBlob {
    /// `sha256:<hex>` of the content.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Opens the content for reading from the start.
    pub fn open(&self) -> Result<File> {
        self.tmp
            .reopen()
            .ctx(|| format!("reopen staged blob {}", self.digest))
    }

    /// Reads the whole content.
    pub fn read_all(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open()?
            .read_to_end(&mut v)
            .ctx(|| format!("read staged blob {}", self.digest))?;
        Ok(v)
    }
}

/// A blob being written; [`BlobSink::finish`] makes it a [`StagedBlob`].
pub struct BlobSink {
    w: HashingWriter<io::BufWriter<NamedTempFile>>,
}

impl Write for BlobSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl BlobSink {
    /// Flushes and hashes what was written.
    pub fn finish(self) -> Result<StagedBlob> {
        let (buf, digest, size) = self.w.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::Io("write blob".to_string(), e.into_error()))?;
        Ok(StagedBlob { tmp, digest, size })
    }
}

impl Blobs {
    /// Opens (creating) `dir` and removes leftover temp files.
    pub fn open(dir: &Path) -> Result<Blobs> {
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        remove_temp_files(dir)?;
        Ok(Blobs {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory of the blobs.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `sha256:<hex>` lives.
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        if !is_digest(digest) {
            return Err(Error::InvalidArgument(format!("invalid digest: {digest}")));
        }
        Ok(self.dir.join(&digest["sha256:".len()..]))
    }

    /// True when the blob is present.
    pub fn exists(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Writes a stream to a temp file in the blob directory, hashing it.
    pub fn stage(&self, mut r: impl Read) -> Result<StagedBlob> {
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .ctx(|| format!("create temp file in {}", self.dir.display()))?;
        let mut w = HashingWriter::new(tmp);
        io::copy(&mut r, &mut w).ctx(|| "write blob".to_string())?;
        let (tmp, digest, size) = w.finish();
        Ok(StagedBlob { tmp, digest, size })
    }

    /// A writer staging a blob as it is written (for streams that are
    /// also consumed elsewhere, such as a pulled layer being unpacked).
    pub fn sink(&self) -> Result<BlobSink> {
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .ctx(|| format!("create temp file in {}", self.dir.display()))?;
        Ok(BlobSink {
            w: HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, tmp)),
        })
    }

    /// Makes a staged blob visible under its digest (fsync, rename). If the
    /// blob already exists the staged copy is dropped.
    pub fn commit(&self, staged: StagedBlob) -> Result<String> {
        let path = self.path(&staged.digest)?;
        if path.is_file() {
            return Ok(staged.digest);
        }
        staged
            .tmp
            .as_file()
            .sync_all()
            .ctx(|| format!("fsync blob {}", staged.digest))?;
        staged
            .tmp
            .persist(&path)
            .map_err(|e| e.error)
            .ctx(|| format!("rename to {}", path.display()))?;
        sync_dir(&self.dir)?;
        Ok(staged.digest)
    }

    /// Ingests a stream; with `expected`, refuses content of another digest
    /// (nothing is left behind). Returns `(digest, size)`.
    pub fn ingest(&self, r: impl Read, expected: Option<&str>) -> Result<(String, u64)> {
        let staged = self.stage(r)?;
        if let Some(want) = expected
            && want != staged.digest
        {
            return Err(Error::InvalidArchive(format!(
                "digest mismatch: expected {want}, content has {}",
                staged.digest
            )));
        }
        let size = staged.size;
        Ok((self.commit(staged)?, size))
    }

    /// Opens a blob.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let p = self.path(digest)?;
        File::open(&p).ctx(|| format!("open blob {digest}"))
    }

    /// Reads a whole blob.
    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.path(digest)?;
        fs::read(&p).ctx(|| format!("read blob {digest}"))
    }

    /// Size of a blob.
    pub fn size(&self, digest: &str) -> Result<u64> {
        let p = self.path(digest)?;
        Ok(fs::metadata(&p)
            .ctx(|| format!("stat blob {digest}"))?
            .len())
    }

    /// Removes a blob; absent is fine.
    pub fn remove(&self, digest: &str) -> Result<()> {
        let p = self.path(digest)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::Io(format!("remove blob {digest}"), e))
            }
            _ => Ok(()),
        }
    }

    /// All blob digests present.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        for e in fs::read_dir(&self.dir).ctx(|| format!("read {}", self.dir.display()))? {
            let e = e.ctx(|| format!("read {}", self.dir.display()))?;
            let d = format!("sha256:{}", e.file_name().to_string_lossy());
            if is_digest(&d) {
                v.push(d);
            }
        }
        v.sort();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    fn dir_names(d: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn ingest_verifies_and_names_by_digest() {
        let t = tempfile::tempdir().unwrap();
        let b = Blobs::open(&t.path().join("sha256")).unwrap();
        let d = sha256_digest(b"data");
        let (got, size) = b.ingest(&b"data"[..], Some(&d)).unwrap();
        assert_eq!((got.as_str(), size), (d.as_str(), 4));
        assert!(b.exists(&d));
        assert_eq!(b.read(&d).unwrap(), b"data");
        assert_eq!(b.size(&d).unwrap(), 4);
        assert_eq!(b.list().unwrap(), std::slice::from_ref(&d));
        // Same content again: fine, still one blob.
        b.ingest(&b"data"[..], None).unwrap();
        assert_eq!(dir_names(&t.path().join("sha256")).len(), 1);
        b.remove(&d).unwrap();
        b.remove(&d).unwrap();
        assert!(!b.exists(&d));
    }

    #[test]
    fn mismatch_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let b = Blobs::open(&t.path().join("sha256")).unwrap();
        let e = b
            .ingest(&b"data"[..], Some(&sha256_digest(b"other")))
            .unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        assert!(dir_names(&t.path().join("sha256")).is_empty());
        let staged = b.stage(&b"x"[..]).unwrap();
        assert_eq!(staged.read_all().unwrap(), b"x");
        drop(staged);
        assert!(dir_names(&t.path().join("sha256")).is_empty());
        assert!(b.path("sha256:zz").is_err());
    }
}

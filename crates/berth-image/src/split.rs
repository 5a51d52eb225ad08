//! Tar-split: what a layer tar holds besides its regular files' contents
//! (headers, extension records, padding, the end blocks), recorded while the
//! layer is unpacked, so that the exact tar — the same bytes, hence the
//! same diff_id — can be rebuilt from the unpacked directory. Pulled layers
//! keep no compressed copy: `docker save` and `docker push` rebuild their
//! tars from this.
//!
//! Stored as `<layer>/split.zst`: zstd of a magic line and a sequence of
//! records, `R <u32 len> <bytes>` (raw tar bytes) and
//! `F <u64 size> <u16 len> <path>` (a regular file's content, read back
//! from the layer directory). Records are written as the tar streams by,
//! so memory stays flat whatever the layer's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, IoContext, Result};

const MAGIC: &[u8] = b"BERTHSPLIT1\n";
/// Raw bytes are flushed into a record at this size at the latest.
const RAW_CHUNK: usize = 64 * 1024;

/// One record of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Raw(Vec<u8>),
    File { path: Vec<u8>, size: u64 },
}

type Encoder = zstd::stream::write::Encoder<'static, BufWriter<File>>;

/// What the recorder has seen so far; records go straight to the file.
pub struct State {
    /// Bytes passed through.
    pos: u64,
    /// Raw bytes not yet written as a record.
    pending: Vec<u8>,
    /// The content span being skipped: [start, end).
    skip: Option<(u64, u64)>,
    /// Files whose content the split names, with their sizes.
    files: HashMap<Vec<u8>, u64>,
    out: Option<Encoder>,
    file: PathBuf,
    /// Why the split cannot rebuild the tar (a path written twice, content
    /// the unpacker does not keep), or a write failure.
    broken: Option<String>,
}

impl State {
    fn create(file: &Path) -> Result<State> {
        let f = File::create(file).ctx(|| format!("create {}", file.display()))?;
        let mut out = zstd::stream::write::Encoder::new(BufWriter::new(f), 3)
            .ctx(|| "zstd encoder".to_string())?;
        out.write_all(MAGIC)
            .ctx(|| format!("write {}", file.display()))?;
        Ok(State {
            pos: 0,
            pending: Vec::new(),
            skip: None,
            files: HashMap::new(),
            out: Some(out),
            file: file.to_path_buf(),
            broken: None,
        })
    }

    fn write(&mut self, seg: &Segment) {
        let Some(out) = &mut self.out else { return };
        let r = match seg {
            Segment::Raw(b) => out
                .write_all(b"R")
                .and_then(|_| out.write_all(&(b.len() as u32).to_le_bytes()))
                .and_then(|_| out.write_all(b)),
            Segment::File { path, size } => out
                .write_all(b"F")
                .and_then(|_| out.write_all(&size.to_le_bytes()))
                .and_then(|_| out.write_all(&(path.len() as u16).to_le_bytes()))
                .and_then(|_| out.write_all(path)),
        };
        if let Err(e) = r {
            self.break_split(format!("write {}: {e}", self.file.display()));
        }
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let seg = Segment::Raw(std::mem::take(&mut self.pending));
            self.write(&seg);
        }
    }

    /// The next `size` bytes, from `start` on, are the content of `path`,
    /// which the unpacker writes out unchanged.
    pub fn content(&mut self, start: u64, size: u64, path: &[u8]) {
        if size == 0 {
            return;
        }
        if path.len() > u16::MAX as usize {
            self.break_split("path too long".into());
            return;
        }
        if self.files.insert(path.to_vec(), size).is_some() {
            self.break_split(format!(
                "{} is written twice",
                String::from_utf8_lossy(path)
            ));
            return;
        }
        if start < self.pos {
            self.break_split("content already read".into());
            return;
        }
        self.skip = Some((start, start + size));
        self.flush_pending();
        self.write(&Segment::File {
            path: path.to_vec(),
            size,
        });
    }

    /// Something is about to replace or remove `path`: if the split names
    /// its content, it can no longer rebuild the tar.
    pub fn touch(&mut self, path: &[u8]) {
        if self.out.is_some() && self.files.contains_key(path) {
            self.break_split(format!(
                "{} is replaced later in the layer",
                String::from_utf8_lossy(path)
            ));
        }
    }

    /// Every named file is there with its size (checked once unpacked).
    pub fn verify(&mut self, dir: &Path) {
        if self.out.is_none() {
            return;
        }
        let bad = self.files.iter().find(|(p, size)| {
            !std::fs::symlink_metadata(dir.join(path_of(p)))
                .is_ok_and(|m| m.is_file() && m.len() == **size)
        });
        if let Some((p, _)) = bad {
            let why = format!("{} changed later in the layer", String::from_utf8_lossy(p));
            self.break_split(why);
        }
    }

    /// The split cannot rebuild this layer.
    pub fn break_split(&mut self, why: String) {
        if self.broken.is_none() {
            self.broken = Some(why);
        }
        self.out = None;
        self.pending = Vec::new();
    }

    fn observe(&mut self, data: &[u8]) {
        if self.out.is_none() {
            self.pos += data.len() as u64;
            return;
        }
        let start = self.pos;
        let end = start + data.len() as u64;
        match self.skip {
            Some((s, e)) if s <= start && end <= e => {}
            Some((s, e)) if end > s && start < e => {
                // Partly content: keep what lies outside [s, e).
                let a = (s.saturating_sub(start)) as usize;
                let b = (e.min(end) - start) as usize;
                self.pending.extend_from_slice(&data[..a]);
                self.pending.extend_from_slice(&data[b..]);
            }
            _ => self.pending.extend_from_slice(data),
        }
        self.pos = end;
        if let Some((_, e)) = self.skip
            && self.pos >= e
        {
            self.skip = None;
        }
        if self.pending.len() >= RAW_CHUNK && self.skip.is_none() {
            self.flush_pending();
        }
    }

    /// Finishes the file: Ok(true) if the split is usable; Ok(false) (file
    /// removed) if not.
    fn finish(mut self) -> Result<bool> {
        self.flush_pending();
        if let Some(why) = &self.broken {
            tracing::debug!(file = %self.file.display(), why, "layer kept without a tar-split");
            let _ = std::fs::remove_file(&self.file);
            return Ok(false);
        }
        let out = self.out.take().expect("not broken");
        let w = out
            .finish()
            .ctx(|| format!("write {}", self.file.display()))?;
        let f = w
            .into_inner()
            .map_err(|e| Error::Io(format!("write {}", self.file.display()), e.into_error()))?;
        f.sync_all()
            .ctx(|| format!("fsync {}", self.file.display()))?;
        Ok(true)
    }
}

/// A reader that records what passes through into a shared [`State`]
/// (or only passes it through).
pub struct Recorder<R> {
    inner: R,
    state: Option<Arc<Mutex<State>>>,
}

impl<R: Read> Recorder<R> {
    /// Records into a new split file.
    pub fn new(inner: R, file: &Path) -> Result<Recorder<R>> {
        Ok(Recorder {
            inner,
            state: Some(Arc::new(Mutex::new(State::create(file)?))),
        })
    }

    /// Records nothing.
    pub fn passthrough(inner: R) -> Recorder<R> {
        Recorder { inner, state: None }
    }

    /// A handle the unpacker uses to name file contents.
    pub fn state(&self) -> Option<Arc<Mutex<State>>> {
        self.state.clone()
    }

    /// Completes the split; false if it cannot rebuild the tar (or none
    /// was recorded).
    pub fn finish(self) -> Result<bool> {
        let Some(state) = self.state else {
            return Ok(false);
        };
        let st = Arc::try_unwrap(state)
            .map_err(|_| Error::InvalidArgument("tar-split still in use".into()))?
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        st.finish()
    }
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(st) = &self.state {
            st.lock()
                .unwrap_or_else(|e| e.into_inner())
                .observe(&buf[..n]);
        }
        Ok(n)
    }
}

fn path_of(p: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(p))
}

/// Reads a split's records back, lazily.
struct Records {
    r: zstd::stream::read::Decoder<'static, io::BufReader<File>>,
    file: PathBuf,
}

impl Records {
    fn open(file: &Path) -> Result<Records> {
        let f = File::open(file).ctx(|| format!("open {}", file.display()))?;
        let mut r = zstd::stream::read::Decoder::new(f).ctx(|| "zstd decoder".to_string())?;
        let mut magic = vec![0u8; MAGIC.len()];
        if r.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(Error::InvalidArchive(format!(
                "{}: not a tar-split",
                file.display()
            )));
        }
        Ok(Records {
            r,
            file: file.to_path_buf(),
        })
    }

    fn next(&mut self) -> io::Result<Option<Segment>> {
        let bad = |m: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {m}", self.file.display()),
            )
        };
        let mut tag = [0u8; 1];
        loop {
            match self.r.read(&mut tag) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match tag[0] {
            b'R' => {
                let mut l = [0u8; 4];
                self.r.read_exact(&mut l).map_err(|_| bad("truncated"))?;
                let mut b = vec![0u8; u32::from_le_bytes(l) as usize];
                self.r.read_exact(&mut b).map_err(|_| bad("truncated"))?;
                Ok(Some(Segment::Raw(b)))
            }
            b'F' => {
                let mut s = [0u8; 8];
                self.r.read_exact(&mut s).map_err(|_| bad("truncated"))?;
                let mut l = [0u8; 2];
                self.r.read_exact(&mut l).map_err(|_| bad("truncated"))?;
                let mut p = vec![0u8; u16::from_le_bytes(l) as usize];
                self.r.read_exact(&mut p).map_err(|_| bad("truncated"))?;
                Ok(Some(Segment::File {
                    path: p,
                    size: u64::from_le_bytes(s),
                }))
            }
            _ => Err(bad("corrupt")),
        }
    }
}

/// The tar rebuilt from a split and the layer directory, read lazily. A
/// file whose size changed makes the read fail rather than produce a
/// different tar.
pub struct Reassembled {
    dir: PathBuf,
    records: Records,
    current: Option<(Box<dyn Read + Send>, u64)>,
}

impl Reassembled {
    pub fn open(split: &Path, dir: &Path) -> Result<Reassembled> {
        Ok(Reassembled {
            dir: dir.to_path_buf(),
            records: Records::open(split)?,
            current: None,
        })
    }
}

impl Read for Reassembled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((c, left)) = &mut self.current {
                let n = c.read(buf)?;
                if n > 0 {
                    *left = left.saturating_sub(n as u64);
                    return Ok(n);
                }
                if *left > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a layer file is shorter than when it was unpacked",
                    ));
                }
                self.current = None;
            }
            match self.records.next()? {
                None => return Ok(0),
                Some(Segment::Raw(b)) => {
                    let n = b.len() as u64;
                    self.current = Some((Box::new(io::Cursor::new(b)), n));
                }
                Some(Segment::File { path, size }) => {
                    let p = self.dir.join(path_of(&path));
                    let f = File::open(&p)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                    self.current = Some((Box::new(f.take(size)), size));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes seen, after naming (start, size, path) as a file's content.
    type Step<'a> = (&'a [u8], Option<(u64, u64, &'a [u8])>);

    fn record(t: &Path, steps: &[Step<'_>]) -> bool {
        let f = t.join("split.zst");
        let mut st = State::create(&f).unwrap();
        for (data, content) in steps {
            if let Some((start, size, path)) = content {
                st.content(*start, *size, path);
            }
            st.observe(data);
        }
        st.finish().unwrap()
    }

    #[test]
    fn records_skip_content_and_rebuild_the_bytes() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("a")).unwrap();
        std::fs::write(t.path().join("a/f"), b"DATA").unwrap();
        let ok = record(
            t.path(),
            &[
                (b"HEADER", None),
                (b"DA", Some((6, 4, b"a/f"))),
                (b"TApad", None),
                (b"END", None),
            ],
        );
        assert!(ok);
        let mut out = Vec::new();
        Reassembled::open(&t.path().join("split.zst"), t.path())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"HEADERDATApadEND");
        // A file that shrank makes the rebuild fail, not lie.
        std::fs::write(t.path().join("a/f"), b"DAT").unwrap();
        let mut out = Vec::new();
        assert!(
            Reassembled::open(&t.path().join("split.zst"), t.path())
                .unwrap()
                .read_to_end(&mut out)
                .is_err()
        );
    }

    #[test]
    fn a_path_twice_breaks_the_split() {
        let t = tempfile::tempdir().unwrap();
        let ok = record(
            t.path(),
            &[(b"1", Some((0, 1, b"x"))), (b"2", Some((1, 1, b"x")))],
        );
        assert!(!ok);
        assert!(!t.path().join("split.zst").exists());
    }
}

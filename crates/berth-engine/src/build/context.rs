//! The build context: the client's tar unpacked into a private directory,
//! paths resolved inside it (symlinks followed but never out of it), the
//! Dockerfile found, sources globbed and hashed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use berth_build::cache::{SourceEntry, source_hash};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// One entry of the context's tar: what the cache hashes (its `path`
/// left empty; the index's key is the path) and where its data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub meta: SourceEntry,
    /// Where its data starts in the stored tar.
    pub offset: u64,
}

impl Entry {
    fn kind(&self) -> u32 {
        self.meta.mode & libc::S_IFMT
    }
    fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }
    fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }
}

/// Where the secrets berth's CLI sends with the context live in its tar.
pub const SECRETS_DIR: &str = ".berth-build-secrets";

/// The build context: the client's tar stored as it came (decompressed),
/// indexed (every entry's metadata and content hash) as it is stored, and
/// unpacked only when a step needs its files: a build answered from the
/// cache never writes them out.
#[derive(Debug)]
pub struct Context {
    pub tar: PathBuf,
    pub dir: PathBuf,
    pub index: BTreeMap<String, Entry>,
    /// Every path, with the directories only implied by deeper entries.
    paths: BTreeSet<String>,
    /// Paths not to unpack (secrets, a Dockerfile .dockerignore excludes).
    hidden: Mutex<BTreeSet<String>>,
    extracted: OnceLock<std::result::Result<(), String>>,
}

fn normal(p: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

impl Context {
    /// Stores and indexes the context tar (plain, gzip, bzip2, xz or
    /// zstd) under `dir` (`dir.tar` beside it holds the tar).
    pub fn receive(body: impl Read, dir: &Path) -> Result<Context> {
        let bad =
            |e: std::io::Error| Error::invalid(format!("failed to read the build context: {e}"));
        let r = berth_image::compression::decompress(body)
            .map_err(|e| Error::invalid(format!("failed to read the build context: {e}")))?;
        fs::create_dir_all(dir)?;
        let tar_path = dir.with_extension("tar");
        {
            // Reading is the client's side (a bad or cut context); writing
            // is ours (a full disk), and said as such.
            let write = |e: std::io::Error| {
                Error::system(format!(
                    "write the build context {}: {e}",
                    tar_path.display()
                ))
            };
            let mut f = std::io::BufWriter::new(fs::File::create(&tar_path).map_err(write)?);
            let mut r = r;
            berth_image::copy::copy(&mut r, &mut f).map_err(|e| match e {
                berth_image::copy::CopyError::Read(e) => bad(e),
                berth_image::copy::CopyError::Write(e) => write(e),
            })?;
            f.flush().map_err(write)?;
        }
        let mut index = BTreeMap::new();
        let mut a = tar::Archive::new(std::io::BufReader::new(fs::File::open(&tar_path)?));
        for entry in a.entries().map_err(bad)? {
            let mut e = entry.map_err(bad)?;
            let raw = e.path().map_err(bad)?.into_owned();
            let Some(path) = normal(&raw.to_string_lossy()) else {
                return Err(Error::invalid(format!(
                    "invalid path in the build context: {}",
                    raw.display()
                )));
            };
            if path.is_empty() {
                continue;
            }
            let h = e.header();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => libc::S_IFDIR,
                tar::EntryType::Symlink => libc::S_IFLNK,
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Link => {
                    libc::S_IFREG
                }
                tar::EntryType::Char => libc::S_IFCHR,
                tar::EntryType::Block => libc::S_IFBLK,
                tar::EntryType::Fifo => libc::S_IFIFO,
                _ => continue,
            };
            let link = e
                .link_name()
                .map_err(bad)?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mode = kind | (h.mode().unwrap_or(0o644) & 0o7777);
            let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
            let offset = e.raw_file_position();
            let mut content = String::new();
            let mut size = 0;
            if kind == libc::S_IFREG && h.entry_type() != tar::EntryType::Link {
                let mut hasher = Sha256::new();
                let mut buf = [0u8; 32 * 1024];
                loop {
                    let n = e.read(&mut buf).map_err(bad)?;
                    if n == 0 {
                        break;
                    }
                    size += n as u64;
                    hasher.update(&buf[..n]);
                }
                content = hex::encode(hasher.finalize());
            }
            index.insert(
                path,
                Entry {
                    meta: SourceEntry {
                        path: String::new(),
                        mode,
                        uid,
                        gid,
                        size,
                        link,
                        content,
                    },
                    offset,
                },
            );
        }
        // Hard links take their target's content.
        let links: Vec<(String, String)> = index
            .iter()
            .filter(|(_, e)| {
                e.kind() == libc::S_IFREG && e.meta.content.is_empty() && !e.meta.link.is_empty()
            })
            .map(|(k, e)| (k.clone(), e.meta.link.clone()))
            .collect();
        for (k, target) in links {
            if let Some(t) = normal(&target).and_then(|t| index.get(&t).cloned())
                && let Some(e) = index.get_mut(&k)
            {
                e.meta.content = t.meta.content;
                e.meta.size = t.meta.size;
            }
        }
        let mut paths = BTreeSet::new();
        for k in index.keys() {
            let mut cur = String::new();
            for c in k.split('/') {
                if !cur.is_empty() {
                    cur.push('/');
                }
                cur.push_str(c);
                paths.insert(cur.clone());
            }
        }
        let hidden: BTreeSet<String> = paths
            .iter()
            .filter(|p| *p == SECRETS_DIR || p.starts_with(&format!("{SECRETS_DIR}/")))
            .cloned()
            .collect();
        Ok(Context {
            tar: tar_path,
            dir: dir.to_path_buf(),
            index,
            paths,
            hidden: Mutex::new(hidden),
            extracted: OnceLock::new(),
        })
    }

    /// A regular file's bytes, read from the stored tar.
    pub fn read_file(&self, rel: &str) -> Option<Vec<u8>> {
        let rel = normal(rel)?;
        let mut e = self.index.get(&rel)?;
        if e.is_symlink() {
            let target = normal(&e.meta.link)?;
            e = self.index.get(&target)?;
        }
        if e.kind() != libc::S_IFREG {
            return None;
        }
        let mut f = fs::File::open(&self.tar).ok()?;
        f.seek(SeekFrom::Start(e.offset)).ok()?;
        let mut buf = vec![0u8; e.meta.size as usize];
        f.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// Leaves `rel` out of what is unpacked (and out of what COPY sees).
    pub fn hide(&self, rel: &str) {
        self.hidden
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rel.to_string());
    }

    fn is_hidden(&self, rel: &str) -> bool {
        let h = self.hidden.lock().unwrap_or_else(|e| e.into_inner());
        h.iter()
            .any(|x| rel == x || rel.starts_with(&format!("{x}/")))
    }

    /// The secrets sent with the context, written to `to` (mode 0400).
    pub fn write_secrets(&self, to: &Path) -> Result<()> {
        let prefix = format!("{SECRETS_DIR}/");
        for (k, _) in self.index.iter().filter(|(k, _)| k.starts_with(&prefix)) {
            let id = &k[prefix.len()..];
            if id.contains('/') {
                continue;
            }
            if let Some(data) = self.read_file(k) {
                fs::create_dir_all(to)?;
                let p = to.join(id);
                fs::write(&p, data)?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o400))?;
            }
        }
        Ok(())
    }

    /// Unpacks the context (once) and answers its directory.
    pub fn files(&self) -> Result<&Path> {
        let r = self
            .extracted
            .get_or_init(|| self.unpack().map_err(|e| e.to_string()));
        match r {
            Ok(()) => Ok(&self.dir),
            Err(e) => Err(Error::invalid(e.clone())),
        }
    }

    fn unpack(&self) -> Result<()> {
        let bad =
            |e: std::io::Error| Error::invalid(format!("failed to read the build context: {e}"));
        let mut a = tar::Archive::new(std::io::BufReader::new(fs::File::open(&self.tar)?));
        a.set_preserve_permissions(true);
        a.set_preserve_mtime(true);
        a.set_overwrite(true);
        for entry in a.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = entry.path().map_err(bad)?.into_owned();
            let Some(rel) = normal(&path.to_string_lossy()) else {
                continue;
            };
            if rel.is_empty() || self.is_hidden(&rel) {
                continue;
            }
            // unpack_in refuses anything that would land outside `dir`.
            entry.unpack_in(&self.dir).map_err(bad)?;
        }
        Ok(())
    }

    /// Whether `rel` names something in the context (an entry, or a
    /// directory deeper entries imply).
    pub fn exists(&self, rel: &str) -> bool {
        rel.is_empty() || (self.paths.contains(rel) && !self.is_hidden(rel))
    }

    /// Whether resolving `rel` would go through a symlink (then the files
    /// are unpacked and resolved in scope instead of read from the index).
    pub fn through_symlink(&self, rel: &str) -> bool {
        let mut cur = String::new();
        for c in rel.split('/').filter(|c| !c.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            if self.index.get(&cur).is_some_and(Entry::is_symlink) {
                return true;
            }
        }
        false
    }

    /// Paths matching a source pattern (wildcards per component, as Go's
    /// filepath.Match), sorted.
    pub fn glob(&self, pattern: &str) -> Vec<String> {
        let parts: Vec<&str> = pattern
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        self.paths
            .iter()
            .filter(|p| !self.is_hidden(p))
            .filter(|p| {
                let comps: Vec<&str> = p.split('/').collect();
                comps.len() == parts.len()
                    && comps
                        .iter()
                        .zip(&parts)
                        .all(|(c, pat)| berth_build::ignore::go_match(pat, c).unwrap_or(false))
            })
            .cloned()
            .collect()
    }

    /// The content hash of a source in the context, from the index (the
    /// same entries hash the same whatever their times).
    pub fn hash(&self, rel: &str) -> String {
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let is_dir = rel.is_empty() || self.index.get(rel).is_none_or(Entry::is_dir);
        let mut entries: Vec<SourceEntry> = self
            .index
            .iter()
            .filter(|(k, _)| !self.is_hidden(k))
            .filter_map(|(k, e)| {
                let sub = if k == rel {
                    String::new()
                } else if k.starts_with(&prefix) {
                    k[prefix.len()..].to_string()
                } else {
                    return None;
                };
                Some(SourceEntry {
                    path: sub,
                    ..e.meta.clone()
                })
            })
            .collect();
        source_hash(&mut entries, is_dir)
    }
}

/// Docker's FollowSymlinkInScope: `rel` resolved under `root`, symlinks
/// followed, `..` and absolute link targets clamped at `root`.
pub fn scoped(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut todo: Vec<String> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(String::from)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let cur: PathBuf = root.join(done.join("/")).join(&c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(Error::invalid(format!("too many links in {rel}")));
                }
                let target = fs::read_link(&cur)?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .rev()
                        .map(String::from),
                );
            }
            _ => done.push(c),
        }
    }
    Ok(root.join(done.join("/")))
}

/// The Dockerfile's text: `name` in the context (default `Dockerfile`,
/// then `dockerfile`), as dockerd looks for it.
pub fn dockerfile(ctx: &Context, name: &str) -> Result<(String, String)> {
    let names: Vec<&str> = if name.is_empty() {
        vec!["Dockerfile", "dockerfile"]
    } else {
        vec![name]
    };
    for n in &names {
        if let Some(b) = ctx.read_file(n) {
            return Ok((String::from_utf8_lossy(&b).into_owned(), n.to_string()));
        }
    }
    Err(Error::invalid(format!(
        "Cannot locate specified Dockerfile: {}",
        names[0]
    )))
}

/// Context-relative paths (files and directories) matching a source
/// pattern with wildcards, each component matched as Go's filepath.Match.
pub fn glob(root: &Path, pattern: &str) -> Result<Vec<String>> {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut found = vec![String::new()];
    for part in parts {
        let mut next = Vec::new();
        for base in &found {
            let dir = scoped(root, base)?;
            if !has_wildcards(part) {
                let p = join(base, part);
                if fs::symlink_metadata(root.join(&p)).is_ok() || scoped(root, &p)?.exists() {
                    next.push(p);
                }
                continue;
            }
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                if berth_build::ignore::go_match(part, &n).unwrap_or(false) {
                    next.push(join(base, &n));
                }
            }
        }
        found = next;
    }
    found.retain(|f| !f.is_empty());
    Ok(found)
}

fn join(base: &str, n: &str) -> String {
    if base.is_empty() {
        n.to_string()
    } else {
        format!("{base}/{n}")
    }
}

/// Whether a source names several files (Docker: `*`, `?`, `[`).
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The content hash of a resolved source (a file or a tree), as the cache
/// key and the history comment use it: names, modes, owners, sizes, link
/// targets and contents — never times.
pub fn hash_source(path: &Path) -> Result<String> {
    let m = fs::symlink_metadata(path)?;
    let mut entries = Vec::new();
    if m.is_dir() {
        for e in walkdir::WalkDir::new(path)
            .follow_links(false)
            .sort_by_file_name()
        {
            let e = e.map_err(|e| Error::system(e.to_string()))?;
            let rel = e
                .path()
                .strip_prefix(path)
                .unwrap_or(e.path())
                .to_string_lossy()
                .into_owned();
            entries.push(entry(e.path(), rel)?);
        }
    } else {
        entries.push(entry(path, String::new())?);
    }
    Ok(source_hash(&mut entries, m.is_dir()))
}

fn entry(p: &Path, rel: String) -> Result<SourceEntry> {
    let m = fs::symlink_metadata(p)?;
    let mut content = String::new();
    let mut link = String::new();
    if m.is_file() {
        let mut h = Sha256::new();
        let mut f = fs::File::open(p)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        content = hex::encode(h.finalize());
    } else if m.file_type().is_symlink() {
        link = fs::read_link(p)?.to_string_lossy().into_owned();
    }
    Ok(SourceEntry {
        path: rel,
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        size: if m.is_file() { m.size() } else { 0 },
        link,
        content,
    })
}

/// Hashes a string (a here-document source).
pub fn hash_text(s: &str) -> String {
    format!("file:{}", hex::encode(Sha256::digest(s.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_never_leaves_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", r.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("b", r.join("a/rel")).unwrap();
        assert_eq!(scoped(r, "abs/passwd").unwrap(), r.join("etc/passwd"));
        assert_eq!(scoped(r, "a/b/up/x").unwrap(), r.join("x"));
        assert_eq!(scoped(r, "a/rel/c").unwrap(), r.join("a/b/c"));
        assert_eq!(scoped(r, "../../x").unwrap(), r.join("x"));
    }

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, c) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(12345);
            b.append_data(&mut h, n, c.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn indexed_context() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("Dockerfile", "FROM x\n"),
            ("d/a.txt", "a"),
            ("d/b.txt", "b"),
            (".berth-build-secrets/s", "pw"),
        ]);
        let c = Context::receive(&tar[..], &t.path().join("ctx")).unwrap();
        assert_eq!(dockerfile(&c, "").unwrap().0, "FROM x\n");
        assert!(c.exists("d") && c.exists("d/a.txt") && !c.exists("nope"));
        assert!(!c.exists(".berth-build-secrets/s"));
        assert_eq!(c.glob("d/*.txt"), vec!["d/a.txt", "d/b.txt"]);
        assert_eq!(c.glob("*"), vec!["Dockerfile", "d"]);
        let h = c.hash("d");
        assert!(h.starts_with("dir:"));
        assert!(c.hash("d/a.txt").starts_with("file:"));
        // The same files at other times hash the same.
        let t2 = tempfile::tempdir().unwrap();
        let c2 = Context::receive(&tar[..], &t2.path().join("ctx")).unwrap();
        assert_eq!(c2.hash("d"), h);
        c.write_secrets(&t.path().join("sec")).unwrap();
        assert_eq!(fs::read_to_string(t.path().join("sec/s")).unwrap(), "pw");
        let dir = c.files().unwrap();
        assert!(dir.join("d/a.txt").is_file());
        assert!(!dir.join(".berth-build-secrets").exists());
    }

    #[test]
    fn globs_and_hashes() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("d")).unwrap();
        fs::write(r.join("a.txt"), "a").unwrap();
        fs::write(r.join("b.txt"), "b").unwrap();
        fs::write(r.join("d/c.txt"), "c").unwrap();
        assert_eq!(glob(r, "*.txt").unwrap(), vec!["a.txt", "b.txt"]);
        assert_eq!(glob(r, "d/*.txt").unwrap(), vec!["d/c.txt"]);
        assert_eq!(glob(r, "*/c.txt").unwrap(), vec!["d/c.txt"]);
        let h1 = hash_source(&r.join("d")).unwrap();
        fs::write(r.join("d/c.txt"), "C").unwrap();
        assert_ne!(h1, hash_source(&r.join("d")).unwrap());
        let f = hash_source(&r.join("a.txt")).unwrap();
        let t0 = std::time::SystemTime::UNIX_EPOCH;
        fs::File::options()
            .write(true)
            .open(r.join("a.txt"))
            .unwrap()
            .set_modified(t0)
            .unwrap();
        assert_eq!(
            f,
            hash_source(&r.join("a.txt")).unwrap(),
            "mtime is not hashed"
        );
    }
}

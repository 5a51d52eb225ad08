//! From an overlay upper directory back to Docker's forms: a layer tar with
//! `.wh.` whiteouts (commit, export of a diff) and the `docker diff` list.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::idmap::IdMap;
use crate::unpack::{OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::xattr;

/// What happened to a path (`docker diff`'s Kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

/// One `docker diff` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

impl From<Change> for berth_api::container::FilesystemChange {
    fn from(c: Change) -> Self {
        berth_api::container::FilesystemChange {
            path: c.path,
            kind: c.kind as u8,
        }
    }
}

/// An overlayfs whiteout: a 0/0 character device.
pub fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn walk(upper: &Path) -> impl Iterator<Item = Result<(PathBuf, String, fs::Metadata)>> + '_ {
    walkdir::WalkDir::new(upper)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(move |e| {
            let e = e.map_err(|e| Error::Io(format!("walk {}", upper.display()), e.into()))?;
            let rel = e
                .path()
                .strip_prefix(upper)
                .expect("under upper")
                .to_string_lossy()
                .into_owned();
            let m = e
                .metadata()
                .map_err(|err| Error::Io(format!("stat {}", e.path().display()), err.into()))?;
            Ok((e.path().to_path_buf(), rel, m))
        })
}

fn base_header(m: &fs::Metadata, kind: tar::EntryType, map: Option<&IdMap>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(m.mode() & 0o7777);
    let (uid, gid) = match map {
        Some(map) => map.to_container(m.uid(), m.gid()),
        None => (m.uid(), m.gid()),
    };
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    h
}

/// Writes the upper directory of an overlay mount as a Docker layer tar:
/// whiteout devices become `.wh.<name>`, opaque directories get a
/// `.wh..wh..opq` entry, hardlinks within the directory stay hardlinks,
/// xattrs (but overlay's own) go in PAX records. `map`: the upper
/// directory holds a remapped container's host ids, written as the
/// container's.
pub fn upper_to_tar(upper: &Path, map: Option<&IdMap>, w: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(w);
    let mut seen_inodes: HashMap<(u64, u64), String> = HashMap::new();
    let werr = |p: &str| format!("write {p} to tar");
    for item in walk(upper) {
        let (path, rel, m) = item?;
        if is_whiteout(&m) {
            let (dir, name) = match rel.rsplit_once('/') {
                Some((d, n)) => (format!("{d}/"), n),
                None => (String::new(), rel.as_str()),
            };
            let wh = format!("{dir}{WHITEOUT_PREFIX}{name}");
            // dockerd's overlay converter: a plain 0600 file
            let mut h = base_header(&m, tar::EntryType::Regular, map);
            h.set_mode(0o600);
            b.append_data(&mut h, &wh, io::empty()).ctx(|| werr(&wh))?;
            continue;
        }
        append_entry(&mut b, &mut seen_inodes, &path, &rel, &m, map)?;
    }
    let mut w = b.into_inner().ctx(|| "finish layer tar".to_string())?;
    w.flush().ctx(|| "flush layer tar".to_string())
}

/// One entry (not a whiteout) of a tree going into a tar: its xattrs as PAX
/// records, hardlinks to an entry already written as links.
fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    seen_inodes: &mut HashMap<(u64, u64), String>,
    path: &Path,
    rel: &str,
    m: &fs::Metadata,
    map: Option<&IdMap>,
) -> Result<()> {
    let werr = |p: &str| format!("write {p} to tar");
    let ft = m.file_type();
    if ft.is_socket() {
        return Ok(());
    }
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    let mut opaque = false;
    for name in xattr::list(path).ctx(|| format!("list xattrs of {}", path.display()))? {
        if name == OVERLAY_OPAQUE_XATTR {
            opaque = xattr::get(path, &name).ok().flatten().as_deref() == Some(b"y");
            continue;
        }
        if name.starts_with("trusted.overlay.") || name == "security.selinux" {
            continue;
        }
        if let Some(v) =
            xattr::get(path, &name).ctx(|| format!("read xattr of {}", path.display()))?
        {
            pax.push((format!("SCHILY.xattr.{name}"), v));
        }
    }
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .ctx(|| werr(rel))?;
    }
    if ft.is_dir() {
        let mut h = base_header(m, tar::EntryType::Directory, map);
        let name = format!("{rel}/");
        b.append_data(&mut h, &name, io::empty())
            .ctx(|| werr(&name))?;
        if opaque {
            let wh = format!("{rel}/{OPAQUE_WHITEOUT}");
            // the directory's permissions and owners, as dockerd writes it
            let mut h = base_header(m, tar::EntryType::Regular, map);
            h.set_mode(m.mode() & 0o777);
            b.append_data(&mut h, &wh, io::empty()).ctx(|| werr(&wh))?;
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path).ctx(|| format!("readlink {}", path.display()))?;
        let mut h = base_header(m, tar::EntryType::Symlink, map);
        b.append_link(&mut h, rel, &target).ctx(|| werr(rel))?;
    } else if ft.is_file() {
        if m.nlink() > 1 {
            if let Some(first) = seen_inodes.get(&(m.dev(), m.ino())) {
                let mut h = base_header(m, tar::EntryType::Link, map);
                b.append_link(&mut h, rel, first).ctx(|| werr(rel))?;
                return Ok(());
            }
            seen_inodes.insert((m.dev(), m.ino()), rel.to_string());
        }
        let mut h = base_header(m, tar::EntryType::Regular, map);
        h.set_size(m.len());
        let f = File::open(path).ctx(|| format!("open {}", path.display()))?;
        b.append_data(&mut h, rel, f).ctx(|| werr(rel))?;
    } else {
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        };
        let mut h = base_header(m, kind, map);
        if kind != tar::EntryType::Fifo {
            let rdev = m.rdev();
            h.set_device_major(nix::sys::stat::major(rdev) as u32)
                .ctx(|| werr(rel))?;
            h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
                .ctx(|| werr(rel))?;
        }
        b.append_data(&mut h, rel, io::empty()).ctx(|| werr(rel))?;
    }
    Ok(())
}

/// `src` (a file or a directory tree) into `b` as `name` and
/// `name/<path>`, symlinks not followed; `map`: host ids written as a
/// remapped container's. `docker cp` from a container and `export`.
pub fn tree_to_tar<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &str,
    map: Option<&IdMap>,
) -> Result<()> {
    let mut seen = HashMap::new();
    let name = name.trim_end_matches('/');
    for e in walkdir::WalkDir::new(src)
        .follow_root_links(false)
        .sort_by_file_name()
    {
        let e = e.map_err(|e| Error::Io(format!("walk {}", src.display()), e.into()))?;
        let rel = e.path().strip_prefix(src).expect("under src");
        let rel = match (name.is_empty(), rel.as_os_str().is_empty()) {
            (true, true) => continue,
            (true, false) => rel.to_string_lossy().into_owned(),
            (false, true) => name.to_string(),
            (false, false) => format!("{name}/{}", rel.to_string_lossy()),
        };
        let m = e
            .metadata()
            .map_err(|err| Error::Io(format!("stat {}", e.path().display()), err.into()))?;
        append_entry(b, &mut seen, e.path(), &rel, &m, map)?;
    }
    Ok(())
}

/// Whether `rel` exists in the merged lower layers (`lowers` lowest first).
fn in_lowers(lowers: &[PathBuf], rel: &str) -> bool {
    for l in lowers.iter().rev() {
        if let Ok(m) = fs::symlink_metadata(l.join(rel)) {
            return !is_whiteout(&m);
        }
    }
    false
}

/// `docker diff` of an upper directory over `lowers` (lowest first):
/// whiteouts are deletions, paths present below are modifications, the
/// rest additions. Paths start with `/`.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for item in walk(upper) {
        let (_, rel, m) = item?;
        let kind = if is_whiteout(&m) {
            if !in_lowers(lowers, &rel) {
                continue;
            }
            ChangeKind::Deleted
        } else if in_lowers(lowers, &rel) {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        out.push(Change {
            path: format!("/{rel}"),
            kind,
        });
    }
    Ok(out)
}

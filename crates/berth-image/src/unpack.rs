//! Unpacking a layer tar into a directory in overlayfs form.
//!
//! Docker whiteouts become what overlayfs understands: `.wh.x` → a 0/0
//! character device `x`, `.wh..wh..opq` → xattr `trusted.overlay.opaque=y`
//! on the directory. Ownership, modes, mtimes, symlinks, hardlinks (within
//! the layer), device nodes and `SCHILY.xattr.*` are kept. No entry may land
//! outside the destination: `..` escapes, absolute names and paths through
//! symlinks are refused.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, makedev, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

use crate::digest::HashingReader;
use crate::error::{Error, IoContext, Result, invalid_archive};
use crate::split::{self, Recorder};
use crate::xattr;

/// Docker's whiteout prefix.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Docker's opaque-directory marker.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Prefix of Docker's internal (aufs) metadata names.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads for opaque directories.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What unpacking a layer measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// sha256 of the whole uncompressed tar stream.
    pub diff_id: String,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
    /// Sum of the regular files' sizes.
    pub size: u64,
    /// A tar-split was asked for and can rebuild the tar.
    pub split: bool,
}

fn tar_err(e: io::Error) -> Error {
    invalid_archive(format!("invalid tar header: {e}"))
}

/// Splits a tar entry name into clean components; `..` may not climb above
/// the root and absolute names are refused.
pub(crate) fn clean_components(name: &[u8]) -> Result<Vec<&OsStr>> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    if name.first() == Some(&b'/') {
        return Err(invalid_archive(format!(
            "{}: absolute path in layer",
            shown()
        )));
    }
    let mut out: Vec<&OsStr> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(invalid_archive(format!(
                        "{}: path escapes the layer",
                        shown()
                    )));
                }
            }
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// Resolves the parent directories of `comps` under `root`, creating missing
/// ones (0755, root-owned) and refusing symlinks or non-directories on the way.
fn prepare_parent(root: &Path, comps: &[&OsStr], create: bool) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(invalid_archive(format!(
                    "{}: path goes through a symlink",
                    rel(root, &p)
                )));
            }
            Ok(_) => {
                return Err(invalid_archive(format!(
                    "{}: not a directory",
                    rel(root, &p)
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&p).ctx(|| format!("mkdir {}", p.display()))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                    .ctx(|| format!("chmod {}", p.display()))?;
            }
            Err(e) => return Err(Error::Io(format!("stat {}", p.display()), e)),
        }
    }
    Ok(p)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Removes whatever is at `p` (a directory recursively).
fn remove_existing(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).ctx(|| format!("remove {}", p.display())),
        Ok(_) => fs::remove_file(p).ctx(|| format!("remove {}", p.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io(format!("stat {}", p.display()), e)),
    }
}

fn chown(p: &Path, uid: u64, gid: u64) -> Result<()> {
    fchownat(
        nix::fcntl::AT_FDCWD,
        p,
        Some(Uid::from_raw(uid as u32)),
        Some(Gid::from_raw(gid as u32)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::Io(format!("chown {}", p.display()), e.into()))
}

fn set_mtime(p: &Path, mtime: u64) -> Result<()> {
    let t = TimeSpec::new(mtime as i64, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::Io(format!("set times of {}", p.display()), e.into()))
}

fn chmod(p: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {}", p.display()))
}

/// Per-entry metadata from the header and pax records.
struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
    let h = entry.header();
    // Like Go's archive/tar, an empty numeric field reads as 0.
    let mut m = Meta {
        uid: h.uid().unwrap_or(0),
        gid: h.gid().unwrap_or(0),
        mode: h.mode().unwrap_or(0o644) & 0o7777,
        mtime: h.mtime().unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions().map_err(tar_err)? {
        for ext in pax {
            let ext = ext.map_err(tar_err)?;
            let Ok(key) = ext.key() else { continue };
            let num = || {
                ext.value()
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<u64>().ok())
            };
            match key {
                "uid" => m.uid = num().unwrap_or(m.uid),
                "gid" => m.gid = num().unwrap_or(m.gid),
                "mtime" => m.mtime = num().unwrap_or(m.mtime),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.")
                        && !name.starts_with("trusted.overlay.")
                    {
                        m.xattrs
                            .push((name.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok(m)
}

fn apply_xattrs(p: &Path, xattrs: &[(String, Vec<u8>)], is_symlink: bool) -> Result<()> {
    for (name, value) in xattrs {
        if let Err(e) = xattr::set(p, name, value) {
            // user.* cannot be set on symlinks; a filesystem may not support xattrs.
            let ignorable = matches!(e.raw_os_error(), Some(libc::ENOTSUP))
                || (is_symlink && e.raw_os_error() == Some(libc::EPERM));
            if !ignorable {
                return Err(Error::Io(format!("set xattr {name} on {}", p.display()), e));
            }
        }
    }
    Ok(())
}

/// Unpacks an uncompressed layer tar stream into `dest` (an existing, empty
/// directory) in overlay form. The whole stream is consumed and hashed.
pub fn unpack_layer(r: impl Read, dest: &Path) -> Result<UnpackStats> {
    unpack(Recorder::passthrough(r), dest)
}

/// [`unpack_layer`], also recording a tar-split into `split` (see
/// [`crate::split`]); `UnpackStats::split` says whether it is usable.
pub fn unpack_layer_with_split(r: impl Read, dest: &Path, split: &Path) -> Result<UnpackStats> {
    unpack(Recorder::new(r, split)?, dest)
}

fn rel_bytes(comps: &[&OsStr]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            v.push(b'/');
        }
        v.extend_from_slice(c.as_bytes());
    }
    v
}

fn unpack<R: Read>(r: Recorder<R>, dest: &Path) -> Result<UnpackStats> {
    let split = r.state();
    let note = |f: &mut dyn FnMut(&mut split::State)| {
        if let Some(s) = &split {
            f(&mut s.lock().unwrap_or_else(|e| e.into_inner()));
        }
    };
    let mut ar = tar::Archive::new(HashingReader::new(r));
    let mut size = 0u64;
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let name = entry.path_bytes().into_owned();
        let comps = clean_components(&name)?;
        if split.is_some() {
            let rel = rel_bytes(&comps);
            note(&mut |s| s.touch(&rel));
        }
        let meta = entry_meta(&mut entry)?;
        let kind = entry.header().entry_type();
        let Some((last, parents)) = comps.split_last() else {
            // The layer root itself ("./").
            if kind.is_dir() {
                chown(dest, meta.uid, meta.gid)?;
                chmod(dest, meta.mode)?;
                dir_times.push((dest.to_path_buf(), meta.mtime));
            }
            continue;
        };
        let last_bytes = last.as_bytes();
        if last_bytes == OPAQUE_WHITEOUT.as_bytes() {
            let dir = prepare_parent(dest, parents, true)?;
            xattr::set(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                .ctx(|| format!("set {OVERLAY_OPAQUE_XATTR} on {}", dir.display()))?;
            continue;
        }
        if last_bytes.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            continue;
        }
        let parent = prepare_parent(dest, parents, true)?;
        if let Some(hidden) = last_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(invalid_archive(format!(
                    "{}: invalid whiteout",
                    String::from_utf8_lossy(&name)
                )));
            }
            let p = parent.join(OsStr::from_bytes(hidden));
            if split.is_some() {
                let mut rel = rel_bytes(parents);
                if !rel.is_empty() {
                    rel.push(b'/');
                }
                rel.extend_from_slice(hidden);
                note(&mut |s| s.touch(&rel));
            }
            remove_existing(&p)?;
            mknod(&p, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(|e| Error::Io(format!("mknod whiteout {}", p.display()), e.into()))?;
            chown(&p, meta.uid, meta.gid)?;
            continue;
        }
        let p = parent.join(last);
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => {}
                    _ => {
                        remove_existing(&p)?;
                        fs::create_dir(&p).ctx(|| format!("mkdir {}", p.display()))?;
                    }
                }
                chown(&p, meta.uid, meta.gid)?;
                chmod(&p, meta.mode)?;
                apply_xattrs(&p, &meta.xattrs, false)?;
                dir_times.push((p, meta.mtime));
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                remove_existing(&p)?;
                // Sparse entries' tar bytes are not the file's: kept raw.
                if kind != tar::EntryType::GNUSparse && split.is_some() {
                    let (pos, len) = (entry.raw_file_position(), entry.size());
                    let rel = rel_bytes(&comps);
                    note(&mut |s| s.content(pos, len, &rel));
                }
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&p)
                    .ctx(|| format!("create {}", p.display()))?;
                // A failed read is the archive's fault; a failed write (a
                // full disk) is not, and says so.
                size += crate::copy::copy(&mut entry, &mut f).map_err(|e| match e {
                    crate::copy::CopyError::Read(e) => invalid_archive(format!(
                        "{}: truncated file data: {e}",
                        String::from_utf8_lossy(&name)
                    )),
                    crate::copy::CopyError::Write(e) => {
                        Error::Io(format!("write {}", p.display()), e)
                    }
                })?;
                drop(f);
                chown(&p, meta.uid, meta.gid)?;
                chmod(&p, meta.mode)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        invalid_archive(format!("{}: symlink without target", p.display()))
                    })?
                    .into_owned();
                remove_existing(&p)?;
                symlink(OsStr::from_bytes(&target), &p)
                    .ctx(|| format!("symlink {}", p.display()))?;
                chown(&p, meta.uid, meta.gid)?;
                apply_xattrs(&p, &meta.xattrs, true)?;
                set_mtime(&p, meta.mtime)?;
                continue;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        invalid_archive(format!("{}: hardlink without target", p.display()))
                    })?
                    .into_owned();
                let tcomps = clean_components(&target)?;
                let Some((tlast, tparents)) = tcomps.split_last() else {
                    return Err(invalid_archive(format!(
                        "{}: hardlink to the layer root",
                        p.display()
                    )));
                };
                let t = prepare_parent(dest, tparents, false)
                    .map_err(|_| {
                        invalid_archive(format!(
                            "{}: hardlink target {} not in layer",
                            String::from_utf8_lossy(&name),
                            String::from_utf8_lossy(&target)
                        ))
                    })?
                    .join(tlast);
                match fs::symlink_metadata(&t) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(invalid_archive(format!(
                            "{}: hardlink target {} not in layer",
                            String::from_utf8_lossy(&name),
                            String::from_utf8_lossy(&target)
                        )));
                    }
                }
                if t != p {
                    remove_existing(&p)?;
                    fs::hard_link(&t, &p).ctx(|| format!("link {}", p.display()))?;
                }
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let h = entry.header();
                let (major, minor) = if kind == tar::EntryType::Fifo {
                    (0, 0)
                } else {
                    (
                        h.device_major().map_err(tar_err)?.unwrap_or(0),
                        h.device_minor().map_err(tar_err)?.unwrap_or(0),
                    )
                };
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                remove_existing(&p)?;
                mknod(
                    &p,
                    sflag,
                    Mode::from_bits_truncate(meta.mode),
                    makedev(major.into(), minor.into()),
                )
                .map_err(|e| Error::Io(format!("mknod {}", p.display()), e.into()))?;
                chown(&p, meta.uid, meta.gid)?;
                chmod(&p, meta.mode)?;
            }
            other => {
                tracing::debug!(?other, path = %p.display(), "skipping tar entry of unsupported type");
                continue;
            }
        }
        apply_xattrs(&p, &meta.xattrs, false)?;
        set_mtime(&p, meta.mtime)?;
    }
    for (p, mtime) in dir_times.iter().rev() {
        set_mtime(p, *mtime)?;
    }
    let (diff_id, tar_size, recorder) = ar
        .into_inner()
        .finish_inner()
        .map_err(|e| invalid_archive(format!("read layer: {e}")))?;
    note(&mut |s| s.verify(dest));
    drop(split);
    Ok(UnpackStats {
        diff_id,
        tar_size,
        size,
        split: recorder.finish()?,
    })
}

/// Hashes an uncompressed layer stream without unpacking: `(diff_id, tar_size)`.
pub fn hash_layer(r: impl Read) -> Result<(String, u64)> {
    HashingReader::new(r)
        .finish()
        .map_err(|e| invalid_archive(format!("read layer: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// Builds a tar in memory: (name, kind, content or link target).
    pub(crate) fn build_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_uid(1000);
            h.set_gid(1001);
            h.set_mtime(1_000_000);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    b.append_link(&mut h, name, std::str::from_utf8(data).unwrap())
                        .unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    // Bypass the builder's path checks so tests can write hostile names.
                    let bytes = name.as_bytes();
                    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
                    h.set_cksum();
                    b.append(&h, *data).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    use tar::EntryType as T;

    #[test]
    fn unpacks_files_links_and_metadata() {
        let d = tempfile::tempdir().unwrap();
        let data = build_tar(&[
            ("./", T::Directory, b""),
            ("etc/", T::Directory, b""),
            ("etc/passwd", T::Regular, b"root:x:0:0"),
            ("etc/link", T::Symlink, b"/etc/passwd"),
            ("etc/hard", T::Link, b"etc/passwd"),
            ("deep/er/file", T::Regular, b"x"),
            ("fifo", T::Fifo, b""),
        ]);
        let st = unpack_layer(&data[..], d.path()).unwrap();
        assert_eq!(st.tar_size, data.len() as u64);
        assert_eq!(st.diff_id, crate::digest::sha256_digest(&data));
        assert_eq!(st.size, 11);
        let root = d.path();
        assert_eq!(fs::read(root.join("etc/passwd")).unwrap(), b"root:x:0:0");
        let m = fs::metadata(root.join("etc/passwd")).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
            (1000, 1001, 0o644, 1_000_000)
        );
        assert_eq!(
            fs::read_link(root.join("etc/link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(fs::metadata(root.join("etc/hard")).unwrap().ino(), m.ino());
        assert_eq!(fs::metadata(root.join("etc")).unwrap().mtime(), 1_000_000);
        assert_eq!(
            fs::metadata(root.join("deep")).unwrap().mode() & 0o7777,
            0o755
        );
        assert!(
            fs::symlink_metadata(root.join("fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }

    #[test]
    fn whiteouts_become_overlay_form() {
        let d = tempfile::tempdir().unwrap();
        let data = build_tar(&[
            ("a/.wh..wh..opq", T::Regular, b""),
            ("a/.wh.gone", T::Regular, b""),
            ("b/.wh..wh.plnk", T::Directory, b""),
        ]);
        unpack_layer(&data[..], d.path()).unwrap();
        let wh = fs::symlink_metadata(d.path().join("a/gone")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert_eq!(
            xattr::get(&d.path().join("a"), OVERLAY_OPAQUE_XATTR)
                .unwrap()
                .as_deref(),
            Some(&b"y"[..])
        );
        assert!(!d.path().join("a/.wh.gone").exists());
        assert!(!d.path().join("b/.wh..wh.plnk").exists());
    }

    #[test]
    fn refuses_escapes() {
        let cases: Vec<Vec<u8>> = vec![
            build_tar(&[("../evil", T::Regular, b"x")]),
            build_tar(&[("a/../../evil", T::Regular, b"x")]),
            build_tar(&[("/abs", T::Regular, b"x")]),
            build_tar(&[("l", T::Symlink, b"/tmp"), ("l/evil", T::Regular, b"x")]),
            build_tar(&[("l", T::Symlink, b".."), ("l/evil", T::Regular, b"x")]),
            build_tar(&[("h", T::Link, b"../../etc/passwd")]),
            build_tar(&[("l", T::Symlink, b"/etc"), ("h", T::Link, b"l/passwd")]),
        ];
        for (i, data) in cases.iter().enumerate() {
            let outer = tempfile::tempdir().unwrap();
            let dest = outer.path().join("layer");
            fs::create_dir(&dest).unwrap();
            let e = unpack_layer(&data[..], &dest).unwrap_err();
            assert!(matches!(e, Error::InvalidArchive(_)), "case {i}: {e}");
            assert!(!outer.path().join("evil").exists(), "case {i}");
        }
    }

    #[test]
    fn garbage_is_an_invalid_tar_header() {
        let d = tempfile::tempdir().unwrap();
        let e = unpack_layer(&[7u8; 1024][..], d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid tar header"), "{e}");
    }

    #[test]
    fn later_entries_replace_earlier() {
        let d = tempfile::tempdir().unwrap();
        let data = build_tar(&[
            ("x", T::Directory, b""),
            ("x/y", T::Regular, b""),
            ("x", T::Regular, b"file"),
        ]);
        unpack_layer(&data[..], d.path()).unwrap();
        assert_eq!(fs::read(d.path().join("x")).unwrap(), b"file");
    }
}

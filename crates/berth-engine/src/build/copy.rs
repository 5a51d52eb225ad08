//! COPY and ADD into a step's mounted root filesystem, with Docker's
//! destination rules: a directory source copies its contents; a
//! destination ending in `/`, or that exists as a directory, or that
//! receives several sources, is a directory; parents are created; files
//! belong to root unless `--chown` (or `--from` keeps the owners); ADD
//! unpacks a local tar archive.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::context::scoped;
use crate::{Error, Result};

/// How files land.
#[derive(Clone, Copy, Debug, Default)]
pub struct Owner {
    /// `None`: keep the source's owners (`COPY --from` without `--chown`).
    pub ids: Option<(u32, u32)>,
    /// `--chmod` (octal), for files and directories copied.
    pub chmod: Option<u32>,
}

/// `--chown=user[:group]` resolved with the destination's /etc/passwd and
/// /etc/group as dockerd 20.10 does: a missing group is the user's string
/// again (a uid stays numeric; a name must also name a group).
pub fn chown_ids(root: &Path, spec: &str) -> Result<(u32, u32)> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    let g = if g.is_empty() { u } else { g };
    let passwd = crate::container::user::entries(root, "/etc/passwd");
    let groups = crate::container::user::entries(root, "/etc/group");
    let id = |s: &str, table: &[Vec<String>], what: &str| -> Result<u32> {
        s.parse::<u32>()
            .ok()
            .or_else(|| crate::container::user::id_of(table, s))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find {what} for {} {s}: no such {}: {s}",
                    if what == "uid" { "user" } else { "group" },
                    if what == "uid" { "user" } else { "group" },
                ))
            })
    };
    Ok((id(u, &passwd, "uid")?, id(g, &groups, "gid")?))
}

/// Parses `--chmod` (octal only, as the classic form).
pub fn parse_chmod(s: &str) -> Result<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| Error::invalid(format!("invalid chmod parameter: {s}")))
}

/// Creates `rel` (absolute in the image) and its missing parents under
/// `root`, new directories 0755 owned by `ids`.
pub fn mkdir_all(root: &Path, rel: &str, ids: (u32, u32)) -> Result<()> {
    let mut cur = String::new();
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        let p = scoped(root, &cur)?;
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "failed to copy files: mkdir {cur}: not a directory"
                )));
            }
            Err(_) => {
                fs::create_dir(&p)?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
                std::os::unix::fs::lchown(&p, Some(ids.0), Some(ids.1))?;
            }
        }
    }
    Ok(())
}

/// Whether `dest` (absolute in the image) is an existing directory.
pub fn is_dir_in(root: &Path, dest: &str) -> bool {
    scoped(root, dest).is_ok_and(|p| p.is_dir())
}

fn apply_owner(p: &Path, m: &fs::Metadata, o: Owner) -> Result<()> {
    let (uid, gid) = o.ids.unwrap_or((m.uid(), m.gid()));
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    if let Some(mode) = o.chmod
        && !m.file_type().is_symlink()
    {
        fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Copies one file system object (file, symlink, directory tree) to
/// `target`, replacing what is there (a directory onto a directory merges).
/// Files hard-linked in a source, by (device, inode): the first copy made.
type Links = std::collections::HashMap<(u64, u64), PathBuf>;

fn copy_node(src: &Path, target: &Path, o: Owner, links: &mut Links) -> Result<()> {
    let m = fs::symlink_metadata(src)?;
    let ft = m.file_type();
    if let Ok(existing) = fs::symlink_metadata(target)
        && !(existing.is_dir() && ft.is_dir())
    {
        if existing.is_dir() {
            fs::remove_dir_all(target)?;
        } else {
            fs::remove_file(target)?;
        }
    }
    if ft.is_dir() {
        if !target.exists() {
            fs::create_dir(target)?;
        }
        for e in fs::read_dir(src)? {
            let e = e?;
            copy_node(&e.path(), &target.join(e.file_name()), o, links)?;
        }
        fs::set_permissions(target, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, target)?;
    } else if ft.is_file() {
        // Hard links inside a source stay links, as dockerd's copy keeps them.
        if m.nlink() > 1 {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                fs::hard_link(first, target)?;
                return Ok(());
            }
            links.insert((m.dev(), m.ino()), target.to_path_buf());
        }
        fs::copy(src, target)?;
        fs::set_permissions(target, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    } else {
        // Devices, fifos, sockets: recreated as they are.
        let kind = m.mode() & libc::S_IFMT;
        let dev = m.rdev();
        nix::sys::stat::mknod(
            target,
            nix::sys::stat::SFlag::from_bits_truncate(kind),
            nix::sys::stat::Mode::from_bits_truncate(m.mode() & 0o7777),
            dev,
        )
        .map_err(|e| Error::system(format!("mknod {}: {e}", target.display())))?;
    }
    apply_owner(target, &m, o)?;
    let mtime = filetime_of(&m);
    set_mtime(target, mtime, ft.is_symlink());
    Ok(())
}

fn filetime_of(m: &fs::Metadata) -> (i64, i64) {
    (m.mtime(), m.mtime_nsec())
}

fn set_mtime(p: &Path, (s, ns): (i64, i64), symlink: bool) {
    let ts = nix::sys::time::TimeSpec::new(s, ns);
    let flag = if symlink {
        nix::sys::stat::UtimensatFlags::NoFollowSymlink
    } else {
        nix::sys::stat::UtimensatFlags::FollowSymlink
    };
    let _ = nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, p, &ts, &ts, flag);
}

/// One source copied to `dest` (absolute in the image): a directory's
/// contents into `dest`; a file to `dest` or, when `dest_dir`, into it as
/// `name`.
pub fn copy_source(
    root: &Path,
    src: &Path,
    name: &str,
    dest: &str,
    dest_dir: bool,
    o: Owner,
) -> Result<()> {
    let m = fs::symlink_metadata(src)?;
    let dir_ids = o.ids.unwrap_or((0, 0));
    if m.is_dir() {
        mkdir_all(root, dest, dir_ids)?;
        let target = scoped(root, dest)?;
        let mut links = Links::new();
        for e in fs::read_dir(src)? {
            let e = e?;
            copy_node(&e.path(), &target.join(e.file_name()), o, &mut links)?;
        }
        return Ok(());
    }
    let target_rel = if dest_dir {
        mkdir_all(root, dest, dir_ids)?;
        format!("{}/{}", dest.trim_end_matches('/'), name)
    } else {
        let parent = Path::new(dest)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        mkdir_all(root, &parent, dir_ids)?;
        dest.to_string()
    };
    // The parent is resolved in scope; the last component is replaced, never followed.
    let (parent, base) = match target_rel.rsplit_once('/') {
        Some((p, b)) => (p.to_string(), b.to_string()),
        None => (String::new(), target_rel.clone()),
    };
    let target = scoped(root, &parent)?.join(base);
    copy_node(src, &target, o, &mut Links::new())
}

/// Writes a here-document as a file.
pub fn write_text(
    root: &Path,
    dest: &str,
    dest_dir: bool,
    name: &str,
    text: &str,
    o: Owner,
) -> Result<()> {
    let tmp = tempfile::NamedTempFile::new()?;
    fs::write(tmp.path(), text)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    copy_source(
        root,
        tmp.path(),
        name,
        dest,
        dest_dir,
        Owner {
            ids: Some(o.ids.unwrap_or((0, 0))),
            chmod: o.chmod,
        },
    )
}

/// Whether a local file is an archive ADD unpacks (tar, maybe compressed).
pub fn is_archive(p: &Path) -> bool {
    let Ok(f) = fs::File::open(p) else {
        return false;
    };
    let Ok(mut r) = berth_image::compression::decompress(f) else {
        return false;
    };
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < 512 {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    n == 512 && &head[257..262] == b"ustar"
}

/// ADD of a local archive: unpacked into `dest` (made root's if missing),
/// owners from the archive — dockerd ignores `--chown` for archives —,
/// never outside the root.
pub fn unpack_archive(root: &Path, src: &Path, dest: &str) -> Result<()> {
    mkdir_all(root, dest, (0, 0))?;
    let r = berth_image::compression::decompress(fs::File::open(src)?)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    // The archive's owners are kept, --chown or not, as dockerd does.
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    let base = scoped(root, dest)?;
    for entry in a.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let rel: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let Some((name, parents)) = rel.split_last() else {
            continue;
        };
        let parent_rel = format!("{}/{}", dest.trim_end_matches('/'), parents.join("/"));
        mkdir_all(root, &parent_rel, (0, 0))?;
        let target = scoped(root, &parent_rel)?.join(name);
        if !target.starts_with(root) {
            continue;
        }
        if entry.header().entry_type().is_hard_link() {
            let link = entry
                .link_name()?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let lt = scoped(&base, &link.to_string_lossy())?;
            let _ = fs::remove_file(&target);
            fs::hard_link(lt, &target)?;
            continue;
        }
        if let Ok(m) = fs::symlink_metadata(&target)
            && !(m.is_dir() && entry.header().entry_type().is_dir())
        {
            if m.is_dir() {
                fs::remove_dir_all(&target)?;
            } else {
                fs::remove_file(&target)?;
            }
        }
        entry.unpack(&target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_destination_rules() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let ctx = t.path().join("ctx");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        fs::create_dir_all(ctx.join("dir/sub")).unwrap();
        fs::write(ctx.join("f"), "file").unwrap();
        fs::write(ctx.join("dir/sub/x"), "x").unwrap();
        let o = Owner::default();
        let root_ids = Owner {
            ids: Some((0, 0)),
            chmod: None,
        };
        // A file to a path: that name.
        copy_source(&root, &ctx.join("f"), "f", "/a/b", false, root_ids).unwrap();
        assert_eq!(fs::read_to_string(root.join("a/b")).unwrap(), "file");
        // A file into a directory.
        copy_source(&root, &ctx.join("f"), "f", "/d/", true, root_ids).unwrap();
        assert!(root.join("d/f").is_file());
        // A directory: its contents.
        copy_source(&root, &ctx.join("dir"), "dir", "/t", true, o).unwrap();
        assert!(root.join("t/sub/x").is_file());
        assert!(!root.join("t/dir").exists());
        assert!(is_dir_in(&root, "/t"));
        assert!(chown_ids(&root, "app").is_err(), "no group is named app");
        assert_eq!(chown_ids(&root, "1000").unwrap(), (1000, 1000));
        assert_eq!(chown_ids(&root, "app:staff").unwrap(), (1000, 50));
        assert_eq!(chown_ids(&root, "10:20").unwrap(), (10, 20));
        assert!(chown_ids(&root, "nobody").is_err());
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert!(parse_chmod("9").is_err());
    }
}

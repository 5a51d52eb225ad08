//! A directory tree copied with everything a layer or a volume holds —
//! files, directories, symlinks, hard links, devices and fifos, with
//! owners, modes, times and extended attributes: a new, empty volume's
//! copy-up of what the image has at its mount path (as Docker fills it),
//! and, with an id map, a layer's chowned copy for remapped containers
//! where idmapped mounts are refused (`snapshot`).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::idmap::IdMap;
use crate::xattr;

/// Whether `dir` holds nothing (a missing directory counts as empty).
pub fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Copy the contents of `src` into the existing directory `dst`, and give
/// `dst` the owner and mode of `src`. Nothing is followed out of `src`.
pub fn copy_up(src: &Path, dst: &Path) -> io::Result<u64> {
    copy_tree(src, dst, None)
}

/// [`copy_up`], owners translated: a container's ids in `src` become the
/// host's ids of the remapped container (`map`) in `dst`.
pub fn copy_tree(src: &Path, dst: &Path, map: Option<&IdMap>) -> io::Result<u64> {
    let mut links: HashMap<(u64, u64), std::path::PathBuf> = HashMap::new();
    let mut files = 0u64;
    let top = fs::symlink_metadata(src)?;
    copy_dir(src, dst, &mut links, &mut files, map)?;
    finish(src, dst, &top, map)?;
    Ok(files)
}

/// The owner `md` gets in the copy.
fn owner(md: &fs::Metadata, map: Option<&IdMap>) -> (u32, u32) {
    match map {
        Some(m) => m.to_host(md.uid(), md.gid()),
        None => (md.uid(), md.gid()),
    }
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
    files: &mut u64,
    map: Option<&IdMap>,
) -> io::Result<()> {
    // What a new file here gets by itself: our ids (the directory's group
    // if it is set-gid).
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let inherits_gid = fs::symlink_metadata(dst)?.mode() & 0o2000 != 0;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = fs::symlink_metadata(&from)?;
        let ft = md.file_type();
        *files += 1;
        if ft.is_dir() {
            fs::create_dir(&to)?;
            copy_dir(&from, &to, links, files, map)?;
            finish(&from, &to, &md, map)?;
            continue;
        }
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &to)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_file() {
            // `copy` gives the new file its mode; owner and set-id bits
            // need more only when they differ from what a new file gets.
            fs::copy(&from, &to)?;
            let (ou, og) = owner(&md, map);
            if ou != uid || og != gid || inherits_gid {
                std::os::unix::fs::lchown(&to, Some(ou), Some(og))?;
                if md.mode() & 0o6000 != 0 {
                    fs::set_permissions(&to, fs::Permissions::from_mode(md.mode() & 0o7777))?;
                }
            }
            copy_xattrs(&from, &to)?;
            times(&to, &md)?;
            continue;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFIFO
            };
            nix::sys::stat::mknod(
                &to,
                kind,
                Mode::from_bits_truncate(md.mode() & 0o7777),
                md.rdev(),
            )?;
        } else {
            // Sockets belong to a process that is not there: skipped, as Docker does.
            continue;
        }
        finish(&from, &to, &md, map)?;
    }
    Ok(())
}

/// Owner, mode, extended attributes (of `src`) and times of `md` onto `p`.
fn finish(src: &Path, p: &Path, md: &fs::Metadata, map: Option<&IdMap>) -> io::Result<()> {
    let (uid, gid) = owner(md, map);
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    let symlink = md.file_type().is_symlink();
    if !symlink {
        // After chown, which clears set-id bits.
        fs::set_permissions(p, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    copy_xattrs(src, p)?;
    times(p, md)
}

fn times(p: &Path, md: &fs::Metadata) -> io::Result<()> {
    let at = TimeSpec::new(md.atime(), md.atime_nsec());
    let mt = TimeSpec::new(md.mtime(), md.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &at,
        &mt,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

/// Extended attributes (capabilities, ACLs, user.*), not following
/// symlinks. A target file system without them is not an error.
fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let names = match xattr::list(src) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        let Some(value) = xattr::get(src, &name)? else {
            continue;
        };
        match xattr::set(dst, &name, &value) {
            Err(e) if !unsupported(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_a_tree_with_modes_links_and_times() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("d")).unwrap();
        fs::write(s.join("d/f"), b"data").unwrap();
        xattr::set(&s.join("d/f"), "user.berth", b"x").unwrap();
        fs::set_permissions(s.join("d/f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(s.join("d/f"), s.join("hl")).unwrap();
        fs::write(s.join("suid"), b"x").unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::lchown(s.join("suid"), Some(1), Some(2)).unwrap();
        }
        fs::set_permissions(s.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("d/f", s.join("ln")).unwrap();
        fs::set_permissions(s.join("d"), fs::Permissions::from_mode(0o710)).unwrap();
        fs::set_permissions(s, fs::Permissions::from_mode(0o750)).unwrap();
        nix::unistd::mkfifo(&s.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let mt = TimeSpec::new(1_000_000, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &s.join("d/f"),
            &mt,
            &mt,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        assert!(is_empty(dst.path()));
        copy_up(s, dst.path()).unwrap();
        let d = dst.path();
        assert_eq!(fs::read(d.join("d/f")).unwrap(), b"data");
        let f = fs::metadata(d.join("d/f")).unwrap();
        assert_eq!(f.mode() & 0o7777, 0o640);
        assert_eq!(f.mtime(), 1_000_000);
        assert_eq!(
            xattr::get(&d.join("d/f"), "user.berth").unwrap().as_deref(),
            Some(&b"x"[..])
        );
        assert_eq!(fs::metadata(d.join("hl")).unwrap().ino(), f.ino());
        assert_eq!(fs::read_link(d.join("ln")).unwrap(), Path::new("d/f"));
        assert_eq!(fs::metadata(d.join("d")).unwrap().mode() & 0o7777, 0o710);
        assert_eq!(fs::metadata(d).unwrap().mode() & 0o7777, 0o750);
        assert!(
            fs::symlink_metadata(d.join("fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        let su = fs::metadata(d.join("suid")).unwrap();
        assert_eq!(su.mode() & 0o7777, 0o4755);
        if nix::unistd::geteuid().is_root() {
            assert_eq!((su.uid(), su.gid()), (1, 2));
        }
        assert!(!is_empty(d));
    }

    #[test]
    fn a_chowned_copy_shifts_the_owners() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("home")).unwrap();
        fs::write(s.join("home/f"), b"x").unwrap();
        std::os::unix::fs::lchown(s.join("home"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::symlink("home", s.join("ln")).unwrap();
        std::os::unix::fs::lchown(s.join("ln"), Some(0), Some(5)).unwrap();
        let map = IdMap::from_subordinate(&[(100000, 65536)], &[(200000, 65536)]);
        copy_tree(s, dst.path(), Some(&map)).unwrap();
        let d = dst.path();
        let ids = |p: &Path| {
            let m = fs::symlink_metadata(p).unwrap();
            (m.uid(), m.gid())
        };
        assert_eq!(ids(d), (100000, 200000));
        assert_eq!(ids(&d.join("home")), (101000, 201000));
        assert_eq!(ids(&d.join("home/f")), (100000, 200000));
        assert_eq!(ids(&d.join("ln")), (100000, 200005));
    }
}

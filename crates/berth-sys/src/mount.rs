//! The parts of the mount API that nix lacks: `mount_setattr(2)` (idmapped and
//! recursive read-only mounts), `open_tree(2)` and `move_mount(2)`; and the
//! parser of `/proc/<pid>/mountinfo`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::cvt;

pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
pub const AT_RECURSIVE: u32 = 0x8000;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Clone the mount tree at `path` into a detached mount (`open_tree(2)`).
pub fn open_tree_clone(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let p = cpath(path)?;
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: valid C string; flags are plain integers.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Set attributes on a (detached) mount; `userns` turns it into an idmapped mount.
pub fn mount_setattr(
    mnt: BorrowedFd<'_>,
    recursive: bool,
    attr_set: u64,
    userns: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map(|f| f.as_raw_fd() as u64).unwrap_or(0),
    };
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: attr is a valid mount_attr of the size passed; empty is a valid C string.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Attach a detached mount at `target` (`move_mount(2)`).
pub fn move_mount_to(mnt: BorrowedFd<'_>, target: &Path) -> io::Result<()> {
    let t = cpath(target)?;
    let empty = c"";
    // SAFETY: valid C strings and descriptors.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// One line of `/proc/<pid>/mountinfo` (the fields berth uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The root of the mount within its filesystem.
    pub root: String,
    /// Where it is mounted, relative to the reader's root.
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
    /// The superblock options.
    pub super_opts: String,
}

/// Parse mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// Parse one mountinfo line: `id parent major:minor root mount-point opts
/// [optional…] - fstype source super-opts`.
pub fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if l.len() < 5 || r.len() < 3 {
        return None;
    }
    Some(MountInfo {
        root: unescape(l[3]),
        mount_point: PathBuf::from(unescape(l[4])),
        fstype: r[0].to_string(),
        source: unescape(r[1]),
        super_opts: r[2].to_string(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as three octal digits.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let m = parse_mountinfo_line(
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.mount_point, PathBuf::from("/mnt two"));
        assert_eq!(m.fstype, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_opts, "rw,errors=continue");
        assert_eq!(parse_mountinfo_line("garbage"), None);
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(
            parse_mountinfo("24 1 0:22 / /proc rw - proc proc rw\nbad\n").len(),
            1
        );
    }
}

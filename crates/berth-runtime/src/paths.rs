//! Resolving paths inside a container's root filesystem without ever leaving it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

const MAX_SYMLINKS: usize = 255;

/// Resolve `unsafe_path` (interpreted relative to `root`, as the container would see
/// it) to a host path below `root`, following symlinks the way the container would:
/// an absolute link target starts again at `root`.
///
/// A `..` that would climb above the container's root — written in the path or
/// reached through a relative symlink — is an error: it names an escape attempt,
/// not a location. Missing components are fine (they are created later).
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let escape = || {
        Error::Config(format!(
            "path {:?} escapes the container's root filesystem",
            unsafe_path
        ))
    };
    // Components still to walk, in reverse order (a stack).
    let mut todo: Vec<OsString> = components(unsafe_path);
    todo.reverse();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            if resolved.pop().is_none() {
                return Err(escape());
            }
            continue;
        }
        let candidate = root.join(join(&resolved)).join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::Config(format!(
                        "path {unsafe_path:?}: too many levels of symbolic links"
                    )));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| Error::Io {
                    context: format!("readlink {}", candidate.display()),
                    source: e,
                })?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut t = components(&target);
                t.reverse();
                todo.extend(t);
            }
            _ => resolved.push(c),
        }
    }
    Ok(root.join(join(&resolved)))
}

fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn join(parts: &[OsString]) -> PathBuf {
    parts.iter().collect()
}

/// Whether `path`, after lexical cleaning, would leave `/` through `..`.
pub fn lexically_escapes(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// `/proc/self/fd/N` of an open descriptor resolves to the real location: use it to
/// check that what was opened is inside `root`.
pub fn fd_path_within(fd: std::os::fd::BorrowedFd<'_>, root: &Path) -> Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let real = std::fs::read_link(&link).map_err(|e| Error::Io {
        context: format!("readlink {}", link.display()),
        source: e,
    })?;
    if !real.starts_with(root) {
        return Err(Error::Config(format!(
            "{} resolved to {} outside of the root filesystem {}",
            link.display(),
            real.display(),
            root.display()
        )));
    }
    Ok(real)
}

/// The path as bytes, for C APIs.
pub fn as_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("real/dir", root.join("rel")).unwrap();
        symlink("../run", root.join("real/up")).unwrap();
        assert_eq!(
            secure_join(root, Path::new("/abs/dir")).unwrap(),
            root.join("real/dir")
        );
        assert_eq!(
            secure_join(root, Path::new("rel/x")).unwrap(),
            root.join("real/dir/x")
        );
        assert_eq!(
            secure_join(root, Path::new("/real/up/y")).unwrap(),
            root.join("run/y")
        );
        assert_eq!(
            secure_join(root, Path::new("/a/../b")).unwrap(),
            root.join("b")
        );
        assert_eq!(
            secure_join(root, Path::new("/missing/deeper")).unwrap(),
            root.join("missing/deeper")
        );
    }

    #[test]
    fn escapes_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        symlink("../../../../etc", root.join("a/evil")).unwrap();
        assert!(secure_join(root, Path::new("/../etc")).is_err());
        assert!(secure_join(root, Path::new("/a/../../etc")).is_err());
        let e = secure_join(root, Path::new("/a/evil/passwd")).unwrap_err();
        assert!(e.to_string().contains("escapes"), "{e}");
        assert!(lexically_escapes(Path::new("/x/../../y")));
        assert!(!lexically_escapes(Path::new("/x/../y")));
    }

    #[test]
    fn symlink_loops_are_errors() {
        let d = tempfile::tempdir().unwrap();
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        assert!(secure_join(d.path(), Path::new("/a/x")).is_err());
    }
}

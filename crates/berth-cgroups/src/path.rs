//! Turning an OCI `cgroupsPath` into directories in each hierarchy.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Interpret `cgroupsPath` the way runc does.
///
/// * cgroupfs driver: an absolute path is taken from each hierarchy's root; a relative
///   one (and an empty one, which means the container id) from the caller's own cgroup.
/// * systemd driver: `slice:prefix:name` becomes `/<expanded slice>/<prefix>-<name>.scope`.
///   berth drives cgroupfs directly (no D-Bus), placing the scope where systemd would.
pub fn resolve(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<PathBuf> {
    let raw = cgroups_path.unwrap_or("");
    if systemd {
        let (slice, prefix, name) = if raw.is_empty() {
            ("system.slice", "berth", id)
        } else {
            let parts: Vec<&str> = raw.split(':').collect();
            if parts.len() != 3 {
                return Err(Error::Invalid(format!(
                    "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {raw:?} instead"
                )));
            }
            (parts[0], parts[1], parts[2])
        };
        let mut path = expand_slice(if slice.is_empty() {
            "system.slice"
        } else {
            slice
        })?;
        let unit = if name.ends_with(".slice") {
            name.to_string()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        path.push(unit);
        return Ok(path);
    }
    if raw.is_empty() {
        return Ok(PathBuf::from(id));
    }
    Ok(clean(Path::new(raw)))
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
fn expand_slice(slice: &str) -> Result<PathBuf> {
    let bad = || Error::Invalid(format!("invalid systemd slice name {slice:?}"));
    let base = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if slice.contains('/') {
        return Err(bad());
    }
    let mut path = PathBuf::from("/");
    if base == "-" {
        return Ok(path);
    }
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

/// Lexically clean a path, never letting `..` climb above its start.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let absolute = p.is_absolute();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if absolute {
        Path::new("/").join(out)
    } else {
        out
    }
}

/// The directory of `inner` in a hierarchy mounted at `mount` where we sit at `own`.
pub fn directory(mount: &Path, own: &Path, inner: &Path) -> PathBuf {
    if let Ok(rel) = inner.strip_prefix("/") {
        mount.join(rel)
    } else {
        mount.join(own).join(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroupfs_paths() {
        assert_eq!(resolve(None, "c1", false).unwrap(), PathBuf::from("c1"));
        assert_eq!(
            resolve(Some("/a/b"), "c1", false).unwrap(),
            PathBuf::from("/a/b")
        );
        assert_eq!(
            resolve(Some("/a/../../b"), "c1", false).unwrap(),
            PathBuf::from("/b")
        );
        assert_eq!(
            resolve(Some("x/y"), "c1", false).unwrap(),
            PathBuf::from("x/y")
        );
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            resolve(Some("system.slice:docker:abc"), "c1", true).unwrap(),
            PathBuf::from("/system.slice/docker-abc.scope")
        );
        assert_eq!(
            resolve(Some("machine-test.slice:pfx:c"), "c1", true).unwrap(),
            PathBuf::from("/machine.slice/machine-test.slice/pfx-c.scope")
        );
        assert_eq!(
            resolve(None, "c1", true).unwrap(),
            PathBuf::from("/system.slice/berth-c1.scope")
        );
        assert!(resolve(Some("/abs/path"), "c1", true).is_err());
        assert!(resolve(Some("bad:pfx:c"), "c1", true).is_err());
    }

    #[test]
    fn directories() {
        let m = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            directory(m, Path::new("own"), Path::new("/x")),
            PathBuf::from("/sys/fs/cgroup/memory/x")
        );
        assert_eq!(
            directory(m, Path::new("own"), Path::new("x")),
            PathBuf::from("/sys/fs/cgroup/memory/own/x")
        );
    }
}

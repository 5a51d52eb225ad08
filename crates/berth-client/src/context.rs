//! A build context as the docker CLI sends it to `POST /build`: a
//! directory's files in a tar, `.dockerignore` applied, owners 0:0, and a
//! Dockerfile from outside the context injected under a random name. Used
//! by `berth build` and by `berth compose build`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_build::ignore::{Matcher, read_patterns};

/// Why a context could not be made, in the docker CLI's words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ContextError(pub String);

impl From<std::io::Error> for ContextError {
    fn from(e: std::io::Error) -> Self {
        ContextError(format!("error checking context: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, ContextError>;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum Dockerfile {
    /// `Dockerfile` (or `dockerfile`) in the context.
    Default,
    /// A path: relative to `base`, inside the context or outside it.
    Path { path: PathBuf, base: PathBuf },
    /// Its text (stdin, compose's `dockerfile_inline`).
    Text(Vec<u8>),
}

/// A file added to the context beside the directory's (build secrets).
pub struct Extra<'a> {
    pub name: String,
    pub data: &'a [u8],
    pub mode: u32,
}

/// The tar of `dir` and the Dockerfile name to ask the daemon for.
pub fn dir_context(
    dir: &Path,
    dockerfile: &Dockerfile,
    extra: &[Extra],
) -> Result<(Vec<u8>, String)> {
    if !dir.is_dir() {
        return Err(ContextError(format!(
            "unable to prepare context: path {:?} not found",
            dir.display().to_string()
        )));
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let patterns = std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|t| read_patterns(&t))
        .unwrap_or_default();
    let m = Matcher::new(&patterns)
        .map_err(|e| ContextError(format!("error checking context: {e}")))?;
    let mut name = String::new();
    let mut injected: Option<Vec<u8>> = None;
    match dockerfile {
        Dockerfile::Text(t) => injected = Some(t.clone()),
        Dockerfile::Path { path, base } => {
            let abs = if path.is_absolute() {
                path.clone()
            } else {
                base.join(path)
            };
            let ctx_abs = std::fs::canonicalize(dir)?;
            let file_abs = std::fs::canonicalize(&abs).map_err(|e| {
                ContextError(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: {e}"
                ))
            })?;
            match file_abs.strip_prefix(&ctx_abs) {
                Ok(rel) => name = rel.to_string_lossy().into_owned(),
                Err(_) => injected = Some(std::fs::read(&file_abs)?),
            }
        }
        Dockerfile::Default => {
            if !dir.join("Dockerfile").exists() && !dir.join("dockerfile").exists() {
                return Err(ContextError(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    std::fs::canonicalize(dir)
                        .unwrap_or(dir.to_path_buf())
                        .join("Dockerfile")
                        .display()
                )));
            }
        }
    }
    let keep = vec![
        if name.is_empty() {
            "Dockerfile".to_string()
        } else {
            name.clone()
        },
        ".dockerignore".to_string(),
    ];
    add_dir(&mut b, dir, "", &m, &keep)?;
    if let Some(d) = injected {
        name = format!(".dockerfile.{}", random_hex());
        add_bytes(&mut b, &name, &d, 0o644)?;
    }
    for e in extra {
        add_bytes(&mut b, &e.name, e.data, e.mode)?;
    }
    Ok((b.into_inner()?, name))
}

/// A context of only a Dockerfile (a Dockerfile on stdin), plus `extra`.
pub fn dockerfile_context(text: &[u8], extra: &[Extra]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    add_bytes(&mut b, "Dockerfile", text, 0o644)?;
    for e in extra {
        add_bytes(&mut b, &e.name, e.data, e.mode)?;
    }
    Ok(b.into_inner()?)
}

/// Whether bytes start a tar or a compressed stream.
pub fn looks_like_archive(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
        || b.starts_with(b"BZh")
        || b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (b.len() >= 262 && &b[257..262] == b"ustar")
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Appends `dir`'s files to a tar as the docker CLI does: relative names,
/// owners 0:0, excluded paths left out (the Dockerfile and .dockerignore
/// always sent: the daemon drops them if excluded).
fn add_dir(
    b: &mut tar::Builder<impl Write>,
    root: &Path,
    rel: &str,
    m: &Matcher,
    keep: &[String],
) -> Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| ContextError(format!("error checking context: {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let p = root.join(&r);
        let meta = std::fs::symlink_metadata(&p)?;
        let excluded = m.excluded(&r) && !keep.contains(&r);
        if excluded && (!meta.is_dir() || m.can_skip_dir(&r)) {
            continue;
        }
        if !excluded {
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
            h.set_uid(0);
            h.set_gid(0);
            let _ = h.set_username("");
            let _ = h.set_groupname("");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p)?;
                h.set_size(0);
                b.append_link(&mut h, &r, target)?;
            } else if meta.is_dir() {
                h.set_size(0);
                b.append_data(&mut h, format!("{r}/"), std::io::empty())?;
            } else if meta.is_file() {
                let f = std::fs::File::open(&p).map_err(|e| {
                    ContextError(format!(
                        "error checking context: can't stat '{}': {e}",
                        p.display()
                    ))
                })?;
                b.append_data(&mut h, &r, f)?;
            }
        }
        if meta.is_dir() {
            add_dir(b, root, &r, m, keep)?;
        }
    }
    Ok(())
}

fn add_bytes(b: &mut tar::Builder<impl Write>, name: &str, data: &[u8], mode: u32) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn ignored_files_stay_out_but_the_dockerfile_goes() {
        let t = tempfile::tempdir().unwrap();
        for (n, c) in [
            ("Dockerfile", "FROM scratch\n"),
            (".dockerignore", "Dockerfile\n*.log\nsub\n!sub/keep\n"),
            ("a.log", "x"),
            ("b", "x"),
            ("sub/drop", "x"),
            ("sub/keep", "x"),
        ] {
            let p = t.path().join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, c).unwrap();
        }
        let (tar_bytes, name) = dir_context(t.path(), &Dockerfile::Default, &[]).unwrap();
        assert_eq!(name, "");
        assert_eq!(
            names(&tar_bytes),
            [".dockerignore", "Dockerfile", "b", "sub/keep"]
        );
    }

    #[test]
    fn a_dockerfile_outside_is_injected_inside_is_named() {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        std::fs::create_dir_all(ctx.join("d")).unwrap();
        std::fs::write(ctx.join("d/df"), "FROM scratch\n").unwrap();
        std::fs::write(t.path().join("outside"), "FROM scratch\n").unwrap();
        let inside = Dockerfile::Path {
            path: "d/df".into(),
            base: ctx.clone(),
        };
        assert_eq!(dir_context(&ctx, &inside, &[]).unwrap().1, "d/df");
        let outside = Dockerfile::Path {
            path: "../outside".into(),
            base: ctx.clone(),
        };
        let (tar_bytes, name) = dir_context(&ctx, &outside, &[]).unwrap();
        assert!(name.starts_with(".dockerfile."), "{name}");
        assert!(names(&tar_bytes).contains(&name));
        let missing = dir_context(&ctx, &Dockerfile::Default, &[]).unwrap_err();
        assert!(missing.0.contains("no such file or directory"), "{missing}");
        let no_dir = dir_context(&t.path().join("nope"), &Dockerfile::Default, &[]).unwrap_err();
        assert!(no_dir.0.contains("not found"), "{no_dir}");
    }

    #[test]
    fn archives_are_recognised() {
        assert!(looks_like_archive(&[0x1f, 0x8b, 8]));
        assert!(!looks_like_archive(b"FROM busybox\n"));
    }
}

//! Step cache keys. A step's key is its parent image, the step as it will
//! be recorded (the `created_by` after substitution, which for RUN carries
//! the build args in scope and for COPY/ADD the sources' content hash),
//! and the config the step runs with. Equal keys mean the step's result
//! can be reused, so a change invalidates exactly that step and those after
//! it (each later key names the changed parent).

use sha2::{Digest, Sha256};

/// The cache key of one step.
pub fn step_key(parent: &str, created_by: &str, config_json: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"berth-build-cache-v1\0");
    h.update(parent.as_bytes());
    h.update(b"\0");
    h.update(created_by.as_bytes());
    h.update(b"\0");
    h.update(config_json);
    hex::encode(h.finalize())
}

/// One entry of a source tree, as its content hash sees it: name, mode
/// (permission and type bits), owners, size, link target and content
/// digest; never times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEntry {
    /// Path relative to the copied source (`""` for the source itself).
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub link: String,
    /// sha256 hex of a regular file's content (empty otherwise).
    pub content: String,
}

/// The content hash of a source (`file:<hex>` for a single regular file,
/// `dir:<hex>` for a tree), over entries sorted by path.
pub fn source_hash(entries: &mut [SourceEntry], is_dir: bool) -> String {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for e in entries.iter() {
        h.update(
            format!(
                "{}\0{:o}\0{}\0{}\0{}\0{}\0{}\n",
                e.path, e.mode, e.uid, e.gid, e.size, e.link, e.content
            )
            .as_bytes(),
        );
    }
    let kind = if is_dir { "dir" } else { "file" };
    format!("{kind}:{}", hex::encode(h.finalize()))
}

/// The hash of several sources (`multi:<hex>`), as Docker names them.
pub fn multi_hash(hashes: &[String]) -> String {
    if hashes.len() == 1 {
        return hashes[0].clone();
    }
    format!(
        "multi:{}",
        hex::encode(Sha256::digest(hashes.join(",").as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, content: &str) -> SourceEntry {
        SourceEntry {
            path: path.into(),
            mode: 0o100644,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            link: String::new(),
            content: content.into(),
        }
    }

    #[test]
    fn keys_change_with_each_input() {
        let k = step_key("sha256:a", "/bin/sh -c true", b"{}");
        assert_eq!(k, step_key("sha256:a", "/bin/sh -c true", b"{}"));
        assert_ne!(k, step_key("sha256:b", "/bin/sh -c true", b"{}"));
        assert_ne!(k, step_key("sha256:a", "/bin/sh -c false", b"{}"));
        assert_ne!(k, step_key("sha256:a", "/bin/sh -c true", b"{\"a\":1}"));
    }

    #[test]
    fn source_hash_ignores_order_not_content() {
        let mut a = vec![entry("x", "1"), entry("y", "2")];
        let mut b = vec![entry("y", "2"), entry("x", "1")];
        assert_eq!(source_hash(&mut a, true), source_hash(&mut b, true));
        let mut c = vec![entry("x", "1"), entry("y", "3")];
        assert_ne!(source_hash(&mut a, true), source_hash(&mut c, true));
        let mut d = vec![entry("x", "1"), entry("y", "2")];
        d[0].mode = 0o100755;
        assert_ne!(source_hash(&mut a, true), source_hash(&mut d, true));
        assert!(source_hash(&mut a, false).starts_with("file:"));
        assert_eq!(multi_hash(&["file:a".into()]), "file:a");
        assert!(multi_hash(&["file:a".into(), "dir:b".into()]).starts_with("multi:"));
    }
}

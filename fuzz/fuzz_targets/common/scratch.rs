//! Scratch directories for targets that write: one fenced directory per
//! process, a fresh one inside it per input. The fence lets a target check
//! that nothing the input made landed beside its own directory.
// Each target uses the part it needs.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The per-process fence (under `$TMPDIR`, which scripts/fuzz.sh points
/// at a directory it removes afterwards).
pub fn fence() -> &'static Path {
    static FENCE: OnceLock<PathBuf> = OnceLock::new();
    FENCE.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("berth-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the scratch fence");
        p
    })
}

/// A fresh, empty directory inside the fence.
pub fn dir() -> tempfile::TempDir {
    tempfile::tempdir_in(fence()).expect("create a scratch directory")
}

/// The names in `dir`.
pub fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("list a scratch directory")
        .map(|e| {
            e.expect("read a scratch entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Panics unless the fence holds exactly `own` (the input's directory).
pub fn assert_fenced(own: &tempfile::TempDir) {
    let name = own
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let found = entries(fence());
    assert_eq!(
        found,
        BTreeSet::from([name]),
        "something was created outside the scratch directory"
    );
}

/// Removes the input's directory; a failure would poison the next input's
/// fence check, so it is one.
pub fn remove(own: tempfile::TempDir) {
    let p = own.path().to_path_buf();
    own.close()
        .unwrap_or_else(|e| panic!("remove scratch {}: {e}", p.display()));
}

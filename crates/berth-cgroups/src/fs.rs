//! Reading and writing cgroup interface files, with errors that name the file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Write `value` to a cgroup file in a single `write(2)`, as the kernel expects.
pub(crate) fn write(path: &Path, value: impl AsRef<[u8]>) -> Result<()> {
    let value = value.as_ref();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.write_all(value).map_err(|e| Error::Io {
        op: "write",
        path: path.to_path_buf(),
        source: std::io::Error::new(
            e.kind(),
            format!("{} (value {:?})", e, String::from_utf8_lossy(value)),
        ),
    })
}

pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

/// Read a single number; `max` reads as `u64::MAX`.
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let s = read(path)?;
    parse_u64(s.trim())
        .ok_or_else(|| Error::Invalid(format!("unexpected content {s:?} in {}", path.display())))
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        Some(u64::MAX)
    } else {
        s.parse().ok()
    }
}

/// Read a file of `key value` lines.
pub(crate) fn read_kv(path: &Path) -> Result<BTreeMap<String, u64>> {
    Ok(read(path)?
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = parse_u64(it.next()?)?;
            Some((k.to_string(), v))
        })
        .collect())
}

/// Read a file if it exists; a missing file is `None`.
pub(crate) fn read_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

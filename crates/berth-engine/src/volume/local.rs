//! The `local` volume driver, as Docker's: a directory
//! `<root>/<name>/_data`, or, with `type`/`device`/`o` options, a file
//! system mounted there while at least one container uses it (`tmpfs`, a
//! bind of a host path with `type=none,o=bind`, a block device, nfs…).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_api::StringMap;

use super::Driver;
use crate::model::VolumeRecord;
use crate::{Error, Result};

pub const NAME: &str = "local";
const DATA: &str = "_data";

/// Options the driver knows, and which others each one needs.
const VALID: &[&str] = &["type", "o", "device", "size"];
const NEEDS: &[(&str, &[&str])] = &[
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

pub struct Local {
    root: PathBuf,
    /// `--userns-remap`: new volumes' data directories belong to the
    /// remapped root, as dockerd makes them.
    owner: Option<(u32, u32)>,
    /// Volumes with a file system of their own: the containers using each.
    active: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

/// Docker's rule for names: two or more of `[a-zA-Z0-9][a-zA-Z0-9_.-]`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() < 2 {
        return Err(Error::invalid(
            "volume name is too short, names should be at least two alphanumeric characters",
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(Error::invalid(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// Check the options of a new volume (dockerd's words).
pub fn validate_options(opts: &StringMap) -> Result<()> {
    for k in opts.keys() {
        if !VALID.contains(&k.as_str()) {
            return Err(Error::invalid(format!("invalid option: \"{k}\"")));
        }
    }
    if let Some(size) = opts.get("size") {
        let n = berth_api::units::ram_in_bytes(size).map_err(|e| Error::invalid(e.to_string()))?;
        if n > 0 {
            return Err(Error::invalid("quota size requested but no quota support"));
        }
    }
    for (opt, needs) in NEEDS {
        if opts.contains_key(*opt) {
            for n in *needs {
                if !opts.contains_key(*n) {
                    return Err(Error::invalid(format!("missing required option: \"{n}\"")));
                }
            }
        }
    }
    Ok(())
}

fn needs_mount(opts: &StringMap) -> bool {
    opts.get("type").is_some_and(|t| !t.is_empty())
        || opts.get("device").is_some_and(|d| !d.is_empty())
}

impl Local {
    pub fn new(root: &Path, owner: Option<(u32, u32)>) -> Local {
        Local {
            root: root.to_path_buf(),
            owner,
            active: Mutex::new(BTreeMap::new()),
        }
    }

    fn mount_fs(&self, v: &VolumeRecord) -> Result<()> {
        let path = self.mountpoint(&v.name);
        let device = v.options.get("device").cloned().unwrap_or_default();
        if device.is_empty() {
            return Err(Error::system("missing device in volume options"));
        }
        let fstype = v.options.get("type").cloned().unwrap_or_default();
        let o = v.options.get("o").cloned().unwrap_or_default();
        // The words of `o` as mount(8) takes them: flags, the rest is data.
        let spec = oci_spec::runtime::MountBuilder::default()
            .destination(&path)
            .options(
                o.split(',')
                    .filter(|w| !w.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>(),
            )
            .build()
            .map_err(|e| Error::system(e.to_string()))?;
        let parsed = berth_runtime::rootfs::options::parse(&spec).map_err(Error::invalid)?;
        let mut flags = parsed.flags;
        if parsed.bind {
            flags |= nix::mount::MsFlags::MS_BIND;
            if parsed.recursive {
                flags |= nix::mount::MsFlags::MS_REC;
            }
        }
        let fstype = (!fstype.is_empty() && fstype != "none").then_some(fstype.as_str());
        let data = (!parsed.data.is_empty()).then_some(parsed.data.as_str());
        nix::mount::mount(Some(device.as_str()), &path, fstype, flags, data).map_err(|e| {
            Error::system(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {device}:{}, flags: {:#x}, data: {}: {}",
                path.display(),
                path.display(),
                flags.bits(),
                parsed.data,
                e.desc()
            ))
        })?;
        if parsed.bind && flags.contains(nix::mount::MsFlags::MS_RDONLY) {
            // A bind takes `ro` only on a remount.
            nix::mount::mount(
                None::<&str>,
                &path,
                None::<&str>,
                flags | nix::mount::MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(|e| Error::system(format!("remount {} read-only: {e}", path.display())))?;
        }
        Ok(())
    }

    fn unmount_fs(&self, name: &str) -> Result<()> {
        let path = self.mountpoint(name);
        while berth_image::snapshot::is_mounted(&path) {
            nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| Error::system(format!("unmount {}: {e}", path.display())))?;
        }
        Ok(())
    }
}

impl Driver for Local {
    fn name(&self) -> &'static str {
        NAME
    }

    fn validate(&self, name: &str, opts: &StringMap) -> Result<()> {
        validate_name(name)?;
        validate_options(opts)
    }

    fn create(&self, name: &str, _opts: &StringMap) -> Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.root.join(name);
        std::fs::DirBuilder::new()
            .mode(0o701)
            .create(&dir)
            .map_err(|e| {
                Error::system(format!(
                    "error while creating volume root path '{}': {e}",
                    dir.display()
                ))
            })?;
        let data = dir.join(DATA);
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&data)
            .map_err(|e| {
                Error::system(format!(
                    "error while creating volume data path '{}': {e}",
                    data.display()
                ))
            })?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).map_err(|e| {
                Error::system(format!(
                    "error while creating volume data path '{}': {e}",
                    data.display()
                ))
            })?;
        }
        Ok(data)
    }

    fn remove(&self, name: &str) -> Result<()> {
        if self
            .active
            .lock()
            .unwrap()
            .get(name)
            .is_some_and(|u| !u.is_empty())
        {
            return Err(Error::system("volume has active mounts"));
        }
        self.unmount_fs(name)?;
        let dir = self.root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::system(format!(
                "unable to remove volume path {}: {e}",
                dir.display()
            ))),
            _ => Ok(()),
        }
    }

    fn mountpoint(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA)
    }

    fn mount(&self, v: &VolumeRecord, user: &str) -> Result<PathBuf> {
        let path = self.mountpoint(&v.name);
        if needs_mount(&v.options) {
            let mut active = self.active.lock().unwrap();
            let users = active.entry(v.name.clone()).or_default();
            if users.is_empty() && !berth_image::snapshot::is_mounted(&path) {
                self.mount_fs(v)?;
            }
            users.insert(user.to_string());
        }
        Ok(path)
    }

    fn unmount(&self, v: &VolumeRecord, user: &str) -> Result<()> {
        if !needs_mount(&v.options) {
            return Ok(());
        }
        let mut active = self.active.lock().unwrap();
        let users = active.entry(v.name.clone()).or_default();
        users.remove(user);
        if users.is_empty() {
            active.remove(&v.name);
            self.unmount_fs(&v.name)?;
        }
        Ok(())
    }

    fn restore(&self, v: &VolumeRecord, users: &[String]) {
        if !needs_mount(&v.options) {
            return;
        }
        if users.is_empty() {
            if let Err(e) = self.unmount_fs(&v.name) {
                tracing::warn!("volume {}: {e}", v.name);
            }
            return;
        }
        let mut active = self.active.lock().unwrap();
        active
            .entry(v.name.clone())
            .or_default()
            .extend(users.iter().cloned());
    }

    fn size(&self, name: &str) -> u64 {
        dir_size(&self.mountpoint(name))
    }
}

/// Bytes used by the files under `p` (hard links counted once), as
/// `system df` reports a volume.
pub fn dir_size(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = BTreeSet::new();
    walkdir::WalkDir::new(p)
        .same_file_system(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| !m.is_dir() && (m.nlink() < 2 || seen.insert((m.dev(), m.ino()))))
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> StringMap {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_as_docker_takes_them() {
        for ok in ["v1", "my_vol.2-x", "0a"] {
            validate_name(ok).unwrap();
        }
        assert!(
            validate_name("a")
                .unwrap_err()
                .to_string()
                .contains("too short")
        );
        for bad in ["x/y", "-ab", "a b", ".ab", "ab:c"] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains("includes invalid characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn options_as_docker_checks_them() {
        validate_options(&opts(&[])).unwrap();
        validate_options(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m"),
        ]))
        .unwrap();
        let e = |o: &[(&str, &str)]| validate_options(&opts(o)).unwrap_err().to_string();
        assert_eq!(e(&[("foo", "1")]), "invalid option: \"foo\"");
        assert_eq!(
            e(&[("type", "tmpfs")]),
            "missing required option: \"device\""
        );
        assert_eq!(e(&[("device", "/x")]), "missing required option: \"type\"");
        assert_eq!(
            e(&[("size", "1g")]),
            "quota size requested but no quota support"
        );
        assert!(needs_mount(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs")
        ])));
        assert!(!needs_mount(&opts(&[])));
    }

    #[test]
    fn size_counts_hard_links_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(d.path().join("a"), d.path().join("b")).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/c"), vec![0u8; 24]).unwrap();
        assert_eq!(dir_size(d.path()), 1024);
    }
}

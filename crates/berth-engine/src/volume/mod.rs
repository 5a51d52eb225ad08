//! Volumes: data that outlives containers. The store keeps one record per
//! volume (`<data-root>/volumes/<name>/volume.json`); a [`Driver`] keeps the
//! data and mounts what needs mounting (only [`local`] today; Docker's
//! plugin protocol would be another implementation). Who uses a volume is
//! read from the container records each time, never kept apart, so a crash
//! cannot leave the two out of step.
//!
//! Crash safety: a volume exists once its record is on disk (written last
//! at create, removed first at remove); at open, a directory without a
//! record is what an interrupted create or remove left, and goes.

pub mod local;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_api::StringMap;
use berth_api::container::MountType;
use berth_api::events::Kind;
use berth_api::filters::Filters;
use berth_api::volume::{CreateRequest, ListResponse, PruneReport, UsageData, Volume};

use crate::model::{Container, MountRecord, VolumeRecord};
use crate::util::new_id;
use crate::{Engine, Error, ErrorKind, Result};

/// The label Docker puts on the volumes a container makes for itself;
/// `volume prune` without `--all` removes only these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
const RECORD: &str = "volume.json";

/// What a volume driver does; the store calls it under its own lock.
pub trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    /// Check a new volume's name and options before anything is made.
    fn validate(&self, name: &str, opts: &StringMap) -> Result<()>;
    /// Make the volume's storage; returns its mountpoint.
    fn create(&self, name: &str, opts: &StringMap) -> Result<PathBuf>;
    fn remove(&self, name: &str) -> Result<()>;
    fn mountpoint(&self, name: &str) -> PathBuf;
    /// Container `user` starts using `v`: the path to bind into it.
    fn mount(&self, v: &VolumeRecord, user: &str) -> Result<PathBuf>;
    fn unmount(&self, v: &VolumeRecord, user: &str) -> Result<()>;
    /// After a daemon restart: the containers still running with `v`.
    fn restore(&self, v: &VolumeRecord, users: &[String]);
    /// Bytes used (`system df -v`).
    fn size(&self, name: &str) -> u64;
}

pub struct Volumes {
    root: PathBuf,
    records: Mutex<BTreeMap<String, VolumeRecord>>,
    local: Arc<local::Local>,
}

fn write_record(dir: &Path, v: &VolumeRecord) -> std::io::Result<()> {
    let tmp = dir.join(".volume.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(v).expect("record serialises"))?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(RECORD))?;
    std::fs::File::open(dir)?.sync_all()
}

impl Volumes {
    /// Load the records under `root`; clear what interrupted creates and
    /// removes left. `owner`: of new volumes' data (`--userns-remap`).
    pub fn open(root: &Path, owner: Option<(u32, u32)>) -> std::io::Result<Volumes> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(root)?;
        let local = Arc::new(local::Local::new(root, owner));
        let mut records = BTreeMap::new();
        for e in std::fs::read_dir(root)?.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            let rec = std::fs::read(e.path().join(RECORD))
                .ok()
                .and_then(|d| serde_json::from_slice::<VolumeRecord>(&d).ok());
            match rec {
                Some(r) if r.name == name => {
                    records.insert(name, r);
                }
                _ => {
                    tracing::info!("removing the unfinished volume {name}");
                    if let Err(e) = local.remove(&name) {
                        tracing::warn!("volume {name}: {e}");
                    }
                }
            }
        }
        Ok(Volumes {
            root: root.to_path_buf(),
            records: Mutex::new(records),
            local,
        })
    }

    /// The driver called `name` (empty: `local`).
    pub fn driver(&self, name: &str) -> Result<Arc<dyn Driver>> {
        match name {
            "" | local::NAME => Ok(self.local.clone()),
            other => Err(Error::not_found(format!(
                "error looking up volume plugin {other}: plugin \"{other}\" not found"
            ))),
        }
    }

    pub fn get(&self, name: &str) -> Option<VolumeRecord> {
        self.records.lock().unwrap().get(name).cloned()
    }

    pub fn list(&self) -> Vec<VolumeRecord> {
        self.records.lock().unwrap().values().cloned().collect()
    }

    pub fn mountpoint(&self, v: &VolumeRecord) -> PathBuf {
        self.driver(&v.driver)
            .map(|d| d.mountpoint(&v.name))
            .unwrap_or_else(|_| self.root.join(&v.name).join("_data"))
    }

    /// The volume `name`, made if it does not exist: (record, made now).
    pub fn create(
        &self,
        name: &str,
        driver: &str,
        opts: &StringMap,
        labels: &StringMap,
    ) -> Result<(VolumeRecord, bool)> {
        let d = self.driver(driver)?;
        let mut records = self.records.lock().unwrap();
        if let Some(v) = records.get(name) {
            if !driver.is_empty() && v.driver != d.name() {
                return Err(Error::conflict("volume name must be unique"));
            }
            return Ok((v.clone(), false));
        }
        d.validate(name, opts)?;
        d.create(name, opts)?;
        let v = VolumeRecord {
            name: name.to_string(),
            driver: d.name().to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: labels.clone(),
            options: opts.clone(),
        };
        if let Err(e) = write_record(&self.root.join(name), &v) {
            let _ = d.remove(name); // best effort: open() clears a record-less directory too
            return Err(Error::system(format!(
                "error while persisting volume options: {e}"
            )));
        }
        records.insert(name.to_string(), v.clone());
        Ok((v, true))
    }

    /// Remove the record, then the data (a crash in between leaves a
    /// record-less directory, cleared at the next open). The record gone.
    pub fn remove(&self, name: &str) -> Result<VolumeRecord> {
        let mut records = self.records.lock().unwrap();
        let Some(v) = records.get(name).cloned() else {
            return Err(Error::not_found("no such volume"));
        };
        let d = self.driver(&v.driver)?;
        let dir = self.root.join(name);
        match std::fs::remove_file(dir.join(RECORD)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::system(format!("remove {name}: {e}")));
            }
            _ => {}
        }
        records.remove(name);
        drop(records);
        d.remove(name)?;
        Ok(v)
    }
}

fn no_such_volume(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

/// `op name: message` as dockerd's volume errors read.
fn op_err(op: &str, name: &str, e: Error) -> Error {
    Error::new(e.kind, format!("{op} {name}: {}", e.message))
}

/// The volume mounts of a container, with their records.
fn volume_mounts(c: &Container) -> impl Iterator<Item = &MountRecord> {
    c.mounts
        .iter()
        .filter(|m| m.kind == MountType::Volume && !m.name.is_empty())
}

impl Engine {
    /// The containers (ids) whose records name volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .containers
            .list()
            .into_iter()
            .filter(|c| volume_mounts(c).any(|m| m.name == name))
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    fn volume_view(&self, v: &VolumeRecord, usage: Option<UsageData>) -> Volume {
        let opt = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        Volume {
            created_at: v.created_at.clone(),
            driver: v.driver.clone(),
            labels: opt(&v.labels),
            mountpoint: self.volumes.mountpoint(v).display().to_string(),
            name: v.name.clone(),
            options: opt(&v.options),
            scope: "local".into(),
            status: None,
            usage_data: usage,
        }
    }

    pub fn emit_volume(&self, name: &str, action: &str, attrs: &[(&str, String)]) {
        let attrs = attrs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        self.events.emit(Kind::Volume, action, name, attrs);
    }

    /// `POST /volumes/create` (a generated name when none is given).
    pub fn volume_create(&self, req: CreateRequest) -> Result<Volume> {
        let name = if req.name.is_empty() {
            new_id()
        } else {
            req.name.clone()
        };
        let (v, _) = self
            .volumes
            .create(
                &name,
                &req.driver,
                &req.driver_opts.unwrap_or_default(),
                &req.labels.unwrap_or_default(),
            )
            .map_err(|e| op_err("create", &name, e))?;
        self.emit_volume(&name, "create", &[("driver", v.driver.clone())]);
        Ok(self.volume_view(&v, None))
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        let v = self.volumes.get(name).ok_or_else(|| no_such_volume(name))?;
        Ok(self.volume_view(&v, None))
    }

    /// `GET /volumes`: filters `name` (substring), `driver`, `label`,
    /// `dangling` (used by no container).
    pub fn volume_list(&self, f: &Filters) -> Result<ListResponse> {
        f.validate(&["name", "driver", "label", "label!", "dangling"])?;
        let dangling = f.bool_value("dangling")?;
        let used = self.used_volumes();
        let volumes = self
            .volumes
            .list()
            .into_iter()
            .filter(|v| {
                f.any("name", |n| v.name.contains(n))
                    && f.exact("driver", &v.driver)
                    && f.labels_match("label", &v.labels)
                    && f.labels_exclude("label!", &v.labels)
                    && dangling.is_none_or(|d| d != used.contains_key(&v.name))
            })
            .map(|v| self.volume_view(&v, None))
            .collect();
        Ok(ListResponse {
            volumes,
            warnings: None,
        })
    }

    /// Volume name → how many containers name it.
    fn used_volumes(&self) -> BTreeMap<String, i64> {
        let mut used = BTreeMap::new();
        for c in self.containers.list() {
            let mut names: Vec<&str> = volume_mounts(&c).map(|m| m.name.as_str()).collect();
            names.dedup();
            for n in names {
                *used.entry(n.to_string()).or_insert(0) += 1;
            }
        }
        used
    }

    /// The volumes with their usage (`system df`).
    pub fn volumes_usage(&self) -> Vec<Volume> {
        let used = self.used_volumes();
        self.volumes
            .list()
            .into_iter()
            .map(|v| {
                let size = self
                    .volumes
                    .driver(&v.driver)
                    .map(|d| d.size(&v.name) as i64)
                    .unwrap_or(-1);
                let usage = UsageData {
                    size,
                    ref_count: used.get(&v.name).copied().unwrap_or(0),
                };
                self.volume_view(&v, Some(usage))
            })
            .collect()
    }

    /// `DELETE /volumes/{name}`: refused while a container names it;
    /// `force` makes a missing volume no error. The data goes off the
    /// async workers.
    pub async fn volume_remove(self: &Arc<Self>, name: &str, force: bool) -> Result<()> {
        let this = self.clone();
        let name = name.to_string();
        crate::util::blocking(move || this.remove_volume(&name, force)).await
    }

    fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        if self.volumes.get(name).is_none() {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        let v = self
            .volumes
            .remove(name)
            .map_err(|e| op_err("remove", name, e))?;
        self.emit_volume(name, "destroy", &[("driver", v.driver)]);
        Ok(())
    }

    /// `POST /volumes/prune`: unused volumes — only anonymous ones unless
    /// `all` (API ≥ 1.42; older clients get every unused one, as before).
    pub async fn volume_prune(
        self: &Arc<Self>,
        f: &Filters,
        anonymous_only: bool,
    ) -> Result<PruneReport> {
        let this = self.clone();
        let f = f.clone();
        crate::util::blocking(move || this.prune_volumes(&f, anonymous_only)).await
    }

    fn prune_volumes(&self, f: &Filters, anonymous_only: bool) -> Result<PruneReport> {
        f.validate(&["label", "label!", "all"])?;
        let all = f.bool_value("all")?.unwrap_or(!anonymous_only);
        let used = self.used_volumes();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for v in self.volumes.list() {
            if used.contains_key(&v.name)
                || (!all && !v.labels.contains_key(ANONYMOUS_LABEL))
                || !f.labels_match("label", &v.labels)
                || !f.labels_exclude("label!", &v.labels)
            {
                continue;
            }
            let size = self
                .volumes
                .driver(&v.driver)
                .map(|d| d.size(&v.name))
                .unwrap_or(0);
            match self.remove_volume(&v.name, false) {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(v.name.clone());
                }
                Err(e) if e.is(ErrorKind::Conflict) => {}
                Err(e) => tracing::warn!("prune volume {}: {e}", v.name),
            }
        }
        self.emit_volume("", "prune", &[("reclaimed", reclaimed.to_string())]);
        Ok(PruneReport {
            volumes_deleted: Some(deleted),
            space_reclaimed: reclaimed,
        })
    }

    /// Container create: every volume its mounts name exists (made now if
    /// not, anonymous ones get a generated name and Docker's label) and
    /// each mount's source is the volume's mountpoint. Returns the volumes
    /// made, for the caller to take back if the create fails.
    pub(crate) fn prepare_volumes(
        &self,
        mounts: &mut [MountRecord],
        hc: &berth_api::container::HostConfig,
    ) -> Result<Vec<String>> {
        let mut made = Vec::new();
        let r = (|| {
            for m in mounts.iter_mut().filter(|m| m.kind == MountType::Volume) {
                let spec = hc
                    .mounts
                    .iter()
                    .find(|s| s.kind == MountType::Volume && s.target == m.destination)
                    .and_then(|s| s.volume_options.clone())
                    .unwrap_or_default();
                let dc = spec.driver_config.unwrap_or_default();
                let mut labels = spec.labels.unwrap_or_default();
                if m.name.is_empty() {
                    m.name = new_id();
                    m.anonymous = true;
                    labels.insert(ANONYMOUS_LABEL.into(), String::new());
                }
                let driver = if !dc.name.is_empty() {
                    dc.name.clone()
                } else if !m.driver.is_empty() {
                    m.driver.clone()
                } else {
                    hc.volume_driver.clone()
                };
                let (v, new) = self
                    .volumes
                    .create(&m.name, &driver, &dc.options.unwrap_or_default(), &labels)
                    .map_err(|e| op_err("create", &m.name, e))?;
                if new {
                    made.push(v.name.clone());
                    self.emit_volume(&v.name, "create", &[("driver", v.driver.clone())]);
                }
                m.driver = v.driver.clone();
                m.source = self.volumes.mountpoint(&v).display().to_string();
            }
            Ok(())
        })();
        match r {
            Ok(()) => Ok(made),
            Err(e) => {
                self.drop_volumes(&made);
                Err(e)
            }
        }
    }

    /// Take back volumes a failed create made.
    pub(crate) fn drop_volumes(&self, names: &[String]) {
        for n in names {
            if let Err(e) = self.volumes.remove(n).map_err(|e| op_err("remove", n, e)) {
                tracing::warn!("remove volume {n}: {e}");
            }
        }
    }

    /// Container start: mount each volume (drivers with a file system of
    /// their own mount it for the first user) and, on the container's
    /// first start, fill a new empty volume from the image (`nocopy`
    /// aside). On failure what was mounted is unmounted.
    pub(crate) fn mount_volumes(&self, c: &Container, rootfs: &Path) -> Result<()> {
        let mut done: Vec<&MountRecord> = Vec::new();
        let r = (|| {
            for m in volume_mounts(c) {
                let v = self
                    .volumes
                    .get(&m.name)
                    .ok_or_else(|| no_such_volume(&m.name))?;
                let d = self.volumes.driver(&v.driver)?;
                let path = d
                    .mount(&v, &c.id)
                    .map_err(|e| op_err("mount", &m.name, e))?;
                done.push(m);
                if !m.no_copy && !c.has_run() && berth_image::treecopy::is_empty(&path) {
                    let src = berth_runtime::paths::secure_join(rootfs, Path::new(&m.destination))
                        .map_err(|e| {
                            Error::system(format!("volume path {}: {e}", m.destination))
                        })?;
                    if src.is_dir() {
                        berth_image::treecopy::copy_up(&src, &path).map_err(|e| {
                            Error::system(format!(
                                "failed to copy the image's {} into volume {}: {e}",
                                m.destination, m.name
                            ))
                        })?;
                    }
                }
                self.emit_volume(
                    &m.name,
                    "mount",
                    &[
                        ("container", c.id.clone()),
                        ("destination", m.destination.clone()),
                        ("driver", v.driver.clone()),
                        ("propagation", m.propagation.clone()),
                        ("read/write", m.rw.to_string()),
                    ],
                );
            }
            Ok(())
        })();
        if r.is_err() {
            for m in done {
                self.unmount_volume(c, m);
            }
        }
        r
    }

    fn unmount_volume(&self, c: &Container, m: &MountRecord) {
        let Some(v) = self.volumes.get(&m.name) else {
            return;
        };
        if let Ok(d) = self.volumes.driver(&v.driver)
            && let Err(e) = d.unmount(&v, &c.id)
        {
            tracing::warn!("unmount volume {}: {e}", m.name);
        }
        self.emit_volume(
            &m.name,
            "unmount",
            &[("container", c.id.clone()), ("driver", v.driver.clone())],
        );
    }

    /// Container stop: the volumes it mounted.
    pub(crate) fn unmount_volumes(&self, c: &Container) {
        for m in volume_mounts(c) {
            self.unmount_volume(c, m);
        }
    }

    /// `rm -v`, `--rm`: the container's anonymous volumes, unless another
    /// container uses them too.
    pub(crate) fn remove_anonymous_volumes(&self, c: &Container) {
        for m in volume_mounts(c).filter(|m| m.anonymous) {
            match self.remove_volume(&m.name, true) {
                Err(e) if !e.is(ErrorKind::Conflict) => {
                    tracing::warn!("remove volume {}: {e}", m.name)
                }
                _ => {}
            }
        }
    }

    /// After a daemon restart: each driver learns which running containers
    /// use its volumes (and unmounts the ones nobody runs with).
    pub(crate) fn restore_volumes(&self) {
        let running: Vec<Container> = self
            .containers
            .list()
            .into_iter()
            .filter(|c| c.running())
            .collect();
        for v in self.volumes.list() {
            let users: Vec<String> = running
                .iter()
                .filter(|c| volume_mounts(c).any(|m| m.name == v.name))
                .map(|c| c.id.clone())
                .collect();
            if let Ok(d) = self.volumes.driver(&v.driver) {
                d.restore(&v, &users);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_unfinished_ones_go() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("volumes");
        let s = Volumes::open(&root, None).unwrap();
        let labels: StringMap = [("a".to_string(), "b".to_string())].into();
        let (v, new) = s.create("v1", "", &StringMap::new(), &labels).unwrap();
        assert!(new);
        assert_eq!(v.driver, "local");
        let (_, again) = s
            .create("v1", "local", &StringMap::new(), &StringMap::new())
            .unwrap();
        assert!(!again);
        assert!(
            s.create("v1", "nosuch", &StringMap::new(), &StringMap::new())
                .is_err()
        );
        std::fs::write(s.mountpoint(&v).join("f"), b"x").unwrap();
        // What an interrupted create leaves: a directory, no record.
        std::fs::create_dir_all(root.join("half/_data")).unwrap();
        drop(s);
        let s = Volumes::open(&root, None).unwrap();
        assert_eq!(s.list().len(), 1);
        assert_eq!(s.get("v1").unwrap().labels, labels);
        assert!(!root.join("half").exists());
        assert_eq!(std::fs::read(s.mountpoint(&v).join("f")).unwrap(), b"x");
        s.remove("v1").unwrap();
        assert!(s.get("v1").is_none());
        assert!(!root.join("v1").exists());
        assert!(
            s.remove("v1")
                .unwrap_err()
                .to_string()
                .contains("no such volume")
        );
    }

    #[test]
    fn bad_names_and_options_make_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = Volumes::open(d.path(), None).unwrap();
        assert!(
            s.create("x/y", "", &StringMap::new(), &StringMap::new())
                .is_err()
        );
        let opts: StringMap = [("bogus".to_string(), "1".to_string())].into();
        assert!(s.create("v2", "", &opts, &StringMap::new()).is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}

//! Containers: the registry of records (lookup by id, prefix or name;
//! persistence), and one module per capability.
//!
//! - [`create`]: a create request → a record (image defaults, checks).
//! - [`lifecycle`]: start, stop, kill, pause, remove, wait, exits, live restore.
//! - [`restart`]: the restart policy (Docker's rules), pure.
//! - [`spec`]: record → OCI runtime spec, on oci-spec types.
//! - [`monitor`]: the per-container monitor, from the daemon's side.
//! - [`attach`], [`exec`], [`logs`], [`health`], [`stats`], [`top`],
//!   [`archive`] (cp, export, diff), [`commit`] (commit, update),
//!   [`inspect`] (inspect and list records, list filters),
//!   [`etc_files`] (hosts, resolv.conf, hostname), [`user`] (`--user`).

pub mod archive;
pub mod attach;
pub mod commit;
pub mod create;
pub mod etc_files;
pub mod exec;
pub mod health;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod restart;
pub mod seccomp_default;
pub mod spec;
pub mod stats;
pub mod top;
pub mod user;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::model::{Container, Gen, PendingAttach};
use crate::{Error, Result};

pub(crate) struct Entry {
    pub c: Container,
    pub watch: watch::Sender<Gen>,
    pub pending: Vec<PendingAttach>,
    /// Serialises lifecycle operations on this container.
    pub op: Arc<tokio::sync::Mutex<()>>,
    pub restart: restart::Manager,
}

impl Entry {
    fn new(c: Container) -> Entry {
        let restart = restart::Manager {
            count: c.restart_count,
            ..Default::default()
        };
        Entry {
            c,
            watch: watch::channel(Gen::default()).0,
            pending: Vec::new(),
            op: Arc::default(),
            restart,
        }
    }
}

/// All containers' records, in memory and under `<data-root>/containers`.
pub struct Containers {
    data_root: PathBuf,
    pub(crate) map: Mutex<HashMap<String, Entry>>,
}

/// Write a record: temp file, (fsync,) rename — a crash leaves the old or
/// the new record, never a torn one. `durable`: also survives a power loss
/// (creation and user changes); run-state changes skip the fsync, live
/// restore re-derives them from the monitors.
pub fn save_record(data_root: &Path, c: &Container, durable: bool) -> std::io::Result<()> {
    let dir = Container::dir(data_root, &c.id);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(".config.v2.json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(c).expect("record serialises"))?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, dir.join("config.v2.json"))
    };
    let r = write();
    if r.is_err() {
        // A full disk must not also leave a torn temp file.
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn load_record(dir: &Path) -> Option<Container> {
    let data = std::fs::read(dir.join("config.v2.json")).ok()?;
    match serde_json::from_slice(&data) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("ignoring container record {}: {e}", dir.display());
            None
        }
    }
}

impl Containers {
    /// Load every record under `<data-root>/containers`.
    pub fn open(data_root: &Path) -> Containers {
        let mut map = HashMap::new();
        if let Ok(rd) = std::fs::read_dir(data_root.join("containers")) {
            for d in rd.flatten() {
                if let Some(c) = load_record(&d.path()) {
                    map.insert(c.id.clone(), Entry::new(c));
                }
            }
        }
        Containers {
            data_root: data_root.to_path_buf(),
            map: Mutex::new(map),
        }
    }

    /// Full id of a container given by id, unique id prefix or name.
    pub fn resolve(&self, r: &str) -> Result<String> {
        let map = self.map.lock().unwrap();
        resolve_in(&map, r)
    }

    /// A copy of a record.
    pub fn get(&self, r: &str) -> Result<Container> {
        let map = self.map.lock().unwrap();
        let id = resolve_in(&map, r)?;
        Ok(map[&id].c.clone())
    }

    /// Look at a record without copying it.
    pub fn with<R>(&self, id: &str, f: impl FnOnce(&Container) -> R) -> Option<R> {
        self.map.lock().unwrap().get(id).map(|e| f(&e.c))
    }

    /// Every record, newest first.
    pub fn list(&self) -> Vec<Container> {
        let map = self.map.lock().unwrap();
        let mut v: Vec<Container> = map.values().map(|e| e.c.clone()).collect();
        v.sort_by(|a, b| b.created.cmp(&a.created));
        v
    }

    /// Apply `f` to each record under the lock (no copies).
    pub fn scan<R>(&self, mut f: impl FnMut(&Container) -> Option<R>) -> Vec<R> {
        self.map
            .lock()
            .unwrap()
            .values()
            .filter_map(|e| f(&e.c))
            .collect()
    }

    /// Change a record's run state and persist it (atomically, not durably).
    pub fn update<R>(&self, id: &str, f: impl FnOnce(&mut Container) -> R) -> Result<R> {
        self.update_with(id, false, f)
    }

    /// Change what the user asked for (name, limits): persisted durably.
    pub fn update_durable<R>(&self, id: &str, f: impl FnOnce(&mut Container) -> R) -> Result<R> {
        self.update_with(id, true, f)
    }

    fn update_with<R>(
        &self,
        id: &str,
        durable: bool,
        f: impl FnOnce(&mut Container) -> R,
    ) -> Result<R> {
        let mut map = self.map.lock().unwrap();
        let e = map
            .get_mut(id)
            .ok_or_else(|| Error::no_such_container(id))?;
        let r = f(&mut e.c);
        e.c.restart_count = e.restart.count;
        match save_record(&self.data_root, &e.c, durable) {
            Ok(()) => {}
            // A run-state change stands even when it cannot be written (a
            // full disk): the exit must still be seen, waited for, removed
            // with --rm; a restart re-derives the state from the monitors.
            Err(err) if !durable => {
                tracing::warn!("save the state of {}: {err}", &id[..id.len().min(12)]);
            }
            Err(err) => return Err(err.into()),
        }
        Ok(r)
    }

    /// Register a new record (already saved) unless its name is taken.
    pub fn insert(&self, c: Container) -> Result<()> {
        let mut map = self.map.lock().unwrap();
        if let Some(other) = map.values().find(|e| e.c.name == c.name) {
            return Err(name_conflict(&c.name, &other.c.id));
        }
        map.insert(c.id.clone(), Entry::new(c));
        Ok(())
    }

    /// Whether `name` (with the slash) belongs to a container other than `except`.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        self.map
            .lock()
            .unwrap()
            .values()
            .find(|e| e.c.name == name)
            .map(|e| e.c.id.clone())
    }

    /// Forget a record (its directory is the caller's).
    pub(crate) fn take(&self, id: &str) -> Option<Entry> {
        self.map.lock().unwrap().remove(id)
    }

    pub fn watcher(&self, id: &str) -> Result<watch::Receiver<Gen>> {
        self.map
            .lock()
            .unwrap()
            .get(id)
            .map(|e| e.watch.subscribe())
            .ok_or_else(|| Error::no_such_container(id))
    }

    pub(crate) fn notify(&self, id: &str, f: impl FnOnce(&mut Gen)) {
        if let Some(e) = self.map.lock().unwrap().get(id) {
            e.watch.send_modify(f);
        }
    }

    pub fn op_lock(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<()>>> {
        self.map
            .lock()
            .unwrap()
            .get(id)
            .map(|e| e.op.clone())
            .ok_or_else(|| Error::no_such_container(id))
    }

    pub(crate) fn with_restart<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut restart::Manager) -> R,
    ) -> Option<R> {
        self.map
            .lock()
            .unwrap()
            .get_mut(id)
            .map(|e| f(&mut e.restart))
    }

    pub(crate) fn push_pending(&self, id: &str, a: PendingAttach) {
        if let Some(e) = self.map.lock().unwrap().get_mut(id) {
            e.pending.push(a);
        }
    }

    pub(crate) fn take_pending(&self, id: &str) -> Vec<PendingAttach> {
        self.map
            .lock()
            .unwrap()
            .get_mut(id)
            .map(|e| std::mem::take(&mut e.pending))
            .unwrap_or_default()
    }

    /// Image ids used by containers, with a container using each
    /// (preferring a running one).
    pub fn image_users(&self) -> HashMap<String, (String, bool)> {
        let map = self.map.lock().unwrap();
        let mut out = HashMap::new();
        for e in map.values() {
            let running = e.c.running();
            let ent = out
                .entry(e.c.image.clone())
                .or_insert((e.c.id.clone(), running));
            if running {
                *ent = (e.c.id.clone(), true);
            }
        }
        out
    }
}

pub(crate) fn name_conflict(name: &str, other: &str) -> Error {
    Error::conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

fn resolve_in(map: &HashMap<String, Entry>, r: &str) -> Result<String> {
    if r.is_empty() {
        return Err(Error::no_such_container(r));
    }
    if map.contains_key(r) {
        return Ok(r.to_string());
    }
    let name = format!("/{}", r.trim_start_matches('/'));
    if let Some(e) = map.values().find(|e| e.c.name == name) {
        return Ok(e.c.id.clone());
    }
    let matches: Vec<&String> = map.keys().filter(|k| k.starts_with(r)).collect();
    match matches.len() {
        1 => Ok(matches[0].clone()),
        0 => Err(Error::no_such_container(r)),
        _ => Err(Error::invalid(format!(
            "multiple IDs found with provided prefix: {r}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn lookup_by_id_prefix_and_name() {
        let t = tempfile::tempdir().unwrap();
        let cs = Containers::open(t.path());
        let a = format!("aa{}", "1".repeat(62));
        let b = format!("ab{}", "2".repeat(62));
        for (id, n) in [(&a, "/web"), (&b, "/db")] {
            let c = rec(id, n);
            save_record(t.path(), &c, false).unwrap();
            cs.insert(c).unwrap();
        }
        assert_eq!(cs.resolve("web").unwrap(), a);
        assert_eq!(cs.resolve("/db").unwrap(), b);
        assert_eq!(cs.resolve("ab").unwrap(), b);
        assert!(
            cs.resolve("a")
                .unwrap_err()
                .message
                .contains("multiple IDs")
        );
        assert_eq!(
            cs.resolve("zz").unwrap_err().message,
            "No such container: zz"
        );
        let e = cs.insert(rec(&"c".repeat(64), "/web")).unwrap_err();
        assert!(e.message.contains("is already in use by container"));
        // Persisted: a new registry finds them again.
        cs.update(&a, |c| c.state.exit_code = 3).unwrap();
        let again = Containers::open(t.path());
        assert_eq!(again.get("web").unwrap().state.exit_code, 3);
        assert_eq!(again.list().len(), 2);
    }
}

//! The engine: the daemon's containers and images, independent of HTTP.
//!
//! State: `<data-root>/containers/<id>/config.v2.json` (the record),
//! `<data-root>/containers/<id>/<id>-json.log`, the overlay directories under
//! `<data-root>/containers/<id>/fs`, images under `<data-root>/image`; the
//! runtime state and each container's bundle + monitor socket under
//! `<exec-root>` (tmpfs).

pub mod archive;
mod commit;
pub mod container;
mod create;
pub mod etc_files;
pub mod events;
pub mod exec;
pub mod health;
mod lifecycle;
pub mod logs;
mod monitor;
pub mod names;
pub mod network;
mod rootfs;
pub mod seccomp_default;
pub mod spec;
pub mod stats;
mod user;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::sync::watch;

pub use commit::CommitRequest;
pub use container::Container;
pub use create::CreateRequest;
pub use lifecycle::{blocking, off_thread};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};

/// What waiters watch: a container's exits and its removal.
#[derive(Clone, Debug, Default)]
pub struct Gen {
    pub exits: u64,
    pub exit_code: i32,
    pub removed: bool,
    pub error: Option<String>,
}

/// A hijacked attach connection (arriving once the 101 is out) waiting for
/// its container to start.
pub struct PendingAttach {
    pub io: tokio::sync::oneshot::Receiver<TokioIo<hyper::upgrade::Upgraded>>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

pub struct Entry {
    pub c: Container,
    pub watch: watch::Sender<Gen>,
    pub pending: Vec<PendingAttach>,
    /// Serialises lifecycle operations on this container.
    pub op: Arc<tokio::sync::Mutex<()>>,
}

pub struct Engine {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub runtime_root: PathBuf,
    pub cgroup_parent: String,
    pub init_path: Option<PathBuf>,
    /// Bridge networks: the default one (unless `--bridge none`) and the
    /// user-defined ones.
    pub networks: Option<network::Networks>,
    pub images: berth_image::Store,
    pub containers: Mutex<HashMap<String, Entry>>,
    pub events: events::Bus,
    pub execs: exec::Registry,
}

impl Engine {
    pub async fn open(cfg: &Config) -> Result<Engine, String> {
        for d in [
            cfg.data_root.join("containers"),
            cfg.data_root.join("image"),
            cfg.exec_root.join("containers"),
            cfg.exec_root.join("runtime"),
            cfg.exec_root.join("s"),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
        }
        let images = berth_image::Store::open(&cfg.data_root.join("image"))
            .map_err(|e| format!("open the image store: {e}"))?;
        let e = Engine {
            data_root: cfg.data_root.clone(),
            exec_root: cfg.exec_root.clone(),
            runtime_root: cfg.exec_root.join("runtime"),
            cgroup_parent: cfg.cgroup_parent.clone(),
            init_path: cfg.init_path.clone(),
            networks: Some(
                network::Networks::open(
                    &cfg.data_root,
                    &cfg.bridge,
                    cfg.bip.as_deref(),
                    cfg.mtu,
                    cfg.dns.clone(),
                    network::candidates(&cfg.address_pools)?,
                )
                .await
                .map_err(|e| format!("networks: {e}"))?,
            ),
            images,
            containers: Mutex::new(HashMap::new()),
            events: events::Bus::new(),
            execs: exec::Registry::default(),
        };
        e.load_records();
        Ok(e)
    }

    fn load_records(&self) {
        let Ok(rd) = std::fs::read_dir(self.data_root.join("containers")) else {
            return;
        };
        let mut map = self.containers.lock().unwrap();
        for d in rd.flatten() {
            if let Some(c) = Container::load(&d.path()) {
                map.insert(
                    c.id.clone(),
                    Entry {
                        c,
                        watch: watch::channel(Gen::default()).0,
                        pending: Vec::new(),
                        op: Arc::default(),
                    },
                );
            }
        }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        Container::dir(&self.data_root, id)
    }

    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("containers").join(id)
    }

    /// A monitor's socket: short, as unix socket paths must be (< 108 bytes).
    pub fn monitor_socket(&self, id: &str) -> PathBuf {
        self.exec_root.join("s").join(format!("{}.sock", &id[..16]))
    }

    pub fn runtime(&self) -> berth_runtime::container::Runtime {
        berth_runtime::container::Runtime::new(&self.runtime_root)
    }

    /// Full ID of a container given by ID, unique ID prefix or name.
    pub fn resolve(&self, r: &str) -> ApiResult<String> {
        let map = self.containers.lock().unwrap();
        Self::resolve_in(&map, r)
    }

    fn resolve_in(map: &HashMap<String, Entry>, r: &str) -> ApiResult<String> {
        if r.is_empty() {
            return Err(ApiError::no_such_container(r));
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
            0 => Err(ApiError::no_such_container(r)),
            _ => Err(ApiError::bad_request(format!(
                "multiple IDs found with provided prefix: {r}"
            ))),
        }
    }

    /// A copy of a container's record.
    pub fn get(&self, r: &str) -> ApiResult<Container> {
        let map = self.containers.lock().unwrap();
        let id = Self::resolve_in(&map, r)?;
        Ok(map[&id].c.clone())
    }

    pub fn list(&self) -> Vec<Container> {
        let map = self.containers.lock().unwrap();
        let mut v: Vec<Container> = map.values().map(|e| e.c.clone()).collect();
        v.sort_by(|a, b| b.created.cmp(&a.created));
        v
    }

    /// Change a record's run state under the lock and persist it.
    pub fn update<R>(&self, id: &str, f: impl FnOnce(&mut Container) -> R) -> ApiResult<R> {
        self.update_with(id, false, f)
    }

    /// Change what the user asked for (name, limits): persisted durably.
    pub fn update_durable<R>(&self, id: &str, f: impl FnOnce(&mut Container) -> R) -> ApiResult<R> {
        self.update_with(id, true, f)
    }

    fn update_with<R>(
        &self,
        id: &str,
        durable: bool,
        f: impl FnOnce(&mut Container) -> R,
    ) -> ApiResult<R> {
        let mut map = self.containers.lock().unwrap();
        let e = map
            .get_mut(id)
            .ok_or_else(|| ApiError::no_such_container(id))?;
        let r = f(&mut e.c);
        e.c.save_with(&self.data_root, durable)?;
        Ok(r)
    }

    pub fn watcher(&self, id: &str) -> ApiResult<watch::Receiver<Gen>> {
        let map = self.containers.lock().unwrap();
        map.get(id)
            .map(|e| e.watch.subscribe())
            .ok_or_else(|| ApiError::no_such_container(id))
    }

    pub fn op_lock(&self, id: &str) -> ApiResult<Arc<tokio::sync::Mutex<()>>> {
        let map = self.containers.lock().unwrap();
        map.get(id)
            .map(|e| e.op.clone())
            .ok_or_else(|| ApiError::no_such_container(id))
    }

    /// Container event with Docker's attributes (image, name, labels).
    pub fn emit(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs = serde_json::Map::new();
        for (k, v) in c.labels() {
            attrs.insert(k, v);
        }
        attrs.insert("image".into(), c.image_name().into());
        attrs.insert("name".into(), c.name.trim_start_matches('/').into());
        for (k, v) in extra {
            attrs.insert((*k).into(), v.clone().into());
        }
        self.events.emit("container", action, &c.id, attrs);
    }

    /// Image IDs used by containers, with a container using each.
    pub fn image_users(&self) -> HashMap<String, (String, bool)> {
        let map = self.containers.lock().unwrap();
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

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn remove_dir(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}

//! Starting, stopping, killing, pausing, removing and waiting for
//! containers; exits, restart policies and live restore after a daemon
//! restart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_api::container::{MountType, Status, WaitCondition};

use super::monitor::{self, StartError};
use super::restart::{self, Decision};
use crate::model::{Container, StartFailure};
use crate::util::{Undo, now_rfc3339, runtime, since, warn_on_err};
use crate::{Engine, Error, ErrorKind, Result};

/// Parse a signal given as a name (`SIGKILL`, `KILL`) or a number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::invalid(format!("Invalid signal: {s}")))
}

/// restart: a container already stopped (or already running) is fine.
fn unchanged_is_ok(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.is(ErrorKind::NotModified) => Ok(()),
        other => other,
    }
}

/// Create each `Config.Volumes` path no mount covers inside the root
/// filesystem. Containers created now get an anonymous volume for each;
/// this keeps records made before volumes existed starting as they did.
fn ensure_volume_paths(c: &Container, merged: &Path) -> Result<()> {
    for v in c.config.volumes() {
        if c.mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == v.trim_end_matches('/'))
        {
            continue;
        }
        let p = berth_runtime::paths::secure_join(merged, Path::new(v))
            .map_err(|e| Error::system(format!("volume path {v}: {e}")))?;
        std::fs::create_dir_all(&p).map_err(|e| Error::system(format!("volume path {v}: {e}")))?;
    }
    Ok(())
}

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn container_start(self: &Arc<Self>, r: &str) -> Result<()> {
        let id = self.containers.resolve(r)?;
        let lock = self.containers.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.containers.get(&id)?;
        match c.status() {
            Status::Running | Status::Restarting => return Err(Error::not_modified()),
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(
                    "container is marked for removal and cannot be started",
                ));
            }
            _ => {}
        }
        // A start by the user: restarts begin again from zero.
        self.containers.with_restart(&id, |m| m.reset());
        self.containers
            .update(&id, |c| c.manually_stopped = false)?;
        match self.start_locked(&c).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let code = e.failure.exit_code();
                warn_on_err(
                    "record the start failure",
                    self.containers.update(&id, |c| {
                        c.state.error = e.error.message.clone();
                        c.state.exit_code = code;
                    }),
                );
                if c.auto_remove() {
                    warn_on_err(
                        "remove after a failed start",
                        self.remove_now(&id, true).await,
                    );
                }
                Err(e.error)
            }
        }
    }

    /// Mount, write the bundle, spawn the monitor, plug the network,
    /// connect attaches, start. Undone step by step on failure.
    pub(crate) async fn start_locked(
        self: &Arc<Self>,
        c: &Container,
    ) -> std::result::Result<(), StartError> {
        let id = c.id.clone();
        let (log_max_size, log_max_file) = super::create::log_rotation(&c.host_config)?;
        // --link: the targets' addresses (hosts entries) and variables;
        // --network container:<x>: its namespace and /etc files. Nothing is
        // set up yet, so a refusal here leaves nothing behind.
        let (links, link_env) = self.resolve_links(c)?;
        let shared = self.shared_netns(c)?;
        let hostname = match &shared {
            Some(t) => t.hostname(),
            None => c.hostname(),
        };
        let img = self.images.resolve(&c.image).map_err(Error::from)?;
        let layers = self.images.layer_dirs(&img).map_err(Error::from)?;
        let mut undo = Undo::new();
        self.snapshots
            .prepare_mapped(&id, &layers, c.id_map.as_ref())
            .map_err(Error::from)?;
        let merged = self
            .snapshots
            .mount(&id, c.auto_remove())
            .map_err(Error::from)?;
        {
            let snaps = self.snapshots.clone();
            let id = id.clone();
            undo.push("unmount the root filesystem", move || snaps.unmount(&id));
        }
        ensure_volume_paths(c, &merged)?;
        if c.mounts.iter().any(|m| m.kind == MountType::Volume) {
            // A first start may copy the image's files into new volumes:
            // file system work, off the async workers.
            let (this, c2, m) = (self.clone(), c.clone(), merged.clone());
            crate::util::blocking(move || this.mount_volumes(&c2, &m)).await?;
        }
        {
            let this = self.clone();
            let c = c.clone();
            undo.push("unmount the volumes", move || this.unmount_volumes(&c));
        }
        let cdir = self.container_dir(&id);
        let bundle = self.bundle_dir(&id);
        // Address and ports first: a taken port fails before anything runs.
        let net = self.plan_network(c)?;
        std::fs::create_dir_all(&bundle)?;
        {
            let b = bundle.clone();
            undo.push("remove the bundle", move || crate::util::remove_dir(&b));
        }
        let launched: std::result::Result<(i32, i32), StartError> = async {
            match std::fs::remove_file(bundle.join("exit.json")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::from(e).into());
                }
                _ => {}
            }
            let daemon_dns = self
                .networks
                .as_ref()
                .map(|n| n.upstream.clone())
                .unwrap_or_default();
            let host_gateway = self
                .network(crate::network::DEFAULT)
                .ok()
                .map(|n| n.gateway());
            super::etc_files::write(
                &cdir,
                c,
                &super::etc_files::Inputs {
                    ip: net.values().next().and_then(|a| a.ip),
                    daemon_dns: &daemon_dns,
                    links: &links,
                    host_gateway,
                    embedded_dns: crate::network::uses_embedded_dns(c),
                    hostname: &hostname,
                },
            )
            .map_err(Error::invalid)?;
            let netns = shared
                .as_ref()
                .map(|t| format!("/proc/{}/ns/net", t.state.pid));
            if let Some(t) = &shared {
                let tdir = self.container_dir(&t.id);
                for f in ["hosts", "resolv.conf", "hostname"] {
                    std::fs::copy(tdir.join(f), cdir.join(f))?;
                }
            }
            let spec = super::spec::build(
                c,
                &super::spec::Inputs {
                    rootfs: &merged,
                    files_dir: &cdir,
                    cgroup_parent: &self.cfg.cgroup_parent,
                    init: self.cfg.init_path.as_deref(),
                    netns: netns.as_deref(),
                    hostname: &hostname,
                    cgroup_v2: self.defaults.cgroup_v2,
                    caps: &self.caps,
                    extra_env: &link_env,
                },
            )?;
            std::fs::write(
                bundle.join("config.json"),
                serde_json::to_vec(&spec).expect("spec serialises"),
            )?;
            let log_none = c.host_config.log_config.driver == "none";
            let pending = monitor::spawn(monitor::Spawn {
                runtime_root: &self.runtime_root,
                id: &id,
                bundle: &bundle,
                socket: &self.monitor_socket(&id),
                stdin: c.config.open_stdin,
                stdin_once: c.config.stdin_once,
                log_path: (!log_none).then_some(Path::new(&c.log_path)),
                log_max_size,
                log_max_file,
            })
            .await?;
            // The namespace exists now: plug it into the bridge before start.
            // (Dropping `pending` on failure cancels the container.)
            if !net.is_empty() {
                self.connect_network(c, &net, pending.pid).await?;
                // Its place on the networks is known before its first
                // instruction runs: the embedded DNS answers a lookup the
                // process makes at once by who shares a network with it.
                self.containers.update(&id, |r| r.endpoints = net.clone())?;
            }
            // Attach streams that arrived before start get the output from the first byte.
            for a in self.containers.take_pending(&id) {
                self.connect_attach(&id, a).await;
            }
            let ids = (pending.pid, pending.monitor_pid);
            pending.start().await?;
            Ok(ids)
        }
        .await;
        let (pid, monitor_pid) = match launched {
            Ok(p) => p,
            Err(e) => {
                // Addresses, ports, the DNS server: as before the start.
                self.disconnect_network(&id, &net, false).await;
                warn_on_err(
                    "forget the endpoints",
                    self.containers
                        .update(&id, |r| r.endpoints.clear())
                        .map(|_| ()),
                );
                return Err(e);
            }
        };
        undo.commit();
        let c = self.containers.update(&id, |c| {
            c.state.status = Status::Running;
            c.state.pid = pid;
            c.state.monitor_pid = monitor_pid;
            c.state.started_at = now_rfc3339();
            c.state.finished_at = String::new();
            c.state.exit_code = 0;
            c.state.error = String::new();
            c.state.oom_killed = false;
            c.state.health = None;
            c.endpoints = net.clone();
            c.clone()
        })?;
        self.emit_container(&c, "start", &[]);
        self.watch_exit(&id);
        self.watch_health(&id);
        Ok(())
    }

    /// Follow a running container's monitor until the exit.
    fn watch_exit(self: &Arc<Self>, id: &str) {
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let bundle = this.bundle_dir(&id);
            let (code, oom) = match monitor::wait_exit(&this.monitor_socket(&id)).await {
                Some(e) => (e.exit_code, e.oom_killed),
                None => {
                    // The monitor went away without answering: once it has
                    // exited (cleanup done), its record says how it ended.
                    let mpid = this
                        .containers
                        .with(&id, |c| c.state.monitor_pid)
                        .unwrap_or(0);
                    monitor::exited(mpid, Duration::from_secs(10)).await;
                    match berth_monitor::ExitRecord::load(&bundle) {
                        Some(r) => (r.exit_code, r.oom_killed),
                        None => (255, false),
                    }
                }
            };
            this.on_exit(&id, code, oom).await;
        });
    }

    /// A container's process ended: free what it held, record the exit,
    /// tell waiters, then remove it (`--rm`) or apply its restart policy.
    ///
    /// Ordering (ARCHITECTURE.md, "address release"): its addresses are
    /// free, in memory and on disk, before the exit is observable — before
    /// the `die` event, before `wait` answers, before `rm -f` returns.
    async fn on_exit(self: &Arc<Self>, id: &str, code: i32, oom: bool) {
        if let Ok(eps) = self
            .containers
            .update(id, |c| std::mem::take(&mut c.endpoints))
        {
            self.disconnect_network(id, &eps, true).await;
        }
        self.snapshots.unmount(id);
        if let Ok(c) = self.containers.get(id) {
            self.unmount_volumes(&c);
        }
        crate::util::remove_dir(&self.bundle_dir(id));
        let Ok(c) = self.containers.update(id, |c| {
            let ran = since(&c.state.started_at);
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.monitor_pid = 0;
            c.state.exit_code = code;
            c.state.oom_killed = oom;
            c.state.finished_at = now_rfc3339();
            (c.clone(), ran)
        }) else {
            return;
        };
        let (c, ran) = c;
        if oom {
            self.emit_container(&c, "oom", &[]);
        }
        self.emit_container(&c, "die", &[("exitCode", code.to_string())]);
        self.containers.notify(id, |g| {
            g.exits += 1;
            g.exit_code = code;
        });
        if c.auto_remove() {
            warn_on_err("auto-remove", self.remove_now(id, true).await);
            return;
        }
        let decision = self
            .containers
            .with_restart(id, |m| {
                m.on_exit(&c.host_config.restart_policy, code, c.manually_stopped, ran)
            })
            .unwrap_or(Decision::Stay);
        let Decision::Restart(delay) = decision else {
            return;
        };
        warn_on_err(
            "mark restarting",
            self.containers
                .update(id, |c| c.state.status = Status::Restarting),
        );
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Ok(lock) = this.containers.op_lock(&id) else {
                return;
            };
            let _g = lock.lock().await;
            let Ok(c) = this.containers.get(&id) else {
                return;
            };
            if c.status() != Status::Restarting || c.manually_stopped {
                return;
            }
            warn_on_err(
                "mark exited",
                this.containers
                    .update(&id, |c| c.state.status = Status::Exited),
            );
            match this.start_locked(&c).await {
                Ok(()) => this.emit_container(&c, "restart", &[]),
                Err(e) => warn_on_err(
                    "record the restart failure",
                    this.containers
                        .update(&id, |c| c.state.error = e.error.message.clone()),
                ),
            }
        });
    }

    /// Signal the container's processes through the runtime.
    pub async fn signal(&self, id: &str, sig: i32) -> Result<()> {
        let rt = self.runtime();
        let id = id.to_string();
        runtime(move || rt.kill(&id, sig, false)).await
    }

    /// Wait until the container's exit count passes `since`, up to `timeout`.
    async fn wait_exit_count(&self, id: &str, since: u64, timeout: Duration) -> bool {
        let Ok(mut w) = self.containers.watcher(id) else {
            return true;
        };
        tokio::time::timeout(timeout, async {
            loop {
                if w.borrow().exits > since || w.borrow().removed {
                    return;
                }
                if w.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    fn exits(&self, id: &str) -> u64 {
        self.containers
            .watcher(id)
            .map(|w| w.borrow().exits)
            .unwrap_or(0)
    }

    /// `POST /containers/{id}/kill`. SIGKILL (the default) returns once the
    /// container has exited, as Docker's does: the next call sees it exited.
    pub async fn container_kill(&self, r: &str, signal: &str) -> Result<()> {
        let id = self.containers.resolve(r)?;
        let sig = parse_signal(if signal.is_empty() { "SIGKILL" } else { signal })?;
        let c = self.containers.get(&id)?;
        if !c.running() {
            return Err(Error::conflict(format!(
                "Cannot kill container: {r}: Container {id} is not running"
            )));
        }
        if c.status() == Status::Restarting {
            self.containers.update(&id, |c| {
                c.manually_stopped = true;
                c.state.status = Status::Exited;
            })?;
            return Ok(());
        }
        let before = self.exits(&id);
        if sig == libc::SIGKILL {
            self.containers.update(&id, |c| c.manually_stopped = true)?;
        }
        self.signal(&id, sig).await?;
        self.emit_container(&c, "kill", &[("signal", sig.to_string())]);
        if sig == libc::SIGKILL
            && !self
                .wait_exit_count(&id, before, Duration::from_secs(30))
                .await
        {
            return Err(Error::system(format!(
                "Cannot kill container {id}: it did not exit after SIGKILL"
            )));
        }
        Ok(())
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
    pub async fn container_stop(&self, r: &str, timeout: Option<i64>, signal: &str) -> Result<()> {
        let id = self.containers.resolve(r)?;
        let c = self.containers.get(&id)?;
        if c.status() == Status::Restarting {
            self.containers.update(&id, |c| {
                c.manually_stopped = true;
                c.state.status = Status::Exited;
            })?;
            return Ok(());
        }
        if !c.running() {
            return Err(Error::not_modified());
        }
        self.containers.update(&id, |c| c.manually_stopped = true)?;
        let stop_sig = if !signal.is_empty() {
            signal.to_string()
        } else if !c.config.stop_signal.is_empty() {
            c.config.stop_signal.clone()
        } else {
            "SIGTERM".into()
        };
        let sig = parse_signal(&stop_sig)?;
        let t = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let before = self.exits(&id);
        if c.status() == Status::Paused {
            warn_on_err("unpause before stop", self.freeze(&id, false).await);
        }
        warn_on_err("stop signal", self.signal(&id, sig).await);
        let waited = t >= 0
            && self
                .wait_exit_count(&id, before, Duration::from_secs(t as u64))
                .await;
        if !waited {
            warn_on_err("SIGKILL", self.signal(&id, libc::SIGKILL).await);
            self.wait_exit_count(&id, before, Duration::from_secs(30))
                .await;
        }
        self.emit_container(&c, "stop", &[]);
        Ok(())
    }

    pub async fn container_restart(
        self: &Arc<Self>,
        r: &str,
        timeout: Option<i64>,
        signal: &str,
    ) -> Result<()> {
        unchanged_is_ok(self.container_stop(r, timeout, signal).await)?;
        unchanged_is_ok(self.container_start(r).await)?;
        let c = self.containers.get(r)?;
        self.emit_container(&c, "restart", &[]);
        Ok(())
    }

    pub async fn container_pause(&self, r: &str) -> Result<()> {
        self.freeze(r, true).await
    }

    pub async fn container_unpause(&self, r: &str) -> Result<()> {
        self.freeze(r, false).await
    }

    /// Pause (freeze the cgroup) or unpause a container.
    async fn freeze(&self, r: &str, pause: bool) -> Result<()> {
        let id = self.containers.resolve(r)?;
        let c = self.containers.get(&id)?;
        match (pause, c.status()) {
            (true, Status::Running) | (false, Status::Paused) => {}
            (true, Status::Paused) => {
                return Err(Error::conflict(format!("Container {id} is already paused")));
            }
            (true, _) => return Err(Error::conflict(format!("Container {id} is not running"))),
            (false, _) => return Err(Error::conflict(format!("Container {id} is not paused"))),
        }
        let rt = self.runtime();
        let i = id.clone();
        runtime(move || if pause { rt.pause(&i) } else { rt.resume(&i) }).await?;
        let c = self.containers.update(&id, |c| {
            c.state.status = if pause {
                Status::Paused
            } else {
                Status::Running
            };
            c.clone()
        })?;
        self.emit_container(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `DELETE /containers/{id}` (`volumes`: `-v`, its anonymous volumes too).
    pub async fn container_remove(
        self: &Arc<Self>,
        r: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let id = self.containers.resolve(r)?;
        let c = self.containers.get(&id)?;
        if c.running() {
            if !force {
                let what = if c.status() == Status::Paused {
                    "You cannot remove a paused container"
                } else {
                    "You cannot remove a running container"
                };
                return Err(Error::conflict(format!(
                    "{what} {id}. Stop the container before attempting removal or force remove"
                )));
            }
            self.containers.update(&id, |c| c.manually_stopped = true)?;
            let before = self.exits(&id);
            if c.status() == Status::Paused {
                warn_on_err("unpause before removal", self.freeze(&id, false).await);
            }
            if c.status() != Status::Restarting {
                warn_on_err("SIGKILL", self.signal(&id, libc::SIGKILL).await);
                self.wait_exit_count(&id, before, Duration::from_secs(30))
                    .await;
            }
        }
        self.remove_now(&id, volumes).await
    }

    /// `DELETE /containers/{parent}/{alias}?link=1`: remove a legacy link.
    pub fn container_remove_link(&self, name: &str) -> Result<()> {
        let name = format!("/{}", name.trim_start_matches('/'));
        let Some((parent, alias)) = name.rsplit_once('/').filter(|(p, _)| !p.is_empty()) else {
            return Err(Error::invalid(format!(
                "Conflict, cannot remove the default link name of the container: {name}"
            )));
        };
        let pid = self.containers.resolve(parent).map_err(|_| {
            Error::not_found(format!("Cannot get parent {parent} for link name {name}"))
        })?;
        let removed = self.containers.update_durable(&pid, |c| {
            let links = c.host_config.links.get_or_insert_with(Vec::new);
            let before = links.len();
            links.retain(|l| {
                let a = l.split_once(':').map(|(_, a)| a).unwrap_or(l);
                a.rsplit('/').next() != Some(alias)
            });
            let removed = before != links.len();
            if links.is_empty() {
                c.host_config.links = None;
            }
            removed
        })?;
        if !removed {
            return Err(Error::not_found(format!(
                "Could not find container for entity id {name}"
            )));
        }
        Ok(())
    }

    /// Remove a stopped container's files and record (`volumes`: and its
    /// anonymous volumes no other container uses).
    pub async fn remove_now(self: &Arc<Self>, id: &str, volumes: bool) -> Result<()> {
        let this = self.clone();
        let i = id.to_string();
        crate::util::blocking(move || {
            this.snapshots.remove(&i).map_err(Error::from)?;
            crate::util::remove_dir(&this.bundle_dir(&i));
            crate::util::remove_dir(&this.container_dir(&i));
            if let Some(e) = this.containers.take(&i) {
                e.watch.send_modify(|g| g.removed = true);
                this.emit_container(&e.c, "destroy", &[]);
                if volumes {
                    this.remove_anonymous_volumes(&e.c);
                }
            }
            Ok(())
        })
        .await
    }

    /// `POST /containers/{id}/wait`: resolves when the condition holds.
    /// Returns (exit code, error message).
    pub async fn container_wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> (i32, Option<String>) {
        let Ok(mut w) = self.containers.watcher(id) else {
            return (0, None);
        };
        let start = w.borrow().exits;
        let running = self.containers.with(id, |c| c.running()).unwrap_or(false);
        loop {
            {
                let g = w.borrow();
                let done = match condition {
                    WaitCondition::Removed => g.removed,
                    WaitCondition::NextExit => g.exits > start || g.removed,
                    WaitCondition::NotRunning => !running || g.exits > start || g.removed,
                };
                if done {
                    let code = if g.exits > start || g.removed {
                        g.exit_code
                    } else {
                        self.containers.with(id, |c| c.state.exit_code).unwrap_or(0)
                    };
                    return (code, g.error.clone());
                }
            }
            if w.changed().await.is_err() {
                let g = w.borrow();
                return (g.exit_code, None);
            }
        }
    }

    /// After a daemon restart: reconnect to running containers' monitors,
    /// record exits that happened meanwhile, apply restart policies.
    pub async fn restore(self: &Arc<Self>) {
        // Volumes first: a dead container's exit below must not unmount
        // a volume that a live one still uses.
        self.restore_volumes();
        for c in self.containers.list() {
            if !c.running() {
                continue;
            }
            let alive = monitor::connect(
                &self.monitor_socket(&c.id),
                berth_monitor::protocol::Request::Wait,
            )
            .await
            .is_ok();
            if alive {
                if c.status() == Status::Restarting {
                    warn_on_err(
                        "mark running",
                        self.containers
                            .update(&c.id, |c| c.state.status = Status::Running),
                    );
                }
                tracing::info!("restored container {}", c.short_id());
                self.watch_exit(&c.id);
                self.watch_health(&c.id);
                if crate::network::uses_embedded_dns(&c)
                    && let Err(e) = self.start_dns(&c.id, c.state.pid)
                {
                    tracing::warn!("embedded DNS of {}: {e}", c.short_id());
                }
            } else {
                let (code, oom) = berth_monitor::ExitRecord::load(&self.bundle_dir(&c.id))
                    .map(|r| (r.exit_code, r.oom_killed))
                    .unwrap_or((255, false));
                self.on_exit(&c.id, code, oom).await;
            }
        }
        // The running containers' published ports, exactly once each.
        self.apply_all_firewalls().await;
        // `--rm` containers that are not running (they ended, or never
        // started, while no daemon was there to remove them) go, as dockerd
        // removes them at restore.
        for c in self.containers.list() {
            if !c.running() && c.auto_remove() {
                warn_on_err(
                    "remove an --rm container",
                    self.container_remove(&c.id, true, true).await,
                );
            }
        }
        // Builds a crash cut short leave nothing.
        self.restore_builds().await;
        // Nor does anything else: what `system check` would find is collected
        // (nothing is served yet, so nothing of it is in use).
        match self.system_check(true).await {
            Ok(r) => {
                for p in r.problems {
                    if p.repaired {
                        tracing::info!("collected at start: {} {}", p.kind, p.subject);
                    } else {
                        tracing::warn!("{} {}: {}", p.kind, p.subject, p.detail);
                    }
                }
            }
            Err(e) => tracing::warn!("checking the store: {e}"),
        }
        // Daemon restart: `always` and `unless-stopped` containers come back.
        for c in self.containers.list() {
            if !c.running()
                && c.has_run()
                && restart::restart_on_daemon_start(
                    &c.host_config.restart_policy,
                    c.manually_stopped,
                )
            {
                warn_on_err("restart on daemon start", self.container_start(&c.id).await);
            }
        }
    }

    /// `POST /containers/{id}/resize`.
    pub async fn container_resize(&self, r: &str, h: u16, w: u16) -> Result<()> {
        let id = self.containers.resolve(r)?;
        let c = self.containers.get(&id)?;
        if !c.running() {
            return Err(Error::conflict(format!("Container {id} is not running")));
        }
        monitor::resize(&self.monitor_socket(&id), h, w).await
    }

    /// `POST /containers/{id}/rename`.
    pub fn container_rename(&self, r: &str, name: &str) -> Result<()> {
        if !super::names::valid(name) {
            return Err(super::names::invalid_name(name));
        }
        let full = self.containers.resolve(r)?;
        let new = format!("/{}", name.trim_start_matches('/'));
        if let Some(other) = self.containers.name_owner(&new)
            && other != full
        {
            return Err(super::name_conflict(&new, &other));
        }
        let c = self.containers.update_durable(&full, |c| {
            c.name = new.clone();
            c.clone()
        })?;
        self.emit_container(&c, "rename", &[]);
        Ok(())
    }

    /// A start failure's exit code (for tests and callers that record it).
    pub fn start_failure_code(f: StartFailure) -> i32 {
        f.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert_eq!(
            parse_signal("99").unwrap_err().message,
            "Invalid signal: 99"
        );
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(Engine::start_failure_code(StartFailure::NotFound), 127);
        assert!(unchanged_is_ok(Err(Error::not_modified())).is_ok());
        assert!(unchanged_is_ok(Err(Error::invalid("x"))).is_err());
    }
}

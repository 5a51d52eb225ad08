//! Starting, stopping, killing, removing and waiting for containers; exits,
//! restart policies and live restore after a daemon restart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use super::container::Container;
use super::{Engine, PendingAttach, monitor, now_rfc3339, rootfs, spec};
use crate::error::{ApiError, ApiResult};

/// Parse a signal given as a name (`SIGKILL`, `KILL`) or a number.
pub fn parse_signal(s: &str) -> ApiResult<i32> {
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
        .map_err(|_| ApiError::bad_request(format!("Invalid signal: {s}")))
}

/// Relay a hijacked client connection and a monitor attach stream until the
/// container's output ends.
pub fn bridge(client: TokioIo<hyper::upgrade::Upgraded>, mon: tokio::net::UnixStream) {
    tokio::spawn(async move {
        let (mut cr, mut cw) = tokio::io::split(client);
        let (mut mr, mut mw) = mon.into_split();
        let input = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut mw).await;
            // Client's stdin ended (or it half-closed): tell the monitor.
            let _ = mw.shutdown().await;
        });
        let _ = tokio::io::copy(&mut mr, &mut cw).await;
        let _ = cw.flush().await;
        let _ = cw.shutdown().await;
        input.abort();
    });
}

impl Engine {
    fn policy(c: &Container) -> (String, i64) {
        let p = &c.host_config["RestartPolicy"];
        (
            p["Name"].as_str().unwrap_or("no").to_string(),
            p["MaximumRetryCount"].as_i64().unwrap_or(0),
        )
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, r: &str) -> ApiResult<()> {
        let id = self.resolve(r)?;
        let lock = self.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.get(&id)?;
        match c.state.status.as_str() {
            "running" | "restarting" => return Err(ApiError::not_modified()),
            "paused" => {
                return Err(ApiError::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            "removing" | "dead" => {
                return Err(ApiError::conflict(
                    "container is marked for removal and cannot be started".to_string(),
                ));
            }
            _ => {}
        }
        self.update(&id, |c| c.manually_stopped = false)?;
        match self.start_locked(&c).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let code = if e.message.contains("executable file not found")
                    || e.message.contains("no such file or directory")
                {
                    127
                } else if e.message.contains("permission denied") {
                    126
                } else {
                    128
                };
                let _ = self.update(&id, |c| {
                    c.state.error = e.message.clone();
                    c.state.exit_code = code;
                });
                if c.auto_remove() {
                    let this = self.clone();
                    let _ = this.remove_now(&id).await;
                }
                Err(e)
            }
        }
    }

    /// Mount, write the bundle, spawn the monitor, connect attaches, start.
    async fn start_locked(self: &Arc<Self>, c: &Container) -> ApiResult<()> {
        let id = c.id.clone();
        // --link: the targets' addresses (hosts entries) and variables;
        // --network container:<x>: its namespace and /etc files. Nothing is
        // set up yet, so a refusal here leaves nothing behind.
        let (links, link_env) = self.resolve_links(c)?;
        let shared = self.shared_netns(c)?;
        let mut c = c.clone();
        if let Some(t) = &shared {
            c.config["Hostname"] = serde_json::Value::from(super::spec::hostname(t));
        }
        if !link_env.is_empty() {
            let mut env = c.config["Env"].as_array().cloned().unwrap_or_default();
            env.extend(link_env.into_iter().map(serde_json::Value::from));
            c.config["Env"] = serde_json::Value::Array(env);
        }
        let c = &c;
        let img = self.images.resolve(&c.image).map_err(ApiError::from)?;
        let layers = self.images.layer_dirs(&img).map_err(ApiError::from)?;
        let cdir = self.container_dir(&id);
        let merged = rootfs::mount(&cdir, &layers, c.auto_remove())?;
        let bundle = self.bundle_dir(&id);
        // Address and ports first: a taken port fails before anything runs.
        let net = match self.plan_network(c) {
            Ok(n) => n,
            Err(e) => {
                rootfs::unmount(&cdir);
                return Err(e);
            }
        };
        let result: ApiResult<monitor::Pending> = async {
            std::fs::create_dir_all(&bundle)?;
            let _ = std::fs::remove_file(bundle.join("exit.json"));
            let dns = self
                .networks
                .as_ref()
                .map(|n| n.upstream.clone())
                .unwrap_or_default();
            let host_gateway = self
                .network(super::network::DEFAULT)
                .ok()
                .map(|n| n.def().pool.gateway);
            super::etc_files::write(
                &cdir,
                c,
                &super::etc_files::Inputs {
                    ip: net.values().next().and_then(|a| a.ip),
                    daemon_dns: &dns,
                    links: &links,
                    host_gateway,
                },
            )
            .map_err(ApiError::bad_request)?;
            let netns = shared
                .as_ref()
                .map(|t| format!("/proc/{}/ns/net", t.state.pid));
            if let Some(t) = &shared {
                let tdir = self.container_dir(&t.id);
                for f in ["hosts", "resolv.conf", "hostname"] {
                    std::fs::copy(tdir.join(f), cdir.join(f))?;
                }
            }
            let oci = spec::build(
                c,
                &merged,
                &cdir,
                &self.cgroup_parent,
                self.init_path.as_deref(),
                netns.as_deref(),
            )?;
            std::fs::write(
                bundle.join("config.json"),
                serde_json::to_vec(&oci).expect("json"),
            )?;
            let log_opts = &c.host_config["LogConfig"]["Config"];
            let log_none = c.host_config["LogConfig"]["Type"].as_str() == Some("none");
            monitor::spawn(monitor::Spawn {
                runtime_root: &self.runtime_root,
                id: &id,
                bundle: &bundle,
                socket: &self.monitor_socket(&id),
                stdin: c.config["OpenStdin"].as_bool().unwrap_or(false),
                stdin_once: c.config["StdinOnce"].as_bool().unwrap_or(false),
                log_path: (!log_none).then_some(Path::new(&c.log_path)),
                log_max_size: log_opts["max-size"]
                    .as_str()
                    .and_then(parse_size)
                    .unwrap_or(0),
                log_max_file: log_opts["max-file"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
            })
            .await
        }
        .await;
        // The namespace exists now: plug it into the bridge before start.
        let result = match result {
            Ok(p) if !net.is_empty() => match self.connect_network(c, &net, p.pid).await {
                Ok(()) => Ok(p),
                Err(e) => Err(e), // dropping `p` cancels the container
            },
            r => r,
        };
        let pending = match result {
            Ok(p) => p,
            Err(e) => {
                self.disconnect_network(&id, &net, false).await;
                rootfs::unmount(&cdir);
                super::remove_dir(&bundle);
                return Err(e);
            }
        };
        // Attach streams that arrived before start get the output from the first byte.
        let attaches: Vec<PendingAttach> = {
            let mut map = self.containers.lock().unwrap();
            map.get_mut(&id)
                .map(|e| std::mem::take(&mut e.pending))
                .unwrap_or_default()
        };
        for a in attaches {
            let req = format!(
                "attach {} {} {}",
                u8::from(a.stdin),
                u8::from(a.stdout),
                u8::from(a.stderr)
            );
            let Ok(Ok(io)) = tokio::time::timeout(Duration::from_secs(5), a.io).await else {
                continue;
            };
            if let Ok(m) = monitor::connect(&self.monitor_socket(&id), &req).await {
                bridge(io, m);
            }
        }
        let (pid, monitor_pid) = (pending.pid, pending.monitor_pid);
        if let Err(e) = pending.start().await {
            self.disconnect_network(&id, &net, false).await;
            rootfs::unmount(&cdir);
            super::remove_dir(&bundle);
            return Err(e);
        }
        let c = self.update(&id, |c| {
            c.state.status = "running".into();
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
        self.emit(&c, "start", &[]);
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
            let res = match monitor::wait_exit(&this.monitor_socket(&id)).await {
                Some(r) => r,
                None => {
                    // The monitor went away without answering: once it has
                    // exited (cleanup done), its record says how it ended.
                    let mpid = this.get(&id).map(|c| c.state.monitor_pid).unwrap_or(0);
                    monitor::exited(mpid, Duration::from_secs(10)).await;
                    match berth_monitor::ExitRecord::load(&bundle) {
                        Some(r) => (r.exit_code, r.oom_killed),
                        None => (255, false),
                    }
                }
            };
            this.on_exit(&id, res.0, res.1).await;
        });
    }

    async fn on_exit(self: &Arc<Self>, id: &str, code: i32, oom: bool) {
        if let Ok(eps) = self.update(id, |c| std::mem::take(&mut c.endpoints)) {
            self.disconnect_network(id, &eps, true).await;
        }
        let cdir = self.container_dir(id);
        rootfs::unmount(&cdir);
        super::remove_dir(&self.bundle_dir(id));
        let Ok(c) = self.update(id, |c| {
            c.state.status = "exited".into();
            c.state.pid = 0;
            c.state.monitor_pid = 0;
            c.state.exit_code = code;
            c.state.oom_killed = oom;
            c.state.finished_at = now_rfc3339();
            c.clone()
        }) else {
            return;
        };
        if oom {
            self.emit(&c, "oom", &[]);
        }
        self.emit(&c, "die", &[("exitCode", code.to_string())]);
        let gen_watch = {
            let map = self.containers.lock().unwrap();
            map.get(id).map(|e| e.watch.clone())
        };
        if let Some(w) = &gen_watch {
            w.send_modify(|g| {
                g.exits += 1;
                g.exit_code = code;
            });
        }
        if c.auto_remove() {
            let _ = self.remove_now(id).await;
            return;
        }
        let (policy, max) = Self::policy(&c);
        let restart = !c.manually_stopped
            && match policy.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => code != 0 && (max == 0 || (c.restart_count as i64) < max),
                _ => false,
            };
        if restart {
            let delay = Duration::from_millis(100u64 << c.restart_count.min(10));
            let _ = self.update(id, |c| {
                c.state.status = "restarting".into();
                c.restart_count += 1;
            });
            let this = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let Ok(lock) = this.op_lock(&id) else { return };
                let _g = lock.lock().await;
                let Ok(c) = this.get(&id) else { return };
                if c.state.status != "restarting" || c.manually_stopped {
                    return;
                }
                let _ = this.update(&id, |c| c.state.status = "exited".into());
                if let Err(e) = this.start_locked(&c).await {
                    let _ = this.update(&id, |c| c.state.error = e.message.clone());
                } else {
                    this.emit(&c, "restart", &[]);
                }
            });
        }
    }

    /// Signal the container's processes through the runtime.
    pub async fn signal(&self, id: &str, sig: i32) -> ApiResult<()> {
        let rt = self.runtime();
        let id = id.to_string();
        blocking(move || rt.kill(&id, sig, false)).await
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, r: &str, signal: Option<&str>) -> ApiResult<()> {
        let id = self.resolve(r)?;
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let c = self.get(&id)?;
        if !c.running() {
            return Err(ApiError::conflict(format!(
                "Cannot kill container: {r}: Container {id} is not running"
            )));
        }
        if c.state.status == "restarting" {
            self.update(&id, |c| {
                c.manually_stopped = true;
                c.state.status = "exited".into();
            })?;
            return Ok(());
        }
        self.signal(&id, sig).await?;
        self.emit(&c, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// Wait until the container's exit count passes `since`, up to `timeout`.
    async fn wait_exit_count(&self, id: &str, since: u64, timeout: Duration) -> bool {
        let Ok(mut w) = self.watcher(id) else {
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
        self.watcher(id).map(|w| w.borrow().exits).unwrap_or(0)
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
    pub async fn stop(&self, r: &str, timeout: Option<i64>, signal: Option<&str>) -> ApiResult<()> {
        let id = self.resolve(r)?;
        let c = self.get(&id)?;
        if c.state.status == "restarting" {
            self.update(&id, |c| {
                c.manually_stopped = true;
                c.state.status = "exited".into();
            })?;
            return Ok(());
        }
        if !c.running() {
            return Err(ApiError::not_modified());
        }
        self.update(&id, |c| c.manually_stopped = true)?;
        let stop_sig = signal
            .filter(|s| !s.is_empty())
            .map(String::from)
            .or_else(|| {
                c.config["StopSignal"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            })
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&stop_sig)?;
        let t = timeout
            .or_else(|| c.config["StopTimeout"].as_i64())
            .unwrap_or(10);
        let before = self.exits(&id);
        if c.state.status == "paused" {
            let _ = self.unpause(&id).await;
        }
        let _ = self.signal(&id, sig).await;
        let waited = t >= 0
            && self
                .wait_exit_count(&id, before, Duration::from_secs(t as u64))
                .await;
        if !waited {
            let _ = self.signal(&id, libc::SIGKILL).await;
            self.wait_exit_count(&id, before, Duration::from_secs(30))
                .await;
        }
        self.emit(&c, "stop", &[]);
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        r: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> ApiResult<()> {
        unchanged_is_ok(self.stop(r, timeout, signal).await)?;
        unchanged_is_ok(self.start(r).await)?;
        let c = self.get(r)?;
        self.emit(&c, "restart", &[]);
        Ok(())
    }

    pub async fn pause(&self, r: &str) -> ApiResult<()> {
        self.freeze(r, true).await
    }

    pub async fn unpause(&self, r: &str) -> ApiResult<()> {
        self.freeze(r, false).await
    }

    /// Pause (freeze the cgroup) or unpause a container.
    async fn freeze(&self, r: &str, pause: bool) -> ApiResult<()> {
        let id = self.resolve(r)?;
        let c = self.get(&id)?;
        match (pause, c.state.status.as_str()) {
            (true, "running") | (false, "paused") => {}
            (true, "paused") => {
                return Err(ApiError::conflict(format!(
                    "Container {id} is already paused"
                )));
            }
            (true, _) => return Err(ApiError::conflict(format!("Container {id} is not running"))),
            (false, _) => return Err(ApiError::conflict(format!("Container {id} is not paused"))),
        }
        let rt = self.runtime();
        let i = id.clone();
        blocking(move || if pause { rt.pause(&i) } else { rt.resume(&i) }).await?;
        let c = self.update(&id, |c| {
            c.state.status = if pause { "paused" } else { "running" }.into();
            c.clone()
        })?;
        self.emit(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(self: &Arc<Self>, r: &str, force: bool) -> ApiResult<()> {
        let id = self.resolve(r)?;
        let c = self.get(&id)?;
        if c.running() {
            if !force {
                let what = if c.state.status == "paused" {
                    "You cannot remove a paused container"
                } else {
                    "You cannot remove a running container"
                };
                return Err(ApiError::conflict(format!(
                    "{what} {id}. Stop the container before attempting removal or force remove"
                )));
            }
            self.update(&id, |c| c.manually_stopped = true)?;
            let before = self.exits(&id);
            if c.state.status == "paused" {
                let _ = self.unpause(&id).await;
            }
            if c.state.status != "restarting" {
                let _ = self.signal(&id, libc::SIGKILL).await;
                self.wait_exit_count(&id, before, Duration::from_secs(30))
                    .await;
            }
        }
        self.remove_now(&id).await
    }

    /// Remove a stopped container's files and record.
    pub async fn remove_now(self: &Arc<Self>, id: &str) -> ApiResult<()> {
        let cdir = self.container_dir(id);
        rootfs::unmount(&cdir);
        super::remove_dir(&self.bundle_dir(id));
        super::remove_dir(&cdir);
        let entry = self.containers.lock().unwrap().remove(id);
        if let Some(e) = entry {
            e.watch.send_modify(|g| g.removed = true);
            self.emit(&e.c, "destroy", &[]);
        }
        Ok(())
    }

    /// `POST /containers/{id}/wait`: resolves when the condition holds.
    /// Returns (exit code, error message).
    pub async fn wait(&self, id: &str, condition: &str) -> (i32, Option<String>) {
        let Ok(mut w) = self.watcher(id) else {
            return (0, None);
        };
        let start = w.borrow().exits;
        let running = self.get(id).map(|c| c.running()).unwrap_or(false);
        loop {
            {
                let g = w.borrow();
                let done = match condition {
                    "removed" => g.removed,
                    "next-exit" => g.exits > start || g.removed,
                    _ => !running || g.exits > start || g.removed,
                };
                if done {
                    let code = if g.exits > start || g.removed {
                        g.exit_code
                    } else {
                        self.get(id).map(|c| c.state.exit_code).unwrap_or(0)
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
        let all = self.list();
        for c in all {
            if !c.running() {
                continue;
            }
            let bundle = self.bundle_dir(&c.id);
            let alive = monitor::connect(&self.monitor_socket(&c.id), "wait")
                .await
                .is_ok();
            if alive {
                if c.state.status == "restarting" {
                    let _ = self.update(&c.id, |c| c.state.status = "running".into());
                }
                tracing::info!("restored container {}", c.short_id());
                self.watch_exit(&c.id);
                self.watch_health(&c.id);
                if super::network::uses_embedded_dns(&c)
                    && let Err(e) = self.start_dns(&c.id, c.state.pid)
                {
                    tracing::warn!("embedded DNS of {}: {e}", c.short_id());
                }
            } else {
                let (code, oom) = berth_monitor::ExitRecord::load(&bundle)
                    .map(|r| (r.exit_code, r.oom_killed))
                    .unwrap_or((255, false));
                self.on_exit(&c.id, code, oom).await;
            }
        }
        // The running containers' published ports, exactly once each.
        self.apply_all_firewalls().await;
        // Daemon restart: `always` and `unless-stopped` containers come back.
        for c in self.list() {
            let (p, _) = Self::policy(&c);
            if !c.running()
                && !c.manually_stopped
                && (p == "always" || p == "unless-stopped")
                && !c.state.started_at.is_empty()
            {
                let _ = self.start(&c.id).await;
            }
        }
    }

    /// Register an attach before start, or connect it now if running.
    pub fn attach(&self, id: &str, a: PendingAttach) -> ApiResult<()> {
        let c = self.get(id)?;
        if c.running() {
            let req = format!(
                "attach {} {} {}",
                u8::from(a.stdin),
                u8::from(a.stdout),
                u8::from(a.stderr)
            );
            let sock = self.monitor_socket(id);
            tokio::spawn(async move {
                let Ok(Ok(io)) = tokio::time::timeout(Duration::from_secs(5), a.io).await else {
                    return;
                };
                if let Ok(m) = monitor::connect(&sock, &req).await {
                    bridge(io, m);
                }
            });
            return Ok(());
        }
        let mut map = self.containers.lock().unwrap();
        if let Some(e) = map.get_mut(id) {
            e.pending.push(a);
        }
        Ok(())
    }

    pub async fn resize(&self, r: &str, h: u32, w: u32) -> ApiResult<()> {
        let id = self.resolve(r)?;
        let c = self.get(&id)?;
        if !c.running() {
            return Err(ApiError::conflict(format!("Container {id} is not running")));
        }
        monitor::resize(&self.monitor_socket(&id), h, w).await
    }
}

/// A runtime library call (synchronous) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_runtime::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Run blocking engine work (file systems, image store) off the reactor.
pub async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

/// restart: a container already stopped (or already running) is fine.
fn unchanged_is_ok(r: ApiResult<()>) -> ApiResult<()> {
    match r {
        Err(e) if e.status == axum::http::StatusCode::NOT_MODIFIED => Ok(()),
        other => other,
    }
}

/// `max-size` values: 10m, 1k, 2g, bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        'b' => (&s[..s.len() - 1], 1),
        _ => (&s[..], 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

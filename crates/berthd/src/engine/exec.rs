//! `docker exec`: exec instances (create, start, inspect), run through
//! `berth-runc exec` with the container's process settings.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Engine, monitor, user};
use crate::error::{ApiError, ApiResult};

#[derive(Clone, Debug)]
pub struct ExecInstance {
    pub id: String,
    pub container: String,
    pub config: Value,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    /// The pty master of a tty exec, for resizes.
    pub master: Option<Arc<std::os::fd::OwnedFd>>,
}

#[derive(Default)]
pub struct Registry {
    pub map: Mutex<HashMap<String, ExecInstance>>,
}

impl Engine {
    pub fn exec_create(&self, r: &str, body: Value) -> ApiResult<String> {
        let id = self.resolve(r)?;
        let c = self.get(&id)?;
        if c.state.status == "paused" {
            return Err(ApiError::conflict(format!(
                "Container {id} is paused, unpause the container before exec"
            )));
        }
        if c.state.status != "running" {
            return Err(ApiError::conflict(format!("Container {id} is not running")));
        }
        if body["Cmd"].as_array().is_none_or(|a| a.is_empty()) {
            return Err(ApiError::bad_request("No exec command specified"));
        }
        let eid = super::names::new_id();
        self.execs.map.lock().unwrap().insert(
            eid.clone(),
            ExecInstance {
                id: eid.clone(),
                container: id.clone(),
                config: body.clone(),
                running: false,
                exit_code: None,
                pid: 0,
                master: None,
            },
        );
        let cmd = body["Cmd"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        self.emit(
            &c,
            &format!("exec_create: {cmd}"),
            &[("execID", eid.clone())],
        );
        Ok(eid)
    }

    pub fn exec_get(&self, eid: &str) -> ApiResult<ExecInstance> {
        self.execs
            .map
            .lock()
            .unwrap()
            .get(eid)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {eid}")))
    }

    /// `berth-runc exec` for an exec instance: its OCI process written to
    /// `<bundle>/<name>.json`; the caller adds the console socket if any and
    /// the container id.
    pub(super) fn runtime_exec(
        &self,
        e: &ExecInstance,
        tty: bool,
        name: &str,
    ) -> ApiResult<(tokio::process::Command, std::path::PathBuf)> {
        let proc_json = self.exec_process(e, tty)?;
        let pfile = self.bundle_dir(&e.container).join(format!("{name}.json"));
        std::fs::write(&pfile, serde_json::to_vec(&proc_json).expect("json"))?;
        let mut cmd = tokio::process::Command::new(monitor::runtime_binary());
        cmd.arg("--root")
            .arg(&self.runtime_root)
            .arg("exec")
            .arg("--process")
            .arg(&pfile);
        Ok((cmd, pfile))
    }

    /// The OCI process for an exec, from the container's own process.
    pub(super) fn exec_process(&self, e: &ExecInstance, tty: bool) -> ApiResult<Value> {
        let bundle = self.bundle_dir(&e.container);
        let spec: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json"))?)
            .map_err(|err| ApiError::internal(err.to_string()))?;
        let mut p = spec["process"].clone();
        p["args"] = e.config["Cmd"].clone();
        p["terminal"] = json!(tty);
        let mut env: Vec<Value> = p["env"].as_array().cloned().unwrap_or_default();
        env.extend(e.config["Env"].as_array().cloned().unwrap_or_default());
        p["env"] = json!(env);
        if let Some(w) = e.config["WorkingDir"].as_str().filter(|s| !s.is_empty()) {
            p["cwd"] = json!(w);
        }
        if let Some(u) = e.config["User"].as_str().filter(|s| !s.is_empty()) {
            let rootfs = std::path::PathBuf::from(spec["root"]["path"].as_str().unwrap_or("/"));
            p["user"] = user::resolve(&rootfs, u)?;
        }
        if e.config["Privileged"].as_bool().unwrap_or(false) {
            let caps = super::spec::capabilities(&json!({"Privileged": true}))?;
            p["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
        }
        if let Some(o) = p.as_object_mut() {
            o.remove("consoleSize");
        }
        // The client's terminal size, so the process starts with it.
        let size = &e.config["ConsoleSize"];
        if let (Some(h), Some(w)) = (size[0].as_u64(), size[1].as_u64())
            && tty
            && h > 0
            && w > 0
        {
            p["consoleSize"] = json!({"height": h, "width": w});
        }
        Ok(p)
    }

    /// Run an exec instance, relaying its stdio over `io` (None: detached).
    pub async fn exec_start(
        self: &Arc<Self>,
        eid: &str,
        tty: bool,
        io: Option<TokioIo<hyper::upgrade::Upgraded>>,
    ) -> ApiResult<()> {
        let e = self.exec_get(eid)?;
        if e.running || e.exit_code.is_some() {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {eid} has already run"
            )));
        }
        let c = self.get(&e.container)?;
        if c.state.status != "running" {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let tty = tty || e.config["Tty"].as_bool().unwrap_or(false);
        let (mut cmd, _pfile) = self.runtime_exec(&e, tty, &format!("exec-{eid}"))?;
        let console = if tty {
            // Short: socket paths are limited to 108 bytes.
            let sock = self
                .exec_root
                .join("s")
                .join(format!("x-{}.sock", &eid[..16]));
            let _ = std::fs::remove_file(&sock);
            let l = std::os::unix::net::UnixListener::bind(&sock)?;
            cmd.arg("--console-socket").arg(&sock);
            Some((l, sock))
        } else {
            None
        };
        cmd.arg(&e.container);
        let attach_in = e.config["AttachStdin"].as_bool().unwrap_or(false) && io.is_some();
        cmd.stdin(if attach_in && !tty {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        if tty {
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .map_err(|err| ApiError::internal(format!("exec: {err}")))?;
        self.execs
            .map
            .lock()
            .unwrap()
            .entry(eid.to_string())
            .and_modify(|x| {
                x.running = true;
                x.pid = child.id().unwrap_or(0) as i32;
            });
        let master = match console {
            Some((l, sock)) => {
                let r = tokio::task::spawn_blocking(
                    move || -> std::io::Result<std::os::fd::OwnedFd> {
                        let (conn, _) = l.accept()?;
                        berth_runtime::tty::recv_master(std::os::fd::AsFd::as_fd(&conn))
                            .map_err(|err| std::io::Error::other(err.to_string()))
                    },
                )
                .await;
                let _ = std::fs::remove_file(&sock);
                match r {
                    Ok(Ok(m)) => Some(m),
                    _ => None,
                }
            }
            None => None,
        };
        if let Some(m) = master.as_ref().and_then(|m| m.try_clone().ok())
            && let Some(x) = self.execs.map.lock().unwrap().get_mut(eid)
        {
            x.master = Some(Arc::new(m));
        }
        let cmdline = e.config["Cmd"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        self.emit(
            &c,
            &format!("exec_start: {cmdline}"),
            &[("execID", eid.to_string())],
        );
        let this = self.clone();
        let eid = eid.to_string();
        let run = async move {
            let mut stderr_buf = Vec::new();
            if let Some(io) = io {
                let (mut cr, mut cw) = tokio::io::split(io);
                if let Some(m) = master {
                    let m = std::fs::File::from(m);
                    let mut mr = tokio::fs::File::from_std(m.try_clone().expect("dup"));
                    let mut mw = tokio::fs::File::from_std(m);
                    let input = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut mw).await;
                    });
                    let mut buf = vec![0u8; 16384];
                    loop {
                        match mr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    input.abort();
                    if let Some(mut se) = child.stderr.take() {
                        let _ = se.read_to_end(&mut stderr_buf).await;
                    }
                } else {
                    let mut so = child.stdout.take().expect("piped");
                    let mut se = child.stderr.take().expect("piped");
                    let sin = child.stdin.take();
                    let input = tokio::spawn(async move {
                        if let Some(mut sin) = sin {
                            let _ = tokio::io::copy(&mut cr, &mut sin).await;
                            let _ = sin.shutdown().await;
                        } else {
                            let mut sink = tokio::io::sink();
                            let _ = tokio::io::copy(&mut cr, &mut sink).await;
                        }
                    });
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(16);
                    let tx2 = tx.clone();
                    tokio::spawn(async move {
                        let mut b = vec![0u8; 16384];
                        while let Ok(n) = so.read(&mut b).await {
                            if n == 0 || tx.send((1, b[..n].to_vec())).await.is_err() {
                                break;
                            }
                        }
                    });
                    tokio::spawn(async move {
                        let mut b = vec![0u8; 16384];
                        while let Ok(n) = se.read(&mut b).await {
                            if n == 0 || tx2.send((2, b[..n].to_vec())).await.is_err() {
                                break;
                            }
                        }
                    });
                    while let Some((s, data)) = rx.recv().await {
                        if s == 2 && stderr_buf.len() < 4096 {
                            stderr_buf.extend_from_slice(&data);
                        }
                        let mut f = vec![s, 0, 0, 0];
                        f.extend_from_slice(&(data.len() as u32).to_be_bytes());
                        f.extend_from_slice(&data);
                        if cw.write_all(&f).await.is_err() {
                            break;
                        }
                    }
                    input.abort();
                }
                let status = child.wait().await;
                let code = exec_code(status, &stderr_buf);
                this.finish_exec(&eid, code);
                let _ = cw.shutdown().await;
            } else {
                let out = child.wait_with_output().await;
                let code = match out {
                    Ok(o) => exec_code(Ok(o.status), &o.stderr),
                    Err(_) => 126,
                };
                this.finish_exec(&eid, code);
            }
        };
        tokio::spawn(run);
        Ok(())
    }

    /// `POST /exec/{id}/resize`: the exec's pty, if it has one.
    pub fn exec_resize(&self, eid: &str, h: u16, w: u16) -> ApiResult<()> {
        let x = self.exec_get(eid)?;
        if let Some(m) = &x.master {
            berth_sys::pty::set_winsize(
                std::os::fd::AsFd::as_fd(&**m),
                berth_sys::pty::WinSize { rows: h, cols: w },
            )
            .map_err(|err| ApiError::internal(format!("resize exec {eid}: {err}")))?;
        }
        Ok(())
    }

    fn finish_exec(&self, eid: &str, code: i32) {
        let e = {
            let mut m = self.execs.map.lock().unwrap();
            m.get_mut(eid).map(|x| {
                x.running = false;
                x.master = None;
                x.exit_code = Some(code);
                x.clone()
            })
        };
        if let Some(e) = e
            && let Ok(c) = self.get(&e.container)
        {
            self.emit(
                &c,
                "exec_die",
                &[("execID", eid.to_string()), ("exitCode", code.to_string())],
            );
        }
        let _ = std::fs::remove_file(
            self.bundle_dir(&e_container(self, eid))
                .join(format!("exec-{eid}.json")),
        );
    }
}

fn e_container(engine: &Engine, eid: &str) -> String {
    engine
        .execs
        .map
        .lock()
        .unwrap()
        .get(eid)
        .map(|e| e.container.clone())
        .unwrap_or_default()
}

/// berth-runc exec's exit status; 126/127 when the program could not run.
fn exec_code(status: std::io::Result<std::process::ExitStatus>, stderr: &[u8]) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let Ok(st) = status else { return 126 };
    if let Some(c) = st.code() {
        if c == 1 && !stderr.is_empty() {
            let msg = String::from_utf8_lossy(stderr);
            if msg.contains("executable file not found")
                || msg.contains("no such file or directory")
            {
                return 127;
            }
            if msg.contains("permission denied") {
                return 126;
            }
        }
        return c;
    }
    128 + st.signal().unwrap_or(0)
}

//! `docker exec`: exec instances (create, start, inspect, resize), run
//! through `berth-runc exec` with the container's process settings.
//!
//! A process's tty comes from the instance (create's `Tty`); the stream's
//! framing from start's `Tty` (multiplexed unless it asks for raw), as
//! dockerd does. The exit code is recorded before the stream closes (the
//! CLI inspects the instance right after). Start failures are typed: the
//! runtime writes its reason to a report file (`--report`), so 126/127 never
//! come from message text.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use berth_api::exec::{CreateRequest, InspectResponse, ProcessConfig, StartRequest};
use berth_api::stdcopy::{self, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::monitor;
use crate::model::Io;
use crate::util::new_id;
use crate::{Engine, Error, Result};

#[derive(Clone, Debug)]
pub struct ExecInstance {
    pub id: String,
    pub container: String,
    pub config: CreateRequest,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    /// The pty master of a tty exec, for resizes.
    pub master: Option<Arc<std::os::fd::OwnedFd>>,
}

impl ExecInstance {
    pub fn new(container: &str, config: CreateRequest) -> ExecInstance {
        ExecInstance {
            id: new_id(),
            container: container.to_string(),
            config,
            running: false,
            exit_code: None,
            pid: 0,
            master: None,
        }
    }

    pub fn inspect(&self) -> InspectResponse {
        let cmd = self.config.cmd();
        InspectResponse {
            id: self.id.clone(),
            running: self.running,
            exit_code: self.exit_code.map(i64::from),
            process_config: ProcessConfig {
                tty: self.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: Some(self.config.privileged),
                user: self.config.user.clone(),
            },
            open_stdin: self.config.attach_stdin,
            open_stderr: self.config.attach_stderr,
            open_stdout: self.config.attach_stdout,
            can_remove: false,
            container_id: self.container.clone(),
            detach_keys: self.config.detach_keys.clone(),
            pid: i64::from(self.pid),
        }
    }
}

#[derive(Default)]
pub struct Registry {
    pub map: Mutex<HashMap<String, ExecInstance>>,
}

/// How `berth-runc exec` ended: its exit status, or the typed reason its
/// report gives for a process that never ran.
fn exec_code(status: std::io::Result<std::process::ExitStatus>, report: &std::path::Path) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(f) = berth_runtime::report::StartReport::load(report) {
        return match f.failure {
            berth_runtime::StartFailure::NotFound => 127,
            berth_runtime::StartFailure::NotExecutable => 126,
            berth_runtime::StartFailure::Other => 126,
        };
    }
    let Ok(st) = status else { return 126 };
    match st.code() {
        Some(c) => c,
        None => 128 + st.signal().unwrap_or(0),
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, r: &str, body: CreateRequest) -> Result<String> {
        let c = self.containers.get(r)?;
        use berth_api::container::Status;
        match c.status() {
            Status::Paused => {
                return Err(Error::conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )));
            }
            Status::Running => {}
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
        }
        if body.cmd().is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        if !body.detach_keys.is_empty() {
            berth_api::container::parse_detach_keys(&body.detach_keys).map_err(|e| {
                Error::invalid(format!(
                    "Invalid detach keys ({}) provided: {e}",
                    body.detach_keys
                ))
            })?;
        }
        let inst = ExecInstance::new(&c.id, body);
        let eid = inst.id.clone();
        let cmd = inst.config.cmd().join(" ");
        self.execs.map.lock().unwrap().insert(eid.clone(), inst);
        self.emit_container(
            &c,
            &format!("exec_create: {cmd}"),
            &[("execID", eid.clone())],
        );
        Ok(eid)
    }

    pub fn exec_get(&self, eid: &str) -> Result<ExecInstance> {
        self.execs
            .map
            .lock()
            .unwrap()
            .get(eid)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {eid}")))
    }

    pub fn exec_inspect(&self, eid: &str) -> Result<InspectResponse> {
        Ok(self.exec_get(eid)?.inspect())
    }

    /// `berth-runc exec` for an instance: its OCI process written to
    /// `<bundle>/<name>.json`; the caller adds the console socket if any
    /// and the container id. Returns the command, the process file and the
    /// report file.
    pub(crate) fn runtime_exec(
        &self,
        e: &ExecInstance,
        name: &str,
    ) -> Result<(
        tokio::process::Command,
        std::path::PathBuf,
        std::path::PathBuf,
    )> {
        let p = self.exec_process(e)?;
        let bundle = self.bundle_dir(&e.container);
        let pfile = bundle.join(format!("{name}.json"));
        let report = bundle.join(format!("{name}.report"));
        std::fs::write(&pfile, serde_json::to_vec(&p).expect("process serialises"))?;
        let _ = std::fs::remove_file(&report);
        let mut cmd = tokio::process::Command::new(monitor::runtime_binary());
        cmd.arg("--root")
            .arg(&self.runtime_root)
            .arg("exec")
            .arg("--report")
            .arg(&report)
            .arg("--process")
            .arg(&pfile);
        Ok((cmd, pfile, report))
    }

    /// The OCI process of an exec, from the container's own.
    pub(crate) fn exec_process(&self, e: &ExecInstance) -> Result<oci_spec::runtime::Process> {
        let bundle = self.bundle_dir(&e.container);
        let spec: oci_spec::runtime::Spec =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json"))?)
                .map_err(|err| Error::system(format!("the container's spec: {err}")))?;
        let mut p = spec
            .process()
            .clone()
            .ok_or_else(|| Error::system("the container's spec has no process"))?;
        p.set_args(Some(e.config.cmd().to_vec()));
        p.set_terminal(Some(e.config.tty));
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(e.config.env.iter().flatten().cloned());
        p.set_env(Some(env));
        if !e.config.working_dir.is_empty() {
            p.set_cwd(e.config.working_dir.clone().into());
        }
        if !e.config.user.is_empty() {
            let rootfs = spec
                .root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default();
            p.set_user(super::user::resolve(&rootfs, &e.config.user, &[])?);
        }
        if e.config.privileged {
            let hc = berth_api::container::HostConfig {
                privileged: true,
                ..Default::default()
            };
            let caps: std::collections::HashSet<oci_spec::runtime::Capability> =
                super::spec::capabilities(&hc, &self.caps)?
                    .iter()
                    .filter_map(|n| n.strip_prefix("CAP_")?.parse().ok())
                    .collect();
            p.set_capabilities(Some(
                oci_spec::runtime::LinuxCapabilitiesBuilder::default()
                    .bounding(caps.clone())
                    .effective(caps.clone())
                    .permitted(caps)
                    .build()
                    .map_err(|err| Error::system(err.to_string()))?,
            ));
        }
        p.set_console_size(None);
        if let Some([h, w]) = e.config.console_size
            && e.config.tty
            && h > 0
            && w > 0
        {
            p.set_console_size(Some(
                oci_spec::runtime::BoxBuilder::default()
                    .height(h)
                    .width(w)
                    .build()
                    .map_err(|err| Error::system(err.to_string()))?,
            ));
        }
        Ok(p)
    }

    /// Check that `eid` can start now (before a hijack's 101 goes out).
    pub fn exec_check_start(&self, eid: &str) -> Result<ExecInstance> {
        let e = self.exec_get(eid)?;
        if e.running || e.exit_code.is_some() {
            return Err(Error::conflict(format!(
                "Error: Exec command {eid} has already run"
            )));
        }
        let c = self.containers.get(&e.container)?;
        if c.status() != berth_api::container::Status::Running {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok(e)
    }

    /// Run an exec instance, relaying its stdio over `io` (None: detached).
    pub async fn exec_start(
        self: &Arc<Self>,
        eid: &str,
        opts: StartRequest,
        io: Option<Io>,
    ) -> Result<()> {
        let e = self.exec_check_start(eid)?;
        let c = self.containers.get(&e.container)?;
        let pty = e.config.tty;
        // The stream is raw only when start asks for it.
        let framed = !opts.tty;
        let (mut cmd, pfile, report) = self.runtime_exec(&e, &format!("exec-{eid}"))?;
        let console = if pty {
            // Short: socket paths are limited to 108 bytes.
            let sock = self
                .cfg
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
        let attach_in = e.config.attach_stdin && io.is_some();
        cmd.stdin(if attach_in && !pty {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        if pty {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .map_err(|err| Error::system(format!("exec: {err}")))?;
        if let Some(x) = self.execs.map.lock().unwrap().get_mut(eid) {
            x.running = true;
            x.pid = child.id().unwrap_or(0) as i32;
        }
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
                crate::util::warn_on_err("remove console socket", std::fs::remove_file(&sock));
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
        let cmdline = e.config.cmd().join(" ");
        self.emit_container(
            &c,
            &format!("exec_start: {cmdline}"),
            &[("execID", eid.to_string())],
        );
        let this = self.clone();
        let eid = eid.to_string();
        tokio::spawn(async move {
            let code = match io {
                Some(io) => {
                    let mut w = relay(io, &mut child, master, framed).await;
                    let code = exec_code(child.wait().await, &report);
                    // The exit code is recorded before the client sees the end.
                    this.finish_exec(&eid, code, &pfile, &report);
                    if let Some(w) = &mut w {
                        let _ = w.flush().await;
                        let _ = w.shutdown().await;
                    }
                    return;
                }
                None => {
                    let out = child.wait_with_output().await;
                    exec_code(out.map(|o| o.status), &report)
                }
            };
            this.finish_exec(&eid, code, &pfile, &report);
        });
        Ok(())
    }

    /// `POST /exec/{id}/resize`: the exec's pty, if it has one.
    pub fn exec_resize(&self, eid: &str, h: u16, w: u16) -> Result<()> {
        let x = self.exec_get(eid)?;
        if let Some(m) = &x.master {
            berth_sys::pty::set_winsize(
                std::os::fd::AsFd::as_fd(&**m),
                berth_sys::pty::WinSize { rows: h, cols: w },
            )
            .map_err(|err| Error::system(format!("resize exec {eid}: {err}")))?;
        }
        Ok(())
    }

    fn finish_exec(&self, eid: &str, code: i32, pfile: &std::path::Path, report: &std::path::Path) {
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
            && let Ok(c) = self.containers.get(&e.container)
        {
            self.emit_container(
                &c,
                "exec_die",
                &[("execID", eid.to_string()), ("exitCode", code.to_string())],
            );
        }
        for f in [pfile, report] {
            match std::fs::remove_file(f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!("remove {}: {e}", f.display())
                }
                _ => {}
            }
        }
    }
}

/// Copy the client's input to the process and its output to the client
/// (framed or raw) until the output ends; the client's write half is
/// returned open, for the caller to close once the exit is recorded.
async fn relay(
    io: Io,
    child: &mut tokio::process::Child,
    master: Option<std::os::fd::OwnedFd>,
    framed: bool,
) -> Option<tokio::io::WriteHalf<Io>> {
    let (mut cr, mut cw) = tokio::io::split(io);
    if let Some(m) = master {
        let m = std::fs::File::from(m);
        let Ok(dup) = m.try_clone() else {
            return Some(cw);
        };
        let mut mr = tokio::fs::File::from_std(dup);
        let mut mw = tokio::fs::File::from_std(m);
        let input = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut mw).await;
        });
        let mut buf = vec![0u8; 16384];
        loop {
            match mr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let data = if framed {
                        stdcopy::encode(Stream::Stdout, &buf[..n])
                    } else {
                        buf[..n].to_vec()
                    };
                    if cw.write_all(&data).await.is_err() {
                        break;
                    }
                }
            }
        }
        input.abort();
    } else {
        let (Some(mut so), Some(mut se)) = (child.stdout.take(), child.stderr.take()) else {
            return Some(cw);
        };
        let sin = child.stdin.take();
        let input = tokio::spawn(async move {
            if let Some(mut sin) = sin {
                let _ = tokio::io::copy(&mut cr, &mut sin).await;
                let _ = sin.shutdown().await;
            } else {
                let _ = tokio::io::copy(&mut cr, &mut tokio::io::sink()).await;
            }
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Stream, Vec<u8>)>(16);
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut b = vec![0u8; 16384];
            while let Ok(n) = so.read(&mut b).await {
                if n == 0 || tx.send((Stream::Stdout, b[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut b = vec![0u8; 16384];
            while let Ok(n) = se.read(&mut b).await {
                if n == 0 || tx2.send((Stream::Stderr, b[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        });
        while let Some((s, data)) = rx.recv().await {
            let out = if framed {
                stdcopy::encode(s, &data)
            } else {
                data
            };
            if cw.write_all(&out).await.is_err() {
                break;
            }
        }
        input.abort();
    }
    Some(cw)
}

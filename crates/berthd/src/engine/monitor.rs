//! Talking to a container's monitor (`berth-runc monitor`, see the
//! berth-monitor crate for the protocol): spawning it, the start handshake,
//! and the attach/wait/resize connections on its socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{ChildStdin, ChildStdout};

use crate::error::{ApiError, ApiResult};

/// The runtime binary: `$BERTH_RUNC`, else next to berthd, else on PATH.
pub fn runtime_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNC").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let p = dir.join("berth-runc");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("berth-runc")
}

pub struct Spawn<'a> {
    pub runtime_root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub socket: &'a Path,
    pub stdin: bool,
    pub stdin_once: bool,
    pub log_path: Option<&'a Path>,
    pub log_max_size: u64,
    pub log_max_file: u32,
}

/// A monitor between "created" and "started".
pub struct Pending {
    pub pid: i32,
    pub monitor_pid: i32,
    ctl_in: ChildStdin,
    ctl_out: BufReader<ChildStdout>,
}

async fn read_reply(r: &mut BufReader<ChildStdout>) -> Result<serde_json::Value, String> {
    let mut line = String::new();
    match r.read_line(&mut line).await {
        Ok(0) | Err(_) => Err("the container monitor exited unexpectedly".into()),
        Ok(_) => serde_json::from_str(&line).map_err(|e| format!("monitor: {e}")),
    }
}

/// Start the monitor; it creates the container and waits for [`Pending::start`].
pub async fn spawn(s: Spawn<'_>) -> ApiResult<Pending> {
    let mut cmd = tokio::process::Command::new(runtime_binary());
    cmd.arg("--root")
        .arg(s.runtime_root)
        .arg("monitor")
        .arg("--id")
        .arg(s.id)
        .arg("--bundle")
        .arg(s.bundle)
        .arg("--dir")
        .arg(s.bundle)
        .arg("--socket")
        .arg(s.socket);
    if s.stdin {
        cmd.arg("--stdin");
    }
    if s.stdin_once {
        cmd.arg("--stdin-once");
    }
    if let Some(p) = s.log_path {
        cmd.arg("--log-path").arg(p);
        cmd.arg("--log-max-size").arg(s.log_max_size.to_string());
        cmd.arg("--log-max-file").arg(s.log_max_file.to_string());
    }
    let errlog = std::fs::File::create(s.bundle.join("monitor.log"))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(errlog)
        .kill_on_drop(false);
    let mut child = cmd
        .spawn()
        .map_err(|e| ApiError::internal(format!("start the container monitor: {e}")))?;
    let monitor_pid = child.id().unwrap_or(0) as i32;
    let ctl_in = child.stdin.take().expect("piped");
    let mut ctl_out = BufReader::new(child.stdout.take().expect("piped"));
    // The monitor outlives this request (and the daemon): reap it in the background.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let v = read_reply(&mut ctl_out).await.map_err(|e| {
        // What the monitor said before dying is the useful part.
        let said = std::fs::read_to_string(s.bundle.join("monitor.log")).unwrap_or_default();
        match said.trim() {
            "" => ApiError::internal(e),
            said => ApiError::internal(format!("{e}: {said}")),
        }
    })?;
    if let Some(e) = v["error"].as_str() {
        return Err(runtime_error(e));
    }
    Ok(Pending {
        pid: v["pid"].as_i64().unwrap_or(0) as i32,
        monitor_pid,
        ctl_in,
        ctl_out,
    })
}

/// A runtime failure in dockerd's words: the CLI maps "executable file not
/// found" / "no such file or directory" to 127 and "permission denied" to 126.
pub fn runtime_error(e: &str) -> ApiError {
    ApiError::bad_request(format!(
        "failed to create task for container: failed to create shim task: OCI runtime create failed: {e}: unknown"
    ))
}

impl Pending {
    /// Let the container's process run.
    pub async fn start(mut self) -> ApiResult<()> {
        self.ctl_in.write_all(b"start\n").await?;
        let v = read_reply(&mut self.ctl_out)
            .await
            .map_err(ApiError::internal)?;
        if let Some(e) = v["error"].as_str() {
            return Err(runtime_error(e));
        }
        Ok(())
    }
}

/// Open a request connection to a monitor.
pub async fn connect(socket: &Path, request: &str) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket).await?;
    s.write_all(format!("{request}\n").as_bytes()).await?;
    Ok(s)
}

/// Wait until process `pid` (a monitor) has exited, at most `limit`.
pub async fn exited(pid: i32, limit: std::time::Duration) {
    if pid <= 0 {
        return;
    }
    let Ok(fd) = berth_sys::pidfd::pidfd_open(pid) else {
        return; // already gone
    };
    // SAFETY: the AsyncFd owns `fd` (an OwnedFd), which stays open and the
    // same for the AsyncFd's whole life.
    let Ok(afd) = (unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }) else {
        return;
    };
    // A pidfd becomes readable when the process exits.
    let _ = tokio::time::timeout(limit, afd.readable()).await;
}

/// Wait for the container's exit through its monitor: (exit code, OOM-killed).
/// None if the monitor went away without saying (the caller reads exit.json).
pub async fn wait_exit(socket: &Path) -> Option<(i32, bool)> {
    let s = connect(socket, "wait").await.ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.ok()?;
    let v: serde_json::Value = serde_json::from_str(&line).ok()?;
    Some((
        v["exit_code"].as_i64()? as i32,
        v["oom_killed"].as_bool().unwrap_or(false),
    ))
}

pub async fn resize(socket: &Path, h: u32, w: u32) -> ApiResult<()> {
    let s = connect(socket, &format!("resize {h} {w}"))
        .await
        .map_err(|e| ApiError::internal(format!("resize: {e}")))?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let _ = r.read_line(&mut line).await;
    match line.trim() {
        "ok" => Ok(()),
        other => Err(ApiError::internal(
            other.trim_start_matches("error ").to_string(),
        )),
    }
}

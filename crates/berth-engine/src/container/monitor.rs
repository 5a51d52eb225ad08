//! The per-container monitor (`berth-runc monitor`) from the daemon's
//! side: spawning it, the start handshake, and the attach/wait/resize
//! connections on its socket — all in berth-monitor's typed protocol.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_monitor::protocol::{self, Failure, Reply, Request};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{ChildStdin, ChildStdout};

use crate::model::StartFailure;
use crate::{Error, ErrorKind, Result};

/// The runtime binary: `$BERTH_RUNC`, else next to the daemon, else on PATH.
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

/// A start that failed in the runtime: Docker's message and the typed
/// reason (the container's exit code: 127, 126 or 128).
#[derive(Clone, Debug)]
pub struct StartError {
    pub error: Error,
    pub failure: StartFailure,
}

impl From<Error> for StartError {
    fn from(error: Error) -> Self {
        StartError {
            error,
            failure: StartFailure::Other,
        }
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        Error::from(e).into()
    }
}

/// A runtime failure in dockerd's words (the docker CLI maps "executable
/// file not found" / "no such file or directory" to 127 and "permission
/// denied" to 126 from this text, so it must read the same).
fn runtime_error(message: &str, failure: Failure) -> StartError {
    StartError {
        error: Error::new(
            ErrorKind::InvalidParameter,
            format!(
                "failed to create task for container: failed to create shim task: OCI runtime create failed: {message}: unknown"
            ),
        ),
        failure: match failure {
            Failure::NotFound => StartFailure::NotFound,
            Failure::NotExecutable => StartFailure::NotExecutable,
            Failure::Other => StartFailure::Other,
        },
    }
}

/// A monitor between "created" and "started".
pub struct Pending {
    pub pid: i32,
    pub monitor_pid: i32,
    ctl_in: ChildStdin,
    ctl_out: BufReader<ChildStdout>,
}

async fn read_reply(r: &mut BufReader<ChildStdout>) -> std::result::Result<Reply, String> {
    let mut line = String::new();
    match r.read_line(&mut line).await {
        Ok(0) | Err(_) => Err("the container monitor exited unexpectedly".into()),
        Ok(_) => Reply::parse(&line),
    }
}

/// Start the monitor; it creates the container and waits for [`Pending::start`].
pub async fn spawn(s: Spawn<'_>) -> std::result::Result<Pending, StartError> {
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
        .map_err(|e| Error::system(format!("start the container monitor: {e}")))?;
    let monitor_pid = child.id().unwrap_or(0) as i32;
    let ctl_in = child.stdin.take().expect("piped");
    let mut ctl_out = BufReader::new(child.stdout.take().expect("piped"));
    // The monitor outlives this request (and the daemon): reap it in the background.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    match read_reply(&mut ctl_out).await {
        Ok(Reply::Created { pid }) => Ok(Pending {
            pid,
            monitor_pid,
            ctl_in,
            ctl_out,
        }),
        Ok(Reply::Failed { error, failure }) => Err(runtime_error(&error, failure)),
        Ok(other) => Err(Error::system(format!("monitor: unexpected {other:?}")).into()),
        Err(e) => {
            // What the monitor said before dying is the useful part.
            let said = std::fs::read_to_string(s.bundle.join("monitor.log")).unwrap_or_default();
            Err(Error::system(match said.trim() {
                "" => e,
                said => format!("{e}: {said}"),
            })
            .into())
        }
    }
}

impl Pending {
    /// Let the container's process run.
    pub async fn start(mut self) -> std::result::Result<(), StartError> {
        self.ctl_in
            .write_all(format!("{}\n", protocol::START).as_bytes())
            .await?;
        match read_reply(&mut self.ctl_out).await.map_err(Error::system)? {
            Reply::Started { .. } => Ok(()),
            Reply::Failed { error, failure } => Err(runtime_error(&error, failure)),
            other => Err(Error::system(format!("monitor: unexpected {other:?}")).into()),
        }
    }
}

/// Open a request connection to a monitor.
pub async fn connect(socket: &Path, request: Request) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket).await?;
    s.write_all(request.to_line().as_bytes()).await?;
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

/// Wait for the container's exit through its monitor. None if the monitor
/// went away without saying (the caller reads exit.json).
pub async fn wait_exit(socket: &Path) -> Option<protocol::ExitLine> {
    let s = connect(socket, Request::Wait).await.ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.ok()?;
    protocol::ExitLine::parse(&line)
}

pub async fn resize(socket: &Path, height: u16, width: u16) -> Result<()> {
    let s = connect(socket, Request::Resize { height, width })
        .await
        .map_err(|e| Error::system(format!("resize: {e}")))?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await?;
    protocol::parse_resize_answer(&line).map_err(Error::system)
}

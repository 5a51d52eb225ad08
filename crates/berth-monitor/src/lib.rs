//! berth's per-container monitor (`berth-runc monitor`), the counterpart of
//! containerd's shim: one small single-threaded process per running container.
//!
//! It creates the container as its own child (through the runtime library),
//! holds the container's stdio pipes or pty master, writes the json-file log,
//! serves attach/wait/resize on its socket (`--socket`, default
//! `<dir>/monitor.sock`), and records the exit
//! status in `<dir>/exit.json` — so a container keeps running and logging while
//! berthd restarts or crashes. It runs in its own session, outside berthd's.
//!
//! ## Protocol with the daemon
//! Startup, on the monitor's stdin/stdout (pipes from berthd), one JSON line each:
//! `{"pid":N}` once created (or `{"error":"…"}` and exit), then the daemon
//! connects its attach streams and writes `start\n`; the monitor answers
//! `{"started":true}` or `{"error":"…"}`. EOF instead of `start` cancels.
//!
//! The socket: each connection sends one request line:
//! * `attach <stdin> <stdout> <stderr>` (0/1 each): output follows in Docker's
//!   8-byte multiplexed frames (raw bytes with a tty); bytes sent by the client
//!   go to the container's stdin; the connection closes when the container exits.
//! * `wait`: answered with the exit line `{"exit_code":N,"oom_killed":b}` at exit.
//! * `resize <height> <width>`: sets the pty size; answered `ok`.

mod exit;
mod logfile;
pub mod protocol;
mod serve;

use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use berth_runtime::container::{CreateOptions, Runtime};

pub use exit::ExitRecord;

/// What the daemon tells the monitor.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The runtime's state root.
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    pub id: String,
    pub bundle: PathBuf,
    /// Where exit.json lives.
    pub dir: PathBuf,
    /// The attach/wait/resize socket (a unix socket path must stay under 108 bytes).
    pub socket: PathBuf,
    /// Give the container a stdin (`-i`); otherwise it reads /dev/null.
    pub stdin: bool,
    /// Close the container's stdin when the first attached client's stdin ends.
    pub stdin_once: bool,
    /// The json-file log; none with `--log-driver none`.
    pub log_path: Option<PathBuf>,
    pub log_max_size: u64,
    pub log_max_file: u32,
}

/// Run the monitor; returns its exit code.
pub fn run(o: Options) -> i32 {
    // A container that may ptrace us needs the runtime to re-execute itself
    // from a sealed copy (CVE-2019-5736); do it now, while fds 0-2 are still
    // the daemon's pipes, not in the middle of create.
    let spec = std::fs::read(o.bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<oci_spec::runtime::Spec>(&b).ok());
    let terminal = spec
        .as_ref()
        .and_then(|s| s.process().as_ref()?.terminal())
        .unwrap_or(false);
    if let Some(spec) = &spec
        && berth_runtime::exeseal::ptrace_exposed(spec, None)
        && let Err(e) = berth_runtime::exeseal::reexec::ensure_sealed(&o.dir)
    {
        let _ = write!(
            std::io::stdout(),
            "{}",
            protocol::Reply::failed(&e).to_line()
        );
        return 1;
    }
    // The control pipes from the daemon, then fds 0 and 1 become /dev/null.
    let ctl_in = dup_cloexec(0);
    let ctl_out = dup_cloexec(1);
    let (Some(ctl_in), Some(ctl_out)) = (ctl_in, ctl_out) else {
        return 1;
    };
    let mut ctl_out = std::fs::File::from(ctl_out);
    let mut ctl_in = std::io::BufReader::new(std::fs::File::from(ctl_in));
    let _ = nix::unistd::setsid();
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    let reply = |out: &mut std::fs::File, r: protocol::Reply| {
        let _ = out.write_all(r.to_line().as_bytes());
        let _ = out.flush();
    };
    match setup(&o, terminal) {
        Err(e) => {
            reply(&mut ctl_out, e);
            1
        }
        Ok(mut m) => {
            reply(&mut ctl_out, protocol::Reply::Created { pid: m.held.pid() });
            let mut line = String::new();
            let go = ctl_in.read_line(&mut line).is_ok() && line.trim() == protocol::START;
            if !go {
                m.abort();
                return 1;
            }
            m.accept_pending();
            if let Err(e) = m.rt.start_held(&m.held) {
                reply(&mut ctl_out, protocol::Reply::failed(&e));
                m.cleanup_failed_start();
                return 1;
            }
            reply(&mut ctl_out, protocol::Reply::Started { started: true });
            drop(ctl_out);
            drop(ctl_in);
            m.serve();
            0
        }
    }
}

fn dup_cloexec(fd: i32) -> Option<OwnedFd> {
    // SAFETY: fd is one of our standard descriptors, open for the process lifetime.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: a descriptor fcntl just returned is ours.
    (r >= 0).then(|| unsafe { OwnedFd::from_raw_fd(r) })
}

/// A pipe with both ends close-on-exec.
fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

fn dup2(from: &impl AsRawFd, to: i32) -> Result<(), String> {
    // SAFETY: both descriptors are valid; dup2 onto a standard descriptor.
    if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
        return Err(format!("dup2: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Create the container with its stdio connected to us.
/// `terminal`: the bundle's process wants a pty.
fn setup(o: &Options, terminal: bool) -> Result<serve::Monitor, protocol::Reply> {
    let sock = &o.socket;
    let _ = std::fs::remove_file(sock);
    let listener =
        UnixListener::bind(sock).map_err(|e| format!("listen on {}: {e}", sock.display()))?;
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    let mut outputs = Vec::new();
    let mut stdin_w = None;
    // Our own stderr (the daemon's monitor log) survives the stdio switch.
    let own_err = dup_cloexec(2);
    if !terminal {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        if o.stdin {
            let (in_r, in_w) = pipe()?;
            dup2(&in_r, 0)?;
            stdin_w = Some(in_w);
        } else {
            dup2(&devnull, 0)?;
        }
        dup2(&out_w, 1)?;
        dup2(&err_w, 2)?;
        outputs.push((1u8, out_r));
        outputs.push((2u8, err_r));
    } else {
        for fd in 0..3 {
            dup2(&devnull, fd)?;
        }
    }
    let mut rt = Runtime::new(&o.root);
    rt.systemd_cgroup = o.systemd_cgroup;
    let created = rt.create_held(&CreateOptions {
        id: o.id.clone(),
        bundle: o.bundle.clone(),
        ..Default::default()
    });
    // Back to /dev/null: the container holds the only copies of its pipe ends.
    for fd in 0..2 {
        let _ = dup2(&devnull, fd);
    }
    match &own_err {
        Some(e) => {
            let _ = dup2(e, 2);
        }
        None => {
            let _ = dup2(&devnull, 2);
        }
    }
    let mut held = created.map_err(|e| protocol::Reply::failed(&e))?;
    let master = held.take_console().map_err(|e| e.to_string())?;
    if let Some(m) = &master {
        outputs.push((1u8, m.try_clone().map_err(|e| e.to_string())?));
    }
    let log = match &o.log_path {
        Some(p) => Some(
            logfile::LogFile::open(p, o.log_max_size, o.log_max_file)
                .map_err(|e| format!("open log {}: {e}", p.display()))?,
        ),
        None => None,
    };
    Ok(serve::Monitor::new(
        o.clone(),
        rt,
        held,
        listener,
        outputs,
        stdin_w,
        master,
        log,
    ))
}

//! Shared harness for the runtime behaviour tests.
//!
//! The runtime under test is berth-runc, or whatever `BERTH_TEST_RUNTIME` names
//! (`runc` to check the tests against the reference). Every test gets its own
//! state root; containers are force-deleted when the harness drops, and
//! `assert_clean` checks that nothing of a container is left on the host.
#![allow(dead_code)]

pub mod bundle;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use bundle::{Bundle, unique_id};

/// The runtime binary under test.
pub fn runtime_bin() -> String {
    match std::env::var("BERTH_TEST_RUNTIME") {
        Ok(r) if !r.is_empty() => r,
        _ => env!("CARGO_BIN_EXE_berth-runc").to_string(),
    }
}

/// Whether the runtime under test is berth-runc (some tests check berth's own
/// promises, which runc does not make; they say so and return).
pub fn is_berth() -> bool {
    Path::new(&runtime_bin())
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("berth-runc"))
}

/// Skip (visibly) a test of a berth-specific behaviour when testing another runtime.
#[macro_export]
macro_rules! berth_only {
    () => {
        if !common::is_berth() {
            eprintln!(
                "SKIPPED: berth-specific behaviour, not checked against {}",
                common::runtime_bin()
            );
            return;
        }
    };
}

/// Skip (visibly) when not root: the runtime tests need root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
    };
}

/// One test's runtime instance.
pub struct Rt {
    pub bin: String,
    pub root: tempfile::TempDir,
    ids: std::sync::Mutex<Vec<String>>,
}

impl Rt {
    pub fn new() -> Rt {
        // Orphaned container processes are reparented to us, and reaped on drop.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        Rt {
            bin: runtime_bin(),
            root: tempfile::Builder::new()
                .prefix("berth-test-root-")
                .tempdir()
                .unwrap(),
            ids: Default::default(),
        }
    }

    /// Use a private copy of the runtime binary (no other process runs it).
    pub fn with_private_binary(mut self, dir: &Path) -> Rt {
        let src = which(&self.bin);
        let dst = dir.join(src.file_name().unwrap());
        std::fs::copy(&src, &dst).unwrap();
        self.bin = dst.to_string_lossy().into_owned();
        self
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A command of the runtime with `--root` set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root()).args(args);
        c
    }

    /// Remember `id` for cleanup.
    pub fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_string());
    }

    /// Run a runtime command to completion with stdin closed. Meanwhile, zombies
    /// of container processes reparented to us are reaped, as a shim would: a
    /// dying container init waits for them (delete --force would stall).
    pub fn exec(&self, args: &[&str]) -> Output {
        let (child, _guard) = Spawned::spawn(
            self.cmd(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                let out = child.wait_with_output().unwrap();
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                out
            });
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                Spawned::reap_others();
                std::thread::sleep(Duration::from_millis(10));
            }
            h.join().unwrap()
        })
    }

    /// Run, asserting success.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "{} {:?} failed: {}\nstdout: {}\nstderr: {}",
            self.bin,
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `run` a bundle in the foreground: (exit code, stdout, stderr).
    pub fn run(&self, id: &str, b: &Bundle) -> (i32, String, String) {
        self.track(id);
        let out = self.exec(&["run", "--bundle", b.path().to_str().unwrap(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `create` a bundle. The container process keeps the runtime's stdio, so
    /// they go to a file of the bundle (`<bundle>/out`, see [`Rt::output`]), never
    /// to a pipe a test would wait on. The returned output holds what the runtime
    /// itself printed.
    pub fn create(&self, id: &str, b: &Bundle) -> Output {
        self.create_with(id, b, &[])
    }

    pub fn create_with(&self, id: &str, b: &Bundle, extra: &[&str]) -> Output {
        self.track(id);
        let out_path = b.path().join("out");
        let f = std::fs::File::create(&out_path).unwrap();
        let mut args = vec!["create", "--bundle", b.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(id);
        let status = Spawned::status(
            self.cmd(&args)
                .stdin(Stdio::null())
                .stdout(f.try_clone().unwrap())
                .stderr(f),
        );
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(&out_path).unwrap_or_default(),
        }
    }

    /// A command that leaves a process behind (`exec -d`): its stdio go to a
    /// file of the bundle, as with [`Rt::create`].
    pub fn exec_detached(&self, args: &[&str], b: &Bundle) -> Output {
        let out_path = b.path().join("out-detached");
        let f = std::fs::File::create(&out_path).unwrap();
        let status = Spawned::status(
            self.cmd(args)
                .stdin(Stdio::null())
                .stdout(f.try_clone().unwrap())
                .stderr(f),
        );
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(&out_path).unwrap_or_default(),
        }
    }

    pub fn create_captured(&self, id: &str, b: &Bundle) -> Output {
        self.create(id, b)
    }

    pub fn output(b: &Bundle) -> String {
        std::fs::read_to_string(b.path().join("out")).unwrap_or_default()
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let out = self.exec(&["state", id]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Wait until the container reaches `status`.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.status(id) == status {
                return true;
            }
            reap();
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Nothing of container `id` remains: no state, no cgroup, no mount.
    pub fn assert_clean(&self, id: &str, b: &Bundle) {
        reap();
        assert!(
            !self.root().join(id).exists(),
            "state directory of {id} left behind"
        );
        let cgroups = cgroup_dirs(id);
        assert!(
            cgroups.is_empty(),
            "cgroups of {id} left behind: {cgroups:?}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let bundle = b.path().to_string_lossy().to_string();
        assert!(
            !mounts.lines().any(|l| l.contains(&bundle)),
            "mounts under {bundle} left behind"
        );
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap().iter() {
            let _ = self.exec(&["delete", "--force", id]);
            // A runtime that failed may have left a cgroup: never leave one.
            for d in cgroup_dirs(id) {
                let _ = std::fs::remove_dir(d);
            }
        }
        reap();
    }
}

/// Reap exited children (we are their subreaper), except runtime commands
/// another thread waits for.
pub fn reap() {
    Spawned::reap_others();
}

/// Runtime commands being waited for by a `Child` (not to be reaped by others).
struct Spawned(i32);

static SPAWNED: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

impl Spawned {
    /// Spawn and register under the lock the reaper holds, so a child that
    /// exits at once is never reaped by another thread before it is known.
    fn spawn(c: &mut Command) -> (std::process::Child, Spawned) {
        let mut list = SPAWNED.lock().unwrap_or_else(|e| e.into_inner());
        let child = c.spawn().unwrap();
        list.push(child.id() as i32);
        let pid = child.id() as i32;
        (child, Spawned(pid))
    }

    /// Run to completion, safe from other threads' reaping.
    fn status(c: &mut Command) -> std::process::ExitStatus {
        let (mut child, _guard) = Spawned::spawn(c);
        child.wait().unwrap()
    }

    /// Reap zombie children that no `Child` waits for.
    fn reap_others() {
        let list = SPAWNED.lock().unwrap_or_else(|e| e.into_inner());
        reap_zombies_except(&list);
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        SPAWNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.0);
    }
}

/// Reap our zombie children other than `except` (which std's `Child` waits for).
pub fn reap_zombies_except(except: &[i32]) {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if except.contains(&pid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split(' ');
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<i32>().ok()));
        if state == Some("Z") && ppid == Some(me) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// Cgroup directories named after a container, in any hierarchy.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    for h in rd.flatten() {
        let p = h.path().join(id);
        if p.exists() {
            out.push(p);
        }
        let direct = Path::new("/sys/fs/cgroup").join(id);
        if direct.exists() && !out.contains(&direct) {
            out.push(direct);
        }
    }
    out
}

/// The cgroup directory of a container for a v1 controller on this host.
pub fn v1_dir(controller: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(controller).join(id)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Receive one file descriptor over a unix stream (SCM_RIGHTS), as a console
/// socket's listener does.
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS gave this process a new descriptor it owns.
            return unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no file descriptor received");
}

/// The path of a program on PATH (or given as a path), if it exists.
pub fn find(bin: &str) -> Option<PathBuf> {
    if bin.contains('/') {
        return Some(PathBuf::from(bin)).filter(|p| p.exists());
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

/// The path of a program named on the command line.
pub fn which(bin: &str) -> PathBuf {
    if bin.contains('/') {
        return PathBuf::from(bin);
    }
    find(bin).unwrap_or_else(|| panic!("{bin} not found in PATH"))
}

/// Wait until `p` exists (a marker a container writes once it is ready).
pub fn wait_for_file(p: &Path, limit: Duration) {
    let t = Instant::now();
    while !p.exists() {
        assert!(t.elapsed() < limit, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` until it gives `Some`, at most `limit`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

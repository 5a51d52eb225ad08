//! Benchmark: ship — pull, push and `run` of an absent image, berth against
//! dockerd, side by side in one run, both against one local registry.
//!
//!     cargo build --release && cargo bench -p berthd --bench ship [-- ROUNDS]
//!
//! The registry (docker-registry on 127.0.0.1, the test harness's, plain
//! HTTP) is seeded once with the 3-layer Debian image (a 217 MiB archive,
//! 82 MiB as gzip layers by skopeo) and busybox. The docker CLI is the client of both engines.
//! Each engine runs on private daemons (socket, data root, exec root,
//! pidfile, cgroup parent, dockerd's own containerd and namespace, all under
//! /tmp/berth-bench-ship-<pid>), no bridge. Per round, engines interleaved
//! (the order alternates):
//! 1. cold pull of the Debian image on a daemon started for it on a fresh
//!    data root (never one something was deleted from: ext4 allocates inodes
//!    slowly for minutes after many were deleted, which would inflate the
//!    time), after a `sync`; the daemon's peak RSS (VmHWM) afterwards.
//! 2. `run --rm <registry>/bench/busybox:latest true` on that daemon, which
//!    does not have busybox: pull, create, start, wait, remove.
//! 3. push of the Debian image, `docker load`ed from the archive into
//!    another fresh daemon (so that both engines compress the layers), to a
//!    repository of its own (bench-push-<engine>-<round>), after a `sync`.
//!
//! Before each timed step: a `sync` and a wait until the daemons are idle.
//! Daemon start and stop, load, sync and the wait are not timed. Data roots are
//! deleted only at the very end, with everything else (processes, mounts,
//! cgroups, the registry, directories), also when a step fails or on ^C.
//! That final deletion slows the next minutes on the same filesystem: leave
//! a few minutes between runs.
//!
//! Needs root, target/release/{berth,berthd,berth-runc}, /usr/sbin/dockerd,
//! the docker CLI, docker-registry, skopeo and busybox-static; the Debian
//! image is built once into /var/cache/berth-test (debootstrap) if need be.

#[path = "../tests/common/registry.rs"]
#[allow(dead_code)]
mod registry;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use registry::{Mode, Registry};

const DEFAULT_ROUNDS: usize = 5;
const DOCKERD: &str = "/usr/sbin/dockerd";
const DEBIAN_REPO: &str = "bench/debian:bookworm";
const BUSYBOX_REPO: &str = "bench/busybox:latest";

/// Targets: berth/docker time ratios, berthd's peak RSS during a pull (KiB).
const TARGET_PULL_RATIO: f64 = 1.0 / 3.0;
const TARGET_PUSH_RATIO: f64 = 0.5;
const TARGET_PULL_HWM_KB: u64 = 60 * 1024;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Children we wait for ourselves (daemons, the registry), which the orphan
/// reaper must leave alone.
static OWN_PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn check_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        panic!("interrupted");
    }
}

fn own(pid: i32) {
    OWN_PIDS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

fn disown(pid: i32) {
    OWN_PIDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&p| p != pid);
}

// ---------------------------------------------------------------- /proc helpers

struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
    comm: String,
}

fn procs() -> Vec<Proc> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push(Proc {
            pid,
            ppid,
            state,
            comm,
        });
    }
    out
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A `kB` field of /proc/<pid>/status (VmHWM: peak RSS, VmRSS).
fn status_kb(pid: i32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system, clock ticks) a process has used so far.
fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    // After the comm: state (field 3) …, utime is field 14, stime 15.
    stat[close + 1..]
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// Until the daemons (and dockerd's containerd) are idle: at most one clock
/// tick of CPU in 250 ms (a daemon just started, or one that just took a
/// load, may still be busy, which would slow the other engine's timed step
/// on this small machine). Gives up after 10 s.
fn settle(daemons: &[Daemon]) {
    let pids: Vec<i32> = daemons
        .iter()
        .flat_map(|d| std::iter::once(d.pid()).chain(d.containerd))
        .collect();
    let total = || pids.iter().map(|&p| cpu_ticks(p)).sum::<u64>();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = total();
    while Instant::now() < deadline {
        check_interrupted();
        std::thread::sleep(Duration::from_millis(250));
        let now = total();
        if now.saturating_sub(before) <= 1 {
            return;
        }
        before = now;
    }
}

fn descendants(root: i32) -> Vec<i32> {
    let all = procs();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in &all {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            out.push(c);
            stack.push(c);
        }
    }
    out
}

/// The processes whose command line contains `needle`.
fn find_procs(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    procs()
        .into_iter()
        .filter(|p| p.pid != me && cmdline(p.pid).contains(needle))
        .map(|p| p.pid)
        .collect()
}

/// We are a child subreaper (container monitors and shims re-parent to us):
/// collect the orphans that exited, leaving our own children to their `Child`.
fn reap_orphans() {
    let me = std::process::id() as i32;
    let keep = OWN_PIDS
        .lock()
        .map(|v| v.clone())
        .unwrap_or_else(|e| e.into_inner().clone());
    for p in procs() {
        if p.ppid == me && p.state == 'Z' && !keep.contains(&p.pid) {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(p.pid), None);
        }
    }
}

// ---------------------------------------------------------------- the workspace

/// The private directory and cgroups of this run; dropped last, it removes
/// whatever the engines left: processes, mounts, cgroups, files.
struct Workspace {
    dir: PathBuf,
    tag: String,
}

impl Workspace {
    fn new() -> Workspace {
        let tag = format!("berth-bench-ship-{}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the bench directory");
        Workspace { dir, tag }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn mounts(&self) -> Vec<String> {
        let prefix = format!("{}/", self.dir.display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|m| m.starts_with(&prefix) || *m == prefix.trim_end_matches('/'))
            .collect()
    }

    /// Every cgroup directory of ours (named after the tag), in any hierarchy
    /// and at any depth up to 6, with their sub-cgroups; deepest first.
    fn cgroups(&self) -> Vec<PathBuf> {
        fn all_under(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    all_under(&e.path(), out);
                    out.push(e.path());
                }
            }
        }
        fn walk(dir: &Path, tag: &str, depth: usize, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                if name == tag || name.starts_with(&format!("{tag}-")) {
                    all_under(&e.path(), out);
                    out.push(e.path());
                } else if depth > 0 {
                    walk(&e.path(), tag, depth - 1, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(Path::new("/sys/fs/cgroup"), &self.tag, 6, &mut out);
        out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        out
    }
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let dir = self.dir.to_string_lossy().into_owned();
        // Anything still running with our paths on its command line, or in our cgroups.
        for _ in 0..3 {
            let mut victims = find_procs(&dir);
            for cg in self.cgroups() {
                victims.extend(
                    std::fs::read_to_string(cg.join("cgroup.procs"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
            if victims.is_empty() {
                break;
            }
            for pid in victims {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(200));
            reap_orphans();
        }
        for _ in 0..5 {
            let mut mounts = self.mounts();
            if mounts.is_empty() {
                break;
            }
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        for cg in self.cgroups() {
            let _ = std::fs::remove_dir(&cg);
        }
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(&self.dir);
        reap_orphans();
        let left: Vec<String> = self
            .mounts()
            .into_iter()
            .chain(self.cgroups().iter().map(|p| p.display().to_string()))
            .chain(find_procs(&dir).iter().map(|p| format!("pid {p}")))
            .collect();
        if !left.is_empty() || self.dir.exists() {
            eprintln!(
                "warning: cleanup left behind: {left:?} (dir exists: {})",
                self.dir.exists()
            );
        } else {
            eprintln!(
                "cleaned up {} ({:.1} s to delete the data roots)",
                self.dir.display(),
                t.elapsed().as_secs_f64()
            );
        }
    }
}

// ---------------------------------------------------------------- daemons

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Berth,
    Docker,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Docker => "docker",
        }
    }
}

const KINDS: [Kind; 2] = [Kind::Berth, Kind::Docker];

/// What every daemon of the run shares.
struct Setup {
    ws_dir: PathBuf,
    tag: String,
    berthd: PathBuf,
    runc: PathBuf,
    docker_cli: PathBuf,
    cli_config: PathBuf,
}

/// One private daemon on a fresh directory, with the docker CLI bound to it.
/// Dropping it removes its containers and stops it (SIGTERM, then SIGKILL);
/// its directory stays until the workspace goes.
struct Daemon {
    kind: Kind,
    dir: PathBuf,
    host: String,
    cli: PathBuf,
    cli_config: PathBuf,
    child: Option<Child>,
    /// dockerd's own containerd.
    containerd: Option<i32>,
}

impl Daemon {
    /// Starts `kind` on `<workspace>/<name>` (which must not exist) and
    /// waits until it answers /_ping.
    fn start(s: &Setup, kind: Kind, name: &str) -> Daemon {
        check_interrupted();
        let dir = s.ws_dir.join(name);
        assert!(!dir.exists(), "{} exists already", dir.display());
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("sock");
        let host = format!("unix://{}", sock.display());
        let p = |n: &str| dir.join(n).into_os_string();
        let (program, args, envs, timeout) = match kind {
            Kind::Berth => (
                s.berthd.clone(),
                vec![
                    "-H".into(),
                    host.clone().into(),
                    "--data-root".into(),
                    p("data"),
                    "--exec-root".into(),
                    p("exec"),
                    "--pidfile".into(),
                    p("pid"),
                    "--config-file".into(),
                    s.ws_dir.join("berthd-none.json").into_os_string(),
                    "--cgroup-parent".into(),
                    s.tag.clone().into(),
                    "--bridge".into(),
                    "none".into(),
                ],
                vec![("BERTH_RUNC", s.runc.clone())],
                Duration::from_secs(30),
            ),
            Kind::Docker => (
                PathBuf::from(DOCKERD),
                vec![
                    "-H".into(),
                    host.clone().into(),
                    "--data-root".into(),
                    p("data"),
                    "--exec-root".into(),
                    p("exec"),
                    "--pidfile".into(),
                    p("pid"),
                    "--config-file".into(),
                    s.ws_dir.join("dockerd.json").into_os_string(),
                    "--iptables=false".into(),
                    "--ip6tables=false".into(),
                    "--bridge=none".into(),
                    "--ip-forward=false".into(),
                    "--ip-masq=false".into(),
                    "--storage-driver".into(),
                    "overlay2".into(),
                    "--containerd-namespace".into(),
                    s.tag.clone().into(),
                    "--containerd-plugins-namespace".into(),
                    format!("{}-plugins", s.tag).into(),
                    "--cgroup-parent".into(),
                    format!("{}-docker", s.tag).into(),
                ],
                vec![],
                Duration::from_secs(60),
            ),
        };
        let log = std::fs::File::create(dir.join("log")).expect("create the daemon log");
        let mut c = Command::new(&program);
        c.args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the log"))
            .stderr(log)
            .env("NO_COLOR", "1")
            // Its own process group: a ^C reaches only us, and we clean up.
            .process_group(0);
        for (k, v) in &envs {
            c.env(k, v);
        }
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        own(child.id() as i32);
        let mut d = Daemon {
            kind,
            dir,
            host,
            cli: s.docker_cli.clone(),
            cli_config: s.cli_config.clone(),
            child: Some(child),
            containerd: None,
        };
        let deadline = Instant::now() + timeout;
        while !ping(&sock) {
            check_interrupted();
            if let Some(Ok(Some(st))) = d.child.as_mut().map(|c| c.try_wait()) {
                panic!("{} exited ({st}):\n{}", program.display(), d.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer /_ping in {timeout:?}:\n{}",
                program.display(),
                d.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if kind == Kind::Docker {
            let all = procs();
            d.containerd = descendants(d.pid())
                .into_iter()
                .find(|&p| all.iter().any(|q| q.pid == p && q.comm == "containerd"));
        }
        d
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The docker CLI against this daemon.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.cli);
        c.args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.cli_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .stdin(Stdio::null());
        c
    }

    /// Runs to completion; panics (so that the guards clean up) on failure.
    fn ok(&self, args: &[&str]) -> Output {
        check_interrupted();
        let o = self
            .cmd(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.cli.display()));
        if !o.status.success() {
            panic!(
                "{}: `docker {}` failed ({}): {}\ndaemon log:\n{}",
                self.kind.name(),
                args.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim(),
                self.log_tail()
            );
        }
        o
    }

    /// `sync` (not timed), then the command, timed.
    fn timed(&self, args: &[&str]) -> Duration {
        check_interrupted();
        nix::unistd::sync();
        let t = Instant::now();
        self.ok(args);
        t.elapsed()
    }

    /// For cleanup paths: never panics, never hangs.
    fn best_effort(&self, args: &[&str], timeout: Duration) -> Option<Output> {
        let mut child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return child.wait_with_output().ok(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Peak RSS of the daemon process so far (KiB).
    fn hwm(&self) -> Option<u64> {
        status_kb(self.pid(), "VmHWM")
    }

    /// Resets the daemon's peak RSS to its current RSS (`5 > clear_refs`).
    fn reset_hwm(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    fn containerd_hwm(&self) -> Option<u64> {
        self.containerd.and_then(|p| status_kb(p, "VmHWM"))
    }

    /// The image ID of `reference`.
    fn image_id(&self, reference: &str) -> String {
        let o = self.ok(&["image", "inspect", "--format", "{{.Id}}", reference]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if alive {
            for _ in 0..3 {
                let ids: Vec<String> = self
                    .best_effort(&["ps", "-aq"], Duration::from_secs(30))
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .split_whitespace()
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                if ids.is_empty() {
                    break;
                }
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                self.best_effort(&args, Duration::from_secs(60));
            }
        }
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            disown(pid);
        }
        if let Some(pid) = self.containerd.take() {
            // dockerd stops its containerd on SIGTERM; make sure of it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                reap_orphans();
                std::thread::sleep(Duration::from_millis(20));
            }
            if Path::new(&format!("/proc/{pid}")).exists()
                && cmdline(pid).contains(&*self.dir.to_string_lossy())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        reap_orphans();
    }
}

fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r = String::from_utf8_lossy(&buf);
    (r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200")) && r.ends_with("OK")
}

// ---------------------------------------------------------------- statistics

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn opt_mib(kb: Option<u64>) -> String {
    kb.map(mib).unwrap_or_else(|| "n/a".into())
}

/// "median (max)" of peak RSS values (KiB), or n/a.
fn hwm_summary(v: &[Option<u64>]) -> String {
    let got: Vec<u64> = v.iter().flatten().copied().collect();
    if got.is_empty() {
        return "n/a".into();
    }
    let med = median(got.iter().map(|&x| x as f64).collect()).round() as u64;
    format!(
        "{} (max {})",
        mib(med),
        mib(got.iter().copied().max().unwrap())
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

// ---------------------------------------------------------------- setup

fn target_dir(manifest_dir: &Path) -> PathBuf {
    let workspace = manifest_dir.join("../..");
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => workspace.join(d),
        None => workspace.join("target"),
    }
}

/// The newest modification time of the workspace's Rust sources (crates/*/src).
fn newest_source(crates: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack: Vec<PathBuf> = std::fs::read_dir(crates)
        .ok()?
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                newest = newest.max(e.metadata().ok().and_then(|m| m.modified().ok()));
            }
        }
    }
    newest
}

fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn fail(msg: &str) -> ! {
    eprintln!("ship bench: {msg}");
    std::process::exit(1);
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
        .max(1);
    if !nix::unistd::geteuid().is_root() {
        fail("needs root (private daemons, mounts, cgroups)");
    }
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let release = target_dir(&manifest_dir).join("release");
    let bins = ["berth", "berthd", "berth-runc"].map(|b| release.join(b));
    if let Some(missing) = bins.iter().find(|b| !b.exists()) {
        fail(&format!(
            "{} is missing: build the release binaries first (cargo build --release)",
            missing.display()
        ));
    }
    let [_, berthd_bin, runc_bin] = bins;
    let built = std::fs::metadata(&berthd_bin)
        .and_then(|m| m.modified())
        .ok();
    if newest_source(&manifest_dir.join("..")) > built {
        eprintln!(
            "warning: sources are newer than {}: run cargo build --release",
            berthd_bin.display()
        );
    }
    let Some(docker_cli) = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        fail("the docker CLI is not installed");
    };
    if !Path::new(DOCKERD).exists() {
        fail(&format!("{DOCKERD} is missing (apt-get install docker.io)"));
    }
    for (bin, package) in [("docker-registry", "docker-registry"), ("skopeo", "skopeo")] {
        if registry::which(bin).is_none() {
            fail(&format!(
                "{bin} is not installed (apt-get install {package})"
            ));
        }
    }

    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_sigint as *const () as libc::sighandler_t);
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let ws = Workspace::new();
    // The registry's temp dir (config, storage, logs) goes in the workspace too.
    let _ = tempfile::env::override_temp_dir(&ws.dir);
    let setup = Setup {
        ws_dir: ws.dir.clone(),
        tag: ws.tag.clone(),
        berthd: berthd_bin,
        runc: runc_bin,
        docker_cli,
        cli_config: ws.path("cli-config"),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bench(&setup, rounds)));
    drop(ws);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// What one engine measured over the rounds.
#[derive(Default)]
struct Results {
    pull: Vec<f64>,
    pull_hwm: Vec<Option<u64>>,
    pull_containerd_hwm: Vec<Option<u64>>,
    run: Vec<f64>,
    load: Vec<f64>,
    load_hwm: Vec<Option<u64>>,
    push: Vec<f64>,
    push_hwm: Vec<Option<u64>>,
    /// RSS when the push started (the peak's floor after the reset).
    push_rss_before: Vec<Option<u64>>,
    /// Compressed bytes of the layers pushed (from the manifest pushed).
    pushed_bytes: Vec<u64>,
    pushed_media: Vec<String>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The layers of a manifest (schema 2 or OCI): (total size, media types).
fn manifest_layers(m: &serde_json::Value) -> (usize, u64, Vec<String>) {
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    let size = layers.iter().filter_map(|l| l["size"].as_u64()).sum();
    let mut media: Vec<String> = layers
        .iter()
        .filter_map(|l| l["mediaType"].as_str().map(String::from))
        .collect();
    media.dedup();
    (layers.len(), size, media)
}

fn bench(s: &Setup, rounds: usize) {
    std::fs::create_dir_all(&s.cli_config).unwrap();
    std::fs::write(s.cli_config.join("config.json"), "{}").unwrap();
    std::fs::write(s.ws_dir.join("dockerd.json"), "{}").unwrap();

    println!(
        "ship bench: {rounds} rounds, workspace {}",
        s.ws_dir.display()
    );
    println!(
        "  berth  {}\n  docker {} / CLI {}",
        s.berthd.display(),
        version(Path::new(DOCKERD)),
        version(&s.docker_cli),
    );

    // ------------------------------------------------ the registry, seeded once
    let Some(debian) = registry::debian_archive() else {
        panic!("the Debian image is not available (see above)");
    };
    let busybox = registry::busybox_archive();
    let t = Instant::now();
    let Some(reg) = Registry::start(Mode::Plain) else {
        panic!("the local registry did not start (see above)");
    };
    own(reg.pid());
    println!(
        "registry: docker-registry on {} (pid {}), up in {:.0} ms",
        reg.addr(),
        reg.pid(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let t = Instant::now();
    reg.push_archive(&debian, DEBIAN_REPO);
    reg.push_archive(&busybox, BUSYBOX_REPO);
    let seeded = reg
        .inspect_raw(DEBIAN_REPO)
        .unwrap_or_else(|e| panic!("the seeded image: {e}"));
    let (nlayers, seeded_bytes, seeded_media) = manifest_layers(&seeded);
    let archive_mib =
        std::fs::metadata(&debian).map(|m| m.len()).unwrap_or(0) as f64 / 1024.0 / 1024.0;
    let seeded_mib = seeded_bytes as f64 / 1024.0 / 1024.0;
    println!(
        "seeded {DEBIAN_REPO} ({archive_mib:.0} MiB archive, {nlayers} layers, \
         {seeded_mib:.1} MiB compressed: {}) and {BUSYBOX_REPO} with skopeo in {:.1} s",
        seeded_media.join(", "),
        t.elapsed().as_secs_f64()
    );
    let debian_ref = reg.image(DEBIAN_REPO);
    let busybox_ref = reg.image(BUSYBOX_REPO);
    let debian_tar = debian.to_string_lossy().into_owned();

    let mut res: HashMap<Kind, Results> = KINDS.iter().map(|&k| (k, Results::default())).collect();
    let mut pulled_ids: Vec<(Kind, String)> = Vec::new();
    let mut berthd_logs: Vec<PathBuf> = Vec::new();

    for round in 0..rounds {
        // Alternate which engine goes first.
        let order: Vec<Kind> = if round % 2 == 0 {
            KINDS.to_vec()
        } else {
            KINDS.iter().rev().copied().collect()
        };

        // 1. cold pull, then 2. run of an absent image, on fresh daemons.
        let daemons: Vec<Daemon> = order
            .iter()
            .map(|&k| Daemon::start(s, k, &format!("{}-pull-{round}", k.name())))
            .collect();
        for d in &daemons {
            settle(&daemons);
            let t = d.timed(&["pull", &debian_ref]);
            let r = res.get_mut(&d.kind).unwrap();
            r.pull.push(secs(t));
            r.pull_hwm.push(d.hwm());
            r.pull_containerd_hwm.push(d.containerd_hwm());
            if round == 0 {
                pulled_ids.push((d.kind, d.image_id(&debian_ref)));
            }
        }
        for d in &daemons {
            settle(&daemons);
            let t = d.timed(&["run", "--rm", &busybox_ref, "true"]);
            res.get_mut(&d.kind).unwrap().run.push(secs(t));
        }
        berthd_logs.extend(
            daemons
                .iter()
                .filter(|d| d.kind == Kind::Berth)
                .map(|d| d.dir.join("log")),
        );
        drop(daemons);
        reap_orphans();

        // 3. push of a loaded image, on other fresh daemons.
        let daemons: Vec<Daemon> = order
            .iter()
            .map(|&k| Daemon::start(s, k, &format!("{}-push-{round}", k.name())))
            .collect();
        for d in &daemons {
            nix::unistd::sync();
            let t = Instant::now();
            d.ok(&["load", "-i", &debian_tar]);
            let r = res.get_mut(&d.kind).unwrap();
            r.load.push(secs(t.elapsed()));
            r.load_hwm.push(d.hwm());
        }
        for d in &daemons {
            let repo = format!("bench-push-{}-{round}:bookworm", d.kind.name());
            let target = reg.image(&repo);
            d.ok(&["tag", "debian:bookworm", &target]);
            settle(&daemons);
            // The push's own peak, not the load's.
            d.reset_hwm();
            let rss_before = status_kb(d.pid(), "VmRSS");
            let t = d.timed(&["push", &target]);
            let pushed = reg
                .inspect_raw(&repo)
                .unwrap_or_else(|e| panic!("{}: the pushed {repo}: {e}", d.kind.name()));
            let (n, bytes, media) = manifest_layers(&pushed);
            assert_eq!(n, nlayers, "{}: pushed {repo}: {pushed}", d.kind.name());
            let r = res.get_mut(&d.kind).unwrap();
            r.push.push(secs(t));
            r.push_hwm.push(d.hwm());
            r.push_rss_before.push(rss_before);
            r.pushed_bytes.push(bytes);
            r.pushed_media = media;
        }
        berthd_logs.extend(
            daemons
                .iter()
                .filter(|d| d.kind == Kind::Berth)
                .map(|d| d.dir.join("log")),
        );
        drop(daemons);
        reap_orphans();

        let b = &res[&Kind::Berth];
        let k = &res[&Kind::Docker];
        println!(
            "round {}/{rounds}: pull berth {:.2} s docker {:.2} s | run absent berth {:.2} s \
             docker {:.2} s | push berth {:.2} s docker {:.2} s",
            round + 1,
            b.pull[round],
            k.pull[round],
            b.run[round],
            k.run[round],
            b.push[round],
            k.push[round],
        );
    }
    if let [(_, a), (_, b)] = &pulled_ids[..] {
        assert_eq!(a, b, "the engines pulled different images");
    }
    drop(reg);

    // ------------------------------------------------ report
    let b = &res[&Kind::Berth];
    let d = &res[&Kind::Docker];
    let line = "-".repeat(86);
    let row = |label: &str, v: &[f64], reference: &[f64]| {
        println!(
            "{:<26} {:>8.3} s {:>8.3} s {:>8.3} s   {:.3}",
            label,
            median(v.to_vec()),
            min(v),
            max(v),
            median(v.to_vec()) / median(reference.to_vec())
        );
    };
    let header = || {
        println!(
            "{:<26} {:>10} {:>10} {:>10}   vs docker",
            "", "median", "min", "max"
        )
    };
    println!("\n{line}");
    println!(
        "1. cold pull {DEBIAN_REPO} ({archive_mib:.0} MiB, {nlayers} gzip layers, \
         {seeded_mib:.1} MiB compressed; {rounds} rounds)"
    );
    header();
    row("berth", &b.pull, &d.pull);
    row("docker", &d.pull, &d.pull);
    println!(
        "{:<26} berthd {}; dockerd {}, its containerd {}",
        "  peak RSS (VmHWM)",
        hwm_summary(&b.pull_hwm),
        hwm_summary(&d.pull_hwm),
        hwm_summary(&d.pull_containerd_hwm)
    );

    println!("\n2. push of the loaded image to a new repository ({rounds} rounds)");
    header();
    row("berth", &b.push, &d.push);
    row("docker", &d.push, &d.push);
    let pushed = |r: &Results| {
        format!(
            "{:.1} MiB {}",
            median(r.pushed_bytes.iter().map(|&x| x as f64).collect()) / 1024.0 / 1024.0,
            r.pushed_media.join(", ")
        )
    };
    println!(
        "{:<26} berth {}; docker {}",
        "  layers pushed",
        pushed(b),
        pushed(d)
    );
    println!(
        "{:<26} berthd {}; dockerd {}",
        "  peak RSS (VmHWM)",
        hwm_summary(&b.push_hwm),
        hwm_summary(&d.push_hwm)
    );
    println!(
        "{:<26} berthd {}; dockerd {}",
        "  RSS when it started",
        hwm_summary(&b.push_rss_before),
        hwm_summary(&d.push_rss_before)
    );
    println!(
        "{:<26} berth {:.2} s, berthd peak {}; docker {:.2} s, dockerd peak {} \
         (medians; not compared)",
        "  docker load before it",
        median(b.load.clone()),
        hwm_summary(&b.load_hwm),
        median(d.load.clone()),
        hwm_summary(&d.load_hwm)
    );

    println!("\n3. run --rm {BUSYBOX_REPO} true, image absent ({rounds} rounds)");
    header();
    row("berth", &b.run, &d.run);
    row("docker", &d.run, &d.run);

    let pull_ratio = median(b.pull.clone()) / median(d.pull.clone());
    let push_ratio = median(b.push.clone()) / median(d.push.clone());
    let run_ratio = median(b.run.clone()) / median(d.run.clone());
    let peak = b.pull_hwm.iter().flatten().copied().max();
    println!("\ntargets");
    println!(
        "  cold pull          berth/docker {pull_ratio:.3}  (<= {TARGET_PULL_RATIO:.3})  {}",
        verdict(pull_ratio <= TARGET_PULL_RATIO)
    );
    println!(
        "  berthd pull peak   {:>12}  (<= {})  {}",
        opt_mib(peak),
        mib(TARGET_PULL_HWM_KB),
        verdict(peak.is_some_and(|p| p <= TARGET_PULL_HWM_KB))
    );
    println!(
        "  push               berth/docker {push_ratio:.3}  (<= {TARGET_PUSH_RATIO:.3})  {}",
        verdict(push_ratio <= TARGET_PUSH_RATIO)
    );
    println!("  run (absent image) berth/docker {run_ratio:.3}  (no target: reported)");

    println!("\nhow the numbers were obtained");
    println!(
        "  cold pull:  wall time of `docker pull {debian_ref}`, docker CLI {} via DOCKER_HOST, \
         each round and engine on a daemon started for it on a fresh data root, after a sync and once both daemons \
         are idle (not timed); engine order alternating per round",
        version(&s.docker_cli)
            .split(',')
            .next()
            .unwrap_or("")
            .trim_start_matches("Docker version ")
    );
    println!(
        "  peak RSS:   VmHWM of /proc/<daemon>/status right after the pull (daemon started \
         fresh for it: start-up + pull; dockerd's containerd separately), right after the \
         load, and after the push (reset by `echo 5 > /proc/<daemon>/clear_refs` before it)"
    );
    println!(
        "  push:       wall time of `docker push <registry>/bench-push-<engine>-<round>:bookworm` \
         (a repository the registry had not seen) of the image `docker load`ed from the archive \
         (uncompressed layers: both engines gzip them) into another fresh daemon, after a sync \
         with the daemons idle; load and tag not timed"
    );
    println!(
        "  run:        wall time of `docker run --rm {busybox_ref} true` on the pull daemon, \
         which had no busybox (pull, create, start, wait, remove), after a sync with the daemons idle"
    );
    println!(
        "  ratios:     median berth / median docker; data roots deleted only at the end \
         (deletions just before a pull slow ext4's inode allocation)"
    );
    println!(
        "  caveat:     a run started right after another one (whose cleanup deleted gigabytes on \
         this filesystem) or on a busy machine measures every step slower: leave a few minutes"
    );

    // Warnings and errors berthd logged during the run.
    let mut lines = 0;
    let mut bad: Vec<String> = Vec::new();
    for log in &berthd_logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        lines += text.lines().count();
        bad.extend(
            text.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .map(String::from),
        );
    }
    println!(
        "\nberthd logs: {} daemons, {lines} lines, {} WARN/ERROR",
        berthd_logs.len(),
        bad.len()
    );
    for l in bad.iter().take(10) {
        println!("  {l}");
    }
    println!("{line}");
}

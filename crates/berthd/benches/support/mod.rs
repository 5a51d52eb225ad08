//! What the benchmarks share: a private workspace under /tmp that removes
//! everything its daemons left (processes, mounts, cgroups, files), private
//! berthd and dockerd daemons driven by the docker CLI, /proc readings and
//! statistics. Each bench includes it with `mod support;`.

#![allow(dead_code)]

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

pub const DOCKERD: &str = "/usr/sbin/dockerd";

pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Children we wait for ourselves (daemons, the registry), which the orphan
/// reaper must leave alone.
pub static OWN_PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn check_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        panic!("interrupted");
    }
}

pub fn own(pid: i32) {
    OWN_PIDS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

pub fn disown(pid: i32) {
    OWN_PIDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&p| p != pid);
}

// ---------------------------------------------------------------- /proc helpers

pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub comm: String,
}

pub fn procs() -> Vec<Proc> {
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

pub fn cmdline(pid: i32) -> String {
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
pub fn status_kb(pid: i32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system, clock ticks) a process has used so far.
pub fn cpu_ticks(pid: i32) -> u64 {
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
pub fn settle(daemons: &[Daemon]) {
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

pub fn descendants(root: i32) -> Vec<i32> {
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
pub fn find_procs(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    procs()
        .into_iter()
        .filter(|p| p.pid != me && cmdline(p.pid).contains(needle))
        .map(|p| p.pid)
        .collect()
}

/// We are a child subreaper (container monitors and shims re-parent to us):
/// collect the orphans that exited, leaving our own children to their `Child`.
pub fn reap_orphans() {
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
pub struct Workspace {
    pub dir: PathBuf,
    pub tag: String,
}

impl Workspace {
    pub fn new(bench: &str) -> Workspace {
        let tag = format!("berth-bench-{bench}-{}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the bench directory");
        Workspace { dir, tag }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn mounts(&self) -> Vec<String> {
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
    pub fn cgroups(&self) -> Vec<PathBuf> {
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

pub fn unescape_mountinfo(s: &str) -> String {
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
pub enum Kind {
    Berth,
    Docker,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Docker => "docker",
        }
    }
}

pub const KINDS: [Kind; 2] = [Kind::Berth, Kind::Docker];

/// What every daemon of the run shares.
pub struct Setup {
    pub ws_dir: PathBuf,
    pub tag: String,
    pub berthd: PathBuf,
    pub runc: PathBuf,
    pub docker_cli: PathBuf,
    pub cli_config: PathBuf,
}

/// One private daemon on a fresh directory, with the docker CLI bound to it.
/// Dropping it removes its containers and stops it (SIGTERM, then SIGKILL);
/// its directory stays until the workspace goes.
pub struct Daemon {
    pub kind: Kind,
    pub dir: PathBuf,
    pub host: String,
    pub cli: PathBuf,
    pub cli_config: PathBuf,
    pub child: Option<Child>,
    /// dockerd's own containerd.
    pub containerd: Option<i32>,
}

impl Daemon {
    /// Starts `kind` on `<workspace>/<name>` (which must not exist) and
    /// waits until it answers /_ping.
    pub fn start(s: &Setup, kind: Kind, name: &str) -> Daemon {
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

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The docker CLI against this daemon.
    pub fn cmd(&self, args: &[&str]) -> Command {
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
    pub fn ok(&self, args: &[&str]) -> Output {
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
    pub fn timed(&self, args: &[&str]) -> Duration {
        check_interrupted();
        nix::unistd::sync();
        let t = Instant::now();
        self.ok(args);
        t.elapsed()
    }

    /// For cleanup paths: never panics, never hangs.
    pub fn best_effort(&self, args: &[&str], timeout: Duration) -> Option<Output> {
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
    pub fn hwm(&self) -> Option<u64> {
        status_kb(self.pid(), "VmHWM")
    }

    /// Resets the daemon's peak RSS to its current RSS (`5 > clear_refs`).
    pub fn reset_hwm(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    pub fn containerd_hwm(&self) -> Option<u64> {
        self.containerd.and_then(|p| status_kb(p, "VmHWM"))
    }

    /// The image ID of `reference`.
    pub fn image_id(&self, reference: &str) -> String {
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

pub fn ping(sock: &Path) -> bool {
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

pub fn median(mut v: Vec<f64>) -> f64 {
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

pub fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

pub fn opt_mib(kb: Option<u64>) -> String {
    kb.map(mib).unwrap_or_else(|| "n/a".into())
}

/// "median (max)" of peak RSS values (KiB), or n/a.
pub fn hwm_summary(v: &[Option<u64>]) -> String {
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

pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

// ---------------------------------------------------------------- setup

pub fn target_dir(manifest_dir: &Path) -> PathBuf {
    let workspace = manifest_dir.join("../..");
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => workspace.join(d),
        None => workspace.join("target"),
    }
}

/// The newest modification time of the workspace's Rust sources (crates/*/src).
pub fn newest_source(crates: &Path) -> Option<SystemTime> {
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

pub fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

pub fn fail(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(1);
}

// ---------------------------------------------------------------- start

/// What every bench checks before it starts: the round count from the
/// command line, root, the release binaries, the docker CLI and dockerd.
pub struct Prelude {
    pub rounds: usize,
    pub berth: PathBuf,
    pub berthd: PathBuf,
    pub runc: PathBuf,
    pub docker_cli: PathBuf,
}

pub fn prelude(default_rounds: usize) -> Prelude {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(default_rounds)
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
    let [berth, berthd, runc] = bins;
    let built = std::fs::metadata(&berthd).and_then(|m| m.modified()).ok();
    if newest_source(&manifest_dir.join("..")) > built {
        eprintln!(
            "warning: sources are newer than {}: run cargo build --release",
            berthd.display()
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
    Prelude {
        rounds,
        berth,
        berthd,
        runc,
        docker_cli,
    }
}

/// A bench's run: ^C and SIGTERM end it through the guards, orphans are
/// reaped here, `bench` runs in workspace `ws`, which is removed after it,
/// also when it panics.
pub fn run_in(ws: Workspace, p: &Prelude, bench: impl FnOnce(&Setup)) {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_sigint as *const () as libc::sighandler_t);
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let setup = Setup {
        ws_dir: ws.dir.clone(),
        tag: ws.tag.clone(),
        berthd: p.berthd.clone(),
        runc: p.runc.clone(),
        docker_cli: p.docker_cli.clone(),
        cli_config: ws.path("cli-config"),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bench(&setup)));
    drop(ws);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// What every engine bench writes first: the CLI's and daemons' empty
/// configs, and busybox:latest as a tar (answered) for `load`.
pub fn bench_inputs(s: &Setup) -> PathBuf {
    std::fs::create_dir_all(&s.cli_config).unwrap();
    std::fs::write(s.cli_config.join("config.json"), "{}").unwrap();
    std::fs::write(s.ws_dir.join("dockerd.json"), "{}").unwrap();
    std::fs::write(s.ws_dir.join("berthd-none.json"), "{}").unwrap();
    let busybox = s.ws_dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    assert!(
        Command::new("bash")
            .arg(&script)
            .arg(&busybox)
            .status()
            .unwrap()
            .success(),
        "make the busybox image"
    );
    busybox
}

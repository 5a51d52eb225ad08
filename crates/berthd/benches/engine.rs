//! Benchmark: the whole engine — CLI → daemon → runtime → container — berth
//! against dockerd (and podman when installed), side by side in one run.
//!
//!     cargo build --release && cargo bench -p berthd --bench engine [-- ROUNDS]
//!
//! Measured, each engine on its own private daemon (socket, data root, exec
//! root, cgroup parent and containerd namespace under /tmp/berth-bench-<pid>):
//! 1. `run --rm --network none busybox true`, ROUNDS times (default 20) after
//!    2 warm-up runs, engines interleaved: median, p90, ratio to docker. berth
//!    is driven both by its own CLI and by the docker CLI.
//!    1b. `run --rm busybox true` on the default bridge: berthd and dockerd
//!    each on a private bridge (dockerd with `--iptables=false`, so no shared
//!    rule is touched), target 1/8 of docker.
//! 2. 50 × `run -d busybox sleep 1000` in sequence: total time and ratio (the
//!    `rm -f` afterwards is shown, not counted).
//! 3. daemon PSS (`Pss:` of /proc/<pid>/smaps_rollup): berthd against dockerd
//!    plus the containerd it starts, idle and with the 50 containers running.
//! 4. per-container monitor PSS with the 50 running: `berth-runc monitor`
//!    against `containerd-shim-runc-v2` (and podman's conmon).
//!
//! Needs root, target/release/{berth,berthd,berth-runc}, /usr/sbin/dockerd, the
//! docker CLI and busybox-static. Everything is removed afterwards (processes,
//! mounts, cgroups, directories), also when a step fails.

mod support;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use support::*;

const WARMUP: usize = 2;
const DETACHED: usize = 50;

/// Targets: berth/docker time ratios and PSS ceilings (KiB).
const TARGET_RUN_RATIO: f64 = 0.10;
const TARGET_DETACHED_RATIO: f64 = 0.20;
const TARGET_BRIDGE_RATIO: f64 = 0.125;
const TARGET_BERTHD_PSS_KB: u64 = 15 * 1024;
const TARGET_MONITOR_PSS_KB: u64 = 1024;

// ---------------------------------------------------------------- /proc helpers

/// Proportional set size of one process, KiB.
fn pss_kb(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The processes whose command line contains all of `needles`.
fn find_procs(needles: &[&str]) -> Vec<i32> {
    let me = std::process::id() as i32;
    procs()
        .into_iter()
        .filter(|p| p.pid != me)
        .filter(|p| {
            let c = cmdline(p.pid);
            needles.iter().all(|n| c.contains(n))
        })
        .map(|p| p.pid)
        .collect()
}

// ---------------------------------------------------------------- commands

/// A CLI (berth, docker, podman) bound to one engine.
#[derive(Clone)]
struct Cli {
    program: PathBuf,
    global: Vec<OsString>,
    config_dir: PathBuf,
}

impl Cli {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.global)
            .args(args)
            .env("DOCKER_CONFIG", &self.config_dir)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("BERTH_HOST")
            .stdin(Stdio::null());
        c
    }

    /// Runs to completion; panics (so that the guards clean up) on failure.
    fn ok(&self, args: &[&str]) -> Output {
        check_interrupted();
        let o = self.cmd(args).output().unwrap_or_else(|e| {
            panic!("{}: {e}", self.program.display());
        });
        if !o.status.success() {
            panic!(
                "`{} {}` failed ({}): {}",
                self.program.display(),
                args.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        o
    }

    fn timed(&self, args: &[&str]) -> Duration {
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

    fn container_ids(&self) -> Vec<String> {
        self.best_effort(&["ps", "-aq"], Duration::from_secs(30))
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn version(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

// ---------------------------------------------------------------- guards

/// The private directory and cgroups of this run; dropped last, it removes
/// whatever the engines left: processes, mounts, cgroups, files.
struct Workspace {
    dir: PathBuf,
    tag: String,
    /// Global podman paths that did not exist before this run.
    podman_litter: Vec<PathBuf>,
    /// Network links (bridges) this run made, and berth's nftables table.
    links: Vec<String>,
    nft_tables: Vec<String>,
}

impl Workspace {
    fn new() -> Workspace {
        let tag = format!("berth-bench-{}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the bench directory");
        let podman_litter = ["/var/lib/containers", "/run/containers"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        Workspace {
            dir,
            tag,
            podman_litter,
            links: Vec::new(),
            nft_tables: Vec::new(),
        }
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
            let mut victims = find_procs(&[&dir]);
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
        let _ = std::fs::remove_dir_all(&self.dir);
        for l in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
        for t in &self.nft_tables {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", t])
                .stderr(Stdio::null())
                .status();
        }
        for p in &self.podman_litter {
            let _ = std::fs::remove_dir(p.join("networks"));
            let _ = std::fs::remove_dir_all(p.join("cache"));
            let _ = std::fs::remove_dir(p);
        }
        reap_orphans();
        let left: Vec<String> = self
            .mounts()
            .into_iter()
            .chain(self.cgroups().iter().map(|p| p.display().to_string()))
            .chain(find_procs(&[&dir]).iter().map(|p| format!("pid {p}")))
            .collect();
        if !left.is_empty() || self.dir.exists() {
            eprintln!(
                "warning: cleanup left behind: {left:?} (dir exists: {})",
                self.dir.exists()
            );
        }
    }
}

/// One engine: its CLI, and its daemon when it has one. Dropping it removes
/// its containers and stops the daemon (SIGTERM, then SIGKILL).
struct Engine {
    name: &'static str,
    cli: Cli,
    /// podman's `rm` needs `-t 0` to kill at once.
    rm_args: Vec<&'static str>,
    daemon: Option<Child>,
    log: Option<PathBuf>,
    /// dockerd's own containerd.
    helper: Option<i32>,
}

impl Engine {
    fn daemon_pid(&self) -> Option<i32> {
        self.daemon.as_ref().map(|c| c.id() as i32)
    }

    fn remove_all(&self) -> Duration {
        let t = Instant::now();
        for _ in 0..3 {
            let ids = self.cli.container_ids();
            if ids.is_empty() {
                break;
            }
            let mut args = self.rm_args.clone();
            args.extend(ids.iter().map(String::as_str));
            self.cli.best_effort(&args, Duration::from_secs(120));
        }
        t.elapsed()
    }

    fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let s = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn wait_ready(&mut self, sock: &Path, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !ping(sock) {
            check_interrupted();
            if let Some(Ok(Some(st))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                panic!("{} exited ({st}):\n{}", self.name, self.log_tail());
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not answer /_ping in {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self
            .daemon
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(None)))
        {
            self.remove_all();
        }
        if let Some(mut child) = self.daemon.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.helper {
            // dockerd stops its containerd on SIGTERM; make sure of it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                reap_orphans();
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        reap_orphans();
    }
}

fn spawn_daemon(program: &Path, args: &[OsString], envs: &[(&str, &Path)], log: &Path) -> Child {
    let f = std::fs::File::create(log).expect("create daemon log");
    let mut c = Command::new(program);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(f.try_clone().expect("dup log"))
        .stderr(f)
        .env("NO_COLOR", "1")
        // Its own process group: a ^C reaches only us, and we clean up.
        .process_group(0);
    for (k, v) in envs {
        c.env(k, v);
    }
    let child = c
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    own(child.id() as i32);
    child
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// ---------------------------------------------------------------- statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile.
fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn mib(kb: u64) -> String {
    format!("{:.2} MiB", kb as f64 / 1024.0)
}

fn opt_mib(kb: Option<u64>) -> String {
    kb.map(mib).unwrap_or_else(|| "n/a".into())
}

/// PSS of every process in `pids`: (median, min, max, count).
fn pss_summary(pids: &[i32]) -> Option<(u64, u64, u64, usize)> {
    let v: Vec<u64> = pids.iter().filter_map(|&p| pss_kb(p)).collect();
    if v.is_empty() {
        return None;
    }
    let med = median(v.iter().map(|&x| x as f64).collect()).round() as u64;
    Some((med, *v.iter().min()?, *v.iter().max()?, v.len()))
}

// ---------------------------------------------------------------- setup

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1);
    if !nix::unistd::geteuid().is_root() {
        eprintln!("engine bench: needs root (private daemons, mounts, cgroups)");
        std::process::exit(1);
    }
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let release = target_dir(&manifest_dir).join("release");
    let bins = ["berth", "berthd", "berth-runc"].map(|b| release.join(b));
    if let Some(missing) = bins.iter().find(|b| !b.exists()) {
        eprintln!(
            "engine bench: {} is missing: build the release binaries first (cargo build --release)",
            missing.display()
        );
        std::process::exit(1);
    }
    let [berth_bin, berthd_bin, runc_bin] = bins;
    let built = std::fs::metadata(&berthd_bin)
        .and_then(|m| m.modified())
        .ok();
    if newest_source(&manifest_dir.join("..")) > built {
        eprintln!(
            "warning: sources are newer than {}: run cargo build --release",
            berthd_bin.display()
        );
    }
    let docker_bin = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(docker_bin) = docker_bin else {
        eprintln!("engine bench: the docker CLI is not installed");
        std::process::exit(1);
    };
    if !Path::new(DOCKERD).exists() {
        eprintln!("engine bench: {DOCKERD} is missing (apt-get install docker.io)");
        std::process::exit(1);
    }
    let podman_bin = which("podman");

    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_sigint as *const () as libc::sighandler_t);
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let mut ws = Workspace::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bench(
            &mut ws,
            rounds,
            &berth_bin,
            &berthd_bin,
            &runc_bin,
            &docker_bin,
            podman_bin.as_deref(),
        )
    }));
    drop(ws);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[allow(clippy::too_many_arguments)]
fn bench(
    ws: &mut Workspace,
    rounds: usize,
    berth_bin: &Path,
    berthd_bin: &Path,
    runc_bin: &Path,
    docker_bin: &Path,
    podman_bin: Option<&Path>,
) {
    let tag = ws.tag.clone();
    let dir = ws.dir.clone();
    let config_dir = ws.path("cli-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    // podman reads $DOCKER_CONFIG/config.json too, and insists that it exists.
    std::fs::write(config_dir.join("config.json"), "{}").unwrap();

    println!(
        "engine bench: {rounds} rounds (+{WARMUP} warm-up), workspace {}",
        dir.display()
    );
    println!(
        "  berth  {}\n  docker {} / CLI {}\n  podman {}",
        berthd_bin.display(),
        version(DOCKERD, "--version"),
        version(docker_bin.to_str().unwrap(), "--version"),
        podman_bin
            .map(|p| version(p.to_str().unwrap(), "--version"))
            .unwrap_or_else(|| "not installed: skipped (apt-get install podman)".into()),
    );

    // The image, once, as a tar every engine loads.
    let tar = ws.path("busybox.tar");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    let o = Command::new(&script)
        .arg(&tar)
        .arg("busybox:latest")
        .stdin(Stdio::null())
        .output()
        .expect("run make-busybox-image.sh");
    assert!(
        o.status.success(),
        "make-busybox-image.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let tar_s = tar.to_str().unwrap();

    // Private bridges for both daemons (removed at the end); docker0 only
    // when it does not exist already (then dockerd gets no bridge).
    let berth_bridge = format!("bb{}", std::process::id());
    ws.links.push(berth_bridge.clone());
    ws.nft_tables.push(format!("berth-{berth_bridge}"));
    let docker0_free = !Path::new("/sys/class/net/docker0").exists();
    if docker0_free {
        ws.links.push("docker0".into());
    }

    // berthd.
    let berth_sock = ws.path("berth.sock");
    let berth_host = format!("unix://{}", berth_sock.display());
    let berthd_args: Vec<OsString> = vec![
        "-H".into(),
        berth_host.clone().into(),
        "--data-root".into(),
        ws.path("data").into(),
        "--exec-root".into(),
        ws.path("exec").into(),
        "--pidfile".into(),
        ws.path("berthd.pid").into(),
        "--config-file".into(),
        ws.path("berthd-none.json").into(),
        "--cgroup-parent".into(),
        tag.clone().into(),
        "--bridge".into(),
        berth_bridge.clone().into(),
        "--bip".into(),
        format!("10.198.{}.1/24", std::process::id() & 0xff).into(),
    ];
    let t = Instant::now();
    let mut berth = Engine {
        name: "berthd",
        cli: Cli {
            program: berth_bin.to_path_buf(),
            global: os(&["-H", &berth_host]),
            config_dir: config_dir.clone(),
        },
        rm_args: vec!["rm", "-f"],
        daemon: Some(spawn_daemon(
            berthd_bin,
            &berthd_args,
            &[("BERTH_RUNC", runc_bin)],
            &ws.path("berthd.log"),
        )),
        log: Some(ws.path("berthd.log")),
        helper: None,
    };
    berth.wait_ready(&berth_sock, Duration::from_secs(30));
    let berth_up = t.elapsed();
    // The docker CLI against berthd: a CLI only, the daemon belongs to `berth`.
    let docker_on_berth = Cli {
        program: docker_bin.to_path_buf(),
        global: os(&["-H", &berth_host]),
        config_dir: config_dir.clone(),
    };

    // dockerd with its own containerd.
    let docker_sock = ws.path("docker.sock");
    let docker_host = format!("unix://{}", docker_sock.display());
    std::fs::write(ws.path("dockerd.json"), "{}").unwrap();
    let dockerd_args: Vec<OsString> = vec![
        "-H".into(),
        docker_host.clone().into(),
        "--data-root".into(),
        ws.path("docker-data").into(),
        "--exec-root".into(),
        ws.path("docker-exec").into(),
        "--pidfile".into(),
        ws.path("dockerd.pid").into(),
        "--config-file".into(),
        ws.path("dockerd.json").into(),
        "--iptables=false".into(),
        "--ip6tables=false".into(),
        if docker0_free {
            format!("--bip=10.199.{}.1/24", std::process::id() & 0xff).into()
        } else {
            "--bridge=none".into()
        },
        "--ip-forward=false".into(),
        "--ip-masq=false".into(),
        "--storage-driver".into(),
        "overlay2".into(),
        "--containerd-namespace".into(),
        tag.clone().into(),
        "--containerd-plugins-namespace".into(),
        format!("{tag}-plugins").into(),
        "--cgroup-parent".into(),
        format!("{tag}-docker").into(),
    ];
    let t = Instant::now();
    let mut docker = Engine {
        name: "dockerd",
        cli: Cli {
            program: docker_bin.to_path_buf(),
            global: os(&["-H", &docker_host]),
            config_dir: config_dir.clone(),
        },
        rm_args: vec!["rm", "-f"],
        daemon: Some(spawn_daemon(
            Path::new(DOCKERD),
            &dockerd_args,
            &[],
            &ws.path("dockerd.log"),
        )),
        log: Some(ws.path("dockerd.log")),
        helper: None,
    };
    docker.wait_ready(&docker_sock, Duration::from_secs(60));
    let docker_up = t.elapsed();
    let dockerd_pid = docker.daemon_pid().unwrap();
    docker.helper = descendants(dockerd_pid)
        .into_iter()
        .find(|&p| procs().iter().any(|q| q.pid == p && q.comm == "containerd"));
    println!(
        "daemons ready: berthd {:.0} ms, dockerd {:.0} ms (containerd pid {})",
        ms(berth_up),
        ms(docker_up),
        docker
            .helper
            .map(|p| p.to_string())
            .unwrap_or_else(|| "not found".into())
    );

    berth.cli.ok(&["load", "-i", tar_s]);
    docker.cli.ok(&["load", "-i", tar_s]);

    // podman: no daemon. Its default RLIMIT_NOFILE/NPROC (1048576) needs
    // CAP_SYS_RESOURCE, which this machine lacks: pin both at or below ours.
    let podman_cgroup = format!("/{tag}-podman");
    let (nofile_soft, nofile_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap_or((1024, 1024));
    let nofile = format!("nofile={}:{}", nofile_soft.min(nofile_hard), nofile_hard);
    let podman_extra: Vec<String> = vec![
        "--cgroup-parent".into(),
        podman_cgroup,
        "--ulimit".into(),
        nofile,
        "--ulimit".into(),
        "nproc=4096:4096".into(),
    ];
    let podman = podman_bin.and_then(|p| {
        let global: Vec<OsString> = vec![
            "--root".into(),
            ws.path("podman-root").into(),
            "--runroot".into(),
            ws.path("podman-run").into(),
            "--tmpdir".into(),
            ws.path("podman-tmp").into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
        ];
        let e = Engine {
            name: "podman",
            cli: Cli {
                program: p.to_path_buf(),
                global,
                config_dir: config_dir.clone(),
            },
            rm_args: vec!["rm", "-f", "-t", "0"],
            daemon: None,
            log: None,
            helper: None,
        };
        match e
            .cli
            .best_effort(&["load", "-i", tar_s], Duration::from_secs(120))
        {
            Some(o) if o.status.success() => Some(e),
            o => {
                println!(
                    "podman: load failed, skipped: {}",
                    o.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
                        .unwrap_or_else(|| "timed out".into())
                );
                None
            }
        }
    });
    if podman.is_some() {
        println!(
            "podman: run with {} (its default rlimits need CAP_SYS_RESOURCE)",
            podman_extra[2..].join(" ")
        );
    }

    std::thread::sleep(Duration::from_secs(1));
    let idle_load = DaemonPss::measure(&berth, &docker);

    // ------------------------------------------------ 1. run --rm latency
    struct Runner<'a> {
        label: &'static str,
        cli: &'a Cli,
        extra: &'a [String],
    }
    let mut runners = vec![
        Runner {
            label: "berth (berth CLI)",
            cli: &berth.cli,
            extra: &[],
        },
        Runner {
            label: "berth (docker CLI)",
            cli: &docker_on_berth,
            extra: &[],
        },
        Runner {
            label: "docker",
            cli: &docker.cli,
            extra: &[],
        },
    ];
    if let Some(p) = &podman {
        runners.push(Runner {
            label: "podman",
            cli: &p.cli,
            extra: &podman_extra,
        });
    }
    let run_args = |extra: &[String]| -> Vec<String> {
        let mut a: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--network".into(),
            "none".into(),
        ];
        a.extend(extra.iter().cloned());
        a.extend(["busybox".into(), "true".into()]);
        a
    };
    for r in &runners {
        let a = run_args(r.extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        for _ in 0..WARMUP {
            r.cli.ok(&a);
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
    for i in 0..rounds {
        // Rotate the order so that drift affects every engine alike.
        for k in 0..runners.len() {
            let j = (i + k) % runners.len();
            let a = run_args(runners[j].extra);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            times[j].push(ms(runners[j].cli.timed(&a)));
        }
    }
    reap_orphans();
    let run_medians: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
    let docker_run = run_medians[2];

    // 1b. The same on the default bridge (berth's and dockerd's own bridge;
    // dockerd without iptables, so neither touches shared rules).
    let bridged = ["run", "--rm", "busybox", "true"];
    let mut btimes: Vec<Vec<f64>> = vec![Vec::new(); 3];
    if docker0_free {
        for r in runners.iter().take(3) {
            for _ in 0..WARMUP {
                r.cli.ok(&bridged);
            }
        }
        for i in 0..rounds {
            for k in 0..3 {
                let j = (i + k) % 3;
                btimes[j].push(ms(runners[j].cli.timed(&bridged)));
            }
        }
        reap_orphans();
    }

    // ------------------------------------------------ 2.–4. 50 detached containers
    struct Batch {
        label: &'static str,
        total: Duration,
        rm: Duration,
        monitors: Option<(u64, u64, u64, usize)>,
        monitor_kind: &'static str,
        daemon: Option<DaemonPss>,
    }
    let mut batches: Vec<Batch> = Vec::new();
    let detached = |cli: &Cli, extra: &[&str]| -> Duration {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(extra);
        a.extend(["busybox", "sleep", "1000"]);
        let t = Instant::now();
        for _ in 0..DETACHED {
            cli.ok(&a);
        }
        t.elapsed()
    };
    let exec_root = ws.path("exec").to_string_lossy().into_owned();
    let docker_exec = ws.path("docker-exec").to_string_lossy().into_owned();
    let podman_root = ws.path("podman-root").to_string_lossy().into_owned();
    let settle = || std::thread::sleep(Duration::from_millis(500));

    let total = detached(&berth.cli, &[]);
    settle();
    let monitors = pss_summary(&find_procs(&["monitor", "--id", &exec_root]));
    let daemon = Some(DaemonPss::measure(&berth, &docker));
    let rm = berth.remove_all();
    batches.push(Batch {
        label: "berth (berth CLI)",
        total,
        rm,
        monitors,
        monitor_kind: "berth-runc monitor",
        daemon,
    });

    let total = detached(&docker_on_berth, &[]);
    let rm = berth.remove_all();
    batches.push(Batch {
        label: "berth (docker CLI)",
        total,
        rm,
        monitors: None,
        monitor_kind: "",
        daemon: None,
    });

    let total = detached(&docker.cli, &[]);
    settle();
    let monitors = pss_summary(&find_procs(&["containerd-shim-runc-v2", &docker_exec]));
    let daemon = Some(DaemonPss::measure(&berth, &docker));
    let rm = docker.remove_all();
    batches.push(Batch {
        label: "docker",
        total,
        rm,
        monitors,
        monitor_kind: "containerd-shim-runc-v2",
        daemon,
    });

    if let Some(p) = &podman {
        // podman's default network would set up a host bridge: keep it private.
        let mut extra: Vec<&str> = vec!["--network", "none"];
        extra.extend(podman_extra.iter().map(String::as_str));
        let total = detached(&p.cli, &extra);
        settle();
        let monitors = pss_summary(
            &procs()
                .into_iter()
                .filter(|q| q.comm == "conmon" && cmdline(q.pid).contains(&podman_root))
                .map(|q| q.pid)
                .collect::<Vec<_>>(),
        );
        let rm = p.remove_all();
        batches.push(Batch {
            label: "podman (--network none)",
            total,
            rm,
            monitors,
            monitor_kind: "conmon",
            daemon: None,
        });
    }
    reap_orphans();
    std::thread::sleep(Duration::from_secs(1));
    let idle_after = DaemonPss::measure(&berth, &docker);

    // ------------------------------------------------ report
    let line = "-".repeat(86);
    println!("\n{line}");
    println!("1. run --rm --network none busybox true   ({rounds} rounds, {WARMUP} warm-up)");
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>10}   vs docker",
        "", "median", "p90", "min", "max"
    );
    for (r, t) in runners.iter().zip(&times) {
        let med = median(t.clone());
        println!(
            "{:<26} {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms   {:.3}",
            r.label,
            med,
            percentile(t.clone(), 0.9),
            percentile(t.clone(), 0.0),
            percentile(t.clone(), 1.0),
            med / docker_run
        );
    }

    if docker0_free {
        println!("\n1b. run --rm busybox true on the default bridge   ({rounds} rounds)");
        let docker_b = median(btimes[2].clone());
        for (r, t) in runners.iter().zip(&btimes) {
            let med = median(t.clone());
            println!(
                "{:<26} {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms   {:.3}",
                r.label,
                med,
                percentile(t.clone(), 0.9),
                percentile(t.clone(), 0.0),
                percentile(t.clone(), 1.0),
                med / docker_b
            );
        }
    } else {
        println!("\n1b. skipped: docker0 exists on this host (dockerd gets no private bridge)");
    }

    println!("\n2. {DETACHED} x run -d busybox sleep 1000, in sequence");
    println!(
        "{:<26} {:>10} {:>10} {:>12}   vs docker",
        "", "total", "per run", "rm -f (n/c)"
    );
    let docker_batch = batches.iter().find(|b| b.label == "docker").unwrap().total;
    for b in &batches {
        println!(
            "{:<26} {:>8.2} s {:>7.1} ms {:>10.2} s   {:.3}",
            b.label,
            b.total.as_secs_f64(),
            ms(b.total) / DETACHED as f64,
            b.rm.as_secs_f64(),
            b.total.as_secs_f64() / docker_batch.as_secs_f64()
        );
    }

    println!("\n3. daemon PSS");
    let with50_berth = batches[0].daemon.as_ref().unwrap();
    let with50_docker = batches[2].daemon.as_ref().unwrap();
    println!(
        "{:<26} {:>12} {:>14} {:>16}",
        "", "after load", "after workload", "with 50 running"
    );
    type Pick = fn(&DaemonPss, &DaemonPss) -> Option<u64>;
    let rows: [(&str, Pick); 4] = [
        ("berthd", |b, _| b.berthd),
        ("dockerd", |_, d| d.dockerd),
        ("  + its containerd", |_, d| d.containerd),
        ("  = dockerd + containerd", |_, d| d.docker_total()),
    ];
    for (label, f) in rows {
        println!(
            "{:<26} {:>12} {:>14} {:>16}",
            label,
            opt_mib(f(&idle_load, &idle_load)),
            opt_mib(f(&idle_after, &idle_after)),
            opt_mib(f(with50_berth, with50_docker)),
        );
    }
    if podman.is_some() {
        println!(
            "{:<26} {:>12} {:>14} {:>16}",
            "podman", "n/a", "n/a", "n/a (no daemon)"
        );
    }

    println!("\n4. per-container monitor PSS, {DETACHED} containers running");
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>6}",
        "", "median", "min", "max", "procs"
    );
    for b in batches.iter().filter(|b| !b.monitor_kind.is_empty()) {
        match b.monitors {
            Some((med, min, max, n)) => println!(
                "{:<26} {:>10} {:>10} {:>10} {:>6}",
                b.monitor_kind,
                mib(med),
                mib(min),
                mib(max),
                n
            ),
            None => println!("{:<26} {:>10}", b.monitor_kind, "none found"),
        }
    }

    println!("\ntargets");
    for (r, med) in runners.iter().zip(&run_medians).take(2) {
        let ratio = med / docker_run;
        println!(
            "  run --rm           {:<20} berth/docker {:.3}  (<= {:.2})  {}",
            r.label.trim_start_matches("berth "),
            ratio,
            TARGET_RUN_RATIO,
            verdict(ratio <= TARGET_RUN_RATIO)
        );
    }
    if docker0_free {
        let docker_b = median(btimes[2].clone());
        for (r, t) in runners.iter().zip(&btimes).take(2) {
            let ratio = median(t.clone()) / docker_b;
            println!(
                "  run --rm (bridge)  {:<20} berth/docker {:.3}  (<= {:.3})  {}",
                r.label.trim_start_matches("berth "),
                ratio,
                TARGET_BRIDGE_RATIO,
                verdict(ratio <= TARGET_BRIDGE_RATIO)
            );
        }
    }
    for b in batches.iter().take(2) {
        let ratio = b.total.as_secs_f64() / docker_batch.as_secs_f64();
        println!(
            "  {DETACHED} x run -d        {:<20} berth/docker {:.3}  (<= {:.2})  {}",
            b.label.trim_start_matches("berth "),
            ratio,
            TARGET_DETACHED_RATIO,
            verdict(ratio <= TARGET_DETACHED_RATIO)
        );
    }
    let idle = idle_load.berthd.max(idle_after.berthd);
    println!(
        "  berthd idle PSS    {:<20} {:>12}  (<= {})  {}",
        "(max of idle)",
        opt_mib(idle),
        mib(TARGET_BERTHD_PSS_KB),
        verdict(idle.is_some_and(|v| v <= TARGET_BERTHD_PSS_KB))
    );
    let mon = batches[0].monitors.map(|m| m.0);
    println!(
        "  monitor PSS        {:<20} {:>12}  (<= {})  {}",
        "(median)",
        opt_mib(mon),
        mib(TARGET_MONITOR_PSS_KB),
        verdict(mon.is_some_and(|v| v <= TARGET_MONITOR_PSS_KB))
    );
    if batches[0].monitors.is_some_and(|m| m.3 != DETACHED) {
        println!(
            "  note: found {} berth monitors for {DETACHED} containers",
            batches[0].monitors.unwrap().3
        );
    }

    // Warnings and errors berthd logged during the run.
    let log = std::fs::read_to_string(ws.path("berthd.log")).unwrap_or_default();
    let bad: Vec<String> = log
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    println!(
        "\nberthd log: {} lines, {} WARN/ERROR",
        log.lines().count(),
        bad.len()
    );
    for l in bad.iter().take(10) {
        println!("  {l}");
    }
    println!("{line}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// PSS of the daemons at one moment, KiB.
struct DaemonPss {
    berthd: Option<u64>,
    dockerd: Option<u64>,
    containerd: Option<u64>,
}

impl DaemonPss {
    fn measure(berth: &Engine, docker: &Engine) -> DaemonPss {
        DaemonPss {
            berthd: berth.daemon_pid().and_then(pss_kb),
            dockerd: docker.daemon_pid().and_then(pss_kb),
            containerd: docker.helper.and_then(pss_kb),
        }
    }

    fn docker_total(&self) -> Option<u64> {
        Some(self.dockerd? + self.containerd?)
    }
}

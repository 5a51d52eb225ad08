//! A private dockerd or berthd for the CLI tests, a registry of their own, and running a CLI against them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The berth CLI under test.
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A private dockerd, stopped and cleaned up on drop (also when a test fails).
pub struct Daemon {
    pub dir: PathBuf,
    /// The daemon's unix socket (`unix://…`).
    pub host: String,
    pid: Option<i32>,
    child: Option<std::process::Child>,
    /// The cgroup parent its containers go under.
    cgroup: String,
    /// The CLI the harness itself uses on it (loading busybox, cleaning up).
    admin: String,
    /// A private berthd's default bridge (removed on drop with its table).
    bridge: Option<String>,
}

impl Daemon {
    /// BERTH_CLI_TEST_HOST if set, else a private dockerd (None, after a
    /// visible SKIPPED, if dockerd or docker is not installed).
    pub fn start() -> Option<Daemon> {
        if let Ok(h) = std::env::var("BERTH_CLI_TEST_HOST") {
            // Only a scratch directory of ours (files the tests copy).
            let dir = PathBuf::from(format!("/tmp/berth-test-cli-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            return Some(Daemon {
                dir,
                host: h,
                pid: None,
                child: None,
                cgroup: String::new(),
                admin: "docker".into(),
                bridge: None,
            });
        }
        Daemon::start_private("dockerd", &[])
    }

    /// BERTH_CLI_TEST_HOST if set, else a private berthd (the one built
    /// next to the berth binary; a private dockerd, said so, if it is not
    /// built) under /tmp/berth-test-<name>-<pid>, with its own bridge,
    /// subnets, cgroup parent, data and exec roots. busybox is loaded.
    pub fn start_berthd(name: &str) -> Option<Daemon> {
        if std::env::var("BERTH_CLI_TEST_HOST").is_ok() {
            let mut d = Daemon::start()?;
            d.admin = BERTH.into();
            return Some(d);
        }
        let bin = Path::new(BERTH).with_file_name("berthd");
        let runc = Path::new(BERTH).with_file_name("berth-runc");
        if !bin.is_file() || !runc.is_file() {
            eprintln!(
                "NOTE: {} or {} is not built (cargo build -p berthd -p berth-runc): using a private dockerd",
                bin.display(),
                runc.display()
            );
            return Daemon::start_private(name, &[]);
        }
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/berth-test-{name}-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Addresses of our own: 100.64.0.0/10 carved in /20s by pid (the
        // default bridge the first /24, the networks made the others).
        let i = pid % 1024;
        let (b2, b3) = (64 + i / 16, (i % 16) * 16);
        let bridge = format!("bc{pid}");
        std::fs::write(
            dir.join("daemon.json"),
            format!(r#"{{"default-address-pools":[{{"base":"100.{b2}.{b3}.0/20","size":24}}]}}"#),
        )
        .unwrap();
        let cgroup = format!("berth-cli-test-{name}-{pid}");
        let sock = dir.join("sock");
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(&bin)
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--cgroup-parent")
            .arg(&cgroup)
            .arg("--bridge")
            .arg(&bridge)
            .arg("--bip")
            .arg(format!("100.{b2}.{b3}.1/24"))
            // Containers' DNS queries stay on this machine.
            .arg("--dns")
            .arg("127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        let mut d = Daemon {
            host: format!("unix://{}", sock.display()),
            dir,
            pid: Some(child.id() as i32),
            child: Some(child),
            cgroup,
            admin: BERTH.into(),
            bridge: Some(bridge),
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if run_with(BERTH, &d.host, &["ps", "-q"], b"")
                .status
                .success()
            {
                d.load_busybox();
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "berthd did not come up: {}",
            std::fs::read_to_string(d.dir.join("log")).unwrap_or_default()
        );
    }

    /// The daemon's log (a private one's).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// A private dockerd under /tmp/berth-test-<name>-<pid>, listening on
    /// its unix socket and on whatever `extra` adds (`-H tcp://…`, TLS).
    pub fn start_private(name: &str, extra: &[String]) -> Option<Daemon> {
        if !which("dockerd") || !which("docker") {
            eprintln!("SKIPPED: dockerd/docker not installed (apt-get install docker.io)");
            return None;
        }
        let dir = PathBuf::from(format!("/tmp/berth-test-{name}-{}", std::process::id()));
        let cgroup = format!("berth-cli-test-{name}-{}", std::process::id());
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("sock");
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .args(["--iptables=false", "--bridge=none"])
            .arg("--cgroup-parent")
            .arg(&cgroup)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let mut d = Daemon {
            host: format!("unix://{}", sock.display()),
            dir,
            pid: Some(child.id() as i32),
            child: Some(child),
            cgroup,
            admin: "docker".into(),
            bridge: None,
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if docker(&d.host, &["version"]).status.success() {
                d.load_busybox();
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("dockerd did not come up; see {}/log", d.dir.display());
    }

    pub fn load_busybox(&mut self) {
        let tar = self.dir.join("busybox.tar");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
        let ok = Command::new("bash")
            .arg(script)
            .arg(&tar)
            .status()
            .unwrap()
            .success();
        assert!(ok, "make-busybox-image.sh failed");
        let out = run_with(
            &self.admin,
            &self.host,
            &["load", "-i", tar.to_str().unwrap()],
            b"",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        };
        // remove the containers first so their shims exit
        let admin = |args: &[&str]| run_with(&self.admin, &self.host, args, b"");
        let ids = admin(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            admin(&["rm", "-f", id]);
        }
        if self.bridge.is_some() {
            // user networks (their bridges and rules) go with the daemon
            admin(&["network", "prune", "-f"]);
        }
        // SAFETY: signalling the daemon process this test spawned.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t = Instant::now();
        if let Some(child) = self.child.as_mut() {
            while t.elapsed() < Duration::from_secs(20) {
                if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if t.elapsed() >= Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // cgroups made under the name chosen at start
        let name = &self.cgroup;
        // Every hierarchy (v1 controllers, the v2 tree, or both), not a fixed list.
        let mut bases = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            bases.extend(rd.flatten().map(|e| e.path()));
        }
        if !name.is_empty() {
            for base in &bases {
                let p = base.join(name);
                if p.is_dir() {
                    // whatever is still in there was started by this daemon
                    kill_cgroup(&p);
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let dir = self.dir.to_string_lossy().into_owned();
        if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut mounts: Vec<&str> = mi
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(&dir))
                .collect();
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        for base in bases.iter().filter(|_| !name.is_empty()) {
            let p = base.join(name);
            if p.is_dir() {
                remove_cgroup(&p);
            }
        }
        if let Some(b) = &self.bridge {
            let _ = Command::new("ip")
                .args(["link", "del", b])
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", &format!("berth-{b}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// SIGKILLs the processes left in a cgroup tree of ours.
fn kill_cgroup(p: &Path) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                kill_cgroup(&e.path());
            }
        }
    }
    for pid in std::fs::read_to_string(p.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|x| x.parse::<i32>().ok())
    {
        // SAFETY: signalling a process in a cgroup this test's daemon made.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

fn remove_cgroup(p: &Path) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(p);
}

pub fn which(bin: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(bin).is_file())
}

/// Runs `prog -H host args…` with `stdin`.
pub fn run_with(prog: &str, host: &str, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(prog)
        .arg("-H")
        .arg(host)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let w = std::thread::spawn(move || {
        let _ = si.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    let _ = w.join();
    out
}

pub fn docker(host: &str, args: &[&str]) -> Output {
    run_with("docker", host, args, b"")
}

/// A TCP port on the loopback nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A docker-registry (distribution 2.8) of the test's own on a free port,
/// with htpasswd auth when given an account; stopped by pid on drop.
pub struct Registry {
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((u, p)) = auth {
            let o = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .unwrap();
            assert!(o.status.success());
            std::fs::write(dir.path().join("htpasswd"), &o.stdout).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: x\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let r = Registry {
            addr,
            child,
            _dir: dir,
        };
        let t = Instant::now();
        while std::net::TcpStream::connect(&r.addr).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: signalling the registry process this test spawned.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A private dockerd for the CLI tests, and running a CLI against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private dockerd, stopped and cleaned up on drop (also when a test fails).
pub struct Daemon {
    pub dir: PathBuf,
    /// The daemon's unix socket (`unix://…`).
    pub host: String,
    pid: Option<i32>,
    child: Option<std::process::Child>,
    /// The cgroup parent its containers go under.
    cgroup: String,
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
            });
        }
        Daemon::start_private("dockerd", &[])
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
        let out = docker(&self.host, &["load", "-i", tar.to_str().unwrap()]);
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
        let ids = docker(&self.host, &["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            docker(&self.host, &["rm", "-f", id]);
        }
        // SAFETY: signalling the dockerd process this test spawned.
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
        // cgroups made under the name chosen above
        let name = &self.cgroup;
        // Every hierarchy (v1 controllers, the v2 tree, or both), not a fixed list.
        let mut bases = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            bases.extend(rd.flatten().map(|e| e.path()));
        }
        for base in bases {
            let p = base.join(name);
            if p.is_dir() {
                remove_cgroup(&p);
            }
        }
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

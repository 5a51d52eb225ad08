//! A private dockerd (Debian's docker.io) as the reference in the same
//! run: its own data root, exec root, socket, cgroup parent; no bridge and
//! no iptables of its own (so it touches no shared rules). Stopped, by
//! pid, and cleaned up on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dockerd {
    pub dir: PathBuf,
    child: Child,
    cgroup_parent: String,
}

impl Dockerd {
    /// None (with a visible note) when dockerd is not installed.
    pub fn start(tag: &str) -> Option<Dockerd> {
        Self::start_with(tag, &[])
    }

    /// … with more daemon arguments.
    pub fn start_with(tag: &str, extra: &[&str]) -> Option<Dockerd> {
        let bin = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(bin) = bin else {
            eprintln!(
                "SKIPPED the dockerd reference: dockerd is not installed (apt-get install docker.io)"
            );
            return None;
        };
        let dir = PathBuf::from(format!(
            "/tmp/berth-test-dockerd-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cgroup_parent = format!("berth-test-dockerd-{}", std::process::id());
        let log = std::fs::File::create(dir.join("log")).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let child = Command::new(bin)
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}/sock", dir.display()))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg("--cgroup-parent")
            .arg(&cgroup_parent)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            dir,
            child,
            cgroup_parent,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                std::fs::read_to_string(d.dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(d)
    }

    pub fn sock(&self) -> String {
        format!("unix://{}/sock", self.dir.display())
    }

    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(super::docker_bin().expect("the docker CLI"))
            .arg("-H")
            .arg(self.sock())
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// busybox:latest, made and loaded as for berthd.
    pub fn load_busybox(&self) {
        let tar = self.dir.join("busybox.tar");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
        assert!(
            Command::new("bash")
                .arg(script)
                .arg(&tar)
                .status()
                .unwrap()
                .success()
        );
        let o = self.docker(&["load", "-i", tar.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["network", "prune", "-f"]);
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let prefix = self.dir.to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for b in rd.flatten() {
                let p = b.path().join(&self.cgroup_parent);
                if let Ok(inner) = std::fs::read_dir(&p) {
                    for e in inner.flatten().filter(|e| e.path().is_dir()) {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
                let _ = std::fs::remove_dir(p);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

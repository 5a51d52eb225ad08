//! A private berthd for the integration tests: its own socket, data root,
//! exec root and cgroup parent; on drop every container is removed, the
//! daemon stopped, and any mount or cgroup it left is cleaned up.
#![allow(dead_code)]

pub mod certs;
pub mod dockerd;
pub mod registry;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub dir: PathBuf,
    pub cgroup_parent: String,
    child: Option<Child>,
    /// The client the scenario drives: the docker CLI or berth.
    pub cli: PathBuf,
}

pub fn docker_bin() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Daemon {
    /// The berth CLI built next to berthd.
    pub fn berth_bin() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_berthd")).with_file_name("berth")
    }

    pub fn start() -> Daemon {
        Self::start_in(
            PathBuf::from(format!("/tmp/berth-test-berthd-{}", std::process::id())),
            true,
        )
    }

    /// Start berthd on `dir` (fresh unless `fresh` is false: a restart).
    pub fn start_in(dir: PathBuf, fresh: bool) -> Daemon {
        Self::start_with(dir, fresh, &[])
    }

    /// … with more daemon arguments.
    pub fn start_with(dir: PathBuf, fresh: bool, extra: &[String]) -> Daemon {
        Self::start_configured(dir, fresh, None, extra)
    }

    /// … and a daemon.json (`json`; None: no file).
    pub fn start_configured(
        dir: PathBuf,
        fresh: bool,
        json: Option<&str>,
        extra: &[String],
    ) -> Daemon {
        let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        let runc = berthd.with_file_name("berth-runc");
        assert!(
            runc.exists(),
            "{} is missing: build it first (cargo build -p berth-runc)",
            runc.display()
        );
        if fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(j) = json {
            std::fs::write(dir.join("none.json"), j).unwrap();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("berthd.log"))
            .unwrap();
        let cgroup_parent = format!("berth-test-{}", std::process::id());
        let child = Command::new(&berthd)
            .arg("-H")
            .arg(format!("unix://{}/sock", dir.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("--config-file")
            .arg(dir.join("none.json"))
            .arg("--cgroup-parent")
            .arg(&cgroup_parent)
            .arg("--bridge")
            .arg(bridge_name())
            .arg("--bip")
            .arg(bridge_bip())
            // Containers' DNS queries stay on this machine (nothing listens there).
            .arg("--dns")
            .arg("127.0.0.1")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start berthd");
        let d = Daemon {
            dir,
            cgroup_parent,
            child: Some(child),
            cli: docker_bin().unwrap_or_else(Self::berth_bin),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "berthd did not come up: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    pub fn sock(&self) -> String {
        format!("unix://{}/sock", self.dir.display())
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// kill -9 the daemon (its containers and monitors keep running).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start a new daemon on the same directories after [`Daemon::kill9`].
    pub fn restart(&mut self) {
        let mut next = Daemon::start_in(self.dir.clone(), false);
        next.cli = self.cli.clone();
        self.child = next.child.take();
        std::mem::forget(next);
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.cli);
        c.arg("-H")
            .arg(format!("unix://{}/sock", self.dir.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("docker-config"));
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn mounts(&self) -> Vec<String> {
        let prefix = self.dir.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .map(String::from)
            .collect()
    }

    /// The container cgroups under this daemon's parent, in every hierarchy.
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut bases = vec![PathBuf::from("/sys/fs/cgroup")];
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            bases.extend(rd.flatten().map(|e| e.path()));
        }
        for b in bases {
            let p = b.join(&self.cgroup_parent);
            if let Ok(rd) = std::fs::read_dir(&p) {
                out.extend(
                    rd.flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
        out
    }
}

/// This test process's bridge: short (interface names have 15 bytes at most).
pub fn bridge_name() -> String {
    format!("bt{}", std::process::id())
}

/// A /24 of 10/8 derived from the pid, so that parallel test daemons never
/// pick the same subnet. Second octets are split between the tests so that
/// subnets of different test processes never overlap: 20–59 and 60–99
/// user_networks (250–254 its internal one), 100–149 the daemons' default bridges, 150–199 network,
/// 200–249 berth_network_cli.
pub fn bridge_bip() -> String {
    let p = std::process::id();
    format!("10.{}.{}.1/24", 100 + (p >> 8) % 50, p & 0xff)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers outlive berthd (their monitors hold them): remove them first.
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // User-defined networks (their bridges and tables) go with it.
        if self.child.is_some() {
            let _ = self.api("POST", "/networks/prune", None);
        }
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever is still in our cgroups was started by this daemon.
        for cg in self.cgroups() {
            for pid in std::fs::read_to_string(cg.join("cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for cg in self.cgroups() {
            let _ = std::fs::remove_dir(cg);
        }
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for b in rd.flatten() {
                let _ = std::fs::remove_dir(b.path().join(&self.cgroup_parent));
            }
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.cgroup_parent));
        // The bridge and the nftables table this daemon made.
        let _ = Command::new("ip")
            .args(["link", "del", &bridge_name()])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args([
                "delete",
                "table",
                "inet",
                &format!("berth-{}", bridge_name()),
            ])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run the client; it must succeed; its stdout.
pub fn ok(d: &Daemon, args: &[&str]) -> String {
    let o = d.docker(args);
    assert_eq!(code(&o), 0, "{args:?}: {}{}", out(&o), err(&o));
    out(&o)
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn link_exists(name: &str) -> bool {
    Path::new(&format!("/sys/class/net/{name}")).exists()
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

impl Daemon {
    /// busybox:latest from busybox-static, loaded with the client.
    pub fn load_busybox(&self) {
        let tar = self.dir.join("busybox.tar");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
        assert!(
            Command::new("bash")
                .arg(script)
                .arg(&tar)
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        let o = self.docker(&["load", "-i", tar.to_str().unwrap()]);
        assert!(
            out(&o).contains("Loaded image: busybox:latest"),
            "{}",
            err(&o)
        );
    }

    /// A raw HTTP/1.1 request on the daemon's socket: (status, content type,
    /// body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(self.dir.join("sock")).unwrap();
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let (head, rest) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let ctype = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        (status, ctype, body)
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

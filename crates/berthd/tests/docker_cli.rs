//! The official docker CLI against berthd: a private daemon (own socket, data
//! root, exec root and cgroup parent), a busybox image loaded with
//! `docker load`, and the everyday commands with docker's outputs and exit
//! codes. Afterwards nothing may be left: no mount, cgroup or process.
//!
//! Needs root, the docker CLI (/usr/local/bin/docker) and busybox-static; the
//! runtime binary `berth-runc` must be built next to berthd (`cargo build`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    dir: PathBuf,
    cgroup_parent: String,
    child: Option<Child>,
}

fn docker_bin() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Daemon {
    fn start() -> Daemon {
        let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        let runc = berthd.with_file_name("berth-runc");
        assert!(
            runc.exists(),
            "{} is missing: build it first (cargo build -p berth-runc)",
            runc.display()
        );
        let dir = PathBuf::from(format!("/tmp/berth-test-berthd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("berthd.log")).unwrap();
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
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start berthd");
        let d = Daemon {
            dir,
            cgroup_parent,
            child: Some(child),
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

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(docker_bin().unwrap());
        c.arg("-H")
            .arg(format!("unix://{}/sock", self.dir.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("docker-config"));
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    fn mounts(&self) -> Vec<String> {
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
    fn cgroups(&self) -> Vec<PathBuf> {
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

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers outlive berthd (their monitors hold them): remove them first.
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn docker_cli_drives_berthd() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    if docker_bin().is_none() {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    }
    let d = Daemon::start();
    let v = d.docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(out(&v).trim(), "1.51", "{}", err(&v));

    // An image from busybox-static, through `docker load`.
    let tar = d.dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    assert!(
        Command::new("bash")
            .arg(script)
            .arg(&tar)
            .status()
            .unwrap()
            .success()
    );
    let o = d.docker(&["load", "-i", tar.to_str().unwrap()]);
    assert!(
        out(&o).contains("Loaded image: busybox:latest"),
        "{}{}",
        out(&o),
        err(&o)
    );
    assert!(out(&d.docker(&["images"])).contains("busybox "));

    // Attached runs: output, exit codes, stderr, stdin.
    let o = d.docker(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!((code(&o), out(&o).as_str()), (0, "hello\n"), "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo oops >&2; exit 3",
    ]);
    assert_eq!(code(&o), 3);
    assert_eq!(err(&o), "oops\n");
    let o = d.docker(&["run", "--rm", "busybox", "nosuch"]);
    assert_eq!(code(&o), 127);
    assert!(err(&o).contains("executable file not found"), "{}", err(&o));
    let mut child = d
        .cmd(&["run", "--rm", "-i", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(out(&o), "piped\n");
    let o = d.docker(&[
        "run",
        "--rm",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a)",
    ]);
    assert_eq!(code(&o), 137, "an OOM kill is 137: {}", err(&o));

    // A detached container: ps, exec, logs, inspect, stop, rm.
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-test-web",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 100",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o).trim().len(), 64);
    let ps = out(&d.docker(&["ps"]));
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains("berth-test-web") && ps.contains("Up "), "{ps}");
    let o = d.docker(&["exec", "berth-test-web", "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!((code(&o), out(&o).as_str()), (5, "in-exec\n"));
    let o = d.docker(&["logs", "berth-test-web"]);
    assert_eq!(out(&o), "started\n");
    let o = d.docker(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.Name}}",
        "berth-test-web",
    ]);
    assert_eq!(out(&o).trim(), "running /berth-test-web");
    let o = d.docker(&["run", "-d", "--name", "berth-test-web", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        err(&o).contains("is already in use by container"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["stop", "-t", "1", "berth-test-web"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let ps = out(&d.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.contains("berth-test-web Exited (137)"), "{ps}");
    assert_eq!(code(&d.docker(&["rm", "berth-test-web"])), 0);
    let o = d.docker(&["rm", "berth-test-web"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("No such container: berth-test-web"),
        "{}",
        err(&o)
    );
    let o = d.docker(&["run", "--rm", "nosuchimage"]);
    assert_eq!(code(&o), 125);
    assert!(err(&o).contains("Unable to find image 'nosuchimage:latest' locally"));

    // Nothing of the containers is left.
    assert!(out(&d.docker(&["ps", "-aq"])).trim().is_empty());
    let mounts = d.mounts();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let cgroups = d.cgroups();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}

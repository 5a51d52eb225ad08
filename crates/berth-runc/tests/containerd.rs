//! Acceptance: Debian's containerd runs containers through berth-runc.
//!
//! The test starts its own containerd (own root, state, sockets, namespace),
//! imports a busybox image made from busybox-static, and drives it with `ctr`
//! and `--runc-binary`: output and exit code, `task exec`, a memory limit (and
//! an OOM kill inside it), `task kill`, delete. Afterwards nothing of it may be
//! left: no runtime state, cgroup, mount or process.
//!
//! Skips (visibly) when containerd or ctr is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{runtime_bin, text, which};

struct Containerd {
    dir: PathBuf,
    ns: String,
    child: Option<Child>,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = PathBuf::from(format!("/tmp/berth-test-ctrd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
"#,
            d = dir.display()
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new(which("containerd"))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd {
            ns: format!("berth-test-{}", std::process::id()),
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if c.ctr(&["version"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not come up: {}",
                std::fs::read_to_string(c.dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("120")
            .arg(which("ctr"))
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .arg("--namespace")
            .arg(&self.ns)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(o.status.success(), "ctr {args:?} failed: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.join("runc")
    }

    /// `ctr run` with berth-runc as the runtime binary.
    fn run(&self, extra: &[&str], id: &str, cmd: &[&str]) -> Output {
        let bin = runtime_bin();
        let root = self.runc_root();
        let mut args = vec![
            "run",
            "--runc-binary",
            bin.as_str(),
            "--runc-root",
            root.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push("docker.io/library/busybox:latest");
        args.push(id);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }

    fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr_ok(&["task", "ls"]);
        out.lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&id))
            .and_then(|f| f.get(2).map(|s| s.to_string()))
    }

    fn wait_task_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.task_status(id).as_deref() != Some(want) {
            assert!(Instant::now() < deadline, "task {id} never became {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Mount points under the test directory (containerd's rootfs mounts).
    fn mounts(&self) -> Vec<PathBuf> {
        let prefix = self.dir.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .map(PathBuf::from)
            .collect()
    }

    /// The namespace's cgroup directories (containerd puts containers at
    /// /<namespace>/<id>; parents are left by the runtime, like runc does).
    fn ns_cgroups(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in rd.flatten() {
                for p in [
                    h.path().join(&self.ns),
                    Path::new("/sys/fs/cgroup").join(&self.ns),
                ] {
                    if p.is_dir() && !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // After a failure tasks may still run: remove them through containerd,
        // then kill whatever is left in the namespace's cgroups and its shims.
        if std::thread::panicking() {
            let out = self.ctr(&["containers", "ls", "-q"]);
            if out.status.success() {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = self.ctr(&["task", "kill", "--signal", "SIGKILL", id]);
                    std::thread::sleep(Duration::from_millis(200));
                    let _ = self.ctr(&["task", "delete", "--force", id]);
                    let _ = self.ctr(&["container", "delete", id]);
                }
            }
        }
        for cg in self.ns_cgroups() {
            kill_cgroup_tree(&cg);
        }
        let shims = Command::new("pgrep")
            .args([
                "-f",
                &format!("containerd-shim-runc-v2 -namespace {} ", self.ns),
            ])
            .output();
        if let Ok(o) = shims {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
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
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
        for m in mounts {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        for cg in self.ns_cgroups() {
            remove_cgroup_tree(&cg);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SIGKILL every process in a cgroup subtree (all of them were started by
/// this test's containerd).
fn kill_cgroup_tree(p: &Path) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                kill_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::write(p.join("freezer.state"), "THAWED");
    for pid in std::fs::read_to_string(p.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn remove_cgroup_tree(p: &Path) {
    // Killed processes leave their cgroup a moment later.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(p.join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(p);
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn image_tar(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    let tar = dir.join("busybox.tar");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&tar)
        .output()
        .unwrap();
    assert!(o.status.success(), "make-busybox-image.sh: {}", text(&o));
    tar
}

#[test]
fn containerd_runs_containers_through_berth_runc() {
    require_root!();
    if ["containerd", "ctr", "containerd-shim-runc-v2"]
        .iter()
        .any(|b| common::find(b).is_none())
    {
        eprintln!("SKIPPED: containerd is not installed (apt-get install containerd)");
        return;
    }
    let c = Containerd::start();
    let tar = image_tar(&c.dir);
    c.ctr_ok(&["images", "import", tar.to_str().unwrap()]);

    // Output and exit code, --rm.
    let o = c.run(
        &["--rm"],
        "hello",
        &["sh", "-c", "echo hello from busybox; exit 3"],
    );
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("hello from busybox"),
        "{}",
        text(&o)
    );

    // A detached task with a 32 MiB memory limit.
    let id = "limited";
    let o = c.run(
        &["-d", "--memory-limit", "33554432"],
        id,
        &["sleep", "1000"],
    );
    assert!(o.status.success(), "ctr run -d: {}", text(&o));
    c.wait_task_status(id, "RUNNING");

    // The limit is set on the container's cgroup (ctr's spec has no cgroup
    // mount, so it is checked from the host).
    let v1 = Path::new("/sys/fs/cgroup/memory").join(&c.ns).join(id);
    let (file, want) = if v1.exists() {
        (v1.join("memory.limit_in_bytes"), "33554432")
    } else {
        (
            Path::new("/sys/fs/cgroup")
                .join(&c.ns)
                .join(id)
                .join("memory.max"),
            "33554432",
        )
    };
    let host = std::fs::read_to_string(&file).unwrap();
    assert_eq!(host.trim(), want, "{}", file.display());

    // task exec: output and exit status.
    let o = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        id,
        "sh",
        "-c",
        "echo in-exec; exit 7",
    ]);
    assert_eq!(code(&o), 7, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("in-exec"));

    // An exec'd process that exceeds the limit is OOM-killed (SIGKILL → 137).
    let o = c.ctr(&["task", "exec", "--exec-id", "oom", id, "tail", "/dev/zero"]);
    assert_eq!(code(&o), 137, "expected an OOM kill: {}", text(&o));
    assert_eq!(c.task_status(id).as_deref(), Some("RUNNING"));

    // task kill, then delete.
    c.ctr_ok(&["task", "kill", "--signal", "SIGKILL", id]);
    c.wait_task_status(id, "STOPPED");
    c.ctr_ok(&["task", "delete", id]);
    c.ctr_ok(&["container", "delete", id]);

    // Nothing left behind: runtime state, task mounts, cgroups, processes.
    let state = std::fs::read_dir(c.runc_root().join(&c.ns))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(state.is_empty(), "runtime state left: {state:?}");
    let rootfs_mounts: Vec<_> = c
        .mounts()
        .into_iter()
        .filter(|m| {
            m.to_string_lossy()
                .contains("io.containerd.runtime.v2.task")
        })
        .collect();
    assert!(rootfs_mounts.is_empty(), "mounts left: {rootfs_mounts:?}");
    for cg in c.ns_cgroups() {
        let children: Vec<_> = std::fs::read_dir(&cg)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect();
        assert!(children.is_empty(), "cgroups left: {children:?}");
    }
    assert!(c.ctr_ok(&["task", "ls"]).lines().count() <= 1);
    assert!(c.ctr_ok(&["containers", "ls", "-q"]).trim().is_empty());
    let shims = Command::new("pgrep")
        .args([
            "-f",
            &format!("containerd-shim-runc-v2 -namespace {}", c.ns),
        ])
        .output()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = String::from_utf8_lossy(&shims.stdout).into_owned();
    while !left.trim().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let o = Command::new("pgrep")
            .args([
                "-f",
                &format!("containerd-shim-runc-v2 -namespace {}", c.ns),
            ])
            .output()
            .unwrap();
        left = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    assert!(left.trim().is_empty(), "shim processes left: {left}");
}

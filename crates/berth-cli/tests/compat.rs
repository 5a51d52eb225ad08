//! Runs the same scenarios with the real docker CLI and with berth against one
//! daemon and compares outputs and exit codes.
//!
//! The daemon: BERTH_CLI_TEST_HOST (e.g. unix:///run/berth.sock) if set;
//! otherwise a private dockerd started under /tmp/berth-test-dockerd-<pid>
//! (skipped, visibly, if `dockerd` or `docker` is not installed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A private dockerd, stopped and cleaned up on drop (also when a test fails).
struct Daemon {
    dir: PathBuf,
    host: String,
    pid: Option<i32>,
    child: Option<std::process::Child>,
}

impl Daemon {
    fn start() -> Option<Daemon> {
        if let Ok(h) = std::env::var("BERTH_CLI_TEST_HOST") {
            return Some(Daemon {
                dir: PathBuf::new(),
                host: h,
                pid: None,
                child: None,
            });
        }
        if !which("dockerd") || !which("docker") {
            eprintln!("SKIPPED: dockerd/docker not installed (apt-get install docker.io)");
            return None;
        }
        let dir = PathBuf::from(format!("/tmp/berth-test-dockerd-{}", std::process::id()));
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
            .arg(format!("berth-cli-test-{}", std::process::id()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let mut d = Daemon {
            host: format!("unix://{}", sock.display()),
            dir,
            pid: Some(child.id() as i32),
            child: Some(child),
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

    fn load_busybox(&mut self) {
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
        let Some(pid) = self.pid else { return };
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
        let name = format!("berth-cli-test-{}", std::process::id());
        // Every hierarchy (v1 controllers, the v2 tree, or both), not a fixed list.
        let mut bases = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            bases.extend(rd.flatten().map(|e| e.path()));
        }
        for base in bases {
            let p = base.join(&name);
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

fn which(bin: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(bin).is_file())
}

fn run_with(prog: &str, host: &str, args: &[&str], stdin: &[u8]) -> Output {
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

fn docker(host: &str, args: &[&str]) -> Output {
    run_with("docker", host, args, b"")
}

fn berth(host: &str, args: &[&str]) -> Output {
    run_with(BERTH, host, args, b"")
}

fn text(b: &[u8]) -> String {
    normalise_times(&String::from_utf8_lossy(b).replace("docker: ", "X: "))
}

/// Human durations ("Less than a second", "About a minute", "3 seconds")
/// tick between the two CLIs' calls: compare them by shape. Column padding
/// follows the widest cell, so runs of spaces are compared as one gap.
fn normalise_times(s: &str) -> String {
    let re = regex::Regex::new(
        r"(Less than a second|About an? (minute|hour)|\d+ (second|minute|hour|day|week|month|year)s?)",
    )
    .unwrap();
    let s = re.replace_all(s, "<duration>");
    let gaps = regex::Regex::new(r" {2,}").unwrap();
    gaps.replace_all(&s, "  ").into_owned()
}

#[test]
fn time_columns_compare_by_shape() {
    let a = "NAME   CREATED                  STATUS\nc1     Less than a second ago   Up 1 second\n";
    let b = "NAME   CREATED         STATUS\nc1     1 second ago    Up 2 seconds\n";
    assert_eq!(normalise_times(a), normalise_times(b));
    assert_ne!(normalise_times("Exited (0)"), normalise_times("Exited (1)"));
}

/// Runs both CLIs; asserts same exit code, stdout and stderr.
fn same(host: &str, args: &[&str], stdin: &[u8]) -> Output {
    let d = run_with("docker", host, args, stdin);
    let b = run_with(BERTH, host, args, stdin);
    assert_eq!(
        d.status.code(),
        b.status.code(),
        "exit code of {args:?}; berth stderr: {}",
        text(&b.stderr)
    );
    assert_eq!(text(&d.stdout), text(&b.stdout), "stdout of {args:?}");
    assert_eq!(text(&d.stderr), text(&b.stderr), "stderr of {args:?}");
    b
}

/// Like `same`, for outputs whose row order docker leaves to Go map iteration.
fn same_unordered(host: &str, args: &[&str]) {
    let d = run_with("docker", host, args, b"");
    let b = run_with(BERTH, host, args, b"");
    assert_eq!(d.status.code(), b.status.code(), "exit code of {args:?}");
    let sorted = |o: &[u8]| {
        let mut l: Vec<String> = text(o).lines().map(str::to_string).collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&d.stdout), sorted(&b.stdout), "stdout of {args:?}");
}

#[test]
fn compare_with_docker() {
    let Some(d) = Daemon::start() else { return };
    let h = d.host.as_str();
    let net = "--network=none";

    // run: attached, stderr, exit codes
    same(h, &["run", "--rm", net, "busybox", "echo", "hello"], b"");
    let o = same(
        h,
        &[
            "run",
            "--rm",
            net,
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        same(h, &["run", "--rm", net, "busybox", "nosuch"], b"")
            .status
            .code(),
        Some(127)
    );
    assert_eq!(
        same(h, &["run", "--rm", net, "busybox", "/etc"], b"")
            .status
            .code(),
        Some(126)
    );
    same(
        h,
        &["run", "--rm", net, "-i", "busybox", "cat"],
        b"line1\nline2\n",
    );
    same(h, &["run", "--rm", net, "busybox", "cat"], b"not read\n");
    same(
        h,
        &[
            "run",
            "--rm",
            net,
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "1:2",
            "--hostname",
            "hh",
            "busybox",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u):$(id -g) $(hostname)",
        ],
        b"",
    );
    same(
        h,
        &[
            "run",
            "--rm",
            net,
            "--entrypoint",
            "echo",
            "busybox",
            "a",
            "-n",
        ],
        b"",
    );
    same(h, &["run", "--unknown-flag", "busybox"], b"");
    same(h, &["stop", "nosuch"], b"");
    same(h, &["rm", "-f", "nosuch"], b"");
    same(h, &["inspect", "nosuch"], b"");
    same(h, &["rmi", "nosuch"], b"");

    // detached container: ps, logs, exec, inspect, lifecycle
    let id = berth(
        h,
        &[
            "run",
            "-d",
            net,
            "--name",
            "c1",
            "-l",
            "k=v",
            "busybox",
            "sh",
            "-c",
            "echo started; exec sleep 1000",
        ],
    );
    assert!(id.status.success(), "{}", text(&id.stderr));
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim().len(), 64);
    // `logs` is compared below: wait for the line, not for a fixed time.
    let t = Instant::now();
    while !text(&berth(h, &["logs", "c1"]).stdout).contains("started") {
        assert!(t.elapsed() < Duration::from_secs(30), "c1 never logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    same(h, &["ps"], b"");
    same(h, &["ps", "-a", "--no-trunc"], b"");
    same(h, &["ps", "-q"], b"");
    same(
        h,
        &[
            "ps",
            "--format",
            "table {{.ID}}\t{{.Names}}\t{{.Label \"k\"}}",
        ],
        b"",
    );
    same(h, &["ps", "--format", "{{json .}}"], b"");
    same(h, &["logs", "c1"], b"");
    same(h, &["exec", "c1", "sh", "-c", "exit 5"], b"");
    same(h, &["exec", "c1", "nosuch"], b"");
    same(h, &["exec", "-i", "c1", "cat"], b"piped\n");
    same(h, &["inspect", "c1"], b"");
    same(
        h,
        &[
            "container",
            "inspect",
            "-f",
            "{{.State.Status}} {{json .Config.Cmd}} {{.Config.Labels}}",
            "c1",
        ],
        b"",
    );
    same(h, &["inspect", "-f", "{{.Nope}}", "c1"], b"");
    // the C (cpu) column varies between calls: compare the layout only
    let (dt, bt) = (docker(h, &["top", "c1"]), berth(h, &["top", "c1"]));
    assert_eq!(
        text(&dt.stdout).lines().next(),
        text(&bt.stdout).lines().next()
    );
    assert!(text(&bt.stdout).contains("sleep 1000"));
    let o = berth(h, &["kill", "c1"]);
    assert!(o.status.success());
    same(h, &["wait", "c1"], b"");
    same(
        h,
        &[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Running}}",
            "c1",
        ],
        b"",
    );
    assert!(berth(h, &["start", "c1"]).status.success());
    assert!(berth(h, &["stop", "-t", "0", "c1"]).status.success());
    same(h, &["ps", "-a", "--format", "{{.Names}} {{.State}}"], b"");

    // cp both ways
    let tmp = d.dir.join("cp");
    let tmp_s = tmp.to_str().unwrap().to_string();
    std::fs::create_dir_all(tmp.join("src/sub")).unwrap();
    std::fs::write(tmp.join("src/sub/f"), "content\n").unwrap();
    let b = berth(h, &["cp", &format!("{tmp_s}/src"), "c1:/tmp/"]);
    assert!(b.status.success(), "{}", text(&b.stderr));
    let b = berth(h, &["cp", "c1:/tmp/src/sub/f", &format!("{tmp_s}/back")]);
    assert!(b.status.success(), "{}", text(&b.stderr));
    assert_eq!(
        std::fs::read_to_string(tmp.join("back")).unwrap(),
        "content\n"
    );
    let b = berth(h, &["cp", "c1:/tmp/src", &format!("{tmp_s}/dir2")]);
    assert!(b.status.success(), "{}", text(&b.stderr));
    assert!(tmp.join("dir2/sub/f").is_file());
    same(h, &["cp", "c1:/nonexistent", &tmp_s], b"");

    // images
    same(h, &["images"], b"");
    assert!(berth(h, &["tag", "busybox", "mytag:v1"]).status.success());
    same_unordered(h, &["images"]);
    same_unordered(h, &["images", "-q"]);
    same_unordered(
        h,
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
        ],
    );
    same(
        h,
        &["image", "inspect", "-f", "{{.Id}} {{.Size}}", "mytag:v1"],
        b"",
    );
    same(h, &["history", "busybox"], b"");
    let tar = format!("{tmp_s}/save.tar");
    assert!(berth(h, &["save", "-o", &tar, "mytag:v1"]).status.success());
    let o = berth(h, &["rmi", "mytag:v1"]);
    assert_eq!(text(&o.stdout), "Untagged: mytag:v1\n");
    let o = berth(h, &["load", "-i", &tar]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("mytag:v1"));
    let o = berth(h, &["rmi", "mytag:v1"]);
    assert_eq!(text(&o.stdout), "Untagged: mytag:v1\n");
    let o = berth(h, &["rm", "c1"]);
    assert_eq!(text(&o.stdout), "c1\n");
    same(h, &["rm", "c1"], b"");
    same(h, &["system", "df"], b"");
}

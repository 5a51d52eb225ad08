//! Crash consistency: `BERTH_CRASH_ITERATIONS` (default 200) times, start
//! an operation (pull, push, build, commit, load, volume copy-up, container
//! create/start/rm, image rm, network create/rm, compose up), kill -9
//! berthd after a random delay, start it again and check:
//!
//! - `berth system check` finds nothing (every listed image has its
//!   content; no dangling snapshot, orphaned mount, cgroup, veth, monitor or
//!   half-written blob — what a crash leaves is collected at start);
//! - from outside: no mount, cgroup, veth, monitor or port rule of a
//!   container that does not run;
//! - the operation, repeated, succeeds; once undone, the daemon is back to
//!   its base state (no container, the base images).
//!
//! The delay is drawn in [0, 1.2 × the operation's own duration] (measured
//! once beforehand), so most kills land inside it; the test prints how many
//! times each operation was interrupted. `BERTH_CRASH_SEED` replays a run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::registry::{Mode, Registry, busybox_archive};
use common::{code, err, out};

/// A small random generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Pull,
    Push,
    Build,
    Commit,
    Load,
    VolumeCopyUp,
    Container,
    ImageRm,
    Network,
    ComposeUp,
}

const OPS: [Op; 10] = [
    Op::Pull,
    Op::Push,
    Op::Build,
    Op::Commit,
    Op::Load,
    Op::VolumeCopyUp,
    Op::Container,
    Op::ImageRm,
    Op::Network,
    Op::ComposeUp,
];

struct World {
    d: common::Daemon,
    berth: PathBuf,
    reg: Option<Registry>,
    work: PathBuf,
}

impl World {
    fn cli(&self) -> &Path {
        &self.d.cli
    }

    fn sock(&self) -> String {
        self.d.sock()
    }

    /// The client, with the berth CLI for what only it has.
    fn run(&self, prog: &Path, args: &[&str]) -> Output {
        Command::new(prog)
            .arg("-H")
            .arg(self.sock())
            .args(args)
            .env("DOCKER_CONFIG", self.d.dir.join("docker-config"))
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(self.cli(), args);
        assert_eq!(code(&o), 0, "{args:?}: {}{}", out(&o), err(&o));
        out(&o)
    }

    /// Run, whatever the outcome.
    fn any(&self, args: &[&str]) {
        let _ = self.run(self.cli(), args);
    }

    fn image_exists(&self, name: &str) -> bool {
        code(&self.run(self.cli(), &["image", "inspect", name])) == 0
    }

    fn reg_image(&self, repo_tag: &str) -> Option<String> {
        self.reg.as_ref().map(|r| r.image(repo_tag))
    }

    /// A script of client commands (`$C` is the client with its host).
    fn script(&self, body: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-ec")
            .arg(body)
            .env("C", format!("{} -H {}", self.cli().display(), self.sock()))
            .env("B", format!("{} -H {}", self.berth.display(), self.sock()))
            .env("DOCKER_CONFIG", self.d.dir.join("docker-config"))
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Make the state `op` starts from.
    fn prepare(&self, op: Op) {
        match op {
            Op::Pull => {
                if let Some(i) = self.reg_image("crash/busybox:base") {
                    self.any(&["rmi", "-f", &i]);
                }
            }
            Op::Push => {
                let i = self.reg_image("crash/pushed:latest").unwrap();
                self.any(&["rm", "-f", "crash-p"]);
                self.ok(&[
                    "run",
                    "--name",
                    "crash-p",
                    "busybox",
                    "sh",
                    "-c",
                    "head -c 3000000 /dev/urandom > /r",
                ]);
                self.ok(&["commit", "crash-p", &i]);
                self.ok(&["rm", "crash-p"]);
            }
            Op::Commit => {
                self.any(&["rm", "-f", "crash-c"]);
                self.ok(&[
                    "run",
                    "--name",
                    "crash-c",
                    "busybox",
                    "sh",
                    "-c",
                    "head -c 3000000 /dev/urandom > /r",
                ]);
            }
            Op::Load => {
                self.any(&["rm", "-f", "crash-l"]);
                self.ok(&[
                    "run",
                    "--name",
                    "crash-l",
                    "busybox",
                    "sh",
                    "-c",
                    "head -c 3000000 /dev/urandom > /r",
                ]);
                self.ok(&["commit", "crash-l", "crash-loaded:latest"]);
                self.ok(&["rm", "crash-l"]);
                let tar = self.work.join("loaded.tar");
                self.ok(&["save", "-o", tar.to_str().unwrap(), "crash-loaded:latest"]);
                self.ok(&["rmi", "crash-loaded:latest"]);
            }
            Op::ImageRm => {
                self.any(&["rm", "-f", "crash-r"]);
                self.ok(&[
                    "run",
                    "--name",
                    "crash-r",
                    "busybox",
                    "sh",
                    "-c",
                    "head -c 3000000 /dev/urandom > /r",
                ]);
                self.ok(&["commit", "crash-r", "crash-removed:latest"]);
                self.ok(&["rm", "crash-r"]);
            }
            _ => {}
        }
    }

    /// The operation, as a client process to interrupt.
    fn action(&self, op: Op) -> Command {
        match op {
            Op::Pull => self.script(&format!(
                "$C pull {}",
                self.reg_image("crash/busybox:base").unwrap()
            )),
            Op::Push => self.script(&format!(
                "$C push {}",
                self.reg_image("crash/pushed:latest").unwrap()
            )),
            Op::Build => self.script("$C build --no-cache -q -t crash-built:latest ctx"),
            Op::Commit => self.script("$C commit crash-c crash-committed:latest"),
            Op::Load => self.script("$C load -q -i loaded.tar"),
            Op::VolumeCopyUp => self.script("$C run --rm -v crash-vol:/etc busybox true"),
            Op::Container => self.script(
                "$C rm -f crash-x >/dev/null 2>&1 || true
                 $C create --name crash-x -p 127.0.0.1::80 busybox sleep 100
                 $C start crash-x
                 $C rm -f crash-x",
            ),
            Op::ImageRm => self.script("$C rmi crash-removed:latest"),
            Op::Network => self.script(&format!(
                "$C network rm crash-net >/dev/null 2>&1 || true
                 $C network create -o com.docker.network.bridge.name={} crash-net
                 $C network rm crash-net",
                net_bridge()
            )),
            Op::ComposeUp => self.script("$B compose -p crashproj -f compose.yaml up -d"),
        }
    }

    /// After the restart: the operation again, to its end; then undone.
    fn redo_and_undo(&self, op: Op) {
        let run = |mut c: Command| {
            let o = c.output().unwrap();
            assert!(
                o.status.success(),
                "{op:?} repeated after the crash failed: {}",
                err(&o)
            );
        };
        match op {
            Op::ImageRm => {
                if self.image_exists("crash-removed:latest") {
                    run(self.action(op));
                }
                assert!(!self.image_exists("crash-removed:latest"));
            }
            _ => run(self.action(op)),
        }
        match op {
            Op::Pull => {
                let i = self.reg_image("crash/busybox:base").unwrap();
                self.ok(&["run", "--rm", &i, "true"]);
                self.ok(&["rmi", &i]);
            }
            Op::Push => {
                let i = self.reg_image("crash/pushed:latest").unwrap();
                self.ok(&["rmi", &i]);
                self.ok(&["pull", "-q", &i]);
                self.ok(&["run", "--rm", &i, "test", "-s", "/r"]);
                self.ok(&["rmi", &i]);
            }
            Op::Build => {
                self.ok(&["run", "--rm", "crash-built:latest", "test", "-s", "/r"]);
                self.ok(&["rmi", "crash-built:latest"]);
            }
            Op::Commit => {
                self.ok(&["run", "--rm", "crash-committed:latest", "test", "-s", "/r"]);
                self.ok(&["rmi", "crash-committed:latest"]);
                self.ok(&["rm", "crash-c"]);
            }
            Op::Load => {
                self.ok(&["run", "--rm", "crash-loaded:latest", "test", "-s", "/r"]);
                self.ok(&["rmi", "crash-loaded:latest"]);
            }
            Op::VolumeCopyUp => {
                let ls = self.ok(&["run", "--rm", "-v", "crash-vol:/x", "busybox", "ls", "/x"]);
                assert!(ls.contains("passwd"), "the volume's copy-up: {ls:?}");
                self.ok(&["volume", "rm", "crash-vol"]);
            }
            Op::ComposeUp => {
                let o = self.run(
                    &self.berth,
                    &["compose", "-p", "crashproj", "-f", "compose.yaml", "down"],
                );
                assert_eq!(code(&o), 0, "compose down: {}", err(&o));
            }
            Op::Container | Op::ImageRm | Op::Network => {}
        }
    }

    /// The checks after a restart (containers may run: compose's).
    fn check(&self, what: &str) {
        let o = self.run(&self.berth, &["system", "check"]);
        assert!(
            code(&o) == 0 && out(&o).starts_with("No problems found"),
            "{what}: system check: {}{}\n{}",
            out(&o),
            err(&o),
            tail(&self.d.log())
        );
        let running: Vec<String> = self
            .ok(&["ps", "-q", "--no-trunc"])
            .split_whitespace()
            .map(String::from)
            .collect();
        let snapshots = self.d.dir.join("data/snapshots");
        for m in self.d.mounts() {
            assert!(
                running
                    .iter()
                    .any(|id| m == snapshots.join(id).join("merged").display().to_string()),
                "{what}: a mount of no running container: {m}"
            );
        }
        for cg in self.d.cgroups() {
            let name = cg.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                running.contains(&name),
                "{what}: a cgroup of no running container: {}",
                cg.display()
            );
        }
        let root = self.d.dir.join("exec/runtime").display().to_string();
        for id in monitors(&root) {
            assert!(
                running.contains(&id),
                "{what}: a monitor of no running container: {id}"
            );
        }
        let brif = format!("/sys/class/net/{}/brif", common::bridge_name());
        let veths = std::fs::read_dir(&brif).map(|r| r.count()).unwrap_or(0);
        assert!(
            veths <= running.len(),
            "{what}: {veths} veths on the bridge for {} containers",
            running.len()
        );
        // The network's bridge exists exactly while the network is listed.
        let listed = self
            .ok(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|l| l == "crash-net");
        assert_eq!(
            common::link_exists(&net_bridge()),
            listed,
            "{what}: bridge {} without its network, or the reverse",
            net_bridge()
        );
        let table = format!("berth-{}", common::bridge_name());
        let rules = Command::new("nft")
            .args(["list", "table", "inet", &table])
            .output()
            .map(|o| out(&o))
            .unwrap_or_default();
        assert!(
            !running.is_empty() || !rules.contains("dnat to"),
            "{what}: port rules of no running container:\n{rules}"
        );
    }

    /// Back at the base state: no container, no extra image.
    fn check_base(&self, what: &str) {
        self.check(what);
        let ps = self.ok(&["ps", "-aq"]);
        assert!(ps.trim().is_empty(), "{what}: containers left: {ps}");
    }
}

/// The bridge of the network the Network operation makes (≤ 15 bytes).
fn net_bridge() -> String {
    format!("bc{}", std::process::id() % 100_000)
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Container ids of the monitors under this runtime root.
fn monitors(root: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let has_root = args.windows(2).any(|w| w[0] == "--root" && w[1] == root);
        if has_root
            && args.iter().any(|a| a == "monitor")
            && let Some(w) = args.windows(2).find(|w| w[0] == "--id")
        {
            ids.push(w[1].clone());
        }
    }
    ids
}

#[test]
fn kill9_anywhere_leaves_a_consistent_store() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let iterations: usize = std::env::var("BERTH_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("BERTH_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("BERTH_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let d = common::Daemon::start();
    d.load_busybox();
    let work = d.dir.join("work");
    std::fs::create_dir_all(work.join("ctx")).unwrap();
    std::fs::write(
        work.join("ctx/Dockerfile"),
        "FROM busybox\nRUN head -c 3000000 /dev/urandom > /r\nCOPY f /f\nRUN test -s /r\n",
    )
    .unwrap();
    std::fs::write(work.join("ctx/f"), "f\n").unwrap();
    std::fs::write(
        work.join("compose.yaml"),
        "services:\n  a:\n    image: busybox\n    command: sleep 1000\n  b:\n    image: busybox\n    command: sleep 1000\n    volumes: [data:/data]\nvolumes:\n  data: {}\n",
    )
    .unwrap();
    let reg = Registry::start(Mode::Plain);
    if let Some(r) = &reg {
        r.push_archive(&busybox_archive(), "crash/busybox:base");
    }
    let mut w = World {
        berth: common::Daemon::berth_bin(),
        d,
        reg,
        work,
    };
    let ops: Vec<Op> = OPS
        .iter()
        .copied()
        .filter(|o| w.reg.is_some() || !matches!(o, Op::Pull | Op::Push))
        .collect();
    if ops.len() < OPS.len() {
        eprintln!("SKIPPED pull and push: no docker-registry");
    }

    // Each operation once, uninterrupted: how long it takes.
    let mut took = Vec::new();
    for &op in &ops {
        w.prepare(op);
        let t = Instant::now();
        let o = w.action(op).output().unwrap();
        assert!(o.status.success(), "{op:?}: {}", err(&o));
        took.push(t.elapsed());
        w.redo_and_undo(op);
        w.check_base(&format!("{op:?} uninterrupted"));
    }
    for (op, t) in ops.iter().zip(&took) {
        println!("{op:?}: {} ms uninterrupted", t.as_millis());
    }

    let mut interrupted = vec![0usize; ops.len()];
    let mut completed = vec![0usize; ops.len()];
    for i in 0..iterations {
        let k = i % ops.len();
        let op = ops[k];
        w.prepare(op);
        let window = took[k].as_micros() as u64 * 12 / 10;
        let delay = Duration::from_micros(rng.below(window.max(1)));
        let mut child = w.action(op).spawn().unwrap();
        std::thread::sleep(delay);
        let still = child.try_wait().unwrap().is_none();
        w.d.kill9();
        if still {
            interrupted[k] += 1;
        } else {
            completed[k] += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
        w.d.restart();
        let what = format!(
            "iteration {i}, {op:?} killed after {} ms",
            delay.as_millis()
        );
        w.check(&what);
        w.redo_and_undo(op);
        w.check_base(&what);
    }
    println!("operation      interrupted  completed before the kill");
    for (k, op) in ops.iter().enumerate() {
        println!(
            "{:<14} {:>11}  {:>9}",
            format!("{op:?}"),
            interrupted[k],
            completed[k]
        );
    }
    println!(
        "{} kills, {} while the client was still running (its own start-up included)",
        iterations,
        interrupted.iter().sum::<usize>()
    );
    // What the restarts collected, by kind.
    let mut collected = std::collections::BTreeMap::<String, usize>::new();
    for l in w.d.log().lines() {
        if let Some(rest) = l.split("collected at start: ").nth(1) {
            let kind = rest.split(' ').next().unwrap_or("").to_string();
            *collected.entry(kind).or_default() += 1;
        }
    }
    println!("collected at start: {collected:?}");
}

/// Leave one of everything `system check` knows of; return its subjects'
/// kinds.
fn plant_leftovers(d: &common::Daemon) -> Vec<&'static str> {
    let id = "ab".repeat(32);
    let snap = d.dir.join("data/snapshots").join(&id);
    std::fs::create_dir_all(snap.join("upper")).unwrap();
    std::fs::write(snap.join("lowers"), "").unwrap();
    let mnt = d.dir.join("exec/berth-test-leftover");
    std::fs::create_dir_all(&mnt).unwrap();
    nix::mount::mount(
        Some("none"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let ctl = Path::new("/sys/fs/cgroup/pids");
    let base = if ctl.exists() {
        ctl.to_path_buf()
    } else {
        PathBuf::from("/sys/fs/cgroup")
    };
    std::fs::create_dir_all(base.join(&d.cgroup_parent).join(&id)).unwrap();
    let veth = format!("vbt{}", std::process::id() % 100_000);
    let ip = |args: &[&str]| {
        assert!(
            Command::new("ip").args(args).status().unwrap().success(),
            "ip {args:?}"
        );
    };
    ip(&[
        "link",
        "add",
        &veth,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{veth}p"),
    ]);
    ip(&["link", "set", &veth, "master", &common::bridge_name()]);
    let tmp = d.dir.join("data/image/blobs/sha256/.tmp-berth-test");
    std::fs::write(&tmp, "half").unwrap();
    let old = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &tmp,
        &old,
        &old,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    vec![
        "dangling-snapshot",
        "orphaned-mount",
        "orphaned-cgroup",
        "orphaned-veth",
        "half-written",
    ]
}

/// `berth system check` finds each kind of leftover, `--repair` removes
/// them, and a restart after kill -9 collects them by itself; an image whose
/// layer is gone is reported, not removed.
#[test]
fn system_check_finds_repairs_and_restart_collects() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    /// The planted veth goes even when the test fails.
    struct Veth;
    impl Drop for Veth {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args([
                    "link",
                    "del",
                    &format!("vbt{}", std::process::id() % 100_000),
                ])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _veth = Veth;
    let mut d = common::Daemon::start();
    d.cli = common::Daemon::berth_bin();
    d.load_busybox();
    common::ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-keep",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let check = |d: &common::Daemon, args: &[&str]| {
        let mut a = vec!["system", "check"];
        a.extend(args);
        let o = d.docker(&a);
        (code(&o), out(&o))
    };
    assert_eq!(check(&d, &[]), (0, "No problems found\n".into()));

    let kinds = plant_leftovers(&d);
    let (c, text) = check(&d, &[]);
    assert_eq!(c, 1, "{text}");
    for k in &kinds {
        assert!(
            text.lines().any(|l| l.starts_with(k)),
            "{k} not found:\n{text}"
        );
    }
    assert!(text.contains("5 problem(s) found, 0 repaired"), "{text}");
    let (c, text) = check(&d, &["--repair"]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("5 problem(s) found, 5 repaired"), "{text}");
    assert_eq!(check(&d, &[]), (0, "No problems found\n".into()));

    // After kill -9, the restart collects them; the running container stays.
    plant_leftovers(&d);
    d.kill9();
    d.restart();
    assert_eq!(check(&d, &[]), (0, "No problems found\n".into()));
    let ps = common::ok(&d, &["ps", "--format", "{{.Names}}"]);
    assert_eq!(ps.trim(), "berth-test-keep");

    // An image with a layer gone: reported, exit 1, the image kept.
    common::ok(&d, &["rm", "-f", "berth-test-keep"]);
    let layers = d.dir.join("data/image/layers");
    for e in std::fs::read_dir(&layers).unwrap().flatten() {
        std::fs::remove_dir_all(e.path()).unwrap();
    }
    for e in std::fs::read_dir(d.dir.join("data/image/blobs/sha256"))
        .unwrap()
        .flatten()
    {
        if std::fs::metadata(e.path()).unwrap().len() > 100_000 {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let (c, text) = check(&d, &["--repair"]);
    assert_eq!(c, 1, "{text}");
    assert!(text.starts_with("missing-content"), "{text}");
    assert!(text.contains("pull the image again or remove it"), "{text}");
    common::ok(&d, &["image", "inspect", "busybox"]);
}

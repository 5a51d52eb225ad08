//! Full disk: berthd's data root on a small loop-mounted ext4 (`-m 0`, so
//! root has no reserved blocks either), filled with `fallocate` to leave a
//! chosen number of bytes. Each operation that hits ENOSPC — a volume
//! write from inside a container, container logs, a pull from a local
//! registry, `docker build` (a RUN that cannot write its file, a RUN whose
//! layer cannot be stored, a context that cannot be stored), `docker
//! commit` (its blob, its layer) — must end (no hang) with a non-zero exit
//! and a message saying "no space left on device" (not blaming the image),
//! leave images, containers, volumes, snapshots, temp files and free space
//! as they were (busybox still runs), and succeed once the filler is
//! deleted. Logs: the container keeps running, `docker logs` works while
//! full, logging resumes once freed.
//! At the end: nothing mounted, no cgroups, berthd alive. Every problem is
//! collected and reported together.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::registry::{Mode, Registry, busybox_archive};
use common::{Daemon, code, err, ok, out};
use nix::mount::MntFlags;
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;
/// The big file of every operation: random, so that no compression helps.
const BIG: u64 = 32 * MIB;
const FS_SIZE: &str = "384M";
/// Seconds before an operation counts as hung (each takes one or two).
const TIMEOUT: u64 = 20;
/// Free space a failed operation may keep (records, directories).
const SLACK: u64 = 256 * 1024;

/// The loop-mounted filesystem under `<base>/daemon/data`; on drop (after
/// the daemon's, which unmounts lazily) unmounted, detached and removed.
struct Disk {
    base: PathBuf,
    mnt: PathBuf,
    dev: String,
}

impl Disk {
    fn new(base: &Path) -> Disk {
        let _ = std::fs::remove_dir_all(base);
        let mnt = base.join("daemon/data");
        std::fs::create_dir_all(&mnt).unwrap();
        let img = base.join("disk.img");
        sh(Command::new("truncate").args(["-s", FS_SIZE]).arg(&img));
        sh(Command::new("mkfs.ext4").args(["-q", "-m", "0"]).arg(&img));
        let dev = sh(Command::new("losetup").args(["--find", "--show"]).arg(&img));
        let disk = Disk {
            base: base.to_path_buf(),
            mnt,
            dev: dev.trim().to_string(),
        };
        sh(Command::new("mount").arg(&disk.dev).arg(&disk.mnt));
        disk
    }

    fn filler(&self) -> PathBuf {
        self.mnt.join("berth-test-filler")
    }

    fn sync(&self) {
        let _ = nix::unistd::syncfs(std::fs::File::open(&self.mnt).unwrap());
    }

    /// Bytes available (to root: no reserved blocks).
    fn avail(&self) -> u64 {
        self.sync();
        let s = nix::sys::statvfs::statvfs(&self.mnt).unwrap();
        s.blocks_available() * s.fragment_size()
    }

    /// Leave about `leave` bytes free.
    fn fill(&self, leave: u64) {
        self.free();
        let f = std::fs::File::create(self.filler()).unwrap();
        let mut len = self.avail().saturating_sub(leave);
        // The extent tree takes a few blocks of its own: a little less then.
        while let Err(e) =
            nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::empty(), 0, len as i64)
        {
            assert_eq!(e, nix::errno::Errno::ENOSPC, "fallocate");
            f.set_len(0).unwrap();
            len -= 64 * 1024;
        }
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
        self.sync();
    }
}

/// What runs killed before their drops ran (nextest's timeout) left:
/// their mounts, loop devices and files.
fn clean_stale() {
    for e in std::fs::read_dir("/tmp").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("berth-test-fulldisk-");
        let Some(pid) = pid.filter(|p| p.parse::<u32>().is_ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = nix::mount::umount2(&e.path().join("daemon/data"), MntFlags::MNT_DETACH);
        let o = Command::new("losetup")
            .arg("-j")
            .arg(e.path().join("disk.img"))
            .output();
        for dev in o.map(|o| out(&o)).unwrap_or_default().lines() {
            let dev = dev.split(':').next().unwrap();
            let _ = Command::new("losetup").args(["-d", dev]).status();
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.mnt, MntFlags::MNT_DETACH);
        // Busy (a lazy unmount not done yet): autoclear on last close.
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Run a command that must succeed; its stdout.
fn sh(c: &mut Command) -> String {
    let o = c.stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{c:?}: {}{}", out(&o), err(&o));
    out(&o)
}

/// Run `c`, killed after TIMEOUT seconds (the CLI ignores SIGTERM while
/// attached); its output and whether it ran out of time.
fn run_for(c: Command) -> (Output, bool) {
    let mut t = Command::new("timeout");
    t.args(["-s", "KILL", &TIMEOUT.to_string()]);
    t.arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        v.map(|v| t.env(k, v));
    }
    c.get_current_dir().map(|dir| t.current_dir(dir));
    let o = t.stdin(Stdio::null()).output().unwrap();
    // timeout dies of the signal that killed the client.
    let late = o.status.signal() == Some(9);
    (o, late)
}

fn names(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect();
    v.sort();
    v
}

/// What an operation that failed must leave as it was: images,
/// containers, volumes, layers, snapshots, temp files of pulls, blobs and
/// builds (none at rest), mounts.
type State = BTreeMap<&'static str, Vec<String>>;

/// What changed from `a` to `b`, per kind.
fn changes(a: &State, b: &State) -> String {
    let mut v = Vec::new();
    for (k, now) in b {
        let new: Vec<&String> = now.iter().filter(|x| !a[k].contains(x)).collect();
        let gone: Vec<&String> = a[k].iter().filter(|x| !now.contains(x)).collect();
        if !new.is_empty() || !gone.is_empty() {
            v.push(format!("{k}: new {new:?}, gone {gone:?}"));
        }
    }
    v.join("; ")
}

fn lines(s: String) -> Vec<String> {
    s.lines().map(String::from).collect()
}

fn text(o: &Output) -> String {
    format!("{}{}", out(o), err(o))
}

/// The lines that say what went wrong (progress lines left out).
fn message(o: &Output) -> String {
    let t = text(o);
    let words = ["space", "error", "returned"];
    let keep = |l: &&str| words.iter().any(|w| l.to_lowercase().contains(w));
    t.lines().filter(keep).collect::<Vec<_>>().join(" / ")
}

/// The daemon, its disk, and the problems found (reported together).
struct T<'a> {
    d: &'a Daemon,
    disk: &'a Disk,
    problems: Vec<String>,
}

impl T<'_> {
    fn check(&mut self, good: bool, what: String) {
        if !good {
            eprintln!("PROBLEM: {what}");
            self.problems.push(what);
        }
    }

    fn state(&self) -> State {
        let (d, data) = (self.d, &self.disk.mnt);
        let all = |_: &str| true;
        let mut temps = names(&data.join("image/tmp"), all);
        let tmp = |n: &str| n.starts_with(".tmp");
        temps.extend(names(&data.join("image/blobs/sha256"), tmp));
        temps.extend(names(&data.join("build/tmp"), all));
        let images = "{{.ID}} {{.Repository}}:{{.Tag}}";
        let ps = "{{.ID}} {{.Names}} {{.State}}";
        let mounts = d.mounts().into_iter().filter(|m| Path::new(m) != data);
        let ls = |args: &[&str]| lines(ok(d, args));
        BTreeMap::from([
            (
                "images",
                ls(&["images", "-a", "--no-trunc", "--format", images]),
            ),
            (
                "containers",
                ls(&["ps", "-a", "--no-trunc", "--format", ps]),
            ),
            ("volumes", ls(&["volume", "ls", "-q"])),
            ("layers", names(&data.join("image/layers"), all)),
            ("snapshots", names(&data.join("snapshots"), all)),
            ("temp files", temps),
            ("mounts", mounts.collect()),
        ])
    }

    /// `img` has the BIG bytes at /big.
    fn check_big(&mut self, img: &str) {
        let o = self.d.docker(&["run", "--rm", img, "wc", "-c", "/big"]);
        let good = out(&o).contains(&BIG.to_string());
        self.check(good, format!("{img}: {}", text(&o)));
    }

    /// With each of `leaves` bytes free, `op` fails saying so and changes
    /// nothing (once `cleanup` removed what it legitimately wrote); with
    /// the space back it succeeds.
    fn full_then_freed(
        &mut self,
        what: &str,
        leaves: &[u64],
        op: &dyn Fn() -> Command,
        cleanup: &dyn Fn(),
    ) {
        let (d, disk) = (self.d, self.disk);
        for &leave in leaves {
            let what = format!("{what} with {} MiB free", leave / MIB);
            let before = self.state();
            disk.fill(leave);
            let avail = disk.avail();
            let t = Instant::now();
            let (o, late) = run_for(op());
            let secs = t.elapsed().as_secs_f64();
            eprintln!("{what}: exit {} in {secs:.1}s: {}", code(&o), message(&o));
            let hung = format!("{what}: hung (killed at {TIMEOUT}s): {}", text(&o));
            self.check(!late, hung);
            self.check(!o.status.success(), format!("{what}: succeeded"));
            let lower = text(&o).to_lowercase();
            let says = late || lower.contains("no space left on device");
            self.check(says, format!("{what}: no \"no space left…\": {}", text(&o)));
            let blames = lower.contains("invalid archive") || lower.contains("truncated");
            let blame = format!("{what}: blames the image: {}", message(&o));
            self.check(!blames, blame);
            cleanup();
            // What a failure leaves may go asynchronously: a few seconds.
            let mut after = self.state();
            let deadline = Instant::now() + Duration::from_secs(5);
            while (after != before || disk.avail() + SLACK < avail) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                after = self.state();
            }
            let changed = changes(&before, &after);
            self.check(after == before, format!("{what}: left {changed}"));
            let lost = avail.saturating_sub(disk.avail()) / 1024;
            let gone = format!("{what}: {lost} KiB of free space gone");
            self.check(lost < SLACK / 1024, gone);
            // Back to the state before (a container that hung), then the
            // previous image still runs, still on the full disk.
            let was = &before["containers"];
            for l in after["containers"].iter().filter(|l| !was.contains(l)) {
                let _ = d.docker(&["rm", "-f", l.split(' ').next().unwrap()]);
            }
            let (o, late) = run_for(d.cmd(&["run", "--rm", "busybox", "true"]));
            let runs = o.status.success() && !late;
            self.check(runs, format!("{what}: busybox does not run: {}", text(&o)));
            disk.free();
        }
        let (o, late) = run_for(op());
        let good = o.status.success() && !late;
        self.check(good, format!("{what} after freeing: {}", text(&o)));
    }
}

fn random(n: u64) -> Vec<u8> {
    let mut v = vec![0u8; n as usize];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut v)
        .unwrap();
    v
}

/// Append a file (mode 644) to a tar.
fn add<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
}

/// A docker-archive of busybox plus a layer of BIG random bytes at /big.
fn big_archive(path: &Path) {
    use sha2::Digest;
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(busybox_archive()).unwrap());
    for mut e in ar.entries().unwrap().map(Result::unwrap) {
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let mut config: Value =
        serde_json::from_slice(&files[m[0]["Config"].as_str().unwrap()]).unwrap();
    let base = m[0]["Layers"][0].as_str().unwrap();
    let big = random(BIG);
    let mut layer = tar::Builder::new(Vec::new());
    add(&mut layer, "big", &big);
    let layer = layer.into_inner().unwrap();
    let lhex = sha(&layer);
    let diff_ids = config["rootfs"]["diff_ids"].as_array_mut().unwrap();
    diff_ids.push(json!(format!("sha256:{lhex}")));
    let history = json!({"created": "1970-01-01T00:00:00Z", "created_by": "berth-test: /big"});
    config["history"].as_array_mut().unwrap().push(history);
    let config = serde_json::to_vec(&config).unwrap();
    let chex = sha(&config);
    let manifest = json!([{
        "Config": format!("{chex}.json"),
        "RepoTags": ["berth-test-fulldisk-big:1"],
        "Layers": [base, format!("{lhex}/layer.tar")],
    }]);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut out = tar::Builder::new(std::fs::File::create(path).unwrap());
    add(&mut out, "manifest.json", &manifest);
    add(&mut out, &format!("{chex}.json"), &config);
    add(&mut out, base, &files[base]);
    add(&mut out, &format!("{lhex}/layer.tar"), &layer);
    out.into_inner().unwrap().flush().unwrap();
}

/// The highest `tick N` in the container's log.
fn last_tick(d: &Daemon, name: &str) -> Option<u64> {
    let o = d.docker(&["logs", name]);
    out(&o)
        .lines()
        .filter_map(|l| l.strip_prefix("tick ")?.trim().parse().ok())
        .max()
}

fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

#[test]
fn enospc_fails_cleanly_and_recovers() {
    if !nix::unistd::Uid::effective().is_root() || common::docker_bin().is_none() {
        eprintln!("SKIPPED: needs root and the docker CLI");
        return;
    }
    let started = Instant::now();
    clean_stale();
    let base = PathBuf::from(format!("/tmp/berth-test-fulldisk-{}", std::process::id()));
    // Dropped after the daemon (declared before it).
    let disk = Disk::new(&base);
    let reg = Registry::start(Mode::Plain);
    let d = Daemon::start_with(base.join("daemon"), false, &[]);
    d.load_busybox();
    let mut t = T {
        d: &d,
        disk: &disk,
        problems: Vec::new(),
    };
    let work = base.join("work");
    std::fs::create_dir_all(&work).unwrap();

    // 1. A volume write from inside fills the disk to its last block:
    // dd's ENOSPC; the volume keeps its data.
    let vrun = |args: &[&str]| {
        let mut c = d.cmd(&["run", "--rm", "-v", "berth-test-fulldisk-vol:/v", "busybox"]);
        c.args(args);
        c
    };
    sh(&mut vrun(&["sh", "-c", "echo keep > /v/keep"]));
    let vol = [
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}}",
        "berth-test-fulldisk-vol",
    ];
    let f = PathBuf::from(ok(&d, &vol).trim()).join("f");
    let write = || vrun(&["dd", "if=/dev/zero", "of=/v/f", "bs=4k", "count=76800"]);
    let rm_f = || drop(std::fs::remove_file(&f));
    t.full_then_freed("volume write", &[8 * MIB], &write, &rm_f);
    let keep = sh(&mut vrun(&["cat", "/v/keep"]));
    t.check(keep.trim() == "keep", format!("volume data: {keep}"));
    rm_f();

    // 2. Logs: the container keeps writing while nothing can be logged.
    let script = "i=0; while :; do echo \"tick $i\"; head -c 16000 /dev/zero | tr '\\0' x; echo; \
                  i=$((i+1)); usleep 10000; done";
    let log = "berth-test-fulldisk-log";
    let run = ["run", "-d", "--name", log, "busybox", "sh", "-c", script];
    ok(&d, &run);
    let logged = wait_until(20, || last_tick(&d, log) >= Some(20));
    t.check(logged, "no ticks logged".into());
    disk.fill(MIB);
    let filled = wait_until(20, || disk.avail() < 64 * 1024);
    t.check(filled, "the log did not fill the disk".into());
    std::thread::sleep(Duration::from_secs(2));
    let o = d.docker(&["logs", "--tail", "5", log]);
    eprintln!("logs while full: exit {}: {}", code(&o), err(&o).trim());
    let full_tick = last_tick(&d, log);
    let good = o.status.success() && full_tick.is_some();
    t.check(good, format!("logs on a full disk: {}", text(&o)));
    let running = ok(&d, &["inspect", "-f", "{{.State.Running}}", log]);
    t.check(running.trim() == "true", format!("running: {running}"));
    disk.free();
    let resumed = wait_until(20, || last_tick(&d, log) > full_tick.map(|n| n + 100));
    t.check(resumed, format!("no logs after tick {full_tick:?}"));
    let then = last_tick(&d, log);
    eprintln!("logs: last tick while full {full_tick:?}, then {then:?}");
    ok(&d, &["rm", "-f", log]);

    // 3. A pull whose layers do not fit.
    match &reg {
        None => eprintln!("SKIPPED the pull: no docker-registry"),
        Some(reg) => {
            let archive = work.join("big.tar");
            big_archive(&archive);
            reg.push_archive(&archive, "berth-test-fulldisk-big:1");
            let img = reg.image("berth-test-fulldisk-big:1");
            t.full_then_freed("pull", &[8 * MIB], &|| d.cmd(&["pull", &img]), &|| {});
            t.check_big(&img);
        }
    }

    // 4. Build: the RUN cannot write its file (8 MiB free: the step's
    // container fills the disk), the RUN's layer cannot be stored (BIG + 8);
    // a context of BIG bytes cannot be stored (8).
    let dd = format!("dd if=/dev/urandom of=/big bs=4k count={}", BIG / 4096);
    let run = format!("FROM busybox\nRUN {dd}\n");
    let copy = "FROM busybox\nCOPY big /big\n".to_string();
    for (name, dockerfile, leaves) in [
        ("run", run, &[8 * MIB, BIG + 8 * MIB][..]),
        ("context", copy, &[8 * MIB]),
    ] {
        let ctx = work.join(name);
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        if name == "context" {
            std::fs::write(ctx.join("big"), random(BIG)).unwrap();
        }
        let tag = format!("berth-test-fulldisk-{name}:1");
        let build = || {
            let mut c = d.cmd(&["build", "-t", &tag, "."]);
            c.current_dir(&ctx).env("DOCKER_BUILDKIT", "0");
            c
        };
        t.full_then_freed(&format!("build ({name})"), leaves, &build, &|| {});
        t.check_big(&tag);
    }

    // 5. Commit of a container that wrote the big file: its blob (8 MiB
    // free), its layer (BIG + 8); the container stays as it was.
    let c = "berth-test-fulldisk-commit";
    ok(&d, &["run", "--name", c, "busybox", "sh", "-c", &dd]);
    let commit = || d.cmd(&["commit", c, "berth-test-fulldisk-commit:1"]);
    t.full_then_freed("commit", &[8 * MIB, BIG + 8 * MIB], &commit, &|| {});
    let diff = ok(&d, &["diff", c]);
    t.check(diff.contains("A /big"), format!("diff: {diff}"));
    t.check_big("berth-test-fulldisk-commit:1");
    ok(&d, &["rm", c]);

    // Afterwards: berthd alive, nothing mounted or in cgroups, no temp files.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.pid())).unwrap_or_default();
    let alive = stat
        .rsplit(") ")
        .next()
        .is_some_and(|s| !s.starts_with('Z'));
    let alive = alive && d.docker(&["version"]).status.success();
    t.check(alive, "berthd died".into());
    let end = t.state();
    let (mounts, temps, cgroups) = (&end["mounts"], &end["temp files"], d.cgroups());
    t.check(mounts.is_empty(), format!("mounts left: {mounts:?}"));
    t.check(temps.is_empty(), format!("temp files left: {temps:?}"));
    t.check(cgroups.is_empty(), format!("cgroups left: {cgroups:?}"));
    eprintln!("full_disk took {:.1}s", started.elapsed().as_secs_f64());
    let problems = std::mem::take(&mut t.problems);
    drop(d);
    drop(disk);
    let n = problems.len();
    assert!(n == 0, "{n} problem(s):\n{}", problems.join("\n"));
}

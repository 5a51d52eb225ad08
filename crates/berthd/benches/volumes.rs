//! Benchmark: volumes and stacks — berth against dockerd, side by side in
//! one run, each on a private daemon (socket, data root, exec root, cgroup
//! parent, dockerd's own containerd, all under /tmp/berth-bench-volumes-<pid>;
//! no default bridge).
//!
//!     cargo build --release && cargo bench -p berthd --bench volumes [-- ROUNDS]
//!
//! Per round (default 5), engines interleaved, order alternating:
//! 1. copy-up: `run --rm -v <new volume>:/data <image> true` where the
//!    image has 10,000 small files in /data (a new volume each round, all
//!    removed at the end only: ext4 is slow to create files for minutes
//!    after many were deleted). Target: berth not slower than docker.
//! 2. a 10-service stack (one network, one named volume per service,
//!    busybox `sleep`): `docker-compose up -d` then `down -v`, docker-compose
//!    1.29 against each daemon. Target: berthd at most 1/2 of dockerd.
//!    With `berth compose` present (the berth CLI has a `compose` command),
//!    `berth compose up -d` + `down -v` against berthd too, target 1/5 of
//!    docker-compose on dockerd.
//!
//! Needs root, target/release/{berth,berthd,berth-runc}, /usr/sbin/dockerd,
//! the docker CLI, docker-compose and busybox-static. Everything is removed
//! afterwards, also when a step fails or on ^C.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const DEFAULT_ROUNDS: usize = 5;
const FILES: usize = 10_000;
const SERVICES: usize = 10;
const TARGET_COPY_RATIO: f64 = 1.0;
const TARGET_COMPOSE_RATIO: f64 = 0.5;
const TARGET_BERTH_COMPOSE_RATIO: f64 = 0.2;

fn main() {
    let p = prelude(DEFAULT_ROUNDS);
    let Some(compose) = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        fail("docker-compose is not installed (apt-get install docker-compose)");
    };
    run_in(Workspace::new("volumes"), &p, |s| {
        bench(s, &p.berth, &compose, p.rounds)
    });
}

/// The stack: SERVICES busybox services on the default network, one named
/// volume each; each stops at once on SIGTERM (so `down` measures the
/// engines, not the 10 s stop timeout a shell as PID 1 would cost).
fn stack_file() -> String {
    let mut s = String::from("version: \"2.4\"\nservices:\n");
    for i in 0..SERVICES {
        s.push_str(&format!(
            "  s{i}:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n    volumes:\n      - v{i}:/data\n"
        ));
    }
    s.push_str("volumes:\n");
    for i in 0..SERVICES {
        s.push_str(&format!("  v{i}: {{}}\n"));
    }
    s
}

/// A compose client (docker-compose or `berth compose`) bound to `d`.
fn compose_cmd(program: &Path, pre: &[&str], d: &Daemon, dir: &Path, args: &[&str]) -> Duration {
    check_interrupted();
    nix::unistd::sync();
    let t = Instant::now();
    let o = Command::new(program)
        .args(pre)
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", &d.host)
        .env("DOCKER_CONFIG", &d.cli_config)
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let took = t.elapsed();
    if !o.status.success() {
        panic!(
            "{}: `{} {}` failed ({}): {}\ndaemon log:\n{}",
            d.kind.name(),
            program.display(),
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim(),
            d.log_tail()
        );
    }
    took
}

fn has_berth_compose(berth: &Path) -> bool {
    Command::new(berth)
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn bench(s: &Setup, berth: &Path, compose: &Path, rounds: usize) {
    let busybox = bench_inputs(s);
    let stack_dir = s.ws_dir.join("stack");
    std::fs::create_dir_all(&stack_dir).unwrap();
    std::fs::write(stack_dir.join("docker-compose.yml"), stack_file()).unwrap();
    let native = has_berth_compose(berth);
    println!(
        "volumes bench: {rounds} rounds, {FILES} files copied up, a {SERVICES}-service stack; workspace {}",
        s.ws_dir.display()
    );
    println!(
        "  berth  {}\n  docker {} / CLI {}\n  {}",
        version(&s.berthd),
        version(Path::new(DOCKERD)),
        version(&s.docker_cli),
        version(compose)
    );
    let daemons: Vec<Daemon> = KINDS
        .iter()
        .map(|&k| Daemon::start(s, k, k.name()))
        .collect();
    for d in &daemons {
        d.ok(&["load", "-i", busybox.to_str().unwrap()]);
        d.ok(&[
            "run",
            "--name",
            "mkfiles",
            "busybox",
            "sh",
            "-c",
            &format!(
                "mkdir /data && cd /data && i=0; while [ $i -lt {FILES} ]; do echo $i > f$i; i=$((i+1)); done"
            ),
        ]);
        d.ok(&["commit", "mkfiles", "bench-files"]);
        d.ok(&["rm", "mkfiles"]);
    }
    let mut copy: Vec<Vec<f64>> = vec![Vec::new(); daemons.len()];
    let mut stack: Vec<Vec<f64>> = vec![Vec::new(); daemons.len()];
    let mut native_stack: Vec<f64> = Vec::new();
    for r in 0..rounds {
        let order: Vec<usize> = if r % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for &i in &order {
            let d = &daemons[i];
            settle(&daemons);
            let t = d.timed(&[
                "run",
                "--rm",
                "-v",
                &format!("bench-cu-{r}:/data"),
                "bench-files",
                "true",
            ]);
            let n = d.ok(&[
                "run",
                "--rm",
                "-v",
                &format!("bench-cu-{r}:/data"),
                "busybox",
                "sh",
                "-c",
                "ls /data | wc -l",
            ]);
            assert_eq!(
                String::from_utf8_lossy(&n.stdout).trim(),
                FILES.to_string(),
                "{}: the volume was not filled",
                d.kind.name()
            );
            copy[i].push(t.as_secs_f64());
        }
        for &i in &order {
            let d = &daemons[i];
            settle(&daemons);
            let p = format!("bench{r}");
            let up = compose_cmd(compose, &[], d, &stack_dir, &["-p", &p, "up", "-d"]);
            let down = compose_cmd(compose, &[], d, &stack_dir, &["-p", &p, "down", "-v"]);
            stack[i].push((up + down).as_secs_f64());
        }
        if native {
            let d = &daemons[0];
            settle(&daemons);
            let p = format!("bench{r}n");
            let up = compose_cmd(berth, &["compose"], d, &stack_dir, &["-p", &p, "up", "-d"]);
            let down = compose_cmd(
                berth,
                &["compose"],
                d,
                &stack_dir,
                &["-p", &p, "down", "-v"],
            );
            native_stack.push((up + down).as_secs_f64());
        }
        eprintln!(
            "round {}: copy-up berth {:.3} s docker {:.3} s; stack berthd {:.3} s dockerd {:.3} s{}",
            r + 1,
            copy[0][r],
            copy[1][r],
            stack[0][r],
            stack[1][r],
            native_stack
                .get(r)
                .map(|t| format!("; berth compose {t:.3} s"))
                .unwrap_or_default()
        );
    }
    let report = |what: &str, b: &[f64], k: &[f64], target: f64| {
        let (mb, mk) = (median(b.to_vec()), median(k.to_vec()));
        let ratio = mb / mk;
        println!(
            "{what}: berth median {mb:.3} s (min {:.3}, max {:.3}); docker median {mk:.3} s (min {:.3}, max {:.3}); ratio {ratio:.3} (target ≤ {target:.2}) {}",
            min(b),
            max(b),
            min(k),
            max(k),
            verdict(ratio <= target)
        );
    };
    report(
        &format!("copy-up of {FILES} files into a new volume (run --rm)"),
        &copy[0],
        &copy[1],
        TARGET_COPY_RATIO,
    );
    report(
        &format!("docker-compose 1.29 up -d + down -v, {SERVICES} services"),
        &stack[0],
        &stack[1],
        TARGET_COMPOSE_RATIO,
    );
    if native {
        report(
            &format!("berth compose on berthd vs docker-compose on dockerd, {SERVICES} services"),
            &native_stack,
            &stack[1],
            TARGET_BERTH_COMPOSE_RATIO,
        );
    } else {
        println!("berth compose: not built into this berth; skipped");
    }
}

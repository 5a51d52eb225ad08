//! Benchmark: the builder — berthd against dockerd 20.10's legacy builder
//! (and `podman build` when it runs here), side by side in one run, each
//! on a private daemon under /tmp/berth-bench-build-<pid>.
//!
//!     cargo build --release && cargo bench -p berthd --bench build [-- ROUNDS]
//!
//! The same context for all: a 10-step Dockerfile on busybox (ENV,
//! WORKDIR, COPY of 200 small files, three RUN, LABEL, EXPOSE, CMD).
//! Per round (default 5), engines interleaved, order alternating:
//! 1. cold: `build --no-cache` — target: berth at most 1/2 of docker;
//! 2. fully cached: the same build again — target at most 1/4;
//! 3. one copied file changed, then built — target at most 1/3.
//!
//! The targets judge what a user runs: `berth build` on berthd against
//! `docker build` (`DOCKER_BUILDKIT=0`) on dockerd. The docker CLI on
//! berthd is measured and judged too, beside them: the docker CLI's own
//! share (its start, its walk and tar of the context: ~40 ms of a cached
//! build here) is the same on both daemons, so that ratio says how much
//! of the whole the daemon is.
//!
//! Needs root, target/release/{berth,berthd,berth-runc}, /usr/sbin/dockerd,
//! the docker CLI and busybox-static. Everything is removed afterwards.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const DEFAULT_ROUNDS: usize = 5;
const FILES: usize = 200;
const TARGET_COLD: f64 = 0.5;
const TARGET_CACHED: f64 = 0.25;
const TARGET_CHANGED: f64 = 1.0 / 3.0;

const DOCKERFILE: &str = "FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY files/ ./files/
RUN ls files | wc -l > count
RUN echo built > stamp && cat count
RUN mkdir -p /data && cp count /data/
LABEL org.example.bench=build
EXPOSE 8080
CMD [\"sh\", \"-c\", \"cat /app/count\"]
";

fn main() {
    let p = prelude(DEFAULT_ROUNDS);
    run_in(Workspace::new("build"), &p, |s| {
        bench(s, &p.berth, p.rounds)
    });
}

fn write_context(dir: &Path) {
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    for i in 0..FILES {
        std::fs::write(dir.join(format!("files/f{i:03}")), format!("file {i}\n")).unwrap();
    }
}

fn build_with(program: &Path, d: &Daemon, ctx: &Path, extra: &[&str]) -> Duration {
    check_interrupted();
    nix::unistd::sync();
    let t = Instant::now();
    let o = Command::new(program)
        .arg("build")
        .args(extra)
        .args(["-t", "bench:latest"])
        .arg(ctx)
        .env("DOCKER_HOST", &d.host)
        .env("DOCKER_CONFIG", &d.cli_config)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let took = t.elapsed();
    if !o.status.success() {
        panic!(
            "{}: build failed: {}{}\ndaemon log:\n{}",
            d.kind.name(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            d.log_tail()
        );
    }
    took
}

/// podman with its own storage under the workspace (nothing global).
struct Podman {
    root: PathBuf,
}

impl Podman {
    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("CONTAINERS_CONF", self.root.join("containers.conf"));
        c
    }

    fn start(ws: &Path, busybox: &Path) -> Option<Podman> {
        let p = Podman {
            root: ws.join("podman"),
        };
        std::fs::create_dir_all(&p.root).ok()?;
        std::fs::write(
            p.root.join("containers.conf"),
            "[engine]\ncgroup_manager=\"cgroupfs\"\nevents_logger=\"none\"\n",
        )
        .ok()?;
        let o = p.cmd().args(["load", "-i"]).arg(busybox).output().ok()?;
        if !o.status.success() {
            eprintln!(
                "podman: load failed, skipped: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Some(p)
    }

    fn build(&self, ctx: &Path, extra: &[&str]) -> Option<Duration> {
        nix::unistd::sync();
        let t = Instant::now();
        let o = self
            .cmd()
            .args(["build", "--format", "docker", "--network", "none"])
            .args(extra)
            .args(["-t", "bench:latest"])
            .arg(ctx)
            .output()
            .ok()?;
        let took = t.elapsed();
        if !o.status.success() {
            eprintln!(
                "podman build failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Some(took)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-af"]).output();
        let _ = self.cmd().args(["system", "reset", "-f"]).output();
        for m in std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(self.root.to_str().unwrap_or("/nonexistent")))
            .map(String::from)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn bench(s: &Setup, berth: &Path, rounds: usize) {
    let busybox = bench_inputs(s);
    println!(
        "build bench: {rounds} rounds, a 10-step Dockerfile with {FILES} copied files; workspace {}",
        s.ws_dir.display()
    );
    println!(
        "  berth  {}\n  docker {} / CLI {}",
        version(&s.berthd),
        version(Path::new(DOCKERD)),
        version(&s.docker_cli)
    );
    let daemons: Vec<Daemon> = KINDS
        .iter()
        .map(|&k| Daemon::start(s, k, k.name()))
        .collect();
    let mut ctxs = Vec::new();
    for d in &daemons {
        d.ok(&["load", "-i", busybox.to_str().unwrap()]);
        let ctx = s.ws_dir.join(format!("ctx-{}", d.kind.name()));
        write_context(&ctx);
        ctxs.push(ctx);
    }
    let podman = if Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Podman::start(&s.ws_dir, &busybox)
    } else {
        None
    };
    let podman_ctx = s.ws_dir.join("ctx-podman");
    write_context(&podman_ctx);
    let n = daemons.len();
    let (mut cold, mut cached, mut changed) = (
        vec![Vec::new(); n],
        vec![Vec::new(); n],
        vec![Vec::new(); n],
    );
    let (mut berth_cold, mut berth_cached, mut berth_changed) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut p_cold, mut p_cached, mut p_changed) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let order: Vec<usize> = if r % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for &i in &order {
            let d = &daemons[i];
            let docker = &d.cli;
            settle(&daemons);
            cold[i].push(build_with(docker, d, &ctxs[i], &["--no-cache"]).as_secs_f64());
            settle(&daemons);
            cached[i].push(build_with(docker, d, &ctxs[i], &[]).as_secs_f64());
            std::fs::write(
                ctxs[i].join("files/f007"),
                format!("changed in round {r}\n"),
            )
            .unwrap();
            settle(&daemons);
            changed[i].push(build_with(docker, d, &ctxs[i], &[]).as_secs_f64());
        }
        // The berth CLI on berthd: cold, cached, then one change.
        settle(&daemons);
        berth_cold.push(build_with(berth, &daemons[0], &ctxs[0], &["--no-cache"]).as_secs_f64());
        settle(&daemons);
        berth_cached.push(build_with(berth, &daemons[0], &ctxs[0], &[]).as_secs_f64());
        std::fs::write(ctxs[0].join("files/f008"), format!("berth round {r}\n")).unwrap();
        settle(&daemons);
        berth_changed.push(build_with(berth, &daemons[0], &ctxs[0], &[]).as_secs_f64());
        if let Some(p) = &podman {
            if let Some(t) = p.build(&podman_ctx, &["--no-cache"]) {
                p_cold.push(t.as_secs_f64());
            }
            if let Some(t) = p.build(&podman_ctx, &[]) {
                p_cached.push(t.as_secs_f64());
            }
            std::fs::write(
                podman_ctx.join("files/f007"),
                format!("changed in round {r}\n"),
            )
            .unwrap();
            if let Some(t) = p.build(&podman_ctx, &[]) {
                p_changed.push(t.as_secs_f64());
            }
        }
        eprintln!(
            "round {}: cold berth {:.3} s (docker CLI {:.3} s) docker {:.3} s; cached berth {:.3} s ({:.3} s) docker {:.3} s; changed berth {:.3} s ({:.3} s) docker {:.3} s",
            r + 1,
            berth_cold[r],
            cold[0][r],
            cold[1][r],
            berth_cached[r],
            cached[0][r],
            cached[1][r],
            berth_changed[r],
            changed[0][r],
            changed[1][r]
        );
    }
    let podman_median = |v: &[f64]| {
        if v.is_empty() {
            "podman: –".to_string()
        } else {
            format!("podman median {:.3} s", median(v.to_vec()))
        }
    };
    let report = |what: &str, b: &[f64], k: &[f64], target: f64, pm: &[f64]| {
        let (mb, mk) = (median(b.to_vec()), median(k.to_vec()));
        let ratio = mb / mk;
        println!(
            "{what}: berth median {mb:.3} s (min {:.3}, max {:.3}); docker median {mk:.3} s (min {:.3}, max {:.3}); {}; ratio {ratio:.3} (target ≤ {target:.2}) {}",
            min(b),
            max(b),
            min(k),
            max(k),
            podman_median(pm),
            verdict(ratio <= target)
        );
    };
    println!("berth build on berthd against docker build on dockerd (the targets):");
    report(
        "  cold build (--no-cache)",
        &berth_cold,
        &cold[1],
        TARGET_COLD,
        &p_cold,
    );
    report(
        "  fully cached rebuild",
        &berth_cached,
        &cached[1],
        TARGET_CACHED,
        &p_cached,
    );
    report(
        "  rebuild after one copied file changed",
        &berth_changed,
        &changed[1],
        TARGET_CHANGED,
        &p_changed,
    );
    println!("the docker CLI on both daemons:");
    report(
        "  cold build (--no-cache)",
        &cold[0],
        &cold[1],
        TARGET_COLD,
        &p_cold,
    );
    report(
        "  fully cached rebuild",
        &cached[0],
        &cached[1],
        TARGET_CACHED,
        &p_cached,
    );
    report(
        "  rebuild after one copied file changed",
        &changed[0],
        &changed[1],
        TARGET_CHANGED,
        &p_changed,
    );
    drop(podman);
}

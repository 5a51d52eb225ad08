//! Benchmark: ship — pull, push and `run` of an absent image, berth against
//! dockerd, side by side in one run, both against one local registry.
//!
//!     cargo build --release && cargo bench -p berthd --bench ship [-- ROUNDS]
//!
//! The registry (docker-registry on 127.0.0.1, the test harness's, plain
//! HTTP) is seeded once with the 3-layer Debian image (a 217 MiB archive,
//! 82 MiB as gzip layers by skopeo) and busybox. The docker CLI is the client of both engines.
//! Each engine runs on private daemons (socket, data root, exec root,
//! pidfile, cgroup parent, dockerd's own containerd and namespace, all under
//! /tmp/berth-bench-ship-<pid>), no bridge. Per round, engines interleaved
//! (the order alternates):
//! 1. cold pull of the Debian image on a daemon started for it on a fresh
//!    data root (never one something was deleted from: ext4 allocates inodes
//!    slowly for minutes after many were deleted, which would inflate the
//!    time), after a `sync`; the daemon's peak RSS (VmHWM) afterwards.
//! 2. `run --rm <registry>/bench/busybox:latest true` on that daemon, which
//!    does not have busybox: pull, create, start, wait, remove.
//! 3. push of the Debian image, `docker load`ed from the archive into
//!    another fresh daemon (so that both engines compress the layers), to a
//!    repository of its own (bench-push-<engine>-<round>), after a `sync`.
//!
//! Before each timed step: a `sync` and a wait until the daemons are idle.
//! Daemon start and stop, load, sync and the wait are not timed. Data roots are
//! deleted only at the very end, with everything else (processes, mounts,
//! cgroups, the registry, directories), also when a step fails or on ^C.
//! That final deletion slows the next minutes on the same filesystem: leave
//! a few minutes between runs.
//!
//! Needs root, target/release/{berth,berthd,berth-runc}, /usr/sbin/dockerd,
//! the docker CLI, docker-registry, skopeo and busybox-static; the Debian
//! image is built once into /var/cache/berth-test (debootstrap) if need be.

mod support;

#[path = "../tests/common/registry.rs"]
#[allow(dead_code)]
mod registry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use registry::{Mode, Registry};
use support::*;

const DEFAULT_ROUNDS: usize = 5;
const DEBIAN_REPO: &str = "bench/debian:bookworm";
const BUSYBOX_REPO: &str = "bench/busybox:latest";

/// Targets: berth/docker time ratios, berthd's peak RSS during a pull (KiB).
const TARGET_PULL_RATIO: f64 = 1.0 / 3.0;
const TARGET_PUSH_RATIO: f64 = 0.5;
const TARGET_PULL_HWM_KB: u64 = 60 * 1024;

fn main() {
    let p = prelude(DEFAULT_ROUNDS);
    for (bin, package) in [("docker-registry", "docker-registry"), ("skopeo", "skopeo")] {
        if registry::which(bin).is_none() {
            fail(&format!(
                "{bin} is not installed (apt-get install {package})"
            ));
        }
    }
    let ws = Workspace::new("ship");
    // The registry's temp dir (config, storage, logs) goes in the workspace too.
    let _ = tempfile::env::override_temp_dir(&ws.dir);
    run_in(ws, &p, |s| bench(s, p.rounds));
}

/// What one engine measured over the rounds.
#[derive(Default)]
struct Results {
    pull: Vec<f64>,
    pull_hwm: Vec<Option<u64>>,
    pull_containerd_hwm: Vec<Option<u64>>,
    run: Vec<f64>,
    load: Vec<f64>,
    load_hwm: Vec<Option<u64>>,
    push: Vec<f64>,
    push_hwm: Vec<Option<u64>>,
    /// RSS when the push started (the peak's floor after the reset).
    push_rss_before: Vec<Option<u64>>,
    /// Compressed bytes of the layers pushed (from the manifest pushed).
    pushed_bytes: Vec<u64>,
    pushed_media: Vec<String>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The layers of a manifest (schema 2 or OCI): (total size, media types).
fn manifest_layers(m: &serde_json::Value) -> (usize, u64, Vec<String>) {
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    let size = layers.iter().filter_map(|l| l["size"].as_u64()).sum();
    let mut media: Vec<String> = layers
        .iter()
        .filter_map(|l| l["mediaType"].as_str().map(String::from))
        .collect();
    media.dedup();
    (layers.len(), size, media)
}

fn bench(s: &Setup, rounds: usize) {
    std::fs::create_dir_all(&s.cli_config).unwrap();
    std::fs::write(s.cli_config.join("config.json"), "{}").unwrap();
    std::fs::write(s.ws_dir.join("dockerd.json"), "{}").unwrap();

    println!(
        "ship bench: {rounds} rounds, workspace {}",
        s.ws_dir.display()
    );
    println!(
        "  berth  {}\n  docker {} / CLI {}",
        s.berthd.display(),
        version(Path::new(DOCKERD)),
        version(&s.docker_cli),
    );

    // ------------------------------------------------ the registry, seeded once
    let Some(debian) = registry::debian_archive() else {
        panic!("the Debian image is not available (see above)");
    };
    let busybox = registry::busybox_archive();
    let t = Instant::now();
    let Some(reg) = Registry::start(Mode::Plain) else {
        panic!("the local registry did not start (see above)");
    };
    own(reg.pid());
    println!(
        "registry: docker-registry on {} (pid {}), up in {:.0} ms",
        reg.addr(),
        reg.pid(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let t = Instant::now();
    reg.push_archive(&debian, DEBIAN_REPO);
    reg.push_archive(&busybox, BUSYBOX_REPO);
    let seeded = reg
        .inspect_raw(DEBIAN_REPO)
        .unwrap_or_else(|e| panic!("the seeded image: {e}"));
    let (nlayers, seeded_bytes, seeded_media) = manifest_layers(&seeded);
    let archive_mib =
        std::fs::metadata(&debian).map(|m| m.len()).unwrap_or(0) as f64 / 1024.0 / 1024.0;
    let seeded_mib = seeded_bytes as f64 / 1024.0 / 1024.0;
    println!(
        "seeded {DEBIAN_REPO} ({archive_mib:.0} MiB archive, {nlayers} layers, \
         {seeded_mib:.1} MiB compressed: {}) and {BUSYBOX_REPO} with skopeo in {:.1} s",
        seeded_media.join(", "),
        t.elapsed().as_secs_f64()
    );
    let debian_ref = reg.image(DEBIAN_REPO);
    let busybox_ref = reg.image(BUSYBOX_REPO);
    let debian_tar = debian.to_string_lossy().into_owned();

    let mut res: HashMap<Kind, Results> = KINDS.iter().map(|&k| (k, Results::default())).collect();
    let mut pulled_ids: Vec<(Kind, String)> = Vec::new();
    let mut berthd_logs: Vec<PathBuf> = Vec::new();

    for round in 0..rounds {
        // Alternate which engine goes first.
        let order: Vec<Kind> = if round % 2 == 0 {
            KINDS.to_vec()
        } else {
            KINDS.iter().rev().copied().collect()
        };

        // 1. cold pull, then 2. run of an absent image, on fresh daemons.
        let daemons: Vec<Daemon> = order
            .iter()
            .map(|&k| Daemon::start(s, k, &format!("{}-pull-{round}", k.name())))
            .collect();
        for d in &daemons {
            settle(&daemons);
            let t = d.timed(&["pull", &debian_ref]);
            let r = res.get_mut(&d.kind).unwrap();
            r.pull.push(secs(t));
            r.pull_hwm.push(d.hwm());
            r.pull_containerd_hwm.push(d.containerd_hwm());
            if round == 0 {
                pulled_ids.push((d.kind, d.image_id(&debian_ref)));
            }
        }
        for d in &daemons {
            settle(&daemons);
            let t = d.timed(&["run", "--rm", &busybox_ref, "true"]);
            res.get_mut(&d.kind).unwrap().run.push(secs(t));
        }
        berthd_logs.extend(
            daemons
                .iter()
                .filter(|d| d.kind == Kind::Berth)
                .map(|d| d.dir.join("log")),
        );
        drop(daemons);
        reap_orphans();

        // 3. push of a loaded image, on other fresh daemons.
        let daemons: Vec<Daemon> = order
            .iter()
            .map(|&k| Daemon::start(s, k, &format!("{}-push-{round}", k.name())))
            .collect();
        for d in &daemons {
            nix::unistd::sync();
            let t = Instant::now();
            d.ok(&["load", "-i", &debian_tar]);
            let r = res.get_mut(&d.kind).unwrap();
            r.load.push(secs(t.elapsed()));
            r.load_hwm.push(d.hwm());
        }
        for d in &daemons {
            let repo = format!("bench-push-{}-{round}:bookworm", d.kind.name());
            let target = reg.image(&repo);
            d.ok(&["tag", "debian:bookworm", &target]);
            settle(&daemons);
            // The push's own peak, not the load's.
            d.reset_hwm();
            let rss_before = status_kb(d.pid(), "VmRSS");
            let t = d.timed(&["push", &target]);
            let pushed = reg
                .inspect_raw(&repo)
                .unwrap_or_else(|e| panic!("{}: the pushed {repo}: {e}", d.kind.name()));
            let (n, bytes, media) = manifest_layers(&pushed);
            assert_eq!(n, nlayers, "{}: pushed {repo}: {pushed}", d.kind.name());
            let r = res.get_mut(&d.kind).unwrap();
            r.push.push(secs(t));
            r.push_hwm.push(d.hwm());
            r.push_rss_before.push(rss_before);
            r.pushed_bytes.push(bytes);
            r.pushed_media = media;
        }
        berthd_logs.extend(
            daemons
                .iter()
                .filter(|d| d.kind == Kind::Berth)
                .map(|d| d.dir.join("log")),
        );
        drop(daemons);
        reap_orphans();

        let b = &res[&Kind::Berth];
        let k = &res[&Kind::Docker];
        println!(
            "round {}/{rounds}: pull berth {:.2} s docker {:.2} s | run absent berth {:.2} s \
             docker {:.2} s | push berth {:.2} s docker {:.2} s",
            round + 1,
            b.pull[round],
            k.pull[round],
            b.run[round],
            k.run[round],
            b.push[round],
            k.push[round],
        );
    }
    if let [(_, a), (_, b)] = &pulled_ids[..] {
        assert_eq!(a, b, "the engines pulled different images");
    }
    drop(reg);

    // ------------------------------------------------ report
    let b = &res[&Kind::Berth];
    let d = &res[&Kind::Docker];
    let line = "-".repeat(86);
    let row = |label: &str, v: &[f64], reference: &[f64]| {
        println!(
            "{:<26} {:>8.3} s {:>8.3} s {:>8.3} s   {:.3}",
            label,
            median(v.to_vec()),
            min(v),
            max(v),
            median(v.to_vec()) / median(reference.to_vec())
        );
    };
    let header = || {
        println!(
            "{:<26} {:>10} {:>10} {:>10}   vs docker",
            "", "median", "min", "max"
        )
    };
    println!("\n{line}");
    println!(
        "1. cold pull {DEBIAN_REPO} ({archive_mib:.0} MiB, {nlayers} gzip layers, \
         {seeded_mib:.1} MiB compressed; {rounds} rounds)"
    );
    header();
    row("berth", &b.pull, &d.pull);
    row("docker", &d.pull, &d.pull);
    println!(
        "{:<26} berthd {}; dockerd {}, its containerd {}",
        "  peak RSS (VmHWM)",
        hwm_summary(&b.pull_hwm),
        hwm_summary(&d.pull_hwm),
        hwm_summary(&d.pull_containerd_hwm)
    );

    println!("\n2. push of the loaded image to a new repository ({rounds} rounds)");
    header();
    row("berth", &b.push, &d.push);
    row("docker", &d.push, &d.push);
    let pushed = |r: &Results| {
        format!(
            "{:.1} MiB {}",
            median(r.pushed_bytes.iter().map(|&x| x as f64).collect()) / 1024.0 / 1024.0,
            r.pushed_media.join(", ")
        )
    };
    println!(
        "{:<26} berth {}; docker {}",
        "  layers pushed",
        pushed(b),
        pushed(d)
    );
    println!(
        "{:<26} berthd {}; dockerd {}",
        "  peak RSS (VmHWM)",
        hwm_summary(&b.push_hwm),
        hwm_summary(&d.push_hwm)
    );
    println!(
        "{:<26} berthd {}; dockerd {}",
        "  RSS when it started",
        hwm_summary(&b.push_rss_before),
        hwm_summary(&d.push_rss_before)
    );
    println!(
        "{:<26} berth {:.2} s, berthd peak {}; docker {:.2} s, dockerd peak {} \
         (medians; not compared)",
        "  docker load before it",
        median(b.load.clone()),
        hwm_summary(&b.load_hwm),
        median(d.load.clone()),
        hwm_summary(&d.load_hwm)
    );

    println!("\n3. run --rm {BUSYBOX_REPO} true, image absent ({rounds} rounds)");
    header();
    row("berth", &b.run, &d.run);
    row("docker", &d.run, &d.run);

    let pull_ratio = median(b.pull.clone()) / median(d.pull.clone());
    let push_ratio = median(b.push.clone()) / median(d.push.clone());
    let run_ratio = median(b.run.clone()) / median(d.run.clone());
    let peak = b.pull_hwm.iter().flatten().copied().max();
    println!("\ntargets");
    println!(
        "  cold pull          berth/docker {pull_ratio:.3}  (<= {TARGET_PULL_RATIO:.3})  {}",
        verdict(pull_ratio <= TARGET_PULL_RATIO)
    );
    println!(
        "  berthd pull peak   {:>12}  (<= {})  {}",
        opt_mib(peak),
        mib(TARGET_PULL_HWM_KB),
        verdict(peak.is_some_and(|p| p <= TARGET_PULL_HWM_KB))
    );
    println!(
        "  push               berth/docker {push_ratio:.3}  (<= {TARGET_PUSH_RATIO:.3})  {}",
        verdict(push_ratio <= TARGET_PUSH_RATIO)
    );
    println!("  run (absent image) berth/docker {run_ratio:.3}  (no target: reported)");

    println!("\nhow the numbers were obtained");
    println!(
        "  cold pull:  wall time of `docker pull {debian_ref}`, docker CLI {} via DOCKER_HOST, \
         each round and engine on a daemon started for it on a fresh data root, after a sync and once both daemons \
         are idle (not timed); engine order alternating per round",
        version(&s.docker_cli)
            .split(',')
            .next()
            .unwrap_or("")
            .trim_start_matches("Docker version ")
    );
    println!(
        "  peak RSS:   VmHWM of /proc/<daemon>/status right after the pull (daemon started \
         fresh for it: start-up + pull; dockerd's containerd separately), right after the \
         load, and after the push (reset by `echo 5 > /proc/<daemon>/clear_refs` before it)"
    );
    println!(
        "  push:       wall time of `docker push <registry>/bench-push-<engine>-<round>:bookworm` \
         (a repository the registry had not seen) of the image `docker load`ed from the archive \
         (uncompressed layers: both engines gzip them) into another fresh daemon, after a sync \
         with the daemons idle; load and tag not timed"
    );
    println!(
        "  run:        wall time of `docker run --rm {busybox_ref} true` on the pull daemon, \
         which had no busybox (pull, create, start, wait, remove), after a sync with the daemons idle"
    );
    println!(
        "  ratios:     median berth / median docker; data roots deleted only at the end \
         (deletions just before a pull slow ext4's inode allocation)"
    );
    println!(
        "  caveat:     a run started right after another one (whose cleanup deleted gigabytes on \
         this filesystem) or on a busy machine measures every step slower: leave a few minutes"
    );

    // Warnings and errors berthd logged during the run.
    let mut lines = 0;
    let mut bad: Vec<String> = Vec::new();
    for log in &berthd_logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        lines += text.lines().count();
        bad.extend(
            text.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .map(String::from),
        );
    }
    println!(
        "\nberthd logs: {} daemons, {lines} lines, {} WARN/ERROR",
        berthd_logs.len(),
        bad.len()
    );
    for l in bad.iter().take(10) {
        println!("  {l}");
    }
    println!("{line}");
}

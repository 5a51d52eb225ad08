//! Resource limits, enforced by the kernel through the container's cgroup: on
//! this host's cgroup v1 (hybrid) and, in the test VM, on pure cgroup v2 (the
//! `vm_cgroup_v2` test runs this very binary inside it). Named `limits_*`: the
//! nextest profile runs them one at a time, as CPU measurements need.
mod common;

use std::time::{Duration, Instant};

use common::{Bundle, Rt, unique_id};
use serde_json::json;

fn cpu_total(rt: &Rt, id: &str) -> u64 {
    let out = rt.ok(&["events", "--stats", id]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    ev["data"]["cpu"]["usage"]["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no cpu usage: {ev}"))
}

#[test]
fn limits_memory_limit_oom_kills() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("oom");
    // Grow a shell variable far beyond the limit.
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20}));
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 137, "stdout: {out}\nstderr: {err}");
    assert!(!out.contains("survived"));
    rt.assert_clean(&id, &b);
}

#[test]
fn limits_memory_limit_is_reported() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("memstat");
    let b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 48 << 20}));
    assert!(rt.create(&id, &b).status.success());
    let out = rt.ok(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ev["data"]["memory"]["usage"]["limit"],
        json!(48u64 << 20),
        "{ev}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn limits_pids_limit_stops_a_fork_bomb() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("pids");
    // The bomb runs in a subshell, which gives up at the first failed fork;
    // `wait` is a builtin, and `cat` forks once the sleeps are gone.
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "(i=0; while [ $i -lt 60 ]; do sleep 2 & i=$((i+1)); done) 2>/tmp/err; sleep 3; cat /tmp/err",
        ],
    );
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 16}));
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    // Once a fork has failed, the bomb is at the limit.
    common::poll(Duration::from_secs(20), || {
        std::fs::metadata(b.rootfs().join("tmp/err"))
            .ok()
            .filter(|m| m.len() > 0)
    })
    .expect("no fork failed under the limit");
    let out = rt.ok(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let current = ev["data"]["pids"]["current"].as_u64().unwrap();
    assert!(
        (2..=16).contains(&current),
        "{current} tasks under a limit of 16"
    );
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(20)));
    let out = Rt::output(&b);
    assert!(
        out.contains("can't fork") || out.contains("Resource temporarily unavailable"),
        "{out}"
    );
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn limits_cpu_quota_half_a_cpu() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("cpu");
    // Two busy loops: without the quota they would use two CPUs.
    let b = Bundle::new(
        &id,
        &["sh", "-c", "while :; do :; done & while :; do :; done"],
    );
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000}));
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    std::thread::sleep(Duration::from_millis(500));
    let (u0, t0) = (cpu_total(&rt, &id), Instant::now());
    std::thread::sleep(Duration::from_secs(4));
    let (u1, t1) = (cpu_total(&rt, &id), Instant::now());
    let ratio = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    eprintln!("cpu use with a 0.5 quota: {ratio:.3} CPUs");
    // The quota is a ceiling: never more than 0.5 CPU (10 % slack). How
    // much below it depends on what else runs on the machine, so the
    // proof that the quota (not the load) held it back is the kernel's
    // throttling count.
    assert!(ratio <= 0.55, "cpu use {ratio:.3} is above the 0.5 quota");
    assert!(ratio > 0.1, "cpu use {ratio:.3}: the loops hardly ran");
    let out = rt.ok(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let throttled = ev["data"]["cpu"]["throttling"]["throttledPeriods"]
        .as_u64()
        .unwrap_or(0);
    assert!(throttled > 0, "never throttled: {}", ev["data"]["cpu"]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn limits_pause_freezes_and_resume_thaws() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("freeze");
    let b = Bundle::new(&id, &["sh", "-c", "while :; do :; done"]);
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    // Running before the freeze.
    common::poll(Duration::from_secs(10), || {
        (cpu_total(&rt, &id) > 0).then_some(())
    })
    .expect("the loop never ran");
    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let u0 = cpu_total(&rt, &id);
    std::thread::sleep(Duration::from_millis(700));
    let u1 = cpu_total(&rt, &id);
    assert!(
        u1 - u0 < 20_000_000,
        "a frozen container used {} ms of CPU",
        (u1 - u0) / 1_000_000
    );
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    // Thawed, it runs again: 300 ms of CPU, however busy the machine is.
    let u2 = common::poll(Duration::from_secs(20), || {
        let u2 = cpu_total(&rt, &id);
        (u2 - u1 > 300_000_000).then_some(u2)
    });
    assert!(u2.is_some(), "a thawed container did not run");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn limits_update_applies_to_a_running_container() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("upd");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["update", "--memory", "64m", "--pids-limit", "30", &id]);
    let out = rt.ok(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ev["data"]["memory"]["usage"]["limit"],
        json!(64u64 << 20),
        "{ev}"
    );
    assert_eq!(ev["data"]["pids"]["limit"], json!(30), "{ev}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// `linux.resources.unified` needs cgroup v2 alone: on a v1 or hybrid host
/// it is "invalid configuration", as runc says, and nothing is left; on
/// pure v2 (the VM) the container runs with it.
#[test]
fn limits_unified_needs_cgroup_v2() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("unified");
    let b = Bundle::new(&id, &["true"]);
    b.edit(|c| c["linux"]["resources"]["unified"] = json!({"pids.max": "42"}));
    let (code, out, err) = rt.run(&id, &b);
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert_eq!(code, 0, "{out}{err}");
    } else {
        assert_ne!(code, 0, "{out}{err}");
        assert!(err.contains("invalid configuration"), "{err}");
    }
    let _ = rt.exec(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

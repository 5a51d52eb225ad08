//! The lifecycle commands, with runc's names, outputs and exit codes.

mod common;

use std::time::Duration;

use common::{Bundle, Rt, text, unique_id};
use serde_json::json;

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("run");
    let b = Bundle::new(&id, &["sh", "-c", "echo hello; echo oops >&2; exit 7"]);
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 7, "stderr: {err}");
    assert_eq!(out, "hello\n");
    assert!(err.contains("oops"), "{err}");
    rt.assert_clean(&id, &b);
}

#[test]
fn killed_by_signal_exits_128_plus_signal() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("sig");
    // PID 1 of a pid namespace ignores signals it has no handler for when they
    // come from inside, so the kill comes from the runtime.
    let b = Bundle::new(&id, &["sleep", "100"]);
    let (code, err) = std::thread::scope(|s| {
        let h = s.spawn(|| rt.run(&id, &b));
        assert!(rt.wait_status(&id, "running", Duration::from_secs(10)));
        rt.ok(&["kill", &id, "KILL"]);
        let (code, _, err) = h.join().unwrap();
        (code, err)
    });
    assert_eq!(code, 137, "{err}");
    rt.assert_clean(&id, &b);
}

#[test]
fn create_start_state_delete() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("cycle");
    let b = Bundle::new(&id, &["sh", "-c", "echo started; sleep 30"]);
    let pid_file = b.path().join("pid");
    let out = rt.create_with(&id, &b, &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], json!(id));
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(st["bundle"], json!(b.path().canonicalize().unwrap()));
    // The process waits in the container, not yet running the program.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("sleep"));

    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    let out = rt.exec(&["start", &id]);
    assert!(!out.status.success(), "second start must fail");

    let out = rt.exec(&["delete", &id]);
    assert!(
        !out.status.success(),
        "delete of a running container must fail"
    );
    assert!(text(&out).contains("running"), "{}", text(&out));

    rt.ok(&["kill", &id, "KILL"]);
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    assert_eq!(rt.state(&id)["pid"], 0);
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id, &b);
    let out = rt.exec(&["state", &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
}

#[test]
fn delete_of_a_created_container_kills_it() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("delcreated");
    let b = Bundle::new(&id, &["sleep", "30"]);
    assert!(rt.create(&id, &b).status.success());
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.ok(&["delete", &id]);
    common::reap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            s.contains(") Z")
        }
    );
    rt.assert_clean(&id, &b);
}

#[test]
fn kill_signals_and_all() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("kill");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 3' TERM; sleep 100 & sleep 100 & : > /tmp/trapped; while :; do sleep 0.1; done",
        ],
    );
    assert!(rt.create_captured(&id, &b).status.success());
    rt.ok(&["start", &id]);
    // SIGTERM only once the trap is in place.
    common::wait_for_file(&b.rootfs().join("tmp/trapped"), Duration::from_secs(10));
    rt.ok(&["kill", &id]); // SIGTERM by default
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    assert!(Rt::output(&b).contains("got-term"), "{}", Rt::output(&b));
    rt.ok(&["delete", &id]);

    // --all reaches every process, not only init.
    let id2 = unique_id("killall");
    let b2 = Bundle::new(&id2, &["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    assert!(rt.create(&id2, &b2).status.success());
    rt.ok(&["start", &id2]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pids = loop {
        let pids: Vec<i64> =
            serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id2]).stdout).unwrap();
        if pids.len() >= 3 || std::time::Instant::now() > deadline {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(pids.len() >= 3, "{pids:?}");
    rt.ok(&["kill", "--all", &id2, "KILL"]);
    assert!(rt.wait_status(&id2, "stopped", Duration::from_secs(5)));
    rt.ok(&["delete", &id2]);
    rt.assert_clean(&id2, &b2);

    let out = rt.exec(&["kill", &id2, "KILL"]);
    assert!(!out.status.success());
}

#[test]
fn delete_force_stops_a_running_container() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("force");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
    // Forcing a missing container is not an error.
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.exec(&["delete", &id]).status.success());
}

#[test]
fn pause_and_resume() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("pause");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done",
        ],
    );
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    common::wait_for_file(&b.rootfs().join("tmp/count"), Duration::from_secs(10));
    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let count = |rt: &Rt| -> u64 {
        let out = rt.exec(&["exec", &id, "cat", "/tmp/count"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    // exec is refused while paused; read the counter through the rootfs instead.
    let path = format!("/proc/{}/root/tmp/count", rt.state(&id)["pid"]);
    let a = std::fs::read_to_string(&path).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let b1 = std::fs::read_to_string(&path).unwrap();
    assert_eq!(a, b1, "a paused container must not progress");
    assert!(
        !rt.exec(&["pause", &id]).status.success(),
        "pausing twice fails"
    );
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    // A loaded machine may take a while to schedule the thawed loop.
    // The counter is read through the root filesystem (a half-written file
    // reads as no progress); exec must work again too.
    let before: u64 = a.trim().parse().unwrap();
    let read = || -> u64 {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let progressed = |f: &dyn Fn() -> u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if f() > before {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(progressed(&read), "resumed container must progress");
    assert!(
        progressed(&|| count(&rt)),
        "exec after resume must see the progress"
    );
    assert!(
        !rt.exec(&["resume", &id]).status.success(),
        "resuming a running container fails"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn list_and_ps() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("list");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&id, &b).status.success());
    let out = String::from_utf8(rt.ok(&["list"]).stdout).unwrap();
    let header = out.lines().next().unwrap();
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with(&id) && l.contains("created")),
        "{out}"
    );
    let q = String::from_utf8(rt.ok(&["list", "-q"]).stdout).unwrap();
    assert_eq!(q.trim(), id);
    let j: serde_json::Value =
        serde_json::from_slice(&rt.ok(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(j[0]["id"], json!(id));
    assert_eq!(j[0]["status"], "created");

    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let pids: Vec<i64> =
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    let table = String::from_utf8(rt.ok(&["ps", &id]).stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert!(table.contains("sleep 100"), "{table}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn events_stats_reports_cgroup_usage() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("stats");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "x=$(head -c 4000000 /dev/zero | tr '\\0' a); sleep 100",
        ],
    );
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 50}));
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    // Until the 4 MB string has been built (a busy machine takes a while).
    let ev = common::poll(Duration::from_secs(20), || {
        let out = rt.ok(&["events", "--stats", &id]);
        let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (ev["data"]["memory"]["usage"]["max"].as_u64().unwrap_or(0) > 1_000_000).then_some(ev)
    })
    .expect("memory use never passed 1 MB");
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], json!(id));
    let data = &ev["data"];
    assert!(
        data["memory"]["usage"]["max"].as_u64().unwrap() > 1_000_000,
        "{data}"
    );
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{data}"
    );
    assert!(
        data["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{data}"
    );
    assert!(data["pids"]["current"].as_u64().unwrap() >= 1, "{data}");
    assert_eq!(data["pids"]["limit"], 50, "{data}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn update_changes_limits_of_a_running_container() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("update");
    let b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20}));
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    let mem = common::v1_dir("memory", &id).join("memory.limit_in_bytes");
    let pids = common::v1_dir("pids", &id).join("pids.max");
    if mem.exists() {
        assert_eq!(
            std::fs::read_to_string(&mem).unwrap().trim(),
            (64u64 << 20).to_string()
        );
    }
    rt.ok(&["update", "--memory", "128m", "--pids-limit", "20", &id]);
    if mem.exists() {
        assert_eq!(
            std::fs::read_to_string(&mem).unwrap().trim(),
            (128u64 << 20).to_string()
        );
        assert_eq!(std::fs::read_to_string(&pids).unwrap().trim(), "20");
    }
    // From a resources file, as containerd sends it.
    let res = b.path().join("res.json");
    std::fs::write(&res, r#"{"pids":{"limit":33}}"#).unwrap();
    rt.ok(&["update", "--resources", res.to_str().unwrap(), &id]);
    if pids.exists() {
        assert_eq!(std::fs::read_to_string(&pids).unwrap().trim(), "33");
    }
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn spec_writes_a_runnable_default_config() {
    require_root!();
    let rt = Rt::new();
    let dir = tempfile::Builder::new()
        .prefix("berth-test-spec-")
        .tempdir()
        .unwrap();
    let out = std::process::Command::new(&rt.bin)
        .args(["spec", "--bundle", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"], json!(["sh"]));
    assert_eq!(cfg["root"]["path"], "rootfs");
    // A second spec refuses to overwrite.
    let again = std::process::Command::new(&rt.bin)
        .args(["spec", "--bundle", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn features_document() {
    require_root!();
    berth_only!();
    let rt = Rt::new();
    let f: serde_json::Value = serde_json::from_slice(&rt.ok(&["features"]).stdout).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    let ns = f["linux"]["namespaces"].as_array().unwrap();
    for n in [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ] {
        assert!(ns.contains(&json!(n)), "{n}");
    }
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
}

#[test]
fn checkpoint_is_reported_as_unsupported() {
    require_root!();
    berth_only!();
    let rt = Rt::new();
    let out = rt.exec(&["checkpoint", "x"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not supported"), "{}", text(&out));
}

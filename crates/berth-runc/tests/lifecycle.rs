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

/// `run --keep`: the stopped container stays, with its state and cgroup, until
/// `delete`.
#[test]
fn run_keep_keeps_the_stopped_container() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("keep");
    let b = Bundle::new(&id, &["sh", "-c", "exit 3"]);
    rt.track(&id);
    let out = rt.exec(&["run", "--keep", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(3), "{}", common::text(&out));
    assert_eq!(rt.status(&id), "stopped");
    assert!(
        !common::cgroup_dirs(&id).is_empty(),
        "the cgroup of a kept container was removed"
    );
    // A stopped container cannot be signalled; --all is a no-op then.
    let k = rt.exec(&["kill", &id, "KILL"]);
    assert_eq!(k.status.code(), Some(1));
    assert!(
        common::text(&k).contains("container not running"),
        "{}",
        common::text(&k)
    );
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id, &b);
    let k = rt.exec(&["kill", &id, "KILL"]);
    assert_eq!(k.status.code(), Some(1));
    assert!(
        common::text(&k).contains("container does not exist"),
        "{}",
        common::text(&k)
    );
}

/// A detached container is killed by `kill`, and `delete --force` removes its
/// cgroup even when the container made sub-cgroups (with a process in one).
#[test]
fn kill_detached_and_delete_force_with_sub_cgroups() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("subcg");
    let b = Bundle::new(&id, &["sleep", "1000"]);
    rt.track(&id);
    let out = rt.exec_detached(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        &b,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(rt.status(&id), "running");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let mut subs = Vec::new();
    for dir in common::cgroup_dirs(&id) {
        let sub = dir.join("sub");
        if std::fs::create_dir(&sub).is_ok() {
            subs.push(sub);
        }
    }
    assert!(!subs.is_empty());
    // The init process moves into one sub-cgroup (v1: the memory hierarchy).
    if let Some(sub) = subs
        .iter()
        .find(|s| s.starts_with("/sys/fs/cgroup/memory") || s.starts_with("/sys/fs/cgroup/berth"))
    {
        let _ = std::fs::write(sub.join("cgroup.procs"), pid.to_string());
    }
    rt.ok(&["kill", &id, "KILL"]);
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
    for s in &subs {
        assert!(!s.exists(), "{} left behind", s.display());
    }
}

/// `--debug` writes runc's debug records, to stderr as text and to `--log` as
/// JSON, for run and for exec.
#[test]
fn debug_logs_in_text_and_json() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("debug");
    let b = Bundle::new(&id, &["true"]);
    rt.track(&id);
    let out = rt.exec(&[
        "--debug",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("time=\"") && l.contains(" level=debug msg=")),
        "no debug record on stderr: {err}"
    );
    let without = rt.exec(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!String::from_utf8_lossy(&without.stderr).contains("level=debug"));

    let log = b.path().join("log.json");
    let id2 = unique_id("debugx");
    let b2 = Bundle::new(&id2, &["sleep", "1000"]);
    assert!(rt.create(&id2, &b2).status.success());
    rt.ok(&["start", &id2]);
    let ex = rt.exec(&[
        "--debug",
        "--log-format",
        "json",
        "--log",
        log.to_str().unwrap(),
        "exec",
        &id2,
        "true",
    ]);
    assert!(ex.status.success(), "{}", common::text(&ex));
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["level"] == "debug" && r["msg"].is_string() && r["time"].is_string()),
        "{text}"
    );
    rt.ok(&["delete", "--force", &id2]);
    rt.assert_clean(&id, &b);
    rt.assert_clean(&id2, &b2);
}

/// The container's cgroup directories made in advance (by another manager),
/// in every hierarchy of this host.
fn precreate_cgroup(id: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let roots: Vec<std::path::PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.to_path_buf()]
    } else {
        std::fs::read_dir(root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|p| p.join("cgroup.procs").exists())
            .collect()
    };
    roots
        .into_iter()
        .map(|r| {
            let d = r.join(id);
            std::fs::create_dir(&d).unwrap();
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(r.join(f)) {
                    let _ = std::fs::write(d.join(f), v.trim());
                }
            }
            d
        })
        .collect()
}

fn freeze(dirs: &[std::path::PathBuf], frozen: bool) {
    for d in dirs {
        if d.join("freezer.state").exists() {
            std::fs::write(
                d.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            )
            .unwrap();
        } else if d.join("cgroup.freeze").exists() {
            std::fs::write(d.join("cgroup.freeze"), if frozen { "1" } else { "0" }).unwrap();
        }
    }
}

/// A pre-existing frozen cgroup is refused at once (it would stop the
/// container's init forever), and a pre-existing cgroup with processes in it is
/// joined (berth warns that it is not empty).
#[test]
fn frozen_cgroup_is_refused_and_a_busy_one_joined() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("frozen");
    let b = Bundle::new(&id, &["echo", "ran"]);
    let dirs = precreate_cgroup(&id);
    freeze(&dirs, true);
    let started = std::time::Instant::now();
    rt.track(&id);
    let out = rt.exec(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let took = started.elapsed();
    freeze(&dirs, false);
    assert_ne!(out.status.code(), Some(0), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("cgroup unexpectedly frozen"),
        "{}",
        common::text(&out)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let _ = rt.exec(&["delete", "--force", &id]);

    // A process of someone else's in the cgroup.
    let dirs = if common::cgroup_dirs(&id).is_empty() {
        precreate_cgroup(&id)
    } else {
        common::cgroup_dirs(&id)
    };
    let mut other = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = other.id().to_string();
    let pids_dir = dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
        .unwrap_or(&dirs[0]);
    std::fs::write(pids_dir.join("cgroup.procs"), &pid).unwrap();
    let out = rt.exec(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let _ = other.kill();
    let _ = other.wait();
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ran"), "{text}");
    if common::is_berth() {
        assert!(text.contains("container's cgroup is not empty"), "{text}");
    }
    let _ = rt.exec(&["delete", "--force", &id]);
    for d in common::cgroup_dirs(&id) {
        let _ = std::fs::remove_dir(d);
    }
    rt.assert_clean(&id, &b);
}

/// A container cgroup file: v1 `<controller>/<path>/<file>`, or v2's.
fn cg_file(controller: &str, path: &str, v1: &str, v2: &str) -> std::path::PathBuf {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        root.join(path.trim_start_matches('/')).join(v2)
    } else {
        root.join(controller)
            .join(path.trim_start_matches('/'))
            .join(v1)
    }
}

fn read_cg(p: &std::path::Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// `update` of the common limits, and CPU quota and period changed alone and
/// together with runc's validation (the kernel's minimum period is 1 ms).
#[test]
fn update_common_limits_and_cpu_quota_period() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("updcpu");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let path = format!("/{id}");
    let cpu = |q: &str, p: &str| -> String {
        if v2 {
            read_cg(&cg_file("cpu", &path, "", "cpu.max"))
        } else {
            format!(
                "{} {}",
                read_cg(&cg_file("cpu", &path, q, "")),
                read_cg(&cg_file("cpu", &path, p, ""))
            )
        }
    };
    let now = || cpu("cpu.cfs_quota_us", "cpu.cfs_period_us");
    let unlimited = if v2 { "max" } else { "-1" };
    rt.ok(&["update", "--cpu-period", "50000", &id]);
    assert_eq!(now(), format!("{unlimited} 50000"));
    rt.ok(&["update", "--cpu-quota", "5000", &id]);
    assert_eq!(now(), "5000 50000");
    let bad = rt.exec(&["update", "--cpu-period", "100", &id]);
    assert_ne!(bad.status.code(), Some(0), "period 100 accepted");
    assert_eq!(now(), "5000 50000");
    rt.ok(&[
        "update",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "60000",
        &id,
    ]);
    assert_eq!(now(), "60000 100000");
    rt.ok(&["update", "--cpu-quota", "-1", &id]);
    assert_eq!(now(), format!("{unlimited} 100000"));

    rt.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "10",
        "--cpu-share",
        "512",
        "--cpuset-cpus",
        "0",
        &id,
    ]);
    let mem = cg_file("memory", &path, "memory.limit_in_bytes", "memory.max");
    assert_eq!(read_cg(&mem), (64u64 << 20).to_string());
    let swap = cg_file(
        "memory",
        &path,
        "memory.memsw.limit_in_bytes",
        "memory.swap.max",
    );
    if swap.exists() {
        // v1: memory+swap; v2: swap alone.
        let want: u64 = if v2 { 64 << 20 } else { 128 << 20 };
        assert_eq!(read_cg(&swap), want.to_string());
    }
    assert_eq!(
        read_cg(&cg_file("pids", &path, "pids.max", "pids.max")),
        "10"
    );
    let shares = read_cg(&cg_file("cpu", &path, "cpu.shares", "cpu.weight"));
    assert_eq!(shares, if v2 { "20" } else { "512" }, "cpu shares");
    assert_eq!(
        read_cg(&cg_file("cpuset", &path, "cpuset.cpus", "cpuset.cpus")),
        "0"
    );
    let weight = cg_file("blkio", &path, "blkio.weight", "io.bfq.weight");
    if weight.exists() {
        rt.ok(&["update", "--blkio-weight", "500", &id]);
        assert!(read_cg(&weight).contains("500"), "{}", read_cg(&weight));
    }
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// A container inside a pod cgroup whose parent limits the CPU to 50%: a
/// larger quota is refused, and a lower period with a lower quota (30%) works
/// although the new period alone would exceed the parent's ratio.
#[test]
fn update_cpu_period_in_a_pod_with_a_limit() {
    require_root!();
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("SKIPPED: v1's hierarchical CFS ratio check (v2 checks nothing on write)");
        return;
    }
    let id = unique_id("podcpu");
    let pod = format!("{id}-pod");
    // Removed last (after the container), also when the test fails.
    struct PodGuard(String);
    impl Drop for PodGuard {
        fn drop(&mut self) {
            for d in common::cgroup_dirs(&self.0) {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
    let _guard = PodGuard(pod.clone());
    let rt = Rt::new();
    let pod_dir = std::path::Path::new("/sys/fs/cgroup/cpu").join(&pod);
    std::fs::create_dir(&pod_dir).unwrap();
    std::fs::write(pod_dir.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(pod_dir.join("cpu.cfs_quota_us"), "50000").unwrap();
    let b = Bundle::new(&id, &["sleep", "100"]);
    let path = format!("/{pod}/{id}");
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"]["cpu"] = json!({"quota": 40000, "period": 100000});
    });
    assert!(rt.create(&id, &b).status.success(), "{}", Rt::output(&b));
    rt.ok(&["start", &id]);
    let q = cg_file("cpu", &path, "cpu.cfs_quota_us", "");
    let p = cg_file("cpu", &path, "cpu.cfs_period_us", "");
    let over = rt.exec(&["update", "--cpu-quota", "60000", &id]);
    assert_ne!(over.status.code(), Some(0), "60% under a 50% pod accepted");
    rt.ok(&[
        "update",
        "--cpu-period",
        "10000",
        "--cpu-quota",
        "3000",
        &id,
    ]);
    assert_eq!(read_cg(&q), "3000");
    assert_eq!(read_cg(&p), "10000");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// Updates that keep the device rules never deny a running process its
/// devices, not even for a moment (runc's minimal transition on v1; v2 swaps
/// whole programs).
#[test]
fn update_keeps_devices_without_a_gap() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("devgap");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            ": > /tmp/ready; while :; do true < /dev/null || echo gap >> /tmp/gaps; done",
        ],
    );
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    common::wait_for_file(&b.rootfs().join("tmp/ready"), Duration::from_secs(5));
    let devices = b.config()["linux"]["resources"]["devices"].clone();
    let res = b.path().join("res.json");
    std::fs::write(
        &res,
        serde_json::to_vec(&json!({"devices": devices, "pids": {"limit": 100}})).unwrap(),
    )
    .unwrap();
    for _ in 0..100 {
        rt.ok(&["update", "--resources", res.to_str().unwrap(), &id]);
    }
    std::thread::sleep(Duration::from_millis(50));
    let gaps = std::fs::read_to_string(b.rootfs().join("tmp/gaps")).unwrap_or_default();
    assert_eq!(
        gaps.lines().count(),
        0,
        "/dev/null was denied during updates"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

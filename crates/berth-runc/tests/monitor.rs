//! berthd's per-container monitor (`berth-runc monitor`): the start
//! handshake, attach frames, wait, the json-file log, exit.json, and cleanup.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use common::{Bundle, Rt, unique_id};

#[test]
fn monitor_runs_a_container_and_records_its_exit() {
    require_root!();
    berth_only!();
    let rt = Rt::new();
    let id = unique_id("mon");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; sleep 0.2; echo done; exit 3",
        ],
    );
    let dir = b.path().to_path_buf();
    rt.track(&id);
    let mut child = Command::new(common::runtime_bin())
        .arg("--root")
        .arg(rt.root())
        .args(["monitor", "--id", &id, "--bundle"])
        .arg(&dir)
        .arg("--dir")
        .arg(&dir)
        .arg("--log-path")
        .arg(dir.join("log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ctl_in = child.stdin.take().unwrap();
    let mut ctl_out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    ctl_out.read_line(&mut line).unwrap();
    let created: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(created["pid"].as_i64().unwrap() > 0, "{line}");

    let mut attach = UnixStream::connect(dir.join("monitor.sock")).unwrap();
    attach.write_all(b"attach 0 1 1\n").unwrap();
    let mut wait = UnixStream::connect(dir.join("monitor.sock")).unwrap();
    wait.write_all(b"wait\n").unwrap();
    ctl_in.write_all(b"start\n").unwrap();
    line.clear();
    ctl_out.read_line(&mut line).unwrap();
    assert!(line.contains("\"started\":true"), "{line}");

    let mut frames = Vec::new();
    attach.read_to_end(&mut frames).unwrap();
    // Demultiplex Docker's 8-byte frame headers.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + 8 <= frames.len() {
        let n = u32::from_be_bytes(frames[i + 4..i + 8].try_into().unwrap()) as usize;
        assert!(n > 0, "no zero-length frames");
        let payload = &frames[i + 8..i + 8 + n];
        if frames[i] == 1 {
            out.extend_from_slice(payload)
        } else {
            err.extend_from_slice(payload)
        }
        i += 8 + n;
    }
    assert_eq!(String::from_utf8_lossy(&out), "out\ndone\n");
    assert_eq!(String::from_utf8_lossy(&err), "err\n");
    let mut w = String::new();
    wait.read_to_string(&mut w).unwrap();
    assert_eq!(w.trim(), r#"{"exit_code":3,"oom_killed":false}"#);
    assert!(child.wait().unwrap().success());

    let exit: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("exit.json")).unwrap()).unwrap();
    assert_eq!(exit["exit_code"], 3);
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["stream"], "stderr");
    assert!(!dir.join("monitor.sock").exists());
    // The runtime state and cgroups are gone with the container.
    assert!(!rt.root().join(&id).exists());
    assert!(common::cgroup_dirs(&id).is_empty());
}

#[test]
fn monitor_reports_an_executable_that_does_not_exist() {
    require_root!();
    berth_only!();
    let rt = Rt::new();
    let id = unique_id("monx");
    let b = Bundle::new(&id, &["/no/such/program"]);
    let dir = b.path().to_path_buf();
    rt.track(&id);
    let out = Command::new(common::runtime_bin())
        .arg("--root")
        .arg(rt.root())
        .args(["monitor", "--id", &id, "--bundle"])
        .arg(&dir)
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"start\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("no such file or directory"), "{text}");
    assert!(!rt.root().join(&id).exists());
    assert!(common::cgroup_dirs(&id).is_empty());
}

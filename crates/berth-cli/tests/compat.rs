//! Runs the same scenarios with the real docker CLI and with berth against one
//! daemon and compares outputs and exit codes.
//!
//! The daemon: BERTH_CLI_TEST_HOST (e.g. unix:///run/berth.sock) if set;
//! otherwise a private dockerd started under /tmp/berth-test-dockerd-<pid>
//! (skipped, visibly, if `dockerd` or `docker` is not installed).

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Daemon, docker, run_with};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

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
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
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
    // the bare `json` format asks for no sizes
    same(h, &["ps", "--format", "json"], b"");
    same(h, &["ps", "-s"], b"");
    same(
        h,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "c1",
        ],
        b"",
    );
    same(h, &["port", "c1"], b"");
    same(h, &["diff", "c1"], b"");
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
    same(h, &["version", "--format", "{{json .Server}}"], b"");
    same(
        h,
        &[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Os}}",
        ],
        b"",
    );
    same(
        h,
        &[
            "info",
            "--format",
            "{{.OSType}} {{.Driver}} {{.Swarm.LocalNodeState}}",
        ],
        b"",
    );
    same(h, &["network", "ls"], b"");
    same(h, &["network", "ls", "--format", "{{json .}}"], b"");
    same(h, &["network", "inspect", "none"], b"");
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
    same(h, &["history", "--format", "{{json .}}", "busybox"], b"");
    // Go's JSON of format contexts escapes HTML: "\u003cnone\u003e"
    same_unordered(h, &["images", "--format", "{{json .}}"]);
    same_unordered(h, &["images", "--format", "json"]);
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
    same(h, &["system", "df", "--format", "{{json .}}"], b"");
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    for format in [
        "{{json .}}",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ] {
        same(
            h,
            &[
                "events",
                "--since",
                &since,
                "--until",
                &until,
                "--filter",
                "container=c1",
                "--format",
                format,
            ],
            b"",
        );
    }
}

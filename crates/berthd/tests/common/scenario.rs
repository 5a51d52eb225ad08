//! The everyday commands of a Docker user, against berthd, with the client in
//! `Daemon::cli` (the official docker CLI or berth): outputs and exit codes
//! as docker gives them. Afterwards nothing of the containers may be left.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Daemon, code, err, ok, out};

/// Run `args` under a pseudo-terminal of 33x101 (util-linux `script`), as a
/// user at a terminal would; returns what the terminal showed.
fn at_terminal(d: &Daemon, args: &str) -> String {
    let line = format!(
        "stty rows 33 cols 101; {} -H {} {args}",
        d.cli.display(),
        d.sock()
    );
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux)");
    String::from_utf8_lossy(&o.stdout).replace('\0', "")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run(d: &Daemon) {
    let since = chrono_now();
    let v = ok(d, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(v.trim(), "1.51");
    let info = ok(d, &["info", "--format", "{{.OSType}} {{.Driver}}"]);
    assert_eq!(info.trim(), "linux overlay2");

    // An image from busybox-static, through `load`.
    let tar = d.dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    assert!(
        Command::new("bash")
            .arg(script)
            .arg(&tar)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let o = ok(d, &["load", "-i", tar.to_str().unwrap()]);
    assert!(o.contains("Loaded image: busybox:latest"), "{o}");
    assert!(ok(d, &["images"]).contains("busybox "));

    // Attached runs: output, exit codes, stderr, stdin.
    let o = d.docker(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!((code(&o), out(&o).as_str()), (0, "hello\n"), "{}", err(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo oops >&2; exit 3",
    ]);
    assert_eq!(code(&o), 3);
    assert_eq!(err(&o), "oops\n");
    let o = d.docker(&["run", "--rm", "busybox", "nosuch"]);
    assert_eq!(code(&o), 127);
    assert!(err(&o).contains("executable file not found"), "{}", err(&o));
    let o = d.docker(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(code(&o), 126, "not executable: {}", err(&o));
    let mut child = d
        .cmd(&["run", "--rm", "-i", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(out(&o), "piped\n");
    let o = d.docker(&[
        "run",
        "--rm",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a)",
    ]);
    assert_eq!(code(&o), 137, "an OOM kill is 137: {}", err(&o));

    // --init: a small init is PID 1 and runs the command as its child.
    let o = ok(
        d,
        &["run", "--rm", "--init", "busybox", "ps", "-o", "pid,args"],
    );
    assert!(
        o.lines()
            .any(|l| l.trim() == "1 /sbin/docker-init -- ps -o pid,args"),
        "{o}"
    );
    // Health checks: starting → unhealthy → healthy, in ps, inspect and events.
    ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-health",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "busybox",
            "sleep",
            "100",
        ],
    );
    let health = |d: &Daemon| {
        ok(
            d,
            &[
                "inspect",
                "--format",
                "{{.State.Health.Status}}",
                "berth-test-health",
            ],
        )
        .trim()
        .to_string()
    };
    wait_for("unhealthy", || health(d) == "unhealthy");
    assert!(ok(d, &["ps", "--format", "{{.Status}}"]).contains("(unhealthy)"));
    ok(d, &["exec", "berth-test-health", "touch", "/tmp/ok"]);
    wait_for("healthy", || health(d) == "healthy");
    ok(d, &["rm", "-f", "berth-test-health"]);

    // -it: a real terminal, with the client's size.
    let t = at_terminal(d, "run -it --rm busybox sh -c 'tty; stty size'");
    assert!(t.contains("/dev/pts/0") && t.contains("33 101"), "{t:?}");

    // A detached container: ps, exec, logs, inspect.
    let o = ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-web",
            "busybox",
            "sh",
            "-c",
            "echo started; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done",
        ],
    );
    assert_eq!(o.trim().len(), 64);
    let ps = ok(d, &["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(ps.contains("berth-test-web") && ps.contains("Up "), "{ps}");
    let o = d.docker(&["exec", "berth-test-web", "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!((code(&o), out(&o).as_str()), (5, "in-exec\n"));
    let o = ok(
        d,
        &[
            "exec",
            "-e",
            "FOO=bar",
            "berth-test-web",
            "sh",
            "-c",
            "echo $FOO",
        ],
    );
    assert_eq!(o, "bar\n");
    let t = at_terminal(
        d,
        "exec -it -e FOO=tty berth-test-web sh -c 'tty; stty size; echo $FOO'",
    );
    assert!(
        t.contains("/dev/pts/") && t.contains("33 101") && t.contains("tty"),
        "{t:?}"
    );
    wait_for("logs", || {
        ok(d, &["logs", "berth-test-web"]).contains("line 3")
    });
    let logs = ok(d, &["logs", "berth-test-web"]);
    assert!(logs.starts_with("started\nline 0\nline 1\n"), "{logs}");
    let tail = ok(d, &["logs", "--tail", "2", "berth-test-web"]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    // logs -f follows until the container exits.
    ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "berth-test-follow",
            "busybox",
            "sh",
            "-c",
            "echo a; sleep 1; echo b",
        ],
    );
    assert_eq!(ok(d, &["logs", "-f", "berth-test-follow"]), "a\nb\n");
    ok(d, &["rm", "berth-test-follow"]);
    let o = ok(
        d,
        &[
            "inspect",
            "--format",
            "{{.State.Status}} {{.Name}}",
            "berth-test-web",
        ],
    );
    assert_eq!(o.trim(), "running /berth-test-web");
    let o = d.docker(&["run", "-d", "--name", "berth-test-web", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        err(&o).contains("is already in use by container"),
        "{}",
        err(&o)
    );

    // top, stats, pause/unpause.
    let top = ok(d, &["top", "berth-test-web"]);
    assert!(top.contains("PID") && top.contains("sh -c"), "{top}");
    let stats = ok(d, &["stats", "--no-stream", "berth-test-web"]);
    assert!(
        stats.contains("MEM USAGE / LIMIT") && stats.contains("berth-test-web"),
        "{stats}"
    );
    ok(d, &["pause", "berth-test-web"]);
    let st = ok(d, &["ps", "--format", "{{.Status}}"]);
    assert!(st.contains("(Paused)"), "{st}");
    let o = d.docker(&["pause", "berth-test-web"]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("is already paused"), "{}", err(&o));
    ok(d, &["unpause", "berth-test-web"]);

    // cp both ways, diff, commit, export, import.
    let host_file = d.dir.join("in.txt");
    std::fs::write(&host_file, "from the host\n").unwrap();
    ok(
        d,
        &["cp", host_file.to_str().unwrap(), "berth-test-web:/tmp/"],
    );
    ok(
        d,
        &[
            "exec",
            "berth-test-web",
            "sh",
            "-c",
            "mkdir -p /tmp/d && echo inside > /tmp/d/f",
        ],
    );
    let back = d.dir.join("back");
    ok(d, &["cp", "berth-test-web:/tmp/d", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("f")).unwrap(), "inside\n");
    let o = ok(d, &["exec", "berth-test-web", "cat", "/tmp/in.txt"]);
    assert_eq!(o, "from the host\n");
    let o = d.docker(&["cp", "berth-test-web:/nonexistent", back.to_str().unwrap()]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("Could not find the file /nonexistent"),
        "{}",
        err(&o)
    );
    let diff = ok(d, &["diff", "berth-test-web"]);
    for want in ["C /tmp", "A /tmp/in.txt", "A /tmp/d/f"] {
        assert!(diff.lines().any(|l| l == want), "{want} in {diff}");
    }
    assert!(
        !diff.contains("/etc/hostname"),
        "mount points are not changes: {diff}"
    );
    let img = ok(
        d,
        &[
            "commit",
            "-c",
            "ENV COMMITTED=yes",
            "berth-test-web",
            "berth-test-committed:v1",
        ],
    );
    assert!(img.trim().starts_with("sha256:"), "{img}");
    let o = ok(
        d,
        &[
            "run",
            "--rm",
            "berth-test-committed:v1",
            "sh",
            "-c",
            "echo $COMMITTED; cat /tmp/in.txt",
        ],
    );
    assert_eq!(o, "yes\nfrom the host\n");
    let exported = d.dir.join("export.tar");
    ok(
        d,
        &["export", "-o", exported.to_str().unwrap(), "berth-test-web"],
    );
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&exported)
        .output()
        .unwrap();
    let list = out(&list);
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "tmp/in.txt"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox")
    );
    let o = ok(
        d,
        &[
            "import",
            exported.to_str().unwrap(),
            "berth-test-imported:v1",
        ],
    );
    assert!(o.trim().starts_with("sha256:"), "{o}");
    let o = ok(
        d,
        &["run", "--rm", "berth-test-imported:v1", "cat", "/tmp/d/f"],
    );
    assert_eq!(o, "inside\n");

    // stop, start, restart, kill, rename, wait.
    ok(d, &["stop", "-t", "1", "berth-test-web"]);
    let ps = ok(d, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("berth-test-web Exited (137)"), "{ps}");
    ok(d, &["start", "berth-test-web"]);
    ok(d, &["restart", "-t", "1", "berth-test-web"]);
    let o = ok(
        d,
        &[
            "inspect",
            "--format",
            "{{.State.Running}} {{.RestartCount}}",
            "berth-test-web",
        ],
    );
    assert!(o.starts_with("true"), "{o}");
    ok(d, &["rename", "berth-test-web", "berth-test-renamed"]);
    let waiter = d
        .cmd(&["wait", "berth-test-renamed"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    ok(d, &["kill", "berth-test-renamed"]);
    let o = waiter.wait_with_output().unwrap();
    assert_eq!(out(&o).trim(), "137");
    ok(d, &["rm", "berth-test-renamed"]);
    let o = d.docker(&["rm", "berth-test-renamed"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("No such container: berth-test-renamed"),
        "{}",
        err(&o)
    );

    // Images: inspect, history, tag, save + load, rmi.
    let id = ok(d, &["image", "inspect", "--format", "{{.Id}}", "busybox"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let h = ok(d, &["history", "berth-test-committed:v1"]);
    assert!(h.starts_with("IMAGE ") && h.lines().count() >= 3, "{h}");
    ok(d, &["tag", "busybox", "berth-test-tagged:latest"]);
    assert!(ok(d, &["images"]).contains("berth-test-tagged"));
    let saved = d.dir.join("saved.tar");
    ok(
        d,
        &[
            "save",
            "-o",
            saved.to_str().unwrap(),
            "berth-test-committed:v1",
            "berth-test-tagged",
        ],
    );
    ok(d, &["rmi", "berth-test-committed:v1"]);
    let o = d.docker(&["image", "inspect", "berth-test-committed:v1"]);
    assert_eq!(code(&o), 1);
    let o = ok(d, &["load", "-i", saved.to_str().unwrap()]);
    assert!(o.contains("Loaded image: berth-test-committed:v1"), "{o}");
    let o = ok(
        d,
        &[
            "run",
            "--rm",
            "berth-test-committed:v1",
            "cat",
            "/tmp/in.txt",
        ],
    );
    assert_eq!(o, "from the host\n");
    let o = ok(
        d,
        &[
            "rmi",
            "berth-test-tagged",
            "berth-test-imported:v1",
            "berth-test-committed:v1",
        ],
    );
    assert!(o.contains("Untagged: berth-test-tagged:latest"), "{o}");
    assert!(o.contains("Deleted: sha256:"), "{o}");
    let o = d.docker(&["run", "--rm", "nosuchimage"]);
    assert_eq!(code(&o), 125);
    assert!(err(&o).contains("Unable to find image 'nosuchimage:latest' locally"));

    // system df and the events of all this.
    let df = ok(d, &["system", "df"]);
    assert!(df.starts_with("TYPE ") && df.contains("Images"), "{df}");
    let until = chrono_now() + 1;
    let ev = ok(
        d,
        &[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "container=berth-test-follow",
            "--format",
            "{{.Action}}",
        ],
    );
    let actions: Vec<&str> = ev.lines().collect();
    for want in ["create", "start", "die", "destroy"] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    let ev = ok(
        d,
        &[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "container=berth-test-health",
            "--format",
            "{{.Action}}",
        ],
    );
    assert!(
        ev.contains("health_status: unhealthy") && ev.contains("health_status: healthy"),
        "{ev}"
    );

    // Nothing of the containers is left.
    assert!(ok(d, &["ps", "-aq"]).trim().is_empty());
    let mounts = d.mounts();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let cgroups = d.cgroups();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

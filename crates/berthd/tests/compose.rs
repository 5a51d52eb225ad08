//! Compose stacks against berthd, with dockerd as the reference in the same
//! run: every project of the corpus (`crates/berth-compose/tests/corpus`)
//! that docker-compose 1.29 accepts is brought up with it against both
//! daemons; the containers (names, states, compose labels), networks and
//! volumes (names, labels), service reachability by name, what built
//! images serve, and the exit code of a one-off `run` must be the same;
//! `down -v --rmi local` must leave nothing (built images included). Then
//! `berth compose` runs each project (also those docker-compose 1.29
//! cannot read) against berthd and must give what docker-compose 1.29
//! gives on dockerd. (berth compose and
//! docker-compose sharing stacks both ways: crates/berth-cli/tests/compose.rs.)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Daemon, out};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../berth-compose/tests/corpus");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn compose_bin() -> Option<PathBuf> {
    ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A compose client (`docker-compose` or `berth compose`) on `host`, in
/// a copy of the project `dir` (so the runs never write into the repo).
fn compose(prog: &[&str], host: &str, dir: &Path, project: &str, args: &[&str]) -> Output {
    let mut c = Command::new(prog[0]);
    c.args(&prog[1..])
        .arg("-f")
        .arg(dir.join("compose.yaml"))
        .arg("-p")
        .arg(project)
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", host)
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(Stdio::null());
    c.output().unwrap()
}

fn docker(host: &str, args: &[&str]) -> Output {
    Command::new(common::docker_bin().expect("the docker CLI"))
        .arg("-H")
        .arg(host)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = out(o)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// What a project looks like on a daemon: containers (as `<service>
/// <number> <state>` with the compose labels), networks and volumes (with
/// theirs), then which services reach which by name.
fn observe(host: &str, project: &str) -> BTreeMap<String, Vec<String>> {
    let mut o = BTreeMap::new();
    let filter = format!("label=com.docker.compose.project={project}");
    o.insert(
        "containers".into(),
        lines(&docker(
            host,
            &[
                "ps",
                "-a",
                "--filter",
                &filter,
                "--format",
                "{{.Label \"com.docker.compose.service\"}} {{.Label \"com.docker.compose.container-number\"}} {{.Label \"com.docker.compose.oneoff\"}} {{.State}}",
            ],
        )),
    );
    o.insert(
        "networks".into(),
        lines(&docker(
            host,
            &[
                "network",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}} {{.Label \"com.docker.compose.network\"}}",
            ],
        )),
    );
    o.insert(
        "volumes".into(),
        lines(&docker(
            host,
            &[
                "volume",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}} {{.Label \"com.docker.compose.volume\"}}",
            ],
        )),
    );
    // Reachability: from each running container, ping every service name.
    let running = lines(&docker(
        host,
        &[
            "ps",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.Label \"com.docker.compose.service\"}}",
        ],
    ));
    let services: Vec<String> = running
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .collect();
    let mut reach = Vec::new();
    for l in &running {
        let mut it = l.split_whitespace();
        let (Some(name), Some(svc)) = (it.next(), it.next()) else {
            continue;
        };
        for other in &services {
            let r = docker(host, &["exec", name, "ping", "-c", "1", "-W", "2", other]);
            reach.push(format!("{svc} -> {other}: {}", r.status.success()));
        }
    }
    reach.sort();
    reach.dedup();
    o.insert("reach".into(), reach);
    // What built images serve (the build corpus project's page).
    let mut www = Vec::new();
    let running_images = lines(&docker(
        host,
        &[
            "ps",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.Label \"com.docker.compose.service\"}} {{.Image}}",
        ],
    ));
    for l in &running_images {
        let mut it = l.split_whitespace();
        let (Some(name), Some(svc), Some(image)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if image == "busybox" {
            continue;
        }
        let r = docker(host, &["exec", name, "cat", "/www/index.html"]);
        if r.status.success() {
            www.push(format!(
                "{svc}: {}",
                String::from_utf8_lossy(&r.stdout).trim()
            ));
        }
    }
    www.sort();
    www.dedup();
    o.insert("www".into(), www);
    o
}

/// Images named after the project (built for services without `image:`).
fn project_images(host: &str, project: &str) -> Vec<String> {
    lines(&docker(
        host,
        &[
            "images",
            "--filter",
            &format!("reference={project}*"),
            "--format",
            "{{.Repository}}",
        ],
    ))
}

/// Copy a corpus project to a scratch directory.
fn copy_project(src: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Bring one project up with `prog` on `host`, observe it, run a one-off
/// container of its first service, take it down; the observations.
fn cycle(prog: &[&str], host: &str, dir: &Path, project: &str) -> BTreeMap<String, Vec<String>> {
    let up = compose(prog, host, dir, project, &["up", "-d"]);
    let mut seen = BTreeMap::new();
    seen.insert(
        "up".into(),
        vec![up.status.code().unwrap_or(-1).to_string()],
    );
    if !up.status.success() {
        eprintln!(
            "{}: up failed: {}",
            dir.display(),
            String::from_utf8_lossy(&up.stderr)
        );
    }
    // Let short-lived services finish and health checks settle.
    std::thread::sleep(std::time::Duration::from_secs(3));
    seen.extend(observe(host, project));
    let down = compose(
        prog,
        host,
        dir,
        project,
        &[
            "down",
            "-v",
            "--rmi",
            "local",
            "--remove-orphans",
            "-t",
            "1",
        ],
    );
    seen.insert(
        "down".into(),
        vec![down.status.code().unwrap_or(-1).to_string()],
    );
    let after = observe(host, project);
    seen.insert(
        "left_after_down".into(),
        ["containers", "networks", "volumes"]
            .iter()
            .flat_map(|k| after[*k].clone())
            .chain(project_images(host, project))
            .collect(),
    );
    seen
}

#[test]
fn docker_compose_runs_the_corpus_as_on_dockerd() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let Some(dc) = compose_bin() else {
        eprintln!("SKIPPED: docker-compose is not installed (apt-get install docker-compose)");
        return;
    };
    let dc = dc.display().to_string();
    let scratch = tempfile::tempdir().unwrap();
    // The projects docker-compose 1.29 takes (it predates some of the
    // compose specification the corpus also covers).
    let mut projects = Vec::new();
    for p in corpus() {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        copy_project(&p, scratch.path());
        let dir = scratch.path().join(&name);
        let ok = compose(&[&dc], "unix:///nonexistent", &dir, "x", &["config", "-q"])
            .status
            .success();
        if ok {
            projects.push((name, dir));
        } else {
            eprintln!("{name}: not for docker-compose 1.29 (its config is refused)");
        }
    }
    assert!(
        projects.len() >= 5,
        "too few corpus projects run: {projects:?}"
    );
    let tag = std::process::id();
    let d = Daemon::start();
    d.load_busybox();
    let mut ours = BTreeMap::new();
    for (name, dir) in &projects {
        ours.insert(
            name.clone(),
            cycle(&[&dc], &d.sock(), dir, &format!("berth-test-{tag}-{name}")),
        );
    }
    eprintln!("berthd: {ours:#?}");
    for (name, seen) in &ours {
        assert_eq!(seen["up"], ["0"], "{name}: up failed on berthd: {seen:?}");
        assert!(
            seen["left_after_down"].is_empty(),
            "{name}: down left {:?}",
            seen["left_after_down"]
        );
    }
    // berth compose on the same projects, and on the ones 1.29 cannot
    // read: the same stacks.
    let mut native = BTreeMap::new();
    if let Some(b) = berth_compose() {
        let b = b.display().to_string();
        let mut all = projects.clone();
        for p in corpus() {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let dir = scratch.path().join(&name);
            if !all.iter().any(|(n, _)| *n == name) {
                all.push((name, dir));
            }
        }
        for (name, dir) in &all {
            let seen = cycle(
                &[&b, "compose"],
                &d.sock(),
                dir,
                &format!("berth-test-{tag}-{name}"),
            );
            assert_eq!(
                seen["up"],
                ["0"],
                "{name}: berth compose up failed: {seen:?}"
            );
            assert!(
                seen["left_after_down"].is_empty(),
                "{name}: berth compose down left {:?}",
                seen["left_after_down"]
            );
            native.insert(name.clone(), seen);
        }
        eprintln!("berth compose: {native:#?}");
    }
    assert!(
        d.mounts().iter().all(|m| !m.contains("/volumes/")),
        "{:?}",
        d.mounts()
    );
    drop(d);
    let Some(dk) = common::dockerd::Dockerd::start("compose") else {
        return;
    };
    dk.load_busybox();
    let mut differ = Vec::new();
    for (name, dir) in &projects {
        let theirs = cycle(&[&dc], &dk.sock(), dir, &format!("berth-test-{tag}-{name}"));
        for (k, v) in &theirs {
            if ours[name].get(k) != Some(v) {
                differ.push(format!(
                    "{name} {k}:\n  dockerd {v:?}\n  berthd  {:?}",
                    ours[name].get(k)
                ));
            }
            if let Some(n) = native.get(name)
                && n.get(k) != Some(v)
            {
                differ.push(format!(
                    "{name} {k}:\n  docker-compose on dockerd {v:?}\n  berth compose on berthd  {:?}",
                    n.get(k)
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "berthd and dockerd differ:\n{}",
        differ.join("\n")
    );
}

/// Whether the berth CLI has `compose` (it is the berth binary next to the
/// test's berthd).
fn berth_compose() -> Option<PathBuf> {
    let b = Daemon::berth_bin();
    Command::new(&b)
        .args(["compose", "version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| b)
}

/// A port taken by the first service when the second starts: `up` fails
/// with Docker's words, the first service stays (reported), `down -v`
/// removes everything — with docker-compose 1.29 and with `berth compose`.
#[test]
fn a_port_taken_during_up_is_reported_and_down_removes_everything() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let mut clients: Vec<Vec<String>> = Vec::new();
    if let Some(dc) = compose_bin() {
        clients.push(vec![dc.display().to_string()]);
    }
    if let Some(b) = berth_compose() {
        clients.push(vec![b.display().to_string(), "compose".into()]);
    }
    if clients.is_empty() {
        eprintln!("SKIPPED: neither docker-compose nor berth compose is there");
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    let scratch = tempfile::tempdir().unwrap();
    for (i, client) in clients.iter().enumerate() {
        let port = common::free_port();
        let dir = scratch.path().join(format!("p{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("compose.yaml"),
            format!(
                "services:\n  a:\n    image: busybox\n    command: httpd -f -p 80\n    ports: [\"127.0.0.1:{port}:80\"]\n    volumes: [data:/data]\n  b:\n    image: busybox\n    command: httpd -f -p 80\n    ports: [\"127.0.0.1:{port}:80\"]\n    depends_on: [a]\nvolumes:\n  data: {{}}\n"
            ),
        )
        .unwrap();
        let project = format!("berth-test-{}-port{i}", std::process::id());
        let prog: Vec<&str> = client.iter().map(String::as_str).collect();
        let up = compose(&prog, &d.sock(), &dir, &project, &["up", "-d"]);
        let err = String::from_utf8_lossy(&up.stderr).to_string();
        assert!(!up.status.success(), "{prog:?}: up succeeded: {err}");
        assert!(err.contains("port is already allocated"), "{prog:?}: {err}");
        let seen = observe(&d.sock(), &project);
        assert!(
            seen["containers"]
                .iter()
                .any(|c| c.starts_with("a 1 False running")),
            "{prog:?}: {seen:?}"
        );
        let down = compose(&prog, &d.sock(), &dir, &project, &["down", "-v", "-t", "1"]);
        assert!(
            down.status.success(),
            "{prog:?}: {}",
            String::from_utf8_lossy(&down.stderr)
        );
        let after = observe(&d.sock(), &project);
        for k in ["containers", "networks", "volumes"] {
            assert!(after[k].is_empty(), "{prog:?}: {k} left: {:?}", after[k]);
        }
    }
}

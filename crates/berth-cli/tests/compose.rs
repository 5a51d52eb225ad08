//! `berth compose` against a private berthd (tests/common; a private
//! dockerd if berthd is not built; BERTH_CLI_TEST_HOST if set): the corpus
//! projects of crates/berth-compose/tests/corpus, each copied to a scratch
//! directory first, brought up, looked at, changed and taken down; stacks
//! shared with docker-compose 1.29 both ways; and input compose refuses.
//!
//! Needs root (skipped, visibly, otherwise). Everything is named
//! `berth-test-<pid>-…` (projects, scratch directories) and removed at the
//! end, also when a test fails (the guards' drops).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BERTH, Daemon, run_with};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: exit {}\nstdout: {}\nstderr: {}",
        code(&o),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../berth-compose/tests/corpus")
        .join(name)
}

/// A TCP port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon and a scratch directory of one test.
struct Env {
    d: Daemon,
    scratch: tempfile::TempDir,
}

impl Env {
    fn start(name: &str) -> Option<Env> {
        if !is_root() {
            eprintln!("SKIPPED: needs root");
            return None;
        }
        let d = Daemon::start_berthd(&format!("cli-compose-{name}"))?;
        let scratch = tempfile::Builder::new()
            .prefix(&format!("berth-test-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        Some(Env { d, scratch })
    }

    /// A copy of corpus project `corpus_name` as project `berth-test-<pid>-<name>`.
    fn corpus(&self, corpus_name: &str, name: &str) -> Stack<'_> {
        let dir = self.scratch.path().join(name);
        let st = Command::new("cp")
            .arg("-a")
            .arg(corpus(corpus_name))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        self.stack(dir, name)
    }

    /// Project `berth-test-<pid>-<name>` of a compose file written here.
    fn written(&self, name: &str, yaml: &str) -> Stack<'_> {
        let dir = self.scratch.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
        self.stack(dir, name)
    }

    fn stack(&self, dir: PathBuf, name: &str) -> Stack<'_> {
        Stack {
            host: &self.d.host,
            dir,
            name: format!("berth-test-{}-{name}", std::process::id()),
        }
    }

    fn berth(&self, args: &[&str]) -> Output {
        run_with(BERTH, &self.d.host, args, b"")
    }
}

/// One compose project; its containers, networks and volumes are removed
/// when it is dropped.
struct Stack<'a> {
    host: &'a str,
    dir: PathBuf,
    name: String,
}

impl Stack<'_> {
    fn file(&self) -> PathBuf {
        self.dir.join("compose.yaml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("-H")
            .arg(self.host)
            .arg("compose")
            .arg("-f")
            .arg(self.file())
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .current_dir(&self.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
            .stdin(Stdio::null());
        c
    }

    /// `berth compose -f <file> -p <name> args…`
    fn compose(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// docker-compose 1.29 on the same daemon.
    fn docker_compose(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/docker-compose")
            .arg("-f")
            .arg(self.file())
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .current_dir(&self.dir)
            .env("DOCKER_HOST", self.host)
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn berth(&self, args: &[&str]) -> Output {
        run_with(BERTH, self.host, args, b"")
    }

    fn label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.name)
    }

    /// The project's containers as `<name> <state>`, sorted.
    fn states(&self) -> Vec<String> {
        let mut v = lines(&ok(
            self.berth(&[
                "ps",
                "-a",
                "--filter",
                &self.label(),
                "--format",
                "{{.Names}} {{.State}}",
            ]),
            "ps",
        ));
        v.sort();
        v
    }

    fn id(&self, container: &str) -> String {
        ok(
            self.berth(&["inspect", "-f", "{{.Id}}", container]),
            "inspect",
        )
        .trim()
        .to_string()
    }

    /// Containers, networks and volumes carrying the project's label.
    fn leftovers(&self) -> Vec<String> {
        let f = self.label();
        let mut v = Vec::new();
        for (kind, args) in [
            (
                "container",
                vec!["ps", "-a", "--filter", &f, "--format", "{{.Names}}"],
            ),
            (
                "network",
                vec!["network", "ls", "--filter", &f, "--format", "{{.Name}}"],
            ),
            (
                "volume",
                vec!["volume", "ls", "--filter", &f, "--format", "{{.Name}}"],
            ),
        ] {
            for l in lines(&text(&self.berth(&args).stdout)) {
                v.push(format!("{kind} {l}"));
            }
        }
        v
    }

    /// Rewrites the file (ports made free ones, an edit).
    fn edit(&self, from: &str, to: &str) {
        let f = self.file();
        let s = std::fs::read_to_string(&f).unwrap();
        assert!(s.contains(from), "{from:?} not in {}", f.display());
        std::fs::write(&f, s.replace(from, to)).unwrap();
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        let f = self.label();
        let ids = text(&self.berth(&["ps", "-aq", "--filter", &f]).stdout);
        for id in ids.split_whitespace() {
            self.berth(&["rm", "-f", "-v", id]);
        }
        let nets = text(&self.berth(&["network", "ls", "-q", "--filter", &f]).stdout);
        for n in nets.split_whitespace() {
            self.berth(&["network", "rm", n]);
        }
        let vols = text(
            &self
                .berth(&["volume", "ls", "--format", "{{.Name}}", "--filter", &f])
                .stdout,
        );
        for v in vols.split_whitespace() {
            self.berth(&["volume", "rm", "-f", v]);
        }
    }
}

/// Waits (up to 20s) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn up_ps_exec_run_recreate_down() {
    let Some(env) = Env::start("main") else {
        return;
    };
    let s = env.corpus("web-db", "webdb");
    let port = free_port();
    s.edit("\"8080:80\"", &format!("\"{port}:80\""));
    let p = s.name.clone();

    let up = s.compose(&["up", "-d"]);
    let err = text(&up.stderr);
    ok(up, "up -d");
    assert!(
        err.contains(&format!(" Container {p}-db-1  Started")),
        "{err}"
    );
    assert!(
        err.contains(&format!(" Network {p}_default  Created")),
        "{err}"
    );

    // docker compose v2's table
    let ps = lines(&ok(s.compose(&["ps"]), "ps"));
    assert_eq!(
        ps[0].split_whitespace().collect::<Vec<_>>(),
        [
            "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"
        ],
        "{ps:?}"
    );
    assert_eq!(ps.len(), 3, "{ps:?}");
    assert!(ps[1].starts_with(&format!("{p}-db-1 ")), "{ps:?}");
    assert!(ps[1].contains("busybox") && ps[1].contains(" db ") && ps[1].contains("Up "));
    assert!(ps[1].contains("\"sh -c echo started …\""), "{ps:?}");
    assert!(ps[2].starts_with(&format!("{p}-web-1 ")), "{ps:?}");
    assert!(ps[2].contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps:?}");
    assert!(ps[1].contains(" ago "), "{ps:?}");
    assert_eq!(
        lines(&ok(
            s.compose(&["ps", "--format", "{{.Name}} {{.Service}} {{.State}}"]),
            "ps --format"
        )),
        [
            format!("{p}-db-1 db running"),
            format!("{p}-web-1 web running")
        ]
    );
    assert_eq!(
        ok(s.compose(&["ps", "--services"]), "ps --services"),
        "db\nweb\n"
    );
    let ids = lines(&ok(s.compose(&["ps", "-q"]), "ps -q"));
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|i| i.len() == 64));
    let json = ok(s.compose(&["ps", "--format", "json"]), "ps --format json");
    for l in lines(&json) {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["Project"], p.as_str());
        assert_eq!(v["State"], "running");
    }

    // exec: output and exit codes as `berth exec`
    let o = s.compose(&["exec", "-T", "db", "echo", "hi"]);
    assert_eq!(ok(o, "exec"), "hi\n");
    assert_eq!(
        code(&s.compose(&["exec", "-T", "db", "sh", "-c", "exit 5"])),
        5
    );
    let o = s.compose(&["exec", "-T", "--index", "2", "db", "true"]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("service \"db\" is not running container #2"),
        "{}",
        text(&o.stderr)
    );
    let o = s.compose(&["exec", "-T", "nosuch", "true"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("no such service: nosuch"));

    // run --rm: the container's exit code, and no container left
    let oneoff = "label=com.docker.compose.oneoff=True";
    let o = s.compose(&["run", "--rm", "db", "sh", "-c", "exit 3"]);
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    let left = text(
        &s.berth(&["ps", "-aq", "--filter", &s.label(), "--filter", oneoff])
            .stdout,
    );
    assert!(left.trim().is_empty(), "one-off left: {left}");
    let o = s.compose(&["run", "--rm", "db", "echo", "from-run"]);
    assert_eq!(ok(o, "run echo"), "from-run\n");

    // up again: the same containers
    let db = s.id(&format!("{p}-db-1"));
    let web = s.id(&format!("{p}-web-1"));
    let again = s.compose(&["up", "-d"]);
    let err = text(&again.stderr);
    ok(again, "up -d again");
    assert!(!err.contains("Recreate"), "{err}");
    assert!(
        err.contains(&format!(" Container {p}-web-1  Running")),
        "{err}"
    );
    assert_eq!(s.id(&format!("{p}-db-1")), db);
    assert_eq!(s.id(&format!("{p}-web-1")), web);

    // an environment variable changed: only that service is recreated
    s.edit(
        "    restart: unless-stopped\n",
        "    restart: unless-stopped\n    environment:\n      CHANGED: \"yes\"\n",
    );
    let changed = s.compose(&["up", "-d"]);
    let err = text(&changed.stderr);
    ok(changed, "up -d after the change");
    assert!(
        err.contains(&format!(" Container {p}-web-1  Recreate")),
        "{err}"
    );
    assert!(!err.contains(&format!("{p}-db-1  Recreate")), "{err}");
    assert_eq!(s.id(&format!("{p}-db-1")), db);
    assert_ne!(s.id(&format!("{p}-web-1")), web);
    let o = s.compose(&["exec", "-T", "web", "sh", "-c", "echo $CHANGED"]);
    assert_eq!(ok(o, "exec printenv"), "yes\n");

    ok(s.compose(&["down", "-v", "-t", "1"]), "down -v");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn logs_are_prefixed_per_container() {
    let Some(env) = Env::start("logs") else {
        return;
    };
    let s = env.corpus("env-file", "envfile");
    ok(s.compose(&["up", "-d"]), "up -d");
    eventually("the sidecar's output", || {
        text(&s.compose(&["logs", "sidecar"]).stdout).contains("yes")
    });
    eventually("the app's output", || {
        text(&s.compose(&["logs", "app"]).stdout).contains("APP_NAME")
    });
    assert_eq!(
        ok(s.compose(&["logs", "sidecar"]), "logs sidecar"),
        "sidecar-1 | yes\n"
    );
    let all = ok(s.compose(&["logs"]), "logs");
    for want in [
        "app-1     | APP_COLOR=blue\n",
        "app-1     | APP_LEVEL=4\n",
        "app-1     | APP_NAME=corpus-app\n",
        "sidecar-1 | yes\n",
    ] {
        assert!(all.contains(want), "{want:?} not in {all:?}");
    }
    assert!(!all.contains('\x1b'), "colours without a terminal: {all:?}");
    let coloured = ok(
        s.compose(&["--ansi", "always", "logs", "sidecar"]),
        "logs --ansi",
    );
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    assert!(coloured.contains("yes"));
    assert_eq!(
        ok(
            s.compose(&["logs", "--no-log-prefix", "sidecar"]),
            "--no-log-prefix"
        ),
        "yes\n"
    );
    assert_eq!(
        lines(&ok(s.compose(&["logs", "--tail", "1", "app"]), "--tail")).len(),
        1
    );
    let ts = ok(s.compose(&["logs", "-t", "sidecar"]), "logs -t");
    assert!(
        regex::Regex::new(r"^sidecar-1 \| \d{4}-\d\d-\d\dT\S+ yes\n$")
            .unwrap()
            .is_match(&ts),
        "{ts:?}"
    );
    ok(s.compose(&["down", "-v", "-t", "1"]), "down");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn scaled_service_is_reachable_by_name() {
    let Some(env) = Env::start("scale") else {
        return;
    };
    let s = env.corpus("replicas", "replicas");
    let p = s.name.clone();
    ok(
        s.compose(&["up", "-d", "--scale", "web=1", "web"]),
        "up --scale web=1",
    );
    assert_eq!(s.states(), [format!("{p}-web-1 running")]);
    let first = s.id(&format!("{p}-web-1"));
    ok(
        s.compose(&["up", "-d", "--scale", "web=3", "web"]),
        "up --scale web=3",
    );
    assert_eq!(
        s.states(),
        (1..=3)
            .map(|i| format!("{p}-web-{i} running"))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.id(&format!("{p}-web-1")), first, "web-1 was recreated");
    let ips: Vec<String> = (1..=3)
        .map(|i| {
            ok(
                s.berth(&[
                    "inspect",
                    "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                    &format!("{p}-web-{i}"),
                ]),
                "inspect ip",
            )
            .trim()
            .to_string()
        })
        .collect();
    // another container finds the three by the service name
    let ns = ok(
        s.compose(&["run", "--rm", "--no-deps", "client", "nslookup", "web"]),
        "nslookup web",
    );
    for ip in &ips {
        assert!(
            !ip.is_empty() && ns.contains(ip.as_str()),
            "{ip} not in {ns}"
        );
    }
    ok(
        s.compose(&[
            "run",
            "--rm",
            "--no-deps",
            "client",
            "ping",
            "-c1",
            "-W2",
            "web",
        ]),
        "ping web",
    );
    let host3 = ok(
        s.compose(&["exec", "-T", "--index", "3", "web", "hostname"]),
        "exec --index 3",
    );
    assert!(s.id(&format!("{p}-web-3")).starts_with(host3.trim()));
    ok(s.compose(&["down", "-v", "-t", "1"]), "down");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

fn rfc3339(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s.trim()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn healthcheck_starts_app_after_db_is_healthy() {
    let Some(env) = Env::start("health") else {
        return;
    };
    let s = env.corpus("healthcheck", "health");
    let p = s.name.clone();
    let up = s.compose(&["up", "-d"]);
    let err = text(&up.stderr);
    ok(up, "up -d");
    let at = |needle: String| {
        err.find(&needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {err}"))
    };
    assert!(
        at(format!("{p}-db-1  Healthy")) < at(format!("{p}-app-1  Creating")),
        "{err}"
    );
    assert!(
        at(format!("{p}-migrate-1  Exited")) < at(format!("{p}-worker-1  Creating")),
        "{err}"
    );
    // the daemon's view: app started after db's first passing check
    let health: serde_json::Value = serde_json::from_str(&ok(
        s.berth(&[
            "inspect",
            "-f",
            "{{json .State.Health}}",
            &format!("{p}-db-1"),
        ]),
        "inspect health",
    ))
    .unwrap();
    assert_eq!(health["Status"], "healthy");
    let healthy_at = health["Log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ExitCode"] == 0)
        .map(|l| rfc3339(l["End"].as_str().unwrap()))
        .expect("a passing check");
    let app_started = rfc3339(&ok(
        s.berth(&[
            "inspect",
            "-f",
            "{{.State.StartedAt}}",
            &format!("{p}-app-1"),
        ]),
        "inspect app",
    ));
    assert!(
        app_started >= healthy_at,
        "app {app_started} before db healthy {healthy_at}"
    );
    let st = lines(&ok(
        s.compose(&[
            "ps",
            "-a",
            "--format",
            "{{.Service}} {{.State}} {{.Health}} {{.ExitCode}}",
        ]),
        "ps",
    ));
    assert_eq!(
        st,
        [
            "app running  0",
            "db running healthy 0",
            "migrate exited  0",
            "worker running  0"
        ]
    );
    ok(s.compose(&["down", "-v", "-t", "1"]), "down");
    assert_eq!(s.leftovers(), Vec::<String>::new());

    // --wait: back once db is healthy
    ok(s.compose(&["up", "-d", "--wait", "db"]), "up --wait");
    assert_eq!(
        ok(
            s.compose(&["ps", "--format", "{{.Name}} {{.Health}}"]),
            "ps"
        ),
        format!("{p}-db-1 healthy\n")
    );
    ok(s.compose(&["down", "-v", "-t", "1"]), "down");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn stacks_are_shared_with_docker_compose_1_29() {
    if !Path::new("/usr/bin/docker-compose").exists() {
        eprintln!("SKIPPED: docker-compose is not installed (apt-get install docker-compose)");
        return;
    }
    let Some(env) = Env::start("dc") else { return };

    // started by berth compose, listed and taken down by docker-compose
    let s = env.corpus("web-db", "ours");
    s.edit("\"8080:80\"", &format!("\"{}:80\"", free_port()));
    let p = s.name.clone();
    ok(s.compose(&["up", "-d"]), "berth compose up -d");
    let ps = ok(s.docker_compose(&["ps"]), "docker-compose ps");
    for n in ["db", "web"] {
        let row = ps
            .lines()
            .find(|l| l.starts_with(&format!("{p}-{n}-1 ")))
            .unwrap_or_else(|| panic!("{p}-{n}-1 not listed: {ps}"));
        assert!(row.contains(" Up "), "{row}");
    }
    ok(
        s.docker_compose(&["down", "-v", "-t", "1"]),
        "docker-compose down -v",
    );
    assert_eq!(s.leftovers(), Vec::<String>::new());

    // started by docker-compose, listed and taken down by berth compose
    let s = env.corpus("web-db", "theirs");
    s.edit("\"8080:80\"", &format!("\"{}:80\"", free_port()));
    let p = s.name.clone();
    ok(s.docker_compose(&["up", "-d"]), "docker-compose up -d");
    assert_eq!(
        lines(&ok(
            s.compose(&["ps", "--format", "{{.Name}} {{.Service}} {{.State}}"]),
            "ps"
        )),
        [
            format!("{p}_db_1 db running"),
            format!("{p}_web_1 web running")
        ]
    );
    let logs_ps = ok(s.compose(&["ps"]), "ps table");
    assert!(logs_ps.contains(&format!("{p}_web_1")), "{logs_ps}");
    ok(
        s.compose(&["down", "-v", "-t", "1"]),
        "berth compose down -v",
    );
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn bad_input_is_refused_and_nothing_is_made() {
    let Some(env) = Env::start("bad") else { return };
    let cases: [(&str, &str, String); 4] = [
        (
            "yaml",
            "services:\n  web:\n    image: busybox\n   command: x\n",
            "yaml: line 4:".to_string(),
        ),
        (
            "undefined",
            "services:\n  web:\n    image: busybox\n    depends_on: [nope]\n",
            "service \"web\" depends on undefined service \"nope\": invalid compose project"
                .to_string(),
        ),
        (
            "cycle",
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> a".to_string(),
        ),
        (
            "missing",
            "services:\n  a:\n    image: \"busybox:${BERTH_TEST_UNSET_TAG:?the tag is needed}\"\n",
            "required variable BERTH_TEST_UNSET_TAG is missing a value: the tag is needed"
                .to_string(),
        ),
    ];
    for (name, yaml, want) in &cases {
        let s = env.written(name, yaml);
        for args in [
            &["up", "-d"][..],
            &["up"][..],
            &["create"][..],
            &["config"][..],
        ] {
            let o = s
                .cmd(args)
                .env_remove("BERTH_TEST_UNSET_TAG")
                .output()
                .unwrap();
            let err = text(&o.stderr);
            assert_eq!(code(&o), 1, "{name} {args:?}: {err}");
            assert!(
                err.contains(want.as_str()),
                "{name} {args:?}: {want:?} not in {err:?}"
            );
            if *name == "yaml" {
                assert!(err.contains(&s.file().display().to_string()), "{err}");
            }
            assert!(o.stdout.is_empty(), "{name}: {}", text(&o.stdout));
        }
        assert_eq!(s.leftovers(), Vec::<String>::new(), "{name}");
    }
    let s = env.corpus("web-db", "unknown");
    let o = s.compose(&["run", "--rm", "nosuch"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("no such service: nosuch"));
    let o = s.compose(&["up", "-d", "nosuch"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("no such service: nosuch"));
    assert_eq!(s.leftovers(), Vec::<String>::new());
    // A failing build: the builder's words, and nothing made (the images
    // are built before networks, volumes and containers).
    let s = env.written(
        "badbuild",
        "services:\n  bad:\n    build: .\n    volumes: [data:/data]\nvolumes:\n  data: {}\n",
    );
    std::fs::write(s.dir.join("Dockerfile"), "FROM busybox\nRUN exit 3\n").unwrap();
    for args in [
        &["up", "-d"][..],
        &["build"][..],
        &["run", "--rm", "bad"][..],
    ] {
        let o = s.compose(args);
        assert_eq!(code(&o), 1, "{args:?}");
        let err = text(&o.stderr);
        assert!(
            err.contains("service \"bad\" failed to build: The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
            "{args:?}: {err}"
        );
        assert_eq!(s.leftovers(), Vec::<String>::new(), "{args:?}");
    }
    let images = env.berth(&["images", "-q", &format!("{}-bad", s.name)]);
    assert_eq!(text(&images.stdout).trim(), "", "no image made");
}

const ATTACHED: &str = r#"services:
  quick:
    image: busybox
    command: sh -c 'echo quick says hi; sleep 1; exit 4'
  slow:
    image: busybox
    command: sh -c 'echo slow started; trap "echo slow got TERM; exit 7" TERM; while true; do sleep 0.1; done'
"#;

/// Waits for the child (60s at most); its output.
fn finish(mut child: std::process::Child) -> Output {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn attached_up_follows_logs_and_stops() {
    let Some(env) = Env::start("attached") else {
        return;
    };
    let s = env.written("attached", ATTACHED);
    let p = s.name.clone();

    let o = s.compose(&["up", "--abort-on-container-exit"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(code(&o), 4, "{out}{err}");
    assert!(out.starts_with("Attaching to quick-1, slow-1\n"), "{out}");
    assert!(out.contains("quick-1 | quick says hi\n"), "{out}");
    assert!(out.contains("slow-1  | slow started\n"), "{out}");
    assert!(out.contains("quick-1 exited with code 4\n"), "{out}");
    assert!(err.contains("Aborting on container exit..."), "{err}");
    assert_eq!(
        s.states(),
        [format!("{p}-quick-1 exited"), format!("{p}-slow-1 exited")]
    );

    let o = s.compose(&["up", "--exit-code-from", "slow"]);
    let out = text(&o.stdout);
    assert_eq!(code(&o), 7, "{out}{}", text(&o.stderr));
    assert!(out.contains("slow-1  | slow got TERM\n"), "{out}");

    // without an abort: until all have exited, exit 0
    let o = s.compose(&["up", "quick"]);
    let out = text(&o.stdout);
    assert_eq!(code(&o), 0, "{out}{}", text(&o.stderr));
    assert!(out.starts_with("Attaching to quick-1\n"), "{out}");
    assert!(out.contains("quick-1 exited with code 4\n"), "{out}");

    // Ctrl-C stops them
    let (out_f, err_f) = (s.dir.join("up.out"), s.dir.join("up.err"));
    let child = s
        .cmd(&["up", "slow"])
        .stdout(std::fs::File::create(&out_f).unwrap())
        .stderr(std::fs::File::create(&err_f).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    eventually("up following slow's log", || {
        std::fs::read_to_string(&out_f)
            .unwrap_or_default()
            .contains("slow-1 | slow started")
    });
    // SAFETY: signalling the berth process this test started.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let o = finish(child);
    let out = std::fs::read_to_string(&out_f).unwrap();
    let err = std::fs::read_to_string(&err_f).unwrap();
    assert_eq!(code(&o), 130, "{out}{err}");
    assert!(
        err.contains("Gracefully stopping... (press Ctrl+C again to force)"),
        "{err}"
    );
    assert!(out.contains("slow-1 | slow got TERM\n"), "{out}");
    assert!(s.states().contains(&format!("{p}-slow-1 exited")));

    ok(s.compose(&["down", "-t", "1"]), "down");
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn lifecycle_and_inspection_commands() {
    let Some(env) = Env::start("cmds") else {
        return;
    };
    let s = env.corpus("web-db", "cmds");
    let port = free_port();
    s.edit("\"8080:80\"", &format!("\"{port}:80\""));
    let p = s.name.clone();
    let (db, web) = (format!("{p}-db-1"), format!("{p}-web-1"));

    // config
    assert_eq!(
        ok(s.compose(&["config", "--services"]), "config --services"),
        "db\nweb\n"
    );
    assert_eq!(
        ok(s.compose(&["config", "--volumes"]), "config --volumes"),
        "dbdata\n"
    );
    assert_eq!(ok(s.compose(&["config", "-q"]), "config -q"), "");
    let yaml = ok(s.compose(&["config"]), "config");
    assert!(yaml.starts_with(&format!("name: {p}\n")), "{yaml}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        s.compose(&["config", "--format", "json"]),
        "config json",
    ))
    .unwrap();
    assert_eq!(json["name"], p.as_str());
    assert!(json["services"]["web"].is_object());

    // create, start
    ok(s.compose(&["create"]), "create");
    assert_eq!(
        s.states(),
        [format!("{db} created"), format!("{web} created")]
    );
    ok(s.compose(&["start"]), "start");
    assert_eq!(
        s.states(),
        [format!("{db} running"), format!("{web} running")]
    );

    // ls, top, images, port
    let ls = ok(env.berth(&["compose", "ls"]), "ls");
    let row = ls
        .lines()
        .find(|l| l.starts_with(&format!("{p} ")))
        .unwrap_or_else(|| panic!("{p} not in {ls}"));
    assert!(row.contains(" running(2) "), "{row}");
    assert!(row.ends_with(&s.file().display().to_string()), "{row}");
    assert!(ls.starts_with("NAME "), "{ls}");
    assert!(lines(&ok(env.berth(&["compose", "ls", "-q"]), "ls -q")).contains(&p));
    let top = ok(s.compose(&["top"]), "top");
    assert!(
        top.contains(&format!("{db}\n")) && top.contains("nc -l -p 5432"),
        "{top}"
    );
    assert!(
        top.contains(&format!("{web}\n")) && top.contains("httpd -f -p 80"),
        "{top}"
    );
    let images = lines(&ok(s.compose(&["images"]), "images"));
    assert_eq!(
        images[0].split_whitespace().collect::<Vec<_>>(),
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    );
    assert!(
        images[1].starts_with(&db)
            && images[1].contains(" busybox ")
            && images[1].contains(" latest ")
    );
    assert_eq!(
        ok(s.compose(&["port", "web", "80"]), "port"),
        format!("0.0.0.0:{port}\n")
    );
    let o = s.compose(&["port", "db", "5432"]);
    assert_eq!(code(&o), 1);

    // a stack found by its labels alone (no compose file here)
    let o = Command::new(BERTH)
        .args([
            "-H",
            &env.d.host,
            "compose",
            "-p",
            &p,
            "ps",
            "--format",
            "{{.Name}}",
        ])
        .current_dir(env.scratch.path())
        .env_remove("COMPOSE_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(lines(&ok(o, "ps by labels")), [db.clone(), web.clone()]);

    // pause, unpause, stop, restart, kill
    ok(s.compose(&["pause", "db"]), "pause db");
    assert_eq!(
        s.states(),
        [format!("{db} paused"), format!("{web} running")]
    );
    ok(s.compose(&["pause"]), "pause all");
    ok(s.compose(&["unpause"]), "unpause all");
    assert_eq!(
        s.states(),
        [format!("{db} running"), format!("{web} running")]
    );
    let stop = s.compose(&["stop", "-t", "1"]);
    let err = text(&stop.stderr);
    ok(stop, "stop");
    // dependents first
    let at = |n: &str| {
        err.find(&format!("{n}  Stopping"))
            .unwrap_or_else(|| panic!("{n} not stopped: {err}"))
    };
    assert!(at(&web) < at(&db), "{err}");
    assert_eq!(
        s.states(),
        [format!("{db} exited"), format!("{web} exited")]
    );
    assert_eq!(lines(&ok(s.compose(&["ps"]), "ps")).len(), 1);
    assert_eq!(
        lines(&ok(
            s.compose(&["ps", "--status", "exited", "--format", "{{.Name}}"]),
            "ps --status"
        )),
        [db.clone(), web.clone()]
    );
    ok(s.compose(&["restart", "-t", "1"]), "restart");
    assert_eq!(
        s.states(),
        [format!("{db} running"), format!("{web} running")]
    );
    ok(s.compose(&["kill", "web"]), "kill web");
    assert_eq!(
        s.states(),
        [format!("{db} running"), format!("{web} exited")]
    );

    // rm: asks; without a terminal, only -f removes
    let o = s.compose(&["rm"]);
    let out = text(&o.stdout);
    assert_eq!(code(&o), 0);
    assert!(out.contains(&format!("Going to remove {web}")), "{out}");
    assert!(out.contains("Are you sure? [yN]"), "{out}");
    assert_eq!(s.states().len(), 2);
    ok(s.compose(&["rm", "-f"]), "rm -f");
    assert_eq!(s.states(), [format!("{db} running")]);
    ok(s.compose(&["rm", "-f", "-s", "-v", "db"]), "rm -s");
    assert_eq!(s.states(), Vec::<String>::new());

    // version
    let v = ok(s.compose(&["version"]), "version");
    assert_eq!(
        v,
        format!("berth compose version {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        ok(s.compose(&["version", "--short"]), "version --short"),
        format!("{}\n", env!("CARGO_PKG_VERSION"))
    );

    ok(s.compose(&["down", "-v"]), "down -v");
    assert_eq!(s.leftovers(), Vec::<String>::new());
    let o = s.compose(&["down"]);
    assert!(
        text(&o.stderr).contains("No resource found to remove"),
        "{}",
        text(&o.stderr)
    );
}

/// `compose build` then `compose push` of a service with `build:` and
/// `image:` to a registry of the test's own; the image pulls back and
/// runs. Services with only an image are skipped, as docker compose does.
#[test]
fn build_and_push_to_a_registry() {
    if !common::which("docker-registry") {
        eprintln!("SKIPPED: docker-registry not installed (scripts/install-deps.sh)");
        return;
    }
    let Some(env) = Env::start("push") else {
        return;
    };
    let reg = common::Registry::start(None);
    let image = format!("{}/berth-test-compose-push:v1", reg.addr);
    let s = env.written(
        "push",
        &format!(
            "services:\n  app:\n    build: .\n    image: {image}\n  plain:\n    image: busybox\n"
        ),
    );
    std::fs::write(
        s.dir.join("Dockerfile"),
        "FROM busybox\nRUN echo pushed > /msg\n",
    )
    .unwrap();
    let o = s.compose(&["build"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = s.compose(&["push"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("v1: digest: sha256:"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stderr).contains("plain Skipped"),
        "{}",
        text(&o.stderr)
    );
    let o = env.berth(&["rmi", &image]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = env.berth(&["pull", "-q", &image]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = env.berth(&["run", "--rm", &image, "cat", "/msg"]);
    assert_eq!(text(&o.stdout).trim(), "pushed", "{}", text(&o.stderr));
    // A push that cannot reach its registry fails in the push's words,
    // unless told to go on.
    drop(reg);
    let o = s.compose(&["push"]);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let o = s.compose(&["push", "--ignore-push-failures"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let _ = env.berth(&["rmi", &image]);
}

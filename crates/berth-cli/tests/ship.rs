//! The ship commands (pull, push, login, logout, search, and the pull of
//! `run`/`create`) against the docker 28 CLI, side by side.
//!
//! Two kinds of daemon:
//! - a fake one in a thread of the test, on a unix socket, answering with
//!   recorded dockerd streams (progress bars, errors, 401s, search
//!   results): what the renderers do with a given stream, byte for byte,
//!   on a terminal (`script`) and off one;
//! - a private dockerd (tests/common) with two docker-registry instances
//!   of its own on free 127.0.0.1 ports, one with htpasswd auth: the real
//!   flows, credentials in config.json and in a credential helper.
//!
//! Every scenario runs berth and checks its output against what docker 28
//! prints (recorded here); when a docker 28 CLI is installed it also runs
//! docker itself and compares stdout, stderr, exit code and the resulting
//! config.json. Each CLI gets its own copy of the starting config dir.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, Registry, which};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A docker CLI of version 28, to compare with (None: compare with the
/// outputs recorded in this file only). `BERTH_TEST_DOCKER_CLI` names one
/// (empty: none).
fn docker28() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BERTH_TEST_DOCKER_CLI") {
        return Some(PathBuf::from(p)).filter(|p| !p.as_os_str().is_empty());
    }
    let mut cands: Vec<PathBuf> = vec!["/usr/local/bin/docker".into(), "/usr/bin/docker".into()];
    if let Ok(p) = std::env::var("PATH") {
        cands.extend(std::env::split_paths(&p).map(|d| d.join("docker")));
    }
    cands.into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("Docker version 28."))
    })
}

fn note_docker(d: &Option<PathBuf>) {
    if d.is_none() {
        eprintln!(
            "NOTE: no docker 28 CLI installed: berth is checked against docker's recorded output only"
        );
    }
}

/// What one CLI run gave.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    out: String,
    err: String,
    code: Option<i32>,
    /// config.json afterwards ("" if none).
    config: String,
}

/// Where the CLIs run: the daemon, a config dir to start from, an extra
/// PATH entry (credential helpers).
struct Env {
    host: String,
    work: tempfile::TempDir,
    path_prefix: Option<PathBuf>,
    docker: Option<PathBuf>,
}

impl Env {
    fn new(host: &str, docker: Option<PathBuf>) -> Env {
        Env {
            host: host.to_string(),
            work: tempfile::tempdir().unwrap(),
            path_prefix: None,
            docker,
        }
    }

    fn cfg_dir(&self) -> PathBuf {
        self.work.path().join("cfg")
    }

    /// Resets the config dir to `init` (None: no config.json).
    fn reset(&self, init: Option<&str>) {
        let d = self.cfg_dir();
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        if let Some(c) = init {
            std::fs::write(d.join("config.json"), c).unwrap();
        }
    }

    fn command(&self, prog: &Path) -> Command {
        let mut cmd = Command::new(prog);
        for k in [
            "DOCKER_HOST",
            "BERTH_HOST",
            "DOCKER_TLS",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_API_VERSION",
            "DOCKER_CONTENT_TRUST",
            "DOCKER_DEFAULT_PLATFORM",
            "DOCKER_CLI_HINTS",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("DOCKER_CONFIG", self.cfg_dir())
            .env("HOME", self.work.path());
        if let Some(p) = &self.path_prefix {
            let old = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![p.clone()];
            paths.extend(std::env::split_paths(&old));
            cmd.env("PATH", std::env::join_paths(paths).unwrap());
        }
        cmd
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.cfg_dir().join("config.json")).unwrap_or_default()
    }

    /// One run, off a terminal.
    fn run(&self, prog: &Path, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(prog)
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut si = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let w = std::thread::spawn(move || {
            let _ = si.write_all(&data);
        });
        let o = wait_output(child, Duration::from_secs(30));
        let _ = w.join();
        Run {
            out: String::from_utf8_lossy(&o.0).into_owned(),
            err: String::from_utf8_lossy(&o.1).into_owned(),
            code: o.2,
            config: self.config_text(),
        }
    }

    /// One run on a terminal 150 columns wide (`script`); stdout and
    /// stderr both go to it.
    fn run_tty(&self, prog: &Path, args: &[&str]) -> Run {
        let mut line = format!(
            "stty cols 150 rows 40; exec {} -H {}",
            quote(&prog.display().to_string()),
            quote(&self.host)
        );
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let child = self
            .command(Path::new("script"))
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let o = wait_output(child, Duration::from_secs(30));
        Run {
            out: String::from_utf8_lossy(&o.0).into_owned(),
            err: String::from_utf8_lossy(&o.1).into_owned(),
            code: o.2,
            config: self.config_text(),
        }
    }

    /// Runs berth (and docker 28 when there is one) from the config
    /// `init`; asserts they agree; returns berth's run.
    fn both(&self, init: Option<&str>, args: &[&str], stdin: &[u8]) -> Run {
        self.both_with(init, args, stdin, false)
    }

    fn both_tty(&self, init: Option<&str>, args: &[&str]) -> Run {
        self.both_with(init, args, b"", true)
    }

    fn both_with(&self, init: Option<&str>, args: &[&str], stdin: &[u8], tty: bool) -> Run {
        let go = |prog: &Path| {
            self.reset(init);
            if tty {
                self.run_tty(prog, args)
            } else {
                self.run(prog, args, stdin)
            }
        };
        let d = self.docker.as_deref().map(go);
        let b = go(Path::new(BERTH));
        if let Some(d) = d {
            let what = if tty { "on a terminal" } else { "" };
            assert_eq!(d.out, b.out, "stdout of {args:?} {what}");
            assert_eq!(d.err, b.err, "stderr of {args:?} {what}");
            assert_eq!(d.code, b.code, "exit code of {args:?} {what}");
            assert_eq!(d.config, b.config, "config.json after {args:?}");
        }
        b
    }
}

/// (stdout, stderr, exit code), killing the process after `limit`.
fn wait_output(mut child: Child, limit: Duration) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ro = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let re = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let s = child.wait().unwrap();
            panic!("a CLI run took longer than {limit:?} ({s})");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (ro.join().unwrap(), re.join().unwrap(), status.code())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64url(s: &str) -> String {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE
            .decode(s.trim())
            .unwrap(),
    )
    .unwrap()
}

// ------------------------------------------------------------ fake daemon

/// A request the fake daemon got.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    /// Path and query, without the API version prefix.
    target: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

enum Reply {
    Json(u16, String),
    /// A chunked `application/json` message stream, one chunk a message.
    Stream(Vec<String>),
}

type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// A daemon answering `/_ping` as dockerd 20.10 (API 1.41) does and
/// everything else through `handler`.
struct Fake {
    path: PathBuf,
    host: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Req>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Fake {
    fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.sock");
        let l = UnixListener::bind(&path).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(c) = c else { continue };
                let (h, r) = (handler.clone(), r.clone());
                std::thread::spawn(move || serve(c, &h, &r));
            }
        });
        Fake {
            host: format!("unix://{}", path.display()),
            path,
            stop,
            requests,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn take_requests(&self) -> Vec<Req> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(c: UnixStream, handler: &Handler, log: &Mutex<Vec<Req>>) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = r.read_exact(&mut body);
    let mut w = c;
    let base = "Api-Version: 1.41\r\nOstype: linux\r\nServer: Docker/20.10.24 (linux)\r\nConnection: close\r\n";
    if target == "/_ping" {
        let body = if method == "HEAD" { "" } else { "OK" };
        let _ = write!(
            w,
            "HTTP/1.1 200 OK\r\n{base}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let target = match target.strip_prefix("/v") {
        Some(rest) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_default(),
        None => target,
    };
    let req = Req {
        method,
        target,
        headers,
    };
    log.lock().unwrap().push(req.clone());
    match handler(&req) {
        Reply::Json(status, body) => {
            let _ = write!(
                w,
                "HTTP/1.1 {status} X\r\n{base}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        Reply::Stream(msgs) => {
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\n{base}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            for m in msgs {
                let m = format!("{m}\r\n");
                let _ = write!(w, "{:x}\r\n{m}\r\n", m.len());
                let _ = w.flush();
            }
            let _ = write!(w, "0\r\n\r\n");
        }
    }
}

fn stream(lines: &[&str]) -> Reply {
    Reply::Stream(lines.iter().map(|s| s.to_string()).collect())
}

/// A pull of two layers as dockerd 20.10 streamed it, with more progress
/// kinds (units, counts hidden, a layer's total outgrown) mixed in.
const PULL_STREAM: &[&str] = &[
    r#"{"status":"Pulling from berth-test-cli-big","id":"v1"}"#,
    r#"{"status":"Already exists","progressDetail":{},"id":"fc0c3b548ec3"}"#,
    r#"{"status":"Pulling fs layer","progressDetail":{},"id":"12492f2ec5d8"}"#,
    r#"{"status":"Waiting","progressDetail":{},"id":"bbbbbbbbbbbb"}"#,
    r#"{"status":"Downloading","progressDetail":{"current":36445,"total":3001127},"progress":"[\u003e    ]  36.45kB/3.001MB","id":"12492f2ec5d8"}"#,
    r#"{"status":"Verifying Checksum","progressDetail":{},"id":"bbbbbbbbbbbb"}"#,
    r#"{"status":"Download complete","progressDetail":{},"id":"12492f2ec5d8"}"#,
    r#"{"status":"Extracting","progressDetail":{"current":3,"total":10,"units":"files"},"id":"bbbbbbbbbbbb"}"#,
    r#"{"status":"Extracting","progressDetail":{"current":3001127,"total":3001127},"progress":"[=====\u003e]  3.001MB/3.001MB","id":"12492f2ec5d8"}"#,
    r#"{"status":"Downloading","progressDetail":{"current":4000000,"total":3001127},"id":"bbbbbbbbbbbb"}"#,
    r#"{"status":"Downloading","progressDetail":{"current":5,"total":10,"hidecounts":true},"id":"cccccccccccc"}"#,
    r#"{"status":"Pull complete","progressDetail":{},"id":"12492f2ec5d8"}"#,
    r#"{"status":"Pull complete","progressDetail":{},"id":"bbbbbbbbbbbb"}"#,
    r#"{"status":"Digest: sha256:ffbb45e7393f16bb0385ab0be947c50b3409cc33825ab947600113be1374a9f1"}"#,
    r#"{"status":"Status: Downloaded newer image for 127.0.0.1:5111/berth-test-cli-big:v1"}"#,
];

const PUSH_STREAM: &[&str] = &[
    r#"{"status":"The push refers to repository [127.0.0.1:5111/berth-test-cli-big]"}"#,
    r#"{"status":"Preparing","progressDetail":{},"id":"3cf858f076af"}"#,
    r#"{"status":"Preparing","progressDetail":{},"id":"c42a9d0208f8"}"#,
    r#"{"status":"Waiting","progressDetail":{},"id":"c42a9d0208f8"}"#,
    r#"{"status":"Pushing","progressDetail":{"current":33280,"total":3000000},"progress":"[\u003e   ]  33.28kB/3MB","id":"3cf858f076af"}"#,
    r#"{"status":"Layer already exists","progressDetail":{},"id":"c42a9d0208f8"}"#,
    r#"{"status":"Pushing","progressDetail":{"current":3001856,"total":3000000},"progress":"[==\u003e]  3.002MB","id":"3cf858f076af"}"#,
    r#"{"status":"Pushed","progressDetail":{},"id":"3cf858f076af"}"#,
    r#"{"status":"Mounted from library/busybox","progressDetail":{},"id":"5d5e2b3a1f00"}"#,
    r#"{"status":"v1: digest: sha256:ffbb45e7393f16bb0385ab0be947c50b3409cc33825ab947600113be1374a9f1 size: 739"}"#,
    r#"{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:ffbb45e7393f16bb0385ab0be947c50b3409cc33825ab947600113be1374a9f1","Size":739}}"#,
];

const UNAUTHORIZED: &str = r#"{"message":"unauthorized: authentication required"}"#;

fn streams_daemon() -> Fake {
    Fake::start(|r| {
        let t = r.target.as_str();
        if t.starts_with("/images/create?fromImage=127.0.0.1%3A5111%2Fberth-test-cli-err") {
            stream(&[
                PULL_STREAM[0],
                r#"{"errorDetail":{"message":"unknown blob"},"error":"unknown blob"}"#,
            ])
        } else if t.contains("berth-test-cli-auth") {
            Reply::Json(401, UNAUTHORIZED.into())
        } else if t.starts_with("/images/create") {
            Reply::Stream(PULL_STREAM.iter().map(|s| s.to_string()).collect())
        } else if t.ends_with("/push?tag=denied") {
            stream(&[
                PUSH_STREAM[0],
                PUSH_STREAM[1],
                r#"{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied: requested access to the resource is denied"}"#,
            ])
        } else if t.contains("/push") {
            Reply::Stream(PUSH_STREAM.iter().map(|s| s.to_string()).collect())
        } else {
            Reply::Json(404, r#"{"message":"page not found"}"#.into())
        }
    })
}

const PULL_PLAIN: &str = "v1: Pulling from berth-test-cli-big
fc0c3b548ec3: Already exists
12492f2ec5d8: Pulling fs layer
bbbbbbbbbbbb: Waiting
bbbbbbbbbbbb: Verifying Checksum
12492f2ec5d8: Download complete
12492f2ec5d8: Pull complete
bbbbbbbbbbbb: Pull complete
Digest: sha256:ffbb45e7393f16bb0385ab0be947c50b3409cc33825ab947600113be1374a9f1
Status: Downloaded newer image for 127.0.0.1:5111/berth-test-cli-big:v1
127.0.0.1:5111/berth-test-cli-big:v1
";

/// docker 28 on a 150-column terminal (the pty turns `\n` into `\r\n`).
const PULL_TTY: &str = concat!(
    "v1: Pulling from berth-test-cli-big\r\n",
    "\r\n\x1b[1A\x1b[2K\rfc0c3b548ec3: Already exists \r\x1b[1B",
    "\r\n\x1b[1A\x1b[2K\r12492f2ec5d8: Pulling fs layer \r\x1b[1B",
    "\r\n\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Waiting \r\x1b[1B",
    "\x1b[2A\x1b[2K\r12492f2ec5d8: Downloading [>                                                  ]  36.45kB/3.001MB\r\x1b[2B",
    "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Verifying Checksum \r\x1b[1B",
    "\x1b[2A\x1b[2K\r12492f2ec5d8: Download complete \r\x1b[2B",
    "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Extracting [===============>                                   ] 3/10 files\r\x1b[1B",
    "\x1b[2A\x1b[2K\r12492f2ec5d8: Extracting [==================================================>]  3.001MB/3.001MB\r\x1b[2B",
    "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Downloading [==================================================>]      4MB\r\x1b[1B",
    "\r\n\x1b[1A\x1b[2K\rcccccccccccc: Downloading [=========================>                         ] \r\x1b[1B",
    "\x1b[3A\x1b[2K\r12492f2ec5d8: Pull complete \r\x1b[3B",
    "\x1b[2A\x1b[2K\rbbbbbbbbbbbb: Pull complete \r\x1b[2B",
    "Digest: sha256:ffbb45e7393f16bb0385ab0be947c50b3409cc33825ab947600113be1374a9f1\r\n",
    "Status: Downloaded newer image for 127.0.0.1:5111/berth-test-cli-big:v1\r\n",
    "127.0.0.1:5111/berth-test-cli-big:v1\r\n",
);

const PUSH_PLAIN: &str = "The push refers to repository [127.0.0.1:5111/berth-test-cli-big]
3cf858f076af: Preparing
c42a9d0208f8: Preparing
c42a9d0208f8: Waiting
c42a9d0208f8: Layer already exists
3cf858f076af: Pushed
5d5e2b3a1f00: Mounted from library/busybox
v1: digest: sha256:ffbb45e7393f16bb0385ab0be947c50b3409cc33825ab947600113be1374a9f1 size: 739
";

const LOGIN_PRIOR: &str = "
Login prior to pull:
Log in with your Docker ID or email address to push and pull images from Docker Hub. If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.
You can log in with your password or a Personal Access Token (PAT). Using a limited-scope PAT grants better security and is required for organizations using SSO. Learn more at https://docs.docker.com/go/access-tokens/

Username: ";

#[test]
fn pull_and_push_streams_render_like_docker() {
    if !which("script") {
        eprintln!("SKIPPED: script (bsdutils) not installed");
        return;
    }
    let docker = docker28();
    note_docker(&docker);
    let fake = streams_daemon();
    let env = Env::new(&fake.host, docker);

    let r = env.both(None, &["pull", "127.0.0.1:5111/berth-test-cli-big:v1"], b"");
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.code),
        (PULL_PLAIN, "", Some(0))
    );
    let r = env.both_tty(None, &["pull", "127.0.0.1:5111/berth-test-cli-big:v1"]);
    assert_eq!(r.out, PULL_TTY);
    let reqs = fake.take_requests();
    assert!(reqs.iter().all(|q| q.method == "POST"
        && q.target == "/images/create?fromImage=127.0.0.1%3A5111%2Fberth-test-cli-big&tag=v1"
        && q.header("X-Registry-Auth") == Some("e30=")));

    // quiet, all tags, digests, no tag, platform
    let r = env.both(
        None,
        &["pull", "-q", "127.0.0.1:5111/berth-test-cli-big:v1"],
        b"",
    );
    assert_eq!(r.out, "127.0.0.1:5111/berth-test-cli-big:v1\n");
    let r = env.both(
        None,
        &["pull", "-a", "127.0.0.1:5111/berth-test-cli-big"],
        b"",
    );
    assert!(
        r.out.ends_with("\n127.0.0.1:5111/berth-test-cli-big\n"),
        "{}",
        r.out
    );
    env.both(None, &["pull", "--platform", "Linux/AMD64", "busybox"], b"");
    let digest = "sha256:413c7cbf63feda473d1d49a48d125928dd8c3408cb341451c042176d88d1ea54";
    let r = env.both(None, &["pull", &format!("busybox@{digest}")], b"");
    assert!(
        r.out
            .ends_with(&format!("docker.io/library/busybox@{digest}\n"))
    );
    let reqs: Vec<String> = fake.take_requests().into_iter().map(|q| q.target).collect();
    assert!(
        reqs.contains(
            &"/images/create?fromImage=127.0.0.1%3A5111%2Fberth-test-cli-big".to_string()
        ),
        "{reqs:?}"
    );
    assert!(reqs.contains(&"/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest&platform=linux%2Famd64".to_string()), "{reqs:?}");
    assert!(
        reqs.contains(&format!(
            "/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag={}",
            digest.replace(':', "%3A")
        )),
        "{reqs:?}"
    );
    let r = env.both(None, &["pull", "busybox"], b"");
    assert!(r.out.starts_with("Using default tag: latest\nv1: Pulling"));
    assert!(r.out.ends_with("\ndocker.io/library/busybox:latest\n"));

    // errors: in the stream, in the reference, in the arguments
    let r = env.both(None, &["pull", "127.0.0.1:5111/berth-test-cli-err:v1"], b"");
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.code),
        (
            "v1: Pulling from berth-test-cli-big\n",
            "unknown blob\n",
            Some(1)
        )
    );
    env.both_tty(None, &["pull", "127.0.0.1:5111/berth-test-cli-err:v1"]);
    let r = env.both(None, &["pull", "Busybox"], b"");
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "invalid reference format: repository name (library/Busybox) must be lowercase\n",
            Some(1)
        )
    );
    let r = env.both(None, &["pull", "-a", "busybox:1"], b"");
    assert_eq!(r.err, "tag can't be used with --all-tags/-a\n");
    let r = env.both(None, &["pull"], b"");
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "docker: 'docker pull' requires 1 argument\n\nUsage:  docker pull [OPTIONS] NAME[:TAG|@DIGEST]\n\nRun 'docker pull --help' for more information\n",
            Some(1)
        )
    );

    // push: plain, terminal, quiet, errors
    let r = env.both(None, &["push", "127.0.0.1:5111/berth-test-cli-big:v1"], b"");
    assert_eq!((r.out.as_str(), r.code), (PUSH_PLAIN, Some(0)));
    let r = env.both_tty(None, &["push", "127.0.0.1:5111/berth-test-cli-big:v1"]);
    assert!(
        r.out.contains("\x1b[2A\x1b[2K\r3cf858f076af: Pushing [>                                                  ]  33.28kB/3MB\r\x1b[2B"),
        "{:?}",
        r.out
    );
    let r = env.both(
        None,
        &["push", "-q", "127.0.0.1:5111/berth-test-cli-big"],
        b"",
    );
    assert_eq!(r.out, "127.0.0.1:5111/berth-test-cli-big:latest\n");
    let r = env.both(
        None,
        &["push", "-a", "127.0.0.1:5111/berth-test-cli-big"],
        b"",
    );
    assert!(r.out.starts_with("The push refers"));
    env.both(None, &["push", "busybox"], b"");
    let reqs: Vec<Req> = fake.take_requests();
    let targets: Vec<&str> = reqs.iter().map(|q| q.target.as_str()).collect();
    assert!(
        targets.contains(&"/images/127.0.0.1:5111/berth-test-cli-big/push?tag=v1"),
        "{targets:?}"
    );
    assert!(
        targets.contains(&"/images/127.0.0.1:5111/berth-test-cli-big/push"),
        "{targets:?}"
    );
    assert!(
        targets.contains(&"/images/docker.io/library/busybox/push?tag=latest"),
        "{targets:?}"
    );
    assert!(
        reqs.iter()
            .all(|q| q.header("X-Registry-Auth") == Some("e30="))
    );
    let r = env.both(
        None,
        &["push", "127.0.0.1:5111/berth-test-cli-big:denied"],
        b"",
    );
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "denied: requested access to the resource is denied\n",
            Some(1)
        )
    );
    let r = env.both(None, &["push", &format!("busybox@{digest}")], b"");
    assert_eq!(r.err, "cannot push a digest reference\n");

    // a 401 before any output: docker asks for credentials; off a terminal
    // the password prompt cannot turn echo off
    let r = env.both(
        None,
        &["pull", "127.0.0.1:5111/berth-test-cli-auth"],
        b"user\n",
    );
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.code),
        (
            format!("Using default tag: latest\n{LOGIN_PRIOR}").as_str(),
            "inappropriate ioctl for device\n",
            Some(1)
        )
    );
    let r = env.both(
        None,
        &["push", "127.0.0.1:5111/berth-test-cli-auth:v1"],
        b"user\n",
    );
    assert!(r.out.contains("\nLogin prior to push:\n"));
    // (docker waits for ever when stdin is at its end; berth stops)
    let r = env.run(
        Path::new(BERTH),
        &["pull", "127.0.0.1:5111/berth-test-cli-auth"],
        b"",
    );
    assert_eq!(
        (r.err.as_str(), r.code),
        ("Error: Non-null Username Required\n", Some(1))
    );
}

#[test]
fn search_like_docker() {
    let docker = docker28();
    note_docker(&docker);
    let results = serde_json::json!([
        {"star_count": 12, "is_official": true, "name": "busybox", "is_automated": false,
         "description": "Busybox base image <&> with a very long description that goes on"},
        {"star_count": 0, "is_official": false, "name": "someone/busybox", "is_automated": true,
         "description": "line1\nline2\r"}
    ])
    .to_string();
    let fake = Fake::start(move |r| {
        if r.target.contains("term=nothing") {
            Reply::Json(200, "[]".into())
        } else if r.target.contains("term=127.0.0.1%3A5999") {
            Reply::Json(500, r#"{"message":"Unexpected status code 404"}"#.into())
        } else if r.target.starts_with("/images/search") {
            Reply::Json(200, results.clone())
        } else {
            Reply::Json(404, r#"{"message":"page not found"}"#.into())
        }
    });
    let env = Env::new(&fake.host, docker);
    let r = env.both(None, &["search", "busybox"], b"");
    assert_eq!(
        r.out,
        "NAME              DESCRIPTION                                     STARS     OFFICIAL\n\
         busybox           Busybox base image <&> with a very long desc…   12        [OK]\n\
         someone/busybox   line1 line2                                     0         \n"
    );
    let r = env.both(
        None,
        &[
            "search",
            "--no-trunc",
            "--limit",
            "5",
            "-f",
            "is-official=true",
            "-f",
            "stars=3",
            "busybox",
        ],
        b"",
    );
    assert!(
        r.out
            .contains("with a very long description that goes on   12"),
        "{}",
        r.out
    );
    // berth's requests come last (after docker's, if it ran)
    let q = fake.take_requests();
    let n = q.len();
    assert_eq!(q[n / 2 - 1].target, "/images/search?term=busybox");
    assert_eq!(q[n / 2 - 1].header("X-Registry-Auth"), Some("e30="));
    assert_eq!(
        q[n - 1].target,
        "/images/search?term=busybox&limit=5&filters=%7B%22is-official%22%3A%7B%22true%22%3Atrue%7D%2C%22stars%22%3A%7B%223%22%3Atrue%7D%7D"
    );
    let r = env.both(None, &["search", "--format", "{{json .}}", "busybox"], b"");
    assert_eq!(
        r.out,
        "{\"Description\":\"Busybox base image \\u003c\\u0026\\u003e with a very long desc…\",\"IsOfficial\":\"true\",\"Name\":\"busybox\",\"StarCount\":\"12\"}\n\
         {\"Description\":\"line1 line2 \",\"IsOfficial\":\"false\",\"Name\":\"someone/busybox\",\"StarCount\":\"0\"}\n"
    );
    env.both(None, &["search", "--format", "json", "busybox"], b"");
    let r = env.both(
        None,
        &[
            "search",
            "--format",
            "table {{.Name}}\\t{{.IsOfficial}}",
            "busybox",
        ],
        b"",
    );
    assert_eq!(
        r.out,
        "NAME              OFFICIAL\nbusybox           [OK]\nsomeone/busybox   \n"
    );
    let r = env.both(
        None,
        &["search", "--format", "{{.IsAutomated}}", "busybox"],
        b"",
    );
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.code),
        (
            "",
            "template parsing error: template: :1:2: executing \"\" at <.IsAutomated>: can't evaluate field IsAutomated in type *registry.searchContext\n",
            Some(1)
        )
    );
    env.both(
        None,
        &["search", "--format", "{{.IsAutomated}}", "nothing"],
        b"",
    );
    let r = env.both(None, &["search", "-f", "is-automated=true", "busybox"], b"");
    assert!(
        r.err
            .starts_with("WARNING: the \"is-automated\" filter is deprecated")
    );
    let r = env.both(None, &["search", "-f", "stars", "busybox"], b"");
    assert_eq!(r.code, Some(125));
    let r = env.both(None, &["search"], b"");
    assert_eq!(r.code, Some(1));
    let r = env.both(None, &["search", "127.0.0.1:5999/x"], b"");
    assert_eq!(
        r.err,
        "Error response from daemon: Unexpected status code 404\n"
    );
    // credentials of the searched registry go along
    let cfg = format!(
        "{{\"auths\":{{\"127.0.0.1:5999\":{{\"auth\":\"{}\"}}}}}}",
        b64("u:p")
    );
    fake.take_requests();
    env.both(Some(&cfg), &["search", "127.0.0.1:5999/x"], b"");
    let q = fake.take_requests();
    assert_eq!(
        unb64url(q.last().unwrap().header("X-Registry-Auth").unwrap()),
        r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5999"}"#
    );
}

#[test]
fn create_pulls_a_missing_image_like_docker() {
    let docker = docker28();
    note_docker(&docker);
    // The image exists once pulled: `create` fails, pulls, succeeds.
    let pulled = Arc::new(AtomicBool::new(false));
    let p = pulled.clone();
    let fake = Fake::start(move |r| {
        let t = r.target.as_str();
        if t.starts_with("/images/create") {
            p.store(true, Ordering::SeqCst);
            Reply::Stream(PULL_STREAM.iter().map(|s| s.to_string()).collect())
        } else if t.starts_with("/containers/create") {
            if p.load(Ordering::SeqCst) && !t.contains("name=never") {
                Reply::Json(201, r#"{"Id":"4f1e2d","Warnings":[]}"#.into())
            } else {
                Reply::Json(
                    404,
                    r#"{"message":"No such image: 127.0.0.1:5111/berth-test-cli-big:latest"}"#
                        .into(),
                )
            }
        } else {
            Reply::Json(404, r#"{"message":"page not found"}"#.into())
        }
    });
    let env = Env::new(&fake.host, docker);
    let reset = || {
        pulled.store(false, Ordering::SeqCst);
    };
    let img = "127.0.0.1:5111/berth-test-cli-big";
    let go = |args: &[&str]| {
        // each CLI from a fresh "not pulled" state
        let d = env.docker.as_deref().map(|d| {
            reset();
            env.reset(None);
            env.run(d, args, b"")
        });
        reset();
        env.reset(None);
        let b = env.run(Path::new(BERTH), args, b"");
        if let Some(d) = d {
            assert_eq!(
                (d.out, d.err, d.code),
                (b.out.clone(), b.err.clone(), b.code),
                "{args:?}"
            );
        }
        b
    };
    let r = go(&["create", img]);
    let want_err = format!(
        "Unable to find image '127.0.0.1:5111/berth-test-cli-big:latest' locally\n{}",
        PULL_PLAIN
            .strip_suffix("127.0.0.1:5111/berth-test-cli-big:v1\n")
            .unwrap()
    );
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.code),
        ("4f1e2d\n", want_err.as_str(), Some(0))
    );
    let reqs = fake.take_requests();
    let targets: Vec<&str> = reqs.iter().map(|q| q.target.as_str()).collect();
    assert!(
        targets
            .contains(&"/images/create?fromImage=127.0.0.1%3A5111%2Fberth-test-cli-big&tag=latest"),
        "{targets:?}"
    );

    let r = go(&["create", "-q", img]);
    assert_eq!((r.out.as_str(), r.err.as_str()), ("4f1e2d\n", ""));
    let r = go(&["create", "--pull", "never", img]);
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "Error response from daemon: No such image: 127.0.0.1:5111/berth-test-cli-big:latest\n",
            Some(1)
        )
    );
    // still missing after the pull: the second error is the answer
    let r = go(&["create", "--name", "never", img]);
    assert!(r.err.ends_with(
        "Error response from daemon: No such image: 127.0.0.1:5111/berth-test-cli-big:latest\n"
    ));
    let r = go(&["run", "--pull", "bogus", img]);
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "docker: invalid pull option: 'bogus': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'docker run --help' for more information\n",
            Some(125)
        )
    );
    let r = go(&["run", "-q", "--name", "never", img]);
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "docker: Error response from daemon: No such image: 127.0.0.1:5111/berth-test-cli-big:latest\n\nRun 'docker run --help' for more information\n",
            Some(125)
        )
    );
    // --pull always pulls before creating, with the platform
    let r = go(&[
        "create",
        "--pull",
        "always",
        "--platform",
        "linux/amd64",
        img,
    ]);
    assert_eq!(r.out, "4f1e2d\n");
    assert!(!r.err.contains("Unable to find image"));
    let reqs = fake.take_requests();
    assert!(reqs.iter().any(|q| q.target == "/images/create?fromImage=127.0.0.1%3A5111%2Fberth-test-cli-big&tag=latest&platform=linux%2Famd64"));
}

// --------------------------------------------------- dockerd and registries

/// A credential helper keeping one file per server in `dir/store`,
/// logging its calls to `dir/calls`.
fn credential_helper(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    let store = dir.join("store");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    let script = format!(
        r#"#!/bin/sh
store={store}
input=$(cat)
echo "$1 $input" >> {calls}
key=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/' | tr '/:' '__')
case "$1" in
store) printf '%s' "$input" > "$store/$key" ;;
get|erase)
  if [ ! -f "$store/$key" ]; then echo "credentials not found in native keychain"; exit 1; fi
  if [ "$1" = get ]; then cat "$store/$key"; else rm "$store/$key"; fi ;;
*) echo "unknown action"; exit 2 ;;
esac
"#,
        store = store.display(),
        calls = dir.join("calls").display()
    );
    let p = bin.join("docker-credential-berthtest");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn ship_through_dockerd_and_registries() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (a private dockerd)");
        return;
    }
    for t in ["docker-registry", "htpasswd", "script"] {
        if !which(t) {
            eprintln!("SKIPPED: {t} not installed (scripts/install-deps.sh)");
            return;
        }
    }
    let docker = docker28();
    note_docker(&docker);
    let plain = Registry::start(None);
    let secured = Registry::start(Some(("berthuser", "berthpass")));
    let Some(d) = Daemon::start_private("cli-ship", &[]) else {
        return;
    };
    let env = Env::new(&d.host, docker.clone());
    let dk = |args: &[&str]| {
        let o = common::docker(&d.host, args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let (p, s) = (plain.addr.as_str(), secured.addr.as_str());

    // push: the first push of a repository seeds it; the next ones say
    // what is there, the same for both CLIs
    let img = format!("{p}/berth-test-cli-ship:v1");
    dk(&["tag", "busybox", &img]);
    let r = env.run(Path::new(BERTH), &["push", &img], b"");
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(
        r.out.starts_with(&format!(
            "The push refers to repository [{p}/berth-test-cli-ship]\n"
        )),
        "{}",
        r.out
    );
    let digest_line = r.out.lines().last().unwrap().to_string();
    assert!(
        digest_line.starts_with("v1: digest: sha256:") && digest_line.contains(" size: "),
        "{digest_line}"
    );
    let r = env.both(None, &["push", &img], b"");
    assert!(r.out.contains(": Layer already exists\n"), "{}", r.out);
    env.both_tty(None, &["push", &img]);
    let r = env.both(None, &["push", "-q", &img], b"");
    assert_eq!(r.out, format!("{img}\n"));
    dk(&["tag", "busybox", &format!("{p}/berth-test-cli-ship:v2")]);
    env.both(
        None,
        &["push", "-a", &format!("{p}/berth-test-cli-ship")],
        b"",
    );
    let r = env.both(None, &["push", &format!("{p}/berth-test-cli-nosuch")], b"");
    assert_eq!(r.code, Some(1));
    assert!(r.err.contains("does not exist locally"), "{}", r.err);

    // pull: removed first, each time
    let rmi = |name: &str| {
        let _ = common::docker(&d.host, &["rmi", name]);
    };
    let pull_both = |args: &[&str], name: &str| {
        let d = env.docker.as_deref().map(|dc| {
            rmi(name);
            env.reset(None);
            env.run(dc, args, b"")
        });
        rmi(name);
        env.reset(None);
        let b = env.run(Path::new(BERTH), args, b"");
        if let Some(d) = d {
            assert_eq!(d, b, "{args:?}");
        }
        b
    };
    let r = pull_both(&["pull", &img], &img);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(
        r.out.starts_with("v1: Pulling from berth-test-cli-ship\n"),
        "{}",
        r.out
    );
    assert!(
        r.out.ends_with(&format!(
            "Status: Downloaded newer image for {img}\n{img}\n"
        )),
        "{}",
        r.out
    );
    let r = env.both(None, &["pull", &img], b"");
    assert!(
        r.out
            .contains(&format!("Status: Image is up to date for {img}\n"))
    );
    env.both_tty(None, &["pull", &img]);
    let r = pull_both(&["pull", "-q", &img], &img);
    assert_eq!(r.out, format!("{img}\n"));
    let r = env.both(
        None,
        &["pull", "-a", &format!("{p}/berth-test-cli-ship")],
        b"",
    );
    assert!(
        r.out.ends_with(&format!("\n{p}/berth-test-cli-ship\n")),
        "{}",
        r.out
    );
    let digest = digest_line.split_whitespace().nth(2).unwrap().to_string();
    let by_digest = format!("{p}/berth-test-cli-ship@{digest}");
    let r = env.both(None, &["pull", &by_digest], b"");
    assert!(r.out.ends_with(&format!("\n{by_digest}\n")), "{}", r.out);
    let r = env.both(None, &["pull", &format!("{p}/berth-test-cli-nosuch")], b"");
    assert_eq!(r.code, Some(1));
    assert!(
        r.err.starts_with("Error response from daemon: "),
        "{}",
        r.err
    );

    // run and create pull what is missing (progress on stderr)
    let run_img = format!("{p}/berth-test-cli-ship:v2");
    let r = pull_both(
        &["run", "--rm", "--network", "none", &run_img, "echo", "hi"],
        &run_img,
    );
    assert_eq!(r.out, "hi\n");
    assert!(
        r.err.starts_with(&format!(
            "Unable to find image '{run_img}' locally\nv2: Pulling from berth-test-cli-ship\n"
        )),
        "{}",
        r.err
    );
    let r = pull_both(
        &[
            "run",
            "--rm",
            "-q",
            "--network",
            "none",
            &run_img,
            "echo",
            "hi",
        ],
        &run_img,
    );
    assert_eq!((r.out.as_str(), r.err.as_str()), ("hi\n", ""));
    {
        // on a terminal, with -t
        let d_out = env.docker.as_deref().map(|dc| {
            rmi(&run_img);
            env.run_tty(
                dc,
                &[
                    "run",
                    "--rm",
                    "-t",
                    "--network",
                    "none",
                    &run_img,
                    "echo",
                    "hi",
                ],
            )
        });
        rmi(&run_img);
        let b = env.run_tty(
            Path::new(BERTH),
            &[
                "run",
                "--rm",
                "-t",
                "--network",
                "none",
                &run_img,
                "echo",
                "hi",
            ],
        );
        assert!(
            b.out
                .starts_with(&format!("Unable to find image '{run_img}' locally\r\n")),
            "{:?}",
            b.out
        );
        if let Some(dd) = d_out {
            assert_eq!(dd.out, b.out);
        }
    }
    rmi(&run_img);
    let r = env.both(
        None,
        &["create", "--pull", "never", "--network", "none", &run_img],
        b"",
    );
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            format!("Error response from daemon: No such image: {run_img}\n").as_str(),
            Some(1)
        )
    );
    let r = pull_both(
        &[
            "run",
            "--rm",
            "--pull",
            "always",
            "--network",
            "none",
            &run_img,
            "true",
        ],
        &run_img,
    );
    assert_eq!(r.code, Some(0));
    assert!(
        r.err.starts_with("v2: Pulling from berth-test-cli-ship\n"),
        "{}",
        r.err
    );

    // search: a registry without the v1 search API
    let r = env.both(None, &["search", &format!("{p}/busybox")], b"");
    assert_eq!(r.code, Some(1));

    // login: with -p (a warning), stored in docker's format
    let good = format!(
        "{{\n\t\"auths\": {{\n\t\t\"{s}\": {{\n\t\t\t\"auth\": \"{}\"\n\t\t}}\n\t}}\n}}",
        b64("berthuser:berthpass")
    );
    let cfgdir = env.cfg_dir();
    let warning = format!(
        "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n",
        cfgdir.join("config.json").display()
    );
    let r = env.both(
        None,
        &["login", "-u", "berthuser", "-p", "berthpass", s],
        b"",
    );
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.code),
        (
            "Login Succeeded\n",
            format!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n{warning}").as_str(),
            Some(0)
        )
    );
    assert_eq!(r.config, good);
    let r = env.both(
        None,
        &[
            "login",
            "-u",
            "berthuser",
            "--password-stdin",
            &format!("http://{s}/v2/"),
        ],
        b"berthpass\r\n",
    );
    assert_eq!(
        (r.err.as_str(), r.config.as_str()),
        (warning.as_str(), good.as_str())
    );
    // already stored: nothing written, no warning
    let r = env.both(
        Some(&good),
        &["login", "-u", "berthuser", "--password-stdin", s],
        b"berthpass\n",
    );
    assert_eq!((r.out.as_str(), r.err.as_str()), ("Login Succeeded\n", ""));
    let r = env.both(Some(&good), &["login", s], b"");
    assert_eq!(r.out, "Login Succeeded\n");
    assert!(r.err.starts_with("Authenticating with existing credentials... [Username: berthuser]\n\n Info -> To login with a different account"), "{}", r.err);
    // wrong password: nothing stored
    let r = env.both(
        None,
        &["login", "-u", "berthuser", "--password-stdin", s],
        b"wrong\n",
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.err.starts_with("Error response from daemon: "),
        "{}",
        r.err
    );
    assert!(
        r.err.contains("401 Unauthorized") || r.err.contains("unauthorized"),
        "{}",
        r.err
    );
    assert_eq!(r.config, "");
    let bad = format!(
        "{{\"auths\":{{\"https://{s}/\":{{\"auth\":\"{}\",\"email\":\"a@b\"}}}},\"psFormat\":\"x\"}}",
        b64("berthuser:wrong")
    );
    let r = env.both(Some(&bad), &["login", s], b"");
    assert!(
        r.err
            .ends_with("Error: Cannot perform an interactive login from a non TTY device\n"),
        "{}",
        r.err
    );
    let r = env.both(None, &["login", s], b"");
    assert_eq!(
        r.err,
        "Error: Cannot perform an interactive login from a non TTY device\n"
    );
    env.both(None, &["login", "-p", "x", "--password-stdin", s], b"");
    env.both(None, &["login", "--password-stdin", s], b"");
    env.both(None, &["login", "a", "b"], b"");

    // credentials go along with pull and push; without them the registry refuses
    let sec_img = format!("{s}/berth-test-cli-ship:v1");
    dk(&["tag", "busybox", &sec_img]);
    let r = env.both(None, &["push", &sec_img], b"");
    assert_eq!(r.code, Some(1));
    assert!(
        r.err.contains("no basic auth credentials") || r.err.contains("unauthorized"),
        "{}",
        r.err
    );
    let r = env.run(Path::new(BERTH), &["push", &sec_img], b"");
    assert_eq!(r.code, Some(1));
    env.reset(Some(&good));
    let r = env.run(Path::new(BERTH), &["push", &sec_img], b"");
    assert_eq!(r.code, Some(0), "{}", r.err);
    let r = env.both(Some(&good), &["push", &sec_img], b"");
    assert!(r.out.contains("Layer already exists"), "{}", r.out);
    rmi(&sec_img);
    let r = env.both(None, &["pull", &sec_img], b"");
    assert_eq!(r.code, Some(1), "{}", r.out);
    let r = pull_both(&["pull", &sec_img], &sec_img);
    assert_eq!(r.code, Some(1));
    env.reset(Some(&good));
    rmi(&sec_img);
    let r = env.run(Path::new(BERTH), &["pull", &sec_img], b"");
    assert_eq!(r.code, Some(0), "{}", r.err);

    // logout
    let r = env.both(Some(&good), &["logout", s], b"");
    assert_eq!(
        (r.out.as_str(), r.config.as_str()),
        (
            format!("Removing login credentials for {s}\n").as_str(),
            "{\n\t\"auths\": {}\n}"
        )
    );
    let r = env.both(Some(&good), &["logout", &format!("https://{s}")], b"");
    assert_eq!(r.config, "{\n\t\"auths\": {}\n}");
    let r = env.both(None, &["logout", s], b"");
    assert_eq!(
        (r.out.as_str(), r.err.as_str(), r.config.as_str()),
        (
            format!("Removing login credentials for {s}\n").as_str(),
            "",
            ""
        )
    );
    let r = env.both(None, &["logout"], b"");
    assert_eq!(
        r.out,
        "Removing login credentials for https://index.docker.io/v1/\n"
    );
    env.both(None, &["logout", "a", "b"], b"");

    // a credential helper: credsStore, then credHelpers
    let helper_dir = tempfile::tempdir().unwrap();
    let bin = credential_helper(helper_dir.path());
    let mut env = env;
    env.path_prefix = Some(bin);
    let store = helper_dir.path().join("store");
    let clear_store = || {
        for e in std::fs::read_dir(&store).unwrap().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    };
    for cfg in [
        r#"{"credsStore":"berthtest"}"#.to_string(),
        format!(r#"{{"credHelpers":{{"{s}":"berthtest"}}}}"#),
    ] {
        clear_store();
        let r = env.both(
            Some(&cfg),
            &["login", "-u", "berthuser", "--password-stdin", s],
            b"berthpass\n",
        );
        assert_eq!(
            (r.out.as_str(), r.err.as_str(), r.code),
            ("Login Succeeded\n", "", Some(0))
        );
        assert!(
            r.config.contains(&format!("\t\t\"{s}\": {{}}\n")),
            "{}",
            r.config
        );
        let stored = std::fs::read_to_string(store.join(s.replace(':', "_"))).unwrap();
        assert_eq!(
            stored,
            format!(r#"{{"ServerURL":"{s}","Username":"berthuser","Secret":"berthpass"}}"#)
        );
        // berth's pull finds them there
        let after = r.config.clone();
        rmi(&sec_img);
        env.reset(Some(&after));
        let r = env.run(Path::new(BERTH), &["pull", &sec_img], b"");
        assert_eq!(r.code, Some(0), "{}", r.err);
        let r = env.both(Some(&after), &["login", s], b"");
        assert_eq!(r.out, "Login Succeeded\n");
        let r = env.run(Path::new(BERTH), &["logout", s], b"");
        assert_eq!(
            (r.out.as_str(), r.err.as_str()),
            (format!("Removing login credentials for {s}\n").as_str(), "")
        );
        assert!(!store.join(s.replace(':', "_")).exists());
        env.both(Some(&cfg), &["logout", s], b"");
    }
    let r = env.both(
        Some(r#"{"credsStore":"berth-no-such-helper"}"#),
        &["login", "-u", "berthuser", "--password-stdin", s],
        b"berthpass\n",
    );
    assert_eq!(
        (r.err.as_str(), r.code),
        (
            "Error saving credentials: error storing credentials - err: exec: \"docker-credential-berth-no-such-helper\": executable file not found in $PATH, out: ``\n",
            Some(1)
        )
    );
    drop(d);
    drop(plain);
    drop(secured);
}

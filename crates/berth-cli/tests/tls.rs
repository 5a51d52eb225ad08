//! `berth` against a remote daemon: a private dockerd listening on
//! tcp://127.0.0.1:<free port> with `--tlsverify` (a CA, a server and a client
//! certificate made with openssl). With the client certificate, berth's
//! commands work over TLS — attached runs and `exec -i` go through the
//! hijacked connection's TLS pump — from the flags and from
//! DOCKER_CERT_PATH + DOCKER_TLS_VERIFY; without it, or without TLS, or with
//! the wrong CA, berth is refused with an error.
//!
//! Needs root, dockerd, docker and openssl (skipped, visibly, otherwise).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Daemon, docker, which};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=berth-cli-test-ca",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}-key.pem"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN=berth-cli-test-{who}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &format!("{who}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
            ],
        );
    }
}

/// The certificates' directory, removed on drop.
struct Certs(PathBuf);

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Certs {
    fn path(&self, f: &str) -> String {
        self.0.join(f).display().to_string()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs berth with `args`, `env` and `stdin`, in a clean environment: no
/// DOCKER_*/BERTH_HOST from the caller, HOME without a ~/.docker.
fn berth(home: &Path, env: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(BERTH);
    for k in [
        "DOCKER_HOST",
        "BERTH_HOST",
        "DOCKER_TLS",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
    ] {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .env("HOME", home)
        .envs(env.iter().copied())
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
    let out = child.wait_with_output().unwrap();
    let _ = w.join();
    out
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn berth_over_tcp_with_tls() {
    if !nix_is_root() {
        eprintln!("SKIPPED: needs root (a private dockerd)");
        return;
    }
    if !which("openssl") {
        eprintln!("SKIPPED: openssl not installed");
        return;
    }
    if !which("dockerd") || !which("docker") {
        eprintln!("SKIPPED: dockerd/docker not installed (apt-get install docker.io)");
        return;
    }
    let certs = Certs(PathBuf::from(format!(
        "/tmp/berth-test-cli-tlscerts-{}",
        std::process::id()
    )));
    let _ = std::fs::remove_dir_all(&certs.0);
    std::fs::create_dir_all(&certs.0).unwrap();
    make_certs(&certs.0);
    let c = |f: &str| certs.path(f);

    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let Some(mut d) = Daemon::start_private(
        "cli-tls",
        &[
            "-H".into(),
            tcp.clone(),
            "--tlsverify".into(),
            "--tlscacert".into(),
            c("ca.pem"),
            "--tlscert".into(),
            c("server.pem"),
            "--tlskey".into(),
            c("server-key.pem"),
        ],
    ) else {
        return;
    };
    d.load_busybox();
    let home = certs.0.join("home");
    std::fs::create_dir_all(&home).unwrap();

    let (ca, cert, key) = (c("ca.pem"), c("client.pem"), c("client-key.pem"));
    let flags: Vec<&str> = vec![
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
    ];
    let remote = |args: &[&str], stdin: &[u8]| {
        let mut a = flags.clone();
        a.extend_from_slice(args);
        berth(&home, &[], &a, stdin)
    };

    // The daemon's API version, as the docker CLI sees it on the unix socket.
    let o = remote(&["version", "--format", "{{.Server.APIVersion}}"], b"");
    let want = docker(&d.host, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(
        (o.status.code(), out(&o)),
        (Some(0), out(&want)),
        "{}",
        err(&o)
    );
    assert!(!out(&o).trim().is_empty());

    // Attached runs over the TLS hijack: output, stderr, exit code, stdin.
    let o = remote(
        &["run", "--rm", "--network=none", "busybox", "echo", "hi"],
        b"",
    );
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), "hi\n"),
        "{}",
        err(&o)
    );
    let o = remote(
        &[
            "run",
            "--rm",
            "--network=none",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert_eq!((out(&o).as_str(), err(&o).as_str()), ("out\n", "err\n"));
    let o = remote(
        &["run", "--rm", "-i", "--network=none", "busybox", "cat"],
        b"line1\nline2\n",
    );
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), "line1\nline2\n"),
        "{}",
        err(&o)
    );

    // A detached container: ps as docker shows it, exec -i, logs, rm.
    let o = remote(
        &[
            "run",
            "-d",
            "--network=none",
            "--name",
            "tls1",
            "busybox",
            "sh",
            "-c",
            "echo started; exec sleep 1000",
        ],
        b"",
    );
    assert!(o.status.success(), "{}", err(&o));
    let fmt = ["ps", "-a", "--format", "{{.Names}} {{.Image}} {{.State}}"];
    let o = remote(&fmt, b"");
    assert_eq!(out(&o), out(&docker(&d.host, &fmt)), "{}", err(&o));
    assert_eq!(out(&o), "tls1 busybox running\n");
    let o = remote(
        &["exec", "-i", "tls1", "sh", "-c", "cat; exit 4"],
        b"piped\n",
    );
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(4), "piped\n"),
        "{}",
        err(&o)
    );
    let t = std::time::Instant::now();
    while out(&remote(&["logs", "tls1"], b"")) != "started\n" {
        assert!(t.elapsed().as_secs() < 30, "tls1 never logged");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = remote(&["rm", "-f", "tls1"], b"");
    assert_eq!(out(&o), "tls1\n", "{}", err(&o));

    // --tls without verifying the daemon, with the client certificate.
    let o = berth(
        &home,
        &[],
        &[
            "-H",
            &tcp,
            "--tls",
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "ps",
            "-q",
        ],
        b"",
    );
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), ""),
        "{}",
        err(&o)
    );

    // The certificates from DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem),
    // TLS from DOCKER_TLS_VERIFY, the host from DOCKER_HOST or -H.
    let env_dir = certs.0.join("docker");
    std::fs::create_dir_all(&env_dir).unwrap();
    for (from, to) in [
        ("ca.pem", "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ] {
        std::fs::copy(certs.0.join(from), env_dir.join(to)).unwrap();
    }
    let env_path = env_dir.display().to_string();
    let env = [
        ("DOCKER_CERT_PATH", env_path.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_HOST", tcp.as_str()),
    ];
    let o = berth(&home, &env, &["ps"], b"");
    assert_eq!(
        (o.status.code(), out(&o).lines().next()),
        (
            Some(0),
            Some("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES")
        ),
        "{}",
        err(&o)
    );
    let o = berth(
        &home,
        &env[..2],
        &[
            "-H",
            &tcp,
            "run",
            "--rm",
            "--network=none",
            "busybox",
            "echo",
            "from env",
        ],
        b"",
    );
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(0), "from env\n"),
        "{}",
        err(&o)
    );

    // Refused: no client certificate, no TLS, a CA that did not sign the
    // daemon's certificate.
    let o = berth(
        &home,
        &[],
        &["-H", &tcp, "--tlsverify", "--tlscacert", &ca, "ps"],
        b"",
    );
    assert_ne!(
        o.status.code(),
        Some(0),
        "no client certificate must be refused"
    );
    assert!(out(&o).is_empty(), "{}", out(&o));
    assert!(!err(&o).trim().is_empty());
    let o = berth(&home, &[], &["-H", &tcp, "ps"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("Client sent an HTTP request to an HTTPS server"),
        "{}",
        err(&o)
    );
    let o = berth(
        &home,
        &[],
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &cert,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "ps",
        ],
        b"",
    );
    assert_ne!(
        o.status.code(),
        Some(0),
        "an unknown issuer must be refused"
    );
    assert!(err(&o).contains("certificate"), "{}", err(&o));
    drop(d);
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

//! tcp:// hosts: with `--tlsverify` the docker CLI needs a client certificate
//! signed by the CA; without TLS flags berthd refuses to listen on tcp.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::certs::{make_certs, openssl};
use common::{code, err, free_port, out};

#[test]
fn tcp_needs_tls_and_client_certs() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let Some(docker) = common::docker_bin() else {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    };
    let dir = std::path::PathBuf::from(format!("/tmp/berth-test-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    let c = |f: &str| certs.join(f).display().to_string();

    // tcp without TLS flags: refused, nothing listens.
    let berthd = env!("CARGO_BIN_EXE_berthd");
    let port = free_port();
    let o = Command::new(berthd)
        .args(["-H", &format!("tcp://127.0.0.1:{port}")])
        .arg("--data-root")
        .arg(dir.join("refused-data"))
        .arg("--exec-root")
        .arg(dir.join("refused-exec"))
        .arg("--pidfile")
        .arg(dir.join("refused.pid"))
        .args(["--bridge", "none"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("needs --tlsverify"), "{}", err(&o));
    assert!(!dir.join("refused.pid").exists());

    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let mut d = common::Daemon::start_with(
        dir.join("daemon"),
        true,
        &common::certs::tls_daemon_args(&certs, &tcp),
    );
    d.cli = docker.clone();
    let remote = |args: &[&str], with_cert: bool| {
        let mut cmd = Command::new(&docker);
        cmd.args(["-H", &tcp, "--tlsverify", "--tlscacert", &c("ca.pem")]);
        if with_cert {
            cmd.args([
                "--tlscert",
                &c("client.pem"),
                "--tlskey",
                &c("client-key.pem"),
            ]);
        }
        cmd.args(args)
            .env("DOCKER_CONFIG", dir.join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = remote(&["version", "--format", "{{.Server.APIVersion}}"], true);
    assert_eq!((code(&o), out(&o).trim()), (0, "1.51"), "{}", err(&o));
    d.load_busybox();
    let o = remote(&["run", "--rm", "busybox", "echo", "over tls"], true);
    assert_eq!(
        (code(&o), out(&o).as_str()),
        (0, "over tls\n"),
        "{}",
        err(&o)
    );
    let o = remote(&["version"], false);
    assert_ne!(code(&o), 0, "no client certificate must be refused");
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second CA and a client certificate it signed (`foreign.pem`).
fn make_foreign_client(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "foreign-ca-key.pem",
            "-out",
            "foreign-ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=berth-test-foreign-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "foreign-key.pem",
            "-out",
            "foreign.csr",
            "-subj",
            "/CN=berth-test-intruder",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "foreign.csr",
            "-CA",
            "foreign-ca.pem",
            "-CAkey",
            "foreign-ca-key.pem",
            "-CAcreateserial",
            "-out",
            "foreign.pem",
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
    );
}

/// A TCP connection to `port` on 127.0.0.1 from the loopback address `from`.
fn connect_from(from: std::net::Ipv4Addr, port: u16) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    let addr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a fresh fd with valid sockaddr_in values;
    // the fd is owned by the TcpStream (or closed) before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = std::net::TcpStream::from_raw_fd(fd);
        let src = addr(from, 0);
        assert_eq!(
            libc::bind(fd, (&raw const src).cast(), len),
            0,
            "bind {from}: {}",
            std::io::Error::last_os_error()
        );
        let dst = addr(std::net::Ipv4Addr::LOCALHOST, port);
        assert_eq!(
            libc::connect(fd, (&raw const dst).cast(), len),
            0,
            "connect: {}",
            std::io::Error::last_os_error()
        );
        stream
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Read until the daemon closes the connection (or `limit` passes): how
/// long it took, None if still open at the limit.
fn closed_within(
    s: &mut impl std::io::Read,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    let t = std::time::Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if t.elapsed() >= limit {
                    return None;
                }
            }
            Err(_) => return Some(t.elapsed()),
        }
    }
}

/// Unauthenticated clients cannot hold berthd: a certificate from another
/// CA is refused, plain HTTP gets Go's answer, silent connections are closed
/// after the handshake timeout (10 s) and slowloris headers after the header
/// timeout (30 s), and one address cannot take every handshake slot.
#[test]
fn tls_listener_refuses_strangers_and_sheds_idle_clients() {
    use std::io::Write;
    use std::net::Ipv4Addr;
    use std::time::Duration;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let Some(docker) = common::docker_bin() else {
        eprintln!("SKIPPED: the docker CLI is not installed");
        return;
    };
    let dir =
        std::path::PathBuf::from(format!("/tmp/berth-test-tls-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    make_foreign_client(&certs);
    let c = |f: &str| certs.join(f).display().to_string();
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = common::Daemon::start_with(
        dir.join("daemon"),
        true,
        &common::certs::tls_daemon_args(&certs, &tcp),
    );
    let docker_tcp = |args: &[&str]| {
        Command::new(&docker)
            .args(["-H", &tcp])
            .args(args)
            .env("DOCKER_CONFIG", dir.join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let with_cert = |cert: &str, key: &str| {
        vec![
            "--tlsverify".to_string(),
            "--tlscacert".into(),
            c("ca.pem"),
            "--tlscert".into(),
            c(cert),
            "--tlskey".into(),
            c(key),
            "version".into(),
            "--format".into(),
            "{{.Server.APIVersion}}".into(),
        ]
    };
    let ours = with_cert("client.pem", "client-key.pem");
    let o = docker_tcp(&strs(&ours));
    assert_eq!((code(&o), out(&o).trim()), (0, "1.51"), "{}", err(&o));

    // A client certificate from another CA.
    let o = docker_tcp(&strs(&with_cert("foreign.pem", "foreign-key.pem")));
    assert_ne!(code(&o), 0, "a foreign CA's certificate was accepted");
    assert!(
        err(&o).contains("certificate") || err(&o).contains("tls"),
        "{}",
        err(&o)
    );

    // Plain HTTP on the TLS port: the docker CLI and a raw request.
    let o = docker_tcp(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_ne!(code(&o), 0);
    assert!(
        err(&o).contains("Client sent an HTTP request to an HTTPS server"),
        "{}",
        err(&o)
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );

    // 128 silent connections from 127.0.0.2 take that address's handshake
    // slots: its next connection is closed at once, other addresses are
    // served as before.
    let stranger = Ipv4Addr::new(127, 0, 0, 2);
    let mut silent: Vec<_> = (0..128).map(|_| connect_from(stranger, port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = connect_from(stranger, port);
    extra
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let shut = closed_within(&mut extra, Duration::from_secs(3));
    assert!(
        shut.is_some(),
        "a 129th handshake from one address was kept"
    );
    let t = std::time::Instant::now();
    let o = docker_tcp(&strs(&ours));
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // Slowloris after the handshake: a header line per second, never done.
    let tls = berth_client::TlsOptions {
        tls: true,
        verify: true,
        ca: Some(certs.join("ca.pem")),
        cert: Some(certs.join("client.pem")),
        key: Some(certs.join("client-key.pem")),
    }
    .client_config()
    .unwrap();
    let host = berth_client::Host::parse(&tcp, true).unwrap();
    let mut slow: Vec<_> = (0..8)
        .map(|_| {
            let mut c = berth_client::transport::connect(&host, Some(&tls)).unwrap();
            c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n").unwrap();
            c
        })
        .collect();
    let started = std::time::Instant::now();

    // The silent ones are closed at the handshake timeout.
    for s in &mut silent {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    let limit = Duration::from_secs(13);
    let shut = closed_within(&mut silent[0], limit).expect("a silent connection was kept");
    assert!(shut >= Duration::from_secs(8), "closed after only {shut:?}");
    for s in &mut silent[1..] {
        assert!(
            closed_within(s, Duration::from_secs(2)).is_some(),
            "a silent connection outlived the handshake timeout"
        );
    }
    // … and 127.0.0.2 may connect again.
    let mut back = connect_from(stranger, port);
    back.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(closed_within(&mut back, Duration::from_millis(500)).is_none());
    drop(back);

    // The slowloris ones at the header timeout, however often they send.
    let mut open = slow.len();
    while open > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{open} slowloris connections outlived the header timeout"
        );
        std::thread::sleep(Duration::from_secs(1));
        open = 0;
        for c in &mut slow {
            if c.write_all(b"X-Slow: 1\r\n")
                .and_then(|_| c.flush())
                .is_ok()
            {
                open += 1;
            }
        }
    }
    assert!(
        started.elapsed() >= Duration::from_secs(25),
        "slow clients cut after {:?}",
        started.elapsed()
    );
    let o = docker_tcp(&strs(&ours));
    assert_eq!(code(&o), 0, "{}", err(&o));
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

//! tcp:// hosts: with `--tlsverify` the docker CLI needs a client certificate
//! signed by the CA; without TLS flags berthd refuses to listen on tcp.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{code, err, free_port, out};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", err(&o));
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
            "/CN=berth-test-ca",
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
                &format!("/CN=berth-test-{who}"),
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

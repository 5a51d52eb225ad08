//! Certificates for the TLS listener tests, made with openssl.

use std::path::Path;
use std::process::{Command, Stdio};

use super::err;

pub fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", err(&o));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
pub fn make_certs(dir: &Path) {
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

/// berthd's flags for a `--tlsverify` listener on `tcp` with the
/// certificates [`make_certs`] made in `dir`.
pub fn tls_daemon_args(dir: &Path, tcp: &str) -> Vec<String> {
    let c = |f: &str| dir.join(f).display().to_string();
    vec![
        "-H".into(),
        tcp.to_string(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        c("ca.pem"),
        "--tlscert".into(),
        c("server.pem"),
        "--tlskey".into(),
        c("server-key.pem"),
    ]
}

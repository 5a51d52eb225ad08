//! The API's listeners: unix sockets (mode 0660, group `berth` when it
//! exists), and TCP — with TLS and client certificates (`--tlsverify`), or
//! without either only when asked explicitly (`--tls=false`), loudly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;

use crate::config::{self, Config, Tls};

/// A bound listener, ready to serve.
pub enum Listener {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

fn pem_certs(p: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(p)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", p.display()))
}

fn tls_acceptor(t: &Tls) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    let need = |p: &Option<PathBuf>, flag: &str| {
        p.clone()
            .ok_or_else(|| format!("--{flag} is required for a TLS tcp:// host"))
    };
    let certs = pem_certs(&need(&t.cert, "tlscert")?)?;
    let keyp = need(&t.key, "tlskey")?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&keyp)
        .map_err(|e| format!("{}: {e}", keyp.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if t.verify {
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(&need(&t.ca, "tlscacert")?)? {
            roots.add(c).map_err(|e| format!("CA certificate: {e}"))?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client verifier: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut sc = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("server certificate: {e}"))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(sc)))
}

/// Bind every `-H` host, or say why not (nothing is left bound on error).
pub async fn bind(cfg: &Config) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for host in &cfg.hosts {
        if let Some(path) = host.strip_prefix("unix://") {
            if let Some(dir) = Path::new(path).parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("create {}: {e}", dir.display()))?;
            }
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("remove the old socket {path}: {e}"));
                }
                _ => {}
            }
            let l = tokio::net::UnixListener::bind(path)
                .map_err(|e| format!("listen on {path}: {e}"))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .map_err(|e| format!("chmod {path}: {e}"))?;
            if let Some(gid) = config::group_id("berth") {
                nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
                    .map_err(|e| format!("chown {path}: {e}"))?;
            }
            tracing::info!("API listening on {path}");
            out.push(Listener::Unix(l, PathBuf::from(path)));
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let addr = if addr.contains(':') {
                addr.to_string()
            } else {
                format!("{addr}:2376")
            };
            let acceptor = match (cfg.tls.verify, cfg.tls.enabled) {
                (true, _) => Some(tls_acceptor(&cfg.tls)?),
                (false, Some(true)) => {
                    tracing::warn!(
                        "!! {addr}: TLS without --tlsverify: anyone who can reach this address controls berth (root on this host) !!"
                    );
                    Some(tls_acceptor(&cfg.tls)?)
                }
                (false, Some(false)) => {
                    tracing::warn!(
                        "!! {addr}: plain tcp without TLS (--tls=false): anyone who can reach this address controls berth (root on this host); traffic is not encrypted !!"
                    );
                    None
                }
                (false, None) => {
                    return Err(format!(
                        "{host}: a tcp:// host needs --tlsverify with --tlscacert, --tlscert and --tlskey (or --tls=false to accept the risk)"
                    ));
                }
            };
            let l = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| format!("listen on {addr}: {e}"))?;
            tracing::info!(
                "API listening on {addr}{}",
                if acceptor.is_some() { " (TLS)" } else { "" }
            );
            out.push(Listener::Tcp(l, acceptor));
        } else {
            return Err(format!(
                "{host}: unsupported host (use unix:///path or tcp://addr:port)"
            ));
        }
    }
    Ok(out)
}

/// Serve one HTTP/1.1 connection, hijack upgrades included.
fn serve_conn<I>(io: I, app: Router)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = TowerToHyperService::new(app);
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades()
            .await;
    });
}

impl Listener {
    pub async fn serve(self, app: Router) {
        match self {
            Listener::Unix(l, _) => {
                let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
                let _ = axum::serve(l, svc).await;
            }
            Listener::Tcp(l, tls) => loop {
                let Ok((sock, _)) = l.accept().await else {
                    continue;
                };
                let _ = sock.set_nodelay(true);
                match &tls {
                    Some(acc) => {
                        let acc = acc.clone();
                        let app = app.clone();
                        tokio::spawn(async move {
                            match acc.accept(sock).await {
                                Ok(s) => serve_conn(s, app),
                                Err(e) => tracing::debug!("TLS handshake: {e}"),
                            }
                        });
                    }
                    None => serve_conn(sock, app.clone()),
                }
            },
        }
    }

    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Listener::Unix(_, p) => Some(p),
            Listener::Tcp(..) => None,
        }
    }
}

//! The API's listeners: unix sockets (mode 0660, group `berth` when it
//! exists), and TCP — with TLS and client certificates (`--tlsverify`), or
//! without either only when asked explicitly (`--tls=false`), loudly.
//!
//! A TCP client that has not finished its TLS handshake holds little: a
//! slot among [`TcpLimits::max_handshakes`] (a few per address), for at most
//! [`TcpLimits::handshake_timeout`]; a slow or silent one after it is closed
//! by the header read timeout; one that never reads blocks only its own
//! connection. Plain HTTP on the TLS port is answered as Go answers it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use tokio::sync::Semaphore;

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

/// What a TCP client may hold before it has proved who it is (the unix
/// socket's clients are root or in the `berth` group, and are not limited).
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// From accept to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections in their handshake at once, from all clients: beyond
    /// it, new connections wait in the kernel's backlog.
    pub max_handshakes: usize,
    /// … from one address: beyond it, its new connections are closed at
    /// once, so one client cannot hold every slot.
    pub max_handshakes_per_ip: usize,
    /// Open TCP connections at once; beyond it, new ones wait in the backlog.
    pub max_connections: usize,
    /// From the start of a request (or of an idle kept-alive connection) to
    /// the end of its headers.
    pub header_read_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            handshake_timeout: Duration::from_secs(10),
            max_handshakes: 512,
            max_handshakes_per_ip: 128,
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// What Go's net/http answers to plain HTTP on a TLS port, as dockerd does.
const HTTP_ON_HTTPS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of a TLS record carrying a handshake (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Serve one HTTP/1.1 connection, hijack upgrades included, to its end.
async fn serve_conn<I>(io: I, app: Router, header_read_timeout: Duration)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(app);
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}

/// Handshakes in flight per client address.
#[derive(Default)]
struct PerIp(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One of an address's handshake slots, given back on drop.
struct IpSlot(Arc<PerIp>, std::net::IpAddr);

impl PerIp {
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot(self.clone(), ip))
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// The TLS handshake of one connection, or why there is none. Plain HTTP
/// gets Go's answer; anything else that is not a ClientHello is dropped.
async fn handshake(
    acc: &tokio_rustls::TlsAcceptor,
    sock: tokio::net::TcpStream,
) -> Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, String> {
    use tokio::io::AsyncWriteExt;
    let mut first = [0u8; 1];
    let mut sock = sock;
    if sock.peek(&mut first).await.map_err(|e| e.to_string())? == 0 {
        return Err("closed before the handshake".into());
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        if first[0].is_ascii_uppercase() {
            let _ = sock.write_all(HTTP_ON_HTTPS).await;
            let _ = sock.shutdown().await;
            return Err("plain HTTP on the TLS port".into());
        }
        return Err(format!(
            "not a TLS handshake (first byte {:#04x})",
            first[0]
        ));
    }
    acc.accept(sock).await.map_err(|e| e.to_string())
}

/// Accept errors (EMFILE, ENFILE, ENOBUFS…) are not the listener's end:
/// log the first of a burst, wait a little, go on.
async fn accept_failed(e: std::io::Error, logged: &mut Option<std::time::Instant>) {
    if logged.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
        tracing::warn!("accept: {e}");
        *logged = Some(std::time::Instant::now());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

impl Listener {
    pub async fn serve(self, app: Router, limits: TcpLimits) {
        match self {
            Listener::Unix(l, _) => {
                let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
                let _ = axum::serve(l, svc).await;
            }
            Listener::Tcp(l, tls) => {
                let conns = Arc::new(Semaphore::new(limits.max_connections));
                let handshakes = Arc::new(Semaphore::new(limits.max_handshakes));
                let per_ip = Arc::new(PerIp::default());
                let mut logged = None;
                loop {
                    // Semaphores are never closed: acquiring only waits.
                    let Ok(conn) = conns.clone().acquire_owned().await else {
                        return;
                    };
                    let Ok(hs) = handshakes.clone().acquire_owned().await else {
                        return;
                    };
                    let (sock, peer) = match l.accept().await {
                        Ok(a) => a,
                        Err(e) => {
                            accept_failed(e, &mut logged).await;
                            continue;
                        }
                    };
                    let _ = sock.set_nodelay(true);
                    let app = app.clone();
                    let Some(acc) = tls.clone() else {
                        drop(hs);
                        tokio::spawn(async move {
                            serve_conn(sock, app, limits.header_read_timeout).await;
                            drop(conn);
                        });
                        continue;
                    };
                    let Some(slot) = per_ip.take(peer.ip(), limits.max_handshakes_per_ip) else {
                        tracing::debug!("{peer}: too many TLS handshakes from this address");
                        continue;
                    };
                    tokio::spawn(async move {
                        let s =
                            tokio::time::timeout(limits.handshake_timeout, handshake(&acc, sock))
                                .await;
                        drop((hs, slot));
                        match s {
                            Ok(Ok(s)) => serve_conn(s, app, limits.header_read_timeout).await,
                            Ok(Err(e)) => tracing::debug!("{peer}: TLS: {e}"),
                            Err(_) => tracing::debug!("{peer}: TLS handshake timed out"),
                        }
                        drop(conn);
                    });
                }
            }
        }
    }

    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Listener::Unix(_, p) => Some(p),
            Listener::Tcp(..) => None,
        }
    }
}

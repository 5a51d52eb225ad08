//! Where the daemon is and how to talk TLS to it, resolved as the docker
//! CLI does: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`; TLS from
//! `--tls`, `--tlsverify`, `--tlscacert/--tlscert/--tlskey`,
//! `DOCKER_TLS`, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`
//! (default `~/.docker`, files `ca.pem`, `cert.pem`, `key.pem`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Error, Result};

/// berthd's default socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Unix {
        path: PathBuf,
        url: String,
    },
    /// `addr` is `host:port`; `name` the host part (for TLS).
    Tcp {
        addr: String,
        name: String,
        url: String,
    },
}

impl Host {
    /// Parse a `-H` value. `tls` picks the default tcp port (2376, else 2375).
    pub fn parse(s: &str, tls: bool) -> Result<Host> {
        if let Some(p) = s.strip_prefix("unix://") {
            return Ok(Host::Unix {
                path: PathBuf::from(p),
                url: s.to_string(),
            });
        }
        if s.starts_with('/') {
            return Ok(Host::Unix {
                path: PathBuf::from(s),
                url: format!("unix://{s}"),
            });
        }
        if let Some(rest) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() {
                return Err(Error::Config(format!("unable to parse docker host `{s}`")));
            }
            let (name, port) = split_host_port(rest);
            let port = port.unwrap_or(if tls { "2376" } else { "2375" });
            let name = if name.is_empty() { "localhost" } else { name };
            return Ok(Host::Tcp {
                addr: if name.contains(':') {
                    format!("[{name}]:{port}")
                } else {
                    format!("{name}:{port}")
                },
                name: name.to_string(),
                url: s.to_string(),
            });
        }
        if s.starts_with("ssh://") || s.starts_with("npipe://") || s.starts_with("fd://") {
            return Err(Error::Config(format!(
                "host {s}: this transport is not supported by the berth client (unix:// and tcp:// are)"
            )));
        }
        Err(Error::Config(format!("unable to parse docker host `{s}`")))
    }

    /// `-H`, `BERTH_HOST`, `DOCKER_HOST`, the default.
    pub fn resolve(flag: Option<&str>) -> Result<Host> {
        let s = flag
            .map(str::to_string)
            .or_else(|| env_nonempty("BERTH_HOST"))
            .or_else(|| env_nonempty("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let tls =
            env_nonempty("DOCKER_TLS").is_some() || env_nonempty("DOCKER_TLS_VERIFY").is_some();
        Host::parse(&s, tls)
    }

    /// The host as the user wrote it (for messages).
    pub fn url(&self) -> &str {
        match self {
            Host::Unix { url, .. } | Host::Tcp { url, .. } => url,
        }
    }
}

fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((h, p)) = rest.split_once(']')
    {
        return (h, p.strip_prefix(':'));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    }
}

fn env_nonempty(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// TLS settings of a tcp host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `--tls`: TLS without verifying the daemon's certificate.
    pub tls: bool,
    /// `--tlsverify`: TLS, and the daemon's certificate must chain to the CA.
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsOptions {
    /// The flags given, completed from the environment and the cert path.
    pub fn from_flags(
        tls: bool,
        verify: bool,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> TlsOptions {
        let verify = verify || env_nonempty("DOCKER_TLS_VERIFY").is_some();
        let tls = tls || verify || env_nonempty("DOCKER_TLS").is_some();
        let dir = env_nonempty("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .or_else(|| env_nonempty("HOME").map(|h| Path::new(&h).join(".docker")));
        let default = |name: &str| dir.as_ref().map(|d| d.join(name)).filter(|p| p.exists());
        TlsOptions {
            tls,
            verify,
            ca: ca.or_else(|| default("ca.pem")),
            cert: cert.or_else(|| default("cert.pem")),
            key: key.or_else(|| default("key.pem")),
        }
    }

    pub fn enabled(&self) -> bool {
        self.tls || self.verify
    }

    /// The rustls configuration these options describe.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
        let builder = if self.verify {
            let ca = self
                .ca
                .as_ref()
                .ok_or_else(|| Error::Config("TLS verification needs a CA (--tlscacert)".into()))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| {
                Error::Config(format!("could not read CA certificate {:?}: {e}", ca))
            })? {
                let c = c.map_err(|e| Error::Config(format!("CA certificate {:?}: {e}", ca)))?;
                roots
                    .add(c)
                    .map_err(|e| Error::Config(format!("CA certificate {:?}: {e}", ca)))?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        };
        let cfg = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                    .map_err(|e| Error::Config(format!("could not read certificate {:?}: {e}", c)))?
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| Error::Config(format!("certificate {:?}: {e}", c)))?;
                let key = PrivateKeyDer::from_pem_file(k)
                    .map_err(|e| Error::Config(format!("could not read key {:?}: {e}", k)))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| Error::Config(format!("client certificate: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Arc::new(cfg))
    }
}

/// `--tls` without `--tlsverify`: the connection is encrypted, the
/// daemon's identity is not checked (Docker's InsecureSkipVerify).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            Host::parse("unix:///run/x.sock", false).unwrap(),
            Host::Unix {
                path: "/run/x.sock".into(),
                url: "unix:///run/x.sock".into()
            }
        );
        match Host::parse("tcp://127.0.0.1", true).unwrap() {
            Host::Tcp { addr, name, .. } => {
                assert_eq!(addr, "127.0.0.1:2376");
                assert_eq!(name, "127.0.0.1");
            }
            h => panic!("{h:?}"),
        }
        match Host::parse("tcp://[::1]:1234", false).unwrap() {
            Host::Tcp { addr, name, .. } => {
                assert_eq!(addr, "[::1]:1234");
                assert_eq!(name, "::1");
            }
            h => panic!("{h:?}"),
        }
        assert!(Host::parse("bogus", false).is_err());
        assert!(Host::parse("ssh://x", false).is_err());
    }
}

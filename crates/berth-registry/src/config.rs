//! Which registry, over what: Docker Hub's aliases, mirrors, insecure
//! registries (CIDRs and names; 127.0.0.0/8 by default, as Docker), and
//! each registry's TLS trust from `certs.d/<host[:port]>/` (`ca.crt`,
//! `*.crt` extra CAs, `client.cert` + `client.key`).

use std::net::IpAddr;
use std::path::PathBuf;

/// The reference domain of Docker Hub and the host its API lives on.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Docker Hub's v1 search index.
pub const DOCKER_HUB_INDEX: &str = "index.docker.io";

#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// `insecure-registries`: CIDRs (`10.0.0.0/8`) and hosts (`myreg:5000`).
    pub insecure: Vec<String>,
    /// `registry-mirrors` for Docker Hub (`https://mirror.example:5000`).
    pub mirrors: Vec<String>,
    /// Where per-registry certificates live, first match wins.
    pub cert_dirs: Vec<PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            cert_dirs: vec![
                PathBuf::from("/etc/berth/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
        }
    }
}

/// Where requests for one registry go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The registry as references name it (`localhost:5000`, `docker.io`).
    pub registry: String,
    /// `https://host[:port]` or `http://host[:port]`.
    pub base: String,
    /// A mirror (failures fall through to the next endpoint).
    pub mirror: bool,
    /// TLS without verification (an insecure registry over https).
    pub skip_verify: bool,
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    /// host[:port] of the base URL.
    pub fn host(&self) -> String {
        self.base
            .split_once("://")
            .map(|(_, h)| h.trim_end_matches('/').to_string())
            .unwrap_or_default()
    }
}

/// The host and the port (if any) of `host[:port]`.
fn split_port(h: &str) -> (&str, Option<&str>) {
    if let Some(rest) = h.strip_prefix('[')
        && let Some((ip, port)) = rest.split_once(']')
    {
        return (ip, port.strip_prefix(':'));
    }
    match h.rsplit_once(':') {
        Some((a, p)) if !a.contains(':') => (a, Some(p)),
        _ => (h, None),
    }
}

impl RegistryConfig {
    /// Whether `registry` (`host[:port]`) may be spoken to without TLS
    /// verification: named in `insecure`, or resolving into an insecure CIDR
    /// (127.0.0.0/8 and ::1 always).
    pub fn is_insecure(&self, registry: &str) -> bool {
        if self.insecure.iter().any(|i| i == registry) {
            return true;
        }
        let (host, _) = split_port(registry);
        let mut cidrs: Vec<ipnet::IpNet> = vec![
            "127.0.0.0/8".parse().expect("cidr"),
            "::1/128".parse().expect("cidr"),
        ];
        cidrs.extend(
            self.insecure
                .iter()
                .filter_map(|c| c.parse::<ipnet::IpNet>().ok()),
        );
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default(),
        };
        !ips.is_empty() && ips.iter().all(|ip| cidrs.iter().any(|c| c.contains(ip)))
    }

    /// The endpoints to try for `registry`, in order: mirrors (Docker Hub
    /// only), the registry over https, then http if it is insecure.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if registry == DOCKER_HUB {
            for m in &self.mirrors {
                let m = m.trim_end_matches('/');
                let host = m.split_once("://").map(|(_, h)| h).unwrap_or(m);
                out.push(Endpoint {
                    registry: registry.into(),
                    base: if m.contains("://") {
                        m.to_string()
                    } else {
                        format!("https://{m}")
                    },
                    mirror: true,
                    skip_verify: self.is_insecure(host),
                });
            }
            out.push(Endpoint {
                registry: registry.into(),
                base: format!("https://{DOCKER_HUB_API}"),
                mirror: false,
                skip_verify: false,
            });
            return out;
        }
        let insecure = self.is_insecure(registry);
        out.push(Endpoint {
            registry: registry.into(),
            base: format!("https://{registry}"),
            mirror: false,
            skip_verify: insecure,
        });
        if insecure {
            out.push(Endpoint {
                registry: registry.into(),
                base: format!("http://{registry}"),
                mirror: false,
                skip_verify: false,
            });
        }
        out
    }

    /// The certificate directory of `host[:port]`, if one exists.
    pub fn cert_dir(&self, host: &str) -> Option<PathBuf> {
        self.cert_dirs
            .iter()
            .map(|d| d.join(host))
            .find(|d| d.is_dir())
    }
}

/// The PEM files of a certs.d directory: CAs (`*.crt`), and the client
/// pair (`*.cert` with its `*.key`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertFiles {
    pub cas: Vec<PathBuf>,
    pub client: Option<(PathBuf, PathBuf)>,
}

pub fn cert_files(dir: &std::path::Path) -> CertFiles {
    let mut out = CertFiles::default();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut names: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => out.cas.push(p),
            Some("cert") => {
                let key = p.with_extension("key");
                if key.exists() {
                    out.client = Some((p, key));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_and_endpoints() {
        let c = RegistryConfig {
            insecure: vec!["myreg:5000".into(), "10.9.0.0/16".into()],
            mirrors: vec!["https://mirror.test".into()],
            ..Default::default()
        };
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("myreg:5000"));
        assert!(c.is_insecure("10.9.3.4"));
        assert!(!c.is_insecure("10.8.0.1:443"));
        let e = c.endpoints("127.0.0.1:5000");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].base, "https://127.0.0.1:5000");
        assert!(e[0].skip_verify);
        assert_eq!(e[1].base, "http://127.0.0.1:5000");
        let hub = c.endpoints(DOCKER_HUB);
        assert_eq!(hub[0].base, "https://mirror.test");
        assert!(hub[0].mirror);
        assert_eq!(hub[1].url("/v2/"), "https://registry-1.docker.io/v2/");
        assert_eq!(c.endpoints("10.8.0.1:443").len(), 1);
    }

    #[test]
    fn certs_d_files() {
        let t = std::env::temp_dir().join(format!("berth-certs-test-{}", std::process::id()));
        std::fs::create_dir_all(t.join("reg:5000")).unwrap();
        for f in [
            "ca.crt",
            "extra.crt",
            "client.cert",
            "client.key",
            "notes.txt",
        ] {
            std::fs::write(t.join("reg:5000").join(f), "").unwrap();
        }
        let c = RegistryConfig {
            cert_dirs: vec![t.clone()],
            ..Default::default()
        };
        let d = c.cert_dir("reg:5000").unwrap();
        let f = cert_files(&d);
        assert_eq!(f.cas.len(), 2);
        assert!(f.client.is_some());
        assert!(c.cert_dir("other").is_none());
        std::fs::remove_dir_all(&t).unwrap();
    }
}

//! Port planning: which host ports a container publishes (`-p`, `-P`),
//! checked against the ports other containers publish and against the
//! host (a test bind), before anything is set up — so a taken port is
//! refused with Docker's words and nothing to undo.

use std::net::Ipv4Addr;

use berth_api::container::{Config, HostConfig};
use berth_api::network::{PortBinding, parse_port_key};
use berth_net::PortMap;

use crate::{Error, Result};

/// The range Docker picks random host ports from.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 49153..=60999;

/// Whether the host lets us bind `port` (TCP or UDP) on `ip`.
pub fn host_port_free(proto: &str, ip: Option<Ipv4Addr>, port: u16) -> bool {
    let addr = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    match proto {
        "udp" => std::net::UdpSocket::bind(addr).is_ok(),
        _ => std::net::TcpListener::bind(addr).is_ok(),
    }
}

/// What a container asks to publish: `PortBindings`, and with `-P` every
/// exposed port on a random host port.
pub fn wanted(cfg: &Config, hc: &HostConfig) -> Vec<(String, Vec<PortBinding>)> {
    let mut out: Vec<(String, Vec<PortBinding>)> = hc
        .port_bindings
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if hc.publish_all_ports {
        for k in cfg.exposed_ports() {
            if !out.iter().any(|(x, _)| x == k) {
                out.push((k.clone(), vec![PortBinding::default()]));
            }
        }
    }
    out
}

/// Host ports for `wanted`, mapped to `container_ip`. `taken`: what other
/// containers publish; `free`: the host check.
pub fn plan(
    name: &str,
    wanted: &[(String, Vec<PortBinding>)],
    container_ip: Ipv4Addr,
    taken: &[PortMap],
    free: &dyn Fn(&str, Option<Ipv4Addr>, u16) -> bool,
) -> Result<Vec<PortMap>> {
    let mut taken = taken.to_vec();
    let mut out = Vec::new();
    for (k, binds) in wanted {
        let Some((cport, proto)) = parse_port_key(k) else {
            return Err(Error::invalid(format!(
                "invalid port specification: \"{k}\""
            )));
        };
        for b in binds {
            let host_ip = match b.host_ip.as_str() {
                "" => None,
                s => Some(
                    s.parse::<Ipv4Addr>()
                        .map_err(|_| Error::invalid(format!("invalid IP address: {s}")))?,
                ),
            };
            let clash = |p: &PortMap, port: u16| {
                p.proto == proto
                    && p.host_port == port
                    && (p.host_ip.is_none() || host_ip.is_none() || p.host_ip == host_ip)
            };
            let port = match b.host_port.as_str() {
                "" | "0" => EPHEMERAL
                    .clone()
                    .find(|p| !taken.iter().any(|t| clash(t, *p)) && free(&proto, host_ip, *p))
                    .ok_or_else(|| Error::system("no free host port to publish"))?,
                hp => {
                    let p: u16 = hp
                        .parse()
                        .map_err(|_| Error::invalid(format!("invalid host port: {hp}")))?;
                    if taken.iter().any(|t| clash(t, p)) || !free(&proto, host_ip, p) {
                        return Err(Error::system(format!(
                            "driver failed programming external connectivity on endpoint {name}: Bind for {}:{p} failed: port is already allocated",
                            host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
                        )));
                    }
                    p
                }
            };
            let m = PortMap {
                proto: proto.clone(),
                host_ip,
                host_port: port,
                container: container_ip,
                container_port: cport,
            };
            taken.push(m.clone());
            out.push(m);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn fixed_random_and_taken_ports() {
        let all_free = |_: &str, _: Option<Ipv4Addr>, _: u16| true;
        let w = vec![
            (
                "80/tcp".to_string(),
                vec![bind("", "8080"), bind("127.0.0.1", "8081")],
            ),
            ("53/udp".to_string(), vec![bind("", "")]),
        ];
        let p = plan("web", &w, C, &[], &all_free).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[0].host_port, p[0].container_port, p[0].proto.as_str()),
            (8080, 80, "tcp")
        );
        assert_eq!(p[1].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p[2].host_port, *EPHEMERAL.start());
        // The same host port again clashes, in Docker's words.
        let e = plan("db", &w[..1], C, &p, &all_free).unwrap_err();
        assert_eq!(
            e.message,
            "driver failed programming external connectivity on endpoint db: Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        // A port the host already uses.
        let busy = |_: &str, _: Option<Ipv4Addr>, p: u16| p != 9000;
        assert!(
            plan(
                "x",
                &[("80/tcp".into(), vec![bind("", "9000")])],
                C,
                &[],
                &busy
            )
            .is_err()
        );
        // Random ports skip busy ones.
        let first_busy = |_: &str, _: Option<Ipv4Addr>, p: u16| p != *EPHEMERAL.start();
        let r = plan(
            "x",
            &[("80/tcp".into(), vec![bind("", "")])],
            C,
            &[],
            &first_busy,
        )
        .unwrap();
        assert_eq!(r[0].host_port, EPHEMERAL.start() + 1);
        assert!(
            plan(
                "x",
                &[("eighty/tcp".into(), vec![bind("", "1")])],
                C,
                &[],
                &all_free
            )
            .is_err()
        );
        assert!(
            plan(
                "x",
                &[("80/tcp".into(), vec![bind("nope", "1")])],
                C,
                &[],
                &all_free
            )
            .is_err()
        );
    }

    #[test]
    fn publish_all() {
        let cfg = Config {
            exposed_ports: Some([("80/tcp".to_string(), berth_api::Empty {})].into()),
            ..Default::default()
        };
        let hc = HostConfig {
            publish_all_ports: true,
            ..Default::default()
        };
        let w = wanted(&cfg, &hc);
        assert_eq!(
            w,
            vec![("80/tcp".to_string(), vec![PortBinding::default()])]
        );
        assert!(wanted(&cfg, &HostConfig::default()).is_empty());
    }
}

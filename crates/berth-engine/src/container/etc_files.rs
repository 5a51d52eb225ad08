//! A container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker
//! writes them: the container's own address and name, `--add-host`
//! (`host-gateway` included), `--link` entries, and a resolv.conf that
//! points at the embedded DNS on user-defined networks, else at `--dns` or
//! the host's reachable resolvers. Pure functions of their inputs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use berth_api::container::HostConfig;

use crate::model::Container;

/// What the files depend on besides the container's record.
pub struct Inputs<'a> {
    /// The container's address on its first network.
    pub ip: Option<Ipv4Addr>,
    /// The daemon's `--dns`.
    pub daemon_dns: &'a [IpAddr],
    /// (names, address) of linked containers.
    pub links: &'a [(String, Ipv4Addr)],
    /// What `host-gateway` means: the default bridge's gateway.
    pub host_gateway: Option<Ipv4Addr>,
    /// Whether resolv.conf points at the embedded DNS (user-defined networks).
    pub embedded_dns: bool,
    /// The hostname (another container's in `container:` mode).
    pub hostname: &'a str,
}

/// `--add-host` entries as hosts lines; `host-gateway` needs the bridge.
pub fn extra_hosts(hc: &HostConfig, host_gateway: Option<Ipv4Addr>) -> Result<String, String> {
    let mut out = String::new();
    for e in HostConfig::list(&hc.extra_hosts) {
        // name:ip, with ip possibly IPv6 (several colons) or host-gateway.
        let (name, ip) = e
            .split_once(['=', ':'])
            .ok_or_else(|| format!("invalid argument \"{e}\" for \"--add-host\""))?;
        let ip = if ip == "host-gateway" {
            host_gateway
                .ok_or("unable to derive the IP value for host-gateway")?
                .to_string()
        } else {
            ip.trim_start_matches('[').trim_end_matches(']').to_string()
        };
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    Ok(out)
}

pub fn hosts(c: &Container, i: &Inputs) -> Result<String, String> {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    s.push_str(&extra_hosts(&c.host_config, i.host_gateway)?);
    for (names, ip) in i.links {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    let names = if c.config.domainname.is_empty() {
        i.hostname.to_string()
    } else {
        format!("{}.{} {}", i.hostname, c.config.domainname, i.hostname)
    };
    let ip =
        i.ip.map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.1.1".into());
    s.push_str(&format!("{ip}\t{names}\n"));
    Ok(s)
}

pub fn resolv_conf(c: &Container, i: &Inputs, host: &str) -> String {
    let hc = &c.host_config;
    let dns = HostConfig::list(&hc.dns);
    let search = HostConfig::list(&hc.dns_search);
    let options = HostConfig::list(&hc.dns_options);
    let host_lines = |key: &str| -> Vec<String> {
        host.lines()
            .filter(|l| l.split_whitespace().next() == Some(key))
            .map(String::from)
            .collect()
    };
    let mut out = String::new();
    if i.embedded_dns {
        out.push_str("nameserver 127.0.0.11\n");
    } else if !dns.is_empty() {
        for d in dns {
            out.push_str(&format!("nameserver {d}\n"));
        }
    } else if !i.daemon_dns.is_empty() {
        for d in i.daemon_dns {
            out.push_str(&format!("nameserver {d}\n"));
        }
    } else {
        // The host's, without loopback resolvers (unreachable from the
        // container's namespace); Docker's public fallback if none is left.
        let mut n = 0;
        for l in host_lines("nameserver") {
            let ip = l.split_whitespace().nth(1).unwrap_or("");
            if ip.starts_with("127.") || ip == "::1" {
                continue;
            }
            out.push_str(&l);
            out.push('\n');
            n += 1;
        }
        if n == 0 {
            out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        }
    }
    if search.is_empty() {
        for l in host_lines("search") {
            out.push_str(&l);
            out.push('\n');
        }
    } else {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut opts: Vec<String> = if options.is_empty() {
        host_lines("options")
            .iter()
            .flat_map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        options.to_vec()
    };
    if i.embedded_dns && !opts.iter().any(|o| o.starts_with("ndots:")) {
        opts.push("ndots:0".into());
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// Write the three files into the container's directory.
pub fn write(dir: &Path, c: &Container, i: &Inputs) -> Result<(), String> {
    let w = |name: &str, s: String| {
        let p = dir.join(name);
        std::fs::write(&p, s).map_err(|e| format!("write {name}: {e}"))?;
        // A remapped container's root owns them, as its files.
        if let Some(m) = &c.id_map {
            let (uid, gid) = m.root();
            std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                .map_err(|e| format!("chown {name}: {e}"))?;
        }
        Ok(())
    };
    w("hostname", format!("{}\n", i.hostname))?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if c.host_config.network_mode.is_host() {
        let mut h = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        h.push_str(&extra_hosts(&c.host_config, i.host_gateway)?);
        w("hosts", h)?;
        return w("resolv.conf", host_resolv);
    }
    w("hosts", hosts(c, i)?)?;
    w("resolv.conf", resolv_conf(c, i, &host_resolv))
}

/// Docker's legacy link variables for `alias` → `target` at `ip`.
pub fn link_env(me: &str, alias: &str, target: &Container, ip: Ipv4Addr) -> Vec<String> {
    let a = alias.to_ascii_uppercase().replace('-', "_");
    let mut env = vec![format!("{a}_NAME=/{}/{alias}", me.trim_start_matches('/'))];
    let mut ports: Vec<(u16, String)> = target
        .config
        .exposed_ports()
        .filter_map(|k| berth_api::network::parse_port_key(k))
        .collect();
    ports.sort();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{a}_PORT={proto}://{ip}:{p}"));
    }
    for (p, proto) in &ports {
        let k = format!("{a}_PORT_{p}_{}", proto.to_ascii_uppercase());
        env.push(format!("{k}={proto}://{ip}:{p}"));
        env.push(format!("{k}_ADDR={ip}"));
        env.push(format!("{k}_PORT={p}"));
        env.push(format!("{k}_PROTO={proto}"));
    }
    for e in target.config.env() {
        if let Some((k, v)) = e.split_once('=')
            && !["PATH", "HOME", "HOSTNAME"].contains(&k)
        {
            env.push(format!("{a}_ENV_{k}={v}"));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(links: &'a [(String, Ipv4Addr)], embedded: bool) -> Inputs<'a> {
        Inputs {
            ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
            daemon_dns: &[],
            links,
            host_gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            embedded_dns: embedded,
            hostname: "abc",
        }
    }

    #[test]
    fn hosts_file() {
        let mut c = Container::default();
        c.host_config.extra_hosts = Some(vec!["gw:host-gateway".into(), "v6:[::1]".into()]);
        c.config.domainname = "example".into();
        let links = [("db 123456789012 db".to_string(), Ipv4Addr::new(10, 0, 0, 3))];
        let h = hosts(&c, &inputs(&links, false)).unwrap();
        assert!(h.contains("10.0.0.1\tgw\n"));
        assert!(h.contains("::1\tv6\n"));
        assert!(h.contains("10.0.0.3\tdb 123456789012 db\n"));
        assert!(h.ends_with("10.0.0.2\tabc.example abc\n"));
        c.host_config.extra_hosts = Some(vec!["nocolon".into()]);
        assert!(hosts(&c, &inputs(&[], false)).is_err());
    }

    #[test]
    fn resolv_conf_choices() {
        let host = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\noptions edns0\n";
        let c = Container::default();
        assert_eq!(
            resolv_conf(&c, &inputs(&[], false), host),
            "nameserver 192.0.2.1\nsearch lan\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(&c, &inputs(&[], true), host),
            "nameserver 127.0.0.11\nsearch lan\noptions edns0 ndots:0\n"
        );
        let mut c = Container::default();
        c.host_config.dns = Some(vec!["192.0.2.9".into()]);
        c.host_config.dns_search = Some(vec!["a.b".into()]);
        c.host_config.dns_options = Some(vec!["ndots:2".into()]);
        assert_eq!(
            resolv_conf(&c, &inputs(&[], false), host),
            "nameserver 192.0.2.9\nsearch a.b\noptions ndots:2\n"
        );
        assert!(
            resolv_conf(
                &Container::default(),
                &inputs(&[], false),
                "nameserver 127.0.0.1\n"
            )
            .contains("8.8.8.8")
        );
    }

    #[test]
    fn link_variables() {
        let mut t = Container::default();
        t.config.exposed_ports = Some([("5432/tcp".to_string(), berth_api::Empty {})].into());
        t.config.env = Some(vec!["PATH=/x".into(), "PGDATA=/d".into()]);
        let env = link_env("/web", "db", &t, Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(env[0], "DB_NAME=/web/db");
        assert!(env.contains(&"DB_PORT=tcp://10.0.0.3:5432".to_string()));
        assert!(env.contains(&"DB_PORT_5432_TCP_ADDR=10.0.0.3".to_string()));
        assert!(env.contains(&"DB_ENV_PGDATA=/d".to_string()));
        assert!(!env.iter().any(|e| e.starts_with("DB_ENV_PATH")));
    }
}

//! A container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker
//! writes them: the container's own address and name, `--add-host`
//! (`host-gateway` included), `--link` entries, and a resolv.conf that
//! points at the embedded DNS on user-defined networks, else at `--dns` or
//! the host's reachable resolvers.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde_json::Value;

use super::{Container, spec};

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
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `--add-host` entries as hosts lines; `host-gateway` needs the bridge.
fn extra_hosts(c: &Container, host_gateway: Option<Ipv4Addr>) -> Result<String, String> {
    let mut out = String::new();
    for e in strings(&c.host_config["ExtraHosts"]) {
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
    let hostname = spec::hostname(c);
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    s.push_str(&extra_hosts(c, i.host_gateway)?);
    for (names, ip) in i.links {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    let names = match c.config["Domainname"].as_str().filter(|d| !d.is_empty()) {
        Some(d) => format!("{hostname}.{d} {hostname}"),
        None => hostname,
    };
    let ip =
        i.ip.map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.1.1".into());
    s.push_str(&format!("{ip}\t{names}\n"));
    Ok(s)
}

pub fn resolv_conf(c: &Container, i: &Inputs, embedded: bool, host: &str) -> String {
    let dns = strings(&c.host_config["Dns"]);
    let search = strings(&c.host_config["DnsSearch"]);
    let options = strings(&c.host_config["DnsOptions"]);
    let host_lines = |key: &str| -> Vec<String> {
        host.lines()
            .filter(|l| l.split_whitespace().next() == Some(key))
            .map(String::from)
            .collect()
    };
    let mut out = String::new();
    if embedded {
        out.push_str("nameserver 127.0.0.11\n");
    } else if !dns.is_empty() {
        for d in &dns {
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
        options
    };
    if embedded && !opts.iter().any(|o| o.starts_with("ndots:")) {
        opts.push("ndots:0".into());
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// Write the three files into the container's directory.
pub fn write(dir: &Path, c: &Container, i: &Inputs) -> Result<(), String> {
    let host_net = c.host_config["NetworkMode"].as_str() == Some("host");
    let w = |name: &str, s: String| {
        std::fs::write(dir.join(name), s).map_err(|e| format!("write {name}: {e}"))
    };
    w("hostname", format!("{}\n", spec::hostname(c)))?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_net {
        let mut h = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        h.push_str(&extra_hosts(c, i.host_gateway)?);
        w("hosts", h)?;
        return w("resolv.conf", host_resolv);
    }
    w("hosts", hosts(c, i)?)?;
    let embedded = super::network::uses_embedded_dns(c);
    w("resolv.conf", resolv_conf(c, i, embedded, &host_resolv))
}

/// Docker's legacy link variables for `alias` → `target` at `ip`.
pub fn link_env(me: &str, alias: &str, target: &Container, ip: Ipv4Addr) -> Vec<String> {
    let a = alias.to_ascii_uppercase().replace('-', "_");
    let mut env = vec![format!("{a}_NAME=/{}/{alias}", me.trim_start_matches('/'))];
    let mut ports: Vec<(u16, String)> = target.config["ExposedPorts"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| {
                    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                    Some((p.parse().ok()?, proto.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
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
    for e in strings(&target.config["Env"]) {
        if let Some((k, v)) = e.split_once('=')
            && !["PATH", "HOME", "HOSTNAME"].contains(&k)
        {
            env.push(format!("{a}_ENV_{k}={v}"));
        }
    }
    env
}

//! Firewall rules in berth's own nftables table: outgoing NAT for the
//! bridge's subnet, published ports (DNAT, also from the host itself and
//! from containers through the host's addresses), and forwarding. The whole
//! table is replaced in one `nft -f -` transaction per change, so it is
//! never half-written; nobody else's tables are touched.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::{Error, Result};

/// One published port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortMap {
    /// tcp or udp
    pub proto: String,
    /// None: every host address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container: Ipv4Addr,
    pub container_port: u16,
}

/// Everything the table says.
#[derive(Clone, Debug)]
pub struct Ruleset {
    pub table: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub ports: Vec<PortMap>,
    /// `--internal`: no way out of the bridge, none in.
    pub internal: bool,
}

impl Ruleset {
    pub fn render(&self) -> String {
        let (t, br, net) = (&self.table, &self.bridge, self.subnet);
        let mut ports = String::new();
        for p in &self.ports {
            let daddr = p
                .host_ip
                .filter(|a| !a.is_unspecified())
                .map(|a| format!("ip daddr {a} "))
                .unwrap_or_default();
            ports.push_str(&format!(
                "\t\t{daddr}{proto} dport {hp} dnat ip to {c}:{cp}\n",
                proto = p.proto,
                hp = p.host_port,
                c = p.container,
                cp = p.container_port
            ));
        }
        if self.internal {
            return format!(
                "table inet {t} {{
\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname \"{br}\" oifname != \"{br}\" drop
\t\toifname \"{br}\" iifname != \"{br}\" drop
\t}}
}}
"
            );
        }
        format!(
            "table inet {t} {{
\tchain ports {{
{ports}\t}}
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local jump ports
\t}}
\tchain output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local jump ports
\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr {net} oifname != \"{br}\" masquerade
\t\toifname \"{br}\" ip saddr 127.0.0.0/8 masquerade
\t\toifname \"{br}\" ip saddr {net} ct status dnat masquerade
\t}}
\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\toifname \"{br}\" ct state established,related accept
\t\toifname \"{br}\" ct status dnat accept
\t\tiifname \"{br}\" accept
\t\toifname \"{br}\" drop
\t}}
}}
"
        )
    }
}

async fn nft(script: String) -> Result<()> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Firewall(format!("run nft: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(script.as_bytes())
        .await
        .map_err(Error::Io)?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(Error::Io)?;
    if !out.status.success() {
        return Err(Error::Firewall(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Replace the table with `r` in one transaction.
pub async fn apply(r: &Ruleset) -> Result<()> {
    let t = &r.table;
    nft(format!(
        "add table inet {t}\ndelete table inet {t}\n{}",
        r.render()
    ))
    .await
}

/// Remove the table (nothing if it does not exist).
pub async fn remove(table: &str) -> Result<()> {
    nft(format!(
        "add table inet {table}\ndelete table inet {table}\n"
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ports_and_nat() {
        let r = Ruleset {
            table: "berth".into(),
            bridge: "berth0".into(),
            subnet: "172.17.0.0/16".parse().unwrap(),
            ports: vec![PortMap {
                proto: "tcp".into(),
                host_ip: Some(Ipv4Addr::new(127, 0, 0, 1)),
                host_port: 18080,
                container: Ipv4Addr::new(172, 17, 0, 2),
                container_port: 80,
            }],
            internal: false,
        };
        let s = r.render();
        assert!(
            s.contains("ip daddr 127.0.0.1 tcp dport 18080 dnat ip to 172.17.0.2:80"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"),
            "{s}"
        );
    }
}

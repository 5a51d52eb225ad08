//! The default bridge network: one bridge (`berth0`, `--bridge`), a subnet
//! that overlaps no host route (or `--bip`), an address and a veth pair per
//! container, outgoing NAT and published ports in berth's nftables table.
//!
//! Setup happens between the container's creation (its network namespace
//! exists) and its start, through netlink; the firewall table is rewritten
//! in one transaction per change from the records of running containers, so
//! a daemon restart restores it exactly, without duplicates.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;

use berth_net::{Netlink, Pool, PortMap, Ruleset, ipam};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Container, Engine};
use crate::error::{ApiError, ApiResult};

/// A container's place on the bridge (kept in its record).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub veth: String,
    pub ports: Vec<PortMap>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    bridge: String,
    pool: Pool,
}

pub struct BridgeNet {
    pub name: String,
    pub table: String,
    pub mtu: u32,
    pool: Mutex<Pool>,
    state: PathBuf,
    /// Serialises firewall rewrites.
    fw: tokio::sync::Mutex<()>,
    /// The bridge's interface index once known (0: look it up).
    index: std::sync::atomic::AtomicU32,
}

fn sysctl(path: &str, value: &str) {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return;
    }
    if let Err(e) = std::fs::write(path, value) {
        tracing::warn!("{path}: {e}");
    }
}

impl BridgeNet {
    /// Load or choose the subnet, make sure the bridge exists with its
    /// gateway address.
    pub async fn open(
        data_root: &std::path::Path,
        name: &str,
        bip: Option<&str>,
        mtu: u32,
    ) -> Result<BridgeNet, String> {
        let dir = data_root.join("network");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let state = dir.join(format!("{name}.json"));
        let saved: Option<Saved> = std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let pool = match (bip, saved) {
            (Some(b), saved) => {
                let net: ipnet::Ipv4Net =
                    b.parse().map_err(|e| format!("invalid --bip {b}: {e}"))?;
                match saved {
                    Some(s) if s.pool.subnet == net.trunc() && s.pool.gateway == net.addr() => {
                        s.pool
                    }
                    _ => Pool::new(net.trunc(), Some(net.addr())),
                }
            }
            (None, Some(s)) => s.pool,
            (None, None) => {
                let mut taken = ipam::host_routes();
                // Our own bridge's route is not a conflict.
                taken.retain(|_| true);
                let net = ipam::choose_subnet(&ipam::default_candidates(), &taken)
                    .ok_or("no free subnet for the default bridge: set --bip")?;
                Pool::new(net, None)
            }
        };
        let nl = Netlink::host().map_err(|e| e.to_string())?;
        if nl.index(name).await.map_err(|e| e.to_string())?.is_none()
            && let Some(r) = ipam::overlapping(&pool.subnet, &ipam::host_routes())
        {
            return Err(format!(
                "the bridge subnet {} overlaps the host route {r}: choose another with --bip",
                pool.subnet
            ));
        }
        nl.ensure_bridge(name, pool.gateway, pool.subnet.prefix_len(), mtu)
            .await
            .map_err(|e| e.to_string())?;
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
            "1",
        );
        sysctl("/proc/sys/net/ipv4/ip_forward", "1");
        let table = if name == "berth0" {
            "berth".to_string()
        } else {
            format!("berth-{name}")
        };
        let b = BridgeNet {
            name: name.to_string(),
            table,
            mtu,
            pool: Mutex::new(pool),
            state,
            fw: tokio::sync::Mutex::new(()),
            index: std::sync::atomic::AtomicU32::new(0),
        };
        b.save();
        Ok(b)
    }

    fn save(&self) {
        let pool = self.pool.lock().unwrap().clone();
        let tmp = self.state.with_extension("tmp");
        let data = serde_json::to_vec(&Saved {
            bridge: self.name.clone(),
            pool,
        })
        .expect("json");
        if std::fs::write(&tmp, data)
            .and_then(|_| std::fs::rename(&tmp, &self.state))
            .is_err()
        {
            tracing::warn!("cannot save {}", self.state.display());
        }
    }

    pub fn subnet(&self) -> (ipnet::Ipv4Net, Ipv4Addr) {
        let p = self.pool.lock().unwrap();
        (p.subnet, p.gateway)
    }
}

fn uses_bridge(c: &Container) -> bool {
    matches!(
        c.host_config["NetworkMode"].as_str().unwrap_or("default"),
        "" | "default" | "bridge"
    )
}

/// `80/tcp` → (80, "tcp").
fn port_proto(k: &str) -> Option<(u16, String)> {
    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    Some((p.parse().ok()?, proto.to_string()))
}

fn host_port_free(proto: &str, ip: Option<Ipv4Addr>, port: u16) -> bool {
    let addr = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    match proto {
        "udp" => std::net::UdpSocket::bind(addr).is_ok(),
        _ => std::net::TcpListener::bind(addr).is_ok(),
    }
}

impl Engine {
    /// Ports already published by running containers.
    fn published(&self) -> Vec<PortMap> {
        self.list()
            .into_iter()
            .filter(|c| c.running())
            .filter_map(|c| c.network)
            .flat_map(|a| a.ports)
            .collect()
    }

    /// The host ports a container asks for, chosen and checked before
    /// anything is set up ("port is already allocated").
    fn plan_ports(&self, c: &Container, ip: Ipv4Addr) -> ApiResult<Vec<PortMap>> {
        let mut wanted: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        if let Some(pb) = c.host_config["PortBindings"].as_object() {
            for (k, v) in pb {
                wanted.insert(k.clone(), v.as_array().cloned().unwrap_or_default());
            }
        }
        if c.host_config["PublishAllPorts"].as_bool() == Some(true)
            && let Some(exposed) = c.config["ExposedPorts"].as_object()
        {
            for k in exposed.keys() {
                wanted
                    .entry(k.clone())
                    .or_insert_with(|| vec![json!({"HostIp": "", "HostPort": ""})]);
            }
        }
        let mut taken = self.published();
        let mut out = Vec::new();
        for (k, binds) in wanted {
            let Some((cport, proto)) = port_proto(&k) else {
                return Err(ApiError::bad_request(format!(
                    "invalid port specification: \"{k}\""
                )));
            };
            for b in binds {
                let host_ip = b["HostIp"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<Ipv4Addr>()
                            .map_err(|_| ApiError::bad_request(format!("invalid IP address: {s}")))
                    })
                    .transpose()?;
                let clash = |p: &PortMap, port: u16| {
                    p.proto == proto
                        && p.host_port == port
                        && (p.host_ip.is_none() || host_ip.is_none() || p.host_ip == host_ip)
                };
                let hp = b["HostPort"].as_str().unwrap_or("");
                let port = if hp.is_empty() || hp == "0" {
                    (49153..=60999)
                        .find(|p| {
                            !taken.iter().any(|t| clash(t, *p))
                                && host_port_free(&proto, host_ip, *p)
                        })
                        .ok_or_else(|| ApiError::internal("no free host port to publish"))?
                } else {
                    let p: u16 = hp
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid host port: {hp}")))?;
                    if taken.iter().any(|t| clash(t, p)) || !host_port_free(&proto, host_ip, p) {
                        return Err(ApiError::internal(format!(
                            "driver failed programming external connectivity on endpoint {}: Bind for {}:{p} failed: port is already allocated",
                            c.name.trim_start_matches('/'),
                            host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
                        )));
                    }
                    p
                };
                let m = PortMap {
                    proto: proto.clone(),
                    host_ip,
                    host_port: port,
                    container: ip,
                    container_port: cport,
                };
                taken.push(m.clone());
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Rewrite the firewall table from the running containers' ports
    /// (plus `extra`, a container being started).
    pub async fn apply_firewall(&self, extra: &[PortMap]) -> ApiResult<()> {
        let Some(b) = &self.bridge else { return Ok(()) };
        let _g = b.fw.lock().await;
        let mut ports = self.published();
        ports.extend(extra.iter().cloned());
        let (subnet, _) = b.subnet();
        berth_net::firewall::apply(&Ruleset {
            table: b.table.clone(),
            bridge: b.name.clone(),
            subnet,
            ports,
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Before the container's process exists: its address and ports.
    pub fn plan_network(&self, c: &Container) -> ApiResult<Option<Attachment>> {
        let Some(b) = &self.bridge else {
            return Ok(None);
        };
        if !uses_bridge(c) {
            return Ok(None);
        }
        let (ip, subnet, gateway) = {
            let mut p = b.pool.lock().unwrap();
            let ip = p.allocate(&c.id).ok_or_else(|| {
                ApiError::internal(format!(
                    "no available IPv4 address on network bridge ({})",
                    p.subnet
                ))
            })?;
            (ip, p.subnet, p.gateway)
        };
        b.save();
        let ports = match self.plan_ports(c, ip) {
            Ok(p) => p,
            Err(e) => {
                self.release_address(&c.id);
                return Err(e);
            }
        };
        Ok(Some(Attachment {
            ip: Some(ip),
            prefix: subnet.prefix_len(),
            gateway: Some(gateway),
            mac: ipam::mac_string(ipam::mac_for(ip)),
            // Unique per start: the last run's veth may still be going away.
            veth: format!("veth{}", &super::names::new_id()[..7]),
            ports,
        }))
    }

    fn release_address(&self, id: &str) {
        if let Some(b) = &self.bridge {
            b.pool.lock().unwrap().release(id);
            b.save();
        }
    }

    /// The container's namespace exists (its init is `pid`): plug it in.
    pub async fn connect_network(&self, a: &Attachment, pid: i32) -> ApiResult<()> {
        let Some(b) = &self.bridge else { return Ok(()) };
        let (Some(ip), Some(gw)) = (a.ip, a.gateway) else {
            return Ok(());
        };
        let fail = |e: berth_net::Error| ApiError::internal(format!("network setup: {e}"));
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| ApiError::internal(format!("network namespace of {pid}: {e}")))?;
        let host = Netlink::host().map_err(fail)?;
        let br = match b.index.load(std::sync::atomic::Ordering::Relaxed) {
            0 => {
                let i = host
                    .ensure_bridge(&b.name, gw, a.prefix, b.mtu)
                    .await
                    .map_err(fail)?;
                b.index.store(i, std::sync::atomic::Ordering::Relaxed);
                i
            }
            i => i,
        };
        let mac = ipam::mac_for(ip);
        if let Err(e) = host.add_veth(&a.veth, br, b.mtu, &ns, "eth0", mac).await {
            // The bridge may have been recreated under us: look it up again once.
            b.index.store(0, std::sync::atomic::Ordering::Relaxed);
            return Err(fail(e));
        }
        let inside = Netlink::in_netns(&ns).map_err(fail)?;
        if let Err(e) = inside
            .configure_container("eth0", ip, a.prefix, Some(gw))
            .await
        {
            let _ = host.delete(&a.veth).await;
            return Err(fail(e));
        }
        // Outgoing NAT is in place since the daemon started; only published
        // ports change the table.
        if !a.ports.is_empty()
            && let Err(e) = self.apply_firewall(&a.ports).await
        {
            let _ = host.delete(&a.veth).await;
            return Err(e);
        }
        Ok(())
    }

    /// The container stopped (or failed to start): unplug, free, rewrite.
    pub async fn disconnect_network(&self, id: &str, a: &Attachment, exited: bool) {
        if self.bridge.is_none() {
            return;
        }
        // The veth goes with the container's namespace when its last process
        // exits; deleting it here would only wait for the kernel (~10 ms).
        if !exited && let Ok(nl) = Netlink::host() {
            let _ = nl.delete(&a.veth).await;
        }
        self.release_address(id);
        if !a.ports.is_empty()
            && let Err(e) = self.apply_firewall(&[]).await
        {
            tracing::warn!("firewall: {e}");
        }
    }
}

/// `NetworkSettings` for inspect.
pub fn settings(c: &Container) -> Value {
    let mut ports = serde_json::Map::new();
    if let Some(exposed) = c.config["ExposedPorts"].as_object() {
        for k in exposed.keys() {
            ports.insert(k.clone(), Value::Null);
        }
    }
    let a = c
        .network
        .clone()
        .filter(|_| c.running())
        .unwrap_or_default();
    for p in &a.ports {
        let k = format!("{}/{}", p.container_port, p.proto);
        let e = ports.entry(k).or_insert_with(|| json!([]));
        if !e.is_array() {
            *e = json!([]);
        }
        e.as_array_mut().expect("array").push(json!({
            "HostIp": p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
            "HostPort": p.host_port.to_string(),
        }));
    }
    let ip = a.ip.map(|i| i.to_string()).unwrap_or_default();
    let gw = a.gateway.map(|i| i.to_string()).unwrap_or_default();
    let mut networks = serde_json::Map::new();
    let mode = c.host_config["NetworkMode"].as_str().unwrap_or("default");
    let net_name = if uses_bridge(c) { "bridge" } else { mode };
    if net_name != "none" || c.running() {
        networks.insert(
            net_name.to_string(),
            json!({"IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": a.mac,
                "NetworkID": "", "EndpointID": "", "Gateway": gw, "IPAddress": ip,
                "IPPrefixLen": a.prefix, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DriverOpts": null, "DNSNames": null}),
        );
    }
    json!({
        "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": false,
        "Ports": ports, "Gateway": gw, "IPAddress": ip, "IPPrefixLen": a.prefix,
        "MacAddress": a.mac, "Networks": networks,
    })
}

/// `Ports` for `docker ps`.
pub fn ps_ports(c: &Container) -> Value {
    let Some(a) = c.network.as_ref().filter(|_| c.running()) else {
        return json!([]);
    };
    Value::Array(
        a.ports
            .iter()
            .map(|p| {
                json!({"IP": p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                    "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto})
            })
            .collect(),
    )
}

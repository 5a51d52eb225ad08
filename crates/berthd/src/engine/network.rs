//! Bridge networks: the default one (`bridge`: `berth0`, `--bridge`,
//! `--bip`) and user-defined ones (`network create`). Each has a Linux
//! bridge, a subnet that overlaps no host route and no other network, an
//! address pool, and its own nftables table (outgoing NAT, published ports,
//! isolation from the other bridges).
//!
//! A container is plugged in between its creation (its network namespace
//! exists) and its start: one veth per network, created over netlink with
//! its peer already inside the namespace. Containers on user-defined
//! networks resolve each other by name, alias and short id through the
//! embedded DNS server at 127.0.0.11 (a socket opened inside their
//! namespace, served by the daemon). Tables are rewritten in one transaction
//! per change from the records of running containers, so a daemon restart
//! restores them exactly, without duplicates.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use berth_net::{Netlink, Pool, PortMap, Ruleset, ipam};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Container, Engine, now_rfc3339};
use crate::error::{ApiError, ApiResult};

/// The default network's name, as Docker calls it.
pub const DEFAULT: &str = "bridge";
const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// A container's place on one network (kept in its record while it runs).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub veth: String,
    #[serde(default)]
    pub ports: Vec<PortMap>,
    #[serde(default)]
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The interface name inside the container (eth0, eth1, …).
    #[serde(default)]
    pub dev: String,
}

/// What a container asked of a network (kept while it is stopped too).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointRequest {
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    /// `--mac-address`.
    #[serde(default)]
    pub mac: Option<String>,
}

/// A network as persisted in `<data-root>/network/<id>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetDef {
    pub id: String,
    pub name: String,
    /// The Linux bridge.
    pub iface: String,
    pub pool: Pool,
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub options: Map<String, Value>,
    pub created: String,
}

pub struct BridgeNet {
    def: Mutex<NetDef>,
    pub mtu: u32,
    state: PathBuf,
    /// Serialises firewall rewrites.
    fw: tokio::sync::Mutex<()>,
    /// The bridge's interface index once known (0: look it up).
    index: AtomicU32,
    /// Serialises writes of the state file; each writer snapshots the
    /// definition after taking it, so the last write is the newest state.
    saving: Mutex<()>,
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
    fn new(def: NetDef, dir: &Path, mtu: u32) -> BridgeNet {
        BridgeNet {
            state: dir.join(format!("{}.json", def.id)),
            def: Mutex::new(def),
            mtu,
            fw: tokio::sync::Mutex::new(()),
            index: AtomicU32::new(0),
            saving: Mutex::new(()),
        }
    }

    pub fn def(&self) -> NetDef {
        self.def.lock().unwrap().clone()
    }

    /// Look at the definition without copying it (and its allocations).
    fn with<R>(&self, f: impl FnOnce(&NetDef) -> R) -> R {
        f(&self.def.lock().unwrap())
    }

    pub fn name(&self) -> String {
        self.with(|d| d.name.clone())
    }

    fn table(&self) -> String {
        self.with(|d| {
            if d.iface == "berth0" {
                "berth".into()
            } else {
                format!("berth-{}", d.iface)
            }
        })
    }

    /// Persist the definition (address pool included). Two releases racing
    /// used to write their snapshots in the wrong order, leaving a freed
    /// address allocated on disk: the snapshot is now taken under the
    /// write lock.
    fn save(&self) {
        let _w = self.saving.lock().unwrap();
        let data = self.with(|d| serde_json::to_vec(d).expect("json"));
        let tmp = self.state.with_extension("tmp");
        if std::fs::write(&tmp, data)
            .and_then(|_| std::fs::rename(&tmp, &self.state))
            .is_err()
        {
            tracing::warn!("cannot save {}", self.state.display());
        }
    }

    /// The bridge exists, up, with the gateway address; sysctls set.
    async fn ensure(&self) -> Result<u32, String> {
        let d = self.def();
        let nl = Netlink::host().map_err(|e| e.to_string())?;
        let i = nl
            .ensure_bridge(
                &d.iface,
                d.pool.gateway,
                d.pool.subnet.prefix_len(),
                self.mtu,
            )
            .await
            .map_err(|e| e.to_string())?;
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", d.iface),
            "1",
        );
        if !d.internal {
            sysctl("/proc/sys/net/ipv4/ip_forward", "1");
        }
        self.index.store(i, Ordering::Relaxed);
        Ok(i)
    }

    fn allocate(&self, owner: &str, want: Option<Ipv4Addr>) -> ApiResult<Ipv4Addr> {
        let ip = {
            let mut d = self.def.lock().unwrap();
            let NetDef {
                pool,
                ip_range,
                name,
                ..
            } = &mut *d;
            if let Some(a) = pool
                .allocated
                .iter()
                .find(|(_, o)| *o == owner)
                .map(|(a, _)| *a)
            {
                a
            } else if let Some(w) = want {
                if !pool.subnet.contains(&w) || w == pool.gateway {
                    return Err(ApiError::bad_request(format!(
                        "Invalid address {w}: It does not belong to any of this network's subnets"
                    )));
                }
                if pool.allocated.contains_key(&w) {
                    return Err(ApiError::new(
                        axum::http::StatusCode::FORBIDDEN,
                        format!("Address already in use: {w}"),
                    ));
                }
                pool.allocated.insert(w, owner.to_string());
                w
            } else {
                let range = ip_range.unwrap_or(pool.subnet);
                let free = range.hosts().find(|a| {
                    pool.subnet.contains(a) && *a != pool.gateway && !pool.allocated.contains_key(a)
                });
                let Some(free) = free else {
                    return Err(ApiError::internal(format!(
                        "no available IPv4 addresses on this network's address pools: {name}"
                    )));
                };
                pool.allocated.insert(free, owner.to_string());
                free
            }
        };
        self.save();
        Ok(ip)
    }

    /// `owner`'s endpoint on this network as `req` asks (address, MAC),
    /// seen inside the container as `dev`; no ports yet.
    fn endpoint(&self, owner: &str, req: &EndpointRequest, dev: String) -> ApiResult<Attachment> {
        let mac = match &req.mac {
            Some(m) => Some(
                ipam::parse_mac(m)
                    .ok_or_else(|| ApiError::bad_request(format!("invalid MAC address: {m}")))?,
            ),
            None => None,
        };
        let ip = self.allocate(owner, req.ipv4)?;
        Ok(self.with(|d| Attachment {
            ip: Some(ip),
            prefix: d.pool.subnet.prefix_len(),
            gateway: Some(d.pool.gateway),
            mac: ipam::mac_string(mac.unwrap_or_else(|| ipam::mac_for(ip))),
            // Unique per start: the last run's veth may still be going away.
            veth: format!("veth{}", &super::names::new_id()[..7]),
            ports: Vec::new(),
            network_id: d.id.clone(),
            aliases: req.aliases.clone(),
            dev,
        }))
    }

    fn release(&self, owner: &str) {
        self.def.lock().unwrap().pool.release(owner);
        self.save();
    }
}

/// The networks of a daemon: the default bridge (unless `--bridge none`)
/// and the user-defined ones.
pub struct Networks {
    dir: PathBuf,
    mtu: u32,
    list: Mutex<Vec<Arc<BridgeNet>>>,
    /// Embedded DNS servers, per container.
    dns: Mutex<BTreeMap<String, Vec<tokio::task::JoinHandle<()>>>>,
    /// `--dns`: where containers' queries go instead of the host's resolvers.
    pub upstream: Vec<std::net::IpAddr>,
    /// Where automatic subnets come from (daemon.json default-address-pools,
    /// else Docker's defaults).
    candidates: Vec<Ipv4Net>,
}

/// The subnets of daemon.json's `default-address-pools` (at most 4096 per
/// pool), or Docker's defaults.
pub fn candidates(pools: &[crate::config::AddressPool]) -> Result<Vec<Ipv4Net>, String> {
    if pools.is_empty() {
        return Ok(ipam::default_candidates());
    }
    let mut out = Vec::new();
    for p in pools {
        let base: Ipv4Net = p
            .base
            .parse()
            .map_err(|e| format!("default-address-pools: invalid base {}: {e}", p.base))?;
        let subs = base.trunc().subnets(p.size).map_err(|_| {
            format!(
                "default-address-pools: size {} does not fit in {}",
                p.size, p.base
            )
        })?;
        out.extend(subs.take(4096));
    }
    Ok(out)
}

fn taken_subnets(nets: &[Arc<BridgeNet>]) -> Vec<Ipv4Net> {
    let mut taken = ipam::host_routes();
    let ours: Vec<Ipv4Net> = nets.iter().map(|n| n.def().pool.subnet).collect();
    // Routes of our own bridges are not conflicts with themselves.
    taken.retain(|r| !ours.contains(r));
    taken.extend(ours);
    taken
}

impl Networks {
    pub async fn open(
        data_root: &Path,
        bridge: &str,
        bip: Option<&str>,
        mtu: u32,
        upstream: Vec<std::net::IpAddr>,
        candidates: Vec<Ipv4Net>,
    ) -> Result<Networks, String> {
        let dir = data_root.join("network");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut list = Vec::new();
        for e in std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(d) = std::fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<NetDef>(&b).ok())
            {
                list.push(Arc::new(BridgeNet::new(d, &dir, mtu)));
            }
        }
        // The default bridge: as configured (its subnet kept across restarts).
        list.retain(|n| n.name() != DEFAULT || bridge != "none");
        if bridge != "none" {
            let existing = list.iter().position(|n| n.name() == DEFAULT);
            let want: Option<Ipv4Net> = match bip {
                Some(b) => Some(b.parse().map_err(|e| format!("invalid --bip {b}: {e}"))?),
                None => None,
            };
            let keep = existing.filter(|&i| {
                let d = list[i].def();
                d.iface == bridge
                    && want.is_none_or(|w| d.pool.subnet == w.trunc() && d.pool.gateway == w.addr())
            });
            if keep.is_none() {
                if let Some(i) = existing {
                    let old = list.remove(i);
                    let _ = std::fs::remove_file(&old.state);
                }
                let others: Vec<Arc<BridgeNet>> = list.clone();
                let pool = match want {
                    Some(w) => Pool::new(w.trunc(), Some(w.addr())),
                    None => {
                        let net = ipam::choose_subnet(&candidates, &taken_subnets(&others))
                            .ok_or("no free subnet for the default bridge: set --bip")?;
                        Pool::new(net, None)
                    }
                };
                let def = NetDef {
                    id: super::names::new_id(),
                    name: DEFAULT.into(),
                    iface: bridge.into(),
                    pool,
                    ip_range: None,
                    internal: false,
                    labels: Map::new(),
                    options: Map::new(),
                    created: now_rfc3339(),
                };
                let n = Arc::new(BridgeNet::new(def, &dir, mtu));
                n.save();
                list.insert(0, n);
            }
        }
        for n in &list {
            let d = n.def();
            let exists = Netlink::host()
                .map_err(|e| e.to_string())?
                .index(&d.iface)
                .await
                .map_err(|e| e.to_string())?
                .is_some();
            if !exists && let Some(r) = ipam::overlapping(&d.pool.subnet, &ipam::host_routes()) {
                return Err(format!(
                    "network {}: subnet {} overlaps the host route {r}",
                    d.name, d.pool.subnet
                ));
            }
            n.ensure()
                .await
                .map_err(|e| format!("network {}: {e}", d.name))?;
        }
        warn_forward_drop().await;
        Ok(Networks {
            dir,
            mtu,
            list: Mutex::new(list),
            dns: Mutex::new(BTreeMap::new()),
            upstream,
            candidates,
        })
    }

    pub fn all(&self) -> Vec<Arc<BridgeNet>> {
        self.list.lock().unwrap().clone()
    }

    /// By name, full id or unique id prefix.
    pub fn find(&self, r: &str) -> Option<Arc<BridgeNet>> {
        let l = self.list.lock().unwrap();
        if let Some(n) = l.iter().find(|n| n.with(|d| d.name == r || d.id == r)) {
            return Some(n.clone());
        }
        let m: Vec<&Arc<BridgeNet>> = l
            .iter()
            .filter(|n| n.with(|d| d.id.starts_with(r)))
            .collect();
        (m.len() == 1 && !r.is_empty()).then(|| m[0].clone())
    }
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

fn forbidden(m: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::FORBIDDEN, m)
}

/// The body of `POST /networks/create`, checked.
pub struct CreateNetwork {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub labels: Map<String, Value>,
    pub options: Map<String, Value>,
    pub driver: String,
}

impl Engine {
    fn nets(&self) -> ApiResult<&Networks> {
        self.networks
            .as_ref()
            .ok_or_else(|| ApiError::internal("networking is not available"))
    }

    pub fn network(&self, r: &str) -> ApiResult<Arc<BridgeNet>> {
        self.nets()?
            .find(r)
            .ok_or_else(|| ApiError::not_found(format!("network {r} not found")))
    }

    /// Ports already published by running containers.
    fn published(&self) -> Vec<PortMap> {
        self.list()
            .into_iter()
            .filter(|c| c.running())
            .flat_map(|c| c.endpoints.into_values())
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
        if wanted.is_empty() {
            // Most containers publish nothing: no need to look at the others.
            return Ok(Vec::new());
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

    /// Rewrite one network's table from the running containers' ports on
    /// it (plus `extra`, a container being started).
    pub async fn apply_firewall(&self, net: &BridgeNet, extra: &[PortMap]) -> ApiResult<()> {
        let _g = net.fw.lock().await;
        let d = net.def();
        let mut ports: Vec<PortMap> = self
            .list()
            .into_iter()
            .filter(|c| c.running())
            .filter_map(|c| c.endpoints.get(&d.name).cloned())
            .flat_map(|a| a.ports)
            .collect();
        ports.extend(extra.iter().cloned());
        berth_net::firewall::apply(&Ruleset {
            table: net.table(),
            bridge: d.iface.clone(),
            subnet: d.pool.subnet,
            ports,
            internal: d.internal,
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Every table, from the records (daemon start).
    pub async fn apply_all_firewalls(&self) {
        let Ok(nets) = self.nets() else { return };
        for n in nets.all() {
            if let Err(e) = self.apply_firewall(&n, &[]).await {
                tracing::warn!("firewall of {}: {e}", n.name());
            }
        }
    }

    /// Before the container's process exists: an address on each of its
    /// networks, its ports (published on the first network).
    pub fn plan_network(&self, c: &Container) -> ApiResult<BTreeMap<String, Attachment>> {
        let mut out = BTreeMap::new();
        if self.networks.is_none() {
            return Ok(out);
        }
        for (i, (name, req)) in c.net_requests.iter().enumerate() {
            let res = (|| {
                let n = self.network(name)?;
                let mut a = n.endpoint(&c.id, req, format!("eth{i}"))?;
                // Ports are published on the first network.
                if out.is_empty()
                    && let Some(ip) = a.ip
                {
                    a.ports = self.plan_ports(c, ip)?;
                }
                Ok::<_, ApiError>(a)
            })();
            match res {
                Ok(a) => {
                    out.insert(name.clone(), a);
                }
                Err(e) => {
                    for n in out.keys() {
                        if let Ok(net) = self.network(n) {
                            net.release(&c.id);
                        }
                    }
                    if let Ok(net) = self.network(name) {
                        net.release(&c.id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Plug one endpoint into the namespace of `pid`. The first one (or
    /// `default_route`) gets the default route.
    pub async fn connect_endpoint(
        &self,
        name: &str,
        a: &Attachment,
        pid: i32,
        default_route: bool,
    ) -> ApiResult<()> {
        let n = self.network(name)?;
        let (Some(ip), Some(gw)) = (a.ip, a.gateway) else {
            return Ok(());
        };
        let fail = |e: berth_net::Error| ApiError::internal(format!("network setup: {e}"));
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| ApiError::internal(format!("network namespace of {pid}: {e}")))?;
        let host = Netlink::host().map_err(fail)?;
        let br = match n.index.load(Ordering::Relaxed) {
            0 => n.ensure().await.map_err(ApiError::internal)?,
            i => i,
        };
        let mac = ipam::parse_mac(&a.mac).unwrap_or_else(|| ipam::mac_for(ip));
        if let Err(e) = host.add_veth(&a.veth, br, n.mtu, &ns, &a.dev, mac).await {
            // The bridge may have been recreated under us: look it up again next time.
            n.index.store(0, Ordering::Relaxed);
            return Err(fail(e));
        }
        let internal = n.def().internal;
        let inside = Netlink::in_netns(&ns).map_err(fail)?;
        let route = (default_route && !internal).then_some(gw);
        if let Err(e) = inside
            .configure_container(&a.dev, ip, a.prefix, route)
            .await
        {
            let _ = host.delete(&a.veth).await;
            return Err(fail(e));
        }
        // Outgoing NAT is in place since the network exists; only published
        // ports change the table.
        if !a.ports.is_empty()
            && let Err(e) = self.apply_firewall(&n, &a.ports).await
        {
            let _ = host.delete(&a.veth).await;
            return Err(e);
        }
        Ok(())
    }

    /// All of a starting container's endpoints, and its DNS server when it
    /// is on a user-defined network.
    pub async fn connect_network(
        self: &Arc<Self>,
        c: &Container,
        eps: &BTreeMap<String, Attachment>,
        pid: i32,
    ) -> ApiResult<()> {
        // The default route goes with the first network the user named.
        let first = c.net_requests.keys().next().cloned();
        for (name, a) in eps {
            self.connect_endpoint(name, a, pid, Some(name) == first.as_ref())
                .await?;
        }
        if eps.keys().any(|n| n != DEFAULT) {
            self.start_dns(&c.id, pid)?;
        }
        Ok(())
    }

    /// Unplug and free one endpoint. `exited`: the namespace is gone, and the
    /// veth with it (deleting it ourselves would only wait for the kernel).
    pub async fn disconnect_endpoint(&self, id: &str, name: &str, a: &Attachment, exited: bool) {
        if !exited && let Ok(nl) = Netlink::host() {
            let _ = nl.delete(&a.veth).await;
        }
        if let Ok(n) = self.network(name) {
            n.release(id);
            if !a.ports.is_empty()
                && let Err(e) = self.apply_firewall(&n, &[]).await
            {
                tracing::warn!("firewall: {e}");
            }
        }
    }

    pub async fn disconnect_network(
        &self,
        id: &str,
        eps: &BTreeMap<String, Attachment>,
        exited: bool,
    ) {
        self.stop_dns(id);
        for (name, a) in eps {
            self.disconnect_endpoint(id, name, a, exited).await;
        }
    }

    /// The embedded DNS server inside the container's namespace.
    pub fn start_dns(self: &Arc<Self>, id: &str, pid: i32) -> ApiResult<()> {
        let Ok(nets) = self.nets() else { return Ok(()) };
        if nets.dns.lock().unwrap().contains_key(id) {
            return Ok(());
        }
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| ApiError::internal(format!("network namespace of {pid}: {e}")))?;
        let (udp, tcp) = bind_in_netns(&ns)
            .map_err(|e| ApiError::internal(format!("embedded DNS server: {e}")))?;
        let weak = Arc::downgrade(self);
        let cid = id.to_string();
        let lookup: berth_net::dns::Lookup =
            Arc::new(move |name: &str| weak.upgrade().and_then(|e| e.resolve_name(&cid, name)));
        let own: Vec<std::net::SocketAddr> = self
            .get(id)
            .ok()
            .and_then(|c| c.host_config["Dns"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str()?.parse::<std::net::IpAddr>().ok())
            .map(|a| std::net::SocketAddr::new(a, 53))
            .collect();
        let upstream = if !own.is_empty() {
            own
        } else if nets.upstream.is_empty() {
            berth_net::dns::upstreams(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            )
        } else {
            nets.upstream
                .iter()
                .map(|a| std::net::SocketAddr::new(*a, 53))
                .collect()
        };
        let h = berth_net::dns::spawn(udp, Some(tcp), lookup, upstream);
        nets.dns.lock().unwrap().insert(id.to_string(), vec![h]);
        Ok(())
    }

    pub fn stop_dns(&self, id: &str) {
        if let Ok(nets) = self.nets()
            && let Some(hs) = nets.dns.lock().unwrap().remove(id)
        {
            for h in hs {
                h.abort();
            }
        }
    }

    /// Docker's embedded DNS: containers sharing a user-defined network with
    /// `asker` are found by name, alias and short id, at their address on
    /// that network.
    fn resolve_name(&self, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let map = self.containers.lock().unwrap();
        let me = &map.get(asker)?.c;
        let mine: Vec<&String> = me.endpoints.keys().filter(|n| *n != DEFAULT).collect();
        let mut out = Vec::new();
        for c in map.values().map(|e| &e.c).filter(|c| c.running()) {
            for (net, a) in &c.endpoints {
                if !mine.contains(&net) {
                    continue;
                }
                let hit = c.name.trim_start_matches('/').eq_ignore_ascii_case(name)
                    || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(name))
                    || (name.len() == 12 && c.id.starts_with(name))
                    || c.config["Hostname"]
                        .as_str()
                        .is_some_and(|h| h.eq_ignore_ascii_case(name));
                if hit && let Some(ip) = a.ip {
                    out.push(ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    // ------------------------------------------------------------ network API

    pub async fn create_network(&self, r: CreateNetwork) -> ApiResult<String> {
        let nets = self.nets()?;
        if r.driver != "bridge" {
            return Err(ApiError::not_found(format!(
                "plugin \"{}\" not found",
                r.driver
            )));
        }
        if r.name.is_empty() || !super::names::valid(&r.name) && r.name.len() > 1 {
            return Err(ApiError::bad_request(format!(
                "invalid network name: {}",
                r.name
            )));
        }
        if nets.find(&r.name).is_some_and(|n| n.name() == r.name)
            || ["host", "none", DEFAULT].contains(&r.name.as_str())
        {
            return Err(ApiError::conflict(format!(
                "network with name {} already exists",
                r.name
            )));
        }
        let all = nets.all();
        let cidr = |s: &str| -> ApiResult<Ipv4Net> {
            s.parse::<Ipv4Net>()
                .map_err(|_| ApiError::bad_request(format!("invalid CIDR address: {s}")))
        };
        let subnet = match &r.subnet {
            Some(s) => {
                let net = cidr(s)?.trunc();
                if let Some(o) = ipam::overlapping(&net, &taken_subnets(&all)) {
                    return Err(forbidden(format!(
                        "Pool overlaps with other one on this address space ({o})"
                    )));
                }
                net
            }
            None => ipam::choose_subnet(&nets.candidates, &taken_subnets(&all))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    )
                })?,
        };
        let gateway = match &r.gateway {
            Some(g) => {
                let g: Ipv4Addr = g
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid gateway address: {g}")))?;
                if !subnet.contains(&g) {
                    return Err(forbidden(format!("no matching subnet for gateway {g}")));
                }
                Some(g)
            }
            None => None,
        };
        let ip_range = match &r.ip_range {
            Some(s) => {
                let range = cidr(s)?.trunc();
                if !subnet.contains(&range.network()) || range.prefix_len() < subnet.prefix_len() {
                    return Err(forbidden(format!("no matching subnet for range {range}")));
                }
                Some(range)
            }
            None => None,
        };
        let id = super::names::new_id();
        let iface = r
            .options
            .get("com.docker.network.bridge.name")
            .unwrap_or(&Value::Null)
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if iface.len() > 15 {
            return Err(ApiError::bad_request(format!(
                "bridge name {iface} is longer than 15 characters"
            )));
        }
        let def = NetDef {
            id: id.clone(),
            name: r.name,
            iface,
            pool: Pool::new(subnet, gateway),
            ip_range,
            internal: r.internal,
            labels: r.labels,
            options: r.options,
            created: now_rfc3339(),
        };
        let n = Arc::new(BridgeNet::new(def, &nets.dir, nets.mtu));
        if let Err(e) = n.ensure().await {
            let _ = remove_bridge(&n).await;
            return Err(ApiError::internal(format!("create bridge: {e}")));
        }
        if let Err(e) = self.apply_firewall(&n, &[]).await {
            let _ = remove_bridge(&n).await;
            return Err(e);
        }
        n.save();
        nets.list.lock().unwrap().push(n.clone());
        let d = n.def();
        self.events.emit("network", "create", &id, {
            let mut m = Map::new();
            m.insert("name".into(), json!(d.name));
            m.insert("type".into(), json!("bridge"));
            m
        });
        Ok(id)
    }

    pub async fn remove_network(&self, r: &str) -> ApiResult<()> {
        let nets = self.nets()?;
        if ["host", "none"].contains(&r) {
            return Err(forbidden(format!(
                "{r} is a pre-defined network and cannot be removed"
            )));
        }
        let n = self.network(r)?;
        let d = n.def();
        if d.name == DEFAULT {
            return Err(forbidden(format!(
                "{DEFAULT} is a pre-defined network and cannot be removed"
            )));
        }
        let users: Vec<String> = self
            .list()
            .into_iter()
            .filter(|c| c.running() && c.endpoints.contains_key(&d.name))
            .map(|c| c.id)
            .collect();
        if !users.is_empty() {
            return Err(forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                d.name, d.id
            )));
        }
        remove_bridge(&n).await.map_err(ApiError::internal)?;
        let _ = std::fs::remove_file(&n.state);
        nets.list.lock().unwrap().retain(|x| x.def().id != d.id);
        // Stopped containers forget it.
        for c in self.list() {
            if c.net_requests.contains_key(&d.name) {
                let _ = self.update_durable(&c.id, |c| c.net_requests.remove(&d.name));
            }
        }
        self.events.emit("network", "destroy", &d.id, {
            let mut m = Map::new();
            m.insert("name".into(), json!(d.name));
            m.insert("type".into(), json!("bridge"));
            m
        });
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect(
        self: &Arc<Self>,
        net: &str,
        container: &str,
        req: EndpointRequest,
    ) -> ApiResult<()> {
        let n = self.network(net)?;
        let d = n.def();
        let id = self.resolve(container)?;
        let lock = self.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.get(&id)?;
        let mode = c.host_config["NetworkMode"].as_str().unwrap_or("default");
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(ApiError::bad_request(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if c.net_requests.contains_key(&d.name) {
            return Err(forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name.trim_start_matches('/'),
                d.name
            )));
        }
        if c.running() {
            let a = n.endpoint(&id, &req, format!("eth{}", next_dev(&c)))?;
            if let Err(e) = self.connect_endpoint(&d.name, &a, c.state.pid, false).await {
                n.release(&id);
                return Err(e);
            }
            if d.name != DEFAULT {
                self.start_dns(&id, c.state.pid)?;
            }
            self.update_durable(&id, |c| {
                c.endpoints.insert(d.name.clone(), a);
                c.net_requests.insert(d.name.clone(), req);
            })?;
        } else {
            self.update_durable(&id, |c| {
                c.net_requests.insert(d.name.clone(), req);
            })?;
        }
        self.events.emit("network", "connect", &d.id, {
            let mut m = Map::new();
            m.insert("container".into(), json!(id));
            m.insert("name".into(), json!(d.name));
            m.insert("type".into(), json!("bridge"));
            m
        });
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(&self, net: &str, container: &str) -> ApiResult<()> {
        let n = self.network(net)?;
        let d = n.def();
        let id = self.resolve(container)?;
        let lock = self.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.get(&id)?;
        if !c.net_requests.contains_key(&d.name) && !c.endpoints.contains_key(&d.name) {
            return Err(forbidden(format!(
                "container {id} is not connected to network {}",
                d.name
            )));
        }
        let ep = self.update_durable(&id, |c| {
            c.net_requests.remove(&d.name);
            c.endpoints.remove(&d.name)
        })?;
        if let Some(a) = ep {
            self.disconnect_endpoint(&id, &d.name, &a, false).await;
        }
        self.events.emit("network", "disconnect", &d.id, {
            let mut m = Map::new();
            m.insert("container".into(), json!(id));
            m.insert("name".into(), json!(d.name));
            m.insert("type".into(), json!("bridge"));
            m
        });
        Ok(())
    }

    /// `GET /networks/{id}`.
    pub fn network_json(&self, n: &BridgeNet) -> Value {
        let d = n.def();
        let mut containers = Map::new();
        for c in self.list().into_iter().filter(|c| c.running()) {
            if let Some(a) = c.endpoints.get(&d.name) {
                containers.insert(
                    c.id.clone(),
                    json!({"Name": c.name.trim_start_matches('/'), "EndpointID": "",
                        "MacAddress": a.mac,
                        "IPv4Address": a.ip.map(|i| format!("{i}/{}", a.prefix)).unwrap_or_default(),
                        "IPv6Address": ""}),
                );
            }
        }
        let mut cfg =
            json!({"Subnet": d.pool.subnet.to_string(), "Gateway": d.pool.gateway.to_string()});
        if let Some(r) = d.ip_range {
            cfg["IPRange"] = json!(r.to_string());
        }
        let mut options = d.options.clone();
        if d.name == DEFAULT {
            options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                json!("true"),
            );
            options.insert("com.docker.network.bridge.name".into(), json!(d.iface));
        }
        json!({
            "Name": d.name, "Id": d.id, "Created": d.created, "Scope": "local",
            "Driver": "bridge", "EnableIPv4": true, "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": [cfg]},
            "Internal": d.internal, "Attachable": false, "Ingress": false,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
            "Containers": containers, "Options": options, "Labels": d.labels,
        })
    }

    pub fn all_networks(&self) -> Vec<Arc<BridgeNet>> {
        self.nets().map(|n| n.all()).unwrap_or_default()
    }
}

impl Engine {
    /// `--network container:<x>`: the running container whose network
    /// namespace this one joins.
    pub fn shared_netns(&self, c: &Container) -> ApiResult<Option<Container>> {
        let Some(t) = c.host_config["NetworkMode"]
            .as_str()
            .and_then(|m| m.strip_prefix("container:"))
        else {
            return Ok(None);
        };
        let t = self.get(t)?;
        if !t.running() || t.state.pid <= 0 {
            return Err(ApiError::conflict(format!(
                "cannot join network namespace of a non running container: {}",
                t.id
            )));
        }
        Ok(Some(t))
    }

    /// `--link target:alias`: the target's address on the default bridge
    /// (for /etc/hosts: "alias id12 name") and Docker's legacy variables.
    #[allow(clippy::type_complexity)]
    pub fn resolve_links(
        &self,
        c: &Container,
    ) -> ApiResult<(Vec<(String, Ipv4Addr)>, Vec<String>)> {
        let mut hosts = Vec::new();
        let mut env = Vec::new();
        for l in c.host_config["Links"].as_array().into_iter().flatten() {
            let Some(l) = l.as_str() else { continue };
            let (target, alias) = l.split_once(':').unwrap_or((l, l));
            let target = target.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let t = self.get(target).map_err(|_| {
                ApiError::bad_request(format!("could not get container for {target}"))
            })?;
            if !t.running() {
                return Err(ApiError::bad_request(format!(
                    "Cannot link to a non running container: /{target} AS {}/{alias}",
                    c.name
                )));
            }
            let ip = t.endpoints.get(DEFAULT).and_then(|a| a.ip).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Cannot link to /{target}, as it does not belong to the default network"
                ))
            })?;
            hosts.push((format!("{alias} {} {}", &t.id[..12], target), ip));
            env.extend(super::etc_files::link_env(&c.name, alias, &t, ip));
        }
        Ok((hosts, env))
    }
}

/// Another firewall (dockerd's iptables: `ip filter FORWARD` with policy
/// drop) drops forwarded traffic whatever berth's own table says: outgoing
/// traffic of containers and published ports from other hosts stop working.
/// berth does not edit other tables or chains; it says so, loudly.
async fn warn_forward_drop() {
    let Ok(o) = tokio::process::Command::new("nft")
        .args(["list", "chain", "ip", "filter", "FORWARD"])
        .stderr(std::process::Stdio::null())
        .output()
        .await
    else {
        return;
    };
    if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("policy drop") {
        tracing::warn!(
            "the iptables FORWARD chain drops by default (dockerd sets this): containers' outgoing traffic and published ports reached from other hosts are blocked by it; berth does not edit other firewalls' chains — allow the berth bridges there (e.g. in DOCKER-USER) if both engines run"
        );
    }
}

fn next_dev(c: &Container) -> usize {
    (0..)
        .find(|i| !c.endpoints.values().any(|a| a.dev == format!("eth{i}")))
        .unwrap_or(0)
}

async fn remove_bridge(n: &BridgeNet) -> Result<(), String> {
    let d = n.def();
    let nl = Netlink::host().map_err(|e| e.to_string())?;
    nl.delete(&d.iface).await.map_err(|e| e.to_string())?;
    berth_net::firewall::remove(&n.table())
        .await
        .map_err(|e| e.to_string())
}

/// UDP and TCP sockets on 127.0.0.11:53 inside the namespace `ns` (made
/// with this thread switched into it, then back).
fn bind_in_netns(
    ns: &std::fs::File,
) -> std::io::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let home = std::fs::File::open("/proc/thread-self/ns/net")?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
    let made = (|| {
        let u = std::net::UdpSocket::bind((DNS_ADDR, 53))?;
        let t = std::net::TcpListener::bind((DNS_ADDR, 53))?;
        Ok::<_, std::io::Error>((u, t))
    })();
    nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("return to the daemon's network namespace");
    let (u, t) = made?;
    u.set_nonblocking(true)?;
    t.set_nonblocking(true)?;
    Ok((
        tokio::net::UdpSocket::from_std(u)?,
        tokio::net::TcpListener::from_std(t)?,
    ))
}

/// Whether the container's resolv.conf should point at the embedded DNS.
pub fn uses_embedded_dns(c: &Container) -> bool {
    c.net_requests.keys().any(|n| n != DEFAULT)
}

/// `NetworkSettings` for inspect.
pub fn settings(c: &Container) -> Value {
    let mut ports = Map::new();
    if let Some(exposed) = c.config["ExposedPorts"].as_object() {
        for k in exposed.keys() {
            ports.insert(k.clone(), Value::Null);
        }
    }
    let running = c.running();
    let eps: BTreeMap<String, Attachment> = if running {
        c.endpoints.clone()
    } else {
        BTreeMap::new()
    };
    for a in eps.values() {
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
    }
    let mut networks = Map::new();
    let mode = c.host_config["NetworkMode"].as_str().unwrap_or("default");
    if mode == "host" || mode == "none" {
        networks.insert(
            mode.into(),
            json!({"IPAddress": "", "Gateway": "", "IPPrefixLen": 0, "MacAddress": ""}),
        );
    }
    for (name, req) in &c.net_requests {
        let a = eps.get(name).cloned().unwrap_or_default();
        networks.insert(
            name.clone(),
            json!({"IPAMConfig": req.ipv4.map(|i| json!({"IPv4Address": i.to_string()})),
                "Links": null, "Aliases": if req.aliases.is_empty() { Value::Null } else { json!(req.aliases) },
                "MacAddress": a.mac, "NetworkID": a.network_id, "EndpointID": "",
                "Gateway": a.gateway.map(|g| g.to_string()).unwrap_or_default(),
                "IPAddress": a.ip.map(|g| g.to_string()).unwrap_or_default(),
                "IPPrefixLen": a.prefix, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DriverOpts": null,
                "DNSNames": if name == DEFAULT { Value::Null } else {
                    let mut n = vec![c.name.trim_start_matches('/').to_string(), c.id[..12].to_string()];
                    n.extend(req.aliases.iter().cloned());
                    json!(n)
                }}),
        );
    }
    // The top-level fields describe the default bridge, as in Docker.
    let a = eps.get(DEFAULT).cloned().unwrap_or_default();
    json!({
        "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": false,
        "Ports": ports,
        "Gateway": a.gateway.map(|g| g.to_string()).unwrap_or_default(),
        "IPAddress": a.ip.map(|g| g.to_string()).unwrap_or_default(),
        "IPPrefixLen": a.prefix, "MacAddress": a.mac, "Networks": networks,
    })
}

/// `Ports` for `docker ps`.
pub fn ps_ports(c: &Container) -> Value {
    if !c.running() {
        return json!([]);
    }
    Value::Array(
        c.endpoints
            .values()
            .flat_map(|a| a.ports.iter())
            .map(|p| {
                json!({"IP": p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                    "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Releases racing on several threads: the state file ends with no
    /// address allocated (the order-of-snapshots race behind "addresses
    /// left" in the network test).
    #[test]
    fn concurrent_releases_leave_the_pool_empty_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let def = NetDef {
                id: format!("n{round}"),
                name: format!("n{round}"),
                iface: "berth-test".into(),
                pool: Pool::new("10.99.0.0/24".parse().unwrap(), None),
                ip_range: None,
                internal: false,
                labels: Map::new(),
                options: Map::new(),
                created: String::new(),
            };
            let n = Arc::new(BridgeNet::new(def, dir.path(), 1500));
            let owners: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
            for o in &owners {
                n.allocate(o, None).unwrap();
            }
            let hs: Vec<_> = owners
                .into_iter()
                .map(|o| {
                    let n = n.clone();
                    std::thread::spawn(move || n.release(&o))
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let on_disk: NetDef =
                serde_json::from_slice(&std::fs::read(&n.state).unwrap()).unwrap();
            assert!(
                on_disk.pool.allocated.is_empty(),
                "round {round}: {:?}",
                on_disk.pool.allocated
            );
        }
    }
}

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

pub mod ports;
pub mod settings;

pub use settings::{ps_ports, settings};

use berth_net::{Netlink, Pool, PortMap, Ruleset, ipam};
use ipnet::Ipv4Net;

use berth_api::container::HostConfig;
use berth_api::filters::Filters;
use berth_api::network::{
    CreateRequest as NetCreate, CreateResponse as NetCreateResponse, EndpointSettings,
    Inspect as NetInspect, IpamConfig,
};

use crate::model::{Attachment, Container, EndpointRequest, NetDef};
use crate::util::{new_id, now_rfc3339, warn_on_err};
use crate::{Engine, Error, Result};

/// The default network's name, as Docker calls it.
pub const DEFAULT: &str = "bridge";
const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

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

    /// The bridge's own address (the containers' gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        self.with(|d| d.pool.gateway)
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
        if let Err(e) = self.try_save() {
            tracing::warn!("cannot save {}: {e}", self.state.display());
        }
    }

    fn try_save(&self) -> std::io::Result<()> {
        let _w = self.saving.lock().unwrap();
        let data = self.with(|d| serde_json::to_vec(d).expect("json"));
        let tmp = self.state.with_extension("tmp");
        let r = std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, &self.state));
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    /// The bridge exists, up, with the gateway address; sysctls set.
    async fn ensure(&self) -> std::result::Result<u32, String> {
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

    fn allocate(&self, owner: &str, want: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
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
                    return Err(Error::invalid(format!(
                        "Invalid address {w}: It does not belong to any of this network's subnets"
                    )));
                }
                if pool.allocated.contains_key(&w) {
                    return Err(Error::forbidden(format!("Address already in use: {w}")));
                }
                pool.allocated.insert(w, owner.to_string());
                w
            } else {
                let range = ip_range.unwrap_or(pool.subnet);
                let free = range.hosts().find(|a| {
                    pool.subnet.contains(a) && *a != pool.gateway && !pool.allocated.contains_key(a)
                });
                let Some(free) = free else {
                    return Err(Error::system(format!(
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
    fn endpoint(&self, owner: &str, req: &EndpointRequest, dev: String) -> Result<Attachment> {
        let mac = match &req.mac {
            Some(m) => Some(
                ipam::parse_mac(m)
                    .ok_or_else(|| Error::invalid(format!("invalid MAC address: {m}")))?,
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
            veth: format!("veth{}", &new_id()[..7]),
            ports: Vec::new(),
            network_id: d.id.clone(),
            aliases: req.aliases.clone(),
            dev,
        }))
    }

    pub fn release(&self, owner: &str) {
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
pub fn candidates(pools: &[(String, u8)]) -> std::result::Result<Vec<Ipv4Net>, String> {
    if pools.is_empty() {
        return Ok(ipam::default_candidates());
    }
    let mut out = Vec::new();
    for (base_s, size) in pools {
        let base: Ipv4Net = base_s
            .parse()
            .map_err(|e| format!("default-address-pools: invalid base {base_s}: {e}"))?;
        let subs = base
            .trunc()
            .subnets(*size)
            .map_err(|_| format!("default-address-pools: size {size} does not fit in {base_s}"))?;
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
    ) -> std::result::Result<Networks, String> {
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
                    warn_on_err(
                        "remove the old default bridge's state",
                        std::fs::remove_file(&old.state),
                    );
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
                    id: new_id(),
                    name: DEFAULT.into(),
                    iface: bridge.into(),
                    pool,
                    ip_range: None,
                    internal: false,
                    labels: Default::default(),
                    options: Default::default(),
                    aux_addresses: Default::default(),
                    ipv6_configs: Vec::new(),
                    enable_ipv6: false,
                    attachable: false,
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

impl Engine {
    fn nets(&self) -> Result<&Networks> {
        self.networks
            .as_ref()
            .ok_or_else(|| Error::unavailable("networking is not available"))
    }

    pub fn network(&self, r: &str) -> Result<Arc<BridgeNet>> {
        self.nets()?
            .find(r)
            .ok_or_else(|| Error::not_found(format!("network {r} not found")))
    }

    /// Ports already published by running containers.
    fn published(&self) -> Vec<PortMap> {
        self.containers
            .scan(|c| {
                c.running().then(|| {
                    c.endpoints
                        .values()
                        .flat_map(|a| a.ports.clone())
                        .collect::<Vec<_>>()
                })
            })
            .into_iter()
            .flatten()
            .collect()
    }

    /// The host ports a container asks for, chosen and checked before
    /// anything is set up ("port is already allocated").
    fn plan_ports(&self, c: &Container, ip: Ipv4Addr) -> Result<Vec<PortMap>> {
        let wanted = ports::wanted(&c.config, &c.host_config);
        if wanted.is_empty() {
            // Most containers publish nothing: no need to look at the others.
            return Ok(Vec::new());
        }
        ports::plan(
            c.bare_name(),
            &wanted,
            ip,
            &self.published(),
            &ports::host_port_free,
        )
    }

    /// Rewrite one network's table from the running containers' ports on
    /// it (plus `extra`, a container being started).
    pub async fn apply_firewall(&self, net: &BridgeNet, extra: &[PortMap]) -> Result<()> {
        let _g = net.fw.lock().await;
        let d = net.def();
        let mut ports: Vec<PortMap> = self
            .containers
            .scan(|c| {
                c.running()
                    .then(|| c.endpoints.get(&d.name).map(|a| a.ports.clone()))
                    .flatten()
            })
            .into_iter()
            .flatten()
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
        .map_err(|e| Error::system(e.to_string()))
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
    pub fn plan_network(&self, c: &Container) -> Result<BTreeMap<String, Attachment>> {
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
                Ok::<_, Error>(a)
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
    ) -> Result<()> {
        let n = self.network(name)?;
        let (Some(ip), Some(gw)) = (a.ip, a.gateway) else {
            return Ok(());
        };
        let fail = |e: berth_net::Error| Error::system(format!("network setup: {e}"));
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| Error::system(format!("network namespace of {pid}: {e}")))?;
        let host = Netlink::host().map_err(fail)?;
        let br = match n.index.load(Ordering::Relaxed) {
            0 => n.ensure().await.map_err(Error::system)?,
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
            warn_on_err("delete the veth", host.delete(&a.veth).await);
            return Err(fail(e));
        }
        // Outgoing NAT is in place since the network exists; only published
        // ports change the table.
        if !a.ports.is_empty()
            && let Err(e) = self.apply_firewall(&n, &a.ports).await
        {
            warn_on_err("delete the veth", host.delete(&a.veth).await);
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
    ) -> Result<()> {
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
            warn_on_err("delete the veth", nl.delete(&a.veth).await);
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
    pub fn start_dns(self: &Arc<Self>, id: &str, pid: i32) -> Result<()> {
        let Ok(nets) = self.nets() else { return Ok(()) };
        if nets.dns.lock().unwrap().contains_key(id) {
            return Ok(());
        }
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| Error::system(format!("network namespace of {pid}: {e}")))?;
        let (udp, tcp) =
            bind_in_netns(&ns).map_err(|e| Error::system(format!("embedded DNS server: {e}")))?;
        let weak = Arc::downgrade(self);
        let cid = id.to_string();
        let lookup: berth_net::dns::Lookup =
            Arc::new(move |name: &str| weak.upgrade().and_then(|e| e.resolve_name(&cid, name)));
        let own: Vec<std::net::SocketAddr> = self
            .containers
            .with(id, |c| c.host_config.dns.clone().unwrap_or_default())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.parse::<std::net::IpAddr>().ok())
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
        let map = self.containers.map.lock().unwrap();
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
                    || c.config.hostname.eq_ignore_ascii_case(name);
                if hit && let Some(ip) = a.ip {
                    out.push(ip);
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    // ------------------------------------------------------------ network API

    /// `POST /networks/create`.
    pub async fn network_create(&self, r: NetCreate) -> Result<NetCreateResponse> {
        let nets = self.nets()?;
        let driver = if r.driver.is_empty() {
            "bridge"
        } else {
            r.driver.as_str()
        };
        if driver != "bridge" {
            return Err(Error::not_found(format!("plugin \"{driver}\" not found")));
        }
        let name = r.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid("network name is required"));
        }
        if name.contains('/') {
            return Err(Error::invalid(format!("invalid network name: {name}")));
        }
        if nets.find(&name).is_some_and(|n| n.name() == name)
            || ["host", "none", DEFAULT].contains(&name.as_str())
        {
            return Err(Error::conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let all = nets.all();
        let configs = r
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default();
        let is_v6 = |c: &IpamConfig| c.subnet.contains(':');
        let v4 = configs
            .iter()
            .find(|c| !is_v6(c))
            .cloned()
            .unwrap_or_default();
        let v6: Vec<IpamConfig> = configs.iter().filter(|c| is_v6(c)).cloned().collect();
        for c in &v6 {
            c.subnet
                .parse::<ipnet::Ipv6Net>()
                .map_err(|_| Error::invalid(format!("invalid CIDR address: {}", c.subnet)))?;
        }
        let cidr = |s: &str| -> Result<Ipv4Net> {
            s.parse::<Ipv4Net>()
                .map_err(|_| Error::invalid(format!("invalid CIDR address: {s}")))
        };
        let subnet = if v4.subnet.is_empty() {
            ipam::choose_subnet(&nets.candidates, &taken_subnets(&all)).ok_or_else(|| {
                Error::invalid(
                    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                )
            })?
        } else {
            let net = cidr(&v4.subnet)?.trunc();
            if let Some(o) = ipam::overlapping(&net, &taken_subnets(&all)) {
                return Err(Error::forbidden(format!(
                    "Pool overlaps with other one on this address space ({o})"
                )));
            }
            net
        };
        let gateway = match v4.gateway.as_str() {
            "" => None,
            g => {
                let g: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid gateway address: {g}")))?;
                if !subnet.contains(&g) {
                    return Err(Error::forbidden(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                Some(g)
            }
        };
        let ip_range = match v4.ip_range.as_str() {
            "" => None,
            s => {
                let range = cidr(s)?.trunc();
                if !subnet.contains(&range.network()) || range.prefix_len() < subnet.prefix_len() {
                    return Err(Error::forbidden(format!(
                        "no matching subnet for range {range}"
                    )));
                }
                Some(range)
            }
        };
        let mut pool = Pool::new(subnet, gateway);
        let aux = v4.auxiliary_addresses.clone().unwrap_or_default();
        for (k, a) in &aux {
            let ip: Ipv4Addr = a
                .parse()
                .map_err(|_| Error::invalid(format!("invalid auxiliary address {k}: {a}")))?;
            if !subnet.contains(&ip) {
                return Err(Error::forbidden(format!(
                    "no matching subnet for aux-address {ip}"
                )));
            }
            pool.allocated.insert(ip, format!("aux:{k}"));
        }
        let id = new_id();
        let options = r.options.clone().unwrap_or_default();
        let iface = options
            .get(berth_api::network::bridge_opts::NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if iface.len() > 15 {
            return Err(Error::invalid(format!(
                "bridge name {iface} is longer than 15 characters"
            )));
        }
        let def = NetDef {
            id: id.clone(),
            name,
            iface,
            pool,
            ip_range,
            internal: r.internal,
            labels: r.labels.clone().unwrap_or_default(),
            options,
            aux_addresses: aux,
            ipv6_configs: v6,
            enable_ipv6: r.enable_ipv6.unwrap_or(false),
            attachable: r.attachable,
            created: now_rfc3339(),
        };
        let n = Arc::new(BridgeNet::new(def, &nets.dir, nets.mtu));
        // The record first: a crash after it leaves a network that the next
        // start completes (it ensures every recorded bridge), never a bridge
        // and a table that no record names.
        n.try_save()
            .map_err(|e| Error::system(format!("save the network {}: {e}", n.name())))?;
        let undo = |n: &BridgeNet| {
            let _ = std::fs::remove_file(&n.state);
        };
        if let Err(e) = n.ensure().await {
            warn_on_err("remove the bridge", remove_bridge(&n).await);
            undo(&n);
            return Err(Error::system(format!("create bridge: {e}")));
        }
        if let Err(e) = self.apply_firewall(&n, &[]).await {
            warn_on_err("remove the bridge", remove_bridge(&n).await);
            undo(&n);
            return Err(e);
        }
        nets.list.lock().unwrap().push(n.clone());
        self.emit_network(&id, "create", &n.name(), None);
        Ok(NetCreateResponse {
            id,
            warning: String::new(),
        })
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, r: &str) -> Result<()> {
        let nets = self.nets()?;
        if ["host", "none"].contains(&r) {
            return Err(Error::forbidden(format!(
                "{r} is a pre-defined network and cannot be removed"
            )));
        }
        let n = self.network(r)?;
        let d = n.def();
        if d.name == DEFAULT {
            return Err(Error::forbidden(format!(
                "{DEFAULT} is a pre-defined network and cannot be removed"
            )));
        }
        let in_use = self
            .containers
            .scan(|c| (c.running() && c.endpoints.contains_key(&d.name)).then_some(()))
            .len();
        if in_use > 0 {
            return Err(Error::forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                d.name, d.id
            )));
        }
        remove_bridge(&n).await.map_err(Error::system)?;
        warn_on_err("remove the network's state", std::fs::remove_file(&n.state));
        nets.list
            .lock()
            .unwrap()
            .retain(|x| x.with(|x| x.id != d.id));
        // Stopped containers forget it.
        for c in self.containers.list() {
            if c.net_requests.contains_key(&d.name) {
                warn_on_err(
                    "forget the network",
                    self.containers
                        .update_durable(&c.id, |c| c.net_requests.remove(&d.name)),
                );
            }
        }
        self.emit_network(&d.id, "destroy", &d.name, None);
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Self>,
        net: &str,
        container: &str,
        ep: EndpointSettings,
    ) -> Result<()> {
        let req = endpoint_request(&ep)?;
        let n = self.network(net)?;
        let d = n.def();
        let id = self.containers.resolve(container)?;
        let lock = self.containers.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.containers.get(&id)?;
        let mode = &c.host_config.network_mode;
        if mode.is_host() || mode.is_none() || mode.container().is_some() {
            return Err(Error::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if c.net_requests.contains_key(&d.name) {
            return Err(Error::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.bare_name(),
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
            self.containers.update_durable(&id, |c| {
                c.endpoints.insert(d.name.clone(), a);
                c.net_requests.insert(d.name.clone(), req);
            })?;
        } else {
            self.containers.update_durable(&id, |c| {
                c.net_requests.insert(d.name.clone(), req);
            })?;
        }
        self.emit_network(&d.id, "connect", &d.name, Some(&id));
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, net: &str, container: &str) -> Result<()> {
        let n = self.network(net)?;
        let d = n.def();
        let id = self.containers.resolve(container)?;
        let lock = self.containers.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.containers.get(&id)?;
        if !c.net_requests.contains_key(&d.name) && !c.endpoints.contains_key(&d.name) {
            return Err(Error::forbidden(format!(
                "container {id} is not connected to network {}",
                d.name
            )));
        }
        let ep = self.containers.update_durable(&id, |c| {
            c.net_requests.remove(&d.name);
            c.endpoints.remove(&d.name)
        })?;
        if let Some(a) = ep {
            self.disconnect_endpoint(&id, &d.name, &a, false).await;
        }
        self.emit_network(&d.id, "disconnect", &d.name, Some(&id));
        Ok(())
    }

    /// `GET /networks/{id}` (host and none included).
    pub fn network_inspect(&self, r: &str) -> Result<NetInspect> {
        if r == "host" || r == "none" {
            return Ok(settings::predefined(r));
        }
        let n = self.network(r)?;
        Ok(self.network_view(&n))
    }

    fn network_view(&self, n: &BridgeNet) -> NetInspect {
        let d = n.def();
        let members = self.containers.scan(|c| {
            let a = c.endpoints.get(&d.name).filter(|_| c.running())?;
            Some((c.id.clone(), c.bare_name().to_string(), a.clone()))
        });
        settings::network_inspect(&d, &members)
    }

    /// `GET /networks`.
    pub fn network_list(&self, f: &Filters) -> Result<Vec<NetInspect>> {
        f.validate(&["name", "id", "driver", "label", "type", "scope", "dangling"])?;
        let mut all: Vec<NetInspect> = self
            .all_networks()
            .iter()
            .map(|n| self.network_view(n))
            .collect();
        all.push(settings::predefined("host"));
        all.push(settings::predefined("none"));
        let dangling = f.bool_value("dangling")?;
        Ok(all
            .into_iter()
            .filter(|n| {
                let builtin = ["bridge", "host", "none"].contains(&n.name.as_str());
                f.any("name", |v| n.name.contains(v))
                    && f.any("id", |v| n.id.starts_with(v))
                    && f.exact("driver", &n.driver)
                    && f.labels_match("label", &n.labels)
                    && f.exact("scope", &n.scope)
                    && dangling.is_none_or(|d| d == (n.containers.is_empty() && !builtin))
                    && f.any("type", |v| (v == "builtin") == builtin)
            })
            .collect())
    }

    /// `POST /networks/prune`: unused user-defined networks.
    pub async fn network_prune(&self, f: &Filters) -> Result<berth_api::network::PruneReport> {
        f.validate(&["until", "label", "label!"])?;
        let until = f.timestamps("until", chrono::Utc::now().timestamp() as f64)?;
        let mut gone = Vec::new();
        for n in self.all_networks() {
            let d = n.def();
            let created = crate::util::unix_seconds(&d.created) as f64;
            let keep = d.name == DEFAULT
                || until.iter().any(|u| created > *u)
                || !f.labels_match("label", &d.labels)
                || !f.labels_exclude("label!", &d.labels);
            if !keep && self.network_remove(&d.id).await.is_ok() {
                gone.push(d.name);
            }
        }
        Ok(berth_api::network::PruneReport {
            networks_deleted: Some(gone),
        })
    }

    pub fn all_networks(&self) -> Vec<Arc<BridgeNet>> {
        self.nets().map(|n| n.all()).unwrap_or_default()
    }
}

/// What a container asks of a network, from the API's endpoint settings.
pub fn endpoint_request(ep: &EndpointSettings) -> Result<EndpointRequest> {
    let ipam = ep.ipam_config.clone().unwrap_or_default();
    let ipv4 = match ipam.ipv4_address.as_str() {
        "" => None,
        s => Some(
            s.parse()
                .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}")))?,
        ),
    };
    let mac = Some(ep.mac_address.clone()).filter(|m| !m.is_empty());
    if let Some(m) = &mac
        && ipam::parse_mac(m).is_none()
    {
        return Err(Error::invalid(format!("invalid MAC address: {m}")));
    }
    Ok(EndpointRequest {
        aliases: ep.aliases.clone().unwrap_or_default(),
        ipv4,
        mac,
        links: ep.links.clone().unwrap_or_default(),
        driver_opts: ep.driver_opts.clone().unwrap_or_default(),
    })
}

impl Engine {
    /// `--network container:<x>`: the running container whose network
    /// namespace this one joins.
    pub fn shared_netns(&self, c: &Container) -> Result<Option<Container>> {
        let Some(t) = c.host_config.network_mode.container() else {
            return Ok(None);
        };
        let t = self.containers.get(t)?;
        if !t.running() || t.state.pid <= 0 {
            return Err(Error::conflict(format!(
                "cannot join network namespace of a non running container: {}",
                t.id
            )));
        }
        Ok(Some(t))
    }

    /// `--link target:alias`: the target's address on the default bridge
    /// (for /etc/hosts: "alias id12 name") and Docker's legacy variables.
    #[allow(clippy::type_complexity)]
    pub fn resolve_links(&self, c: &Container) -> Result<(Vec<(String, Ipv4Addr)>, Vec<String>)> {
        let mut hosts = Vec::new();
        let mut env = Vec::new();
        for l in HostConfig::list(&c.host_config.links) {
            let (target, alias) = l.split_once(':').unwrap_or((l, l));
            let target = target.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let t = self
                .containers
                .get(target)
                .map_err(|_| Error::invalid(format!("could not get container for {target}")))?;
            if !t.running() {
                return Err(Error::invalid(format!(
                    "Cannot link to a non running container: /{target} AS {}/{alias}",
                    c.name
                )));
            }
            let ip = t.endpoints.get(DEFAULT).and_then(|a| a.ip).ok_or_else(|| {
                Error::invalid(format!(
                    "Cannot link to /{target}, as it does not belong to the default network"
                ))
            })?;
            hosts.push((format!("{alias} {} {}", &t.id[..12], target), ip));
            env.extend(crate::container::etc_files::link_env(
                &c.name, alias, &t, ip,
            ));
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

async fn remove_bridge(n: &BridgeNet) -> std::result::Result<(), String> {
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

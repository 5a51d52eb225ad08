//! Address management: choosing a subnet that overlaps no route of the host,
//! and handing out addresses in it (persisted by the caller).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The host's IPv4 routes (`/proc/net/route`), the default route excluded.
pub fn host_routes() -> Vec<Ipv4Net> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_routes(&text)
}

fn parse_routes(text: &str) -> Vec<Ipv4Net> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(u32::from_be)
            .map(Ipv4Addr::from)
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = hex(f.get(1)?)?;
            let mask = hex(f.get(7)?)?;
            let prefix = u32::from(mask).count_ones() as u8;
            (prefix > 0)
                .then(|| Ipv4Net::new(dest, prefix).ok())
                .flatten()
        })
        .collect()
}

/// Docker's default pools: 172.17–31.0.0/16, then 192.168.0–240.0/20.
pub fn default_candidates() -> Vec<Ipv4Net> {
    let mut v: Vec<Ipv4Net> = (17..=31)
        .map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid"))
        .collect();
    v.extend((0..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).expect("valid")));
    v
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate overlapping none of `taken` (host routes, other
/// networks).
pub fn choose_subnet(candidates: &[Ipv4Net], taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    candidates
        .iter()
        .find(|c| !taken.iter().any(|t| overlaps(c, t)))
        .copied()
}

/// The route of `subnet` that some existing route overlaps, if any.
pub fn overlapping(subnet: &Ipv4Net, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    taken.iter().find(|t| overlaps(subnet, t)).copied()
}

/// A network's addresses: the gateway, and each container's.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// address → owner (a container id)
    pub allocated: BTreeMap<Ipv4Addr, String>,
}

impl Pool {
    /// The gateway is the first host address unless given.
    pub fn new(subnet: Ipv4Net, gateway: Option<Ipv4Addr>) -> Pool {
        let gateway = gateway.unwrap_or_else(|| subnet.hosts().next().unwrap_or(subnet.addr()));
        Pool {
            subnet: subnet.trunc(),
            gateway,
            allocated: BTreeMap::new(),
        }
    }

    /// `owner`'s address: the one it has, else the lowest free one.
    pub fn allocate(&mut self, owner: &str) -> Option<Ipv4Addr> {
        if let Some((a, _)) = self.allocated.iter().find(|(_, o)| *o == owner) {
            return Some(*a);
        }
        let free = self
            .subnet
            .hosts()
            .find(|a| *a != self.gateway && !self.allocated.contains_key(a))?;
        self.allocated.insert(free, owner.to_string());
        Some(free)
    }

    pub fn release(&mut self, owner: &str) {
        self.allocated.retain(|_, o| o != owner);
    }
}

/// Docker's MAC for an address: 02:42 and the four address bytes.
pub fn mac_for(a: Ipv4Addr) -> [u8; 6] {
    let o = a.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// "02:42:ac:11:00:02" → bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

pub fn mac_string(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_skip_default() {
        let t = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let r = parse_routes(t);
        assert_eq!(
            r,
            vec![
                "192.0.2.0/24".parse().unwrap(),
                "172.17.0.0/16".parse().unwrap()
            ]
        );
    }

    #[test]
    fn subnet_avoids_overlaps() {
        let c = default_candidates();
        assert_eq!(
            choose_subnet(&c, &[]),
            Some("172.17.0.0/16".parse().unwrap())
        );
        let taken: Vec<Ipv4Net> = vec![
            "172.17.5.0/24".parse().unwrap(),
            "172.16.0.0/12".parse().unwrap(),
        ];
        assert_eq!(
            choose_subnet(&c, &taken),
            Some("192.168.0.0/20".parse().unwrap())
        );
    }

    #[test]
    fn pool_hands_out_and_takes_back() {
        let mut p = Pool::new("172.17.0.0/16".parse().unwrap(), None);
        assert_eq!(p.gateway, Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(p.allocate("a"), Some(Ipv4Addr::new(172, 17, 0, 2)));
        assert_eq!(p.allocate("b"), Some(Ipv4Addr::new(172, 17, 0, 3)));
        assert_eq!(p.allocate("a"), Some(Ipv4Addr::new(172, 17, 0, 2)));
        p.release("a");
        assert_eq!(p.allocate("c"), Some(Ipv4Addr::new(172, 17, 0, 2)));
        let mut tiny = Pool::new("10.9.0.0/30".parse().unwrap(), None);
        assert!(tiny.allocate("x").is_some());
        assert_eq!(
            tiny.allocate("y"),
            None,
            "a /30 has one address besides the gateway"
        );
        assert_eq!(
            mac_string(mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}

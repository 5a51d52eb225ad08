//! `POST /networks/create` bodies: decoded as berthd decodes them
//! (berth-api's `json::decode` into `network::CreateRequest`), round-tripped
//! through their own JSON, and their IPAM settings put through
//! berth-net's address pool the way the engine sets a network up (subnet,
//! gateway, auxiliary addresses, then allocations).
#![no_main]

#[path = "common/json.rs"]
mod json;

use std::net::Ipv4Addr;

use berth_api::network::CreateRequest;
use berth_net::ipam::{self, Pool};
use ipnet::Ipv4Net;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(req) = json::decode_body::<CreateRequest>(data, "CreateRequest") else {
        return;
    };

    let configs = req
        .ipam
        .as_ref()
        .and_then(|i| i.config.clone())
        .unwrap_or_default();
    let taken = ipam::default_candidates();
    for c in configs.iter().filter(|c| !c.subnet.contains(':')) {
        let Ok(subnet) = c.subnet.parse::<Ipv4Net>() else {
            continue;
        };
        let subnet = subnet.trunc();
        let _ = ipam::overlapping(&subnet, &taken);
        let gateway = c.gateway.parse::<Ipv4Addr>().ok();
        let mut pool = Pool::new(subnet, gateway.filter(|g| subnet.contains(g)));
        for (k, a) in c.auxiliary_addresses.iter().flatten() {
            if let Ok(ip) = a.parse::<Ipv4Addr>() {
                pool.allocated.insert(ip, format!("aux:{k}"));
            }
        }
        for owner in ["a", "b", "c", "a"] {
            if let Some(ip) = pool.allocate(owner) {
                assert!(pool.subnet.contains(&ip), "an address outside the subnet");
                assert_ne!(ip, pool.gateway, "the gateway was handed out");
            }
        }
        pool.release("b");
    }
    let _ = ipam::choose_subnet(&ipam::default_candidates(), &[]);
    if let Some(mac) = req
        .options
        .as_ref()
        .and_then(|o| o.get("com.docker.network.bridge.mac"))
    {
        if let Some(m) = ipam::parse_mac(mac) {
            assert_eq!(ipam::parse_mac(&ipam::mac_string(m)), Some(m));
        }
    }
});

//! Networks and endpoints as the API shows them: a container's
//! `NetworkSettings`, `ps`'s `Ports`, a network's inspect.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::container::{NetworkSettings, PortSummary};
use berth_api::network::{
    ConfigReference, EndpointIpamConfig, EndpointResource, EndpointSettings, Inspect, Ipam,
    IpamConfig, PortBinding, bridge_opts,
};

use super::DEFAULT;
use crate::model::{Attachment, Container, NetDef};

fn s<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// `NetworkSettings` for inspect (the top-level address fields describe
/// the default bridge, as in Docker).
pub fn settings(c: &Container) -> NetworkSettings {
    let mut ports: berth_api::network::PortMap = BTreeMap::new();
    for k in c.config.exposed_ports() {
        ports.insert(k.clone(), None);
    }
    let running = c.running();
    let eps: BTreeMap<String, Attachment> = if running {
        c.endpoints.clone()
    } else {
        BTreeMap::new()
    };
    for a in eps.values() {
        for p in &a.ports {
            ports
                .entry(format!("{}/{}", p.container_port, p.proto))
                .or_insert(None)
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                    host_port: p.host_port.to_string(),
                });
        }
    }
    let mut networks = BTreeMap::new();
    let mode = &c.host_config.network_mode;
    if mode.is_host() || mode.is_none() {
        networks.insert(mode.as_str().to_string(), EndpointSettings::default());
    }
    for (name, req) in &c.net_requests {
        let a = eps.get(name).cloned().unwrap_or_default();
        let mac = if a.mac.is_empty() {
            req.mac.clone().unwrap_or_default()
        } else {
            a.mac.clone()
        };
        networks.insert(
            name.clone(),
            EndpointSettings {
                ipam_config: req.ipv4.map(|i| EndpointIpamConfig {
                    ipv4_address: i.to_string(),
                    ..Default::default()
                }),
                links: (!req.links.is_empty()).then(|| req.links.clone()),
                aliases: (!req.aliases.is_empty()).then(|| req.aliases.clone()),
                mac_address: mac,
                driver_opts: (!req.driver_opts.is_empty()).then(|| req.driver_opts.clone()),
                network_id: a.network_id.clone(),
                gateway: s(a.gateway),
                ip_address: s(a.ip),
                ip_prefix_len: i64::from(a.prefix),
                dns_names: (name != DEFAULT).then(|| {
                    let mut n = vec![c.bare_name().to_string(), c.short_id().to_string()];
                    n.extend(req.aliases.iter().cloned());
                    n
                }),
                ..Default::default()
            },
        );
    }
    let a = eps.get(DEFAULT).cloned().unwrap_or_default();
    NetworkSettings {
        ports,
        gateway: s(a.gateway),
        ip_address: s(a.ip),
        ip_prefix_len: i64::from(a.prefix),
        mac_address: a.mac,
        networks,
        ..Default::default()
    }
}

/// `Ports` for `docker ps`.
pub fn ps_ports(c: &Container) -> Vec<PortSummary> {
    if !c.running() {
        return Vec::new();
    }
    c.endpoints
        .values()
        .flat_map(|a| a.ports.iter())
        .map(|p| PortSummary {
            ip: p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
            private_port: p.container_port,
            public_port: p.host_port,
            kind: p.proto.clone(),
        })
        .collect()
}

/// `host` and `none`: fixed ids, no addresses.
pub fn predefined(name: &str) -> Inspect {
    let id: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    Inspect {
        name: name.into(),
        id: format!("{id:0<64}"),
        created: berth_api::ZERO_TIME.into(),
        scope: "local".into(),
        driver: if name == "host" { "host" } else { "null" }.into(),
        enable_ipv4: true,
        ipam: Ipam {
            driver: "default".into(),
            options: None,
            config: Some(Vec::new()),
        },
        ..Default::default()
    }
}

/// A bridge network's inspect, with the running containers on it
/// (id, name, attachment).
pub fn network_inspect(d: &NetDef, members: &[(String, String, Attachment)]) -> Inspect {
    let containers = members
        .iter()
        .map(|(id, name, a)| {
            (
                id.clone(),
                EndpointResource {
                    name: name.clone(),
                    endpoint_id: String::new(),
                    mac_address: a.mac.clone(),
                    ipv4_address: a
                        .ip
                        .map(|i| format!("{i}/{}", a.prefix))
                        .unwrap_or_default(),
                    ipv6_address: String::new(),
                },
            )
        })
        .collect();
    let mut configs = vec![IpamConfig {
        subnet: d.pool.subnet.to_string(),
        ip_range: s(d.ip_range),
        gateway: d.pool.gateway.to_string(),
        auxiliary_addresses: (!d.aux_addresses.is_empty()).then(|| d.aux_addresses.clone()),
    }];
    configs.extend(d.ipv6_configs.iter().cloned());
    let mut options = d.options.clone();
    if d.name == DEFAULT {
        options.insert(bridge_opts::DEFAULT_BRIDGE.into(), "true".into());
        options.insert(bridge_opts::NAME.into(), d.iface.clone());
    }
    Inspect {
        name: d.name.clone(),
        id: d.id.clone(),
        created: d.created.clone(),
        scope: "local".into(),
        driver: "bridge".into(),
        enable_ipv4: true,
        enable_ipv6: d.enable_ipv6,
        ipam: Ipam {
            driver: "default".into(),
            options: None,
            config: Some(configs),
        },
        internal: d.internal,
        attachable: d.attachable,
        ingress: false,
        config_from: ConfigReference::default(),
        config_only: false,
        containers,
        options,
        labels: d.labels.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointRequest, RunState};

    #[test]
    fn endpoint_settings_report_what_was_asked() {
        let mut c = Container {
            id: "f".repeat(64),
            name: "/web".into(),
            state: RunState {
                status: berth_api::container::Status::Running,
                ..Default::default()
            },
            ..Default::default()
        };
        c.net_requests.insert(
            "front".into(),
            EndpointRequest {
                aliases: vec!["w".into()],
                links: vec!["db:db".into()],
                driver_opts: [("k".to_string(), "v".to_string())].into(),
                mac: Some("02:42:ac:11:00:09".into()),
                ..Default::default()
            },
        );
        c.endpoints.insert(
            "front".into(),
            Attachment {
                ip: Some(Ipv4Addr::new(10, 1, 0, 2)),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(10, 1, 0, 1)),
                mac: "02:42:ac:11:00:09".into(),
                ports: vec![berth_net::PortMap {
                    proto: "tcp".into(),
                    host_ip: None,
                    host_port: 8080,
                    container: Ipv4Addr::new(10, 1, 0, 2),
                    container_port: 80,
                }],
                ..Default::default()
            },
        );
        let s = settings(&c);
        let e = &s.networks["front"];
        assert_eq!(e.ip_address, "10.1.0.2");
        assert_eq!(e.links.as_deref().unwrap(), ["db:db"]);
        assert_eq!(e.driver_opts.as_ref().unwrap()["k"], "v");
        assert_eq!(
            e.dns_names.as_deref().unwrap(),
            ["web", "ffffffffffff", "w"]
        );
        assert_eq!(s.ports["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
        assert_eq!(ps_ports(&c)[0].public_port, 8080);
        assert_eq!(predefined("host").driver, "host");
        assert_eq!(predefined("none").id.len(), 64);
    }
}

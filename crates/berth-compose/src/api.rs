//! A service as the Engine API takes it: the create request of one of its
//! containers, the networks and volumes a project makes — with the labels
//! docker compose puts on them, so that a stack made here is docker
//! compose's too (and the other way round). Pure: no daemon.

use std::collections::BTreeMap;

use berth_api::container::{
    Config, CreateRequest, DeviceMapping, HealthConfig, HostConfig, LogConfig, Mount, MountType,
    NetworkMode, NetworkingConfig, NsMode, RestartPolicy, RestartPolicyMode, StrSlice,
    TmpfsOptions, Ulimit, VolumeOptions,
};
use berth_api::network::{EndpointIpamConfig, EndpointSettings, PortBinding};
use berth_api::{Empty, StringMap};

use crate::labels;
use crate::model::{Network, Project, Service, VolumeKind};

/// The version label's value: the docker compose this follows.
pub const COMPOSE_VERSION: &str = "2.29.0";

/// `<project>-<service>-<n>`, or the service's `container_name`.
pub fn container_name(p: &Project, s: &Service, number: u32) -> String {
    match &s.container_name {
        Some(n) => n.clone(),
        None => format!("{}-{}-{number}", p.name, s.name),
    }
}

/// The image a service runs: its `image`, else the one its build makes
/// (`<project>-<service>`, as docker compose names it).
pub fn image_of(p: &Project, s: &Service) -> String {
    s.image_name(&p.name)
}

/// The labels of a project's container.
pub fn container_labels(
    p: &Project,
    s: &Service,
    number: u32,
    oneoff: bool,
    hash: &str,
) -> StringMap {
    let mut l: StringMap = s.labels.clone();
    l.insert(labels::PROJECT.into(), p.name.clone());
    l.insert(labels::SERVICE.into(), s.name.clone());
    l.insert(labels::CONTAINER_NUMBER.into(), number.to_string());
    l.insert(
        labels::ONEOFF.into(),
        if oneoff { "True" } else { "False" }.into(),
    );
    l.insert(labels::CONFIG_HASH.into(), hash.to_string());
    l.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    l.insert(
        labels::WORKING_DIR.into(),
        p.working_dir.display().to_string(),
    );
    l.insert(
        labels::CONFIG_FILES.into(),
        p.config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    l.insert(labels::IMAGE.into(), image_of(p, s));
    l.insert(labels::DEPENDS_ON.into(), labels::depends_on_value(s));
    l
}

fn secs_ns(d: Option<std::time::Duration>) -> i64 {
    d.map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn restart_policy(r: Option<&str>) -> RestartPolicy {
    let r = r.unwrap_or("no");
    let (name, count) = r.split_once(':').unwrap_or((r, "0"));
    RestartPolicy {
        name: RestartPolicyMode::parse(name),
        maximum_retry_count: count.parse().unwrap_or(0),
    }
}

/// The network a service container is created on (the first by priority),
/// and the others it joins after create.
pub fn service_networks(s: &Service) -> Vec<String> {
    let mut nets: Vec<(&String, i64)> = s.networks.iter().map(|(n, c)| (n, c.priority)).collect();
    nets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    nets.into_iter().map(|(n, _)| n.clone()).collect()
}

/// The real (daemon) name of a project network key.
pub fn network_name(p: &Project, key: &str) -> String {
    p.networks
        .get(key)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", p.name))
}

/// The real name of a project volume key.
pub fn volume_name(p: &Project, key: &str) -> String {
    p.volumes
        .get(key)
        .map(|v| v.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", p.name))
}

/// The create request of container `number` of service `s`. `resolve`
/// turns another service's name into the name of its first container
/// (for `network_mode: service:x`, links, `volumes_from`).
pub fn create_request(
    p: &Project,
    s: &Service,
    number: u32,
    name: &str,
    oneoff: bool,
    hash: &str,
    resolve: &dyn Fn(&str) -> String,
) -> CreateRequest {
    let env: Vec<String> = s
        .environment
        .iter()
        .filter_map(|(k, v)| match v {
            Some(v) => Some(format!("{k}={v}")),
            None => p.environment.get(k).map(|v| format!("{k}={v}")),
        })
        .collect();
    let mut exposed: BTreeMap<String, Empty> = BTreeMap::new();
    let mut bindings: berth_api::network::PortMap = BTreeMap::new();
    for e in &s.expose {
        let e = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(e, Empty {});
    }
    for port in &s.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        exposed.insert(key.clone(), Empty {});
        let b = bindings.entry(key).or_insert_with(|| Some(Vec::new()));
        b.get_or_insert_with(Vec::new).push(PortBinding {
            host_ip: port.host_ip.clone().unwrap_or_default(),
            host_port: port.published.clone().unwrap_or_default(),
        });
    }
    let healthcheck = s.healthcheck.as_ref().map(|h| HealthConfig {
        test: if h.disable {
            Some(vec!["NONE".into()])
        } else if h.test.is_empty() {
            None
        } else {
            Some(h.test.clone())
        },
        interval: secs_ns(h.interval),
        timeout: secs_ns(h.timeout),
        start_period: secs_ns(h.start_period),
        start_interval: secs_ns(h.start_interval),
        retries: h.retries.unwrap_or(0) as i64,
    });
    let nets = service_networks(s);
    let hostname = s.hostname.clone().unwrap_or_default();
    let config = Config {
        hostname,
        domainname: s.domainname.clone().unwrap_or_default(),
        user: s.user.clone().unwrap_or_default(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: s.tty,
        open_stdin: s.stdin_open,
        env: Some(env),
        cmd: s.command.clone().map(StrSlice),
        entrypoint: s.entrypoint.clone().map(StrSlice),
        healthcheck,
        image: image_of(p, s),
        working_dir: s.working_dir.clone().unwrap_or_default(),
        mac_address: s.mac_address.clone().unwrap_or_default(),
        labels: Some(container_labels(p, s, number, oneoff, hash)),
        stop_signal: s.stop_signal.clone().unwrap_or_default(),
        stop_timeout: s.stop_grace_period.map(|d| d.as_secs() as i64),
        ..Default::default()
    };
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for v in &s.volumes {
        match v.kind {
            VolumeKind::Bind => {
                let src = v.source.clone().unwrap_or_default();
                if v.bind_create_host_path {
                    let mut spec = format!("{src}:{}", v.target);
                    let mut opts = Vec::new();
                    if v.read_only {
                        opts.push("ro".to_string());
                    }
                    if let Some(sel) = &v.bind_selinux {
                        opts.push(sel.clone());
                    }
                    if let Some(prop) = &v.bind_propagation {
                        opts.push(prop.clone());
                    }
                    if !opts.is_empty() {
                        spec.push(':');
                        spec.push_str(&opts.join(","));
                    }
                    binds.push(spec);
                } else {
                    mounts.push(Mount {
                        kind: MountType::Bind,
                        source: src,
                        target: v.target.clone(),
                        read_only: v.read_only,
                        bind_options: v.bind_propagation.as_ref().map(|prop| {
                            berth_api::container::BindOptions {
                                propagation: prop.clone(),
                                ..Default::default()
                            }
                        }),
                        ..Default::default()
                    });
                }
            }
            VolumeKind::Volume => mounts.push(Mount {
                kind: MountType::Volume,
                source: v
                    .source
                    .as_deref()
                    .map(|k| volume_name(p, k))
                    .unwrap_or_default(),
                target: v.target.clone(),
                read_only: v.read_only,
                volume_options: v.volume_nocopy.then(|| VolumeOptions {
                    no_copy: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            VolumeKind::Tmpfs => mounts.push(Mount {
                kind: MountType::Tmpfs,
                target: v.target.clone(),
                read_only: v.read_only,
                tmpfs_options: (v.tmpfs_size.is_some() || v.tmpfs_mode.is_some()).then(|| {
                    TmpfsOptions {
                        size_bytes: v.tmpfs_size.unwrap_or(0) as i64,
                        mode: v.tmpfs_mode.unwrap_or(0),
                        options: None,
                    }
                }),
                ..Default::default()
            }),
            _ => {}
        }
    }
    let tmpfs: StringMap = s
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_string(), opts.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect();
    let network_mode = match s.network_mode.as_deref() {
        Some(m) => match m.strip_prefix("service:") {
            Some(svc) => format!("container:{}", resolve(svc)),
            None => m.to_string(),
        },
        None => nets
            .first()
            .map(|n| network_name(p, n))
            .unwrap_or_else(|| "default".into()),
    };
    let links: Vec<String> = s
        .links
        .iter()
        .map(|l| {
            let (svc, alias) = l.split_once(':').unwrap_or((l, l));
            format!("{}:{alias}", resolve(svc))
        })
        .chain(s.external_links.iter().cloned())
        .collect();
    let volumes_from: Vec<String> = s
        .volumes_from
        .iter()
        .map(|v| {
            let (src, mode) = match v.rsplit_once(':') {
                Some((a, m)) if m == "ro" || m == "rw" => (a, Some(m)),
                _ => (v.as_str(), None),
            };
            let target = match src.strip_prefix("container:") {
                Some(c) => c.to_string(),
                None => resolve(src.strip_prefix("service:").unwrap_or(src)),
            };
            match mode {
                Some(m) => format!("{target}:{m}"),
                None => target,
            }
        })
        .collect();
    let devices: Vec<DeviceMapping> = s
        .devices
        .iter()
        .map(|d| {
            let parts: Vec<&str> = d.split(':').collect();
            let host = parts[0].to_string();
            let ctr = parts.get(1).unwrap_or(&parts[0]).to_string();
            DeviceMapping {
                path_on_host: host,
                path_in_container: ctr,
                cgroup_permissions: parts.get(2).unwrap_or(&"rwm").to_string(),
            }
        })
        .collect();
    let mut hc = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        mounts,
        network_mode: NetworkMode(network_mode.clone()),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        restart_policy: restart_policy(s.restart.as_deref()),
        cap_add: (!s.cap_add.is_empty()).then(|| s.cap_add.clone()),
        cap_drop: (!s.cap_drop.is_empty()).then(|| s.cap_drop.clone()),
        dns: (!s.dns.is_empty()).then(|| s.dns.clone()),
        dns_options: (!s.dns_opt.is_empty()).then(|| s.dns_opt.clone()),
        dns_search: (!s.dns_search.is_empty()).then(|| s.dns_search.clone()),
        extra_hosts: (!s.extra_hosts.is_empty()).then(|| s.extra_hosts.clone()),
        group_add: (!s.group_add.is_empty()).then(|| s.group_add.clone()),
        links: (!links.is_empty()).then_some(links),
        volumes_from: (!volumes_from.is_empty()).then_some(volumes_from),
        privileged: s.privileged,
        readonly_rootfs: s.read_only,
        security_opt: (!s.security_opt.is_empty()).then(|| s.security_opt.clone()),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        sysctls: (!s.sysctls.is_empty()).then(|| s.sysctls.clone()),
        shm_size: s.shm_size.unwrap_or(0) as i64,
        init: s.init,
        oom_score_adj: s.oom_score_adj.unwrap_or(0),
        pid_mode: NsMode(s.pid.clone().unwrap_or_default()),
        ipc_mode: NsMode(s.ipc.clone().unwrap_or_default()),
        uts_mode: NsMode(s.uts.clone().unwrap_or_default()),
        userns_mode: NsMode(s.userns_mode.clone().unwrap_or_default()),
        cgroup: s.cgroup.clone().unwrap_or_default(),
        runtime: s.runtime.clone().unwrap_or_default(),
        ..Default::default()
    };
    if let Some(l) = &s.logging {
        hc.log_config = LogConfig {
            driver: l.driver.clone().unwrap_or_default(),
            config: (!l.options.is_empty()).then(|| l.options.clone()),
        };
    }
    let r = &mut hc.resources;
    r.memory = s.mem_limit.unwrap_or(0) as i64;
    r.memory_reservation = s.mem_reservation.unwrap_or(0) as i64;
    r.memory_swap = s.memswap_limit.unwrap_or(0);
    r.nano_cpus = s.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0);
    r.cpu_shares = s.cpu_shares.unwrap_or(0);
    r.cpu_quota = s.cpu_quota.unwrap_or(0);
    r.cpu_period = s.cpu_period.unwrap_or(0);
    r.cpuset_cpus = s.cpuset.clone().unwrap_or_default();
    r.pids_limit = s.pids_limit;
    r.oom_kill_disable = s.oom_kill_disable;
    r.cgroup_parent = s.cgroup_parent.clone().unwrap_or_default();
    r.devices = (!devices.is_empty()).then_some(devices);
    r.device_cgroup_rules =
        (!s.device_cgroup_rules.is_empty()).then(|| s.device_cgroup_rules.clone());
    if !s.ulimits.is_empty() {
        r.ulimits = Some(
            s.ulimits
                .iter()
                .map(|(n, u)| Ulimit {
                    name: n.clone(),
                    soft: u.soft,
                    hard: u.hard,
                })
                .collect(),
        );
    }
    // The endpoints: on user networks the service name (and the container's
    // short name) as aliases, as docker compose sets them.
    let networking_config = if s.network_mode.is_none() {
        let mut eps = BTreeMap::new();
        for key in &nets {
            let c = &s.networks[key];
            let mut aliases = vec![name.to_string(), s.name.clone()];
            aliases.extend(c.aliases.iter().cloned());
            eps.insert(
                network_name(p, key),
                EndpointSettings {
                    aliases: Some(aliases),
                    ipam_config: (c.ipv4_address.is_some() || c.ipv6_address.is_some()).then(
                        || EndpointIpamConfig {
                            ipv4_address: c.ipv4_address.clone().unwrap_or_default(),
                            ipv6_address: c.ipv6_address.clone().unwrap_or_default(),
                            link_local_ips: None,
                        },
                    ),
                    mac_address: c.mac_address.clone().unwrap_or_default(),
                    driver_opts: (!c.driver_opts.is_empty()).then(|| c.driver_opts.clone()),
                    ..Default::default()
                },
            );
        }
        Some(NetworkingConfig {
            endpoints_config: Some(eps),
        })
    } else {
        None
    };
    CreateRequest {
        config,
        host_config: Some(hc),
        networking_config,
    }
}

/// The create request of project network `key`.
pub fn network_request(p: &Project, key: &str, n: &Network) -> berth_api::network::CreateRequest {
    let mut labels_: StringMap = n.labels.clone();
    labels_.insert(labels::PROJECT.into(), p.name.clone());
    labels_.insert(labels::NETWORK.into(), key.to_string());
    labels_.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    berth_api::network::CreateRequest {
        name: n.name.clone(),
        driver: n.driver.clone().unwrap_or_else(|| "bridge".into()),
        internal: n.internal,
        attachable: n.attachable,
        enable_ipv6: n.enable_ipv6,
        enable_ipv4: n.enable_ipv4,
        options: (!n.driver_opts.is_empty()).then(|| n.driver_opts.clone()),
        labels: Some(labels_),
        ipam: n.ipam.as_ref().map(|i| berth_api::network::Ipam {
            driver: i.driver.clone().unwrap_or_else(|| "default".into()),
            config: Some(
                i.config
                    .iter()
                    .map(|c| berth_api::network::IpamConfig {
                        subnet: c.subnet.clone().unwrap_or_default(),
                        gateway: c.gateway.clone().unwrap_or_default(),
                        ip_range: c.ip_range.clone().unwrap_or_default(),
                        auxiliary_addresses: (!c.aux_addresses.is_empty())
                            .then(|| c.aux_addresses.clone()),
                    })
                    .collect(),
            ),
            options: (!i.options.is_empty()).then(|| i.options.clone()),
        }),
        ..Default::default()
    }
}

/// The create request of project volume `key`.
pub fn volume_request(
    p: &Project,
    key: &str,
    v: &crate::model::Volume,
) -> berth_api::volume::CreateRequest {
    let mut l: StringMap = v.labels.clone();
    l.insert(labels::PROJECT.into(), p.name.clone());
    l.insert(labels::VOLUME.into(), key.to_string());
    l.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
    berth_api::volume::CreateRequest {
        name: v.name.clone(),
        driver: v.driver.clone().unwrap_or_else(|| "local".into()),
        driver_opts: (!v.driver_opts.is_empty()).then(|| v.driver_opts.clone()),
        labels: Some(l),
    }
}

//! Key validation against the compose specification's schema: unknown keys
//! (other than `x-*` extensions) are errors, in compose's words
//! (`services.web Additional property foo is not allowed`).

use serde_yaml::{Mapping, Value};

use crate::Error;

const TOP: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models",
];

pub(crate) const SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

const BUILD: &[&str] = &[
    "additional_contexts",
    "args",
    "cache_from",
    "cache_to",
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "extra_hosts",
    "isolation",
    "labels",
    "network",
    "no_cache",
    "no_cache_filter",
    "platforms",
    "privileged",
    "provenance",
    "pull",
    "sbom",
    "secrets",
    "shm_size",
    "ssh",
    "tags",
    "target",
    "ulimits",
];
const HEALTHCHECK: &[&str] = &[
    "disable",
    "interval",
    "retries",
    "start_interval",
    "start_period",
    "test",
    "timeout",
];
const DEPLOY: &[&str] = &[
    "endpoint_mode",
    "labels",
    "mode",
    "placement",
    "replicas",
    "resources",
    "restart_policy",
    "rollback_config",
    "update_config",
];
const RESOURCES: &[&str] = &["limits", "reservations"];
const LIMITS: &[&str] = &["cpus", "memory", "pids"];
const RESERVATIONS: &[&str] = &["cpus", "memory", "devices", "generic_resources"];
const RESTART_POLICY: &[&str] = &["condition", "delay", "max_attempts", "window"];
const LOGGING: &[&str] = &["driver", "options"];
const EXTENDS: &[&str] = &["service", "file"];
const PORT: &[&str] = &[
    "name",
    "mode",
    "host_ip",
    "target",
    "published",
    "protocol",
    "app_protocol",
];
const VOLUME_MOUNT: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];
const MOUNT_BIND: &[&str] = &["propagation", "create_host_path", "recursive", "selinux"];
const MOUNT_VOLUME: &[&str] = &["labels", "nocopy", "subpath"];
const MOUNT_TMPFS: &[&str] = &["size", "mode"];
const MOUNT_IMAGE: &[&str] = &["subpath"];
const DEPENDS_ON: &[&str] = &["condition", "restart", "required"];
const SERVICE_NETWORK: &[&str] = &[
    "aliases",
    "interface_name",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "driver_opts",
    "priority",
    "gw_priority",
];
const FILE_REF: &[&str] = &["source", "target", "uid", "gid", "mode"];
const ULIMIT: &[&str] = &["soft", "hard"];
const ENV_FILE: &[&str] = &["path", "format", "required"];
const DEVICE: &[&str] = &["source", "target", "permissions"];

const NETWORK: &[&str] = &[
    "attachable",
    "driver",
    "driver_opts",
    "enable_ipv4",
    "enable_ipv6",
    "external",
    "internal",
    "ipam",
    "labels",
    "name",
];
const IPAM: &[&str] = &["driver", "config", "options"];
const IPAM_CONFIG: &[&str] = &["subnet", "ip_range", "gateway", "aux_addresses"];
const VOLUME: &[&str] = &["driver", "driver_opts", "external", "labels", "name"];
const SECRET: &[&str] = &[
    "driver",
    "driver_opts",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];
const CONFIG: &[&str] = &[
    "content",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];
const EXTERNAL: &[&str] = &["name"];
const INCLUDE: &[&str] = &["env_file", "path", "project_directory"];

fn check(m: &Mapping, allowed: &[&str], path: &str) -> Result<(), Error> {
    for k in m.keys() {
        let k = k.as_str().unwrap_or_default();
        if k.starts_with("x-") || allowed.contains(&k) {
            continue;
        }
        return Err(Error::schema(format!(
            "{path} Additional property {k} is not allowed"
        )));
    }
    Ok(())
}

fn check_if_map(v: Option<&Value>, allowed: &[&str], path: &str) -> Result<(), Error> {
    if let Some(Value::Mapping(m)) = v.map(untag) {
        check(m, allowed, path)?;
    }
    Ok(())
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn map_entries(v: Option<&Value>) -> Vec<(&str, &Value)> {
    match v.map(untag) {
        Some(Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| (k.as_str().unwrap_or_default(), v))
            .collect(),
        _ => vec![],
    }
}

fn seq_items(v: Option<&Value>) -> Vec<&Value> {
    match v.map(untag) {
        Some(Value::Sequence(s)) => s.iter().map(untag).collect(),
        _ => vec![],
    }
}

fn valid_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Validates the keys of one (interpolated) compose document.
pub(crate) fn validate(doc: &Mapping) -> Result<(), Error> {
    check(doc, TOP, "(root)")?;
    if let Some(v) = doc.get("services") {
        match untag(v) {
            Value::Mapping(services) => {
                for (name, svc) in services {
                    let name = name.as_str().unwrap_or_default();
                    if !valid_resource_name(name) {
                        return Err(Error::schema(format!(
                            "services Additional property {name} is not allowed"
                        )));
                    }
                    match untag(svc) {
                        Value::Mapping(s) => validate_service(s, &format!("services.{name}"))?,
                        Value::Null => {}
                        _ => {
                            return Err(Error::schema(format!(
                                "services.{name} must be a mapping"
                            )));
                        }
                    }
                }
            }
            Value::Null => {}
            _ => return Err(Error::schema("services must be a mapping")),
        }
    }
    for (section, allowed) in [
        ("networks", NETWORK),
        ("volumes", VOLUME),
        ("secrets", SECRET),
        ("configs", CONFIG),
    ] {
        match doc.get(section).map(untag) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                for (name, v) in m {
                    let name = name.as_str().unwrap_or_default();
                    let path = format!("{section}.{name}");
                    match untag(v) {
                        Value::Mapping(body) => {
                            check(body, allowed, &path)?;
                            check_if_map(
                                body.get("external"),
                                EXTERNAL,
                                &format!("{path}.external"),
                            )?;
                            if section == "networks" {
                                check_if_map(body.get("ipam"), IPAM, &format!("{path}.ipam"))?;
                                if let Some(Value::Mapping(ipam)) = body.get("ipam").map(untag) {
                                    for c in seq_items(ipam.get("config")) {
                                        if let Value::Mapping(c) = c {
                                            check(c, IPAM_CONFIG, &format!("{path}.ipam.config"))?;
                                        }
                                    }
                                }
                            }
                        }
                        Value::Null => {}
                        _ => return Err(Error::schema(format!("{path} must be a mapping"))),
                    }
                }
            }
            Some(_) => return Err(Error::schema(format!("{section} must be a mapping"))),
        }
    }
    for item in seq_items(doc.get("include")) {
        if let Value::Mapping(m) = item {
            check(m, INCLUDE, "include")?;
        }
    }
    Ok(())
}

fn validate_service(s: &Mapping, path: &str) -> Result<(), Error> {
    check(s, SERVICE, path)?;
    check_if_map(s.get("build"), BUILD, &format!("{path}.build"))?;
    check_if_map(
        s.get("healthcheck"),
        HEALTHCHECK,
        &format!("{path}.healthcheck"),
    )?;
    check_if_map(s.get("logging"), LOGGING, &format!("{path}.logging"))?;
    check_if_map(s.get("extends"), EXTENDS, &format!("{path}.extends"))?;
    if let Some(Value::Mapping(d)) = s.get("deploy").map(untag) {
        let dp = format!("{path}.deploy");
        check(d, DEPLOY, &dp)?;
        check_if_map(
            d.get("restart_policy"),
            RESTART_POLICY,
            &format!("{dp}.restart_policy"),
        )?;
        if let Some(Value::Mapping(r)) = d.get("resources").map(untag) {
            check(r, RESOURCES, &format!("{dp}.resources"))?;
            check_if_map(r.get("limits"), LIMITS, &format!("{dp}.resources.limits"))?;
            check_if_map(
                r.get("reservations"),
                RESERVATIONS,
                &format!("{dp}.resources.reservations"),
            )?;
        }
    }
    for p in seq_items(s.get("ports")) {
        if let Value::Mapping(p) = p {
            check(p, PORT, &format!("{path}.ports"))?;
        }
    }
    for v in seq_items(s.get("volumes")) {
        if let Value::Mapping(v) = v {
            let vp = format!("{path}.volumes");
            check(v, VOLUME_MOUNT, &vp)?;
            check_if_map(v.get("bind"), MOUNT_BIND, &format!("{vp}.bind"))?;
            check_if_map(v.get("volume"), MOUNT_VOLUME, &format!("{vp}.volume"))?;
            check_if_map(v.get("tmpfs"), MOUNT_TMPFS, &format!("{vp}.tmpfs"))?;
            check_if_map(v.get("image"), MOUNT_IMAGE, &format!("{vp}.image"))?;
        }
    }
    for (dep, body) in map_entries(s.get("depends_on")) {
        check_if_map(Some(body), DEPENDS_ON, &format!("{path}.depends_on.{dep}"))?;
    }
    for (net, body) in map_entries(s.get("networks")) {
        check_if_map(
            Some(body),
            SERVICE_NETWORK,
            &format!("{path}.networks.{net}"),
        )?;
    }
    for key in ["secrets", "configs"] {
        for v in seq_items(s.get(key)) {
            if let Value::Mapping(v) = v {
                check(v, FILE_REF, &format!("{path}.{key}"))?;
            }
        }
    }
    for (name, body) in map_entries(s.get("ulimits")) {
        check_if_map(Some(body), ULIMIT, &format!("{path}.ulimits.{name}"))?;
    }
    for v in seq_items(s.get("env_file")) {
        if let Value::Mapping(v) = v {
            check(v, ENV_FILE, &format!("{path}.env_file"))?;
        }
    }
    for v in seq_items(s.get("devices")) {
        if let Value::Mapping(v) = v {
            check(v, DEVICE, &format!("{path}.devices"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Result<(), Error> {
        let m: Mapping = serde_yaml::from_str(text).unwrap();
        validate(&m)
    }

    #[test]
    fn unknown_keys() {
        assert!(v("services:\n  web:\n    image: busybox\n    x-foo: 1\nx-top: 2\n").is_ok());
        assert_eq!(
            v("services:\n  web:\n    image: busybox\n    foo: 1\n")
                .unwrap_err()
                .to_string(),
            "services.web Additional property foo is not allowed"
        );
        assert_eq!(
            v("servicez: {}\n").unwrap_err().to_string(),
            "(root) Additional property servicez is not allowed"
        );
        assert_eq!(
            v("services:\n  web:\n    build: {context: ., dockerfil: x}\n")
                .unwrap_err()
                .to_string(),
            "services.web.build Additional property dockerfil is not allowed"
        );
        assert_eq!(
            v("services:\n  web:\n    ports: [{target: 80, publish: 8080}]\n")
                .unwrap_err()
                .to_string(),
            "services.web.ports Additional property publish is not allowed"
        );
        assert_eq!(
            v("networks:\n  front: {drivr: bridge}\n")
                .unwrap_err()
                .to_string(),
            "networks.front Additional property drivr is not allowed"
        );
        assert_eq!(
            v("services:\n  web:\n    depends_on: {db: {condition: service_healthy, wait: 1}}\n")
                .unwrap_err()
                .to_string(),
            "services.web.depends_on.db Additional property wait is not allowed"
        );
    }

    #[test]
    fn shapes() {
        assert!(v("services: [a]\n").is_err());
        assert!(v("services:\n  web: 3\n").is_err());
        assert!(v("services:\n  web:\n").is_ok());
        assert!(v("services:\n  'we b': {image: x}\n").is_err());
    }
}

//! Merging compose documents (several `-f` files, `extends`) with compose's
//! rules, on canonical (long-syntax) trees:
//!
//! * mappings merge key by key, recursively; a `null` in the override keeps the base;
//! * `command`, `entrypoint`, `healthcheck.test` are replaced;
//! * `environment`, `labels`, `annotations`, `sysctls`, `build.args`, ... merge
//!   by key (an override entry, even `null`, replaces the base entry);
//! * `logging` options merge only when both sides use the same driver (or one has none);
//! * sequences are appended, then made unique by their key: `ports` by
//!   `host_ip:published:target/protocol`, `volumes` by target, `secrets` /
//!   `configs` by target, `devices` by container path, `env_file` by path,
//!   and plain lists (`expose`, `dns`, `cap_add`, ...) by value;
//!   a later entry with the same key replaces the earlier one in place;
//! * `networks.*.ipam.config` merges entries with the same subnet;
//! * `!reset` removes a value, `!override` replaces it without merging.

use serde_yaml::{Mapping, Value};

use super::canonical::scalar_string;
use super::yaml::{TAG_OVERRIDE, TAG_RESET, special_tag};
use crate::Error;

fn is(path: &[String], pattern: &[&str]) -> bool {
    path.len() == pattern.len() && path.iter().zip(pattern).all(|(p, q)| *q == "*" || p == q)
}

const KV_PATHS: &[&[&str]] = &[
    &["services", "*", "environment"],
    &["services", "*", "labels"],
    &["services", "*", "annotations"],
    &["services", "*", "sysctls"],
    &["services", "*", "build", "args"],
    &["services", "*", "build", "labels"],
    &["services", "*", "build", "additional_contexts"],
    &["services", "*", "deploy", "labels"],
    &["services", "*", "logging", "options"],
    &["networks", "*", "labels"],
    &["networks", "*", "driver_opts"],
    &["volumes", "*", "labels"],
    &["volumes", "*", "driver_opts"],
    &["secrets", "*", "labels"],
    &["configs", "*", "labels"],
];

const REPLACE_PATHS: &[&[&str]] = &[
    &["services", "*", "command"],
    &["services", "*", "entrypoint"],
    &["services", "*", "healthcheck", "test"],
];

/// Merges `over` onto `base` (both whole documents).
pub(crate) fn merge_docs(base: Mapping, over: Mapping) -> Result<Mapping, Error> {
    merge_mapping(base, over, &mut Vec::new())
}

/// Merges a service definition onto its `extends` base.
pub(crate) fn merge_service(base: Mapping, over: Mapping) -> Result<Mapping, Error> {
    merge_mapping(
        base,
        over,
        &mut vec!["services".to_string(), "x".to_string()],
    )
}

fn untag(v: Value) -> Value {
    match v {
        Value::Tagged(t) => untag(t.value),
        other => other,
    }
}

fn merge_mapping(
    mut base: Mapping,
    over: Mapping,
    path: &mut Vec<String>,
) -> Result<Mapping, Error> {
    for (k, v) in over {
        match special_tag(&v).as_deref() {
            Some(TAG_RESET) => {
                base.remove(&k);
                continue;
            }
            Some(TAG_OVERRIDE) => {
                base.insert(k, untag(v));
                continue;
            }
            _ => {}
        }
        match base.get_mut(&k) {
            None => {
                base.insert(k, v);
            }
            Some(slot) => {
                path.push(k.as_str().unwrap_or_default().to_string());
                let e = std::mem::take(slot);
                *slot = merge_value(e, v, path)?;
                path.pop();
            }
        }
    }
    Ok(base)
}

fn merge_value(e: Value, o: Value, path: &mut Vec<String>) -> Result<Value, Error> {
    if o.is_null() {
        return Ok(e);
    }
    if REPLACE_PATHS.iter().any(|p| is(path, p)) {
        return Ok(o);
    }
    if KV_PATHS.iter().any(|p| is(path, p)) {
        return Ok(match (e, o) {
            (Value::Mapping(mut a), Value::Mapping(b)) => {
                for (k, v) in b {
                    if special_tag(&v).as_deref() == Some(TAG_RESET) {
                        a.remove(&k);
                    } else {
                        a.insert(k, untag(v));
                    }
                }
                Value::Mapping(a)
            }
            (_, o) => o,
        });
    }
    if is(path, &["services", "*", "logging"])
        && let (Value::Mapping(a), Value::Mapping(b)) = (&e, &o)
    {
        let da = a.get("driver").and_then(scalar_string);
        let db = b.get("driver").and_then(scalar_string);
        if da.is_some() && db.is_some() && da != db {
            return Ok(o);
        }
    }
    match (e, o) {
        (Value::Mapping(a), Value::Mapping(b)) => Ok(Value::Mapping(merge_mapping(a, b, path)?)),
        (Value::Sequence(a), Value::Sequence(b)) => {
            if is(path, &["networks", "*", "ipam", "config"]) {
                return Ok(Value::Sequence(merge_ipam_config(a, b)?));
            }
            let mut a = a;
            a.extend(b);
            Ok(Value::Sequence(a))
        }
        (Value::Mapping(_), _) | (Value::Sequence(_), _) => {
            Err(Error::Other(format!("cannot override {}", path.join("."))))
        }
        (_, o) => Ok(o),
    }
}

fn merge_ipam_config(base: Vec<Value>, over: Vec<Value>) -> Result<Vec<Value>, Error> {
    let mut out = base;
    for o in over {
        let subnet = o.get("subnet").and_then(scalar_string);
        let pos = out
            .iter()
            .position(|e| subnet.is_some() && e.get("subnet").and_then(scalar_string) == subnet);
        match (pos, o) {
            (Some(i), Value::Mapping(om)) => {
                let e = std::mem::take(&mut out[i]);
                out[i] = match e {
                    Value::Mapping(em) => {
                        Value::Mapping(merge_mapping(em, om, &mut vec!["ipam".into()])?)
                    }
                    _ => Value::Mapping(om),
                };
            }
            (_, o) => out.push(o),
        }
    }
    Ok(out)
}

type KeyFn = fn(&Value) -> Option<String>;

fn by_value(v: &Value) -> Option<String> {
    scalar_string(v)
}

fn port_key(v: &Value) -> Option<String> {
    let m = v.as_mapping()?;
    let get = |k: &str| m.get(k).and_then(scalar_string).unwrap_or_default();
    Some(format!(
        "{}:{}:{}/{}",
        get("host_ip"),
        get("published"),
        get("target"),
        get("protocol")
    ))
}

fn target_key(v: &Value) -> Option<String> {
    v.as_mapping()?.get("target").and_then(scalar_string)
}

fn secret_key(v: &Value) -> Option<String> {
    let m = v.as_mapping()?;
    m.get("target").and_then(scalar_string).or_else(|| {
        m.get("source")
            .and_then(scalar_string)
            .map(|s| format!("/run/secrets/{s}"))
    })
}

fn config_key(v: &Value) -> Option<String> {
    let m = v.as_mapping()?;
    m.get("target").and_then(scalar_string).or_else(|| {
        m.get("source")
            .and_then(scalar_string)
            .map(|s| format!("/{s}"))
    })
}

fn device_key(v: &Value) -> Option<String> {
    let s = scalar_string(v)?;
    let mut parts = s.split(':');
    let first = parts.next().unwrap_or_default().to_string();
    Some(parts.next().map(str::to_string).unwrap_or(first))
}

fn path_key(v: &Value) -> Option<String> {
    v.as_mapping()?.get("path").and_then(scalar_string)
}

const UNIQUE: &[(&str, KeyFn)] = &[
    ("ports", port_key),
    ("volumes", target_key),
    ("secrets", secret_key),
    ("configs", config_key),
    ("devices", device_key),
    ("env_file", path_key),
    ("expose", by_value),
    ("dns", by_value),
    ("dns_search", by_value),
    ("dns_opt", by_value),
    ("cap_add", by_value),
    ("cap_drop", by_value),
    ("profiles", by_value),
    ("tmpfs", by_value),
    ("links", by_value),
    ("external_links", by_value),
    ("group_add", by_value),
    ("extra_hosts", by_value),
    ("security_opt", by_value),
    ("device_cgroup_rules", by_value),
    ("volumes_from", by_value),
    ("label_file", by_value),
];

fn dedupe(seq: &mut Vec<Value>, key: KeyFn) {
    let mut out: Vec<Value> = Vec::with_capacity(seq.len());
    let mut keys: Vec<Option<String>> = Vec::with_capacity(seq.len());
    for v in seq.drain(..) {
        let k = key(&v);
        match k
            .as_ref()
            .and_then(|k| keys.iter().position(|e| e.as_ref() == Some(k)))
        {
            Some(i) => out[i] = v,
            None => {
                keys.push(k);
                out.push(v);
            }
        }
    }
    *seq = out;
}

/// Removes redefinitions in the sequences compose keeps unique (see module docs).
pub(crate) fn enforce_unicity(doc: &mut Mapping) {
    let Some(Value::Mapping(services)) = doc.get_mut("services") else {
        return;
    };
    for (_, svc) in services.iter_mut() {
        let Value::Mapping(svc) = svc else { continue };
        for (field, key) in UNIQUE {
            if let Some(Value::Sequence(seq)) = svc.get_mut(*field) {
                dedupe(seq, *key);
            }
        }
        if let Some(Value::Mapping(b)) = svc.get_mut("build") {
            for f in ["cache_from", "cache_to", "tags", "platforms"] {
                if let Some(Value::Sequence(seq)) = b.get_mut(f) {
                    dedupe(seq, by_value);
                }
            }
            if let Some(Value::Sequence(seq)) = b.get_mut("extra_hosts") {
                dedupe(seq, by_value);
            }
        }
        if let Some(Value::Mapping(nets)) = svc.get_mut("networks") {
            for (_, n) in nets.iter_mut() {
                if let Value::Mapping(n) = n
                    && let Some(Value::Sequence(a)) = n.get_mut("aliases")
                {
                    dedupe(a, by_value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Mapping {
        let v: Value = serde_yaml::from_str(s).unwrap();
        match super::super::yaml::prepare(v).unwrap() {
            Value::Mapping(m) => m,
            _ => panic!(),
        }
    }

    #[test]
    fn rules() {
        let base = y(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: {A: '1', B: '2'}\n    ports: [{target: 80, published: '8080', protocol: tcp}]\n    expose: ['1']\n",
        );
        let over = y(
            "services:\n  web:\n    image: b\n    command: [z]\n    environment: {B: '3', C: null}\n    ports: [{target: 80, published: '8080', protocol: tcp}, {target: 81, protocol: tcp}]\n    expose: ['1', '2']\n",
        );
        let mut m = merge_docs(base, over).unwrap();
        enforce_unicity(&mut m);
        let web = &m["services"]["web"];
        assert_eq!(web["image"], Value::from("b"));
        assert_eq!(
            web["command"],
            serde_yaml::from_str::<Value>("[z]").unwrap()
        );
        assert_eq!(web["environment"]["A"], Value::from("1"));
        assert_eq!(web["environment"]["B"], Value::from("3"));
        assert_eq!(web["environment"]["C"], Value::Null);
        assert_eq!(web["ports"].as_sequence().unwrap().len(), 2);
        assert_eq!(
            web["expose"],
            serde_yaml::from_str::<Value>("['1', '2']").unwrap()
        );
    }

    #[test]
    fn null_keeps_base_and_tags() {
        let base =
            y("services:\n  web:\n    image: a\n    ports: [{target: 80}]\n    user: root\n");
        let over = y(
            "services:\n  web:\n    image: null\n    ports: !reset []\n    user: !override nobody\n",
        );
        let m = merge_docs(base, over).unwrap();
        let web = &m["services"]["web"];
        assert_eq!(web["image"], Value::from("a"));
        assert!(web.get("ports").is_none());
        assert_eq!(web["user"], Value::from("nobody"));
    }

    #[test]
    fn logging_driver_rule() {
        let base =
            y("services:\n  web:\n    logging: {driver: json-file, options: {max-size: 1m}}\n");
        let over = y("services:\n  web:\n    logging: {driver: syslog, options: {tag: x}}\n");
        let m = merge_docs(base.clone(), over).unwrap();
        assert!(
            m["services"]["web"]["logging"]["options"]
                .get("max-size")
                .is_none()
        );
        let over = y("services:\n  web:\n    logging: {options: {tag: x}}\n");
        let m = merge_docs(base, over).unwrap();
        assert_eq!(
            m["services"]["web"]["logging"]["options"]["max-size"],
            Value::from("1m")
        );
        assert_eq!(
            m["services"]["web"]["logging"]["driver"],
            Value::from("json-file")
        );
    }

    #[test]
    fn volumes_by_target() {
        let base = y(
            "services:\n  w:\n    volumes: [{type: volume, source: a, target: /data}, {type: volume, source: b, target: /b}]\n",
        );
        let over = y("services:\n  w:\n    volumes: [{type: bind, source: /h, target: /data}]\n");
        let mut m = merge_docs(base, over).unwrap();
        enforce_unicity(&mut m);
        let v = m["services"]["w"]["volumes"].as_sequence().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["source"], Value::from("/h"));
        assert_eq!(v[1]["target"], Value::from("/b"));
    }

    #[test]
    fn ipam_by_subnet() {
        let base =
            y("networks:\n  n:\n    ipam: {config: [{subnet: 10.0.0.0/24, gateway: 10.0.0.1}]}\n");
        let over = y(
            "networks:\n  n:\n    ipam: {config: [{subnet: 10.0.0.0/24, ip_range: 10.0.0.0/25}, {subnet: 10.1.0.0/24}]}\n",
        );
        let m = merge_docs(base, over).unwrap();
        let c = m["networks"]["n"]["ipam"]["config"].as_sequence().unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["gateway"], Value::from("10.0.0.1"));
        assert_eq!(c[0]["ip_range"], Value::from("10.0.0.0/25"));
    }

    #[test]
    fn type_mismatch() {
        let base = y("services:\n  w:\n    deploy: {replicas: 1}\n");
        let over = y("services:\n  w:\n    deploy: 3\n");
        assert!(
            merge_docs(base, over)
                .unwrap_err()
                .to_string()
                .contains("cannot override services.w.deploy")
        );
    }
}

//! Conversion of short syntaxes to their long form, on the YAML tree, before
//! files are merged (so that merging can work key by key), and rebasing of
//! relative paths (for files pulled in by `extends: {file:}` and `include`).

use std::path::{Component, Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::Error;
use crate::model::is_remote_context;

pub(crate) fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// A scalar as a string (numbers and booleans as YAML writes them).
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(t) => scalar_string(&t.value),
        _ => None,
    }
}

fn is_tagged(v: &Value) -> bool {
    matches!(v, Value::Tagged(_))
}

/// Applies `f` to the value of `key` (if present and not `!reset`/`!override`-tagged
/// at the top, in which case `f` is applied to the tagged inner value).
fn with_key(
    m: &mut Mapping,
    key: &str,
    f: impl FnOnce(Value) -> Result<Value, Error>,
) -> Result<(), Error> {
    if let Some(v) = m.get_mut(key) {
        let taken = std::mem::take(v);
        *v = match taken {
            Value::Tagged(mut t) => {
                let inner = std::mem::take(&mut t.value);
                t.value = if matches!(inner, Value::Null) {
                    inner
                } else {
                    f(inner)?
                };
                Value::Tagged(t)
            }
            other => f(other)?,
        };
    }
    Ok(())
}

/// `list_or_dict` to a mapping of string (or null) values.
/// `KEY=VAL` → `KEY: VAL`, `KEY` → `KEY: null`.
pub(crate) fn kv_map(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Mapping::new();
    match v {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, v) in m {
                let key = k.as_str().unwrap_or_default().to_string();
                let value = match &v {
                    Value::Null => Value::Null,
                    Value::Tagged(_) => v.clone(),
                    other => match scalar_string(other) {
                        Some(s) => Value::String(s),
                        None => {
                            return Err(Error::schema(format!(
                                "{path}.{key} must be a string, number, boolean or null"
                            )));
                        }
                    },
                };
                out.insert(Value::String(key), value);
            }
        }
        Value::Sequence(seq) => {
            for item in seq {
                let Some(item) = scalar_string(&item) else {
                    return Err(Error::schema(format!(
                        "{path} must be a mapping or a list of strings"
                    )));
                };
                match item.split_once('=') {
                    Some((k, v)) => out.insert(s(k), s(v)),
                    None => out.insert(Value::String(item), Value::Null),
                };
            }
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            return Err(Error::schema(format!("{path} must be a mapping or a list")));
        }
        Value::Tagged(t) => return kv_map(t.value, path),
    }
    Ok(Value::Mapping(out))
}

/// `string_or_list` to a list of strings.
fn str_list(v: Value, path: &str) -> Result<Value, Error> {
    match v {
        Value::Null => Ok(Value::Sequence(vec![])),
        Value::Sequence(seq) => {
            let mut out = Vec::new();
            for item in seq {
                if is_tagged(&item) {
                    out.push(item);
                    continue;
                }
                match scalar_string(&item) {
                    Some(x) => out.push(Value::String(x)),
                    None => return Err(Error::schema(format!("{path} must be a list of strings"))),
                }
            }
            Ok(Value::Sequence(out))
        }
        other => match scalar_string(&other) {
            Some(x) => Ok(Value::Sequence(vec![Value::String(x)])),
            None => Err(Error::schema(format!(
                "{path} must be a string or a list of strings"
            ))),
        },
    }
}

fn seq(v: Value, path: &str) -> Result<Vec<Value>, Error> {
    match v {
        Value::Null => Ok(vec![]),
        Value::Sequence(s) => Ok(s),
        _ => Err(Error::schema(format!("{path} must be a list"))),
    }
}

/// Converts one service definition to canonical (long) syntax in place.
pub(crate) fn service(svc: &mut Mapping, path: &str) -> Result<(), Error> {
    with_key(svc, "build", |v| match v {
        Value::Mapping(mut b) => {
            for k in ["args", "labels", "additional_contexts"] {
                with_key(&mut b, k, |v| kv_map(v, &format!("{path}.build.{k}")))?;
            }
            with_key(&mut b, "extra_hosts", |v| {
                extra_hosts(v, &format!("{path}.build.extra_hosts"))
            })?;
            for k in ["cache_from", "cache_to", "tags", "platforms"] {
                with_key(&mut b, k, |v| str_list(v, &format!("{path}.build.{k}")))?;
            }
            Ok(Value::Mapping(b))
        }
        other => match scalar_string(&other) {
            Some(ctx) => {
                let mut b = Mapping::new();
                b.insert(s("context"), Value::String(ctx));
                Ok(Value::Mapping(b))
            }
            None => Err(Error::schema(format!(
                "{path}.build must be a string or a mapping"
            ))),
        },
    })?;
    for k in ["environment", "labels", "annotations", "sysctls"] {
        with_key(svc, k, |v| kv_map(v, &format!("{path}.{k}")))?;
    }
    for k in [
        "dns",
        "dns_search",
        "dns_opt",
        "tmpfs",
        "label_file",
        "cap_add",
        "cap_drop",
        "security_opt",
        "profiles",
        "links",
        "external_links",
        "volumes_from",
        "group_add",
        "device_cgroup_rules",
    ] {
        with_key(svc, k, |v| str_list(v, &format!("{path}.{k}")))?;
    }
    with_key(svc, "expose", |v| str_list(v, &format!("{path}.expose")))?;
    with_key(svc, "extra_hosts", |v| {
        extra_hosts(v, &format!("{path}.extra_hosts"))
    })?;
    with_key(svc, "env_file", |v| {
        env_file(v, &format!("{path}.env_file"))
    })?;
    with_key(svc, "depends_on", |v| {
        depends_on(v, &format!("{path}.depends_on"))
    })?;
    with_key(svc, "networks", |v| {
        service_networks(v, &format!("{path}.networks"))
    })?;
    with_key(svc, "ports", |v| ports(v, &format!("{path}.ports")))?;
    with_key(svc, "volumes", |v| volumes(v, &format!("{path}.volumes")))?;
    with_key(svc, "devices", |v| devices(v, &format!("{path}.devices")))?;
    with_key(svc, "secrets", |v| file_refs(v, &format!("{path}.secrets")))?;
    with_key(svc, "configs", |v| file_refs(v, &format!("{path}.configs")))?;
    with_key(svc, "ulimits", |v| ulimits(v, &format!("{path}.ulimits")))?;
    with_key(svc, "extends", |v| match v {
        Value::Mapping(m) => Ok(Value::Mapping(m)),
        other => match scalar_string(&other) {
            Some(name) => {
                let mut m = Mapping::new();
                m.insert(s("service"), Value::String(name));
                Ok(Value::Mapping(m))
            }
            None => Err(Error::schema(format!(
                "{path}.extends must be a string or a mapping"
            ))),
        },
    })?;
    if let Some(Value::Mapping(d)) = svc.get_mut("deploy") {
        with_key(d, "labels", |v| kv_map(v, &format!("{path}.deploy.labels")))?;
    }
    if let Some(Value::Mapping(l)) = svc.get_mut("logging") {
        with_key(l, "options", |v| {
            kv_map(v, &format!("{path}.logging.options"))
        })?;
    }
    Ok(())
}

/// Canonical form of a top-level network/volume/secret/config: labels as a
/// mapping, legacy `external: {name: x}` as `external: true` + `name: x`.
pub(crate) fn resource(body: &mut Mapping, path: &str) -> Result<(), Error> {
    with_key(body, "labels", |v| kv_map(v, &format!("{path}.labels")))?;
    with_key(body, "driver_opts", |v| {
        kv_map(v, &format!("{path}.driver_opts"))
    })?;
    if let Some(Value::Mapping(ext)) = body.get("external").cloned() {
        if let Some(name) = ext.get("name").and_then(scalar_string) {
            body.insert(s("name"), Value::String(name));
        }
        body.insert(s("external"), Value::Bool(true));
    }
    Ok(())
}

fn extra_hosts(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, v) in m {
                let host = k.as_str().unwrap_or_default().to_string();
                match v {
                    Value::Sequence(ips) => {
                        for ip in ips {
                            let ip = scalar_string(&ip).unwrap_or_default();
                            out.push(Value::String(format!("{host}:{ip}")));
                        }
                    }
                    other => {
                        let ip = scalar_string(&other).unwrap_or_default();
                        out.push(Value::String(format!("{host}:{ip}")));
                    }
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                let Some(item) = scalar_string(&item) else {
                    return Err(Error::schema(format!("{path} must be a list of strings")));
                };
                // `host=ip` (compose >= 2.24) and `host:ip` are both accepted.
                let norm = match (item.find('='), item.find(':')) {
                    (Some(e), Some(c)) if e < c => format!("{}:{}", &item[..e], &item[e + 1..]),
                    (Some(e), None) => format!("{}:{}", &item[..e], &item[e + 1..]),
                    _ => item,
                };
                out.push(Value::String(norm));
            }
        }
        _ => return Err(Error::schema(format!("{path} must be a mapping or a list"))),
    }
    Ok(Value::Sequence(out))
}

fn env_file(v: Value, path: &str) -> Result<Value, Error> {
    let items = match v {
        Value::Sequence(s) => s,
        Value::Null => vec![],
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Mapping(m) => {
                if m.get("path").and_then(scalar_string).is_none() {
                    return Err(Error::schema(format!("{path} entries need a path")));
                }
                out.push(Value::Mapping(m));
            }
            other => match scalar_string(&other) {
                Some(p) => {
                    let mut m = Mapping::new();
                    m.insert(s("path"), Value::String(p));
                    out.push(Value::Mapping(m));
                }
                None => return Err(Error::schema(format!("{path} must be a string or a list"))),
            },
        }
    }
    Ok(Value::Sequence(out))
}

fn depends_on(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Mapping::new();
    let default = || {
        let mut d = Mapping::new();
        d.insert(s("condition"), s("service_started"));
        d.insert(s("required"), Value::Bool(true));
        d
    };
    match v {
        Value::Null => {}
        Value::Sequence(items) => {
            for item in items {
                let Some(name) = scalar_string(&item) else {
                    return Err(Error::schema(format!(
                        "{path} must be a list of service names"
                    )));
                };
                out.insert(Value::String(name), Value::Mapping(default()));
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m {
                let mut d = default();
                match v {
                    Value::Mapping(body) => {
                        for (bk, bv) in body {
                            d.insert(bk, bv);
                        }
                    }
                    Value::Null => {}
                    _ => {
                        let key = k.as_str().unwrap_or_default();
                        return Err(Error::schema(format!("{path}.{key} must be a mapping")));
                    }
                }
                out.insert(k, Value::Mapping(d));
            }
        }
        _ => return Err(Error::schema(format!("{path} must be a mapping or a list"))),
    }
    Ok(Value::Mapping(out))
}

fn service_networks(v: Value, path: &str) -> Result<Value, Error> {
    match v {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Sequence(items) => {
            let mut out = Mapping::new();
            for item in items {
                let Some(name) = scalar_string(&item) else {
                    return Err(Error::schema(format!(
                        "{path} must be a list of network names"
                    )));
                };
                out.insert(Value::String(name), Value::Null);
            }
            Ok(Value::Mapping(out))
        }
        Value::Mapping(mut m) => {
            for (_, body) in m.iter_mut() {
                if let Value::Mapping(b) = body {
                    with_key(b, "aliases", |v| str_list(v, &format!("{path}.aliases")))?;
                    with_key(b, "driver_opts", |v| {
                        kv_map(v, &format!("{path}.driver_opts"))
                    })?;
                }
            }
            Ok(Value::Mapping(m))
        }
        _ => Err(Error::schema(format!("{path} must be a mapping or a list"))),
    }
}

fn ports(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Vec::new();
    for item in seq(v, path)? {
        match item {
            Value::Mapping(mut m) => {
                if !m.contains_key("protocol") {
                    m.insert(s("protocol"), s("tcp"));
                }
                if !m.contains_key("mode") {
                    m.insert(s("mode"), s("ingress"));
                }
                if let Some(p) = m.get("published").and_then(scalar_string) {
                    m.insert(s("published"), Value::String(p));
                }
                out.push(Value::Mapping(m));
            }
            Value::Tagged(_) => out.push(item),
            other => {
                let Some(spec) = scalar_string(&other) else {
                    return Err(Error::schema(format!(
                        "{path} entries must be strings, numbers or mappings"
                    )));
                };
                for p in parse_port_spec(&spec).map_err(Error::schema)? {
                    out.push(Value::Mapping(p));
                }
            }
        }
    }
    Ok(Value::Sequence(out))
}

fn parse_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = s.parse().ok()?;
            (p, p)
        }
    };
    if a > b || b > 65535 {
        return None;
    }
    Some((a, b))
}

/// Parses docker's short port syntax
/// `[[host_ip:][published]:]target[-range][/protocol]` into long-syntax mappings.
pub(crate) fn parse_port_spec(spec: &str) -> Result<Vec<Mapping>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    let (host_ip, published, target) = if let Some(after) = rest.strip_prefix('[') {
        // [ipv6]:published:target
        let (ip, tail) = after
            .split_once("]:")
            .ok_or_else(|| format!("invalid port spec {spec:?}"))?;
        let (p, t) = tail
            .split_once(':')
            .ok_or_else(|| format!("invalid port spec {spec:?}"))?;
        (Some(ip.to_string()), p, t)
    } else {
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        match parts.as_slice() {
            [t] => (None, "", *t),
            [t, p] => (None, *p, *t),
            [t, p, ip] => (Some(ip.to_string()), *p, *t),
            _ => return Err(format!("invalid port spec {spec:?}")),
        }
    };
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    let (ts, te) = parse_range(target).ok_or_else(|| format!("invalid containerPort: {target}"))?;
    let pub_range = if published.is_empty() {
        None
    } else {
        Some(parse_range(published).ok_or_else(|| format!("invalid hostPort: {published}"))?)
    };
    if let Some((ps, pe)) = pub_range
        && te - ts != pe - ps
        && te != ts
    {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {target} and {published}"
        ));
    }
    let mut out = Vec::new();
    for i in 0..=(te - ts) {
        let mut m = Mapping::new();
        m.insert(s("mode"), s("ingress"));
        if let Some(ip) = &host_ip {
            m.insert(s("host_ip"), s(ip));
        }
        m.insert(s("target"), Value::from(ts + i));
        if let Some((ps, pe)) = pub_range {
            let p = if ps == pe {
                ps.to_string()
            } else if te == ts {
                format!("{ps}-{pe}")
            } else {
                (ps + i).to_string()
            };
            m.insert(s("published"), Value::String(p));
        }
        m.insert(s("protocol"), s(&protocol));
        out.push(m);
    }
    Ok(out)
}

fn volumes(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Vec::new();
    for item in seq(v, path)? {
        match item {
            Value::Mapping(mut m) => {
                if m.get("type").and_then(scalar_string).as_deref() == Some("bind") {
                    let mut bind = match m.remove("bind") {
                        Some(Value::Mapping(b)) => b,
                        _ => Mapping::new(),
                    };
                    if !bind.contains_key("create_host_path") {
                        bind.insert(s("create_host_path"), Value::Bool(true));
                    }
                    m.insert(s("bind"), Value::Mapping(bind));
                }
                if let Some(t) = m.get("target").and_then(scalar_string) {
                    m.insert(s("target"), Value::String(clean_target(&t)));
                }
                out.push(Value::Mapping(m));
            }
            Value::Tagged(_) => out.push(item),
            other => {
                let Some(spec) = scalar_string(&other) else {
                    return Err(Error::schema(format!(
                        "{path} entries must be strings or mappings"
                    )));
                };
                out.push(Value::Mapping(
                    parse_volume_spec(&spec).map_err(Error::schema)?,
                ));
            }
        }
    }
    Ok(Value::Sequence(out))
}

const PROPAGATIONS: &[&str] = &[
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

/// Parses the short volume syntax `[source:]target[:options]` into a long-syntax mapping.
pub(crate) fn parse_volume_spec(spec: &str) -> Result<Mapping, String> {
    if spec.is_empty() {
        return Err("invalid empty volume spec".to_string());
    }
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() > 3 {
        return Err(format!("invalid spec: {spec}: too many colons"));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "invalid spec: {spec}: empty section between colons"
        ));
    }
    let (source, target, opts) = match parts.as_slice() {
        [t] => (None, *t, None),
        [src, t] => (Some(*src), *t, None),
        [src, t, o] => (Some(*src), *t, Some(*o)),
        _ => unreachable!(),
    };
    let is_path = source.is_some_and(|s| s.starts_with(['.', '/', '~']));
    let mut m = Mapping::new();
    m.insert(s("type"), s(if is_path { "bind" } else { "volume" }));
    if let Some(src) = source {
        m.insert(s("source"), s(src));
    }
    m.insert(s("target"), Value::String(clean_target(target)));
    let mut bind = Mapping::new();
    let mut vol = Mapping::new();
    if is_path {
        bind.insert(s("create_host_path"), Value::Bool(true));
    }
    for opt in opts
        .unwrap_or_default()
        .split(',')
        .filter(|o| !o.is_empty())
    {
        match opt {
            "ro" => {
                m.insert(s("read_only"), Value::Bool(true));
            }
            "rw" => {
                m.remove("read_only");
            }
            "nocopy" => {
                vol.insert(s("nocopy"), Value::Bool(true));
            }
            "z" | "Z" => {
                bind.insert(s("selinux"), s(opt));
            }
            "cached" | "delegated" | "consistent" => {
                m.insert(s("consistency"), s(opt));
            }
            p if PROPAGATIONS.contains(&p) => {
                bind.insert(s("propagation"), s(p));
            }
            _ => {} // compose ignores unknown options
        }
    }
    if is_path {
        m.insert(s("bind"), Value::Mapping(bind));
    } else if !vol.is_empty() {
        m.insert(s("volume"), Value::Mapping(vol));
    }
    Ok(m)
}

/// `path.Clean` of a container path.
pub(crate) fn clean_target(t: &str) -> String {
    if t.is_empty() {
        return String::new();
    }
    let abs = t.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in t.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn devices(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Vec::new();
    for item in seq(v, path)? {
        match item {
            Value::Mapping(m) => {
                let src = m.get("source").and_then(scalar_string).unwrap_or_default();
                let dst = m
                    .get("target")
                    .and_then(scalar_string)
                    .unwrap_or_else(|| src.clone());
                let mut spec = format!("{src}:{dst}");
                if let Some(p) = m.get("permissions").and_then(scalar_string) {
                    spec.push(':');
                    spec.push_str(&p);
                }
                out.push(Value::String(spec));
            }
            other => match scalar_string(&other) {
                Some(x) => out.push(Value::String(x)),
                None => {
                    return Err(Error::schema(format!(
                        "{path} entries must be strings or mappings"
                    )));
                }
            },
        }
    }
    Ok(Value::Sequence(out))
}

fn file_refs(v: Value, path: &str) -> Result<Value, Error> {
    let mut out = Vec::new();
    for item in seq(v, path)? {
        match item {
            Value::Mapping(m) => out.push(Value::Mapping(m)),
            other => match scalar_string(&other) {
                Some(x) => {
                    let mut m = Mapping::new();
                    m.insert(s("source"), Value::String(x));
                    out.push(Value::Mapping(m));
                }
                None => {
                    return Err(Error::schema(format!(
                        "{path} entries must be strings or mappings"
                    )));
                }
            },
        }
    }
    Ok(Value::Sequence(out))
}

fn ulimits(v: Value, path: &str) -> Result<Value, Error> {
    let Value::Mapping(m) = v else {
        return if v.is_null() {
            Ok(Value::Mapping(Mapping::new()))
        } else {
            Err(Error::schema(format!("{path} must be a mapping")))
        };
    };
    let mut out = Mapping::new();
    for (k, v) in m {
        let body = match v {
            Value::Mapping(b) => Value::Mapping(b),
            other => {
                let mut b = Mapping::new();
                b.insert(s("soft"), other.clone());
                b.insert(s("hard"), other);
                Value::Mapping(b)
            }
        };
        out.insert(k, body);
    }
    Ok(Value::Mapping(out))
}

/// Lexically joins `rel` onto `base` and cleans the result (Go's `filepath.Join`).
pub(crate) fn clean_join(base: &Path, rel: &Path) -> PathBuf {
    let joined = if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        base.join(rel)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Expands `~` with `home` and makes `p` absolute against `base`.
pub(crate) fn resolve_path(p: &str, base: &Path, home: Option<&str>) -> String {
    let expanded = match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => format!("{h}{rest}"),
        _ => p.to_string(),
    };
    if expanded.starts_with('~') {
        return expanded;
    }
    clean_join(base, Path::new(&expanded))
        .to_string_lossy()
        .into_owned()
}

fn rebase_str(v: &mut Value, base: &Path, home: Option<&str>) {
    if let Some(p) = scalar_string(v) {
        *v = Value::String(resolve_path(&p, base, home));
    }
}

/// Makes the relative paths of a canonical service absolute against `base`.
pub(crate) fn rebase_service(svc: &mut Mapping, base: &Path, home: Option<&str>) {
    if let Some(Value::Mapping(b)) = svc.get_mut("build") {
        if let Some(ctx) = b.get_mut("context")
            && scalar_string(ctx).is_some_and(|c| !is_remote_context(&c))
        {
            rebase_str(ctx, base, home);
        }
        if let Some(Value::Mapping(ac)) = b.get_mut("additional_contexts") {
            for (_, v) in ac.iter_mut() {
                if scalar_string(v).is_some_and(|c| !c.contains(':')) {
                    rebase_str(v, base, home);
                }
            }
        }
    }
    if let Some(Value::Sequence(files)) = svc.get_mut("env_file") {
        for f in files {
            if let Value::Mapping(f) = f
                && let Some(p) = f.get_mut("path")
            {
                rebase_str(p, base, home);
            }
        }
    }
    if let Some(Value::Sequence(files)) = svc.get_mut("label_file") {
        for f in files {
            rebase_str(f, base, home);
        }
    }
    if let Some(Value::Sequence(vols)) = svc.get_mut("volumes") {
        for v in vols {
            if let Value::Mapping(v) = v
                && v.get("type").and_then(scalar_string).as_deref() == Some("bind")
                && let Some(src) = v.get_mut("source")
            {
                rebase_str(src, base, home);
            }
        }
    }
}

/// Makes the `file:` paths of top-level secrets/configs absolute against `base`.
pub(crate) fn rebase_top_level(doc: &mut Mapping, base: &Path, home: Option<&str>) {
    for section in ["secrets", "configs"] {
        if let Some(Value::Mapping(m)) = doc.get_mut(section) {
            for (_, body) in m.iter_mut() {
                if let Value::Mapping(b) = body
                    && let Some(f) = b.get_mut("file")
                {
                    rebase_str(f, base, home);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports_of(spec: &str) -> Vec<(Option<String>, u64, Option<String>, String)> {
        parse_port_spec(spec)
            .unwrap()
            .into_iter()
            .map(|m| {
                (
                    m.get("host_ip").and_then(scalar_string),
                    m["target"].as_u64().unwrap(),
                    m.get("published").and_then(scalar_string),
                    m["protocol"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn port_specs() {
        assert_eq!(ports_of("80"), vec![(None, 80, None, "tcp".into())]);
        assert_eq!(
            ports_of("8080:80"),
            vec![(None, 80, Some("8080".into()), "tcp".into())]
        );
        assert_eq!(
            ports_of("127.0.0.1:8080:80/udp"),
            vec![(
                Some("127.0.0.1".into()),
                80,
                Some("8080".into()),
                "udp".into()
            )]
        );
        assert_eq!(
            ports_of("127.0.0.1::80"),
            vec![(Some("127.0.0.1".into()), 80, None, "tcp".into())]
        );
        assert_eq!(
            ports_of("[::1]:8080:80"),
            vec![(Some("::1".into()), 80, Some("8080".into()), "tcp".into())]
        );
        assert_eq!(
            ports_of("8000-8001:80-81"),
            vec![
                (None, 80, Some("8000".into()), "tcp".into()),
                (None, 81, Some("8001".into()), "tcp".into())
            ]
        );
        assert_eq!(
            ports_of("8000-8010:80"),
            vec![(None, 80, Some("8000-8010".into()), "tcp".into())]
        );
        assert_eq!(ports_of("3000-3002").len(), 3);
        assert!(parse_port_spec("8000-8002:80-81").is_err());
        assert!(parse_port_spec("abc").is_err());
        assert!(parse_port_spec("70000").is_err());
        assert!(parse_port_spec("8080:80-81").is_err());
    }

    #[test]
    fn volume_specs() {
        let m = parse_volume_spec("./data:/data:ro").unwrap();
        assert_eq!(m["type"], s("bind"));
        assert_eq!(m["source"], s("./data"));
        assert_eq!(m["target"], s("/data"));
        assert_eq!(m["read_only"], Value::Bool(true));
        assert_eq!(m["bind"]["create_host_path"], Value::Bool(true));

        let m = parse_volume_spec("named:/x").unwrap();
        assert_eq!(m["type"], s("volume"));
        assert_eq!(m["source"], s("named"));
        assert!(m.get("read_only").is_none());

        let m = parse_volume_spec("/anon").unwrap();
        assert_eq!(m["type"], s("volume"));
        assert!(m.get("source").is_none());
        assert_eq!(m["target"], s("/anon"));

        let m = parse_volume_spec("vol:/x/./y/:nocopy").unwrap();
        assert_eq!(m["volume"]["nocopy"], Value::Bool(true));
        assert_eq!(m["target"], s("/x/y"));

        let m = parse_volume_spec("/h:/c:rw,z,rshared").unwrap();
        assert_eq!(m["bind"]["selinux"], s("z"));
        assert_eq!(m["bind"]["propagation"], s("rshared"));

        let m = parse_volume_spec("~/x:/x").unwrap();
        assert_eq!(m["type"], s("bind"));

        assert!(parse_volume_spec("a:b:c:d").is_err());
        assert!(parse_volume_spec("a::b").is_err());
        assert!(parse_volume_spec("").is_err());
    }

    #[test]
    fn kv_maps() {
        let v: Value = serde_yaml::from_str("[A=1, B=, C, D=x=y]").unwrap();
        let m = kv_map(v, "p").unwrap();
        assert_eq!(m["A"], s("1"));
        assert_eq!(m["B"], s(""));
        assert_eq!(m["C"], Value::Null);
        assert_eq!(m["D"], s("x=y"));
        let v: Value = serde_yaml::from_str("{A: 1, B: true, C: null, D: 1.5}").unwrap();
        let m = kv_map(v, "p").unwrap();
        assert_eq!(m["A"], s("1"));
        assert_eq!(m["B"], s("true"));
        assert_eq!(m["C"], Value::Null);
        assert_eq!(m["D"], s("1.5"));
        assert!(kv_map(serde_yaml::from_str("{A: [1]}").unwrap(), "p").is_err());
        assert!(kv_map(s("x"), "p").is_err());
    }

    #[test]
    fn extra_hosts_forms() {
        let v: Value = serde_yaml::from_str("{a: 1.2.3.4, b: ['::1', 10.0.0.1]}").unwrap();
        let l = extra_hosts(v, "p").unwrap();
        assert_eq!(
            l,
            serde_yaml::from_str::<Value>("['a:1.2.3.4', 'b:::1', 'b:10.0.0.1']").unwrap()
        );
        let v: Value = serde_yaml::from_str("['a=1.2.3.4', 'b:10.0.0.1', 'c=::1']").unwrap();
        let l = extra_hosts(v, "p").unwrap();
        assert_eq!(
            l,
            serde_yaml::from_str::<Value>("['a:1.2.3.4', 'b:10.0.0.1', 'c:::1']").unwrap()
        );
    }

    #[test]
    fn paths() {
        assert_eq!(clean_target("/a/../b/./c/"), "/b/c");
        assert_eq!(
            clean_join(Path::new("/p/q"), Path::new("../x/./y")),
            PathBuf::from("/p/x/y")
        );
        assert_eq!(
            clean_join(Path::new("/p"), Path::new("/abs")),
            PathBuf::from("/abs")
        );
        assert_eq!(
            resolve_path("~/x", Path::new("/p"), Some("/home/u")),
            "/home/u/x"
        );
        assert_eq!(resolve_path("./x", Path::new("/p"), None), "/p/x");
        assert_eq!(resolve_path(".", Path::new("/p"), None), "/p");
    }
}

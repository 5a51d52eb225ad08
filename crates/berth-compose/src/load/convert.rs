//! Conversion of the merged, canonical YAML tree to the typed model:
//! type coercion (compose accepts `"3"` for `3` and `"true"` for `true`
//! after interpolation), defaults, path resolution, env_file reading,
//! resource names, profiles, and consistency checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::canonical::{clean_join, resolve_path, scalar_string};
use super::dotenv;
use super::units::{parse_bytes, parse_duration};
use crate::Error;
use crate::model::*;

/// Keys of the specification berth accepts but does not act on; a service
/// that sets one gets a warning.
const IGNORED_SERVICE_KEYS: &[&str] = &[
    "blkio_config",
    "cpu_count",
    "cpu_percent",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "credential_spec",
    "develop",
    "gpus",
    "isolation",
    "mem_swappiness",
    "models",
    "post_start",
    "pre_start",
    "pre_stop",
    "provider",
    "pull_refresh_after",
    "storage_opt",
    "use_api_socket",
];

pub(crate) struct Conv<'a> {
    pub dir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub home: Option<&'a str>,
    pub project: &'a str,
    pub warnings: &'a mut Vec<String>,
}

fn err(msg: String) -> Error {
    Error::schema(msg)
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn get<'m>(m: &'m Mapping, key: &str) -> Option<&'m Value> {
    m.get(key).map(untag).filter(|v| !v.is_null())
}

fn opt_str(m: &Mapping, key: &str, path: &str) -> Result<Option<String>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(v) => scalar_string(v)
            .map(Some)
            .ok_or_else(|| err(format!("{path}.{key} must be a string"))),
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn opt_bool(m: &Mapping, key: &str, path: &str) -> Result<Option<bool>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => parse_bool(s)
            .map(Some)
            .ok_or_else(|| err(format!("{path}.{key} must be a boolean"))),
        Some(_) => Err(err(format!("{path}.{key} must be a boolean"))),
    }
}

fn bool_or(m: &Mapping, key: &str, path: &str, default: bool) -> Result<bool, Error> {
    Ok(opt_bool(m, key, path)?.unwrap_or(default))
}

fn opt_i64(m: &Mapping, key: &str, path: &str) -> Result<Option<i64>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| err(format!("{path}.{key} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| err(format!("{path}.{key} must be an integer"))),
        Some(_) => Err(err(format!("{path}.{key} must be an integer"))),
    }
}

fn opt_u64(m: &Mapping, key: &str, path: &str) -> Result<Option<u64>, Error> {
    match opt_i64(m, key, path)? {
        None => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        Some(_) => Err(err(format!("{path}.{key} must be a non-negative integer"))),
    }
}

fn opt_f64(m: &Mapping, key: &str, path: &str) -> Result<Option<f64>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| err(format!("{path}.{key} must be a number"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| err(format!("{path}.{key} must be a number"))),
        Some(_) => Err(err(format!("{path}.{key} must be a number"))),
    }
}

fn opt_duration(m: &Mapping, key: &str, path: &str) -> Result<Option<std::time::Duration>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(std::time::Duration::ZERO)),
        Some(v) => {
            let s =
                scalar_string(v).ok_or_else(|| err(format!("{path}.{key} must be a duration")))?;
            parse_duration(&s)
                .map(Some)
                .map_err(|e| err(format!("{path}.{key}: {e}")))
        }
    }
}

fn opt_bytes(m: &Mapping, key: &str, path: &str) -> Result<Option<u64>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| err(format!("{path}.{key} must be a size"))),
        Some(v) => {
            let s = scalar_string(v).ok_or_else(|| err(format!("{path}.{key} must be a size")))?;
            parse_bytes(&s)
                .map(Some)
                .map_err(|e| err(format!("{path}.{key}: {e}")))
        }
    }
}

/// A file mode: numbers as given, strings as octal (`"0440"`, `"0o440"`).
fn opt_mode(m: &Mapping, key: &str, path: &str) -> Result<Option<u32>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| err(format!("{path}.{key} must be a file mode"))),
        Some(v) => {
            let s = scalar_string(v).unwrap_or_default();
            let digits = s.trim_start_matches("0o");
            u32::from_str_radix(digits, 8)
                .map(Some)
                .map_err(|_| err(format!("{path}.{key} must be a file mode")))
        }
    }
}

fn str_list(m: &Mapping, key: &str, path: &str) -> Result<Vec<String>, Error> {
    match get(m, key) {
        None => Ok(vec![]),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|v| {
                scalar_string(v)
                    .ok_or_else(|| err(format!("{path}.{key} must be a list of strings")))
            })
            .collect(),
        Some(v) => scalar_string(v)
            .map(|s| vec![s])
            .ok_or_else(|| err(format!("{path}.{key} must be a list of strings"))),
    }
}

fn kv_opt(m: &Mapping, key: &str, path: &str) -> Result<BTreeMap<String, Option<String>>, Error> {
    let mut out = BTreeMap::new();
    match get(m, key) {
        None => {}
        Some(Value::Mapping(kv)) => {
            for (k, v) in kv {
                let k = k.as_str().unwrap_or_default().to_string();
                let v = match untag(v) {
                    Value::Null => None,
                    other => Some(
                        scalar_string(other)
                            .ok_or_else(|| err(format!("{path}.{key}.{k} must be a string")))?,
                    ),
                };
                out.insert(k, v);
            }
        }
        Some(_) => return Err(err(format!("{path}.{key} must be a mapping"))),
    }
    Ok(out)
}

fn kv(m: &Mapping, key: &str, path: &str) -> Result<BTreeMap<String, String>, Error> {
    Ok(kv_opt(m, key, path)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

fn mapping<'m>(m: &'m Mapping, key: &str, path: &str) -> Result<Option<&'m Mapping>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Mapping(x)) => Ok(Some(x)),
        Some(_) => Err(err(format!("{path}.{key} must be a mapping"))),
    }
}

fn entries<'m>(m: &'m Mapping, key: &str, path: &str) -> Result<Vec<(String, &'m Value)>, Error> {
    Ok(mapping(m, key, path)?
        .map(|x| {
            x.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), untag(v)))
                .collect()
        })
        .unwrap_or_default())
}

fn seq<'m>(m: &'m Mapping, key: &str, path: &str) -> Result<Vec<&'m Value>, Error> {
    match get(m, key) {
        None => Ok(vec![]),
        Some(Value::Sequence(s)) => Ok(s.iter().map(untag).collect()),
        Some(_) => Err(err(format!("{path}.{key} must be a list"))),
    }
}

fn as_map<'v>(v: &'v Value, path: &str) -> Result<&'v Mapping, Error> {
    v.as_mapping()
        .ok_or_else(|| err(format!("{path} must be a mapping")))
}

/// `command` / `entrypoint`: a list as is, a string split with shell-words rules.
fn command(m: &Mapping, key: &str, path: &str) -> Result<Option<Vec<String>>, Error> {
    match get(m, key) {
        None => Ok(None),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|v| {
                scalar_string(v)
                    .ok_or_else(|| err(format!("{path}.{key} must be a list of strings")))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(v) => {
            let s = scalar_string(v)
                .ok_or_else(|| err(format!("{path}.{key} must be a string or a list")))?;
            shell_words::split(&s)
                .map(Some)
                .map_err(|e| err(format!("{path}.{key}: {e}")))
        }
    }
}

impl Conv<'_> {
    fn resolve(&self, p: &str) -> String {
        resolve_path(p, self.dir, self.home)
    }

    /// Value of a variable declared without one (`environment: [FOO]`), from the environment.
    fn resolve_unset(
        &self,
        vars: BTreeMap<String, Option<String>>,
    ) -> BTreeMap<String, Option<String>> {
        vars.into_iter()
            .map(|(k, v)| {
                let v = v.or_else(|| self.env.get(&k).cloned());
                (k, v)
            })
            .collect()
    }

    fn read_env_file(&self, path: &Path) -> Result<Vec<(String, String)>, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let env = self.env;
        dotenv::parse(&text, &|k| env.get(k).cloned()).map_err(|message| Error::EnvFile {
            path: path.to_path_buf(),
            message,
        })
    }

    pub(crate) fn service(&mut self, name: &str, body: &Value) -> Result<Service, Error> {
        let path = format!("services.{name}");
        let empty = Mapping::new();
        let m = match untag(body) {
            Value::Null => &empty,
            other => as_map(other, &path)?,
        };
        let p = path.as_str();
        let mut s = Service {
            name: name.to_string(),
            attach: true,
            scale: 1,
            ..Default::default()
        };

        for key in IGNORED_SERVICE_KEYS {
            if get(m, key).is_some() {
                self.warnings.push(format!(
                    "{p}: `{key}` is not supported by berth and is ignored"
                ));
            }
        }

        s.image = opt_str(m, "image", p)?;
        s.build = match get(m, "build") {
            None => None,
            Some(b) => Some(self.build(as_map(b, &format!("{p}.build"))?, &format!("{p}.build"))?),
        };
        if s.image.is_none() && s.build.is_none() {
            return Err(Error::InvalidProject(format!(
                "service {name:?} has neither an image nor a build context specified"
            )));
        }
        s.command = command(m, "command", p)?;
        s.entrypoint = command(m, "entrypoint", p)?;

        // env_file first, then `environment` on top.
        let mut environment: BTreeMap<String, Option<String>> = BTreeMap::new();
        for f in seq(m, "env_file", p)? {
            let f = as_map(f, &format!("{p}.env_file"))?;
            let file = opt_str(f, "path", p)?.unwrap_or_default();
            let file = PathBuf::from(self.resolve(&file));
            let required = bool_or(f, "required", p, true)?;
            if !file.exists() {
                if required {
                    return Err(Error::Other(format!(
                        "env file {0} not found: stat {0}: no such file or directory",
                        file.display()
                    )));
                }
                continue;
            }
            for (k, v) in self.read_env_file(&file)? {
                environment.insert(k, Some(v));
            }
            s.env_file.push(file);
        }
        environment.extend(self.resolve_unset(kv_opt(m, "environment", p)?));
        s.environment = environment;

        s.ports = seq(m, "ports", p)?
            .into_iter()
            .map(|v| port(v, &format!("{p}.ports")))
            .collect::<Result<_, _>>()?;
        s.expose = str_list(m, "expose", p)?;
        for v in seq(m, "volumes", p)? {
            s.volumes.push(self.volume(v, &format!("{p}.volumes"))?);
        }
        s.tmpfs = str_list(m, "tmpfs", p)?;

        s.network_mode = opt_str(m, "network_mode", p)?;
        let nets = entries(m, "networks", p)?;
        if s.network_mode.is_some() && !nets.is_empty() {
            return Err(Error::InvalidProject(format!(
                "service {name} declares mutually exclusive `network_mode` and `networks`"
            )));
        }
        for (net, body) in nets {
            s.networks.insert(
                net.clone(),
                service_network(body, &format!("{p}.networks.{net}"))?,
            );
        }
        if s.networks.is_empty() && s.network_mode.is_none() {
            s.networks
                .insert("default".to_string(), ServiceNetwork::default());
        }

        for (dep, body) in entries(m, "depends_on", p)? {
            let dp = format!("{p}.depends_on.{dep}");
            let empty = Mapping::new();
            let b = match body {
                Value::Null => &empty,
                other => as_map(other, &dp)?,
            };
            let condition = match opt_str(b, "condition", &dp)?.as_deref() {
                None | Some("service_started") => Condition::ServiceStarted,
                Some("service_healthy") => Condition::ServiceHealthy,
                Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                Some(other) => {
                    return Err(err(format!(
                        "{dp}.condition must be one of the following: \"service_started\", \"service_healthy\", \"service_completed_successfully\" (got {other:?})"
                    )));
                }
            };
            s.depends_on.insert(
                dep.clone(),
                DependsOn {
                    condition,
                    restart: bool_or(b, "restart", &dp, false)?,
                    required: bool_or(b, "required", &dp, true)?,
                },
            );
        }

        if let Some(h) = mapping(m, "healthcheck", p)? {
            s.healthcheck = Some(healthcheck(h, &format!("{p}.healthcheck"))?);
        }

        s.restart = opt_str(m, "restart", p)?;
        let scale = opt_u64(m, "scale", p)?;
        let deploy = mapping(m, "deploy", p)?;
        let replicas = match deploy {
            Some(d) => opt_u64(d, "replicas", &format!("{p}.deploy"))?,
            None => None,
        };
        if let (Some(a), Some(b)) = (scale, replicas)
            && a != b
        {
            return Err(Error::InvalidProject(format!(
                "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'"
            )));
        }
        let scale = scale.or(replicas).unwrap_or(1);
        s.scale = u32::try_from(scale).map_err(|_| err(format!("{p}.scale is too large")))?;

        s.labels = BTreeMap::new();
        for f in str_list(m, "label_file", p)? {
            let file = PathBuf::from(self.resolve(&f));
            for (k, v) in self.read_env_file(&file)? {
                s.labels.insert(k, v);
            }
        }
        s.labels.extend(kv(m, "labels", p)?);
        s.annotations = kv(m, "annotations", p)?;
        s.user = opt_str(m, "user", p)?;
        s.working_dir = opt_str(m, "working_dir", p)?;
        s.hostname = opt_str(m, "hostname", p)?;
        s.domainname = opt_str(m, "domainname", p)?;
        s.mac_address = opt_str(m, "mac_address", p)?;
        s.extra_hosts = str_list(m, "extra_hosts", p)?;
        s.dns = str_list(m, "dns", p)?;
        s.dns_search = str_list(m, "dns_search", p)?;
        s.dns_opt = str_list(m, "dns_opt", p)?;
        s.cap_add = str_list(m, "cap_add", p)?;
        s.cap_drop = str_list(m, "cap_drop", p)?;
        s.privileged = bool_or(m, "privileged", p, false)?;
        s.read_only = bool_or(m, "read_only", p, false)?;
        s.init = opt_bool(m, "init", p)?;
        s.stop_signal = opt_str(m, "stop_signal", p)?;
        s.stop_grace_period = opt_duration(m, "stop_grace_period", p)?;
        for (k, v) in entries(m, "ulimits", p)? {
            let up = format!("{p}.ulimits.{k}");
            let b = as_map(v, &up)?;
            let soft =
                opt_i64(b, "soft", &up)?.ok_or_else(|| err(format!("{up}.soft is required")))?;
            let hard =
                opt_i64(b, "hard", &up)?.ok_or_else(|| err(format!("{up}.hard is required")))?;
            s.ulimits.insert(k, Ulimit { soft, hard });
        }
        s.sysctls = kv(m, "sysctls", p)?;
        if let Some(l) = mapping(m, "logging", p)? {
            let lp = format!("{p}.logging");
            s.logging = Some(Logging {
                driver: opt_str(l, "driver", &lp)?,
                options: kv(l, "options", &lp)?,
            });
        }
        s.pid = opt_str(m, "pid", p)?;
        s.ipc = opt_str(m, "ipc", p)?;
        s.uts = opt_str(m, "uts", p)?;
        s.userns_mode = opt_str(m, "userns_mode", p)?;
        s.cgroup = opt_str(m, "cgroup", p)?;
        s.cgroup_parent = opt_str(m, "cgroup_parent", p)?;
        s.runtime = opt_str(m, "runtime", p)?;
        s.security_opt = str_list(m, "security_opt", p)?;
        s.devices = str_list(m, "devices", p)?;
        s.device_cgroup_rules = str_list(m, "device_cgroup_rules", p)?;
        s.group_add = str_list(m, "group_add", p)?;
        s.shm_size = opt_bytes(m, "shm_size", p)?;
        s.mem_limit = opt_bytes(m, "mem_limit", p)?;
        s.mem_reservation = opt_bytes(m, "mem_reservation", p)?;
        s.memswap_limit = match get(m, "memswap_limit") {
            None => None,
            Some(Value::Number(n)) if n.as_i64() == Some(-1) => Some(-1),
            Some(Value::String(x)) if x == "-1" => Some(-1),
            Some(_) => opt_bytes(m, "memswap_limit", p)?.map(|b| b as i64),
        };
        s.cpus = opt_f64(m, "cpus", p)?;
        s.cpu_shares = opt_i64(m, "cpu_shares", p)?;
        s.cpu_quota = opt_i64(m, "cpu_quota", p)?;
        s.cpu_period = opt_i64(m, "cpu_period", p)?;
        s.cpuset = opt_str(m, "cpuset", p)?;
        s.pids_limit = opt_i64(m, "pids_limit", p)?;
        s.oom_score_adj = opt_i64(m, "oom_score_adj", p)?;
        s.oom_kill_disable = opt_bool(m, "oom_kill_disable", p)?;

        if let Some(d) = deploy {
            self.deploy(d, &mut s, &format!("{p}.deploy"))?;
        }

        s.tty = bool_or(m, "tty", p, false)?;
        s.stdin_open = bool_or(m, "stdin_open", p, false)?;
        s.container_name = opt_str(m, "container_name", p)?;
        if s.container_name.is_some() && s.scale > 1 {
            return Err(Error::InvalidProject(format!(
                "services.{name}: can't set container_name and {name} as container name must be unique"
            )));
        }
        s.profiles = str_list(m, "profiles", p)?;
        for v in seq(m, "secrets", p)? {
            s.secrets.push(file_ref(v, &format!("{p}.secrets"), true)?);
        }
        for v in seq(m, "configs", p)? {
            s.configs.push(file_ref(v, &format!("{p}.configs"), false)?);
        }
        s.pull_policy = opt_str(m, "pull_policy", p)?;
        if let Some(pp) = &s.pull_policy
            && !matches!(
                pp.as_str(),
                "always" | "never" | "missing" | "if_not_present" | "build" | "daily" | "weekly"
            )
            && !pp.starts_with("every_")
        {
            return Err(err(format!("{p}.pull_policy: invalid pull policy {pp:?}")));
        }
        if s.pull_policy.as_deref() == Some("if_not_present") {
            s.pull_policy = Some("missing".to_string());
        }
        s.platform = opt_str(m, "platform", p)?;
        s.links = str_list(m, "links", p)?;
        s.external_links = str_list(m, "external_links", p)?;
        s.volumes_from = str_list(m, "volumes_from", p)?;
        s.attach = bool_or(m, "attach", p, true)?;
        self.implicit_dependencies(&mut s);
        Ok(s)
    }

    /// `links`, `network_mode`/`ipc`/`pid`/`uts`/`cgroup: service:x` and
    /// `volumes_from` imply a dependency, as in compose.
    fn implicit_dependencies(&self, s: &mut Service) {
        let started = |restart| DependsOn {
            condition: Condition::ServiceStarted,
            restart,
            required: true,
        };
        for link in &s.links {
            let target = link.split(':').next().unwrap_or_default().to_string();
            s.depends_on.entry(target).or_insert(started(true));
        }
        for ns in [&s.network_mode, &s.ipc, &s.pid, &s.uts, &s.cgroup]
            .into_iter()
            .flatten()
        {
            if let Some(other) = ns.strip_prefix("service:") {
                s.depends_on
                    .entry(other.to_string())
                    .or_insert(started(true));
            }
        }
        for v in &s.volumes_from {
            if v.starts_with("container:") {
                continue;
            }
            let v = v.strip_prefix("service:").unwrap_or(v);
            let target = v.split(':').next().unwrap_or_default().to_string();
            s.depends_on.entry(target).or_insert(started(false));
        }
    }

    fn build(&mut self, b: &Mapping, p: &str) -> Result<Build, Error> {
        let context = opt_str(b, "context", p)?.unwrap_or_else(|| ".".to_string());
        let context = if is_remote_context(&context) {
            PathBuf::from(context)
        } else {
            PathBuf::from(self.resolve(&context))
        };
        Ok(Build {
            context,
            dockerfile: match opt_str(b, "dockerfile", p)? {
                Some(d) => d,
                None if get(b, "dockerfile_inline").is_some() => String::new(),
                None => "Dockerfile".to_string(),
            },
            dockerfile_inline: opt_str(b, "dockerfile_inline", p)?,
            args: self.resolve_unset(kv_opt(b, "args", p)?),
            target: opt_str(b, "target", p)?,
            labels: kv(b, "labels", p)?,
            cache_from: str_list(b, "cache_from", p)?,
            cache_to: str_list(b, "cache_to", p)?,
            network: opt_str(b, "network", p)?,
            extra_hosts: str_list(b, "extra_hosts", p)?,
            shm_size: opt_bytes(b, "shm_size", p)?,
            no_cache: bool_or(b, "no_cache", p, false)?,
            pull: bool_or(b, "pull", p, false)?,
            tags: str_list(b, "tags", p)?,
            platforms: str_list(b, "platforms", p)?,
            additional_contexts: kv(b, "additional_contexts", p)?
                .into_iter()
                .map(|(k, v)| {
                    let v = if v.contains(':') { v } else { self.resolve(&v) };
                    (k, v)
                })
                .collect(),
            privileged: bool_or(b, "privileged", p, false)?,
        })
    }

    fn volume(&mut self, v: &Value, p: &str) -> Result<ServiceVolume, Error> {
        let m = as_map(v, p)?;
        let kind = match opt_str(m, "type", p)?.as_deref() {
            Some("bind") => VolumeKind::Bind,
            Some("volume") => VolumeKind::Volume,
            Some("tmpfs") => VolumeKind::Tmpfs,
            Some("image") => VolumeKind::Image,
            Some("npipe") => VolumeKind::Npipe,
            Some("cluster") => VolumeKind::Cluster,
            Some(other) => return Err(err(format!("{p}.type: invalid mount type {other:?}"))),
            None => return Err(err(format!("{p} missing property type"))),
        };
        let target =
            opt_str(m, "target", p)?.ok_or_else(|| err(format!("{p} missing property target")))?;
        let mut source = opt_str(m, "source", p)?.filter(|s| !s.is_empty());
        if kind == VolumeKind::Bind {
            let src =
                source.ok_or_else(|| err(format!("{p}: bind mount of {target} has no source")))?;
            source = Some(self.resolve(&src));
        }
        if kind == VolumeKind::Tmpfs {
            source = None;
        }
        let empty = Mapping::new();
        let bind = mapping(m, "bind", p)?.unwrap_or(&empty);
        let vol = mapping(m, "volume", p)?.unwrap_or(&empty);
        let tmpfs = mapping(m, "tmpfs", p)?.unwrap_or(&empty);
        Ok(ServiceVolume {
            kind,
            source,
            target,
            read_only: bool_or(m, "read_only", p, false)?,
            consistency: opt_str(m, "consistency", p)?,
            bind_create_host_path: kind == VolumeKind::Bind
                && bool_or(bind, "create_host_path", p, true)?,
            bind_propagation: opt_str(bind, "propagation", p)?,
            bind_selinux: opt_str(bind, "selinux", p)?,
            volume_nocopy: bool_or(vol, "nocopy", p, false)?,
            volume_subpath: opt_str(vol, "subpath", p)?,
            tmpfs_size: opt_bytes(tmpfs, "size", p)?,
            tmpfs_mode: opt_mode(tmpfs, "mode", p)?,
        })
    }

    fn deploy(&mut self, d: &Mapping, s: &mut Service, p: &str) -> Result<(), Error> {
        if let Some(r) = mapping(d, "resources", p)? {
            let rp = format!("{p}.resources");
            if let Some(l) = mapping(r, "limits", &rp)? {
                let lp = format!("{rp}.limits");
                if s.cpus.is_none() {
                    s.cpus = opt_f64(l, "cpus", &lp)?;
                }
                if s.mem_limit.is_none() {
                    s.mem_limit = opt_bytes(l, "memory", &lp)?;
                }
                if s.pids_limit.is_none() {
                    s.pids_limit = opt_i64(l, "pids", &lp)?;
                }
            }
            if let Some(l) = mapping(r, "reservations", &rp)?
                && s.mem_reservation.is_none()
            {
                s.mem_reservation = opt_bytes(l, "memory", &format!("{rp}.reservations"))?;
            }
        }
        if s.restart.is_none()
            && let Some(rp) = mapping(d, "restart_policy", p)?
        {
            let rpp = format!("{p}.restart_policy");
            s.restart = match opt_str(rp, "condition", &rpp)?.as_deref() {
                Some("none") => Some("no".to_string()),
                Some("on-failure") => match opt_u64(rp, "max_attempts", &rpp)? {
                    Some(n) => Some(format!("on-failure:{n}")),
                    None => Some("on-failure".to_string()),
                },
                Some("any") | None => Some("always".to_string()),
                Some(other) => Some(other.to_string()),
            };
        }
        if opt_str(d, "mode", p)?.as_deref() == Some("global") {
            self.warnings
                .push(format!("{p}.mode: `global` is treated as a single replica"));
        }
        Ok(())
    }

    pub(crate) fn network(&self, key: &str, body: &Value) -> Result<Network, Error> {
        let p = format!("networks.{key}");
        let empty = Mapping::new();
        let m = match body {
            Value::Null => &empty,
            other => as_map(untag(other), &p)?,
        };
        let external = bool_or(m, "external", &p, false)?;
        let name = self.resource_name(key, opt_str(m, "name", &p)?, external);
        let ipam = match mapping(m, "ipam", &p)? {
            None => None,
            Some(i) => {
                let ip = format!("{p}.ipam");
                let mut config = Vec::new();
                for c in seq(i, "config", &ip)? {
                    let c = as_map(c, &format!("{ip}.config"))?;
                    let cp = format!("{ip}.config");
                    config.push(IpamConfig {
                        subnet: opt_str(c, "subnet", &cp)?,
                        gateway: opt_str(c, "gateway", &cp)?,
                        ip_range: opt_str(c, "ip_range", &cp)?,
                        aux_addresses: kv(c, "aux_addresses", &cp)?,
                    });
                }
                Some(Ipam {
                    driver: opt_str(i, "driver", &ip)?,
                    config,
                    options: kv(i, "options", &ip)?,
                })
            }
        };
        Ok(Network {
            name,
            driver: opt_str(m, "driver", &p)?,
            driver_opts: kv(m, "driver_opts", &p)?,
            external,
            internal: bool_or(m, "internal", &p, false)?,
            ipam,
            labels: kv(m, "labels", &p)?,
            attachable: bool_or(m, "attachable", &p, false)?,
            enable_ipv6: opt_bool(m, "enable_ipv6", &p)?,
            enable_ipv4: opt_bool(m, "enable_ipv4", &p)?,
        })
    }

    pub(crate) fn volume_def(&self, key: &str, body: &Value) -> Result<Volume, Error> {
        let p = format!("volumes.{key}");
        let empty = Mapping::new();
        let m = match body {
            Value::Null => &empty,
            other => as_map(untag(other), &p)?,
        };
        let external = bool_or(m, "external", &p, false)?;
        Ok(Volume {
            name: self.resource_name(key, opt_str(m, "name", &p)?, external),
            driver: opt_str(m, "driver", &p)?,
            driver_opts: kv(m, "driver_opts", &p)?,
            external,
            labels: kv(m, "labels", &p)?,
        })
    }

    pub(crate) fn secret(&self, key: &str, body: &Value) -> Result<Secret, Error> {
        let p = format!("secrets.{key}");
        let m = as_map(untag(body), &p)?;
        let external = bool_or(m, "external", &p, false)?;
        let file = opt_str(m, "file", &p)?.map(|f| PathBuf::from(self.resolve(&f)));
        let environment = opt_str(m, "environment", &p)?;
        if !external && file.is_none() && environment.is_none() && get(m, "driver").is_none() {
            return Err(Error::InvalidProject(format!(
                "secret {key:?} must declare either `file` or `environment`"
            )));
        }
        Ok(Secret {
            name: self.resource_name(key, opt_str(m, "name", &p)?, external),
            file,
            environment,
            external,
            labels: kv(m, "labels", &p)?,
            driver: opt_str(m, "driver", &p)?,
            driver_opts: kv(m, "driver_opts", &p)?,
        })
    }

    pub(crate) fn config(&self, key: &str, body: &Value) -> Result<Config, Error> {
        let p = format!("configs.{key}");
        let m = as_map(untag(body), &p)?;
        let external = bool_or(m, "external", &p, false)?;
        let file = opt_str(m, "file", &p)?.map(|f| PathBuf::from(self.resolve(&f)));
        let environment = opt_str(m, "environment", &p)?;
        let content = opt_str(m, "content", &p)?;
        if !external && file.is_none() && environment.is_none() && content.is_none() {
            return Err(Error::InvalidProject(format!(
                "config {key:?} must declare either `file`, `environment` or `content`"
            )));
        }
        Ok(Config {
            name: self.resource_name(key, opt_str(m, "name", &p)?, external),
            file,
            environment,
            content,
            external,
            labels: kv(m, "labels", &p)?,
        })
    }

    fn resource_name(&self, key: &str, name: Option<String>, external: bool) -> String {
        match name {
            Some(n) => n,
            None if external => key.to_string(),
            None => format!("{}_{key}", self.project),
        }
    }
}

fn port(v: &Value, p: &str) -> Result<Port, Error> {
    let m = as_map(v, p)?;
    let target = match get(m, "target") {
        None => return Err(err(format!("{p} missing property target"))),
        Some(t) => {
            let t = scalar_string(t).unwrap_or_default();
            t.parse::<u16>()
                .map_err(|_| err(format!("{p}: invalid containerPort: {t}")))?
        }
    };
    Ok(Port {
        name: opt_str(m, "name", p)?,
        mode: opt_str(m, "mode", p)?.unwrap_or_else(|| "ingress".to_string()),
        host_ip: opt_str(m, "host_ip", p)?.filter(|s| !s.is_empty()),
        target,
        published: opt_str(m, "published", p)?.filter(|s| !s.is_empty()),
        protocol: opt_str(m, "protocol", p)?.unwrap_or_else(|| "tcp".to_string()),
        app_protocol: opt_str(m, "app_protocol", p)?,
    })
}

fn service_network(v: &Value, p: &str) -> Result<ServiceNetwork, Error> {
    let m = match v {
        Value::Null => return Ok(ServiceNetwork::default()),
        other => as_map(other, p)?,
    };
    Ok(ServiceNetwork {
        aliases: str_list(m, "aliases", p)?,
        ipv4_address: opt_str(m, "ipv4_address", p)?,
        ipv6_address: opt_str(m, "ipv6_address", p)?,
        link_local_ips: str_list(m, "link_local_ips", p)?,
        mac_address: opt_str(m, "mac_address", p)?,
        driver_opts: kv(m, "driver_opts", p)?,
        interface_name: opt_str(m, "interface_name", p)?,
        priority: opt_i64(m, "priority", p)?.unwrap_or(0),
        gw_priority: opt_i64(m, "gw_priority", p)?.unwrap_or(0),
    })
}

fn healthcheck(h: &Mapping, p: &str) -> Result<Healthcheck, Error> {
    let mut hc = Healthcheck {
        interval: opt_duration(h, "interval", p)?,
        timeout: opt_duration(h, "timeout", p)?,
        retries: opt_u64(h, "retries", p)?,
        start_period: opt_duration(h, "start_period", p)?,
        start_interval: opt_duration(h, "start_interval", p)?,
        disable: bool_or(h, "disable", p, false)?,
        test: vec![],
    };
    match get(h, "test") {
        None => {}
        Some(Value::Sequence(items)) => {
            hc.test = items
                .iter()
                .map(|v| {
                    scalar_string(v)
                        .ok_or_else(|| err(format!("{p}.test must be a list of strings")))
                })
                .collect::<Result<_, _>>()?;
            if let Some(first) = hc.test.first()
                && !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE")
            {
                return Err(err(
                    r#"healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE""#
                        .to_string(),
                ));
            }
        }
        Some(v) => {
            let cmd = scalar_string(v)
                .ok_or_else(|| err(format!("{p}.test must be a string or a list")))?;
            hc.test = vec!["CMD-SHELL".to_string(), cmd];
        }
    }
    if hc.disable {
        if !hc.test.is_empty() && hc.test != ["NONE"] {
            return Err(err(format!(
                "{p}: test and disable can't be set at the same time"
            )));
        }
        hc.test = vec!["NONE".to_string()];
    }
    Ok(hc)
}

fn file_ref(v: &Value, p: &str, secret: bool) -> Result<ServiceFileRef, Error> {
    let m = as_map(v, p)?;
    let source =
        opt_str(m, "source", p)?.ok_or_else(|| err(format!("{p} missing property source")))?;
    let target = match opt_str(m, "target", p)?.filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with('/') => t,
        Some(t) if secret => format!("/run/secrets/{t}"),
        Some(t) => format!("/{t}"),
        None if secret => format!("/run/secrets/{source}"),
        None => format!("/{source}"),
    };
    Ok(ServiceFileRef {
        source,
        target,
        uid: opt_str(m, "uid", p)?,
        gid: opt_str(m, "gid", p)?,
        mode: opt_mode(m, "mode", p)?,
    })
}

/// Checks the references of the enabled services, as compose does.
pub(crate) fn check_consistency(p: &crate::Project) -> Result<(), Error> {
    for (name, s) in &p.services {
        for net in s.networks.keys() {
            if !p.networks.contains_key(net) {
                return Err(Error::InvalidProject(format!(
                    "service {name:?} refers to undefined network {net}"
                )));
            }
        }
        for v in &s.volumes {
            if v.kind == VolumeKind::Volume
                && let Some(src) = &v.source
                && !p.volumes.contains_key(src)
            {
                return Err(Error::InvalidProject(format!(
                    "service {name:?} refers to undefined volume {src}"
                )));
            }
        }
        for r in &s.secrets {
            if !p.secrets.contains_key(&r.source) {
                return Err(Error::InvalidProject(format!(
                    "service {name:?} refers to undefined secret {}",
                    r.source
                )));
            }
        }
        for r in &s.configs {
            if !p.configs.contains_key(&r.source) {
                return Err(Error::InvalidProject(format!(
                    "service {name:?} refers to undefined config {}",
                    r.source
                )));
            }
        }
        for (dep, d) in &s.depends_on {
            if p.services.contains_key(dep) || (!d.required && p.disabled.contains_key(dep)) {
                continue;
            }
            return Err(Error::InvalidProject(format!(
                "service {name:?} depends on undefined service {dep:?}"
            )));
        }
        if let Some(other) = s
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("service:"))
            && !p.services.contains_key(other)
            && !p.disabled.contains_key(other)
        {
            return Err(Error::Other(format!(
                "service {other:?} not found for network_mode 'service:{other}'"
            )));
        }
    }
    // compose refuses dependency cycles at load time too
    crate::plan::order(p, &[]).map(|_| ())
}

/// Resolves `dir`-relative `p` (for `extends.file`, `include`).
pub(crate) fn join(dir: &Path, p: &str) -> PathBuf {
    clean_join(dir, Path::new(p))
}

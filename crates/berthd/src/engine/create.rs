//! `POST /containers/create`: validate, merge the image's defaults, record.

use serde_json::{Value, json};

use super::container::{Container, ContainerState};
use super::{Engine, Entry, Gen, names, now_rfc3339};
use crate::error::{ApiError, ApiResult};

pub struct CreateRequest {
    pub name: Option<String>,
    /// The request body: Config fields at top level, plus HostConfig and NetworkingConfig.
    pub body: Value,
}

/// The image's config object (`config` of the image JSON).
pub fn image_config(img: &berth_image::Image) -> Value {
    img.config.0["config"].clone()
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
        ),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Docker's `RestartPolicy` check.
fn check_restart(hc: &Value) -> ApiResult<()> {
    let name = hc["RestartPolicy"]["Name"].as_str().unwrap_or("");
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid restart policy '{other}'"
            )));
        }
    }
    if name != "on-failure"
        && hc["RestartPolicy"]["MaximumRetryCount"]
            .as_i64()
            .unwrap_or(0)
            != 0
    {
        return Err(ApiError::bad_request(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                .to_string(),
        ));
    }
    if hc["AutoRemove"].as_bool().unwrap_or(false) && !matches!(name, "" | "no") {
        return Err(ApiError::bad_request(
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }
    Ok(())
}

fn check_resources(hc: &Value) -> ApiResult<()> {
    // Numbers must be numbers (Go's decoder says so in these words).
    for k in [
        "Memory",
        "MemorySwap",
        "MemoryReservation",
        "NanoCpus",
        "CpuShares",
        "CpuPeriod",
        "CpuQuota",
        "PidsLimit",
        "ShmSize",
    ] {
        match &hc[k] {
            Value::Null => {}
            Value::Number(n) if n.is_i64() => {}
            v => {
                let what = match v {
                    Value::String(_) => "string",
                    Value::Bool(_) => "bool",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                    _ => "number",
                };
                return Err(ApiError::bad_request(format!(
                    "json: cannot unmarshal {what} into Go struct field HostConfig.HostConfig.{k} of type int64"
                )));
            }
        }
    }
    let mem = hc["Memory"].as_i64().unwrap_or(0);
    if mem != 0 && mem < 6 * 1024 * 1024 {
        return Err(ApiError::bad_request("Minimum memory limit allowed is 6MB"));
    }
    let swap = hc["MemorySwap"].as_i64().unwrap_or(0);
    if swap > 0 && mem > 0 && swap < mem {
        return Err(ApiError::bad_request(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if swap > 0 && mem == 0 {
        return Err(ApiError::bad_request(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    let cpus = hc["NanoCpus"].as_i64().unwrap_or(0);
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    if cpus < 0 || cpus > ncpu * 1_000_000_000 {
        return Err(ApiError::bad_request(format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if hc["NanoCpus"].as_i64().unwrap_or(0) > 0 && hc["CpuQuota"].as_i64().unwrap_or(0) > 0 {
        return Err(ApiError::bad_request(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    Ok(())
}

impl Engine {
    /// The networks a new container joins: its NetworkMode's (the default
    /// bridge for `default`/`bridge`), with aliases and a fixed address from
    /// NetworkingConfig.
    fn net_requests(
        &self,
        hc: &Value,
        nc: &Value,
        cfg_mac: Option<&str>,
    ) -> ApiResult<std::collections::BTreeMap<String, super::network::EndpointRequest>> {
        let mut out = std::collections::BTreeMap::new();
        let mode = hc["NetworkMode"].as_str().unwrap_or("default");
        let name = match mode {
            "" | "default" | super::network::DEFAULT => {
                if self.network(super::network::DEFAULT).is_err() {
                    return Ok(out);
                }
                super::network::DEFAULT.to_string()
            }
            "none" | "host" => return Ok(out),
            m if m.starts_with("container:") => {
                let target = &m["container:".len()..];
                self.get(target)?;
                return Ok(out);
            }
            other => self.network(other)?.name(),
        };
        let ep = nc["EndpointsConfig"]
            .get(&name)
            .or_else(|| nc["EndpointsConfig"].get(mode))
            .cloned()
            .unwrap_or(Value::Null);
        let ipv4 = match ep["IPAMConfig"]["IPv4Address"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {s}")))?,
            ),
            None => None,
        };
        if ipv4.is_some() && name == super::network::DEFAULT {
            return Err(ApiError::bad_request(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        let aliases = ep["Aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mac = ep["MacAddress"]
            .as_str()
            .or(cfg_mac)
            .filter(|s| !s.is_empty())
            .map(String::from);
        if let Some(m) = &mac
            && berth_net::ipam::parse_mac(m).is_none()
        {
            return Err(ApiError::bad_request(format!("invalid MAC address: {m}")));
        }
        out.insert(name, super::network::EndpointRequest { aliases, ipv4, mac });
        Ok(out)
    }

    pub fn create(&self, req: CreateRequest) -> ApiResult<(String, Vec<String>)> {
        let body = req.body;
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "config cannot be empty in order to create a container",
            ));
        }
        let image_ref = body["Image"].as_str().unwrap_or("").to_string();
        if image_ref.is_empty() {
            return Err(ApiError::bad_request("No image specified"));
        }
        let mut hc = body["HostConfig"].clone();
        if !hc.is_object() {
            hc = json!({});
        }
        check_restart(&hc)?;
        check_resources(&hc)?;
        if hc["NetworkMode"].as_str().is_none_or(|s| s.is_empty()) {
            hc["NetworkMode"] = json!("default");
        }
        let net_requests =
            self.net_requests(&hc, &body["NetworkingConfig"], body["MacAddress"].as_str())?;
        if let Some(n) = &req.name
            && !names::valid(n)
        {
            return Err(ApiError::bad_request(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let img = self.images.resolve(&image_ref).map_err(|e| match e {
            berth_image::Error::NotFound(_) => ApiError::not_found(format!(
                "No such image: {}",
                berth_image::Reference::parse(&image_ref)
                    .map(|r| r.familiar())
                    .unwrap_or(image_ref.clone())
            )),
            other => other.into(),
        })?;
        let icfg = image_config(&img);

        // The container's Config: the request, with the image's defaults.
        let mut cfg = body.clone();
        if let Some(o) = cfg.as_object_mut() {
            o.remove("HostConfig");
            o.remove("NetworkingConfig");
        }
        let user_entrypoint = strings(&body["Entrypoint"]);
        let user_cmd = strings(&body["Cmd"]).filter(|c| !c.is_empty());
        let entrypoint = match &user_entrypoint {
            Some(e) => e.clone(),
            None => strings(&icfg["Entrypoint"]).unwrap_or_default(),
        };
        let cmd = match (&user_cmd, &user_entrypoint) {
            (Some(c), _) => c.clone(),
            (None, Some(_)) => Vec::new(),
            (None, None) => strings(&icfg["Cmd"]).unwrap_or_default(),
        };
        let mut argv: Vec<String> = entrypoint
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        argv.extend(cmd.iter().cloned());
        if argv.is_empty() {
            return Err(ApiError::bad_request("no command specified"));
        }
        cfg["Entrypoint"] = if entrypoint.is_empty() {
            Value::Null
        } else {
            json!(entrypoint)
        };
        cfg["Cmd"] = if cmd.is_empty() {
            Value::Null
        } else {
            json!(cmd)
        };
        let mut env: Vec<String> = strings(&icfg["Env"]).unwrap_or_default();
        for e in strings(&body["Env"]).unwrap_or_default() {
            env.retain(|x| env_key(x) != env_key(&e));
            env.push(e);
        }
        cfg["Env"] = json!(env);
        for k in ["WorkingDir", "User", "StopSignal"] {
            if cfg[k].as_str().is_none_or(|s| s.is_empty()) {
                cfg[k] = icfg[k].as_str().map(|s| json!(s)).unwrap_or(json!(""));
            }
        }
        if cfg["Healthcheck"].is_null() && !icfg["Healthcheck"].is_null() {
            cfg["Healthcheck"] = icfg["Healthcheck"].clone();
        }
        let mut labels = icfg["Labels"].as_object().cloned().unwrap_or_default();
        for (k, v) in body["Labels"].as_object().cloned().unwrap_or_default() {
            labels.insert(k, v);
        }
        cfg["Labels"] = json!(labels);
        let mut ports = icfg["ExposedPorts"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (k, v) in body["ExposedPorts"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            ports.insert(k, v);
        }
        if !ports.is_empty() {
            cfg["ExposedPorts"] = json!(ports);
        }
        if cfg["Volumes"].is_null() && !icfg["Volumes"].is_null() {
            cfg["Volumes"] = icfg["Volumes"].clone();
        }
        cfg["Image"] = json!(image_ref);
        for k in [
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
        ] {
            if !cfg[k].is_boolean() {
                cfg[k] = json!(false);
            }
        }

        let id = names::new_id();
        let mut map = self.containers.lock().unwrap();
        let name = match &req.name {
            Some(n) => {
                let n = format!("/{}", n.trim_start_matches('/'));
                if let Some(other) = map.values().find(|e| e.c.name == n) {
                    return Err(ApiError::conflict(format!(
                        "Conflict. The container name \"{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.c.id
                    )));
                }
                n
            }
            None => format!(
                "/{}",
                names::generate(&|n| map.values().any(|e| e.c.name[1..] == *n))
            ),
        };
        let dir = self.container_dir(&id);
        let log_path = dir.join(format!("{id}-json.log"));
        let c = Container {
            id: id.clone(),
            name,
            created: now_rfc3339(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config: cfg,
            host_config: hc,
            image: img.id.as_str().to_string(),
            state: ContainerState {
                status: "created".into(),
                ..Default::default()
            },
            restart_count: 0,
            log_path: log_path.display().to_string(),
            manually_stopped: false,
            net_requests,
            endpoints: Default::default(),
        };
        if let Err(e) = c.save(&self.data_root) {
            super::remove_dir(&dir);
            return Err(e.into());
        }
        map.insert(
            id.clone(),
            Entry {
                c: c.clone(),
                watch: tokio::sync::watch::channel(Gen::default()).0,
                pending: Vec::new(),
                op: Default::default(),
            },
        );
        drop(map);
        self.emit(&c, "create", &[]);
        Ok((id, Vec::new()))
    }
}

//! System endpoints: ping, version, info, events, df, build prune.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::query::Query;
use super::{API_VERSION, MIN_API_VERSION, Shared};
use crate::error::{ApiError, ApiResult};

fn ping_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
}

pub async fn ping() -> Response {
    let mut r = (StatusCode::OK, "OK").into_response();
    r.headers_mut().insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    ping_headers(&mut r);
    r
}

pub async fn ping_head() -> Response {
    let mut r = (StatusCode::OK, "").into_response();
    ping_headers(&mut r);
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub async fn version() -> Json<Value> {
    let v = env!("CARGO_PKG_VERSION");
    Json(json!({
        "Platform": {"Name": "berth"},
        "Components": [{"Name": "Engine", "Version": v, "Details": {
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
            "Arch": "amd64", "KernelVersion": kernel(), "Experimental": "false"}}],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": "rust",
        "Os": "linux",
        "Arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

pub async fn info(State(e): State<Shared>) -> Json<Value> {
    let all = e.list();
    let count = |s: &str| all.iter().filter(|c| c.state.status == s).count();
    let images = e.images.list().map(|l| l.len()).unwrap_or(0);
    let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    Json(json!({
        "ID": "berth",
        "Containers": all.len(),
        "ContainersRunning": count("running"),
        "ContainersPaused": count("paused"),
        "ContainersStopped": all.len() - count("running") - count("paused"),
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file", "none"]},
        "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
        "CPUShares": true, "CPUSet": true, "PidsLimit": true, "OomKillDisable": !cgroup_v2,
        "IPv4Forwarding": true, "Debug": false,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if cgroup_v2 { "2" } else { "1" },
        "KernelVersion": kernel(),
        "OperatingSystem": "berth",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem,
        "DockerRootDir": e.data_root,
        "Name": host,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"berth-runc": {"path": "berth-runc"}},
        "DefaultRuntime": "berth-runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "Warnings": [],
    }))
}

fn matches(ev: &Value, filters: &std::collections::HashMap<String, Vec<String>>) -> bool {
    for (k, vals) in filters {
        if vals.is_empty() {
            continue;
        }
        let ok = match k.as_str() {
            "type" => vals.iter().any(|v| ev["Type"] == *v),
            "event" => vals.iter().any(|v| {
                let a = ev["Action"].as_str().unwrap_or("");
                a == v || a.split(':').next() == Some(v.as_str())
            }),
            "container" => {
                ev["Type"] == "container"
                    && vals.iter().any(|v| {
                        ev["Actor"]["ID"]
                            .as_str()
                            .is_some_and(|id| id.starts_with(v.as_str()))
                            || ev["Actor"]["Attributes"]["name"] == *v
                    })
            }
            "image" => vals
                .iter()
                .any(|v| ev["Actor"]["Attributes"]["image"] == *v || ev["Actor"]["ID"] == *v),
            "label" => vals.iter().any(|v| {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                let a = &ev["Actor"]["Attributes"][lk];
                !a.is_null() && (lv.is_empty() || *a == lv)
            }),
            "scope" => vals.iter().any(|v| v == "local"),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn parse_time(s: Option<&str>) -> Option<f64> {
    let s = s?.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp() as f64)
    })
}

pub async fn events(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters().map_err(ApiError::bad_request)?;
    let since = parse_time(q.get("since"));
    let until = parse_time(q.get("until"));
    let (history, rx) = e.events.subscribe();
    let in_range = move |ev: &Value| {
        let t = ev["timeNano"].as_i64().unwrap_or(0) as f64 / 1e9;
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let f2 = filters.clone();
    let past: Vec<Value> = if since.is_some() {
        history
            .into_iter()
            .filter(|ev| in_range(ev) && matches(ev, &filters))
            .collect()
    } else {
        Vec::new()
    };
    let now = chrono::Utc::now().timestamp() as f64;
    let live_until = until;
    let past_stream = futures_util::stream::iter(
        past.into_iter()
            .map(|v| Ok::<_, std::io::Error>(format!("{v}\n"))),
    );
    let live = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |ev| {
        let f = f2.clone();
        async move {
            let ev = ev.ok()?;
            matches(&ev, &f).then(|| Ok::<_, std::io::Error>(format!("{ev}\n")))
        }
    });
    let body = if live_until.is_some_and(|u| u <= now) {
        Body::from_stream(past_stream)
    } else if let Some(u) = live_until {
        let dur = std::time::Duration::from_secs_f64((u - now).max(0.0));
        Body::from_stream(past_stream.chain(live.take_until(tokio::time::sleep(dur))))
    } else {
        Body::from_stream(past_stream.chain(live))
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static("application/json"));
    Ok(r)
}

pub async fn df(State(e): State<Shared>) -> ApiResult<Json<Value>> {
    let images = e.images.list()?;
    let used = e.image_users();
    let imgs: Vec<Value> = images
        .iter()
        .map(|i| json!({
            "Id": i.id.as_str(), "ParentId": "", "RepoTags": i.repo_tags, "RepoDigests": i.repo_digests,
            "Created": i.config.created_unix(), "Size": i.size, "SharedSize": -1, "Labels": i.config.labels(),
            "Containers": used.iter().filter(|(k, _)| *k == i.id.as_str()).count(),
        }))
        .collect();
    let cs: Vec<Value> = e
        .list()
        .iter()
        .map(|c| super::containers::summary(&e, c, false))
        .collect();
    Ok(Json(json!({
        "LayersSize": e.images.disk_usage().unwrap_or(0),
        "Images": imgs,
        "Containers": cs,
        "Volumes": [],
        "BuildCache": [],
    })))
}

pub async fn build_prune() -> Json<Value> {
    Json(json!({"CachesDeleted": [], "SpaceReclaimed": 0}))
}

//! `/containers/…` endpoints.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::query::Query;
use super::{Shared, upgraded_response};
use crate::engine::container::Container;
use crate::engine::logs::LogOptions;
use crate::engine::{CreateRequest, PendingAttach};
use crate::error::{ApiError, ApiResult};

fn created_unix(c: &Container) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&c.created)
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

/// The `docker ps` entry.
pub fn summary(_e: &Shared, c: &Container, _size: bool) -> Value {
    let mut cmd = vec![c.path.clone()];
    cmd.extend(c.args.iter().cloned());
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.image_name(),
        "ImageID": c.image,
        "Command": cmd.join(" "),
        "Created": created_unix(c),
        "Ports": crate::engine::network::ps_ports(c),
        "Labels": c.labels(),
        "State": c.state.status,
        "Status": c.human_status(),
        "HostConfig": {"NetworkMode": c.host_config["NetworkMode"]},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

pub async fn create(
    State(e): State<Shared>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?
    };
    let name = q.get("name").filter(|n| !n.is_empty()).map(String::from);
    let (id, warnings) = e.create(CreateRequest { name, body })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

fn filter_match(c: &Container, filters: &std::collections::HashMap<String, Vec<String>>) -> bool {
    for (k, vals) in filters {
        if vals.is_empty() {
            continue;
        }
        let ok = match k.as_str() {
            "status" => vals.contains(&c.state.status),
            "name" => vals.iter().any(|v| {
                c.name
                    .trim_start_matches('/')
                    .contains(v.trim_start_matches('/'))
            }),
            "id" => vals.iter().any(|v| c.id.starts_with(v.as_str())),
            "label" => vals.iter().all(|v| {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                match c.labels().get(lk) {
                    Some(x) => lv.is_empty() || x == lv,
                    None => false,
                }
            }),
            "exited" => vals
                .iter()
                .any(|v| c.state.status == "exited" && v.parse() == Ok(c.state.exit_code)),
            "ancestor" => vals
                .iter()
                .any(|v| c.image_name() == *v || c.image.contains(v.as_str())),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

pub async fn list(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let all = q.bool("all");
    let filters = q.filters().map_err(ApiError::bad_request)?;
    let limit: i64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(-1);
    let mut out = Vec::new();
    for c in e.list() {
        if !all && !c.running() && !filters.contains_key("status") && limit <= 0 {
            continue;
        }
        if !filter_match(&c, &filters) {
            continue;
        }
        out.push(summary(&e, &c, q.bool("size")));
        if limit > 0 && out.len() as i64 >= limit {
            break;
        }
    }
    Ok(Json(Value::Array(out)))
}

pub async fn inspect(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let c = e.get(&id)?;
    let s = &c.state;
    let mut v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": s.status, "Running": c.running() && s.status != "restarting",
            "Paused": s.status == "paused", "Restarting": s.status == "restarting",
            "OOMKilled": s.oom_killed, "Dead": s.status == "dead", "Pid": s.pid,
            "ExitCode": s.exit_code, "Error": s.error,
            "StartedAt": if s.started_at.is_empty() { "0001-01-01T00:00:00Z" } else { &s.started_at },
            "FinishedAt": if s.finished_at.is_empty() { "0001-01-01T00:00:00Z" } else { &s.finished_at },
        },
        "Image": c.image,
        "ResolvConfPath": e.container_dir(&c.id).join("resolv.conf"),
        "HostnamePath": e.container_dir(&c.id).join("hostname"),
        "HostsPath": e.container_dir(&c.id).join("hosts"),
        "LogPath": c.log_path,
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": c.host_config,
        "GraphDriver": {"Name": "overlay2", "Data": {
            "UpperDir": e.container_dir(&c.id).join("fs/upper"),
            "WorkDir": e.container_dir(&c.id).join("fs/work"),
            "MergedDir": e.container_dir(&c.id).join("fs/merged")}},
        "Mounts": [],
        "Config": c.config,
        "NetworkSettings": crate::engine::network::settings(&c),
    });
    if let Some(h) = &s.health {
        v["State"]["Health"] = serde_json::to_value(h).expect("json");
    }
    Ok(Json(v))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub async fn start(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.start(&id).await?;
    Ok(no_content())
}

pub async fn stop(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let t = q.get("t").and_then(|t| t.parse().ok());
    e.stop(&id, t, q.get("signal")).await?;
    Ok(no_content())
}

pub async fn restart(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let t = q.get("t").and_then(|t| t.parse().ok());
    e.restart(&id, t, q.get("signal")).await?;
    Ok(no_content())
}

pub async fn kill(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    e.kill(&id, q.get("signal")).await?;
    Ok(no_content())
}

pub async fn pause(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.pause(&id).await?;
    Ok(no_content())
}

pub async fn unpause(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.unpause(&id).await?;
    Ok(no_content())
}

pub async fn rename(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let name = q.get("name").unwrap_or("").to_string();
    if !crate::engine::names::valid(&name) {
        return Err(ApiError::bad_request(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let full = e.resolve(&id)?;
    let new = format!("/{}", name.trim_start_matches('/'));
    if let Ok(other) = e.get(&new)
        && other.id != full
    {
        return Err(ApiError::conflict(format!(
            "Conflict. The container name \"{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
            other.id
        )));
    }
    let c = e.update_durable(&full, |c| {
        c.name = new.clone();
        c.clone()
    })?;
    e.emit(&c, "rename", &[]);
    Ok(no_content())
}

pub async fn wait(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let condition = q.get("condition").unwrap_or("not-running").to_string();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: \"{condition}\""
        )));
    }
    let full = e.resolve(&id)?;
    // Headers go out now; the body when the condition holds.
    let stream = futures_util::stream::once(async move {
        let (code, err) = e.wait(&full, &condition).await;
        let err = err.map(|m| json!({"Message": m})).unwrap_or(Value::Null);
        Ok::<_, std::io::Error>(format!("{}\n", json!({"StatusCode": code, "Error": err})))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static("application/json"));
    Ok(r)
}

pub async fn attach(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    mut req: Request,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let full = e.resolve(&id)?;
    let c = e.get(&full)?;
    if !c.running() && c.state.status != "created" && c.state.status != "exited" {
        return Err(ApiError::conflict(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    e.attach(
        &full,
        PendingAttach {
            io: rx,
            stdin: q.bool("stdin"),
            stdout: q.bool("stdout"),
            stderr: q.bool("stderr"),
        },
    )?;
    let on = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = on.await {
            let _ = tx.send(TokioIo::new(up));
        }
    });
    e.emit(&c, "attach", &[]);
    Ok(upgraded_response(&req, c.tty(), true))
}

pub async fn resize(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let (Some(h), Some(w)) = (
        q.get("h").and_then(|v| v.parse().ok()),
        q.get("w").and_then(|v| v.parse().ok()),
    ) else {
        return Err(ApiError::bad_request(
            "invalid resize parameters: h and w are required",
        ));
    };
    e.resize(&id, h, w).await?;
    Ok((StatusCode::OK, "").into_response())
}

fn parse_ts(s: Option<&str>) -> Option<f64> {
    let s = s?.trim();
    if s.is_empty() || s == "0" {
        return None;
    }
    s.parse::<f64>().ok()
}

pub async fn logs(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let full = e.resolve(&id)?;
    let c = e.get(&full)?;
    if !q.bool("stdout") && !q.bool("stderr") {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let o = LogOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        follow: q.bool("follow"),
        timestamps: q.bool("timestamps"),
        tail: q.get("tail").and_then(|t| t.parse().ok()),
        since: parse_ts(q.get("since")),
        until: parse_ts(q.get("until")),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    e.logs(full, o, tx);
    let mut r = Response::new(super::channel_body(rx));
    let ct = if c.tty() {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(ct));
    Ok(r)
}

pub async fn top(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let full = e.resolve(&id)?;
    let c = e.get(&full)?;
    if !c.running() {
        return Err(ApiError::conflict(format!(
            "Container {full} is not running"
        )));
    }
    let rt = e.runtime();
    let pids = crate::engine::blocking(move || rt.processes(&full)).await?;
    let mut procs = Vec::new();
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            stat.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        let ppid = field("PPid:");
        let uid = field("Uid:");
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|x| *x == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let user = if uid == "0" { "root".to_string() } else { uid };
        procs.push(json!([
            user,
            pid.to_string(),
            ppid,
            "0",
            "",
            "?",
            "00:00:00",
            cmd
        ]));
    }
    Ok(Json(
        json!({"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": procs}),
    ))
}

pub async fn remove(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    e.remove(&id, q.bool("force")).await?;
    Ok(no_content())
}

pub async fn prune(State(e): State<Shared>) -> ApiResult<Json<Value>> {
    let mut deleted = Vec::new();
    for c in e.list() {
        if !c.running() && e.remove_now(&c.id).await.is_ok() {
            deleted.push(c.id);
        }
    }
    Ok(Json(
        json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}

pub async fn update(
    State(e): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?;
    let warnings = e.update_limits(&id, body).await?;
    Ok(Json(json!({"Warnings": warnings})))
}

//! `/containers/…` endpoints.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use berth_api::container::{
    CreateRequest, UpdateConfig, WaitCondition, WaitExitError, WaitResponse,
};
use berth_api::query::container as q;
use berth_api::system::media;
use berth_engine::container::attach::AttachOptions;
use berth_engine::model::LogOptions;

use super::extract::{DockerJson, Params};
use super::{
    ApiError, ApiResult, Shared, json, no_content, ok_json, on_upgrade, upgraded_response,
};

pub async fn create(
    State(e): State<Shared>,
    Params(p): Params<q::Create>,
    DockerJson(body): DockerJson<CreateRequest>,
) -> ApiResult<Response> {
    if body == CreateRequest::default() {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    let name = p.name.filter(|n| !n.is_empty());
    let r = e.container_create(name, body)?;
    Ok(json(StatusCode::CREATED, &r))
}

pub async fn list(State(e): State<Shared>, Params(p): Params<q::List>) -> ApiResult<Response> {
    Ok(ok_json(&e.container_list(&p)?))
}

pub async fn inspect(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Inspect>,
) -> ApiResult<Response> {
    Ok(ok_json(&e.container_inspect(&id, p.size)?))
}

pub async fn start(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.container_start(&id).await?;
    Ok(no_content())
}

pub async fn stop(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Stop>,
) -> ApiResult<Response> {
    e.container_stop(&id, p.t, &p.signal).await?;
    Ok(no_content())
}

pub async fn restart(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Stop>,
) -> ApiResult<Response> {
    e.container_restart(&id, p.t, &p.signal).await?;
    Ok(no_content())
}

pub async fn kill(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Kill>,
) -> ApiResult<Response> {
    e.container_kill(&id, &p.signal).await?;
    Ok(no_content())
}

pub async fn pause(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.container_pause(&id).await?;
    Ok(no_content())
}

pub async fn unpause(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.container_unpause(&id).await?;
    Ok(no_content())
}

pub async fn rename(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Rename>,
) -> ApiResult<Response> {
    e.container_rename(&id, &p.name)?;
    Ok(no_content())
}

pub async fn wait(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Wait>,
) -> ApiResult<Response> {
    let condition = WaitCondition::parse(&p.condition)
        .ok_or_else(|| ApiError::bad_request(format!("invalid condition: \"{}\"", p.condition)))?;
    let full = e.containers.resolve(&id)?;
    // Headers go out now; the body when the condition holds.
    let stream = futures_util::stream::once(async move {
        let (code, err) = e.container_wait(&full, condition).await;
        let r = WaitResponse {
            status_code: i64::from(code),
            error: err.map(|message| WaitExitError { message }),
        };
        Ok::<_, std::io::Error>(format!(
            "{}\n",
            serde_json::to_string(&r).expect("serialises")
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::JSON));
    Ok(r)
}

pub async fn attach(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Attach>,
    mut req: Request,
) -> ApiResult<Response> {
    let c = e.containers.get(&id)?;
    let io = on_upgrade(&mut req);
    e.container_attach(
        &c.id,
        AttachOptions {
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
            logs: p.logs,
            stream: p.stream,
            detach_keys: p.detach_keys,
        },
        io,
    )?;
    Ok(upgraded_response(&req, c.tty()))
}

pub async fn resize(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Resize>,
) -> ApiResult<Response> {
    let (h, w) = super::extract::size_of(&p)?;
    e.container_resize(&id, h, w).await?;
    Ok(Response::new(Body::empty()))
}

/// `since`/`until` of logs: `secs` or `secs.nanos` (0: not given).
fn log_time(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .or_else(|| berth_api::units::parse_rfc3339(s))
}

pub async fn logs(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Logs>,
) -> ApiResult<Response> {
    let c = e.containers.get(&id)?;
    if !p.stdout && !p.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let o = LogOptions {
        stdout: p.stdout,
        stderr: p.stderr,
        follow: p.follow,
        timestamps: p.timestamps,
        tail: p.tail.parse().ok(),
        since: log_time(&p.since),
        until: log_time(&p.until),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    e.logs(c.id.clone(), o, tx);
    let mut r = Response::new(super::channel_body(rx));
    let ct = if c.tty() {
        media::RAW_STREAM
    } else {
        media::MULTIPLEXED_STREAM
    };
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(ct));
    Ok(r)
}

pub async fn top(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok_json(&e.container_top(&id).await?))
}

pub async fn remove(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Remove>,
) -> ApiResult<Response> {
    if p.link {
        e.container_remove_link(&id)?;
    } else {
        e.container_remove(&id, p.force, p.volumes).await?;
    }
    Ok(no_content())
}

/// `DELETE /containers/{parent}/{alias}?link=1`: a legacy link.
pub async fn remove_link(
    State(e): State<Shared>,
    Path((parent, alias)): Path<(String, String)>,
    Params(p): Params<q::Remove>,
) -> ApiResult<Response> {
    if !p.link {
        return Err(ApiError::not_found("page not found"));
    }
    e.container_remove_link(&format!("/{parent}/{alias}"))?;
    Ok(no_content())
}

pub async fn prune(State(e): State<Shared>, Params(p): Params<q::Prune>) -> ApiResult<Response> {
    Ok(ok_json(&e.container_prune(&p).await?))
}

pub async fn update(
    State(e): State<Shared>,
    Path(id): Path<String>,
    DockerJson(body): DockerJson<UpdateConfig>,
) -> ApiResult<Response> {
    Ok(ok_json(&e.container_update(&id, body).await?))
}

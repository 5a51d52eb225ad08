//! `/containers/{id}/exec` and `/exec/{id}/…`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::query::Query;
use super::{Shared, upgraded_response};
use crate::error::{ApiError, ApiResult};

pub async fn create(
    State(e): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?;
    let eid = e.exec_create(&id, body)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": eid}))).into_response())
}

pub async fn start(
    State(e): State<Shared>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let body = std::mem::take(req.body_mut());
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    let opts: Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?
    };
    let inst = e.exec_get(&id)?;
    let tty =
        opts["Tty"].as_bool().unwrap_or(false) || inst.config["Tty"].as_bool().unwrap_or(false);
    if opts["Detach"].as_bool().unwrap_or(false) {
        e.exec_start(&id, tty, None).await?;
        return Ok((StatusCode::OK, "").into_response());
    }
    // Check before answering 101: afterwards errors can only end the stream.
    let c = e.get(&inst.container)?;
    if c.state.status != "running" {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let on = hyper::upgrade::on(&mut req);
    let eng = e.clone();
    let eid = id.clone();
    tokio::spawn(async move {
        if let Ok(up) = on.await
            && let Err(err) = eng.exec_start(&eid, tty, Some(TokioIo::new(up))).await
        {
            tracing::warn!("exec {eid}: {err}");
        }
    });
    Ok(upgraded_response(&req, tty, true))
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
    e.exec_resize(&id, h, w)?;
    Ok((StatusCode::OK, "").into_response())
}

pub async fn inspect(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let x = e.exec_get(&id)?;
    Ok(Json(json!({
        "ID": x.id,
        "Running": x.running,
        "ExitCode": x.exit_code,
        "ProcessConfig": {"tty": x.config["Tty"], "entrypoint": x.config["Cmd"][0], "arguments": x.config["Cmd"].as_array().map(|a| a[1..].to_vec()).unwrap_or_default(), "privileged": x.config["Privileged"], "user": x.config["User"]},
        "OpenStdin": x.config["AttachStdin"],
        "OpenStderr": x.config["AttachStderr"],
        "OpenStdout": x.config["AttachStdout"],
        "CanRemove": false,
        "ContainerID": x.container,
        "DetachKeys": "",
        "Pid": x.pid,
    })))
}

//! `/containers/{id}/archive`, `/export` and `/changes`: a container's files.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use super::query::Query;
use super::{Shared, channel_body};
use crate::error::{ApiError, ApiResult};

fn path_param(q: &Query) -> ApiResult<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("path is required")),
    }
}

fn stat_header(stat: &Value) -> HeaderValue {
    let b64 = base64::engine::general_purpose::STANDARD.encode(stat.to_string());
    HeaderValue::from_str(&b64).expect("base64 is a valid header value")
}

pub async fn archive_head(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let path = path_param(&q)?;
    let stat = e.archive_stat(&id, &path).await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&stat));
    Ok(r)
}

pub async fn archive_get(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let path = path_param(&q)?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let stat = e.archive_get(&id, &path, tx).await?;
    let mut r = Response::new(channel_body(rx));
    let h = r.headers_mut();
    h.insert("X-Docker-Container-Path-Stat", stat_header(&stat));
    h.insert(
        "Content-Type",
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

pub async fn archive_put(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let path = path_param(&q)?;
    e.archive_put(
        &id,
        &path,
        body,
        q.bool("noOverwriteDirNonDir"),
        q.bool("copyUIDGID"),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn export(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    e.export(&id, tx).await?;
    let mut r = Response::new(channel_body(rx));
    r.headers_mut().insert(
        "Content-Type",
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

pub async fn changes(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ch = e.changes(&id).await?;
    Ok(Json(serde_json::to_value(ch).expect("json")))
}

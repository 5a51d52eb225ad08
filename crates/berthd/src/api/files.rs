//! `/containers/{id}/archive`, `/export` and `/changes`: a container's files.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use super::Shared;
use super::query::Query;
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

fn tar_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Body::from_stream(futures_util::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ))
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
    let mut r = Response::new(tar_body(rx));
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
    let mut r = Response::new(tar_body(rx));
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

/// `GET /containers/{id}/stats`: one object (`stream=false`; after a second
/// so that CPU percentages can be computed, unless `one-shot`), or one per
/// second.
pub async fn stats(
    State(e): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let stream = q.get("stream").is_none_or(|v| v == "1" || v == "true");
    let one_shot = q.bool("one-shot");
    let c = e.get(&id)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut pre = None;
        let mut preread = "0001-01-01T00:00:00Z".to_string();
        let mut c = c;
        if !stream && !one_shot && c.running() {
            pre = e.sample(&c);
            preread = crate::engine::now_rfc3339();
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        loop {
            if let Ok(fresh) = e.get(&c.id) {
                c = fresh;
            }
            let cur = e.sample(&c);
            let v = e.stats_json(&c, cur.as_ref(), pre.as_ref(), &preread);
            preread = v["read"].as_str().unwrap_or_default().to_string();
            if tx.send(Bytes::from(format!("{v}\n"))).await.is_err() || !stream {
                break;
            }
            pre = cur;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let mut r = Response::new(tar_body(rx));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static("application/json"));
    Ok(r)
}

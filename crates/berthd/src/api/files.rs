//! `/containers/{id}/archive`, `/export` and `/changes`: a container's files.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_api::container::PathStat;
use berth_api::query::container as q;
use berth_api::system::{headers, media};

use super::extract::Params;
use super::{ApiError, ApiResult, Shared, channel_body, ok_json};

fn path_param(p: &q::Archive) -> ApiResult<&str> {
    if p.path.is_empty() {
        return Err(ApiError::bad_request("path is required"));
    }
    Ok(&p.path)
}

fn stat_header(stat: &PathStat) -> HeaderValue {
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(stat).expect("stat serialises"));
    HeaderValue::from_str(&b64).expect("base64 is a valid header value")
}

pub async fn archive_head(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Archive>,
) -> ApiResult<Response> {
    let stat = e.container_stat_path(&id, path_param(&p)?).await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert(headers::PATH_STAT, stat_header(&stat));
    Ok(r)
}

pub async fn archive_get(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Archive>,
) -> ApiResult<Response> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let stat = e.container_get_archive(&id, path_param(&p)?, tx).await?;
    let mut r = Response::new(channel_body(rx));
    let h = r.headers_mut();
    h.insert(headers::PATH_STAT, stat_header(&stat));
    h.insert("Content-Type", HeaderValue::from_static(media::TAR));
    Ok(r)
}

pub async fn archive_put(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Archive>,
    req: Request,
) -> ApiResult<Response> {
    let path = path_param(&p)?.to_string();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .map_err(|err| ApiError::bad_request(format!("reading the request body: {err}")))?;
    e.container_put_archive(&id, &path, body, p.no_overwrite_dir_non_dir, p.copy_uid_gid)
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn export(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    e.container_export(&id, tx).await?;
    let mut r = Response::new(channel_body(rx));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::TAR));
    Ok(r)
}

pub async fn changes(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok_json(&e.container_changes(&id).await?))
}

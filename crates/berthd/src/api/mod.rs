//! The Docker Engine API over HTTP/1.1: routing (with the `/v1.NN` prefix
//! stripped and checked first), Docker's common headers, hijacking.

mod containers;
mod exec;
mod files;
mod images;
mod networks;
mod query;
mod stats;
mod system;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, head, post};

use crate::engine::Engine;
use crate::error::ApiError;

/// The API version berthd speaks (what the docker 28.5 CLI tops out at).
pub const API_VERSION: &str = "1.51";
/// The oldest accepted in a path prefix.
pub const MIN_API_VERSION: &str = "1.24";

pub type Shared = Arc<Engine>;

fn version_num(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Strip and check `/v1.NN`; add Docker's headers to every response.
pub async fn versioned(
    axum::extract::State(_): axum::extract::State<Shared>,
    mut req: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/v")
        && let Some((ver, tail)) = rest.split_once('/')
        && ver.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        let (Some(v), Some(max), Some(min)) = (
            version_num(ver),
            version_num(API_VERSION),
            version_num(MIN_API_VERSION),
        ) else {
            return ApiError::bad_request(format!("invalid API version: {ver}")).into_response();
        };
        if v > max {
            return ApiError::bad_request(format!(
                "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
            ))
            .into_response();
        }
        if v < min {
            return ApiError::bad_request(format!(
                "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            ))
            .into_response();
        }
        let mut uri = format!("/{tail}");
        if let Some(q) = req.uri().query() {
            uri.push('?');
            uri.push_str(q);
        }
        *req.uri_mut() = uri.parse().expect("valid uri");
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("Docker/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "page not found").into_response()
}

pub fn router(engine: Shared) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/build/prune", post(system::build_prune))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/changes", get(files::changes))
        .route("/containers/{id}/export", get(files::export))
        .route(
            "/containers/{id}/archive",
            get(files::archive_get)
                .head(files::archive_head)
                .put(files::archive_put),
        )
        .route("/commit", post(images::commit))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save))
        .route("/images/create", post(images::create))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*rest}",
            get(images::by_name)
                .post(images::by_name)
                .delete(images::remove),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/plugins/{*rest}", head(not_found).get(not_found))
        .fallback(not_found)
        // Image archives and imports are large; dockerd sets no limit either.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(engine)
}

/// A response body fed chunk by chunk from a channel (logs, archives, stats).
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<axum::body::Bytes>) -> axum::body::Body {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    axum::body::Body::from_stream(futures_util::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ))
}

/// Answer 101 to a hijack request (`Upgrade: tcp`), 200 with the raw stream
/// to old clients that do not ask for an upgrade.
pub fn upgraded_response(req: &Request, tty: bool, multiplexed_ok: bool) -> Response {
    let wants_upgrade = req.headers().contains_key(axum::http::header::UPGRADE);
    let ctype = if tty || !multiplexed_ok {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut r = Response::new(axum::body::Body::empty());
    if wants_upgrade {
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut()
            .insert("Connection", HeaderValue::from_static("Upgrade"));
        r.headers_mut()
            .insert("Upgrade", HeaderValue::from_static("tcp"));
    }
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(ctype));
    r
}

//! The Docker Engine API over HTTP/1.1: routing (the `/v1.NN` prefix
//! stripped and checked first), extraction, statuses, Docker's headers,
//! hijacked 101 streams. Everything else is the engine's.

mod build;
mod containers;
mod error;
mod exec;
mod extract;
mod files;
mod images;
mod networks;
mod stats;
mod swarm;
mod system;
mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, head, post};
use berth_api::system::{headers, media};
use berth_api::version;
use berth_engine::Engine;

pub use error::{ApiError, ApiResult};

pub type Shared = Arc<Engine>;

/// Strip and check `/v1.NN`; add Docker's headers to every response.
pub async fn versioned(mut req: Request, next: axum::middleware::Next) -> Response {
    let mut path = req.uri().path().to_string();
    // docker-py names a link `/parent/alias` inside the path (`//parent`).
    if path.contains("//") {
        while path.contains("//") {
            path = path.replace("//", "/");
        }
        let mut uri = path.clone();
        if let Some(q) = req.uri().query() {
            uri.push('?');
            uri.push_str(q);
        }
        if let Ok(u) = uri.parse() {
            *req.uri_mut() = u;
        }
    }
    // The version the client speaks (a path without one: the current),
    // for the few answers that depend on it.
    let mut speaks = version::CURRENT;
    if let Some((ver, tail)) = version::split_path(&path) {
        match version::check(ver) {
            Ok(v) => speaks = v,
            Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
        }
        let mut uri = tail.to_string();
        if let Some(q) = req.uri().query() {
            uri.push('?');
            uri.push_str(q);
        }
        match uri.parse() {
            Ok(u) => *req.uri_mut() = u,
            Err(_) => {
                return ApiError::bad_request(format!("invalid path: {path}")).into_response();
            }
        }
    }
    req.extensions_mut().insert(speaks);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        headers::API_VERSION,
        HeaderValue::from_static(concat_version()),
    );
    h.insert(headers::OS_TYPE, HeaderValue::from_static("linux"));
    h.insert(headers::EXPERIMENTAL, HeaderValue::from_static("false"));
    h.insert(
        headers::SERVER,
        HeaderValue::from_static(concat!("Docker/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// The current API version as a static header value.
fn concat_version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| version::CURRENT.to_string())
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
        .route(
            "/system/check",
            get(system::check).post(system::check_repair),
        )
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/build/cancel", post(build::cancel))
        .route("/auth", post(images::login))
        .route("/images/search", get(images::search))
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
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/{link}", delete(containers::remove_link))
        .route("/commit", post(images::commit))
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
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/plugins", get(swarm::plugins))
        .route("/plugins/{*rest}", head(swarm::plugin).get(swarm::plugin))
        .merge(swarm::routes())
        .fallback(not_found)
        // Image archives and imports are large: JSON bodies are bounded by
        // their extractor, streams are read as they come.
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

/// A JSON answer with dockerd's exact Content-Type.
pub fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    let mut r = (status, serde_json::to_vec(v).expect("answer serialises")).into_response();
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::JSON));
    r
}

pub fn ok_json<T: serde::Serialize>(v: &T) -> Response {
    json(StatusCode::OK, v)
}

/// A JSON message stream sent as it is produced (pull, push): headers at
/// once, one line per message.
pub fn message_stream(
    rx: tokio::sync::mpsc::Receiver<berth_api::jsonmessage::JsonMessage>,
) -> Response {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = axum::body::Body::from_stream(futures_util::StreamExt::map(stream, |m| {
        Ok::<_, std::io::Error>(axum::body::Bytes::from(m.to_line()))
    }));
    let mut r = Response::new(body);
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::JSON));
    r
}

/// A JSON message stream answer (`{"stream": …}\r\n` lines).
pub fn json_stream(msgs: &[berth_api::jsonmessage::JsonMessage]) -> Response {
    let body: String = msgs.iter().map(|m| m.to_line()).collect();
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::JSON));
    r
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Answer 101 to a hijack request (`Upgrade: tcp`), 200 with the raw stream
/// to old clients that do not ask for an upgrade.
pub fn upgraded_response(req: &Request, raw: bool) -> Response {
    let wants_upgrade = req.headers().contains_key(axum::http::header::UPGRADE);
    let ctype = if raw {
        media::RAW_STREAM
    } else {
        media::MULTIPLEXED_STREAM
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

/// The upgraded connection, handed to the engine once the 101 is out.
pub fn on_upgrade(req: &mut Request) -> tokio::sync::oneshot::Receiver<berth_engine::model::Io> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let on = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(up) = on.await {
            let io: berth_engine::model::Io = Box::new(hyper_util::rt::TokioIo::new(up));
            let _ = tx.send(io);
        }
    });
    rx
}

//! `/containers/{id}/exec` and `/exec/{id}/…`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use berth_api::exec::{CreateRequest, StartRequest};
use berth_api::query::container as q;

use super::extract::{DockerJson, Params};
use super::{ApiResult, Shared, json, ok_json, on_upgrade, upgraded_response};

pub async fn create(
    State(e): State<Shared>,
    Path(id): Path<String>,
    DockerJson(body): DockerJson<CreateRequest>,
) -> ApiResult<Response> {
    let eid = e.exec_create(&id, body)?;
    Ok(json(
        StatusCode::CREATED,
        &berth_api::IdResponse { id: eid },
    ))
}

pub async fn start(
    State(e): State<Shared>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let body = std::mem::take(req.body_mut());
    let bytes = super::extract::read_limited(body, super::extract::JSON_LIMIT).await?;
    let opts: StartRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        berth_api::json::decode(&bytes, "ExecStartConfig")?
    };
    if opts.detach {
        e.exec_start(&id, opts, None).await?;
        // Nothing more comes: the client may read the socket to its end.
        let mut r = Response::new(Body::empty());
        r.headers_mut()
            .insert("Connection", HeaderValue::from_static("close"));
        return Ok(r);
    }
    // Check before answering 101: afterwards errors can only end the stream.
    e.exec_check_start(&id)?;
    let raw = opts.tty;
    let io = on_upgrade(&mut req);
    let eng = e.clone();
    let eid = id.clone();
    tokio::spawn(async move {
        let Ok(io) = io.await else { return };
        if let Err(err) = eng.exec_start(&eid, opts, Some(io)).await {
            tracing::warn!("exec {eid}: {err}");
        }
    });
    Ok(upgraded_response(&req, raw))
}

pub async fn resize(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Resize>,
) -> ApiResult<Response> {
    let (h, w) = super::extract::size_of(&p)?;
    e.exec_resize(&id, h, w)?;
    Ok(Response::new(Body::empty()))
}

pub async fn inspect(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok_json(&e.exec_inspect(&id)?))
}

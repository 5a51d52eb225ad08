//! `/images/…` endpoints and `/commit`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::query::{container as qc, image as q};
use berth_api::system::media;
use berth_engine::CommitRequest;

use berth_engine::image::pull::PullRequest;
use berth_engine::image::push::PushRequest;

use super::extract::{DockerJson, OptionalJson, Params, RegistryAuth, decode_registry_auth};
use super::{ApiError, ApiResult, Shared, json, json_stream, message_stream, ok_json};

pub async fn list(State(e): State<Shared>, Params(p): Params<q::List>) -> ApiResult<Response> {
    Ok(ok_json(&e.image_list(&p)?))
}

/// Chunks already received are handed on together up to this size.
const COALESCE: usize = 256 * 1024;

/// A streamed body (image archives, imports, build contexts) as a blocking
/// reader: read as it arrives, a few chunks in flight, never held whole.
/// Small chunks already at hand go on as one (the docker CLI sends a build
/// context in 512-byte chunks: one hand-off to the reading thread each
/// cost more than the build itself when fully cached).
pub(super) fn body_reader(req: Request) -> berth_engine::util::ChannelReader {
    use futures_util::{FutureExt, StreamExt};
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut stream = req.into_body().into_data_stream();
    let failed = |e: axum::Error| std::io::Error::other(format!("reading the request body: {e}"));
    tokio::spawn(async move {
        let mut ended = false;
        while !ended {
            let Some(chunk) = stream.next().await else {
                break;
            };
            let mut item = chunk.map_err(failed);
            let mut error = None;
            if let Ok(first) = &item
                && first.len() < COALESCE
            {
                let mut buf = bytes::BytesMut::from(&first[..]);
                while buf.len() < COALESCE {
                    match stream.next().now_or_never() {
                        Some(Some(Ok(more))) => buf.extend_from_slice(&more),
                        Some(Some(Err(e))) => {
                            error = Some(failed(e));
                            break;
                        }
                        Some(None) => {
                            ended = true;
                            break;
                        }
                        None => break,
                    }
                }
                item = Ok(buf.freeze());
            }
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
            if let Some(e) = error {
                let _ = tx.send(Err(e)).await;
                break;
            }
        }
    });
    berth_engine::util::ChannelReader::new(rx)
}

pub async fn load(State(e): State<Shared>, req: Request) -> ApiResult<Response> {
    // `quiet` only silences progress bars in dockerd; the "Loaded image" lines
    // (the only messages here) are always sent.
    Ok(json_stream(&e.image_load(body_reader(req)).await))
}

fn tar_response(rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>) -> Response {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::TAR));
    r
}

pub async fn save(State(e): State<Shared>, Params(p): Params<q::Save>) -> ApiResult<Response> {
    Ok(tar_response(e.image_save(p.names).await?))
}

pub async fn create(
    State(e): State<Shared>,
    Params(p): Params<q::Create>,
    RegistryAuth(auth): RegistryAuth,
    req: Request,
) -> ApiResult<Response> {
    if !p.from_image.is_empty() {
        let pull = PullRequest::parse(&p.from_image, &p.tag, &p.platform, auth)?;
        return Ok(message_stream(e.image_pull(pull).await?));
    }
    if p.from_src.is_empty() {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    }
    let id = e.image_import(&p, body_reader(req)).await?;
    Ok(json_stream(&[berth_api::jsonmessage::JsonMessage::status(
        id,
    )]))
}

pub async fn prune(State(e): State<Shared>, Params(p): Params<qc::Prune>) -> ApiResult<Response> {
    Ok(ok_json(&e.image_prune(&p.filters).await?))
}

/// `/images/{name}/json|history|tag|get` (names may hold slashes).
pub async fn by_name(
    State(e): State<Shared>,
    Path(rest): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let query = req.uri().query().map(str::to_string);
    if let Some(name) = rest.strip_suffix("/json") {
        return Ok(ok_json(&e.image_inspect(name)?));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return Ok(ok_json(&e.image_history(name)?));
    }
    if let Some(name) = rest.strip_suffix("/tag") {
        let p = q::Tag::parse(query.as_deref())?;
        e.image_tag(name, &p)?;
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return Ok(tar_response(e.image_save(vec![name.to_string()]).await?));
    }
    if let Some(name) = rest.strip_suffix("/push")
        && req.method() == axum::http::Method::POST
    {
        let p = q::Push::parse(query.as_deref())?;
        let auth = req
            .headers()
            .get(berth_api::system::headers::REGISTRY_AUTH)
            .and_then(|v| v.to_str().ok())
            .map(decode_registry_auth)
            .unwrap_or_default();
        let push = PushRequest::parse(name, &p.tag, auth)?;
        return Ok(message_stream(e.image_push(push).await?));
    }
    Err(ApiError::not_found("page not found"))
}

/// `POST /auth`: check credentials against a registry.
pub async fn login(
    State(e): State<Shared>,
    DockerJson(auth): DockerJson<berth_api::auth::AuthConfig>,
) -> ApiResult<Response> {
    Ok(ok_json(&e.login(auth).await?))
}

/// `GET /images/search`.
pub async fn search(
    State(e): State<Shared>,
    Params(p): Params<q::Search>,
    RegistryAuth(auth): RegistryAuth,
) -> ApiResult<Response> {
    Ok(ok_json(
        &e.search(&p.term, p.limit, &p.filters, auth).await?,
    ))
}

pub async fn remove(
    State(e): State<Shared>,
    Path(name): Path<String>,
    Params(p): Params<q::Remove>,
) -> ApiResult<Response> {
    Ok(ok_json(&e.image_remove(&name, &p)?))
}

/// `POST /commit`.
pub async fn commit(
    State(e): State<Shared>,
    Params(p): Params<qc::Commit>,
    OptionalJson(config): OptionalJson<berth_api::container::Config>,
) -> ApiResult<Response> {
    let r = CommitRequest::from_query(p, config)?;
    let id = e.commit(r).await?;
    Ok(json(StatusCode::CREATED, &berth_api::IdResponse { id }))
}

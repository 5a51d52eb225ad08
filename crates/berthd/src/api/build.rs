//! The classic builder's endpoints: `POST /build` (the context tar as the
//! body, the JSON message stream back), `/build/prune`, `/build/cancel`.

use axum::extract::{Request, State};
use axum::response::Response;
use berth_api::query::build as q;
use berth_api::query::system as qs;

use super::extract::Params;
use super::{ApiResult, Shared, message_stream, no_content, ok_json};

/// `X-Registry-Config`: base64url JSON of registry → credentials.
fn registry_config(req: &Request) -> berth_api::auth::RegistryConfig {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let Some(v) = req
        .headers()
        .get(berth_api::system::headers::REGISTRY_CONFIG)
        .and_then(|v| v.to_str().ok())
    else {
        return Default::default();
    };
    [URL_SAFE, URL_SAFE_NO_PAD, STANDARD]
        .iter()
        .find_map(|e| e.decode(v.trim()).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub async fn build(
    State(e): State<Shared>,
    Params(p): Params<q::Build>,
    req: Request,
) -> ApiResult<Response> {
    let auth = registry_config(&req);
    let opts = berth_engine::build::BuildOptions::from_query(&p, auth)?;
    let body = super::images::body_reader(req);
    Ok(message_stream(e.build(opts, body)))
}

pub async fn prune(
    State(e): State<Shared>,
    Params(p): Params<qs::BuildPrune>,
) -> ApiResult<Response> {
    Ok(ok_json(
        &e.build_prune(p.all, &p.filters, p.keep_storage).await?,
    ))
}

pub async fn cancel(State(e): State<Shared>, Params(p): Params<q::Cancel>) -> ApiResult<Response> {
    e.build_cancel(&p.id);
    Ok(no_content())
}

//! `/volumes/…`: create, list, inspect, remove, prune.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_api::query::{container as qc, volume as q};
use berth_api::version::ApiVersion;
use berth_api::volume::CreateRequest;

use super::extract::{DockerJson, Params};
use super::{ApiResult, Shared, json, no_content, ok_json};

pub async fn list(State(e): State<Shared>, Params(p): Params<q::List>) -> ApiResult<Response> {
    Ok(ok_json(&e.volume_list(&p.filters)?))
}

pub async fn inspect(State(e): State<Shared>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(ok_json(&e.volume_inspect(&name)?))
}

pub async fn create(
    State(e): State<Shared>,
    DockerJson(body): DockerJson<CreateRequest>,
) -> ApiResult<Response> {
    let v = e.volume_create(body)?;
    Ok(json(StatusCode::CREATED, &v))
}

pub async fn remove(
    State(e): State<Shared>,
    Path(name): Path<String>,
    Params(p): Params<q::Remove>,
) -> ApiResult<Response> {
    e.volume_remove(&name, p.force).await?;
    Ok(no_content())
}

/// Clients of API 1.42 and later prune only anonymous volumes unless they
/// send the `all` filter; older ones prune every unused volume.
pub async fn prune(
    State(e): State<Shared>,
    Extension(v): Extension<ApiVersion>,
    Params(p): Params<qc::Prune>,
) -> ApiResult<Response> {
    let anonymous_only = v >= ApiVersion(1, 42);
    Ok(ok_json(&e.volume_prune(&p.filters, anonymous_only).await?))
}

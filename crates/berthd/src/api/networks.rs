//! `/networks/…`: bridge networks (the default one and user-defined ones),
//! plus the predefined `host` and `none`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::network::{ConnectRequest, CreateRequest, DisconnectRequest};
use berth_api::query::{container as qc, network as q};

use super::extract::{DockerJson, Params};
use super::{ApiResult, Shared, json, no_content, ok_json};

pub async fn list(State(e): State<Shared>, Params(p): Params<q::List>) -> ApiResult<Response> {
    Ok(ok_json(&e.network_list(&p.filters)?))
}

pub async fn inspect(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok_json(&e.network_inspect(&id)?))
}

pub async fn create(
    State(e): State<Shared>,
    DockerJson(body): DockerJson<CreateRequest>,
) -> ApiResult<Response> {
    let r = e.network_create(body).await?;
    Ok(json(StatusCode::CREATED, &r))
}

pub async fn remove(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.network_remove(&id).await?;
    Ok(no_content())
}

pub async fn prune(State(e): State<Shared>, Params(p): Params<qc::Prune>) -> ApiResult<Response> {
    Ok(ok_json(&e.network_prune(&p.filters).await?))
}

pub async fn connect(
    State(e): State<Shared>,
    Path(id): Path<String>,
    DockerJson(b): DockerJson<ConnectRequest>,
) -> ApiResult<Response> {
    e.network_connect(&id, &b.container, b.endpoint_config.unwrap_or_default())
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(e): State<Shared>,
    Path(id): Path<String>,
    DockerJson(b): DockerJson<DisconnectRequest>,
) -> ApiResult<Response> {
    e.network_disconnect(&id, &b.container).await?;
    Ok(StatusCode::OK.into_response())
}

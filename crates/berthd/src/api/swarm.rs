//! What a dockerd that is not part of a swarm answers for swarm, service,
//! node, secret, config and task endpoints (503, in its words — SDKs and
//! compose test these statuses to know swarm is off), and plugins (none).

use axum::Router;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::{ApiError, Shared, ok_json};

const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
const NOT_IN_SWARM: &str = "This node is not part of a swarm";

async fn swarm_root(method: Method, path: Option<Path<String>>) -> Response {
    let sub = path.map(|Path(p)| p).unwrap_or_default();
    let msg = match (method, sub.as_str()) {
        (Method::POST, "leave") | (Method::POST, "update") | (Method::POST, "unlock") => {
            NOT_IN_SWARM
        }
        (Method::POST, "init") | (Method::POST, "join") => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "berth does not support swarm mode",
            )
            .into_response();
        }
        _ => NOT_MANAGER,
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg).into_response()
}

async fn not_manager() -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_MANAGER).into_response()
}

pub fn routes() -> Router<Shared> {
    let mut r = Router::new()
        .route("/swarm", any(swarm_root))
        .route("/swarm/{*rest}", any(swarm_root));
    for kind in ["services", "nodes", "secrets", "configs", "tasks"] {
        r = r
            .route(&format!("/{kind}"), any(not_manager))
            .route(&format!("/{kind}/{{*rest}}"), any(not_manager));
    }
    r
}

/// `GET /plugins`: none installed.
pub async fn plugins() -> Response {
    ok_json(&Vec::<()>::new())
}

/// `/plugins/{name}/…`: no such plugin.
pub async fn plugin(Path(rest): Path<String>) -> Response {
    let name = rest.split('/').next().unwrap_or("");
    if name.is_empty() || !rest.contains('/') {
        return ApiError::not_found("page not found").into_response();
    }
    ApiError::not_found(format!("plugin \"{name}\" not found")).into_response()
}

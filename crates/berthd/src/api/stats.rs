//! `GET /containers/{id}/stats`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderValue;
use axum::response::Response;

use super::query::Query;
use super::{Shared, channel_body};
use crate::error::ApiResult;

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
    let mut r = Response::new(channel_body(rx));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static("application/json"));
    Ok(r)
}

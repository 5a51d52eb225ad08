//! `GET /containers/{id}/stats`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::Response;
use berth_api::query::container as q;
use berth_api::system::media;

use super::extract::Params;
use super::{ApiResult, Shared, channel_body};

/// One object (`stream=false`; after a second so that CPU percentages
/// can be computed, unless `one-shot`), or one per second.
pub async fn stats(
    State(e): State<Shared>,
    Path(id): Path<String>,
    Params(p): Params<q::Stats>,
) -> ApiResult<Response> {
    let stream = p.stream.unwrap_or(true);
    let c = e.containers.get(&id)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut pre = None;
        let mut preread = berth_api::ZERO_TIME.to_string();
        let mut c = c;
        if !stream && !p.one_shot && c.running() {
            pre = e.sample(&c);
            preread = berth_engine::util::now_rfc3339();
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        loop {
            if let Ok(fresh) = e.containers.get(&c.id) {
                c = fresh;
            }
            let cur = e.sample(&c);
            let v = e.stats_response(&c, cur.as_ref(), pre.as_ref(), &preread);
            preread = v.read.clone();
            let line = format!("{}\n", serde_json::to_string(&v).expect("stats serialise"));
            if tx.send(Bytes::from(line)).await.is_err() || !stream {
                break;
            }
            pre = cur;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let mut r = Response::new(channel_body(rx));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::JSON));
    Ok(r)
}

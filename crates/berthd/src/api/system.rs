//! System endpoints: ping, version, info, events, df, build prune.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::query::system as q;
use berth_api::system::{headers, media};
use futures_util::StreamExt;

use super::extract::Params;
use super::{ApiError, ApiResult, Shared, ok_json};

fn ping_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(headers::BUILDER_VERSION, HeaderValue::from_static("1"));
    h.insert(headers::SWARM, HeaderValue::from_static("inactive"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
}

pub async fn ping() -> Response {
    let mut r = (StatusCode::OK, "OK").into_response();
    r.headers_mut().insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    ping_headers(&mut r);
    r
}

pub async fn ping_head() -> Response {
    let mut r = (StatusCode::OK, "").into_response();
    ping_headers(&mut r);
    r
}

pub async fn version(State(e): State<Shared>) -> Response {
    ok_json(&e.version())
}

pub async fn info(State(e): State<Shared>) -> Response {
    ok_json(&e.info())
}

/// `since`/`until` of events: Unix seconds, RFC 3339, or a duration back.
fn event_time(s: &str) -> ApiResult<Option<f64>> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let now = chrono::Utc::now().timestamp() as f64;
    berth_api::filters::parse_timestamp(s, now)
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(format!("invalid time: {s}")))
}

pub async fn events(State(e): State<Shared>, Params(p): Params<q::Events>) -> ApiResult<Response> {
    let since = event_time(&p.since)?;
    let until = event_time(&p.until)?;
    let (past, rx) = e.events_subscribe(&p.filters, since, until)?;
    let line = |m: &berth_api::events::Message| {
        Ok::<_, std::io::Error>(format!(
            "{}\n",
            serde_json::to_string(m).expect("event serialises")
        ))
    };
    let past_stream = futures_util::stream::iter(past.iter().map(line).collect::<Vec<_>>());
    let f = p.filters.clone();
    let live = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |ev| {
        let f = f.clone();
        async move {
            let ev = ev.ok()?;
            berth_engine::events::matches(&ev, &f).then(|| line(&ev))
        }
    });
    let now = chrono::Utc::now().timestamp() as f64;
    let body = match until {
        Some(u) if u <= now => Body::from_stream(past_stream),
        Some(u) => {
            let dur = std::time::Duration::from_secs_f64((u - now).max(0.0));
            Body::from_stream(past_stream.chain(live.take_until(tokio::time::sleep(dur))))
        }
        None => Body::from_stream(past_stream.chain(live)),
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static(media::JSON));
    Ok(r)
}

/// `GET /system/check`: the report.
pub async fn check(State(e): State<Shared>) -> ApiResult<Response> {
    Ok(ok_json(&e.system_check(false).await?))
}

/// `POST /system/check?repair=1`: the report, and what was repaired.
pub async fn check_repair(
    State(e): State<Shared>,
    Params(p): Params<q::Check>,
) -> ApiResult<Response> {
    Ok(ok_json(&e.system_check(p.repair).await?))
}

pub async fn df(State(e): State<Shared>) -> ApiResult<Response> {
    Ok(ok_json(&e.disk_usage().await?))
}

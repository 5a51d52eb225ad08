//! `/networks/…`: bridge networks (the default one and user-defined ones),
//! plus the predefined `host` and `none`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Shared;
use super::query::Query;
use crate::engine::network::{CreateNetwork, EndpointRequest};
use crate::error::{ApiError, ApiResult};

/// `host` and `none`: fixed ids, no addresses.
fn predefined(name: &str) -> Value {
    let driver = if name == "host" { "host" } else { "null" };
    let id: String = name.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    json!({
        "Name": name, "Id": format!("{id:0<64}"), "Created": "0001-01-01T00:00:00Z",
        "Scope": "local", "Driver": driver, "EnableIPv4": true, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": {}, "Options": {}, "Labels": {},
    })
}

fn all(e: &Shared) -> Vec<Value> {
    let mut v: Vec<Value> = e.all_networks().iter().map(|n| e.network_json(n)).collect();
    v.push(predefined("host"));
    v.push(predefined("none"));
    v
}

fn body_json(b: &Bytes) -> ApiResult<Value> {
    if b.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(b).map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))
}

pub async fn list(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters().map_err(ApiError::bad_request)?;
    let keep = |n: &Value| {
        filters.iter().all(|(k, vals)| {
            vals.is_empty()
                || vals.iter().any(|v| match k.as_str() {
                    "name" => n["Name"].as_str().is_some_and(|x| x.contains(v.as_str())),
                    "id" => n["Id"].as_str().is_some_and(|x| x.starts_with(v.as_str())),
                    "driver" => n["Driver"] == json!(v),
                    "label" => {
                        let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                        n["Labels"]
                            .get(lk)
                            .is_some_and(|x| lv.is_empty() || x == lv)
                    }
                    "scope" => n["Scope"] == json!(v),
                    "dangling" => {
                        let builtin =
                            ["bridge", "host", "none"].contains(&n["Name"].as_str().unwrap_or(""));
                        let unused = n["Containers"].as_object().is_none_or(|c| c.is_empty());
                        (v == "true" || v == "1") == (unused && !builtin)
                    }
                    "type" => {
                        let builtin =
                            ["bridge", "host", "none"].contains(&n["Name"].as_str().unwrap_or(""));
                        (v == "builtin") == builtin
                    }
                    _ => true,
                })
        })
    };
    for k in filters.keys() {
        if !["name", "id", "driver", "label", "type", "scope", "dangling"].contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    Ok(Json(Value::Array(
        all(&e).into_iter().filter(keep).collect(),
    )))
}

pub async fn inspect(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if id == "host" || id == "none" {
        return Ok(Json(predefined(&id)));
    }
    let n = e.network(&id)?;
    Ok(Json(e.network_json(&n)))
}

pub async fn create(State(e): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let b = body_json(&body)?;
    let name = b["Name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    let cfg = b["IPAM"]["Config"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    let obj = |v: &Value| v.as_object().cloned().unwrap_or_else(Map::new);
    let id = e
        .create_network(CreateNetwork {
            name,
            subnet: s(&cfg["Subnet"]),
            gateway: s(&cfg["Gateway"]),
            ip_range: s(&cfg["IPRange"]),
            internal: b["Internal"].as_bool().unwrap_or(false),
            labels: obj(&b["Labels"]),
            options: obj(&b["Options"]),
            driver: s(&b["Driver"]).unwrap_or_else(|| "bridge".into()),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))).into_response())
}

pub async fn remove(State(e): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    e.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A `until` filter value: a unix time, an RFC 3339 time, or a duration
/// before now (`24h`, `90m`, `10s`).
fn until_time(v: &str) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    let now = chrono::Utc::now();
    if let Ok(secs) = v.parse::<f64>() {
        return chrono::DateTime::from_timestamp(secs as i64, 0)
            .ok_or_else(|| ApiError::bad_request(format!("invalid until: {v}")));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid until: {v}")))?;
    let secs = match unit {
        "h" => n * 3600.0,
        "m" => n * 60.0,
        "s" => n,
        _ => return Err(ApiError::bad_request(format!("invalid until: {v}"))),
    };
    Ok(now - chrono::Duration::milliseconds((secs * 1000.0) as i64))
}

fn label_match(labels: &Value, filter: &str) -> bool {
    let (k, v) = filter.split_once('=').unwrap_or((filter, ""));
    labels.get(k).is_some_and(|x| v.is_empty() || x == v)
}

pub async fn prune(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters().map_err(ApiError::bad_request)?;
    for k in filters.keys() {
        if !["until", "label", "label!"].contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    let until = match filters.get("until").and_then(|v| v.first()) {
        Some(v) => Some(until_time(v)?),
        None => None,
    };
    let mut gone = Vec::new();
    for n in e.all_networks() {
        let d = n.def();
        let labels = Value::Object(d.labels.clone());
        let created = chrono::DateTime::parse_from_rfc3339(&d.created).ok();
        let keep = d.name == crate::engine::network::DEFAULT
            || until.is_some_and(|u| created.is_some_and(|c| c > u))
            || filters
                .get("label")
                .is_some_and(|ls| !ls.iter().all(|l| label_match(&labels, l)))
            || filters
                .get("label!")
                .is_some_and(|ls| ls.iter().any(|l| label_match(&labels, l)));
        if !keep && e.remove_network(&d.id).await.is_ok() {
            gone.push(d.name);
        }
    }
    Ok(Json(json!({"NetworksDeleted": gone})))
}

pub async fn connect(
    State(e): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b = body_json(&body)?;
    let container = b["Container"].as_str().unwrap_or("").to_string();
    let ep = &b["EndpointConfig"];
    let ipv4 = match ep["IPAMConfig"]["IPv4Address"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {s}")))?,
        ),
        None => None,
    };
    let aliases = ep["Aliases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mac = ep["MacAddress"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from);
    e.connect(&id, &container, EndpointRequest { aliases, ipv4, mac })
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(e): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b = body_json(&body)?;
    let container = b["Container"].as_str().unwrap_or("").to_string();
    e.disconnect(&id, &container).await?;
    Ok(StatusCode::OK.into_response())
}

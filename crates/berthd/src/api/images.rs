//! `/images/…` endpoints.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::query::Query;
use crate::error::{ApiError, ApiResult};

fn summary(i: &berth_image::Image, containers: i64) -> Value {
    json!({
        "Id": i.id.as_str(),
        "ParentId": "",
        "RepoTags": i.repo_tags,
        "RepoDigests": i.repo_digests,
        "Created": i.config.created_unix(),
        "Size": i.size,
        "SharedSize": -1,
        "VirtualSize": i.size,
        "Labels": i.config.labels(),
        "Containers": containers,
    })
}

pub async fn list(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters().map_err(ApiError::bad_request)?;
    let used = e.image_users();
    let mut out = Vec::new();
    for i in e.images.list()? {
        if let Some(d) = filters.get("dangling")
            && d.iter().any(|v| v == "true")
            && !i.repo_tags.is_empty()
        {
            continue;
        }
        if let Some(refs) = filters.get("reference")
            && !refs.is_empty()
            && !i.repo_tags.iter().any(|t| {
                refs.iter()
                    .any(|r| t == r || t.split(':').next() == Some(r.as_str()))
            })
        {
            continue;
        }
        let n = i64::from(used.contains_key(i.id.as_str()));
        out.push(summary(&i, n));
    }
    Ok(Json(Value::Array(out)))
}

/// A JSON message stream response (`{"stream": …}` lines).
fn json_stream(lines: Vec<Value>) -> Response {
    let body: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert("Content-Type", HeaderValue::from_static("application/json"));
    r
}

pub async fn load(State(e): State<Shared>, body: Bytes) -> ApiResult<Response> {
    // `quiet` only silences progress bars in dockerd; the "Loaded image" lines
    // (the only messages here) are always sent — the CLI asks for quiet
    // whenever its output is not a terminal.
    let eng = e.clone();
    let (result, lines) = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let r = eng.images.load(std::io::Cursor::new(body), &mut |l: &str| {
            lines.push(l.to_string())
        });
        (r, lines)
    })
    .await
    .map_err(|err| ApiError::internal(err.to_string()))?;
    for img in result? {
        e.events
            .emit("image", "load", img.id.as_str(), Default::default());
    }
    let msgs = lines
        .into_iter()
        .map(|l| json!({"stream": format!("{l}\n")}))
        .collect();
    Ok(json_stream(msgs))
}

pub async fn save(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let names = q.all("names");
    for n in &names {
        e.images.resolve(n)?;
    }
    let eng = e.clone();
    let data = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        eng.images.save(&refs, &mut out).map(|_| out)
    })
    .await
    .map_err(|err| ApiError::internal(err.to_string()))??;
    let mut r = Response::new(Body::from(data));
    r.headers_mut().insert(
        "Content-Type",
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

pub async fn create(
    State(e): State<Shared>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    if let Some(img) = q.get("fromImage") {
        let tag = q.get("tag").unwrap_or("latest");
        let r = berth_image::Reference::parse(&format!("{img}:{tag}"))
            .or_else(|_| berth_image::Reference::parse(img))?;
        let domain = r
            .full()
            .split('/')
            .next()
            .unwrap_or("docker.io")
            .to_string();
        return Err(ApiError::internal(format!(
            "Get \"https://{}/v2/\": pulling images is not supported yet: load or import {} instead",
            if domain == "docker.io" {
                "registry-1.docker.io".to_string()
            } else {
                domain
            },
            r.familiar()
        )));
    }
    let Some(src) = q.get("fromSrc") else {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    };
    if src != "-" {
        return Err(ApiError::bad_request(
            "importing from a URL is not supported yet",
        ));
    }
    let reference = match q.get("repo").filter(|r| !r.is_empty()) {
        Some(repo) => {
            let full = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo.to_string(),
            };
            Some(berth_image::Reference::parse(&full)?)
        }
        None => None,
    };
    let changes = q.all("changes");
    let message = q.get("message").unwrap_or("").to_string();
    let eng = e.clone();
    let id = tokio::task::spawn_blocking(move || {
        eng.images.import(
            std::io::Cursor::new(body),
            reference.as_ref(),
            &changes,
            &message,
        )
    })
    .await
    .map_err(|err| ApiError::internal(err.to_string()))??;
    e.events
        .emit("image", "import", id.as_str(), Default::default());
    Ok(json_stream(vec![json!({"status": id.as_str()})]))
}

pub async fn prune(State(e): State<Shared>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters().map_err(ApiError::bad_request)?;
    let dangling_only = filters
        .get("dangling")
        .is_none_or(|d| d.iter().any(|v| v == "true" || v == "1"));
    let used = e.image_users();
    let mut deleted = Vec::new();
    for i in e.images.list()? {
        if used.contains_key(i.id.as_str()) || (dangling_only && !i.repo_tags.is_empty()) {
            continue;
        }
        if let Ok(rep) = e.images.remove(i.id.as_str(), true, &|_| None) {
            deleted.extend(
                rep.into_iter()
                    .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
            );
        }
    }
    Ok(Json(json!({"ImagesDeleted": deleted, "SpaceReclaimed": 0})))
}

/// `/images/{name}/json|history|tag` (names may hold slashes).
pub async fn by_name(
    State(e): State<Shared>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    if let Some(name) = rest.strip_suffix("/json") {
        let i = e.images.resolve(name)?;
        let c = &i.config.0;
        return Ok(Json(json!({
            "Id": i.id.as_str(),
            "RepoTags": i.repo_tags,
            "RepoDigests": i.repo_digests,
            "Parent": "",
            "Comment": c["comment"].as_str().unwrap_or(""),
            "Created": c["created"],
            "DockerVersion": "",
            "Author": c["author"].as_str().unwrap_or(""),
            "Config": c["config"],
            "Architecture": c["architecture"],
            "Os": c["os"],
            "Size": i.size,
            "GraphDriver": {"Name": "overlay2", "Data": null},
            "RootFS": {"Type": "layers", "Layers": c["rootfs"]["diff_ids"]},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }))
        .into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let i = e.images.resolve(name)?;
        let h = e.images.history(&i)?;
        return Ok(Json(serde_json::to_value(h).unwrap_or(Value::Null)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/tag") {
        let i = e.images.resolve(name)?;
        let repo = q.get("repo").unwrap_or("");
        let full = match q.get("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_string(),
        };
        let r = berth_image::Reference::parse(&full)?;
        e.images.tag(&i.id, &r)?;
        e.events
            .emit("image", "tag", i.id.as_str(), Default::default());
        return Ok(StatusCode::CREATED.into_response());
    }
    Err(ApiError::not_found("page not found"))
}

pub async fn remove(
    State(e): State<Shared>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Query::parse(q.as_deref());
    let force = q.bool("force");
    let used = e.image_users();
    let rep = e
        .images
        .remove(&name, force, &|id: &berth_image::ImageId| {
            used.get(id.as_str()).map(|(cid, running)| {
                if *running {
                    format!("running container {}", &cid[..12])
                } else {
                    format!("stopped container {}", &cid[..12])
                }
            })
        })?;
    Ok(Json(serde_json::to_value(rep).unwrap_or(Value::Null)))
}

/// `POST /commit`.
pub async fn commit(
    State(e): State<Shared>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let container = q.get("container").unwrap_or("").to_string();
    let reference = match q.get("repo").filter(|r| !r.is_empty()) {
        Some(repo) => {
            let full = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo.to_string(),
            };
            Some(berth_image::Reference::parse(&full)?)
        }
        None => None,
    };
    let config = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice::<Value>(&body)
                .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?,
        )
    };
    let id = e
        .commit(crate::engine::CommitRequest {
            container,
            reference,
            comment: q.get("comment").unwrap_or("").to_string(),
            author: q.get("author").unwrap_or("").to_string(),
            pause: q.get("pause").is_none_or(|p| p != "0" && p != "false"),
            changes: q.all("changes"),
            config,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id}))).into_response())
}

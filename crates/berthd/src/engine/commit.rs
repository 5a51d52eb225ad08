//! `docker commit` (a container's changes become an image) and `docker
//! update` (new limits for a container, applied live when it runs).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Engine, blocking, off_thread, rootfs, spec};
use crate::error::{ApiError, ApiResult};

pub struct CommitRequest {
    pub container: String,
    pub reference: Option<berth_image::Reference>,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    /// A Config from the request body; the container's when absent.
    pub config: Option<Value>,
}

/// HostConfig fields `docker update` may change.
const UPDATABLE: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "KernelMemory",
];

impl Engine {
    pub async fn commit(self: &Arc<Self>, r: CommitRequest) -> ApiResult<String> {
        let c = self.get(&r.container)?;
        let paused_here = r.pause && c.state.status == "running";
        if paused_here {
            self.pause(&c.id).await?;
        }
        let this = self.clone();
        let c2 = c.clone();
        let reference = r.reference.clone();
        let comment = r.comment.clone();
        let res = off_thread(move || {
            let upper = rootfs::paths(&this.container_dir(&c2.id)).upper;
            let (reader, mut writer) = std::io::pipe()?;
            let producer = std::thread::spawn(move || {
                if upper.exists() {
                    berth_image::diff::upper_to_tar(&upper, &mut writer)
                } else {
                    tar::Builder::new(&mut writer)
                        .finish()
                        .map_err(|e| berth_image::Error::Io("empty layer".into(), e))
                }
            });
            let mut config = r
                .config
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
            if config.is_none() {
                config = Some(c2.config.clone());
            }
            let mut cmd = vec![c2.path.clone()];
            cmd.extend(c2.args.iter().cloned());
            let parent = berth_image::ImageId::parse(&c2.image).ok();
            let id = this.images.commit(
                parent.as_ref(),
                reader,
                berth_image::ImageConfigPatch {
                    config,
                    changes: r.changes,
                    created_by: Some(cmd.join(" ")),
                    container: Some(c2.id.clone()),
                },
                &r.author,
                &r.comment,
                r.reference.as_ref(),
            );
            let produced = producer
                .join()
                .map_err(|_| ApiError::internal("commit: diff writer panicked"))?;
            let id = id.map_err(ApiError::from)?;
            produced.map_err(ApiError::from)?;
            Ok(id)
        })
        .await;
        if paused_here {
            let _ = self.unpause(&c.id).await;
        }
        let id = res?;
        let tag = reference.as_ref().map(|x| x.familiar()).unwrap_or_default();
        self.emit(&c, "commit", &[("comment", comment)]);
        if !tag.is_empty() {
            self.events.emit("image", "tag", id.as_str(), {
                let mut m = serde_json::Map::new();
                m.insert("name".into(), json!(tag));
                m
            });
        }
        Ok(id.as_str().to_string())
    }

    /// `POST /containers/{id}/update`.
    pub async fn update_limits(self: &Arc<Self>, r: &str, body: Value) -> ApiResult<Vec<String>> {
        let id = self.resolve(r)?;
        let lock = self.op_lock(&id)?;
        let _g = lock.lock().await;
        let Some(obj) = body.as_object() else {
            return Err(ApiError::bad_request("update: body must be a JSON object"));
        };
        let mut hc = self.get(&id)?.host_config;
        for k in UPDATABLE {
            match obj.get(*k) {
                Some(Value::Number(n)) if n.as_i64() != Some(0) => {
                    hc[*k] = Value::Number(n.clone())
                }
                Some(Value::String(s)) if !s.is_empty() => hc[*k] = json!(s),
                _ => {}
            }
        }
        if let (Some(m), Some(s)) = (hc["Memory"].as_i64(), hc["MemorySwap"].as_i64())
            && m > 0
            && s > 0
            && s < m
        {
            return Err(ApiError::bad_request(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
        if let Some(p) = obj.get("RestartPolicy").filter(|p| p.is_object()) {
            hc["RestartPolicy"] = p.clone();
        }
        let c = self.get(&id)?;
        if c.running() {
            let res = spec::limits(&hc);
            let resources: oci_spec::runtime::LinuxResources = serde_json::from_value(res)
                .map_err(|e| ApiError::internal(format!("update: {e}")))?;
            let rt = self.runtime();
            let i = id.clone();
            blocking(move || rt.update(&i, &resources))
                .await
                .map_err(|e| ApiError::internal(format!("Cannot update container {id}: {e}")))?;
        }
        let c = self.update_durable(&id, |c| {
            c.host_config = hc;
            c.clone()
        })?;
        self.emit(&c, "update", &[]);
        Ok(Vec::new())
    }
}

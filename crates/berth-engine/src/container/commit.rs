//! `docker commit` (a container's changes become an image) and `docker
//! update` (new limits for a container, applied live when it runs).

use std::sync::Arc;

use berth_api::container::{Config, Resources, Status, UpdateConfig, UpdateResponse};
use berth_api::query;

use crate::util::{blocking, runtime, warn_on_err};
use crate::{Engine, Error, Result};

/// What `POST /commit` asks.
#[derive(Clone, Debug, Default)]
pub struct CommitRequest {
    pub container: String,
    pub reference: Option<berth_image::Reference>,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    /// A Config from the request body; the container's when absent.
    pub config: Option<Config>,
}

impl CommitRequest {
    /// From the query parameters and the (optional) body.
    pub fn from_query(
        q: query::container::Commit,
        config: Option<Config>,
    ) -> Result<CommitRequest> {
        let reference = crate::image::reference_of(&q.repo, &q.tag)?;
        Ok(CommitRequest {
            container: q.container,
            reference,
            comment: q.comment,
            author: q.author,
            pause: q.pause.unwrap_or(true),
            changes: q.changes,
            config,
        })
    }
}

impl Engine {
    /// `POST /commit`: a running or just-exited container (whose snapshot
    /// is still there) becomes an image.
    pub async fn commit(self: &Arc<Self>, r: CommitRequest) -> Result<String> {
        let c = self.containers.get(&r.container)?;
        // Pause only what runs; a container that exits meanwhile is fine.
        let paused_here =
            r.pause && c.status() == Status::Running && self.container_pause(&c.id).await.is_ok();
        let this = self.clone();
        let c2 = c.clone();
        let reference = r.reference.clone();
        let comment = r.comment.clone();
        let res = blocking(move || {
            if !this.snapshots.exists(&c2.id) {
                let img = this.images.resolve(&c2.image)?;
                let layers = this.images.layer_dirs(&img)?;
                this.snapshots
                    .prepare_mapped(&c2.id, &layers, c2.id_map.as_ref())?;
            }
            let (reader, mut writer) = std::io::pipe()?;
            let snaps = this.snapshots.clone();
            let key = c2.id.clone();
            let producer = std::thread::spawn(move || snaps.diff_tar(&key, &mut writer));
            let config = r
                .config
                .filter(|c| *c != Config::default())
                .unwrap_or_else(|| c2.config.clone());
            let parent = berth_image::ImageId::parse(&c2.image).ok();
            let id = this.images.commit(
                parent.as_ref(),
                reader,
                berth_image::ImageConfigPatch {
                    config: Some(config),
                    changes: r.changes,
                    created_by: Some(c2.command_line()),
                    container: Some(c2.id.clone()),
                },
                &r.author,
                &r.comment,
                r.reference.as_ref(),
            );
            let produced = producer
                .join()
                .map_err(|_| Error::system("commit: diff writer panicked"))?;
            let id = id?;
            produced?;
            Ok(id)
        })
        .await;
        if paused_here {
            warn_on_err("unpause after commit", self.container_unpause(&c.id).await);
        }
        let id = res?;
        self.emit_container(&c, "commit", &[("comment", comment)]);
        if let Some(t) = reference {
            self.emit_image(id.as_str(), "tag", &[("name", t.familiar())]);
        }
        Ok(id.as_str().to_string())
    }

    /// `POST /containers/{id}/update`: the limits given (non-zero) and the
    /// restart policy replace the container's; applied live if it runs.
    pub async fn container_update(
        self: &Arc<Self>,
        r: &str,
        u: UpdateConfig,
    ) -> Result<UpdateResponse> {
        let id = self.containers.resolve(r)?;
        let lock = self.containers.op_lock(&id)?;
        let _g = lock.lock().await;
        let c = self.containers.get(&id)?;
        let mut hc = c.host_config.clone();
        let n = &u.resources;
        let r = &mut hc.resources;
        macro_rules! take {
            ($($f:ident),*) => { $( if n.$f != Resources::default().$f { r.$f = n.$f.clone(); } )* };
        }
        take!(
            memory,
            memory_swap,
            memory_reservation,
            nano_cpus,
            cpu_shares,
            cpu_period,
            cpu_quota,
            cpuset_cpus,
            cpuset_mems,
            blkio_weight,
            cpu_realtime_period,
            cpu_realtime_runtime
        );
        if n.pids_limit.is_some() {
            r.pids_limit = n.pids_limit;
        }
        if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
            return Err(Error::invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
        if r.memory != 0 && r.memory < 6 * 1024 * 1024 {
            return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
        }
        if let Some(p) = u
            .restart_policy
            .as_ref()
            .filter(|p| p.name != berth_api::container::RestartPolicyMode::Unset)
        {
            super::restart::validate(p, hc.auto_remove)?;
            hc.restart_policy = p.clone();
        }
        if c.running() {
            let resources = super::spec::limits(&hc.resources)?;
            let rt = self.runtime();
            let i = id.clone();
            runtime(move || rt.update(&i, &resources))
                .await
                .map_err(|e| Error::system(format!("Cannot update container {id}: {e}")))?;
        }
        let c = self.containers.update_durable(&id, |c| {
            c.host_config = hc;
            c.clone()
        })?;
        self.emit_container(&c, "update", &[]);
        Ok(UpdateResponse::default())
    }
}

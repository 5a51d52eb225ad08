//! Images: list, inspect, history, tag, remove, prune, load, save and
//! import — the decisions (what counts as dangling, who uses an image,
//! what a prune frees) made here, the storage in berth-image.

use std::collections::HashMap;
use std::sync::Arc;

use berth_api::filters::Filters;
use berth_api::image::{
    DeleteResponse, HistoryItem, InspectResponse, Metadata, PruneReport, RootFs, Summary,
};
use berth_api::jsonmessage::JsonMessage;
use berth_api::query;

pub mod pull;
pub mod push;
pub mod registry;
pub mod transfer;

use crate::util::blocking;
use crate::{Engine, Error, Result};

/// Keys `docker images --filter` takes.
pub const LIST_FILTERS: &[&str] = &["before", "dangling", "label", "reference", "since", "until"];

/// `repo:tag` glob matching as Docker's reference filter does (`*` within
/// a path component).
fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && m(p, &s[1..])),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}

/// A tag matches a `reference` filter by name, name:tag or glob.
pub fn reference_matches(filter: &str, tag: &str) -> bool {
    let name = tag.rsplit_once(':').map(|(n, _)| n).unwrap_or(tag);
    tag == filter || name == filter || glob(filter, tag) || glob(filter, name)
}

fn summary(i: &berth_image::Image, containers: i64) -> Summary {
    Summary {
        id: i.id.as_str().to_string(),
        parent_id: i
            .parent
            .as_ref()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        created: i.config.created_unix(),
        size: i.size as i64,
        shared_size: -1,
        virtual_size: Some(i.size as i64),
        labels: i.config.labels(),
        containers,
    }
}

impl Engine {
    /// The layer directories containers' root filesystems sit on.
    pub fn snapshot_lowers(&self) -> Vec<std::path::PathBuf> {
        self.snapshots
            .keys()
            .iter()
            .flat_map(|k| self.snapshots.lowers(k).unwrap_or_default())
            .collect()
    }

    pub(crate) fn image_use_count(&self) -> HashMap<String, (String, bool)> {
        self.containers.image_users()
    }

    /// `GET /images/json`.
    pub fn image_list(&self, q: &query::image::List) -> Result<Vec<Summary>> {
        let f = &q.filters;
        f.validate(LIST_FILTERS)?;
        let dangling = f.bool_value("dangling")?;
        let all = self.images.list()?;
        let created_of = |r: &str| -> Result<i64> {
            Ok(self
                .images
                .resolve(r)
                .map_err(Error::from)?
                .config
                .created_unix())
        };
        let before: Vec<i64> = f.get("before").map(created_of).collect::<Result<_>>()?;
        let since: Vec<i64> = f.get("since").map(created_of).collect::<Result<_>>()?;
        let used = self.image_use_count();
        // Intermediate images (untagged, with children: a build's steps)
        // show with `all` only, and are never dangling, as Docker's.
        let parents: std::collections::HashSet<&str> = all
            .iter()
            .filter_map(|i| i.parent.as_ref().map(|p| p.as_str()))
            .collect();
        let intermediate = |i: &berth_image::Image| {
            i.repo_tags.is_empty() && i.repo_digests.is_empty() && parents.contains(i.id.as_str())
        };
        Ok(all
            .iter()
            .filter(|i| q.all || !intermediate(i))
            .filter(|i| dangling.is_none_or(|d| d == (i.repo_tags.is_empty() && !intermediate(i))))
            .filter(|i| {
                !f.contains("reference")
                    || i.repo_tags
                        .iter()
                        .any(|t| f.get("reference").any(|r| reference_matches(r, t)))
            })
            .filter(|i| f.labels_match("label", &i.config.labels()))
            .filter(|i| before.iter().all(|b| i.config.created_unix() < *b))
            .filter(|i| since.iter().all(|s| i.config.created_unix() > *s))
            .map(|i| summary(i, i64::from(used.contains_key(i.id.as_str()))))
            .collect())
    }

    /// `GET /images/{name}/json`.
    pub fn image_inspect(&self, name: &str) -> Result<InspectResponse> {
        let i = self
            .images
            .resolve(name)
            .map_err(|e| not_found_as_docker(e, name))?;
        let c = &i.config.0;
        Ok(InspectResponse {
            id: i.id.as_str().to_string(),
            repo_tags: i.repo_tags.clone(),
            repo_digests: i.repo_digests.clone(),
            parent: i
                .parent
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            comment: c.comment.clone(),
            created: i.created_rfc3339(),
            docker_version: c.docker_version.clone(),
            author: c.author.clone(),
            config: c.runtime(),
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
            os: c.os.clone(),
            os_version: c.os_version.clone(),
            size: i.size as i64,
            graph_driver: berth_api::container::GraphDriver {
                name: "overlay2".into(),
                data: None,
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: c.rootfs.diff_ids.clone(),
            },
            metadata: Metadata {
                last_tag_time: berth_api::ZERO_TIME.into(),
            },
        })
    }

    /// `GET /images/{name}/history`.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let i = self
            .images
            .resolve(name)
            .map_err(|e| not_found_as_docker(e, name))?;
        Ok(self.images.history(&i)?)
    }

    /// `POST /images/{name}/tag`.
    pub fn image_tag(&self, name: &str, q: &query::image::Tag) -> Result<()> {
        let i = self
            .images
            .resolve(name)
            .map_err(|e| not_found_as_docker(e, name))?;
        let r = reference_of(&q.repo, &q.tag)?
            .ok_or_else(|| Error::invalid("repository name must have at least one component"))?;
        self.images.tag(&i.id, &r)?;
        self.emit_image(i.id.as_str(), "tag", &[("name", r.familiar())]);
        Ok(())
    }

    /// `DELETE /images/{name}`: untag, delete when nothing refers to it,
    /// with Docker's conflict rules against containers using it.
    pub fn image_remove(
        &self,
        name: &str,
        q: &query::image::Remove,
    ) -> Result<Vec<DeleteResponse>> {
        let used = self.image_use_count();
        let rep = self
            .images
            .remove_with(name, q.force, &|id: &berth_image::ImageId| {
                used.get(id.as_str()).map(|(cid, running)| {
                    if *running {
                        berth_image::ImageUse::Running(cid.clone())
                    } else {
                        berth_image::ImageUse::Stopped(cid.clone())
                    }
                })
            })
            .map_err(|e| not_found_as_docker(e, name))?;
        for r in &rep {
            match r {
                berth_image::RemoveReport::Untagged(t) => {
                    self.emit_image(t, "untag", &[("name", t.clone())])
                }
                berth_image::RemoveReport::Deleted(i) => self.emit_image(i, "delete", &[]),
            }
        }
        Ok(rep.into_iter().map(Into::into).collect())
    }

    /// `POST /images/prune`: dangling images by default; all unused with
    /// `dangling=false`; `until` and `label` filters.
    pub async fn image_prune(self: &Arc<Self>, f: &Filters) -> Result<PruneReport> {
        f.validate(&["dangling", "until", "label", "label!"])?;
        let dangling_only = f.bool_value("dangling")?.unwrap_or(true);
        let until = f.timestamps("until", chrono::Utc::now().timestamp() as f64)?;
        let this = self.clone();
        let f = f.clone();
        blocking(move || {
            let used = this.image_use_count();
            let before = this.images.disk_usage().unwrap_or(0);
            let mut deleted = Vec::new();
            for i in this.images.list()? {
                if used.contains_key(i.id.as_str())
                    || (dangling_only && !i.repo_tags.is_empty())
                    || until.iter().any(|u| i.config.created_unix() as f64 >= *u)
                    || !f.labels_match("label", &i.config.labels())
                    || !f.labels_exclude("label!", &i.config.labels())
                {
                    continue;
                }
                if let Ok(rep) = this.images.remove(i.id.as_str(), true, &|_| None) {
                    deleted.extend(rep.into_iter().map(DeleteResponse::from));
                }
            }
            // Layers left by failed pulls (an hour old: not a pull going on).
            let in_use = this.snapshot_lowers();
            if let Err(e) = this
                .images
                .remove_unused_layers(&in_use, std::time::Duration::from_secs(3600))
            {
                tracing::warn!(error = %e, "removing unused layers");
            }
            let after = this.images.disk_usage().unwrap_or(0);
            Ok(PruneReport {
                images_deleted: Some(deleted),
                space_reclaimed: before.saturating_sub(after),
            })
        })
        .await
    }

    /// `POST /images/load`: the messages to stream back. A tar that is not
    /// an image gives an error message in the stream (the answer is 200),
    /// as dockerd's does.
    pub async fn image_load(
        self: &Arc<Self>,
        body: impl std::io::Read + Send + 'static,
    ) -> Vec<JsonMessage> {
        let this = self.clone();
        let (result, lines) = match tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            let r = this
                .images
                .load(body, &mut |l: &str| lines.push(l.to_string()));
            (r, lines)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => return vec![JsonMessage::error(e.to_string(), None)],
        };
        let mut msgs: Vec<JsonMessage> = lines
            .into_iter()
            .map(|l| JsonMessage::stream(format!("{l}\n")))
            .collect();
        match result {
            Ok(imgs) => {
                for img in imgs {
                    self.emit_image(img.id.as_str(), "load", &[]);
                }
            }
            Err(e) => msgs.push(JsonMessage::error(e.to_string(), None)),
        }
        msgs
    }

    /// `GET /images/get` and `/images/{name}/get`: the archive, streamed as
    /// it is written (never held whole). Names are checked before the
    /// first byte; a failure later cuts the stream.
    pub async fn image_save(
        self: &Arc<Self>,
        names: Vec<String>,
    ) -> Result<tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>> {
        for n in &names {
            self.images
                .resolve(n)
                .map_err(|e| not_found_as_docker(e, n))?;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut w = crate::util::ChannelWriter::new(tx);
            let r = this
                .images
                .save(&refs, &mut w)
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|()| std::io::Write::flush(&mut w));
            if let Err(e) = r {
                tracing::warn!("image save: {e}");
                w.fail(e);
            }
        });
        Ok(rx)
    }

    /// `POST /images/create?fromSrc=-`: import a rootfs tar.
    pub async fn image_import(
        self: &Arc<Self>,
        q: &query::image::Create,
        body: impl std::io::Read + Send + 'static,
    ) -> Result<String> {
        if q.from_src != "-" {
            return Err(Error::invalid(
                "importing from a URL is not supported: use fromSrc=-",
            ));
        }
        let reference = reference_of(&q.repo, &q.tag)?;
        let changes = q.changes.clone();
        let message = q.message.clone();
        let this = self.clone();
        let id = blocking(move || {
            Ok(this
                .images
                .import(body, reference.as_ref(), &changes, &message)?)
        })
        .await?;
        self.emit_image(id.as_str(), "import", &[]);
        Ok(id.as_str().to_string())
    }
}

/// `repo` and `tag` query parameters as one reference (None without a repo).
pub fn reference_of(repo: &str, tag: &str) -> Result<Option<berth_image::Reference>> {
    if repo.is_empty() {
        return Ok(None);
    }
    let full = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    Ok(Some(berth_image::Reference::parse(&full)?))
}

/// berth-image's not-found, in Docker's words for images.
pub fn not_found_as_docker(e: berth_image::Error, name: &str) -> Error {
    match e {
        berth_image::Error::NotFound(_) => Error::no_such_image(name),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("*:v1", "app:v1"));
        assert!(!reference_matches("app", "myapp:v1"));
        assert!(!reference_matches("a*", "x/app:v1"));
    }
}

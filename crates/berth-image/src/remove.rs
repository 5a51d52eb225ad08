//! `docker rmi`: untag, and delete the image when nothing refers to it any
//! more, with Docker's conflict rules and messages.

use std::collections::BTreeSet;

use crate::digest::ImageId;
use crate::error::{Error, Result};
use crate::layers::chain_ids;
use crate::reference::Reference;
use crate::store::{State, Store};

/// One line of `docker rmi`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveReport {
    Untagged(String),
    Deleted(String),
}

impl From<RemoveReport> for berth_api::image::DeleteResponse {
    fn from(r: RemoveReport) -> Self {
        match r {
            RemoveReport::Untagged(s) => berth_api::image::DeleteResponse {
                untagged: Some(s),
                deleted: None,
            },
            RemoveReport::Deleted(s) => berth_api::image::DeleteResponse {
                untagged: None,
                deleted: Some(s),
            },
        }
    }
}

/// A container that uses an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUse {
    /// By a stopped container (its id): `force` overrides.
    Stopped(String),
    /// By a running container (its id): cannot be forced.
    Running(String),
}

fn short(s: &str) -> &str {
    let s = s.strip_prefix("sha256:").unwrap_or(s);
    &s[..s.len().min(12)]
}

fn refs_of(st: &State, id: &ImageId) -> Vec<Reference> {
    st.tags
        .iter()
        .filter(|(_, t)| *t == id)
        .filter_map(|(r, _)| Reference::parse(r).ok())
        .collect()
}

/// Docker's isSingleReference: all references in one repository and at most one tag.
fn is_single_reference(refs: &[Reference]) -> bool {
    let repos: BTreeSet<String> = refs.iter().map(Reference::repository).collect();
    repos.len() <= 1 && refs.iter().filter(|r| r.digest().is_none()).count() <= 1
}

impl Store {
    /// `docker rmi` where `used_by` names a (stopped) container using an image.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        used_by: &dyn Fn(&ImageId) -> Option<String>,
    ) -> Result<Vec<RemoveReport>> {
        self.remove_with(name_or_id, force, &|id| used_by(id).map(ImageUse::Stopped))
    }

    /// `docker rmi` telling running from stopped users. `used_by` is called
    /// with the store's lock held: it must not call back into the store.
    pub fn remove_with(
        &self,
        name_or_id: &str,
        force: bool,
        used_by: &dyn Fn(&ImageId) -> Option<ImageUse>,
    ) -> Result<Vec<RemoveReport>> {
        let mut st = self.lock();
        let id = Self::lookup(&st, name_or_id)?;
        // Docker removes a reference when the name was one, the image otherwise.
        let by_id = !Reference::parse(name_or_id).is_ok_and(|r| st.tags.contains_key(&r.full()));
        let usage = used_by(&id);
        let mut reports = Vec::new();
        let mut removed_repository_ref = false;

        if !by_id {
            let r = Reference::parse(name_or_id)?;
            if !force
                && is_single_reference(&refs_of(&st, &id))
                && let Some(u) = &usage
            {
                let (ImageUse::Stopped(c) | ImageUse::Running(c)) = u;
                return Err(Error::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {}",
                    short(c),
                    id.short()
                )));
            }
            st.tags.remove(&r.full());
            reports.push(RemoveReport::Untagged(r.familiar()));
            if r.digest().is_none() {
                let repo = r.repository();
                let remaining = refs_of(&st, &id);
                if !remaining
                    .iter()
                    .any(|x| x.digest().is_none() && x.repository() == repo)
                {
                    for x in remaining
                        .iter()
                        .filter(|x| x.digest().is_some() && x.repository() == repo)
                    {
                        st.tags.remove(&x.full());
                        reports.push(RemoveReport::Untagged(x.familiar()));
                    }
                }
            }
            if !refs_of(&st, &id).is_empty() {
                self.meta.write_tags(&st.tags)?;
                return Ok(reports);
            }
            removed_repository_ref = true;
        } else {
            let refs = refs_of(&st, &id);
            if is_single_reference(&refs) {
                self.check_delete_conflict(&st, &id, force, false, usage.as_ref())?;
                for x in refs {
                    st.tags.remove(&x.full());
                    reports.push(RemoveReport::Untagged(x.familiar()));
                }
            }
        }

        if let Err(e) =
            self.check_delete_conflict(&st, &id, force, removed_repository_ref, usage.as_ref())
        {
            if removed_repository_ref {
                // The last tag went; the image stays (dangling) for its container.
                self.meta.write_tags(&st.tags)?;
                return Ok(reports);
            }
            return Err(e);
        }
        for x in refs_of(&st, &id) {
            st.tags.remove(&x.full());
            reports.push(RemoveReport::Untagged(x.familiar()));
        }
        self.meta.write_tags(&st.tags)?;
        let parent = st.images.get(&id).and_then(|e| e.record.parent.clone());
        self.delete_image_locked(&mut st, &id, usage.is_some())?;
        reports.push(RemoveReport::Deleted(id.to_string()));
        // Docker prunes the untagged parents (a build's intermediate
        // images) that no other image or container needs.
        let mut next = parent;
        while let Some(p) = next.take() {
            let Some(e) = st.images.get(&p) else { break };
            let has_children = st
                .images
                .values()
                .any(|c| c.record.parent.as_ref() == Some(&p));
            if has_children || !refs_of(&st, &p).is_empty() || used_by(&p).is_some() {
                break;
            }
            next = e.record.parent.clone();
            self.delete_image_locked(&mut st, &p, false)?;
            reports.push(RemoveReport::Deleted(p.to_string()));
        }
        Ok(reports)
    }

    fn check_delete_conflict(
        &self,
        st: &State,
        id: &ImageId,
        force: bool,
        removed_repository_ref: bool,
        usage: Option<&ImageUse>,
    ) -> Result<()> {
        let sid = id.short();
        if st
            .images
            .values()
            .any(|e| e.record.parent.as_ref() == Some(id))
        {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {sid} (cannot be forced) - image has dependent child images"
            )));
        }
        if let Some(ImageUse::Running(c)) = usage {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {sid} (cannot be forced) - image is being used by running container {}",
                short(c)
            )));
        }
        if force {
            return Ok(());
        }
        if !removed_repository_ref && refs_of(st, id).len() > 1 {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {sid} (must be forced) - image is referenced in multiple repositories"
            )));
        }
        if let Some(ImageUse::Stopped(c)) = usage {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {sid} (must be forced) - image is being used by stopped container {}",
                short(c)
            )));
        }
        Ok(())
    }

    /// Drops the record, then blobs and layers no other image needs
    /// (layers are kept when a container still uses them).
    fn delete_image_locked(&self, st: &mut State, id: &ImageId, keep_layers: bool) -> Result<()> {
        let Some(entry) = st.images.remove(id) else {
            return Ok(());
        };
        self.meta.remove_record(id)?;
        let mut blobs_used = BTreeSet::new();
        let mut chains_used = BTreeSet::new();
        for e in st.images.values() {
            blobs_used.insert(e.record.id.to_string());
            blobs_used.extend(e.record.layers.iter().map(|l| l.digest.clone()));
            blobs_used.extend(e.record.manifest_digest.clone());
            chains_used.extend(chain_ids(&e.config.diff_ids()));
        }
        let mut doomed: Vec<String> = vec![id.to_string()];
        doomed.extend(entry.record.layers.iter().map(|l| l.digest.clone()));
        doomed.extend(entry.record.manifest_digest.clone());
        for d in doomed.iter().filter(|d| !blobs_used.contains(*d)) {
            self.blobs.remove(d)?;
        }
        if !keep_layers {
            for c in chain_ids(&entry.config.diff_ids()) {
                if !chains_used.contains(&c) {
                    self.layers.remove(&c)?;
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// Removes layers no image needs and no path in `in_use` lies in (the
    /// lower directories of containers' snapshots), unpacked more than
    /// `older_than` ago: what failed or interrupted pulls left (kept a
    /// while, so the next pull can reuse them) and layers of removed
    /// images whose containers are gone. Returns the bytes freed.
    pub fn remove_unused_layers(
        &self,
        in_use: &[std::path::PathBuf],
        older_than: std::time::Duration,
    ) -> Result<u64> {
        let st = self.lock();
        let mut freed = 0;
        for chain in self.unused_chains(&st, in_use) {
            let young = std::fs::metadata(self.layers.meta_file(&chain))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < older_than);
            if young {
                continue;
            }
            freed += self.layers.meta(&chain).map(|m| m.size).unwrap_or(0);
            self.layers.remove(&chain)?;
        }
        Ok(freed)
    }

    /// The layers no image uses and no snapshot stands on (`in_use`: lower
    /// directories), by chain id.
    pub(crate) fn unused_chains(
        &self,
        st: &crate::store::State,
        in_use: &[std::path::PathBuf],
    ) -> Vec<String> {
        let used: BTreeSet<String> = st
            .images
            .values()
            .flat_map(|e| chain_ids(&e.config.diff_ids()))
            .collect();
        self.layers
            .all()
            .into_iter()
            .filter(|chain| {
                let dir = self.layers.diff_dir(chain);
                !used.contains(chain) && !in_use.iter().any(|p| p.starts_with(&dir))
            })
            .collect()
    }
}

//! `--cache-from`: a builder step found in the history of a given image, as
//! dockerd's classic builder finds it. An image is a cache source for a step
//! when its history and layers begin with all of the parent's and its next
//! history entry was written by the same instruction; the step's image is
//! then that source (when the entry is its last) or one made from the
//! parent plus that entry and its layer, so nothing is run or copied.

use berth_api::container::Config;

use crate::ImageId;
use crate::config::HistoryItem;
use crate::error::Result;
use crate::import::base_config;
use crate::store::{Image, Store};

/// Where a step was found in a source image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMatch {
    /// The history entry the step matches.
    pub entry: usize,
    /// The layer it adds (none for an empty-layer entry).
    pub layer: Option<usize>,
    /// The entry is the source's last.
    pub last: bool,
}

/// Whether `target` extends `parent`: every history entry and layer of the
/// parent is the target's in the same place, and the target has more
/// history. Entries compare whole, timestamps included.
pub fn extends(parent: (&[HistoryItem], &[String]), target: (&[HistoryItem], &[String])) -> bool {
    let (ph, pd) = parent;
    let (th, td) = target;
    ph.len() < th.len() && pd.len() <= td.len() && th.starts_with(ph) && td.starts_with(pd)
}

/// The entry of `target` that a step writing `created_by` on `parent`
/// would be, if there is one.
pub fn match_step(
    parent: (&[HistoryItem], &[String]),
    target: (&[HistoryItem], &[String]),
    created_by: &str,
) -> Option<CacheMatch> {
    if !extends(parent, target) {
        return None;
    }
    let entry = parent.0.len();
    let h = &target.0[entry];
    if h.created_by.as_deref().unwrap_or("") != created_by {
        return None;
    }
    let layer = if h.empty_layer {
        None
    } else {
        let l = parent.1.len();
        if l >= target.1.len() {
            return None;
        }
        Some(l)
    };
    Some(CacheMatch {
        entry,
        layer,
        last: entry + 1 == target.0.len(),
    })
}

impl Store {
    /// The image of a builder step on `parent` writing `created_by` with
    /// `config`, made from the first of `sources` holding the step, or
    /// `None` when none does.
    pub fn cached_step(
        &self,
        parent: Option<&ImageId>,
        sources: &[ImageId],
        created_by: &str,
        config: &Config,
    ) -> Result<Option<ImageId>> {
        let parent = parent.map(|p| self.resolve(p.as_str())).transpose()?;
        let (ph, pd) = match &parent {
            Some(p) => (p.config.history(), p.config.diff_ids()),
            None => (Vec::new(), Vec::new()),
        };
        for src in sources {
            let Ok(target) = self.resolve(src.as_str()) else {
                continue;
            };
            let (th, td) = (target.config.history(), target.config.diff_ids());
            let Some(m) = match_step((&ph, &pd), (&th, &td), created_by) else {
                continue;
            };
            if m.last && target.config.0.config.as_ref() == Some(config) {
                if let Some(p) = &parent {
                    self.set_parent(&target.id, &p.id)?;
                }
                return Ok(Some(target.id));
            }
            return self
                .restore_step(parent.as_ref(), &target, &m, config)
                .map(Some);
        }
        Ok(None)
    }

    /// A new image: `parent` plus `target`'s entry and layer at `m`.
    fn restore_step(
        &self,
        parent: Option<&Image>,
        target: &Image,
        m: &CacheMatch,
        config: &Config,
    ) -> Result<ImageId> {
        let h = target.config.0.history[m.entry].clone();
        let mut spec = match parent {
            Some(p) => p.config.0.clone(),
            None => {
                let mut b = base_config();
                b.os = target.config.0.os.clone();
                b.architecture = target.config.0.architecture.clone();
                b
            }
        };
        spec.config = Some(config.clone());
        spec.created = h.created.clone().unwrap_or_default();
        spec.author = h.author.clone().unwrap_or_default();
        spec.extra.remove("container_config");
        spec.comment = String::new();
        spec.container = String::new();
        let mut layers = parent.map(|p| p.layers.clone()).unwrap_or_default();
        if let Some(l) = m.layer {
            spec.rootfs
                .diff_ids
                .push(target.config.0.rootfs.diff_ids[l].clone());
            layers.push(target.layers[l].clone());
        }
        spec.history.push(h);
        self.insert_untagged(spec, layers, parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(by: &str, empty: bool) -> HistoryItem {
        HistoryItem {
            created: Some("2026-01-01T00:00:00Z".into()),
            created_by: Some(by.into()),
            empty_layer: empty,
            ..Default::default()
        }
    }

    fn ids(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_step_is_the_next_entry_of_a_source_extending_the_parent() {
        let base = vec![h("ADD rootfs", false), h("CMD sh", true)];
        let mut full = base.clone();
        full.push(h("ENV a=1", true));
        full.push(h("RUN make", false));
        let bd = ids(&["sha256:a"]);
        let fd = ids(&["sha256:a", "sha256:b"]);
        let m = match_step((&base, &bd), (&full, &fd), "ENV a=1").unwrap();
        assert_eq!(
            m,
            CacheMatch {
                entry: 2,
                layer: None,
                last: false
            }
        );
        let mut after_env = base.clone();
        after_env.push(full[2].clone());
        let m = match_step((&after_env, &bd), (&full, &fd), "RUN make").unwrap();
        assert_eq!(
            m,
            CacheMatch {
                entry: 3,
                layer: Some(1),
                last: true
            }
        );
        // another instruction, or the source exhausted: no match
        assert!(match_step((&after_env, &bd), (&full, &fd), "RUN other").is_none());
        assert!(match_step((&full, &fd), (&full, &fd), "RUN make").is_none());
    }

    #[test]
    fn a_different_parent_is_not_extended() {
        let base = vec![h("ADD rootfs", false)];
        let full = vec![h("ADD rootfs", false), h("ENV a=1", true)];
        // the same instruction at another time is another entry
        let mut other = base.clone();
        other[0].created = Some("2025-01-01T00:00:00Z".into());
        assert!(!extends(
            (&other, &ids(&["sha256:a"])),
            (&full, &ids(&["sha256:a"]))
        ));
        // another layer
        assert!(!extends(
            (&base, &ids(&["sha256:c"])),
            (&full, &ids(&["sha256:a"]))
        ));
        // from scratch: any source with history extends nothing
        assert!(extends((&[], &[]), (&full, &ids(&["sha256:a"]))));
        assert!(match_step((&[], &[]), (&full, &ids(&["sha256:a"])), "ADD rootfs").is_some());
    }
}

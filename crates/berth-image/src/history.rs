//! `docker history`.

use crate::error::Result;
use crate::store::{Image, Store};

/// One row of `docker history` (the Engine API's record).
pub type HistoryEntry = berth_api::image::HistoryItem;

impl Store {
    /// The image's history, newest first. Steps that are local images (the
    /// image itself, committed parents) carry their id and tags.
    pub fn history(&self, image: &Image) -> Result<Vec<HistoryEntry>> {
        let items = image.config.history();
        let mut layer_sizes = image.layers.iter().map(|l| l.unpacked_size);
        let mut rows: Vec<HistoryEntry> = if items.is_empty() {
            layer_sizes
                .map(|size| HistoryEntry {
                    id: "<missing>".into(),
                    created: image.created,
                    created_by: String::new(),
                    tags: None,
                    size: size as i64,
                    comment: String::new(),
                })
                .collect()
        } else {
            items
                .iter()
                .map(|h| HistoryEntry {
                    id: "<missing>".into(),
                    created: h
                        .created
                        .as_deref()
                        .map(crate::config::rfc3339_to_unix)
                        .unwrap_or(0),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    tags: None,
                    size: if h.empty_layer {
                        0
                    } else {
                        layer_sizes.next().unwrap_or(0) as i64
                    },
                    comment: h.comment.clone().unwrap_or_default(),
                })
                .collect()
        };
        // Mark the steps that are local images: this one and its parents.
        let mut cur = Some(image.clone());
        let mut first = true;
        while let Some(img) = cur {
            let steps = if first {
                rows.len()
            } else {
                img.config.history().len()
            };
            if steps > 0 && steps <= rows.len() {
                rows[steps - 1].id = img.id.to_string();
                rows[steps - 1].tags = Some(img.repo_tags.clone());
            }
            first = false;
            cur = img
                .parent
                .as_ref()
                .and_then(|p| self.resolve(p.as_str()).ok());
        }
        rows.reverse();
        Ok(rows)
    }
}

//! `docker import` (a rootfs tar becomes a one-layer image) and `docker
//! commit` (a parent's layers plus one diff layer).

use std::io::Read;

use serde_json::{Map, Value, json};

use crate::changes::apply_changes;
use crate::compression::decompress;
use crate::config::{ImageConfig, host_architecture, now_rfc3339};
use crate::digest::ImageId;
use crate::error::{Error, Result};
use crate::layers::chain_ids;
use crate::meta::{ImageRecord, LayerRecord, MEDIA_LAYER_TAR};
use crate::reference::Reference;
use crate::store::{Image, Store};

/// How `commit` builds the new image's config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfigPatch {
    /// The new `config` object (the container's config); `None` keeps the parent's.
    pub config: Option<Value>,
    /// Dockerfile-like instructions applied after (`--change`).
    pub changes: Vec<String>,
    /// `created_by` of the new history entry (Docker: the container's command).
    pub created_by: Option<String>,
    /// Id of the committed container (the config's `container` field).
    pub container: Option<String>,
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, value: &str) {
    if value.is_empty() {
        obj.remove(key);
    } else {
        obj.insert(key.into(), json!(value));
    }
}

impl Store {
    /// `docker import`: a rootfs tar (plain, gzip or zstd) becomes a
    /// one-layer image; `changes` are applied to its config.
    pub fn import(
        &self,
        r: impl Read,
        reference: Option<&Reference>,
        changes: &[String],
        message: &str,
    ) -> Result<ImageId> {
        let mut cfg = Map::new();
        apply_changes(&mut cfg, changes)?;
        let created = now_rfc3339();
        let mut history = json!({"created": created});
        let mut config = json!({
            "architecture": host_architecture(),
            "os": "linux",
            "created": created,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        if !message.is_empty() {
            history["comment"] = json!(message);
            config["comment"] = json!(message);
        }
        config["history"] = json!([history]);
        self.create_image(None, r, config, reference, "import")
    }

    /// `docker commit`: the parent's layers plus `layer_tar` (the
    /// container's diff in Docker whiteout form).
    pub fn commit(
        &self,
        parent: Option<&ImageId>,
        layer_tar: impl Read,
        config: ImageConfigPatch,
        author: &str,
        comment: &str,
        reference: Option<&Reference>,
    ) -> Result<ImageId> {
        let parent_img = parent.map(|p| self.resolve(p.as_str())).transpose()?;
        let mut cfg = match &parent_img {
            Some(p) => p.config.0.clone(),
            None => json!({
                "architecture": host_architecture(),
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
            }),
        };
        let obj = cfg.as_object_mut().expect("config is an object");
        let mut cc = config
            .config
            .clone()
            .or_else(|| obj.get("config").cloned())
            .unwrap_or_else(|| json!({}));
        if !cc.is_object() {
            return Err(Error::InvalidArgument(
                "commit: config must be a JSON object".into(),
            ));
        }
        apply_changes(cc.as_object_mut().expect("object"), &config.changes)?;
        let created = now_rfc3339();
        obj.insert("config".into(), cc);
        obj.insert("created".into(), json!(created));
        obj.remove("container_config");
        set_or_remove(obj, "author", author);
        set_or_remove(obj, "comment", comment);
        set_or_remove(obj, "container", config.container.as_deref().unwrap_or(""));
        let mut h = Map::new();
        h.insert("created".into(), json!(created));
        set_or_remove(&mut h, "author", author);
        set_or_remove(
            &mut h,
            "created_by",
            config.created_by.as_deref().unwrap_or(""),
        );
        set_or_remove(&mut h, "comment", comment);
        let history = obj.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        history
            .as_array_mut()
            .expect("array")
            .push(Value::Object(h));
        self.create_image(parent_img.as_ref(), layer_tar, cfg, reference, "commit")
    }

    /// Stores `tar` as a new top layer on `parent` with `config` (whose
    /// diff_ids get the new layer appended), and tags it.
    fn create_image(
        &self,
        parent: Option<&Image>,
        tar: impl Read,
        mut config: Value,
        reference: Option<&Reference>,
        what: &str,
    ) -> Result<ImageId> {
        let blob = self.blobs.stage(decompress(tar)?)?;
        let diff_id = blob.digest().to_string();
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("diff_ids array")
            .push(json!(diff_id));
        let config_bytes = serde_json::to_vec(&config).expect("serialize config");
        let image_config = ImageConfig::from_slice(&config_bytes)?;
        let chains = chain_ids(&image_config.diff_ids());
        let chain = chains.last().expect("at least one layer");
        let parent_chain = chains.len().checked_sub(2).map(|i| chains[i].as_str());
        let staged_layer = if self.layers.exists(chain) {
            None
        } else {
            Some(
                self.layers
                    .stage(blob.open()?, &diff_id, chain, parent_chain, what)?,
            )
        };
        let unpacked_size = match &staged_layer {
            Some(s) => s.meta.size,
            None => self.layers.meta(chain)?.size,
        };
        let mut layers = parent.map(|p| p.layers.clone()).unwrap_or_default();
        layers.push(LayerRecord {
            digest: diff_id.clone(),
            media_type: MEDIA_LAYER_TAR.into(),
            size: blob.size(),
            diff_id,
            tar_size: blob.size(),
            unpacked_size,
        });
        let config_blob = self.blobs.stage(&config_bytes[..])?;
        let id = ImageId::from_digest(config_blob.digest());
        let record = ImageRecord {
            id: id.clone(),
            layers,
            manifest_digest: None,
            parent: parent.map(|p| p.id.clone()),
        };
        let mut st = self.lock();
        self.blobs.commit(blob)?;
        if let Some(s) = staged_layer {
            self.layers.commit(s)?;
        }
        self.blobs.commit(config_blob)?;
        let refs: Vec<Reference> = reference.into_iter().cloned().collect();
        self.insert_locked(&mut st, record, image_config, &refs)?;
        Ok(id)
    }
}

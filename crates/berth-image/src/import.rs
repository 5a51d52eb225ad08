//! `docker import` (a rootfs tar becomes a one-layer image) and `docker
//! commit` (a parent's layers plus one diff layer).

use std::io::Read;

use berth_api::container::Config;
use berth_api::imagespec::{History, ImageConfig as Spec, RootFs};

use crate::changes::apply_changes;
use crate::compression::decompress;
use crate::config::{ImageConfig, host_architecture, now_rfc3339};
use crate::digest::ImageId;
use crate::error::Result;
use crate::layers::{Stage, chain_ids};
use crate::meta::{ImageRecord, LayerRecord, MEDIA_LAYER_TAR};
use crate::reference::Reference;
use crate::store::{Image, Store};

/// How `commit` builds the new image's config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfigPatch {
    /// The new container defaults (the container's config); `None` keeps the parent's.
    pub config: Option<Config>,
    /// Dockerfile-like instructions applied after (`--change`).
    pub changes: Vec<String>,
    /// `created_by` of the new history entry (Docker: the container's command).
    pub created_by: Option<String>,
    /// Id of the committed container (the config's `container` field).
    pub container: Option<String>,
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub(crate) fn base_config() -> Spec {
    Spec {
        architecture: host_architecture().into(),
        os: "linux".into(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        },
        ..Default::default()
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
        let mut cfg = Config::default();
        apply_changes(&mut cfg, changes)?;
        let created = now_rfc3339();
        let mut config = base_config();
        config.created = created.clone();
        config.config = Some(cfg);
        config.comment = message.to_string();
        config.history = vec![History {
            created: Some(created),
            comment: nonempty(message),
            ..Default::default()
        }];
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
            None => base_config(),
        };
        let mut cc = config
            .config
            .clone()
            .or_else(|| cfg.config.clone())
            .unwrap_or_default();
        apply_changes(&mut cc, &config.changes)?;
        let created = now_rfc3339();
        cfg.config = Some(cc);
        cfg.created = created.clone();
        cfg.extra.remove("container_config");
        cfg.author = author.to_string();
        cfg.comment = comment.to_string();
        cfg.container = config.container.clone().unwrap_or_default();
        cfg.history.push(History {
            created: Some(created),
            author: nonempty(author),
            created_by: config.created_by.as_deref().and_then(nonempty),
            comment: nonempty(comment),
            empty_layer: false,
        });
        self.create_image(parent_img.as_ref(), layer_tar, cfg, reference, "commit")
    }

    /// Stores `tar` as a new top layer on `parent` with `config` (whose
    /// diff_ids get the new layer appended), and tags it.
    fn create_image(
        &self,
        parent: Option<&Image>,
        tar: impl Read,
        mut config: Spec,
        reference: Option<&Reference>,
        what: &str,
    ) -> Result<ImageId> {
        let blob = self.blobs.stage(decompress(tar)?)?;
        let diff_id = blob.digest().to_string();
        config.rootfs.diff_ids.push(diff_id.clone());
        let image_config = ImageConfig(config);
        let config_bytes = image_config.to_vec();
        let chains = chain_ids(&image_config.diff_ids());
        let chain = chains.last().expect("at least one layer");
        let parent_chain = chains.len().checked_sub(2).map(|i| chains[i].as_str());
        let staged_layer = if self.layers.exists(chain) {
            None
        } else {
            Some(self.layers.stage(
                blob.open()?,
                &diff_id,
                chain,
                parent_chain,
                what,
                Stage::KEEP,
            )?)
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

/// One builder step's image: what it records beyond its parent.
#[derive(Debug, Clone, Default)]
pub struct StepImage {
    /// The image's container defaults after the step.
    pub config: Config,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// `MAINTAINER`, as the image's author.
    pub author: String,
    /// For a stage `FROM scratch`: the platform (os, architecture).
    pub platform: Option<(String, String)>,
}

impl Store {
    /// A builder step: the parent's layers plus `layer` (a tar, or none:
    /// the history entry is then marked empty), with `step`'s config. The
    /// image is untagged; its parent is recorded.
    pub fn build_step(
        &self,
        parent: Option<&ImageId>,
        layer: Option<Box<dyn Read + '_>>,
        step: StepImage,
    ) -> Result<ImageId> {
        let parent_img = parent.map(|p| self.resolve(p.as_str())).transpose()?;
        let mut cfg = match &parent_img {
            Some(p) => p.config.0.clone(),
            None => {
                let mut b = base_config();
                if let Some((os, arch)) = &step.platform {
                    b.os = os.clone();
                    b.architecture = arch.clone();
                }
                b
            }
        };
        let created = now_rfc3339();
        cfg.config = Some(step.config);
        cfg.created = created.clone();
        cfg.extra.remove("container_config");
        cfg.author = step.author.clone();
        cfg.comment = String::new();
        cfg.container = String::new();
        cfg.history.push(History {
            created: Some(created),
            author: nonempty(&step.author),
            created_by: nonempty(&step.created_by),
            comment: None,
            empty_layer: layer.is_none(),
        });
        match layer {
            Some(tar) => self.create_image(parent_img.as_ref(), tar, cfg, None, "build"),
            None => {
                let layers = parent_img
                    .as_ref()
                    .map(|p| p.layers.clone())
                    .unwrap_or_default();
                self.insert_untagged(cfg, layers, parent_img.as_ref())
            }
        }
    }

    /// An untagged image of `config` over layers the store already has
    /// (a metadata step, a step found in a `--cache-from` image).
    pub(crate) fn insert_untagged(
        &self,
        config: Spec,
        layers: Vec<LayerRecord>,
        parent: Option<&Image>,
    ) -> Result<ImageId> {
        let image_config = ImageConfig(config);
        let config_blob = self.blobs.stage(&image_config.to_vec()[..])?;
        let id = ImageId::from_digest(config_blob.digest());
        let record = ImageRecord {
            id: id.clone(),
            layers,
            manifest_digest: None,
            parent: parent.map(|p| p.id.clone()),
        };
        let mut st = self.lock();
        self.blobs.commit(config_blob)?;
        self.insert_locked(&mut st, record, image_config, &[])?;
        Ok(id)
    }
}

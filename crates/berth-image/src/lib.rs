//! berth's image store: Docker references, content-addressed blobs, image
//! configs and tags, `docker load`/`save`/`import`/`commit`, and layers
//! unpacked once per chain id in overlayfs form.
//!
//! Layout under the root (e.g. `/var/lib/berth/image`):
//! - `blobs/sha256/<hex>`: layer blobs as received, configs, manifests;
//! - `images/<id hex>.json`: per image, its layer blobs and diff_ids;
//! - `repositories.json`: full reference → image id;
//! - `layers/<chain id hex>/{diff,meta.json}`: unpacked layers;
//! - `snapshots/<key>/`: writable overlays over layers ([`snapshot`]);
//! - `distribution/`: which repositories hold which blobs, what layers
//!   were compressed into for pushes ([`distribution`]);
//! - `tmp/`: staging, emptied on open.
//!
//! [`check`] finds what a crash or a full disk could leave ([`check::Defect`]).

pub mod blobs;
pub mod cache_from;
mod changes;
pub mod check;
pub mod compression;
pub mod config;
pub mod copy;
pub mod diff;
pub mod digest;
pub mod distribution;
mod error;
mod fsutil;
mod history;
pub mod idmap;
mod import;
pub mod layers;
mod load;
pub mod meta;
pub mod pull;
pub mod push;
pub mod reference;
mod remove;
mod save;
pub mod snapshot;
pub mod split;
mod store;
pub mod treecopy;
pub mod unpack;
mod xattr;

pub use changes::apply_changes;
pub use config::{HistoryItem, ImageConfig};
pub use diff::{Change, ChangeKind};
pub use digest::ImageId;
pub use error::{Error, Result};
pub use history::HistoryEntry;
pub use import::{ImageConfigPatch, StepImage};
pub use load::LoadedImage;
pub use meta::{ImageRecord, LayerRecord};
pub use pull::{LayerSource, PulledLayer};
pub use push::PushCompression;
pub use reference::Reference;
pub use remove::{ImageUse, RemoveReport};
pub use snapshot::Snapshotter;
pub use store::{Image, Store};

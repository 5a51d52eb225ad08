//! berth-registry: the OCI distribution / Docker registry v2 protocol, as
//! the engine's pull, push, login and search use it.
//!
//! - [`config`]: endpoints (Docker Hub and its mirrors, https, http for
//!   insecure registries), certs.d trust.
//! - [`auth`]: challenges, tokens (anonymous, basic, refresh), the cache.
//! - [`client`]: one HTTP client per registry, a [`client::Session`] per
//!   repository: manifests, ranged blob downloads, uploads, mounts, tags,
//!   catalog, v1 search.
//! - [`manifest`]: manifest kinds, platform selection, refusals.
//! - [`error`]: error kinds and Docker's words.

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod manifest;

pub use client::{Registries, Session};
pub use config::{Endpoint, RegistryConfig};
pub use error::{Error, ErrorKind, Result};

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(data);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in h {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

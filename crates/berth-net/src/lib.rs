//! berth's container networking: IPAM (`ipam`), links over netlink
//! (`link`), and the nftables rules (`firewall`). Policy (which container
//! gets what) lives in berthd; this crate does the mechanics.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod link;

pub use firewall::{PortMap, Ruleset};
pub use ipam::Pool;
pub use link::Netlink;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Netlink(String),
    #[error("{0}")]
    Firewall(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! User-namespace remapping's id maps (`dockerd --userns-remap`): which
//! host uids and gids a remapped container's ids stand for.
//!
//! The host ranges are the remap user's subordinate ids (/etc/subuid,
//! /etc/subgid); container ids are numbered from 0 through the ranges in
//! order, as dockerd numbers them.

use serde::{Deserialize, Serialize};

/// One contiguous run of ids: `container..container+size` inside stands
/// for `host..host+size` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The uid and gid maps of a remapped container.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// The id a file owned by an id outside the map shows (the kernel's
/// overflow id).
pub const OVERFLOW_ID: u32 = 65534;

fn number(ranges: &[(u32, u32)]) -> Vec<IdRange> {
    let mut next = 0u32;
    ranges
        .iter()
        .map(|&(host, size)| {
            let r = IdRange {
                container: next,
                host,
                size,
            };
            next = next.saturating_add(size);
            r
        })
        .collect()
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.container && id - r.container < r.size)
        .map(|r| r.host + (id - r.container))
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.host && id - r.host < r.size)
        .map(|r| r.container + (id - r.host))
}

fn proc_text(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
        .collect()
}

impl IdMap {
    /// From subordinate ranges `(start, count)`, in the files' order.
    pub fn from_subordinate(uids: &[(u32, u32)], gids: &[(u32, u32)]) -> IdMap {
        IdMap {
            uids: number(uids),
            gids: number(gids),
        }
    }

    /// The host ids of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (
            to_host(&self.uids, 0).unwrap_or(OVERFLOW_ID),
            to_host(&self.gids, 0).unwrap_or(OVERFLOW_ID),
        )
    }

    /// A container's (uid, gid) as the host stores it; ids the map lacks
    /// become the remapped root's, as dockerd's archiver makes them.
    pub fn to_host(&self, uid: u32, gid: u32) -> (u32, u32) {
        let (ru, rg) = self.root();
        (
            to_host(&self.uids, uid).unwrap_or(ru),
            to_host(&self.gids, gid).unwrap_or(rg),
        )
    }

    /// A host (uid, gid) as the container sees it (the overflow id when
    /// outside the map).
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            to_container(&self.uids, uid).unwrap_or(OVERFLOW_ID),
            to_container(&self.gids, gid).unwrap_or(OVERFLOW_ID),
        )
    }

    /// `/proc/<pid>/uid_map` text.
    pub fn uid_map_text(&self) -> String {
        proc_text(&self.uids)
    }

    /// `/proc/<pid>/gid_map` text.
    pub fn gid_map_text(&self) -> String {
        proc_text(&self.gids)
    }

    /// `uid.gid` of the remapped root, as dockerd names its remapped data root.
    pub fn name(&self) -> String {
        let (u, g) = self.root();
        format!("{u}.{g}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_numbered_in_order_and_ids_go_both_ways() {
        let m = IdMap::from_subordinate(&[(100000, 65536), (300000, 10)], &[(200000, 1000)]);
        assert_eq!(m.root(), (100000, 200000));
        assert_eq!(m.to_host(0, 0), (100000, 200000));
        assert_eq!(m.to_host(65535, 999), (165535, 200999));
        assert_eq!(
            m.to_host(65536, 1000),
            (300000, 200000),
            "a gid beyond the map"
        );
        assert_eq!(
            m.to_host(70000, 5),
            (100000, 200005),
            "a uid beyond the map"
        );
        assert_eq!(m.to_container(100000, 200000), (0, 0));
        assert_eq!(m.to_container(300009, 200999), (65545, 999));
        assert_eq!(m.to_container(0, 5), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.uid_map_text(), "0 100000 65536\n65536 300000 10\n");
        assert_eq!(m.gid_map_text(), "0 200000 1000\n");
        assert_eq!(m.name(), "100000.200000");
    }
}

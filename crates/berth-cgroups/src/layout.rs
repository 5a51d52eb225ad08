//! Which cgroup hierarchies this host has, where they are mounted, and where the
//! calling process sits in each. Detected at run time: v1 (legacy), v2 (unified)
//! and the hybrid of both are all common.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the host arranges its cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a v2 hierarchy (possibly with few or no controllers).
    Hybrid,
    /// Only the v2 hierarchy.
    Unified,
}

/// One mounted v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Hierarchy {
    pub mount: PathBuf,
    /// Controllers bound to it (`cpu`, `cpuacct`, …) or a name (`name=systemd`).
    pub controllers: Vec<String>,
    /// Our own cgroup in it, relative to the mount (from /proc/self/cgroup, with the
    /// mount's root subtracted).
    pub own: PathBuf,
}

/// The v2 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Hierarchy {
    pub mount: PathBuf,
    /// Controllers available at the root of the hierarchy.
    pub controllers: Vec<String>,
    pub own: PathBuf,
}

/// The detected layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub v1: Vec<V1Hierarchy>,
    pub v2: Option<V2Hierarchy>,
}

use berth_sys::mount::parse_mountinfo;

/// Entries of /proc/self/cgroup: (controllers, path). v2 has an empty controller list.
fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            let ctrls = if ctrls.is_empty() {
                vec![]
            } else {
                ctrls.split(',').map(str::to_string).collect()
            };
            Some((ctrls, path.to_string()))
        })
        .collect()
}

fn relative_to_root(path: &str, root: &str) -> PathBuf {
    let p = Path::new(path);
    let rel = if root != "/" {
        p.strip_prefix(root).unwrap_or(p)
    } else {
        p
    };
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    rel.to_path_buf()
}

impl Layout {
    /// Detect the layout from /proc/self/mountinfo, /proc/cgroups and /proc/self/cgroup.
    pub fn detect() -> Result<Layout> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
        let known: BTreeSet<String> = fs::read_to_string("/proc/cgroups")
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| Error::io("read", "/proc/self/cgroup", e))?;
        Ok(Self::from_parts(&mountinfo, &known, &own, |mount| {
            fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default()
        }))
    }

    fn from_parts(
        mountinfo: &str,
        known: &BTreeSet<String>,
        own: &str,
        read_controllers: impl Fn(&Path) -> String,
    ) -> Layout {
        let own = parse_proc_cgroup(own);
        let mut v1: Vec<V1Hierarchy> = Vec::new();
        let mut v2 = None;
        for m in parse_mountinfo(mountinfo) {
            match m.fstype.as_str() {
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_opts
                        .split(',')
                        .filter(|o| known.contains(*o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() || v1.iter().any(|h| h.controllers == controllers) {
                        continue;
                    }
                    let own_path = own
                        .iter()
                        .find(|(c, _)| !c.is_empty() && c.iter().all(|x| controllers.contains(x)))
                        .map(|(_, p)| relative_to_root(p, &m.root))
                        .unwrap_or_default();
                    v1.push(V1Hierarchy {
                        mount: m.mount_point,
                        controllers,
                        own: own_path,
                    });
                }
                "cgroup2" if v2.is_none() => {
                    let controllers = read_controllers(&m.mount_point)
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    let own_path = own
                        .iter()
                        .find(|(c, _)| c.is_empty())
                        .map(|(_, p)| relative_to_root(p, &m.root))
                        .unwrap_or_default();
                    v2 = Some(V2Hierarchy {
                        mount: m.mount_point,
                        controllers,
                        own: own_path,
                    });
                }
                _ => {}
            }
        }
        Layout { v1, v2 }
    }

    pub fn mode(&self) -> Mode {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (true, true) => Mode::Unified,
            (false, true) => Mode::Hybrid,
            _ => Mode::Legacy,
        }
    }

    /// The v1 hierarchy that carries `controller`, if any.
    pub fn v1_for(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// Whether `controller` is handled by the v2 hierarchy (it is not bound to v1
    /// and the v2 root offers it).
    pub fn on_v2(&self, controller: &str) -> bool {
        self.v1_for(controller).is_none()
            && self
                .v2
                .as_ref()
                .is_some_and(|h| h.controllers.iter().any(|c| c == controller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_OWN: &str =
        "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n";

    fn known() -> BTreeSet<String> {
        ["cpu", "cpuacct", "memory", "hugetlb", "pids"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn hybrid_layout_is_detected() {
        let l = Layout::from_parts(HYBRID_MOUNTINFO, &known(), HYBRID_OWN, |_| {
            "hugetlb\n".into()
        });
        assert_eq!(l.mode(), Mode::Hybrid);
        assert_eq!(l.v1.len(), 4);
        assert_eq!(
            l.v1_for("memory").unwrap().own,
            PathBuf::from("process_api/abc")
        );
        assert_eq!(
            l.v1_for("name=systemd").unwrap().mount,
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
        assert!(l.on_v2("hugetlb"));
        assert!(!l.on_v2("memory"));
        assert!(!l.on_v2("pids"));
    }

    #[test]
    fn unified_layout_is_detected() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = Layout::from_parts(mi, &known(), "0::/user.slice/x.scope\n", |_| {
            "cpuset cpu io memory hugetlb pids\n".into()
        });
        assert_eq!(l.mode(), Mode::Unified);
        let v2 = l.v2.as_ref().unwrap();
        assert_eq!(v2.own, PathBuf::from("user.slice/x.scope"));
        assert!(l.on_v2("memory"));
    }

    #[test]
    fn mount_root_is_subtracted_from_own_path() {
        let mi = "32 31 0:29 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let l = Layout::from_parts(mi, &known(), "4:memory:/docker/abc/inner\n", |_| {
            String::new()
        });
        assert_eq!(l.v1[0].own, PathBuf::from("inner"));
    }

    #[test]
    fn mountinfo_octal_escapes() {}
}

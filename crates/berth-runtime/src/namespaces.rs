//! Which namespaces a container creates and which it joins.

use std::os::fd::OwnedFd;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::{Error, Result};

/// The runtime-spec name of a namespace type.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The name under /proc/<pid>/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => ns_name(other),
    }
}

/// The `CLONE_NEW*` flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> u64 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS as u64,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP as u64,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS as u64,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC as u64,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER as u64,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID as u64,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET as u64,
        LinuxNamespaceType::Time => berth_sys::clone::CLONE_NEWTIME,
    }
}

/// The order in which joined namespaces are entered: the user namespace first (it
/// grants the capabilities for the rest), the mount namespace last (it changes
/// the root, after which other paths would not resolve).
const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// A namespace to enter.
#[derive(Debug)]
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

/// The namespace part of a container's creation.
#[derive(Debug, Default)]
pub struct Plan {
    /// Namespaces created by `clone3` itself.
    pub clone_flags: u64,
    /// Namespaces the child creates with `unshare` right after the clone: a network
    /// namespace takes the better part of a millisecond to build, which the
    /// runtime spends meanwhile on the cgroups.
    pub unshare_flags: u64,
    /// A cgroup namespace is unshared by the child once it is in its cgroup, so that
    /// the container sees its own cgroup as the root.
    pub unshare_cgroup: bool,
    /// A time namespace with offsets is prepared by the parent before cloning (the
    /// offsets can only be written before a process enters it).
    pub time_offsets: Vec<(String, i64, u32)>,
    /// Existing namespaces, in [`JOIN_ORDER`].
    pub joins: Vec<Join>,
}

impl Plan {
    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        if t == LinuxNamespaceType::Cgroup {
            return self.unshare_cgroup;
        }
        if t == LinuxNamespaceType::Time && !self.time_offsets.is_empty() {
            return true;
        }
        (self.clone_flags | self.unshare_flags) & clone_flag(t) != 0
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|j| j.typ == t)
    }

    /// Take the join that must be entered by the parent before cloning (pid, time
    /// only apply to children).
    pub fn take_join(&mut self, t: LinuxNamespaceType) -> Option<OwnedFd> {
        let i = self.joins.iter().position(|j| j.typ == t)?;
        Some(self.joins.remove(i).fd)
    }
}

/// Open the namespaces to join and compute the flags of those to create.
pub fn plan(spec: &Spec) -> Result<Plan> {
    let mut plan = Plan::default();
    let linux = spec.linux().as_ref();
    let list = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for t in JOIN_ORDER {
        let Some((i, ns)) = list.iter().enumerate().find(|(_, n)| n.typ() == t) else {
            continue;
        };
        match ns.path() {
            Some(path) => {
                let fd = open(
                    path.as_path(),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| {
                    Error::Config(format!(
                        "linux.namespaces[{i}].path: cannot open {} namespace {}: {}",
                        ns_name(t),
                        path.display(),
                        e.desc()
                    ))
                })?;
                plan.joins.push(Join { typ: t, fd });
            }
            None if t == LinuxNamespaceType::Cgroup => plan.unshare_cgroup = true,
            None if matches!(
                t,
                LinuxNamespaceType::Network | LinuxNamespaceType::Ipc | LinuxNamespaceType::Uts
            ) =>
            {
                plan.unshare_flags |= clone_flag(t)
            }
            None => plan.clone_flags |= clone_flag(t),
        }
    }
    if let Some(offsets) = linux.and_then(|l| l.time_offsets().clone())
        && !offsets.is_empty()
    {
        plan.clone_flags &= !berth_sys::clone::CLONE_NEWTIME;
        for (clock, off) in offsets {
            let clock = match clock.as_str() {
                "monotonic" | "boottime" => clock,
                other => {
                    return Err(Error::Config(format!(
                        "linux.timeOffsets: unknown clock {other:?} (monotonic or boottime)"
                    )));
                }
            };
            plan.time_offsets
                .push((clock, off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0)));
        }
    }
    Ok(plan)
}

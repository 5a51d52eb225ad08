//! cgroups for berth: v1 (legacy), v2 (unified) and hybrid hosts, detected at run time.
//!
//! A [`Cgroup`] is one container's set of directories: one per v1 hierarchy and, where
//! the host has it, one in the v2 hierarchy. Each controller is served by exactly
//! one of them — by v1 when a v1 hierarchy carries it, else by v2 — so a hybrid host
//! (v1 controllers plus a v2 tree with, say, only `hugetlb`) needs no special case.
//! The resolved directories are serialisable so that later commands act on exactly
//! the directories the creating command made.

mod devices;
mod error;
mod fs;
pub mod layout;
pub mod path;
mod resources_v1;
mod resources_v2;
pub mod stats;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use serde::{Deserialize, Serialize};

pub use devices::compile_device_program;
pub use error::{Error, Result};
pub use layout::{Layout, Mode};
pub use stats::Stats;

/// The freezer state of a cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// One container's cgroup directories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub mode: Mode,
    /// v1 controller (or `name=…` hierarchy) → directory. Co-mounted controllers
    /// share a directory.
    pub v1: BTreeMap<String, PathBuf>,
    /// The directory in the v2 hierarchy, if the host has one.
    pub v2: Option<PathBuf>,
    /// Controllers served by the v2 directory.
    pub v2_controllers: Vec<String>,
}

const ALL_V2_CONTROLLERS: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

impl Cgroup {
    /// The directories for `inner` (see [`path::resolve`]) on this layout.
    pub fn new(layout: &Layout, inner: &Path) -> Cgroup {
        let mut v1 = BTreeMap::new();
        for h in &layout.v1 {
            let dir = path::directory(&h.mount, &h.own, inner);
            for c in &h.controllers {
                v1.insert(c.clone(), dir.clone());
            }
        }
        let (v2, v2_controllers) = match &layout.v2 {
            Some(h) => (
                Some(path::directory(&h.mount, &h.own, inner)),
                h.controllers
                    .iter()
                    .filter(|c| layout.v1_for(c).is_none())
                    .cloned()
                    .collect(),
            ),
            None => (None, vec![]),
        };
        Cgroup {
            mode: layout.mode(),
            v1,
            v2,
            v2_controllers,
        }
    }

    /// No cgroup at all (an unprivileged container without a delegated tree).
    pub fn none(mode: Mode) -> Cgroup {
        Cgroup {
            mode,
            v1: BTreeMap::new(),
            v2: None,
            v2_controllers: vec![],
        }
    }

    /// The directories of an `exec --cgroup` process: each request is
    /// `<path>` (every hierarchy) or `<controller>[,<controller>…]:<path>` (those
    /// v1 hierarchies), the path relative to the container's cgroup. Every
    /// directory must already exist.
    pub fn sub(&self, requests: &[String]) -> Result<Cgroup> {
        let mut out = self.clone();
        for r in requests {
            let (ctrls, rel) = match r.split_once(':') {
                Some((c, p)) => (
                    c.split(',').filter(|c| !c.is_empty()).collect::<Vec<_>>(),
                    p,
                ),
                None => (Vec::new(), r.as_str()),
            };
            let rel = Path::new(rel.trim_start_matches('/'));
            if rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Error::Invalid(format!(
                    "--cgroup {r}: the path must stay inside the container's cgroup"
                )));
            }
            if ctrls.is_empty() {
                for d in out.v1.values_mut() {
                    *d = d.join(rel);
                }
                if let Some(d) = &mut out.v2 {
                    *d = d.join(rel);
                }
                continue;
            }
            if self.mode == Mode::Unified {
                return Err(Error::Invalid(format!(
                    "--cgroup {r}: controllers cannot be named on cgroup v2 (give only the path)"
                )));
            }
            for c in ctrls {
                let Some(base) = self.v1.get(c).cloned() else {
                    return Err(Error::Invalid(format!(
                        "--cgroup {r}: the container has no {c} cgroup"
                    )));
                };
                // Co-mounted controllers share the directory: move them together.
                for (k, d) in self.v1.iter() {
                    if *d == base {
                        out.v1.insert(k.clone(), base.join(rel));
                    }
                }
            }
        }
        for d in out.dirs() {
            if !d.is_dir() {
                return Err(Error::Invalid(format!(
                    "--cgroup: cgroup {} does not exist",
                    d.display()
                )));
            }
        }
        Ok(out)
    }

    pub(crate) fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    pub(crate) fn on_v2(&self, controller: &str) -> bool {
        self.v2.is_some() && self.v2_controllers.iter().any(|c| c == controller)
    }

    /// Every distinct directory, v1 first.
    /// Every directory of this cgroup, in each hierarchy.
    pub fn dirs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for d in self.v1.values() {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        if let Some(d) = &self.v2 {
            out.push(d);
        }
        out
    }

    /// Whether the container's directories exist.
    pub fn exists(&self) -> bool {
        self.dirs().first().is_some_and(|d| d.exists())
    }

    /// Create every directory. On v2, enable in each ancestor the controllers the
    /// container needs (all of them on a unified host, where stats come from v2;
    /// only those `resources` uses on a hybrid host).
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        self.create_v2(resources)?;
        self.create_v1()
    }

    /// Create the v2 directory only (what `clone3(CLONE_INTO_CGROUP)` needs).
    pub fn create_v2(&self, resources: Option<&LinuxResources>) -> Result<()> {
        if let Some(dir) = &self.v2 {
            let wanted: Vec<&str> = if self.mode == Mode::Unified {
                ALL_V2_CONTROLLERS.to_vec()
            } else {
                resources_v2::controllers_used(resources)
            };
            let wanted: Vec<&str> = wanted.into_iter().filter(|c| self.on_v2(c)).collect();
            resources_v2::create(dir, &wanted)?;
        }
        Ok(())
    }

    /// Create the v1 directories.
    pub fn create_v1(&self) -> Result<()> {
        for d in self.dirs_v1() {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create cgroup", d, e))?;
        }
        if let Some(cpuset) = self.v1_dir("cpuset") {
            resources_v1::init_cpuset(cpuset)?;
        }
        Ok(())
    }

    fn dirs_v1(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for d in self.v1.values() {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        out
    }

    /// Write every limit in `resources` (devices excluded: see [`Cgroup::apply_devices`]).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        resources_v1::apply(self, resources)?;
        resources_v2::apply(self, resources)
    }

    /// Enforce device rules (in order; later rules win, as in the v1 kernel interface).
    /// On v1 through `devices.allow`/`devices.deny`, on v2 with an eBPF program.
    pub fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        if let Some(dir) = self.v1_dir("devices") {
            return devices::apply_v1(dir, rules);
        }
        if self.mode == Mode::Unified
            && let Some(dir) = &self.v2
        {
            return devices::apply_v2(dir, rules);
        }
        Ok(())
    }

    /// Open the v2 directory for `clone3(CLONE_INTO_CGROUP)`.
    pub fn open_v2(&self) -> Option<Result<OwnedFd>> {
        let dir = self.v2.as_ref()?;
        Some(
            nix::fcntl::open(
                dir.as_path(),
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::io("open", dir, e.into())),
        )
    }

    /// Move the calling process into every v1 directory. Call it from the process
    /// itself while it is single-threaded: the kernel then moves one thread without
    /// taking the global threadgroup lock, which would cost an RCU grace period
    /// (7–15 ms) on every container start.
    pub fn join_self_v1(&self) -> Result<()> {
        for d in self.dirs_v1() {
            fs::write(&d.join("tasks"), "0")?;
        }
        Ok(())
    }

    /// Move `pid` into the v2 directory (when it was not cloned into it).
    pub fn add_process_v2(&self, pid: i32) -> Result<()> {
        if let Some(d) = &self.v2 {
            fs::write(&d.join("cgroup.procs"), pid.to_string())?;
        }
        Ok(())
    }

    /// Move `pid` into every directory.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        let pid_s = pid.to_string();
        for d in self.dirs_v1() {
            fs::write(&d.join("cgroup.procs"), &pid_s)?;
        }
        self.add_process_v2(pid)
    }

    /// Every process in the container's cgroup, including nested cgroups, in
    /// any of its hierarchies: a process someone put into one hierarchy only
    /// (the hybrid host's unified tree, say) is still the container's.
    pub fn processes(&self) -> Result<Vec<i32>> {
        let mut all = Vec::new();
        for d in self.dirs() {
            collect_procs(d, &mut all)?;
        }
        let mut seen = std::collections::HashSet::new();
        all.retain(|p| seen.insert(*p));
        Ok(all)
    }

    /// Freeze or thaw every process, waiting until the kernel reports the new state.
    pub fn set_freezer(&self, state: FreezerState) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Some(dir) = self.v1_dir("freezer") {
            let want = match state {
                FreezerState::Frozen => "FROZEN",
                FreezerState::Thawed => "THAWED",
            };
            let file = dir.join("freezer.state");
            loop {
                fs::write(&file, want)?;
                if fs::read(&file)?.trim() == want {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(Error::Invalid(format!(
                        "timed out waiting for {} to become {want}",
                        file.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if let Some(dir) = &self.v2 {
            let want = if state == FreezerState::Frozen {
                "1"
            } else {
                "0"
            };
            fs::write(&dir.join("cgroup.freeze"), want)?;
            let events = dir.join("cgroup.events");
            loop {
                let frozen = fs::read_kv(&events)?.get("frozen").copied().unwrap_or(0);
                if frozen.to_string() == want {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(Error::Invalid(format!(
                        "timed out waiting for {} to report frozen {want}",
                        events.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Err(Error::NoController("freezer", "pause and resume"))
    }

    /// The current freezer state.
    pub fn freezer_state(&self) -> FreezerState {
        let frozen = if let Some(dir) = self.v1_dir("freezer") {
            fs::read_opt(&dir.join("freezer.state")).is_some_and(|s| s.trim() != "THAWED")
        } else if let Some(dir) = &self.v2 {
            fs::read_kv(&dir.join("cgroup.events"))
                .ok()
                .and_then(|m| m.get("frozen").copied())
                == Some(1)
        } else {
            false
        };
        if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        }
    }

    /// Send `signal` to every process. Frozen first where possible so that no process
    /// can fork away from the signal, then thawed so that the signal is delivered.
    pub fn signal_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL
            && self.mode == Mode::Unified
            && let Some(dir) = &self.v2
        {
            let kill = dir.join("cgroup.kill");
            if kill.exists() {
                return fs::write(&kill, "1");
            }
        }
        let was = self.freezer_state();
        let froze = was == FreezerState::Thawed && self.set_freezer(FreezerState::Frozen).is_ok();
        let mut result = Ok(());
        for pid in self.processes()? {
            if let Err(e) = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::try_from(signal)
                    .map_err(|e| Error::Invalid(format!("invalid signal {signal}: {e}")))?,
            ) && e != nix::errno::Errno::ESRCH
            {
                result = Err(Error::io("signal", format!("pid {pid}"), e.into()));
            }
        }
        if froze {
            self.set_freezer(FreezerState::Thawed)?;
        }
        result
    }

    /// Resource usage of every controller.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        resources_v1::stats(self, &mut s)?;
        resources_v2::stats(self, &mut s)?;
        Ok(s)
    }

    /// Remove the container's directories (only the leaves: parents may be
    /// shared), killing whatever process is still in them: a container without
    /// its own pid namespace can leave processes behind its init.
    pub fn destroy(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut killed = false;
        for d in self.dirs() {
            loop {
                let busy = match remove_tree(d) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => e,
                    Err(e) => return Err(Error::io("remove cgroup", d, e)),
                };
                if Instant::now() > deadline {
                    return Err(Error::io("remove cgroup", d, busy));
                }
                if !killed && self.processes().is_ok_and(|p| !p.is_empty()) {
                    killed = true;
                    let _ = self.signal_all(libc::SIGKILL);
                    if self.freezer_state() == FreezerState::Frozen {
                        let _ = self.set_freezer(FreezerState::Thawed);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", dir.join("cgroup.procs"), e)),
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&e.path(), out)?;
            }
        }
    }
    Ok(())
}

/// rmdir a cgroup directory; when it has child cgroups, remove those first.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EBUSY)
                || e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
        Err(e) => return Err(e),
    }
    let mut had_children = false;
    for e in std::fs::read_dir(dir)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            had_children = true;
            remove_tree(&e.path())?;
        }
    }
    if !had_children {
        return Err(std::io::Error::from_raw_os_error(libc::EBUSY));
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

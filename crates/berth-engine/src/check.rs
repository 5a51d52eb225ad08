//! `berth system check [--repair]` (beyond Docker): what a crash or a full
//! disk can leave behind, found by comparing what exists on the host with
//! the records, and with `repair` removed.
//!
//! - images whose config or a layer is gone (reported: re-pull or remove);
//! - half-written blobs, layers and staging files older than this daemon;
//! - snapshots no container (nor a running build) owns;
//! - mounts under the data or exec root that are no running container's
//!   root file system, no used volume's, no running build's;
//! - container cgroups under the cgroup parent with no running container
//!   (repair destroys them, killing what is left in them: under berth's
//!   parent with a container's id, it is a container berth lost);
//! - veths on berth's bridges that are no running container's endpoint;
//! - monitors (`berth-runc monitor`) of no running container: repair kills
//!   them and deletes what the runtime holds of their container.
//!
//! It is meant for a quiet daemon: what an operation starting at the same
//! moment makes may be reported (never what a running container, a used
//! volume or a running build holds).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_api::system::{CheckProblem, CheckReport};
use berth_image::check::Defect;

use crate::{Engine, Result};

/// How long an exited container's veth may take to go with its namespace.
const VETH_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn problem(kind: &str, subject: impl Into<String>, detail: impl Into<String>) -> CheckProblem {
    CheckProblem {
        kind: kind.into(),
        subject: subject.into(),
        detail: detail.into(),
        repaired: false,
    }
}

/// Mark `p` repaired, or say why not.
fn repaired(p: &mut CheckProblem, r: std::result::Result<(), String>) {
    match r {
        Ok(()) => p.repaired = true,
        Err(e) => p.detail = format!("{}; repair failed: {e}", p.detail),
    }
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The monitors of this daemon's runtime root: (pid, container id).
fn monitors(runtime_root: &Path) -> Vec<(i32, String)> {
    let root = runtime_root.as_os_str().as_encoded_bytes();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let after = |flag: &[u8]| {
            args.iter()
                .position(|a| *a == flag)
                .and_then(|i| args.get(i + 1))
                .copied()
        };
        if after(b"--root") == Some(root)
            && args.contains(&&b"monitor"[..])
            && let Some(id) = after(b"--id")
        {
            out.push((pid, String::from_utf8_lossy(id).into_owned()));
        }
    }
    out
}

impl Engine {
    /// `GET /system/check`, `POST /system/check?repair=1`.
    pub async fn system_check(&self, repair: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let containers = self.containers.list();
        let all: BTreeSet<String> = containers.iter().map(|c| c.id.clone()).collect();
        let running: Vec<_> = containers.iter().filter(|c| c.running()).collect();
        let running_ids: BTreeSet<String> = running.iter().map(|c| c.id.clone()).collect();
        let building = !self
            .builds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();

        // The image store.
        for d in self.images.defects(self.started) {
            match d {
                Defect::MissingContent { image, what } => report.problems.push(problem(
                    "missing-content",
                    image,
                    format!("{what} is missing: pull the image again or remove it"),
                )),
                Defect::HalfWritten(path) => {
                    let mut p = problem(
                        "half-written",
                        path.display().to_string(),
                        "left by an interrupted write",
                    );
                    if repair {
                        repaired(
                            &mut p,
                            self.images
                                .remove_half_written(&path)
                                .map_err(|e| e.to_string()),
                        );
                    }
                    report.problems.push(p);
                }
            }
        }

        // Snapshots.
        let build_key = |k: &str| k.starts_with("build-") && building;
        for key in self.snapshots.keys() {
            if all.contains(&key) || build_key(&key) {
                continue;
            }
            let mut p = problem(
                "dangling-snapshot",
                key.clone(),
                "no container or build owns it",
            );
            if repair {
                repaired(
                    &mut p,
                    self.snapshots.remove(&key).map_err(|e| e.to_string()),
                );
            }
            report.problems.push(p);
        }

        // Mounts under the data and exec roots.
        let mut allowed: BTreeSet<PathBuf> = running
            .iter()
            .map(|c| self.snapshots.paths(&c.id).merged)
            .collect();
        if building {
            for k in self
                .snapshots
                .keys()
                .iter()
                .filter(|k| k.starts_with("build-"))
            {
                allowed.insert(self.snapshots.paths(k).merged);
            }
        }
        for v in self.volumes.list() {
            let used = self
                .volume_users(&v.name)
                .iter()
                .any(|id| running_ids.contains(id));
            if used {
                allowed.insert(self.volumes.mountpoint(&v));
            }
        }
        let roots = [&self.cfg.data_root, &self.cfg.exec_root];
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut seen = BTreeSet::new();
        for m in berth_sys::mount::parse_mountinfo(&mountinfo) {
            let mp = m.mount_point;
            if !roots.iter().any(|r| mp.starts_with(r) && mp != **r)
                || allowed.iter().any(|a| mp.starts_with(a))
                || !seen.insert(mp.clone())
            {
                continue;
            }
            let mut p = problem(
                "orphaned-mount",
                mp.display().to_string(),
                format!(
                    "{} mount of no running container, used volume or build",
                    m.fstype
                ),
            );
            if repair {
                repaired(
                    &mut p,
                    berth_image::snapshot::unmount_all(&mp).map_err(|e| e.to_string()),
                );
            }
            report.problems.push(p);
        }

        // Monitors (first: their containers' cgroups go next).
        for (pid, id) in monitors(&self.runtime_root) {
            if running_ids.contains(&id) {
                continue;
            }
            let mut p = problem(
                "orphaned-monitor",
                format!("{id} (pid {pid})"),
                "the monitor of no running container",
            );
            if repair {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let rt = self.runtime();
                let r = tokio::task::spawn_blocking(move || rt.delete(&id, true))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| match r {
                        Err(e) if !e.to_string().contains("does not exist") => Err(e.to_string()),
                        _ => Ok(()),
                    });
                repaired(&mut p, r);
            }
            report.problems.push(p);
        }

        // Container cgroups: `<parent>/<id>` as the spec names them, in
        // every hierarchy; destroy kills what is left in one.
        if let Ok(layout) = berth_cgroups::Layout::detect() {
            let parent = format!("/{}", self.cfg.cgroup_parent.trim_matches('/'));
            let mut ids = BTreeSet::new();
            for dir in berth_cgroups::Cgroup::new(&layout, Path::new(&parent)).dirs() {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if is_container_id(&name) && e.file_type().is_ok_and(|t| t.is_dir()) {
                        ids.insert(name);
                    }
                }
            }
            for id in ids {
                if running_ids.contains(&id) || (building && !all.contains(&id)) {
                    continue;
                }
                let path = format!("{parent}/{id}");
                let mut p = problem("orphaned-cgroup", path.clone(), "no running container");
                if repair {
                    let cg = berth_cgroups::Cgroup::new(&layout, Path::new(&path));
                    let r = tokio::task::spawn_blocking(move || cg.destroy())
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()));
                    repaired(&mut p, r);
                }
                report.problems.push(p);
            }
        }

        // veths on berth's bridges.
        let endpoints: BTreeSet<String> = running
            .iter()
            .flat_map(|c| c.endpoints.values().map(|a| a.veth.clone()))
            .collect();
        let nets = self.networks.as_ref().map(|n| n.all()).unwrap_or_default();
        let mut strays: Vec<(String, String)> = Vec::new();
        for net in nets {
            let bridge = net.def().iface;
            let brif = Path::new("/sys/class/net").join(&bridge).join("brif");
            for e in std::fs::read_dir(&brif).into_iter().flatten().flatten() {
                let veth = e.file_name().to_string_lossy().into_owned();
                if !endpoints.contains(&veth) {
                    strays.push((veth, bridge.clone()));
                }
            }
        }
        // The veth of a container that just exited goes with its network
        // namespace, which the kernel tears down a moment later: only what
        // is still there after that moment is orphaned.
        let deadline = tokio::time::Instant::now() + VETH_GRACE;
        while !strays.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            strays.retain(|(veth, _)| Path::new("/sys/class/net").join(veth).exists());
        }
        for (veth, bridge) in strays {
            let mut p = problem(
                "orphaned-veth",
                veth.clone(),
                format!("on bridge {bridge}, no running container's endpoint"),
            );
            if repair {
                let r = match berth_net::Netlink::host() {
                    Ok(nl) => nl.delete(&veth).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                repaired(&mut p, r);
            }
            report.problems.push(p);
        }

        // Not problems: layers kept for the next pull.
        (report.unused_layers, report.unused_layers_size) =
            self.images.unused_layers(&self.snapshots.lowers_in_use());
        Ok(report)
    }
}

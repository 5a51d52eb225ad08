//! System: version, info, disk usage.

use std::sync::Arc;

use berth_api::container::Status;
use berth_api::system::{
    Component, ComponentDetails, DiskUsage, Info, PlatformName, Plugins, RuntimeInfo, SwarmInfo,
    Version,
};
use berth_api::version;

use crate::{Engine, Result};

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

impl Engine {
    /// `GET /version`.
    pub fn version(&self) -> Version {
        let v = env!("CARGO_PKG_VERSION").to_string();
        Version {
            platform: PlatformName {
                name: "berth".into(),
            },
            components: vec![Component {
                name: "Engine".into(),
                version: v.clone(),
                details: {
                    let mut d = ComponentDetails::default();
                    d.set(ComponentDetails::API_VERSION, version::CURRENT.to_string());
                    d.set(ComponentDetails::MIN_API_VERSION, version::MIN.to_string());
                    d.set(ComponentDetails::OS, "linux");
                    d.set(ComponentDetails::ARCH, go_arch());
                    d.set(ComponentDetails::KERNEL_VERSION, kernel());
                    d.set(ComponentDetails::EXPERIMENTAL, "false");
                    d
                },
            }],
            version: v,
            api_version: version::CURRENT.to_string(),
            min_api_version: version::MIN.to_string(),
            git_commit: "berth".into(),
            go_version: "rust".into(),
            os: "linux".into(),
            arch: go_arch(),
            kernel_version: kernel(),
            experimental: false,
            build_time: String::new(),
        }
    }

    /// `GET /info`.
    pub fn info(&self) -> Info {
        let all = self.containers.scan(|c| Some(c.status()));
        let count = |s: Status| all.iter().filter(|x| **x == s).count() as i64;
        let images = self.images.list().map(|l| l.len()).unwrap_or(0) as i64;
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
            })
            .unwrap_or(0)
            * 1024;
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let v2 = self.defaults.cgroup_v2;
        let running = count(Status::Running);
        let paused = count(Status::Paused);
        let runtime = self.defaults.runtime.clone();
        Info {
            id: "berth".into(),
            containers: all.len() as i64,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: all.len() as i64 - running - paused,
            images,
            driver: "overlay2".into(),
            driver_status: vec![
                ["Backing Filesystem".into(), "extfs".into()],
                ["Supports d_type".into(), "true".into()],
            ],
            plugins: Plugins {
                volume: vec!["local".into()],
                network: vec!["bridge".into(), "host".into(), "none".into()],
                authorization: None,
                log: super::container::create::LOG_DRIVERS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
            memory_limit: true,
            swap_limit: true,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            oom_kill_disable: !v2,
            ipv4_forwarding: true,
            nfd: std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0) as i64,
            system_time: crate::util::now_rfc3339(),
            logging_driver: self.defaults.log_driver.clone(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: if v2 { "2" } else { "1" }.into(),
            n_events_listener: self.events.listeners() as i64,
            kernel_version: kernel(),
            operating_system: "berth".into(),
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as i64,
            mem_total: mem,
            docker_root_dir: self.cfg.data_root.display().to_string(),
            name: host,
            server_version: env!("CARGO_PKG_VERSION").into(),
            runtimes: [(
                runtime.clone(),
                RuntimeInfo {
                    path: super::container::monitor::runtime_binary()
                        .display()
                        .to_string(),
                },
            )]
            .into(),
            default_runtime: runtime,
            swarm: SwarmInfo {
                local_node_state: "inactive".into(),
                ..Default::default()
            },
            live_restore_enabled: true,
            security_options: {
                let mut o = vec!["name=seccomp,profile=builtin".to_string()];
                if self.cfg.userns_remap.is_some() {
                    o.push("name=userns".into());
                }
                o.push("name=cgroupns".into());
                o
            },
            ..Default::default()
        }
    }

    /// `GET /system/df`.
    pub async fn disk_usage(self: &Arc<Self>) -> Result<DiskUsage> {
        let this = self.clone();
        crate::util::blocking(move || {
            let mut images = this.image_list(&Default::default())?;
            for s in &mut images {
                s.containers = this
                    .containers
                    .scan(|c| (c.image == s.id).then_some(()))
                    .len() as i64;
            }
            let containers = this
                .containers
                .list()
                .iter()
                .map(|c| this.summary(c, true))
                .collect();
            Ok(DiskUsage {
                layers_size: this.images.disk_usage().unwrap_or(0) as i64,
                images,
                containers,
                volumes: this.volumes_usage(),
                build_cache: this.build_cache_records(),
            })
        })
        .await
    }
}

//! Records as the API shows them: `inspect` and `ps` entries, the human
//! status ("Up 5 minutes"), list filters, prune.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::container::{
    GraphDriver, HealthStatus, InspectResponse, MountPoint, PruneReport, State, Status, Summary,
    SummaryHostConfig, SummaryNetworkSettings,
};
use berth_api::filters::Filters;
use berth_api::query;
use berth_api::units::human_duration;

use crate::model::{Container, MountRecord};
use crate::util::{since, unix_seconds};
use crate::{Engine, Result};

/// Keys `docker ps --filter` takes.
pub const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// Docker's human status for `docker ps`.
pub fn human_status(c: &Container) -> String {
    match c.status() {
        Status::Running | Status::Paused => {
            let mut s = format!("Up {}", human_duration(since(&c.state.started_at)));
            if c.status() == Status::Paused {
                s.push_str(" (Paused)");
            } else if let Some(h) = &c.state.health {
                match h.status {
                    HealthStatus::Starting => s.push_str(" (health: starting)"),
                    st => s.push_str(&format!(" ({})", st.as_str())),
                }
            }
            s
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            human_duration(since(&c.state.finished_at))
        ),
        Status::Exited | Status::Dead => {
            if c.state.finished_at.is_empty() || c.state.started_at.is_empty() {
                return "Created".into();
            }
            format!(
                "Exited ({}) {} ago",
                c.state.exit_code,
                human_duration(since(&c.state.finished_at))
            )
        }
        Status::Removing => "Removal In Progress".into(),
        Status::Created => "Created".into(),
    }
}

fn time_or_zero(t: &str) -> String {
    if t.is_empty() {
        berth_api::ZERO_TIME.to_string()
    } else {
        t.to_string()
    }
}

pub fn mount_point(m: &MountRecord) -> MountPoint {
    MountPoint {
        kind: m.kind.clone(),
        name: m.name.clone(),
        source: m.source.clone(),
        destination: m.destination.clone(),
        driver: m.driver.clone(),
        mode: m.mode.clone(),
        rw: m.rw,
        propagation: m.propagation.clone(),
    }
}

/// Whether a record passes `ps`'s filters.
pub fn matches(c: &Container, f: &Filters) -> bool {
    let labels = c.labels();
    f.any("status", |v| v == c.status().as_str())
        && f.any("name", |v| {
            c.bare_name().contains(v.trim_start_matches('/'))
        })
        && f.any("id", |v| c.id.starts_with(v))
        && f.labels_match("label", &labels)
        && f.any("exited", |v| {
            c.status() == Status::Exited && v.parse() == Ok(c.state.exit_code)
        })
        && f.any("ancestor", |v| c.image_name() == v || c.image.contains(v))
        && f.any("network", |v| {
            c.net_requests.contains_key(v) || c.host_config.network_mode.as_str() == v
        })
        && f.any("health", |v| match &c.state.health {
            Some(h) => h.status.as_str() == v,
            None => v == "none",
        })
        && f.any("volume", |v| {
            c.mounts
                .iter()
                .any(|m| m.destination == v || m.source == v || m.name == v)
        })
        && f.any("expose", |v| {
            c.config
                .exposed_ports()
                .any(|p| p == v || p.split('/').next() == Some(v))
        })
        && f.any("publish", |v| {
            c.endpoints
                .values()
                .flat_map(|a| &a.ports)
                .any(|p| p.host_port.to_string() == v.split('/').next().unwrap_or(v))
        })
}

impl Engine {
    /// `GET /containers/{id}/json`.
    pub fn container_inspect(&self, r: &str, size: bool) -> Result<InspectResponse> {
        let c = self.containers.get(r)?;
        let s = &c.state;
        let dir = self.container_dir(&c.id);
        let snap = self.snapshots.paths(&c.id);
        let graph: BTreeMap<String, String> = [
            ("UpperDir", &snap.upper),
            ("WorkDir", &snap.work),
            ("MergedDir", &snap.merged),
        ]
        .into_iter()
        .map(|(k, p)| (k.to_string(), p.display().to_string()))
        .collect();
        let execs: Vec<String> = self
            .execs
            .map
            .lock()
            .unwrap()
            .values()
            .filter(|x| x.container == c.id && x.running)
            .map(|x| x.id.clone())
            .collect();
        Ok(InspectResponse {
            id: c.id.clone(),
            created: c.created.clone(),
            path: c.path.clone(),
            args: c.args.clone(),
            state: State {
                status: s.status,
                running: c.running() && s.status != Status::Restarting,
                paused: s.status == Status::Paused,
                restarting: s.status == Status::Restarting,
                oom_killed: s.oom_killed,
                dead: s.status == Status::Dead,
                pid: i64::from(s.pid),
                exit_code: i64::from(s.exit_code),
                error: s.error.clone(),
                started_at: time_or_zero(&s.started_at),
                finished_at: time_or_zero(&s.finished_at),
                health: s.health.clone(),
            },
            image: c.image.clone(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: c.log_path.clone(),
            name: c.name.clone(),
            restart_count: i64::from(c.restart_count),
            driver: "overlay2".into(),
            platform: "linux".into(),
            exec_ids: (!execs.is_empty()).then_some(execs),
            host_config: c.host_config.clone(),
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data: Some(graph),
            },
            size_rw: size.then(|| self.snapshots.usage(&c.id) as i64),
            size_root_fs: size.then(|| {
                self.images
                    .resolve(&c.image)
                    .map(|i| i.size as i64)
                    .unwrap_or(0)
                    + self.snapshots.usage(&c.id) as i64
            }),
            mounts: c.mounts.iter().map(mount_point).collect(),
            config: c.config.clone(),
            network_settings: crate::network::settings(&c),
            ..Default::default()
        })
    }

    /// The `docker ps` entry.
    pub fn summary(&self, c: &Container, size: bool) -> Summary {
        Summary {
            id: c.id.clone(),
            names: vec![c.name.clone()],
            image: c.image_name().to_string(),
            image_id: c.image.clone(),
            command: c.command_line(),
            created: unix_seconds(&c.created),
            ports: crate::network::ps_ports(c),
            size_rw: if size {
                self.snapshots.usage(&c.id) as i64
            } else {
                0
            },
            labels: c.labels(),
            state: c.status(),
            status: human_status(c),
            host_config: SummaryHostConfig {
                network_mode: c.host_config.network_mode.as_str().to_string(),
                annotations: None,
            },
            network_settings: SummaryNetworkSettings {
                networks: crate::network::settings(c).networks,
            },
            mounts: c.mounts.iter().map(mount_point).collect(),
            ..Default::default()
        }
    }

    /// `GET /containers/json`.
    pub fn container_list(&self, q: &query::container::List) -> Result<Vec<Summary>> {
        q.filters.validate(LIST_FILTERS)?;
        let limit = q.limit.unwrap_or(-1);
        let mut out = Vec::new();
        for c in self.containers.list() {
            if !q.all && !c.running() && !q.filters.contains("status") && limit <= 0 {
                continue;
            }
            if !matches(&c, &q.filters) {
                continue;
            }
            out.push(self.summary(&c, q.size));
            if limit > 0 && out.len() as i64 >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /containers/prune`: stopped containers (filters: until, label).
    pub async fn container_prune(
        self: &Arc<Self>,
        q: &query::container::Prune,
    ) -> Result<PruneReport> {
        q.filters.validate(&["until", "label", "label!"])?;
        let until = q
            .filters
            .timestamps("until", chrono::Utc::now().timestamp() as f64)?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for c in self.containers.list() {
            if c.running()
                || until.iter().any(|u| unix_seconds(&c.created) as f64 >= *u)
                || !q.filters.labels_match("label", &c.labels())
                || !q.filters.labels_exclude("label!", &c.labels())
            {
                continue;
            }
            let size = self.snapshots.usage(&c.id);
            if self.remove_now(&c.id, false).await.is_ok() {
                reclaimed += size;
                deleted.push(c.id);
            }
        }
        Ok(PruneReport {
            containers_deleted: Some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunState;

    fn c(status: Status) -> Container {
        Container {
            id: "abc".repeat(22),
            name: "/web".into(),
            state: RunState {
                status,
                started_at: crate::util::now_rfc3339(),
                finished_at: crate::util::now_rfc3339(),
                exit_code: 3,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(human_status(&c(Status::Running)), "Up Less than a second");
        assert_eq!(
            human_status(&c(Status::Paused)),
            "Up Less than a second (Paused)"
        );
        assert_eq!(
            human_status(&c(Status::Exited)),
            "Exited (3) Less than a second ago"
        );
        let mut never = c(Status::Exited);
        never.state.started_at.clear();
        assert_eq!(human_status(&never), "Created");
        let mut h = c(Status::Running);
        h.state.health = Some(berth_api::container::Health::default());
        assert_eq!(human_status(&h), "Up Less than a second (health: starting)");
    }

    #[test]
    fn filters() {
        let mut x = c(Status::Exited);
        x.config.labels = Some([("k".to_string(), "v".to_string())].into());
        let f = |j: &str| Filters::parse(j).unwrap();
        assert!(matches(
            &x,
            &f(r#"{"status":["exited"],"exited":["3"],"name":["we"]}"#)
        ));
        assert!(!matches(&x, &f(r#"{"status":["running"]}"#)));
        assert!(matches(&x, &f(r#"{"label":["k=v"],"id":["abca"]}"#)));
        assert!(!matches(&x, &f(r#"{"label":["k=w"]}"#)));
        assert!(matches(&x, &f(r#"{"health":["none"]}"#)));
    }
}

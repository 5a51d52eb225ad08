//! Health checks (`--health-cmd` and the image's HEALTHCHECK): a probe run
//! in the container every interval, the status in `State.Health` and
//! `health_status` events, as Docker does.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::{Engine, now_rfc3339};

/// How many results `State.Health.Log` keeps.
const KEEP: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy, unhealthy
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// The check of a container's Config, None when there is none or it is
/// disabled (`NONE`).
pub struct Check {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

fn duration(v: &Value, default: Duration) -> Duration {
    match v.as_i64() {
        Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
        _ => default,
    }
}

impl Check {
    pub fn from_config(cfg: &Value) -> Option<Check> {
        let h = &cfg["Healthcheck"];
        let test: Vec<String> = h["Test"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let cmd = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => return None, // NONE, or empty: inherit/disabled
        };
        if cmd.is_empty() {
            return None;
        }
        Some(Check {
            cmd,
            interval: duration(&h["Interval"], Duration::from_secs(30)),
            timeout: duration(&h["Timeout"], Duration::from_secs(30)),
            start_period: duration(&h["StartPeriod"], Duration::ZERO),
            retries: h["Retries"].as_u64().filter(|r| *r > 0).unwrap_or(3) as u32,
        })
    }
}

impl Engine {
    /// Start probing a container that just started (or was re-adopted);
    /// stops when that run of the container ends.
    pub fn watch_health(self: &Arc<Self>, id: &str) {
        let Ok(c) = self.get(id) else { return };
        let Some(check) = Check::from_config(&c.config) else {
            return;
        };
        let started_at = c.state.started_at.clone();
        if c.state.health.is_none() {
            let _ = self.update(id, |c| {
                c.state.health = Some(Health {
                    status: "starting".into(),
                    ..Default::default()
                })
            });
        }
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(check.interval).await;
                let same_run = this
                    .get(&id)
                    .is_ok_and(|c| c.running() && c.state.started_at == started_at);
                if !same_run {
                    return;
                }
                if this.get(&id).is_ok_and(|c| c.state.status == "paused") {
                    continue;
                }
                let probe = this.probe(&id, &check).await;
                let in_start_period = began.elapsed() < check.start_period;
                this.record_probe(&id, probe, &check, in_start_period);
            }
        });
    }

    /// Run the check command in the container (as `docker exec` would).
    async fn probe(&self, id: &str, check: &Check) -> Probe {
        let start = now_rfc3339();
        let fail = |msg: String| Probe {
            start: start.clone(),
            end: now_rfc3339(),
            exit_code: -1,
            output: msg,
        };
        let inst = super::exec::ExecInstance {
            id: super::names::new_id(),
            container: id.to_string(),
            config: json!({"Cmd": check.cmd}),
            running: false,
            exit_code: None,
            pid: 0,
            master: None,
        };
        let (mut cmd, pfile) =
            match self.runtime_exec(&inst, false, &format!("health-{}", &inst.id[..12])) {
                Ok(x) => x,
                Err(e) => return fail(e.message),
            };
        let child = cmd
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&pfile);
                return fail(e.to_string());
            }
        };
        let mut so = child.stdout.take().expect("piped");
        let mut se = child.stderr.take().expect("piped");
        let run = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let _ = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
            out.extend_from_slice(&err);
            (child.wait().await, out)
        };
        let res = tokio::time::timeout(check.timeout, run).await;
        let _ = std::fs::remove_file(&pfile);
        match res {
            Ok((status, mut out)) => {
                out.truncate(MAX_OUTPUT);
                Probe {
                    start,
                    end: now_rfc3339(),
                    exit_code: status.ok().and_then(|s| s.code()).unwrap_or(-1),
                    output: String::from_utf8_lossy(&out).into_owned(),
                }
            }
            Err(_) => Probe {
                start,
                end: now_rfc3339(),
                exit_code: -1,
                output: format!(
                    "Health check exceeded timeout ({}s)",
                    check.timeout.as_secs_f64()
                ),
            },
        }
    }

    fn record_probe(&self, id: &str, p: Probe, check: &Check, in_start_period: bool) {
        let ok = p.exit_code == 0;
        let Ok((before, after, c)) = self.update(id, |c| {
            let h = c.state.health.get_or_insert_with(|| Health {
                status: "starting".into(),
                ..Default::default()
            });
            let before = h.status.clone();
            if ok {
                h.status = "healthy".into();
                h.failing_streak = 0;
            } else if !(in_start_period && h.status == "starting") {
                h.failing_streak += 1;
                if h.failing_streak >= check.retries {
                    h.status = "unhealthy".into();
                }
            }
            h.log.push(p);
            if h.log.len() > KEEP {
                h.log.remove(0);
            }
            (before, h.status.clone(), c.clone())
        }) else {
            return;
        };
        if before != after {
            self.emit(&c, &format!("health_status: {after}"), &[]);
        }
    }
}

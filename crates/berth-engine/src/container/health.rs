//! Health checks (`--health-cmd` and the image's HEALTHCHECK): a probe run
//! in the container every interval, the status in `State.Health` and
//! `health_status` events, as Docker does.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use berth_api::container::{Config, Health, HealthStatus, HealthTest, HealthcheckResult, Status};
use tokio::io::AsyncReadExt;

use crate::Engine;
use crate::util::now_rfc3339;

/// How many results `State.Health.Log` keeps.
const KEEP: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

/// The check of a container's Config; None when there is none or it is
/// disabled (`NONE`).
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

fn duration(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

impl Check {
    pub fn from_config(cfg: &Config) -> Option<Check> {
        let h = cfg.healthcheck.as_ref()?;
        let HealthTest::Run(cmd) = h.test_kind() else {
            return None;
        };
        Some(Check {
            cmd,
            interval: duration(h.interval, Duration::from_secs(30)),
            timeout: duration(h.timeout, Duration::from_secs(30)),
            start_period: duration(h.start_period, Duration::ZERO),
            retries: if h.retries > 0 { h.retries as u32 } else { 3 },
        })
    }
}

/// Record one probe's result: (status before, status after).
pub fn record(
    h: &mut Health,
    p: HealthcheckResult,
    retries: u32,
    in_start_period: bool,
) -> (HealthStatus, HealthStatus) {
    let before = h.status;
    if p.exit_code == 0 {
        h.status = HealthStatus::Healthy;
        h.failing_streak = 0;
    } else if !(in_start_period && h.status == HealthStatus::Starting) {
        h.failing_streak += 1;
        if h.failing_streak >= i64::from(retries) {
            h.status = HealthStatus::Unhealthy;
        }
    }
    h.log.push(p);
    if h.log.len() > KEEP {
        h.log.remove(0);
    }
    (before, h.status)
}

impl Engine {
    /// Start probing a container that just started (or was re-adopted);
    /// stops when that run of the container ends.
    pub fn watch_health(self: &Arc<Self>, id: &str) {
        let Ok(c) = self.containers.get(id) else {
            return;
        };
        let Some(check) = Check::from_config(&c.config) else {
            return;
        };
        let started_at = c.state.started_at.clone();
        if c.state.health.is_none() {
            crate::util::warn_on_err(
                "health state",
                self.containers.update(id, |c| {
                    c.state.health = Some(Health {
                        status: HealthStatus::Starting,
                        ..Default::default()
                    })
                }),
            );
        }
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(check.interval).await;
                let Some((same_run, paused)) = this.containers.with(&id, |c| {
                    (
                        c.running() && c.state.started_at == started_at,
                        c.status() == Status::Paused,
                    )
                }) else {
                    return;
                };
                if !same_run {
                    return;
                }
                if paused {
                    continue;
                }
                let probe = this.probe(&id, &check).await;
                let in_start_period = began.elapsed() < check.start_period;
                this.record_probe(&id, probe, &check, in_start_period);
            }
        });
    }

    /// Run the check command in the container (as `docker exec` would).
    async fn probe(&self, id: &str, check: &Check) -> HealthcheckResult {
        let start = now_rfc3339();
        let fail = |msg: String| HealthcheckResult {
            start: start.clone(),
            end: now_rfc3339(),
            exit_code: -1,
            output: msg,
        };
        let inst = super::exec::ExecInstance::new(
            id,
            berth_api::exec::CreateRequest {
                cmd: Some(check.cmd.clone()),
                ..Default::default()
            },
        );
        let (mut cmd, pfile, report) =
            match self.runtime_exec(&inst, &format!("health-{}", &inst.id[..12])) {
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
        let cleanup = || {
            for f in [&pfile, &report] {
                let _ = std::fs::remove_file(f);
            }
        };
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                cleanup();
                return fail(e.to_string());
            }
        };
        let (Some(mut so), Some(mut se)) = (child.stdout.take(), child.stderr.take()) else {
            cleanup();
            return fail("no output pipes".into());
        };
        let run = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let _ = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
            out.extend_from_slice(&err);
            (child.wait().await, out)
        };
        let res = tokio::time::timeout(check.timeout, run).await;
        cleanup();
        match res {
            Ok((status, mut out)) => {
                out.truncate(MAX_OUTPUT);
                HealthcheckResult {
                    start,
                    end: now_rfc3339(),
                    exit_code: status.ok().and_then(|s| s.code()).unwrap_or(-1) as i64,
                    output: String::from_utf8_lossy(&out).into_owned(),
                }
            }
            Err(_) => HealthcheckResult {
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

    fn record_probe(&self, id: &str, p: HealthcheckResult, check: &Check, in_start_period: bool) {
        let Ok((before, after, c)) = self.containers.update(id, |c| {
            let h = c.state.health.get_or_insert_with(|| Health {
                status: HealthStatus::Starting,
                ..Default::default()
            });
            let (b, a) = record(h, p, check.retries, in_start_period);
            (b, a, c.clone())
        }) else {
            return;
        };
        if before != after {
            self.emit_container(&c, &format!("health_status: {}", after.as_str()), &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::HealthConfig;

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn status_transitions() {
        let mut h = Health::default();
        assert_eq!(h.status, HealthStatus::Starting);
        // Failures in the start period do not count while starting.
        record(&mut h, result(1), 2, true);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        record(&mut h, result(1), 2, false);
        assert_eq!(h.status, HealthStatus::Starting);
        record(&mut h, result(1), 2, false);
        assert_eq!(h.status, HealthStatus::Unhealthy);
        let (b, a) = record(&mut h, result(0), 2, false);
        assert_eq!((b, a), (HealthStatus::Unhealthy, HealthStatus::Healthy));
        for _ in 0..10 {
            record(&mut h, result(0), 2, false);
        }
        assert_eq!(h.log.len(), KEEP);
    }

    #[test]
    fn checks_from_config() {
        let cfg = |test: &[&str]| Config {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                interval: 2_000_000_000,
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = Check::from_config(&cfg(&["CMD-SHELL", "exit 0"])).unwrap();
        assert_eq!(c.cmd, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(
            (c.interval, c.timeout, c.retries),
            (Duration::from_secs(2), Duration::from_secs(30), 3)
        );
        assert!(Check::from_config(&cfg(&["NONE"])).is_none());
        assert!(Check::from_config(&Config::default()).is_none());
    }
}

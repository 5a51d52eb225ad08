//! `docker stats`: a container's cgroup usage in the Engine API's shape.

use serde_json::{Value, json};

use super::{Container, Engine};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Host CPU time in nanoseconds since boot (`system_cpu_usage`), and the
/// number of online CPUs.
fn system_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut total = 0;
    let mut cpus = 0;
    for l in stat.lines() {
        if let Some(rest) = l.strip_prefix("cpu ") {
            // user nice system idle iowait irq softirq steal
            total = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * (1_000_000_000 / hz);
        } else if l.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total, cpus)
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The `cpu_stats`/`precpu_stats` object.
fn cpu_json(s: Option<&berth_cgroups::Stats>) -> Value {
    let Some(s) = s else {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    };
    let (system, cpus) = system_cpu();
    let u = &s.cpu.usage;
    let mut usage = json!({
        "total_usage": u.total,
        "usage_in_kernelmode": u.kernel,
        "usage_in_usermode": u.user,
    });
    if !u.percpu.is_empty() {
        usage["percpu_usage"] = json!(u.percpu);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": system,
        "online_cpus": cpus,
        "throttling_data": {
            "periods": s.cpu.throttling.periods,
            "throttled_periods": s.cpu.throttling.throttled_periods,
            "throttled_time": s.cpu.throttling.throttled_time,
        },
    })
}

fn blkio_json(s: &berth_cgroups::Stats) -> Value {
    let list = |v: &[berth_cgroups::stats::BlkioEntry]| {
        if v.is_empty() {
            return Value::Null;
        }
        Value::Array(
            v.iter()
                .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
                .collect(),
        )
    };
    json!({
        "io_service_bytes_recursive": list(&s.blkio.io_service_bytes_recursive),
        "io_serviced_recursive": list(&s.blkio.io_serviced_recursive),
        "io_queue_recursive": null, "io_service_time_recursive": null,
        "io_wait_time_recursive": null, "io_merged_recursive": null,
        "io_time_recursive": null, "sectors_recursive": null,
    })
}

impl Engine {
    /// One sample of a running container's usage (None when it is not
    /// running).
    pub fn sample(&self, c: &Container) -> Option<berth_cgroups::Stats> {
        if !c.running() {
            return None;
        }
        self.runtime().stats(&c.id).ok()
    }

    /// The stats object from this sample and the previous one.
    pub fn stats_json(
        &self,
        c: &Container,
        cur: Option<&berth_cgroups::Stats>,
        pre: Option<&berth_cgroups::Stats>,
        preread: &str,
    ) -> Value {
        let read = if cur.is_some() {
            super::now_rfc3339()
        } else {
            ZERO_TIME.to_string()
        };
        let mut v = json!({
            "read": read,
            "preread": preread,
            "pids_stats": {},
            "blkio_stats": blkio_json(&Default::default()),
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu_json(cur),
            "precpu_stats": cpu_json(pre),
            "memory_stats": {},
            "name": c.name,
            "id": c.id,
        });
        if let Some(s) = cur {
            let mut pids = json!({"current": s.pids.current});
            if s.pids.limit > 0 {
                pids["limit"] = json!(s.pids.limit);
            }
            v["pids_stats"] = pids;
            v["blkio_stats"] = blkio_json(s);
            let limit = match s.memory.usage.limit {
                0 => host_memory(),
                l if l >= i64::MAX as u64 / 2 => host_memory(),
                l => l,
            };
            let mut mem = json!({
                "usage": s.memory.usage.usage,
                "stats": s.memory.raw,
                "limit": limit,
            });
            if s.memory.usage.max > 0 {
                mem["max_usage"] = json!(s.memory.usage.max);
                mem["failcnt"] = json!(s.memory.usage.failcnt);
            }
            v["memory_stats"] = mem;
        }
        v
    }
}

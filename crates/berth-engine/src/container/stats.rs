//! `docker stats`: a container's cgroup usage, and its network
//! interfaces' counters, in the Engine API's shape.

use std::collections::BTreeMap;

use berth_api::stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats,
    StatsResponse, ThrottlingData,
};

use crate::Engine;
use crate::model::Container;

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

/// `/proc/<pid>/net/dev` of the container's namespace: per interface
/// counters, loopback left out as Docker does.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    let mut out = BTreeMap::new();
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetworkStats {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

fn cpu_stats(s: Option<&berth_cgroups::Stats>) -> CpuStats {
    let Some(s) = s else {
        return CpuStats::default();
    };
    let (system, cpus) = system_cpu();
    let u = &s.cpu.usage;
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: u.total,
            percpu_usage: (!u.percpu.is_empty()).then(|| u.percpu.clone()),
            usage_in_kernelmode: u.kernel,
            usage_in_usermode: u.user,
        },
        system_cpu_usage: Some(system),
        online_cpus: Some(cpus),
        throttling_data: ThrottlingData {
            periods: s.cpu.throttling.periods,
            throttled_periods: s.cpu.throttling.throttled_periods,
            throttled_time: s.cpu.throttling.throttled_time,
        },
    }
}

fn blkio(list: &[berth_cgroups::stats::BlkioEntry]) -> Option<Vec<BlkioEntry>> {
    (!list.is_empty()).then(|| {
        list.iter()
            .map(|e| BlkioEntry {
                major: e.major,
                minor: e.minor,
                op: e.op.clone(),
                value: e.value,
            })
            .collect()
    })
}

impl Engine {
    /// One sample of a running container's usage (None when it is not running).
    pub fn sample(&self, c: &Container) -> Option<berth_cgroups::Stats> {
        if !c.running() {
            return None;
        }
        self.runtime().stats(&c.id).ok()
    }

    /// The stats object from this sample and the previous one.
    pub fn stats_response(
        &self,
        c: &Container,
        cur: Option<&berth_cgroups::Stats>,
        pre: Option<&berth_cgroups::Stats>,
        preread: &str,
    ) -> StatsResponse {
        let mut v = StatsResponse {
            read: if cur.is_some() {
                crate::util::now_rfc3339()
            } else {
                berth_api::ZERO_TIME.to_string()
            },
            preread: preread.to_string(),
            cpu_stats: cpu_stats(cur),
            precpu_stats: cpu_stats(pre),
            name: c.name.clone(),
            id: c.id.clone(),
            ..Default::default()
        };
        if let Some(s) = cur {
            v.pids_stats = PidsStats {
                current: Some(s.pids.current),
                limit: (s.pids.limit > 0).then_some(s.pids.limit),
            };
            v.blkio_stats = BlkioStats {
                io_service_bytes_recursive: blkio(&s.blkio.io_service_bytes_recursive),
                io_serviced_recursive: blkio(&s.blkio.io_serviced_recursive),
                ..Default::default()
            };
            let limit = match s.memory.usage.limit {
                0 => host_memory(),
                l if l >= i64::MAX as u64 / 2 => host_memory(),
                l => l,
            };
            v.memory_stats = MemoryStats {
                usage: Some(s.memory.usage.usage),
                max_usage: (s.memory.usage.max > 0).then_some(s.memory.usage.max),
                stats: Some(s.memory.raw.iter().map(|(k, v)| (k.clone(), *v)).collect()),
                failcnt: (s.memory.usage.max > 0).then_some(s.memory.usage.failcnt),
                limit: Some(limit),
            };
            if c.state.pid > 0 && !c.host_config.network_mode.is_host() {
                let dev = std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid))
                    .unwrap_or_default();
                let nets = parse_net_dev(&dev);
                if !nets.is_empty() {
                    v.networks = Some(nets);
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn net_dev() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let n = super::parse_net_dev(t);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (5000, 40, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (3000, 30, 3, 4)
        );
    }
}

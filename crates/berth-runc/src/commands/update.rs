use std::io::Read;

use berth_runtime::container::Runtime;
use berth_runtime::{Error, Result, spec};
use oci_spec::runtime::{LinuxPids, LinuxResources};

use crate::cli::UpdateArgs;

/// `512m`, `1g`, `1024`, `-1` → bytes (binary units, as docker's RAMInBytes).
pub fn parse_bytes(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last() {
        Some('k') => (&lower[..lower.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 40),
        _ => (lower.trim_end_matches('b'), 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size: {s:?}"))?;
    if n < 0.0 {
        return Err(format!("invalid size: {s:?}"));
    }
    Ok((n * mult as f64) as i64)
}

fn bytes_flag(name: &str, v: &Option<String>) -> Result<Option<i64>> {
    v.as_deref()
        .map(|s| parse_bytes(s).map_err(|e| Error::Config(format!("--{name}: {e}"))))
        .transpose()
}

pub fn update(rt: &Runtime, a: UpdateArgs) -> Result<i32> {
    let mut r: LinuxResources = match &a.resources {
        Some(path) => {
            let mut bytes = Vec::new();
            if path.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::Other(format!("read resources from stdin: {e}")))?;
            } else {
                bytes = std::fs::read(path)
                    .map_err(|e| Error::Config(format!("--resources {}: {e}", path.display())))?;
            }
            spec::parse(&bytes).map_err(|e| Error::Config(format!("--resources: {e}")))?
        }
        None => LinuxResources::default(),
    };
    let limit = bytes_flag("memory", &a.memory)?;
    let reservation = bytes_flag("memory-reservation", &a.memory_reservation)?;
    let swap = bytes_flag("memory-swap", &a.memory_swap)?;
    if limit.is_some() || reservation.is_some() || swap.is_some() {
        let mut m = r.memory().unwrap_or_default();
        if limit.is_some() {
            m.set_limit(limit);
        }
        if reservation.is_some() {
            m.set_reservation(reservation);
        }
        if swap.is_some() {
            m.set_swap(swap);
        }
        r.set_memory(Some(m));
    }
    if a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_share.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
    {
        let mut c = r.cpu().clone().unwrap_or_default();
        if a.cpu_period.is_some() {
            c.set_period(a.cpu_period);
        }
        if a.cpu_quota.is_some() {
            c.set_quota(a.cpu_quota);
        }
        if a.cpu_share.is_some() {
            c.set_shares(a.cpu_share);
        }
        if a.cpuset_cpus.is_some() {
            c.set_cpus(a.cpuset_cpus.clone());
        }
        if a.cpuset_mems.is_some() {
            c.set_mems(a.cpuset_mems.clone());
        }
        if a.cpu_rt_period.is_some() {
            c.set_realtime_period(a.cpu_rt_period);
        }
        if a.cpu_rt_runtime.is_some() {
            c.set_realtime_runtime(a.cpu_rt_runtime);
        }
        r.set_cpu(Some(c));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    rt.update(&a.id, &r)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("4kb").unwrap(), 4096);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}

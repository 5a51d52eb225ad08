//! Writing limits to, and reading usage from, the v2 hierarchy.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{BlkioEntry, CpuUsage, Hugetlb, MemoryEntry, Stats};
use crate::{Cgroup, Mode};

/// Create `dir`, enabling `wanted` controllers in every ancestor on the way down so
/// that the leaf gets their interface files.
pub(crate) fn create(dir: &Path, wanted: &[&str]) -> Result<()> {
    // Find the hierarchy root: the topmost ancestor that still is a cgroup2 directory.
    let mut chain = Vec::new();
    let mut cur = Some(dir);
    while let Some(p) = cur {
        chain.push(p.to_path_buf());
        if p.join("cgroup.controllers").exists()
            && !p
                .parent()
                .is_some_and(|pp| pp.join("cgroup.controllers").exists())
        {
            break;
        }
        cur = p.parent();
    }
    chain.reverse();
    for (i, level) in chain.iter().enumerate() {
        // Two containers starting at once may both create a shared parent:
        // the one that comes second finds it made, which is fine.
        match std::fs::create_dir(level) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::io("create cgroup", level, e));
            }
            _ => {}
        }
        if i + 1 == chain.len() || wanted.is_empty() {
            continue;
        }
        let available = fs::read_opt(&level.join("cgroup.controllers")).unwrap_or_default();
        let enabled = fs::read_opt(&level.join("cgroup.subtree_control")).unwrap_or_default();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .filter(|c| !enabled.split_whitespace().any(|a| a == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() {
            continue;
        }
        // One write per controller so that one refusal does not block the others.
        for m in missing {
            if let Err(e) = fs::write(&level.join("cgroup.subtree_control"), &m) {
                tracing::debug!("enabling {m} in {}: {e}", level.display());
            }
        }
    }
    Ok(())
}

/// The v2 controllers a resource set uses.
pub(crate) fn controllers_used(r: Option<&LinuxResources>) -> Vec<&'static str> {
    let Some(r) = r else { return vec![] };
    let mut out = Vec::new();
    if r.memory().is_some() {
        out.push("memory");
    }
    if let Some(c) = r.cpu() {
        out.push("cpu");
        if c.cpus().is_some() || c.mems().is_some() {
            out.push("cpuset");
        }
    }
    if r.pids().is_some() {
        out.push("pids");
    }
    if r.block_io().is_some() {
        out.push("io");
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        out.push("hugetlb");
    }
    if r.rdma().as_ref().is_some_and(|h| !h.is_empty()) {
        out.push("rdma");
    }
    out
}

fn v2_dir<'a>(cg: &'a Cgroup, controller: &str) -> Option<&'a Path> {
    if cg.on_v2(controller) {
        cg.v2.as_deref()
    } else {
        None
    }
}

pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let (Some(m), Some(dir)) = (r.memory(), v2_dir(cg, "memory")) {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        if let Some(dir) = v2_dir(cg, "cpu") {
            cpu(dir, c)?;
        }
        if let Some(dir) = v2_dir(cg, "cpuset") {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                fs::write(&dir.join("cpuset.cpus"), cpus)?;
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                fs::write(&dir.join("cpuset.mems"), mems)?;
            }
        }
    }
    if let (Some(p), Some(dir)) = (r.pids(), v2_dir(cg, "pids")) {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        fs::write(&dir.join("pids.max"), v)?;
    }
    if let (Some(b), Some(dir)) = (r.block_io(), v2_dir(cg, "io")) {
        io(dir, b)?;
    }
    if let Some(limits) = r.hugepage_limits()
        && let Some(dir) = v2_dir(cg, "hugetlb")
    {
        for l in limits {
            let v = if l.limit() < 0 {
                "max".to_string()
            } else {
                l.limit().to_string()
            };
            fs::write(&dir.join(format!("hugetlb.{}.max", l.page_size())), v)?;
        }
    }
    if let (Some(rdma), Some(dir)) = (r.rdma(), v2_dir(cg, "rdma")) {
        for (dev, limit) in rdma {
            fs::write(
                &dir.join("rdma.max"),
                crate::resources_v1::rdma_line(dev, limit),
            )?;
        }
    }
    if let (Some(u), Some(dir)) = (r.unified(), cg.v2.as_deref())
        && cg.mode == Mode::Unified
    {
        for (k, v) in u {
            if k.contains('/') || k.starts_with('.') {
                return Err(Error::Invalid(format!(
                    "linux.resources.unified: invalid key {k:?}"
                )));
            }
            fs::write(&dir.join(k), v)?;
        }
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit();
    if let Some(l) = limit {
        fs::write(&dir.join("memory.max"), max_or(l))?;
    }
    if let Some(swap) = m.swap() {
        // OCI swap is memory+swap; v2's memory.swap.max is swap alone.
        let v = match (swap, limit) {
            (-1, _) => "max".to_string(),
            (0, _) => "0".to_string(),
            (s, Some(l)) if l > 0 => {
                if s < l {
                    return Err(Error::Invalid(format!(
                        "memory+swap limit ({s}) must not be lower than the memory limit ({l})"
                    )));
                }
                (s - l).to_string()
            }
            (s, _) => {
                return Err(Error::Invalid(format!(
                    "a memory+swap limit ({s}) needs a memory limit on cgroup v2"
                )));
            }
        };
        let f = dir.join("memory.swap.max");
        if f.exists() {
            fs::write(&f, v)?;
        } else if v != "max" && v != "0" {
            return Err(Error::Invalid(
                "memory swap limit is not supported: memory.swap.max is missing".into(),
            ));
        }
    }
    if let Some(r) = m.reservation() {
        fs::write(&dir.join("memory.low"), max_or(r))?;
    }
    if let Some(s) = m.swappiness() {
        tracing::debug!("memory swappiness {s} ignored: cgroup v2 has no per-cgroup swappiness");
    }
    Ok(())
}

fn max_or(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// cpu.shares (2..262144) → cpu.weight (1..10000), the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        fs::write(&dir.join("cpu.weight"), shares_to_weight(s).to_string())?;
    }
    if c.quota().is_some() || c.period().is_some() {
        let cur = fs::read_opt(&dir.join("cpu.max")).unwrap_or_default();
        let mut it = cur.split_whitespace();
        let cur_quota = it.next().unwrap_or("max").to_string();
        let cur_period = it.next().unwrap_or("100000").to_string();
        let quota = match c.quota() {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".into(),
            None => cur_quota,
        };
        let period = match c.period() {
            Some(p) if p > 0 => p.to_string(),
            _ => cur_period,
        };
        fs::write(&dir.join("cpu.max"), format!("{quota} {period}"))?;
    }
    if let Some(b) = c.burst() {
        fs::write(&dir.join("cpu.max.burst"), b.to_string())?;
    }
    if let Some(i) = c.idle() {
        fs::write(&dir.join("cpu.idle"), i.to_string())?;
    }
    if c.realtime_runtime().is_some_and(|r| r != 0) || c.realtime_period().is_some_and(|p| p != 0) {
        return Err(Error::Invalid(
            "realtime CPU limits (cpu.realtimeRuntime, cpu.realtimePeriod) are not supported on cgroup v2".into(),
        ));
    }
    Ok(())
}

/// blkio weight (10..1000) → io weight (1..10000).
fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let weight_file = ["io.bfq.weight", "io.weight"]
        .iter()
        .map(|f| dir.join(f))
        .find(|f| f.exists());
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let f = weight_file.clone().ok_or_else(|| {
            Error::Invalid(
                "blkio weight is not supported: io.weight and io.bfq.weight are missing".into(),
            )
        })?;
        let v = if f.ends_with("io.bfq.weight") {
            u64::from(w)
        } else {
            blkio_to_io_weight(w)
        };
        fs::write(&f, format!("default {v}"))?;
    }
    for d in b.weight_device().iter().flatten() {
        if let (Some(w), Some(f)) = (d.weight(), &weight_file) {
            let v = if f.ends_with("io.bfq.weight") {
                u64::from(w)
            } else {
                blkio_to_io_weight(w)
            };
            fs::write(f, format!("{}:{} {}", d.major(), d.minor(), v))?;
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for d in list.iter().flatten() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            fs::write(
                &dir.join("io.max"),
                format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn stats(cg: &Cgroup, s: &mut Stats) -> Result<()> {
    let Some(dir) = cg.v2.as_deref() else {
        return Ok(());
    };
    if cg.mode == Mode::Unified {
        let st = fs::read_kv(&dir.join("cpu.stat")).unwrap_or_default();
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        s.cpu.usage = CpuUsage {
            total: g("usage_usec") * 1000,
            kernel: g("system_usec") * 1000,
            user: g("user_usec") * 1000,
            ..Default::default()
        };
        s.cpu.throttling.periods = g("nr_periods");
        s.cpu.throttling.throttled_periods = g("nr_throttled");
        s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
    }
    if cg.on_v2("memory") {
        let raw = fs::read_kv(&dir.join("memory.stat")).unwrap_or_default();
        let events = fs::read_kv(&dir.join("memory.events")).unwrap_or_default();
        let f = |n: &str| fs::read_u64(&dir.join(n)).unwrap_or(0);
        s.memory.usage = MemoryEntry {
            usage: f("memory.current"),
            max: f("memory.peak"),
            failcnt: events.get("max").copied().unwrap_or(0),
            limit: f("memory.max"),
        };
        if dir.join("memory.swap.current").exists() {
            s.memory.swap = MemoryEntry {
                usage: f("memory.swap.current") + s.memory.usage.usage,
                max: 0,
                failcnt: 0,
                limit: f("memory.swap.max").saturating_add(s.memory.usage.limit),
            };
        }
        s.memory.cache = raw.get("file").copied().unwrap_or(0);
        s.memory.oom_kill = events.get("oom_kill").copied().unwrap_or(0);
        s.memory.raw = raw;
    }
    if cg.on_v2("pids") {
        s.pids.current = fs::read_u64(&dir.join("pids.current")).unwrap_or(0);
        s.pids.limit = fs::read_u64(&dir.join("pids.max"))
            .map(|v| if v == u64::MAX { 0 } else { v })
            .unwrap_or(0);
    }
    if cg.on_v2("io") {
        let text = fs::read_opt(&dir.join("io.stat")).unwrap_or_default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
                continue;
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(value) = v.parse::<u64>() else {
                    continue;
                };
                let (list, op) = match k {
                    "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                    "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                    "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                    "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value,
                });
            }
        }
    }
    if cg.on_v2("hugetlb") {
        for (size, prefix) in crate::resources_v1::hugetlb_sizes(dir, "max") {
            let f = |n: &str| fs::read_u64(&dir.join(format!("{prefix}.{n}"))).unwrap_or(0);
            let events = fs::read_kv(&dir.join(format!("{prefix}.events"))).unwrap_or_default();
            s.hugetlb.insert(
                size,
                Hugetlb {
                    usage: f("current"),
                    max: f("max"),
                    failcnt: events.get("max").copied().unwrap_or(0),
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }
}

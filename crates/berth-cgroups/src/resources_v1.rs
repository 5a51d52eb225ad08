//! Writing limits to, and reading usage from, v1 controllers.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::Cgroup;
use crate::error::{Error, Result};
use crate::fs;
use crate::stats::{BlkioEntry, CpuUsage, MemoryEntry, Stats};

/// A new v1 cpuset cgroup starts with empty `cpus`/`mems`, which forbids attaching
/// any task: copy them down from the parent, level by level.
pub(crate) fn init_cpuset(dir: &Path) -> Result<()> {
    let mut chain = vec![dir.to_path_buf()];
    let mut cur = dir.parent();
    while let Some(p) = cur {
        if !p.join("cpuset.cpus").exists() {
            break;
        }
        chain.push(p.to_path_buf());
        cur = p.parent();
    }
    chain.reverse();
    for pair in chain.windows(2) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let child = pair[1].join(file);
            if fs::read(&child)?.trim().is_empty() {
                let parent = fs::read(&pair[0].join(file))?;
                fs::write(&child, parent.trim())?;
            }
        }
    }
    Ok(())
}

pub(crate) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory()
        && let Some(dir) = cg.v1_dir("memory")
    {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        if let Some(dir) = cg.v1_dir("cpu") {
            cpu(dir, c)?;
        }
        if let Some(dir) = cg.v1_dir("cpuset") {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                fs::write(&dir.join("cpuset.cpus"), cpus)?;
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                fs::write(&dir.join("cpuset.mems"), mems)?;
            }
        }
    }
    if let (Some(p), Some(dir)) = (r.pids(), cg.v1_dir("pids")) {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        fs::write(&dir.join("pids.max"), v)?;
    }
    if let (Some(b), Some(dir)) = (r.block_io(), cg.v1_dir("blkio")) {
        blkio(dir, b)?;
    }
    if let Some(limits) = r.hugepage_limits() {
        if let Some(dir) = cg.v1_dir("hugetlb") {
            for l in limits {
                let file = dir.join(format!("hugetlb.{}.limit_in_bytes", l.page_size()));
                fs::write(&file, l.limit().to_string())?;
            }
        } else if !cg.on_v2("hugetlb") && !limits.is_empty() {
            return Err(Error::NoController("hugetlb", "hugepageLimits"));
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let dir = cg
                .v1_dir("net_cls")
                .ok_or(Error::NoController("net_cls", "network.classID"))?;
            fs::write(&dir.join("net_cls.classid"), id.to_string())?;
        }
        if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
            let dir = cg
                .v1_dir("net_prio")
                .ok_or(Error::NoController("net_prio", "network.priorities"))?;
            for p in prios {
                fs::write(
                    &dir.join("net_prio.ifpriomap"),
                    format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
    }
    if let (Some(rdma), Some(dir)) = (r.rdma(), cg.v1_dir("rdma")) {
        for (dev, limit) in rdma {
            fs::write(&dir.join("rdma.max"), rdma_line(dev, limit))?;
        }
    }
    // The hybrid tree is not the container's v2 cgroup: runc's v1 manager
    // refuses `unified` on it too.
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) && cg.mode != crate::Mode::Unified {
        return Err(Error::Invalid(
            "invalid configuration: cannot use unified on cgroup v1 (linux.resources.unified needs cgroup v2)"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) fn rdma_line(dev: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
    let mut line = dev.to_string();
    if let Some(h) = l.hca_handles() {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects() {
        line.push_str(&format!(" hca_object={o}"));
    }
    line
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit_file = dir.join("memory.limit_in_bytes");
    let memsw_file = dir.join("memory.memsw.limit_in_bytes");
    match (m.limit(), m.swap()) {
        (limit, Some(swap)) => {
            if !memsw_file.exists() {
                if swap == 0 || Some(swap) == limit {
                    if let Some(l) = limit {
                        fs::write(&limit_file, l.to_string())?;
                    }
                } else {
                    return Err(Error::Invalid(
                        "memory swap limit is not supported: the kernel has no swap accounting \
                         (memory.memsw.limit_in_bytes is missing)"
                            .into(),
                    ));
                }
            } else {
                // memsw must stay >= limit at every step: order the writes accordingly.
                let swap_first = swap == -1
                    || fs::read_u64(&memsw_file)
                        .is_ok_and(|cur| swap as u64 > cur && cur != u64::MAX);
                if swap_first {
                    fs::write(&memsw_file, swap.to_string())?;
                }
                if let Some(l) = limit {
                    fs::write(&limit_file, l.to_string())?;
                }
                if !swap_first {
                    fs::write(&memsw_file, swap.to_string())?;
                }
            }
        }
        (Some(l), None) => {
            if let Err(e) = fs::write(&limit_file, l.to_string()) {
                // Raising above the current memsw limit: raise memsw too.
                if memsw_file.exists() && e.raw_os_error() == Some(libc::EINVAL) {
                    fs::write(&memsw_file, l.to_string())?;
                    fs::write(&limit_file, l.to_string())?;
                } else {
                    return Err(e);
                }
            }
        }
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        fs::write(&dir.join("memory.soft_limit_in_bytes"), r.to_string())?;
    }
    #[allow(deprecated)]
    if let Some(k) = m.kernel() {
        let f = dir.join("memory.kmem.limit_in_bytes");
        if f.exists() {
            // Deprecated since Linux 5.4 and refused by newer kernels: best effort.
            let _ = fs::write(&f, k.to_string());
        }
    }
    if let Some(k) = m.kernel_tcp() {
        fs::write(&dir.join("memory.kmem.tcp.limit_in_bytes"), k.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::Invalid(format!(
                "invalid memory swappiness {s}: it must be between 0 and 100"
            )));
        }
        fs::write(&dir.join("memory.swappiness"), s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(&dir.join("memory.oom_control"), "1")?;
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        fs::write(&dir.join("cpu.shares"), s.to_string())?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let mut quota_done = false;
    if let Some(p) = c.period().filter(|p| *p != 0) {
        match fs::write(&dir.join("cpu.cfs_period_us"), p.to_string()) {
            Ok(()) => {}
            // The new period with the old quota can exceed a parent's ratio
            // (a pod's limit): set the new quota first, then the period.
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::InvalidInput) && quota.is_some() => {
                fs::write(&dir.join("cpu.cfs_quota_us"), quota.unwrap().to_string())?;
                quota_done = true;
                fs::write(&dir.join("cpu.cfs_period_us"), p.to_string())?;
            }
            Err(e) => return Err(e),
        }
    }
    if let (Some(q), false) = (quota, quota_done) {
        fs::write(&dir.join("cpu.cfs_quota_us"), q.to_string())?;
    }
    if let Some(b) = c.burst() {
        fs::write(&dir.join("cpu.cfs_burst_us"), b.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        fs::write(&dir.join("cpu.rt_period_us"), p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        fs::write(&dir.join("cpu.rt_runtime_us"), r.to_string())?;
    }
    if let Some(i) = c.idle() {
        fs::write(&dir.join("cpu.idle"), i.to_string())?;
    }
    Ok(())
}

fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let file = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.exists())
            .ok_or_else(|| {
                Error::Invalid(
                    "blkio weight is not supported: the kernel has no proportional I/O scheduler \
                     (blkio.weight and blkio.bfq.weight are missing)"
                        .into(),
                )
            })?;
        fs::write(&file, w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        fs::write(&dir.join("blkio.leaf_weight"), w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let f = ["blkio.weight_device", "blkio.bfq.weight_device"]
                .iter()
                .map(|f| dir.join(f))
                .find(|f| f.exists())
                .unwrap_or_else(|| dir.join("blkio.weight_device"));
            fs::write(&f, format!("{}:{} {}", d.major(), d.minor(), w))?;
        }
        if let Some(w) = d.leaf_weight() {
            fs::write(
                &dir.join("blkio.leaf_weight_device"),
                format!("{}:{} {}", d.major(), d.minor(), w),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for d in list.iter().flatten() {
            fs::write(
                &dir.join(file),
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn stats(cg: &Cgroup, s: &mut Stats) -> Result<()> {
    if let Some(dir) = cg.v1_dir("cpuacct") {
        let total = fs::read_u64(&dir.join("cpuacct.usage")).unwrap_or(0);
        let percpu = fs::read_opt(&dir.join("cpuacct.usage_percpu"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let st = fs::read_kv(&dir.join("cpuacct.stat")).unwrap_or_default();
        let tick = 1_000_000_000 / clock_ticks();
        s.cpu.usage = CpuUsage {
            total,
            percpu,
            kernel: st.get("system").copied().unwrap_or(0) * tick,
            user: st.get("user").copied().unwrap_or(0) * tick,
            ..Default::default()
        };
    }
    if let Some(dir) = cg.v1_dir("cpu") {
        let st = fs::read_kv(&dir.join("cpu.stat")).unwrap_or_default();
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = cg.v1_dir("memory") {
        let entry = |prefix: &str| -> MemoryEntry {
            let f = |n: &str| fs::read_u64(&dir.join(format!("{prefix}.{n}"))).unwrap_or(0);
            MemoryEntry {
                usage: f("usage_in_bytes"),
                max: f("max_usage_in_bytes"),
                failcnt: f("failcnt"),
                limit: f("limit_in_bytes"),
            }
        };
        s.memory.usage = entry("memory");
        if dir.join("memory.memsw.usage_in_bytes").exists() {
            s.memory.swap = entry("memory.memsw");
        }
        s.memory.kernel = entry("memory.kmem");
        s.memory.kernel_tcp = entry("memory.kmem.tcp");
        let raw = fs::read_kv(&dir.join("memory.stat")).unwrap_or_default();
        s.memory.cache = raw
            .get("total_cache")
            .or(raw.get("cache"))
            .copied()
            .unwrap_or(0);
        s.memory.raw = raw;
        if let Ok(oom) = fs::read_kv(&dir.join("memory.oom_control")) {
            s.memory.oom_kill = oom.get("oom_kill").copied().unwrap_or(0);
        }
    }
    if let Some(dir) = cg.v1_dir("pids") {
        s.pids.current = fs::read_u64(&dir.join("pids.current")).unwrap_or(0);
        s.pids.limit = fs::read_u64(&dir.join("pids.max"))
            .map(|v| if v == u64::MAX { 0 } else { v })
            .unwrap_or(0);
    }
    if let Some(dir) = cg.v1_dir("blkio") {
        let pick = |names: &[&str]| {
            names
                .iter()
                .map(|n| dir.join(n))
                .find(|p| fs::read_opt(p).is_some_and(|t| t.lines().count() > 1))
                .map(|p| parse_blkio(&fs::read_opt(&p).unwrap_or_default()))
                .unwrap_or_default()
        };
        s.blkio.io_service_bytes_recursive = pick(&[
            "blkio.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.bfq.io_service_bytes_recursive",
        ]);
        s.blkio.io_serviced_recursive = pick(&[
            "blkio.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
            "blkio.bfq.io_serviced_recursive",
        ]);
    }
    if let Some(dir) = cg.v1_dir("hugetlb") {
        for (size, file_prefix) in hugetlb_sizes(dir, "limit_in_bytes") {
            let f = |n: &str| fs::read_u64(&dir.join(format!("{file_prefix}.{n}"))).unwrap_or(0);
            s.hugetlb.insert(
                size,
                crate::stats::Hugetlb {
                    usage: f("usage_in_bytes"),
                    max: f("max_usage_in_bytes"),
                    failcnt: f("failcnt"),
                },
            );
        }
    }
    Ok(())
}

/// `hugetlb.2MB.<suffix>` files → ("2MB", "hugetlb.2MB").
pub(crate) fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix("hugetlb.")
                && let Some(size) = rest.strip_suffix(&format!(".{suffix}"))
                && !size.contains('.')
            {
                out.push((size.to_string(), format!("hugetlb.{size}")));
            }
        }
    }
    out.sort();
    out
}

/// Lines like `8:0 Read 1234`.
fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let dev = it.next()?;
            let op = it.next()?;
            let value = it.next()?.parse().ok()?;
            let (maj, min) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

fn clock_ticks() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    }
}

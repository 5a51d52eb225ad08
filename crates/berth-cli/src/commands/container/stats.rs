//! `docker stats` (docker's Linux CPU/memory formulas).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use berth_api::cli::StatsContext;
use berth_api::query;
use berth_api::stats::StatsResponse;
use clap::Args;

use crate::commands::Ctx;
use crate::format::{bytes_size, human_size_prec, render, short_id, tval};
use crate::template::TVal;

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub containers: Vec<String>,
}

fn header() -> TVal {
    let t = |s: &str| s.to_string();
    tval(&StatsContext {
        block_io: t("BLOCK I/O"),
        cpu_perc: t("CPU %"),
        container: t("CONTAINER"),
        id: t("CONTAINER ID"),
        mem_perc: t("MEM %"),
        mem_usage: t("MEM USAGE / LIMIT"),
        name: t("NAME"),
        net_io: t("NET I/O"),
        pids: t("PIDS"),
    })
}

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// One row of stats from a sample.
pub fn row(container: &str, s: &StatsResponse, trunc: bool) -> TVal {
    let cpu = &s.cpu_stats;
    let pre = &s.precpu_stats;
    let cpu_delta = cpu.cpu_usage.total_usage as f64 - pre.cpu_usage.total_usage as f64;
    let sys_delta =
        cpu.system_cpu_usage.unwrap_or(0) as f64 - pre.system_cpu_usage.unwrap_or(0) as f64;
    let mut online = cpu.online_cpus.unwrap_or(0) as f64;
    if online == 0.0 {
        online = cpu.cpu_usage.percpu_usage.as_ref().map_or(0, Vec::len) as f64;
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &s.memory_stats;
    let usage = mem.usage.unwrap_or(0) as f64;
    // cgroup v1 counts the hierarchy's inactive file cache, v2 its own.
    let inactive = mem.stats.as_ref().map_or(0, |st| {
        st.get("total_inactive_file")
            .or_else(|| st.get("inactive_file"))
            .copied()
            .unwrap_or(0)
    }) as f64;
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = mem.limit.unwrap_or(0) as f64;
    let mem_pct = if limit != 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.chars().next().map(|c| c.to_ascii_lowercase()) {
            Some('r') => rd += e.value as f64,
            Some('w') => wr += e.value as f64,
            _ => {}
        }
    }
    let name = s.name.trim_start_matches('/');
    let h = |x: f64| human_size_prec(x, 3);
    crate::format::context(&StatsContext {
        block_io: format!("{} / {}", h(rd), h(wr)),
        cpu_perc: format!("{cpu_pct:.2}%"),
        container: container.to_string(),
        id: if trunc { short_id(&s.id) } else { s.id.clone() },
        mem_perc: format!("{mem_pct:.2}%"),
        mem_usage: format!("{} / {}", bytes_size(used), bytes_size(limit)),
        name: name.to_string(),
        net_io: format!("{} / {}", h(rx), h(tx)),
        pids: s.pids_stats.current.unwrap_or(0).to_string(),
    })
}

pub fn run(ctx: &Ctx, a: StatsArgs) -> Result<i32> {
    let client = ctx.shared_client()?;
    let mut names = a.containers.clone();
    if names.is_empty() {
        let q = query::container::List {
            all: a.all,
            ..Default::default()
        };
        names = client
            .container_list(&q)?
            .into_iter()
            .map(|c| c.id)
            .collect();
    }
    let format = a
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or(DEFAULT_FORMAT.into());
    let trunc = !a.no_trunc;
    if a.no_stream {
        let mut rows = Vec::new();
        let mut failed = false;
        let q = query::container::Stats {
            stream: Some(false),
            one_shot: false,
        };
        for n in &names {
            match client
                .container_stats(n, &q)
                .and_then(|r| r.json::<StatsResponse>())
            {
                Ok(s) => rows.push(row(n, &s, trunc)),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
        print!("{}", render(&format, &rows, &header())?);
        return if failed {
            Err(crate::status(1, ""))
        } else {
            Ok(0)
        };
    }
    let latest: Arc<Mutex<BTreeMap<usize, TVal>>> = Arc::default();
    for (i, n) in names.iter().enumerate() {
        let latest = latest.clone();
        let n = n.clone();
        let client = client.clone();
        std::thread::spawn(move || -> Result<()> {
            let q = query::container::Stats {
                stream: Some(true),
                one_shot: false,
            };
            let mut resp = client.container_stats(&n, &q)?;
            while let Some(line) = resp.next_line()? {
                if let Ok(s) = serde_json::from_str::<StatsResponse>(&line) {
                    latest.lock().unwrap().insert(i, row(&n, &s, trunc));
                }
            }
            latest.lock().unwrap().remove(&i);
            Ok(())
        });
    }
    let header = header();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let rows: Vec<TVal> = latest.lock().unwrap().values().cloned().collect();
        let text = render(&format, &rows, &header)?;
        let mut out = std::io::stdout().lock();
        write!(out, "\x1b[2J\x1b[H{text}")?;
        out.flush()?;
    }
}

//! `docker stats` (docker's Linux CPU/memory formulas).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::{Body, Query};
use crate::commands::Ctx;
use crate::format::{bytes_size, human_size_prec, render, short_id};
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

const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// One row of stats from a stats JSON object.
pub fn row(container: &str, s: &Value, trunc: bool) -> TVal {
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta = f(&cpu["cpu_usage"]["total_usage"]) - f(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = f(&cpu["system_cpu_usage"]) - f(&pre["system_cpu_usage"]);
    let mut online = f(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0) as f64;
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    let usage = f(&mem["usage"]);
    let inactive = if mem["stats"].get("total_inactive_file").is_some() {
        f(&mem["stats"]["total_inactive_file"])
    } else {
        f(&mem["stats"]["inactive_file"])
    };
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = f(&mem["limit"]);
    let mem_pct = if limit != 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for (_, n) in s["networks"].as_object().into_iter().flatten() {
        rx += f(&n["rx_bytes"]);
        tx += f(&n["tx_bytes"]);
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"]
            .as_str()
            .and_then(|o| o.chars().next())
            .map(|c| c.to_ascii_lowercase())
        {
            Some('r') => rd += f(&e["value"]),
            Some('w') => wr += f(&e["value"]),
            _ => {}
        }
    }
    let id = s["id"].as_str().unwrap_or("");
    let name = s["name"].as_str().unwrap_or("").trim_start_matches('/');
    let h = |x: f64| human_size_prec(x, 3);
    TVal::obj(vec![
        ("BlockIO", TVal::Str(format!("{} / {}", h(rd), h(wr)))),
        ("CPUPerc", TVal::Str(format!("{cpu_pct:.2}%"))),
        ("Container", TVal::s(container)),
        (
            "ID",
            TVal::Str(if trunc { short_id(id) } else { id.to_string() }),
        ),
        ("MemPerc", TVal::Str(format!("{mem_pct:.2}%"))),
        (
            "MemUsage",
            TVal::Str(format!("{} / {}", bytes_size(used), bytes_size(limit))),
        ),
        ("Name", TVal::s(name)),
        ("NetIO", TVal::Str(format!("{} / {}", h(rx), h(tx)))),
        (
            "PIDs",
            TVal::Str(s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string()),
        ),
    ])
}

pub fn run(ctx: &Ctx, a: StatsArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut names = a.containers.clone();
    if names.is_empty() {
        let list = client.get_json("/containers/json", &Query::new().add_if(a.all, "all", "1"))?;
        names = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
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
        for n in &names {
            let q = Query::new().add("stream", "0");
            match client.get_json(&format!("/containers/{n}/stats"), &q) {
                Ok(s) => rows.push(row(n, &s, trunc)),
                Err(e) => {
                    eprintln!("{e:#}");
                    failed = true;
                }
            }
        }
        print!("{}", render(&format, &rows, HEADERS)?);
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
        let host = ctx.host.clone();
        std::thread::spawn(move || -> Result<()> {
            let client = crate::client::Client::new(&host)?;
            let q = Query::new().add("stream", "1");
            let mut resp =
                client.request("GET", &format!("/containers/{n}/stats"), &q, Body::None)?;
            while let Some(line) = resp.next_line()? {
                if let Ok(s) = serde_json::from_str::<Value>(&line) {
                    latest.lock().unwrap().insert(i, row(&n, &s, trunc));
                }
            }
            latest.lock().unwrap().remove(&i);
            Ok(())
        });
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let rows: Vec<TVal> = latest.lock().unwrap().values().cloned().collect();
        let text = render(&format, &rows, HEADERS)?;
        let mut out = std::io::stdout().lock();
        write!(out, "\x1b[2J\x1b[H{text}")?;
        out.flush()?;
    }
}

//! diff, export, commit, top, port, update, container prune.

use std::io::Write;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::client::{Body, Query};
use crate::commands::{Ctx, for_each};
use crate::format::{human_size, tabwrite_min};
use crate::opts::{filters_json, ram_in_bytes};
use crate::stream;

#[derive(Args)]
pub struct IdArg {
    pub container: String,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub container: String,
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    pub repository: Option<String>,
}

#[derive(Args)]
pub struct TopArgs {
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args)]
pub struct PortArgs {
    pub container: String,
    pub private_port: Option<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn diff(ctx: &Ctx, a: IdArg) -> Result<i32> {
    let client = ctx.client()?;
    let v = client.get_json(
        &format!("/containers/{}/changes", a.container),
        &Query::new(),
    )?;
    for c in v.as_array().into_iter().flatten() {
        let kind = match c["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", c["Path"].as_str().unwrap_or(""));
    }
    Ok(0)
}

/// Copies a response body to `-o FILE` or stdout (refusing a terminal).
pub fn save_stream(mut resp: crate::client::Response, output: Option<&str>) -> Result<()> {
    match output {
        Some(path) => {
            let tmp = format!("{path}.berth-tmp");
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| anyhow::anyhow!("failed to save: {e}"))?;
            std::io::copy(&mut resp, &mut f)?;
            f.flush()?;
            std::fs::rename(&tmp, path)?;
        }
        None => {
            if stream::is_tty(1) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut resp, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

pub fn export(ctx: &Ctx, a: ExportArgs) -> Result<i32> {
    if a.output.is_none() && stream::is_tty(1) {
        return Err(crate::status(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let client = ctx.client()?;
    let resp = client.request(
        "GET",
        &format!("/containers/{}/export", a.container),
        &Query::new(),
        Body::None,
    )?;
    save_stream(resp, a.output.as_deref())?;
    Ok(0)
}

pub fn commit(ctx: &Ctx, a: CommitArgs) -> Result<i32> {
    let client = ctx.client()?;
    let (repo, tag) = match &a.repository {
        Some(r) => {
            let (repo, tag) = crate::opts::split_ref(r);
            (crate::opts::normalize_name(&repo), tag)
        }
        None => (String::new(), String::new()),
    };
    let mut q = Query::new()
        .add("container", a.container.clone())
        .add("repo", repo)
        .add("tag", tag)
        .add("comment", a.message.clone().unwrap_or_default())
        .add("author", a.author.clone().unwrap_or_default());
    if !a.pause {
        q = q.add("pause", "0");
    }
    for c in &a.change {
        q = q.add("changes", c.clone());
    }
    let v = client.post_json("/commit", &q, None)?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(0)
}

pub fn top(ctx: &Ctx, a: TopArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = Query::new().add_if(!a.ps_options.is_empty(), "ps_args", a.ps_options.join(" "));
    let v = client.get_json(&format!("/containers/{}/top", a.container), &q)?;
    let mut text = String::new();
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    text.push_str(&titles.join("\t"));
    text.push('\n');
    for p in v["Processes"].as_array().into_iter().flatten() {
        let cells: Vec<&str> = p
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    print!("{}", tabwrite_min(&text, 20));
    Ok(0)
}

pub fn port(ctx: &Ctx, a: PortArgs) -> Result<i32> {
    let client = ctx.client()?;
    let v = client.get_json(&format!("/containers/{}/json", a.container), &Query::new())?;
    let ports = v["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let fmt_binding = |b: &Value| {
        let ip = b["HostIp"].as_str().unwrap_or("");
        let ip = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("{ip}:{}", b["HostPort"].as_str().unwrap_or(""))
    };
    if let Some(p) = &a.private_port {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        if let Some(bs) = ports
            .get(&key)
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty())
        {
            for b in bs {
                println!("{}", fmt_binding(b));
            }
            return Ok(0);
        }
        return Err(crate::status(
            1,
            format!(
                "Error: No public port '{key}' published for {}",
                a.container
            ),
        ));
    }
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    for k in keys {
        for b in ports[k].as_array().into_iter().flatten() {
            println!("{k} -> {}", fmt_binding(b));
        }
    }
    Ok(0)
}

pub fn update(ctx: &Ctx, a: UpdateArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut body = Map::new();
    let mut set = |k: &str, v: Value| {
        body.insert(k.into(), v);
    };
    if let Some(v) = a.blkio_weight {
        set("BlkioWeight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("CpuPeriod", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("CpuQuota", json!(v));
    }
    if let Some(v) = a.cpu_shares {
        set("CpuShares", json!(v));
    }
    if let Some(v) = a.cpus {
        set("NanoCpus", json!((v * 1e9) as i64));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("CpusetCpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("CpusetMems", json!(v));
    }
    if let Some(v) = &a.memory {
        set("Memory", json!(ram_in_bytes(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        set("MemoryReservation", json!(ram_in_bytes(v)?));
    }
    if let Some(v) = &a.memory_swap {
        set(
            "MemorySwap",
            json!(if v == "-1" { -1 } else { ram_in_bytes(v)? }),
        );
    }
    if let Some(v) = a.pids_limit {
        set("PidsLimit", json!(v));
    }
    if let Some(r) = &a.restart {
        let (name, count) = r.split_once(':').unwrap_or((r, "0"));
        set(
            "RestartPolicy",
            json!({"Name": name, "MaximumRetryCount": count.parse::<i64>().unwrap_or(0)}),
        );
    }
    if body.is_empty() {
        return Err(crate::status(
            1,
            "you must provide one or more flags when using this command",
        ));
    }
    let body = Value::Object(body);
    for_each(&a.containers, |c| {
        let v = client.post_json(
            &format!("/containers/{c}/update"),
            &Query::new(),
            Some(&body),
        )?;
        for w in v["Warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            eprintln!("{w}");
        }
        println!("{c}");
        Ok(())
    })
}

/// Asks `[y/N]` on stdin; true for y/yes.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

pub fn prune(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let client = ctx.client()?;
    let (text, _) = prune_containers(&client, &a.filter)?;
    print!("{text}");
    Ok(0)
}

/// Runs `POST /containers/prune`; returns the report text and reclaimed bytes.
pub fn prune_containers(
    client: &crate::client::Client,
    filter: &[String],
) -> Result<(String, u64)> {
    let mut q = Query::new();
    if let Some(f) = filters_json(filter)? {
        q = q.add("filters", f);
    }
    let v = client.post_json("/containers/prune", &q, None)?;
    let mut out = String::new();
    let deleted: Vec<&str> = v["ContainersDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for d in deleted {
            out.push_str(d);
            out.push('\n');
        }
        out.push('\n');
    }
    let space = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(space as f64)
    ));
    Ok((out, space))
}

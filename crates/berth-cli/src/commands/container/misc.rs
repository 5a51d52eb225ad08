//! diff, export, commit, top, port, update, container prune.

use std::io::Write;

use anyhow::{Result, bail};
use berth_api::container::{Resources, RestartPolicy, RestartPolicyMode, UpdateConfig};
use berth_api::network::PortBinding;
use berth_api::query;
use berth_client::{Client, Response};
use clap::Args;

use crate::commands::{Ctx, for_each};
use crate::format::{human_size, tabwrite_min};
use crate::opts::{filters, ram_in_bytes};
use crate::term;

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
    for c in client.container_changes(&a.container)? {
        let kind = match c.kind {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        println!("{kind} {}", c.path);
    }
    Ok(0)
}

/// Copies a response body to `-o FILE` or stdout (refusing a terminal).
pub fn save_stream(mut resp: Response, output: Option<&str>) -> Result<()> {
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
            if term::is_tty(1) {
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
    if a.output.is_none() && term::is_tty(1) {
        return Err(crate::status(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let client = ctx.client()?;
    let resp = client.container_export(&a.container)?;
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
    let q = query::container::Commit {
        container: a.container.clone(),
        repo,
        tag,
        comment: a.message.clone().unwrap_or_default(),
        author: a.author.clone().unwrap_or_default(),
        pause: (!a.pause).then_some(false),
        changes: a.change.clone(),
    };
    println!("{}", client.commit(&q, None)?.id);
    Ok(0)
}

pub fn top(ctx: &Ctx, a: TopArgs) -> Result<i32> {
    let client = ctx.client()?;
    let v = client.container_top(&a.container, &a.ps_options.join(" "))?;
    let mut text = String::new();
    text.push_str(&v.titles.join("\t"));
    text.push('\n');
    for p in &v.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    print!("{}", tabwrite_min(&text, 20));
    Ok(0)
}

pub fn port(ctx: &Ctx, a: PortArgs) -> Result<i32> {
    let client = ctx.client()?;
    let ports = client
        .container_inspect(&a.container, false)?
        .network_settings
        .ports;
    let fmt_binding = |b: &PortBinding| {
        let ip = if b.host_ip.contains(':') {
            format!("[{}]", b.host_ip)
        } else {
            b.host_ip.clone()
        };
        format!("{ip}:{}", b.host_port)
    };
    if let Some(p) = &a.private_port {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        if let Some(bs) = ports
            .get(&key)
            .and_then(Option::as_ref)
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
        for b in ports[k].iter().flatten() {
            println!("{k} -> {}", fmt_binding(b));
        }
    }
    Ok(0)
}

pub fn update(ctx: &Ctx, a: UpdateArgs) -> Result<i32> {
    let client = ctx.client()?;
    let given = a.blkio_weight.is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_shares.is_some()
        || a.cpus.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.memory.is_some()
        || a.memory_reservation.is_some()
        || a.memory_swap.is_some()
        || a.pids_limit.is_some()
        || a.restart.is_some();
    if !given {
        return Err(crate::status(
            1,
            "you must provide one or more flags when using this command",
        ));
    }
    let size = |v: &Option<String>| -> Result<i64> {
        v.as_deref()
            .map(ram_in_bytes)
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let body = UpdateConfig {
        resources: Resources {
            blkio_weight: a.blkio_weight.unwrap_or(0),
            cpu_period: a.cpu_period.unwrap_or(0),
            cpu_quota: a.cpu_quota.unwrap_or(0),
            cpu_shares: a.cpu_shares.unwrap_or(0),
            nano_cpus: a.cpus.map(|v| (v * 1e9) as i64).unwrap_or(0),
            cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: a.cpuset_mems.clone().unwrap_or_default(),
            memory: size(&a.memory)?,
            memory_reservation: size(&a.memory_reservation)?,
            memory_swap: match a.memory_swap.as_deref() {
                Some("-1") => -1,
                v => size(&v.map(str::to_string))?,
            },
            pids_limit: a.pids_limit,
            ..Default::default()
        },
        restart_policy: a.restart.as_ref().map(|r| {
            let (name, count) = r.split_once(':').unwrap_or((r, "0"));
            RestartPolicy {
                name: RestartPolicyMode::parse(name),
                maximum_retry_count: count.parse::<i64>().unwrap_or(0),
            }
        }),
    };
    for_each(&a.containers, |c| {
        for w in client.container_update(c, &body)?.warnings {
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
pub fn prune_containers(client: &Client, filter: &[String]) -> Result<(String, u64)> {
    let q = query::container::Prune {
        filters: filters(filter)?,
    };
    let v = client.container_prune(&q)?;
    let mut out = String::new();
    let deleted = v.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for d in deleted {
            out.push_str(&d);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(v.space_reclaimed as f64)
    ));
    Ok((out, v.space_reclaimed))
}

//! `docker logs`.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::{Body, Query};
use crate::commands::Ctx;
use crate::opts::timestamp;
use crate::stream;

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

pub fn run(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    let client = ctx.client()?;
    let info = client.get_json(&format!("/containers/{}/json", a.container), &Query::new())?;
    let tty = info["Config"]["Tty"] == Value::Bool(true);
    let since = a.since.as_deref().map(timestamp).transpose()?;
    let until = a.until.as_deref().map(timestamp).transpose()?;
    let q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .add_if(since.is_some(), "since", since.unwrap_or_default())
        .add_if(until.is_some(), "until", until.unwrap_or_default())
        .add_if(a.timestamps, "timestamps", "1")
        .add_if(a.follow, "follow", "1")
        .add("tail", a.tail.clone())
        .add_if(a.details, "details", "1");
    let resp = client.request(
        "GET",
        &format!("/containers/{}/logs", a.container),
        &q,
        Body::None,
    )?;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    if tty {
        stream::copy_raw(resp, &mut stdout.lock())?;
    } else {
        stream::demux(resp, &mut stdout.lock(), &mut stderr.lock())?;
    }
    Ok(0)
}

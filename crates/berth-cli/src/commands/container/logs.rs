//! `docker logs`.

use anyhow::Result;
use berth_api::query;
use clap::Args;

use crate::commands::Ctx;
use crate::opts::timestamp;
use crate::term;

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
    let tty = client.container_inspect(&a.container, false)?.config.tty;
    let since = a.since.as_deref().map(timestamp).transpose()?;
    let until = a.until.as_deref().map(timestamp).transpose()?;
    let q = query::container::Logs {
        follow: a.follow,
        stdout: true,
        stderr: true,
        since: since.unwrap_or_default(),
        until: until.unwrap_or_default(),
        timestamps: a.timestamps,
        tail: a.tail.clone(),
        details: a.details,
    };
    let resp = client.container_logs(&a.container, &q)?;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    if tty {
        term::copy_raw(resp, &mut stdout.lock())?;
    } else {
        berth_api::stdcopy::demux(resp, &mut stdout.lock(), &mut stderr.lock())?;
    }
    Ok(0)
}

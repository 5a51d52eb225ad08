//! stop, restart, kill, rm, pause, unpause, rename, wait.

use anyhow::Result;
use clap::Args;

use crate::client::{Body, Query, is_status};
use crate::commands::{Ctx, for_each};

#[derive(Args)]
pub struct IdsArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn stop(ctx: &Ctx, a: StopArgs, action: &str) -> Result<i32> {
    let client = ctx.client()?;
    let q = Query::new()
        .add_if(a.timeout.is_some(), "t", a.timeout.unwrap_or(0).to_string())
        .add_if(
            a.signal.is_some(),
            "signal",
            a.signal.clone().unwrap_or_default(),
        );
    for_each(&a.containers, |c| {
        client.post(&format!("/containers/{c}/{action}"), &q)?;
        println!("{c}");
        Ok(())
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = Query::new().add_if(
        a.signal.is_some(),
        "signal",
        a.signal.clone().unwrap_or_default(),
    );
    for_each(&a.containers, |c| {
        client.post(&format!("/containers/{c}/kill"), &q)?;
        println!("{c}");
        Ok(())
    })
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = Query::new()
        .add_if(a.volumes, "v", "1")
        .add_if(a.link, "link", "1")
        .add_if(a.force, "force", "1");
    let mut failed = false;
    for c in &a.containers {
        let c = c.trim_start_matches('/');
        match client.request("DELETE", &format!("/containers/{c}"), &q, Body::None) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("{e:#}");
                if !(a.force && is_status(&e, 404)) {
                    failed = true;
                }
            }
        }
    }
    if failed {
        Err(crate::status(1, ""))
    } else {
        Ok(0)
    }
}

pub fn simple(ctx: &Ctx, a: IdsArgs, action: &str) -> Result<i32> {
    let client = ctx.client()?;
    for_each(&a.containers, |c| {
        client.post(&format!("/containers/{c}/{action}"), &Query::new())?;
        println!("{c}");
        Ok(())
    })
}

pub fn rename(ctx: &Ctx, a: RenameArgs) -> Result<i32> {
    let client = ctx.client()?;
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(crate::status(
            1,
            "Error: neither old nor new names may be empty",
        ));
    }
    client.post(
        &format!("/containers/{}/rename", a.container),
        &Query::new().add("name", new),
    )?;
    Ok(0)
}

pub fn wait(ctx: &Ctx, a: IdsArgs) -> Result<i32> {
    let client = ctx.client()?;
    for_each(&a.containers, |c| {
        let v = client.post_json(&format!("/containers/{c}/wait"), &Query::new(), None)?;
        if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
            anyhow::bail!("{m}");
        }
        println!("{}", v["StatusCode"].as_i64().unwrap_or(0));
        Ok(())
    })
}

//! stop, restart, kill, rm, pause, unpause, rename, wait.

use anyhow::Result;
use berth_api::container::WaitCondition;
use berth_api::query;
use clap::Args;

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

/// `stop`, or `restart` when `restart`.
pub fn stop(ctx: &Ctx, a: StopArgs, restart: bool) -> Result<i32> {
    let client = ctx.client()?;
    let q = query::container::Stop {
        t: a.timeout,
        signal: a.signal.clone().unwrap_or_default(),
    };
    for_each(&a.containers, |c| {
        if restart {
            client.container_restart(c, &q)?;
        } else {
            client.container_stop(c, &q)?;
        }
        println!("{c}");
        Ok(())
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32> {
    let client = ctx.client()?;
    let signal = a.signal.clone().unwrap_or_default();
    for_each(&a.containers, |c| {
        client.container_kill(c, &signal)?;
        println!("{c}");
        Ok(())
    })
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = query::container::Remove {
        force: a.force,
        volumes: a.volumes,
        link: a.link,
    };
    let mut failed = false;
    for c in &a.containers {
        let c = c.trim_start_matches('/');
        match client.container_remove(c, &q) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("{e}");
                if !(a.force && e.is_not_found()) {
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

pub fn pause(ctx: &Ctx, a: IdsArgs) -> Result<i32> {
    let client = ctx.client()?;
    for_each(&a.containers, |c| {
        client.container_pause(c)?;
        println!("{c}");
        Ok(())
    })
}

pub fn unpause(ctx: &Ctx, a: IdsArgs) -> Result<i32> {
    let client = ctx.client()?;
    for_each(&a.containers, |c| {
        client.container_unpause(c)?;
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
    client.container_rename(&a.container, new)?;
    Ok(0)
}

pub fn wait(ctx: &Ctx, a: IdsArgs) -> Result<i32> {
    let client = ctx.client()?;
    for_each(&a.containers, |c| {
        let resp = client.container_wait(c, WaitCondition::NotRunning)?;
        println!("{}", super::attach::wait_status(resp)?);
        Ok(())
    })
}

//! `docker start`.

use anyhow::Result;
use berth_api::container::WaitCondition;
use clap::Args;

use super::attach::{self, Ended, Target};
use super::run::start_error_code;
use crate::commands::Ctx;
use crate::term;

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(ctx: &Ctx, a: StartArgs) -> Result<i32> {
    let client = ctx.shared_client()?;
    if !(a.attach || a.interactive) {
        let mut failed = Vec::new();
        for c in &a.containers {
            match client.container_start(c) {
                Ok(_) => println!("{c}"),
                Err(e) => {
                    eprintln!("{e}");
                    failed.push(c.clone());
                }
            }
        }
        if failed.is_empty() {
            return Ok(0);
        }
        return Err(crate::status(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        ));
    }
    if a.containers.len() > 1 {
        return Err(crate::status(
            1,
            "you cannot start and attach multiple containers at once",
        ));
    }
    let info = client.container_inspect(&a.containers[0], false)?;
    let id = info.id.clone();
    let tty = info.config.tty;
    let stdin = a.interactive && info.config.open_stdin;
    if tty && stdin && !term::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let keys = term::detach_keys(a.detach_keys.as_deref())?;
    let h = attach::open_attach(&client, &id, stdin, true, true, a.detach_keys.as_deref())?;
    let cond = if info.host_config.auto_remove {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = client.container_wait(&id, cond)?;
    if let Err(e) = client.container_start(&id) {
        let code = start_error_code(&e.to_string());
        return Err(crate::status(
            if code == 125 { 1 } else { code },
            e.to_string(),
        ));
    }
    if tty && term::is_tty(1) {
        attach::resize(&client, Target::Container, &id);
    }
    attach::forward_signals(client.clone(), Target::Container, &id, !tty, tty);
    match attach::stream_io(h, tty, stdin, &keys) {
        Ended::Detached => return Ok(0),
        Ended::Output(r) => r?,
    }
    let w: berth_api::container::WaitResponse = wait.json()?;
    Ok(w.status_code as i32)
}

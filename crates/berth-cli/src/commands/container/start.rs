//! `docker start`.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::attach::{self, DEFAULT_DETACH_KEYS, Ended};
use super::run::start_error_code;
use crate::client::Query;
use crate::commands::Ctx;
use crate::stream;

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
    let client = ctx.client()?;
    if !(a.attach || a.interactive) {
        let mut failed = Vec::new();
        for c in &a.containers {
            match client.post(&format!("/containers/{c}/start"), &Query::new()) {
                Ok(_) => println!("{c}"),
                Err(e) => {
                    eprintln!("{e:#}");
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
    let info = client.get_json(
        &format!("/containers/{}/json", a.containers[0]),
        &Query::new(),
    )?;
    let id = info["Id"].as_str().unwrap_or_default().to_string();
    let tty = info["Config"]["Tty"] == Value::Bool(true);
    let stdin = a.interactive && info["Config"]["OpenStdin"] == Value::Bool(true);
    if tty && stdin && !stream::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let keys_spec = a
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_string());
    let keys = stream::parse_detach_keys(&keys_spec)?;
    let h = attach::open_attach(&client, &id, stdin, true, true, a.detach_keys.as_deref())?;
    let cond = if info["HostConfig"]["AutoRemove"] == Value::Bool(true) {
        "removed"
    } else {
        "next-exit"
    };
    let wait = client.post(
        &format!("/containers/{id}/wait"),
        &Query::new().add("condition", cond),
    )?;
    if let Err(e) = client.post(&format!("/containers/{id}/start"), &Query::new()) {
        let code = start_error_code(&e.to_string());
        return Err(crate::status(
            if code == 125 { 1 } else { code },
            format!("{e:#}"),
        ));
    }
    if tty && stream::is_tty(1) {
        attach::resize(&client, "containers", &id);
    }
    attach::forward_signals(&ctx.host, "containers", &id, !tty, tty);
    match attach::stream_io(h, tty, stdin, &keys) {
        Ended::Detached => return Ok(0),
        Ended::Output(r) => r?,
    }
    let v = wait.json()?;
    Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
}

//! `docker exec`.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use super::attach::{self, DEFAULT_DETACH_KEYS, Ended, Hijacked};
use crate::client::Query;
use crate::commands::Ctx;
use crate::opts::{env_entry, read_env_file};
use crate::stream;

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Container, then command and arguments
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER COMMAND [ARG...]")]
    pub args: Vec<String>,
}

pub fn run(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    let client = ctx.client()?;
    let container = &a.args[0];
    client.get_json(&format!("/containers/{container}/json"), &Query::new())?;
    if a.tty && a.interactive && !a.detach && !stream::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().filter_map(|e| env_entry(e)));
    let (h, w) = if a.tty { stream::term_size() } else { (0, 0) };
    let body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "ConsoleSize": [h, w],
        "AttachStdin": a.interactive && !a.detach,
        "AttachStderr": !a.detach,
        "AttachStdout": !a.detach,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": &a.args[1..],
    });
    let created = client.post_json(
        &format!("/containers/{container}/exec"),
        &Query::new(),
        Some(&body),
    )?;
    let eid = created["Id"].as_str().unwrap_or_default().to_string();
    if eid.is_empty() {
        anyhow::bail!("exec ID empty");
    }
    if a.detach {
        let start = json!({"Detach": true, "Tty": a.tty, "ConsoleSize": [h, w]});
        client.post_json(&format!("/exec/{eid}/start"), &Query::new(), Some(&start))?;
        return Ok(0);
    }
    let keys_spec = a
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_string());
    let keys = stream::parse_detach_keys(&keys_spec)?;
    let start = json!({"Detach": false, "Tty": a.tty, "ConsoleSize": [h, w]});
    let (reader, writer) =
        client.hijack(&format!("/exec/{eid}/start"), &Query::new(), Some(&start))?;
    if a.tty && stream::is_tty(1) {
        attach::resize(&client, "exec", &eid);
    }
    attach::forward_signals(&ctx.host, "exec", &eid, false, a.tty);
    match attach::stream_io(Hijacked { reader, writer }, a.tty, a.interactive, &keys) {
        Ended::Detached => return Err(crate::status(1, "read escape sequence")),
        Ended::Output(r) => r?,
    }
    let info = client.get_json(&format!("/exec/{eid}/json"), &Query::new())?;
    match info["ExitCode"] {
        Value::Number(ref n) => Ok(n.as_i64().unwrap_or(0) as i32),
        _ => Ok(0),
    }
}

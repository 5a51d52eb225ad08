//! `docker exec`.

use anyhow::Result;
use berth_api::exec::{CreateRequest, StartRequest};
use clap::Args;

use super::attach::{self, Ended, Target};
use crate::commands::Ctx;
use crate::opts::{env_entry, read_env_file};
use crate::term;

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
    let client = ctx.shared_client()?;
    let container = &a.args[0];
    client.container_inspect(container, false)?;
    if a.tty && a.interactive && !a.detach && !term::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().filter_map(|e| env_entry(e)));
    let (h, w) = if a.tty { term::term_size() } else { (0, 0) };
    let console_size = Some([h.into(), w.into()]);
    let body = CreateRequest {
        user: a.user.clone().unwrap_or_default(),
        privileged: a.privileged,
        tty: a.tty,
        console_size,
        attach_stdin: a.interactive && !a.detach,
        attach_stderr: !a.detach,
        attach_stdout: !a.detach,
        detach: false,
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        env: Some(env),
        working_dir: a.workdir.clone().unwrap_or_default(),
        cmd: Some(a.args[1..].to_vec()),
    };
    let eid = client.exec_create(container, &body)?.id;
    if eid.is_empty() {
        anyhow::bail!("exec ID empty");
    }
    let start = StartRequest {
        detach: a.detach,
        tty: a.tty,
        console_size,
    };
    if a.detach {
        client.exec_start_detached(&eid, &start)?;
        return Ok(0);
    }
    let keys = term::detach_keys(a.detach_keys.as_deref())?;
    let h = client.exec_start(&eid, &start)?;
    if a.tty && term::is_tty(1) {
        attach::resize(&client, Target::Exec, &eid);
    }
    attach::forward_signals(client.clone(), Target::Exec, &eid, false, a.tty);
    match attach::stream_io(h, a.tty, a.interactive, &keys) {
        Ended::Detached => return Err(crate::status(1, "read escape sequence")),
        Ended::Output(r) => r?,
    }
    Ok(client.exec_inspect(&eid)?.exit_code.unwrap_or(0) as i32)
}

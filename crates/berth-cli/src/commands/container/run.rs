//! `docker create` and `docker run`.

use anyhow::Result;
use berth_api::container::WaitCondition;
use berth_api::query;
use berth_api::version::ApiVersion;
use berth_client::{Client, Response};
use clap::Args;

use super::attach::{self, Ended, Target};
use super::config::{ContainerOpts, build_body};
use crate::commands::Ctx;
use crate::commands::image::ship::pull_for_create;
use crate::jsonstream;
use crate::{reference, term};

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Image, then command and arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Image, then command and arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

/// Shows a JSON message stream (load, import) on stdout or stderr as the
/// docker CLI does; fails on an error message.
pub fn print_json_stream(resp: &mut Response, to_stderr: bool) -> Result<()> {
    if to_stderr {
        let mut err = std::io::stderr().lock();
        jsonstream::display(resp, &mut jsonstream::Target::std(&mut err, 2), |_| {})
    } else {
        let mut out = std::io::stdout().lock();
        jsonstream::display(resp, &mut jsonstream::Target::std(&mut out, 1), |_| {})
    }
}

/// docker's `--pull` values.
pub fn validate_pull(pull: &str, cmd: &str) -> Result<()> {
    match pull {
        "always" | "missing" | "never" | "" => Ok(()),
        _ => Err(crate::status(
            125,
            format!(
                "docker: invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'docker {cmd} --help' for more information"
            ),
        )),
    }
}

/// Creates the container (pulling on "not found" as docker does);
/// returns its ID.
pub fn create_container(
    ctx: &Ctx,
    client: &Client,
    o: &ContainerOpts,
    args: &[String],
    detach: bool,
) -> Result<String> {
    let image = &args[0];
    let body = build_body(o, image, &args[1..], detach)?;
    let q = query::container::Create {
        name: o.name.clone(),
        platform: o.platform.clone().unwrap_or_default(),
    };
    // Only a name can be pulled (not an image ID or digest).
    let named = reference::parse_any(image)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map(|r| r.with_default_tag());
    let pull = |named: &reference::Reference| {
        pull_for_create(
            client,
            ctx.config_dir.as_deref(),
            &named.familiar(),
            o.platform.as_deref(),
            o.quiet,
        )
    };
    if o.pull == "always"
        && let Some(n) = &named
    {
        pull(n)?;
    }
    let resp = match client.container_create(&q, &body) {
        Ok(v) => v,
        Err(e)
            if e.is_not_found()
                && named.is_some()
                && (o.pull == "missing" || o.pull.is_empty()) =>
        {
            let n = named.as_ref().expect("named");
            if !o.quiet {
                eprintln!("Unable to find image '{}' locally", n.familiar());
            }
            pull(n)?;
            client.container_create(&q, &body)?
        }
        Err(e) => return Err(e.into()),
    };
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(resp.id)
}

pub fn create(ctx: &Ctx, a: CreateArgs) -> Result<i32> {
    validate_pull(&a.opts.pull, "create")?;
    let client = ctx.client()?;
    let id = create_container(ctx, &client, &a.opts, &a.args, false)?;
    println!("{id}");
    Ok(0)
}

/// docker's run error: "docker: <msg>" + help hint, exit code by message.
fn run_error(e: anyhow::Error, code: i32) -> anyhow::Error {
    crate::status(
        code,
        format!("docker: {e:#}\n\nRun 'docker run --help' for more information"),
    )
}

/// Exit code docker derives from a start error's text.
pub fn start_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

pub fn run(ctx: &Ctx, a: RunArgs) -> Result<i32> {
    let o = &a.opts;
    validate_pull(&o.pull, "run")?;
    let client = ctx.shared_client().map_err(|e| run_error(e, 125))?;
    if a.detach && o.rm && !client.version_at_least(ApiVersion(1, 25)) {
        return Err(run_error(
            anyhow::anyhow!("--rm and -d are incompatible"),
            125,
        ));
    }
    let attach_stdin = !a.detach
        && (o.interactive && o.attach.is_empty()
            || o.attach.iter().any(|s| s.eq_ignore_ascii_case("stdin")));
    if o.tty && attach_stdin && !term::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let keys = term::detach_keys(o.detach_keys.as_deref()).map_err(|e| run_error(e, 125))?;
    let id = create_container(ctx, &client, o, &a.args, a.detach).map_err(|e| run_error(e, 125))?;

    if a.detach {
        client.container_start(&id).map_err(|e| {
            let code = start_error_code(&e.to_string());
            run_error(e.into(), code)
        })?;
        println!("{id}");
        return Ok(0);
    }

    let (out, err) = if o.attach.is_empty() {
        (true, true)
    } else {
        let has = |s: &str| o.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
        (has("stdout"), has("stderr"))
    };
    let hijack = if attach_stdin || out || err {
        Some(
            attach::open_attach(
                &client,
                &id,
                attach_stdin,
                out,
                err,
                o.detach_keys.as_deref(),
            )
            .map_err(|e| run_error(e, 125))?,
        )
    } else {
        None
    };
    let cond = if o.rm {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = client
        .container_wait(&id, cond)
        .map_err(|e| run_error(e.into(), 125))?;
    if let Err(e) = client.container_start(&id) {
        drop(hijack);
        if o.rm {
            let _ = wait.text();
        }
        let code = start_error_code(&e.to_string());
        return Err(run_error(e.into(), code));
    }
    if o.tty && term::is_tty(1) {
        attach::resize(&client, Target::Container, &id);
    }
    attach::forward_signals(client.clone(), Target::Container, &id, a.sig_proxy, o.tty);
    if let Some(h) = hijack {
        match attach::stream_io(h, o.tty, attach_stdin, &keys) {
            Ended::Detached => return Ok(0),
            Ended::Output(r) => r.map_err(|e| run_error(e, 125))?,
        }
    }
    attach::wait_status(wait).map_err(|e| run_error(e, 125))
}

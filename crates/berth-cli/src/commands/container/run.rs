//! `docker create` and `docker run`.

use anyhow::Result;
use berth_api::container::WaitCondition;
use berth_api::jsonmessage::JsonMessage;
use berth_api::query;
use berth_api::version::ApiVersion;
use berth_client::{Client, Response};
use clap::Args;

use super::attach::{self, Ended, Target};
use super::config::{ContainerOpts, build_body};
use crate::commands::Ctx;
use crate::opts::{normalize_name, split_ref, with_latest};
use crate::term;

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

/// Prints a pull progress stream (to stderr); fails on an error message.
pub fn print_json_stream(resp: &mut Response, to_stderr: bool) -> Result<()> {
    while let Some(line) = resp.next_line()? {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(m) = serde_json::from_str::<JsonMessage>(line) else {
            println!("{line}");
            continue;
        };
        if let Some(e) = m.error_message() {
            return Err(anyhow::anyhow!("{e}"));
        }
        let text = if let Some(s) = &m.stream {
            s.clone()
        } else if let Some(s) = &m.status {
            let mut t = match m.id.as_deref() {
                Some(id) if !id.is_empty() => format!("{id}: {s}"),
                _ => s.clone(),
            };
            if let Some(p) = &m.progress {
                t.push(' ');
                t.push_str(p);
            }
            t.push('\n');
            t
        } else {
            continue;
        };
        if to_stderr {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    Ok(())
}

fn pull(client: &Client, image: &str, platform: Option<&str>) -> Result<()> {
    let (repo, tag) = split_ref(image);
    let tag = if tag.is_empty() && !image.contains('@') {
        "latest".to_string()
    } else {
        tag
    };
    let tag = match image.split_once('@') {
        Some((_, d)) => d.to_string(),
        None => tag,
    };
    let q = query::image::Create {
        from_image: normalize_name(&repo),
        tag,
        platform: platform.unwrap_or_default().to_string(),
        ..Default::default()
    };
    let mut resp = client.image_pull(&q, None)?;
    print_json_stream(&mut resp, true)
}

/// Creates the container (pulling on "No such image" as docker does);
/// returns its ID.
pub fn create_container(
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
    if o.pull == "always" {
        pull(client, image, o.platform.as_deref())?;
    }
    let resp = match client.container_create(&q, &body) {
        Ok(v) => v,
        Err(e) if e.status() == Some(404) && e.to_string().contains("No such image") => {
            if o.pull == "never" {
                return Err(e.into());
            }
            eprintln!("Unable to find image '{}' locally", with_latest(image));
            pull(client, image, o.platform.as_deref())?;
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
    let client = ctx.client()?;
    let id = create_container(&client, &a.opts, &a.args, false)?;
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
    let id = create_container(&client, o, &a.args, a.detach).map_err(|e| run_error(e, 125))?;

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

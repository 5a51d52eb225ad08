//! `compose exec` and `compose run`: the service's container (or a new
//! one-off one), then the berth CLI's own `exec` / `start -a -i`, so that
//! the tty, stdin, signals and exit codes behave exactly as theirs.

use anyhow::Result;
use berth_compose::build::BuildPolicy;
use berth_compose::engine::{RunOptions, number_of};
use clap::{ArgAction, Args};

use super::{Globals, client, compose, fail, failed, load_project, with_services};
use crate::commands::Ctx;
use crate::commands::container::{exec, start};
use crate::term;

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", hide = true)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (the default when stdin is a terminal)
    #[arg(short = 't', long, hide = true)]
    pub tty: bool,
    /// Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY when stdin is a terminal.
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run the command as this user
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Service, then command and arguments
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "SERVICE COMMAND [ARGS...]")]
    pub args: Vec<String>,
}

pub fn exec(ctx: &Ctx, g: &Globals, a: ExecArgs) -> Result<i32> {
    let service = a.args[0].clone();
    let client = client(ctx)?;
    let project = super::project_or_labels(g, &client)?;
    if !project.services.contains_key(&service) && !project.disabled.contains_key(&service) {
        return Err(fail(format!("no such service: {service}")));
    }
    let c = compose(&client, project);
    let running = c.containers(false, Some(&service), false).map_err(failed)?;
    if running.is_empty() {
        return Err(fail(format!("service {service:?} is not running")));
    }
    let target = running
        .iter()
        .find(|x| number_of(x) == a.index)
        .ok_or_else(|| {
            fail(format!(
                "service {service:?} is not running container #{}",
                a.index
            ))
        })?;
    let tty = !a.no_tty && (a.tty || term::is_tty(0));
    let mut args = vec![target.id.clone()];
    args.extend(a.args[1..].iter().cloned());
    exec::run(
        ctx,
        exec::ExecArgs {
            detach: a.detach,
            detach_keys: None,
            env: a.env,
            env_file: Vec::new(),
            interactive: a.interactive,
            privileged: a.privileged,
            tty,
            user: a.user,
            workdir: a.workdir,
            args,
        },
    )
}

#[derive(Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub env: Vec<String>,
    /// Override the entrypoint of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long = "service-ports")]
    pub service_ports: bool,
    /// Run as specified username or uid
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, hide = true)]
    pub tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub interactive: bool,
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// Service, then command and arguments
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "SERVICE [COMMAND] [ARGS...]")]
    pub args: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &Globals, a: RunArgs) -> Result<i32> {
    let service = a.args[0].clone();
    let project = with_services(load_project(g)?, std::slice::from_ref(&service))?;
    let client = client(ctx)?;
    let c = compose(&client, project);
    let entrypoint = match &a.entrypoint {
        Some(e) => Some(
            shell_words::split(e)
                .map_err(|err| fail(format!("invalid entrypoint {e:?}: {err}")))?,
        ),
        None => None,
    };
    let tty = !a.detach && !a.no_tty && (a.tty || term::is_tty(0));
    let interactive = a.interactive && !a.detach;
    let id = c
        .create_oneoff(
            &service,
            &RunOptions {
                name: a.name.clone(),
                command: (a.args.len() > 1).then(|| a.args[1..].to_vec()),
                entrypoint,
                env: a.env.clone(),
                rm: a.rm,
                no_deps: a.no_deps,
                service_ports: a.service_ports,
                user: a.user.clone(),
                workdir: a.workdir.clone(),
                tty,
                interactive,
                build: if a.build {
                    BuildPolicy::Always
                } else {
                    BuildPolicy::Missing
                },
            },
        )
        .map_err(failed)?;
    if a.detach {
        client.container_start(&id).map_err(fail)?;
        println!("{id}");
        return Ok(0);
    }
    let r = start::run(
        ctx,
        start::StartArgs {
            attach: true,
            interactive,
            detach_keys: None,
            containers: vec![id.clone()],
        },
    );
    if r.is_err() && a.rm {
        // never started: AutoRemove has nothing to do, compose removes it
        let _ = client.container_remove(
            &id,
            &berth_api::query::container::Remove {
                force: true,
                volumes: true,
                link: false,
            },
        );
    }
    r
}

//! `berth compose`: docker compose v2's command line over berth-compose
//! (the loader and the engine that drives the daemon).
//!
//! Errors are printed as docker compose prints them — the message alone,
//! `Error response from daemon: …` for the daemon's — and exit 1.

mod lifecycle;
mod logs;
mod ps;
mod run;
mod up;

use std::path::PathBuf;

use anyhow::Result;
use berth_api::container::Summary;
use berth_client::Client;
use berth_compose::engine::{self, Compose, label_of, name_of};
use berth_compose::{LoadOptions, Project, labels};
use clap::{Args, Subcommand};

use crate::commands::Ctx;
use crate::term;

#[derive(Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct ComposeArgs {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub cmd: ComposeCmd,
}

/// docker compose's global flags.
#[derive(Args, Clone, Default)]
pub struct Globals {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "stringArray")]
    pub file: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "string")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the, first specified, Compose file)
    #[arg(long = "project-directory", value_name = "string")]
    pub project_directory: Option<PathBuf>,
    /// Specify an alternate environment file
    #[arg(long = "env-file", value_name = "stringArray")]
    pub env_file: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long = "profile", value_name = "stringArray")]
    pub profile: Vec<String>,
    /// Control when to print ANSI control characters ("never"|"always"|"auto")
    #[arg(long, default_value = "auto", value_parser = ["never", "always", "auto"])]
    pub ansi: String,
    /// Set type of progress output (auto, tty, plain, json, quiet)
    #[arg(long, default_value = "auto", value_parser = ["auto", "tty", "plain", "json", "quiet"])]
    pub progress: String,
    /// Control max parallelism, -1 for unlimited
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub parallel: i64,
    /// Run compose in backward compatibility mode
    #[arg(long, hide = true)]
    pub compatibility: bool,
}

#[derive(Subcommand)]
pub enum ComposeCmd {
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(lifecycle::DownArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Parse, resolve and render compose file in canonical format
    #[command(visible_alias = "convert")]
    Config(lifecycle::ConfigArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// Start services
    Start(lifecycle::ServicesArgs),
    /// Stop services
    Stop(lifecycle::StopArgs),
    /// Restart service containers
    Restart(lifecycle::StopArgs),
    /// Force stop service containers
    Kill(lifecycle::KillArgs),
    /// Removes stopped service containers
    Rm(lifecycle::RmArgs),
    /// Pause services
    Pause(lifecycle::ServicesArgs),
    /// Unpause services
    Unpause(lifecycle::ServicesArgs),
    /// Display the running processes
    Top(lifecycle::ServicesArgs),
    /// List images used by the created containers
    Images(ps::ImagesArgs),
    /// Print the public port for a port binding
    Port(ps::PortArgs),
    /// Pull service images
    Pull(lifecycle::PullArgs),
    /// Build or rebuild services
    Build(lifecycle::BuildArgs),
    /// Push service images
    Push(lifecycle::PushArgs),
    /// List running compose projects
    Ls(ps::LsArgs),
    /// Show the Docker Compose version information
    Version(lifecycle::VersionArgs),
}

pub fn run(ctx: &Ctx, a: ComposeArgs) -> Result<i32> {
    let g = &a.globals;
    if let Some(n) = &g.project_name
        && n.is_empty()
    {
        return Err(fail("project name must not be empty"));
    }
    match a.cmd {
        ComposeCmd::Up(u) => up::up(ctx, g, u),
        ComposeCmd::Create(c) => up::create(ctx, g, c),
        ComposeCmd::Down(d) => lifecycle::down(ctx, g, d),
        ComposeCmd::Ps(p) => ps::ps(ctx, g, p),
        ComposeCmd::Logs(l) => logs::logs(ctx, g, l),
        ComposeCmd::Exec(e) => run::exec(ctx, g, e),
        ComposeCmd::Run(r) => run::run(ctx, g, r),
        ComposeCmd::Config(c) => lifecycle::config(g, c),
        ComposeCmd::Start(s) => {
            lifecycle::each(ctx, g, &s.services, engine::Action::Start, None, "")
        }
        ComposeCmd::Stop(s) => {
            lifecycle::each(ctx, g, &s.services, engine::Action::Stop, s.timeout, "")
        }
        ComposeCmd::Restart(s) => {
            lifecycle::each(ctx, g, &s.services, engine::Action::Restart, s.timeout, "")
        }
        ComposeCmd::Kill(k) => lifecycle::kill(ctx, g, k),
        ComposeCmd::Rm(r) => lifecycle::rm(ctx, g, r),
        ComposeCmd::Pause(s) => {
            lifecycle::each(ctx, g, &s.services, engine::Action::Pause, None, "")
        }
        ComposeCmd::Unpause(s) => {
            lifecycle::each(ctx, g, &s.services, engine::Action::Unpause, None, "")
        }
        ComposeCmd::Top(s) => ps::top(ctx, g, s),
        ComposeCmd::Images(i) => ps::images(ctx, g, i),
        ComposeCmd::Port(p) => ps::port(ctx, g, p),
        ComposeCmd::Pull(p) => lifecycle::pull(ctx, g, p),
        ComposeCmd::Build(b) => lifecycle::build(ctx, g, b),
        ComposeCmd::Push(p) => lifecycle::push(ctx, g, p),
        ComposeCmd::Ls(l) => ps::ls(ctx, l),
        ComposeCmd::Version(v) => lifecycle::version(v),
    }
}

/// A compose failure: the message on stderr, exit 1.
pub fn fail(msg: impl std::fmt::Display) -> anyhow::Error {
    crate::status(1, msg.to_string())
}

/// The loader's options from the global flags.
fn load_options(g: &Globals) -> LoadOptions {
    let mut o = LoadOptions::from_process_env();
    o.files = g.file.clone();
    o.project_name = g.project_name.clone();
    o.project_dir = g.project_directory.clone();
    o.env_files = g.env_file.clone();
    o.profiles = g.profile.clone();
    o
}

/// docker compose's `WARN[0000]` lines.
fn print_warnings(p: &Project) {
    for w in &p.warnings {
        for line in w.lines() {
            eprintln!("WARN[0000] {line}");
        }
    }
}

/// Loads the project (warnings printed, errors as compose's: exit 1).
pub fn load_project(g: &Globals) -> Result<Project> {
    match berth_compose::load(&load_options(g)) {
        Ok(p) => {
            print_warnings(&p);
            Ok(p)
        }
        Err(e) => Err(fail(e)),
    }
}

/// The project for commands that also work on a stack without its files
/// (`-p name ps|logs|down|stop…`, as compose does): loaded when a compose
/// file is found, else rebuilt from the daemon's objects' compose labels.
pub fn project_or_labels(g: &Globals, client: &Client) -> Result<Project> {
    match berth_compose::load(&load_options(g)) {
        Ok(p) => {
            print_warnings(&p);
            Ok(p)
        }
        Err(berth_compose::Error::NoConfigFile) => {
            let name = g
                .project_name
                .clone()
                .or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| fail(berth_compose::Error::NoConfigFile))?;
            from_labels(client, &name)
        }
        Err(e) => Err(fail(e)),
    }
}

/// A project as the daemon knows it: services from its containers' labels,
/// networks and volumes from theirs.
fn from_labels(client: &Client, name: &str) -> Result<Project> {
    use berth_api::filters::Filters;
    use berth_api::query;
    let filter = Filters::new().with("label", &format!("{}={name}", labels::PROJECT));
    let mut p = Project {
        name: name.to_string(),
        working_dir: std::env::current_dir().unwrap_or_default(),
        ..Default::default()
    };
    let cs = client
        .container_list(&query::container::List {
            all: true,
            filters: filter.clone(),
            ..Default::default()
        })
        .map_err(fail)?;
    for c in &cs {
        let svc = label_of(c, labels::SERVICE);
        if svc.is_empty() || p.services.contains_key(svc) {
            continue;
        }
        p.services.insert(
            svc.to_string(),
            berth_compose::Service {
                name: svc.to_string(),
                image: Some(c.image.clone()),
                scale: 1,
                attach: true,
                ..Default::default()
            },
        );
    }
    for n in client
        .network_list(&query::network::List {
            filters: filter.clone(),
        })
        .map_err(fail)?
    {
        let key = n
            .labels
            .get(labels::NETWORK)
            .cloned()
            .unwrap_or_else(|| n.name.clone());
        p.networks.insert(
            key,
            berth_compose::Network {
                name: n.name.clone(),
                ..Default::default()
            },
        );
    }
    for v in client
        .volume_list(&query::volume::List { filters: filter })
        .map_err(fail)?
        .volumes
    {
        let key = v
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::VOLUME).cloned())
            .unwrap_or_else(|| v.name.clone());
        p.volumes.insert(
            key,
            berth_compose::Volume {
                name: v.name.clone(),
                ..Default::default()
            },
        );
    }
    Ok(p)
}

/// The project with the services named on the command line enabled
/// (their profiles activated, as compose does); `no such service: x`.
pub fn with_services(p: Project, services: &[String]) -> Result<Project> {
    if services.iter().all(|s| p.services.contains_key(s)) {
        return Ok(p);
    }
    p.with_services_enabled(services).map_err(fail)
}

/// The client, its errors as compose prints them.
pub fn client(ctx: &Ctx) -> Result<Client> {
    ctx.client().map_err(|e| fail(format!("{e:#}")))
}

/// A compose failure as a CLI error.
pub fn failed(e: engine::Failure) -> anyhow::Error {
    fail(e)
}

/// The container's name as compose's logs and attach show it: without the
/// project prefix (`web-1`), unless it has a name of its own.
pub fn short_name(c: &Summary) -> String {
    let name = name_of(c);
    let project = label_of(c, labels::PROJECT);
    let default = format!(
        "{project}-{}-{}",
        label_of(c, labels::SERVICE),
        label_of(c, labels::CONTAINER_NUMBER)
    );
    if !project.is_empty() && name == default {
        name[project.len() + 1..].to_string()
    } else {
        name
    }
}

/// Whether to colour output: `--ansi`, else a terminal on stdout.
pub fn colors(g: &Globals) -> bool {
    match g.ansi.as_str() {
        "always" => true,
        "never" => false,
        _ => term::is_tty(1) && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The engine on a loaded project.
pub fn compose<'a>(client: &'a Client, p: Project) -> Compose<'a> {
    Compose::new(client, p)
}

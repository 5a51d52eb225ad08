//! The command tree (docker's names and flags) and dispatch.

pub mod build;
pub mod compose;
pub mod container;
pub mod image;
pub mod network;
pub mod registry;
pub mod system;
pub mod volume;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use berth_client::{Client, Host, TlsOptions};
use clap::{ArgAction, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level", hide = true)]
    pub log_level: Option<String>,
    /// Location of client config files
    #[arg(long = "config", hide = true)]
    pub config: Option<String>,
    /// Name of the context to use
    #[arg(short = 'c', long = "context", hide = true)]
    pub context: Option<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(
        long = "tls",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set,
        default_value_t = false
    )]
    pub tls: bool,
    /// Trust certs signed only by this CA (default "~/.docker/ca.pem")
    #[arg(long = "tlscacert", value_name = "string")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default "~/.docker/cert.pem")
    #[arg(long = "tlscert", value_name = "string")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default "~/.docker/key.pem")
    #[arg(long = "tlskey", value_name = "string")]
    pub tlskey: Option<PathBuf>,
    /// Use TLS and verify the remote
    #[arg(
        long = "tlsverify",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set,
        default_value_t = false
    )]
    pub tlsverify: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Create and run a new container from an image
    Run(container::run::RunArgs),
    /// Execute a command in a running container
    Exec(container::exec::ExecArgs),
    /// List containers
    Ps(container::ps::PsArgs),
    /// List images
    Images(image::images::ImagesArgs),
    /// Show the Docker version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(container::attach::AttachArgs),
    /// Create a new image from a container's changes
    Commit(container::misc::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container::cp::CpArgs),
    /// Create a new container
    Create(container::run::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container::misc::IdArg),
    /// Get real time events from the server
    Events(system::EventsArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::misc::ExportArgs),
    /// Show the history of an image
    History(image::misc::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::misc::ImportArgs),
    /// Return low-level information on Docker objects
    Inspect(system::InspectArgs),
    /// Kill one or more running containers
    Kill(container::lifecycle::KillArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::misc::LoadArgs),
    /// Fetch the logs of a container
    Logs(container::logs::LogsArgs),
    /// Pause all processes within one or more containers
    Pause(container::lifecycle::IdsArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::misc::PortArgs),
    /// Rename a container
    Rename(container::lifecycle::RenameArgs),
    /// Restart one or more containers
    Restart(container::lifecycle::StopArgs),
    /// Remove one or more containers
    Rm(container::lifecycle::RmArgs),
    /// Remove one or more images
    Rmi(image::misc::RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::misc::SaveArgs),
    /// Start one or more stopped containers
    Start(container::start::StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(container::stats::StatsArgs),
    /// Stop one or more running containers
    Stop(container::lifecycle::StopArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::misc::TagArgs),
    /// Display the running processes of a container
    Top(container::misc::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::lifecycle::IdsArgs),
    /// Update configuration of one or more containers
    Update(container::misc::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::lifecycle::IdsArgs),
    /// Download an image from a registry
    Pull(image::ship::PullArgs),
    /// Upload an image to a registry
    Push(image::ship::PushArgs),
    /// Authenticate to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Search Docker Hub for images
    Search(registry::SearchArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCmd),
    /// Docker Compose
    Compose(compose::ComposeArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Manage Docker
    #[command(subcommand)]
    System(SystemCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
}

#[derive(Subcommand)]
pub enum ContainerCmd {
    Attach(container::attach::AttachArgs),
    Commit(container::misc::CommitArgs),
    Cp(container::cp::CpArgs),
    Create(container::run::CreateArgs),
    Diff(container::misc::IdArg),
    Exec(container::exec::ExecArgs),
    Export(container::misc::ExportArgs),
    Inspect(container::inspect::ContainerInspectArgs),
    Kill(container::lifecycle::KillArgs),
    Logs(container::logs::LogsArgs),
    #[command(visible_aliases = ["ps", "list"])]
    Ls(container::ps::PsArgs),
    Pause(container::lifecycle::IdsArgs),
    Port(container::misc::PortArgs),
    Prune(container::misc::PruneArgs),
    Rename(container::lifecycle::RenameArgs),
    Restart(container::lifecycle::StopArgs),
    #[command(visible_alias = "remove")]
    Rm(container::lifecycle::RmArgs),
    Run(container::run::RunArgs),
    Start(container::start::StartArgs),
    Stats(container::stats::StatsArgs),
    Stop(container::lifecycle::StopArgs),
    Top(container::misc::TopArgs),
    Unpause(container::lifecycle::IdsArgs),
    Update(container::misc::UpdateArgs),
    Wait(container::lifecycle::IdsArgs),
}

#[derive(Subcommand)]
pub enum ImageCmd {
    Build(Box<build::BuildArgs>),
    History(image::misc::HistoryArgs),
    Import(image::misc::ImportArgs),
    Inspect(image::misc::ImageInspectArgs),
    Load(image::misc::LoadArgs),
    #[command(visible_alias = "list")]
    Ls(image::images::ImagesArgs),
    Prune(image::misc::ImagePruneArgs),
    Pull(image::ship::PullArgs),
    Push(image::ship::PushArgs),
    #[command(visible_alias = "remove")]
    Rm(image::misc::RmiArgs),
    Save(image::misc::SaveArgs),
    Tag(image::misc::TagArgs),
}

#[derive(Subcommand)]
pub enum BuilderCmd {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Remove build cache
    Prune(build::BuilderPruneArgs),
}

#[derive(Subcommand)]
pub enum SystemCmd {
    /// Find (and with --repair remove) what a crash or a full disk left:
    /// dangling snapshots, orphaned mounts, cgroups and veths, half-written
    /// blobs (berth's, beyond docker)
    Check(system::CheckArgs),
    Df(system::DfArgs),
    Events(system::EventsArgs),
    Info(system::InfoArgs),
    Prune(system::PruneArgs),
}

/// What every command gets: where the daemon is, how to talk TLS to it,
/// and a client connected on demand.
pub struct Ctx {
    /// `-H`, else `BERTH_HOST`, else `DOCKER_HOST`, else berthd's socket.
    pub host: String,
    pub tls: TlsOptions,
    /// `--config`: where `config.json` is (else `DOCKER_CONFIG`, `~/.docker`).
    pub config_dir: Option<String>,
}

impl Ctx {
    /// Connects (and negotiates the API version with `/_ping`).
    pub fn client(&self) -> Result<Client> {
        let host = Host::parse(&self.host, self.tls.enabled())?;
        Ok(Client::new(host, &self.tls)?)
    }

    /// A client that threads can share (signal forwarding, stats).
    pub fn shared_client(&self) -> Result<Arc<Client>> {
        self.client().map(Arc::new)
    }
}

fn env_nonempty(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

pub fn dispatch(cli: Cli) -> Result<i32> {
    let ctx = Ctx {
        host: cli
            .host
            .clone()
            .or_else(|| env_nonempty("BERTH_HOST"))
            .or_else(|| env_nonempty("DOCKER_HOST"))
            .unwrap_or_else(|| berth_client::host::DEFAULT_HOST.to_string()),
        tls: TlsOptions::from_flags(
            cli.tls,
            cli.tlsverify,
            cli.tlscacert.clone(),
            cli.tlscert.clone(),
            cli.tlskey.clone(),
        ),
        config_dir: cli.config.clone(),
    };
    use container as c;
    use image as i;
    match cli.cmd {
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => c::run::run(&ctx, a),
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => c::run::create(&ctx, a),
        Cmd::Exec(a) | Cmd::Container(ContainerCmd::Exec(a)) => c::exec::run(&ctx, a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => c::ps::run(&ctx, a),
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => i::images::run(&ctx, a),
        Cmd::Build(a) => build::run(&ctx, a),
        Cmd::Builder(BuilderCmd::Build(a)) | Cmd::Image(ImageCmd::Build(a)) => build::run(&ctx, *a),
        Cmd::Builder(BuilderCmd::Prune(a)) => build::prune(&ctx, a),
        Cmd::Version(a) => system::version(&ctx, a),
        Cmd::Info(a) | Cmd::System(SystemCmd::Info(a)) => system::info(&ctx, a),
        Cmd::Attach(a) | Cmd::Container(ContainerCmd::Attach(a)) => c::attach::run(&ctx, a),
        Cmd::Commit(a) | Cmd::Container(ContainerCmd::Commit(a)) => c::misc::commit(&ctx, a),
        Cmd::Cp(a) | Cmd::Container(ContainerCmd::Cp(a)) => c::cp::run(&ctx, a),
        Cmd::Diff(a) | Cmd::Container(ContainerCmd::Diff(a)) => c::misc::diff(&ctx, a),
        Cmd::Events(a) | Cmd::System(SystemCmd::Events(a)) => system::events(&ctx, a),
        Cmd::Export(a) | Cmd::Container(ContainerCmd::Export(a)) => c::misc::export(&ctx, a),
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => i::misc::history(&ctx, a),
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => i::misc::import(&ctx, a),
        Cmd::Inspect(a) => system::inspect(&ctx, a),
        Cmd::Container(ContainerCmd::Inspect(a)) => c::inspect::run(&ctx, a),
        Cmd::Image(ImageCmd::Inspect(a)) => i::misc::inspect(&ctx, a),
        Cmd::Kill(a) | Cmd::Container(ContainerCmd::Kill(a)) => c::lifecycle::kill(&ctx, a),
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => i::misc::load(&ctx, a),
        Cmd::Logs(a) | Cmd::Container(ContainerCmd::Logs(a)) => c::logs::run(&ctx, a),
        Cmd::Pause(a) | Cmd::Container(ContainerCmd::Pause(a)) => c::lifecycle::pause(&ctx, a),
        Cmd::Unpause(a) | Cmd::Container(ContainerCmd::Unpause(a)) => {
            c::lifecycle::unpause(&ctx, a)
        }
        Cmd::Port(a) | Cmd::Container(ContainerCmd::Port(a)) => c::misc::port(&ctx, a),
        Cmd::Container(ContainerCmd::Prune(a)) => c::misc::prune(&ctx, a),
        Cmd::Rename(a) | Cmd::Container(ContainerCmd::Rename(a)) => c::lifecycle::rename(&ctx, a),
        Cmd::Restart(a) | Cmd::Container(ContainerCmd::Restart(a)) => {
            c::lifecycle::stop(&ctx, a, true)
        }
        Cmd::Stop(a) | Cmd::Container(ContainerCmd::Stop(a)) => c::lifecycle::stop(&ctx, a, false),
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => c::lifecycle::rm(&ctx, a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => i::misc::rmi(&ctx, a),
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => i::misc::save(&ctx, a),
        Cmd::Start(a) | Cmd::Container(ContainerCmd::Start(a)) => c::start::run(&ctx, a),
        Cmd::Stats(a) | Cmd::Container(ContainerCmd::Stats(a)) => c::stats::run(&ctx, a),
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => i::misc::tag(&ctx, a),
        Cmd::Top(a) | Cmd::Container(ContainerCmd::Top(a)) => c::misc::top(&ctx, a),
        Cmd::Update(a) | Cmd::Container(ContainerCmd::Update(a)) => c::misc::update(&ctx, a),
        Cmd::Wait(a) | Cmd::Container(ContainerCmd::Wait(a)) => c::lifecycle::wait(&ctx, a),
        Cmd::Image(ImageCmd::Prune(a)) => i::misc::prune(&ctx, a),
        Cmd::System(SystemCmd::Df(a)) => system::df(&ctx, a),
        Cmd::System(SystemCmd::Check(a)) => system::check(&ctx, a),
        Cmd::System(SystemCmd::Prune(a)) => system::prune(&ctx, a),
        Cmd::Compose(a) => compose::run(&ctx, a),
        Cmd::Network(n) => network::dispatch(&ctx, n),
        Cmd::Volume(v) => volume::dispatch(&ctx, v),
        Cmd::Pull(a) | Cmd::Image(ImageCmd::Pull(a)) => i::ship::pull(&ctx, a),
        Cmd::Push(a) | Cmd::Image(ImageCmd::Push(a)) => i::ship::push(&ctx, a),
        Cmd::Login(a) => registry::login(&ctx, a),
        Cmd::Logout(a) => registry::logout(&ctx, a),
        Cmd::Search(a) => registry::search(&ctx, a),
    }
}

/// Runs `f` for each argument, printing errors on stderr as docker does;
/// fails (exit 1, no extra message) if any failed.
pub fn for_each(ids: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for id in ids {
        if let Err(e) = f(id) {
            eprintln!("{e:#}");
            failed = true;
        }
    }
    if failed {
        Err(crate::status(1, ""))
    } else {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        super::Cli::command().debug_assert();
    }
}

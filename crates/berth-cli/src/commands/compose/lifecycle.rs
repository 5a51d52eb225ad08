//! `compose down`, `config`, `start`/`stop`/`restart`/`kill`/`pause`/
//! `unpause`/`rm`, `pull` and `version`.

use std::io::{Read, Write};

use anyhow::Result;
use berth_api::container::Status;
use berth_api::query;
use berth_compose::engine::{Action, DownOptions, name_of, split_tag};
use clap::Args;

use super::{
    Globals, client, compose, fail, failed, load_project, project_or_labels, with_services,
};
use crate::commands::Ctx;
use crate::term;

#[derive(Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long, allow_hyphen_values = true)]
    pub timeout: Option<i64>,
}

pub fn down(ctx: &Ctx, g: &Globals, a: DownArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = project_or_labels(g, &client)?;
    let c = compose(&client, project);
    let containers = c.containers(true, None, true).map_err(failed)?;
    let networks = c
        .project
        .networks
        .values()
        .filter(|n| !n.external)
        .any(|n| client.network_inspect(&n.name, &Default::default()).is_ok());
    let volumes = a.volumes
        && c.project
            .volumes
            .values()
            .filter(|v| !v.external)
            .any(|v| client.volume_inspect(&v.name).is_ok());
    if containers.is_empty() && !networks && !volumes && a.rmi.is_none() {
        eprintln!(
            "Warning: No resource found to remove for project {:?}.",
            c.project.name
        );
        return Ok(0);
    }
    c.down(&DownOptions {
        volumes: a.volumes,
        rmi: a.rmi.clone(),
        remove_orphans: a.remove_orphans,
        timeout: a.timeout,
    })
    .map_err(failed)?;
    Ok(0)
}

#[derive(Args)]
pub struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    pub format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    pub profiles: bool,
    /// Print the service config hash, one per line (`*` for all services)
    #[arg(long, value_name = "string")]
    pub hash: Option<String>,
    /// Save to file (default to stdout)
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<String>,
    pub service_names: Vec<String>,
}

pub fn config(g: &Globals, a: ConfigArgs) -> Result<i32> {
    let mut p = with_services(load_project(g)?, &a.service_names)?;
    if !a.service_names.is_empty() {
        let keep: Vec<String> = berth_compose::plan::order(&p, &a.service_names)
            .map_err(fail)?
            .into_iter()
            .flatten()
            .collect();
        p.services.retain(|n, _| keep.contains(n));
    }
    if a.quiet {
        return Ok(0);
    }
    let mut out = String::new();
    if a.services {
        for n in p.services.keys() {
            out.push_str(&format!("{n}\n"));
        }
    } else if a.volumes {
        for n in p.volumes.keys() {
            out.push_str(&format!("{n}\n"));
        }
    } else if a.images {
        for s in p.services.values() {
            out.push_str(&format!("{}\n", berth_compose::api::image_of(&p, s)));
        }
    } else if a.profiles {
        let mut all: Vec<String> = p
            .all_services()
            .values()
            .flat_map(|s| s.profiles.clone())
            .collect();
        all.sort();
        all.dedup();
        for n in all {
            out.push_str(&format!("{n}\n"));
        }
    } else if let Some(h) = &a.hash {
        let names: Vec<String> = if h == "*" {
            p.service_names()
        } else {
            h.split(',').map(|s| s.trim().to_string()).collect()
        };
        for n in names {
            let s = p
                .services
                .get(&n)
                .ok_or_else(|| fail(format!("no such service: {n}")))?;
            out.push_str(&format!("{n} {}\n", berth_compose::plan::config_hash(s)));
        }
    } else if a.format == "json" {
        out = berth_compose::config::to_json(&p);
        out.push('\n');
    } else {
        out = berth_compose::config::to_yaml(&p);
    }
    match &a.output {
        Some(f) => std::fs::write(f, out).map_err(|e| fail(format!("{f}: {e}")))?,
        None => print!("{out}"),
    }
    Ok(0)
}

#[derive(Args)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long, allow_hyphen_values = true)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short = 's', long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

/// One action over the services' containers.
pub fn each(
    ctx: &Ctx,
    g: &Globals,
    services: &[String],
    action: Action,
    timeout: Option<i64>,
    signal: &str,
) -> Result<i32> {
    let client = client(ctx)?;
    let project = with_services(project_or_labels(g, &client)?, services)?;
    let c = compose(&client, project);
    c.each(services, action, timeout, signal).map_err(failed)?;
    Ok(0)
}

pub fn kill(ctx: &Ctx, g: &Globals, a: KillArgs) -> Result<i32> {
    let signal = a.signal.trim_start_matches("SIG");
    if a.remove_orphans {
        // containers of services the project no longer has go
        let client = client(ctx)?;
        let c = compose(&client, project_or_labels(g, &client)?);
        for x in c.containers(true, None, false).map_err(failed)? {
            let svc = berth_compose::engine::label_of(&x, berth_compose::labels::SERVICE);
            if !c.project.services.contains_key(svc) {
                let q = query::container::Remove {
                    force: true,
                    volumes: false,
                    link: false,
                };
                client.container_remove(&x.id, &q).map_err(fail)?;
            }
        }
    }
    each(ctx, g, &a.services, Action::Kill, None, signal)
}

/// `[yN]` on a terminal; no (after the question) otherwise.
fn confirm(question: &str) -> bool {
    print!("{question} [yN] ");
    let _ = std::io::stdout().flush();
    if !term::is_tty(0) {
        println!();
        return false;
    }
    let mut line = String::new();
    let mut b = [0u8; 1];
    let mut stdin = std::io::stdin().lock();
    while let Ok(1) = stdin.read(&mut b) {
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0] as char);
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

pub fn rm(ctx: &Ctx, g: &Globals, a: RmArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = with_services(project_or_labels(g, &client)?, &a.services)?;
    let c = compose(&client, project);
    if a.stop {
        c.each(&a.services, Action::Stop, None, "")
            .map_err(failed)?;
    }
    let stopped: Vec<String> = c
        .service_containers(&a.services, true)
        .map_err(failed)?
        .iter()
        .filter(|x| x.state != Status::Running)
        .map(name_of)
        .collect();
    if stopped.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !a.force
        && !confirm(&format!(
            "Going to remove {}\nAre you sure?",
            stopped.join(", ")
        ))
    {
        return Ok(0);
    }
    // The engine's rm takes `-v` as a timeout of 1.
    c.each(&a.services, Action::Remove { volumes: a.volumes }, None, "")
        .map_err(failed)?;
    Ok(0)
}

#[derive(Args)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to STDOUT
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set build-time variables for services
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    pub services: Vec<String>,
}

/// `build`: the services' images that have a build section.
pub fn build(ctx: &Ctx, g: &Globals, a: BuildArgs) -> Result<i32> {
    let project = with_services(load_project(g)?, &a.services)?;
    let client = client(ctx)?;
    let c = compose(&client, project);
    let args = crate::commands::build::build_arg_values(&a.build_arg);
    c.build(
        &a.services,
        &berth_compose::build::BuildOptions {
            no_cache: a.no_cache,
            pull: a.pull,
            quiet: a.quiet,
            args,
        },
    )
    .map_err(failed)?;
    Ok(0)
}

#[derive(Args)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    /// Also push images of services declared as dependencies
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    /// Push without printing progress information
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

/// `push`: the images the project builds and names (`build:` and
/// `image:`), through `berth push` (credentials, progress, errors).
pub fn push(ctx: &Ctx, g: &Globals, a: PushArgs) -> Result<i32> {
    let project = with_services(load_project(g)?, &a.services)?;
    let names: Vec<String> = if a.include_deps {
        berth_compose::plan::order(&project, &a.services)
            .map_err(fail)?
            .into_iter()
            .flatten()
            .collect()
    } else if a.services.is_empty() {
        project.service_names()
    } else {
        a.services.clone()
    };
    for n in &names {
        let s = &project.services[n];
        let (Some(image), Some(_)) = (&s.image, &s.build) else {
            if !a.quiet {
                eprintln!(" {n} Skipped - No image to be pushed");
            }
            continue;
        };
        let r = crate::commands::image::ship::push(
            ctx,
            crate::commands::image::ship::PushArgs {
                all_tags: false,
                quiet: a.quiet,
                platform: None,
                disable_content_trust: true,
                name: vec![image.clone()],
            },
        );
        if let Err(e) = r {
            if !a.ignore_push_failures {
                return Err(e);
            }
            eprintln!("WARN[0000] {e}");
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct PullArgs {
    /// Pull without printing progress information
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long = "ignore-pull-failures")]
    pub ignore_pull_failures: bool,
    /// Also pull services declared as dependencies
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    pub services: Vec<String>,
}

/// A pull that prints nothing: the daemon's error, if any.
fn pull_quiet(client: &berth_client::Client, image: &str) -> Result<(), String> {
    let (repo, tag) = split_tag(image);
    let mut resp = client
        .image_pull(
            &query::image::Create {
                from_image: repo,
                tag,
                ..Default::default()
            },
            None,
        )
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    resp.read_to_string(&mut body).map_err(|e| e.to_string())?;
    for line in body.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(e) = v.get("error").and_then(|e| e.as_str())
        {
            return Err(format!("Error response from daemon: {e}"));
        }
    }
    Ok(())
}

pub fn pull(ctx: &Ctx, g: &Globals, a: PullArgs) -> Result<i32> {
    let project = with_services(load_project(g)?, &a.services)?;
    let client = client(ctx)?;
    let c = compose(&client, project);
    let names: Vec<String> = if a.include_deps {
        berth_compose::plan::order(&c.project, &a.services)
            .map_err(fail)?
            .into_iter()
            .flatten()
            .collect()
    } else if a.services.is_empty() {
        c.project.service_names()
    } else {
        a.services.clone()
    };
    for n in &names {
        let s = &c.project.services[n];
        let Some(image) = &s.image else {
            if !a.quiet {
                eprintln!(" {n} Skipped - No image to be pulled");
            }
            continue;
        };
        let r = if a.quiet {
            pull_quiet(&client, image)
        } else {
            c.pull_image(image, n).map_err(|e| e.to_string())
        };
        if let Err(e) = r {
            if a.ignore_pull_failures || s.build.is_some() {
                eprintln!("WARN[0000] {e}");
                continue;
            }
            return Err(fail(e));
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct VersionArgs {
    /// Shows only Compose's version number
    #[arg(long)]
    pub short: bool,
    /// Format the output. Values: [pretty | json]
    #[arg(short = 'f', long, default_value = "pretty", value_parser = ["pretty", "json"])]
    pub format: String,
}

pub fn version(a: VersionArgs) -> Result<i32> {
    let v = env!("CARGO_PKG_VERSION");
    if a.short {
        println!("{v}");
    } else if a.format == "json" {
        println!("{}", serde_json::json!({ "version": v }));
    } else {
        println!("berth compose version {v}");
    }
    Ok(0)
}

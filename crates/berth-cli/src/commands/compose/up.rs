//! `compose up` and `compose create`; attached `up` follows the logs of
//! the containers it started until they have all exited, stopping them on
//! Ctrl-C (killing them on a second one) or, with
//! `--abort-on-container-exit`, when one of them exits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;
use berth_api::container::Status;
use berth_api::query;
use berth_compose::build::BuildPolicy;
use berth_compose::engine::{Action, Compose, UpOptions, label_of};
use berth_compose::{Project, labels, plan};
use clap::Args;

use super::logs::{Printer, Source, stream};
use super::{Globals, client, colors, compose, fail, failed, load_project, with_services};
use crate::commands::Ctx;

#[derive(Args)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them. Incompatible with --force-recreate.
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long = "exit-code-from", value_name = "string")]
    pub exit_code_from: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long, allow_hyphen_values = true)]
    pub timeout: Option<i64>,
    /// Pull image before running ("always"|"missing"|"never"|"build"|"policy")
    #[arg(long, value_parser = ["always", "missing", "never", "build", "policy"])]
    pub pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Restrict attaching to the specified services. Incompatible with --attach-dependencies.
    #[arg(long, value_name = "stringArray")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long = "no-attach", value_name = "stringArray")]
    pub no_attach: Vec<String>,
    /// Automatically attach to log output of dependent services
    #[arg(long = "attach-dependencies")]
    pub attach_dependencies: bool,
    pub services: Vec<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them. Incompatible with --force-recreate.
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build"|"policy")
    #[arg(long, value_parser = ["always", "missing", "never", "build", "policy"])]
    pub pull: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    pub services: Vec<String>,
}

/// `--build` / `--no-build` (and `--pull build`) as the engine's policy.
fn build_policy(build: bool, no_build: bool, pull: Option<&str>) -> BuildPolicy {
    if build || pull == Some("build") {
        BuildPolicy::Always
    } else if no_build {
        BuildPolicy::Never
    } else {
        BuildPolicy::Missing
    }
}

/// `--scale web=3` (repeatable) as a map, checked against the project.
fn parse_scale(p: &Project, flags: &[String]) -> Result<BTreeMap<String, u32>> {
    let mut m = BTreeMap::new();
    for f in flags {
        let (svc, n) = f
            .split_once('=')
            .ok_or_else(|| fail(format!("invalid scale option: {f:?}: must be SERVICE=NUM")))?;
        let n: u32 = n
            .parse()
            .map_err(|_| fail(format!("invalid scale option: {f:?}: must be SERVICE=NUM")))?;
        if !p.services.contains_key(svc) {
            return Err(fail(format!("no such service: {svc}")));
        }
        m.insert(svc.to_string(), n);
    }
    Ok(m)
}

/// The services `up` brings up: the selection and (unless `no_deps`) what
/// it depends on, as the engine computes it.
fn wanted(p: &Project, services: &[String], no_deps: bool) -> Result<Vec<String>> {
    if no_deps {
        return Ok(if services.is_empty() {
            p.service_names()
        } else {
            services.to_vec()
        });
    }
    Ok(plan::order(p, services)
        .map_err(fail)?
        .into_iter()
        .flatten()
        .collect())
}

/// `--pull`: images pulled (always) or checked (never); `build`,
/// `missing` and `policy` leave it to the engine.
fn pull_policy(c: &Compose, services: &[String], policy: Option<&str>) -> Result<()> {
    match policy {
        Some("always") => {
            for n in services {
                let s = &c.project.services[n];
                if s.image.is_some() {
                    let image = berth_compose::api::image_of(&c.project, s);
                    c.pull_image(&image, n).map_err(failed)?;
                }
            }
            Ok(())
        }
        Some("never") => {
            for n in services {
                let s = &c.project.services[n];
                let image = berth_compose::api::image_of(&c.project, s);
                if c.client.image_inspect(&image).is_err() {
                    return Err(fail(format!(
                        "Error response from daemon: No such image: {image}"
                    )));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

pub fn create(ctx: &Ctx, g: &Globals, a: CreateArgs) -> Result<i32> {
    if a.build && a.no_build {
        return Err(fail("--build and --no-build are incompatible"));
    }
    if a.force_recreate && a.no_recreate {
        return Err(fail("--force-recreate and --no-recreate are incompatible"));
    }
    let project = with_services(load_project(g)?, &a.services)?;
    let client = client(ctx)?;
    let scale = parse_scale(&project, &a.scale)?;
    let c = compose(&client, project);
    let want = wanted(&c.project, &a.services, false)?;
    pull_policy(&c, &want, a.pull.as_deref())?;
    c.up(&UpOptions {
        services: a.services.clone(),
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        no_start: true,
        remove_orphans: a.remove_orphans,
        scale,
        build: build_policy(a.build, a.no_build, a.pull.as_deref()),
        ..Default::default()
    })
    .map_err(failed)?;
    Ok(0)
}

/// Now, as the `since` of the logs API (`secs.nanos`).
fn now_param() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

pub fn up(ctx: &Ctx, g: &Globals, a: UpArgs) -> Result<i32> {
    let cascade = a.abort_on_container_exit || a.exit_code_from.is_some();
    let detach = a.detach || a.wait;
    if a.build && a.no_build {
        return Err(fail("--build and --no-build are incompatible"));
    }
    if a.force_recreate && a.no_recreate {
        return Err(fail("--force-recreate and --no-recreate are incompatible"));
    }
    if detach && (cascade || a.attach_dependencies || !a.attach.is_empty()) {
        return Err(fail(
            "--detach cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies",
        ));
    }
    let project = with_services(load_project(g)?, &a.services)?;
    if let Some(s) = &a.exit_code_from
        && !project.services.contains_key(s)
    {
        return Err(fail(format!("no such service: {s}")));
    }
    let client = client(ctx)?;
    let scale = parse_scale(&project, &a.scale)?;
    let c = compose(&client, project);
    let want = wanted(&c.project, &a.services, a.no_deps)?;
    pull_policy(&c, &want, a.pull.as_deref())?;
    let since = now_param();
    let started = c
        .up(&UpOptions {
            services: a.services.clone(),
            force_recreate: a.force_recreate,
            no_recreate: a.no_recreate,
            no_deps: a.no_deps,
            no_start: a.no_start,
            remove_orphans: a.remove_orphans,
            scale,
            wait: a.wait,
            timeout: a.timeout,
            build: build_policy(a.build, a.no_build, a.pull.as_deref()),
        })
        .map_err(failed)?;
    if detach || a.no_start {
        return Ok(0);
    }

    // The services whose logs are shown.
    let mut attach: BTreeSet<String> = if !a.attach.is_empty() {
        a.attach.iter().cloned().collect()
    } else if a.services.is_empty() || a.attach_dependencies {
        want.iter().cloned().collect()
    } else {
        a.services.iter().cloned().collect()
    };
    if a.attach.is_empty() {
        attach.retain(|s| c.project.services.get(s).is_none_or(|s| s.attach));
    }
    for s in &a.no_attach {
        attach.remove(s);
    }
    let started: BTreeSet<String> = started.into_iter().collect();
    let containers: Vec<_> = c
        .service_containers(&[], true)
        .map_err(failed)?
        .into_iter()
        .filter(|x| {
            started.contains(&berth_compose::engine::name_of(x))
                && attach.contains(label_of(x, labels::SERVICE))
        })
        .collect();
    if containers.is_empty() {
        return Ok(0);
    }
    let sources: Vec<Source> = containers.iter().map(|x| Source::of(&client, x)).collect();
    let printer = Printer::new(&sources, colors(g) && !a.no_color, !a.no_log_prefix);
    let mut names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    printer.plain(&format!("Attaching to {}", names.join(", ")));
    let stop_services: Vec<String> = a.services.clone();
    follow(
        &c,
        &sources,
        &printer,
        &Follow {
            since,
            timestamps: a.timestamps,
            cascade,
            exit_code_from: a.exit_code_from.clone(),
            timeout: a.timeout,
            stop_services,
        },
    )
}

struct Follow {
    since: String,
    timestamps: bool,
    cascade: bool,
    exit_code_from: Option<String>,
    timeout: Option<i64>,
    /// What a Ctrl-C or an abort stops (all services when empty).
    stop_services: Vec<String>,
}

enum Ev {
    /// Source `idx` has exited (its code, if it is still there).
    Exited {
        idx: usize,
        code: Option<i64>,
    },
    Signal,
}

/// Follows one container until it has exited for good (a restarting one is
/// followed again); its exit code.
fn follow_one(
    c: &Compose,
    src: &Source,
    p: &Printer,
    since: &str,
    timestamps: bool,
) -> Option<i64> {
    let mut since = since.to_string();
    loop {
        let q = query::container::Logs {
            follow: true,
            stdout: true,
            stderr: true,
            since: since.clone(),
            timestamps,
            tail: "all".into(),
            ..Default::default()
        };
        let r = stream(c.client, src, &q, p);
        let ended = now_param();
        if let Err(e) = r {
            eprintln!("{e:#}");
        }
        let state = c.client.container_inspect(&src.id, false).ok()?.state;
        if state.running || state.restarting || state.status == Status::Restarting {
            std::thread::sleep(Duration::from_millis(200));
            since = ended;
            continue;
        }
        return Some(state.exit_code);
    }
}

fn follow(c: &Compose, sources: &[Source], p: &Printer, o: &Follow) -> Result<i32> {
    let (tx, rx) = mpsc::channel::<Ev>();
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .ok();
    let handle = signals.as_ref().map(|s| s.handle());
    if let Some(mut signals) = signals {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if tx.send(Ev::Signal).is_err() {
                    break;
                }
            }
        });
    }
    let mut exit_code = 0i32;
    let mut interrupted = false;
    std::thread::scope(|sc| {
        for (idx, src) in sources.iter().enumerate() {
            let tx = tx.clone();
            sc.spawn(move || {
                let code = follow_one(c, src, p, &o.since, o.timestamps);
                let _ = tx.send(Ev::Exited { idx, code });
            });
        }
        let stop = || {
            sc.spawn(|| {
                if let Err(e) = c.each(&o.stop_services, Action::Stop, o.timeout, "") {
                    eprintln!("{e}");
                }
            });
        };
        let mut left = sources.len();
        let mut stopping = false;
        let mut killed = false;
        let mut code_from = o.exit_code_from.clone();
        while left > 0 {
            let Ok(ev) = rx.recv() else { break };
            match ev {
                Ev::Exited { idx, code } => {
                    left -= 1;
                    let src = &sources[idx];
                    // as compose: once stopping, exits are not reported
                    if !stopping && let Some(code) = code {
                        p.status(src, &format!("exited with code {code}"));
                    }
                    if o.cascade {
                        if !stopping {
                            stopping = true;
                            eprintln!("Aborting on container exit...");
                            stop();
                        }
                        let from = code_from.get_or_insert_with(|| src.service.clone());
                        if *from == src.service {
                            exit_code = code.unwrap_or(0) as i32;
                        }
                    }
                }
                Ev::Signal if !stopping => {
                    stopping = true;
                    interrupted = true;
                    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                    stop();
                }
                Ev::Signal if !killed => {
                    killed = true;
                    interrupted = true;
                    sc.spawn(|| {
                        if let Err(e) = c.each(&o.stop_services, Action::Kill, None, "SIGKILL") {
                            eprintln!("{e}");
                        }
                    });
                }
                Ev::Signal => {}
            }
        }
    });
    if let Some(h) = handle {
        h.close();
    }
    Ok(if interrupted && !o.cascade {
        130
    } else {
        exit_code
    })
}

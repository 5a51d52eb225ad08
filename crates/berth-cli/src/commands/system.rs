//! version, info, events, generic inspect, system df, system prune.

use anyhow::Result;
use berth_api::cli::{
    ClientInfo, ClientVersion, DiskUsageContext, GO_FIELD_NAMES, InfoContext, VersionInfo,
    disk_usage_kind,
};
use berth_api::events::Message;
use berth_api::query;
use berth_api::system::{Component, ComponentDetails, PlatformName, Version};
use berth_api::version::{ApiVersion, CURRENT};
use berth_client::Client;
use clap::Args;

use crate::commands::Ctx;
use crate::commands::container::inspect::print_inspect;
use crate::commands::container::misc::{confirm, prune_containers};
use crate::commands::image::misc::prune_images;
use crate::format::{bytes_size, human_size, human_size_prec, render, tval};
use crate::opts::{filters, timestamp};
use crate::template::{TVal, Template};

#[derive(Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub typ: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Remove what is found (snapshots, mounts, cgroups, veths, half-written files)
    #[arg(long)]
    pub repair: bool,
}

#[derive(Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

/// Aligns "label:\tvalue" lines (docker's version tabwriter: min 20, pad 1).
fn kv_lines(lines: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in lines {
        let w = (k.chars().count() + 1).max(20);
        out.push_str(&format!("{k:<w$}{v}\n"));
    }
    out
}

fn ansic(rfc: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%a %b %e %H:%M:%S %Y")
                .to_string()
        })
        .unwrap_or_else(|_| rfc.to_string())
}

pub fn version(ctx: &Ctx, a: VersionArgs) -> Result<i32> {
    let client_info = |api: ApiVersion| ClientVersion {
        platform: Some(PlatformName::default()),
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: api.to_string(),
        default_api_version: CURRENT.to_string(),
        git_commit: String::new(),
        go_version: String::new(),
        os: std::env::consts::OS.into(),
        arch: go_arch().into(),
        build_time: String::new(),
        context: "default".into(),
    };
    let conn = ctx.client();
    let (api, server) = match &conn {
        Ok(c) => (c.api_version(), Some(c.version())),
        Err(_) => (CURRENT, None),
    };
    let cinfo = client_info(api);
    let server = match server {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return Err(e.into()),
        None => None,
    };
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        // As the docker CLI, the Engine's build time as a date.
        let mut server = server;
        for c in server.iter_mut().flat_map(|s| s.components.iter_mut()) {
            if c.name == "Engine" && !c.details.get(ComponentDetails::BUILD_TIME).is_empty() {
                let t = ansic(c.details.get(ComponentDetails::BUILD_TIME));
                c.details.set(ComponentDetails::BUILD_TIME, t);
            }
        }
        // Go templates see docker's struct field names, which differ from
        // the JSON keys here.
        let data = VersionInfo {
            client: cinfo,
            server,
        };
        let mut v = tval(&data);
        if let TVal::Obj(m) = &mut v {
            for (_, x) in m.iter_mut() {
                for (key, go) in GO_FIELD_NAMES {
                    x.alias(key, go);
                }
            }
        }
        let t = Template::parse(&crate::format::unescape(f))?;
        println!("{}", t.render(&v)?);
        conn?;
        return Ok(0);
    }
    let api_line = if api != CURRENT {
        format!("{api} (downgraded from {CURRENT})")
    } else {
        api.to_string()
    };
    let mut out = String::from("Client:\n");
    out.push_str(&kv_lines(&[
        (" Version:".into(), env!("CARGO_PKG_VERSION").into()),
        (" API version:".into(), api_line),
        (" Rust version:".into(), "berth".into()),
        (
            " OS/Arch:".into(),
            format!("{}/{}", std::env::consts::OS, go_arch()),
        ),
        (" Context:".into(), "default".into()),
    ]));
    print!("{out}");
    let server = match (server, conn) {
        (Some(s), _) => s,
        (None, Err(e)) => {
            println!();
            return Err(e);
        }
        (None, Ok(_)) => return Ok(0),
    };
    print!("{}", server_version(&server));
    Ok(0)
}

/// The "Server:" part of `docker version`.
fn server_version(server: &Version) -> String {
    let mut out = String::from("\nServer:");
    if !server.platform.name.is_empty() {
        out.push(' ');
        out.push_str(&server.platform.name);
    }
    out.push('\n');
    let mut comps = server.components.clone();
    if !comps.iter().any(|c| c.name == "Engine") {
        let mut d = ComponentDetails::default();
        for (k, v) in [
            (ComponentDetails::API_VERSION, &server.api_version),
            (ComponentDetails::MIN_API_VERSION, &server.min_api_version),
            (ComponentDetails::GIT_COMMIT, &server.git_commit),
            (ComponentDetails::GO_VERSION, &server.go_version),
            (ComponentDetails::OS, &server.os),
            (ComponentDetails::ARCH, &server.arch),
            (ComponentDetails::BUILD_TIME, &server.build_time),
        ] {
            d.set(k, v.as_str());
        }
        d.set(
            ComponentDetails::EXPERIMENTAL,
            server.experimental.to_string(),
        );
        comps.insert(
            0,
            Component {
                name: "Engine".into(),
                version: server.version.clone(),
                details: d,
            },
        );
    }
    for c in comps {
        out.push_str(&format!(" {}:\n", c.name));
        let d = &c.details;
        let lines: Vec<(String, String)> = if c.name == "Engine" {
            let g = |k| d.get(k).to_string();
            vec![
                ("  Version:".into(), c.version.clone()),
                (
                    "  API version:".into(),
                    format!(
                        "{} (minimum version {})",
                        g(ComponentDetails::API_VERSION),
                        g(ComponentDetails::MIN_API_VERSION)
                    ),
                ),
                ("  Go version:".into(), g(ComponentDetails::GO_VERSION)),
                ("  Git commit:".into(), g(ComponentDetails::GIT_COMMIT)),
                (
                    "  Built:".into(),
                    ansic(d.get(ComponentDetails::BUILD_TIME)),
                ),
                (
                    "  OS/Arch:".into(),
                    format!("{}/{}", g(ComponentDetails::OS), g(ComponentDetails::ARCH)),
                ),
                ("  Experimental:".into(), g(ComponentDetails::EXPERIMENTAL)),
            ]
        } else {
            let mut l = vec![("  Version:".to_string(), c.version.clone())];
            l.extend(d.0.iter().map(|(k, v)| (format!("  {k}:"), v.clone())));
            l
        };
        out.push_str(&kv_lines(&lines));
    }
    out
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

pub fn info(ctx: &Ctx, a: InfoArgs) -> Result<i32> {
    let client = ctx.client()?;
    let i = client.info()?;
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let data = InfoContext {
            info: i,
            client_info: ClientInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                context: "default".into(),
                debug: false,
            },
        };
        let t = Template::parse(&crate::format::unescape(f))?;
        println!("{}", t.render(&tval(&data))?);
        return Ok(0);
    }
    let mut o = String::new();
    o.push_str(&format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    ));
    o.push_str(&format!(" Containers: {}\n", i.containers));
    o.push_str(&format!("  Running: {}\n", i.containers_running));
    o.push_str(&format!("  Paused: {}\n", i.containers_paused));
    o.push_str(&format!("  Stopped: {}\n", i.containers_stopped));
    o.push_str(&format!(" Images: {}\n", i.images));
    o.push_str(&format!(" Server Version: {}\n", i.server_version));
    o.push_str(&format!(" Storage Driver: {}\n", i.driver));
    for [k, v] in &i.driver_status {
        o.push_str(&format!("  {k}: {v}\n"));
    }
    o.push_str(&format!(" Logging Driver: {}\n", i.logging_driver));
    o.push_str(&format!(" Cgroup Driver: {}\n", i.cgroup_driver));
    o.push_str(&format!(" Cgroup Version: {}\n", i.cgroup_version));
    o.push_str(" Plugins:\n");
    o.push_str(&format!("  Volume: {}\n", i.plugins.volume.join(" ")));
    o.push_str(&format!("  Network: {}\n", i.plugins.network.join(" ")));
    o.push_str(&format!("  Log: {}\n", i.plugins.log.join(" ")));
    let swarm = if i.swarm.local_node_state.is_empty() {
        "inactive"
    } else {
        &i.swarm.local_node_state
    };
    o.push_str(&format!(" Swarm: {swarm}\n"));
    let runtimes: Vec<&str> = i.runtimes.keys().map(String::as_str).collect();
    o.push_str(&format!(" Runtimes: {}\n", runtimes.join(" ")));
    o.push_str(&format!(" Default Runtime: {}\n", i.default_runtime));
    o.push_str(&format!(" Init Binary: {}\n", i.init_binary));
    o.push_str(&format!(
        " containerd version: {}\n",
        i.containerd_commit.id
    ));
    o.push_str(&format!(" runc version: {}\n", i.runc_commit.id));
    o.push_str(&format!(" init version: {}\n", i.init_commit.id));
    if !i.security_options.is_empty() {
        o.push_str(" Security Options:\n");
        for opt in &i.security_options {
            let mut parts = opt.split(',');
            if let Some(name) = parts.next() {
                o.push_str(&format!("  {}\n", name.trim_start_matches("name=")));
            }
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    let k = if k == "profile" { "Profile" } else { k };
                    o.push_str(&format!("   {k}: {v}\n"));
                }
            }
        }
    }
    o.push_str(&format!(" Kernel Version: {}\n", i.kernel_version));
    o.push_str(&format!(" Operating System: {}\n", i.operating_system));
    o.push_str(&format!(" OSType: {}\n", i.os_type));
    o.push_str(&format!(" Architecture: {}\n", i.architecture));
    o.push_str(&format!(" CPUs: {}\n", i.ncpu));
    o.push_str(&format!(
        " Total Memory: {}\n",
        bytes_size(i.mem_total as f64)
    ));
    o.push_str(&format!(" Name: {}\n", i.name));
    o.push_str(&format!(" ID: {}\n", i.id));
    o.push_str(&format!(" Docker Root Dir: {}\n", i.docker_root_dir));
    o.push_str(&format!(" Debug Mode: {}\n", i.debug));
    o.push_str(&format!(" Experimental: {}\n", i.experimental_build));
    let insecure = i
        .registry_config
        .as_ref()
        .map(|r| r.insecure_registry_cidrs.clone())
        .unwrap_or_default();
    if !insecure.is_empty() {
        o.push_str(" Insecure Registries:\n");
        for r in insecure {
            o.push_str(&format!("  {r}\n"));
        }
    }
    o.push_str(&format!(
        " Live Restore Enabled: {}\n",
        i.live_restore_enabled
    ));
    println!("{o}");
    for w in &i.warnings {
        eprintln!("{w}");
    }
    Ok(0)
}

/// docker's RFC3339NanoFixed, local time.
fn rfc3339_nano(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let ns = nanos.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::DateTime::from_timestamp(secs, ns) else {
        return String::new();
    };
    let t = t.with_timezone(&chrono::Local);
    // docker's RFC3339NanoFixed: always nine fraction digits
    let frac = format!(".{ns:09}");
    let off = t.format("%:z").to_string();
    let off = if off == "+00:00" {
        "Z".to_string()
    } else {
        off
    };
    format!("{}{frac}{off}", t.format("%Y-%m-%dT%H:%M:%S"))
}

pub fn events(ctx: &Ctx, a: EventsArgs) -> Result<i32> {
    let client = ctx.client()?;
    let since = a.since.as_deref().map(timestamp).transpose()?;
    let until = a.until.as_deref().map(timestamp).transpose()?;
    let q = query::system::Events {
        since: since.unwrap_or_default(),
        until: until.unwrap_or_default(),
        filters: filters(&a.filter)?,
    };
    let tmpl = match a.format.as_deref().filter(|f| !f.is_empty()) {
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(&crate::format::unescape(f))?),
        None => None,
    };
    let mut resp = client.events(&q)?;
    while let Some(line) = resp.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let m: Message = serde_json::from_str(&line)?;
        if let Some(t) = &tmpl {
            println!("{}", t.render(&tval(&m))?);
            continue;
        }
        let nanos = if m.time_nano != 0 {
            m.time_nano
        } else {
            m.time * 1_000_000_000
        };
        let attrs = m
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!(
            "{} {} {} {}",
            rfc3339_nano(nanos),
            m.kind.as_str(),
            m.action,
            m.actor.id
        );
        if !attrs.is_empty() {
            out.push_str(&format!(" ({attrs})"));
        }
        println!("{out}");
    }
    Ok(0)
}

/// The object named `name` as the daemon sent it, trying each type
/// (`--type` picks one); None if none has it.
fn try_types(
    client: &Client,
    name: &str,
    typ: Option<&str>,
    size: bool,
) -> Result<Option<Vec<u8>>> {
    let all = ["container", "image", "network", "volume"];
    let types: Vec<&str> = match typ {
        Some(t) => vec![t],
        None => all.to_vec(),
    };
    for t in types {
        let r = match t {
            "container" => client.container_inspect_bytes(name, size),
            "image" => client.image_inspect_bytes(name),
            "network" => client.network_inspect_bytes(name, &Default::default()),
            "volume" => client.volume_inspect_bytes(name),
            other => anyhow::bail!("\"{other}\" is not a valid value for --type"),
        };
        match r {
            Ok(r) => return Ok(Some(r)),
            Err(e) if e.is_not_found() => continue,
            Err(e) if e.to_string().contains("invalid reference format") => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match try_types(&client, n, a.typ.as_deref(), a.size)? {
            Some(r) => raws.push(r),
            None => errors.push(match a.typ.as_deref() {
                Some(t) => format!("Error: No such {t}: {n}"),
                None => format!("Error: No such object: {n}"),
            }),
        }
    }
    print_inspect(&raws, a.format.as_deref())?;
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(crate::status(1, errors.join("\n")))
    }
}

pub fn df(ctx: &Ctx, a: DfArgs) -> Result<i32> {
    let client = ctx.client()?;
    let v = client.disk_usage()?;
    let pct = |r: f64, t: f64| {
        if t > 0.0 {
            format!(" ({}%)", (r * 100.0 / t) as i64)
        } else {
            String::new()
        }
    };
    let h = |x: f64| human_size_prec(x, 4);
    let img_active = v.images.iter().filter(|i| i.containers > 0).count();
    let img_size = v.layers_size as f64;
    // docker's: what images with containers hold is not reclaimable
    // (unknown sizes, -1, count as nothing held).
    let img_used: i64 = v
        .images
        .iter()
        .filter(|i| i.containers != 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let img_reclaim = (v.layers_size - img_used) as f64;
    let c_active = v.containers.iter().filter(|c| c.state.is_running()).count();
    let c_size: f64 = v.containers.iter().map(|c| c.size_rw as f64).sum();
    let c_reclaim: f64 = v
        .containers
        .iter()
        .filter(|c| !c.state.is_running())
        .map(|c| c.size_rw as f64)
        .sum();
    let usage = |x: &berth_api::volume::Volume| x.usage_data.clone().unwrap_or_default();
    let v_active = v.volumes.iter().filter(|x| usage(x).ref_count > 0).count();
    let v_size: f64 = v
        .volumes
        .iter()
        .map(|x| (usage(x).size as f64).max(0.0))
        .sum();
    let v_reclaim: f64 = v
        .volumes
        .iter()
        .filter(|x| usage(x).ref_count == 0)
        .map(|x| (usage(x).size as f64).max(0.0))
        .sum();
    let b_active = v.build_cache.iter().filter(|x| x.in_use).count();
    let b_size: f64 = v.build_cache.iter().map(|x| x.size as f64).sum();
    let b_reclaim: f64 = v
        .build_cache
        .iter()
        .filter(|x| !x.in_use)
        .map(|x| x.size as f64)
        .sum();
    let row = |t: &str, total: usize, active: usize, size: f64, rec: String| {
        crate::format::context(&DiskUsageContext {
            active: active.to_string(),
            reclaimable: rec,
            size: h(size),
            total_count: total.to_string(),
            kind: t.to_string(),
        })
    };
    let rows = vec![
        row(
            disk_usage_kind::IMAGES,
            v.images.len(),
            img_active,
            img_size,
            format!("{}{}", h(img_reclaim), pct(img_reclaim, img_size)),
        ),
        row(
            disk_usage_kind::CONTAINERS,
            v.containers.len(),
            c_active,
            c_size,
            format!("{}{}", h(c_reclaim), pct(c_reclaim, c_size)),
        ),
        row(
            disk_usage_kind::LOCAL_VOLUMES,
            v.volumes.len(),
            v_active,
            v_size,
            format!("{}{}", h(v_reclaim), pct(v_reclaim, v_size)),
        ),
        row(
            disk_usage_kind::BUILD_CACHE,
            v.build_cache.len(),
            b_active,
            b_size,
            h(b_reclaim),
        ),
    ];
    let format = a
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| {
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into()
        });
    let t = |s: &str| s.to_string();
    let header = tval(&DiskUsageContext {
        active: t("ACTIVE"),
        reclaimable: t("RECLAIMABLE"),
        size: t("SIZE"),
        total_count: t("TOTAL"),
        kind: t("TYPE"),
    });
    let _ = a.verbose;
    print!("{}", render(&format, &rows, &header)?);
    Ok(0)
}

/// `berth system check [--repair]`: one line per problem, a summary; exit
/// 1 while a problem is left.
pub fn check(ctx: &Ctx, a: CheckArgs) -> Result<i32> {
    let report = ctx.client()?.system_check(a.repair)?;
    let left = report.problems.iter().filter(|p| !p.repaired).count();
    if !report.problems.is_empty() {
        let width = report
            .problems
            .iter()
            .map(|p| p.kind.len())
            .max()
            .unwrap_or(0);
        for p in &report.problems {
            let state = if p.repaired { " (repaired)" } else { "" };
            println!("{:<width$}  {}: {}{state}", p.kind, p.subject, p.detail);
        }
    }
    if report.problems.is_empty() {
        println!("No problems found");
    } else {
        println!(
            "{} problem(s) found, {} repaired",
            report.problems.len(),
            report.problems.len() - left
        );
    }
    if report.unused_layers > 0 {
        println!(
            "Unused layers kept for the next pull (removed after a day): {} ({})",
            report.unused_layers,
            human_size(report.unused_layers_size as f64)
        );
    }
    Ok(if left > 0 { 1 } else { 0 })
}

pub fn prune(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            w.push_str("  - all images without at least one container associated to them\n");
        } else {
            w.push_str("  - all dangling images\n");
        }
        w.push_str("  - unused build cache\n");
        if !confirm(&w) {
            return Ok(0);
        }
    }
    let client = ctx.client()?;
    let mut total = 0u64;
    let (text, space) = prune_containers(&client, &a.filter)?;
    total += space;
    print_report(&text);
    let q = query::container::Prune {
        filters: filters(&a.filter)?,
    };
    let deleted = client
        .network_prune(&q)?
        .networks_deleted
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}\n", deleted.join("\n"));
    }
    if a.volumes {
        let v = client.volume_prune(&q)?;
        let deleted = v.volumes_deleted.unwrap_or_default();
        if !deleted.is_empty() {
            println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
        }
        total += v.space_reclaimed;
    }
    let (text, space) = prune_images(&client, a.all, &a.filter)?;
    total += space;
    print_report(&text);
    if let Ok(b) = client.build_prune(&Default::default()) {
        total += b.space_reclaimed;
    }
    println!("Total reclaimed space: {}", human_size(total as f64));
    Ok(0)
}

/// Prints a prune report without its "Total reclaimed space" line.
fn print_report(text: &str) {
    for l in text.lines() {
        if !l.starts_with("Total reclaimed space") {
            println!("{l}");
        }
    }
}

//! version, info, events, generic inspect, system df, system prune.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use crate::client::{Body, Client, MAX_API_VERSION, Query, is_status};
use crate::commands::Ctx;
use crate::commands::container::inspect::{get_raw, print_inspect};
use crate::commands::container::misc::{confirm, prune_containers};
use crate::commands::image::misc::prune_images;
use crate::format::{bytes_size, human_size, human_size_prec, render};
use crate::opts::{filters_json, timestamp};
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
    let client_info = |api: &str| {
        json!({
            "Platform": {"Name": ""},
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": api,
            "DefaultAPIVersion": MAX_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": std::env::consts::OS,
            "Arch": go_arch(),
            "BuildTime": "",
            "Context": "default",
        })
    };
    let conn = ctx.client();
    let (api, server) = match &conn {
        Ok(c) => (
            c.api_version().to_string(),
            Some(c.get_json("/version", &Query::new())),
        ),
        Err(_) => (MAX_API_VERSION.to_string(), None),
    };
    let cinfo = client_info(&api);
    let server = match server {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return Err(e),
        None => None,
    };
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        // Go templates see docker's struct field names, which differ from
        // the JSON keys here.
        let mut cinfo = cinfo;
        cinfo["APIVersion"] = cinfo["ApiVersion"].clone();
        let server = server.clone().map(|mut s| {
            s["APIVersion"] = s["ApiVersion"].clone();
            s
        });
        let data = json!({"Client": cinfo, "Server": server});
        let t = Template::parse(&crate::format::unescape(f))?;
        println!("{}", t.render(&TVal::from_json(&data))?);
        if let Err(e) = conn {
            return Err(e);
        }
        return Ok(0);
    }
    let api_line = if api != MAX_API_VERSION {
        format!("{api} (downgraded from {MAX_API_VERSION})")
    } else {
        api.clone()
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
    let mut out = String::from("\nServer:");
    if let Some(n) = server["Platform"]["Name"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        out.push(' ');
        out.push_str(n);
    }
    out.push('\n');
    let mut comps = server["Components"].as_array().cloned().unwrap_or_default();
    if !comps.iter().any(|c| c["Name"] == "Engine") {
        comps.insert(
            0,
            json!({"Name": "Engine", "Version": server["Version"], "Details": {
            "ApiVersion": server["ApiVersion"], "MinAPIVersion": server["MinAPIVersion"],
            "GitCommit": server["GitCommit"], "GoVersion": server["GoVersion"], "Os": server["Os"],
            "Arch": server["Arch"], "Experimental": server["Experimental"].to_string(),
            "BuildTime": server["BuildTime"]}}),
        );
    }
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    for c in comps {
        out.push_str(&format!(" {}:\n", s(&c["Name"])));
        let d = &c["Details"];
        let lines: Vec<(String, String)> = if c["Name"] == "Engine" {
            vec![
                ("  Version:".into(), s(&c["Version"])),
                (
                    "  API version:".into(),
                    format!(
                        "{} (minimum version {})",
                        s(&d["ApiVersion"]),
                        s(&d["MinAPIVersion"])
                    ),
                ),
                ("  Go version:".into(), s(&d["GoVersion"])),
                ("  Git commit:".into(), s(&d["GitCommit"])),
                ("  Built:".into(), ansic(&s(&d["BuildTime"]))),
                (
                    "  OS/Arch:".into(),
                    format!("{}/{}", s(&d["Os"]), s(&d["Arch"])),
                ),
                ("  Experimental:".into(), s(&d["Experimental"])),
            ]
        } else {
            let mut l = vec![("  Version:".to_string(), s(&c["Version"]))];
            let mut keys: Vec<(String, String)> = d
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (format!("  {k}:"), s(v)))
                .collect();
            keys.sort();
            l.extend(keys);
            l
        };
        out.push_str(&kv_lines(&lines));
    }
    print!("{out}");
    Ok(0)
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
    let i = client.get_json("/info", &Query::new())?;
    if let Some(f) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let mut data = i.clone();
        data["ClientInfo"] =
            json!({"Version": env!("CARGO_PKG_VERSION"), "Context": "default", "Debug": false});
        let t = Template::parse(&crate::format::unescape(f))?;
        println!("{}", t.render(&TVal::from_json(&data))?);
        return Ok(0);
    }
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let list = |v: &Value| -> Vec<String> { v.as_array().into_iter().flatten().map(s).collect() };
    let mut o = String::new();
    o.push_str(&format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    ));
    o.push_str(&format!(" Containers: {}\n", s(&i["Containers"])));
    o.push_str(&format!("  Running: {}\n", s(&i["ContainersRunning"])));
    o.push_str(&format!("  Paused: {}\n", s(&i["ContainersPaused"])));
    o.push_str(&format!("  Stopped: {}\n", s(&i["ContainersStopped"])));
    o.push_str(&format!(" Images: {}\n", s(&i["Images"])));
    o.push_str(&format!(" Server Version: {}\n", s(&i["ServerVersion"])));
    o.push_str(&format!(" Storage Driver: {}\n", s(&i["Driver"])));
    for pair in i["DriverStatus"].as_array().into_iter().flatten() {
        let p = list(pair);
        if p.len() == 2 {
            o.push_str(&format!("  {}: {}\n", p[0], p[1]));
        }
    }
    o.push_str(&format!(" Logging Driver: {}\n", s(&i["LoggingDriver"])));
    o.push_str(&format!(" Cgroup Driver: {}\n", s(&i["CgroupDriver"])));
    o.push_str(&format!(" Cgroup Version: {}\n", s(&i["CgroupVersion"])));
    o.push_str(" Plugins:\n");
    for (k, label) in [("Volume", "Volume"), ("Network", "Network"), ("Log", "Log")] {
        o.push_str(&format!(
            "  {label}: {}\n",
            list(&i["Plugins"][k]).join(" ")
        ));
    }
    o.push_str(&format!(
        " Swarm: {}\n",
        i["Swarm"]["LocalNodeState"].as_str().unwrap_or("inactive")
    ));
    let mut runtimes: Vec<String> = i["Runtimes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    o.push_str(&format!(" Runtimes: {}\n", runtimes.join(" ")));
    o.push_str(&format!(" Default Runtime: {}\n", s(&i["DefaultRuntime"])));
    o.push_str(&format!(" Init Binary: {}\n", s(&i["InitBinary"])));
    o.push_str(&format!(
        " containerd version: {}\n",
        s(&i["ContainerdCommit"]["ID"])
    ));
    o.push_str(&format!(" runc version: {}\n", s(&i["RuncCommit"]["ID"])));
    o.push_str(&format!(" init version: {}\n", s(&i["InitCommit"]["ID"])));
    let sec = list(&i["SecurityOptions"]);
    if !sec.is_empty() {
        o.push_str(" Security Options:\n");
        for opt in sec {
            let mut parts = opt.split(',');
            if let Some(name) = parts.next() {
                o.push_str(&format!("  {}\n", name.trim_start_matches("name=")));
            }
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    let k = if k == "profile" {
                        "Profile".to_string()
                    } else {
                        k.to_string()
                    };
                    o.push_str(&format!("   {k}: {v}\n"));
                }
            }
        }
    }
    o.push_str(&format!(" Kernel Version: {}\n", s(&i["KernelVersion"])));
    o.push_str(&format!(
        " Operating System: {}\n",
        s(&i["OperatingSystem"])
    ));
    o.push_str(&format!(" OSType: {}\n", s(&i["OSType"])));
    o.push_str(&format!(" Architecture: {}\n", s(&i["Architecture"])));
    o.push_str(&format!(" CPUs: {}\n", s(&i["NCPU"])));
    o.push_str(&format!(
        " Total Memory: {}\n",
        bytes_size(i["MemTotal"].as_f64().unwrap_or(0.0))
    ));
    o.push_str(&format!(" Name: {}\n", s(&i["Name"])));
    o.push_str(&format!(" ID: {}\n", s(&i["ID"])));
    o.push_str(&format!(" Docker Root Dir: {}\n", s(&i["DockerRootDir"])));
    o.push_str(&format!(
        " Debug Mode: {}\n",
        i["Debug"].as_bool().unwrap_or(false)
    ));
    o.push_str(&format!(
        " Experimental: {}\n",
        i["ExperimentalBuild"].as_bool().unwrap_or(false)
    ));
    let insecure = list(&i["RegistryConfig"]["InsecureRegistryCIDRs"]);
    if !insecure.is_empty() {
        o.push_str(" Insecure Registries:\n");
        for r in insecure {
            o.push_str(&format!("  {r}\n"));
        }
    }
    o.push_str(&format!(
        " Live Restore Enabled: {}\n",
        i["LiveRestoreEnabled"].as_bool().unwrap_or(false)
    ));
    println!("{o}");
    for w in list(&i["Warnings"]) {
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
    let mut q = Query::new()
        .add_if(since.is_some(), "since", since.unwrap_or_default())
        .add_if(until.is_some(), "until", until.unwrap_or_default());
    if let Some(f) = filters_json(&a.filter)? {
        q = q.add("filters", f);
    }
    let tmpl = match a.format.as_deref().filter(|f| !f.is_empty()) {
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(&crate::format::unescape(f))?),
        None => None,
    };
    let mut resp = client.request("GET", "/events", &q, Body::None)?;
    while let Some(line) = resp.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)?;
        if let Some(t) = &tmpl {
            let tv: TVal = serde_json::from_str(&line)?;
            println!("{}", t.render(&tv)?);
            continue;
        }
        let nanos = v["timeNano"]
            .as_i64()
            .unwrap_or(v["time"].as_i64().unwrap_or(0) * 1_000_000_000);
        let mut attrs: Vec<(String, String)> = v["Actor"]["Attributes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        attrs.sort();
        let attrs = attrs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!(
            "{} {} {} {}",
            rfc3339_nano(nanos),
            v["Type"].as_str().unwrap_or(""),
            v["Action"].as_str().unwrap_or(""),
            v["Actor"]["ID"].as_str().unwrap_or("")
        );
        if !attrs.is_empty() {
            out.push_str(&format!(" ({attrs})"));
        }
        println!("{out}");
    }
    Ok(0)
}

fn try_types(client: &Client, name: &str, typ: Option<&str>, size: bool) -> Result<Option<String>> {
    let all = ["container", "image", "network", "volume"];
    let types: Vec<&str> = match typ {
        Some(t) => vec![t],
        None => all.to_vec(),
    };
    for t in types {
        let path = match t {
            "container" => format!("/containers/{name}/json"),
            "image" => format!("/images/{name}/json"),
            "network" => format!("/networks/{name}"),
            "volume" => format!("/volumes/{name}"),
            other => anyhow::bail!("\"{other}\" is not a valid value for --type"),
        };
        let q = Query::new().add_if(size && t == "container", "size", "1");
        match get_raw(client, &path, &q) {
            Ok(r) => return Ok(Some(r)),
            Err(e) if is_status(&e, 404) => continue,
            Err(e) if e.to_string().contains("invalid reference format") => continue,
            Err(e) => return Err(e),
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
    let v = client.get_json("/system/df", &Query::new())?;
    let arr = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let images = arr("Images");
    let containers = arr("Containers");
    let volumes = arr("Volumes");
    let cache = arr("BuildCache");
    let pct = |r: f64, t: f64| {
        if t > 0.0 {
            format!(" ({}%)", (r * 100.0 / t) as i64)
        } else {
            String::new()
        }
    };
    let h = |x: f64| human_size_prec(x, 4);
    let img_active = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let img_size = v["LayersSize"].as_f64().unwrap_or(0.0);
    let img_reclaim: f64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) <= 0)
        .map(|i| {
            i["Size"].as_f64().unwrap_or(0.0) - i["SharedSize"].as_f64().unwrap_or(0.0).max(0.0)
        })
        .sum::<f64>()
        .min(img_size);
    let c_active = containers
        .iter()
        .filter(|c| {
            matches!(
                c["State"].as_str(),
                Some("running" | "paused" | "restarting")
            )
        })
        .count();
    let c_size: f64 = containers
        .iter()
        .map(|c| c["SizeRw"].as_f64().unwrap_or(0.0))
        .sum();
    let c_reclaim: f64 = containers
        .iter()
        .filter(|c| {
            !matches!(
                c["State"].as_str(),
                Some("running" | "paused" | "restarting")
            )
        })
        .map(|c| c["SizeRw"].as_f64().unwrap_or(0.0))
        .sum();
    let v_active = volumes
        .iter()
        .filter(|x| x["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0)
        .count();
    let v_size: f64 = volumes
        .iter()
        .map(|x| x["UsageData"]["Size"].as_f64().unwrap_or(0.0).max(0.0))
        .sum();
    let v_reclaim: f64 = volumes
        .iter()
        .filter(|x| x["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .map(|x| x["UsageData"]["Size"].as_f64().unwrap_or(0.0).max(0.0))
        .sum();
    let b_active = cache
        .iter()
        .filter(|x| x["InUse"].as_bool().unwrap_or(false))
        .count();
    let b_size: f64 = cache
        .iter()
        .map(|x| x["Size"].as_f64().unwrap_or(0.0))
        .sum();
    let b_reclaim: f64 = cache
        .iter()
        .filter(|x| !x["InUse"].as_bool().unwrap_or(false))
        .map(|x| x["Size"].as_f64().unwrap_or(0.0))
        .sum();
    let row = |t: &str, total: usize, active: usize, size: f64, rec: String| {
        TVal::obj(vec![
            ("Active", TVal::Str(active.to_string())),
            ("Reclaimable", TVal::Str(rec)),
            ("Size", TVal::Str(h(size))),
            ("TotalCount", TVal::Str(total.to_string())),
            ("Type", TVal::s(t)),
        ])
    };
    let rows = vec![
        row(
            "Images",
            images.len(),
            img_active,
            img_size,
            format!("{}{}", h(img_reclaim), pct(img_reclaim, img_size)),
        ),
        row(
            "Containers",
            containers.len(),
            c_active,
            c_size,
            format!("{}{}", h(c_reclaim), pct(c_reclaim, c_size)),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            v_active,
            v_size,
            format!("{}{}", h(v_reclaim), pct(v_reclaim, v_size)),
        ),
        row("Build Cache", cache.len(), b_active, b_size, h(b_reclaim)),
    ];
    let format = a
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| {
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into()
        });
    let headers = [
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    let _ = a.verbose;
    print!("{}", render(&format, &rows, &headers)?);
    Ok(0)
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
    let mut q = Query::new();
    if let Some(f) = filters_json(&a.filter)? {
        q = q.add("filters", f);
    }
    let nets = client.post_json("/networks/prune", &q, None)?;
    let deleted: Vec<String> = nets["NetworksDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}\n", deleted.join("\n"));
    }
    if a.volumes {
        let v = client.post_json("/volumes/prune", &q, None)?;
        let deleted: Vec<String> = v["VolumesDeleted"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if !deleted.is_empty() {
            println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
        }
        total += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    let (text, space) = prune_images(&client, a.all, &a.filter)?;
    total += space;
    print_report(&text);
    if let Ok(b) = client.post_json("/build/prune", &Query::new(), None) {
        total += b["SpaceReclaimed"].as_u64().unwrap_or(0);
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

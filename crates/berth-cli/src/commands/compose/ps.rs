//! `compose ps`, `ls`, `images`, `top` and `port`: tables as docker
//! compose v2 prints them, with the berth CLI's formatting helpers.

use std::collections::BTreeMap;

use anyhow::Result;
use berth_api::container::{Status, Summary};
use berth_api::query;
use berth_compose::engine::{label_of, name_of, number_of};
use berth_compose::labels;
use clap::Args;
use serde::Serialize;

use super::lifecycle::ServicesArgs;
use super::{Globals, client, compose, fail, failed, project_or_labels, with_services};
use crate::commands::Ctx;
use crate::commands::container::ps::context;
use crate::format::{human_size, render, short_id, tabwrite, tabwrite_min, tval};
use crate::template::TVal;

#[derive(Args)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Format output using a custom template: 'table' (default), 'table TEMPLATE', 'json', 'TEMPLATE'
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter services by a property (supported filters: status)
    #[arg(long = "filter", value_name = "string")]
    pub filter: Vec<String>,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long, value_name = "stringArray")]
    pub status: Vec<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Include orphaned services (not declared by project)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub orphans: bool,
    #[arg(value_name = "SERVICE")]
    pub service_names: Vec<String>,
}

/// Health as compose reports it, from the daemon's status text.
fn health(c: &Summary) -> &'static str {
    let s = &c.status;
    if s.contains("(healthy)") {
        "healthy"
    } else if s.contains("(unhealthy)") {
        "unhealthy"
    } else if s.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
}

/// The exit code in `Exited (3) 2 seconds ago`.
fn exit_code(c: &Summary) -> i64 {
    c.status
        .strip_prefix("Exited (")
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What `compose ps` shows on top of docker's container context.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ComposeFields {
    exit_code: i64,
    health: String,
    name: String,
    project: String,
    publishers: Vec<Publisher>,
    service: String,
}

/// A published port, as compose's JSON has it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Publisher {
    #[serde(flatten)]
    url: Url,
    target_port: u16,
    published_port: u16,
    protocol: String,
}

/// compose spells this field in capitals.
#[derive(Serialize)]
#[serde(rename_all = "UPPERCASE")]
struct Url {
    url: String,
}

/// `ID`, in capitals.
#[derive(Serialize)]
#[serde(rename_all = "UPPERCASE")]
struct Id {
    id: String,
}

/// The fields of `extra` added to the object `base`, keys sorted (as
/// compose's JSON has them), markers and methods last.
fn merge(base: TVal, extra: TVal) -> TVal {
    match (base, extra) {
        (TVal::Obj(mut a), TVal::Obj(b)) => {
            a.extend(b);
            a.sort_by(|x, y| (x.0.starts_with("__"), &x.0).cmp(&(y.0.starts_with("__"), &y.0)));
            TVal::Obj(a)
        }
        (a, _) => a,
    }
}

fn compose_fields(c: &Summary) -> ComposeFields {
    ComposeFields {
        exit_code: exit_code(c),
        health: health(c).to_string(),
        name: name_of(c),
        project: label_of(c, labels::PROJECT).to_string(),
        publishers: c
            .ports
            .iter()
            .map(|p| Publisher {
                url: Url { url: p.ip.clone() },
                target_port: p.private_port,
                published_port: p.public_port,
                protocol: if p.kind.is_empty() {
                    "tcp".into()
                } else {
                    p.kind.clone()
                },
            })
            .collect(),
        service: label_of(c, labels::SERVICE).to_string(),
    }
}

/// A `compose ps` row: docker's container context plus compose's fields.
fn row(c: &Summary, trunc: bool) -> TVal {
    merge(context(c, trunc), tval(&compose_fields(c)))
}

/// `NAME` for `Name`, `EXIT CODE` for `ExitCode`.
fn title(key: &str) -> String {
    let mut t = String::new();
    for (i, ch) in key.chars().enumerate() {
        if i > 0 && ch.is_ascii_uppercase() {
            t.push(' ');
        }
        t.push(ch.to_ascii_uppercase());
    }
    t
}

/// The column titles: docker's, and compose's own fields'.
fn header() -> TVal {
    let sample = tval(&compose_fields(&Summary::default()));
    let titles = match sample {
        TVal::Obj(o) => TVal::Obj(
            o.into_iter()
                .map(|(k, _)| (k.clone(), TVal::s(title(&k))))
                .collect(),
        ),
        v => v,
    };
    merge(crate::commands::container::ps::header(), titles)
}

pub fn ps(ctx: &Ctx, g: &Globals, a: PsArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = with_services(project_or_labels(g, &client)?, &a.service_names)?;
    let c = compose(&client, project);
    let mut statuses: Vec<String> = a.status.clone();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("status", v)) => statuses.push(v.to_string()),
            _ => return Err(fail(format!("invalid filter {f:?}"))),
        }
    }
    for s in &statuses {
        if Status::parse(s).is_none() {
            return Err(fail(format!("invalid filter: status={s}")));
        }
    }
    let all = a.all || !statuses.is_empty();
    let mut cs: Vec<Summary> = c.containers(all, None, true).map_err(failed)?;
    cs.retain(|x| {
        let svc = label_of(x, labels::SERVICE);
        let oneoff = label_of(x, labels::ONEOFF) == "True";
        (a.service_names.is_empty() || a.service_names.iter().any(|s| s == svc))
            && (a.orphans || oneoff || c.project.services.contains_key(svc))
            && (statuses.is_empty() || statuses.iter().any(|s| s == x.state.as_str()))
    });
    cs.sort_by_key(name_of);
    if a.quiet {
        for x in &cs {
            println!("{}", x.id);
        }
        return Ok(0);
    }
    if a.services {
        let mut seen = Vec::new();
        for x in &cs {
            let s = label_of(x, labels::SERVICE).to_string();
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
        for s in seen {
            println!("{s}");
        }
        return Ok(0);
    }
    let format = match a.format.as_str() {
        "" | "table" => "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}".to_string(),
        f => f.to_string(),
    };
    let rows: Vec<TVal> = cs.iter().map(|x| row(x, !a.no_trunc)).collect();
    print!(
        "{}",
        render(&format, &rows, &header()).map_err(|e| fail(format!("{e:#}")))?
    );
    Ok(0)
}

#[derive(Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter output based on conditions provided
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
}

/// compose's `running(2), exited(1)`: the states sorted, with counts.
fn combined_status(states: &[&str]) -> String {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for s in states {
        *n.entry(s).or_default() += 1;
    }
    n.iter()
        .map(|(s, k)| format!("{s}({k})"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    let client = client(ctx)?;
    let mut name_filter = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("name", v)) => name_filter.push(v.to_string()),
            _ => return Err(fail(format!("invalid filter {f:?}"))),
        }
    }
    let cs = client
        .container_list(&query::container::List {
            all: a.all,
            ..Default::default()
        })
        .map_err(fail)?;
    let mut projects: BTreeMap<String, (Vec<&str>, String)> = BTreeMap::new();
    for c in &cs {
        let p = label_of(c, labels::PROJECT);
        if p.is_empty() || !c.labels.contains_key(labels::CONFIG_HASH) {
            continue;
        }
        if !name_filter.is_empty() && !name_filter.iter().any(|n| p.contains(n.as_str())) {
            continue;
        }
        let e = projects
            .entry(p.to_string())
            .or_insert_with(|| (Vec::new(), label_of(c, labels::CONFIG_FILES).to_string()));
        e.0.push(c.state.as_str());
    }
    if a.quiet {
        for n in projects.keys() {
            println!("{n}");
        }
        return Ok(0);
    }
    if a.format == "json" {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Row<'a> {
            name: &'a str,
            status: String,
            config_files: &'a str,
        }
        let v: Vec<Row> = projects
            .iter()
            .map(|(n, (st, files))| Row {
                name: n,
                status: combined_status(st),
                config_files: files,
            })
            .collect();
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        return Ok(0);
    }
    if a.format != "table" {
        return Err(fail(format!(
            "format value {:?} could not be parsed",
            a.format
        )));
    }
    let mut text = String::from("NAME\tSTATUS\tCONFIG FILES\n");
    for (n, (st, files)) in &projects {
        text.push_str(&format!("{n}\t{}\t{files}\n", combined_status(st)));
    }
    print!("{}", tabwrite(&text));
    Ok(0)
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub fn images(ctx: &Ctx, g: &Globals, a: ImagesArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = with_services(project_or_labels(g, &client)?, &a.services)?;
    let c = compose(&client, project);
    let mut cs = c.service_containers(&a.services, true).map_err(failed)?;
    cs.sort_by_key(name_of);
    let mut rows = Vec::new();
    for x in &cs {
        let (repo, tag, id, size) = match client.image_inspect(&x.image_id) {
            Ok(i) => {
                let (repo, tag) = i
                    .repo_tags
                    .first()
                    .map(|t| crate::opts::split_ref(t))
                    .unwrap_or_else(|| ("<none>".into(), "<none>".into()));
                (repo, tag, i.id.clone(), i.size)
            }
            Err(_) => {
                let (repo, tag) = crate::opts::split_ref(&x.image);
                (repo, tag, x.image_id.clone(), 0)
            }
        };
        rows.push((name_of(x), repo, tag, id, size));
    }
    if a.quiet {
        let mut ids: Vec<String> = rows.iter().map(|r| r.3.clone()).collect();
        ids.dedup();
        for i in ids {
            println!("{i}");
        }
        return Ok(0);
    }
    if a.format == "json" {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Row<'a> {
            #[serde(flatten)]
            id: Id,
            container_name: &'a str,
            repository: &'a str,
            tag: &'a str,
            size: i64,
        }
        let v: Vec<Row> = rows
            .iter()
            .map(|(n, r, t, i, s)| Row {
                id: Id { id: i.clone() },
                container_name: n,
                repository: r,
                tag: t,
                size: *s,
            })
            .collect();
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        return Ok(0);
    }
    let mut text = String::from("CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE\n");
    for (n, r, t, i, s) in &rows {
        text.push_str(&format!(
            "{n}\t{r}\t{t}\t{}\t{}\n",
            short_id(i),
            human_size(*s as f64)
        ));
    }
    print!("{}", tabwrite(&text));
    Ok(0)
}

pub fn top(ctx: &Ctx, g: &Globals, a: ServicesArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = with_services(project_or_labels(g, &client)?, &a.services)?;
    let c = compose(&client, project);
    let mut cs = c.service_containers(&a.services, false).map_err(failed)?;
    cs.sort_by_key(name_of);
    for x in &cs {
        let t = client.container_top(&x.id, "").map_err(fail)?;
        let mut text = t.titles.join("\t");
        text.push('\n');
        for p in &t.processes {
            text.push_str(&p.join("\t"));
            text.push('\n');
        }
        println!("{}", name_of(x));
        println!("{}", tabwrite_min(&text, 0));
    }
    Ok(0)
}

#[derive(Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

pub fn port(ctx: &Ctx, g: &Globals, a: PortArgs) -> Result<i32> {
    let client = client(ctx)?;
    let project = project_or_labels(g, &client)?;
    if !project.services.contains_key(&a.service) {
        return Err(fail(format!("no such service: {}", a.service)));
    }
    let c = compose(&client, project);
    let cs = c
        .containers(false, Some(&a.service), false)
        .map_err(failed)?;
    let x = cs.iter().find(|x| number_of(x) == a.index).ok_or_else(|| {
        fail(format!(
            "service {:?} is not running container #{}",
            a.service, a.index
        ))
    })?;
    let found = x.ports.iter().find(|p| {
        p.private_port == a.private_port
            && (if p.kind.is_empty() { "tcp" } else { &p.kind }) == a.protocol
            && p.public_port != 0
    });
    match found {
        Some(p) => {
            println!("{}:{}", p.ip, p.public_port);
            Ok(0)
        }
        None => Err(fail(format!(
            "no port {}/{} for container {}",
            a.private_port,
            a.protocol,
            name_of(x)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_combined_as_compose() {
        assert_eq!(
            combined_status(&["running", "exited", "running"]),
            "exited(1), running(2)"
        );
        assert_eq!(combined_status(&["running"]), "running(1)");
    }
}

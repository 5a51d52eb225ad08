//! history, import, image inspect, load, image prune, rmi, save, tag.

use std::io::Read;

use anyhow::{Result, anyhow};
use clap::Args;

use crate::client::{Body, Query, is_status};
use crate::commands::Ctx;
use crate::commands::container::inspect::{get_raw, print_inspect};
use crate::commands::container::misc::{confirm, save_stream};
use crate::commands::container::run::print_json_stream;
use crate::format::{ago, ellipsis, human_size, human_size_prec, render, short_id};
use crate::opts::{filters_json, normalize_name, split_ref};
use crate::stream;
use crate::template::TVal;

#[derive(Args)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// File, URL or - for stdin
    pub file: String,
    pub reference: Option<String>,
}

#[derive(Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub fn history(ctx: &Ctx, a: HistoryArgs) -> Result<i32> {
    let client = ctx.client()?;
    let v = client.get_json(&format!("/images/{}/history", a.image), &Query::new())?;
    let trunc = !a.no_trunc;
    let rows: Vec<TVal> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or("");
            let id = if id == "<missing>" || !trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            let created = h["Created"].as_i64().unwrap_or(0);
            let created_at = chrono::DateTime::from_timestamp(created, 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .unwrap_or_default();
            let by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let by = if trunc { ellipsis(&by, 45) } else { by };
            let size = h["Size"].as_i64().unwrap_or(0);
            TVal::obj(vec![
                ("Comment", TVal::s(h["Comment"].as_str().unwrap_or(""))),
                ("CreatedAt", TVal::Str(created_at.clone())),
                ("CreatedBy", TVal::Str(by)),
                (
                    "CreatedSince",
                    TVal::Str(if created <= 0 {
                        "N/A".into()
                    } else if a.human {
                        ago(created)
                    } else {
                        created_at
                    }),
                ),
                ("ID", TVal::Str(id)),
                (
                    "Size",
                    TVal::Str(if a.human {
                        human_size_prec(size as f64, 3)
                    } else {
                        size.to_string()
                    }),
                ),
            ])
        })
        .collect();
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format
            .clone()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| {
                "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into()
            })
    };
    print!("{}", render(&format, &rows, HISTORY_HEADERS)?);
    Ok(0)
}

pub fn import(ctx: &Ctx, a: ImportArgs) -> Result<i32> {
    let client = ctx.client()?;
    let (repo, tag) = match &a.reference {
        Some(r) => {
            let (repo, tag) = split_ref(r);
            (normalize_name(&repo), tag)
        }
        None => (String::new(), String::new()),
    };
    let is_url = a.file.starts_with("http://") || a.file.starts_with("https://");
    let mut q = Query::new()
        .add(
            "fromSrc",
            if is_url {
                a.file.clone()
            } else {
                "-".to_string()
            },
        )
        .add("repo", repo)
        .add("tag", tag)
        .add("message", a.message.clone().unwrap_or_default())
        .add_if(
            a.platform.is_some(),
            "platform",
            a.platform.clone().unwrap_or_default(),
        );
    for c in &a.change {
        q = q.add("changes", c.clone());
    }
    let mut resp = if is_url {
        client.request("POST", "/images/create", &q, Body::None)?
    } else if a.file == "-" {
        let mut stdin = std::io::stdin().lock();
        client.request(
            "POST",
            "/images/create",
            &q,
            Body::Stream(&mut stdin, "application/x-tar"),
        )?
    } else {
        let mut f = std::fs::File::open(&a.file)
            .map_err(|e| anyhow!("open {}: {}", a.file, crate::opts::io_msg(&e)))?;
        client.request(
            "POST",
            "/images/create",
            &q,
            Body::Stream(&mut f, "application/x-tar"),
        )?
    };
    print_json_stream(&mut resp, false)?;
    Ok(0)
}

pub fn inspect(ctx: &Ctx, a: ImageInspectArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for i in &a.images {
        match get_raw(&client, &format!("/images/{i}/json"), &Query::new()) {
            Ok(r) => raws.push(r),
            Err(e) if is_status(&e, 404) => errors.push(format!("Error: No such image: {i}")),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    print_inspect(&raws, a.format.as_deref())?;
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(crate::status(1, errors.join("\n")))
    }
}

pub fn load(ctx: &Ctx, a: LoadArgs) -> Result<i32> {
    let mut input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(
            std::fs::File::open(p).map_err(|e| anyhow!("open {p}: {}", crate::opts::io_msg(&e)))?,
        ),
        None => {
            if stream::is_tty(0) {
                return Err(crate::status(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::new(std::io::stdin())
        }
    };
    let client = ctx.client()?;
    let q = Query::new().add("quiet", if a.quiet { "1" } else { "0" });
    let mut resp = client.request(
        "POST",
        "/images/load",
        &q,
        Body::Stream(&mut input, "application/x-tar"),
    )?;
    if resp.header("Content-Type") == Some("application/json") {
        print_json_stream(&mut resp, false)?;
    } else {
        std::io::copy(&mut resp, &mut std::io::stdout())?;
    }
    Ok(0)
}

pub fn prune(ctx: &Ctx, a: ImagePruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let client = ctx.client()?;
    let (text, _) = prune_images(&client, a.all, &a.filter)?;
    print!("{text}");
    Ok(0)
}

/// Runs `POST /images/prune`; returns the report text and reclaimed bytes.
pub fn prune_images(
    client: &crate::client::Client,
    all: bool,
    filter: &[String],
) -> Result<(String, u64)> {
    let mut f = filter.to_vec();
    f.push(format!("dangling={}", !all));
    let q = Query::new().add("filters", filters_json(&f)?.unwrap_or_default());
    let v = client.post_json("/images/prune", &q, None)?;
    let mut out = String::new();
    let deleted = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d["Untagged"].as_str().filter(|s| !s.is_empty()) {
                out.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(u) = d["Deleted"].as_str().filter(|s| !s.is_empty()) {
                out.push_str(&format!("deleted: {u}\n"));
            }
        }
        out.push('\n');
    }
    let space = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(space as f64)
    ));
    Ok((out, space))
}

pub fn rmi(ctx: &Ctx, a: RmiArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = Query::new()
        .add_if(a.force, "force", "1")
        .add_if(a.no_prune, "noprune", "1");
    let mut failed = false;
    for img in &a.images {
        match client.request("DELETE", &format!("/images/{img}"), &q, Body::None) {
            Ok(r) => {
                for d in r.json()?.as_array().into_iter().flatten() {
                    if let Some(u) = d["Untagged"].as_str().filter(|s| !s.is_empty()) {
                        println!("Untagged: {u}");
                    }
                    if let Some(u) = d["Deleted"].as_str().filter(|s| !s.is_empty()) {
                        println!("Deleted: {u}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e:#}");
                if !(a.force && is_status(&e, 404)) {
                    failed = true;
                }
            }
        }
    }
    if failed {
        Err(crate::status(1, ""))
    } else {
        Ok(0)
    }
}

pub fn save(ctx: &Ctx, a: SaveArgs) -> Result<i32> {
    if a.output.is_none() && stream::is_tty(1) {
        return Err(crate::status(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let client = ctx.client()?;
    let mut q = Query::new();
    for i in &a.images {
        q = q.add("names", i.clone());
    }
    let resp = client.request("GET", "/images/get", &q, Body::None)?;
    save_stream(resp, a.output.as_deref())?;
    Ok(0)
}

pub fn tag(ctx: &Ctx, a: TagArgs) -> Result<i32> {
    let client = ctx.client()?;
    let (repo, tag) = split_ref(&a.target);
    let tag = if tag.is_empty() {
        "latest".to_string()
    } else {
        tag
    };
    let q = Query::new()
        .add("repo", normalize_name(&repo))
        .add("tag", tag);
    client.post(&format!("/images/{}/tag", a.source), &q)?;
    Ok(0)
}

//! `docker images` / `docker image ls`.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::Query;
use crate::commands::Ctx;
use crate::format::{ago, go_time, human_size_prec, render, short_id};
use crate::opts::filters_json;
use crate::template::TVal;

#[derive(Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub repository: Option<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

fn split_repo(r: &str, sep: char) -> (String, String) {
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(sep) {
        Some(i) => (r[..slash + i].to_string(), r[slash + i + 1..].to_string()),
        None => (r.to_string(), String::new()),
    }
}

fn size_str(v: &Value) -> String {
    match v.as_i64() {
        Some(n) if n >= 0 => human_size_prec(n as f64, 3),
        _ => "N/A".into(),
    }
}

/// Rows of one image: one per (repository, tag), docker's way.
fn rows_of(img: &Value, trunc: bool, digests: bool) -> Vec<TVal> {
    let strs = |k: &str| -> Vec<String> {
        img[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut dgs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in strs("RepoTags") {
        if t == "<none>:<none>" {
            continue;
        }
        let (repo, tag) = split_repo(&t, ':');
        tags.entry(repo).or_default().push(tag);
    }
    for d in strs("RepoDigests") {
        if d == "<none>@<none>" {
            continue;
        }
        let (repo, dg) = split_repo(&d, '@');
        dgs.entry(repo).or_default().push(dg);
    }
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    for (repo, ts) in &tags {
        let ds = dgs.get(repo).cloned().unwrap_or_default();
        for t in ts {
            if ds.is_empty() || !digests {
                let d = ds.first().cloned().unwrap_or_else(|| "<none>".into());
                pairs.push((repo.clone(), t.clone(), d));
            } else {
                for d in &ds {
                    pairs.push((repo.clone(), t.clone(), d.clone()));
                }
            }
        }
    }
    for (repo, ds) in &dgs {
        if !tags.contains_key(repo) {
            for d in ds {
                pairs.push((repo.clone(), "<none>".into(), d.clone()));
                if !digests {
                    break;
                }
            }
        }
    }
    if pairs.is_empty() {
        pairs.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    let id = img["Id"].as_str().unwrap_or("");
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = img["Size"].as_i64().unwrap_or(0);
    let shared = img["SharedSize"].as_i64().unwrap_or(-1);
    pairs
        .into_iter()
        .map(|(repo, tag, digest)| {
            TVal::obj(vec![
                (
                    "Containers",
                    TVal::Str(match img["Containers"].as_i64() {
                        Some(n) if n >= 0 => n.to_string(),
                        _ => "N/A".into(),
                    }),
                ),
                ("CreatedAt", TVal::Str(go_time(created))),
                ("CreatedSince", TVal::Str(ago(created))),
                ("Digest", TVal::Str(digest)),
                (
                    "ID",
                    TVal::Str(if trunc { short_id(id) } else { id.to_string() }),
                ),
                ("Repository", TVal::Str(repo)),
                ("SharedSize", TVal::Str(size_str(&img["SharedSize"]))),
                ("Size", TVal::Str(human_size_prec(size as f64, 3))),
                ("Tag", TVal::Str(tag)),
                (
                    "UniqueSize",
                    TVal::Str(if shared >= 0 {
                        human_size_prec((size - shared) as f64, 3)
                    } else {
                        "N/A".into()
                    }),
                ),
                ("VirtualSize", TVal::Str(human_size_prec(size as f64, 3))),
            ])
        })
        .collect()
}

pub fn run(ctx: &Ctx, a: ImagesArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    let mut q = Query::new().add_if(a.all, "all", "1");
    if let Some(f) = filters_json(&filters)? {
        q = q.add("filters", f);
    }
    let list = client.get_json("/images/json", &q)?;
    let items = list.as_array().cloned().unwrap_or_default();
    let trunc = !a.no_trunc;
    let format = match a.format.clone().filter(|f| !f.is_empty()) {
        _ if a.quiet => "{{.ID}}".into(),
        Some(f) => f,
        None if a.digests => {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                .into()
        }
        None => "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
    };
    let rows: Vec<TVal> = items
        .iter()
        .flat_map(|i| rows_of(i, trunc, a.digests))
        .collect();
    print!("{}", render(&format, &rows, HEADERS)?);
    Ok(0)
}

//! `docker images` / `docker image ls`.

use std::collections::BTreeMap;

use anyhow::Result;
use berth_api::cli::ImageContext;
use berth_api::image::Summary;
use berth_api::query;
use clap::Args;

use crate::commands::Ctx;
use crate::format::{ago, go_time, human_size_prec, render, short_id, tval};
use crate::opts::filters;
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

fn header() -> TVal {
    let t = |s: &str| s.to_string();
    tval(&ImageContext {
        containers: t("CONTAINERS"),
        created_at: t("CREATED AT"),
        created_since: t("CREATED"),
        digest: t("DIGEST"),
        id: t("IMAGE ID"),
        repository: t("REPOSITORY"),
        shared_size: t("SHARED SIZE"),
        size: t("SIZE"),
        tag: t("TAG"),
        unique_size: t("UNIQUE SIZE"),
        virtual_size: t("SIZE"),
    })
}

fn split_repo(r: &str, sep: char) -> (String, String) {
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(sep) {
        Some(i) => (r[..slash + i].to_string(), r[slash + i + 1..].to_string()),
        None => (r.to_string(), String::new()),
    }
}

/// Rows of one image: one per (repository, tag), docker's way.
fn rows_of(img: &Summary, trunc: bool, digests: bool) -> Vec<TVal> {
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut dgs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &img.repo_tags {
        if t == "<none>:<none>" {
            continue;
        }
        let (repo, tag) = split_repo(t, ':');
        tags.entry(repo).or_default().push(tag);
    }
    for d in &img.repo_digests {
        if d == "<none>@<none>" {
            continue;
        }
        let (repo, dg) = split_repo(d, '@');
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
    let size = img.size;
    let shared = img.shared_size;
    let sizes = |n: i64| {
        if n >= 0 {
            human_size_prec(n as f64, 3)
        } else {
            "N/A".into()
        }
    };
    pairs
        .into_iter()
        .map(|(repository, tag, digest)| {
            crate::format::context(&ImageContext {
                containers: if img.containers >= 0 {
                    img.containers.to_string()
                } else {
                    "N/A".into()
                },
                created_at: go_time(img.created),
                created_since: ago(img.created),
                digest,
                id: if trunc {
                    short_id(&img.id)
                } else {
                    img.id.clone()
                },
                repository,
                shared_size: sizes(shared),
                size: human_size_prec(size as f64, 3),
                tag,
                unique_size: if shared >= 0 {
                    human_size_prec((size - shared) as f64, 3)
                } else {
                    "N/A".into()
                },
                virtual_size: crate::format::human_size(size as f64),
            })
        })
        .collect()
}

pub fn run(ctx: &Ctx, a: ImagesArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut flags = a.filter.clone();
    if let Some(r) = &a.repository {
        flags.push(format!("reference={r}"));
    }
    let q = query::image::List {
        all: a.all,
        filters: filters(&flags)?,
        ..Default::default()
    };
    let items = client.image_list(&q)?;
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
    print!("{}", render(&format, &rows, &header())?);
    Ok(0)
}

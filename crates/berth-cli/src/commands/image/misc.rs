//! history, import, image inspect, load, image prune, rmi, save, tag.

use std::io::Read;

use anyhow::{Result, anyhow};
use berth_api::cli::HistoryContext;
use berth_api::query;
use berth_client::Client;
use clap::Args;

use crate::commands::Ctx;
use crate::commands::container::inspect::print_inspect;
use crate::commands::container::misc::{confirm, save_stream};
use crate::commands::container::run::print_json_stream;
use crate::format::{ago, ellipsis, human_size, human_size_prec, render, short_id, tval};
use crate::opts::{filters, normalize_name, split_ref};
use crate::template::TVal;
use crate::term;

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

fn history_header() -> TVal {
    let t = |s: &str| s.to_string();
    tval(&HistoryContext {
        comment: t("COMMENT"),
        created_at: t("CREATED AT"),
        created_by: t("CREATED BY"),
        created_since: t("CREATED"),
        id: t("IMAGE"),
        size: t("SIZE"),
    })
}

pub fn history(ctx: &Ctx, a: HistoryArgs) -> Result<i32> {
    let client = ctx.client()?;
    let trunc = !a.no_trunc;
    let rows: Vec<TVal> = client
        .image_history(&a.image)?
        .into_iter()
        .map(|h| {
            let id = if h.id == "<missing>" || !trunc {
                h.id.clone()
            } else {
                short_id(&h.id)
            };
            let created = h.created;
            let created_at = chrono::DateTime::from_timestamp(created, 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .unwrap_or_default();
            let by = h.created_by.replace('\t', " ");
            let by = if trunc { ellipsis(&by, 45) } else { by };
            crate::format::context(&HistoryContext {
                comment: h.comment.clone(),
                created_at: created_at.clone(),
                created_by: by,
                created_since: if created <= 0 {
                    "N/A".into()
                } else if a.human {
                    ago(created)
                } else {
                    created_at
                },
                id,
                size: if a.human {
                    human_size_prec(h.size as f64, 3)
                } else {
                    h.size.to_string()
                },
            })
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
    print!("{}", render(&format, &rows, &history_header())?);
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
    let q = query::image::Create {
        from_src: if is_url {
            a.file.clone()
        } else {
            "-".to_string()
        },
        repo,
        tag,
        message: a.message.clone().unwrap_or_default(),
        platform: a.platform.clone().unwrap_or_default(),
        changes: a.change.clone(),
        ..Default::default()
    };
    let mut resp = if is_url {
        client.image_import(&q, &mut std::io::empty())?
    } else if a.file == "-" {
        let mut stdin = std::io::stdin().lock();
        client.image_import(&q, &mut stdin)?
    } else {
        let mut f = std::fs::File::open(&a.file)
            .map_err(|e| anyhow!("open {}: {}", a.file, crate::opts::io_msg(&e)))?;
        client.image_import(&q, &mut f)?
    };
    print_json_stream(&mut resp, false)?;
    Ok(0)
}

pub fn inspect(ctx: &Ctx, a: ImageInspectArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for i in &a.images {
        match client.image_inspect_bytes(i) {
            Ok(r) => raws.push(r),
            Err(e) if e.is_not_found() => errors.push(format!("Error: No such image: {i}")),
            Err(e) => errors.push(e.to_string()),
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
            if term::is_tty(0) {
                return Err(crate::status(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::new(std::io::stdin())
        }
    };
    let client = ctx.client()?;
    let q = query::image::Load {
        quiet: a.quiet,
        ..Default::default()
    };
    let mut resp = client.image_load(&q, &mut input)?;
    if resp.header("Content-Type") == Some(berth_api::system::media::JSON) {
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
pub fn prune_images(client: &Client, all: bool, filter: &[String]) -> Result<(String, u64)> {
    let mut f = filters(filter)?;
    f.add("dangling", if all { "false" } else { "true" });
    let v = client.image_prune(&query::container::Prune { filters: f })?;
    let mut out = String::new();
    let deleted = v.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d.untagged.as_deref().filter(|s| !s.is_empty()) {
                out.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(u) = d.deleted.as_deref().filter(|s| !s.is_empty()) {
                out.push_str(&format!("deleted: {u}\n"));
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(v.space_reclaimed as f64)
    ));
    Ok((out, v.space_reclaimed))
}

pub fn rmi(ctx: &Ctx, a: RmiArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = query::image::Remove {
        force: a.force,
        noprune: a.no_prune,
    };
    let mut failed = false;
    for img in &a.images {
        match client.image_remove(img, &q) {
            Ok(items) => {
                for d in items {
                    if let Some(u) = d.untagged.filter(|s| !s.is_empty()) {
                        println!("Untagged: {u}");
                    }
                    if let Some(u) = d.deleted.filter(|s| !s.is_empty()) {
                        println!("Deleted: {u}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                if !(a.force && e.is_not_found()) {
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
    if a.output.is_none() && term::is_tty(1) {
        return Err(crate::status(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let client = ctx.client()?;
    let q = query::image::Save {
        names: a.images.clone(),
        ..Default::default()
    };
    let resp = client.image_save(&q)?;
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
    let q = query::image::Tag {
        repo: normalize_name(&repo),
        tag,
    };
    client.image_tag(&a.source, &q)?;
    Ok(0)
}

//! `docker cp` in both directions, via the archive endpoints.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use berth_api::container::file_mode;
use berth_api::query;
use berth_client::Client;
use clap::Args;

use crate::commands::Ctx;
use crate::format::human_size_prec;
use crate::term;

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub src: String,
    pub dest: String,
}

/// Splits `container:path`; a local path has no `:` before the first `/`.
fn split_spec(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    if c.contains('/') { None } else { Some((c, p)) }
}

pub fn run(ctx: &Ctx, a: CpArgs) -> Result<i32> {
    match (split_spec(&a.src), split_spec(&a.dest)) {
        (Some(_), Some(_)) => Err(crate::status(
            1,
            "copying between containers is not supported",
        )),
        (None, None) => Err(crate::status(
            1,
            "must specify at least one container source",
        )),
        (Some((c, p)), None) => {
            let client = ctx.client()?;
            from_container(&client, c, p, &a.dest, a.quiet)
        }
        (None, Some((c, p))) => {
            let client = ctx.client()?;
            to_container(&client, &a.src, c, p, a.archive, a.follow_link, a.quiet)
        }
    }
}

fn from_container(client: &Client, c: &str, src: &str, dest: &str, quiet: bool) -> Result<i32> {
    let (stat, resp) = client.container_get_archive(c, src)?;
    if dest == "-" {
        let mut out = std::io::stdout().lock();
        let mut r = resp;
        std::io::copy(&mut r, &mut out)?;
        return Ok(0);
    }
    let root = stat.name.clone();
    let src_is_dir = stat.mode & file_mode::DIR != 0;
    let dest_path = PathBuf::from(dest);
    let dest_exists_dir = dest_path.is_dir();
    if dest_path.exists() && !dest_exists_dir && src_is_dir {
        bail!("cannot copy directory to file");
    }
    if !dest_path.exists() && dest.ends_with('/') {
        bail!("destination directory \"{dest}\" does not exist");
    }
    let contents = src.ends_with("/.");
    let mut ar = tar::Archive::new(resp);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    let mut total = 0u64;
    for entry in ar.entries()? {
        let mut entry = entry?;
        let p = entry.path()?.into_owned();
        let mut comps = p.components().filter(|c| matches!(c, Component::Normal(_)));
        let first = comps.next();
        let rel: PathBuf = comps.collect();
        if first.is_none() {
            continue;
        }
        let target = if dest_exists_dir && !contents {
            dest_path.join(&p)
        } else if first.map(|f| f.as_os_str().to_string_lossy().into_owned()) == Some(root.clone())
        {
            if rel.as_os_str().is_empty() {
                dest_path.clone()
            } else {
                dest_path.join(&rel)
            }
        } else {
            dest_path.join(&p)
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        total += entry.size();
        entry
            .unpack(&target)
            .map_err(|e| anyhow!("{}: {e}", target.display()))?;
    }
    if !quiet && term::is_tty(2) {
        eprintln!(
            "Successfully copied {} to {dest}",
            human_size_prec(total as f64, 3)
        );
    }
    Ok(0)
}

fn to_container(
    client: &Client,
    src: &str,
    c: &str,
    dst: &str,
    archive: bool,
    follow: bool,
    quiet: bool,
) -> Result<i32> {
    let q = |p: &str| query::container::Archive {
        path: p.to_string(),
        no_overwrite_dir_non_dir: true,
        copy_uid_gid: archive,
    };
    if src == "-" {
        let mut stdin = std::io::stdin().lock();
        client.container_put_archive(c, &q(dst), &mut stdin)?;
        return Ok(0);
    }
    let src_path = Path::new(src);
    let meta = if follow {
        std::fs::metadata(src_path)
    } else {
        std::fs::symlink_metadata(src_path)
    }
    .map_err(|_| anyhow!("stat {src}: no such file or directory"))?;
    // where does it go?
    let dst_stat = match client.container_stat_path(c, dst) {
        Ok(s) => Some(s),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let dst_is_dir = dst_stat
        .as_ref()
        .is_some_and(|s| s.mode & file_mode::DIR != 0);
    if dst_stat.is_none() && dst.ends_with('/') {
        bail!("Error response from daemon: Could not find the file {dst} in container {c}");
    }
    if dst_stat.is_some() && !dst_is_dir && meta.is_dir() {
        bail!("cannot copy directory to file");
    }
    let contents = src.ends_with("/.") && meta.is_dir();
    let base = src_path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    let (upload_dir, name) = if dst_is_dir {
        (dst.to_string(), base)
    } else {
        let dp = Path::new(dst);
        let parent = dp
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or("/".into());
        let parent = if parent.is_empty() {
            "/".to_string()
        } else {
            parent
        };
        let name = dp
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (parent, name)
    };
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(follow);
    if meta.is_dir() {
        if contents && dst_is_dir {
            builder.append_dir_all(".", src_path)?;
        } else {
            builder.append_dir_all(&name, src_path)?;
        }
    } else {
        builder.append_path_with_name(src_path, &name)?;
    }
    let data = builder.into_inner()?;
    let size = data.len();
    let mut r: &[u8] = &data;
    let reader: &mut dyn Read = &mut r;
    client.container_put_archive(c, &q(&upload_dir), reader)?;
    if !quiet && term::is_tty(2) {
        eprintln!(
            "Successfully copied {} to {c}:{dst}",
            human_size_prec(size as f64, 3)
        );
    }
    Ok(0)
}

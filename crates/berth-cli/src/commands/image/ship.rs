//! `docker pull` and `docker push`, and the pull that `run` and `create`
//! do for a missing image.

use anyhow::{Result, anyhow};
use berth_api::image::OciPlatform;
use berth_api::query;
use berth_api::version::ApiVersion;
use berth_client::Client;
use clap::Args;

use crate::commands::Ctx;
use crate::commands::registry::{args_error, with_privilege};
use crate::credentials::Config;
use crate::jsonstream::{self, Target};
use crate::reference::Reference;

#[derive(Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM", hide_env = true)]
    pub platform: Option<String>,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: Vec<String>,
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long)]
    pub platform: Option<String>,
    /// Skip image signing
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: Vec<String>,
}

fn parse(name: &str) -> Result<Reference> {
    Reference::parse_normalized(name).map_err(|e| anyhow!("{e}"))
}

/// The stored credentials of a reference's registry (none if unreadable,
/// as docker's `ResolveAuthConfig`).
fn stored_auth(cfg: &Config, r: &Reference) -> berth_api::auth::AuthConfig {
    cfg.get(&r.auth_key()).unwrap_or_default()
}

pub fn pull(ctx: &Ctx, a: PullArgs) -> Result<i32> {
    if a.name.len() != 1 {
        return Err(args_error(
            "pull",
            "1 argument",
            "[OPTIONS] NAME[:TAG|@DIGEST]",
        ));
    }
    let mut r = parse(&a.name[0])?;
    if a.all_tags && !r.is_name_only() {
        return Err(anyhow!("tag can't be used with --all-tags/-a"));
    }
    if !a.all_tags && r.is_name_only() {
        r = r.with_default_tag();
        if !a.quiet {
            println!("Using default tag: {}", crate::reference::DEFAULT_TAG);
        }
    }
    let cfg = Config::load_default(ctx.config_dir.as_deref());
    let auth = stored_auth(&cfg, &r);
    let client = ctx.client()?;
    let q = query::image::Create {
        from_image: r.name(),
        tag: if a.all_tags {
            String::new()
        } else {
            r.api_tag()
        },
        platform: a.platform.clone().unwrap_or_default().to_lowercase(),
        ..Default::default()
    };
    let resp = with_privilege(&cfg, &r.auth_key(), &auth, "pull", |au| {
        client.image_pull(&q, Some(au))
    })?;
    if a.quiet {
        let mut sink = std::io::sink();
        jsonstream::display(resp, &mut Target::discard(&mut sink), |_| {})?;
    } else {
        let mut out = std::io::stdout().lock();
        jsonstream::display(resp, &mut Target::std(&mut out, 1), |_| {})?;
    }
    println!("{}", r.full());
    Ok(0)
}

/// `platforms.Parse` for the common forms: `os[/arch[/variant]]`, with
/// containerd's architecture names.
fn parse_platform(s: &str) -> Result<OciPlatform> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || anyhow!("\"{s}\": unknown operating system or architecture: invalid argument");
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let os = parts[0].to_lowercase();
    let (arch, variant) = match parts.get(1).map(|a| a.to_lowercase()) {
        None => (host_arch().to_string(), String::new()),
        Some(a) => {
            let (arch, default_variant) = match a.as_str() {
                "x86_64" | "x86-64" | "amd64" => ("amd64", ""),
                "aarch64" | "arm64" => ("arm64", ""),
                "armhf" => ("arm", "v7"),
                "armel" => ("arm", "v6"),
                "arm" => ("arm", "v7"),
                "i386" | "386" => ("386", ""),
                other => (other, ""),
            };
            let arch = arch.to_string();
            let v = parts
                .get(2)
                .map(|v| v.to_lowercase())
                .unwrap_or_else(|| default_variant.to_string());
            let v = if arch == "amd64" && v == "v1" {
                String::new()
            } else {
                v
            };
            (arch, v)
        }
    };
    Ok(OciPlatform {
        architecture: arch,
        os,
        variant,
        ..Default::default()
    })
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub fn push(ctx: &Ctx, a: PushArgs) -> Result<i32> {
    if a.name.len() != 1 {
        return Err(args_error("push", "1 argument", "[OPTIONS] NAME[:TAG]"));
    }
    let mut platform = None;
    if let Some(p) = a.platform.as_deref().filter(|p| !p.is_empty()) {
        match parse_platform(p) {
            Ok(pl) => platform = Some(pl),
            Err(e) => {
                eprint!("Invalid platform {p}");
                return Err(e);
            }
        }
        crate::prompt::note(
            &mut std::io::stdout(),
            crate::term::is_tty(1),
            "Using --platform pushes only the specified platform manifest of a multi-platform image index.\nOther components, like attestations, will not be included.\nTo push the complete multi-platform image, remove the --platform flag.\n",
        );
    }
    let mut r = parse(&a.name[0])?;
    if a.all_tags && !r.is_name_only() {
        return Err(anyhow!("tag can't be used with --all-tags/-a"));
    }
    if !a.all_tags && r.is_name_only() {
        r = r.with_default_tag();
        if !a.quiet {
            println!("Using default tag: {}", crate::reference::DEFAULT_TAG);
        }
    }
    let cfg = Config::load_default(ctx.config_dir.as_deref());
    let auth = stored_auth(&cfg, &r);
    let client = ctx.client()?;
    if r.digest.is_some() {
        return Err(anyhow!("cannot push a digest reference"));
    }
    if platform.is_some() && !client.version_at_least(ApiVersion(1, 46)) {
        return Err(anyhow!(
            "\"platform\" requires API version 1.46, but the Docker daemon API version is {}",
            client.api_version()
        ));
    }
    let q = query::image::Push {
        tag: if a.all_tags {
            String::new()
        } else {
            r.tag.clone().unwrap_or_default()
        },
        platform: platform
            .map(|p| serde_json::to_string(&p).expect("platform serialises"))
            .unwrap_or_default(),
    };
    let name = r.name();
    let resp = with_privilege(&cfg, &r.auth_key(), &auth, "push", |au| {
        client.image_push(&name, &q, Some(au))
    })?;
    if a.quiet {
        let mut sink = std::io::sink();
        jsonstream::display(resp, &mut Target::discard(&mut sink), |_| {})?;
        println!("{}", r.full());
    } else {
        let mut out = std::io::stdout().lock();
        jsonstream::display(resp, &mut Target::std(&mut out, 1), |_| {})?;
    }
    Ok(0)
}

/// The pull of `docker run`/`docker create` (`pullImage`): credentials of
/// the image's registry, progress on stderr (nothing with `quiet`).
pub fn pull_for_create(
    client: &Client,
    config_dir: Option<&str>,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let r = parse(image)?;
    let cfg = Config::load_default(config_dir);
    let auth = cfg.get(&r.auth_key())?;
    let q = query::image::Create {
        from_image: r.name(),
        tag: r.api_tag(),
        platform: platform.unwrap_or_default().to_lowercase(),
        ..Default::default()
    };
    let resp = client.image_pull(&q, Some(&auth))?;
    if quiet {
        let mut sink = std::io::sink();
        jsonstream::display(resp, &mut Target::discard(&mut sink), |_| {})
    } else {
        let mut err = std::io::stderr().lock();
        jsonstream::display(resp, &mut Target::std(&mut err, 2), |_| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        let p = parse_platform("linux/arm64").unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"architecture":"arm64","os":"linux"}"#
        );
        let p = parse_platform("linux/arm/v6").unwrap();
        assert_eq!(p.variant, "v6");
        assert_eq!(
            parse_platform("linux/x86_64").unwrap().architecture,
            "amd64"
        );
        assert!(parse_platform("linux//x").is_err());
    }
}

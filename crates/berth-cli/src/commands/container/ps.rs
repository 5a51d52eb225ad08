//! `docker ps`.

use anyhow::Result;
use berth_api::cli::ContainerContext;
use berth_api::container::{PortSummary, Summary};
use berth_api::query;
use clap::Args;

use crate::commands::Ctx;
use crate::format::{
    ago, ellipsis, go_time, human_size_prec, render, short_id, tval, with_method, with_title,
};
use crate::opts::filters;
use crate::template::TVal;

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// The header row: each field's column title.
pub fn header() -> TVal {
    let t = |s: &str| s.to_string();
    let h = ContainerContext {
        command: t("COMMAND"),
        created_at: t("CREATED AT"),
        id: t("CONTAINER ID"),
        image: t("IMAGE"),
        labels: t("LABELS"),
        local_volumes: t("LOCAL VOLUMES"),
        mounts: t("MOUNTS"),
        names: t("NAMES"),
        networks: t("NETWORKS"),
        platform: Some(serde_json::Value::String(t("PLATFORM"))),
        ports: t("PORTS"),
        running_for: t("CREATED"),
        size: t("SIZE"),
        state: t("STATE"),
        status: t("STATUS"),
    };
    with_title(tval(&h), "Label", "LABEL")
}

/// docker's DisplayablePorts (without range folding).
pub fn display_ports(ports: &[PortSummary]) -> String {
    let mut items: Vec<(String, u16, String)> = Vec::new();
    for p in ports {
        let typ = if p.kind.is_empty() { "tcp" } else { &p.kind };
        let private = p.private_port;
        let s = if p.public_port != 0 {
            let ip = if p.ip.contains(':') {
                format!("[{}]", p.ip)
            } else {
                p.ip.clone()
            };
            format!("{ip}:{}->{private}/{typ}", p.public_port)
        } else {
            format!("{private}/{typ}")
        };
        items.push((p.ip.clone(), private, s));
    }
    items.sort();
    items.dedup_by(|a, b| a.2 == b.2);
    items
        .into_iter()
        .map(|x| x.2)
        .collect::<Vec<_>>()
        .join(", ")
}

fn image_of(c: &Summary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        if short_id(&c.image_id) == short_id(&c.image) {
            return short_id(&c.image);
        }
        if let Some((name, _)) = c.image.split_once('@') {
            return name.to_string();
        }
    }
    c.image.clone()
}

/// The template context of one container (docker's ContainerContext).
pub fn context(c: &Summary, trunc: bool) -> TVal {
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.get(1..).unwrap_or("").to_string())
        .collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .cloned()
            .unwrap_or_default()
    } else {
        names.join(",")
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let srw = human_size_prec(c.size_rw as f64, 3);
    let size = if c.size_root_fs > 0 {
        format!(
            "{srw} (virtual {})",
            human_size_prec(c.size_root_fs as f64, 3)
        )
    } else {
        srw
    };
    let labels = c
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            };
            if trunc { ellipsis(&n, 15) } else { n }
        })
        .collect();
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    let networks: Vec<&str> = c
        .network_settings
        .networks
        .keys()
        .map(String::as_str)
        .collect();
    let ctx = ContainerContext {
        command: serde_json::to_string(&command).unwrap_or_default(),
        created_at: go_time(c.created),
        id: if trunc { short_id(&c.id) } else { c.id.clone() },
        image: image_of(c, trunc),
        labels,
        local_volumes: local_volumes.to_string(),
        mounts: mounts.join(","),
        names,
        networks: networks.join(","),
        platform: None,
        ports: display_ports(&c.ports),
        running_for: ago(c.created),
        size,
        state: c.state.as_str().to_string(),
        status: c.status.clone(),
    };
    with_method(crate::format::context(&ctx), "Label", &c.labels)
}

pub fn run(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    let client = ctx.client()?;
    let format = a.format.clone().filter(|f| !f.is_empty());
    let want_size = a.size
        || format.as_deref().is_some_and(|f| {
            // docker's bare `json` format asks for no sizes, `{{json .}}` does
            f.contains(".Size") || f.replace(' ', "").contains("json.}}")
        });
    let limit = if a.latest { 1 } else { a.last };
    let q = query::container::List {
        all: a.all,
        limit: (limit > 0).then_some(limit),
        size: want_size,
        filters: filters(&a.filter)?,
    };
    let items = client.container_list(&q)?;
    let trunc = !a.no_trunc;
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else if let Some(f) = format {
        f
    } else {
        let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
            .to_string();
        if a.size {
            f.push_str("\t{{.Size}}");
        }
        f
    };
    let rows: Vec<TVal> = items.iter().map(|c| context(c, trunc)).collect();
    print!("{}", render(&format, &rows, &header())?);
    Ok(0)
}

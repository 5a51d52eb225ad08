//! `docker ps`.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::Query;
use crate::commands::Ctx;
use crate::format::{ago, ellipsis, go_time, human_size_prec, render, short_id};
use crate::opts::filters_json;
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

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// docker's DisplayablePorts (without range folding).
pub fn display_ports(ports: &Value) -> String {
    let mut items: Vec<(String, i64, String)> = Vec::new();
    for p in ports.as_array().into_iter().flatten() {
        let private = p["PrivatePort"].as_i64().unwrap_or(0);
        let typ = p["Type"].as_str().unwrap_or("tcp");
        let s = match p["PublicPort"].as_i64() {
            Some(public) if public != 0 => {
                let ip = p["IP"].as_str().unwrap_or("");
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{ip}:{public}->{private}/{typ}")
            }
            _ => format!("{private}/{typ}"),
        };
        items.push((p["IP"].as_str().unwrap_or("").to_string(), private, s));
    }
    items.sort();
    items.dedup_by(|a, b| a.2 == b.2);
    items
        .into_iter()
        .map(|x| x.2)
        .collect::<Vec<_>>()
        .join(", ")
}

fn labels_of(v: &Value) -> (String, TVal) {
    let mut pairs: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let s = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    (
        s,
        TVal::Obj(pairs.into_iter().map(|(k, v)| (k, TVal::Str(v))).collect()),
    )
}

fn image_of(c: &Value, trunc: bool) -> String {
    let image = c["Image"].as_str().unwrap_or("");
    if image.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        let image_id = c["ImageID"].as_str().unwrap_or("");
        if short_id(image_id) == short_id(image) {
            return short_id(image);
        }
        if let Some((name, _)) = image.split_once('@') {
            return name.to_string();
        }
    }
    image.to_string()
}

/// The template context of one container (docker's ContainerContext).
pub fn context(c: &Value, trunc: bool) -> TVal {
    let id = c["Id"].as_str().unwrap_or("");
    let names: Vec<String> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
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
    let mut command = c["Command"].as_str().unwrap_or("").to_string();
    if trunc {
        command = ellipsis(&command, 20);
    }
    let created = c["Created"].as_i64().unwrap_or(0);
    let size = if c.get("SizeRw").is_some() || c.get("SizeRootFs").is_some() {
        let srw = human_size_prec(c["SizeRw"].as_f64().unwrap_or(0.0), 3);
        let rootfs = c["SizeRootFs"].as_f64().unwrap_or(0.0);
        if rootfs > 0.0 {
            format!("{srw} (virtual {})", human_size_prec(rootfs, 3))
        } else {
            srw
        }
    } else {
        String::new()
    };
    let (labels, label_map) = labels_of(&c["Labels"]);
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m["Name"].as_str().filter(|s| !s.is_empty());
            let n = name
                .map(str::to_string)
                .unwrap_or_else(|| m["Source"].as_str().unwrap_or("").to_string());
            if trunc { ellipsis(&n, 15) } else { n }
        })
        .collect();
    let local_volumes = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Driver"].as_str() == Some("local"))
        .count();
    let mut networks: Vec<String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    TVal::obj(vec![
        (
            "Command",
            TVal::Str(serde_json::to_string(&command).unwrap_or_default()),
        ),
        ("CreatedAt", TVal::Str(go_time(created))),
        (
            "ID",
            TVal::Str(if trunc { short_id(id) } else { id.to_string() }),
        ),
        ("Image", TVal::Str(image_of(c, trunc))),
        ("Labels", TVal::Str(labels)),
        ("LocalVolumes", TVal::Str(local_volumes.to_string())),
        ("Mounts", TVal::Str(mounts.join(","))),
        ("Names", TVal::Str(names)),
        ("Networks", TVal::Str(networks.join(","))),
        ("Platform", TVal::Null),
        ("Ports", TVal::Str(display_ports(&c["Ports"]))),
        ("RunningFor", TVal::Str(ago(created))),
        ("Size", TVal::Str(size)),
        (
            "State",
            TVal::Str(c["State"].as_str().unwrap_or("").to_string()),
        ),
        (
            "Status",
            TVal::Str(c["Status"].as_str().unwrap_or("").to_string()),
        ),
        ("__Label", label_map),
    ])
}

pub fn run(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    let client = ctx.client()?;
    let format = a.format.clone().filter(|f| !f.is_empty());
    let want_size = a.size
        || format.as_deref().is_some_and(|f| {
            f.contains(".Size") || f.replace(' ', "").contains("json.}}") || f == "json"
        });
    let limit = if a.latest { 1 } else { a.last };
    let mut q = Query::new()
        .add_if(a.all, "all", "1")
        .add_if(limit > 0, "limit", limit.to_string())
        .add_if(want_size, "size", "1");
    if let Some(f) = filters_json(&a.filter)? {
        q = q.add("filters", f);
    }
    let list = client.get_json("/containers/json", &q)?;
    let items = list.as_array().cloned().unwrap_or_default();
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
    print!("{}", render(&format, &rows, HEADERS)?);
    Ok(0)
}

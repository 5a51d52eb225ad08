//! `docker container inspect` and the shared inspect printer.

use anyhow::Result;
use clap::Args;

use crate::client::{Client, Query, is_status};
use crate::commands::Ctx;
use crate::format::{indent_json, unescape};
use crate::template::{TVal, Template};

#[derive(Args)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Prints inspect results (raw JSON texts) docker's way: an indented JSON
/// array, or one rendered template per object.
pub fn print_inspect(raws: &[String], format: Option<&str>) -> Result<()> {
    match format.filter(|f| !f.is_empty() && *f != "json") {
        None => {
            let text = format!("[{}]", raws.join(","));
            println!("{}", indent_json(&text));
        }
        Some(f) => {
            let tmpl = Template::parse(&unescape(f))
                .map_err(|e| crate::status(1, format!("template parsing error: {e}")))?;
            for r in raws {
                let v: TVal = serde_json::from_str(r)?;
                let out = tmpl.render(&v).map_err(|e| {
                    println!();
                    let msg = e.to_string();
                    // docker reports the column of the failing node
                    let col = msg
                        .split_once("at <")
                        .and_then(|(_, r)| r.split_once('>'))
                        .and_then(|(node, _)| f.find(node))
                        .unwrap_or(0);
                    crate::status(
                        1,
                        format!("template parsing error: template: :1:{col}: {msg}"),
                    )
                })?;
                println!("{out}");
            }
        }
    }
    Ok(())
}

/// Fetches one object's raw JSON.
pub fn get_raw(client: &Client, path: &str, q: &Query) -> Result<String> {
    client
        .request("GET", path, q, crate::client::Body::None)?
        .text()
}

pub fn run(ctx: &Ctx, a: ContainerInspectArgs) -> Result<i32> {
    let client = ctx.client()?;
    let q = Query::new().add_if(a.size, "size", "1");
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for c in &a.containers {
        match get_raw(&client, &format!("/containers/{c}/json"), &q) {
            Ok(r) => raws.push(r),
            Err(e) if is_status(&e, 404) => errors.push(format!("Error: No such container: {c}")),
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

//! `docker container inspect` and the shared inspect printer.

use anyhow::Result;
use clap::Args;

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

/// Prints inspect results (the daemon's JSON, as it sent it) docker's way:
/// an indented JSON array, or one rendered template per object.
pub fn print_inspect(raws: &[Vec<u8>], format: Option<&str>) -> Result<()> {
    match format.filter(|f| !f.is_empty() && *f != "json") {
        None => {
            let texts: Vec<std::borrow::Cow<str>> =
                raws.iter().map(|r| String::from_utf8_lossy(r)).collect();
            let text = format!("[{}]", texts.join(","));
            println!("{}", indent_json(&text));
        }
        Some(f) => {
            let tmpl = Template::parse(&unescape(f))
                .map_err(|e| crate::status(1, format!("template parsing error: {e}")))?;
            for r in raws {
                let v: TVal = serde_json::from_slice(r)?;
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

pub fn run(ctx: &Ctx, a: ContainerInspectArgs) -> Result<i32> {
    let client = ctx.client()?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for c in &a.containers {
        match client.container_inspect_bytes(c, a.size) {
            Ok(r) => raws.push(r),
            Err(e) if e.is_not_found() => errors.push(format!("Error: No such container: {c}")),
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

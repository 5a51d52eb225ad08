//! `berth-runc`: a runc-compatible OCI runtime command.
//!
//! Parses runc's command line, calls the `berth-runtime` library and reports
//! errors the way runc does (to stderr, and as JSON to `--log` for containerd).

mod cli;
mod commands;
mod log;

use clap::Parser;

use berth_runtime::container::Runtime;

fn main() {
    let cli = cli::Cli::parse();
    let to_stderr = log::init(cli.log.as_deref(), cli.log_format, cli.debug);
    berth_runtime::timing::mark("main");
    let root = cli.root.clone().unwrap_or_else(Runtime::default_root);
    let mut rt = Runtime::new(root);
    rt.systemd_cgroup = cli.systemd_cgroup;
    let (name, result) = commands::dispatch(&rt, cli.command);
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = match name {
                "create" | "run" | "exec" => format!("berth-runc {name} failed: {e}"),
                _ => e.to_string(),
            };
            tracing::error!("{msg}");
            if !to_stderr {
                eprintln!("{msg}");
            }
            std::process::exit(1);
        }
    }
}

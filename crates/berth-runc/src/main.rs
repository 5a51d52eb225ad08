//! `berth-runc`: a runc-compatible OCI runtime command.
//!
//! Parses runc's command line, calls the `berth-runtime` library and reports
//! errors the way runc does (to stderr, and as JSON to `--log` for containerd).

mod cli;
mod commands;
mod log;

use clap::Parser;

use berth_runtime::container::Runtime;

/// `-v`/`--version`: runc's lines (`<name> version`, `commit:`, `spec:`,
/// `libseccomp:`), which dockerd's `info` and other tools parse.
fn version_text() -> String {
    let v = env!("CARGO_PKG_VERSION");
    let mut s = format!(
        "berth-runc version {v}\ncommit: {}\nspec: {}\n",
        option_env!("BERTH_COMMIT").unwrap_or(v),
        berth_runtime::OCI_VERSION
    );
    if let Some(l) = berth_seccomp::library_version() {
        s.push_str(&format!("libseccomp: {l}\n"));
    }
    s
}

fn main() {
    // Before any subcommand, `-v`/`--version` answers alone, as in runc.
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .skip(1)
        .take_while(|a| a.starts_with('-'))
        .any(|a| a == "-v" || a == "--version")
    {
        print!("{}", version_text());
        std::process::exit(0);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // runc's words and exit code for a command it does not have
            let name = e
                .get(clap::error::ContextKind::InvalidSubcommand)
                .map(|v| v.to_string())
                .unwrap_or_default();
            log::init(None, cli::LogFormat::Text, false);
            tracing::error!("No help topic for '{name}'");
            std::process::exit(3);
        }
        Err(e) => e.exit(),
    };
    let to_stderr = log::init(cli.log.as_deref(), cli.log_format, cli.debug);
    berth_runtime::timing::mark("main");
    let root = cli.root.clone().unwrap_or_else(Runtime::default_root);
    let mut rt = Runtime::new(root);
    rt.systemd_cgroup = cli.systemd_cgroup;
    let (name, result) = commands::dispatch(&rt, cli.command);
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // runc's words: `exec failed: …` (exit 255, as its process
            // codes are the exit's), `runc run failed: …` (exit 1)
            let (msg, code) = match name {
                "exec" => (format!("exec failed: {e}"), 255),
                "create" | "run" => (format!("berth-runc {name} failed: {e}"), 1),
                _ => (e.to_string(), 1),
            };
            tracing::error!("{msg}");
            if !to_stderr {
                eprintln!("{msg}");
            }
            std::process::exit(code);
        }
    }
}

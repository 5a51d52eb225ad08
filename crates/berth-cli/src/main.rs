//! `berth`: a drop-in for the `docker` command line, speaking the Docker
//! Engine API to berthd (or dockerd) over a unix socket.

#![recursion_limit = "512"]

mod client;
mod commands;
mod format;
mod opts;
mod stream;
mod template;

use clap::{CommandFactory, FromArgMatches};

/// Error that carries its own exit status (docker's cli.StatusError).
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

pub fn status(code: i32, message: impl Into<String>) -> anyhow::Error {
    StatusError { code, message: message.into() }.into()
}

fn main() {
    // Writing to a closed pipe must end quietly, as Go programs do.
    // SAFETY: restoring the default disposition of SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cmd = commands::Cli::command();
    let matches = match cmd.try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    std::process::exit(0);
                }
                _ => {
                    let _ = e.print();
                    std::process::exit(125);
                }
            }
        }
    };
    let cli = match commands::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(125);
        }
    };
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(s) = e.downcast_ref::<StatusError>() {
                if !s.message.is_empty() {
                    eprintln!("{}", s.message);
                }
                s.code
            } else {
                eprintln!("{e:#}");
                1
            }
        }
    };
    std::process::exit(code);
}

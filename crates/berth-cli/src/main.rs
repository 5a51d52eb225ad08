//! `berth`: a drop-in for the `docker` command line, speaking the Docker
//! Engine API to berthd (or dockerd) through berth-client: unix sockets, or
//! tcp with TLS (`-H tcp://…`, `--tlsverify`, `DOCKER_CERT_PATH`).

#![recursion_limit = "512"]

mod commands;
mod credentials;
mod format;
mod jsonstream;
mod opts;
mod prompt;
mod reference;
mod template;
mod term;

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
    StatusError {
        code,
        message: message.into(),
    }
    .into()
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
                ErrorKind::UnknownArgument => {
                    let arg = e
                        .get(clap::error::ContextKind::InvalidArg)
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    let arg = arg.split('=').next().unwrap_or("").to_string();
                    let path = command_path();
                    let last = path.rsplit(' ').next().unwrap_or("");
                    if is_management(&path) {
                        eprintln!(
                            "unknown flag: {arg}\n\nUsage:  docker {}\n\nRun 'docker {path} --help' for more information",
                            management_usage(&path)
                        );
                        std::process::exit(125);
                    }
                    let rest = match path.as_str() {
                        p if p.starts_with("compose ") => match last {
                            "exec" => " SERVICE COMMAND [ARGS...]",
                            "run" => " SERVICE [COMMAND] [ARGS...]",
                            "port" => " SERVICE PRIVATE_PORT",
                            "ls" | "version" | "down" => "",
                            _ => " [SERVICE...]",
                        },
                        "volume create" => " [VOLUME]",
                        "volume inspect" | "volume rm" => " VOLUME [VOLUME...]",
                        "volume ls" | "volume prune" => "",
                        _ => match last {
                            "run" | "create" => " IMAGE [COMMAND] [ARG...]",
                            "exec" => " CONTAINER COMMAND [ARG...]",
                            "stop" | "start" | "restart" | "kill" | "rm" | "pause" | "unpause"
                            | "wait" => " CONTAINER [CONTAINER...]",
                            "logs" | "attach" | "diff" | "export" => " CONTAINER",
                            "inspect" => " NAME|ID [NAME|ID...]",
                            "rmi" => " IMAGE [IMAGE...]",
                            "save" => " IMAGE [IMAGE...]",
                            "history" => " IMAGE",
                            "pull" => " NAME[:TAG|@DIGEST]",
                            "push" => " NAME[:TAG]",
                            "login" => " [SERVER]",
                            "search" => " TERM",
                            _ => "",
                        },
                    };
                    // cobra adds [OPTIONS] only for commands that have flags
                    let opts = if last == "logout" {
                        " [SERVER]".to_string()
                    } else {
                        format!(" [OPTIONS]{rest}")
                    };
                    eprintln!(
                        "unknown flag: {arg}\n\nUsage:  docker {path}{opts}\n\nRun 'docker {path} --help' for more information"
                    );
                    std::process::exit(125);
                }
                ErrorKind::InvalidSubcommand => {
                    // cobra's "unknown command" (exit 1)
                    let path = command_path();
                    match path.split_once(' ') {
                        Some((group, _)) if is_management(group) => eprintln!(
                            "docker: unknown command: docker {path}\n\nUsage:  docker {}\n\nRun 'docker {group} --help' for more information",
                            management_usage(group)
                        ),
                        _ => eprintln!(
                            "docker: unknown command: docker {path}\n\nRun 'docker --help' for more information"
                        ),
                    }
                    std::process::exit(1);
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

/// The subcommand words of the command line ("run", "container ls").
pub fn command_path() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if matches!(
            a.as_str(),
            "-H" | "--host"
                | "-c"
                | "--context"
                | "--config"
                | "-l"
                | "--log-level"
                | "--tlscacert"
                | "--tlscert"
                | "--tlskey"
        ) {
            i += 2;
            continue;
        }
        if words.len() == 1 && words[0] == "compose" && a.starts_with('-') {
            // compose's global flags, with their values
            let takes_value = matches!(
                a.as_str(),
                "-f" | "--file"
                    | "-p"
                    | "--project-name"
                    | "--project-directory"
                    | "--env-file"
                    | "--profile"
                    | "--ansi"
                    | "--progress"
                    | "--parallel"
            );
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        if a.starts_with('-') {
            if words.is_empty() {
                i += 1;
                continue;
            }
            break;
        }
        if let Some(group) = words.first().filter(|g| is_management(g)) {
            // cobra names a subcommand by its name, not the alias typed
            let canonical = match (group.as_str(), a.as_str()) {
                (_, "list") | ("container", "ps") => "ls",
                (_, "remove") => "rm",
                _ => a.as_str(),
            };
            words.push(canonical.to_string());
            break;
        }
        words.push(a.clone());
        if !is_management(a) {
            break;
        }
        i += 1;
    }
    words.join(" ")
}

/// The commands that group others (`docker network ls`).
fn is_management(word: &str) -> bool {
    matches!(
        word,
        "compose" | "container" | "image" | "system" | "network" | "volume"
    )
}

/// The usage line cobra prints for a management command.
fn management_usage(group: &str) -> String {
    match group {
        "volume" => "volume COMMAND".into(),
        "compose" => "compose [OPTIONS] COMMAND".into(),
        g => g.to_string(),
    }
}

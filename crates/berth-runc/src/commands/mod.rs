//! One function per subcommand.

mod exec;
mod info;
mod lifecycle;
mod update;

use berth_runtime::Result;
use berth_runtime::container::Runtime;

use crate::cli::Command;

/// Run a command; returns its name (for error prefixes) and the exit code.
pub fn dispatch(rt: &Runtime, cmd: Command) -> (&'static str, Result<i32>) {
    match cmd {
        Command::Create(a) => ("create", lifecycle::create(rt, a)),
        Command::Start { id } => ("start", lifecycle::start(rt, &id)),
        Command::Run {
            create,
            detach,
            keep,
        } => ("run", lifecycle::run(rt, create, detach, keep)),
        Command::State { id } => ("state", info::state(rt, &id)),
        Command::Kill { all, id, signal } => ("kill", lifecycle::kill(rt, &id, &signal, all)),
        Command::Delete { force, id } => ("delete", lifecycle::delete(rt, &id, force)),
        Command::Exec(a) => ("exec", exec::exec(rt, a)),
        Command::List { format, quiet } => ("list", info::list(rt, format, quiet)),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ("ps", info::ps(rt, &id, format, &ps_args)),
        Command::Pause { id } => ("pause", lifecycle::pause(rt, &id)),
        Command::Resume { id } => ("resume", lifecycle::resume(rt, &id)),
        Command::Events {
            stats,
            interval,
            id,
        } => ("events", info::events(rt, &id, stats, &interval)),
        Command::Update(a) => ("update", update::update(rt, a)),
        Command::Spec { bundle, rootless } => ("spec", info::spec(bundle, rootless)),
        Command::Features => ("features", info::features()),
        Command::Checkpoint { .. } => ("checkpoint", Err(unsupported("checkpoint"))),
        Command::Restore { .. } => ("restore", Err(unsupported("restore"))),
        Command::Monitor(a) => (
            "monitor",
            Ok(berth_monitor::run(berth_monitor::Options {
                root: rt.root.clone(),
                systemd_cgroup: rt.systemd_cgroup,
                id: a.id,
                bundle: a.bundle,
                socket: a.socket.unwrap_or_else(|| a.dir.join("monitor.sock")),
                dir: a.dir,
                stdin: a.stdin,
                stdin_once: a.stdin_once,
                log_path: a.log_path,
                log_max_size: a.log_max_size,
                log_max_file: a.log_max_file,
            })),
        ),
    }
}

fn unsupported(what: &str) -> berth_runtime::Error {
    berth_runtime::Error::Other(format!(
        "{what} is not supported by berth-runc: checkpoint/restore needs CRIU, which berth does not integrate yet"
    ))
}

/// Print a value as indented JSON, as runc does.
pub fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialises"));
}

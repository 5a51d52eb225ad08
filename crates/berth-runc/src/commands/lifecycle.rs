use berth_runtime::container::{CreateOptions, Runtime};
use berth_runtime::{Result, signals};

use crate::cli::CreateArgs;

fn options(a: CreateArgs) -> CreateOptions {
    CreateOptions {
        id: a.id,
        bundle: a.bundle,
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds + listen_fds(),
    }
}

/// Socket activation: $LISTEN_FDS descriptors after stdio are passed on too.
fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn create(rt: &Runtime, a: CreateArgs) -> Result<i32> {
    rt.create(&options(a))?;
    Ok(0)
}

pub fn start(rt: &Runtime, id: &str) -> Result<i32> {
    rt.start(id)?;
    Ok(0)
}

pub fn run(rt: &Runtime, a: CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let id = a.id.clone();
    let code = rt.run(&options(a), detach || keep)?;
    if keep && !detach {
        // Run in the foreground but keep the container: wait via the pid.
        let (state, _) = rt.load(&id)?;
        return Ok(wait_pid(state.pid));
    }
    Ok(code)
}

fn wait_pid(pid: i32) -> i32 {
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(s) => return berth_runtime::process::foreground::exit_code(s).unwrap_or(0),
            Err(_) => return 0,
        }
    }
}

pub fn kill(rt: &Runtime, id: &str, signal: &str, all: bool) -> Result<i32> {
    let sig = signals::parse(signal)?;
    rt.kill(id, sig, all)?;
    Ok(0)
}

pub fn delete(rt: &Runtime, id: &str, force: bool) -> Result<i32> {
    rt.delete(id, force)?;
    Ok(0)
}

pub fn pause(rt: &Runtime, id: &str) -> Result<i32> {
    rt.pause(id)?;
    Ok(0)
}

pub fn resume(rt: &Runtime, id: &str) -> Result<i32> {
    rt.resume(id)?;
    Ok(0)
}

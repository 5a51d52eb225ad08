use berth_runtime::container::{ExecOptions, Runtime};
use berth_runtime::{Error, Result, spec};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};

use crate::cli::ExecArgs;

/// The process to run: `--process` as given, or the container's own process with
/// the command line's overrides (as runc does).
fn process(rt: &Runtime, a: &ExecArgs) -> Result<Process> {
    if let Some(path) = &a.process {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Config(format!("--process {}: {e}", path.display())))?;
        return spec::parse::<Process>(&bytes)
            .map_err(|e| Error::Config(format!("--process {}: {e}", path.display())));
    }
    if a.command.is_empty() {
        return Err(Error::Config(
            "exec: a command to run is required (or --process)".into(),
        ));
    }
    let (state, _) = rt.load(&a.id)?;
    let mut p = state.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), ""));
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .map_err(|_| Error::Config(format!("--user: invalid uid {uid:?}")))?,
        );
        if !gid.is_empty() {
            user.set_gid(
                gid.parse()
                    .map_err(|_| Error::Config(format!("--user: invalid gid {gid:?}")))?,
            );
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut c = p
            .capabilities()
            .clone()
            .unwrap_or_else(LinuxCapabilities::default);
        for name in &a.cap {
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::Config(format!("--cap: unknown capability {name:?}")))?;
            let mut b = c.bounding().clone().unwrap_or_default();
            b.insert(cap);
            c.set_bounding(Some(b));
            let mut e = c.effective().clone().unwrap_or_default();
            e.insert(cap);
            c.set_effective(Some(e));
            let mut pm = c.permitted().clone().unwrap_or_default();
            pm.insert(cap);
            c.set_permitted(Some(pm));
        }
        p.set_capabilities(Some(c));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    Ok(p)
}

pub fn exec(rt: &Runtime, a: ExecArgs) -> Result<i32> {
    if !a.ignore_paused {
        let (_, status) = rt.load(&a.id)?;
        if status == berth_runtime::state::Status::Paused {
            return Err(Error::Config(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ));
        }
    }
    let process = process(rt, &a)?;
    let opts = ExecOptions {
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        cgroups: a.cgroup.clone(),
    };
    let r = rt.exec(&a.id, &opts);
    if let (Err(e), Some(path)) = (&r, &a.report)
        && let Some(rep) = berth_runtime::report::StartReport::of(e)
        && let Err(err) = rep.save(path)
    {
        eprintln!("berth-runc: write {}: {err}", path.display());
    }
    r
}

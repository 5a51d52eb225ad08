//! Writing a user namespace's uid and gid maps.

use std::process::Command;

use oci_spec::runtime::LinuxIdMapping;

use crate::{Context, Error, Result};

fn lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Map ids for the process `pid`, which has just entered a new user namespace.
///
/// As root the maps are written directly. Unprivileged, a single mapping of our
/// own id is written directly too (after denying setgroups, as the kernel
/// requires); anything else goes through the setuid `newuidmap`/`newgidmap`
/// helpers, which check /etc/subuid and /etc/subgid.
pub fn write(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    let privileged = euid == 0;
    let own_only = |maps: &[LinuxIdMapping], own: u32| {
        maps.len() == 1 && maps[0].host_id() == own && maps[0].size() == 1
    };
    if !uids.is_empty() {
        if privileged || own_only(uids, euid) {
            std::fs::write(format!("/proc/{pid}/uid_map"), lines(uids))
                .context(|| format!("write uid_map of {pid} ({})", lines(uids).trim()))?;
        } else {
            helper("newuidmap", pid, uids)?;
        }
    }
    if !gids.is_empty() {
        if privileged {
            std::fs::write(format!("/proc/{pid}/gid_map"), lines(gids))
                .context(|| format!("write gid_map of {pid} ({})", lines(gids).trim()))?;
        } else if own_only(gids, egid) {
            std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
                .context(|| format!("write setgroups of {pid}"))?;
            std::fs::write(format!("/proc/{pid}/gid_map"), lines(gids))
                .context(|| format!("write gid_map of {pid}"))?;
        } else {
            helper("newgidmap", pid, gids)?;
        }
    }
    Ok(())
}

fn helper(tool: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| Error::Io {
        context: format!(
            "run {tool} (needed to map ids as an unprivileged user; install the uidmap package)"
        ),
        source: e,
    })?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "{tool} {pid}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

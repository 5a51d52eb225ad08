//! AppArmor and SELinux labels for the container process.

use crate::{Error, Result};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Refuse a label the host cannot apply, before anything is created.
pub fn check(apparmor: Option<&str>, selinux: Option<&str>, field: &str) -> Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(Error::Config(format!(
            "{field}.apparmorProfile: AppArmor profile {p:?} requested, but AppArmor is not enabled on this host"
        )));
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty())
        && !selinux_enabled()
    {
        return Err(Error::Config(format!(
            "{field}.selinuxLabel: SELinux label {l:?} requested, but SELinux is not enabled on this host"
        )));
    }
    Ok(())
}

fn write_attr(paths: &[&str], value: &str) -> std::io::Result<()> {
    let mut last = None;
    for p in paths {
        match std::fs::write(p, value) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
}

/// Label the next `execve` of this thread.
pub fn apply(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        write_attr(
            &[
                "/proc/thread-self/attr/apparmor/exec",
                "/proc/thread-self/attr/exec",
            ],
            &format!("exec {p}"),
        )
        .map_err(|e| Error::Other(format!("apply AppArmor profile {p:?}: {e}")))?;
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        write_attr(&["/proc/thread-self/attr/exec"], l)
            .map_err(|e| Error::Other(format!("apply SELinux label {l:?}: {e}")))?;
    }
    Ok(())
}

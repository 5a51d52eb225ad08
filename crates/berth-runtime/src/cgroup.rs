//! From a spec to the container's cgroup: where it is, which rules it gets.

use berth_cgroups::{Cgroup, Layout};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Spec};

use crate::{Error, Result};

/// Resolve the container's cgroup directories on this host.
pub fn for_spec(spec: &Spec, id: &str, systemd: bool) -> Result<Cgroup> {
    let layout = Layout::detect()?;
    let raw = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let inner = berth_cgroups::path::resolve(raw.as_deref(), id, systemd)
        .map_err(|e| Error::Config(format!("linux.cgroupsPath: {e}")))?;
    Ok(Cgroup::new(&layout, &inner))
}

fn rule(
    t: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(t));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.into()));
    r
}

/// The device rules to enforce: the spec's rules, then (as runc does) access to
/// the devices every container gets — null, zero, full, random, urandom, tty, the
/// pty master and slaves — and mknod of anything (creating a node grants no access).
pub fn device_rules(spec: &Spec) -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let mut rules: Vec<LinuxDeviceCgroup> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    rules.extend([
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
    ]);
    rules
}

fn resources(spec: &Spec) -> Option<&oci_spec::runtime::LinuxResources> {
    spec.linux().as_ref().and_then(|l| l.resources().as_ref())
}

/// What must exist before the container process is cloned: the v2 directory.
pub fn prepare(cg: &Cgroup, spec: &Spec) -> Result<()> {
    Ok(cg.create_v2(resources(spec))?)
}

/// The rest — v1 directories, every limit, device rules — done while the new
/// process creates its namespaces, and before it may run anything.
pub fn finish(cg: &Cgroup, spec: &Spec) -> Result<()> {
    cg.create_v1()?;
    if let Some(r) = resources(spec) {
        cg.apply(r)?;
    }
    cg.apply_devices(&device_rules(spec))?;
    Ok(())
}

/// Whether the caller may create the container's cgroup directories (an
/// unprivileged user can when the tree was delegated to it).
pub fn delegated(cg: &Cgroup) -> bool {
    let dirs = cg.v1.values().chain(cg.v2.iter());
    dirs.into_iter().all(|d| {
        let mut p = d.as_path();
        while !p.exists() {
            match p.parent() {
                Some(parent) => p = parent,
                None => return false,
            }
        }
        nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
    })
}

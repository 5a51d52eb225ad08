//! Loading config.json and checking it before anything is created.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::namespaces::ns_name;
use crate::{Error, Result};

/// Read and parse `<bundle>/config.json`. A parse error names the field, e.g.
/// `config.json: linux.namespaces[2].type: unknown variant "bogus", expected one of …`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(format!(
                "JSON specification file {} not found",
                path.display()
            )));
        }
        Err(e) => {
            return Err(Error::Io {
                context: format!("read {}", path.display()),
                source: e,
            });
        }
    };
    parse(&bytes).map_err(|e| Error::Config(format!("config.json: {e}")))
}

/// Parse a JSON document into `T`, reporting the path of the offending field.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// Container ids: what runc accepts (`^[\w+-\.]+$`), and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidId(id.into(), "it must not be empty"));
    }
    if id == "." || id == ".." {
        return Err(Error::InvalidId(id.into(), "it must not be . or .."));
    }
    if id.len() > 1024 {
        return Err(Error::InvalidId(id.into(), "it is too long"));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c))
    {
        return Err(Error::InvalidId(
            id.into(),
            "only letters, digits and _ + - . are allowed",
        ));
    }
    Ok(())
}

/// The bundle's root filesystem as an absolute, existing directory.
pub fn rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Config("root: the root filesystem is not configured".into()))?;
    let p = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    match std::fs::canonicalize(&p) {
        Ok(c) if c.is_dir() => Ok(c),
        Ok(c) => Err(Error::Config(format!(
            "root.path: rootfs ({}) is not a directory",
            c.display()
        ))),
        Err(_) => Err(Error::Config(format!(
            "root.path: rootfs ({}) does not exist",
            p.display()
        ))),
    }
}

/// Checks that need nothing but the spec; everything a user can get wrong that
/// would otherwise fail half-way through creation.
pub fn validate(spec: &Spec) -> Result<()> {
    let cfg = |m: String| Err(Error::Config(m));
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("process: the process to run is not configured".into()))?;
    validate_process(process, "process")?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Config("linux: the linux section is missing".into()))?;
    let mut seen = HashSet::new();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return cfg(format!(
                "linux.namespaces[{i}]: duplicate namespace {:?}",
                ns_name(ns.typ())
            ));
        }
        if let Some(p) = ns.path()
            && !p.is_absolute()
        {
            return cfg(format!(
                "linux.namespaces[{i}].path: {} is not an absolute path",
                p.display()
            ));
        }
    }
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    let new = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    if !has(LinuxNamespaceType::Mount) {
        return cfg("linux.namespaces: a mount namespace is required".into());
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new(LinuxNamespaceType::User) && !maps {
        return cfg("linux.uidMappings: a new user namespace needs uid and gid mappings".into());
    }
    if maps && !new(LinuxNamespaceType::User) {
        return cfg(
            "linux.uidMappings: mappings are only allowed with a new user namespace".into(),
        );
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !new(LinuxNamespaceType::Uts) {
        return cfg("hostname: unable to set hostname without a private UTS namespace".into());
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !new(LinuxNamespaceType::Uts) {
        return cfg("domainname: unable to set domainname without a private UTS namespace".into());
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new(LinuxNamespaceType::Time)
    {
        return cfg("linux.timeOffsets: time offsets need a new time namespace".into());
    }
    for (k, _) in linux.sysctl().iter().flatten() {
        let (ns, what) = sysctl_namespace(k);
        if let Some(ns) = ns {
            if !has(ns) {
                return cfg(format!(
                    "linux.sysctl: sysctl {k:?} is not allowed without a private {what} namespace"
                ));
            }
        } else {
            return cfg(format!(
                "linux.sysctl: sysctl {k:?} is not namespaced and cannot be set for a container"
            ));
        }
        if k.contains("..") || k.contains('/') {
            return cfg(format!("linux.sysctl: invalid sysctl name {k:?}"));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return cfg(format!(
                "mounts[{i}].destination: {:?} is not an absolute path",
                m.destination()
            ));
        }
        if crate::paths::lexically_escapes(m.destination()) {
            return cfg(format!(
                "mounts[{i}].destination: {:?} escapes the container's root filesystem",
                m.destination()
            ));
        }
        crate::rootfs::options::parse(m).map_err(|e| Error::Config(format!("mounts[{i}]: {e}")))?;
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() || crate::paths::lexically_escapes(d.path()) {
            return cfg(format!(
                "linux.devices[{i}].path: {:?} is not a valid device path",
                d.path()
            ));
        }
    }
    for (field, paths) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in paths.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return cfg(format!("{field}[{i}]: {p:?} is not an absolute path"));
            }
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        crate::rootfs::options::propagation(prop).ok_or_else(|| {
            Error::Config(format!(
                "linux.rootfsPropagation: invalid propagation {prop:?}"
            ))
        })?;
    }
    Ok(())
}

/// Checks on a process description (config.json's `process`, or an exec's).
pub fn validate_process(p: &oci_spec::runtime::Process, field: &str) -> Result<()> {
    if p.args()
        .as_ref()
        .is_none_or(|a| a.is_empty() || a[0].is_empty())
    {
        return Err(Error::Config(format!(
            "{field}.args: args must not be empty"
        )));
    }
    if p.cwd().as_os_str().is_empty() {
        return Err(Error::Config(format!(
            "{field}.cwd: cwd property must not be empty"
        )));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::Config(format!(
            "{field}.cwd: cwd {:?} must be an absolute path",
            p.cwd()
        )));
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') || e.starts_with('=') {
            return Err(Error::Config(format!(
                "{field}.env[{i}]: {e:?} is not of the form KEY=VALUE"
            )));
        }
    }
    if let Some(rl) = p.rlimits() {
        let mut seen = Vec::new();
        for (i, r) in rl.iter().enumerate() {
            if seen.contains(&r.typ()) {
                return Err(Error::Config(format!(
                    "{field}.rlimits[{i}]: duplicate rlimit {:?}",
                    r.typ()
                )));
            }
            seen.push(r.typ());
            if r.soft() > r.hard() {
                return Err(Error::Config(format!(
                    "{field}.rlimits[{i}]: soft limit {} is above the hard limit {}",
                    r.soft(),
                    r.hard()
                )));
            }
        }
    }
    Ok(())
}

/// Which namespace makes a sysctl safe to set, per the runtime spec's list.
fn sysctl_namespace(k: &str) -> (Option<LinuxNamespaceType>, &'static str) {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&k) || k.starts_with("fs.mqueue.") {
        (Some(LinuxNamespaceType::Ipc), "ipc")
    } else if k.starts_with("net.") {
        (Some(LinuxNamespaceType::Network), "network")
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        (Some(LinuxNamespaceType::Uts), "uts")
    } else {
        (None, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_field() {
        let bad =
            br#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let e = parse::<Spec>(bad).unwrap_err();
        assert!(
            e.starts_with("linux.namespaces[1].type: unknown variant `bogus`"),
            "{e}"
        );
        let e = parse::<Spec>(b"{\"ociVersion\": 1").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_3+x").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("a b").is_err());
    }
}

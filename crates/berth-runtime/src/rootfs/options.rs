//! Mount options of config.json → mount(2) flags, propagation and data.

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use berth_sys::mount::MOUNT_ATTR_RDONLY;

/// A mount's options, sorted into what each system call needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Flags to set.
    pub flags: MsFlags,
    /// Propagation changes, applied after the mount in order.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes (`rro`), applied with mount_setattr(2).
    pub recursive_attr: u64,
    /// Filesystem-specific options (`mode=755`, `newinstance`, …), comma-joined.
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
    /// An idmapped bind mount (`idmap`/`ridmap`).
    pub idmap: bool,
}

impl Default for Parsed {
    fn default() -> Self {
        Parsed {
            flags: MsFlags::empty(),
            propagation: vec![],
            recursive_attr: 0,
            data: String::new(),
            bind: false,
            recursive: false,
            idmap: false,
        }
    }
}

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// Flags that mount(2) applies to a bind mount only through a remount.
pub const REMOUNT_FLAGS: MsFlags = MsFlags::from_bits_truncate(
    MsFlags::MS_RDONLY.bits()
        | MsFlags::MS_NOSUID.bits()
        | MsFlags::MS_NODEV.bits()
        | MsFlags::MS_NOEXEC.bits()
        | MsFlags::MS_NOATIME.bits()
        | MsFlags::MS_NODIRATIME.bits()
        | MsFlags::MS_RELATIME.bits()
        | MsFlags::MS_STRICTATIME.bits()
        | MS_NOSYMFOLLOW.bits(),
);

pub fn propagation(s: &str) -> Option<MsFlags> {
    Some(match s {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Parse the options of `m`. Unknown words are filesystem data, as runc treats them.
pub fn parse(m: &Mount) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut data: Vec<&str> = Vec::new();
    let opts = m.options().clone().unwrap_or_default();
    for o in &opts {
        let o = o.as_str();
        let (set, clear): (MsFlags, MsFlags) = match o {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "acl" => (MsFlags::MS_POSIXACL, MsFlags::empty()),
            "noacl" => (MsFlags::empty(), MsFlags::MS_POSIXACL),
            "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty()),
            "bind" => {
                p.bind = true;
                continue;
            }
            "rbind" => {
                p.bind = true;
                p.recursive = true;
                continue;
            }
            "rro" => {
                p.recursive_attr |= MOUNT_ATTR_RDONLY;
                continue;
            }
            "rrw" => continue,
            "idmap" | "ridmap" => {
                p.idmap = true;
                if o == "ridmap" {
                    p.recursive = true;
                }
                continue;
            }
            "tmpcopyup" => continue,
            other => {
                if let Some(prop) = propagation(other) {
                    p.propagation.push(prop);
                    continue;
                }
                if other.is_empty() {
                    return Err("empty mount option".into());
                }
                data.push(other);
                continue;
            }
        };
        p.flags.insert(set);
        p.flags.remove(clear);
    }
    if m.typ().as_deref() == Some("bind") {
        p.bind = true;
    }
    if p.idmap && !p.bind {
        return Err("idmap is only supported on bind mounts".into());
    }
    p.data = data.join(",");
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(typ: &str, opts: &[&str]) -> Mount {
        let mut m = Mount::default();
        m.set_typ(Some(typ.into()));
        m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
        m
    }

    #[test]
    fn sorts_options() {
        let p = parse(&mount(
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ))
        .unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(p.data, "mode=755,size=65536k");
        assert!(!p.bind);
        let p = parse(&mount("none", &["rbind", "ro", "rprivate"])).unwrap();
        assert!(p.bind && p.recursive);
        assert_eq!(p.flags, MsFlags::MS_RDONLY);
        assert_eq!(p.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let p = parse(&mount("bind", &["ro", "rw"])).unwrap();
        assert!(p.bind);
        assert!(p.flags.is_empty());
        assert!(parse(&mount("tmpfs", &["idmap"])).is_err());
    }
}

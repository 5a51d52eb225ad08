//! OCI seccomp profiles → kernel BPF programs.
//!
//! libseccomp does the hard part (syscall numbers per architecture, multiplexed
//! syscalls, argument comparisons); berth then loads the exported program itself
//! (`berth_sys::seccomp::load_filter`) so that it controls the filter flags and can
//! reuse a program compiled earlier: compiling Docker's default profile costs
//! milliseconds, reading a cached one microseconds.

mod names;

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

/// Kernel `SECCOMP_FILTER_FLAG_*` values.
pub mod flags {
    pub const TSYNC: u32 = 1 << 0;
    pub const LOG: u32 = 1 << 1;
    pub const SPEC_ALLOW: u32 = 1 << 2;
    pub const NEW_LISTENER: u32 = 1 << 3;
    pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile names something that does not exist; the field path is included.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("libseccomp: {0}")]
    Libseccomp(String),
    #[error("seccomp cache {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

fn invalid(field: String, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}

fn lib_err(e: impl std::fmt::Display) -> Error {
    Error::Libseccomp(e.to_string())
}

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER, flags, program)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// `struct sock_filter` instructions, 8 bytes each, native endian.
    pub program: Vec<u8>,
    /// Kernel filter flags, including `NEW_LISTENER` when a rule notifies.
    pub flags: u32,
}

impl Compiled {
    /// Whether loading returns a notification listener to pass to `listenerPath`.
    pub fn notifies(&self) -> bool {
        self.flags & flags::NEW_LISTENER != 0
    }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>, field: &str) -> Result<ScmpAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            let e = errno.unwrap_or(libc_eperm());
            if e > u16::MAX as u32 {
                return Err(invalid(
                    format!("{field}.errnoRet"),
                    format!("errno {e} is out of range"),
                ));
            }
            ScmpAction::Errno(e as i32)
        }
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(libc_eperm()) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

const fn libc_eperm() -> u32 {
    1
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        _ => ScmpArch::Native,
    }
}

/// The OCI operator as libseccomp's. For `SCMP_CMP_MASKED_EQ` the OCI
/// `value` is the mask and `valueTwo` the expected result (as in runc).
fn operator(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

/// How a syscall name resolves on this machine.
enum Resolved {
    Native(ScmpSyscall),
    /// A real syscall, but not one of the native architecture (or newer than the
    /// installed libseccomp): the rule is skipped, as runc does.
    Elsewhere,
}

fn resolve(name: &str) -> Option<Resolved> {
    if let Ok(s) = ScmpSyscall::from_name(name) {
        return Some(Resolved::Native(s));
    }
    let any_arch = names::ALL_ARCHES
        .iter()
        .any(|a| ScmpSyscall::from_name_by_arch(name, *a).is_ok());
    if any_arch || names::NEWER_THAN_LIBSECCOMP.contains(&name) {
        Some(Resolved::Elsewhere)
    } else {
        None
    }
}

/// Check names and values without building a filter (cheap enough for `create`).
pub fn validate(s: &LinuxSeccomp) -> Result<()> {
    build(s).map(drop)
}

fn build(s: &LinuxSeccomp) -> Result<(ScmpFilterContext, u32)> {
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(invalid(
            "linux.seccomp.defaultAction".into(),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let mut ctx = ScmpFilterContext::new(default).map_err(lib_err)?;
    for a in s.architectures().iter().flatten() {
        let a = arch(*a);
        if a != ScmpArch::Native {
            match ctx.add_arch(a) {
                Ok(_) => {}
                Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
                Err(e) => return Err(lib_err(e)),
            }
        }
    }
    let mut kflags = 0u32;
    for f in s.flags().iter().flatten() {
        kflags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => flags::TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => flags::LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => flags::SPEC_ALLOW,
            #[allow(unreachable_patterns)]
            _ => 0,
        };
    }
    let mut notify = false;
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(rule.action(), rule.errno_ret(), &field)?;
        if rule.action() == LinuxSeccompAction::ScmpActNotify {
            notify = true;
            if s.listener_path().is_none() {
                return Err(invalid(
                    format!("{field}.action"),
                    "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath",
                ));
            }
        }
        let args = rule.args().clone().unwrap_or_default();
        for (j, a) in args.iter().enumerate() {
            if a.index() > 5 {
                return Err(invalid(
                    format!("{field}.args[{j}].index"),
                    format!("argument index {} is out of range (0-5)", a.index()),
                ));
            }
        }
        if rule.names().is_empty() {
            return Err(invalid(format!("{field}.names"), "no syscall names"));
        }
        // A rule with the default action changes nothing (and libseccomp refuses it).
        let same_as_default = rule.action() == s.default_action()
            && (rule.action() != LinuxSeccompAction::ScmpActErrno
                || rule.errno_ret().unwrap_or(1) == s.default_errno_ret().unwrap_or(1));
        for (j, name) in rule.names().iter().enumerate() {
            let sc = match resolve(name) {
                Some(Resolved::Native(sc)) => sc,
                Some(Resolved::Elsewhere) => {
                    tracing::debug!(
                        "seccomp: syscall {name} does not exist on this architecture; rule skipped"
                    );
                    continue;
                }
                None => {
                    return Err(invalid(
                        format!("{field}.names[{j}]"),
                        format!("unknown syscall {name:?}"),
                    ));
                }
            };
            if same_as_default {
                continue;
            }
            let conds: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| {
                    let datum = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                        a.value_two().unwrap_or(0)
                    } else {
                        a.value()
                    };
                    ScmpArgCompare::new(a.index() as u32, operator(a.op(), a.value()), datum)
                })
                .collect();
            let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
            indexes.sort_unstable();
            indexes.dedup();
            let res = if conds.is_empty() {
                ctx.add_rule(act, sc).map(drop)
            } else if indexes.len() < conds.len() {
                // Several conditions on one argument: each is an alternative (runc's rule).
                conds.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map(drop)
                })
            } else {
                ctx.add_rule_conditional(act, sc, &conds).map(drop)
            };
            res.map_err(|e| invalid(format!("{field}.names[{j}]"), format!("{name}: {e}")))?;
        }
    }
    if notify {
        kflags |= flags::NEW_LISTENER;
    }
    Ok((ctx, kflags))
}

/// The architectures of a filter that the `-ENOSYS` stub covers: libseccomp's
/// name, the kernel's `AUDIT_ARCH_*` and whether x32 calls share the number
/// space (bit 30 set; those are left to the filter).
const STUB_ARCHES: [(ScmpArch, u32, bool); 3] = [
    (ScmpArch::X8664, 0xC000_003E, true),
    (ScmpArch::X86, 0x4000_0003, false),
    (ScmpArch::Aarch64, 0xC000_00B7, false),
];

// Classic BPF opcodes (`struct sock_filter.code`), from the kernel's names.
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const BPF_JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const SECCOMP_RET_ERRNO: u32 = libc::SECCOMP_RET_ERRNO;
const ENOSYS: u32 = libc::ENOSYS as u32;

/// One `struct sock_filter`.
type Insn = (u16, u8, u8, u32);

/// runc's `-ENOSYS` stub: a syscall numbered above every syscall the profile
/// names (for its architecture) is newer than the profile, so it returns
/// ENOSYS — which makes programs fall back to older calls (glibc's clone3 →
/// clone, statx → fstatat) — instead of the default action's error or kill.
/// None when the default action lets unknown syscalls through anyway.
fn enosys_stub(s: &LinuxSeccomp) -> Vec<Insn> {
    let default = s.default_action();
    if matches!(
        default,
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    ) || (default == LinuxSeccompAction::ScmpActErrno && s.default_errno_ret() == Some(ENOSYS))
    {
        return Vec::new();
    }
    let native = ScmpArch::native();
    let listed: Vec<ScmpArch> = s
        .architectures()
        .iter()
        .flatten()
        .map(|a| arch(*a))
        .collect();
    // Per covered architecture: its audit value, x32 sharing, the last syscall.
    let mut blocks: Vec<(u32, bool, u32)> = Vec::new();
    for (a, audit, x32) in STUB_ARCHES {
        if a != native && !listed.contains(&a) {
            continue;
        }
        let last = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().iter())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, a).ok())
            .map(i32::from)
            .filter(|n| *n >= 0)
            .max();
        if let Some(last) = last {
            blocks.push((audit, x32 && a == native, last as u32));
        }
    }
    let len = |x32: bool| if x32 { 6 } else { 5 };
    let total: usize = blocks.iter().map(|(_, x32, _)| len(*x32)).sum();
    let mut out: Vec<Insn> = Vec::with_capacity(total);
    for (audit, x32, last) in blocks {
        let start = out.len();
        let to_filter = |pc: usize| (total - (pc + 1)) as u8;
        out.push((BPF_LD_W_ABS, 0, 0, 4)); // A = seccomp_data.arch
        out.push((BPF_JEQ_K, 0, (len(x32) - 2) as u8, audit));
        out.push((BPF_LD_W_ABS, 0, 0, 0)); // A = seccomp_data.nr
        if x32 {
            let pc = out.len();
            out.push((BPF_JSET_K, to_filter(pc), 0, 0x4000_0000));
        }
        let pc = out.len();
        out.push((BPF_JGT_K, 0, to_filter(pc), last));
        out.push((BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS));
        debug_assert_eq!(out.len() - start, len(x32));
    }
    out
}

fn encode(insns: &[Insn]) -> Vec<u8> {
    let mut b = Vec::with_capacity(insns.len() * 8);
    for (code, jt, jf, k) in insns {
        b.extend_from_slice(&code.to_ne_bytes());
        b.push(*jt);
        b.push(*jf);
        b.extend_from_slice(&k.to_ne_bytes());
    }
    b
}

/// Compile a profile.
pub fn compile(s: &LinuxSeccomp) -> Result<Compiled> {
    let (ctx, flags) = build(s)?;
    let memfd =
        nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| lib_err(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&memfd).map_err(lib_err)?;
    let mut f = fs::File::from(memfd);
    f.seek(SeekFrom::Start(0)).map_err(lib_err)?;
    let mut program = encode(&enosys_stub(s));
    f.read_to_end(&mut program).map_err(lib_err)?;
    Ok(Compiled { program, flags })
}

/// The cache key: the profile as JSON, the libseccomp version and the machine.
fn cache_key(s: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(s).unwrap_or_default());
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.update(format!("{}.{}.{}", v.major, v.minor, v.micro));
    }
    h.update(std::env::consts::ARCH);
    // What berth adds to libseccomp's program (the ENOSYS stub).
    h.update(b"enosys-stub-1");
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compile a profile, reusing a program compiled earlier for the same profile.
/// The cache is a directory of `<sha256>.bpf` files written atomically; a cache
/// that cannot be written only costs the reuse.
pub fn compile_cached(s: &LinuxSeccomp, cache_dir: &Path) -> Result<Compiled> {
    let key = cache_key(s);
    let path = cache_dir.join(format!("{key}.bpf"));
    if let Ok(bytes) = fs::read(&path)
        && bytes.len() >= 4
        && (bytes.len() - 4) % 8 == 0
    {
        let flags = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        return Ok(Compiled {
            program: bytes[4..].to_vec(),
            flags,
        });
    }
    let c = compile(s)?;
    let mut bytes = c.flags.to_le_bytes().to_vec();
    bytes.extend_from_slice(&c.program);
    let tmp = cache_dir.join(format!(".{key}.{}", std::process::id()));
    let stored = fs::create_dir_all(cache_dir)
        .and_then(|_| fs::write(&tmp, &bytes))
        .and_then(|_| fs::rename(&tmp, &path));
    if let Err(e) = stored {
        let _ = fs::remove_file(&tmp);
        tracing::debug!("seccomp cache {}: {e}", path.display());
    }
    Ok(c)
}

/// The libseccomp the runtime is linked with (`2.5.4`), as `runc --version`
/// names it.
pub fn library_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn compiles_and_caches() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
                            {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_NE"}]},
                            {"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ","valueTwo":0}]},
                            {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]},
                            {"names":["arm_fadvise64_64","futex_waitv","mseal"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let c = compile(&p).unwrap();
        assert!(!c.program.is_empty() && c.program.len().is_multiple_of(8));
        let dir = tempfile::tempdir().unwrap();
        let a = compile_cached(&p, dir.path()).unwrap();
        assert_eq!(a, c);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let b = compile_cached(&p, dir.path()).unwrap();
        assert_eq!(b, c);
    }

    #[test]
    fn enosys_stub_covers_what_the_profile_does_not_name() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "syscalls":[{"names":["read","write","openat"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let stub = enosys_stub(&p);
        if ScmpArch::native() == ScmpArch::X8664 {
            // x86_64 (with the x32 test) then i386.
            assert_eq!(stub.len(), 6 + 5);
            assert_eq!(stub[1], (BPF_JEQ_K, 0, 4, 0xC000_003E));
            // openat is the last x86_64 syscall named: 257.
            assert_eq!(stub[4], (BPF_JGT_K, 0, 6, 257));
            assert_eq!(stub[5], (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS));
            // The jumps out land on the first instruction after the stub.
            assert_eq!(3 + 1 + stub[3].1 as usize, stub.len());
            assert_eq!(9 + 1 + stub[9].2 as usize, stub.len());
            // i386's openat is 295.
            assert_eq!(stub[9].3, 295);
        }
        let c = compile(&p).unwrap();
        assert_eq!(&c.program[..stub.len() * 8], &encode(&stub)[..]);
        // Allowing by default needs no stub; neither does ENOSYS by default.
        for d in [
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ] {
            assert!(enosys_stub(&profile(d)).is_empty(), "{d}");
        }
    }

    #[test]
    fn unknown_syscall_names_the_field() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_LOG"},{"names":["mkdir","opne"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let e = validate(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"linux.seccomp.syscalls[1].names[1]: unknown syscall "opne""#
        );
    }

    #[test]
    fn notify_needs_a_listener() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(
            validate(&p)
                .unwrap_err()
                .to_string()
                .contains("listenerPath")
        );
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(compile(&p).unwrap().notifies());
    }
}

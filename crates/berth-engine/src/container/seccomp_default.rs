//! berth's built-in seccomp profile: the same filter Docker applies by default,
//! produced directly as oci-spec's `LinuxSeccomp`.
//!
//! Docker describes its default as one table of rules, each optionally gated on
//! the host architecture, the container's bounding capabilities or the kernel
//! version; the daemon resolves those gates when it builds a container's spec.
//! Here the data lives in the name tables below and the gates are plain code in
//! [`default_profile`]. Everything not allowed fails with `EPERM`.

use std::collections::BTreeSet;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// `CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET | CLONE_NEWCGROUP`: flags `clone` may not carry without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x0200_0000;

/// `personality(2)` arguments a container may pass: `PER_LINUX`, `PER_LINUX32`,
/// `PER_LINUX | UNAME26`, `PER_LINUX32 | UNAME26`, and the query value `0xffffffff`.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Allowed for every container on every architecture. Names that do not exist on
/// the host architecture (32-bit variants, multiplexers) are harmless: the loader
/// places each name on the architectures where it exists.
const ALWAYS: &[&str] = &[
    "_llseek",
    "_newselect",
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Allowed on kernels from 4.8 on, where seccomp filters are checked after
/// ptrace tracers act (earlier kernels let a tracer bypass the filter).
const PTRACE_FROM_4_8: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// Extra syscalls that only make sense on particular architectures, keyed by
/// Rust's `std::env::consts::ARCH` of the daemon.
const BY_ARCH: &[(&str, &[&str])] = &[
    ("x86_64", &["arch_prctl", "modify_ldt"]),
    ("x86", &["modify_ldt"]),
    (
        "aarch64",
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ],
    ),
    (
        "arm",
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ],
    ),
    (
        "s390x",
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (
        "s390",
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    // Docker lists riscv_hwprobe among the syscalls allowed everywhere; it exists
    // only on riscv64, so allowing it here is the same filter, and it keeps the
    // profile loadable with a libseccomp older than 2.6 (which does not know the name)
    // on every other architecture.
    ("riscv64", &["riscv_flush_icache", "riscv_hwprobe"]),
];

/// Only little-endian 64-bit PowerPC gets these (`std::env::consts::ARCH` is
/// "powerpc64" for both byte orders).
const PPC64LE: &[&str] = &["swapcontext", "sync_file_range2"];

/// Syscalls unlocked by a capability in the container's bounding set.
const BY_CAP: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "finit_module", "init_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    (
        "CAP_SYS_TIME",
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The seccomp architectures a filter covers for a host architecture: the native
/// one first, then the compat ABIs its processes can also enter the kernel with.
/// Empty (native only) where Docker lists none.
fn architectures(arch: &str, little_endian: bool) -> &'static [&'static str] {
    match (arch, little_endian) {
        ("x86_64", _) => &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        ("aarch64", _) => &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        ("mips64", false) => &["SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
        ("mips64", true) => &[
            "SCMP_ARCH_MIPSEL64",
            "SCMP_ARCH_MIPSEL",
            "SCMP_ARCH_MIPSEL64N32",
        ],
        ("s390x", _) => &["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        ("riscv64", _) => &["SCMP_ARCH_RISCV64"],
        ("loongarch64", _) => &["SCMP_ARCH_LOONGARCH64"],
        _ => &[],
    }
}

/// Whether a kernel release string ("6.1.0-18-amd64") is at least `major.minor`.
/// An unparsable release counts as new enough.
fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(ma)), Some(Ok(mi))) => (ma, mi) >= (major, minor),
        _ => true,
    }
}

fn host_kernel_at_least(major: u32, minor: u32) -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| kernel_at_least(&r, major, minor))
        .unwrap_or(true)
}

/// "sys_admin", "SYS_ADMIN" and "CAP_SYS_ADMIN" all name CAP_SYS_ADMIN.
fn normalise_cap(c: &str) -> String {
    let c = c.trim().to_ascii_uppercase();
    if c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// The inputs that decide the profile, separated from the host for tests.
struct Host<'a> {
    arch: &'a str,
    little_endian: bool,
    /// Kernel 4.8 or newer.
    kernel_4_8: bool,
}

/// berth's default seccomp profile for a container whose bounding capability set is
/// `caps` (names such as "CAP_SYS_ADMIN"), as the OCI `linux.seccomp` object for
/// the daemon's architecture: equivalent to Docker's default profile.
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    let host = Host {
        arch: std::env::consts::ARCH,
        little_endian: cfg!(target_endian = "little"),
        kernel_4_8: host_kernel_at_least(4, 8),
    };
    profile_for(&host, caps)
}

fn rule(
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut b = LinuxSyscallBuilder::default().names(names).action(action);
    if let Some(e) = errno {
        b = b.errno_ret(e);
    }
    if !args.is_empty() {
        b = b.args(args);
    }
    b.build().expect("a syscall rule has every field")
}

fn allow_if(
    name: &str,
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSyscall {
    let mut a = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    if let Some(v2) = value_two {
        a = a.value_two(v2);
    }
    rule(
        vec![name.to_string()],
        LinuxSeccompAction::ScmpActAllow,
        None,
        vec![a.build().expect("an argument rule has every field")],
    )
}

/// A libseccomp architecture name (`SCMP_ARCH_X86_64`) as oci-spec's type.
fn arch(name: &str) -> Option<Arch> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

fn profile_for(host: &Host, caps: &[String]) -> LinuxSeccomp {
    let caps: BTreeSet<String> = caps.iter().map(|c| normalise_cap(c)).collect();
    let has = |c: &str| caps.contains(c);

    let mut allowed: BTreeSet<&str> = ALWAYS.iter().copied().collect();
    if host.kernel_4_8 {
        allowed.extend(PTRACE_FROM_4_8);
    }
    for (arch, names) in BY_ARCH {
        if *arch == host.arch {
            allowed.extend(*names);
        }
    }
    if host.arch == "powerpc64" && host.little_endian {
        allowed.extend(PPC64LE);
    }
    for (cap, names) in BY_CAP {
        if has(cap) {
            allowed.extend(*names);
        }
    }

    use LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpGt, ScmpCmpLt, ScmpCmpMaskedEq};
    let mut syscalls = vec![rule(
        allowed.into_iter().map(String::from).collect(),
        LinuxSeccompAction::ScmpActAllow,
        None,
        Vec::new(),
    )];

    // socket(2) for every address family but AF_ALG and AF_VSOCK (each rule is an
    // alternative). On 32-bit x86, socketcall(2) still reaches both.
    syscalls.push(allow_if("socket", 0, ScmpCmpLt, AF_ALG, None));
    syscalls.push(allow_if("socket", 0, ScmpCmpEq, AF_ALG + 1, None));
    syscalls.push(allow_if("socket", 0, ScmpCmpGt, AF_VSOCK, None));

    for &p in PERSONALITIES {
        syscalls.push(allow_if("personality", 0, ScmpCmpEq, p, None));
    }

    if !has("CAP_SYS_ADMIN") {
        // clone without namespace flags; s390 passes the flags second.
        let flags_arg = if matches!(host.arch, "s390x" | "s390") {
            1
        } else {
            0
        };
        syscalls.push(allow_if(
            "clone",
            flags_arg,
            ScmpCmpMaskedEq,
            CLONE_NAMESPACE_FLAGS,
            Some(0),
        ));
        // clone3's flags live in memory a filter cannot inspect: report it missing
        // so that libc falls back to clone, which is filtered above.
        syscalls.push(rule(
            vec!["clone3".into()],
            LinuxSeccompAction::ScmpActErrno,
            Some(ENOSYS),
            Vec::new(),
        ));
    }

    let mut b = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(EPERM)
        .syscalls(syscalls);
    let arches: Vec<Arch> = architectures(host.arch, host.little_endian)
        .iter()
        .filter_map(|a| arch(a))
        .collect();
    if !arches.is_empty() {
        b = b.architectures(arches);
    }
    b.build().expect("a profile has every field")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn v(p: LinuxSeccomp) -> Value {
        serde_json::to_value(p).unwrap()
    }

    const X86_64: Host = Host {
        arch: "x86_64",
        little_endian: true,
        kernel_4_8: true,
    };

    /// Docker's default bounding set.
    fn docker_caps() -> Vec<String> {
        crate::container::spec::DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn rules(p: &Value) -> &Vec<Value> {
        p["syscalls"].as_array().unwrap()
    }

    /// Names allowed with no argument conditions.
    fn allowed(p: &Value) -> BTreeSet<String> {
        rules(p)
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    fn rules_for<'a>(p: &'a Value, name: &str) -> Vec<&'a Value> {
        rules(p)
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn oci_shape() {
        let p = v(profile_for(&X86_64, &docker_caps()));
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let keys = ["names", "action", "args", "errnoRet"];
        let ops = [
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_MASKED_EQ",
        ];
        for r in rules(&p) {
            let o = r.as_object().unwrap();
            assert!(o.keys().all(|k| keys.contains(&k.as_str())), "{r}");
            let names = r["names"].as_array().unwrap();
            assert!(!names.is_empty());
            assert!(
                names
                    .iter()
                    .all(|n| n.as_str().is_some_and(|s| !s.is_empty()))
            );
            assert!(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"].contains(&r["action"].as_str().unwrap()));
            if let Some(e) = r.get("errnoRet") {
                assert!(e.as_u64().is_some());
            }
            for a in r
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                assert!(a["index"].as_u64().unwrap() <= 5);
                assert!(a["value"].as_u64().is_some());
                assert!(ops.contains(&a["op"].as_str().unwrap()));
                if let Some(v2) = a.get("valueTwo") {
                    assert!(v2.as_u64().is_some());
                }
            }
        }
        // A name gets one unconditional rule at most, and never both an
        // unconditional allow and another rule.
        let free = allowed(&p);
        for r in rules(&p).iter().skip(1) {
            for n in r["names"].as_array().unwrap() {
                assert!(!free.contains(n.as_str().unwrap()), "{n} listed twice");
            }
        }
        let first = rules(&p)[0]["names"].as_array().unwrap();
        assert_eq!(first.len(), free.len());
    }

    #[test]
    fn default_caps() {
        let p = v(profile_for(&X86_64, &docker_caps()));
        let a = allowed(&p);
        for n in [
            "read",
            "write",
            "execve",
            "openat",
            "futex",
            "ptrace",
            "arch_prctl",
            "chroot",
        ] {
            assert!(a.contains(n), "{n}");
        }
        for n in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "reboot",
            "bpf",
            "kexec_load",
            "open_by_handle_at",
            "init_module",
            "keyctl",
            "add_key",
            "swapon",
            "settimeofday",
            "syslog",
            "kcmp",
            "riscv_hwprobe",
            "set_tls",
        ] {
            assert!(!a.contains(n), "{n}");
        }
        // 360 common names + ptrace/process_vm_{readv,writev} + arch_prctl,
        // modify_ldt + chroot (CAP_SYS_CHROOT).
        assert_eq!(a.len(), 366);
        assert_eq!(allowed(&v(profile_for(&X86_64, &[]))).len(), 365);

        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(
            clone[0]["args"],
            json!([{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        assert_eq!(CLONE_NAMESPACE_FLAGS, 2_114_060_288);

        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3[0]["errnoRet"], 38);

        let socket: Vec<_> = rules_for(&p, "socket")
            .iter()
            .map(|r| {
                (
                    r["args"][0]["op"].as_str().unwrap(),
                    r["args"][0]["value"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            socket,
            [
                ("SCMP_CMP_LT", 38),
                ("SCMP_CMP_EQ", 39),
                ("SCMP_CMP_GT", 40)
            ]
        );
        let personality: Vec<_> = rules_for(&p, "personality")
            .iter()
            .map(|r| r["args"][0]["value"].as_u64().unwrap())
            .collect();
        assert_eq!(personality, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn sys_admin_unlocks_mount_and_namespaces() {
        let mut c = docker_caps();
        c.push("CAP_SYS_ADMIN".into());
        let p = v(profile_for(&X86_64, &c));
        let a = allowed(&p);
        for n in [
            "mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "syslog", "fsopen",
        ] {
            assert!(a.contains(n), "{n}");
        }
        assert_eq!(rules_for(&p, "clone").len(), 1);
        assert_eq!(rules_for(&p, "clone3").len(), 1);
        assert!(rules_for(&p, "clone3")[0].get("errnoRet").is_none());
        // Not a blanket allow.
        assert!(!a.contains("reboot") && !a.contains("init_module") && !a.contains("kcmp"));
    }

    #[test]
    fn each_capability_group() {
        let cases: &[(&str, &[&str])] = &[
            ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
            ("CAP_SYS_BOOT", &["reboot"]),
            (
                "CAP_SYS_MODULE",
                &["init_module", "finit_module", "delete_module"],
            ),
            ("CAP_SYS_PACCT", &["acct"]),
            (
                "CAP_SYS_PTRACE",
                &["kcmp", "pidfd_getfd", "process_madvise"],
            ),
            ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
            ("CAP_SYS_TIME", &["settimeofday", "clock_settime", "stime"]),
            ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
            ("CAP_SYS_NICE", &["mbind", "set_mempolicy", "get_mempolicy"]),
            ("CAP_SYSLOG", &["syslog"]),
            ("CAP_BPF", &["bpf"]),
            ("CAP_PERFMON", &["perf_event_open"]),
        ];
        let base = allowed(&v(profile_for(&X86_64, &[])));
        for (cap, names) in cases {
            let a = allowed(&v(profile_for(&X86_64, &caps(&[cap]))));
            for n in *names {
                assert!(!base.contains(*n) && a.contains(*n), "{cap}: {n}");
            }
            assert!(!a.contains("mount"), "{cap}");
        }
        // Spellings without the prefix or in lower case name the same capability.
        assert!(allowed(&v(profile_for(&X86_64, &caps(&["sys_admin"])))).contains("mount"));
        assert!(allowed(&v(profile_for(&X86_64, &caps(&["SYS_BOOT"])))).contains("reboot"));
    }

    #[test]
    fn other_architectures() {
        let arm = Host {
            arch: "aarch64",
            little_endian: true,
            kernel_4_8: true,
        };
        let p = v(profile_for(&arm, &[]));
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        let a = allowed(&p);
        assert!(a.contains("set_tls") && a.contains("sync_file_range2"));
        assert!(!a.contains("arch_prctl") && !a.contains("modify_ldt"));

        let s390 = Host {
            arch: "s390x",
            little_endian: false,
            kernel_4_8: true,
        };
        let p = v(profile_for(&s390, &[]));
        assert_eq!(rules_for(&p, "clone")[0]["args"][0]["index"], 1);

        let riscv = Host {
            arch: "riscv64",
            little_endian: true,
            kernel_4_8: true,
        };
        assert!(allowed(&v(profile_for(&riscv, &[]))).contains("riscv_hwprobe"));

        let ppc = Host {
            arch: "powerpc64",
            little_endian: true,
            kernel_4_8: true,
        };
        let p = v(profile_for(&ppc, &[]));
        assert!(p.get("architectures").is_none());
        assert!(allowed(&p).contains("swapcontext"));
    }

    #[test]
    fn old_kernels_lose_ptrace_unless_granted() {
        let old = Host {
            arch: "x86_64",
            little_endian: true,
            kernel_4_8: false,
        };
        assert!(!allowed(&v(profile_for(&old, &[]))).contains("ptrace"));
        assert!(allowed(&v(profile_for(&old, &caps(&["CAP_SYS_PTRACE"])))).contains("ptrace"));
        assert!(kernel_at_least("6.18.44-fc-v782", 4, 8));
        assert!(kernel_at_least("4.8.0", 4, 8));
        assert!(!kernel_at_least("4.4.0-210-generic", 4, 8));
        assert!(!kernel_at_least("3.19", 4, 8));
        assert!(kernel_at_least("garbage", 4, 8));
    }

    #[test]
    fn host_profile() {
        let p = v(default_profile(&docker_caps()));
        assert!(allowed(&p).contains("read"));
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(p, v(profile_for(&X86_64, &docker_caps())));
        }
    }
}

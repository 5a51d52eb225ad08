//! Container escape regression tests: the same escape attempts in a default
//! container (`docker run --network none busybox`) on berthd and — as the
//! reference, in the same run — on a private dockerd (Debian's docker.io).
//! Every attempt must fail on both, and berth must fail it as Docker does
//! (or be stricter):
//!
//! - writes to `/proc/sys` and the other read-only `/proc` paths, and to `/sys`
//!   (`EROFS`); Docker's masked `/proc` and `/sys` paths read as empty;
//! - `mount` of tmpfs, proc, cgroup (the `release_agent` escape), a bind of
//!   `/`, a remount of `/` (`EPERM`);
//! - `add_key`/`keyctl`/`request_key` (the seccomp profile);
//! - user namespaces, by `clone(CLONE_NEWUSER)`, `unshare(CLONE_NEWUSER)` and
//!   busybox `unshare -Ur`, and the mounts one would try inside;
//! - the host's processes: none visible, `ptrace` of the daemon's pid finds
//!   nothing, no host file reachable through `/proc/<pid>/root`;
//! - fds: the container's first process and a `docker exec`'d one hold only
//!   0, 1 and 2;
//! - devices: `mknod` works (CAP_MKNOD) but opening the node does not (the
//!   device cgroup); `/dev` holds no more than Docker's;
//! - the daemon's socket is not in the container — unless bound in with `-v`,
//!   where the test does reach it (a sanity check of the probe);
//! - the cgroup hierarchies are read-only: no `mkdir`, no write to
//!   `cgroup.procs` or `devices.allow`;
//! - seccomp: every syscall of the kernel headers that the profile in
//!   dockerd's OCI config of a default container does not allow is called
//!   with bogus arguments (each in a child of the probe); berth must refuse
//!   each (EPERM or ENOSYS; clone3 with dockerd's ENOSYS), but the few later
//!   Docker releases allow ([`ALLOWED_SINCE_20_10`]). Every syscall berth's own
//!   profile (from its OCI config) blocks must be refused too.
//!
//! Each attempt is made by a static C probe built with gcc at test time and
//! bound read-only at `/probe`; it prints `ok` or the errno's name. Without
//! dockerd the attempts still run and are asserted against berth alone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::dockerd::Dockerd;
use common::{Daemon, code, err, out};
use serde_json::Value;

/// `probe OP ARGS...`: one attempt, its outcome on stdout.
const PROBE: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>

static const char *res(long r) { return r < 0 ? strerrorname_np(errno) : "ok"; }
static int put(const char *path, const char *data) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    int r = write(fd, data, strlen(data)) < 0 ? -1 : 0;
    close(fd);
    return r;
}
static const struct { const char *name; long nr; } SYS[] = {
#include "sys.h"
};
int main(int argc, char **argv) {
    const char *op = argc > 1 ? argv[1] : "";
    char buf[4096];
    if (!strcmp(op, "write")) {            /* write PATH DATA */
        puts(res(put(argv[2], argv[3])));
    } else if (!strcmp(op, "rewrite")) {   /* write a file's own content back */
        int fd = open(argv[2], O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (n < 0) { printf("read:%s\n", strerrorname_np(errno)); return 0; }
        buf[n] = 0;
        puts(res(put(argv[2], buf)));
    } else if (!strcmp(op, "read")) {
        int fd = open(argv[2], O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (n < 0) puts(strerrorname_np(errno)); else printf("ok:%.*s\n", (int)n, buf);
    } else if (!strcmp(op, "mkdir")) {
        int r = mkdir(argv[2], 0755);
        puts(res(r));
        if (r == 0) rmdir(argv[2]);
    } else if (!strcmp(op, "mount")) {     /* mount SRC TARGET FSTYPE [bind|remount] */
        unsigned long fl = argc > 5 ? (!strcmp(argv[5], "bind") ? MS_BIND | MS_REC : MS_REMOUNT) : 0;
        int r = mount(argv[2], argv[3], argv[4][0] ? argv[4] : NULL, fl, NULL);
        puts(res(r));
        if (r == 0 && !(fl & MS_REMOUNT)) umount2(argv[3], MNT_DETACH);
    } else if (!strcmp(op, "keyctl")) {
        printf("add_key:%s ", res(syscall(SYS_add_key, "user", "berth-test-key", "x", 1, -2)));
        printf("keyctl:%s ", res(syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, "berth-test")));
        printf("request_key:%s\n", res(syscall(SYS_request_key, "user", "berth-test-key", NULL, 0)));
    } else if (!strcmp(op, "userns")) {    /* a user namespace, then mounts in it */
        long c = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (c == 0) _exit(0);
        if (c > 0) waitpid(c, NULL, 0);
        printf("clone:%s ", res(c));
        int r = unshare(CLONE_NEWUSER);
        printf("unshare:%s", res(r));
        if (r == 0) {
            put("/proc/self/setgroups", "deny");
            printf(" uid_map:%s", res(put("/proc/self/uid_map", "0 0 1")));
            printf(" mountns:%s", res(unshare(CLONE_NEWNS)));
            printf(" proc:%s", res(mount("proc", "/tmp", "proc", 0, NULL)));
            printf(" bind:%s", res(mount("/", "/tmp", NULL, MS_BIND | MS_REC, NULL)));
            printf(" remount:%s", res(mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL)));
            printf(" sysctl:%s", res(put("/proc/sys/vm/drop_caches", "4")));
        }
        puts("");
    } else if (!strcmp(op, "ptrace")) {    /* ptrace PID */
        long r = ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0);
        puts(res(r));
        if (r == 0) ptrace(PTRACE_DETACH, atoi(argv[2]), 0, 0);
    } else if (!strcmp(op, "procs")) {     /* the other processes in sight */
        DIR *d = opendir("/proc");
        struct dirent *e;
        int n = 0;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9' || atoi(e->d_name) == getpid()) continue;
            snprintf(buf, sizeof buf, "/proc/%s/comm", e->d_name);
            FILE *f = fopen(buf, "r");
            char comm[64] = "?";
            if (f) { if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0; fclose(f); }
            printf("%s%s:%s", n++ ? " " : "", e->d_name, comm);
        }
        puts(n ? "" : "none");
    } else if (!strcmp(op, "fds")) {       /* the open fds but the listing's own */
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        char path[300], target[256];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
            snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(path, target, sizeof target - 1);
            target[n < 0 ? 0 : n] = 0;
            printf("%s ", e->d_name);
            if (atoi(e->d_name) > 2) printf("(%s) ", target);
        }
        puts("");
    } else if (!strcmp(op, "mknod")) {     /* mknod PATH b|c MAJOR MINOR, then open it */
        mode_t t = argv[3][0] == 'b' ? S_IFBLK : S_IFCHR;
        printf("mknod:%s ", res(mknod(argv[2], t | 0600, makedev(atoi(argv[4]), atoi(argv[5])))));
        printf("open:%s\n", res(open(argv[2], O_RDONLY)));
        unlink(argv[2]);
    } else if (!strcmp(op, "ping")) {      /* GET /_ping on a unix socket */
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { puts(strerrorname_np(errno)); return 0; }
        const char *req = "GET /_ping HTTP/1.0\r\nHost: x\r\n\r\n";
        if (write(s, req, strlen(req)) < 0) { puts(strerrorname_np(errno)); return 0; }
        ssize_t n = read(s, buf, sizeof buf - 1);
        buf[n < 0 ? 0 : n] = 0;
        buf[strcspn(buf, "\r\n")] = 0;
        printf("reachable:%s\n", buf);
    } else if (!strcmp(op, "sys")) {       /* sys NAME...: each with bogus arguments */
        for (int i = 2; i < argc; i++) {
            long nr = -1;
            for (size_t j = 0; j < sizeof SYS / sizeof SYS[0]; j++)
                if (!strcmp(SYS[j].name, argv[i])) nr = SYS[j].nr;
            if (nr < 0) { printf("%s none\n", argv[i]); continue; }
            pid_t p = fork();
            if (p == 0) {
                alarm(5);
                long r = syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L);
                _exit(r < 0 ? errno : 0);
            }
            int st;
            waitpid(p, &st, 0);
            if (WIFSIGNALED(st)) printf("%s SIG%d\n", argv[i], WTERMSIG(st));
            else printf("%s %s\n", argv[i], WEXITSTATUS(st) ? strerrorname_np(WEXITSTATUS(st)) : "ok");
        }
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        return 2;
    }
    return 0;
}
"#;

/// What Docker puts in a default container's /dev (console and core at most besides).
const DEFAULT_DEV: &[&str] = &[
    "console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr",
    "stdin", "stdout", "tty", "urandom", "zero",
];

/// The attempts: `name => command => outcome required`, the same on berth and
/// dockerd. A command is a line of one `sh` script, or after `own:` a container
/// of its own (`docker run` flags, image, command). The outcome must be equal on
/// both, but `~x`: contains x, not compared (it names engine-specific things);
/// `{dev}`: Docker's entries at most, and berth's a subset of dockerd's.
/// `{pid}`, `{sock}`, `{marker}`, `{cg}`: the daemon's pid, its socket, a file on
/// the host, a cgroup hierarchy.
const ATTEMPTS: &str = r"
rewrite /proc/sys/kernel/core_pattern => /probe rewrite /proc/sys/kernel/core_pattern => EROFS
rewrite /proc/irq/default_smp_affinity => /probe rewrite /proc/irq/default_smp_affinity => EROFS
write 4 > /proc/sys/vm/drop_caches => /probe write /proc/sys/vm/drop_caches 4 => EROFS
masked /proc, /sys paths that read non-empty => for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/acpi /proc/scsi /proc/asound /proc/latency_stats /sys/firmware; do if [ -d $p ]; then n=$(ls -A $p | wc -l); else n=$(head -c 16 $p 2>/dev/null | wc -c); fi; [ $n = 0 ] || echo $p; done => (nothing)
rewrite /sys/module/printk/parameters/time => /probe rewrite /sys/module/printk/parameters/time => EROFS
mkdir /sys/class/berth-test-x => /probe mkdir /sys/class/berth-test-x => EROFS
mount -t tmpfs none /tmp => /probe mount none /tmp tmpfs => EPERM
mount -t proc proc /tmp => /probe mount proc /tmp proc => EPERM
mount -t cgroup cgroup /tmp (release_agent) => /probe mount cgroup /tmp cgroup => EPERM
mount --rbind / /tmp => /probe mount / /tmp '' bind => EPERM
mount -o remount / => /probe mount none / '' remount => EPERM
add_key, keyctl, request_key => /probe keyctl => add_key:EPERM keyctl:EPERM request_key:EPERM
user namespace (then mounts in it) => /probe userns => clone:EPERM unshare:EPERM
busybox unshare -Ur mount -t proc => unshare -Ur mount -t proc proc /tmp => ~Operation not permitted
ptrace the daemon's host pid => /probe ptrace {pid} => ESRCH
host file through /proc/1/root => /probe read /proc/1/root{marker} => ENOENT
host file through /proc/<daemon pid>/root => /probe read /proc/{pid}/root{marker} => ENOENT
host file at its host path => /probe read {marker} => ENOENT
mknod b 8 0 (sda), open it => /probe mknod /tmp/sda b 8 0 => mknod:ok open:EPERM
mknod c 1 1 (mem), open it => /probe mknod /tmp/mem c 1 1 => mknod:ok open:EPERM
/dev: Docker's entries at most => ls -A /dev => {dev}
unix sockets in the container => find / '(' -path /proc -o -path /sys ')' -prune -o -type s -print => (nothing)
connect /var/run/docker.sock => /probe ping /var/run/docker.sock => ENOENT
connect the daemon's socket by its host path => /probe ping {sock} => ENOENT
mkdir in a cgroup hierarchy => /probe mkdir {cg}/berth-test-x => EROFS
write 0 > cgroup.procs => /probe write {cg}/cgroup.procs 0 => EROFS
write a > devices.allow (cgroup v1) => /probe write /sys/fs/cgroup/devices/devices.allow a => EROFS
processes in sight of the first one => own: busybox /probe procs => none
fds of the first process => own: busybox /probe fds => 0 1 2
sanity: the socket bound in with -v answers => own: -v {sock}:/var/run/docker.sock busybox /probe ping /var/run/docker.sock => ~ 200 OK
";

/// Syscalls 20.10's default profile refuses that later Docker releases allow, as
/// berth's profile (Docker's current one) does; none reaches beyond the container:
/// name_to_handle_at (moby#45766; open_by_handle_at stays blocked), pkey_*
/// (moby#43490; the caller's own memory), process_vm_* (moby#42083; as ptrace on
/// kernels >= 4.8, with ptrace's access checks).
const ALLOWED_SINCE_20_10: &str =
    "name_to_handle_at pkey_alloc pkey_free pkey_mprotect process_vm_readv process_vm_writev";

/// One engine: how to drive it, and where it lives on the host.
struct Engine<'a> {
    name: &'static str,
    docker: &'a dyn Fn(&[&str]) -> Output,
    /// Its API socket, its data directory, the daemon's pid.
    sock: String,
    dir: PathBuf,
    pid: i32,
}

struct Attempt {
    name: String,
    /// A line of the script, or the `docker run` arguments of a container of its own.
    sh: String,
    own: Option<Vec<String>>,
    expect: String,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// [`ATTEMPTS`], written for engine `e`; `marker` is a file on the host.
fn attempts(e: &Engine, marker: &Path) -> Vec<Attempt> {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let cg = if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/memory"
    };
    let fill = |t: &str| {
        t.replace("{pid}", &e.pid.to_string())
            .replace("{sock}", &e.sock)
            .replace("{marker}", &marker.display().to_string())
            .replace("{cg}", cg)
    };
    ATTEMPTS
        .lines()
        .filter(|l| !l.is_empty())
        .filter(|l| !(v2 && l.contains("(cgroup v1)")))
        .map(|l| {
            let f: Vec<&str> = l.split(" => ").collect();
            assert_eq!(f.len(), 3, "{l}");
            let sh = fill(f[1]);
            let own = sh
                .strip_prefix("own: ")
                .map(|a| a.split(' ').map(String::from).collect());
            Attempt {
                name: f[0].into(),
                sh,
                own,
                expect: f[2].into(),
            }
        })
        .collect()
}

/// Whether outcome `o` is the one `expect` requires.
fn meets(o: &str, expect: &str) -> bool {
    match expect.strip_prefix('~') {
        Some(x) => o.contains(x),
        None if expect == "{dev}" => o.split(' ').all(|w| DEFAULT_DEV.contains(&w)),
        None => o == expect,
    }
}

/// Every syscall name of the x86_64 kernel headers.
fn all_syscall_names() -> Vec<String> {
    std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
        .expect("kernel headers (linux-libc-dev)")
        .lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Build the probe into `dir`, its syscall table from the headers' names.
fn build_probe(dir: &Path, names: &[String]) {
    let table: String = names
        .iter()
        .map(|n| format!("#ifdef SYS_{n}\n{{\"{n}\", SYS_{n}}},\n#endif\n"))
        .collect();
    std::fs::write(dir.join("sys.h"), table).unwrap();
    std::fs::write(dir.join("probe.c"), PROBE).unwrap();
    let o = Command::new("gcc")
        .args(["-static", "-O", "-Wall", "-o"])
        .arg(dir.join("probe"))
        .arg(dir.join("probe.c"))
        .output()
        .expect("gcc (build-essential) is needed to build the probe");
    assert!(o.status.success(), "gcc: {}", err(&o));
}

/// `docker run --rm` with the probe; `args`: more flags (`-d`: detached), the
/// image, the command. Its stdout, and how it failed if it did.
fn run(e: &Engine, probe: &Path, args: &[String]) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("berth-test-escape-{}-{n}", std::process::id());
    let bind = format!("{}:/probe:ro", probe.display());
    let mut all = vec![
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        &name,
        "-v",
        &bind,
    ];
    all.extend(args.iter().map(String::as_str));
    let o = (e.docker)(&all);
    let mut s = out(&o);
    if code(&o) != 0 {
        s += &format!(" [exit {}: {}]", code(&o), err(&o).trim());
    }
    s
}

/// Every attempt's outcome on `e`: the script's in one container, the others alone.
fn outcomes(e: &Engine, list: &[Attempt], probe: &Path) -> Vec<String> {
    let mut script = String::new();
    for (i, a) in list.iter().enumerate().filter(|(_, a)| a.own.is_none()) {
        script += &format!("echo @@{i}; {{ {}; }} 2>&1\n", a.sh);
    }
    let mut res = vec![String::new(); list.len()];
    let mut cur = None;
    let all = run(
        e,
        probe,
        &["busybox".into(), "sh".into(), "-c".into(), script],
    );
    for l in all.lines() {
        match l.strip_prefix("@@").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => cur = Some(i),
            None => {
                let i = cur.unwrap_or_else(|| panic!("{}: the script failed: {all}", e.name));
                res[i] = format!("{} {}", res[i], l.trim()).trim().to_string();
            }
        }
    }
    for (i, a) in list.iter().enumerate() {
        if let Some(args) = &a.own {
            res[i] = run(e, probe, args).trim().to_string();
        }
    }
    res.into_iter()
        .map(|r| if r.is_empty() { "(nothing)".into() } else { r })
        .collect()
}

/// The OCI config the engine gave a default container, and the fds of a
/// process `docker exec`'d in it.
fn config_and_exec_fds(e: &Engine, probe: &Path) -> (Value, String) {
    let id = run(
        e,
        probe,
        &["-d", "busybox", "sleep", "300"].map(String::from),
    );
    let id = id.trim();
    assert!(id.len() == 64, "{}: run -d: {id}", e.name);
    let fds = (e.docker)(&["exec", id, "/probe", "fds"]);
    let fds = format!("{}{}", out(&fds).trim(), err(&fds).trim());
    let cfg = find_config(&e.dir.join("exec"), id, 6)
        .unwrap_or_else(|| panic!("{}: no config.json for {id}", e.name));
    let cfg = serde_json::from_slice(&std::fs::read(cfg).unwrap()).unwrap();
    let _ = (e.docker)(&["rm", "-f", id]);
    (cfg, fds)
}

/// `<dir>/…/<id>/config.json`, the container's OCI bundle, not under a rootfs.
fn find_config(dir: &Path, id: &str, depth: usize) -> Option<PathBuf> {
    let c = dir.join(id).join("config.json");
    if c.is_file() {
        return Some(c);
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| depth > 0 && e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name() != "rootfs")
        .find_map(|e| find_config(&e.path(), id, depth - 1))
}

/// The syscalls a profile does not allow: neither outright nor on conditions.
fn blocked_by(cfg: &Value, universe: &[String]) -> BTreeSet<String> {
    let sc = &cfg["linux"]["seccomp"];
    assert_eq!(
        sc["defaultAction"], "SCMP_ACT_ERRNO",
        "a default container's seccomp profile refuses what it does not name"
    );
    let mut allowed = BTreeSet::new();
    for r in sc["syscalls"].as_array().into_iter().flatten() {
        if r["action"] == "SCMP_ACT_ALLOW" || r["args"].as_array().is_some_and(|a| !a.is_empty()) {
            allowed.extend(
                r["names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        }
    }
    universe
        .iter()
        .filter(|n| !allowed.contains(n.as_str()))
        .cloned()
        .collect()
}

/// `sys` of the probe: syscall → errno name (or `ok`).
fn syscalls(e: &Engine, probe: &Path, names: &BTreeSet<String>) -> BTreeMap<String, String> {
    let cmd = ["busybox", "/probe", "sys"].map(String::from);
    run(
        e,
        probe,
        &[&cmd[..], &Vec::from_iter(names.iter().cloned())].concat(),
    )
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(n, r)| (n.to_string(), r.to_string()))
    .collect()
}

fn refused(o: &str) -> bool {
    o == "EPERM" || o == "ENOSYS"
}

/// How many of `names` got each answer.
fn tally(m: &BTreeMap<String, String>, names: &BTreeSet<String>) -> String {
    let mut t = BTreeMap::<&str, usize>::new();
    for n in names {
        *t.entry(m.get(n).map_or("missing", String::as_str))
            .or_default() += 1;
    }
    t.iter()
        .map(|(k, v)| format!("{k}x{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The seccomp check: the rows' outcomes, failures and notes.
fn seccomp(
    berth: (&Engine, &Value),
    docker: Option<(&Engine, &Value)>,
    probe: &Path,
    failures: &mut Vec<String>,
) -> (String, String, Option<String>) {
    let universe = all_syscall_names();
    let b_blocked = blocked_by(berth.1, &universe);
    let d_blocked = docker.map(|d| blocked_by(d.1, &universe));
    let reference = d_blocked.clone().unwrap_or_else(|| b_blocked.clone());
    for must in "mount keyctl add_key unshare bpf kexec_load open_by_handle_at".split(' ') {
        assert!(
            reference.contains(must),
            "the profile lets {must} through: {reference:?}"
        );
    }
    let probed: BTreeSet<String> = reference.union(&b_blocked).cloned().collect();
    let b_sys = syscalls(berth.0, probe, &probed);
    let d_sys = docker.map(|d| syscalls(d.0, probe, &probed));
    let mut notes = Vec::new();
    for n in &reference {
        let b = b_sys.get(n).map_or("missing", String::as_str);
        let dr = d_sys
            .as_ref()
            .map(|m| m.get(n).map_or("missing", String::as_str));
        let newer = ALLOWED_SINCE_20_10.split(' ').any(|s| s == n);
        match dr {
            Some(dr) if !refused(dr) => failures.push(format!(
                "seccomp {n}: dockerd's profile blocks it, yet {dr}"
            )),
            // glibc falls back to clone only on ENOSYS.
            Some(dr) if n == "clone3" && b != dr => {
                failures.push(format!("seccomp clone3: berth answered {b}, dockerd {dr}"))
            }
            Some(dr) if refused(b) && b != dr => {
                notes.push(format!("{n}: berth {b}, dockerd {dr} (both refuse it)"))
            }
            Some(_) if newer && !refused(b) => {
                notes.push(format!("{n}: berth {b}: allowed as by Docker >= 23.0"))
            }
            _ if !refused(b) => failures.push(format!(
                "seccomp {n}: the reference profile blocks it, berth answered {b} (dockerd: {})",
                dr.unwrap_or("SKIPPED")
            )),
            _ => {}
        }
    }
    for n in &b_blocked {
        let b = b_sys.get(n).map_or("missing", String::as_str);
        if !refused(b) {
            failures.push(format!(
                "seccomp {n}: berth's own profile blocks it, yet {b}"
            ));
        }
    }
    let stricter: Vec<_> = b_blocked.difference(&reference).collect();
    if !stricter.is_empty() {
        notes.push(format!("berth's profile also blocks {stricter:?}"));
    }
    for n in &notes {
        eprintln!("note: seccomp {n}");
    }
    (
        format!(
            "seccomp: the {} syscalls the profile blocks",
            reference.len()
        ),
        tally(&b_sys, &reference),
        d_sys.map(|m| tally(&m, &reference)),
    )
}

#[test]
fn escape_attempts_fail_on_berth_as_on_dockerd() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("berth-test-escape-")
        .tempdir_in("/tmp")
        .unwrap();
    let marker = scratch.path().join("marker");
    std::fs::write(&marker, "host secret\n").unwrap();
    let x86 = std::env::consts::ARCH == "x86_64";
    build_probe(
        scratch.path(),
        &if x86 { all_syscall_names() } else { vec![] },
    );
    let probe = scratch.path().join("probe");

    let d = Daemon::start();
    d.load_busybox();
    let dk = Dockerd::start("escape");
    if let Some(dk) = &dk {
        dk.load_busybox();
    }
    let bd = |a: &[&str]| d.docker(a);
    let berth = Engine {
        name: "berth",
        docker: &bd,
        sock: d.dir.join("sock").display().to_string(),
        dir: d.dir.clone(),
        pid: d.pid(),
    };
    let dd = |a: &[&str]| dk.as_ref().unwrap().docker(a);
    let docker = dk.as_ref().map(|dk| Engine {
        name: "dockerd",
        docker: &dd,
        sock: dk.dir.join("sock").display().to_string(),
        dir: dk.dir.clone(),
        pid: std::fs::read_to_string(dk.dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .expect("dockerd's pidfile"),
    });

    let list = attempts(&berth, &marker);
    let b_res = outcomes(&berth, &list, &probe);
    let d_res = docker
        .as_ref()
        .map(|e| outcomes(e, &attempts(e, &marker), &probe));
    let (b_cfg, b_exec) = config_and_exec_fds(&berth, &probe);
    let d_cfg = docker.as_ref().map(|e| config_and_exec_fds(e, &probe));
    // (attempt, berth, dockerd, passed)
    let mut rows: Vec<(String, String, Option<String>, bool)> = Vec::new();
    let mut failures = Vec::new();
    let mut check = |name: &str, b: &str, dr: Option<&str>, expect: &str| {
        let mut why = Vec::new();
        if !meets(b, expect) {
            why.push(format!("berth's outcome is not {expect:?}"));
        }
        if let Some(dr) = dr {
            if !meets(dr, expect) {
                why.push(format!(
                    "dockerd's (the reference's) outcome is not {expect:?}"
                ));
            }
            let words: BTreeSet<&str> = dr.split(' ').collect();
            if expect == "{dev}" && !b.split(' ').all(|w| words.contains(w)) {
                why.push("berth has more than dockerd".into());
            } else if expect != "{dev}" && !expect.starts_with('~') && b != dr {
                why.push("berth differs from dockerd".into());
            }
        }
        if !why.is_empty() {
            failures.push(format!(
                "{name}: {} (berth: {b:?}, dockerd: {dr:?})",
                why.join("; ")
            ));
        }
        rows.push((name.into(), b.into(), dr.map(String::from), why.is_empty()));
    };
    for (i, a) in list.iter().enumerate() {
        let dr = d_res.as_ref().map(|r| r[i].as_str());
        check(&a.name, &b_res[i], dr, &a.expect);
    }
    let d_exec = d_cfg.as_ref().map(|c| c.1.as_str());
    check("fds of a docker exec'd process", &b_exec, d_exec, "0 1 2");

    if x86 {
        let d_pair = docker.as_ref().zip(d_cfg.as_ref().map(|c| &c.0));
        let before = failures.len();
        let (name, b, dr) = seccomp((&berth, &b_cfg), d_pair, &probe, &mut failures);
        rows.push((name, b, dr, failures.len() == before));
    } else {
        eprintln!("SKIPPED the seccomp syscall list: the probe's table is x86_64's");
    }

    eprintln!("\n{:<46} {:<34} dockerd", "attempt", "berth");
    for (name, b, dr, ok) in &rows {
        let dr = dr.as_deref().unwrap_or("SKIPPED (no dockerd)");
        let mark = if *ok { "" } else { "  <-- FAIL" };
        eprintln!("{name:<46} {:<34} {}{mark}", clip(b), clip(dr));
    }
    assert!(
        failures.is_empty(),
        "escape attempts:\n{}",
        failures.join("\n")
    );
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(33) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

//! Seccomp as runc applies it: the `-ENOSYS` stub for syscalls newer than the
//! profile, and `SCMP_ACT_NOTIFY` with a seccomp agent on `listenerPath`.
mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

use common::{Bundle, Rt, unique_id};
use serde_json::json;

/// A static program calling `syscall(<argv[1]>)` and printing the errno.
const PROBE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    if (argc > 2) { /* mkdir probe */
        int r = mkdir(argv[2], 0755);
        printf("mkdir %d %d\n", r, r < 0 ? errno : 0);
        return 0;
    }
    long r = syscall(atol(argv[1]), 0, 0, 0);
    printf("%ld %d\n", r, r < 0 ? errno : 0);
    return 0;
}
"#;

fn build_probe(dest: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("probe.c");
    std::fs::write(&src, PROBE).unwrap();
    let out = Command::new("gcc")
        .args(["-static", "-O", "-o"])
        .arg(dest)
        .arg(&src)
        .output()
        .expect("gcc (build-essential) is needed to build the probe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every x86_64 syscall name the kernel headers know.
fn all_syscall_names() -> Vec<String> {
    let h = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
        .expect("kernel headers (linux-libc-dev)");
    h.lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    require_root!();
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("SKIPPED: the probe's syscall list is x86_64's");
        return;
    }
    let rt = Rt::new();
    let id = unique_id("enosys");
    let b = Bundle::new(&id, &["/probe", "1000"]);
    build_probe(&b.rootfs().join("probe"));
    // Everything named is allowed; the default refuses with EPERM. Syscall 1000
    // is past the last one named: ENOSYS (38), not EPERM (1).
    let names: Vec<String> = all_syscall_names()
        .into_iter()
        .filter(|n| n != "sethostname")
        .collect();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
        });
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "-1 38", "syscall 1000: {out}{err}");
    // A known syscall left out still gets the default action: sethostname (170).
    b.edit(|c| c["process"]["args"] = json!(["/probe", "170"]));
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "-1 1", "sethostname: {out}{err}");
    rt.assert_clean(&id, &b);
}

/// `struct seccomp_notif` (80 bytes) and `struct seccomp_notif_resp` (24).
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// A seccomp agent: receives the listener and the container's state, answers
/// each notification for the syscalls `nrs` with `-EXDEV`, lets others continue.
fn agent(
    listener: std::os::unix::net::UnixListener,
    nrs: Vec<i32>,
) -> std::thread::JoinHandle<(serde_json::Value, usize)> {
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = -1;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                fd = fds[0];
            }
        }
        let len = msg.bytes;
        let state: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        assert!(fd >= 0, "no listener descriptor");
        let mut answered = 0;
        loop {
            let mut req = [0u8; 80];
            // SAFETY: a buffer of the kernel's struct seccomp_notif size.
            let r = unsafe { libc::ioctl(fd, NOTIF_RECV, req.as_mut_ptr()) };
            if r < 0 {
                break; // the filter's last user is gone
            }
            let id = u64::from_ne_bytes(req[0..8].try_into().unwrap());
            let sys = i32::from_ne_bytes(req[16..20].try_into().unwrap());
            let mut resp = [0u8; 24];
            resp[0..8].copy_from_slice(&id.to_ne_bytes());
            if nrs.contains(&sys) {
                resp[16..20].copy_from_slice(&(-libc::EXDEV).to_ne_bytes());
                answered += 1;
            } else {
                // SECCOMP_USER_NOTIF_FLAG_CONTINUE
                resp[20..24].copy_from_slice(&1u32.to_ne_bytes());
            }
            // SAFETY: a buffer of the kernel's struct seccomp_notif_resp size.
            unsafe { libc::ioctl(fd, NOTIF_SEND, resp.as_mut_ptr()) };
        }
        // SAFETY: the descriptor came to us over SCM_RIGHTS.
        unsafe { libc::close(fd) };
        (state, answered)
    })
}

/// An agent on a socket of its own that answers mkdir and mkdirat.
struct MkdirAgent {
    _dir: tempfile::TempDir,
    sock: std::path::PathBuf,
    handle: std::thread::JoinHandle<(serde_json::Value, usize)>,
}

impl MkdirAgent {
    fn start() -> MkdirAgent {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-agent-")
            .tempdir()
            .unwrap();
        let sock = dir.path().join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let handle = agent(
            listener,
            vec![libc::SYS_mkdir as i32, libc::SYS_mkdirat as i32],
        );
        MkdirAgent {
            _dir: dir,
            sock,
            handle,
        }
    }

    /// Everything allowed but mkdir and mkdirat, which go to this agent.
    fn profile(&self) -> serde_json::Value {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": self.sock,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        })
    }

    /// The state the agent received and how many calls it answered.
    fn finish(self) -> (serde_json::Value, usize) {
        self.handle.join().unwrap()
    }
}

#[test]
fn notify_sends_the_listener_and_state_to_the_agent() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("notify");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "mkdir /tmp/x 2>&1; test -d /tmp/x && echo made; echo done",
        ],
    );
    let agent = MkdirAgent::start();
    b.edit(|c| {
        c["linux"]["seccomp"] = agent.profile();
        c["linux"]["seccomp"]["listenerMetadata"] = json!("berth-test-metadata");
    });
    let (code, out, err) = rt.run(&id, &b);
    let (state, answered) = agent.finish();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Invalid cross-device link") && !out.contains("made"),
        "{out}"
    );
    assert!(answered >= 1);
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "berth-test-metadata", "{state}");
    assert_eq!(state["state"]["id"], id.as_str(), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert!(state["ociVersion"].is_string(), "{state}");
    rt.assert_clean(&id, &b);
}

#[test]
fn notify_without_an_agent_is_refused() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("noagent");
    let b = Bundle::new(&id, &["true"]);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nobody-listens.sock");
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("nobody-listens.sock"), "{err}");
    rt.assert_clean(&id, &b);
    let _ = std::io::stderr().flush();
}

/// startContainer hooks run in the container after the filter is loaded (as
/// runc loads it before waiting for `start`): the agent already holds the
/// listener and answers the hook's notified syscalls too.
#[test]
fn notify_covers_start_container_hooks() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("notifyhook");
    let b = Bundle::new(&id, &["sh", "-c", "cat /tmp/hook.err"]);
    let agent = MkdirAgent::start();
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/by-hook 2> /tmp/hook.err; true"]}]});
        c["linux"]["seccomp"] = agent.profile();
    });
    let (code, out, err) = rt.run(&id, &b);
    let (_, answered) = agent.finish();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Invalid cross-device link"),
        "the hook's mkdir was not notified: {out}{err}"
    );
    assert!(!b.rootfs().join("tmp/by-hook").exists());
    assert!(answered >= 1);
    rt.assert_clean(&id, &b);
}

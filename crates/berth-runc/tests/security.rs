//! Security properties, each a regression test: no host descriptor reaches the
//! container, the working directory cannot point outside the rootfs, the runtime's
//! binary cannot be written from inside, masked paths hide, devices are denied.
mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use common::{Bundle, Rt, unique_id};
use serde_json::json;

/// Run the bundle with a host directory open (not close-on-exec) at fd 9 of the
/// runtime, as a careless caller would leave it.
fn run_with_leaked_fd(rt: &Rt, id: &str, b: &Bundle) -> (i32, String, String) {
    rt.track(id);
    let dir = std::fs::File::open("/").unwrap();
    let raw = dir.as_raw_fd();
    let mut cmd = rt.cmd(&["run", "--bundle", b.path().to_str().unwrap(), id]);
    // SAFETY: the closure only calls async-signal-safe libc functions.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it explicitly.
            if libc::dup2(raw, 9) < 0 || libc::fcntl(9, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    drop(dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_host_file_descriptor_reaches_the_container() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("fdleak");
    // The shell's own descriptors, listed by another process.
    // (Not the last command: sh would exec ls, which would list its own.)
    let b = Bundle::new(&id, &["sh", "-c", "ls /proc/$$/fd; true"]);
    let (code, out, err) = run_with_leaked_fd(&rt, &id, &b);
    assert_eq!(code, 0, "{err}");
    let fds: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        fds,
        ["0", "1", "2"],
        "descriptors open in the container: {out}"
    );
    rt.assert_clean(&id, &b);
}

#[test]
fn working_directory_through_a_leaked_descriptor_is_refused() {
    // CVE-2024-21626: cwd /proc/self/fd/<n> of a host directory.
    require_root!();
    berth_only!();
    let rt = Rt::new();
    let id = unique_id("cwdesc");
    let b = Bundle::new(
        &id,
        &["sh", "-c", "pwd; ls ..; cat ../../../etc/debian_version"],
    );
    b.edit(|c| c["process"]["cwd"] = json!("/proc/self/fd/9"));
    let (code, out, err) = run_with_leaked_fd(&rt, &id, &b);
    assert!(
        !out.contains('.')
            || !std::path::Path::new("/etc/debian_version").exists()
            || !out.contains(
                std::fs::read_to_string("/etc/debian_version")
                    .unwrap()
                    .trim()
            ),
        "the container read the host's files: {out}"
    );
    if code == 0 {
        // Then the working directory must be inside the container.
        assert!(!out.contains("/proc/self/fd"), "{out}");
    } else {
        assert!(
            err.contains("cwd") || err.contains("working directory"),
            "{err}"
        );
    }
    rt.assert_clean(&id, &b);
}

#[test]
fn entrypoint_proc_self_exe_does_not_run_the_runtime_binary() {
    // CVE-2019-5736, first half: `/proc/self/exe` as the program.
    require_root!();
    berth_only!();
    let rt = Rt::new();
    let id = unique_id("selfexe");
    let b = Bundle::new(&id, &["/proc/self/exe", "--version"]);
    let (code, out, err) = rt.run(&id, &b);
    assert!(
        !out.contains("version"),
        "the runtime binary ran in the container: {out}"
    );
    assert_ne!(code, 0, "{out}{err}");
    rt.assert_clean(&id, &b);
}

#[test]
fn runtime_binary_cannot_be_opened_for_writing_with_ptrace() {
    // CVE-2019-5736, second half: a process of the container holding
    // CAP_SYS_PTRACE opens /proc/<pid>/exe of a runtime process in the container.
    require_root!();
    // A private copy of the runtime: "busy" then only means this container.
    let bindir = tempfile::Builder::new()
        .prefix("berth-test-bin-")
        .tempdir()
        .unwrap();
    let rt = Rt::new().with_private_binary(bindir.path());
    let bin = std::fs::read(&rt.bin).ok();
    let id = unique_id("ptrace");
    let b = Bundle::new(&id, &["sleep", "100"]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_PTRACE"));
        }
    });
    assert!(rt.create(&id, &b).status.success());
    // Before start, pid 1 of the container is still the runtime's process. The
    // attacker keeps it open, waits until it has become the container's program
    // (nothing runs the runtime's image any more), then reopens it for writing.
    let script = "exec 3< /proc/1/exe || exit 1; t=$(readlink /proc/1/exe); : > /tmp/opened; \
        while [ \"$(readlink /proc/1/exe)\" = \"$t\" ]; do sleep 0.05; done; sleep 0.3; \
        if (: >> /proc/self/fd/3) 2> /tmp/result; then echo WRITABLE > /tmp/result; fi; echo done >> /tmp/result";
    let out = rt.exec_detached(
        &[
            "exec",
            "-d",
            "--cap",
            "CAP_SYS_PTRACE",
            &id,
            "sh",
            "-c",
            script,
        ],
        &b,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    // Start only once the attacker holds the runtime's image open.
    let opened = b.rootfs().join("tmp/opened");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !opened.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the attacker never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    rt.ok(&["start", &id]);
    let result = b.rootfs().join("tmp/result");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&result)
        .unwrap_or_default()
        .contains("done")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the attacking process did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&result).unwrap();
    eprintln!("attack result: {text}");
    assert!(!text.contains("WRITABLE"), "{text}");
    assert!(
        !text.contains("Text file busy"),
        "only busy, not protected: {text}"
    );
    // The attacker was reparented to us: reap it, or the container's init (which
    // waits for every process of its pid namespace) cannot finish exiting.
    std::thread::sleep(std::time::Duration::from_millis(100));
    common::reap();
    rt.ok(&["delete", "--force", &id]);
    if let Some(bin) = bin {
        assert!(
            std::fs::read(&rt.bin).unwrap() == bin,
            "the runtime binary changed"
        );
    }
    rt.assert_clean(&id, &b);
}

#[test]
fn masked_and_readonly_paths() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("masked");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null && echo sys-writable; echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; true",
        ],
    );
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0\n0\n0\n0\n", "{err}");
    rt.assert_clean(&id, &b);
}

#[test]
fn device_access_is_denied_by_default() {
    require_root!();
    // The block device holding the host's root filesystem.
    let dev = nix::sys::stat::stat("/").unwrap().st_dev;
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let rt = Rt::new();
    let id = unique_id("devdeny");
    let script = format!(
        "mknod /tmp/disk b {major} {minor} 2>&1; head -c 512 /tmp/disk | wc -c; mknod /tmp/mem c 1 1 2>&1; head -c 1 /tmp/mem | wc -c"
    );
    let b = Bundle::new(&id, &["sh", "-c", &script]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
        }
    });
    let (_, out, err) = rt.run(&id, &b);
    let out = format!("{out}{err}");
    let counts: Vec<&str> = out
        .lines()
        .filter(|l| l.trim().parse::<u64>().is_ok())
        .collect();
    assert_eq!(counts, ["0", "0"], "a device was readable:\n{out}\n{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn seccomp_filter_denies_with_errno_and_kills() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("seccomp");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "mkdir /tmp/d 2>&1; echo mkdir=$?; hostname x 2>&1; echo after",
        ],
    );
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]
        });
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Permission denied") && out.contains("mkdir=1"),
        "{out}"
    );
    assert!(
        out.contains("Operation not permitted") && out.contains("after"),
        "{out}"
    );
    rt.assert_clean(&id, &b);
}

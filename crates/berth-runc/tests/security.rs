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

/// A rootfs whose /proc or /sys is a symlink is refused: the kernel filesystem
/// would land wherever the link points (runc: "must be mounted on ordinary
/// directory").
#[test]
fn proc_or_sys_on_a_symlink_is_refused() {
    require_root!();
    let rt = Rt::new();
    for dir in ["proc", "sys"] {
        let id = unique_id("symproc");
        let b = Bundle::new(&id, &["true"]);
        let root = b.rootfs();
        std::fs::remove_dir(root.join(dir)).unwrap();
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", root.join(dir)).unwrap();
        let (code, out, err) = rt.run(&id, &b);
        assert_ne!(code, 0, "{dir} on a symlink was mounted: {out}{err}");
        assert!(
            err.contains("ordinary directory"),
            "{dir}: unclear error: {err}"
        );
        assert_eq!(
            std::fs::read_dir(root.join("elsewhere")).unwrap().count(),
            0,
            "something was mounted through the {dir} symlink"
        );
        rt.assert_clean(&id, &b);
    }
}

/// Masked and read-only paths never follow a symlink out of the rootfs: a
/// rootfs where a masked path is a link to a host file leaves the host alone
/// and masks nothing outside.
#[test]
fn masked_paths_do_not_follow_symlinks_out_of_the_rootfs() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("masklink");
    let host = tempfile::Builder::new()
        .prefix("berth-test-host-")
        .tempdir()
        .unwrap();
    std::fs::write(host.path().join("secret"), "host data\n").unwrap();
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "cat /etc/probe 2>&1; echo x > /etc/ro 2>&1; true",
        ],
    );
    let target = host.path().join("secret");
    std::os::unix::fs::symlink(&target, b.rootfs().join("etc/probe")).unwrap();
    std::os::unix::fs::symlink(&target, b.rootfs().join("etc/ro")).unwrap();
    b.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/etc/probe"]);
        c["linux"]["readonlyPaths"] = json!(["/etc/ro"]);
    });
    let (_, out, err) = rt.run(&id, &b);
    // Inside, the link resolves in the container's root: nothing there.
    assert!(!out.contains("host data"), "host file read: {out}{err}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "host data\n",
        "the host file was written through the container"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&host.path().to_string_lossy().to_string()),
        "a host path got a mount"
    );
    rt.assert_clean(&id, &b);
}

/// `/dev` can be mounted read-only: the device nodes are made first and the
/// tmpfs is write-protected afterwards, as runc does.
#[test]
fn read_only_dev_gets_its_devices() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("rodev");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "echo ok > /dev/null && head -c 4 /dev/zero | wc -c; touch /dev/new 2>&1; grep ' /dev ' /proc/self/mounts",
        ],
    );
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    let dev = out.lines().find(|l| l.contains(" /dev ")).unwrap_or("");
    assert!(dev.contains(" ro,") || dev.contains(" ro "), "{out}");
    rt.assert_clean(&id, &b);
}

/// With a non-root `process.user` the terminal belongs to that user and to the
/// tty group, for `run` and for `exec`.
#[test]
fn terminal_belongs_to_the_process_user() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("ttyown");
    let b = Bundle::new(&id, &["sleep", "1000"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let sock_dir = tempfile::Builder::new()
        .prefix("berth-test-sock-")
        .tempdir()
        .unwrap();
    let sock = sock_dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let accept = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let master = common::recv_fd(&conn);
        (master, listener)
    });
    let out = rt.create_with(&id, &b, &["--console-socket", sock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::text(&out));
    let (_master, listener) = accept.join().unwrap();
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let tty = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    let tty_in_host =
        std::fs::metadata(format!("/proc/{pid}/root{}", tty.to_string_lossy())).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(tty_in_host.uid(), 1000, "{}", tty.display());
    assert_eq!(tty_in_host.gid(), 5, "{}: not the tty group", tty.display());
    // exec with a terminal (detached, to a console socket): the same.
    let accept = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let master = common::recv_fd(&conn);
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        use std::io::Read;
        let _ = f.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let ex = rt.exec_detached(
        &[
            "exec",
            "-d",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
            "sh",
            "-c",
            "stat -c '%u %g' $(tty)",
        ],
        &b,
    );
    assert!(ex.status.success(), "{}", common::text(&ex));
    let printed = accept.join().unwrap();
    assert!(printed.contains("1000 5"), "exec's terminal: {printed:?}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// `--no-pivot` leaves no bare host /proc or /sys in the container's mount
/// namespace: a process that makes its own user namespace cannot mount a fresh,
/// unmasked proc (the kernel allows it only while a fully visible one exists).
#[test]
fn no_pivot_leaves_no_bare_proc_to_mount() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("nopivot");
    let b = Bundle::new(
        &id,
        &[
            "unshare",
            "-mrpf",
            "sh",
            "-c",
            "mount -t proc none /proc && echo mounted && echo h > /proc/sysrq-trigger",
        ],
    );
    b.edit(|c| {
        // unshare needs seccomp and AppArmor out of the way; the masks stay.
        c["linux"].as_object_mut().unwrap().remove("seccomp");
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] =
                json!(["CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETFCAP"]);
        }
    });
    rt.track(&id);
    let out = rt.exec(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let text = common::text(&out);
    assert!(!text.contains("mounted"), "a bare proc was mounted: {text}");
    assert!(
        text.to_lowercase().contains("permission denied")
            || text.contains("Operation not permitted"),
        "{text}"
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    rt.assert_clean(&id, &b);
}

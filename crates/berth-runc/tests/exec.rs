//! `exec` into a running container.
mod common;

use std::time::Duration;

use common::{Bundle, Rt, unique_id};
use serde_json::json;

fn running(rt: &Rt, tag: &str) -> (String, Bundle) {
    let id = unique_id(tag);
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    (id, b)
}

#[test]
fn exec_runs_in_the_container_with_its_exit_code() {
    require_root!();
    let rt = Rt::new();
    let (id, b) = running(&rt, "exec");
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $$ $(readlink /proc/1/exe); hostname",
    ]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.starts_with(|c: char| c.is_ascii_digit()) && s.contains("/bin/busybox"),
        "{s}"
    );
    let out = rt.exec(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = rt.exec(&["exec", &id, "nope"]);
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("executable file not found"),
        "{}",
        common::text(&out)
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn exec_flags_env_cwd_user_and_caps() {
    require_root!();
    let rt = Rt::new();
    let (id, b) = running(&rt, "execflags");
    let out = rt.ok(&[
        "exec",
        "--env",
        "A=1",
        "--cwd",
        "/tmp",
        "--user",
        "65534:65534",
        "--cap",
        "CAP_NET_RAW",
        &id,
        "sh",
        "-c",
        "echo $A; pwd; id -u; grep CapBnd /proc/self/status",
    ]);
    let s = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(&lines[..3], ["1", "/tmp", "65534"], "{s}");
    // NET_RAW (13) added to the default set.
    assert!(lines[3].ends_with("0000000020002420"), "{s}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn exec_process_json_detached_with_pid_file() {
    require_root!();
    let rt = Rt::new();
    let (id, b) = running(&rt, "execjson");
    let process = b.path().join("process.json");
    let mut p = b.config()["process"].clone();
    p["args"] = json!(["sh", "-c", "echo from-json > /tmp/marker; sleep 100"]);
    p["env"] = json!(["PATH=/bin"]);
    std::fs::write(&process, serde_json::to_vec(&p).unwrap()).unwrap();
    let pid_file = b.path().join("exec.pid");
    let out = rt.exec_detached(
        &[
            "exec",
            "-d",
            "--process",
            process.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ],
        &b,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let marker = b.rootfs().join("tmp/marker");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // The shell creates the file before it writes to it: wait for the content.
    while std::fs::read_to_string(&marker).unwrap_or_default() != "from-json\n"
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "from-json\n");
    // ps lists both processes.
    let ps = String::from_utf8(rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    let pids: Vec<i64> = serde_json::from_str(&ps).unwrap();
    assert!(pids.contains(&(pid as i64)), "{ps}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn exec_in_a_stopped_container_fails() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("execstopped");
    let b = Bundle::new(&id, &["true"]);
    assert!(rt.create(&id, &b).status.success());
    rt.ok(&["start", &id]);
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    let out = rt.exec(&["exec", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("stopped"),
        "{}",
        common::text(&out)
    );
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn exec_preserves_requested_descriptors() {
    require_root!();
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let rt = Rt::new();
    let (id, b) = running(&rt, "execfds");
    let f = std::fs::File::open(b.rootfs().join("etc/passwd")).unwrap();
    let raw = f.as_raw_fd();
    let mut cmd = rt.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        &id,
        "sh",
        "-c",
        "head -c 4 <&3",
    ]);
    // SAFETY: the closure only calls async-signal-safe libc functions.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it explicitly.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "root");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// `exec` into a paused container is refused (exit 255, runc's words);
/// after `resume` it runs. A container that does not exist: 255 too.
#[test]
fn exec_refuses_a_paused_container() {
    require_root!();
    let rt = Rt::new();
    let (id, b) = running(&rt, "execpaused");
    rt.ok(&["pause", &id]);
    let out = rt.exec(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", common::text(&out));
    assert!(
        common::text(&out)
            .contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "{}",
        common::text(&out)
    );
    rt.ok(&["resume", &id]);
    rt.ok(&["exec", &id, "true"]);
    let out = rt.exec(&["exec", "berth-test-no-such-container", "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", common::text(&out));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// The `/proc/<pid>/cgroup` lines of a process, sorted.
fn cgroup_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// An exec'd process joins every hierarchy the container's init is in (the
/// hybrid host's `unified` tree too); `--cgroup <sub>` joins a sub-cgroup
/// (everywhere, or of one v1 controller with `controller:sub`), and a missing
/// sub-cgroup is refused.
#[test]
fn exec_joins_every_hierarchy_and_sub_cgroups() {
    require_root!();
    let rt = Rt::new();
    let (id, _b) = running(&rt, "execcg");
    // Both as seen in the container (its cgroup namespace shows its own
    // cgroup as `/`).
    let init = cgroup_lines(&String::from_utf8_lossy(
        &rt.ok(&["exec", &id, "cat", "/proc/1/cgroup"]).stdout,
    ));
    let out = rt.ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(
        cgroup_lines(&String::from_utf8_lossy(&out.stdout)),
        init,
        "exec'd process is not in every cgroup of the container"
    );
    // A sub-cgroup in every hierarchy of the container.
    let dirs = common::cgroup_dirs(&id);
    for d in &dirs {
        std::fs::create_dir(d.join("sub")).unwrap();
        // A v1 cpuset cgroup starts with no CPUs or memory nodes (on v2 the
        // sub-cgroup has no cpuset files unless the controller is delegated).
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f))
                && d.join("sub").join(f).exists()
            {
                std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
            }
        }
    }
    let out = rt.ok(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
    let lines = cgroup_lines(&String::from_utf8_lossy(&out.stdout));
    for l in &lines {
        // Hierarchies the container has no directory of (none on this host) aside.
        let path = l.rsplit(':').next().unwrap();
        assert!(
            path.ends_with("/sub"),
            "{l}: not in the sub-cgroup\n{lines:?}"
        );
    }
    if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        let out = rt.ok(&[
            "exec",
            "--cgroup",
            "memory:sub",
            &id,
            "cat",
            "/proc/self/cgroup",
        ]);
        let lines = cgroup_lines(&String::from_utf8_lossy(&out.stdout));
        for l in &lines {
            let path = l.rsplit(':').next().unwrap();
            let ctrls = l.split(':').nth(1).unwrap();
            if ctrls.split(',').any(|c| c == "memory") {
                assert!(path.ends_with("/sub"), "{l}\n{lines:?}");
            } else {
                assert!(
                    !path.ends_with("/sub"),
                    "{l}: only memory should be in sub\n{lines:?}"
                );
            }
        }
    }
    let missing = rt.exec(&["exec", "--cgroup", "nosuch", &id, "true"]);
    assert_ne!(missing.status.code(), Some(0));
    for d in &dirs {
        let _ = std::fs::remove_dir(d.join("sub"));
    }
    rt.ok(&["delete", "--force", &id]);
}

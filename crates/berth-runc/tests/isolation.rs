//! What a container sees: namespaces, mounts, devices, identity, limits of the
//! process, hooks and the terminal.
mod common;

use std::time::Duration;

use common::{Bundle, Rt, unique_id};
use serde_json::json;

/// Run `script` with `sh -c` in a fresh container edited by `edit`; returns
/// (exit code, stdout, stderr) and checks that nothing is left behind.
fn sh(tag: &str, script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> (i32, String, String) {
    let rt = Rt::new();
    let id = unique_id(tag);
    let b = Bundle::new(&id, &["sh", "-c", script]);
    b.edit(edit);
    let r = rt.run(&id, &b);
    rt.assert_clean(&id, &b);
    r
}

fn ok(tag: &str, script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let (code, out, err) = sh(tag, script, edit);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    out
}

#[test]
fn every_namespace_is_new() {
    require_root!();
    let out = ok(
        "ns",
        "for n in pid mnt net uts ipc cgroup; do echo $n $(readlink /proc/self/ns/$n); done; echo pid1=$$",
        |_| {},
    );
    for line in out.lines().filter(|l| !l.starts_with("pid1=")) {
        let (n, link) = line.split_once(' ').unwrap();
        let host = std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        assert_ne!(link, host.to_string_lossy(), "namespace {n} is the host's");
    }
    assert!(out.contains("pid1=1"), "{out}");
}

#[test]
fn hostname_domainname_env_cwd_umask_and_user() {
    require_root!();
    let out = ok(
        "ident",
        "hostname; cat /proc/sys/kernel/domainname; echo $FOO; pwd; umask; id -u; id -g; id -G",
        |c| {
            c["hostname"] = json!("berth-test-host");
            c["domainname"] = json!("example.test");
            c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
            c["process"]["cwd"] = json!("/tmp");
            c["process"]["user"] =
                json!({"uid": 65534, "gid": 65534, "additionalGids": [10], "umask": 63});
        },
    );
    let mut lines: Vec<&str> = out.lines().collect();
    if !common::is_berth() && lines[1] == "(none)" {
        eprintln!(
            "note: {} does not set domainname (runc < 1.2)",
            common::runtime_bin()
        );
        lines[1] = "example.test";
    }
    assert_eq!(
        lines,
        [
            "berth-test-host",
            "example.test",
            "bar baz",
            "/tmp",
            "0077",
            "65534",
            "65534",
            "65534 10"
        ],
        "{out}"
    );
}

#[test]
fn standard_mounts_and_devices() {
    require_root!();
    let out = ok(
        "mounts",
        "cat /proc/self/mountinfo; ls -l /dev; for l in fd stdin stdout stderr; do readlink /dev/$l; done",
        |_| {},
    );
    for (dst, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        // tmpfs holding the v1 hierarchies, or cgroup2.
        ("/sys/fs/cgroup", ""),
    ] {
        assert!(
            out.lines()
                .any(|l| l.split(' ').nth(4) == Some(dst) && l.contains(&format!(" - {fstype}"))),
            "{dst} ({fstype}) not mounted:\n{out}"
        );
    }
    for dev in ["null", "zero", "full", "random", "urandom", "tty", "ptmx"] {
        assert!(
            out.contains(&format!(" {dev}")),
            "/dev/{dev} missing:\n{out}"
        );
    }
    for link in [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
    ] {
        assert!(
            out.lines().any(|l| l == link),
            "{link} link missing:\n{out}"
        );
    }
}

#[test]
fn devices_work() {
    require_root!();
    let out = ok(
        "devwork",
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 8 /dev/urandom | wc -c && (echo x > /dev/full) 2>&1; true",
        |_| {},
    );
    assert!(out.starts_with("4\n8\n"), "{out}");
    assert!(out.contains("No space left"), "{out}");
}

#[test]
fn configured_device_node_is_created_and_allowed() {
    require_root!();
    let out = ok(
        "devnode",
        "ls -ln /dev/berth-test-null; echo hi > /dev/berth-test-null && echo written",
        |c| {
            c["linux"]["devices"] = json!([{"path": "/dev/berth-test-null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}]);
            c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]);
        },
    );
    assert!(
        out.contains("1,") && out.contains("3 ") && out.contains("written"),
        "{out}"
    );
}

#[test]
fn readonly_rootfs_and_tmpfs_and_bind_mounts() {
    require_root!();
    let host = tempfile::Builder::new()
        .prefix("berth-test-bind-")
        .tempdir()
        .unwrap();
    std::fs::write(host.path().join("f"), "from-host").unwrap();
    let out = ok(
        "ro",
        "touch /x 2>/dev/null && echo rootfs-writable; echo t > /scratch/t && cat /scratch/t; cat /data/f; touch /data/g 2>/dev/null && echo bind-writable; grep ' /scratch ' /proc/self/mountinfo",
        |c| {
            c["root"]["readonly"] = json!(true);
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=1m"]}));
            mounts.push(json!({"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind", "ro"]}));
        },
    );
    assert!(!out.contains("rootfs-writable"), "{out}");
    assert!(!out.contains("bind-writable"), "{out}");
    assert!(out.contains("t\nfrom-host"), "{out}");
    let scratch = out.lines().find(|l| l.contains(" /scratch ")).unwrap();
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(scratch.contains(o), "{scratch}");
    }
    assert!(scratch.contains("size=1024k"), "{scratch}");
}

#[test]
fn mount_destination_symlink_is_resolved_inside_the_rootfs() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("symdst");
    let b = Bundle::new(&id, &["sh", "-c", "cat /inside/marker"]);
    let host = tempfile::Builder::new()
        .prefix("berth-test-src-")
        .tempdir()
        .unwrap();
    std::fs::write(host.path().join("marker"), "mounted").unwrap();
    // An absolute symlink in the rootfs points at a directory of the rootfs, not
    // at the host's /etc.
    std::fs::create_dir_all(b.rootfs().join("inside")).unwrap();
    std::os::unix::fs::symlink("/inside", b.rootfs().join("link")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/link", "type": "bind", "source": host.path(), "options": ["bind"]}));
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!((code, out.as_str()), (0, "mounted"), "{err}");
    rt.assert_clean(&id, &b);
}

#[test]
fn capabilities_and_no_new_privileges() {
    require_root!();
    let out = ok(
        "caps",
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
        |_| {},
    );
    // The default set: AUDIT_WRITE, KILL, NET_BIND_SERVICE.
    for l in [
        "CapPrm:\t0000000020000420",
        "CapEff:\t0000000020000420",
        "CapBnd:\t0000000020000420",
        "NoNewPrivs:\t1",
    ] {
        assert!(out.contains(l), "{l} missing:\n{out}");
    }
    let out = ok(
        "caps2",
        "grep -E '^(CapEff|CapAmb|NoNewPrivs)' /proc/self/status",
        |c| {
            let all = json!(["CAP_CHOWN", "CAP_NET_RAW"]);
            c["process"]["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all});
            c["process"]["noNewPrivileges"] = json!(false);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        },
    );
    // CHOWN (0) and NET_RAW (13), kept across the change of user through ambient.
    for l in [
        "CapEff:\t0000000000002001",
        "CapAmb:\t0000000000002001",
        "NoNewPrivs:\t0",
    ] {
        assert!(out.contains(l), "{l} missing:\n{out}");
    }
}

#[test]
fn capability_outside_the_bounding_set_is_a_clear_error() {
    require_root!();
    berth_only!();
    let host_bnd = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host_bnd.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let bits = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap(), 16).unwrap();
    if bits & (1 << 24) != 0 {
        eprintln!("SKIPPED: CAP_SYS_RESOURCE is available here");
        return;
    }
    let (code, _, err) = sh("nocap", "true", |c| {
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_RESOURCE"));
    });
    assert_ne!(code, 0);
    assert!(
        err.contains("CAP_SYS_RESOURCE") && err.contains("process.capabilities"),
        "{err}"
    );
}

#[test]
fn rlimits_are_applied() {
    require_root!();
    let out = ok("rlim", "ulimit -n; ulimit -Hn; ulimit -c", |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
    });
    assert_eq!(out, "512\n1024\n0\n");
}

#[test]
fn raising_an_rlimit_beyond_the_hard_limit_is_a_clear_error() {
    require_root!();
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    let (code, _, err) = sh("rlimhi", "true", |c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
    });
    if code == 0 {
        eprintln!("SKIPPED: this process may raise rlimits (CAP_SYS_RESOURCE)");
        return;
    }
    assert!(err.contains("rlimit"), "{err}");
    if common::is_berth() {
        assert!(
            err.contains("RLIMIT_NOFILE") && err.contains("CAP_SYS_RESOURCE"),
            "{err}"
        );
    }
}

#[test]
fn sysctl_and_oom_score_adj() {
    require_root!();
    let out = ok(
        "sysctl",
        "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/self/oom_score_adj",
        |c| {
            c["linux"]["sysctl"] =
                json!({"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "80"});
            c["process"]["oomScoreAdj"] = json!(500);
        },
    );
    assert_eq!(out, "1\n80\n500\n");
}

/// Give the bundle a user namespace with root mapped to host uid and gid
/// 100000; the rootfs then belongs to the mapped root, to be usable as such.
fn user_namespaced(b: &Bundle) {
    let chown = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    assert!(chown.success());
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
}

#[test]
fn user_namespace_with_mappings() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("userns");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo x > /dev/null && echo null-ok",
        ],
    );
    user_namespaced(&b);
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{out}\n{err}");
    let fields: Vec<Vec<&str>> = out
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        fields,
        [vec!["0", "100000", "65536"], vec!["0", "100000", "65536"]],
        "{out}"
    );
    assert!(out.contains("\n0\nnull-ok"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn time_namespace_offsets() {
    require_root!();
    berth_only!();
    let out = ok("timens", "cut -d. -f1 /proc/uptime", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] =
            json!({"boottime": {"secs": 864000, "nanosecs": 0}, "monotonic": {"secs": 864000}});
    });
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let inside: f64 = out.trim().parse().unwrap();
    assert!(
        inside >= host + 864000.0 - 5.0,
        "uptime inside {inside}, host {host}"
    );
}

#[test]
fn joining_the_namespaces_of_another_container() {
    require_root!();
    let rt = Rt::new();
    let a = unique_id("joina");
    let ba = Bundle::new(&a, &["sleep", "100"]);
    assert!(rt.create(&a, &ba).status.success());
    let pid = rt.state(&a)["pid"].as_i64().unwrap();
    let b = unique_id("joinb");
    let bb = Bundle::new(
        &b,
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
        ],
    );
    bb.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" || n["type"] == "ipc" {
                n["path"] = json!(format!(
                    "/proc/{pid}/ns/{}",
                    if n["type"] == "network" { "net" } else { "ipc" }
                ));
            }
        }
    });
    let (code, out, err) = rt.run(&b, &bb);
    assert_eq!(code, 0, "{err}");
    let want = format!(
        "{}\n{}\n",
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .display(),
        std::fs::read_link(format!("/proc/{pid}/ns/ipc"))
            .unwrap()
            .display()
    );
    assert_eq!(out, want);
    rt.ok(&["delete", "--force", &a]);
    rt.assert_clean(&b, &bb);
}

#[test]
fn no_pivot_root() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("nopivot");
    let b = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "ls /bin/busybox && test ! -e /proc/1/root/etc/debian_version && echo inside",
        ],
    );
    rt.track(&id);
    let out = rt.exec(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("inside"));
    rt.assert_clean(&id, &b);
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("hooks");
    let b = Bundle::new(&id, &["sh", "-c", "echo main >> /tmp/log"]);
    let log = b.path().join("hooks.log");
    let host_hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo {name} \"$s\" >> {}", log.display())]});
    // createContainer runs in the container's namespaces before pivot_root (its
    // path resolves on the host); startContainer runs inside the container.
    let inner_log = b.rootfs().join("tmp/log");
    let create_hook = json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo createContainer >> {}", inner_log.display())]});
    let start_hook =
        json!({"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /tmp/log"]});
    b.edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [host_hook("createRuntime")],
            "createContainer": [create_hook],
            "startContainer": [start_hook],
            "poststart": [host_hook("poststart")],
            "poststop": [host_hook("poststop")]
        });
    });
    let (code, _, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{err}");
    let host_log = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = host_log
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["createRuntime", "poststart", "poststop"],
        "{host_log}"
    );
    for l in host_log.lines() {
        let state: serde_json::Value = serde_json::from_str(l.split_once(' ').unwrap().1).unwrap();
        assert_eq!(state["id"], json!(id));
        assert_eq!(state["bundle"], json!(b.path().canonicalize().unwrap()));
    }
    let inner = std::fs::read_to_string(b.rootfs().join("tmp/log")).unwrap();
    assert_eq!(inner, "createContainer\nstartContainer\nmain\n");
    rt.assert_clean(&id, &b);
}

#[test]
fn failing_or_hanging_create_hook_aborts_and_cleans_up() {
    require_root!();
    for (tag, hook) in [
        ("hookfail", json!({"path": "/bin/false"})),
        (
            "hookslow",
            json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}),
        ),
    ] {
        let rt = Rt::new();
        let id = unique_id(tag);
        let b = Bundle::new(&id, &["true"]);
        b.edit(|c| c["hooks"] = json!({"createRuntime": [hook]}));
        let t = std::time::Instant::now();
        let (code, _, err) = rt.run(&id, &b);
        assert_ne!(code, 0, "{tag}: {err}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{tag}: timeout not honoured"
        );
        assert!(err.to_lowercase().contains("hook"), "{tag}: {err}");
        rt.assert_clean(&id, &b);
    }
}

#[test]
fn console_socket_receives_the_pty_master() {
    require_root!();
    use std::os::unix::net::UnixListener;
    let rt = Rt::new();
    let id = unique_id("tty");
    let b = Bundle::new(&id, &["sh", "-c", "tty; stty size; echo ready"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    });
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        common::recv_fd(&conn)
    });
    let out = rt.create_with(&id, &b, &["--console-socket", sock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::text(&out));
    let master = receiver.join().unwrap();
    rt.ok(&["start", &id]);
    let mut text = String::new();
    let mut f = std::fs::File::from(master);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("ready") && std::time::Instant::now() < deadline {
        let mut buf = [0u8; 256];
        match std::io::Read::read(&mut f, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("33 111"), "{text}");
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(10)));
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id, &b);
}

/// Each hook runs in the namespaces the runtime spec gives it, with the state
/// on stdin: createRuntime in the runtime's, createContainer in the container's
/// (its mount namespace, after the mounts, before pivot_root: host paths still
/// resolve), startContainer inside the container.
#[test]
fn hooks_run_in_their_namespaces() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("hookns");
    let b = Bundle::new(&id, &["sleep", "100"]);
    let rootfs = b.rootfs().canonicalize().unwrap();
    let record = |name: &str, out: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!(
            "read -r s; echo \"{name} $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/uts) $(readlink /proc/self/ns/net) $(grep -c ' {}/proc ' /proc/self/mounts) $s\" >> {out}",
            rootfs.display()
        )]})
    };
    let host_log = b.path().join("hooks.log");
    let h = host_log.to_str().unwrap();
    b.edit(|c| {
        c["hostname"] = json!("hookns");
        c["hooks"] = json!({
            "createRuntime": [record("createRuntime", h)],
            "createContainer": [record("createContainer", h)],
            "startContainer": [record("startContainer", "/tmp/hooks.log")],
        });
    });
    assert!(rt.create(&id, &b).status.success(), "{}", Rt::output(&b));
    rt.ok(&["start", &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let ns = |p: &str, n: &str| {
        std::fs::read_link(format!("/proc/{p}/ns/{n}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let container: Vec<String> = ["mnt", "uts", "net"]
        .iter()
        .map(|n| ns(&pid.to_string(), n))
        .collect();
    let host: Vec<String> = ["mnt", "uts", "net"]
        .iter()
        .map(|n| ns("self", n))
        .collect();
    common::wait_for_file(&b.rootfs().join("tmp/hooks.log"), Duration::from_secs(5));
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&host_log).unwrap(),
        std::fs::read_to_string(b.rootfs().join("tmp/hooks.log")).unwrap()
    );
    let mut seen = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.splitn(6, ' ').collect();
        let (name, nss) = (
            f[0],
            vec![f[1].to_string(), f[2].to_string(), f[3].to_string()],
        );
        let state: serde_json::Value =
            serde_json::from_str(f[5]).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(state["id"], json!(id), "{l}");
        match name {
            "createRuntime" => assert_eq!(nss, host, "{l}"),
            "createContainer" => {
                assert_eq!(nss, container, "{l}");
                // The container's proc is already mounted in its rootfs.
                assert_eq!(f[4], "1", "{l}");
            }
            "startContainer" => assert_eq!(nss, container, "{l}"),
            _ => panic!("{l}"),
        }
        seen.push(name.to_string());
    }
    assert_eq!(
        seen,
        ["createRuntime", "createContainer", "startContainer"],
        "{text}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

/// A user-namespaced container whose bind sources the mapped root cannot
/// reach (root-owned 0700 directories, and a file inside one) still starts: the
/// sources are opened before the user namespace is entered, as runc does.
#[test]
fn userns_bind_sources_the_mapped_root_cannot_reach() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("usernsbind");
    let b = Bundle::new(
        &id,
        &["sh", "-c", "ls -d /mnt/a /mnt/b /mnt/f && echo started"],
    );
    user_namespaced(&b);
    let src = tempfile::Builder::new()
        .prefix("berth-test-inaccessible-")
        .tempdir()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let (a, bb) = (
        src.path().join("source-inaccessible-1"),
        src.path().join("source-inaccessible-2"),
    );
    for d in [&a, &bb] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let f = a.join("file");
    std::fs::write(&f, "x").unwrap();
    std::fs::set_permissions(src.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for (s, d) in [(&a, "/mnt/a"), (&bb, "/mnt/b"), (&f, "/mnt/f")] {
            m.push(json!({"source": s, "destination": d, "type": "bind", "options": ["bind"]}));
        }
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("started"), "{out}{err}");
    rt.assert_clean(&id, &b);
}

//! Bad input: a clear error naming the field, a non-zero exit, and nothing left
//! behind (no state directory, cgroup, mount or process).
mod common;

use common::{Bundle, Rt, unique_id};
use serde_json::json;

/// `run` a bundle whose config was broken by `edit`; returns the runtime's stderr
/// after checking the failure and the cleanup.
fn fails(tag: &str, edit: impl FnOnce(&Bundle)) -> String {
    let rt = Rt::new();
    let id = unique_id(tag);
    let b = Bundle::new(&id, &["true"]);
    edit(&b);
    let (code, out, err) = rt.run(&id, &b);
    assert_ne!(code, 0, "{tag}: accepted: {out}{err}");
    rt.assert_clean(&id, &b);
    assert!(
        std::fs::read_dir(rt.root()).map(|d| d.count()).unwrap_or(0) == 0,
        "{tag}: state left under the root"
    );
    err
}

#[test]
fn malformed_config_json() {
    require_root!();
    let err = fails("badjson", |b| {
        std::fs::write(
            b.path().join("config.json"),
            "{\"ociVersion\": \"1.2.0\", \"process\": {",
        )
        .unwrap()
    });
    if common::is_berth() {
        assert!(err.contains("config.json") && err.contains("line"), "{err}");
    }
}

#[test]
fn wrongly_typed_field_is_named() {
    require_root!();
    let err = fails("badtype", |b| {
        b.edit(|c| c["process"]["args"] = json!("true"))
    });
    if common::is_berth() {
        assert!(err.contains("process.args"), "{err}");
    }
}

#[test]
fn missing_rootfs() {
    require_root!();
    let err = fails("norootfs", |b| {
        b.edit(|c| c["root"]["path"] = json!("no-such-rootfs"))
    });
    assert!(
        err.contains("no-such-rootfs") || err.contains("rootfs"),
        "{err}"
    );
}

#[test]
fn unknown_namespace_type() {
    require_root!();
    let err = fails("badns", |b| {
        b.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "bogus"}))
        })
    });
    if common::is_berth() {
        assert!(
            err.contains("linux.namespaces") && err.contains("bogus"),
            "{err}"
        );
    }
}

#[test]
fn unknown_seccomp_syscall_and_action() {
    require_root!();
    let seccomp = |syscall: &str, action: &str| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [syscall], "action": action}]});
    let err = fails("badaction", |b| {
        b.edit(|c| c["linux"]["seccomp"] = seccomp("mkdir", "SCMP_ACT_BOGUS"))
    });
    if common::is_berth() {
        assert!(
            err.contains("linux.seccomp.syscalls[0].action") && err.contains("SCMP_ACT_BOGUS"),
            "{err}"
        );
    }
    // runc 1.1 skips syscall names it does not know; berth refuses them.
    if common::is_berth() {
        let err = fails("badsyscall", |b| {
            b.edit(|c| c["linux"]["seccomp"] = seccomp("no_such_syscall", "SCMP_ACT_ERRNO"))
        });
        assert!(
            err.contains("linux.seccomp.syscalls[0].names[0]") && err.contains("no_such_syscall"),
            "{err}"
        );
    }
}

#[test]
fn mount_destination_escaping_the_rootfs() {
    require_root!();
    berth_only!(); // runc clamps such paths into the rootfs instead of refusing them.
    let outside = tempfile::Builder::new()
        .prefix("berth-test-outside-")
        .tempdir()
        .unwrap();
    let target = outside.path().join("target");
    let src = tempfile::Builder::new()
        .prefix("berth-test-src-")
        .tempdir()
        .unwrap();
    // Through "..".
    let dotdot = format!("/../../../../../../..{}", target.display());
    let err = fails("escdots", |b| {
        b.edit(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": dotdot, "type": "bind", "source": src.path(), "options": ["bind"]})))
    });
    assert!(err.contains("mounts[") && err.contains("escape"), "{err}");
    assert!(
        !target.exists(),
        "a directory was created outside the rootfs"
    );
    // Through a relative symlink in the rootfs.
    let err = fails("escsym", |b| {
        std::os::unix::fs::symlink(
            format!("../../../../../../..{}", outside.path().display()),
            b.rootfs().join("evil"),
        )
        .unwrap();
        b.edit(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/evil/target", "type": "bind", "source": src.path(), "options": ["bind"]})))
    });
    assert!(err.contains("mounts[") && err.contains("escape"), "{err}");
    assert!(
        !target.exists(),
        "a directory was created outside the rootfs"
    );
}

#[test]
fn nonexistent_executable_like_runc() {
    require_root!();
    for (arg, want) in [
        (
            "/nope",
            r#"exec: "/nope": stat /nope: no such file or directory"#,
        ),
        (
            "nope",
            r#"exec: "nope": executable file not found in $PATH"#,
        ),
        ("/bin", r#"exec: "/bin": permission denied"#),
    ] {
        let err = fails("noexe", |b| b.edit(|c| c["process"]["args"] = json!([arg])))
            .replace("\\\"", "\"");
        assert!(err.contains(want), "{arg}: {err}");
        assert_eq!(err.matches(want).count(), 1, "reported once: {err}");
    }
}

#[test]
fn duplicate_container_id() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("dup");
    let b = Bundle::new(&id, &["sleep", "100"]);
    assert!(rt.create(&id, &b).status.success());
    let out = rt.create(&id, &b);
    assert!(!out.status.success());
    // runc 1.2's words; runc 1.1 says "container with given ID already exists".
    let want = if common::is_berth() {
        format!("container with id exists: {id}")
    } else {
        "exists".into()
    };
    assert!(common::text(&out).contains(&want), "{}", common::text(&out));
    // The first container is untouched.
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id, &b);
}

#[test]
fn bad_command_line() {
    let rt = Rt::new();
    let out = rt.exec(&["no-such-command"]);
    assert!(!out.status.success());
    let out = rt.exec(&["kill", "no-such-container-berth-test", "KILL"]);
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("does not exist"),
        "{}",
        common::text(&out)
    );
    let out = rt.exec(&["create", "--bundle", "/nonexistent-berth-test", "x"]);
    assert!(!out.status.success());
}

/// `--version`/`-v` print runc's lines (`<name> version <v>`, `commit:`,
/// `spec:`), which tools parse; an unknown command fails as runc's does
/// (exit 3, "No help topic for '<name>'").
#[test]
fn version_lines_and_unknown_command() {
    for flag in ["--version", "-v"] {
        let o = std::process::Command::new(common::runtime_bin())
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let first: Vec<&str> = lines[0].split(' ').collect();
        assert!(
            first.len() == 3 && first[1] == "version" && !first[2].is_empty(),
            "{flag}: {text}"
        );
        assert!(lines.iter().any(|l| l.starts_with("commit: ")), "{text}");
        assert!(lines.iter().any(|l| l.starts_with("spec: 1.")), "{text}");
    }
    let o = std::process::Command::new(common::runtime_bin())
        .arg("berth-test-no-such-command")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("No help topic for 'berth-test-no-such-command'"),
        "{err}"
    );
}

/// A namespace listed twice is refused before anything is made, as runc 1.1
/// refuses it ("malformed spec file: duplicated ns").
#[test]
fn duplicate_namespace_entries_are_refused() {
    require_root!();
    let rt = Rt::new();
    let id = unique_id("dupns");
    let b = Bundle::new(&id, &["true"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(serde_json::json!({"type": "uts"}));
        ns.push(serde_json::json!({"type": "uts"}));
    });
    let (code, out, err) = rt.run(&id, &b);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("duplicate"), "{err}");
    rt.assert_clean(&id, &b);
}

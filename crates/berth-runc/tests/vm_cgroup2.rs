//! The runtime on pure cgroup v2, for real: boots Debian's kernel under qemu
//! (scripts/vm-cgroup2.sh) with only a cgroup2 hierarchy mounted, and runs the
//! other behaviour-test binaries of this crate inside it — limits (memory/OOM,
//! pids, CPU quota, freeze/thaw, update), lifecycle (cgroup creation and
//! removal), security (the eBPF device program's default deny), isolation,
//! exec and bad input.
//!
//! Needs root, qemu-system-x86 and cpio (scripts/install-deps.sh installs
//! them). `BERTH_SKIP_VM=1` skips it, visibly; it never skips on its own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest build of a sibling integration-test binary (`<name>-<hash>`)
/// of this package: its dep-info file names this package's test source
/// (other packages have test binaries with the same names).
fn test_binary(deps: &Path, name: &str) -> PathBuf {
    let prefix = format!("{name}-");
    let source = format!("berth-runc/tests/{name}.rs");
    std::fs::read_dir(deps)
        .unwrap()
        .flatten()
        .filter(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            f.starts_with(&prefix)
                && f[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit())
                && e.metadata().is_ok_and(|m| m.is_file())
                && std::fs::read_to_string(e.path().with_extension("d"))
                    .is_ok_and(|d| d.contains(&source))
        })
        .max_by_key(|e| e.metadata().unwrap().modified().unwrap())
        .map(|e| e.path())
        .unwrap_or_else(|| {
            panic!(
                "no {name} test binary in {}: build the tests first",
                deps.display()
            )
        })
}

#[test]
fn vm_cgroup_v2() {
    require_root!();
    if std::env::var_os("BERTH_IN_VM").is_some() {
        return; // already inside
    }
    if std::env::var("BERTH_SKIP_VM").as_deref() == Ok("1") {
        eprintln!("SKIPPED: BERTH_SKIP_VM=1");
        return;
    }
    let me = std::env::current_exe().unwrap();
    let deps = me.parent().unwrap();
    // Sequential inside the VM: two emulated CPUs, and the CPU-quota test
    // must not share them.
    let mut script = String::from("rc=0; ");
    let mut files = Vec::new();
    for (name, filter) in [
        ("limits", "limits_ --show-output"),
        ("lifecycle", ""),
        ("security", ""),
        ("isolation", ""),
        ("exec", ""),
        ("bad_input", ""),
    ] {
        let bin = test_binary(deps, name).display().to_string();
        script.push_str(&format!(
            "echo '== {name} on cgroup v2'; {bin} {filter} --test-threads=1 || rc=1; "
        ));
        files.push(bin);
    }
    script.push_str("exit $rc");
    let vm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vm-cgroup2.sh");
    let status = Command::new("bash")
        .arg(&vm)
        .args(["/bin/sh", "-c", &script])
        .env("BERTH_RUNC", env!("CARGO_BIN_EXE_berth-runc"))
        .env("BERTH_VM_FILES", files.join(" "))
        .status()
        .expect("run scripts/vm-cgroup2.sh");
    assert!(
        status.success(),
        "behaviour tests failed on cgroup v2 (see the VM console above)"
    );
}

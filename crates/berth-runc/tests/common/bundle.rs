//! Test bundles: a busybox root filesystem (from Debian's busybox-static) and a
//! config.json based on the runtime's default spec.
#![allow(dead_code)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The static busybox used for every test rootfs.
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let p = Path::new(p);
        if p.exists() {
            return p.to_path_buf();
        }
    }
    panic!("busybox is not installed: apt-get install busybox-static");
}

fn applets() -> &'static Vec<String> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = std::process::Command::new(busybox())
            .arg("--list")
            .output()
            .expect("busybox --list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|a| *a != "busybox" && !a.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// Create a busybox root filesystem at `root`.
pub fn make_rootfs(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox(), bin.join("busybox")).unwrap();
    for a in applets() {
        symlink("busybox", bin.join(a)).unwrap();
    }
    for d in [
        "proc", "sys", "dev", "tmp", "etc", "root", "var/run", "usr/bin",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
}

/// A bundle directory that removes itself.
pub struct Bundle {
    pub dir: tempfile::TempDir,
}

impl Bundle {
    /// A bundle running `args`, with the cgroup at `/<id>` so that leftovers are
    /// easy to find, and no terminal.
    pub fn new(id: &str, args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-bundle-")
            .tempdir()
            .unwrap();
        make_rootfs(&dir.path().join("rootfs"));
        let mut spec = berth_runtime::default_spec::default_spec(false);
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        spec["linux"]["cgroupsPath"] = json!(format!("/{id}"));
        spec["root"]["readonly"] = json!(false);
        let b = Bundle { dir };
        b.write_config(&spec);
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path().join("config.json")).unwrap()).unwrap()
    }

    pub fn write_config(&self, v: &Value) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(v).unwrap(),
        )
        .unwrap();
    }

    /// Edit config.json in place.
    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.config();
        f(&mut v);
        self.write_config(&v);
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }
}

/// A unique container id with the prefix the leak checks look for.
pub fn unique_id(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "berth-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

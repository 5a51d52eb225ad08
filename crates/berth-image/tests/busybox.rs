//! A real busybox image from `scripts/make-busybox-image.sh`: load, layers,
//! save, and load of the saved tar into a fresh store.

use std::path::PathBuf;
use std::process::Command;

use berth_image::Store;

fn make_image(dir: &std::path::Path, reference: &str) -> Option<PathBuf> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image.sh");
    let out = dir.join("busybox.tar");
    let st = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .arg(reference)
        .output()
        .unwrap();
    if !st.status.success() {
        eprintln!(
            "SKIPPED: cannot build the busybox image: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        return None;
    }
    Some(out)
}

#[test]
fn busybox_load_layers_save_load() {
    let work = tempfile::tempdir().unwrap();
    let Some(tar) = make_image(work.path(), "busybox:latest") else {
        return;
    };
    let store = Store::open(&work.path().join("store1")).unwrap();
    let mut lines = Vec::new();
    let loaded = store
        .load(std::fs::File::open(&tar).unwrap(), &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
    assert_eq!(lines, ["Loaded image: busybox:latest"]);
    let img = store.resolve("busybox").unwrap();
    assert_eq!(img.id, loaded[0].id);
    assert_eq!(img.repo_tags, ["busybox:latest"]);
    assert_eq!(img.config.cmd(), Some(vec!["sh".to_string()]));
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(dirs.len(), 1);
    let bb = dirs[0].join("bin/busybox");
    assert!(bb.is_file(), "{}", bb.display());
    assert_eq!(
        std::fs::read_link(dirs[0].join("bin/sh")).unwrap(),
        PathBuf::from("busybox")
    );
    let out = Command::new(&bb).arg("true").status().unwrap();
    assert!(out.success());

    let saved = work.path().join("saved.tar");
    store
        .save(&["busybox:latest"], std::fs::File::create(&saved).unwrap())
        .unwrap();
    let store2 = Store::open(&work.path().join("store2")).unwrap();
    let mut lines = Vec::new();
    let loaded2 = store2
        .load(std::fs::File::open(&saved).unwrap(), &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
    assert_eq!(lines, ["Loaded image: busybox:latest"]);
    assert_eq!(loaded2[0].id, img.id);
    let img2 = store2.resolve("busybox:latest").unwrap();
    assert!(
        store2.layer_dirs(&img2).unwrap()[0]
            .join("bin/busybox")
            .is_file()
    );
    assert_eq!(store2.history(&img2).unwrap().len(), 1);
}

//! Store behaviour through the public API: load, save, import, commit,
//! resolve/tag/remove, history, layer dirs, and failure cleanliness.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::diff::{changes, upper_to_tar};
use berth_image::{ChangeKind, Error, ImageConfigPatch, ImageUse, Reference, RemoveReport, Store};
use common::*;

fn load(store: &Store, data: &[u8]) -> (Vec<berth_image::LoadedImage>, Vec<String>) {
    let mut lines = Vec::new();
    let r = store
        .load(data, &mut |l| lines.push(l.to_string()))
        .unwrap();
    (r, lines)
}

fn two_layer_image() -> (Vec<u8>, Vec<Vec<u8>>) {
    let l0 = layer(&[
        ("bin/", b""),
        ("bin/sh", b"#!shell"),
        ("etc/", b""),
        ("etc/os", b"test"),
    ]);
    let l1 = layer(&[
        ("etc/.wh.os", b""),
        ("etc/new", b"new"),
        ("bin/.wh..wh..opq", b""),
    ]);
    (config(&[&l0, &l1], "sh"), vec![l0, l1])
}

#[test]
fn load_old_docker_archive_with_compressed_layers() {
    for comp in [Comp::None, Comp::Gzip, Comp::Zstd] {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let (cfg, layers) = two_layer_image();
        let packed: Vec<Vec<u8>> = layers.iter().map(|l| compress(l, comp)).collect();
        let (loaded, lines) = load(
            &store,
            &docker_archive_old(&cfg, &packed, &["test/img:1", "other:latest"]),
        );
        let id = sha(&cfg);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id.as_str(), id);
        assert_eq!(
            lines,
            ["Loaded image: test/img:1", "Loaded image: other:latest"]
        );
        let img = store.resolve("test/img:1").unwrap();
        assert_eq!(img.repo_tags, ["other:latest", "test/img:1"]);
        assert_eq!(img.config.cmd(), Some(vec!["sh".to_string()]));
        assert_eq!(img.size, 7 + 4 + 3);
        let dirs = store.layer_dirs(&img).unwrap();
        assert_eq!(dirs.len(), 2);
        assert_eq!(fs::read(dirs[0].join("bin/sh")).unwrap(), b"#!shell");
        let wh = fs::symlink_metadata(dirs[1].join("etc/os")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        assert_eq!(fs::read(dirs[1].join("etc/new")).unwrap(), b"new");
        // Blobs are kept as received.
        for p in &packed {
            assert!(store.blobs().exists(&sha(p)));
        }
        assert!(store.disk_usage().unwrap() > 0);
    }
}

#[test]
fn load_oci_layout_and_symlinked_layers() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let l0 = layer(&[("a", b"1")]);
    let cfg = config(&[&l0], "x");
    let gz = compress(&l0, Comp::Gzip);
    let (loaded, lines) = load(
        &store,
        &oci_archive(&cfg, &[gz], Some("localhost:5000/app:v2")),
    );
    assert_eq!(lines, ["Loaded image: localhost:5000/app:v2"]);
    assert_eq!(loaded[0].tags, ["localhost:5000/app:v2"]);
    // A bare tag in ref.name is not a name: the image loads untagged.
    let l1 = layer(&[("b", b"2")]);
    let cfg1 = config(&[&l1], "y");
    let (_, lines) = load(
        &store,
        &oci_archive(&cfg1, std::slice::from_ref(&l1), Some("latest")),
    );
    assert_eq!(lines, [format!("Loaded image ID: {}", sha(&cfg1))]);

    // Old docker save wrote repeated layers as symlinks to the first copy.
    let cfg2 = config(&[&l1, &l1], "z");
    let mut tb = TarOut::new();
    tb.file("aaa/layer.tar", &l1)
        .symlink("bbb/layer.tar", "../aaa/layer.tar");
    let cfg_name = format!("{}.json", hexof(&sha(&cfg2)));
    tb.file(&cfg_name, &cfg2);
    let m = serde_json::json!([{"Config": cfg_name, "RepoTags": null, "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]);
    tb.file("manifest.json", &serde_json::to_vec(&m).unwrap());
    let (loaded, _) = load(&store, &tb.finish());
    let img = store.resolve(loaded[0].id.as_str()).unwrap();
    assert_eq!(store.layer_dirs(&img).unwrap().len(), 2);
}

#[test]
fn malformed_archives_leave_nothing_behind() {
    let (cfg, layers) = two_layer_image();
    let good_then_bad_layer = {
        let mut bad = layers.clone();
        bad[1] = layer(&[("etc/new", b"tampered")]);
        docker_archive_old(&cfg, &bad, &["x:1"])
    };
    let missing_layer = {
        let mut t = TarOut::new();
        t.file(&format!("{}.json", hexof(&sha(&cfg))), &cfg).file(
            "manifest.json",
            format!(
                r#"[{{"Config":"{}.json","RepoTags":["x:1"],"Layers":["foo.tar","bar.tar"]}}]"#,
                hexof(&sha(&cfg))
            )
            .as_bytes(),
        );
        t.finish()
    };
    let escaping_layer = {
        let l = layer(&[("x/../../evil", b"")]);
        let c = config(&[&l], "sh");
        docker_archive_old(&c, &[l], &["x:1"])
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("tampered layer", good_then_bad_layer, "diff_id"),
        (
            "missing layer",
            missing_layer,
            "manifest.json: layer foo.tar not found in archive",
        ),
        ("garbage", vec![1u8; 2048], "invalid tar header"),
        (
            "truncated",
            docker_archive_old(&cfg, &layers, &["x:1"])[..1500].to_vec(),
            "",
        ),
        (
            "no manifest",
            TarOut::new().finish(),
            "no manifest.json or index.json",
        ),
        (
            "bad json",
            {
                let mut t = TarOut::new();
                t.file("manifest.json", b"{");
                t.finish()
            },
            "manifest.json",
        ),
        ("escape", escaping_layer, "escapes"),
    ];
    for (what, data, msg) in cases {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let e = store.load(&data[..], &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::InvalidArchive(_)), "{what}: {e:?}");
        assert!(e.to_string().contains(msg), "{what}: {e}");
        assert_eq!(files_under(t.path()), Vec::<String>::new(), "{what}");
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(store.resolve("x:1"), Err(Error::NotFound(_))));
    }
}

#[test]
fn resolve_by_name_and_id_prefix() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let (cfg, layers) = two_layer_image();
    load(
        &store,
        &docker_archive_old(&cfg, &layers, &["busybox:latest"]),
    );
    let id = sha(&cfg);
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &id,
        hexof(&id),
        &hexof(&id)[..5],
        &id[..12],
    ] {
        assert_eq!(store.resolve(name).unwrap().id.as_str(), id, "{name}");
    }
    let e = store.resolve("nope:1").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nope:1");
    assert!(matches!(store.resolve("Bad Name"), Err(Error::NotFound(_))));
    // State survives reopening.
    drop(store);
    let store = Store::open(t.path()).unwrap();
    assert_eq!(
        store.resolve("busybox").unwrap().repo_tags,
        ["busybox:latest"]
    );
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn tag_and_remove_semantics() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let (cfg, layers) = two_layer_image();
    load(&store, &docker_archive_old(&cfg, &layers, &["a:1"]));
    let img = store.resolve("a:1").unwrap();
    let id = img.id.clone();
    store.tag(&id, &Reference::parse("b/c:2").unwrap()).unwrap();
    assert_eq!(store.resolve("a:1").unwrap().repo_tags, ["a:1", "b/c:2"]);
    let none = |_: &berth_image::ImageId| None;

    // By id with two repositories: must force.
    let e = store.remove(id.as_str(), false, &none).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            id.short()
        )
    );

    // By name: untag only.
    assert_eq!(
        store.remove("b/c:2", false, &none).unwrap(),
        [RemoveReport::Untagged("b/c:2".into())]
    );

    // Last tag while a stopped container uses it: refused, forced works.
    let stopped = |_: &berth_image::ImageId| Some("0123456789abcdef".to_string());
    let e = store
        .remove("a:1", false, &stopped)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "unable to remove repository reference \"a:1\" (must force) - container 0123456789ab"
        ),
        "{e}"
    );
    let e = store
        .remove(id.as_str(), false, &stopped)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container 0123456789ab",
            id.short()
        )
    );
    let running = |_: &berth_image::ImageId| Some(ImageUse::Running("fedcba9876543210".into()));
    let e = store
        .remove_with(id.as_str(), true, &running)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(cannot be forced) - image is being used by running container fedcba987654"),
        "{e}"
    );

    // Untagging the last tag deletes the image and its files.
    let r = store.remove("a:1", false, &none).unwrap();
    assert_eq!(
        r,
        [
            RemoveReport::Untagged("a:1".into()),
            RemoveReport::Deleted(id.to_string())
        ]
    );
    assert!(store.list().unwrap().is_empty());
    assert_eq!(files_under(t.path()), ["repositories.json"]);
    assert!(matches!(
        store.remove("a:1", false, &none),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        serde_json::to_string(&berth_api::image::DeleteResponse::from(r[0].clone())).unwrap(),
        r#"{"Untagged":"a:1"}"#
    );
}

#[test]
fn shared_base_layers_are_unpacked_once_and_kept_while_used() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let base = layer(&[("base", b"b")]);
    let top1 = layer(&[("one", b"1")]);
    let top2 = layer(&[("two", b"2")]);
    let c1 = config(&[&base, &top1], "1");
    let c2 = config(&[&base, &top2], "2");
    load(
        &store,
        &docker_archive_old(&c1, &[base.clone(), top1], &["one:1"]),
    );
    load(
        &store,
        &docker_archive_old(&c2, &[base.clone(), top2], &["two:1"]),
    );
    let d1 = store.layer_dirs(&store.resolve("one:1").unwrap()).unwrap();
    let d2 = store.layer_dirs(&store.resolve("two:1").unwrap()).unwrap();
    assert_eq!(d1[0], d2[0]);
    assert_ne!(d1[1], d2[1]);
    assert_eq!(fs::read_dir(t.path().join("layers")).unwrap().count(), 3);
    store.remove("one:1", false, &|_| None).unwrap();
    assert!(d2[0].join("base").exists() && !d1[1].exists());
    assert!(store.blobs().exists(&sha(&base)));
    // Concurrent layer_dirs after the layer directories vanish: unpacked again, once.
    let img = store.resolve("two:1").unwrap();
    fs::remove_dir_all(d2[1].parent().unwrap()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(store.layer_dirs(&img).unwrap(), d2));
        }
    });
    assert_eq!(fs::read(d2[1].join("two")).unwrap(), b"2");
    assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn save_then_load_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let (cfg, layers) = two_layer_image();
    let gz: Vec<Vec<u8>> = layers.iter().map(|l| compress(l, Comp::Gzip)).collect();
    load(&store, &docker_archive_old(&cfg, &gz, &["app:1", "app:2"]));
    let mut out = Vec::new();
    store.save(&["app"], &mut out).unwrap();

    // The archive has both layouts, layers uncompressed and named by diff_id.
    let mut names = Vec::new();
    let mut manifest = None;
    let mut ar = tar::Archive::new(&out[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let n = e.path().unwrap().display().to_string();
        if n == "manifest.json" {
            manifest = Some(serde_json::from_reader::<_, serde_json::Value>(&mut e).unwrap());
        }
        names.push(n);
    }
    for want in [
        "index.json",
        "manifest.json",
        "oci-layout",
        "repositories",
        "blobs/sha256/",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for l in &layers {
        assert!(names.contains(&format!("blobs/sha256/{}", hexof(&sha(l)))));
    }
    let m = manifest.unwrap();
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["app:1", "app:2"]));
    assert_eq!(
        m[0]["Config"],
        format!("blobs/sha256/{}", hexof(&sha(&cfg)))
    );

    let t2 = tempfile::tempdir().unwrap();
    let store2 = Store::open(t2.path()).unwrap();
    let (loaded, lines) = load(&store2, &out);
    assert_eq!(lines, ["Loaded image: app:1", "Loaded image: app:2"]);
    assert_eq!(loaded[0].id.as_str(), sha(&cfg));
    let img = store2.resolve("app:2").unwrap();
    assert_eq!(
        fs::read(store2.layer_dirs(&img).unwrap()[1].join("etc/new")).unwrap(),
        b"new"
    );

    // By id: no tags; unknown names fail.
    let mut out = Vec::new();
    store.save(&[&sha(&cfg)[..19]], &mut out).unwrap();
    let t3 = tempfile::tempdir().unwrap();
    let (_, lines) = load(&Store::open(t3.path()).unwrap(), &out);
    assert_eq!(lines, [format!("Loaded image ID: {}", sha(&cfg))]);
    assert!(matches!(
        store.save(&["nope"], &mut Vec::new()),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn import_with_changes() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let rootfs = compress(
        &layer(&[("etc/", b""), ("etc/hostname", b"box")]),
        Comp::Gzip,
    );
    let changes = vec![
        "CMD [\"/bin/sh\"]".to_string(),
        "ENV A=b".to_string(),
        "WORKDIR /srv".to_string(),
    ];
    let r = Reference::parse("imported:v1").unwrap();
    let id = store
        .import(&rootfs[..], Some(&r), &changes, "from test")
        .unwrap();
    let img = store.resolve("imported:v1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.config.cmd(), Some(vec!["/bin/sh".to_string()]));
    assert_eq!(img.config.env(), ["A=b"]);
    assert_eq!(img.config.working_dir().as_deref(), Some("/srv"));
    assert_eq!(img.config.os(), Some("linux"));
    assert_eq!(img.config.diff_ids().len(), 1);
    assert_eq!(
        fs::read(store.layer_dirs(&img).unwrap()[0].join("etc/hostname")).unwrap(),
        b"box"
    );
    let h = store.history(&img).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].id.as_str(), h[0].comment.as_str(), h[0].size),
        (id.as_str(), "from test", 3)
    );
    assert_eq!(h[0].tags.as_deref().unwrap(), ["imported:v1"]);
    let e = store
        .import(&rootfs[..], None, &["RUN x".to_string()], "")
        .unwrap_err();
    assert_eq!(e.to_string(), "RUN is not a valid change command");
    assert!(matches!(
        store.import(&[9u8; 1024][..], None, &[], ""),
        Err(Error::InvalidArchive(_))
    ));
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn commit_diff_and_history() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let (cfg, layers) = two_layer_image();
    load(&store, &docker_archive_old(&cfg, &layers, &["base:1"]));
    let base = store.resolve("base:1").unwrap();
    let lowers = store.layer_dirs(&base).unwrap();

    // A container's upper dir: a new file, a deletion, an opaque dir.
    let upper = tempfile::tempdir().unwrap();
    let u = upper.path();
    fs::create_dir(u.join("etc")).unwrap();
    fs::write(u.join("etc/added"), b"hello").unwrap();
    fs::hard_link(u.join("etc/added"), u.join("etc/added-link")).unwrap();
    nix::sys::stat::mknod(
        &u.join("etc/new"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    fs::create_dir(u.join("bin")).unwrap();
    let set = std::ffi::CString::new(u.join("bin").into_os_string().into_encoded_bytes()).unwrap();
    assert_eq!(
        // SAFETY: valid C strings and value buffer.
        unsafe {
            libc::lsetxattr(
                set.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        },
        0
    );

    let mut ch = changes(u, &lowers).unwrap();
    ch.sort_by(|a, b| a.path.cmp(&b.path));
    let got: Vec<(&str, ChangeKind)> = ch.iter().map(|c| (c.path.as_str(), c.kind)).collect();
    assert_eq!(
        got,
        [
            ("/bin", ChangeKind::Modified),
            ("/etc", ChangeKind::Modified),
            ("/etc/added", ChangeKind::Added),
            ("/etc/added-link", ChangeKind::Added),
            ("/etc/new", ChangeKind::Deleted),
        ]
    );
    assert_eq!(
        serde_json::to_string(&berth_api::container::FilesystemChange::from(ch[2].clone()))
            .unwrap(),
        r#"{"Path":"/etc/added","Kind":1}"#
    );

    let mut diff = Vec::new();
    upper_to_tar(u, None, &mut diff).unwrap();
    let mut entries = Vec::new();
    for e in tar::Archive::new(&diff[..]).entries().unwrap() {
        let e = e.unwrap();
        entries.push((
            e.path().unwrap().display().to_string(),
            e.header().entry_type(),
        ));
    }
    assert!(
        entries.contains(&("bin/.wh..wh..opq".into(), tar::EntryType::Regular)),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("etc/.wh.new".into(), tar::EntryType::Regular)),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("etc/added-link".into(), tar::EntryType::Link)),
        "{entries:?}"
    );

    let patch = ImageConfigPatch {
        config: None,
        changes: vec!["LABEL k=v".into()],
        created_by: Some("sh -c touch".into()),
        container: Some("c0ffee".into()),
    };
    let r = Reference::parse("committed:1").unwrap();
    let id = store
        .commit(Some(&base.id), &diff[..], patch, "me", "msg", Some(&r))
        .unwrap();
    let img = store.resolve("committed:1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.parent.as_ref(), Some(&base.id));
    assert_eq!(img.config.labels().get("k").map(String::as_str), Some("v"));
    assert_eq!(img.config.cmd(), Some(vec!["sh".to_string()]));
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(dirs.len(), 3);
    assert_eq!(&dirs[..2], &lowers[..]);
    // Round trip: the new layer is the upper dir again.
    assert!(
        fs::symlink_metadata(dirs[2].join("etc/new"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(fs::read(dirs[2].join("etc/added")).unwrap(), b"hello");
    assert_eq!(fs::metadata(dirs[2].join("etc/added")).unwrap().nlink(), 2);

    let h = store.history(&img).unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(
        (
            h[0].id.as_str(),
            h[0].created_by.as_str(),
            h[0].comment.as_str()
        ),
        (id.as_str(), "sh -c touch", "msg")
    );
    assert_eq!(h[0].tags.as_deref().unwrap(), ["committed:1"]);
    assert_eq!(h[1].id, base.id.to_string());
    assert_eq!(h[2].id, "<missing>");
    assert_eq!(h[2].created_by, "step 0");

    // The base now has a child: cannot be deleted even forced.
    let e = store
        .remove(base.id.as_str(), true, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("image has dependent child images"), "{e}");
}

//! The store side of a registry pull: layers staged from streams, verified,
//! kept without their compressed blobs (a tar-split rebuilds the exact tar),
//! committed with the manifest; failures leave nothing behind.

mod common;

use std::io::Read;

use berth_image::layers::chain_ids;
use berth_image::{LayerSource, Reference, Store};
use common::*;

fn source<'a>(
    digest: &'a str,
    diff: &'a str,
    chain: &'a str,
    parent: Option<&'a str>,
    size: u64,
) -> LayerSource<'a> {
    LayerSource {
        digest,
        size,
        media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        diff_id: diff,
        chain_id: chain,
        parent,
    }
}

/// A layer with what tar-split must carry: GNU long names, PAX records,
/// hardlinks, symlinks, whiteouts, an empty file, padding.
fn tricky_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("d/{}/f", "x".repeat(150));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "d/", &b""[..]).unwrap();
    b.append_data(&mut h, format!("d/{}/", "x".repeat(150)), &b""[..])
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o600);
    h.set_size(1000);
    b.append_data(&mut h, &long, &[7u8; 1000][..]).unwrap();
    b.append_pax_extensions([("SCHILY.xattr.user.k", &b"v"[..])])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(5);
    b.append_data(&mut h, "d/p", &b"hello"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    b.append_data(&mut h, "empty", &b""[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "d/hard", "d/p").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "d/sym", "p").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    b.append_data(&mut h, "d/.wh.gone", &b""[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn pulled_layers_keep_no_blob_and_give_their_exact_tars_back() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let l0 = tricky_layer();
    let l1 = layer(&[("etc/", b""), ("etc/os", b"test")]);
    let cfg = config(&[&l0, &l1], "sh");
    let diffs = vec![sha(&l0), sha(&l1)];
    let chains = chain_ids(&diffs);
    let blobs = [compress(&l0, Comp::Gzip), compress(&l1, Comp::Zstd)];
    let digests: Vec<String> = blobs.iter().map(|b| sha(b)).collect();
    let mut pulled = Vec::new();
    for i in 0..2usize {
        let parent = i.checked_sub(1).map(|p| chains[p].as_str());
        let src = source(
            &digests[i],
            &diffs[i],
            &chains[i],
            parent,
            blobs[i].len() as u64,
        );
        assert!(store.present_layer(&src).is_none());
        // Read in small pieces, as a network stream arrives.
        let r = std::io::BufReader::with_capacity(7, &blobs[i][..]);
        let l = store.pull_layer(r, &src, false).unwrap();
        assert!(!l.needs_blob());
        pulled.push(l);
    }
    // Nothing visible before the commits.
    assert!(
        store
            .present_layer(&source(&digests[0], &diffs[0], &chains[0], None, 0))
            .is_none()
    );
    let pulled: Vec<_> = pulled
        .into_iter()
        .map(|l| store.commit_layer(l).unwrap())
        .collect();
    assert!(store.resolve("example.com/app:v1").is_err());
    let manifest = br#"{"schemaVersion":2}"#;
    let r = Reference::parse("example.com/app:v1").unwrap();
    let md = sha(manifest);
    let rd = r.with_digest(&md).unwrap();
    let (id, moved) = store
        .commit_pull(&cfg, Some(manifest), pulled, &[r.clone(), rd])
        .unwrap();
    assert!(moved.is_empty());
    let img = store.resolve("example.com/app:v1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_digests, vec![format!("example.com/app@{md}")]);
    assert_eq!(img.layers[0].digest, digests[0]);
    // No compressed copy, yet the tars come back byte for byte.
    assert!(!store.blobs().exists(&digests[0]));
    for (i, want) in [&l0, &l1].iter().enumerate() {
        let mut got = Vec::new();
        store
            .layer_tar(&img, i)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == **want, "layer {i} rebuilt differently");
    }
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(std::fs::read(dirs[1].join("etc/os")).unwrap(), b"test");
    // Pulling again: everything is present.
    let src = source(&digests[0], &diffs[0], &chains[0], None, 0);
    assert!(store.present_layer(&src).is_some());
    assert!(store.resolve(&format!("example.com/app@{md}")).is_ok());
    // Pushing: the same tar compresses to the same bytes every time.
    for kind in [
        berth_image::PushCompression::Gzip,
        berth_image::PushCompression::Zstd,
    ] {
        let mut a = Vec::new();
        let mut seen = 0u64;
        let ca = store
            .compress_layer(&img, 0, kind, &mut a, &mut |n| seen += n)
            .unwrap();
        assert_eq!(seen, l0.len() as u64);
        let mut b = Vec::new();
        let cb = store
            .compress_layer(&img, 0, kind, &mut b, &mut |_| {})
            .unwrap();
        assert_eq!((ca.clone(), &a), (cb, &b));
        assert_eq!(ca.digest, sha(&a));
        assert_eq!(store.compressed(&diffs[0], kind.name()), Some(ca));
        let mut back = Vec::new();
        berth_image::compression::decompress(&a[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == l0);
    }
    assert!(store.push_blob(&img, 0).is_none());
    // `docker save` of a pulled image loads back into another store.
    let mut saved = Vec::new();
    store.save(&["example.com/app:v1"], &mut saved).unwrap();
    let t2 = tempfile::tempdir().unwrap();
    let other = Store::open(t2.path()).unwrap();
    other.load(&saved[..], &mut |_| {}).unwrap();
    assert_eq!(other.resolve("example.com/app:v1").unwrap().id, id);
}

#[test]
fn a_layer_writing_a_path_twice_keeps_its_blob() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let l0 = layer(&[("f", b"first"), ("f", b"second!")]);
    let blob = compress(&l0, Comp::Gzip);
    let (d, diff) = (sha(&blob), sha(&l0));
    let src = source(&d, &diff, &diff, None, 0);
    let mut l = store.pull_layer(&blob[..], &src, false).unwrap();
    assert!(l.needs_blob());
    store.attach_blob(&mut l, &blob[..]).unwrap();
    assert!(!l.needs_blob());
    let cfg = config(&[&l0], "sh");
    let r = Reference::parse("example.com/dup:v1").unwrap();
    let rec = store.commit_layer(l).unwrap();
    store.commit_pull(&cfg, None, vec![rec], &[r]).unwrap();
    let img = store.resolve("example.com/dup:v1").unwrap();
    let mut got = Vec::new();
    store
        .layer_tar(&img, 0)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == l0);
}

#[test]
fn a_corrupt_or_wrong_blob_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let l0 = layer(&[("f", b"data")]);
    let blob = compress(&l0, Comp::Gzip);
    let d = sha(&blob);
    let diff = sha(&l0);
    let other = sha(b"other");
    for keep in [false, true] {
        // Wrong digest (the registry served other bytes).
        let src = source(&other, &diff, &diff, None, 0);
        let e = store.pull_layer(&blob[..], &src, keep).unwrap_err();
        assert!(
            e.to_string()
                .contains("filesystem layer verification failed for digest"),
            "{e}"
        );
        // Wrong diff_id.
        let src = source(&d, &other, &other, None, 0);
        assert!(store.pull_layer(&blob[..], &src, keep).is_err());
        // Truncated stream.
        let src = source(&d, &diff, &diff, None, 0);
        assert!(
            store
                .pull_layer(&blob[..blob.len() / 2], &src, keep)
                .is_err()
        );
        // Wrong size.
        let src = source(&d, &diff, &diff, None, 3);
        assert!(store.pull_layer(&blob[..], &src, keep).is_err());
        // Garbage.
        let junk = sha(b"junk");
        let src = source(&junk, &diff, &diff, None, 0);
        assert!(store.pull_layer(&b"junk"[..], &src, keep).is_err());
    }
    let left: Vec<String> = files_under(&t.path().join("tmp"))
        .into_iter()
        .chain(files_under(&t.path().join("blobs")))
        .chain(files_under(&t.path().join("layers")))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn layers_left_by_a_failed_pull_are_collected_later() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let l0 = layer(&[("f", b"data")]);
    let blob = compress(&l0, Comp::Gzip);
    let (d, diff) = (sha(&blob), sha(&l0));
    let src = source(&d, &diff, &diff, None, 0);
    let l = store.pull_layer(&blob[..], &src, false).unwrap();
    store.commit_layer(l).unwrap();
    assert!(store.present_layer(&src).is_some());
    // Young: kept for the next pull.
    let hour = std::time::Duration::from_secs(3600);
    store.remove_unused_layers(&[], hour).unwrap();
    assert!(store.present_layer(&src).is_some());
    // In use by a container's root filesystem: kept.
    let diff_dir = t.path().join("layers").join(hexof(&diff)).join("diff");
    assert!(diff_dir.is_dir());
    store
        .remove_unused_layers(&[diff_dir], std::time::Duration::ZERO)
        .unwrap();
    assert!(store.present_layer(&src).is_some());
    store
        .remove_unused_layers(&[], std::time::Duration::ZERO)
        .unwrap();
    assert!(store.present_layer(&src).is_none());
}

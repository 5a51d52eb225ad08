//! `docker load`: a docker-archive or OCI-layout tar (any compression)
//! into a fresh berth-image store in a scratch directory, through
//! `Store::load`. Nothing may be created outside the store's directory,
//! the store must open again afterwards, and what was loaded must save and
//! load back as the same images (`docker save | docker load`).
#![no_main]

#[path = "common/scratch.rs"]
mod scratch;

use berth_image::Store;
use libfuzzer_sys::fuzz_target;

/// Archives are compressed: a small input can already unpack to a lot.
const MAX_INPUT: usize = 256 << 10;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let own = scratch::dir();
    let root = own.path().join("image");
    let store = Store::open(&root).expect("open a fresh store");
    let loaded = store.load(data, &mut |_| {});
    scratch::assert_fenced(&own);
    assert_eq!(
        scratch::entries(own.path()),
        std::collections::BTreeSet::from(["image".to_string()]),
        "the archive wrote beside the store"
    );

    if let Ok(images) = loaded {
        let mut names = Vec::new();
        for img in &images {
            store
                .resolve(img.id.as_str())
                .expect("a loaded image resolves by id");
            for tag in &img.tags {
                store.resolve(tag).expect("a loaded tag resolves");
            }
            names.push(img.id.as_str().to_string());
        }
        drop(store);
        let store = Store::open(&root).expect("a store a load left opens again");
        if !names.is_empty() {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut archive = Vec::new();
            store
                .save(&names, &mut archive)
                .expect("loaded images save");
            let other = Store::open(&own.path().join("again")).unwrap();
            let back = other
                .load(archive.as_slice(), &mut |_| {})
                .expect("a saved archive loads");
            let mut ids: Vec<&str> = back.iter().map(|i| i.id.as_str()).collect();
            let mut want = names.clone();
            ids.sort();
            ids.dedup();
            want.sort();
            want.dedup();
            assert_eq!(ids, want, "save | load changed the images");
        }
    }
    scratch::remove(own);
});

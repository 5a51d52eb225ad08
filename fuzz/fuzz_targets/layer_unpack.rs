//! A layer tar (as pulled, loaded or built) unpacked into overlay form by
//! berth-image's `unpack_layer_with_split`, the path every image layer
//! takes. No entry may land outside the layer directory (`..`, absolute
//! names, symlinks on the way), and when the recorded tar-split says it
//! can rebuild the tar, the rebuilt bytes must be the input's: `docker
//! save` and `docker push` send exactly those, under the same diff_id.
#![no_main]

#[path = "common/scratch.rs"]
mod scratch;

use std::collections::BTreeSet;
use std::io::Read as _;

use berth_image::split::Reassembled;
use berth_image::unpack::unpack_layer_with_split;
use libfuzzer_sys::fuzz_target;

/// Larger inputs only cost time: every header is within the first MiB.
const MAX_INPUT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let own = scratch::dir();
    let dest = own.path().join("diff");
    // A neighbour the layer must never reach (`../outside/x`).
    let outside = own.path().join("outside");
    std::fs::create_dir(&dest).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let split = own.path().join("split.zst");

    let unpacked = unpack_layer_with_split(data, &dest, &split);
    scratch::assert_fenced(&own);
    assert!(
        scratch::entries(&outside).is_empty(),
        "the layer wrote beside its directory"
    );
    assert_eq!(
        scratch::entries(own.path()),
        BTreeSet::from(["diff", "outside", "split.zst"].map(String::from)),
        "the layer wrote beside its directory"
    );

    if let Ok(stats) = unpacked {
        // The whole stream is read and hashed, trailing bytes included.
        assert_eq!(stats.tar_size, data.len() as u64);
        assert_eq!(stats.diff_id, berth_image::digest::sha256_digest(data));
        if stats.split {
            let mut rebuilt = Vec::new();
            Reassembled::open(&split, &dest)
                .expect("open the tar-split")
                .read_to_end(&mut rebuilt)
                .expect("a usable tar-split rebuilds its tar");
            assert!(rebuilt == data, "the tar rebuilt from the split differs");
        }
        // The way back (commit, diff): overlay form to a tar.
        let _ = berth_image::diff::upper_to_tar(&dest, None, std::io::sink());
    }
    scratch::remove(own);
});

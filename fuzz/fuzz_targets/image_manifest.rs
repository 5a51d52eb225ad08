//! What a registry or an archive says about an image: manifests and
//! indexes (berth-registry's `manifest::parse`, then platform selection and
//! the layer checks a pull makes), image config blobs (berth-image's
//! `ImageConfig::from_slice`, whose stored form must read back the same),
//! and `docker save`'s `manifest.json` entries.
//!
//! The first byte picks the Content-Type the registry claims, the rest is
//! the body.
#![no_main]

#[path = "common/json.rs"]
mod json;

use berth_image::ImageConfig;
use berth_registry::manifest::{self, Manifest};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[&str] = &[
    "",
    manifest::DOCKER_MANIFEST,
    manifest::DOCKER_LIST,
    manifest::OCI_MANIFEST,
    manifest::OCI_INDEX,
    "application/json; charset=utf-8",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    match manifest::parse(body, content_type, "registry.example/fuzz:latest") {
        Ok(Manifest::Index(idx)) => {
            let wants = [
                manifest::host_platform(),
                ("linux".into(), "arm".into(), "v7".into()),
                ("linux".into(), "arm64".into(), "v8".into()),
                ("windows".into(), "amd64".into(), String::new()),
            ];
            for want in &wants {
                if manifest::select(&idx, want).is_none() {
                    let _ = manifest::no_match(want);
                }
            }
        }
        Ok(Manifest::Image(m)) => {
            let _ = manifest::media_str(m.config().media_type());
            for layer in m.layers() {
                let _ = manifest::layer_compression(layer);
            }
        }
        Err(_) => {}
    }

    if let Ok(config) = ImageConfig::from_slice(body) {
        let stored = config.to_vec();
        let again = ImageConfig::from_slice(&stored).expect("a stored image config reads back");
        assert!(
            json::same(
                &serde_json::to_value(&again.0).unwrap(),
                &serde_json::to_value(&config.0).unwrap()
            ),
            "the stored form of an image config changed it"
        );
        let _ = config.runtime();
        let _ = config.created_unix();
        let _ = config.history();
        let _ = config.healthcheck();
        let _ = berth_image::layers::chain_ids(&config.diff_ids());
    }

    let _ = serde_json::from_slice::<Vec<berth_api::archive::ManifestEntry>>(body);
});

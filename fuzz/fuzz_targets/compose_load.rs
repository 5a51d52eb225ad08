//! A compose file through berth-compose's whole loader (`load_in`: YAML
//! with anchors and merge keys, interpolation against an environment,
//! schema checks, short syntaxes to long, `extends`, profiles, the typed
//! model), then what `berth compose` derives from a project: `config`
//! output, the dependency order, config hashes, and the Engine API
//! requests — which berthd must be able to decode, as it will be sent them.
//!
//! The file is written as `app/compose.yaml` in a scratch directory with
//! nothing else in it, so `extends`, `include` and `env_file` only find
//! files the input names outside it; inputs naming kernel files (which can
//! block or never end) are skipped.
#![no_main]

#[path = "common/scratch.rs"]
mod scratch;

use std::collections::BTreeMap;

use berth_compose::{LoadOptions, api, config, plan};
use libfuzzer_sys::fuzz_target;

fn names_special_files(text: &str) -> bool {
    ["/dev", "/proc", "/sys", "/run", "/var/run", ".."]
        .iter()
        .any(|p| text.contains(p))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if names_special_files(text) {
        return;
    }
    let own = scratch::dir();
    let dir = own.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("compose.yaml");
    std::fs::write(&file, text).unwrap();
    let opts = LoadOptions {
        files: vec![file],
        profiles: vec!["debug".into()],
        environ: BTreeMap::from([
            ("TAG".into(), "1.25".into()),
            ("PORT".into(), "8080".into()),
            ("EMPTY".into(), String::new()),
            ("HOME".into(), dir.display().to_string()),
        ]),
        ..Default::default()
    };
    let loaded = berth_compose::load_in(&opts, &dir);
    if let Ok(p) = loaded {
        let _ = config::to_yaml(&p);
        let _ = config::to_json(&p);
        let _ = plan::order(&p, &[]);
        let resolve = |s: &str| format!("{}-{s}-1", p.name);
        for s in p.services.values() {
            let _ = plan::dependents(&p, &s.name);
            let hash = plan::config_hash(s);
            let name = api::container_name(&p, s, 1);
            let _ = api::image_of(&p, s);
            let _ = api::service_networks(s);
            let req = api::create_request(&p, s, 1, &name, false, &hash, &resolve);
            let body = serde_json::to_vec(&req).expect("a create request serialises");
            if let Err(e) = berth_api::json::decode::<berth_api::container::CreateRequest>(
                &body,
                "CreateRequest",
            ) {
                panic!("berthd refuses the create request compose sends: {e}");
            }
        }
        for (k, n) in &p.networks {
            let body = serde_json::to_vec(&api::network_request(&p, k, n)).unwrap();
            berth_api::json::decode::<berth_api::network::CreateRequest>(&body, "CreateRequest")
                .expect("berthd decodes the network request compose sends");
        }
        for (k, v) in &p.volumes {
            let body = serde_json::to_vec(&api::volume_request(&p, k, v)).unwrap();
            berth_api::json::decode::<berth_api::volume::CreateRequest>(&body, "CreateRequest")
                .expect("berthd decodes the volume request compose sends");
        }
    }
    scratch::remove(own);
});

//! `POST /containers/create` bodies: decoded as berthd decodes them
//! (berth-api's `json::decode` into `container::CreateRequest`), then
//! through the engine's request-only checks and derivations —
//! `create::validate`, log rotation, mounts, defaults, published ports,
//! endpoint settings. A decoded request must also survive the trip through
//! its own JSON (the engine stores and reloads it).
#![no_main]

#[path = "common/json.rs"]
mod json;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use berth_api::container::{Config, CreateRequest};
use berth_engine::container::create;
use berth_engine::network::{endpoint_request, ports};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(req) = json::decode_body::<CreateRequest>(data, "CreateRequest") else {
        return;
    };

    let cfg = &req.config;
    let mut hc = req.host_config.clone().unwrap_or_default();
    let _ = create::validate(cfg, &hc);
    let _ = create::log_rotation(&hc);
    let _ = create::mounts_of(&hc, Path::new("/var/lib/berth"));
    let mut merged = cfg.clone();
    let image = Config {
        env: Some(vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()]),
        cmd: Some(berth_api::container::StrSlice(vec!["sh".into()])),
        ..Default::default()
    };
    let _ = create::merge_image(&mut merged, &image);
    let defaults = create::Defaults {
        log_driver: "json-file".into(),
        log_opts: BTreeMap::new(),
        runtime: "runc".into(),
        cgroup_v2: true,
    };
    create::fill_defaults(&mut hc, &defaults);
    let wanted = ports::wanted(cfg, &hc);
    let _ = ports::plan(
        "fuzz",
        &wanted,
        Ipv4Addr::new(172, 17, 0, 2),
        &[],
        &|_, _, _| true,
    );
    if let Some(eps) = req
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
    {
        for ep in eps.values() {
            let _ = endpoint_request(ep);
        }
    }
});

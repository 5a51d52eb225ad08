//! Compose's variable interpolation and `.env` files (berth-compose's
//! `interpolate::substitute` and `dotenv::parse`), and the duration and
//! size strings compose files carry (`units`). The input is tried as a
//! template, as an env file, and as a duration and a size.
#![no_main]

use std::collections::BTreeMap;

use berth_compose::load::{dotenv, interpolate, units};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = BTreeMap::from([
        ("TAG", "1.25"),
        ("EMPTY", ""),
        ("NESTED", "${TAG}"),
        ("DOLLAR", "$$"),
    ]);
    let look = |k: &str| env.get(k).map(|v| v.to_string());
    let mut unset = Vec::new();
    if let Ok(out) = interpolate::substitute(text, &look, &mut unset) {
        // Without any `$`, a template is its own value.
        if !text.contains('$') {
            assert_eq!(out, text);
            assert!(unset.is_empty());
        }
    }
    let _ = dotenv::parse(text, &look);
    let _ = units::parse_duration(text);
    let _ = units::parse_bytes(text);
});

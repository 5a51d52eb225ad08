//! `POST /build`'s query string: berth-api's decoder (`Query::parse`,
//! percent-decoding, Docker's booleans and numbers) into
//! `query::build::Build`, then the engine's `BuildOptions::from_query`
//! (tags as references, `buildargs`/`labels`/`cachefrom` as JSON). What
//! the decoder reads, the client's encoder must write back to the same
//! parameters. `GET /containers/json`'s `filters` (JSON in a query) too.
#![no_main]

use berth_api::query::{self, Query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Query::parse(Some(q));
    let _ = parsed.bool("q");
    if let Ok(b) = query::build::Build::from_query(&parsed) {
        let encoded = b.to_query().encode();
        let back = query::build::Build::parse(encoded.strip_prefix('?'))
            .expect("an encoded build query parses");
        assert_eq!(
            back, b,
            "a build query changed through the client's encoding"
        );
        let _ = berth_engine::build::BuildOptions::from_query(&b, Default::default());
    }
    if let Ok(l) = query::container::List::parse(Some(q)) {
        let encoded = l.to_query().encode();
        let back = query::container::List::parse(encoded.strip_prefix('?'))
            .expect("an encoded list query parses");
        assert_eq!(
            back, l,
            "a list query changed through the client's encoding"
        );
    }
    let _ = berth_api::filters::Filters::parse(q);
});

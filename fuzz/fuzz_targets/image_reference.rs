//! Image references as `docker pull`, `docker tag`, a build's `-t` or a
//! loaded archive's `RepoTags` give them, through berth-image's Docker
//! normalisation. What it accepts must read back as itself from the
//! spellings berth stores and shows (`full`, `familiar`), since tags are
//! kept in `repositories.json` by their full form and re-parsed on open.
#![no_main]

use berth_image::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Reference::parse(s);
    let Ok(r) = Reference::parse_named(s) else {
        return;
    };
    let full = r.full();
    assert_eq!(
        Reference::parse_named(&full).ok().as_ref(),
        Some(&r),
        "{s:?} normalised to {full:?}, which does not read back"
    );
    // Two familiar spellings do not read back, for Docker either: 64 hex
    // digits (an image id), and a Docker Hub path whose first component
    // looks like a registry (`docker.io/a.b/c` shows as `a.b/c`).
    let familiar = r.familiar();
    let first = familiar.split('/').next().unwrap_or_default();
    let looks_like_registry = familiar.contains('/')
        && (first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first);
    if !berth_image::digest::is_sha256_hex(&familiar) && !looks_like_registry {
        assert_eq!(
            Reference::parse_named(&familiar).ok().as_ref(),
            Some(&r),
            "{s:?} shows as {familiar:?}, which does not read back"
        );
    }
    let _ = r.repository_familiar();
    if let Some(t) = r.tag() {
        let retagged = r.with_tag(t).expect("a parsed tag is a valid tag");
        assert_eq!(retagged.tag(), Some(t));
    }
    if let Some(d) = r.digest() {
        let pinned = r.with_digest(d).expect("a parsed digest is a valid digest");
        assert_eq!(pinned.digest(), Some(d));
    }
});

//! The `.dockerignore` matcher (berth-build's `ignore`, used by the client
//! to build a context and by the engine to hide files): patterns read with
//! `read_patterns` from the input up to its first NUL byte, then the
//! paths after it, one a line, matched with `Matcher::excluded`.
//!
//! `can_skip_dir` lets a context walker skip a whole directory; when it
//! says so, no path below may be re-included, or the context would lack
//! files the user asked for.
#![no_main]

use berth_build::ignore::{Matcher, go_match, read_patterns};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (patterns_text, paths) = text.split_once('\0').unwrap_or((&text, ""));
    let patterns = read_patterns(patterns_text);
    for p in &patterns {
        let _ = go_match(p.trim_start_matches('!'), "a/b");
    }
    let Ok(m) = Matcher::new(&patterns) else {
        return;
    };
    let _ = m.has_exclusions();
    for path in paths.lines() {
        let excluded = m.excluded(path);
        // What a directory walk produces: clean relative names.
        let walked = !path.is_empty()
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !walked {
            continue;
        }
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if m.can_skip_dir(parent) {
                assert!(
                    excluded,
                    "{parent:?} may be skipped, yet {path:?} below it is included"
                );
            }
            dir = parent;
        }
    }
});

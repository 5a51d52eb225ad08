//! Docker's word expansion (berth-build's `shell::Lexer`): what `$VAR`,
//! `${VAR:-w}`, `${VAR#pat}`, quotes and escapes in a Dockerfile's words
//! become. The input's first byte picks the escape character (odd: `` ` ``,
//! as under `# escape=\``); then lines up to the first empty one are the
//! environment (`NAME=value`), the rest is the word.
#![no_main]

use std::collections::BTreeMap;

use berth_build::shell::Lexer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let escape = if pick & 1 == 1 { '`' } else { '\\' };
    let (env_text, word) = text.split_once("\n\n").unwrap_or(("", text));
    let env: BTreeMap<&str, &str> = env_text.lines().filter_map(|l| l.split_once('=')).collect();
    let look = |k: &str| env.get(k).map(|v| v.to_string());
    let lex = Lexer::new(escape);
    if let Ok(e) = lex.process_word(word, &look) {
        assert!(
            e.used.is_disjoint(&e.unmatched),
            "a name was both set and unset"
        );
        assert!(
            e.used.iter().all(|n| env.contains_key(n.as_str())),
            "a name reported as used is not in the environment"
        );
    }
    let _ = lex.process_words(word, &look);
});

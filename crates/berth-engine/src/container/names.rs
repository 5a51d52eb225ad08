//! Generated container names (`adjective_noun`) and Docker's naming rule.

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "clever", "crisp", "daring", "eager", "fancy", "gentle", "happy",
    "jolly", "keen", "lively", "lucid", "merry", "nimble", "noble", "proud", "quick", "quiet",
    "rapid", "serene", "sharp", "steady", "sunny", "swift", "tidy", "vivid", "witty", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor",
    "beacon",
    "breeze",
    "canal",
    "cove",
    "dock",
    "ferry",
    "harbor",
    "helm",
    "island",
    "jetty",
    "keel",
    "lagoon",
    "lighthouse",
    "marina",
    "mast",
    "mooring",
    "pier",
    "port",
    "quay",
    "reef",
    "rudder",
    "sail",
    "shore",
    "skiff",
    "tide",
    "voyage",
    "wharf",
    "yacht",
    "compass",
];

/// A random `adjective_noun` for which `taken` is false.
pub fn generate(taken: &dyn Fn(&str) -> bool) -> String {
    for attempt in 0.. {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("random bytes");
        let a = ADJECTIVES[b[0] as usize % ADJECTIVES.len()];
        let n = NOUNS[b[1] as usize % NOUNS.len()];
        let name = if attempt < 10 {
            format!("{a}_{n}")
        } else {
            format!("{a}_{n}{}", u16::from_le_bytes([b[2], b[3]]) % 100)
        };
        if !taken(&name) {
            return name;
        }
    }
    unreachable!()
}

/// Docker's rule for user-chosen names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid(name: &str) -> bool {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub fn invalid_name(n: &str) -> crate::Error {
    crate::Error::invalid(format!(
        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid("web") && valid("/web") && valid("a.b-c_d"));
        assert!(!valid("a") && !valid("_x") && !valid("bad name") && !valid(""));
        let n = generate(&|_| false);
        assert!(n.contains('_'));
        let taken = |n: &str| !n.chars().last().unwrap().is_ascii_digit();
        assert!(generate(&taken).chars().last().unwrap().is_ascii_digit());
    }
}

//! Parsing compose files to `serde_yaml::Value`, with string keys and YAML
//! merge keys (`<<: *anchor`, `<<: [*a, *b]`) expanded.
//!
//! serde_yaml 0.9 expands aliases but leaves `<<` as an ordinary key (its
//! `Value::apply_merge` does not handle a merged mapping that itself has a
//! `<<`), so the expansion is done here, bottom-up.

use std::path::Path;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::Error;

/// The tags compose gives a meaning to in override files.
pub(crate) const TAG_RESET: &str = "reset";
pub(crate) const TAG_OVERRIDE: &str = "override";

/// Parses every YAML document of `text`; each must be a mapping (or empty).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Vec<Mapping>, Error> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(de).map_err(|e| yaml_error(path, &e))?;
        let value = prepare(value).map_err(|message| Error::Yaml {
            path: path.to_path_buf(),
            line: None,
            message,
        })?;
        match value {
            Value::Null => docs.push(Mapping::new()),
            Value::Mapping(m) => docs.push(m),
            _ => return Err(Error::schema("Top-level object must be a mapping").in_file(path)),
        }
    }
    if docs.is_empty() {
        docs.push(Mapping::new());
    }
    Ok(docs)
}

/// Formats a serde_yaml error as go-yaml (compose) does:
/// `yaml: line 3: mapping values are not allowed in this context`.
fn yaml_error(path: &Path, e: &serde_yaml::Error) -> Error {
    let line = e.location().map(|l| l.line());
    let message = strip_locations(&e.to_string());
    Error::Yaml {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Removes serde_yaml's ` at line N column M` (and `, line: N, column: M`) parts.
fn strip_locations(msg: &str) -> String {
    let mut out = msg.to_string();
    for marker in [" at line ", ", line: "] {
        while let Some(pos) = out.find(marker) {
            let tail = &out[pos + marker.len()..];
            // skip "N column M" / "N, column: M"
            let mut end = 0;
            let bytes = tail.as_bytes();
            let mut seen_digits = 0;
            while end < bytes.len() {
                let c = bytes[end];
                if c.is_ascii_digit() {
                    end += 1;
                    continue;
                }
                let rest = &tail[end..];
                if seen_digits == 0
                    && (rest.starts_with(" column ") || rest.starts_with(", column: "))
                {
                    end += if rest.starts_with(" column ") { 8 } else { 10 };
                    seen_digits = 1;
                    continue;
                }
                break;
            }
            if end == 0 {
                break;
            }
            out.replace_range(pos..pos + marker.len() + end, "");
        }
    }
    out
}

/// Converts keys to strings, expands merge keys, strips tags other than
/// `!reset` / `!override`.
pub(crate) fn prepare(v: Value) -> Result<Value, String> {
    match v {
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            let mut merges = Vec::new();
            for (k, v) in m {
                let key = key_string(k)?;
                let v = prepare(v)?;
                if key == "<<" {
                    merges.push(v);
                } else {
                    out.insert(Value::String(key), v);
                }
            }
            for m in merges {
                let sources = match m {
                    Value::Mapping(src) => vec![src],
                    Value::Sequence(seq) => seq
                        .into_iter()
                        .map(|v| match v {
                            Value::Mapping(src) => Ok(src),
                            _ => Err("map merge requires map or sequence of maps as the value"
                                .to_string()),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(
                            "map merge requires map or sequence of maps as the value".to_string()
                        );
                    }
                };
                // Explicit keys win; among merged mappings the first one wins.
                for src in sources {
                    for (k, v) in src {
                        if !out.contains_key(&k) {
                            out.insert(k, v);
                        }
                    }
                }
            }
            Ok(Value::Mapping(out))
        }
        Value::Sequence(seq) => Ok(Value::Sequence(
            seq.into_iter().map(prepare).collect::<Result<_, _>>()?,
        )),
        Value::Tagged(t) => {
            let tag = tag_name(&t.tag);
            let inner = prepare(t.value)?;
            if tag == TAG_RESET || tag == TAG_OVERRIDE {
                Ok(Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                    tag: t.tag,
                    value: inner,
                })))
            } else {
                Ok(inner)
            }
        }
        other => Ok(other),
    }
}

pub(crate) fn tag_name(tag: &serde_yaml::value::Tag) -> String {
    tag.to_string().trim_start_matches('!').to_string()
}

/// `Some(tag)` when `v` is tagged `!reset` or `!override`.
pub(crate) fn special_tag(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => Some(tag_name(&t.tag)),
        _ => None,
    }
}

fn key_string(k: Value) -> Result<String, String> {
    match k {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok("null".to_string()),
        Value::Tagged(t) => key_string(t.value),
        _ => Err("mapping keys must be strings".to_string()),
    }
}

/// Removes leftover `!reset` entries and unwraps `!override` values after merging.
pub(crate) fn strip_tags(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            let reset: Vec<Value> = m
                .iter()
                .filter(|(_, v)| special_tag(v).as_deref() == Some(TAG_RESET))
                .map(|(k, _)| k.clone())
                .collect();
            for k in reset {
                m.remove(&k);
            }
            for (_, v) in m.iter_mut() {
                strip_tags(v);
            }
        }
        Value::Sequence(s) => {
            s.retain(|v| special_tag(v).as_deref() != Some(TAG_RESET));
            for v in s {
                strip_tags(v);
            }
        }
        Value::Tagged(_) => {
            let Value::Tagged(t) = std::mem::take(v) else {
                unreachable!()
            };
            *v = t.value;
            strip_tags(v);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Mapping {
        parse(Path::new("/p/compose.yaml"), text).unwrap().remove(0)
    }

    #[test]
    fn merge_keys() {
        let m = one(
            "x-base: &base\n  image: busybox\n  restart: always\n  labels: {a: b}\nservices:\n  web:\n    <<: *base\n    restart: \"no\"\n",
        );
        let web = &m["services"]["web"];
        assert_eq!(web["image"], Value::from("busybox"));
        assert_eq!(web["restart"], Value::from("no"));
        assert_eq!(web["labels"]["a"], Value::from("b"));
    }

    #[test]
    fn merge_key_sequence_and_chain() {
        let m = one(
            "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: &c\n  <<: *a\n  w: 0\nd:\n  <<: [*b, *a]\ne:\n  <<: *c\n",
        );
        assert_eq!(m["d"]["y"], Value::from(2)); // first in the list wins
        assert_eq!(m["d"]["x"], Value::from(1));
        assert_eq!(m["d"]["z"], Value::from(2));
        // chained merge: e <- c <- a
        assert_eq!(m["e"]["x"], Value::from(1));
        assert_eq!(m["e"]["w"], Value::from(0));
        assert!(m["e"].get("<<").is_none());
    }

    #[test]
    fn anchors_and_aliases() {
        let m = one("x-env: &env\n  - A=1\nservices:\n  a: {image: busybox, environment: *env}\n");
        assert_eq!(m["services"]["a"]["environment"][0], Value::from("A=1"));
    }

    #[test]
    fn syntax_error_has_file_and_line() {
        let e = parse(
            Path::new("/p/compose.yaml"),
            "services:\n  web:\n    image: busybox: x\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/p/compose.yaml: yaml: line 3: "), "{s}");
        assert!(
            s.contains("mapping values are not allowed in this context"),
            "{s}"
        );
        assert!(!s.contains("column"), "{s}");
    }

    #[test]
    fn non_string_keys() {
        let m = one("1: a\ntrue: b\n");
        assert_eq!(m["1"], Value::from("a"));
        assert_eq!(m["true"], Value::from("b"));
    }

    #[test]
    fn top_level_must_be_mapping() {
        assert!(parse(Path::new("f"), "- a\n").is_err());
        assert!(parse(Path::new("f"), "").unwrap()[0].is_empty());
    }

    #[test]
    fn strip_locations_variants() {
        assert_eq!(strip_locations("bad thing at line 3 column 8"), "bad thing");
        assert_eq!(
            strip_locations(
                "did not find expected key at line 3 column 1, while parsing a block mapping at line 1 column 1"
            ),
            "did not find expected key, while parsing a block mapping"
        );
    }
}

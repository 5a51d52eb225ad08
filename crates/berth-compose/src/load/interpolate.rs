//! Variable interpolation as the compose specification defines it:
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`,
//! `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`, with
//! nested expressions in the default/alternative/error parts.

use serde_yaml::Value;

use crate::Error;

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `${` with no closing brace, or a malformed `${...}`.
    Invalid,
    /// A required variable (`?` / `:?`) is unset (or empty for `:?`).
    Missing { variable: String, reason: String },
}

/// Expands `template`, looking variables up with `lookup`. Names of plain
/// `$VAR`/`${VAR}` references that were unset are pushed to `unset`.
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    let b = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&template[lit..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close = closing_brace(b, i + 1).ok_or(TemplateError::Invalid)?;
                out.push_str(&braced(&template[i + 2..close], lookup, unset)?);
                i = close + 1;
            }
            Some(&c) if is_name_start(c) => {
                let end = name_end(b, i + 1);
                let name = &template[i + 1..end];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => unset.push(name.to_string()),
                }
                i = end;
            }
            // A `$` not followed by a name, a brace or another `$` is literal.
            _ => {
                out.push('$');
                i += 1;
            }
        }
        lit = i;
    }
    out.push_str(&template[lit..]);
    Ok(out)
}

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn name_end(b: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
        j += 1;
    }
    j
}

/// Index of the `}` closing the `{` at `open`, counting nested braces.
fn closing_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, TemplateError> {
    let b = inner.as_bytes();
    if b.is_empty() || !is_name_start(b[0]) {
        return Err(TemplateError::Invalid);
    }
    let end = name_end(b, 0);
    let name = &inner[..end];
    let rest = &inner[end..];
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(match value {
            Some(v) => v,
            None => {
                unset.push(name.to_string());
                String::new()
            }
        });
    }
    let (op, arg) = if let Some(arg) = rest.strip_prefix(':') {
        let op = arg.chars().next().ok_or(TemplateError::Invalid)?;
        (format!(":{op}"), &arg[op.len_utf8()..])
    } else {
        let op = rest.chars().next().ok_or(TemplateError::Invalid)?;
        (op.to_string(), &rest[op.len_utf8()..])
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op.as_str() {
        ":-" | "-" => {
            let use_default = if op == ":-" { !non_empty } else { !set };
            if use_default {
                substitute(arg, lookup, unset)
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        ":+" | "+" => {
            let use_alt = if op == ":+" { non_empty } else { set };
            if use_alt {
                substitute(arg, lookup, unset)
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        ":?" | "?" => {
            let ok = if op == ":?" { non_empty } else { set };
            if ok {
                Ok(value.unwrap_or_default())
            } else {
                let reason = substitute(arg, lookup, unset)?;
                Err(TemplateError::Missing {
                    variable: name.to_string(),
                    reason,
                })
            }
        }
        _ => Err(TemplateError::Invalid),
    }
}

/// Interpolates every string scalar of `value` (not mapping keys) in place.
/// `path` is the dotted location of `value`, used in error messages.
pub(crate) fn interpolate_value(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<(), Error> {
    match value {
        Value::String(s) if s.contains('$') => {
            *s = substitute(s, lookup, unset).map_err(|e| to_error(e, path, s))?;
        }
        Value::Sequence(seq) => {
            for v in seq {
                interpolate_value(v, path, lookup, unset)?;
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let key = k.as_str().unwrap_or_default();
                let p = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                interpolate_value(v, &p, lookup, unset)?;
            }
        }
        Value::Tagged(t) => interpolate_value(&mut t.value, path, lookup, unset)?,
        _ => {}
    }
    Ok(())
}

pub(crate) fn to_error(e: TemplateError, path: &str, template: &str) -> Error {
    match e {
        TemplateError::Invalid => Error::InvalidTemplate {
            path: path.to_string(),
            template: template.to_string(),
        },
        TemplateError::Missing { variable, reason } => Error::MissingVariable {
            path: path.to_string(),
            variable,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env() -> BTreeMap<String, String> {
        [
            ("FOO", "foo"),
            ("EMPTY", ""),
            ("BAR", "bar"),
            ("lower_1", "low"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn sub(t: &str) -> Result<String, TemplateError> {
        let e = env();
        let mut unset = vec![];
        substitute(t, &|k| e.get(k).cloned(), &mut unset)
    }

    fn ok(t: &str) -> String {
        sub(t).unwrap()
    }

    #[test]
    fn multibyte_modifier_is_invalid() {
        // Found by fuzzing (fuzz/fuzz_targets/compose_interpolate.rs): a
        // non-ASCII character after `:` was sliced as one byte and panicked.
        let t = b"image: |${TAG:\xce\xbcseral ${EMPTY:+alt%} $image: $${TAG}}";
        assert_eq!(
            sub(std::str::from_utf8(t).unwrap()),
            Err(TemplateError::Invalid)
        );
        assert_eq!(sub("${FOO:\u{e9}x}"), Err(TemplateError::Invalid));
    }

    #[test]
    fn plain() {
        assert_eq!(ok("no vars"), "no vars");
        assert_eq!(ok("$FOO"), "foo");
        assert_eq!(ok("${FOO}"), "foo");
        assert_eq!(ok("a-$FOO-b"), "a-foo-b");
        assert_eq!(ok("a${FOO}b"), "afoob");
        assert_eq!(ok("$FOO$BAR"), "foobar");
        assert_eq!(ok("$FOO.$BAR"), "foo.bar");
        assert_eq!(ok("$lower_1"), "low");
        assert_eq!(ok("$UNSET"), "");
        assert_eq!(ok("x${UNSET}y"), "xy");
        assert_eq!(ok("héllo $FOO ünïcode"), "héllo foo ünïcode");
    }

    #[test]
    fn unset_is_reported() {
        let mut unset = vec![];
        substitute("$A ${B} ${C:-x} $$D", &|_| None, &mut unset).unwrap();
        assert_eq!(unset, vec!["A", "B"]);
    }

    #[test]
    fn escapes_and_literal_dollars() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("$$FOO"), "$FOO");
        assert_eq!(ok("$${FOO}"), "${FOO}");
        assert_eq!(ok("$$$FOO"), "$foo");
        assert_eq!(ok("cost $5"), "cost $5");
        assert_eq!(ok("end $"), "end $");
        assert_eq!(ok("a $ b"), "a $ b");
    }

    #[test]
    fn defaults() {
        assert_eq!(ok("${FOO:-d}"), "foo");
        assert_eq!(ok("${UNSET:-d}"), "d");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${FOO-d}"), "foo");
        assert_eq!(ok("${UNSET-d}"), "d");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${UNSET:-}"), "");
        assert_eq!(
            ok("${UNSET:-with spaces and :colons}"),
            "with spaces and :colons"
        );
        assert_eq!(ok("${UNSET:-a-b}"), "a-b");
        assert_eq!(ok("${UNSET:-http://x:80/}"), "http://x:80/");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(ok("${UNSET:-${FOO}}"), "foo");
        assert_eq!(ok("${UNSET:-${ALSO_UNSET:-deep}}"), "deep");
        assert_eq!(ok("${UNSET:-$BAR}"), "bar");
        assert_eq!(ok("${UNSET:-x${FOO}y}-tail"), "xfooy-tail");
        assert_eq!(ok("${FOO:-${UNSET:?never evaluated}}"), "foo");
        assert_eq!(ok("${UNSET:-$$}"), "$");
    }

    #[test]
    fn alternatives() {
        assert_eq!(ok("${FOO:+alt}"), "alt");
        assert_eq!(ok("${EMPTY:+alt}"), "");
        assert_eq!(ok("${UNSET:+alt}"), "");
        assert_eq!(ok("${FOO+alt}"), "alt");
        assert_eq!(ok("${EMPTY+alt}"), "alt");
        assert_eq!(ok("${UNSET+alt}"), "");
        assert_eq!(ok("${FOO:+${BAR}}"), "bar");
    }

    #[test]
    fn required() {
        assert_eq!(ok("${FOO:?err}"), "foo");
        assert_eq!(ok("${FOO?err}"), "foo");
        assert_eq!(ok("${EMPTY?err}"), "");
        assert_eq!(
            sub("${UNSET:?please set it}"),
            Err(TemplateError::Missing {
                variable: "UNSET".into(),
                reason: "please set it".into()
            })
        );
        assert_eq!(
            sub("${EMPTY:?empty!}"),
            Err(TemplateError::Missing {
                variable: "EMPTY".into(),
                reason: "empty!".into()
            })
        );
        assert_eq!(
            sub("${UNSET?}"),
            Err(TemplateError::Missing {
                variable: "UNSET".into(),
                reason: String::new()
            })
        );
        assert_eq!(
            sub("${UNSET:?need $FOO}"),
            Err(TemplateError::Missing {
                variable: "UNSET".into(),
                reason: "need foo".into()
            })
        );
    }

    #[test]
    fn invalid() {
        assert_eq!(sub("${"), Err(TemplateError::Invalid));
        assert_eq!(sub("${FOO"), Err(TemplateError::Invalid));
        assert_eq!(sub("${}"), Err(TemplateError::Invalid));
        assert_eq!(sub("${1A}"), Err(TemplateError::Invalid));
        assert_eq!(sub("${FOO BAR}"), Err(TemplateError::Invalid));
        assert_eq!(sub("${FOO:x}"), Err(TemplateError::Invalid));
        assert_eq!(sub("${FOO:}"), Err(TemplateError::Invalid));
    }

    #[test]
    fn error_messages() {
        let e = to_error(
            TemplateError::Missing {
                variable: "DB_PASSWORD".into(),
                reason: "set it in .env".into(),
            },
            "services.db.environment.PASSWORD",
            "${DB_PASSWORD:?set it in .env}",
        );
        assert_eq!(
            e.to_string(),
            "error while interpolating services.db.environment.PASSWORD: required variable DB_PASSWORD is missing a value: set it in .env"
        );
        let e = to_error(
            TemplateError::Missing {
                variable: "X".into(),
                reason: String::new(),
            },
            "name",
            "",
        );
        assert_eq!(
            e.to_string(),
            "error while interpolating name: required variable X is missing a value"
        );
    }
}

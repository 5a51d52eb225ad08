//! `.env` / `env_file` parsing, with compose's dotenv rules:
//!
//! * `KEY=value`, `export KEY=value`, `KEY: value`; blank lines and `#` comments;
//! * unquoted values are trimmed and end at ` #`;
//! * `'single'` quotes are literal; `"double"` quotes process `\n`, `\t`,
//!   `\r`, `\\`, `\"`, `\$` escapes; both may span lines;
//! * unquoted and double-quoted values are interpolated (`${VAR:-x}` ...),
//!   looking first in the process environment, then in the variables
//!   defined earlier in the file;
//! * a bare `KEY` takes its value from the environment (and is skipped if unset).

use std::collections::BTreeMap;

use super::interpolate::{TemplateError, substitute};

/// Parses `src`. `lookup` resolves variables from outside the file.
/// Returns the variables in file order (later duplicates override earlier ones
/// when collected into a map).
pub fn parse(
    src: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut defined: BTreeMap<String, String> = BTreeMap::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut line = 1;

    let expand = |value: &str,
                  defined: &BTreeMap<String, String>,
                  line: usize|
     -> Result<String, String> {
        let mut unset = vec![];
        let lk = |k: &str| lookup(k).or_else(|| defined.get(k).cloned());
        substitute(value, &lk, &mut unset).map_err(|e| match e {
            TemplateError::Invalid => {
                format!("line {line}: invalid interpolation format in {value:?}")
            }
            TemplateError::Missing { variable, reason } if reason.is_empty() => {
                format!("line {line}: required variable {variable} is missing a value")
            }
            TemplateError::Missing { variable, reason } => {
                format!("line {line}: required variable {variable} is missing a value: {reason}")
            }
        })
    };

    loop {
        // Skip whitespace and comment lines.
        while i < chars.len() && chars[i].is_whitespace() {
            if chars[i] == '\n' {
                line += 1;
            }
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        if chars[i] == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // `export ` prefix.
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if rest.starts_with("export") && rest.chars().nth(6).is_some_and(|c| c == ' ' || c == '\t')
        {
            i += 6;
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
        }
        // Key.
        let key_start = i;
        let mut key_end;
        let inherited;
        loop {
            if i >= chars.len() || chars[i] == '\n' {
                key_end = i;
                inherited = true;
                break;
            }
            let c = chars[i];
            if c == '=' || c == ':' {
                key_end = i;
                inherited = false;
                i += 1;
                break;
            }
            if !(c.is_alphanumeric()
                || matches!(c, '_' | '.' | '-' | '[' | ']' | ' ' | '\t' | '\r'))
            {
                let text: String = chars[key_start..]
                    .iter()
                    .take_while(|c| **c != '\n')
                    .collect();
                return Err(format!(
                    "line {line}: unexpected character {:?} in variable name {text:?}",
                    c.to_string()
                ));
            }
            i += 1;
        }
        while key_end > key_start && chars[key_end - 1].is_whitespace() {
            key_end -= 1;
        }
        let key: String = chars[key_start..key_end].iter().collect();
        if key.contains(' ') || key.contains('\t') {
            return Err(format!("line {line}: key cannot contain a space"));
        }
        if key.is_empty() {
            return Err(format!("line {line}: missing variable name"));
        }
        if inherited {
            if let Some(v) = lookup(&key) {
                defined.insert(key.clone(), v.clone());
                vars.push((key, v));
            }
            continue;
        }
        // Skip blanks between `=` and the value.
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        let value = match chars.get(i) {
            Some(&q @ ('\'' | '"')) => {
                let start_line = line;
                i += 1;
                let mut raw = String::new();
                let mut closed = false;
                while i < chars.len() {
                    let c = chars[i];
                    if c == '\n' {
                        line += 1;
                    }
                    if c == '\\' && q == '"' && i + 1 < chars.len() {
                        let n = chars[i + 1];
                        match n {
                            'n' => raw.push('\n'),
                            't' => raw.push('\t'),
                            'r' => raw.push('\r'),
                            '\\' => raw.push('\\'),
                            '"' => raw.push('"'),
                            '$' => raw.push_str("$$"),
                            other => {
                                raw.push('\\');
                                raw.push(other);
                            }
                        }
                        i += 2;
                        continue;
                    }
                    if c == '\\' && q == '\'' && chars.get(i + 1) == Some(&'\'') {
                        raw.push('\'');
                        i += 2;
                        continue;
                    }
                    if c == q {
                        closed = true;
                        i += 1;
                        break;
                    }
                    if q == '\'' && c == '$' {
                        // single quotes are literal: protect `$` from interpolation
                        raw.push_str("$$");
                    } else {
                        raw.push(c);
                    }
                    i += 1;
                }
                if !closed {
                    return Err(format!("line {start_line}: unterminated quoted value"));
                }
                // Ignore the remainder of the line (a comment).
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                expand(&raw, &defined, start_line)?
            }
            _ => {
                let start = i;
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                let mut v: String = chars[start..i].iter().collect();
                if let Some(pos) = v.find(" #") {
                    v.truncate(pos);
                }
                let v = v.trim_end().to_string();
                expand(&v, &defined, line)?
            }
        };
        defined.insert(key.clone(), value.clone());
        vars.push((key, value));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> BTreeMap<String, String> {
        parse(src, &|k| {
            if k == "HOST_VAR" {
                Some("from-host".into())
            } else {
                None
            }
        })
        .unwrap()
        .into_iter()
        .collect()
    }

    #[test]
    fn basics() {
        let m = p("# comment\nA=1\n\nexport B=two\nC = spaced  \nD=\nE=a=b\nF: yaml-ish\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two");
        assert_eq!(m["C"], "spaced");
        assert_eq!(m["D"], "");
        assert_eq!(m["E"], "a=b");
        assert_eq!(m["F"], "yaml-ish");
    }

    #[test]
    fn comments_and_quotes() {
        let m = p(
            "A=value # comment\nB=val#ue\nC='single # not comment'\nD=\"double\" # c\nE='$HOST_VAR'\nF=\"$HOST_VAR\"\n",
        );
        assert_eq!(m["A"], "value");
        assert_eq!(m["B"], "val#ue");
        assert_eq!(m["C"], "single # not comment");
        assert_eq!(m["D"], "double");
        assert_eq!(m["E"], "$HOST_VAR");
        assert_eq!(m["F"], "from-host");
    }

    #[test]
    fn escapes_and_multiline() {
        let m = p(
            "A=\"line1\\nline2\"\nB=\"say \\\"hi\\\"\"\nC=\"multi\nline\"\nD='raw\\n'\nE=\"\\$NOT\"\n",
        );
        assert_eq!(m["A"], "line1\nline2");
        assert_eq!(m["B"], "say \"hi\"");
        assert_eq!(m["C"], "multi\nline");
        assert_eq!(m["D"], "raw\\n");
        assert_eq!(m["E"], "$NOT");
    }

    #[test]
    fn interpolation_and_inheritance() {
        let m = p("A=base\nB=${A}-x\nC=${MISSING:-dflt}\nHOST_VAR\nNOT_IN_HOST\nD=$HOST_VAR\n");
        assert_eq!(m["B"], "base-x");
        assert_eq!(m["C"], "dflt");
        assert_eq!(m["HOST_VAR"], "from-host");
        assert!(!m.contains_key("NOT_IN_HOST"));
        assert_eq!(m["D"], "from-host");
    }

    #[test]
    fn errors() {
        assert!(
            parse("A=\"unterminated\n", &|_| None)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(parse("A B=1\n", &|_| None).unwrap_err().contains("space"));
        assert!(
            parse("A$=1\n", &|_| None)
                .unwrap_err()
                .contains("unexpected character")
        );
        assert!(
            parse("A=${X:?need x}\n", &|_| None)
                .unwrap_err()
                .contains("required variable X is missing a value: need x")
        );
    }

    #[test]
    fn bom_and_crlf() {
        let m = p("\u{feff}A=1\r\nB=2\r\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "2");
    }
}

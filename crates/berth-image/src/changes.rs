//! Dockerfile-like `--change` instructions (`docker import`/`commit`) applied
//! to the `config` object of an image config.

use berth_api::Empty;
use berth_api::container::{Config, StrSlice};

use crate::error::{Error, Result};

/// Splits on whitespace, honouring double/single quotes and backslashes.
fn split_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(Error::InvalidArgument(format!("unmatched quote in: {s}")));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// JSON (exec) form when the argument is a JSON string array, else shell form.
fn command(rest: &str) -> Vec<String> {
    if rest.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(rest)
    {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

/// `k=v` pairs (or the legacy `k v…` form for ENV).
fn pairs(rest: &str, legacy_ok: bool, what: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest)?;
    if words.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{what} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        if legacy_ok && words.len() > 1 {
            let value = rest.trim_start()[words[0].len()..].trim().to_string();
            let value = split_words(&value)?.join(" ");
            return Ok(vec![(words[0].clone(), value)]);
        }
        return Err(Error::InvalidArgument(format!(
            "{what} names can not be blank or must be key=value: {rest}"
        )));
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::InvalidArgument(format!(
                "{what}: expected key=value, got {w}"
            ))),
        })
        .collect()
}

/// Applies the instructions in order to a container `config`.
pub fn apply_changes(cfg: &mut Config, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let change = change.trim();
        if change.is_empty() {
            continue;
        }
        let (instr, rest) = change
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let rest = rest.trim();
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => {
                cfg.cmd = Some(StrSlice(command(rest)));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                cfg.entrypoint = Some(StrSlice(command(rest)));
                if !cmd_set {
                    cfg.cmd = None;
                }
            }
            "ENV" => {
                for (k, v) in pairs(rest, true, "ENV")? {
                    let entry = format!("{k}={v}");
                    let list = cfg.env.get_or_insert_with(Vec::new);
                    let prefix = format!("{k}=");
                    match list.iter_mut().find(|e| e.starts_with(&prefix)) {
                        Some(slot) => *slot = entry,
                        None => list.push(entry),
                    }
                }
            }
            "LABEL" => {
                for (k, v) in pairs(rest, false, "LABEL")? {
                    cfg.labels.get_or_insert_with(Default::default).insert(k, v);
                }
            }
            "EXPOSE" => {
                for p in split_words(rest)? {
                    let p = if p.contains('/') {
                        p.to_ascii_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    let (num, _) = p.split_once('/').expect("has slash");
                    let valid = num.split('-').all(|n| n.parse::<u16>().is_ok());
                    if !valid {
                        return Err(Error::InvalidArgument(format!(
                            "invalid containerPort: {num}"
                        )));
                    }
                    cfg.exposed_ports
                        .get_or_insert_with(Default::default)
                        .insert(p, Empty {});
                }
            }
            "VOLUME" => {
                let vols = if rest.starts_with('[') {
                    serde_json::from_str::<Vec<String>>(rest)
                        .map_err(|e| Error::InvalidArgument(format!("VOLUME: {e}")))?
                } else {
                    split_words(rest)?
                };
                for v in vols {
                    cfg.volumes
                        .get_or_insert_with(Default::default)
                        .insert(v, Empty {});
                }
            }
            "WORKDIR" => {
                let words = split_words(rest)?;
                let [dir] = words.as_slice() else {
                    return Err(Error::InvalidArgument(
                        "WORKDIR requires exactly one argument".into(),
                    ));
                };
                cfg.working_dir = if dir.starts_with('/') {
                    dir.clone()
                } else {
                    let base = if cfg.working_dir.is_empty() {
                        "/"
                    } else {
                        &cfg.working_dir
                    };
                    format!("{}/{dir}", base.trim_end_matches('/'))
                };
            }
            "USER" => cfg.user = rest.to_string(),
            "STOPSIGNAL" => cfg.stop_signal = rest.to_string(),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{instr} is not a valid change command"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn apply(changes: &[&str]) -> Value {
        let mut m = Config::default();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut m, &changes).unwrap();
        serde_json::to_value(m).unwrap()
    }

    #[test]
    fn instructions() {
        let v = apply(&[
            "CMD [\"sh\",\"-c\",\"x\"]",
            "ENV A=1 B=\"two words\"",
            "ENV C three four",
            "ENV A=9",
            "LABEL k=v k2='x y'",
            "EXPOSE 80 53/udp",
            "VOLUME /data /logs",
            "WORKDIR /srv",
            "WORKDIR app",
            "user nobody",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(v["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!(v["Env"], json!(["A=9", "B=two words", "C=three four"]));
        assert_eq!(v["Labels"], json!({"k": "v", "k2": "x y"}));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["Volumes"], json!({"/data": {}, "/logs": {}}));
        assert_eq!(v["WorkingDir"], json!("/srv/app"));
        assert_eq!(v["User"], json!("nobody"));
        assert_eq!(v["StopSignal"], json!("SIGINT"));
    }

    #[test]
    fn entrypoint_resets_inherited_cmd_and_shell_form() {
        let mut m = Config {
            cmd: Some(StrSlice(vec!["old".into()])),
            ..Default::default()
        };
        apply_changes(&mut m, &["ENTRYPOINT echo hi".to_string()]).unwrap();
        let m = serde_json::to_value(m).unwrap();
        assert_eq!(m["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(m["Cmd"], Value::Null);
        let v = apply(&["CMD [\"a\"]", "ENTRYPOINT [\"e\"]"]);
        assert_eq!(v["Cmd"], json!(["a"]));
    }

    #[test]
    fn errors() {
        let mut m = Config::default();
        for bad in [
            "FROM x",
            "EXPOSE abc",
            "LABEL novalue",
            "ENV A=\"open",
            "WORKDIR a b",
        ] {
            assert!(apply_changes(&mut m, &[bad.to_string()]).is_err(), "{bad}");
        }
        let e = apply_changes(&mut m, &["RUN x".to_string()])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "RUN is not a valid change command");
    }
}

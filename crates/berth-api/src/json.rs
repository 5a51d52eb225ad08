//! Decoding request bodies as dockerd does: `null` means "not given" (Go
//! leaves the zero value), unknown fields are kept or ignored, and type
//! errors are told in Go's words (`json: cannot unmarshal string into Go
//! struct field HostConfig.HostConfig.Memory of type int64`).

use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// JSON of the wrong shape.
    #[error("{0}")]
    Type(String),
}

/// Decode `body` into `T`; `root` is the Go type's name used in messages
/// (`CreateRequest`, `HostConfig`, `NetworkCreateRequest`).
pub fn decode<T: DeserializeOwned>(body: &[u8], root: &str) -> Result<T, DecodeError> {
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::Syntax(e.to_string()))?;
    decode_value(&mut v, root)
}

/// As [`decode`], from an already parsed value (nulls are stripped in place).
pub fn decode_value<T: DeserializeOwned>(v: &mut Value, root: &str) -> Result<T, DecodeError> {
    let top = json_kind(v);
    strip_nulls(v);
    serde_path_to_error::deserialize(&*v).map_err(|e| {
        let msg = e.inner().to_string();
        let mut path = go_path(&e.path().to_string());
        // Paths stop at flattened structs (Config in a create request,
        // Resources in HostConfig): find the member holding the value
        // serde complained about.
        if let Some(got) = msg
            .strip_prefix("invalid type: ")
            .and_then(|r| r.split(", expected ").next())
            && let Some(key) = culprit(lookup(v, &path), got)
        {
            path = if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            };
        }
        DecodeError::Type(go_message(&msg, root, &path, top))
    })
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |v, k| v.get(k))
}

/// The member of `obj` whose value serde describes as `got`.
fn culprit(obj: Option<&Value>, got: &str) -> Option<String> {
    let m = obj?.as_object()?;
    m.iter()
        .find(|(_, x)| unexpected(x) == got)
        .map(|(k, _)| k.clone())
}

/// serde's `Unexpected` text for a JSON value.
fn unexpected(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {s:?}"),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::Array(_) => "sequence".into(),
        Value::Object(_) => "map".into(),
        Value::Null => "null".into(),
    }
}

/// Remove object members whose value is null, recursively.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for x in m.values_mut() {
                strip_nulls(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// serde_path_to_error's `a.b[0].c` → Go's `a.b.c` (no indices).
fn go_path(p: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim_matches('.').replace("..", ".")
}

fn go_type(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "i8" => "int8".into(),
        "i16" => "int16".into(),
        "i32" => "int32".into(),
        "i64" => "int64".into(),
        "u8" => "uint8".into(),
        "u16" => "uint16".into(),
        "u32" => "uint32".into(),
        "u64" => "uint64".into(),
        "f64" | "f32" => "float64".into(),
        "a boolean" => "bool".into(),
        "a string" => "string".into(),
        "a sequence" => "[]string".into(),
        "a map" => "map[string]string".into(),
        _ if e.starts_with("an array of length") => {
            format!("[{}]uint", e.rsplit(' ').next().unwrap_or("2"))
        }
        _ if e.starts_with("struct ") => e.trim_start_matches("struct ").to_string(),
        _ => e.to_string(),
    }
}

fn got_kind(unexpected: &str) -> &'static str {
    let u = unexpected.trim();
    if u.starts_with("string") {
        "string"
    } else if u.starts_with("boolean") {
        "bool"
    } else if u.starts_with("integer") || u.starts_with("floating point") {
        "number"
    } else if u.starts_with("sequence") {
        "array"
    } else if u.starts_with("map") {
        "object"
    } else {
        "value"
    }
}

/// serde's "invalid type: string \"x\", expected i64" → Go's message.
fn go_message(serde_msg: &str, root: &str, path: &str, top: &str) -> String {
    let Some(rest) = serde_msg.strip_prefix("invalid type: ") else {
        if let Some(rest) = serde_msg.strip_prefix("invalid value: ") {
            // e.g. an integer out of range for its type
            if let Some((got, exp)) = rest.split_once(", expected ") {
                return format!(
                    "json: cannot unmarshal {} {} into Go struct field {} of type {}",
                    got_kind(got),
                    got.split_whitespace().nth(1).unwrap_or(""),
                    field_name(root, path),
                    go_type(exp)
                );
            }
        }
        return format!("json: {serde_msg}");
    };
    let (got, exp) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let exp = exp.split(" at line").next().unwrap_or(exp);
    if path.is_empty() {
        return format!(
            "json: cannot unmarshal {} into Go value of type {}",
            if top == "null" { got_kind(got) } else { top },
            root
        );
    }
    format!(
        "json: cannot unmarshal {} into Go struct field {} of type {}",
        got_kind(got),
        field_name(root, path),
        go_type(exp)
    )
}

/// Go names the struct holding the field, then the field's full path.
fn field_name(root: &str, path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let holder = if parts.len() >= 2 {
        parts[parts.len() - 2]
    } else {
        root
    };
    format!("{holder}.{path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::CreateRequest;

    #[test]
    fn go_words_for_type_errors() {
        let e = decode::<CreateRequest>(
            br#"{"Image":"b","HostConfig":{"Memory":"lots"}}"#,
            "CreateRequest",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64"
        );
        let e = decode::<CreateRequest>(br#"{"Tty":"yes"}"#, "CreateRequest").unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field CreateRequest.Tty of type bool"
        );
        let e = decode::<CreateRequest>(b"[1,2]", "container.CreateRequest").unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal array into Go value of type container.CreateRequest"
        );
        assert!(matches!(
            decode::<CreateRequest>(b"{\"Image\": ", "CreateRequest"),
            Err(DecodeError::Syntax(_))
        ));
    }

    #[test]
    fn nulls_are_zero_values() {
        let r: CreateRequest = decode(
            br#"{"Image":"b","Hostname":null,"Cmd":null,"HostConfig":{"Binds":null,"Memory":null}}"#,
            "CreateRequest",
        )
        .unwrap();
        assert_eq!(r.config.hostname, "");
        assert!(r.config.cmd.is_none());
        assert_eq!(r.host_config.unwrap().resources.memory, 0);
    }
}

//! Query parameters as dockerd reads them: booleans, repeated keys, filters.

use std::collections::HashMap;

use serde_json::Value;

/// Parsed query string (keys may repeat).
#[derive(Default, Debug)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(q.map(form_pairs).unwrap_or_default())
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// dockerd: "", 0, no, false, none are false; anything else true.
    pub fn bool(&self, k: &str) -> bool {
        match self.get(k) {
            None => false,
            Some(v) => !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// `filters`: `{"label":{"a=b":true}}` or `{"label":["a=b"]}`.
    pub fn filters(&self) -> Result<HashMap<String, Vec<String>>, String> {
        let Some(f) = self.get("filters").filter(|f| !f.is_empty()) else {
            return Ok(HashMap::new());
        };
        let v: Value = serde_json::from_str(f).map_err(|e| format!("invalid filter: {e}"))?;
        let mut out = HashMap::new();
        for (k, vals) in v.as_object().cloned().unwrap_or_default() {
            let list = match vals {
                Value::Object(m) => m.keys().cloned().collect(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                Value::String(s) => vec![s],
                _ => Vec::new(),
            };
            out.insert(k, list);
        }
        Ok(out)
    }
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

//! The `filters` query parameter: a JSON object of key → values, in the
//! Go client's form `{"label":{"a=b":true}}` or the legacy form
//! `{"label":["a=b"]}` (docker-py, old clients); both are accepted.

use std::collections::{BTreeMap, BTreeSet};

use crate::StringMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, BTreeSet<String>>);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The parameter is not a filters object.
    #[error("invalid filter: {0}")]
    Json(String),
    /// A key this endpoint does not know (Docker: `invalid filter 'x'`).
    #[error("invalid filter '{0}'")]
    Key(String),
    /// A value this key cannot take.
    #[error("invalid filter '{0}={1}'")]
    Value(String, String),
    #[error("{0}")]
    Other(String),
}

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Parse the `filters` parameter; empty means none.
    pub fn parse(s: &str) -> Result<Filters, FilterError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Filters::default());
        }
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| FilterError::Json(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| FilterError::Json("not a JSON object".into()))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let set: BTreeSet<String> = match vals {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool() != Some(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| match x.as_str() {
                        Some(s) => Ok(s.to_string()),
                        None => Err(FilterError::Json(format!(
                            "filter {k}: values must be strings"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                serde_json::Value::String(s) => std::iter::once(s.clone()).collect(),
                serde_json::Value::Null => BTreeSet::new(),
                _ => return Err(FilterError::Json(format!("filter {k}: unexpected value"))),
            };
            out.insert(k.clone(), set);
        }
        Ok(Filters(out))
    }

    /// Every key must be one of `accepted`.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), FilterError> {
        for k in self.0.keys() {
            if !accepted.contains(&k.as_str()) {
                return Err(FilterError::Key(k.clone()));
            }
        }
        Ok(())
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_default()
            .insert(value.to_string());
    }

    pub fn with(mut self, key: &str, value: &str) -> Filters {
        self.add(key, value);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeSet::is_empty)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_empty())
    }

    pub fn get(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0.get(key).into_iter().flatten().map(String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// No values for `key`, or `value` is one of them.
    pub fn exact(&self, key: &str, value: &str) -> bool {
        !self.contains(key) || self.get(key).any(|v| v == value)
    }

    /// No values for `key`, or one of them matches `pred`.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        !self.contains(key) || self.get(key).any(pred)
    }

    /// `label` filters: every value (`k` or `k=v`) must hold in `labels`.
    pub fn labels_match(&self, key: &str, labels: &StringMap) -> bool {
        self.get(key).all(|v| label_matches(v, labels))
    }

    /// `label!` filters: no value may hold.
    pub fn labels_exclude(&self, key: &str, labels: &StringMap) -> bool {
        self.get(key).all(|v| !label_matches(v, labels))
    }

    /// A boolean filter (`dangling=true`): None when not given.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>, FilterError> {
        let mut out = None;
        for v in self.get(key) {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(FilterError::Value(key.into(), v.into())),
            };
            if out.is_some_and(|o| o != b) {
                return Err(FilterError::Other(format!(
                    "invalid filter '{key}': conflicting values"
                )));
            }
            out = Some(b);
        }
        Ok(out)
    }

    /// Every value of a time filter (`until`, `since`) as Unix seconds.
    pub fn timestamps(&self, key: &str, now_unix: f64) -> Result<Vec<f64>, FilterError> {
        self.get(key)
            .map(|v| {
                parse_timestamp(v, now_unix).ok_or_else(|| FilterError::Value(key.into(), v.into()))
            })
            .collect()
    }

    /// The Go client's encoding.
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        for (k, vals) in &self.0 {
            let mut inner = serde_json::Map::new();
            for v in vals {
                inner.insert(v.clone(), serde_json::Value::Bool(true));
            }
            m.insert(k.clone(), serde_json::Value::Object(inner));
        }
        serde_json::Value::Object(m).to_string()
    }

    /// `--filter k=v` as the docker CLI parses it.
    pub fn parse_flag(&mut self, s: &str) -> Result<(), FilterError> {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            FilterError::Other("bad format of filter (expected name=value)".to_string())
        })?;
        self.add(&k.trim().to_ascii_lowercase(), v.trim());
        Ok(())
    }
}

fn label_matches(filter: &str, labels: &StringMap) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

/// An `until`/`since` filter value: Unix seconds (fractional allowed),
/// an RFC 3339 time, or a Go duration before `now` (`10m`, `1h30m`).
pub fn parse_timestamp(value: &str, now_unix: f64) -> Option<f64> {
    let v = value.trim();
    if let Ok(n) = v.parse::<f64>() {
        return Some(n);
    }
    if let Some(d) = crate::units::parse_go_duration(v) {
        return Some(now_unix - d.as_secs_f64());
    }
    crate::units::parse_rfc3339(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_json_forms() {
        let a = Filters::parse(r#"{"label":{"a=b":true},"status":["running","exited"]}"#).unwrap();
        assert!(a.exact("status", "running"));
        assert!(!a.exact("status", "paused"));
        assert!(a.exact("name", "anything"));
        let mut l = StringMap::new();
        l.insert("a".into(), "b".into());
        assert!(a.labels_match("label", &l));
        l.insert("a".into(), "c".into());
        assert!(!a.labels_match("label", &l));
        assert_eq!(Filters::parse("").unwrap(), Filters::default());
        assert!(matches!(Filters::parse("[1]"), Err(FilterError::Json(_))));
    }

    #[test]
    fn validation_and_booleans() {
        let f = Filters::parse(r#"{"dangling":["true"],"bogus":["x"]}"#).unwrap();
        assert_eq!(
            f.validate(&["dangling"]).unwrap_err().to_string(),
            "invalid filter 'bogus'"
        );
        assert_eq!(f.bool_value("dangling").unwrap(), Some(true));
        let f = Filters::new().with("dangling", "maybe");
        assert_eq!(
            f.bool_value("dangling").unwrap_err().to_string(),
            "invalid filter 'dangling=maybe'"
        );
    }

    #[test]
    fn go_client_encoding_round_trips() {
        let f = Filters::new().with("label", "x=1").with("label", "y");
        let j = f.to_json();
        assert_eq!(j, r#"{"label":{"x=1":true,"y":true}}"#);
        assert_eq!(Filters::parse(&j).unwrap(), f);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1700000000.5", 0.0), Some(1_700_000_000.5));
        assert_eq!(parse_timestamp("10m", 1000.0), Some(400.0));
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z", 0.0),
            Some(1_700_000_000.0)
        );
        assert_eq!(parse_timestamp("soon", 0.0), None);
    }
}

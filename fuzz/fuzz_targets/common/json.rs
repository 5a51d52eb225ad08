//! Comparing JSON documents that went through serde_json and back.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// berthd refuses larger bodies (413).
pub const JSON_LIMIT: usize = 4 << 20;

/// A request body decoded as berthd decodes it (`berth_api::json::decode`),
/// or None when berthd would refuse it. One that decodes must survive the trip
/// through its own JSON: the engine stores and reloads it.
pub fn decode_body<T: DeserializeOwned + Serialize>(data: &[u8], what: &str) -> Option<T> {
    if data.len() > JSON_LIMIT {
        return None;
    }
    let req = berth_api::json::decode::<T>(data, what).ok()?;
    let body = serde_json::to_vec(&req).expect("a decoded request serialises");
    let again = berth_api::json::decode::<T>(&body, what)
        .unwrap_or_else(|e| panic!("a {what}'s own JSON does not decode: {e}"));
    assert!(
        same(
            &serde_json::to_value(&again).unwrap(),
            &serde_json::to_value(&req).unwrap()
        ),
        "a {what} changed through its own JSON"
    );
    Some(req)
}

/// Equal JSON, but for floats within an ulp or so: serde_json's default
/// float parser (without `float_roundtrip`) may read the shortest form of
/// a float back one ulp off, in fields kept as raw JSON (`Extra`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

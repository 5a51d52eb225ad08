//! Durations and byte sizes as compose (Go) writes them.

use std::time::Duration;

/// Parses a Go duration (`1m30s`, `1.5s`, `500ms`, `2h`, `0`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let orig = s;
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(format!("time: negative duration {orig:?} is not allowed"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(format!("time: invalid duration {orig:?}"));
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(format!("time: invalid duration {orig:?}"));
        }
        let value: f64 = num
            .parse()
            .map_err(|_| format!("time: invalid duration {orig:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let factor = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    // Round to whole nanoseconds to avoid float noise (1.1s -> 1.100000000s).
    let nanos = (total * 1e9).round();
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(format!("time: invalid duration {orig:?}"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a size as docker's `RAMInBytes`: a number with an optional binary
/// unit `b`, `k`, `m`, `g`, `t`, `p` (case-insensitive, optional trailing `b`
/// or `ib`): `64m`, `1gb`, `512k`, `1.5g`, `1024`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_len);
    if num.is_empty() {
        return Err(format!("invalid size: '{s}'"));
    }
    let value: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return Err(format!("invalid size: '{s}'")),
    };
    Ok((value * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1us").unwrap(), Duration::from_micros(1));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_duration("1h2m3s4ms").unwrap(),
            Duration::from_millis(3_723_004)
        );
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1gb").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("10b").unwrap(), 10);
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("10x").is_err());
    }
}

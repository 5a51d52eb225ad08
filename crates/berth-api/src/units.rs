//! go-units, as Docker uses it: sizes from human strings (`FromHumanSize`:
//! decimal, for `--log-opt max-size`, `--storage-opt`; `RAMInBytes`:
//! binary, for `-m`, `--shm-size`, `--memory-swap`), and back
//! (`HumanSize`, `BytesSize`), and `HumanDuration` for "Up 5 minutes".
//! Same rules and messages as Go's.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size: '{0}'")]
    Size(String),
    #[error("invalid suffix: '{0}'")]
    Suffix(String),
    /// Go's strconv.ParseFloat error.
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    Number(String),
}

const DECIMAL: [(u8, f64); 5] = [
    (b'k', 1e3),
    (b'm', 1e6),
    (b'g', 1e9),
    (b't', 1e12),
    (b'p', 1e15),
];
const BINARY: [(u8, f64); 5] = [
    (b'k', 1024.0),
    (b'm', 1048576.0),
    (b'g', 1073741824.0),
    (b't', 1099511627776.0),
    (b'p', 1125899906842624.0),
];

/// `FromHumanSize`: "10m" = 10,000,000 bytes, "1.5kB" = 1500.
pub fn from_human_size(s: &str) -> Result<i64, SizeError> {
    parse_size(s, &DECIMAL)
}

/// `RAMInBytes`: "10m" = 10 MiB, "1g" = 1 GiB; the b suffix is optional.
pub fn ram_in_bytes(s: &str) -> Result<i64, SizeError> {
    parse_size(s, &BINARY)
}

fn parse_size(s: &str, units: &[(u8, f64)]) -> Result<i64, SizeError> {
    // The last digit, dot or space separates the number from the suffix.
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(SizeError::Size(s.to_string()));
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size: f64 = go_parse_float(num).ok_or_else(|| SizeError::Number(num.to_string()))?;
    if size < 0.0 {
        return Err(SizeError::Size(s.to_string()));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || SizeError::Suffix(sfx.to_ascii_lowercase());
    if sfx.len() > 3 {
        return Err(SizeError::Suffix(sfx.to_string()));
    }
    let l = sfx.to_ascii_lowercase();
    let b = l.as_bytes();
    if b[0] == b'b' {
        return if b.len() > 1 {
            Err(bad())
        } else {
            Ok(size as i64)
        };
    }
    let mul = units
        .iter()
        .find(|(c, _)| *c == b[0])
        .map(|(_, m)| *m)
        .ok_or_else(bad)?;
    match b.len() {
        2 if b[1] != b'b' => return Err(bad()),
        3 if &b[1..] != b"ib" => return Err(bad()),
        _ => {}
    }
    Ok((size * mul) as i64)
}

/// Go's ParseFloat for what sizes contain (digits, one dot, a sign, an
/// exponent); Rust's parser accepts forms Go refuses ("inf", "nan").
fn go_parse_float(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    s.parse().ok()
}

/// Go's `%.4g`, the precision go-units prints sizes with.
fn format_g4(v: f64) -> String {
    format_g(v, 4)
}

/// Go's `%.*g` with `p` significant digits.
fn format_g(v: f64, p: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // Exponent after rounding to p significant digits.
    let e = format!("{:.*e}", (p - 1) as usize, v);
    let (mant, exp) = e.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if exp < -4 || exp >= p {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = (p - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn scaled(size: f64, base: f64, units: &[&str]) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", format_g4(size), units[i])
}

/// `HumanSize`: decimal units ("2.746MB", "796kB").
pub fn human_size(size: f64) -> String {
    scaled(
        size,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
    )
}

/// `HumanSizeWithPrecision`: decimal units with `precision` significant
/// digits (the docker CLI's tables use 3: "4.26MB").
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < units.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", format_g(size, precision as i32), units[i])
}

/// `BytesSize`: binary units ("44KiB", "17MiB").
pub fn bytes_size(size: f64) -> String {
    scaled(
        size,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
    )
}

/// `HumanDuration`: "Less than a second", "About a minute", "3 hours".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", secs / 3600 / 24 / 365)
}

/// A Go duration string: `300ms`, `1.5h`, `1h30m`, `-2s` is refused.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    // Go's durations are int64 nanoseconds: longer ones do not parse.
    if total * 1e9 > i64::MAX as f64 {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Go's duration String(): `1m30s`, `500ms`, `2h0m0s`.
pub fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_zeros(&format!("{:.3}", ns as f64 / 1e3)));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_zeros(&format!("{:.6}", ns as f64 / 1e6)));
    }
    let total_s = d.as_secs();
    let frac = d.subsec_nanos();
    let h = total_s / 3600;
    let m = (total_s % 3600) / 60;
    let s = total_s % 60;
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{}s", trim_zeros(&format!("{s}.{frac:09}")))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

/// Seconds since the epoch of an RFC 3339 time (`2023-11-14T22:13:20Z`,
/// fractions and offsets allowed).
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac = 0f64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = format!("0.{}", &s[start..i]).parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        c @ (b'+' | b'-') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *c == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_parse_like_go() {
        assert_eq!(from_human_size("10m"), Ok(10_000_000));
        assert_eq!(from_human_size("10mb"), Ok(10_000_000));
        assert_eq!(from_human_size("1.5kB"), Ok(1500));
        assert_eq!(from_human_size("32"), Ok(32));
        assert_eq!(from_human_size("32 KiB"), Ok(32_000));
        assert_eq!(from_human_size("32 KB"), Ok(32_000));
        assert_eq!(ram_in_bytes("10m"), Ok(10 << 20));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("32 KiB"), Ok(32 * 1024));
        assert_eq!(ram_in_bytes("1.5gb"), Ok(1610612736));
        assert_eq!(
            from_human_size("bogus").unwrap_err().to_string(),
            "invalid size: 'bogus'"
        );
        assert_eq!(
            from_human_size("10x").unwrap_err().to_string(),
            "invalid suffix: 'x'"
        );
        assert_eq!(
            from_human_size("10mbx").unwrap_err().to_string(),
            "invalid suffix: 'mbx'"
        );
        assert_eq!(
            ram_in_bytes("1.2.3m").unwrap_err().to_string(),
            "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax"
        );
        assert_eq!(
            ram_in_bytes("-1").unwrap_err().to_string(),
            "invalid size: '-1'"
        );
        assert!(ram_in_bytes("lots").is_err());
    }

    #[test]
    fn sizes_print_like_go() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(2_746_000.0), "2.746MB");
        assert_eq!(human_size(4_261_290.0), "4.261MB");
        assert_eq!(human_size(999_950.0), "1000kB");
        assert_eq!(human_size(1e27), "1000YB");
        assert_eq!(human_size_with_precision(4_260_000.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(1_234_567.0, 3), "1.23MB");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(44.0 * 1024.0 + 100.0), "44.1KiB");
        assert_eq!(bytes_size(17.0 * 1048576.0), "17MiB");
    }

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(500)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(3600 + 1700)), "About an hour");
        assert_eq!(human_duration(s(3600 * 2 - 1000)), "2 hours");
        assert_eq!(human_duration(s(3600 * 47)), "47 hours");
        assert_eq!(human_duration(s(3600 * 48)), "2 days");
        assert_eq!(human_duration(s(3600 * 24 * 15)), "2 weeks");
        assert_eq!(human_duration(s(3600 * 24 * 61)), "2 months");
        assert_eq!(human_duration(s(3600 * 24 * 365 * 3)), "3 years");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("-1s"), None);
        // Past int64 nanoseconds (found by the dockerfile fuzz target in a
        // HEALTHCHECK --interval): refused as Go refuses it, no panic.
        assert_eq!(
            parse_go_duration("88888888888888888888888888888888830s"),
            None
        );
        assert_eq!(
            parse_go_duration("2562047h"),
            Some(Duration::from_secs(2562047 * 3600))
        );
        assert_eq!(parse_go_duration("2562048h"), None);
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(7200)), "2h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000.0)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.25Z"),
            Some(1_700_000_000.25)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}

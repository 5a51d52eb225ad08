//! Parsing helpers shared by commands: sizes, durations, env files, filters.

use anyhow::{Result, anyhow, bail};
use berth_api::filters::Filters;

/// go-units RAMInBytes: "512m", "1g", "1.5GiB", plain bytes.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    berth_api::units::ram_in_bytes(s.trim()).map_err(|_| anyhow!("invalid size: '{s}'"))
}

/// Go's time.ParseDuration, in nanoseconds, with Go's messages.
pub fn go_duration(s: &str) -> Result<i64> {
    if let Some(d) = berth_api::units::parse_go_duration(s) {
        return Ok(d.as_nanos() as i64);
    }
    let invalid = || anyhow!("time: invalid duration \"{s}\"");
    // Go names what is wrong with the first number's unit.
    let Some(start) = s.find(|c: char| !(c.is_ascii_digit() || c == '.')) else {
        return Err(if s.is_empty() {
            invalid()
        } else {
            anyhow!("time: missing unit in duration \"{s}\"")
        });
    };
    if start == 0 {
        return Err(invalid());
    }
    let rest = &s[start..];
    let unit = &rest[..rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len())];
    if matches!(unit, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
        Err(invalid())
    } else {
        Err(anyhow!("time: unknown unit \"{unit}\" in duration \"{s}\""))
    }
}

/// Reads an env file: KEY=VALUE lines, `#` comments; a bare KEY takes the
/// value from the environment (dropped if unset).
pub fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("open {path}: {}", io_msg(&e)))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.extend(env_entry(l));
    }
    Ok(out)
}

/// `KEY=VALUE` kept; bare `KEY` expanded from the environment when set.
pub fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

pub fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `-f key=value` flags as the `filters` parameter.
pub fn filters(flags: &[String]) -> Result<Filters> {
    let mut f = Filters::new();
    for flag in flags {
        f.parse_flag(flag).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(f)
}

/// `--since`/`--until` values: RFC3339 dates, durations ("10m") or unix
/// timestamps, converted to the `secs[.nanos]` form the API takes.
pub fn timestamp(value: &str) -> Result<String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(value.to_string());
    }
    if let Ok(d) = go_duration(value) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let t = now.as_nanos() as i64 - d;
        return Ok(format!(
            "{}.{:09}",
            t.div_euclid(1_000_000_000),
            t.rem_euclid(1_000_000_000)
        ));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"] {
        let parsed = chrono::NaiveDateTime::parse_from_str(value, f)
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(value, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            });
        if let Some(n) = parsed {
            use chrono::TimeZone;
            if let Some(t) = chrono::Local.from_local_datetime(&n).single() {
                return Ok(format!("{}.{:09}", t.timestamp(), 0));
            }
        }
    }
    bail!("failed to parse value as time or duration: \"{value}\"")
}

/// Splits `repo[:tag]` (a `:` after the last `/`) into (repo, tag).
pub fn split_ref(r: &str) -> (String, String) {
    if let Some((name, _digest)) = r.split_once('@') {
        return (name.to_string(), String::new());
    }
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => (r[..slash + i].to_string(), r[slash + i + 1..].to_string()),
        None => (r.to_string(), String::new()),
    }
}

/// Fully normalised name: `busybox` → `docker.io/library/busybox`.
pub fn normalize_name(repo: &str) -> String {
    let first = repo.split('/').next().unwrap_or("");
    let has_domain =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_domain {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(go_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(
            go_duration("5").unwrap_err().to_string(),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            go_duration("5x").unwrap_err().to_string(),
            "time: unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(
            go_duration("x").unwrap_err().to_string(),
            "time: invalid duration \"x\""
        );
        assert_eq!(
            split_ref("localhost:5000/a/b:1"),
            ("localhost:5000/a/b".into(), "1".into())
        );
        assert_eq!(split_ref("busybox"), ("busybox".into(), "".into()));
        assert_eq!(normalize_name("busybox"), "docker.io/library/busybox");
        assert_eq!(normalize_name("a/b"), "docker.io/a/b");
        assert_eq!(normalize_name("localhost:5000/b"), "localhost:5000/b");
    }
}

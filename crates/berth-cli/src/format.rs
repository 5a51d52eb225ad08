//! Output formatting: docker's tabwriter tables, `--format` handling and the
//! go-units human sizes and durations.

use anyhow::Result;

use crate::template::{TVal, Template};

/// Go's text/tabwriter with docker's settings (minwidth 10, padding 3, ' ').
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, 10)
}

/// Go's text/tabwriter with the given minimum cell width and padding 3.
pub fn tabwrite_min(text: &str, minwidth: usize) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l).split('\t').collect())
        .collect();
    let mut out = String::new();
    // Go's tabwriter aligns column blocks: consecutive lines that have a cell
    // in column c (a cell is tab-terminated).
    let ncols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
    for c in 0..ncols {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() <= c + 1 {
                i += 1;
                continue;
            }
            let start = i;
            let mut w = 0;
            while i < lines.len() && lines[i].len() > c + 1 {
                w = w.max(lines[i][c].chars().count());
                i += 1;
            }
            let w = (w + 3).max(minwidth);
            for wl in widths.iter_mut().take(i).skip(start) {
                wl[c] = w;
            }
        }
    }
    for (li, l) in lines.iter().enumerate() {
        for (c, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < l.len() {
                let pad = widths[li][c].saturating_sub(cell.chars().count());
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    }
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Renders rows with a docker `--format` (or the default table format);
/// `header` is the context whose fields hold the column titles.
pub fn render(format: &str, rows: &[TVal], header: &TVal) -> Result<String> {
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, format.to_string()),
    };
    let body = if format == "json" {
        "{{json .}}".to_string()
    } else {
        body
    };
    let body = unescape(&body);
    let tmpl = Template::parse(&body)?;
    let mut out = String::new();
    if is_table {
        let mut hdr = header.clone();
        if let TVal::Obj(o) = &mut hdr {
            // .Label "x" in a header prints LABEL
            o.push(("__Label".into(), TVal::Missing));
        }
        let h = tmpl.render(&hdr).unwrap_or_default();
        out.push_str(&h);
        out.push('\n');
    }
    for r in rows {
        out.push_str(&tmpl.render(r)?);
        out.push('\n');
    }
    Ok(if is_table { tabwrite(&out) } else { out })
}

/// A typed record as template data: its fields as serde names them, in
/// their declared order.
pub fn tval<T: serde::Serialize>(v: &T) -> TVal {
    serde_json::to_value(v)
        .and_then(serde_json::from_value)
        .unwrap_or(TVal::Null)
}

/// A row of a docker CLI format context (berth_api::cli) as template data.
pub fn context<T: serde::Serialize>(v: &T) -> TVal {
    tval(v).marshals_json()
}

/// A context that marshals as `json` (a context too) in `{{json .}}`.
pub fn with_json_form(mut ctx: TVal, json: TVal) -> TVal {
    if let TVal::Obj(o) = &mut ctx {
        o.push((crate::template::JSON_FORM.to_string(), json));
    }
    ctx
}

/// A context with a method taking a key (`{{.Label "k"}}`): the template
/// engine looks for `__<method>` and indexes it.
pub fn with_method(mut ctx: TVal, method: &str, map: &berth_api::StringMap) -> TVal {
    if let TVal::Obj(o) = &mut ctx {
        o.push((
            format!("__{method}"),
            TVal::Obj(
                map.iter()
                    .map(|(k, v)| (k.clone(), TVal::s(v.as_str())))
                    .collect(),
            ),
        ));
    }
    ctx
}

/// A header context with an extra column title (docker's `LABEL` for
/// `.Label`, which is a method, not a field).
pub fn with_title(mut header: TVal, field: &str, title: &str) -> TVal {
    if let TVal::Obj(o) = &mut header {
        o.push((field.to_string(), TVal::s(title)));
    }
    header
}

/// docker turns the two-character sequences `\t` and `\n` into real characters.
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// go-units HumanSizeWithPrecision.
pub fn human_size_prec(size: f64, prec: usize) -> String {
    berth_api::units::human_size_with_precision(size, prec)
}

/// go-units HumanSize (precision 4).
pub fn human_size(size: f64) -> String {
    berth_api::units::human_size(size)
}

/// go-units BytesSize.
pub fn bytes_size(size: f64) -> String {
    berth_api::units::bytes_size(size)
}

/// go-units HumanDuration of a number of seconds (negative ones, a clock
/// ahead of the daemon's, are "Less than a second").
pub fn human_duration(secs: f64) -> String {
    berth_api::units::human_duration(std::time::Duration::from_secs_f64(secs.max(0.0)))
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// "2 hours ago" for a unix timestamp.
pub fn ago(ts: i64) -> String {
    format!("{} ago", human_duration(now_secs() - ts as f64))
}

/// Go's time.Time String() in local time: `2006-01-02 15:04:05 -0700 MST`.
pub fn go_time(ts: i64) -> String {
    use chrono::{Local, TimeZone};
    match Local.timestamp_opt(ts, 0).single() {
        Some(t) => {
            let off = t.format("%z").to_string();
            let zone = if off == "+0000" {
                "UTC".to_string()
            } else {
                t.format("%Z").to_string()
            };
            format!("{} {off} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
        }
        None => String::new(),
    }
}

/// Truncated IDs: strips `sha256:` and keeps 12 characters.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Docker's Ellipsis: keeps `max` runes, the last one being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Re-indents raw JSON like Go's json.Indent(prefix "", indent "    "),
/// keeping the daemon's key order.
pub fn indent_json(raw: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    let nl = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(d));
    };
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                // empty object/array stays compact
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.get(j) == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i = j + 1;
                    continue;
                }
                out.push(c);
                depth += 1;
                nl(&mut out, depth);
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                nl(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                nl(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size_prec(4_260_000.0, 3), "4.26MB");
        assert_eq!(human_size_prec(1_000.0, 3), "1kB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(999.0, 3), "999B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.5), "Less than a second");
        assert_eq!(human_duration(75.0), "About a minute");
        assert_eq!(human_duration(7200.0), "2 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
    }

    #[test]
    fn table() {
        let t = tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\n");
        assert_eq!(
            t,
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n"
        );
    }

    #[test]
    fn indent() {
        assert_eq!(
            indent_json(r#"[{"a":1,"b":[],"c":{"d":"x,y"}}]"#),
            "[\n    {\n        \"a\": 1,\n        \"b\": [],\n        \"c\": {\n            \"d\": \"x,y\"\n        }\n    }\n]"
        );
    }
}

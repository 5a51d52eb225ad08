//! The JSON message streams of pull, push, load and import, shown as the
//! docker CLI shows them (moby's `jsonmessage.DisplayJSONMessagesStream`):
//!
//! - on a terminal, one line per layer id, redrawn in place with cursor
//!   movements (`ESC[nA` up, `ESC[2K` erase, `ESC[nB` down) and progress
//!   bars when the terminal is wider than 110 columns;
//! - elsewhere, status lines only: messages whose progress has numbers
//!   (`Downloading`, `Extracting`, `Pushing`) are left out.
//!
//! A message with `errorDetail` ends the stream with its message as the
//! error; `aux` messages go to a callback.

use std::io::{BufReader, Read, Write};

use anyhow::{Result, anyhow};
use berth_api::jsonmessage::{JsonMessage, ProgressDetail};

/// Where a stream is shown.
pub struct Target<'a> {
    pub out: &'a mut dyn Write,
    /// The descriptor whose window size sets the bar's width.
    pub fd: i32,
    pub is_terminal: bool,
}

impl<'a> Target<'a> {
    /// Standard output or error, as docker's streams.Out sees it.
    pub fn std(out: &'a mut dyn Write, fd: i32) -> Target<'a> {
        Target {
            out,
            fd,
            is_terminal: crate::term::is_tty(fd),
        }
    }

    /// docker's `streams.NewOut(io.Discard)` (`--quiet`).
    pub fn discard(out: &'a mut dyn Write) -> Target<'a> {
        Target {
            out,
            fd: -1,
            is_terminal: false,
        }
    }
}

/// The terminal's width for the bar: 200 when `fd` has no window size.
fn width(fd: i32) -> usize {
    if fd < 0 {
        return 200;
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes the winsize it is given.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 {
        ws.ws_col as usize
    } else {
        200
    }
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Go's `time.Duration.String` of whole seconds.
fn go_seconds(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// `JSONProgress.String()` for a terminal `width` columns wide; `now` in
/// Unix nanoseconds.
pub fn progress_string(p: &ProgressDetail, width: usize, now: i128) -> String {
    let current = p.current.unwrap_or(0);
    let total = p.total.unwrap_or(0);
    let start = p.start.unwrap_or(0);
    let size = |n: i64| berth_api::units::human_size(n as f64);
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return if p.units.is_empty() {
            format!("{:>8}", size(current))
        } else {
            format!("{current} {}", p.units)
        };
    }
    let percentage = (((current as f64 / total as f64) * 100.0) as i64 / 2).min(50);
    let mut bar = String::new();
    if width > 110 {
        let spaces = (50 - percentage).max(0) as usize;
        bar = format!(
            "[{}>{}] ",
            "=".repeat(percentage.max(0) as usize),
            " ".repeat(spaces)
        );
    }
    let numbers = if p.hide_counts {
        String::new()
    } else if p.units.is_empty() {
        if current > total {
            format!("{:>8}", size(current))
        } else {
            format!("{:>8}/{}", size(current), size(total))
        }
    } else if current > total {
        format!("{current} {}", p.units)
    } else {
        format!("{current}/{total} {}", p.units)
    };
    let mut left = String::new();
    if width > 50 && current > 0 && start > 0 && percentage < 50 {
        let from_start = now - start as i128 * 1_000_000_000;
        let per_entry = from_start / current as i128;
        let left_ns = (total - current) as i128 * per_entry;
        // Duration.Round(time.Second): halves away from zero.
        let secs = if left_ns >= 0 {
            (left_ns + 500_000_000) / 1_000_000_000
        } else {
            (left_ns - 500_000_000) / 1_000_000_000
        };
        left = format!(" {}", go_seconds(secs as i64));
    }
    bar + &numbers + &left
}

/// Go's `RFC3339NanoFixed` in the local zone.
fn rfc3339_nano_fixed(nanos: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000) as u32,
    ) {
        chrono::LocalResult::Single(t) => {
            let zone = t.format("%:z").to_string();
            let zone = if zone == "+00:00" { "Z".into() } else { zone };
            format!("{}{zone}", t.format("%Y-%m-%dT%H:%M:%S%.9f"))
        }
        _ => String::new(),
    }
}

/// `JSONMessage.Display`.
fn display_one(m: &JsonMessage, t: &mut Target<'_>, width: usize) -> Result<()> {
    if let Some(e) = &m.error_detail {
        return Err(anyhow!("{}", e.message));
    }
    let stream = m.stream.as_deref().unwrap_or("");
    let status = m.status.as_deref().unwrap_or("");
    let pmsg = m.progress.as_deref().unwrap_or("");
    let progress = m
        .progress_detail
        .as_ref()
        .map(|p| progress_string(p, width, now_nanos()));
    let mut s = String::new();
    let mut endl = "";
    if t.is_terminal && stream.is_empty() && progress.is_some() {
        s.push_str("\x1b[2K\r");
        endl = "\r";
    } else if progress.as_deref().is_some_and(|p| !p.is_empty()) {
        return Ok(());
    }
    if let Some(n) = m.time_nano.filter(|n| *n != 0) {
        s.push_str(&rfc3339_nano_fixed(n));
        s.push(' ');
    } else if let Some(n) = m.time.filter(|n| *n != 0) {
        s.push_str(&rfc3339_nano_fixed(n.saturating_mul(1_000_000_000)));
        s.push(' ');
    }
    if let Some(id) = m.id.as_deref().filter(|i| !i.is_empty()) {
        s.push_str(id);
        s.push_str(": ");
    }
    if let Some(from) = m.from.as_deref().filter(|f| !f.is_empty()) {
        s.push_str(&format!("(from {from}) "));
    }
    match &progress {
        Some(p) if t.is_terminal => s.push_str(&format!("{status} {p}{endl}")),
        _ if !pmsg.is_empty() => s.push_str(&format!("{status} {pmsg}{endl}")),
        _ if !stream.is_empty() => s.push_str(&format!("{stream}{endl}")),
        _ => s.push_str(&format!("{status}{endl}\n")),
    }
    t.out.write_all(s.as_bytes())?;
    Ok(())
}

/// `DisplayJSONMessagesStream`: shows the messages of `input` on `t`.
pub fn display(
    input: impl Read,
    t: &mut Target<'_>,
    mut aux: impl FnMut(&serde_json::Value),
) -> Result<()> {
    let width = width(t.fd);
    let mut ids: std::collections::HashMap<String, usize> = Default::default();
    let de = serde_json::Deserializer::from_reader(BufReader::new(input));
    for m in de.into_iter::<JsonMessage>() {
        let m = m.map_err(|e| {
            if e.is_eof() {
                anyhow!("unexpected EOF")
            } else {
                anyhow!("{e}")
            }
        })?;
        if let Some(a) = &m.aux {
            aux(a);
            continue;
        }
        let id = m.id.as_deref().unwrap_or("");
        let has_progress =
            m.progress_detail.is_some() || m.progress.as_deref().is_some_and(|p| !p.is_empty());
        let mut diff = 0;
        if !id.is_empty() && has_progress {
            let n = ids.len();
            let line = match ids.get(id) {
                Some(l) => *l,
                None => {
                    ids.insert(id.to_string(), n);
                    if t.is_terminal {
                        t.out.write_all(b"\n")?;
                    }
                    n
                }
            };
            diff = ids.len() - line;
            if t.is_terminal && diff > 0 {
                write!(t.out, "\x1b[{diff}A")?;
            }
        } else {
            ids.clear();
        }
        let r = display_one(&m, t, width);
        if !id.is_empty() && t.is_terminal && diff > 0 {
            write!(t.out, "\x1b[{diff}B")?;
        }
        t.out.flush()?;
        r?;
    }
    t.out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(stream: &str, terminal: bool) -> (String, Result<()>) {
        let mut out = Vec::new();
        let mut t = Target {
            out: &mut out,
            fd: -1,
            is_terminal: terminal,
        };
        let r = display(stream.as_bytes(), &mut t, |_| {});
        (String::from_utf8(out).unwrap(), r)
    }

    const PULL: &str = concat!(
        r#"{"status":"Pulling from berth-test-cli-big","id":"v1"}"#,
        "\r\n",
        r#"{"status":"Already exists","progressDetail":{},"id":"fc0c3b548ec3"}"#,
        "\r\n",
        r#"{"status":"Pulling fs layer","progressDetail":{},"id":"12492f2ec5d8"}"#,
        r#"{"status":"Downloading","progressDetail":{"current":36445,"total":3001127},"progress":"[\u003e  ]  36.45kB/3.001MB","id":"12492f2ec5d8"}"#,
        r#"{"status":"Pull complete","progressDetail":{},"id":"12492f2ec5d8"}"#,
        "\n",
        r#"{"status":"Digest: sha256:ff"}"#,
        r#"{"status":"Status: Downloaded newer image for x:v1"}"#,
    );

    #[test]
    fn plain_form_skips_progress() {
        let (out, r) = show(PULL, false);
        r.unwrap();
        assert_eq!(
            out,
            "v1: Pulling from berth-test-cli-big\nfc0c3b548ec3: Already exists\n12492f2ec5d8: Pulling fs layer\n12492f2ec5d8: Pull complete\nDigest: sha256:ff\nStatus: Downloaded newer image for x:v1\n"
        );
    }

    #[test]
    fn terminal_form_redraws_lines() {
        let (out, r) = show(PULL, true);
        r.unwrap();
        // What docker 28 writes (width 200: no terminal here).
        assert_eq!(
            out,
            concat!(
                "v1: Pulling from berth-test-cli-big\n",
                "\n\x1b[1A\x1b[2K\rfc0c3b548ec3: Already exists \r\x1b[1B",
                "\n\x1b[1A\x1b[2K\r12492f2ec5d8: Pulling fs layer \r\x1b[1B",
                "\x1b[1A\x1b[2K\r12492f2ec5d8: Downloading [>                                                  ]  36.45kB/3.001MB\r\x1b[1B",
                "\x1b[1A\x1b[2K\r12492f2ec5d8: Pull complete \r\x1b[1B",
                "Digest: sha256:ff\n",
                "Status: Downloaded newer image for x:v1\n",
            )
        );
    }

    #[test]
    fn errors_and_aux() {
        let (out, r) = show(
            r#"{"status":"Preparing","progressDetail":{},"id":"c4"}{"errorDetail":{"message":"no basic auth credentials"},"error":"no basic auth credentials"}{"status":"never"}"#,
            false,
        );
        assert_eq!(out, "c4: Preparing\n");
        assert_eq!(r.unwrap_err().to_string(), "no basic auth credentials");
        // `error` without `errorDetail` is not an error for docker
        let (out, r) = show(r#"{"error":"x"}"#, false);
        assert!(r.is_ok());
        assert_eq!(out, "\n");
        let mut seen = Vec::new();
        let mut sink = Vec::new();
        let mut t = Target::discard(&mut sink);
        display(
            &br#"{"status":"v1: digest: sha256:ab size: 739"}{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:ab","Size":739}}"#[..],
            &mut t,
            |a| seen.push(a.clone()),
        )
        .unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["Size"], 739);
        let (_, r) = show(r#"{"status":"x""#, false);
        assert_eq!(r.unwrap_err().to_string(), "unexpected EOF");
    }

    #[test]
    fn progress_like_docker() {
        let p = |c: i64, t: i64| ProgressDetail {
            current: Some(c),
            total: Some(t),
            ..Default::default()
        };
        assert_eq!(progress_string(&p(0, 0), 200, 0), "");
        assert_eq!(progress_string(&p(1500, 0), 200, 0), "   1.5kB");
        assert_eq!(
            progress_string(&p(1_419_776, 1_984_240), 200, 0),
            "[===================================>               ]   1.42MB/1.984MB"
        );
        assert_eq!(
            progress_string(&p(2_129_920, 1_984_240), 100, 0),
            "  2.13MB"
        );
        assert_eq!(progress_string(&p(50, 100), 80, 0), "     50B/100B");
        let units = ProgressDetail {
            current: Some(3),
            total: Some(10),
            units: "items".into(),
            ..Default::default()
        };
        assert_eq!(progress_string(&units, 80, 0), "3/10 items");
        let hidden = ProgressDetail {
            hide_counts: true,
            ..p(5, 10)
        };
        assert_eq!(
            progress_string(&hidden, 120, 0),
            "[=========================>                         ] "
        );
        // 25 of 100 bytes in 10 s: 30 s to go
        let timed = ProgressDetail {
            start: Some(1000),
            ..p(25, 100)
        };
        assert_eq!(
            progress_string(&timed, 80, 1010 * 1_000_000_000),
            "     25B/100B 30s"
        );
        assert_eq!(go_seconds(3725), "1h2m5s");
        assert_eq!(go_seconds(60), "1m0s");
    }
}

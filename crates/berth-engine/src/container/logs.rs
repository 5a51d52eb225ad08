//! `GET /containers/{id}/logs` (and attach's `logs=1`): the json-file log
//! as Docker streams it — multiplexed frames, raw with a tty — with tail,
//! since/until, timestamps and follow.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_api::stdcopy::{self, Stream};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::Engine;
use crate::model::LogOptions;

/// One line of the json-file log (Docker's format).
#[derive(Deserialize)]
struct Line {
    log: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    time: String,
}

fn parse(line: &str) -> Option<Line> {
    serde_json::from_str(line).ok()
}

fn secs(t: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp() as f64 + f64::from(d.timestamp_subsec_nanos()) / 1e9)
        .unwrap_or(0.0)
}

/// A line as it goes to the client (None: filtered out).
fn frame(l: &Line, o: &LogOptions, tty: bool) -> Option<Bytes> {
    let stream = if l.stream == "stderr" {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    if (stream == Stream::Stdout && !o.stdout) || (stream == Stream::Stderr && !o.stderr) {
        return None;
    }
    let t = secs(&l.time);
    if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t > u) {
        return None;
    }
    let mut payload = String::new();
    if o.timestamps {
        payload.push_str(&l.time);
        payload.push(' ');
    }
    payload.push_str(&l.log);
    if payload.is_empty() {
        return None;
    }
    Some(Bytes::from(if tty {
        payload.into_bytes()
    } else {
        stdcopy::encode(stream, payload.as_bytes())
    }))
}

/// The log files, rotated ones first (oldest first).
fn files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for n in (1..10).rev() {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if p.exists() {
            files.push(p);
        }
    }
    files.push(path.to_path_buf());
    files
}

/// Walk the whole lines logged so far, oldest first, one at a time (a log
/// of gigabytes is never in memory); `visit` returns false to stop. Returns
/// where the current file's whole lines end (to follow from), None when
/// stopped.
fn whole_lines(path: &Path, mut visit: impl FnMut(&str) -> bool) -> Option<u64> {
    let mut pos = 0u64;
    for f in files(path) {
        let Ok(file) = std::fs::File::open(&f) else {
            continue;
        };
        let mut r = std::io::BufReader::new(file);
        let mut buf = String::new();
        while r.read_line(&mut buf).unwrap_or(0) > 0 {
            if !buf.ends_with('\n') {
                break;
            }
            if !visit(&buf) {
                return None;
            }
            buf.clear();
        }
        if f == path {
            pos = r.stream_position().unwrap_or(0) - buf.len() as u64;
        }
    }
    Some(pos)
}

/// The parsed lines from the `skip`-th on (see [`whole_lines`]).
fn each_line(path: &Path, skip: usize, mut visit: impl FnMut(Line) -> bool) -> Option<u64> {
    let mut seen = 0usize;
    whole_lines(path, |raw| {
        seen += 1;
        seen <= skip || parse(raw).is_none_or(&mut visit)
    })
}

/// How many lines to skip for `tail` (a first pass counting them).
fn tail_skip(path: &Path, tail: Option<usize>) -> usize {
    let Some(n) = tail else {
        return 0;
    };
    let mut total = 0usize;
    whole_lines(path, |_| {
        total += 1;
        true
    });
    total.saturating_sub(n)
}

/// The frames of what is logged so far (attach with `logs=1`).
pub fn past(path: &Path, o: &LogOptions, tty: bool) -> Vec<Bytes> {
    let mut out = Vec::new();
    each_line(path, tail_skip(path, o.tail), |l| {
        out.extend(frame(&l, o, tty));
        true
    });
    out
}

impl Engine {
    /// Stream a container's log into `tx` (ends when done, or at exit with follow).
    pub fn logs(self: &Arc<Self>, id: String, o: LogOptions, tx: mpsc::Sender<Bytes>) {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(c) = this.containers.get(&id) else {
                return;
            };
            let tty = c.tty();
            let path = PathBuf::from(&c.log_path);
            // The client's pace: a full channel blocks the reading here.
            let sent = each_line(&path, tail_skip(&path, o.tail), |l| {
                frame(&l, &o, tty).is_none_or(|b| tx.blocking_send(b).is_ok())
            });
            let Some(mut pos) = sent else {
                return;
            };
            if !o.follow {
                return;
            }
            // Follow: read what is appended until the container is no longer running.
            let Ok(mut w) = this.containers.watcher(&id) else {
                return;
            };
            let exits0 = w.borrow_and_update().exits;
            let mut partial = String::new();
            loop {
                let running = this.containers.with(&id, |c| c.running()).unwrap_or(false);
                let ended = !running || w.borrow().exits > exits0 || w.borrow().removed;
                if let Ok(mut f) = std::fs::File::open(&path) {
                    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                    if len < pos {
                        pos = 0; // rotated
                    }
                    if f.seek(SeekFrom::Start(pos)).is_ok() {
                        let mut r = std::io::BufReader::new(f);
                        loop {
                            let n = r.read_line(&mut partial).unwrap_or(0);
                            if n == 0 || !partial.ends_with('\n') {
                                break;
                            }
                            pos += partial.len() as u64;
                            if let Some(l) = parse(&partial)
                                && let Some(b) = frame(&l, &o, tty)
                                && tx.blocking_send(b).is_err()
                            {
                                return;
                            }
                            partial.clear();
                        }
                        partial.clear();
                    }
                }
                if ended || tx.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_filters_and_tail() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c-json.log");
        std::fs::write(
            &p,
            concat!(
                "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:01Z\"}\n",
                "{\"log\":\"two\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-01T00:00:02Z\"}\n",
                "{\"log\":\"three\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:03Z\"}\n",
                "{\"log\":\"partial"
            ),
        )
        .unwrap();
        let all = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let f = past(&p, &all, false);
        assert_eq!(f.len(), 3);
        assert_eq!(&f[1][..8], &[2, 0, 0, 0, 0, 0, 0, 4]);
        let raw = past(&p, &all, true);
        assert_eq!(&raw[0][..], b"one\n");
        let o = LogOptions {
            tail: Some(1),
            ..all.clone()
        };
        assert_eq!(&past(&p, &o, true)[0][..], b"three\n");
        let o = LogOptions {
            stderr: false,
            ..all.clone()
        };
        assert_eq!(past(&p, &o, true).len(), 2);
        let o = LogOptions {
            since: Some(1_704_067_202.0),
            ..all.clone()
        };
        assert_eq!(past(&p, &o, true).len(), 2);
        let o = LogOptions {
            timestamps: true,
            ..all
        };
        assert_eq!(&past(&p, &o, true)[0][..], b"2024-01-01T00:00:01Z one\n");
    }
}

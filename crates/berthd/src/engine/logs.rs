//! `GET /containers/{id}/logs`: the json-file log as Docker streams it
//! (multiplexed frames, raw with a tty), with tail, since/until, timestamps
//! and follow.

use std::io::{BufRead, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::Engine;

#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// None: all.
    pub tail: Option<usize>,
    /// Unix seconds (fractional).
    pub since: Option<f64>,
    pub until: Option<f64>,
}

struct Line {
    stream: u8,
    text: String,
    time: String,
}

fn parse(line: &str) -> Option<Line> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(Line {
        stream: if v["stream"] == "stderr" { 2 } else { 1 },
        text: v["log"].as_str()?.to_string(),
        time: v["time"].as_str().unwrap_or_default().to_string(),
    })
}

fn secs(t: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp() as f64 + f64::from(d.timestamp_subsec_nanos()) / 1e9)
        .unwrap_or(0.0)
}

fn frame(l: &Line, o: &LogOptions, tty: bool) -> Option<Bytes> {
    if (l.stream == 1 && !o.stdout) || (l.stream == 2 && !o.stderr) {
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
    payload.push_str(&l.text);
    if payload.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(payload.len() + 8);
    if !tty {
        out.extend_from_slice(&[l.stream, 0, 0, 0]);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(payload.as_bytes());
    Some(Bytes::from(out))
}

impl Engine {
    /// Stream a container's log into `tx` (ends when done, or at exit with follow).
    pub fn logs(self: &Arc<Self>, id: String, o: LogOptions, tx: mpsc::Sender<Bytes>) {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(c) = this.get(&id) else { return };
            let tty = c.tty();
            let path = std::path::PathBuf::from(&c.log_path);
            // Rotated files first, oldest first.
            let mut files = Vec::new();
            for n in (1..10).rev() {
                let p = std::path::PathBuf::from(format!("{}.{n}", path.display()));
                if p.exists() {
                    files.push(p);
                }
            }
            files.push(path.clone());
            let mut lines: Vec<Line> = Vec::new();
            let mut pos = 0u64;
            for f in &files {
                let Ok(file) = std::fs::File::open(f) else {
                    continue;
                };
                let mut r = std::io::BufReader::new(file);
                let mut buf = String::new();
                while r.read_line(&mut buf).unwrap_or(0) > 0 {
                    if buf.ends_with('\n') {
                        if let Some(l) = parse(&buf) {
                            lines.push(l);
                        }
                        buf.clear();
                    } else {
                        break;
                    }
                }
                if f == &path {
                    pos = r.stream_position().unwrap_or(0) - buf.len() as u64;
                }
            }
            let skip = o.tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
            for l in &lines[skip..] {
                if let Some(b) = frame(l, &o, tty)
                    && tx.blocking_send(b).is_err()
                {
                    return;
                }
            }
            if !o.follow {
                return;
            }
            // Follow: read what is appended until the container is no longer running.
            let mut w = match this.watcher(&id) {
                Ok(w) => w,
                Err(_) => return,
            };
            let exits0 = w.borrow_and_update().exits;
            let mut partial = String::new();
            loop {
                let running = this.get(&id).map(|c| c.running()).unwrap_or(false);
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

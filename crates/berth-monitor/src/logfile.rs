//! Docker's `json-file` log format, with size-based rotation
//! (`--log-opt max-size=… max-file=…`).
//!
//! One JSON object per line: `{"log":"text\n","stream":"stdout","time":"<RFC3339Nano>"}`.
//! Output is split at newlines; a partial line is written as is when the
//! buffer fills or the stream ends, as Docker does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The longest line kept in one entry before it is split.
const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// Rotate when a write would pass this size (0: never).
    max_size: u64,
    /// Files kept, the current one included (≥ 1).
    max_file: u32,
    /// Pending partial lines of stdout and stderr.
    pending: [Vec<u8>; 2],
}

impl LogFile {
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> std::io::Result<LogFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Log output of stream 1 (stdout) or 2 (stderr).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let i = usize::from(stream == 2);
        self.pending[i].extend_from_slice(data);
        loop {
            let buf = &self.pending[i];
            let cut = match buf.iter().position(|b| *b == b'\n') {
                Some(p) => p + 1,
                None if buf.len() >= MAX_LINE => MAX_LINE,
                None => break,
            };
            let line: Vec<u8> = self.pending[i].drain(..cut).collect();
            self.entry(i, &line);
        }
    }

    /// Write out partial lines (the streams ended).
    pub fn flush(&mut self) {
        for i in 0..2 {
            if !self.pending[i].is_empty() {
                let line = std::mem::take(&mut self.pending[i]);
                self.entry(i, &line);
            }
        }
        let _ = self.file.flush();
    }

    fn entry(&mut self, i: usize, line: &[u8]) {
        let e = Entry {
            log: &String::from_utf8_lossy(line),
            stream: if i == 0 { "stdout" } else { "stderr" },
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        };
        let mut out = serde_json::to_vec(&e).expect("serialises");
        out.push(b'\n');
        if self.max_size > 0 && self.size > 0 && self.size + out.len() as u64 > self.max_size {
            self.rotate();
        }
        if self.file.write_all(&out).is_ok() {
            self.size += out.len() as u64;
        }
    }

    /// log → log.1 → … → log.(max_file-1); the oldest goes.
    fn rotate(&mut self) {
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_file > 1 {
            for n in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(n), name(n + 1));
            }
            let _ = std::fs::rename(&self.path, name(1));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Ok(f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_keeps_streams_apart() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = LogFile::open(&p, 0, 1).unwrap();
        l.write(1, b"hel");
        l.write(2, b"oops\n");
        l.write(1, b"lo\nwor");
        l.flush();
        let v = lines(&p);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0]["log"], "oops\n");
        assert_eq!(v[0]["stream"], "stderr");
        assert_eq!(v[1]["log"], "hello\n");
        assert_eq!(v[1]["stream"], "stdout");
        assert_eq!(v[2]["log"], "wor");
        assert!(v[2]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rotates_at_max_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = LogFile::open(&p, 300, 3).unwrap();
        for i in 0..20 {
            l.write(1, format!("line {i}\n").as_bytes());
        }
        l.flush();
        assert!(std::fs::metadata(&p).unwrap().len() <= 300);
        assert!(d.path().join("c-json.log.1").exists());
        assert!(d.path().join("c-json.log.2").exists());
        assert!(!d.path().join("c-json.log.3").exists());
        let last = lines(&p);
        assert_eq!(last.last().unwrap()["log"], "line 19\n");
    }
}

//! Small shared pieces: ids, names, time, the undo list, blocking calls.

use std::future::Future;

use crate::{Error, Result};

/// A 64-hex-digit random id (containers, exec instances, networks).
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("random bytes");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Unix seconds of an RFC 3339 time (0 if it is not one).
pub fn unix_seconds(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

/// How long ago `t` was (zero if it is not a time or in the future).
pub fn since(t: &str) -> std::time::Duration {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}

/// Steps to take back if an operation fails half-way: each step that
/// creates something pushes its undo; `commit` keeps everything, dropping
/// the list undoes in reverse order.
#[derive(Default)]
pub struct Undo {
    steps: Vec<(String, Box<dyn FnOnce() + Send>)>,
}

impl Undo {
    pub fn new() -> Undo {
        Undo::default()
    }

    pub fn push(&mut self, what: impl Into<String>, f: impl FnOnce() + Send + 'static) {
        self.steps.push((what.into(), Box::new(f)));
    }

    /// Everything done stays.
    pub fn commit(mut self) {
        self.steps.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some((what, f)) = self.steps.pop() {
            tracing::debug!("undo: {what}");
            f();
        }
    }
}

/// Run blocking work (file systems, the image store, the runtime library)
/// off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(e.to_string()))?
}

/// A runtime library call off the async workers.
pub async fn runtime<T: Send + 'static>(
    f: impl FnOnce() -> berth_runtime::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(e.to_string()))?
        .map_err(|e| Error::system(e.to_string()))
}

/// Log, rather than drop silently, a cleanup step's failure.
pub fn warn_on_err<T, E: std::fmt::Display>(what: &str, r: std::result::Result<T, E>) {
    if let Err(e) = r {
        tracing::warn!("{what}: {e}");
    }
}

/// Remove a directory tree; a missing one is fine, other failures are logged.
pub fn remove_dir(p: &std::path::Path) {
    match std::fs::remove_dir_all(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("remove {}: {e}", p.display()),
    }
}

/// Spawn a task whose error is logged.
pub fn spawn_logged(what: &'static str, f: impl Future<Output = Result<()>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(e) = f.await {
            tracing::warn!("{what}: {e}");
        }
    });
}

/// The blocking side of a stream (a download, a request body): chunks
/// from a channel as a `Read`.
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl ChannelReader {
    pub fn new(rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The other end: a blocking writer whose bytes go, in chunks of up to
/// 64 KiB, to an async receiver (an HTTP body). A few chunks in flight; a
/// receiver gone (client hung up) makes writes fail with `BrokenPipe`.
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

const CHANNEL_CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHANNEL_CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHANNEL_CHUNK));
        self.tx
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    /// End the stream with an error (the receiver aborts the body, so the
    /// client sees a cut archive rather than a short, valid-looking one).
    pub fn fail(self, err: std::io::Error) {
        let _ = self.tx.blocking_send(Err(err)); // the client may be gone: nothing to tell
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHANNEL_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHANNEL_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send(); // best effort: the receiver may be gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn undo_runs_in_reverse_unless_committed() {
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let mut u = Undo::new();
            for i in 0..3 {
                let l = log.clone();
                u.push(format!("step {i}"), move || l.lock().unwrap().push(i));
            }
        }
        assert_eq!(*log.lock().unwrap(), [2, 1, 0]);
        let l = log.clone();
        let mut u = Undo::new();
        u.push("x", move || l.lock().unwrap().push(9));
        u.commit();
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[test]
    fn ids_and_times() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(unix_seconds("2023-11-14T22:13:20Z"), 1_700_000_000);
        assert_eq!(unix_seconds("x"), 0);
    }
}

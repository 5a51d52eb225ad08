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

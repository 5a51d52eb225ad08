//! What pulls and pushes share across the daemon: the download and upload
//! slots (`max-concurrent-downloads` / `-uploads`, counted daemon-wide as
//! dockerd does), a lock per layer so that two pulls wanting the same layer
//! download it once, the retry policy, and the progress of one layer as
//! Docker's JSON messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use berth_api::jsonmessage::JsonMessage;
use tokio::sync::{OwnedMutexGuard, Semaphore, mpsc};

use crate::RegistryOptions;

/// Daemon-wide transfer state.
pub struct Transfers {
    pub downloads: Arc<Semaphore>,
    pub uploads: Arc<Semaphore>,
    pub max_attempts: u32,
    pub keep_pulled_blobs: bool,
    layers: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl Transfers {
    pub fn new(o: &RegistryOptions) -> Transfers {
        Transfers {
            downloads: Arc::new(Semaphore::new(o.max_downloads.max(1))),
            uploads: Arc::new(Semaphore::new(o.max_uploads.max(1))),
            max_attempts: o.max_attempts.max(1),
            keep_pulled_blobs: o.keep_pulled_blobs,
            layers: Mutex::new(HashMap::new()),
        }
    }

    /// Exclusive use of one layer (by chain id) while it is fetched.
    pub async fn lock_layer(&self, key: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut map = self.layers.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, w| w.strong_count() > 0);
            match map.get(key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.to_string(), Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }
}

/// The pause before retry `attempt` (1-based): 0.5 s doubling, at most 8 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64 << attempt.saturating_sub(1).min(4))
}

/// Where a transfer's messages go. A client that went away is not an
/// error for the transfer: it completes, as dockerd's do.
#[derive(Clone)]
pub struct Progress {
    tx: mpsc::Sender<JsonMessage>,
}

impl Progress {
    pub fn new(tx: mpsc::Sender<JsonMessage>) -> Progress {
        Progress { tx }
    }

    pub async fn send(&self, m: JsonMessage) {
        let _ = self.tx.send(m).await;
    }

    pub async fn status(&self, text: impl Into<String>) {
        self.send(JsonMessage::status(text)).await;
    }

    pub async fn item(&self, id: &str, text: &str) {
        self.send(JsonMessage::status_of(id, text)).await;
    }

    pub async fn error(&self, e: &crate::Error) {
        self.send(JsonMessage::error(e.message.clone(), None)).await;
    }
}

/// Byte progress of one layer, sent at most every 100 ms (and at the end).
pub struct Meter {
    id: String,
    text: &'static str,
    total: u64,
    pub current: u64,
    last: Option<Instant>,
}

impl Meter {
    pub fn new(id: &str, text: &'static str, total: u64) -> Meter {
        Meter {
            id: id.to_string(),
            text,
            total,
            current: 0,
            last: None,
        }
    }

    /// `n` more bytes; a message if one is due.
    pub fn add(&mut self, n: u64) -> Option<JsonMessage> {
        self.current += n;
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if !due && self.current < self.total {
            return None;
        }
        self.last = Some(Instant::now());
        Some(JsonMessage::progress_of(
            self.id.clone(),
            self.text,
            self.current as i64,
            self.total as i64,
        ))
    }
}

/// Docker's short id of a layer: 12 hex digits of its digest.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(5), Duration::from_secs(8));
        assert_eq!(backoff(9), Duration::from_secs(8));
    }

    #[test]
    fn meter_throttles_but_always_reports_the_end() {
        let mut m = Meter::new("abc", "Downloading", 10);
        assert!(m.add(1).is_some());
        assert!(m.add(1).is_none());
        let end = m.add(8).unwrap();
        let d = end.progress_detail.unwrap();
        assert_eq!((d.current, d.total), (Some(10), Some(10)));
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[tokio::test]
    async fn one_layer_lock_per_key() {
        let t = Transfers::new(&RegistryOptions::default());
        let g = t.lock_layer("a").await;
        let t = Arc::new(t);
        let t2 = t.clone();
        // Another key is free.
        tokio::spawn(async move { drop(t2.lock_layer("b").await) })
            .await
            .unwrap();
        let t3 = t.clone();
        let waiting = tokio::spawn(async move {
            let _g = t3.lock_layer("a").await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(g);
        waiting.await.unwrap();
    }
}

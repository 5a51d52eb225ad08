//! The event stream (`docker events`): a broadcast channel plus a bounded
//! history for `since`.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

pub struct Bus {
    tx: broadcast::Sender<Value>,
    history: Mutex<VecDeque<Value>>,
}

impl Bus {
    pub fn new() -> Bus {
        Bus {
            tx: broadcast::channel(1024).0,
            history: Mutex::new(VecDeque::new()),
        }
    }

    pub fn subscribe(&self) -> (Vec<Value>, broadcast::Receiver<Value>) {
        let h = self.history.lock().unwrap();
        (h.iter().cloned().collect(), self.tx.subscribe())
    }

    /// Publish an event of `typ` (container, image, …) about `id`.
    pub fn emit(
        &self,
        typ: &str,
        action: &str,
        id: &str,
        attributes: serde_json::Map<String, Value>,
    ) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let mut e = json!({
            "Type": typ,
            "Action": action,
            "Actor": {"ID": id, "Attributes": attributes},
            "scope": "local",
            "time": now.timestamp(),
            "timeNano": nanos,
        });
        if typ == "container" {
            e["status"] = json!(action);
            e["id"] = json!(id);
            if let Some(img) = attributes_image(&e) {
                e["from"] = json!(img);
            }
        }
        {
            let mut h = self.history.lock().unwrap();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(e.clone());
        }
        let _ = self.tx.send(e);
    }
}

fn attributes_image(e: &Value) -> Option<String> {
    e["Actor"]["Attributes"]["image"].as_str().map(String::from)
}

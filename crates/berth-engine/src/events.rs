//! The event stream (`docker events`): a broadcast channel, a bounded
//! history for `since`, and Docker's filters.

use std::collections::VecDeque;
use std::sync::Mutex;

use berth_api::StringMap;
use berth_api::events::{Kind, Message};
use berth_api::filters::Filters;
use tokio::sync::broadcast;

use crate::model::Container;
use crate::{Engine, Result};

const HISTORY: usize = 1024;

/// Filter keys `docker events` takes.
pub const FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

pub struct Bus {
    tx: broadcast::Sender<Message>,
    history: Mutex<VecDeque<Message>>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        Bus {
            tx: broadcast::channel(1024).0,
            history: Mutex::new(VecDeque::new()),
        }
    }

    pub fn subscribe(&self) -> (Vec<Message>, broadcast::Receiver<Message>) {
        let h = self.history.lock().unwrap();
        (h.iter().cloned().collect(), self.tx.subscribe())
    }

    pub fn emit(&self, kind: Kind, action: &str, id: &str, attributes: StringMap) {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let e = Message::new(kind, action, id, attributes, nanos);
        {
            let mut h = self.history.lock().unwrap();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(e.clone());
        }
        // Nobody listening is fine.
        let _ = self.tx.send(e);
    }

    /// How many clients follow the stream.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Whether an event passes `docker events`' filters.
pub fn matches(ev: &Message, f: &Filters) -> bool {
    let attr = |k: &str| ev.actor.attributes.get(k).map(String::as_str);
    f.exact("type", ev.kind.as_str())
        && f.any("event", |v| ev.action == v || ev.action_word() == v)
        && f.any("container", |v| {
            ev.kind == Kind::Container && (ev.actor.id.starts_with(v) || attr("name") == Some(v))
        })
        && f.any("image", |v| {
            attr("image") == Some(v) || ev.actor.id == v || attr("name") == Some(v)
        })
        && f.any("network", |v| {
            ev.kind == Kind::Network && (ev.actor.id.starts_with(v) || attr("name") == Some(v))
        })
        && f.any("volume", |v| ev.kind == Kind::Volume && ev.actor.id == v)
        && f.labels_match("label", &ev.actor.attributes)
        && f.exact("scope", &ev.scope)
}

impl Engine {
    /// A container event with Docker's attributes (image, name, labels).
    pub fn emit_container(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs = c.labels();
        attrs.insert("image".into(), c.image_name().into());
        attrs.insert("name".into(), c.bare_name().into());
        for (k, v) in extra {
            attrs.insert((*k).into(), v.clone());
        }
        self.events.emit(Kind::Container, action, &c.id, attrs);
    }

    pub fn emit_image(&self, id: &str, action: &str, extra: &[(&str, String)]) {
        let attrs = extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        self.events.emit(Kind::Image, action, id, attrs);
    }

    pub fn emit_network(&self, id: &str, action: &str, name: &str, container: Option<&str>) {
        let mut attrs = StringMap::new();
        attrs.insert("name".into(), name.into());
        attrs.insert("type".into(), "bridge".into());
        if let Some(c) = container {
            attrs.insert("container".into(), c.into());
        }
        self.events.emit(Kind::Network, action, id, attrs);
    }

    /// `GET /events`: (past events matching, the live receiver).
    pub fn events_subscribe(
        &self,
        f: &Filters,
        since: Option<f64>,
        until: Option<f64>,
    ) -> Result<(Vec<Message>, broadcast::Receiver<Message>)> {
        f.validate(FILTERS)?;
        let (history, rx) = self.events.subscribe();
        let past = match since {
            Some(s) => history
                .into_iter()
                .filter(|e| {
                    let t = e.time_nano as f64 / 1e9;
                    t >= s && until.is_none_or(|u| t <= u) && matches(e, f)
                })
                .collect(),
            None => Vec::new(),
        };
        Ok((past, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, action: &str, id: &str, attrs: &[(&str, &str)]) -> Message {
        Message::new(
            kind,
            action,
            id,
            attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            0,
        )
    }

    #[test]
    fn filters() {
        let e = ev(
            Kind::Container,
            "exec_create: ls",
            "abcdef",
            &[("name", "web"), ("image", "busybox"), ("k", "v")],
        );
        let f = |j: &str| Filters::parse(j).unwrap();
        assert!(matches(
            &e,
            &f(r#"{"type":["container"],"event":["exec_create"]}"#)
        ));
        assert!(matches(
            &e,
            &f(r#"{"container":["web"],"image":["busybox"],"label":["k=v"]}"#)
        ));
        assert!(matches(&e, &f(r#"{"container":["abc"]}"#)));
        assert!(!matches(&e, &f(r#"{"type":["image"]}"#)));
        assert!(!matches(&e, &f(r#"{"label":["k=w"]}"#)));
        let n = ev(Kind::Network, "create", "n1", &[("name", "front")]);
        assert!(matches(&n, &f(r#"{"network":["front"]}"#)));
        assert!(!matches(&n, &f(r#"{"container":["front"]}"#)));
    }

    #[test]
    fn history_is_bounded() {
        let b = Bus::new();
        for i in 0..(HISTORY + 10) {
            b.emit(Kind::Image, "tag", &i.to_string(), StringMap::new());
        }
        let (h, _rx) = b.subscribe();
        assert_eq!(h.len(), HISTORY);
        assert_eq!(h[0].actor.id, "10");
    }
}

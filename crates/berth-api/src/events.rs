//! `GET /events`: one JSON object per line.

use serde::{Deserialize, Serialize};

use crate::StringMap;

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
    Daemon,
    Plugin,
    Builder,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
            Kind::Network => "network",
            Kind::Daemon => "daemon",
            Kind::Plugin => "plugin",
            Kind::Builder => "builder",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    pub attributes: StringMap,
}

/// One event. Container events also carry the legacy `status`, `id` and
/// `from` fields (dropped by dockerd at API 1.52).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(rename = "status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "from", default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Kind,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Message {
    /// An event of `kind` about `id` at `time_nano` (Unix nanoseconds).
    pub fn new(
        kind: Kind,
        action: &str,
        id: &str,
        attributes: StringMap,
        time_nano: i64,
    ) -> Message {
        let legacy = kind == Kind::Container;
        Message {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: if legacy {
                attributes.get("image").cloned()
            } else {
                None
            },
            kind,
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }

    /// The action's first word (`exec_create: ls` → `exec_create`).
    pub fn action_word(&self) -> &str {
        self.action.split(':').next().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_events_carry_legacy_fields_in_order() {
        let mut a = StringMap::new();
        a.insert("name".into(), "c1".into());
        a.insert("image".into(), "busybox".into());
        let m = Message::new(
            Kind::Container,
            "start",
            "abc",
            a,
            1_700_000_000_123_456_789,
        );
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(
            s,
            r#"{"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"c1"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#
        );
        let n = Message::new(Kind::Network, "create", "n", StringMap::new(), 5);
        assert!(!serde_json::to_string(&n).unwrap().contains("status"));
    }
}

//! The JSON message stream of pull, push, build, load and import: one
//! object per message, each followed by `\r\n` (as dockerd writes them).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    #[serde(rename = "hidecounts", skip_serializing_if = "std::ops::Not::not")]
    pub hide_counts: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub units: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

/// One message. `progressDetail` is written as `{}` for status lines that
/// carry none, as dockerd does for layer progress lines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the message is about (events of old daemons: the image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Unix seconds; clients print the time before the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    #[serde(rename = "timeNano", skip_serializing_if = "Option::is_none")]
    pub time_nano: Option<i64>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    pub fn stream(text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    pub fn status(text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(text.into()),
            ..Default::default()
        }
    }

    /// A status about one item (a layer's short id, a tag).
    pub fn status_of(id: impl Into<String>, text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(text.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail::default()),
            ..Default::default()
        }
    }

    /// Byte progress of one item, with the bar docker-py prints.
    pub fn progress_of(id: impl Into<String>, text: &str, current: i64, total: i64) -> JsonMessage {
        JsonMessage {
            status: Some(text.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: (total > 0).then_some(total),
                ..Default::default()
            }),
            progress: Some(progress_bar(current, total)),
            ..Default::default()
        }
    }

    /// An error: both `errorDetail` (the Go CLI, compose) and `error`
    /// (docker-py) are set.
    pub fn error(message: impl Into<String>, code: Option<i64>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code,
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }

    pub fn aux(v: impl Serialize) -> JsonMessage {
        JsonMessage {
            aux: Some(serde_json::to_value(v).expect("aux serialises")),
            ..Default::default()
        }
    }

    /// The message as dockerd writes it: JSON and `\r\n`.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("json message serialises");
        s.push_str("\r\n");
        s
    }

    pub fn error_message(&self) -> Option<&str> {
        self.error_detail
            .as_ref()
            .map(|e| e.message.as_str())
            .or(self.error.as_deref())
    }
}

/// dockerd's pre-rendered progress text: `[=====>     ]  1.2MB/3.4MB`.
pub fn progress_bar(current: i64, total: i64) -> String {
    let size = |n: i64| crate::units::human_size(n as f64);
    if total <= 0 {
        return format!("{:>8}", size(current));
    }
    let width = 50usize;
    let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let mut bar = "=".repeat(filled);
    if filled < width {
        bar.push('>');
        bar.push_str(&" ".repeat(width - filled - 1));
    }
    format!("[{bar}] {:>8}/{}", size(current), size(total))
}

/// Parse a stream of messages (whitespace or `\r\n` separated, or
/// concatenated) as clients do.
pub fn parse_stream(s: &str) -> Vec<Result<JsonMessage, String>> {
    serde_json::Deserializer::from_str(s)
        .into_iter::<JsonMessage>()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_dockerd_form() {
        assert_eq!(
            JsonMessage::stream("Step 1/2 : FROM busybox\n").to_line(),
            "{\"stream\":\"Step 1/2 : FROM busybox\\n\"}\r\n"
        );
        assert_eq!(
            JsonMessage::status_of("abc", "Pull complete").to_line(),
            "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"abc\"}\r\n"
        );
        let e = JsonMessage::error("boom", Some(1)).to_line();
        assert_eq!(
            e,
            "{\"errorDetail\":{\"code\":1,\"message\":\"boom\"},\"error\":\"boom\"}\r\n"
        );
    }

    #[test]
    fn bars() {
        assert!(progress_bar(50, 100).starts_with("[=========================>"));
        assert!(progress_bar(100, 100).contains("100B/100B"));
        let ms = parse_stream("{\"status\":\"a\"}\r\n{\"status\":\"b\"}{\"stream\":\"c\"}");
        assert_eq!(ms.len(), 3);
    }
}

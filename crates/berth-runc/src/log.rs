//! runc-shaped logging: `time="…" level=… msg="…"` text lines, or JSON objects with
//! `level`, `msg` and `time` (which containerd's shim parses for the last error).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::cli::LogFormat;

struct Runc {
    out: Mutex<Box<dyn Write + Send>>,
    json: bool,
    max: Level,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for Runc {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if *level > self.max {
            return;
        }
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let line = if self.json {
            serde_json::json!({"level": level_name(level), "msg": msg.0, "time": time}).to_string()
        } else {
            format!(
                "time={time:?} level={} msg={}",
                level_name(level),
                serde_json::to_string(&msg.0).unwrap_or_default()
            )
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// Install the logger. Returns whether logs go to stderr (then errors are not
/// printed a second time).
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> bool {
    let (out, to_stderr): (Box<dyn Write + Send>, bool) = match path {
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => (Box::new(f), false),
            Err(_) => (Box::new(std::io::stderr()), true),
        },
        None => (Box::new(std::io::stderr()), true),
    };
    let layer = Runc {
        out: Mutex::new(out),
        json: format == LogFormat::Json,
        max: if debug { Level::DEBUG } else { Level::WARN },
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
    to_stderr
}

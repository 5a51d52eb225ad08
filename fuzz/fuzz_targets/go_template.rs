//! The Go templates of `--format` (berth's CLI engine: `template.rs`
//! and the table/json handling of `format::render`), parsed and executed
//! against data like the CLI's: a `docker ps` row and an inspect record.
//!
//! The input up to its first NUL byte is the format; what follows, when it
//! is JSON, replaces the inspect record (`docker inspect` reads the
//! daemon's JSON into template values, so that is untrusted too).
//!
//! berth-cli is a binary crate: its two modules are compiled in here from
//! their files, unchanged.
#![no_main]

#[path = "../../crates/berth-cli/src/template.rs"]
#[allow(dead_code)]
mod template;

#[path = "../../crates/berth-cli/src/format.rs"]
#[allow(dead_code)]
mod format;

use std::sync::LazyLock;

use berth_api::cli::ContainerContext;
use libfuzzer_sys::fuzz_target;
use template::{TVal, Template};

const INSPECT: &str = r#"{"Id":"4f2c1a9b8e7d","Name":"/web","State":{"Status":"running","Running":true,"Pid":4242,"ExitCode":0},"Config":{"Image":"nginx:1.25","Env":["PATH=/usr/bin","A=b c"],"Labels":{"com.example.tier":"front"},"Cmd":null},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2"}}},"Mounts":[],"RestartCount":3,"SizeRw":1.5e3}"#;

static ROWS: LazyLock<(Vec<TVal>, TVal)> = LazyLock::new(|| {
    let row = ContainerContext {
        command: "\"nginx -g 'daemon off;'\"".into(),
        created_at: "2024-05-01 10:00:00 +0000 UTC".into(),
        id: "4f2c1a9b8e7d".into(),
        image: "nginx:1.25".into(),
        names: "web".into(),
        ports: "0.0.0.0:8080->80/tcp".into(),
        status: "Up 2 hours".into(),
        labels: "com.example.tier=front".into(),
        ..Default::default()
    };
    let header = ContainerContext {
        command: "COMMAND".into(),
        id: "CONTAINER ID".into(),
        image: "IMAGE".into(),
        names: "NAMES".into(),
        ..Default::default()
    };
    (
        vec![
            format::context(&row),
            format::context(&ContainerContext::default()),
        ],
        format::context(&header),
    )
});

static RECORD: LazyLock<TVal> =
    LazyLock::new(|| serde_json::from_str(INSPECT).expect("the inspect record parses"));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (fmt, json) = text.split_once('\0').unwrap_or((&text, ""));
    let own;
    let record = match serde_json::from_str::<TVal>(json) {
        Ok(v) => {
            let _ = v.display();
            let _ = v.to_json();
            own = v;
            &own
        }
        Err(_) => &*RECORD,
    };
    let (rows, header) = &*ROWS;
    let _ = format::render(fmt, rows, header);
    if let Ok(t) = Template::parse(&format::unescape(fmt)) {
        let _ = t.render(record);
    }
});

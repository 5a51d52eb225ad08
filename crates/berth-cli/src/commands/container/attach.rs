//! Attached I/O shared by `run`, `start -a`, `attach` and `exec`: the
//! hijacked stream, stdin copying, raw tty, resize and signal forwarding.

use std::io::{BufReader, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::{Client, Query};
use crate::commands::Ctx;
use crate::stream::{self, RawGuard};

pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// A hijacked attach/exec connection.
pub struct Hijacked {
    pub reader: BufReader<UnixStream>,
    pub writer: UnixStream,
}

/// What ended the streaming.
pub enum Ended {
    Output(Result<()>),
    Detached,
}

/// Streams a hijacked connection: output to stdout/stderr (demuxed unless
/// `tty`), stdin copied when `stdin`; with a tty, raw mode and detach keys.
pub fn stream_io(h: Hijacked, tty: bool, stdin: bool, detach_keys: &[u8]) -> Ended {
    let (tx, rx) = mpsc::channel();
    let _raw = if tty && stdin && stream::is_tty(0) {
        RawGuard::new().ok()
    } else {
        None
    };
    let Hijacked { reader, writer } = h;
    if stdin {
        let tx2 = tx.clone();
        let keys = if tty {
            Some(detach_keys.to_vec())
        } else {
            None
        };
        std::thread::spawn(move || {
            if stream::copy_stdin(writer, keys) {
                let _ = tx2.send(Ended::Detached);
            }
        });
    } else {
        let _ = writer.shutdown(Shutdown::Write);
    }
    std::thread::spawn(move || {
        // unlocked handles: the main thread may flush or exit meanwhile
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        let r = if tty {
            stream::copy_raw(reader, &mut stdout)
        } else {
            stream::demux(reader, &mut stdout, &mut stderr)
        };
        let _ = tx.send(Ended::Output(r));
    });
    let ended = rx.recv().unwrap_or(Ended::Output(Ok(())));
    let _ = std::io::stdout().flush();
    ended
}

/// Sends the terminal size to the container or exec (`kind` = containers|exec).
pub fn resize(client: &Client, kind: &str, id: &str) {
    let (h, w) = stream::term_size();
    if h == 0 && w == 0 {
        return;
    }
    let q = Query::new().add("h", h.to_string()).add("w", w.to_string());
    for _ in 0..10 {
        if client.post(&format!("/{kind}/{id}/resize"), &q).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Forwards signals to the container (`kill?signal=`) and re-sends the tty
/// size on SIGWINCH, from a background thread.
pub fn forward_signals(host: &str, kind: &'static str, id: &str, proxy: bool, tty: bool) {
    use signal_hook::consts::*;
    let mut sigs = vec![SIGWINCH];
    if proxy {
        sigs.extend([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM]);
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new(&sigs) else {
        return;
    };
    let id = id.to_string();
    let host = host.to_string();
    std::thread::spawn(move || {
        for s in signals.forever() {
            let Ok(client) = Client::new(&host) else {
                continue;
            };
            if s == SIGWINCH {
                if tty {
                    resize(&client, kind, &id);
                }
                continue;
            }
            if kind != "containers" {
                continue;
            }
            let name = match s {
                SIGINT => "INT",
                SIGTERM => "TERM",
                SIGHUP => "HUP",
                SIGQUIT => "QUIT",
                SIGUSR1 => "USR1",
                SIGUSR2 => "USR2",
                SIGALRM => "ALRM",
                _ => continue,
            };
            let q = Query::new().add("signal", name);
            if let Err(e) = client.post(&format!("/containers/{id}/kill"), &q) {
                eprintln!("error sending signal: {e}");
            }
        }
    });
}

/// Opens the attach hijack for a container.
pub fn open_attach(
    client: &Client,
    id: &str,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: Option<&str>,
) -> Result<Hijacked> {
    let q = Query::new()
        .add("stream", "1")
        .add_if(stdin, "stdin", "1")
        .add_if(stdout, "stdout", "1")
        .add_if(stderr, "stderr", "1")
        .add_if(
            detach_keys.is_some(),
            "detachKeys",
            detach_keys.unwrap_or_default(),
        );
    let (reader, writer) = client.hijack(&format!("/containers/{id}/attach"), &q, None)?;
    Ok(Hijacked { reader, writer })
}

#[derive(Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

pub fn run(ctx: &Ctx, a: AttachArgs) -> Result<i32> {
    let client = ctx.client()?;
    let info = client.get_json(&format!("/containers/{}/json", a.container), &Query::new())?;
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    let state = &info["State"];
    if state["Paused"] == Value::Bool(true) {
        return Err(crate::status(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if state["Running"] != Value::Bool(true) {
        return Err(crate::status(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let tty = info["Config"]["Tty"] == Value::Bool(true);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"] == Value::Bool(true);
    if tty && stdin && !stream::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let keys_spec = a
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_string());
    let keys = stream::parse_detach_keys(&keys_spec)?;
    let wait = client.post(&format!("/containers/{id}/wait"), &Query::new())?;
    let h = open_attach(&client, &id, stdin, true, true, a.detach_keys.as_deref())?;
    if tty {
        resize(&client, "containers", &id);
    }
    forward_signals(&ctx.host, "containers", &id, a.sig_proxy && !tty, tty);
    match stream_io(h, tty, stdin, &keys) {
        Ended::Detached => return Err(crate::status(1, "read escape sequence")),
        Ended::Output(r) => r?,
    }
    let v = wait.json()?;
    Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
}

//! Attached I/O shared by `run`, `start -a`, `attach` and `exec`: the
//! hijacked stream, stdin copying, raw tty, resize and signal forwarding.

use std::io::Write;
use std::sync::{Arc, mpsc};

use anyhow::Result;
use berth_api::container::WaitCondition;
use berth_api::query;
use berth_client::{Client, Hijacked};
use clap::Args;

use crate::commands::Ctx;
use crate::term::{self, RawGuard};

/// What ended the streaming.
pub enum Ended {
    Output(Result<()>),
    Detached,
}

/// Streams a hijacked connection: output to stdout/stderr (demuxed unless
/// `tty`), stdin copied when `stdin`; with a tty, raw mode and detach keys.
pub fn stream_io(h: Hijacked, tty: bool, stdin: bool, detach_keys: &[u8]) -> Ended {
    let (tx, rx) = mpsc::channel();
    let _raw = if tty && stdin && term::is_tty(0) {
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
            if term::copy_stdin(writer, keys) {
                let _ = tx2.send(Ended::Detached);
            }
        });
    } else {
        writer.close_write();
    }
    std::thread::spawn(move || {
        // unlocked handles: the main thread may flush or exit meanwhile
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        let r = if tty {
            term::copy_raw(reader, &mut stdout)
        } else {
            berth_api::stdcopy::demux(reader, &mut stdout, &mut stderr).map_err(Into::into)
        };
        let _ = tx.send(Ended::Output(r));
    });
    let ended = rx.recv().unwrap_or(Ended::Output(Ok(())));
    let _ = std::io::stdout().flush();
    ended
}

/// What a terminal size or a signal goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Container,
    Exec,
}

/// Sends the terminal size to the container or exec.
pub fn resize(client: &Client, target: Target, id: &str) {
    let (h, w) = term::term_size();
    if h == 0 && w == 0 {
        return;
    }
    for _ in 0..10 {
        let r = match target {
            Target::Container => client.container_resize(id, h.into(), w.into()),
            Target::Exec => client.exec_resize(id, h.into(), w.into()),
        };
        if r.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Forwards signals to the container (`kill?signal=`) and re-sends the tty
/// size on SIGWINCH, from a background thread.
pub fn forward_signals(client: Arc<Client>, target: Target, id: &str, proxy: bool, tty: bool) {
    use signal_hook::consts::*;
    let mut sigs = vec![SIGWINCH];
    if proxy {
        sigs.extend([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM]);
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new(&sigs) else {
        return;
    };
    let id = id.to_string();
    std::thread::spawn(move || {
        for s in signals.forever() {
            if s == SIGWINCH {
                if tty {
                    resize(&client, target, &id);
                }
                continue;
            }
            if target != Target::Container {
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
            if let Err(e) = client.container_kill(&id, name) {
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
    let q = query::container::Attach {
        stream: true,
        stdin,
        stdout,
        stderr,
        logs: false,
        detach_keys: detach_keys.map(str::to_string),
    };
    Ok(client.container_attach(id, &q)?)
}

/// The exit status a finished `wait` answer carries (its error as one).
pub fn wait_status(resp: berth_client::Response) -> Result<i32> {
    let w: berth_api::container::WaitResponse = resp.json()?;
    if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
        anyhow::bail!("{}", e.message);
    }
    Ok(w.status_code as i32)
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
    let client = ctx.shared_client()?;
    let info = client.container_inspect(&a.container, false)?;
    let id = if info.id.is_empty() {
        a.container.clone()
    } else {
        info.id.clone()
    };
    if info.state.paused {
        return Err(crate::status(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if !info.state.running {
        return Err(crate::status(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let tty = info.config.tty;
    let stdin = !a.no_stdin && info.config.open_stdin;
    if tty && stdin && !term::is_tty(0) {
        return Err(crate::status(1, "the input device is not a TTY"));
    }
    let keys = term::detach_keys(a.detach_keys.as_deref())?;
    let wait = client.container_wait(&id, WaitCondition::NotRunning)?;
    let h = open_attach(&client, &id, stdin, true, true, a.detach_keys.as_deref())?;
    if tty {
        resize(&client, Target::Container, &id);
    }
    forward_signals(
        client.clone(),
        Target::Container,
        &id,
        a.sig_proxy && !tty,
        tty,
    );
    match stream_io(h, tty, stdin, &keys) {
        Ended::Detached => return Err(crate::status(1, "read escape sequence")),
        Ended::Output(r) => r?,
    }
    let w: berth_api::container::WaitResponse = wait.json()?;
    Ok(w.status_code as i32)
}

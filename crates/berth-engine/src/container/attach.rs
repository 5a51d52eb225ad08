//! Attach: a client's hijacked connection joined to the container's
//! monitor stream, with Docker's detach sequence on a tty (ctrl-p ctrl-q
//! unless the client names another): typing it ends the attachment, the
//! container keeps running, a `detach` event is emitted. `logs=1` replays what was
//! logged first; `stream=0` ends after that.

use std::sync::Arc;
use std::time::Duration;

use berth_monitor::protocol::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::monitor;
use crate::model::{Io, LogOptions, PendingAttach};
use crate::{Engine, Error, Result};

/// What an attach asks for.
#[derive(Clone, Debug, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log first.
    pub logs: bool,
    /// Stream live output (and input).
    pub stream: bool,
    /// The detach sequence; None means Docker's default.
    pub detach_keys: Option<String>,
}

/// Scans input for the detach sequence; bytes that could still be the
/// start of it are held back until it is clear they are not.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    held: usize,
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> DetachScanner {
        DetachScanner { keys, held: 0 }
    }

    /// The bytes to pass on, and whether the sequence completed (then
    /// nothing after it is passed on).
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            out.extend_from_slice(data);
            return (out, false);
        }
        for &b in data {
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            if self.held > 0 {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
                if b == self.keys[0] {
                    self.held = 1;
                    continue;
                }
            }
            out.push(b);
        }
        (out, false)
    }
}

/// The detach sequence an attach uses.
pub fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>> {
    let spec = spec
        .filter(|s| !s.is_empty())
        .unwrap_or(berth_api::container::DEFAULT_DETACH_KEYS);
    berth_api::container::parse_detach_keys(spec)
        .map_err(|e| Error::invalid(format!("Invalid detach keys ({spec}) provided: {e}")))
}

impl Engine {
    /// Relay a client connection and a monitor attach stream until the
    /// container's output ends or the client detaches.
    pub(crate) fn bridge(
        self: &Arc<Self>,
        id: &str,
        client: Io,
        mon: tokio::net::UnixStream,
        keys: Vec<u8>,
    ) {
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let (mut cr, mut cw) = tokio::io::split(client);
            let (mut mr, mut mw) = mon.into_split();
            let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
            let input = tokio::spawn(async move {
                let mut scan = DetachScanner::new(keys);
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let (pass, done) = scan.feed(&buf[..n]);
                    if !pass.is_empty() && mw.write_all(&pass).await.is_err() {
                        break;
                    }
                    if done {
                        let _ = detached_tx.send(());
                        return;
                    }
                }
                // The client's stdin ended (or it half-closed): tell the monitor.
                let _ = mw.shutdown().await;
            });
            let detached = {
                let output = tokio::io::copy(&mut mr, &mut cw);
                tokio::pin!(output);
                // The input side ending without the sequence (the client
                // half-closed) drops the sender: that branch is then
                // disabled and the output goes on.
                tokio::select! {
                    _ = &mut output => false,
                    Ok(()) = detached_rx => true,
                }
            };
            let _ = cw.flush().await;
            let _ = cw.shutdown().await;
            input.abort();
            if detached && let Ok(c) = this.containers.get(&id) {
                this.emit_container(&c, "detach", &[]);
            }
        });
    }

    /// Connect an attach that arrived before start (or now, if running).
    pub(crate) async fn connect_attach(self: &Arc<Self>, id: &str, a: PendingAttach) {
        let Ok(Ok(io)) = tokio::time::timeout(Duration::from_secs(5), a.io).await else {
            return;
        };
        let req = Request::Attach {
            stdin: a.stdin,
            stdout: a.stdout,
            stderr: a.stderr,
        };
        match monitor::connect(&self.monitor_socket(id), req).await {
            Ok(m) => self.bridge(id, io, m, a.detach_keys),
            Err(e) => tracing::warn!("attach {}: {e}", &id[..12]),
        }
    }

    /// `POST /containers/{id}/attach`: checked before the 101; the
    /// connection itself arrives through `io` once the upgrade is done.
    pub fn container_attach(
        self: &Arc<Self>,
        r: &str,
        o: AttachOptions,
        io: tokio::sync::oneshot::Receiver<Io>,
    ) -> Result<()> {
        let c = self.containers.get(r)?;
        use berth_api::container::Status;
        if matches!(c.status(), Status::Removing | Status::Dead) {
            return Err(Error::conflict(
                "You cannot attach to a stopped container, start it first",
            ));
        }
        let keys = detach_keys(o.detach_keys.as_deref())?;
        // Docker watches for the sequence on a tty only (moby's stream/attach.go).
        let keys = if o.stdin && c.tty() { keys } else { Vec::new() };
        self.emit_container(&c, "attach", &[]);
        let id = c.id.clone();
        let tty = c.tty();
        let log_path = std::path::PathBuf::from(&c.log_path);
        if o.logs || !o.stream {
            // Logs first (or only), then the stream if asked for.
            let this = self.clone();
            tokio::spawn(async move {
                let Ok(Ok(mut io)) = tokio::time::timeout(Duration::from_secs(5), io).await else {
                    return;
                };
                if o.logs {
                    let lo = LogOptions {
                        stdout: o.stdout,
                        stderr: o.stderr,
                        ..Default::default()
                    };
                    let frames =
                        tokio::task::spawn_blocking(move || super::logs::past(&log_path, &lo, tty))
                            .await
                            .unwrap_or_default();
                    for f in frames {
                        if io.write_all(&f).await.is_err() {
                            return;
                        }
                    }
                }
                let running = this.containers.with(&id, |c| c.running()).unwrap_or(false);
                if !o.stream || !running {
                    let _ = io.flush().await;
                    let _ = io.shutdown().await;
                    return;
                }
                let (tx, rx) = tokio::sync::oneshot::channel();
                let _ = tx.send(io);
                this.connect_attach(
                    &id,
                    PendingAttach {
                        io: rx,
                        stdin: o.stdin,
                        stdout: o.stdout,
                        stderr: o.stderr,
                        detach_keys: keys,
                    },
                )
                .await;
            });
            return Ok(());
        }
        let a = PendingAttach {
            io,
            stdin: o.stdin,
            stdout: o.stdout,
            stderr: o.stderr,
            detach_keys: keys,
        };
        if c.running() {
            let this = self.clone();
            tokio::spawn(async move { this.connect_attach(&id, a).await });
        } else {
            self.containers.push_pending(&id, a);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_found_across_reads() {
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab"), (b"ab".to_vec(), false));
        // ctrl-p held back, then released when not followed by ctrl-q.
        assert_eq!(s.feed(&[16]), (vec![], false));
        assert_eq!(s.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(s.feed(&[16, 16]), (vec![16], false));
        assert_eq!(s.feed(&[17, b'z']), (vec![], true));
        let mut none = DetachScanner::new(vec![]);
        assert_eq!(none.feed(&[16, 17]), (vec![16, 17], false));
        assert_eq!(detach_keys(None).unwrap(), vec![16, 17]);
        assert_eq!(detach_keys(Some("ctrl-x,y")).unwrap(), vec![24, b'y']);
        assert!(detach_keys(Some("ctrl-")).is_err());
    }
}

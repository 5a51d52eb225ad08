//! The terminal side of attached streams: raw mode, the terminal size,
//! stdin copied to a hijacked connection with detach keys, raw (tty) output.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use anyhow::Result;
use berth_client::hijack::HijackWriter;
use nix::sys::termios::{self, SetArg, Termios};

/// Copies a raw (tty) stream to `out`, flushing as it comes.
pub fn copy_raw(mut r: impl Read, out: &mut dyn Write) -> Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// Restores the terminal when dropped.
pub struct RawGuard {
    saved: Termios,
}

impl RawGuard {
    /// Puts stdin in raw mode (docker's MakeRaw).
    pub fn new() -> Result<RawGuard> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawGuard { saved })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// (height, width) of the terminal on stdout, else stdin; (0,0) if none.
pub fn term_size() -> (u16, u16) {
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        let mut ws: libc::winsize = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into the pointed-to struct only.
        let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
        if r == 0 && ws.ws_row > 0 {
            return (ws.ws_row, ws.ws_col);
        }
    }
    (0, 0)
}

pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// A detach-keys spec (`ctrl-p,ctrl-q`) as bytes, or docker's error.
pub fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>> {
    let spec = spec.unwrap_or(berth_api::container::DEFAULT_DETACH_KEYS);
    berth_api::container::parse_detach_keys(spec).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Copies stdin to the hijacked connection; with `detach` keys (tty mode)
/// stops and returns true when they are typed. Half-closes the connection
/// at the end of stdin, so that the daemon sees it and output keeps coming.
pub fn copy_stdin(mut w: HijackWriter, detach: Option<Vec<u8>>) -> bool {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 4096];
    let mut matched = 0usize;
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut send = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if let Some(keys) = &detach {
                if !keys.is_empty() && b == keys[matched] {
                    matched += 1;
                    held.push(b);
                    if matched == keys.len() {
                        let _ = w.write_all(&send);
                        return true;
                    }
                    continue;
                }
                if matched > 0 {
                    send.append(&mut held);
                    matched = 0;
                }
            }
            send.push(b);
        }
        if w.write_all(&send).is_err() {
            break;
        }
    }
    w.close_write();
    false
}

//! Streams: the 8-byte multiplexed frame demuxer, raw terminal mode, detach
//! keys and the stdin → hijacked socket copier.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use anyhow::{Result, bail};
use nix::sys::termios::{self, SetArg, Termios};

/// Copies a multiplexed stream: frame `[stream,0,0,0,len BE u32]` + payload;
/// stream 0/1 → stdout, 2 → stderr, 3 → error.
pub fn demux(mut r: impl Read, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let mut hdr = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut got = 0;
        while got < 8 {
            match r.read(&mut hdr[got..]) {
                Ok(0) => {
                    if got == 0 {
                        return Ok(());
                    }
                    bail!("unexpected EOF in multiplexed stream");
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got == 0 && e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        let mut left = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let mut sys = Vec::new();
        while left > 0 {
            let n = r.read(&mut buf[..left.min(32 * 1024)])?;
            if n == 0 {
                bail!("unexpected EOF in multiplexed stream");
            }
            match hdr[0] {
                0 | 1 => {
                    out.write_all(&buf[..n])?;
                }
                2 => {
                    err.write_all(&buf[..n])?;
                }
                3 => sys.extend_from_slice(&buf[..n]),
                s => bail!("Unrecognized input header: {s}"),
            }
            left -= n;
        }
        out.flush()?;
        err.flush()?;
        if hdr[0] == 3 {
            bail!(
                "error from daemon in stream: {}",
                String::from_utf8_lossy(&sys)
            );
        }
    }
}

/// Copies a raw (tty) stream to stdout.
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

/// Parses a detach-keys spec (`ctrl-p,ctrl-q`, `a,b`) into bytes.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for k in spec.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let ch = c.chars().next().unwrap_or('\0');
            if c.chars().count() != 1 {
                bail!("Unknown character: '{k}'");
            }
            let code = match ch {
                'a'..='z' => ch as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => bail!("Unknown character: '{k}'"),
            };
            out.push(code);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            bail!("Unknown character: '{k}'");
        }
    }
    Ok(out)
}

/// Copies stdin to the hijacked socket; with `detach` keys (tty mode) stops
/// and returns true when they are typed. Half-closes the socket at EOF.
pub fn copy_stdin(mut w: UnixStream, detach: Option<Vec<u8>>) -> bool {
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
    let _ = w.shutdown(Shutdown::Write);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 3];
        data.extend_from_slice(b"out");
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        data.extend_from_slice(b"err");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&data[..], &mut o, &mut e).unwrap();
        assert_eq!(o, b"out");
        assert_eq!(e, b"err");
    }

    #[test]
    fn keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-a").unwrap(), vec![b'a', 1]);
        assert!(parse_detach_keys("ctrl-").is_err());
    }
}

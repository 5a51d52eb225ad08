//! Hijacked connections (attach, exec start): after the 101 the socket is
//! a raw byte stream both ways. The client half-closes its write side when
//! its stdin ends and keeps reading output until the daemon closes.
//!
//! Over TLS a session cannot be read and written from two threads, so a
//! small pump thread owns it and relays through a local socket pair; the
//! caller sees the same two halves whatever the transport.

use std::io::{self, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::transport::{Conn, Response};
use crate::{Error, Result};

/// The read half (output from the container).
pub struct HijackReader(Box<dyn Read + Send>);

impl Read for HijackReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(0),
            r => r,
        }
    }
}

/// The write half (input to the container).
pub struct HijackWriter(Writer);

enum Writer {
    Unix(UnixStream),
    Tcp(std::net::TcpStream),
}

impl Write for HijackWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Writer::Unix(s) => s.write(buf),
            Writer::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl HijackWriter {
    /// Half-close: the daemon sees the end of stdin, output keeps coming.
    pub fn close_write(&self) {
        let _ = match &self.0 {
            Writer::Unix(s) => s.shutdown(Shutdown::Write),
            Writer::Tcp(s) => s.shutdown(Shutdown::Write),
        };
    }

    pub fn try_clone(&self) -> io::Result<HijackWriter> {
        Ok(HijackWriter(match &self.0 {
            Writer::Unix(s) => Writer::Unix(s.try_clone()?),
            Writer::Tcp(s) => Writer::Tcp(s.try_clone()?),
        }))
    }
}

/// Both halves of a hijacked connection.
pub struct Hijacked {
    pub reader: HijackReader,
    pub writer: HijackWriter,
}

impl Hijacked {
    pub(crate) fn from_response(resp: Response) -> Result<Hijacked> {
        let reader = resp.into_parts();
        let (writer, reader): (Writer, Box<dyn Read + Send>) = match reader.get_ref() {
            Conn::Unix(s) => (Writer::Unix(s.try_clone()?), Box::new(reader)),
            Conn::Tcp(s) => (Writer::Tcp(s.try_clone()?), Box::new(reader)),
            Conn::Tls(_) => {
                let (mine, theirs) = UnixStream::pair()?;
                std::thread::spawn(move || pump(reader, theirs));
                (Writer::Unix(mine.try_clone()?), Box::new(mine))
            }
        };
        Ok(Hijacked {
            reader: HijackReader(reader),
            writer: HijackWriter(writer),
        })
    }
}

/// Relay between a TLS session and the local end of a socket pair until
/// both directions have ended.
fn pump(buffered: BufReader<Conn>, local: UnixStream) {
    let _ = (|| -> io::Result<()> {
        let mut local_w = local.try_clone()?;
        // Plaintext already read past the 101's headers.
        local_w.write_all(buffered.buffer())?;
        let Conn::Tls(mut tls) = buffered.into_inner() else {
            return Ok(());
        };
        let mut local_r = local;
        let mut from_daemon_open = true;
        let mut to_daemon_open = true;
        let mut buf = vec![0u8; 32 * 1024];
        while from_daemon_open {
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut tls.sock)?;
            }
            let mut fds = [
                libc::pollfd {
                    fd: tls.sock.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: if to_daemon_open {
                        local_r.as_raw_fd()
                    } else {
                        -1
                    },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll reads and writes only the two pollfd structs given.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if fds[0].revents != 0 {
                let n = tls.conn.read_tls(&mut tls.sock)?;
                if n == 0 {
                    from_daemon_open = false;
                } else {
                    tls.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                loop {
                    match tls.conn.reader().read(&mut buf) {
                        Ok(0) => {
                            from_daemon_open = false;
                            break;
                        }
                        Ok(n) => local_w.write_all(&buf[..n])?,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            from_daemon_open = false;
                            break;
                        }
                    }
                }
            }
            if to_daemon_open && fds[1].revents != 0 {
                let n = local_r.read(&mut buf)?;
                if n == 0 {
                    // The caller's stdin ended: tell the daemon, keep reading.
                    to_daemon_open = false;
                    tls.conn.send_close_notify();
                } else {
                    tls.conn.writer().write_all(&buf[..n])?;
                }
            }
        }
        let _ = local_w.shutdown(Shutdown::Write);
        Ok(())
    })();
}

impl From<Hijacked> for (HijackReader, HijackWriter) {
    fn from(h: Hijacked) -> Self {
        (h.reader, h.writer)
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn s<T: Send>() {}
    s::<HijackReader>();
    s::<HijackWriter>();
    let _ = Error::Other(String::new());
}

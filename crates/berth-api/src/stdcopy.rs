//! Docker's multiplexed stream (`stdcopy`): frames of an 8-byte header
//! `[stream, 0, 0, 0, len u32 big-endian]` and `len` bytes. Used by attach,
//! exec and logs of containers without a tty. No frame is ever empty
//! (docker-py reads a zero length as the end of the stream).

use std::io::{self, Read, Write};

/// Which stream a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// An error from the daemon itself (Go's stdcopy turns it into an error).
    Systemerr = 3,
}

impl Stream {
    pub fn from_byte(b: u8) -> Option<Stream> {
        Some(match b {
            0 => Stream::Stdin,
            1 => Stream::Stdout,
            2 => Stream::Stderr,
            3 => Stream::Systemerr,
            _ => return None,
        })
    }
}

pub const HEADER_LEN: usize = 8;

pub fn header(stream: Stream, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// `data` as frames (one unless it exceeds 4 GiB); empty data gives nothing.
pub fn encode(stream: Stream, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + HEADER_LEN);
    for chunk in data.chunks(u32::MAX as usize) {
        out.extend_from_slice(&header(stream, chunk.len() as u32));
        out.extend_from_slice(chunk);
    }
    out
}

/// Write `data` as frames to `w`.
pub fn write_frame(w: &mut impl Write, stream: Stream, data: &[u8]) -> io::Result<()> {
    for chunk in data.chunks(u32::MAX as usize) {
        w.write_all(&header(stream, chunk.len() as u32))?;
        w.write_all(chunk)?;
    }
    Ok(())
}

/// An incremental decoder: feed bytes as they arrive, take whole frames.
#[derive(Default, Debug)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if any. An unknown stream byte is an error.
    pub fn next_frame(&mut self) -> io::Result<Option<(Stream, Vec<u8>)>> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let stream = Stream::from_byte(self.buf[0]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unrecognized input header: {}", self.buf[0]),
            )
        })?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let data = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some((stream, data)))
    }

    /// Bytes held that do not make a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Copy a multiplexed stream to `out`/`err` until EOF, flushing after each
/// frame. A `Systemerr` frame ends it with an error carrying its text.
pub fn demux(mut r: impl Read, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    let mut hdr = [0u8; HEADER_LEN];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut got = 0;
        while got < HEADER_LEN {
            let n = r.read(&mut hdr[got..])?;
            if n == 0 {
                return if got == 0 {
                    Ok(())
                } else {
                    Err(io::Error::from(io::ErrorKind::UnexpectedEof))
                };
            }
            got += n;
        }
        let stream = Stream::from_byte(hdr[0]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unrecognized input header: {}", hdr[0]),
            )
        })?;
        let mut left = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let mut syserr = Vec::new();
        while left > 0 {
            let want = left.min(buf.len());
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            match stream {
                Stream::Stdin | Stream::Stdout => out.write_all(&buf[..n])?,
                Stream::Stderr => err.write_all(&buf[..n])?,
                Stream::Systemerr => syserr.extend_from_slice(&buf[..n]),
            }
            left -= n;
        }
        if stream == Stream::Systemerr {
            return Err(io::Error::other(format!(
                "error from daemon in stream: {}",
                String::from_utf8_lossy(&syserr)
            )));
        }
        out.flush()?;
        err.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode() {
        let mut wire = encode(Stream::Stdout, b"hello ");
        wire.extend(encode(Stream::Stderr, b"oops"));
        wire.extend(encode(Stream::Stdout, b""));
        wire.extend(encode(Stream::Stdout, b"world"));
        assert_eq!(&wire[..8], &[1, 0, 0, 0, 0, 0, 0, 6]);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&wire[..], &mut o, &mut e).unwrap();
        assert_eq!(o, b"hello world");
        assert_eq!(e, b"oops");
        // Byte by byte through the incremental decoder.
        let mut d = Decoder::new();
        let mut frames = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1], (Stream::Stderr, b"oops".to_vec()));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn errors() {
        let mut wire = encode(Stream::Systemerr, b"broken");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let err = demux(&wire[..], &mut o, &mut e).unwrap_err();
        assert!(err.to_string().contains("broken"));
        wire[0] = 9;
        assert!(demux(&wire[..], &mut o, &mut e).is_err());
        let short = &encode(Stream::Stdout, b"abc")[..9];
        assert!(demux(short, &mut o, &mut e).is_err());
        let mut w = Vec::new();
        write_frame(&mut w, Stream::Stdout, b"x").unwrap();
        assert_eq!(w, encode(Stream::Stdout, b"x"));
    }
}

//! A copy that tells which side failed: a read error is the input's fault
//! (a cut or corrupt archive, a bad context), a write error is ours (a full
//! disk) and must be said as such.

use std::io::{self, Read, Write};

#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copy `r` into `w` to the end of `r`; the bytes copied.
pub fn copy(r: &mut impl Read, w: &mut impl Write) -> Result<u64, CopyError> {
    let mut buf = [0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let got = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..got]).map_err(CopyError::Write)?;
        n += got as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::UnexpectedEof))
        }
    }

    #[test]
    fn says_which_side_failed() {
        let mut out = Vec::new();
        assert_eq!(copy(&mut &b"abc"[..], &mut out).unwrap(), 3);
        assert_eq!(out, b"abc");
        assert!(matches!(
            copy(&mut &b"abc"[..], &mut Full),
            Err(CopyError::Write(_))
        ));
        assert!(matches!(
            copy(&mut Broken, &mut out),
            Err(CopyError::Read(_))
        ));
    }
}

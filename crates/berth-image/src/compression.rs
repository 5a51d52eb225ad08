//! Layer/archive compression, recognised by magic bytes: plain, gzip, zstd.

use std::io::{BufRead, BufReader, Read};

use crate::error::{Error, IoContext, Result};

/// Compression of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

/// Looks at the first bytes of a buffered stream without consuming them.
pub fn detect(r: &mut impl BufRead) -> Result<Compression> {
    let head = r.fill_buf().ctx(|| "read stream header".to_string())?;
    // fill_buf may return fewer bytes than asked; 4 is what we need and a
    // BufReader gives at least that unless the stream is shorter.
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else {
        Compression::None
    })
}

/// Wraps `r` so that reading yields the uncompressed bytes.
pub fn decompress<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    Ok(match detect(&mut br)? {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => zstd_reader(br)?,
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(br)),
        Compression::Xz => {
            // lzma-rs decodes into a writer: xz contexts and ADD archives
            // are decoded whole.
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut br, &mut out)
                .map_err(|e| Error::InvalidArchive(format!("xz: {e}")))?;
            Box::new(std::io::Cursor::new(out))
        }
    })
}

fn zstd_reader<'a>(br: BufReader<impl Read + 'a>) -> Result<Box<dyn Read + 'a>> {
    Ok(Box::new(
        zstd::stream::read::Decoder::with_buffer(br).ctx(|| "start zstd decoder".to_string())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decompress(data).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn plain_gzip_zstd() {
        assert_eq!(roundtrip(b"plain tar bytes"), b"plain tar bytes");
        assert_eq!(roundtrip(b""), b"");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"gzipped").unwrap();
        assert_eq!(roundtrip(&gz.finish().unwrap()), b"gzipped");
        assert_eq!(
            roundtrip(&zstd::encode_all(&b"zstd data"[..], 1).unwrap()),
            b"zstd data"
        );
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(b"bzipped").unwrap();
        assert_eq!(roundtrip(&bz.finish().unwrap()), b"bzipped");
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &b"xz data"[..], &mut xz).unwrap();
        assert_eq!(roundtrip(&xz), b"xz data");
    }
}

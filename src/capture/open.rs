//! Opening a capture: file or standard input, transparent gzip/zstd detected by magic bytes.

use super::CaptureError;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Compression detected on an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Opens `path` (`-` = standard input) and returns a reader of the decompressed bytes.
pub fn open_input(path: &Path) -> Result<(Box<dyn Read + Send>, Compression), CaptureError> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let f = File::open(path).map_err(|e| CaptureError::Unreadable {
            detail: format!("{}: {e}", path.display()),
        })?;
        if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(CaptureError::Unreadable {
                detail: format!("{}: is a directory", path.display()),
            });
        }
        Box::new(f)
    };
    let mut buf = BufReader::with_capacity(1 << 16, raw);
    let head = buf.fill_buf().map_err(|e| CaptureError::Unreadable {
        detail: format!("{}: {e}", path.display()),
    })?;
    let compression = detect(head);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buf)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buf).map_err(|e| {
                CaptureError::Unreadable {
                    detail: format!("{}: zstd: {e}", path.display()),
                }
            })?)
        }
    };
    Ok((reader, compression))
}

fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(detect(&[0xd4, 0xc3, 0xb2, 0xa1]), Compression::None);
        assert_eq!(detect(&[]), Compression::None);
    }
}

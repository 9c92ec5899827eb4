//! Parts of a document written while the capture is read (the HAR's pages and entries, the
//! HTML page's sections), kept in memory or spooled to files in a private temporary
//! directory, and copied into the document when it is assembled at the end.
//!
//! Part of `export`; imports only std.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Text written while the capture is read and joined into a document at the end: in
/// memory, or spooled to a file.
pub trait Part: Write + Send {
    /// Every byte written so far, to `w`.
    fn copy_to(&mut self, w: &mut dyn Write) -> io::Result<()>;
}

impl Part for Vec<u8> {
    fn copy_to(&mut self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(self)
    }
}

/// A part spooled to a new file (the caller's private directory removes it).
pub struct FilePart {
    path: PathBuf,
    file: BufWriter<File>,
}

impl FilePart {
    pub fn create(path: PathBuf) -> io::Result<Self> {
        let file = BufWriter::with_capacity(1 << 16, File::create_new(&path)?);
        Ok(FilePart { path, file })
    }
}

impl Write for FilePart {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Part for FilePart {
    fn copy_to(&mut self, w: &mut dyn Write) -> io::Result<()> {
        self.file.flush()?;
        io::copy(&mut File::open(&self.path)?, w).map(|_| ())
    }
}

//! Table files written while the capture is read: the correlator hands over each row once it
//! is final ([`RowSink`]); rows are buffered in chunks ([`CHUNK_ROWS`] for Parquet,
//! [`TEXT_CHUNK_ROWS`] for CSV and JSON) and each chunk is
//! appended to its file (CSV lines, JSON array elements, one Parquet row group), so a table's
//! size in memory is one chunk whatever the capture's size.
//!
//! Files are written under a temporary name beside the final one and renamed when the table
//! is complete ([`RowSink::close`]); a failed run leaves any previous file in place.
//!
//! Imports `correlate` (rows, the sink trait) and the table model and writers beside it.

use super::table::Table;
use super::{Format, connections_table, csv, dns_table_from, json, navigations_table};
use super::{requests_table, temp_path};
use crate::correlate::{ConnectionRow, NavigationRow, RequestRow, RowSink};
use crate::protocol::dns::DnsLookup;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Rows per chunk for Parquet: one chunk is one page per column (see `parquet`).
pub const CHUNK_ROWS: usize = 2048;
/// Most compressed Parquet pages held, waiting for their row groups, by all the tables
/// together: past it the table holding the most writes its row group. Each table also
/// writes its group at [`super::parquet::GROUP_BYTES`]; a shared cap keeps the sum from
/// reaching four times that (the tables fill their groups at different rates, so a long
/// capture sooner or later finds them all nearly full at once).
#[cfg(feature = "parquet")]
pub const PENDING_BYTES: usize = 1 << 20;

/// Rows per chunk for CSV and JSON, written row by row: small enough that the rows stay in
/// the CPU cache while the chunk's columns are built from them (each column is one pass
/// over the rows; 2,048 rows of `requests` are about a megabyte).
pub const TEXT_CHUNK_ROWS: usize = 64;

/// One table's file being written.
struct TableFile {
    path: PathBuf,
    tmp: PathBuf,
    format: Format,
    /// `None` until the first chunk (Parquet needs the schema) and after closing.
    out: Option<Out>,
    rows: usize,
    chunks: usize,
    /// CSV text not yet handed to the file: rows are written straight into it and it goes
    /// out in pieces of [`csv::WRITE_AT`] (past the file's buffer, so it is copied once).
    text: Vec<u8>,
}

enum Out {
    Text(BufWriter<File>),
    #[cfg(feature = "parquet")]
    Parquet(Box<super::parquet::ParquetStream<BufWriter<File>>>),
}

impl TableFile {
    fn new(dir: &Path, name: &str, format: Format) -> Self {
        let path = dir.join(format!("{name}.{}", format.ext()));
        TableFile {
            tmp: temp_path(&path),
            path,
            format,
            out: None,
            rows: 0,
            chunks: 0,
            text: Vec::new(),
        }
    }

    /// Appends a chunk of rows (the first chunk, even empty, fixes the header or schema).
    fn write(&mut self, t: &Table) -> io::Result<()> {
        if self.out.is_none() {
            if self.chunks > 0 {
                return Err(io::Error::other("table file already closed"));
            }
            let file = BufWriter::with_capacity(csv::WRITE_AT, File::create(&self.tmp)?);
            self.out = Some(match self.format {
                #[cfg(feature = "parquet")]
                Format::Parquet => {
                    Out::Parquet(Box::new(super::parquet::ParquetStream::new(file, t)?))
                }
                #[cfg(not(feature = "parquet"))]
                Format::Parquet => {
                    return Err(io::Error::other(
                        "this build has no Parquet support (built without the `parquet` feature)",
                    ));
                }
                Format::Csv | Format::Json => Out::Text(file),
            });
        }
        let first = self.chunks == 0;
        self.chunks += 1;
        match self.out.as_mut() {
            Some(Out::Text(w)) => match self.format {
                Format::Csv => {
                    if first {
                        csv::push_csv_header(t, &mut self.text);
                    }
                    csv::push_csv_rows(t, &mut self.text);
                    if self.text.len() >= csv::WRITE_AT {
                        w.write_all(&self.text)?;
                        self.text.clear();
                    }
                }
                _ => {
                    let mut line = String::new();
                    for row in 0..t.rows {
                        line.clear();
                        line.push_str(if self.rows + row == 0 { "[\n" } else { ",\n" });
                        json::row_object(t, row, &mut line);
                        w.write_all(line.as_bytes())?;
                    }
                }
            },
            #[cfg(feature = "parquet")]
            Some(Out::Parquet(w)) => w.write(t)?,
            _ => {}
        }
        self.rows += t.rows;
        Ok(())
    }

    /// Compressed Parquet pages waiting for their row group.
    #[cfg(feature = "parquet")]
    fn pending_bytes(&self) -> usize {
        match &self.out {
            Some(Out::Parquet(w)) => w.pending_bytes(),
            _ => 0,
        }
    }

    /// Writes the waiting Parquet pages as a row group.
    #[cfg(feature = "parquet")]
    fn flush_group(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(Out::Parquet(w)) => w.flush(),
            _ => Ok(()),
        }
    }

    /// Finishes the file and renames it into place.
    fn close(&mut self) -> io::Result<String> {
        let file = match self.out.take() {
            Some(Out::Text(mut w)) => {
                w.write_all(&self.text)?;
                self.text = Vec::new();
                if self.format == Format::Json {
                    w.write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
                }
                w.into_inner().map_err(|e| e.into_error())?
            }
            #[cfg(feature = "parquet")]
            Some(Out::Parquet(w)) => w.finish()?.into_inner().map_err(|e| e.into_error())?,
            None => return Err(io::Error::other("table file was never written")),
        };
        file.sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        Ok(self.path.display().to_string())
    }
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if self.out.is_some() || !self.path.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes the buffered rows as one chunk and empties the buffer.
fn flush<R>(f: &mut TableFile, rows: &mut Vec<R>, build: fn(&[R]) -> Table) -> io::Result<()> {
    let r = f.write(&build(rows));
    rows.clear();
    r
}

/// The `navigations`, `requests`, `connections` and `dns` files of `--out DIR`, written as
/// the rows are released.
pub struct TableFiles {
    navigations: (TableFile, Vec<NavigationRow>),
    requests: (TableFile, Vec<RequestRow>),
    connections: (TableFile, Vec<ConnectionRow>),
    dns: (TableFile, Vec<DnsLookup>, Vec<Option<u64>>),
    /// Rows per chunk ([`CHUNK_ROWS`] or [`TEXT_CHUNK_ROWS`]).
    chunk: usize,
    /// The first write error; later rows are dropped and [`RowSink::close`] returns it.
    error: Option<io::Error>,
}

impl TableFiles {
    /// Creates `dir` if needed; the files appear there when the tables are complete.
    pub fn create(dir: &Path, format: Format) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        // Fail now, not after reading the capture, when the directory is not writable.
        let probe = TableFile::new(dir, "navigations", format);
        File::create(&probe.tmp)?;
        let _ = fs::remove_file(&probe.tmp);
        Ok(TableFiles {
            navigations: (probe, Vec::new()),
            requests: (TableFile::new(dir, "requests", format), Vec::new()),
            connections: (TableFile::new(dir, "connections", format), Vec::new()),
            dns: (TableFile::new(dir, "dns", format), Vec::new(), Vec::new()),
            chunk: match format {
                Format::Parquet => CHUNK_ROWS,
                Format::Csv | Format::Json => TEXT_CHUNK_ROWS,
            },
            error: None,
        })
    }

    fn flush_navigations(&mut self) {
        let (f, rows) = &mut self.navigations;
        let r = flush(f, rows, navigations_table);
        self.note(r);
    }

    fn flush_requests(&mut self) {
        let (f, rows) = &mut self.requests;
        let r = flush(f, rows, requests_table);
        self.note(r);
    }

    fn flush_connections(&mut self) {
        let (f, rows) = &mut self.connections;
        let r = flush(f, rows, connections_table);
        self.note(r);
    }

    fn flush_dns(&mut self) {
        let (f, rows, navs) = &mut self.dns;
        let r = f.write(&dns_table_from(rows, f.rows, navs));
        rows.clear();
        navs.clear();
        self.note(r);
    }

    /// The four table files, in the order `close` reports them.
    fn files_mut(&mut self) -> [&mut TableFile; 4] {
        [
            &mut self.navigations.0,
            &mut self.requests.0,
            &mut self.connections.0,
            &mut self.dns.0,
        ]
    }

    /// Writes the fullest table's row group while the tables' waiting pages pass
    /// [`PENDING_BYTES`] together.
    #[cfg(feature = "parquet")]
    fn balance(&mut self) -> io::Result<()> {
        loop {
            let mut total = 0;
            let mut fullest: Option<(usize, &mut TableFile)> = None;
            for f in self.files_mut() {
                let n = f.pending_bytes();
                total += n;
                if n > 0 && fullest.as_ref().is_none_or(|(m, _)| n > *m) {
                    fullest = Some((n, f));
                }
            }
            match fullest {
                Some((_, f)) if total > PENDING_BYTES => f.flush_group()?,
                _ => return Ok(()),
            }
        }
    }

    fn note(&mut self, r: io::Result<()>) {
        #[cfg(feature = "parquet")]
        let r = r.and_then(|()| self.balance());
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }
}

impl RowSink for TableFiles {
    fn connection(&mut self, row: ConnectionRow) {
        if self.error.is_some() {
            return;
        }
        self.connections.1.push(row);
        if self.connections.1.len() >= self.chunk {
            self.flush_connections();
        }
    }

    fn request(&mut self, mut row: RequestRow) {
        if self.error.is_some() {
            return;
        }
        // Headers are for HAR only; the table does not hold them.
        row.http = None;
        self.requests.1.push(row);
        if self.requests.1.len() >= self.chunk {
            self.flush_requests();
        }
    }

    fn navigation(&mut self, row: NavigationRow) {
        if self.error.is_some() {
            return;
        }
        self.navigations.1.push(row);
        if self.navigations.1.len() >= self.chunk {
            self.flush_navigations();
        }
    }

    fn dns(&mut self, row: DnsLookup, navigation_id: Option<u64>) {
        if self.error.is_some() {
            return;
        }
        self.dns.1.push(row);
        self.dns.2.push(navigation_id);
        if self.dns.1.len() >= self.chunk {
            self.flush_dns();
        }
    }

    fn close(&mut self) -> io::Result<Vec<String>> {
        // The last chunks (an empty table still gets its header or schema).
        if !self.navigations.1.is_empty() || self.navigations.0.chunks == 0 {
            self.flush_navigations();
        }
        if !self.requests.1.is_empty() || self.requests.0.chunks == 0 {
            self.flush_requests();
        }
        if !self.connections.1.is_empty() || self.connections.0.chunks == 0 {
            self.flush_connections();
        }
        if !self.dns.1.is_empty() || self.dns.0.chunks == 0 {
            self.flush_dns();
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.files_mut().into_iter().map(TableFile::close).collect()
    }
}

#[cfg(all(test, feature = "parquet"))]
mod tests {
    use super::*;

    /// `n` hex digits that barely compress.
    fn token(seed: u64, n: usize) -> String {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x & 15) as u32, 16).unwrap_or('0')
            })
            .collect()
    }

    fn lookup(i: u64, qname: String) -> DnsLookup {
        let ip = std::net::IpAddr::from([10, 0, 0, 1]);
        DnsLookup {
            query_time: crate::base::Timestamp(i as i64),
            response_time: None,
            latency_ms: None,
            client_ip: ip,
            client_port: 5353,
            server_ip: ip,
            server_port: 53,
            transport: crate::protocol::dns::Transport::Udp,
            txid: i as u16,
            qname,
            qtype: 1,
            rcode: None,
            answers: Vec::new(),
            min_ttl: None,
            retransmits: 0,
            truncated: false,
            query_frame: i,
            response_frame: None,
            addresses: Vec::new(),
            cnames: Vec::new(),
            unsolicited: false,
        }
    }

    fn pending(files: &mut TableFiles) -> usize {
        files.files_mut().iter().map(|f| f.pending_bytes()).sum()
    }

    #[test]
    fn the_tables_waiting_parquet_pages_share_one_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = TableFiles::create(dir.path(), Format::Parquet).unwrap();
        // Each 2,048-row chunk is ~300 KB of compressed pages in either table: alone, a
        // table would hold three chunks (under its own 1 MiB); both together pass the
        // shared cap.
        let n = 4 * CHUNK_ROWS as u64;
        let mut most = 0;
        for i in 0..n {
            files.connection(ConnectionRow {
                connection_id: i,
                sni: Some(token(i, 300)),
                ..Default::default()
            });
            files.dns(lookup(i, token(i + n, 300)), None);
            let p = pending(&mut files);
            assert!(p <= PENDING_BYTES, "{p} bytes of pages waiting");
            most = most.max(p);
        }
        assert!(
            most > PENDING_BYTES / 2,
            "the cap was not approached: {most}"
        );
        let written = files.close().unwrap();
        assert_eq!(written.len(), 4);
        // Every row is there, in more row groups than the tables' own cap would make.
        for name in ["connections", "dns"] {
            let file = File::open(dir.path().join(format!("{name}.parquet"))).unwrap();
            let mut reader = polars::prelude::ParquetReader::new(file);
            use polars::prelude::SerReader;
            let groups = reader.get_metadata().unwrap().row_groups.len();
            assert!(groups >= 2, "{name}: {groups} row groups");
            assert_eq!(reader.finish().unwrap().height(), n as usize, "{name}");
        }
    }
}

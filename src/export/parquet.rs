//! Parquet writer: a [`Table`] becomes a polars `DataFrame`, written with zstd compression.
//!
//! This is the only module that knows polars (SPEC.md's column types live in [`Table`]):
//! integers Int64, durations Float64 (milliseconds, full precision; non-finite values are
//! null), strings String, flags Boolean, timestamps Datetime(ns, "UTC"), lists
//! List(String) (an empty list, never null). Imports only `export::table`.
//!
//! Tables stream in chunks ([`ParquetStream`]): each chunk is encoded and compressed at once
//! into one page per column, and the pages of consecutive chunks are gathered into one row
//! group of up to [`GROUP_ROWS`] rows (or [`GROUP_BYTES`] of compressed pages). Pages are
//! plain-encoded (then zstd): a dictionary page may only open a column chunk, so chunks
//! encoded apart could not share one.
//!
//! The file is assembled here, one row group at a time: polars' writer writes each group
//! as a file of its own, whose column chunks and page indexes go straight through to ours
//! (offsets moved to where they land) and whose footer is kept only for its row group's
//! description. polars' writer keeps every page's description (with its statistics) until
//! its footer, ~0.5 KB per page, which grew with the capture; here only the row groups'
//! descriptions are kept, which the footer needs.

use super::table::{Column, ColumnData, Table, push_ip_text};
use polars::prelude::{
    ArrowSchema, BooleanChunked, CompatLevel, DataType, Field, Float64Chunked, Int64Chunked,
    IntoSeries, ListBuilderTrait, ListStringChunkedBuilder, NamedFrom, ParquetCompression,
    PlSmallStr, PolarsError, PolarsResult, Schema, SchemaExt, Series, StatisticsOptions,
    StringChunked, TimeUnit, TimeZone,
};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::DataPage;
use polars_parquet::write::{
    CompressedDataPage, CompressedPage, DynIter, DynStreamingIterator, Encoding,
    FallibleStreamingIterator, FileWriter, Page, ParquetType, SchemaDescriptor, ThriftFileMetadata,
    Version, WriteOptions, array_to_columns, to_parquet_schema, write_metadata_sidecar,
};
use polars_parquet_format::OffsetIndex;
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use std::cell::{Cell, RefCell};
use std::io::{self, Write};

/// Most rows in one row group.
pub const GROUP_ROWS: usize = 8_192;

/// Most compressed page bytes held for one row group; a group is written when it is reached
/// (bounds the memory of a table with wide rows).
pub const GROUP_BYTES: usize = 1 << 20;

/// A Parquet file's leading and trailing magic.
const MAGIC: &[u8; 4] = b"PAR1";

/// A Parquet file written a chunk of rows at a time.
pub struct ParquetStream<W: Write> {
    out: W,
    /// Bytes written to `out` so far.
    offset: u64,
    schema: ArrowSchema,
    parquet_schema: SchemaDescriptor,
    /// Parquet type of each column (one leaf each: the tables have no structs).
    fields: Vec<ParquetType>,
    options: WriteOptions,
    /// The footer so far: the first row group's file's footer, with every group written
    /// since; `None` before the first group.
    footer: Option<ThriftFileMetadata>,
    /// Compressed pages of the row group being gathered, per column.
    pending: Vec<Vec<CompressedPage>>,
    pending_rows: usize,
    pending_bytes: usize,
}

thread_local! {
    /// One zstd context per thread, shared by every table being written: a context keeps
    /// tables sized for the largest page it has compressed (0.4–0.7 MB each here), and the
    /// files of one run are written on one thread.
    static COMPRESSOR: RefCell<Option<PageCompressor>> = const { RefCell::new(None) };
}

/// Compresses `page` with this thread's context.
fn compress(page: DataPage) -> PolarsResult<CompressedDataPage> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let c = match &mut *c {
            Some(c) => c,
            None => c.insert(PageCompressor {
                ctx: zstd::bulk::Compressor::new(0)
                    .map_err(|e| PolarsError::ComputeError(format!("zstd: {e}").into()))?,
                scratch: Vec::new(),
            }),
        };
        c.compress(page)
    })
}

/// Compresses pages with one zstd context (polars makes, and zeroes, a new one per page).
struct PageCompressor {
    ctx: zstd::bulk::Compressor<'static>,
    /// Room for the worst case; a page keeps only its bytes (it waits in memory until its
    /// row group is written).
    scratch: Vec<u8>,
}

impl PageCompressor {
    /// A version 1 page is compressed whole (levels and values), at zstd's default level
    /// (polars' default too).
    fn compress(&mut self, page: DataPage) -> PolarsResult<CompressedDataPage> {
        let data = page.buffer();
        self.scratch.clear();
        self.scratch
            .reserve(zstd::zstd_safe::compress_bound(data.len()));
        self.ctx
            .compress_to_buffer(data, &mut self.scratch)
            .map_err(|e| PolarsError::ComputeError(format!("zstd: {e}").into()))?;
        Ok(CompressedDataPage::new(
            page.header().clone(),
            CowBuffer::Owned(self.scratch.to_vec()),
            Compression::Zstd,
            data.len(),
            page.descriptor,
            page.num_rows.unwrap_or(0),
        ))
    }
}

impl<W: Write> ParquetStream<W> {
    /// Starts the file with `t`'s schema (`t` itself is not written).
    pub fn new(w: W, t: &Table) -> io::Result<Self> {
        let schema: Schema = t
            .columns
            .iter()
            .map(|c| Field::new(PlSmallStr::from_static(c.name), dtype(&c.data)))
            .collect();
        let schema = schema.to_arrow(CompatLevel::newest());
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: ParquetCompression::default().into(),
            data_page_size: None,
        };
        let parquet_schema = to_parquet_schema(&schema).map_err(io::Error::other)?;
        let fields = parquet_schema.fields().to_vec();
        let mut out = w;
        out.write_all(MAGIC)?;
        Ok(ParquetStream {
            out,
            offset: MAGIC.len() as u64,
            schema,
            parquet_schema,
            footer: None,
            pending: fields.iter().map(|_| Vec::new()).collect(),
            fields,
            options,
            pending_rows: 0,
            pending_bytes: 0,
        })
    }

    /// Encodes and compresses `t`'s rows and adds them to the row group being gathered; the
    /// group is written when it is full.
    pub fn write(&mut self, t: &Table) -> io::Result<()> {
        if t.rows == 0 {
            return Ok(());
        }
        self.encode(t).map_err(io::Error::other)?;
        if self.pending_rows >= GROUP_ROWS || self.pending_bytes >= GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// One column at a time, so only one column's arrays are alive besides the table.
    fn encode(&mut self, t: &Table) -> PolarsResult<()> {
        let columns = t.columns.iter().zip(&self.fields);
        for ((column, field), pending) in columns.zip(&mut self.pending) {
            let series = to_series(column);
            for chunk in 0..series.n_chunks() {
                let array = series.to_arrow(chunk, CompatLevel::newest());
                for leaf in
                    array_to_columns(array, field.clone(), self.options, &[Encoding::Plain])?
                {
                    for page in leaf {
                        // Plain encoding: data pages only, never a dictionary page.
                        let Page::Data(page) = page? else {
                            return Err(PolarsError::ComputeError("dictionary page".into()));
                        };
                        let page = compress(page)?;
                        self.pending_bytes += page.compressed_size();
                        pending.push(CompressedPage::Data(page));
                    }
                }
            }
        }
        self.pending_rows += t.rows;
        Ok(())
    }

    /// Compressed page bytes waiting for their row group.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Writes the gathered pages as one row group: through polars' writer as a file of its
    /// own, whose body (column chunks, then page indexes) goes on into ours and whose footer
    /// gives the group's description.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let tail = RefCell::new(Vec::new());
        let capture = Cell::new(false);
        let sink = GroupSink {
            out: &mut self.out,
            skip: MAGIC.len(),
            written: 0,
            capture: &capture,
            tail: &tail,
        };
        let mut writer = FileWriter::new_with_parquet_schema(
            sink,
            self.schema.clone(),
            self.parquet_schema.clone(),
            self.options,
        );
        // Each page is dropped once written.
        let columns = self.pending.iter_mut().map(|pages| {
            Ok(DynStreamingIterator::new(Drained {
                pages: pages.drain(..),
                current: None,
            }))
        });
        let rows = self.pending_rows as u64;
        self.pending_rows = 0;
        self.pending_bytes = 0;
        writer
            .write(rows, DynIter::new(columns))
            .map_err(io::Error::other)?;
        // The column chunks went through; the page indexes and the footer are kept.
        capture.set(true);
        writer.end(None).map_err(io::Error::other)?;
        let (sink, mut meta) = writer.into_inner_and_metadata();
        let body = sink.written;
        let tail = tail.into_inner();
        // The group's file had its body after its magic; ours has it at `offset`.
        let shift = self.offset as i64 - MAGIC.len() as i64;
        self.offset += body;
        let first = self.footer.as_ref().map_or(0, |f| f.row_groups.len());
        // Its page indexes were written after the body (relative to the group's file's
        // start, at `MAGIC.len() + body`): column indexes hold no offsets and are copied;
        // offset indexes list the pages' offsets and are written again, moved.
        let indexes_at = MAGIC.len() as i64 + body as i64;
        let mut out = Vec::new();
        for g in &mut meta.row_groups {
            for c in &mut g.columns {
                if let (Some(at), Some(len)) = (c.column_index_offset, c.column_index_length) {
                    let bytes = slice(&tail, at - indexes_at, len)?;
                    c.column_index_offset = Some(self.offset as i64);
                    self.out.write_all(bytes)?;
                    self.offset += bytes.len() as u64;
                }
            }
        }
        for g in &mut meta.row_groups {
            for c in &mut g.columns {
                if let (Some(at), Some(len)) = (c.offset_index_offset, c.offset_index_length) {
                    let mut index = read_offset_index(slice(&tail, at - indexes_at, len)?)?;
                    for page in &mut index.page_locations {
                        page.offset += shift;
                    }
                    out.clear();
                    write_offset_index(&index, &mut out)?;
                    c.offset_index_offset = Some(self.offset as i64);
                    c.offset_index_length = i32::try_from(out.len()).ok();
                    self.out.write_all(&out)?;
                    self.offset += out.len() as u64;
                }
            }
        }
        for (i, g) in meta.row_groups.iter_mut().enumerate() {
            g.file_offset = g.file_offset.map(|o| o + shift);
            g.ordinal = i16::try_from(first + i).ok();
            for c in &mut g.columns {
                c.file_offset += shift;
                if let Some(m) = c.meta_data.as_mut() {
                    m.data_page_offset += shift;
                    m.index_page_offset = m.index_page_offset.map(|o| o + shift);
                    m.dictionary_page_offset = m.dictionary_page_offset.map(|o| o + shift);
                    m.bloom_filter_offset = m.bloom_filter_offset.map(|o| o + shift);
                }
            }
        }
        match self.footer.as_mut() {
            None => self.footer = Some(meta),
            Some(f) => {
                f.num_rows += meta.num_rows;
                f.row_groups.append(&mut meta.row_groups);
            }
        }
        Ok(())
    }

    /// Writes the last row group and the footer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        let footer = match self.footer.take() {
            Some(f) => f,
            None => {
                // No rows: the footer of an empty file with the schema.
                let mut w = FileWriter::new_with_parquet_schema(
                    Vec::new(),
                    self.schema.clone(),
                    self.parquet_schema.clone(),
                    self.options,
                );
                w.end(None).map_err(io::Error::other)?;
                w.into_inner_and_metadata().1
            }
        };
        let mut tail = Vec::new();
        write_metadata_sidecar(&mut tail, &footer).map_err(io::Error::other)?;
        // A file of its own: its magic, then the footer.
        self.out.write_all(&tail[MAGIC.len()..])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A column's waiting pages, handed to polars' writer one at a time (each is dropped when
/// the next is asked for).
struct Drained<'a> {
    pages: std::vec::Drain<'a, CompressedPage>,
    current: Option<CompressedPage>,
}

impl FallibleStreamingIterator for Drained<'_> {
    type Item = CompressedPage;
    type Error = PolarsError;

    fn advance(&mut self) -> PolarsResult<()> {
        self.current = self.pages.next();
        Ok(())
    }

    fn get(&self) -> Option<&CompressedPage> {
        self.current.as_ref()
    }
}

/// `len` bytes at `at` of a row group file's tail.
fn slice(tail: &[u8], at: i64, len: i32) -> io::Result<&[u8]> {
    usize::try_from(at)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(at, len)| tail.get(at..at.checked_add(len)?))
        .ok_or_else(|| io::Error::other("page index outside its row group's file"))
}

fn read_offset_index(bytes: &[u8]) -> io::Result<OffsetIndex> {
    // The limit is on what decoding allocates; these are polars' own bytes.
    let mut p = TCompactInputProtocol::new(bytes, 64 << 20);
    OffsetIndex::read_from_in_protocol(&mut p).map_err(io::Error::other)
}

fn write_offset_index(index: &OffsetIndex, out: &mut Vec<u8>) -> io::Result<()> {
    let mut p = TCompactOutputProtocol::new(out);
    index
        .write_to_out_protocol(&mut p)
        .map_err(io::Error::other)?;
    Ok(())
}

/// Where polars' writer writes a row group's file: its magic is dropped, its body goes on
/// to the output, and once `capture` is set (the body is done) the rest is kept in `tail`.
struct GroupSink<'a, W: Write> {
    out: &'a mut W,
    /// Leading bytes still to drop.
    skip: usize,
    /// Body bytes passed on.
    written: u64,
    capture: &'a Cell<bool>,
    tail: &'a RefCell<Vec<u8>>,
}

impl<W: Write> Write for GroupSink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let dropped = self.skip.min(buf.len());
        self.skip -= dropped;
        let rest = &buf[dropped..];
        if self.capture.get() {
            self.tail.borrow_mut().extend_from_slice(rest);
        } else {
            self.out.write_all(rest)?;
            self.written += rest.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The polars type of a column (what [`to_series`] makes of it).
fn dtype(c: &ColumnData) -> DataType {
    match c {
        ColumnData::Int(_) => DataType::Int64,
        ColumnData::Float(_) => DataType::Float64,
        ColumnData::Str(_) | ColumnData::Ip(_) => DataType::String,
        ColumnData::Bool(_) => DataType::Boolean,
        ColumnData::Time(_) => DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
        ColumnData::List(_) => DataType::List(Box::new(DataType::String)),
    }
}

fn to_series(c: &Column) -> Series {
    let name = PlSmallStr::from_static(c.name);
    match &c.data {
        ColumnData::Int(v) => Int64Chunked::new(name, v.as_slice()).into_series(),
        ColumnData::Float(v) => {
            let v: Vec<Option<f64>> = v.iter().map(|x| x.filter(|x| x.is_finite())).collect();
            Float64Chunked::new(name, v.as_slice()).into_series()
        }
        ColumnData::Str(v) => {
            let v: Vec<Option<&str>> = v.iter().map(|s| s.as_deref()).collect();
            StringChunked::new(name, v.as_slice()).into_series()
        }
        ColumnData::Ip(v) => {
            // Every address written into one buffer, then sliced (no string per cell).
            let mut text = String::with_capacity(v.len() * 15);
            let ends: Vec<usize> = v
                .iter()
                .map(|a| {
                    if let Some(a) = a {
                        push_ip_text(*a, &mut text);
                    }
                    text.len()
                })
                .collect();
            let mut start = 0;
            let cells: Vec<Option<&str>> = v
                .iter()
                .zip(ends)
                .map(|(a, end)| {
                    let cell = text.get(start..end);
                    start = end;
                    a.and(cell)
                })
                .collect();
            StringChunked::new(name, cells.as_slice()).into_series()
        }
        ColumnData::Bool(v) => BooleanChunked::new(name, v.as_slice()).into_series(),
        ColumnData::Time(v) => {
            let ns: Vec<Option<i64>> = v.iter().map(|t| t.map(|t| t.nanos())).collect();
            Int64Chunked::new(name, ns.as_slice())
                .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
                .into_series()
        }
        ColumnData::List(l) => {
            let mut b = ListStringChunkedBuilder::new(name, l.rows(), l.items());
            for row in 0..l.rows() {
                if let Some(items) = l.row(row) {
                    b.append_values_iter(items);
                }
            }
            b.finish().into_series()
        }
    }
}

/// Writes the table as one Parquet file (zstd, one row group: the rows are all in memory).
pub fn write_parquet(t: &Table, w: &mut dyn Write) -> io::Result<()> {
    let mut p = ParquetStream::new(w, t)?;
    p.write(t)?;
    p.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::table::TableBuilder;
    use super::*;
    use crate::base::Timestamp;
    use polars::prelude::{DataFrame, ParquetReader, SerReader};

    #[test]
    fn types_nulls_and_round_trip() {
        let rows = vec![
            (
                1i64,
                Some(2.5f64),
                Some(true),
                vec!["a".to_string(), "b".into()],
            ),
            (2, None, None, vec![]),
        ];
        let t = TableBuilder::new("t", &rows)
            .int("id", |r| Some(r.0))
            .float("ms", |r| r.1)
            .bool("flag", |r| r.2)
            .str("s", |r| (r.0 == 1).then(|| "x".to_string()))
            .time("ts", |r| (r.0 == 1).then_some(Timestamp(1_500_000_001)))
            .list("l", |r| r.3.clone())
            .build();
        let mut buf = Vec::new();
        write_parquet(&t, &mut buf).unwrap();
        let df = ParquetReader::new(std::io::Cursor::new(buf))
            .finish()
            .unwrap();
        assert_eq!(df.height(), 2);
        let dtypes: Vec<DataType> = df.columns().iter().map(|c| c.dtype().clone()).collect();
        assert_eq!(
            dtypes,
            vec![
                DataType::Int64,
                DataType::Float64,
                DataType::Boolean,
                DataType::String,
                DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
                DataType::List(Box::new(DataType::String)),
            ]
        );
        let ms = df.column("ms").unwrap();
        assert_eq!(ms.null_count(), 1);
        let ts = df.column("ts").unwrap().cast(&DataType::Int64).unwrap();
        assert_eq!(ts.i64().unwrap().get(0), Some(1_500_000_001));
        let l = df.column("l").unwrap();
        assert_eq!(l.null_count(), 0);
    }

    /// Rows of a test table: id, a repeating host, a pseudo-random token of `width` hex
    /// digits (barely compressible), a timestamp and a list.
    fn sample(rows: &[i64], width: usize) -> Vec<(i64, String, String)> {
        rows.iter()
            .map(|&i| {
                let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let token: String = (0..width)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        char::from_digit((x & 15) as u32, 16).unwrap_or('0')
                    })
                    .collect();
                (i, format!("host{}.example", i % 7), token)
            })
            .collect()
    }

    fn sample_table(rows: &[(i64, String, String)]) -> Table<'_> {
        TableBuilder::new("t", rows)
            .int("id", |r| Some(r.0))
            .str("host", |r| (r.0 % 5 != 0).then_some(r.1.as_str()))
            .str("token", |r| Some(r.2.as_str()))
            .time("ts", |r| Some(Timestamp(r.0 * 1_000)))
            .list("l", |r| vec![r.1.as_str(); (r.0 % 3) as usize])
            .build()
    }

    /// Streams `rows` in chunks of 2048 (the export's chunk size) and reads the file back.
    fn stream(rows: &[(i64, String, String)]) -> (DataFrame, Vec<usize>, bool) {
        let mut buf = Vec::new();
        let mut p = ParquetStream::new(&mut buf, &sample_table(&rows[..0])).unwrap();
        for chunk in rows.chunks(2048) {
            p.write(&sample_table(chunk)).unwrap();
        }
        p.finish().unwrap();
        let mut reader = ParquetReader::new(std::io::Cursor::new(buf.clone()));
        let meta = reader.get_metadata().unwrap().clone();
        let groups = meta.row_groups.iter().map(|g| g.num_rows()).collect();
        let dictionary = meta.row_groups.iter().any(|g| {
            g.parquet_columns()
                .iter()
                .any(|c| c.dictionary_page_offset().is_some())
        });
        let df = ParquetReader::new(std::io::Cursor::new(buf))
            .finish()
            .unwrap();
        (df, groups, dictionary)
    }

    #[test]
    fn chunks_gather_into_row_groups_of_plain_pages() {
        let ids: Vec<i64> = (0..5 * 2048 + 100).collect();
        let rows = sample(&ids, 8);
        let (df, groups, dictionary) = stream(&rows);
        // Four chunks make a group; the rest is written at the end.
        assert_eq!(groups, vec![GROUP_ROWS, 2048 + 100]);
        assert!(
            !dictionary,
            "pages of separately encoded chunks must not use a dictionary"
        );
        // The same content as the table written whole.
        let mut whole = Vec::new();
        write_parquet(&sample_table(&rows), &mut whole).unwrap();
        let whole = ParquetReader::new(std::io::Cursor::new(whole))
            .finish()
            .unwrap();
        assert!(df.equals_missing(&whole));
        assert_eq!(df.height(), rows.len());
        let host = df.column("host").unwrap();
        assert_eq!(host.null_count(), rows.len().div_ceil(5));
    }

    #[test]
    fn waiting_pages_hold_only_their_compressed_bytes() {
        let ids: Vec<i64> = (0..2048).collect();
        let rows = sample(&ids, 8);
        let mut p = ParquetStream::new(Vec::new(), &sample_table(&rows[..0])).unwrap();
        p.write(&sample_table(&rows)).unwrap();
        assert_eq!(p.pending_rows, 2048, "one chunk waits for its group");
        for pages in &mut p.pending {
            for page in pages {
                let CompressedPage::Data(d) = page else {
                    panic!("a dictionary page");
                };
                let v = d.slice_mut().to_mut();
                // Not the compressor's worst-case room (the uncompressed size and more).
                assert!(
                    v.capacity() <= v.len() + 16,
                    "{} of {}",
                    v.capacity(),
                    v.len()
                );
            }
        }
    }

    /// Thrift struct `T` at `at` in `file`.
    fn thrift<T>(
        file: &[u8],
        at: i64,
        read: fn(
            &mut polars_parquet_format::thrift::protocol::TCompactInputProtocol<&[u8]>,
        ) -> polars_parquet_format::thrift::Result<T>,
    ) -> T {
        let mut p = polars_parquet_format::thrift::protocol::TCompactInputProtocol::new(
            &file[at as usize..],
            usize::MAX,
        );
        read(&mut p).unwrap()
    }

    #[test]
    fn row_groups_and_page_indexes_point_into_the_assembled_file() {
        let ids: Vec<i64> = (0..5 * 2048 + 100).collect();
        let rows = sample(&ids, 8);
        let mut file = Vec::new();
        let mut p = ParquetStream::new(&mut file, &sample_table(&rows[..0])).unwrap();
        for chunk in rows.chunks(2048) {
            p.write(&sample_table(chunk)).unwrap();
        }
        p.finish().unwrap();
        assert_eq!(&file[..4], MAGIC);
        let n = file.len();
        let len = u32::from_le_bytes(file[n - 8..n - 4].try_into().unwrap()) as i64;
        let meta = thrift(&file, n as i64 - 8 - len, |p| {
            polars_parquet_format::FileMetaData::read_from_in_protocol(p)
        });
        assert_eq!(meta.num_rows, rows.len() as i64);
        assert_eq!(meta.row_groups.len(), 2);
        let mut first_row = 0;
        for (i, g) in meta.row_groups.iter().enumerate() {
            assert_eq!(g.ordinal, Some(i as i16));
            assert_eq!(g.columns.len(), 5);
            for (k, c) in g.columns.iter().enumerate() {
                let m = c.meta_data.as_ref().unwrap();
                // The offset index lists the chunk's pages, the first at the chunk's start, in
                // 2,048-row pages.
                let index = thrift(&file, c.offset_index_offset.unwrap(), |p| {
                    polars_parquet_format::OffsetIndex::read_from_in_protocol(p)
                });
                let pages = &index.page_locations;
                assert_eq!(pages[0].offset, m.data_page_offset);
                assert_eq!(
                    g.file_offset,
                    Some(g.columns[0].meta_data.as_ref().unwrap().data_page_offset)
                );
                let sizes: i64 = pages
                    .iter()
                    .map(|l| i64::from(l.compressed_page_size))
                    .sum();
                assert_eq!(sizes, m.total_compressed_size);
                let starts: Vec<i64> = pages.iter().map(|l| l.first_row_index).collect();
                let want: Vec<i64> = (0..pages.len() as i64).map(|k| k * 2048).collect();
                assert_eq!(starts, want);
                // Each location is a page header whose page is the next location.
                for w in pages.windows(2) {
                    assert_eq!(
                        w[0].offset + i64::from(w[0].compressed_page_size),
                        w[1].offset
                    );
                }
                let header = thrift(&file, pages[0].offset, |p| {
                    polars_parquet_format::PageHeader::read_from_in_protocol(p)
                });
                let values = header.data_page_header.unwrap().num_values;
                if k == 0 {
                    assert_eq!(values, 2048, "the id column: one value per row");
                }
                let column = thrift(&file, c.column_index_offset.unwrap(), |p| {
                    polars_parquet_format::ColumnIndex::read_from_in_protocol(p)
                });
                assert_eq!(column.null_pages.len(), pages.len());
            }
            first_row += g.num_rows;
        }
        assert_eq!(first_row, rows.len() as i64);
    }

    #[test]
    fn a_group_is_written_when_its_pages_reach_the_byte_cap() {
        // ~600 KB of compressed tokens per chunk: two chunks pass GROUP_BYTES.
        let ids: Vec<i64> = (0..5 * 2048).collect();
        let rows = sample(&ids, 600);
        let (df, groups, _) = stream(&rows);
        assert_eq!(groups, vec![4096, 4096, 2048]);
        assert_eq!(df.height(), rows.len());
    }

    #[test]
    fn empty_table_keeps_its_schema() {
        let rows: Vec<i64> = Vec::new();
        let t = TableBuilder::new("t", &rows)
            .time("ts", |_| None)
            .list("l", |_| Vec::<String>::new())
            .build();
        let mut buf = Vec::new();
        write_parquet(&t, &mut buf).unwrap();
        let df = ParquetReader::new(std::io::Cursor::new(buf))
            .finish()
            .unwrap();
        assert_eq!(df.height(), 0);
        assert_eq!(
            df.column("l").unwrap().dtype(),
            &DataType::List(Box::new(DataType::String))
        );
    }
}

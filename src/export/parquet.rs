//! Parquet writer: a [`Table`] becomes a polars `DataFrame`, written with zstd compression.
//!
//! This is the only module that knows polars (SPEC.md's column types live in [`Table`]):
//! integers Int64, durations Float64 (milliseconds, full precision; non-finite values are
//! null), strings String, flags Boolean, timestamps Datetime(ns, "UTC"), lists
//! List(String) (an empty list, never null). Imports only `export::table`.
//!
//! Tables stream in chunks ([`ParquetStream`]): each chunk is encoded and compressed at once
//! into one page per column, and the pages of consecutive chunks are gathered into one row
//! group of up to [`GROUP_ROWS`] rows (or [`GROUP_BYTES`] of compressed pages). The writer
//! keeps each page's and each column chunk's description until the footer (the format needs
//! them there), so fewer, larger row groups keep that footer state small: with a row group
//! per chunk it grew by ~2 KB per column per chunk. Pages are plain-encoded (then zstd): a
//! dictionary page may only open a column chunk, so chunks encoded apart could not share
//! one.

use super::table::{Column, ColumnData, Table, push_ip_text};
use polars::prelude::{
    BooleanChunked, CompatLevel, DataType, Field, Float64Chunked, Int64Chunked, IntoSeries,
    ListBuilderTrait, ListStringChunkedBuilder, NamedFrom, ParquetCompression, PlSmallStr,
    PolarsError, PolarsResult, Schema, SchemaExt, Series, StatisticsOptions, StringChunked,
    TimeUnit, TimeZone,
};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::DataPage;
use polars_parquet::write::{
    CompressedDataPage, CompressedPage, DynIter, DynStreamingIterator, Encoding, FileWriter, Page,
    ParquetType, Version, WriteOptions, array_to_columns, fallible_streaming_iterator,
};
use std::io::{self, Write};

/// Most rows in one row group.
pub const GROUP_ROWS: usize = 8_192;

/// Most compressed page bytes held for one row group; a group is written when it is reached
/// (bounds the memory of a table with wide rows).
pub const GROUP_BYTES: usize = 1 << 20;

/// A Parquet file written a chunk of rows at a time.
pub struct ParquetStream<W: Write> {
    writer: FileWriter<W>,
    /// Parquet type of each column (one leaf each: the tables have no structs).
    fields: Vec<ParquetType>,
    options: WriteOptions,
    /// Compressed pages of the row group being gathered, per column.
    pending: Vec<Vec<CompressedPage>>,
    pending_rows: usize,
    pending_bytes: usize,
    zstd: PageCompressor,
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
        let writer = FileWriter::try_new(w, schema, options).map_err(io::Error::other)?;
        let fields = writer.parquet_schema().fields().to_vec();
        Ok(ParquetStream {
            pending: fields.iter().map(|_| Vec::new()).collect(),
            fields,
            writer,
            options,
            pending_rows: 0,
            pending_bytes: 0,
            zstd: PageCompressor {
                ctx: zstd::bulk::Compressor::new(0)?,
                scratch: Vec::new(),
            },
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
                        let page = self.zstd.compress(page)?;
                        self.pending_bytes += page.compressed_size();
                        pending.push(CompressedPage::Data(page));
                    }
                }
            }
        }
        self.pending_rows += t.rows;
        Ok(())
    }

    /// Writes the gathered pages as one row group.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let columns = self.pending.iter().map(|pages| {
            Ok(DynStreamingIterator::new(
                fallible_streaming_iterator::convert(pages.iter().map(PolarsResult::Ok)),
            ))
        });
        let group = DynIter::new(columns);
        let r = self.writer.write(self.pending_rows as u64, group);
        self.pending.iter_mut().for_each(Vec::clear);
        self.pending_rows = 0;
        self.pending_bytes = 0;
        r.map_err(io::Error::other)
    }

    /// Writes the last row group and the footer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        self.writer.end(None).map_err(io::Error::other)?;
        Ok(self.writer.into_inner())
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

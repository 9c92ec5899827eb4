//! Parquet writer: a [`Table`] becomes a polars `DataFrame`, written with zstd compression.
//!
//! This is the only module that knows polars (SPEC.md's column types live in [`Table`]):
//! integers Int64, durations Float64 (milliseconds, full precision; non-finite values are
//! null), strings String, flags Boolean, timestamps Datetime(ns, "UTC"), lists
//! List(String) (an empty list, never null). Imports only `export::table`.

use super::table::{Column, ColumnData, Table};
use polars::prelude::{
    BooleanChunked, DataFrame, Float64Chunked, Int64Chunked, IntoColumn, IntoSeries,
    ListBuilderTrait, ListStringChunkedBuilder, NamedFrom, ParquetWriter, PlSmallStr, PolarsResult,
    Series, StringChunked, TimeUnit, TimeZone,
};
use std::io::{self, Write};

/// The table as a polars `DataFrame`, one column per table column, in order.
pub fn to_dataframe(t: &Table) -> PolarsResult<DataFrame> {
    let columns = t
        .columns
        .iter()
        .map(|c| to_series(c).into_column())
        .collect();
    DataFrame::new(t.rows, columns)
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
            let v: Vec<Option<String>> = v.iter().map(|a| a.map(|a| a.to_string())).collect();
            StringChunked::new(name, v.as_slice()).into_series()
        }
        ColumnData::Bool(v) => BooleanChunked::new(name, v.as_slice()).into_series(),
        ColumnData::Time(v) => {
            let ns: Vec<Option<i64>> = v.iter().map(|t| t.map(|t| t.nanos())).collect();
            Int64Chunked::new(name, ns.as_slice())
                .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
                .into_series()
        }
        ColumnData::List(v) => {
            let values = v.iter().map(Vec::len).sum();
            let mut b = ListStringChunkedBuilder::new(name, v.len(), values);
            for l in v {
                b.append_values_iter(l.iter().map(|s| s.as_ref()));
            }
            b.finish().into_series()
        }
    }
}

/// Writes the table as one Parquet file (zstd, one row group for these sizes).
pub fn write_parquet(t: &Table, w: &mut dyn Write) -> io::Result<()> {
    let mut df = to_dataframe(t).map_err(io::Error::other)?;
    ParquetWriter::new(w)
        .finish(&mut df)
        .map_err(io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::table::TableBuilder;
    use super::*;
    use crate::base::Timestamp;
    use polars::prelude::{DataType, ParquetReader, SerReader};

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

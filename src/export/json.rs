//! JSON writer: one file per table holding an array of row objects, one row per line (valid
//! JSON that still diffs line by line), keys in column order.
//!
//! Typed values: integers and durations are numbers (durations rounded to the microsecond,
//! as in CSV), flags booleans, nulls `null`, lists arrays of strings, timestamps RFC 3339
//! strings with nanoseconds. [`write_tables_object`] writes every table into one object
//! `{"navigations": [...], "requests": [...], ...}` for `--out -`.

use super::csv::fmt_float;
use super::table::{ColumnData, Table};
use std::io::{self, Write};

/// `[\n{row},\n{row}\n]\n`.
pub fn write_json(t: &Table, w: &mut dyn Write) -> io::Result<()> {
    write_array(t, w)?;
    w.write_all(b"\n")
}

/// Every table in one JSON object keyed by table name, in the given order.
pub fn write_tables_object(tables: &[Table], w: &mut dyn Write) -> io::Result<()> {
    write_object_with(tables, w, write_array)
}

/// [`write_tables_object`]'s object, each table's array written by `array` (the array
/// alone: `[...]`, no final newline).
pub fn write_object_with(
    tables: &[Table],
    w: &mut dyn Write,
    mut array: impl FnMut(&Table, &mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    w.write_all(b"{")?;
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write!(w, "\n{}: ", string(t.name))?;
        array(t, w)?;
    }
    w.write_all(b"\n}\n")
}

pub(super) fn write_array(t: &Table, w: &mut dyn Write) -> io::Result<()> {
    if t.rows == 0 {
        return w.write_all(b"[]");
    }
    w.write_all(b"[")?;
    let mut line = String::new();
    for row in 0..t.rows {
        line.clear();
        line.push_str(if row == 0 { "\n" } else { ",\n" });
        row_object(t, row, &mut line);
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n]")
}

/// One row as a JSON object.
pub fn row_object(t: &Table, row: usize, out: &mut String) {
    out.push('{');
    for (i, c) in t.columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&string(c.name));
        out.push(':');
        value(&c.data, row, out);
    }
    out.push('}');
}

fn value(data: &ColumnData, row: usize, out: &mut String) {
    let v = match data {
        ColumnData::Int(v) => v.get(row).copied().flatten().map(|x| x.to_string()),
        ColumnData::Float(v) => v
            .get(row)
            .copied()
            .flatten()
            .filter(|x| x.is_finite())
            .map(fmt_float),
        ColumnData::Str(v) => v.get(row).and_then(|s| s.as_deref()).map(string),
        ColumnData::Ip(v) => v.get(row).copied().flatten().map(|a| format!("\"{a}\"")),
        ColumnData::Bool(v) => v.get(row).copied().flatten().map(|b| b.to_string()),
        ColumnData::Time(v) => v
            .get(row)
            .copied()
            .flatten()
            .map(|t| string(&t.to_rfc3339())),
        ColumnData::List(l) => l.row(row).map(|it| {
            let items: Vec<String> = it.map(string).collect();
            format!("[{}]", items.join(","))
        }),
    };
    out.push_str(v.as_deref().unwrap_or("null"));
}

/// A JSON string literal.
fn string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::table::TableBuilder;
    use super::*;
    use crate::base::Timestamp;

    #[test]
    fn typed_values_and_nulls() {
        let rows = vec![(1i64, Some(2.0004f64), "q\"uote"), (2, None, "x")];
        let t = TableBuilder::new("t", &rows)
            .int("id", |r| Some(r.0))
            .float("ms", |r| r.1)
            .str("s", |r| Some(r.2.to_string()))
            .bool("b", |r| (r.0 == 1).then_some(true))
            .time("ts", |_| Some(Timestamp(1_500_000_000)))
            .list("l", |r| vec![r.2.to_string()])
            .build();
        let mut out = Vec::new();
        write_json(&t, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "[\n{\"id\":1,\"ms\":2,\"s\":\"q\\\"uote\",\"b\":true,\"ts\":\"1970-01-01T00:00:01.500000000Z\",\"l\":[\"q\\\"uote\"]},\n\
             {\"id\":2,\"ms\":null,\"s\":\"x\",\"b\":null,\"ts\":\"1970-01-01T00:00:01.500000000Z\",\"l\":[\"x\"]}\n]\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
    }

    #[test]
    fn object_of_tables_parses() {
        let empty: Vec<u8> = Vec::new();
        let t = TableBuilder::new("empty", &empty)
            .int("id", |_| None)
            .build();
        let mut out = Vec::new();
        write_tables_object(&[t.clone(), t], &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["empty"], serde_json::json!([]));
    }
}

//! CSV writer: RFC 4180 quoting, timestamps RFC 3339 with nanoseconds, durations as float
//! milliseconds, nulls as empty fields, lists `;`-joined.

use super::table::{ColumnData, Table};
use std::io::{self, Write};

pub fn write_csv(table: &Table, w: &mut dyn Write) -> io::Result<()> {
    let header: Vec<String> = table.columns.iter().map(|c| quote(c.name)).collect();
    writeln!(w, "{}", header.join(","))?;
    write_csv_rows(table, w)
}

/// The rows only (a later chunk of a table written in pieces).
pub fn write_csv_rows(table: &Table, w: &mut dyn Write) -> io::Result<()> {
    let mut line = String::new();
    for row in 0..table.rows {
        line.clear();
        for (i, col) in table.columns.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&cell(&col.data, row));
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// One cell as CSV text.
pub fn cell(data: &ColumnData, row: usize) -> String {
    match data {
        ColumnData::Int(v) => v.get(row).copied().flatten().map(|x| x.to_string()),
        ColumnData::Float(v) => v.get(row).copied().flatten().map(fmt_float),
        ColumnData::Str(v) => v.get(row).cloned().flatten().map(|s| quote(&s)),
        ColumnData::Bool(v) => v.get(row).copied().flatten().map(|b| b.to_string()),
        ColumnData::Time(v) => v.get(row).copied().flatten().map(|t| t.to_rfc3339()),
        ColumnData::List(v) => v.get(row).map(|l| quote(&l.join(";"))),
    }
    .unwrap_or_default()
}

/// Durations: microsecond resolution is plenty for milliseconds and keeps files diffable.
pub fn fmt_float(x: f64) -> String {
    if x.is_finite() {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        String::new()
    }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::TableBuilder;
    use super::*;
    use crate::base::Timestamp;

    #[test]
    fn writes_nulls_quotes_and_times() {
        let rows = vec![(1i64, Some(2.5f64), "a,b"), (2, None, "plain")];
        let t = TableBuilder::new("t", &rows)
            .int("id", |r| Some(r.0))
            .float("ms", |r| r.1)
            .str("s", |r| Some(r.2.to_string()))
            .time("ts", |_| Some(Timestamp(1_500_000_000)))
            .build();
        let mut out = Vec::new();
        write_csv(&t, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,ms,s,ts\n1,2.5,\"a,b\",1970-01-01T00:00:01.500000000Z\n2,,plain,1970-01-01T00:00:01.500000000Z\n"
        );
    }
}

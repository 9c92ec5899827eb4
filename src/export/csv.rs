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
            push_cell(&col.data, row, &mut line);
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

/// Appends one cell as CSV text to `out` (the writer's path: no allocation per cell).
pub fn push_cell(data: &ColumnData, row: usize, out: &mut String) {
    match data {
        ColumnData::Int(v) => {
            if let Some(x) = v.get(row).copied().flatten() {
                push_int(x, out);
            }
        }
        ColumnData::Float(v) => {
            if let Some(x) = v.get(row).copied().flatten() {
                push_float(x, out);
            }
        }
        ColumnData::Str(v) => {
            if let Some(Some(s)) = v.get(row) {
                push_quoted(s, out);
            }
        }
        ColumnData::Bool(v) => {
            if let Some(b) = v.get(row).copied().flatten() {
                out.push_str(if b { "true" } else { "false" });
            }
        }
        ColumnData::Time(v) => {
            if let Some(t) = v.get(row).copied().flatten() {
                t.push_rfc3339(out);
            }
        }
        ColumnData::List(v) => {
            if let Some(l) = v.get(row) {
                if l.iter().any(|s| needs_quotes(s)) {
                    push_quoted(&l.join(";"), out);
                } else {
                    for (i, s) in l.iter().enumerate() {
                        if i > 0 {
                            out.push(';');
                        }
                        out.push_str(s);
                    }
                }
            }
        }
    }
}

/// Decimal digits of `x` appended to `out` (what `{x}` prints, without the formatter).
fn push_int(x: i64, out: &mut String) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = x.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if x < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// [`fmt_float`] appended to `out`.
fn push_float(x: f64, out: &mut String) {
    use std::fmt::Write as _;
    if !x.is_finite() {
        return;
    }
    let start = out.len();
    let _ = write!(out, "{x:.3}");
    let keep = out[start..]
        .trim_end_matches('0')
        .trim_end_matches('.')
        .len();
    out.truncate(start + keep);
}

fn needs_quotes(s: &str) -> bool {
    s.contains([',', '"', '\n', '\r'])
}

fn push_quoted(s: &str, out: &mut String) {
    if needs_quotes(s) {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
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
    if needs_quotes(s) {
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

    #[test]
    fn appended_cells_equal_cell_text() {
        let rows = vec![
            (
                Some(-3i64),
                Some(1.0f64),
                Some("x\"y"),
                vec!["a".to_string(), "b".into()],
                Some(Timestamp(-1)),
            ),
            (
                None,
                Some(0.1234),
                None,
                vec!["c,d".to_string()],
                Some(Timestamp(i64::MAX)),
            ),
            (
                Some(0),
                Some(f64::NAN),
                Some(""),
                vec![],
                Some(Timestamp(i64::MIN)),
            ),
            (Some(i64::MIN), Some(-0.0005), Some("\r"), vec![], None),
            (Some(i64::MAX), Some(1e300), Some(""), vec![], None),
        ];
        let t = TableBuilder::new("t", &rows)
            .int("i", |r| r.0)
            .float("f", |r| r.1)
            .str("s", |r| r.2.map(str::to_string))
            .list("l", |r| r.3.clone())
            .time("t", |r| r.4)
            .bool("b", |r| r.0.map(|x| x == 0))
            .build();
        for c in &t.columns {
            for row in 0..t.rows {
                let mut s = String::from("prefix");
                push_cell(&c.data, row, &mut s);
                assert_eq!(&s[6..], cell(&c.data, row), "{} row {row}", c.name);
            }
        }
    }
}

//! CSV writer: RFC 4180 quoting, timestamps RFC 3339 with nanoseconds, durations as float
//! milliseconds, nulls as empty fields, lists `;`-joined.

use super::table::{ColumnData, Table};
use std::io::{self, Write};

pub fn write_csv(table: &Table, w: &mut dyn Write) -> io::Result<()> {
    let mut out = Vec::new();
    push_csv_header(table, &mut out);
    w.write_all(&out)?;
    write_csv_rows(table, w)
}

/// The header line appended to `out`.
pub fn push_csv_header(table: &Table, out: &mut Vec<u8>) {
    let header: Vec<String> = table.columns.iter().map(|c| quote(c.name)).collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
}

/// CSV text is handed to its writer in pieces of about this size (the table files' buffers
/// are as large, so a piece bypasses them).
pub const WRITE_AT: usize = 1 << 16;

/// The rows only (a later chunk of a table written in pieces).
pub fn write_csv_rows(table: &Table, w: &mut dyn Write) -> io::Result<()> {
    let mut out = Vec::new();
    for row in 0..table.rows {
        push_csv_row(table, row, &mut out);
        if out.len() >= WRITE_AT {
            w.write_all(&out)?;
            out.clear();
        }
    }
    w.write_all(&out)
}

/// Every row appended to `out` (the caller writes it out when it is large enough).
pub fn push_csv_rows(table: &Table, out: &mut Vec<u8>) {
    for row in 0..table.rows {
        push_csv_row(table, row, out);
    }
}

/// Row `row` as one CSV line appended to `out`.
fn push_csv_row(table: &Table, row: usize, out: &mut Vec<u8>) {
    for (i, col) in table.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_cell(&col.data, row, out);
    }
    out.push(b'\n');
}

/// Appends one cell as CSV text (UTF-8 bytes) to `out` (the writer's path: no allocation per
/// cell).
fn push_cell(data: &ColumnData, row: usize, out: &mut Vec<u8>) {
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
                out.extend_from_slice(if b { b"true" } else { b"false" });
            }
        }
        ColumnData::Ip(v) => {
            if let Some(a) = v.get(row).copied().flatten() {
                push_ip(a, out);
            }
        }
        ColumnData::Time(v) => {
            if let Some(t) = v.get(row).copied().flatten() {
                t.push_rfc3339_bytes(out);
            }
        }
        ColumnData::List(l) => {
            if let Some(items) = l.row(row) {
                if items.clone().any(needs_quotes) {
                    push_quoted(&items.collect::<Vec<_>>().join(";"), out);
                } else {
                    for (i, s) in items.enumerate() {
                        if i > 0 {
                            out.push(b';');
                        }
                        out.extend_from_slice(s.as_bytes());
                    }
                }
            }
        }
    }
}

/// Decimal digits of `x` appended to `out` (what `{x}` prints, without the formatter: itoa
/// writes two digits per step).
fn push_int(x: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
}

/// An address as `Display` writes it (dotted quad without the formatter for IPv4).
pub(super) fn push_ip(a: std::net::IpAddr, out: &mut Vec<u8>) {
    match a {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_int(i64::from(o), out);
            }
        }
        std::net::IpAddr::V6(v6) => {
            out.extend_from_slice(super::table::Ipv6Text::new(v6).as_str().as_bytes())
        }
    }
}

/// [`fmt_float`] appended to `out`. Rounding to thousandths is done in integers unless the
/// value is within reach of a tie (or huge, or a negative zero), where the formatter decides.
fn push_float(x: f64, out: &mut Vec<u8>) {
    if !x.is_finite() {
        return;
    }
    let y = x * 1000.0;
    if y.abs() < 1e12 {
        let r = y.round();
        // |y - r| is at most 0.5; the product's rounding error is below 1e-3 here, so away
        // from a tie the integer rounding is the exact decimal rounding.
        if (y - r).abs() < 0.499 && !(r == 0.0 && x.is_sign_negative()) {
            let v = r as i64;
            if v < 0 {
                out.push(b'-');
            }
            let v = v.unsigned_abs();
            push_int((v / 1000) as i64, out);
            let mut frac = v % 1000;
            if frac != 0 {
                out.push(b'.');
                let mut digits = 3;
                while frac.is_multiple_of(10) {
                    frac /= 10;
                    digits -= 1;
                }
                let text = [
                    b'0' + (frac / 100 % 10) as u8,
                    b'0' + (frac / 10 % 10) as u8,
                    b'0' + (frac % 10) as u8,
                ];
                out.extend_from_slice(&text[3 - digits..]);
            }
            return;
        }
    }
    out.extend_from_slice(fmt_float(x).as_bytes());
}

/// Whether a field must be quoted. Every text cell is scanned, so eight bytes are tested
/// at a time (a byte loop was 2 % of the run time on the benchmark capture; memchr costs
/// more than it saves on cells this short).
fn needs_quotes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        if word_needs_quotes(u64::from_le_bytes(x)) {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// Whether any byte of `x` is `,` `"` `\n` or `\r`: a byte equal to `c` is a zero byte of
/// `x ^ c…c`, and `(y - 0x01…01) & !y & 0x80…80` is non-zero exactly when `y` has one.
fn word_needs_quotes(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_at = |c: u8| {
        let y = x ^ (ONES * u64::from(c));
        y.wrapping_sub(ONES) & !y & HIGHS
    };
    (zero_at(b',') | zero_at(b'"') | zero_at(b'\n') | zero_at(b'\r')) != 0
}

fn push_quoted(s: &str, out: &mut Vec<u8>) {
    if needs_quotes(s) {
        out.push(b'"');
        // '"' is ASCII: doubling it byte by byte keeps UTF-8 intact.
        for &b in s.as_bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
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

    /// The word-at-a-time scan says what a byte loop says, for every special byte at every
    /// position of strings of 0..=24 bytes (whole words, tails, both) and for all 256 bytes.
    #[test]
    fn needs_quotes_matches_a_byte_loop() {
        let slow = |s: &str| s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
        for len in 0..=24 {
            let plain = "a".repeat(len);
            assert!(!needs_quotes(&plain));
            for at in 0..len {
                for c in [
                    ',', '"', '\n', '\r', '\0', '\u{ac}', ';', '+', '-', '\u{2c}',
                ] {
                    let mut v: Vec<char> = plain.chars().collect();
                    v[at] = c;
                    let s: String = v.into_iter().collect();
                    assert_eq!(needs_quotes(&s), slow(&s), "{s:?}");
                }
            }
        }
        for b in 0..=255u8 {
            let x = u64::from_le_bytes([b'x', b, b'y', 0x80, 0xff, 0x01, b'-', b'+']);
            let any = x
                .to_le_bytes()
                .iter()
                .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            assert_eq!(word_needs_quotes(x), any, "byte {b}");
        }
    }

    /// One cell as CSV text, built with the formatter: what [`push_cell`] must write.
    fn cell(data: &ColumnData, row: usize) -> String {
        match data {
            ColumnData::Int(v) => v.get(row).copied().flatten().map(|x| x.to_string()),
            ColumnData::Float(v) => v.get(row).copied().flatten().map(fmt_float),
            ColumnData::Str(v) => v.get(row).cloned().flatten().map(|s| quote(&s)),
            ColumnData::Ip(v) => v.get(row).copied().flatten().map(|a| a.to_string()),
            ColumnData::Bool(v) => v.get(row).copied().flatten().map(|b| b.to_string()),
            ColumnData::Time(v) => v.get(row).copied().flatten().map(|t| t.to_rfc3339()),
            ColumnData::List(l) => l
                .row(row)
                .map(|it| quote(&it.collect::<Vec<_>>().join(";"))),
        }
        .unwrap_or_default()
    }

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

    /// The integer rounding gives the formatter's text: random values, values from whole
    /// nanoseconds and microseconds, near-ties, negatives, zeros and the extremes.
    #[test]
    fn push_float_equals_formatter() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values = vec![
            0.0,
            -0.0,
            0.0005,
            -0.0005,
            0.0015,
            0.0625,
            1.0005,
            2.5,
            -2.5,
            999.9995,
            1e-9,
            -1e-9,
            1e9,
            1e12,
            1e15,
            123456789.0125,
            f64::MIN_POSITIVE,
            f64::MAX,
        ];
        for _ in 0..200_000 {
            let r = next();
            values.push((r % 10_000_000_000) as f64 / 1e6); // whole nanoseconds, in ms
            values.push((r % 1_000_000_000) as f64 / 1e3); // whole microseconds, in ms
            values.push(f64::from_bits(r) % 1e7);
            values.push((r % 2_000_001) as f64 / 2000.0 - 500.0); // ties at 0.0005
        }
        for x in values {
            let mut s = Vec::new();
            push_float(x, &mut s);
            assert_eq!(String::from_utf8(s).unwrap(), fmt_float(x), "{x:e}");
        }
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
            .ip("ip", |r| {
                r.0.map(|x| {
                    if x > 0 {
                        std::net::IpAddr::from([10, 0, 255, x as u8])
                    } else {
                        std::net::IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, x as u16])
                    }
                })
            })
            .build();
        for c in &t.columns {
            for row in 0..t.rows {
                let mut s = b"prefix".to_vec();
                push_cell(&c.data, row, &mut s);
                let text = String::from_utf8(s).unwrap();
                assert_eq!(&text[6..], cell(&c.data, row), "{} row {row}", c.name);
            }
        }
    }
}

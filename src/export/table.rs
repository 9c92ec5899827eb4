//! A column-oriented table model shared by every writer (CSV now; Parquet/JSON use the same
//! columns), so one schema is defined once per table.

use crate::base::Timestamp;
use std::borrow::Cow;
use std::net::IpAddr;

/// Typed column data; `None` is a null. Text borrows from the rows where it can (`'r`).
#[derive(Debug, Clone)]
pub enum ColumnData<'r> {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Str(Vec<Option<Cow<'r, str>>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<Timestamp>>),
    List(Lists),
    /// Addresses, written as text (a string column in every format).
    Ip(Vec<Option<IpAddr>>),
}

#[derive(Debug, Clone)]
pub struct Column<'r> {
    pub name: &'static str,
    pub data: ColumnData<'r>,
}

#[derive(Debug, Clone)]
pub struct Table<'r> {
    pub name: &'static str,
    pub columns: Vec<Column<'r>>,
    pub rows: usize,
}

impl<'r> Table<'r> {
    pub fn column(&self, name: &str) -> Option<&Column<'r>> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Builds a table from rows, one closure per column.
pub struct TableBuilder<'r, R> {
    name: &'static str,
    rows: &'r [R],
    columns: Vec<Column<'r>>,
}

impl<'r, R> TableBuilder<'r, R> {
    pub fn new(name: &'static str, rows: &'r [R]) -> Self {
        TableBuilder {
            name,
            rows,
            columns: Vec::new(),
        }
    }

    pub fn int(mut self, name: &'static str, f: impl Fn(&R) -> Option<i64>) -> Self {
        let data = ColumnData::Int(self.rows.iter().map(f).collect());
        self.columns.push(Column { name, data });
        self
    }

    pub fn float(mut self, name: &'static str, f: impl Fn(&R) -> Option<f64>) -> Self {
        let data = ColumnData::Float(self.rows.iter().map(f).collect());
        self.columns.push(Column { name, data });
        self
    }

    /// Row `i` (0-based within these rows) and the row.
    pub fn int_at(mut self, name: &'static str, f: impl Fn(usize, &R) -> Option<i64>) -> Self {
        let data = ColumnData::Int(self.rows.iter().enumerate().map(|(i, r)| f(i, r)).collect());
        self.columns.push(Column { name, data });
        self
    }

    /// Text: borrowed from the row (`&str`) or made for it (`String`).
    pub fn str<S: Into<Cow<'r, str>>>(
        mut self,
        name: &'static str,
        f: impl Fn(&'r R) -> Option<S>,
    ) -> Self {
        let data = ColumnData::Str(self.rows.iter().map(|r| f(r).map(Into::into)).collect());
        self.columns.push(Column { name, data });
        self
    }

    pub fn bool(mut self, name: &'static str, f: impl Fn(&R) -> Option<bool>) -> Self {
        let data = ColumnData::Bool(self.rows.iter().map(f).collect());
        self.columns.push(Column { name, data });
        self
    }

    pub fn time(mut self, name: &'static str, f: impl Fn(&R) -> Option<Timestamp>) -> Self {
        let data = ColumnData::Time(self.rows.iter().map(f).collect());
        self.columns.push(Column { name, data });
        self
    }

    pub fn list<S: AsRef<str>, I: IntoIterator<Item = S>>(
        self,
        name: &'static str,
        f: impl Fn(&'r R) -> I,
    ) -> Self {
        self.list_with(name, |r, l| {
            for s in f(r) {
                l.item(s.as_ref());
            }
        })
    }

    /// A list whose items `f` writes straight into the column ([`Lists::item`],
    /// [`Lists::item_with`]): no string per item.
    pub fn list_with(mut self, name: &'static str, f: impl Fn(&'r R, &mut Lists)) -> Self {
        let mut l = Lists::default();
        for r in self.rows {
            f(r, &mut l);
            l.end_row();
        }
        self.columns.push(Column {
            name,
            data: ColumnData::List(l),
        });
        self
    }

    pub fn ip(mut self, name: &'static str, f: impl Fn(&R) -> Option<IpAddr>) -> Self {
        let data = ColumnData::Ip(self.rows.iter().map(f).collect());
        self.columns.push(Column { name, data });
        self
    }

    pub fn build(self) -> Table<'r> {
        Table {
            name: self.name,
            rows: self.rows.len(),
            columns: self.columns,
        }
    }
}

/// An address as `Display` writes it, appended to `s` (IPv4 without the formatter).
pub fn push_ip_text(ip: std::net::IpAddr, s: &mut String) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut b = itoa::Buffer::new();
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                s.push_str(b.format(o));
            }
        }
        std::net::IpAddr::V6(v6) => s.push_str(Ipv6Text::new(v6).as_str()),
    }
}

/// An IPv6 address as `Display` writes it (RFC 5952: lowercase hex, the first longest run of
/// two or more zero groups as `::`, `::ffff:a.b.c.d` for IPv4-mapped), built without the
/// formatter: every AAAA answer and IPv6 endpoint of a table is written this way.
pub struct Ipv6Text {
    buf: [u8; 48],
    len: usize,
}

impl Ipv6Text {
    pub fn new(a: std::net::Ipv6Addr) -> Ipv6Text {
        let mut t = Ipv6Text {
            buf: [0; 48],
            len: 0,
        };
        let g = a.segments();
        if let Some(v4) = a.to_ipv4_mapped() {
            t.push(b"::ffff:");
            let mut b = itoa::Buffer::new();
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    t.push(b".");
                }
                t.push(b.format(o).as_bytes());
            }
            return t;
        }
        // The first longest run of zero groups (std's choice when runs tie).
        let (mut best, mut best_len, mut start, mut run) = (0, 0, 0, 0);
        for (i, &x) in g.iter().enumerate() {
            if x == 0 {
                if run == 0 {
                    start = i;
                }
                run += 1;
                if run > best_len {
                    (best, best_len) = (start, run);
                }
            } else {
                run = 0;
            }
        }
        if best_len > 1 {
            t.groups(g.get(..best).unwrap_or_default());
            t.push(b"::");
            t.groups(g.get(best + best_len..).unwrap_or_default());
        } else {
            t.groups(&g);
        }
        t
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }

    fn push(&mut self, b: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
    }

    /// Groups in hex without leading zeros, `:`-separated.
    fn groups(&mut self, g: &[u16]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, &x) in g.iter().enumerate() {
            if i > 0 {
                self.push(b":");
            }
            let digits = [
                HEX[usize::from(x >> 12)],
                HEX[usize::from(x >> 8 & 0xf)],
                HEX[usize::from(x >> 4 & 0xf)],
                HEX[usize::from(x & 0xf)],
            ];
            let skip = (x.leading_zeros() as usize / 4).min(3);
            self.push(digits.get(skip..).unwrap_or_default());
        }
    }
}

/// List cells stored flat, as Arrow stores a list column: the items of every row in one text
/// buffer, so a row costs no allocation of its own.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    text: String,
    /// Where each item ends in `text`.
    item_ends: Vec<usize>,
    /// Where each row's items end in `item_ends`.
    row_ends: Vec<usize>,
}

impl Lists {
    /// Rows ended so far.
    pub fn rows(&self) -> usize {
        self.row_ends.len()
    }

    /// Items in all rows.
    pub fn items(&self) -> usize {
        self.item_ends.len()
    }

    /// The items of row `row`, in order; `None` past the last row.
    pub fn row(&self, row: usize) -> Option<impl ExactSizeIterator<Item = &str> + Clone + '_> {
        let end = *self.row_ends.get(row)?;
        let start = row.checked_sub(1).map_or(0, |r| self.row_ends[r]);
        Some((start..end).map(move |i| {
            let from = i.checked_sub(1).map_or(0, |p| self.item_ends[p]);
            self.text.get(from..self.item_ends[i]).unwrap_or_default()
        }))
    }

    /// Adds `s` as the next item of the row being built.
    pub fn item(&mut self, s: &str) {
        self.item_with(|t| t.push_str(s));
    }

    /// Adds the next item of the row being built, written by `f` at the end of the buffer.
    pub fn item_with(&mut self, f: impl FnOnce(&mut String)) {
        f(&mut self.text);
        self.item_ends.push(self.text.len());
    }

    /// Ends the row being built: its items are those added since the last row ended.
    pub fn end_row(&mut self) {
        self.row_ends.push(self.item_ends.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-built IPv6 text equals `Display`'s for every pattern of zero groups (all
    /// 256 of them, so every run length, position and tie), with group values of one to
    /// four hex digits, and for IPv4-mapped and -compatible addresses.
    #[test]
    fn ipv6_text_is_what_display_writes() {
        let values = [0x1u16, 0xab, 0xdb8, 0xffff, 0x8a2e];
        for mask in 0..=255u16 {
            for (k, v) in values.iter().enumerate() {
                let mut g = [0u16; 8];
                for (i, x) in g.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *x = v.rotate_left((i + k) as u32 * 4) | 1;
                    }
                }
                let a = std::net::Ipv6Addr::from(g);
                assert_eq!(Ipv6Text::new(a).as_str(), a.to_string(), "{g:x?}");
            }
        }
        for a in [
            "::",
            "::1",
            "::ffff:192.0.2.1",
            "::ffff:0.0.0.0",
            "::192.0.2.1",
            "::ffff:1:2",
            "64:ff9b::c000:201",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1:0:0:1",
            "1:0:0:2:0:0:0:3",
        ] {
            let a: std::net::Ipv6Addr = a.parse().unwrap();
            assert_eq!(Ipv6Text::new(a).as_str(), a.to_string());
        }
    }

    #[test]
    fn lists_keep_rows_and_items_apart() {
        let rows: Vec<Vec<&str>> = vec![vec!["a", "bc"], vec![], vec!["", "d;e"], vec!["f"]];
        let t = TableBuilder::new("t", &rows)
            .list("l", |r| r.clone())
            .build();
        let Some(ColumnData::List(l)) = t.column("l").map(|c| &c.data) else {
            panic!("not a list column");
        };
        assert_eq!((l.rows(), l.items()), (4, 5));
        for (i, want) in rows.iter().enumerate() {
            let got: Vec<&str> = l.row(i).map(|it| it.collect()).unwrap_or_default();
            assert_eq!(&got, want, "row {i}");
            assert_eq!(l.row(i).map(|it| it.len()), Some(want.len()));
        }
        assert!(l.row(4).is_none());
        // Items written in place are the same as items given whole.
        let t2 = TableBuilder::new("t", &rows)
            .list_with("l", |r, l| {
                for s in r {
                    l.item_with(|t| t.push_str(s));
                }
            })
            .build();
        let Some(ColumnData::List(l2)) = t2.column("l").map(|c| &c.data) else {
            panic!("not a list column");
        };
        for i in 0..rows.len() {
            assert!(l.row(i).unwrap().eq(l2.row(i).unwrap()));
        }
    }
}

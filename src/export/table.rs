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
    use std::fmt::Write as _;
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
        std::net::IpAddr::V6(v6) => {
            let _ = write!(s, "{v6}");
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

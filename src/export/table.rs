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
    List(Vec<Vec<Cow<'r, str>>>),
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

    pub fn list<S: Into<Cow<'r, str>>, I: IntoIterator<Item = S>>(
        mut self,
        name: &'static str,
        f: impl Fn(&'r R) -> I,
    ) -> Self {
        let data = ColumnData::List(
            self.rows
                .iter()
                .map(|r| f(r).into_iter().map(Into::into).collect())
                .collect(),
        );
        self.columns.push(Column { name, data });
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

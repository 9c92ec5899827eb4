//! A column-oriented table model shared by every writer (CSV now; Parquet/JSON use the same
//! columns), so one schema is defined once per table.

use crate::base::Timestamp;

/// Typed column data; `None` is a null.
#[derive(Debug, Clone)]
pub enum ColumnData {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Str(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<Timestamp>>),
    List(Vec<Vec<String>>),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub data: ColumnData,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<Column>,
    pub rows: usize,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Builds a table from rows, one closure per column.
pub struct TableBuilder<'r, R> {
    name: &'static str,
    rows: &'r [R],
    columns: Vec<Column>,
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

    pub fn str(mut self, name: &'static str, f: impl Fn(&R) -> Option<String>) -> Self {
        let data = ColumnData::Str(self.rows.iter().map(f).collect());
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

    pub fn list(mut self, name: &'static str, f: impl Fn(&R) -> Vec<String>) -> Self {
        let data = ColumnData::List(self.rows.iter().map(f).collect());
        self.columns.push(Column { name, data });
        self
    }

    pub fn build(self) -> Table {
        Table {
            name: self.name,
            rows: self.rows.len(),
            columns: self.columns,
        }
    }
}

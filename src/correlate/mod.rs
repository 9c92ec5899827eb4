//! Correlation: protocol records → connections, requests and navigations; cold/warm labels;
//! why-slow findings.
//!
//! Imports `base`, `flow`, `protocol`; never the capture reader or exporters.

pub mod rows;

pub use rows::{AnomalyRow, ConnectionRow};

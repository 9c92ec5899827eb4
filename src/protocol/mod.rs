//! Protocol parsers. Each takes bytes, a direction and capture timestamps and returns records;
//! none sees the flow table, and they never import each other.

pub mod arp;
pub mod dhcp;
pub mod dns;
pub mod h2;
pub mod http;
pub mod tls;
pub mod tls_decrypt;

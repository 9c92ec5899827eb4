//! Output rows of the analysis (one struct per SPEC.md table). Built by the correlator and the
//! pipeline, consumed by the exporters.

use crate::base::Timestamp;
use std::net::IpAddr;

/// One row of the `connections` table.
#[derive(Debug, Clone, Default)]
pub struct ConnectionRow {
    pub connection_id: u64,
    /// "tcp" or "udp".
    pub transport: &'static str,
    pub client_ip: Option<IpAddr>,
    pub client_port: u16,
    pub server_ip: Option<IpAddr>,
    pub server_port: u16,
    pub start_time: Timestamp,
    pub established_time: Option<Timestamp>,
    pub end_time: Timestamp,
    pub handshake_rtt_ms: Option<f64>,
    pub syn_retransmits: Option<u32>,
    /// The connection's SYN (without ACK) is in the capture.
    pub syn_seen: bool,
    /// "fin", "rst", "open"; empty for UDP.
    pub close: Option<&'static str>,
    /// Whole-frame bytes per direction (as Wireshark's conversation statistics count them).
    pub bytes_orig: u64,
    pub bytes_resp: u64,
    pub packets_orig: u64,
    pub packets_resp: u64,
    /// Transport payload bytes per direction.
    pub payload_orig: u64,
    pub payload_resp: u64,
    pub retransmits_orig: Option<u64>,
    pub retransmits_resp: Option<u64>,
    pub out_of_order: Option<u64>,
    pub zero_window: Option<u64>,
    pub sni: Option<String>,
    pub alpn: Option<String>,
    pub tls_version: Option<String>,
    pub tls_cipher: Option<String>,
    pub tls_resumed: Option<bool>,
    pub tls_handshake_ms: Option<f64>,
    pub requests: u64,
    pub navigation_id: Option<u64>,
    /// Application protocol recognised on the connection ("tls", "http", "dns", ...).
    pub app_protocol: Option<&'static str>,
    /// Frame number of the connection's first packet.
    pub first_frame: u64,
    /// Index of the capture file (several captures in one run).
    pub capture: String,
}

/// One row of the `anomalies` table.
#[derive(Debug, Clone)]
pub struct AnomalyRow {
    pub time: Timestamp,
    pub frame: Option<u64>,
    pub connection_id: Option<u64>,
    pub kind: String,
    pub detail: String,
}

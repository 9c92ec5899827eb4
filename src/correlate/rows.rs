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
    /// The negotiated version as its wire code (0x0304 = TLS 1.3).
    pub tls_version_code: Option<u16>,
    pub tls_cipher: Option<String>,
    pub tls_resumed: Option<bool>,
    pub tls_handshake_ms: Option<f64>,
    /// Keys were available and application data was decrypted.
    pub decrypted: Option<bool>,
    pub requests: u64,
    pub navigation_id: Option<u64>,
    /// Application protocol recognised on the connection ("tls", "http", "dns", ...).
    pub app_protocol: Option<&'static str>,
    /// Frame number of the connection's first packet.
    pub first_frame: u64,
    /// Capture time of the expiry tick at which the flow had ended (`i64::MAX` at the end of
    /// the capture): the table lists connections in this order, then by id, as they finish.
    pub end_tick: Timestamp,
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

/// One row of the `requests` table.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub request_id: u64,
    pub navigation_id: Option<u64>,
    pub connection_id: u64,
    pub start_time: Timestamp,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub host: Option<String>,
    pub scheme: &'static str,
    pub http_version: Option<String>,
    pub method: Option<String>,
    pub url: Option<String>,
    /// The request-target exactly as sent (HTTP only).
    pub uri: Option<String>,
    pub status: Option<u16>,
    pub encrypted: bool,
    /// "http" (parsed messages) or "tls-records" (estimated from encrypted records).
    pub timing_source: &'static str,
    pub blocked_ms: Option<f64>,
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub stalled_ms: Option<f64>,
    pub send_ms: Option<f64>,
    pub wait_ms: Option<f64>,
    pub receive_ms: Option<f64>,
    pub total_ms: Option<f64>,
    pub dns_cached: Option<bool>,
    pub connection_reused: bool,
    pub tls_resumed: Option<bool>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub findings: Vec<super::Finding>,
    // Extras used by grouping and findings.
    pub rtt_ms: Option<f64>,
    pub dns_retransmits: u32,
    pub dns_latency_ms: Option<f64>,
    pub sec_fetch_mode: Option<String>,
    pub sec_fetch_dest: Option<String>,
    pub referer: Option<String>,
    pub location: Option<String>,
    /// Visible HTTP detail (cleartext or decrypted), for HAR.
    pub http: Option<Box<HttpDetail>>,
}

/// Headers, status text and sizes of a request seen in HTTP (capped by the parsers).
#[derive(Debug, Clone, Default)]
pub struct HttpDetail {
    pub reason: Option<String>,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    /// HTTP/1.x head and body sizes in bytes (`None` for HTTP/2, where headers are
    /// compressed and sizes per part are not meaningful on the wire).
    pub request_header_bytes: Option<u64>,
    pub request_body_bytes: Option<u64>,
    pub response_header_bytes: Option<u64>,
    pub response_body_bytes: Option<u64>,
    /// Decoded body bytes (chunked framing removed).
    pub content_bytes: Option<u64>,
    pub content_type: Option<String>,
}

impl RequestRow {
    /// The phases in SPEC.md's order (see [`PHASE_NAMES`]); contiguous from `start_time`.
    pub fn phases(&self) -> [Option<f64>; 8] {
        [
            self.blocked_ms,
            self.dns_ms,
            self.connect_ms,
            self.tls_ms,
            self.stalled_ms,
            self.send_ms,
            self.wait_ms,
            self.receive_ms,
        ]
    }
}

/// Names of [`RequestRow::phases`], in order.
pub const PHASE_NAMES: [&str; 8] = [
    "blocked", "dns", "connect", "tls", "stalled", "send", "wait", "receive",
];

impl Default for RequestRow {
    fn default() -> Self {
        let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        RequestRow {
            request_id: 0,
            navigation_id: None,
            connection_id: 0,
            start_time: Timestamp::default(),
            client_ip: unspecified,
            client_port: 0,
            server_ip: unspecified,
            server_port: 0,
            host: None,
            scheme: "http",
            http_version: None,
            method: None,
            url: None,
            uri: None,
            status: None,
            encrypted: false,
            timing_source: "http",
            blocked_ms: None,
            dns_ms: None,
            connect_ms: None,
            tls_ms: None,
            stalled_ms: None,
            send_ms: None,
            wait_ms: None,
            receive_ms: None,
            total_ms: None,
            dns_cached: None,
            connection_reused: false,
            tls_resumed: None,
            request_bytes: 0,
            response_bytes: 0,
            findings: Vec::new(),
            rtt_ms: None,
            dns_retransmits: 0,
            dns_latency_ms: None,
            sec_fetch_mode: None,
            sec_fetch_dest: None,
            referer: None,
            location: None,
            http: None,
        }
    }
}

/// One row of the `navigations` table.
#[derive(Debug, Clone)]
pub struct NavigationRow {
    pub navigation_id: u64,
    pub client_ip: IpAddr,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    pub duration_ms: f64,
    pub page_host: Option<String>,
    pub page_url: Option<String>,
    pub temperature: &'static str,
    pub requests: u64,
    pub hosts: u64,
    pub host_list: Vec<String>,
    pub dns_lookups: u64,
    pub dns_cached_hosts: u64,
    pub connections_new: u64,
    pub connections_reused: u64,
    pub tls_full: u64,
    pub tls_resumed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub document_request_id: u64,
    pub document_dns_ms: Option<f64>,
    pub document_connect_ms: Option<f64>,
    pub document_tls_ms: Option<f64>,
    pub document_wait_ms: Option<f64>,
    pub document_receive_ms: Option<f64>,
    pub slowest_phase: Option<&'static str>,
    pub findings: Vec<super::Finding>,
    /// The DHCP exchange that gave the client its address just before this navigation.
    pub dhcp_id: Option<u64>,
    /// Its duration (first message to ACK).
    pub dhcp_ms: Option<f64>,
    /// ARP wait before the main document's first packet.
    pub document_blocked_ms: Option<f64>,
}

impl Default for NavigationRow {
    fn default() -> Self {
        NavigationRow {
            navigation_id: 0,
            client_ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            start_time: Timestamp::default(),
            end_time: Timestamp::default(),
            duration_ms: 0.0,
            page_host: None,
            page_url: None,
            temperature: "partial",
            requests: 0,
            hosts: 0,
            host_list: Vec::new(),
            dns_lookups: 0,
            dns_cached_hosts: 0,
            connections_new: 0,
            connections_reused: 0,
            tls_full: 0,
            tls_resumed: 0,
            bytes_in: 0,
            bytes_out: 0,
            document_request_id: 0,
            document_dns_ms: None,
            document_connect_ms: None,
            document_tls_ms: None,
            document_wait_ms: None,
            document_receive_ms: None,
            slowest_phase: None,
            findings: Vec::new(),
            dhcp_id: None,
            dhcp_ms: None,
            document_blocked_ms: None,
        }
    }
}

//! Correlation: protocol records → requests (with SPEC.md's phases) → navigations; cold/warm
//! labels; why-slow findings.
//!
//! Per connection, [`ConnOutcome`] keeps what the parsers found (HTTP transactions, or TLS
//! application-data records when the content is encrypted). [`correlate`] turns all outcomes
//! and DNS lookups into request and navigation rows and fills the join columns.
//!
//! Imports `base`, `flow`, `protocol`; never the capture reader or exporters.

mod findings;
pub mod rows;
pub mod stream;

use crate::base::{Direction, Timestamp};
use crate::flow::{Endpoint, Flow};
use crate::protocol::dns::DnsLookup;
use crate::protocol::h2::H2Stream;
use crate::protocol::http::HttpTransaction;
use crate::protocol::tls::{CT_APPLICATION_DATA, TlsRecord, TlsSummary};

pub use findings::Finding;
pub use rows::{AnomalyRow, ConnectionRow, HttpDetail, NavigationRow, RequestRow};
pub(crate) use stream::rows_through_each;
pub use stream::{Collect, Correlator, Fanout, RowSink, Shared};

/// What one finished TCP connection carried.
#[derive(Debug, Clone)]
pub struct ConnOutcome {
    pub connection_id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub syn_ts: Option<Timestamp>,
    pub syn_retransmits: u32,
    pub established_ts: Option<Timestamp>,
    pub rtt_ms: Option<f64>,
    pub retransmits_resp: u64,
    pub retransmits_orig: u64,
    /// When the server's lost segments were sent again (first ones, capped).
    pub loss_resp: Vec<Timestamp>,
    /// When the client's lost segments were sent again.
    pub loss_orig: Vec<Timestamp>,
    pub zero_window: u64,
    pub tls: Option<TlsSummary>,
    pub records: Vec<TlsRecord>,
    pub http: Vec<HttpTransaction>,
    /// HTTP/2 streams (decrypted, or cleartext h2c).
    pub h2: Vec<H2Stream>,
    /// Negotiated ALPN when known (TLS 1.2 ServerHello, or decrypted EncryptedExtensions).
    pub alpn: Option<String>,
    /// Request/response exchanges, once [`ConnOutcome::compact`] has run.
    exchanges: Option<(Vec<Exchange>, bool)>,
    /// For a later part of a connection handed over in pieces (see `analyze::checkpoint`):
    /// when the part before it was taken. Its requests all reuse the connection.
    pub continues_from: Option<Timestamp>,
}

impl ConnOutcome {
    pub fn new<A>(f: &Flow<A>) -> Self {
        let t = f.tcp.as_ref();
        ConnOutcome {
            connection_id: f.id,
            client: f.orig,
            server: f.resp,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            syn_ts: t.and_then(|t| t.syn_ts),
            syn_retransmits: t.map(|t| t.syn_retransmits()).unwrap_or(0),
            established_ts: t.and_then(|t| t.established_ts),
            rtt_ms: t.and_then(|t| t.handshake_rtt_ms()),
            retransmits_resp: t.map(|t| t.dirs[1].retransmits).unwrap_or(0),
            retransmits_orig: t.map(|t| t.dirs[0].retransmits).unwrap_or(0),
            loss_resp: t.map(|t| t.dirs[1].loss_times.clone()).unwrap_or_default(),
            loss_orig: t.map(|t| t.dirs[0].loss_times.clone()).unwrap_or_default(),
            zero_window: t
                .map(|t| t.dirs[0].zero_window + t.dirs[1].zero_window)
                .unwrap_or(0),
            tls: None,
            records: Vec::new(),
            http: Vec::new(),
            h2: Vec::new(),
            alpn: None,
            exchanges: None,
            continues_from: None,
        }
    }

    /// Marks this as a later part of a connection handed over in pieces: its requests reuse
    /// the connection (no DNS, connect or TLS phase).
    pub fn continue_after(&mut self, t: Timestamp) {
        self.continues_from = Some(t);
        self.syn_ts = None;
    }

    /// Computes the exchanges once (kept for [`ConnOutcome::compact`] and the requests;
    /// the raw material stays) and says whether there is at least one.
    pub fn settle(&mut self) -> bool {
        if self.exchanges.is_none() {
            self.exchanges = Some(exchanges_of(self));
        }
        self.has_exchanges()
    }

    /// The exchanges, moved out (computed if [`ConnOutcome::settle`] or `compact` has not).
    fn take_exchanges(&mut self) -> (Vec<Exchange>, bool) {
        match self.exchanges.take() {
            Some(x) => x,
            None => exchanges_of(self),
        }
    }

    /// True when the connection carried at least one request/response exchange.
    pub fn has_exchanges(&self) -> bool {
        match &self.exchanges {
            Some((x, _)) => !x.is_empty(),
            None => !exchanges_of(self).0.is_empty(),
        }
    }

    /// Turns the raw material (TLS records, HTTP transactions, HTTP/2 streams) into request
    /// exchanges and drops it, so a finished connection costs memory in proportion to its
    /// requests, not its records. Called when the flow ends.
    pub fn compact(&mut self) {
        if self.exchanges.is_none() {
            self.exchanges = Some(exchanges_of(self));
        }
        self.records = Vec::new();
        self.http = Vec::new();
        self.h2 = Vec::new();
        if let Some(t) = self.tls.as_mut() {
            t.alpn_offered = Vec::new();
            t.versions_offered = Vec::new();
            t.key_share_groups = Vec::new();
            t.client_session_id = Vec::new();
            t.alerts = Vec::new();
        }
    }
}

/// The exchanges of a connection and whether they come from parsed HTTP (else estimated
/// from TLS records).
fn exchanges_of(c: &ConnOutcome) -> (Vec<Exchange>, bool) {
    if let Some(x) = &c.exchanges {
        return x.clone();
    }
    if !c.h2.is_empty() {
        (h2_exchanges(c), true)
    } else if !c.http.is_empty() || c.tls.is_none() {
        (http_exchanges(c), true)
    } else {
        (tls_exchanges(c), false)
    }
}

/// One request/response exchange before phases are computed.
#[derive(Debug, Clone)]
struct Exchange {
    req_first: Timestamp,
    req_last: Timestamp,
    resp_first: Option<Timestamp>,
    resp_last: Option<Timestamp>,
    request_bytes: u64,
    response_bytes: u64,
    method: Option<String>,
    url: Option<String>,
    host: Option<String>,
    status: Option<u16>,
    http_version: Option<String>,
    sec_fetch_mode: Option<String>,
    sec_fetch_dest: Option<String>,
    referer: Option<String>,
    location: Option<String>,
    detail: Option<Box<HttpDetail>>,
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// Exchanges of a connection from its HTTP transactions.
fn http_exchanges(c: &ConnOutcome) -> Vec<Exchange> {
    c.http
        .iter()
        .map(|t| Exchange {
            req_first: t.req_first_ts,
            req_last: t.req_last_ts,
            resp_first: t.resp_first_ts,
            resp_last: t.resp_last_ts,
            request_bytes: t.req_header_bytes + t.req_body_bytes,
            response_bytes: t.resp_header_bytes + t.resp_body_bytes,
            method: Some(t.method.clone()),
            url: Some(t.uri.clone()),
            host: t.host.clone(),
            status: t.status,
            http_version: Some(match t.version {
                0 => "HTTP/1.0".to_string(),
                1 => "HTTP/1.1".to_string(),
                v => format!("HTTP/1.{v}"),
            }),
            sec_fetch_mode: t.sec_fetch_mode.clone(),
            sec_fetch_dest: t.sec_fetch_dest.clone(),
            referer: t.referer.clone(),
            location: t.location.clone(),
            detail: Some(Box::new(HttpDetail {
                reason: t.reason.clone(),
                request_headers: t.request_headers.clone(),
                response_headers: t.response_headers.clone(),
                request_header_bytes: Some(t.req_header_bytes),
                request_body_bytes: Some(t.req_body_bytes),
                response_header_bytes: t.status.map(|_| t.resp_header_bytes),
                response_body_bytes: t.status.map(|_| t.resp_body_bytes),
                content_bytes: t.status.map(|_| t.resp_content_bytes),
                content_type: t.content_type.clone(),
            })),
        })
        .collect()
}

/// Exchanges of a connection from its HTTP/2 streams, in order of their request HEADERS.
fn h2_exchanges(c: &ConnOutcome) -> Vec<Exchange> {
    let mut v: Vec<Exchange> =
        c.h2.iter()
            .filter(|s| !s.pushed)
            .filter_map(|s| {
                let first = s.req_headers_ts?;
                let scheme = s.scheme.clone().unwrap_or_else(|| "https".into());
                Some(Exchange {
                    req_first: first,
                    req_last: s.req_end_ts.unwrap_or(first).max(first),
                    resp_first: s.resp_headers_ts,
                    resp_last: s.resp_end_ts.or(s.resp_headers_ts),
                    request_bytes: s.request_bytes,
                    response_bytes: s.response_bytes,
                    method: s.method.clone(),
                    url: match (&s.authority, &s.path) {
                        (Some(a), Some(p)) => Some(format!("{scheme}://{a}{p}")),
                        (None, Some(p)) => Some(p.clone()),
                        _ => None,
                    },
                    host: s.authority.clone(),
                    status: s.status,
                    http_version: Some("h2".into()),
                    sec_fetch_mode: s.sec_fetch_mode.clone(),
                    sec_fetch_dest: s.sec_fetch_dest.clone(),
                    referer: s.referer.clone(),
                    location: s.location.clone(),
                    detail: Some(Box::new(HttpDetail {
                        reason: None,
                        request_headers: s.request_headers.clone(),
                        response_headers: s.response_headers.clone(),
                        content_type: header(&s.response_headers, "content-type"),
                        ..Default::default()
                    })),
                })
            })
            .collect();
    v.sort_by_key(|x| x.req_first);
    v
}

/// Largest TLS 1.2/1.3 application-data record (payload with AEAD tag) that can only hold one
/// HTTP/2 control frame.
const H2_CONTROL_RECORD_MAX: u16 = 34;

/// Exchanges inferred from encrypted application-data records: a client burst is a request,
/// the server burst that follows is its response. Server records before the client's first
/// request (TLS 1.3 session tickets) are not a response.
fn tls_exchanges(c: &ConnOutcome) -> Vec<Exchange> {
    let client_dir = c
        .tls
        .as_ref()
        .and_then(|t| t.client_dir)
        .unwrap_or(Direction::Orig);
    let mut out: Vec<Exchange> = Vec::new();
    let tls13 = c.tls.as_ref().and_then(|t| t.version) == Some(0x0304);
    let finished = c.tls.as_ref().and_then(|t| t.client_finished_ts);
    // TLS 1.3 NewSessionTicket: the server sends it as soon as it reads the client's
    // Finished, so it arrives about one RTT after that, small, before any response could.
    let ticket_window_ms = c.rtt_ms.map(|r| r * 1.5 + 5.0).unwrap_or(0.0);
    let mut server_records = 0;
    for r in c
        .records
        .iter()
        .filter(|r| r.content_type == CT_APPLICATION_DATA && !r.handshake)
    {
        if r.dir != client_dir {
            server_records += 1;
            // Up to two tickets (nginx, OpenSSL), then on HTTP/2 the server's SETTINGS /
            // WINDOW_UPDATE / SETTINGS ACK record, all within the first round trip after the
            // client's Finished. A real response that small and that early (a 0 ms think
            // time 304 on a new connection) would be missed: documented limitation.
            let early = finished.is_some_and(|f| r.ts.ms_since(f) <= ticket_window_ms);
            if tls13
                && early
                && ((server_records <= 2 && r.len <= 400) || (server_records <= 3 && r.len <= 100))
            {
                continue;
            }
        }
        // HTTP/2 control frames alone in a record (SETTINGS ACK 26 bytes with the AEAD tag,
        // WINDOW_UPDATE/RST_STREAM 30, PING 34) are neither a request nor a response.
        let control = r.len <= H2_CONTROL_RECORD_MAX;
        if r.dir == client_dir {
            if control {
                continue;
            }
            match out.last_mut() {
                Some(x) if x.resp_first.is_none() => {
                    x.req_last = r.ts;
                    x.request_bytes += r.len as u64;
                }
                _ => out.push(Exchange {
                    req_first: r.first_ts,
                    req_last: r.ts,
                    resp_first: None,
                    resp_last: None,
                    request_bytes: r.len as u64,
                    response_bytes: 0,
                    method: None,
                    url: None,
                    host: None,
                    status: None,
                    http_version: None,
                    sec_fetch_mode: None,
                    sec_fetch_dest: None,
                    referer: None,
                    location: None,
                    detail: None,
                }),
            }
        } else if let Some(x) = out.last_mut() {
            if control {
                continue;
            }
            x.resp_first.get_or_insert(r.ts);
            x.resp_last = Some(r.ts);
            x.response_bytes += r.len as u64;
        }
    }
    // A last client record with no answer and the size of an encrypted alert is the
    // close_notify, not a request.
    if out
        .last()
        .is_some_and(|x| x.resp_first.is_none() && x.request_bytes <= 32)
    {
        out.pop();
    }
    out
}

/// The request rows of one connection, with SPEC.md's phases and the findings.
///
/// `lookup` is the DNS lookup that gave the server address (joined by the caller);
/// `arp_before(client, first)` is the start of an ARP exchange whose reply released the
/// connection's first packet.
///
/// Boxed rows: the correlator keeps each in a `BTreeMap` until it can be given an id, and
/// moving a box there costs 8 bytes where moving the row cost 568.
#[allow(clippy::vec_box)]
pub(crate) fn requests_of(
    c: &mut ConnOutcome,
    lookup: Option<&DnsLookup>,
    arp_before: &dyn Fn(&Endpoint, Timestamp) -> Option<Timestamp>,
) -> Vec<Box<RequestRow>> {
    let mut requests = Vec::new();
    let encrypted = c.tls.is_some();
    let (exchanges, from_http) = c.take_exchanges();
    let c = &*c;
    let sni = c.tls.as_ref().and_then(|t| t.sni.clone());
    let dns_name = lookup.map(|l| l.qname.clone());
    // Response windows of the connection, to tell a server's think time from a response
    // queued behind another one on the same connection (HTTP/1.1 keep-alive or
    // pipelining, HTTP/2 scheduling).
    let windows: Vec<(Timestamp, Timestamp)> = exchanges
        .iter()
        .filter_map(|x| Some((x.resp_first?, x.resp_last?)))
        .collect();
    for (i, mut x) in exchanges.into_iter().enumerate() {
        let first = i == 0 && c.syn_ts.is_some();
        let mut r = RequestRow {
            connection_id: c.connection_id,
            client_ip: c.client.ip,
            client_port: c.client.port,
            server_ip: c.server.ip,
            server_port: c.server.port,
            host: x
                .host
                .take()
                .or_else(|| sni.clone())
                .or_else(|| dns_name.clone()),
            scheme: if encrypted { "https" } else { "http" },
            http_version: x
                .http_version
                .take()
                .or_else(|| c.tls.as_ref().and_then(|t| t.alpn.clone())),
            method: x.method.take(),
            url: None,
            uri: None,
            status: x.status,
            encrypted,
            timing_source: if from_http { "http" } else { "tls-records" },
            dns_cached: Some(true),
            connection_reused: !first,
            tls_resumed: None,
            request_bytes: x.request_bytes,
            response_bytes: x.response_bytes,
            rtt_ms: c.rtt_ms,
            sec_fetch_mode: x.sec_fetch_mode.take(),
            sec_fetch_dest: x.sec_fetch_dest.take(),
            referer: x.referer.take(),
            location: x.location.take(),
            http: x.detail.take(),
            ..Default::default()
        };
        if let Some(u) = x.url.take() {
            let scheme = r.scheme;
            r.url = Some(if u.starts_with('/') {
                // Without a Host header (HTTP/1.0), the server's address stands in.
                match (&r.host, c.server.ip) {
                    // Built by hand: one URL per request, and `format!` costs several times
                    // the copy.
                    (Some(h), _) => {
                        let mut url = String::with_capacity(scheme.len() + 3 + h.len() + u.len());
                        url.push_str(scheme);
                        url.push_str("://");
                        url.push_str(h);
                        url.push_str(&u);
                        url
                    }
                    (None, std::net::IpAddr::V6(ip)) => {
                        format!("{scheme}://[{ip}]:{}{u}", c.server.port)
                    }
                    (None, ip) => format!("{scheme}://{ip}:{}{u}", c.server.port),
                }
            } else {
                u.clone()
            });
            r.uri = Some(u);
        }
        // Phases, contiguous: each starts where the one before ended.
        let mut cursor: Option<Timestamp> = None;
        if first {
            let syn = c.syn_ts.unwrap_or(x.req_first);
            if let Some(l) = lookup {
                r.dns_ms = Some(syn.ms_since(l.query_time));
                r.dns_cached = Some(false);
                r.dns_retransmits = l.retransmits;
                r.dns_latency_ms = l.latency_ms;
                r.start_time = l.query_time;
            } else {
                r.start_time = syn;
            }
            // blocked: the client's ARP for its next hop that held back the first packet.
            if let Some(a) = arp_before(&c.client, r.start_time) {
                r.blocked_ms = Some(r.start_time.ms_since(a));
                r.start_time = a;
            }
            if let Some(est) = c.established_ts {
                r.connect_ms = Some(est.ms_since(syn));
                cursor = Some(est);
            }
            if let (Some(t), Some(est)) = (&c.tls, cursor) {
                if let Some(done) = t.handshake_done_ts {
                    r.tls_ms = Some(done.ms_since(est));
                    cursor = Some(done);
                }
                r.tls_resumed = t.resumed;
            }
            if let Some(cur) = cursor {
                r.stalled_ms = Some(x.req_first.ms_since(cur).max(0.0));
            }
        } else {
            r.start_time = x.req_first;
        }
        r.send_ms = Some(x.req_last.ms_since(x.req_first));
        if let Some(rf) = x.resp_first {
            r.wait_ms = Some(rf.ms_since(x.req_last));
            if let Some(rl) = x.resp_last {
                r.receive_ms = Some(rl.ms_since(rf));
            }
        }
        r.total_ms = Some(r.phases().iter().flatten().sum());
        r.findings = findings::for_request(
            &r,
            c,
            lookup,
            findings::Times {
                req_last: x.req_last,
                resp_first: x.resp_first,
                resp_last: x.resp_last,
                // Time of this request's wait during which another response on the
                // connection was arriving.
                busy_ms: x.resp_first.map_or(0.0, |rf| {
                    windows
                        .iter()
                        .filter(|(a, b)| {
                            Some(*a) != x.resp_first || *b != x.resp_last.unwrap_or(*b)
                        })
                        .map(|(a, b)| {
                            let from = (*a).max(x.req_last);
                            let to = (*b).min(rf);
                            to.ms_since(from).max(0.0)
                        })
                        .sum()
                }),
            },
        );
        // Boxed here, where it is made: the correlator holds it boxed until it is written.
        requests.push(Box::new(r));
    }
    requests
}

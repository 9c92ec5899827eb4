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

use crate::base::{Direction, Timestamp};
use crate::flow::{Endpoint, Flow};
use crate::protocol::arp::ArpExchange;
use crate::protocol::dhcp::DhcpExchange;
use crate::protocol::dns::DnsLookup;
use crate::protocol::h2::H2Stream;
use crate::protocol::http::HttpTransaction;
use crate::protocol::tls::{CT_APPLICATION_DATA, TlsRecord, TlsSummary};
use std::collections::BTreeMap;

pub use findings::Finding;
pub use rows::{AnomalyRow, ConnectionRow, HttpDetail, NavigationRow, RequestRow};

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
            http_version: Some(format!("HTTP/1.{}", t.version)),
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

/// (client, answered address) → (response time, query time, index into the lookups).
type DnsByAddr =
    rustc_hash::FxHashMap<(std::net::IpAddr, std::net::IpAddr), Vec<(Timestamp, Timestamp, usize)>>;

/// Answered lookups by (client, address in the answer), sorted by response time, so each
/// connection finds its lookup in O(log n).
struct DnsIndex {
    by_addr: DnsByAddr,
}

impl DnsIndex {
    fn new(dns: &[DnsLookup]) -> Self {
        let mut by_addr: rustc_hash::FxHashMap<_, Vec<_>> = rustc_hash::FxHashMap::default();
        for (i, l) in dns.iter().enumerate() {
            let Some(resp) = l.response_time else {
                continue;
            };
            if l.unsolicited {
                continue;
            }
            for a in &l.addresses {
                by_addr
                    .entry((l.client_ip, *a))
                    .or_default()
                    .push((resp, l.query_time, i));
            }
        }
        for v in by_addr.values_mut() {
            v.sort();
        }
        DnsIndex { by_addr }
    }

    /// The DNS lookup that gave a connection its server address: the most recent answered
    /// lookup from the same client whose addresses include the server, answered before the
    /// SYN.
    fn lookup<'d>(
        &self,
        dns: &'d [DnsLookup],
        client: &Endpoint,
        server: &Endpoint,
        syn: Timestamp,
    ) -> Option<(usize, &'d DnsLookup)> {
        let v = self.by_addr.get(&(client.ip, server.ip))?;
        let n = v.partition_point(|(resp, _, _)| *resp <= syn);
        let (_, _, i) = v.get(n.checked_sub(1)?)?;
        Some((*i, dns.get(*i)?))
    }
}

/// Packets held back by ARP leave right after the reply; a reply this close before the first
/// packet held it.
const ARP_HOLD_MS: f64 = 5.0;

/// The start of an ARP exchange by `client` whose reply came just before `first`.
fn arp_before(arp: &[ArpExchange], client: &Endpoint, first: Timestamp) -> Option<Timestamp> {
    arp.iter()
        .filter(|a| !a.gratuitous && std::net::IpAddr::V4(a.sender_ip) == client.ip)
        .filter_map(|a| Some((a.request_time?, a.reply_time?)))
        .filter(|(_, rep)| *rep <= first && first.ms_since(*rep) <= ARP_HOLD_MS)
        .map(|(req, _)| req)
        .max()
}

/// Runs the correlation over everything the pipeline found.
pub fn correlate(
    outcomes: &[ConnOutcome],
    dns: &[DnsLookup],
    arp: &[ArpExchange],
    dhcp: &[DhcpExchange],
    connections: &mut [ConnectionRow],
    idle_gap_ms: f64,
) -> (Vec<RequestRow>, Vec<NavigationRow>, Vec<Option<u64>>) {
    let mut requests: Vec<RequestRow> = Vec::new();
    // (dns row index, connection id) of each lookup that led to a connection.
    let mut dns_used: Vec<(usize, u64)> = Vec::new();
    let dns_index = DnsIndex::new(dns);
    for c in outcomes {
        let encrypted = c.tls.is_some();
        let (exchanges, from_http) = exchanges_of(c);
        let found = c
            .syn_ts
            .and_then(|syn| dns_index.lookup(dns, &c.client, &c.server, syn));
        let lookup = found.map(|(_, l)| l);
        let sni = c.tls.as_ref().and_then(|t| t.sni.clone());
        let dns_name = lookup.map(|l| l.qname.clone());
        if let Some((idx, _)) = found {
            dns_used.push((idx, c.connection_id));
        }
        // Response windows of the connection, to tell a server's think time from a response
        // queued behind another one on the same connection (HTTP/1.1 keep-alive or
        // pipelining, HTTP/2 scheduling).
        let windows: Vec<(Timestamp, Timestamp)> = exchanges
            .iter()
            .filter_map(|x| Some((x.resp_first?, x.resp_last?)))
            .collect();
        for (i, x) in exchanges.into_iter().enumerate() {
            let first = i == 0 && c.syn_ts.is_some();
            let mut r = RequestRow {
                connection_id: c.connection_id,
                client_ip: c.client.ip,
                client_port: c.client.port,
                server_ip: c.server.ip,
                server_port: c.server.port,
                host: x
                    .host
                    .clone()
                    .or_else(|| sni.clone())
                    .or_else(|| dns_name.clone()),
                scheme: if encrypted { "https" } else { "http" },
                http_version: x
                    .http_version
                    .clone()
                    .or_else(|| c.tls.as_ref().and_then(|t| t.alpn.clone())),
                method: x.method.clone(),
                url: None,
                uri: x.url.clone(),
                status: x.status,
                encrypted,
                timing_source: if from_http { "http" } else { "tls-records" },
                dns_cached: Some(true),
                connection_reused: !first,
                tls_resumed: None,
                request_bytes: x.request_bytes,
                response_bytes: x.response_bytes,
                rtt_ms: c.rtt_ms,
                sec_fetch_mode: x.sec_fetch_mode.clone(),
                sec_fetch_dest: x.sec_fetch_dest.clone(),
                referer: x.referer.clone(),
                location: x.location.clone(),
                http: x.detail.clone(),
                ..Default::default()
            };
            if let Some(u) = &x.url {
                // Without a Host header (HTTP/1.0), the server's address stands in.
                let authority = r.host.clone().unwrap_or_else(|| match c.server.ip {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", c.server.port),
                    ip => format!("{ip}:{}", c.server.port),
                });
                r.url = Some(if u.starts_with('/') {
                    format!("{}://{}{}", r.scheme, authority, u)
                } else {
                    u.clone()
                });
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
                if let Some(a) = arp_before(arp, &c.client, r.start_time) {
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
            requests.push(r);
        }
    }
    requests.sort_by_key(|r| (r.start_time, r.connection_id));
    for (i, r) in requests.iter_mut().enumerate() {
        r.request_id = i as u64 + 1;
    }
    let mut navigations = navigations(&mut requests, idle_gap_ms);
    attach_dhcp(&mut navigations, dhcp);
    // Join columns on connections.
    let mut per_conn: BTreeMap<u64, (u64, Option<u64>)> = BTreeMap::new();
    for r in &requests {
        let e = per_conn
            .entry(r.connection_id)
            .or_insert((0, r.navigation_id));
        e.0 += 1;
    }
    for c in connections.iter_mut() {
        if let Some((n, nav)) = per_conn.get(&c.connection_id) {
            c.requests = *n;
            c.navigation_id = *nav;
        }
    }
    let mut dns_navigation = vec![None; dns.len()];
    for (idx, conn) in dns_used {
        if let (Some(slot), Some((_, nav))) = (dns_navigation.get_mut(idx), per_conn.get(&conn)) {
            // The first connection a lookup served decides its navigation.
            if slot.is_none() {
                *slot = *nav;
            }
        }
    }
    // Lookups that led to no connection (HTTPS/AAAA queries beside the A query, prefetches)
    // belong to the navigation of that client during which they were made.
    for (i, l) in dns.iter().enumerate() {
        if dns_navigation.get(i).is_some_and(|n| n.is_some()) {
            continue;
        }
        let upto = navigations.partition_point(|n| n.start_time <= l.query_time);
        let nav = navigations[..upto]
            .iter()
            .rev()
            .take(64)
            .find(|n| n.client_ip == l.client_ip && n.end_time >= l.query_time)
            .map(|n| n.navigation_id);
        if let Some(slot) = dns_navigation.get_mut(i) {
            *slot = nav;
        }
    }
    (requests, navigations, dns_navigation)
}

/// A DHCP exchange this recent before a navigation belongs to it (the machine just joined
/// the network, then loaded the page).
const DHCP_WINDOW_MS: f64 = 60_000.0;

/// DHCP lease → the first navigation of that client that follows it.
fn attach_dhcp(navs: &mut [NavigationRow], dhcp: &[DhcpExchange]) {
    for d in dhcp {
        let (Some(ip), Some(ack)) = (d.assigned_ip, d.ack_time) else {
            continue;
        };
        let Some(n) = navs.iter_mut().find(|n| {
            n.client_ip == std::net::IpAddr::V4(ip)
                && n.start_time >= ack
                && n.start_time.ms_since(ack) <= DHCP_WINDOW_MS
        }) else {
            continue;
        };
        if n.dhcp_id.is_some() {
            continue;
        }
        n.dhcp_id = Some(d.dhcp_id);
        n.dhcp_ms = Some(d.total_ms);
        n.findings.push(Finding::new(
            "dhcp-before-request",
            format!(
                "DHCP lease of {ip} took {:.1} ms, {:.1} ms before the first request",
                d.total_ms,
                n.start_time.ms_since(ack)
            ),
        ));
    }
}

/// Groups requests (sorted by start) into page loads per client: a request that starts after
/// the client's network was quiet for `idle_gap_ms`, or a top-level navigation seen in HTTP
/// (`Sec-Fetch-Mode: navigate` not following a redirect), starts a new navigation.
fn navigations(requests: &mut [RequestRow], idle_gap_ms: f64) -> Vec<NavigationRow> {
    let mut navs: Vec<NavigationRow> = Vec::new();
    // Per client: (index into navs, end of activity so far, redirect target pending).
    let mut open: BTreeMap<String, (usize, Timestamp, bool)> = BTreeMap::new();
    for r in requests.iter_mut() {
        let key = r.client_ip.to_string();
        let end = r.start_time.add_ms(r.total_ms.unwrap_or(0.0));
        let navigate = r.sec_fetch_mode.as_deref() == Some("navigate");
        let start_new = match open.get(&key) {
            None => true,
            Some((_, last_end, redirected)) => {
                r.start_time.ms_since(*last_end) > idle_gap_ms || (navigate && !redirected)
            }
        };
        if start_new {
            navs.push(NavigationRow {
                navigation_id: navs.len() as u64 + 1,
                client_ip: r.client_ip,
                start_time: r.start_time,
                end_time: end,
                document_request_id: r.request_id,
                page_host: r.host.clone(),
                page_url: r.url.clone(),
                ..Default::default()
            });
            open.insert(key.clone(), (navs.len() - 1, end, false));
        }
        let Some(entry) = open.get_mut(&key) else {
            continue;
        };
        let idx = entry.0;
        if end > entry.1 {
            entry.1 = end;
        }
        entry.2 = r.status.is_some_and(|s| (300..400).contains(&s)) && r.location.is_some();
        r.navigation_id = Some(navs[idx].navigation_id);
        let n = &mut navs[idx];
        if end > n.end_time {
            n.end_time = end;
        }
        n.requests += 1;
        n.bytes_in += r.response_bytes;
        n.bytes_out += r.request_bytes;
        if !r.connection_reused {
            n.connections_new += 1;
            if r.dns_cached == Some(true) {
                n.dns_cached_hosts += 1;
            }
            if r.tls_resumed == Some(true) {
                n.tls_resumed += 1;
            } else if r.encrypted && r.tls_ms.is_some() {
                n.tls_full += 1;
            }
            if r.dns_cached == Some(false) {
                n.dns_lookups += 1;
            }
        } else {
            n.connections_reused += 1;
        }
        if let Some(h) = &r.host
            && !n.host_list.contains(h)
        {
            n.host_list.push(h.clone());
        }
        for f in &r.findings {
            if !n.findings.contains(f) {
                n.findings.push(f.clone());
            }
        }
    }
    // Per-navigation summaries from the document request.
    for n in navs.iter_mut() {
        n.duration_ms = n.end_time.ms_since(n.start_time);
        n.hosts = n.host_list.len() as u64;
        // Request ids are positions + 1 (assigned just before grouping).
        let doc = (n.document_request_id as usize)
            .checked_sub(1)
            .and_then(|i| requests.get(i))
            .filter(|r| r.request_id == n.document_request_id);
        if let Some(doc) = doc {
            n.document_blocked_ms = doc.blocked_ms;
            if let Some(b) = doc.blocked_ms {
                n.findings.push(Finding::new(
                    "arp-before-request",
                    format!("the first packet waited {b:.1} ms for ARP to resolve the next hop"),
                ));
            }
            n.document_dns_ms = doc.dns_ms;
            n.document_connect_ms = doc.connect_ms;
            n.document_tls_ms = doc.tls_ms;
            n.document_wait_ms = doc.wait_ms;
            n.document_receive_ms = doc.receive_ms;
            let cold_dns = doc.dns_cached == Some(false);
            let new_conn = !doc.connection_reused;
            let full_tls =
                !doc.encrypted || (doc.tls_ms.is_some() && doc.tls_resumed != Some(true));
            let warm_tls = !doc.encrypted || doc.connection_reused || doc.tls_resumed == Some(true);
            n.temperature = if cold_dns && new_conn && full_tls {
                "cold"
            } else if !cold_dns && !new_conn && warm_tls {
                "warm"
            } else {
                "partial"
            };
            n.slowest_phase = [
                ("dns", doc.dns_ms),
                ("connect", doc.connect_ms),
                ("tls", doc.tls_ms),
                ("wait", doc.wait_ms),
                ("receive", doc.receive_ms),
            ]
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k);
        }
    }
    navs
}

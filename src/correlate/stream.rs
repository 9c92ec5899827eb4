//! Streaming correlation: rows leave as soon as nothing later in the capture can change them,
//! so memory follows what is live (open flows, the last seconds of requests and lookups),
//! not the size of the capture.
//!
//! The pipeline hands the [`Correlator`] finished connections, DNS lookups, ARP and DHCP
//! exchanges, and once per second of capture time a [`Watermark`]: the time before which no
//! new connection can start and every tracker has emitted its rows. From it:
//!
//! 1. a finished connection (or the finished exchanges of a live one gone idle) whose first
//!    packet is before the watermark becomes request rows
//!    (its DNS lookup and ARP wait are joined then: both are over by its first packet);
//! 2. requests that start more than [`LOOKBACK_MS`] before the watermark (longer while a
//!    retransmitted lookup can still be joined) get their ids, in
//!    start order, and are grouped into navigations (no connection released later can have a
//!    request that starts earlier: its DNS and ARP lookbacks are capped);
//! 3. a navigation whose client has been quiet for the idle gap is closed, summarised and
//!    written, in id order;
//! 4. a DNS lookup is written once the navigation it served (or that was under way when it
//!    was asked) is known; a connection once its requests have ids, in id order.
//!
//! At the end everything is released. The rows and ids are the same whichever way the input
//! arrives (all at once, or a second at a time, from one analyzer or several workers):
//! tested.
//!
//! Imports `base`, `flow`, `protocol` and its parent's rows; writes through [`RowSink`], which
//! the exporters implement (it never imports them).

use super::findings::Finding;
use super::rows::{ConnectionRow, NavigationRow, RequestRow};
use super::{ConnOutcome, requests_of};
use crate::base::{Earliest, SortedQueue, Timestamp, shrink_after_burst};
use crate::flow::Endpoint;
use crate::protocol::arp::ArpExchange;
use crate::protocol::dhcp::DhcpExchange;
use crate::protocol::dns::{DnsLookup, UNANSWERED_TIMEOUT_MS};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr};

/// A lookup is a connection's DNS phase only when its answer arrived at most this long before
/// the SYN; a connection opened later used an answer the client had cached. (Clients connect
/// within a millisecond of the answer; prefetched or long-cached answers are not on the
/// connection's critical path.)
pub const DNS_JOIN_WINDOW_MS: f64 = 2_000.0;
/// Longest time from a joined lookup's first query to the connection's first packet, for a
/// lookup answered within [`UNANSWERED_TIMEOUT_MS`] of its first query (the usual case).
const DNS_LOOKBACK_MS: f64 = DNS_JOIN_WINDOW_MS + UNANSWERED_TIMEOUT_MS;
/// Longest lookup (first query to answer) that can be a connection's DNS phase. A query
/// retransmitted with the same id stays one lookup while the client keeps asking within
/// [`UNANSWERED_TIMEOUT_MS`], so a failing resolver's lookup can take tens of seconds:
/// glibc's defaults (2 attempts of 5 s per server, up to 3 servers) give up after 30 s.
/// Longer lookups are in the `dns` table but not joined (the watermark's lookback stays
/// finite).
const MAX_JOINED_LOOKUP_MS: f64 = 60_000.0;
/// [`DNS_LOOKBACK_MS`] for the longest joinable lookup: the lookback while such a lookup
/// can still be joined (see [`Correlator::lookback_at`]).
const DNS_LOOKBACK_MAX_MS: f64 = DNS_JOIN_WINDOW_MS + MAX_JOINED_LOOKUP_MS;
/// Longest time from the ARP request that held a first packet back to that packet.
const ARP_LOOKBACK_MS: f64 = 10_000.0;
/// A request starts at most this long before its connection's first packet, unless a lookup
/// longer than [`UNANSWERED_TIMEOUT_MS`] is joinable ([`Correlator::lookback_at`]).
pub const LOOKBACK_MS: f64 = DNS_LOOKBACK_MS + ARP_LOOKBACK_MS;
/// Packets held back by ARP leave right after the reply; a reply this close before the first
/// packet held it.
const ARP_HOLD_MS: f64 = 5.0;
/// A DHCP exchange this recent before a navigation belongs to it (the machine just joined
/// the network, then loaded the page).
const DHCP_WINDOW_MS: f64 = 60_000.0;
/// A navigation is written this long (capture time) after it starts at the earliest, so the
/// DHCP exchange before it has been emitted by its tracker (which waits for the exchange to
/// go idle).
const DHCP_HOLD_MS: f64 = 75_000.0;

/// Where released rows go: a collector, or table writers streaming to files.
pub trait RowSink: Send {
    fn connection(&mut self, row: ConnectionRow);
    fn request(&mut self, row: RequestRow);
    fn navigation(&mut self, row: NavigationRow);
    /// A lookup and the navigation it served.
    fn dns(&mut self, row: DnsLookup, navigation_id: Option<u64>);
    /// No more rows: finish the output; the files written.
    fn close(&mut self) -> std::io::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Keeps every row (tests, and the reports that need all of them at once).
#[derive(Debug, Default)]
pub struct Collect {
    pub connections: Vec<ConnectionRow>,
    pub requests: Vec<RequestRow>,
    pub navigations: Vec<NavigationRow>,
    pub dns: Vec<DnsLookup>,
    pub dns_navigation: Vec<Option<u64>>,
}

impl RowSink for Collect {
    fn connection(&mut self, row: ConnectionRow) {
        self.connections.push(row);
    }
    fn request(&mut self, row: RequestRow) {
        self.requests.push(row);
    }
    fn navigation(&mut self, row: NavigationRow) {
        self.navigations.push(row);
    }
    fn dns(&mut self, row: DnsLookup, navigation_id: Option<u64>) {
        self.dns.push(row);
        self.dns_navigation.push(navigation_id);
    }
}

/// A sink shared with its owner, who finishes the output after the stream ends (the HAR
/// document, the HTML page).
pub struct Shared<S>(pub std::sync::Arc<std::sync::Mutex<S>>);

impl<S: RowSink> Shared<S> {
    fn with(&mut self, f: impl FnOnce(&mut S)) {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

impl<S: RowSink> RowSink for Shared<S> {
    fn connection(&mut self, row: ConnectionRow) {
        self.with(|s| s.connection(row));
    }
    fn request(&mut self, row: RequestRow) {
        self.with(|s| s.request(row));
    }
    fn navigation(&mut self, row: NavigationRow) {
        self.with(|s| s.navigation(row));
    }
    fn dns(&mut self, row: DnsLookup, navigation_id: Option<u64>) {
        self.with(|s| s.dns(row, navigation_id));
    }
}

/// Hands every row to each of several sinks (a clone to all but the last): table files and
/// a HAR document, say, written from one stream.
pub struct Fanout(pub Vec<Box<dyn RowSink>>);

impl Fanout {
    fn each<T: Clone>(&mut self, row: T, put: impl Fn(&mut dyn RowSink, T)) {
        if let Some((last, rest)) = self.0.split_last_mut() {
            for s in rest {
                put(s.as_mut(), row.clone());
            }
            put(last.as_mut(), row);
        }
    }
}

/// The row methods of a [`RowSink`] that hands each row on through its own
/// `each(row, put)` (a fan-out of sinks).
macro_rules! rows_through_each {
    () => {
        fn connection(&mut self, row: $crate::correlate::ConnectionRow) {
            self.each(row, |s, r| s.connection(r));
        }
        fn request(&mut self, row: $crate::correlate::RequestRow) {
            self.each(row, |s, r| s.request(r));
        }
        fn navigation(&mut self, row: $crate::correlate::NavigationRow) {
            self.each(row, |s, r| s.navigation(r));
        }
        fn dns(&mut self, row: $crate::protocol::dns::DnsLookup, navigation_id: Option<u64>) {
            self.each(row, |s, r| s.dns(r, navigation_id));
        }
    };
}
pub(crate) use rows_through_each;

impl RowSink for Fanout {
    rows_through_each!();
    /// Closes every sink (the first error is returned once all were closed).
    fn close(&mut self) -> std::io::Result<Vec<String>> {
        let mut files = Vec::new();
        let mut error = None;
        for s in &mut self.0 {
            match s.close() {
                Ok(f) => files.extend(f),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        error.map_or(Ok(files), Err)
    }
}

/// What the pipeline knows at a point of capture time.
#[derive(Clone, Copy, Debug)]
pub struct Watermark {
    /// Capture time now.
    pub now: Timestamp,
    /// No connection not yet handed over can have its first packet before this (the earliest
    /// live flow's first packet, or now less the trackers' emission delay).
    pub first_packet: Timestamp,
    /// The earliest first query of a lookup the DNS tracker still holds.
    pub dns_pending: Option<Timestamp>,
}

/// An unanswered lookup in [`Correlator::unanswered`]: client, query type, first query,
/// arrival.
type Attempt = (IpAddr, u16, Timestamp, u64);

/// Most unanswered attempts a lookup's DNS phase reaches back over (clients give up after a
/// handful; the bound keeps a flood of queries for one name from making each join slow).
const MAX_CHAINED_ATTEMPTS: usize = 64;

/// Sort key of the `dns` table: first query time, query frame, response frame, name, type,
/// then arrival.
type DnsKey = (Timestamp, u64, Option<u64>, String, u16, u64);

/// What a connection's requests have told so far.
#[derive(Default)]
struct ConnState {
    /// Parts of its outcome not yet turned into requests.
    parts_pending: u32,
    /// Requests made but not yet given ids.
    open_requests: u64,
    requests: u64,
    navigation_id: Option<u64>,
}

/// An open navigation's last request end when the entry was made, earliest first: (end,
/// navigation id) → client. One entry per open navigation: one whose end moved later is
/// put back with its new end when it comes up; one whose navigation closed is dropped.
type OpenEnd = Earliest<(Timestamp, u64), IpAddr>;

/// A request waiting for its id; `Some(seq)` when it is the request that used a lookup.
type PendingRequest = (Box<RequestRow>, Option<u64>);

/// A navigation being built.
struct NavState {
    /// Boxed: navigations leave the front of the map, and a B-tree node shifts the entries
    /// behind a removed one (400-byte rows copied ten at a time).
    row: Box<NavigationRow>,
    /// No request can join it any more.
    closed: bool,
}

/// The open navigation of a client.
struct OpenNav {
    id: u64,
    last_end: Timestamp,
    redirected: bool,
}

/// See the module documentation.
pub struct Correlator {
    idle_gap_ms: f64,
    /// Connections' outcomes (whole, or parts of a live one) by (earliest request start bound,
    /// id, arrival).
    outcomes: BTreeMap<(Timestamp, u64, u64), Box<ConnOutcome>>,
    outcome_seq: u64,
    /// Finished connections' rows by (end tick, id): the table's order.
    conns: BTreeMap<(Timestamp, u64), Box<ConnectionRow>>,
    conn_state: FxHashMap<u64, ConnState>,
    /// Answered lookups by (client, address in the answer), still joinable.
    dns_index: FxHashMap<(IpAddr, IpAddr), Vec<(Timestamp, u64)>>,
    /// The same entries by answer time, oldest first, to drop them once too old to join:
    /// ordered by (answer time, arrival number) alone. Entries equal in both are one
    /// lookup's addresses, whose removals commute.
    dns_expiry: SortedQueue<(Timestamp, u64), (IpAddr, IpAddr)>,
    /// What lengthens the lookback, as (last answer time at which it can be joined, first
    /// query): indexed lookups answered more than [`UNANSWERED_TIMEOUT_MS`] after their first
    /// query (retransmitted), and unanswered lookups a retry can chain to
    /// ([`Self::lookback_at`]).
    lookback_holds: Vec<(Timestamp, Timestamp)>,
    /// Unanswered lookups not yet written, by name, as (client, type, query, arrival): the
    /// earlier attempts of a client that asked again with a new id
    /// ([`Self::attempts_before`]).
    unanswered: FxHashMap<String, BTreeSet<Attempt>>,
    /// Lookups not yet written, in the table's order.
    dns_pending: BTreeSet<DnsKey>,
    /// Each of them by arrival number, with the navigation of the first request that used
    /// it.
    dns_rows: FxHashMap<u64, (DnsLookup, Option<u64>)>,
    dns_seq: u64,
    /// Answered, non-gratuitous ARP exchanges by sender: (request, reply).
    arp: FxHashMap<Ipv4Addr, Vec<(Timestamp, Timestamp)>>,
    /// DHCP exchanges (capped by their tracker) and whether a navigation claimed each.
    dhcp: Vec<(DhcpExchange, bool)>,
    requests: BTreeMap<(Timestamp, u64, u32), PendingRequest>,
    next_request_id: u64,
    open: FxHashMap<IpAddr, OpenNav>,
    /// `open` by last request end, so the quiet ones are found without a scan of every
    /// client at every release (a fifth of the release's own time with 500 clients).
    open_ends: BinaryHeap<OpenEnd>,
    navs: BTreeMap<u64, NavState>,
    next_nav_id: u64,
    /// Recent navigations (id → client, start, end), for lookups that served no connection.
    recent: BTreeMap<u64, (IpAddr, Timestamp, Timestamp)>,
    /// Document request per navigation id, until the navigation is closed.
    docs: FxHashMap<u64, RequestRow>,
    /// Released requests start no earlier than this.
    released_upto: Option<Timestamp>,
}

impl Correlator {
    pub fn new(idle_gap_ms: f64) -> Self {
        Correlator {
            idle_gap_ms,
            outcomes: BTreeMap::new(),
            outcome_seq: 0,
            conns: BTreeMap::new(),
            conn_state: FxHashMap::default(),
            dns_index: FxHashMap::default(),
            dns_expiry: SortedQueue::new(),
            lookback_holds: Vec::new(),
            unanswered: FxHashMap::default(),
            dns_pending: BTreeSet::new(),
            dns_rows: FxHashMap::default(),
            dns_seq: 0,
            arp: FxHashMap::default(),
            dhcp: Vec::new(),
            requests: BTreeMap::new(),
            next_request_id: 1,
            open: FxHashMap::default(),
            open_ends: BinaryHeap::new(),
            navs: BTreeMap::new(),
            next_nav_id: 1,
            recent: BTreeMap::new(),
            docs: FxHashMap::default(),
            released_upto: None,
        }
    }

    /// Rows held, for tests of the memory bound.
    pub fn held(&self) -> usize {
        self.outcomes.len()
            + self.conns.len()
            + self.conn_state.len()
            + self.dns_rows.len()
            + self.requests.len()
            + self.navs.len()
            + self.recent.len()
    }

    /// A finished flow: its `connections` row and, for TCP with exchanges, its (last) outcome.
    pub fn connection(&mut self, row: ConnectionRow, outcome: Option<ConnOutcome>) {
        if let Some(o) = outcome {
            self.part(o);
        }
        self.conns
            .insert((row.end_tick, row.connection_id), Box::new(row));
    }

    /// Exchanges of a connection so far (a live connection that went idle with nothing
    /// outstanding, or the whole of a finished one).
    pub fn part(&mut self, o: ConnOutcome) {
        let key = o.continues_from.unwrap_or(o.first_ts);
        self.conn_state
            .entry(o.connection_id)
            .or_default()
            .parts_pending += 1;
        self.outcomes
            .insert((key, o.connection_id, self.outcome_seq), Box::new(o));
        self.outcome_seq += 1;
    }

    /// A finished DNS lookup.
    pub fn dns(&mut self, l: DnsLookup) {
        let seq = self.dns_seq;
        self.dns_seq += 1;
        if let Some(resp) = l.response_time
            && !l.unsolicited
            && !l.addresses.is_empty()
        {
            if resp.ms_since(l.query_time) > UNANSWERED_TIMEOUT_MS {
                self.lookback_holds.push((resp, l.query_time));
            }
            for a in &l.addresses {
                let key = (l.client_ip, *a);
                self.dns_index.entry(key).or_default().push((resp, seq));
                self.dns_expiry.push((resp, seq), key);
            }
        }
        if l.response_time.is_none() && !l.unsolicited {
            self.unanswered.entry(l.qname.clone()).or_default().insert((
                l.client_ip,
                l.qtype,
                l.query_time,
                seq,
            ));
            self.lookback_holds
                .push((l.query_time.add_ms(MAX_JOINED_LOOKUP_MS), l.query_time));
        }
        self.dns_pending.insert((
            l.query_time,
            l.query_frame,
            l.response_frame,
            l.qname.clone(),
            l.qtype,
            seq,
        ));
        self.dns_rows.insert(seq, (l, None));
    }

    pub fn arp(&mut self, a: &ArpExchange) {
        if a.gratuitous {
            return;
        }
        if let (Some(req), Some(rep)) = (a.request_time, a.reply_time) {
            self.arp.entry(a.sender_ip).or_default().push((req, rep));
        }
    }

    pub fn dhcp(&mut self, d: &DhcpExchange) {
        self.dhcp.push((d.clone(), false));
    }

    /// Releases what the watermark makes final.
    pub fn advance(&mut self, w: Watermark, sink: &mut dyn RowSink) {
        self.release(Some(w), sink);
    }

    /// End of input: releases everything.
    pub fn finish(&mut self, sink: &mut dyn RowSink) {
        self.release(None, sink);
    }

    /// How long before the watermark `t` a request released later can start:
    /// [`LOOKBACK_MS`], or longer while a lookup that took longer than
    /// [`UNANSWERED_TIMEOUT_MS`] can still be joined (a connection not yet handed over, whose
    /// first packet is at `t` or later, can have its request start at that lookup's first
    /// query). A lookup still in its tracker needs nothing here: the watermark is held at
    /// its first query.
    fn lookback_at(&mut self, t: Timestamp) -> f64 {
        let join_from = t.add_ms(-DNS_JOIN_WINDOW_MS);
        self.lookback_holds.retain(|(until, _)| *until >= join_from);
        let dns = self
            .lookback_holds
            .iter()
            .map(|(_, query)| t.ms_since(*query))
            .fold(DNS_LOOKBACK_MS, f64::max)
            .min(DNS_LOOKBACK_MAX_MS);
        dns + ARP_LOOKBACK_MS
    }

    fn release(&mut self, w: Option<Watermark>, sink: &mut dyn RowSink) {
        let first_packet = w.map(|w| w.first_packet);
        let lookback = first_packet.map_or(LOOKBACK_MS, |t| self.lookback_at(t));
        // 1. Connections whose first packet is before the watermark become requests.
        while let Some(entry) = self.outcomes.first_entry() {
            if first_packet.is_some_and(|t| entry.key().0 > t) {
                break;
            }
            // Read in its box: a 776-byte outcome is not copied out to be read once.
            let mut o = entry.remove();
            self.make_requests(&mut o);
        }
        // 2. Requests no later connection can precede get ids, in start order.
        let req_upto = first_packet.map(|t| t.add_ms(-lookback));
        while let Some(entry) = self.requests.first_entry() {
            if req_upto.is_some_and(|t| entry.key().0 > t) {
                break;
            }
            let (r, dns_seq) = entry.remove();
            self.assign(r, dns_seq, sink);
        }
        if let Some(t) = req_upto {
            self.released_upto = Some(self.released_upto.map_or(t, |u| u.max(t)));
        }
        // 3. Navigations whose client went quiet for the idle gap.
        let gap = self.idle_gap_ms;
        while let Some(&Earliest {
            key: (end, id),
            value: ip,
        }) = self.open_ends.peek()
        {
            if req_upto.is_some_and(|t| t.ms_since(end) <= gap) {
                break;
            }
            self.open_ends.pop();
            let Some(o) = self.open.get(&ip).filter(|o| o.id == id) else {
                continue;
            };
            if o.last_end > end && req_upto.is_some_and(|t| t.ms_since(o.last_end) <= gap) {
                let key = (o.last_end, id);
                self.open_ends.push(Earliest { key, value: ip });
                continue;
            }
            self.open.remove(&ip);
            self.close_nav(id);
        }
        let now = w.map(|w| w.now);
        while let Some(entry) = self.navs.first_entry() {
            let n = entry.get();
            if !n.closed || now.is_some_and(|t| t.ms_since(n.row.start_time) < DHCP_HOLD_MS) {
                break;
            }
            let mut row = entry.remove().row;
            self.attach_dhcp(&mut row);
            sink.navigation(*row);
        }
        // 4. Lookups whose navigation is known.
        let dns_upto = req_upto.map(|t| t.add_ms(-gap));
        while let Some(first) = self.dns_pending.first() {
            let q = first.0;
            if let Some(w) = w
                && (dns_upto.is_some_and(|t| q >= t) || w.dns_pending.is_some_and(|p| q >= p))
            {
                break;
            }
            let Some(key) = self.dns_pending.pop_first() else {
                break;
            };
            let Some((l, served)) = self.dns_rows.remove(&key.5) else {
                continue;
            };
            if l.response_time.is_none()
                && !l.unsolicited
                && let Some(v) = self.unanswered.get_mut(&l.qname)
            {
                v.remove(&(l.client_ip, l.qtype, l.query_time, key.5));
                if v.is_empty() {
                    self.unanswered.remove(&l.qname);
                }
            }
            let nav = served.or_else(|| self.nav_at(l.client_ip, l.query_time));
            sink.dns(l, nav);
        }
        // Lookups too old to be joined, ARP too old to have held a first packet, and
        // navigations no pending lookup can fall into.
        if let Some(t) = first_packet {
            let join_from = t.add_ms(-DNS_JOIN_WINDOW_MS);
            while let Some(((resp, seq), key)) = self.dns_expiry.peek() {
                if resp >= join_from {
                    break;
                }
                self.dns_expiry.pop();
                if let Some(v) = self.dns_index.get_mut(&key) {
                    v.retain(|e| *e != (resp, seq));
                    if v.is_empty() {
                        self.dns_index.remove(&key);
                    }
                }
            }
            let arp_from = t.add_ms(-lookback);
            self.arp.retain(|_, v| {
                v.retain(|(_, rep)| *rep >= arp_from);
                !v.is_empty()
            });
            let oldest_dns = self.dns_pending.first().map(|k| k.0);
            let keep_from = oldest_dns.map_or(t, |q| q.min(t)).add_ms(-lookback - gap);
            while let Some(e) = self.recent.first_entry() {
                if e.get().2 >= keep_from || self.navs.contains_key(e.key()) {
                    break;
                }
                e.remove();
            }
            let dhcp_from = t.add_ms(-DHCP_WINDOW_MS - DHCP_HOLD_MS - lookback);
            self.dhcp
                .retain(|(d, _)| d.ack_time.is_none_or(|a| a >= dhcp_from));
        }
        // 5. Connections whose requests all have ids, in the order they ended.
        while let Some(entry) = self.conns.first_entry() {
            let id = entry.key().1;
            if let Some(st) = self.conn_state.get(&id)
                && (st.parts_pending > 0 || st.open_requests > 0)
            {
                break;
            }
            let mut row = entry.remove();
            if let Some(st) = self.conn_state.remove(&id) {
                row.requests = st.requests;
                row.navigation_id = st.navigation_id;
            }
            sink.connection(*row);
        }
        // Tables emptied by a burst give their memory back.
        shrink_after_burst(&mut self.conn_state);
        shrink_after_burst(&mut self.dns_index);
        shrink_after_burst(&mut self.unanswered);
        shrink_after_burst(&mut self.dns_rows);
        shrink_after_burst(&mut self.arp);
        shrink_after_burst(&mut self.open);
        shrink_after_burst(&mut self.docs);
    }

    /// The lookup that gave a connection its server address: the most recent answered lookup
    /// from the same client whose addresses include the server, answered before the SYN and
    /// at most [`DNS_JOIN_WINDOW_MS`] before it.
    fn join_dns(&self, o: &ConnOutcome) -> Option<u64> {
        let syn = o.syn_ts?;
        let v = self.dns_index.get(&(o.client.ip, o.server.ip))?;
        let (_, seq) = v
            .iter()
            .filter(|(resp, _)| *resp <= syn && syn.ms_since(*resp) <= DNS_JOIN_WINDOW_MS)
            .max()?;
        let l = self.joinable(*seq)?;
        (o.first_ts.ms_since(l.query_time) <= DNS_LOOKBACK_MAX_MS).then_some(*seq)
    }

    /// An indexed lookup, read where it waits to be written. A join never needs a written
    /// one: the connection's first packet holds the watermark back until its outcome is
    /// here; the lookup was answered at most [`DNS_JOIN_WINDOW_MS`] before that packet; and
    /// a lookup is written only once the watermark is the lookback and the idle gap past its
    /// query, where the lookback covers every lookup answered that recently
    /// ([`Self::lookback_at`]).
    fn joinable(&self, seq: u64) -> Option<&DnsLookup> {
        self.dns_rows.get(&seq).map(|(l, _)| l)
    }

    /// The earlier attempts of a joined lookup `l`: unanswered lookups of the same client,
    /// name and type, each asked at most [`UNANSWERED_TIMEOUT_MS`] before the next (a client
    /// that gives up on a query and asks again with a new id, as Chromium's resolver does,
    /// possibly of another server). Returns the first attempt's query time and the number
    /// of transmissions before `l`'s, or `None` when `l` was the first attempt. The chain
    /// reaches back at most [`MAX_JOINED_LOOKUP_MS`] from the answer, which the lookback
    /// covers while `l` can be joined.
    fn attempts_before(&self, l: &DnsLookup) -> Option<(Timestamp, u32)> {
        let resp = l.response_time?;
        let v = self.unanswered.get(&l.qname)?;
        let from = resp.add_ms(-MAX_JOINED_LOOKUP_MS);
        let (mut start, mut attempts) = (l.query_time, 0u32);
        // Latest first: each attempt within the unanswered timeout of the one after it.
        let earlier = (l.client_ip, l.qtype, from, 0)..(l.client_ip, l.qtype, l.query_time, 0);
        for (_, _, q, seq) in v.range(earlier).rev().take(MAX_CHAINED_ATTEMPTS) {
            if start.ms_since(*q) > UNANSWERED_TIMEOUT_MS {
                break;
            }
            start = *q;
            let retransmits = self.dns_rows.get(seq).map_or(0, |(u, _)| u.retransmits);
            attempts = attempts.saturating_add(1 + retransmits);
        }
        (attempts > 0).then_some((start, attempts))
    }

    fn make_requests(&mut self, o: &mut ConnOutcome) {
        let seq = self.join_dns(o);
        let joined = seq.and_then(|s| self.joinable(s));
        // A lookup after unanswered attempts: the DNS phase starts at the first of them.
        let chained = joined.and_then(|l| {
            let (start, attempts) = self.attempts_before(l)?;
            let mut c = l.clone();
            c.query_time = start;
            c.retransmits = c.retransmits.saturating_add(attempts);
            c.latency_ms = c.response_time.map(|r| r.ms_since(start));
            Some(c)
        });
        let lookup = chained.as_ref().or(joined);
        let arp = &self.arp;
        let arp_before = |client: &Endpoint, first: Timestamp| -> Option<Timestamp> {
            let IpAddr::V4(ip) = client.ip else {
                return None;
            };
            arp.get(&ip)?
                .iter()
                .filter(|(req, rep)| {
                    *rep <= first
                        && first.ms_since(*rep) <= ARP_HOLD_MS
                        && first.ms_since(*req) <= ARP_LOOKBACK_MS
                })
                .map(|(req, _)| *req)
                .max()
        };
        let rows = requests_of(o, lookup, &arp_before);
        let id = o.connection_id;
        let n = rows.len() as u64;
        for (i, r) in rows.into_iter().enumerate() {
            let used = if i == 0 && r.dns_cached == Some(false) {
                seq
            } else {
                None
            };
            self.requests
                .insert((r.start_time, r.connection_id, i as u32), (r, used));
        }
        let st = self.conn_state.entry(id).or_default();
        st.parts_pending = st.parts_pending.saturating_sub(1);
        st.open_requests += n;
    }

    /// Gives a request its id and navigation (a request that starts after the client's network
    /// was quiet for the idle gap, or a top-level navigation seen in HTTP that does not follow
    /// a redirect, starts a new navigation), then writes it.
    fn assign(&mut self, mut r: Box<RequestRow>, dns_seq: Option<u64>, sink: &mut dyn RowSink) {
        r.request_id = self.next_request_id;
        self.next_request_id += 1;
        let end = r.start_time.add_ms(r.total_ms.unwrap_or(0.0));
        let navigate = r.sec_fetch_mode.as_deref() == Some("navigate");
        let start_new = match self.open.get(&r.client_ip) {
            None => true,
            Some(o) => {
                r.start_time.ms_since(o.last_end) > self.idle_gap_ms || (navigate && !o.redirected)
            }
        };
        if start_new {
            if let Some(o) = self.open.remove(&r.client_ip) {
                self.close_nav(o.id);
            }
            let id = self.next_nav_id;
            self.next_nav_id += 1;
            self.navs.insert(
                id,
                NavState {
                    row: Box::new(NavigationRow {
                        navigation_id: id,
                        client_ip: r.client_ip,
                        start_time: r.start_time,
                        end_time: end,
                        document_request_id: r.request_id,
                        page_host: r.host.clone(),
                        page_url: r.url.clone(),
                        ..Default::default()
                    }),
                    closed: false,
                },
            );
            self.recent.insert(id, (r.client_ip, r.start_time, end));
            self.docs.insert(id, doc_copy(&r));
            self.open.insert(
                r.client_ip,
                OpenNav {
                    id,
                    last_end: end,
                    redirected: false,
                },
            );
            self.open_ends.push(Earliest {
                key: (end, id),
                value: r.client_ip,
            });
        }
        let Some(o) = self.open.get_mut(&r.client_ip) else {
            return;
        };
        if end > o.last_end {
            o.last_end = end;
        }
        o.redirected = r.status.is_some_and(|s| (300..400).contains(&s)) && r.location.is_some();
        let nav_id = o.id;
        r.navigation_id = Some(nav_id);
        if let Some(n) = self.navs.get_mut(&nav_id) {
            add_request(&mut n.row, &r, end);
            if let Some(rec) = self.recent.get_mut(&nav_id) {
                rec.2 = n.row.end_time;
            }
        }
        // The lookup this request used belongs to its navigation (the first one decides).
        if let Some((_, served)) = dns_seq.and_then(|s| self.dns_rows.get_mut(&s))
            && served.is_none()
        {
            *served = Some(nav_id);
        }
        if let Some(c) = self.conn_state.get_mut(&r.connection_id) {
            c.open_requests = c.open_requests.saturating_sub(1);
            c.requests += 1;
            if c.navigation_id.is_none() {
                c.navigation_id = Some(nav_id);
            }
        }
        sink.request(*r);
    }

    /// Per-navigation summaries from the document request.
    fn close_nav(&mut self, id: u64) {
        let Some(n) = self.navs.get_mut(&id) else {
            return;
        };
        n.closed = true;
        let n = &mut n.row;
        n.duration_ms = n.end_time.ms_since(n.start_time);
        n.hosts = n.host_list.len() as u64;
        let Some(doc) = self.docs.remove(&id) else {
            return;
        };
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
        let full_tls = !doc.encrypted || (doc.tls_ms.is_some() && doc.tls_resumed != Some(true));
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

    /// DHCP lease → the first navigation of that client that follows it (within
    /// [`DHCP_WINDOW_MS`]). Navigations are written in id order, so the first one to see an
    /// unclaimed lease claims it, and every other lease aimed at the same navigation.
    fn attach_dhcp(&mut self, n: &mut NavigationRow) {
        for (d, claimed) in self.dhcp.iter_mut() {
            if *claimed {
                continue;
            }
            let (Some(ip), Some(ack)) = (d.assigned_ip, d.ack_time) else {
                continue;
            };
            if n.client_ip != IpAddr::V4(ip)
                || n.start_time < ack
                || n.start_time.ms_since(ack) > DHCP_WINDOW_MS
            {
                continue;
            }
            *claimed = true;
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

    /// The navigation of `client` under way at `t` (for lookups that led to no connection:
    /// HTTPS/AAAA queries beside the A query, prefetches).
    fn nav_at(&self, client: IpAddr, t: Timestamp) -> Option<u64> {
        self.recent
            .iter()
            .rev()
            .filter(|(_, (_, start, _))| *start <= t)
            .take(64)
            .find(|(_, (ip, _, end))| *ip == client && *end >= t)
            .map(|(id, _)| *id)
    }
}

/// The fields of a document request the navigation summary needs.
fn doc_copy(r: &RequestRow) -> RequestRow {
    RequestRow {
        blocked_ms: r.blocked_ms,
        dns_ms: r.dns_ms,
        connect_ms: r.connect_ms,
        tls_ms: r.tls_ms,
        wait_ms: r.wait_ms,
        receive_ms: r.receive_ms,
        dns_cached: r.dns_cached,
        connection_reused: r.connection_reused,
        encrypted: r.encrypted,
        tls_resumed: r.tls_resumed,
        ..Default::default()
    }
}

/// Adds a request to its navigation's totals.
fn add_request(n: &mut NavigationRow, r: &RequestRow, end: Timestamp) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that logs what reaches it, and fails to close when told to.
    struct Log(
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
        &'static str,
        bool,
    );

    impl RowSink for Log {
        fn connection(&mut self, row: ConnectionRow) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} c{}", self.1, row.connection_id));
        }
        fn request(&mut self, row: RequestRow) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} r{}", self.1, row.request_id));
        }
        fn navigation(&mut self, row: NavigationRow) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} n{}", self.1, row.navigation_id));
        }
        fn dns(&mut self, row: DnsLookup, nav: Option<u64>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} d{} {nav:?}", self.1, row.qname));
        }
        fn close(&mut self) -> std::io::Result<Vec<String>> {
            self.0.lock().unwrap().push(format!("{} closed", self.1));
            if self.2 {
                Err(std::io::Error::other(self.1))
            } else {
                Ok(vec![format!("{}.csv", self.1)])
            }
        }
    }

    /// Every sink of a fan-out gets every row, in order; closing closes all of them and
    /// reports the first failure.
    #[test]
    fn fanout_hands_every_row_to_every_sink() {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut f = Fanout(vec![
            Box::new(Log(log.clone(), "a", false)),
            Box::new(Log(log.clone(), "b", false)),
        ]);
        f.request(RequestRow {
            request_id: 7,
            ..RequestRow::default()
        });
        f.connection(ConnectionRow {
            connection_id: 5,
            ..ConnectionRow::default()
        });
        f.navigation(NavigationRow {
            navigation_id: 3,
            ..NavigationRow::default()
        });
        assert_eq!(f.close().unwrap(), vec!["a.csv", "b.csv"]);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "a r7", "b r7", "a c5", "b c5", "a n3", "b n3", "a closed", "b closed"
            ]
        );
        let mut failing = Fanout(vec![
            Box::new(Log(log.clone(), "e", true)),
            Box::new(Log(log.clone(), "f", false)),
        ]);
        log.lock().unwrap().clear();
        assert_eq!(failing.close().unwrap_err().to_string(), "e");
        assert_eq!(*log.lock().unwrap(), ["e closed", "f closed"]);
    }

    /// The expiry queue pops the earliest answer first, then the earliest arrival, whatever
    /// the order of the pushes (in order, out of order, equal keys).
    #[test]
    fn dns_expiry_pops_earliest_answer_then_arrival() {
        let key = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        );
        let mut q = SortedQueue::new();
        for (ns, seq) in [(5, 2), (1, 9), (5, 1), (-3, 4), (1, 3), (7, 0), (6, 5)] {
            q.push((Timestamp(ns), seq), key);
        }
        assert_eq!(q.peek().map(|(k, _)| k), Some((Timestamp(-3), 4)));
        let order: Vec<(i64, u64)> = std::iter::from_fn(|| q.pop())
            .map(|(k, _)| (k.0.0, k.1))
            .collect();
        assert_eq!(
            order,
            [(-3, 4), (1, 3), (1, 9), (5, 1), (5, 2), (6, 5), (7, 0)]
        );
    }
}

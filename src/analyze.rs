//! The pipeline: drives every stage over one or more captures in a single streaming pass.
//!
//! `capture → decode → flow → reassembly → protocol → correlate`; the result is an
//! [`Analysis`] holding every output table's rows. This module sits on top of all stages
//! (only the CLI and exporters use it).

pub mod parallel;

use crate::base::{Direction, Timestamp, Weird};
use crate::capture::{CaptureError, CaptureReader, Compression, Event, Frame, Secrets};
use crate::correlate::stream::Watermark;
use crate::correlate::{AnomalyRow, ConnectionRow, NavigationRow, RequestRow};
use crate::correlate::{Collect, ConnOutcome, Correlator, RowSink};
use crate::decode::{Decoded, Decoder, Packet, Transport};
use crate::flow::{EndReason, Endpoint, Flow, FlowTable, PROTO_TCP, PROTO_UDP, Side};
use crate::protocol::arp::{ArpExchange, ArpTracker, parse_arp};
use crate::protocol::dhcp::{DhcpExchange, DhcpTracker, parse_dhcp};
use crate::protocol::dns::{self, DnsLookup, DnsTracker, TcpFramer};
use crate::protocol::h2::{H2Conn, H2Stream};
use crate::protocol::http::{self, Http1Conn, HttpTransaction};
use crate::protocol::tls::{self, TlsConn, TlsRecord};
use crate::protocol::tls_decrypt::{DecryptState, KeyLog, Plaintext, TlsDecryptor};
use crate::reassembly::{Reassembler, StreamEvent};
use rustc_hash::{FxHashMap, FxHashSet};
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

/// Anomaly rows kept per kind; beyond this they are counted in one summary row.
pub const MAX_ANOMALIES_PER_KIND: u64 = 1000;
/// How often (capture time) idle state is expired.
const EXPIRE_EVERY_NS: i64 = 1_000_000_000;
/// Longest delay (capture time) between the end of a DNS or ARP exchange and its tracker
/// emitting the row (DNS lingers 1 s for duplicates, ARP 5 s for retransmissions), plus one
/// expiry tick: the correlator waits this long before joining a new connection to them.
const TRACKER_HOLD_MS: f64 = 7_000.0;
/// A live connection idle this long (capture time) with no exchange outstanding hands its
/// exchanges so far to the correlator, so a kept-alive or abandoned connection does not hold
/// back every row after it until it ends.
const CHECKPOINT_IDLE_MS: f64 = 10_000.0;
/// The same for an encrypted connection seen only as TLS records (no keys): a response can
/// only be told complete by silence, so a response that pauses and continues (server-sent
/// events, a download stalled by retransmission backoff) stays whole unless it pauses this
/// long.
const CHECKPOINT_IDLE_RECORDS_MS: f64 = 60_000.0;

/// Analysis settings (from the command line).
#[derive(Clone, Debug)]
pub struct Options {
    /// Quiet gap that separates navigations (ms).
    pub idle_gap_ms: f64,
    /// Release rows while reading, once final (the default). `false` holds every row until
    /// the end: the same output with memory growing with the capture (tests compare them).
    pub release_while_reading: bool,
    /// Keep every HTTP/1 header name and value (the HAR export shows them; the tables only
    /// need the fields extracted from them). On by default.
    pub keep_http_headers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            idle_gap_ms: 2000.0,
            release_while_reading: true,
            keep_http_headers: true,
        }
    }
}

/// Per-capture facts for the summary.
#[derive(Clone, Debug, Default)]
pub struct CaptureInfo {
    pub name: String,
    pub frames: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub bytes: u64,
    /// Set when reading stopped early.
    pub error: Option<String>,
    pub linktypes: Vec<i32>,
}

impl CaptureInfo {
    /// Counts one frame.
    #[inline]
    fn add_frame(&mut self, frame: &Frame<'_>) {
        self.frames += 1;
        self.bytes += frame.data.len() as u64;
        if self.first_ts.is_none_or(|t| frame.ts < t) {
            self.first_ts = Some(frame.ts);
        }
        if self.last_ts.is_none_or(|t| frame.ts > t) {
            self.last_ts = Some(frame.ts);
        }
        if self.linktypes.last() != Some(&frame.linktype)
            && !self.linktypes.contains(&frame.linktype)
            && self.linktypes.len() < 16
        {
            self.linktypes.push(frame.linktype);
        }
    }

    /// "first → last (N s)", or "no packets".
    pub fn span_text(&self) -> String {
        match (self.first_ts, self.last_ts) {
            (Some(f), Some(l)) => format!(
                "{} → {} ({:.3} s)",
                f.to_rfc3339(),
                l.to_rfc3339(),
                l.ms_since(f) / 1000.0
            ),
            _ => "no packets".into(),
        }
    }
}

/// Everything the analysis found.
#[derive(Debug, Default)]
pub struct Analysis {
    pub captures: Vec<CaptureInfo>,
    pub connections: Vec<ConnectionRow>,
    pub dns: Vec<DnsLookup>,
    pub dhcp: Vec<DhcpExchange>,
    pub arp: Vec<ArpExchange>,
    pub anomalies: Vec<AnomalyRow>,
    pub secrets: Vec<Secrets>,
    /// What each finished TCP connection carried, for the correlator.
    pub outcomes: Vec<ConnOutcome>,
    pub requests: Vec<RequestRow>,
    pub navigations: Vec<NavigationRow>,
    /// The navigation each `dns` row (same index) served, when it led to a request.
    pub dns_navigation: Vec<Option<u64>>,
    pub frames: u64,
    pub ip_packets: u64,
    pub non_ip_frames: u64,
}

/// Per-flow state the pipeline keeps in the flow table.
#[derive(Default)]
pub struct ConnApp {
    capture: u32,
    /// TCP byte streams, per direction (created with the first payload).
    reasm: Option<Box<[Reassembler; 2]>>,
    /// Reassembly stopped for good (nothing we parse on this connection).
    stream_done: bool,
    app: App,
    /// Exchanges up to this time were handed to the correlator while the flow was live
    /// ([`checkpoint`]); `None`: nothing yet.
    reported: Option<Timestamp>,
    /// Packets the flow had when a checkpoint last found nothing to hand over: until more
    /// arrive, the answer cannot change.
    checked: Option<u64>,
}

/// What a connection carries, decided from its first payload bytes.
#[derive(Default)]
enum App {
    #[default]
    Undecided,
    /// DNS over TCP: one framer per direction.
    Dns(Box<[TcpFramer; 2]>),
    Tls(Box<TlsApp>),
    Http(Box<Http1Conn>, Vec<HttpTransaction>),
    /// Cleartext HTTP/2 with prior knowledge (h2c).
    H2(Box<H2Conn>, Vec<H2Stream>),
    /// Nothing we parse: reassembly stops.
    Other,
}

impl ConnApp {
    fn new(capture: u32, _tcp: bool) -> Self {
        ConnApp {
            capture,
            // Created with the first payload (see `tcp_stream`): a SYN-only flow (scan, flood)
            // costs only its flow entry.
            reasm: None,
            stream_done: false,
            app: App::Undecided,
            reported: None,
            checked: None,
        }
    }

    fn protocol_name(&self) -> Option<&'static str> {
        match self.app {
            App::Dns(_) => Some("dns"),
            App::Tls(..) => Some("tls"),
            App::Http(..) => Some("http"),
            App::H2(..) => Some("h2c"),
            _ => None,
        }
    }
}

/// A TLS connection: the handshake parser always; with keys, the decryptor and the HTTP
/// parser of the plaintext.
#[derive(Default)]
struct TlsApp {
    conn: TlsConn,
    records: Vec<TlsRecord>,
    dec: Option<TlsDecryptor>,
    inner: Inner,
    http: Vec<HttpTransaction>,
    h2: Vec<H2Stream>,
    plaintext_bytes: u64,
}

/// The parser of decrypted application data, chosen from its first bytes and ALPN.
#[derive(Default)]
enum Inner {
    #[default]
    Undecided,
    Http(Box<Http1Conn>),
    H2(Box<H2Conn>),
    None,
}

/// The HTTP/2 client connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// TLS key log secrets type in a pcapng Decryption Secrets Block.
const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;

/// Protocol trackers that live across flows.
#[derive(Default)]
struct Trackers {
    dns: DnsTracker,
    dhcp: DhcpTracker,
    arp: ArpTracker,
    /// Addresses that answered DNS on port 53: DNS on other ports is recognised from them.
    resolvers: FxHashSet<IpAddr>,
    /// TLS secrets from --keylog and Decryption Secrets Blocks.
    keys: KeyLog,
}

/// Drives the stages.
pub struct Analyzer {
    opts: Options,
    decoder: Decoder,
    flows: FlowTable<ConnApp>,
    /// Flows a packet's lookup ended (port reuse, the table's cap), kept between packets so
    /// that the common packet, which ends none, neither makes nor frees a vector.
    ended: Vec<(Flow<ConnApp>, EndReason)>,
    trackers: Trackers,
    out: Analysis,
    anomaly_counts: FxHashMap<String, u64>,
    next_expire: i64,
    capture_idx: u32,
    capture_names: Vec<String>,
    /// Worker threads (flows sharded by host pair); `None` = this analyzer does the work.
    pool: Option<parallel::Pool>,
    /// Correlation as the capture is read; `None` in a worker, whose rows are correlated by
    /// the main thread after the merge.
    corr: Option<Correlator>,
    /// Where released rows are written as they are final (table files).
    sink: Option<Box<dyn RowSink>>,
    /// Keep every released row in the [`Analysis`] too.
    collect: bool,
    collected: Collect,
    /// ARP and DHCP rows already handed to the correlator.
    arp_seen: usize,
    dhcp_seen: usize,
    /// Connection rows already stamped with their end tick.
    conn_stamped: usize,
    /// Most rows the correlator held at once (the memory bound, for tests).
    max_held: usize,
    /// A worker's checkpointed parts and bounds since its last report.
    parts: Vec<ConnOutcome>,
    bounds: Option<Bounds>,
    /// Main side of the parallel pipeline: (worker, worker's flow id) → connection id, for
    /// live flows; the last id given.
    conn_ids: FxHashMap<(usize, u64), u64>,
    next_conn_id: u64,
}

impl Analyzer {
    pub fn new(opts: Options) -> Self {
        Analyzer {
            decoder: Decoder::new(),
            flows: FlowTable::new(),
            ended: Vec::new(),
            trackers: Trackers::default(),
            out: Analysis::default(),
            anomaly_counts: FxHashMap::default(),
            next_expire: i64::MIN,
            capture_idx: 0,
            capture_names: Vec::new(),
            pool: None,
            corr: Some(Correlator::new(opts.idle_gap_ms)),
            sink: None,
            collect: true,
            collected: Collect::default(),
            arp_seen: 0,
            dhcp_seen: 0,
            conn_stamped: 0,
            max_held: 0,
            parts: Vec::new(),
            bounds: None,
            conn_ids: FxHashMap::default(),
            next_conn_id: 0,
            opts,
        }
    }

    /// A worker of the parallel pool: no correlation (the main thread does it).
    pub(crate) fn new_worker(opts: Options) -> Self {
        let mut a = Analyzer::new(opts);
        a.corr = None;
        a.flows.record_created();
        a
    }

    /// Worker side: what was found since the last report (see [`parallel::Report`]).
    pub(crate) fn report(&mut self, tick: Option<Timestamp>) -> parallel::Report {
        // The last report (after the drain) stamps the flows ended by it and carries the
        // anomaly counts.
        let last = tick.is_none();
        if last {
            self.stamp(Timestamp(i64::MAX));
        }
        self.conn_stamped = 0;
        let rows = Analysis {
            connections: std::mem::take(&mut self.out.connections),
            outcomes: std::mem::take(&mut self.out.outcomes),
            dns: std::mem::take(&mut self.out.dns),
            arp: std::mem::take(&mut self.out.arp),
            dhcp: std::mem::take(&mut self.out.dhcp),
            anomalies: std::mem::take(&mut self.out.anomalies),
            ip_packets: std::mem::take(&mut self.out.ip_packets),
            non_ip_frames: std::mem::take(&mut self.out.non_ip_frames),
            ..Default::default()
        };
        parallel::Report {
            tick,
            rows,
            parts: std::mem::take(&mut self.parts),
            created: self.flows.take_created(),
            bounds: self.bounds.take().unwrap_or_default(),
            counts: if last {
                std::mem::take(&mut self.anomaly_counts)
            } else {
                FxHashMap::default()
            },
            ..Default::default()
        }
    }

    /// Main side: merges one tick's reports from every worker (flows renumbered in capture
    /// order, as one analyzer numbers them) and releases what is final.
    fn absorb(&mut self, group: Vec<parallel::Report>) {
        let tick = group.iter().find_map(|r| r.tick);
        let mut created: Vec<(u64, usize, u64)> = group
            .iter()
            .enumerate()
            .flat_map(|(w, r)| r.created.iter().map(move |(id, frame)| (*frame, w, *id)))
            .collect();
        created.sort_unstable();
        for (_, w, local) in created {
            self.next_conn_id += 1;
            self.conn_ids.insert((w, local), self.next_conn_id);
        }
        let mut bounds: Option<Bounds> = None;
        let mut parts = Vec::new();
        for (w, r) in group.into_iter().enumerate() {
            let ids = &self.conn_ids;
            let id = |old: u64| ids.get(&(w, old)).copied().unwrap_or(old);
            let mut rows = r.rows;
            let ended: Vec<u64> = rows.connections.iter().map(|c| c.connection_id).collect();
            for c in rows.connections.iter_mut() {
                c.connection_id = id(c.connection_id);
            }
            for o in rows.outcomes.iter_mut() {
                o.connection_id = id(o.connection_id);
            }
            for a in rows.anomalies.iter_mut() {
                a.connection_id = a.connection_id.map(id);
            }
            let mut p = r.parts;
            for o in p.iter_mut() {
                o.connection_id = id(o.connection_id);
            }
            parts.append(&mut p);
            for old in ended {
                self.conn_ids.remove(&(w, old));
            }
            self.out.connections.append(&mut rows.connections);
            self.out.outcomes.append(&mut rows.outcomes);
            self.out.anomalies.append(&mut rows.anomalies);
            self.out.dns.append(&mut rows.dns);
            self.out.dhcp.append(&mut rows.dhcp);
            self.out.arp.append(&mut rows.arp);
            self.out.ip_packets += rows.ip_packets;
            self.out.non_ip_frames += rows.non_ip_frames;
            for (k, n) in r.counts {
                *self.anomaly_counts.entry(k).or_insert(0) += n;
            }
            bounds = Some(bounds.map_or(r.bounds, |b| b.min(r.bounds)));
        }
        // The workers stamped their rows' end ticks.
        self.conn_stamped = self.out.connections.len();
        self.hand_over();
        parts.sort_by_key(|o| o.connection_id);
        if let Some(corr) = self.corr.as_mut() {
            for o in parts {
                corr.part(o);
            }
        }
        if let Some(t) = tick {
            self.advance(t, bounds.unwrap_or_default());
        }
    }

    /// Main side: merges the reports of the ticks every worker has passed.
    fn absorb_ready(&mut self) {
        let groups = self.pool.as_mut().map(|p| p.ready()).unwrap_or_default();
        for g in groups {
            self.absorb(g);
        }
    }

    /// Writes the `connections`, `requests`, `navigations` and `dns` rows to `sink` as soon
    /// as they are final, so memory stays bounded by what is live; with `collect` false they
    /// are not kept in the returned [`Analysis`] (which then holds only the small tables).
    pub fn stream_to(&mut self, sink: Box<dyn RowSink>, collect: bool) {
        self.sink = Some(sink);
        self.collect = collect;
    }

    /// The most rows (connections, requests, lookups, navigations) the correlator held at
    /// once while reading: bounded by what is live, not by the capture's size.
    pub fn max_held(&self) -> usize {
        self.max_held
    }

    /// The stream sink back (to finish its files) once [`Self::finish`] has run.
    pub fn take_sink(&mut self) -> Option<Box<dyn RowSink>> {
        self.sink.take()
    }

    /// An analyzer that shards flows over `threads` worker threads by a symmetric hash of
    /// the two hosts' addresses (both directions, all fragments and every flow between two
    /// hosts on one worker). The output is identical to a single-threaded run.
    pub fn with_threads(opts: Options, threads: usize) -> Self {
        let mut a = Analyzer::new(opts.clone());
        if threads > 1 {
            a.pool = Some(parallel::Pool::new(opts, threads));
        }
        a
    }

    /// Worker side: a capture starts (for the `capture` column).
    pub(crate) fn set_capture(&mut self, idx: u32, name: &str) {
        self.capture_idx = idx;
        while self.capture_names.len() <= idx as usize {
            self.capture_names.push(String::new());
        }
        if let Some(n) = self.capture_names.get_mut(idx as usize) {
            *n = name.to_string();
        }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Adds TLS secrets in NSS key log format (SSLKEYLOGFILE); returns the lines accepted.
    pub fn add_keylog(&mut self, text: &[u8]) -> usize {
        if let Some(pool) = self.pool.as_mut() {
            pool.keys(text);
        }
        self.trackers.keys.add_text(text)
    }

    /// Reads one whole capture. On a damaged capture, everything before the damage is kept and
    /// the error is returned (and recorded in the capture's info).
    pub fn feed_capture(
        &mut self,
        name: &str,
        input: impl Read + Send,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), CaptureError> {
        self.capture_idx = self.out.captures.len() as u32;
        self.capture_names.push(name.to_string());
        if let Some(pool) = self.pool.as_mut() {
            pool.capture(self.capture_idx, name);
        }
        let mut info = CaptureInfo {
            name: name.to_string(),
            ..Default::default()
        };
        let mut reader = match CaptureReader::new(input, self.out.frames) {
            Ok(r) => r,
            Err(e) => {
                info.error = Some(e.to_string());
                self.out.captures.push(info);
                return Err(e);
            }
        };
        let result = loop {
            match reader.next_event() {
                // `ref`: moving the frame out of the event copied it in 16-byte loads from
                // the narrower stores that had just written it (a stall per frame).
                Ok(Some(Event::Frame(ref frame))) => {
                    info.add_frame(frame);
                    if frame.ts.0 >= self.next_expire {
                        self.next_expire = frame.ts.0.saturating_add(EXPIRE_EVERY_NS);
                        match self.pool.as_mut() {
                            Some(pool) => {
                                pool.tick(frame.ts);
                                self.absorb_ready();
                            }
                            None => self.expire(frame.ts),
                        }
                    }
                    match self.pool.as_mut() {
                        Some(pool) => pool.frame(frame),
                        None => self.process(frame),
                    }
                    if info.frames.is_multiple_of(65_536) {
                        progress(reader.offset());
                    }
                }
                Ok(Some(Event::Secrets(s))) => {
                    if s.kind == DSB_TLS_KEY_LOG {
                        self.trackers.keys.add_text(&s.data);
                        if let Some(pool) = self.pool.as_mut() {
                            pool.keys(&s.data);
                        }
                    }
                    self.out.secrets.push(s);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let (frames, bad) = (reader.frames(), reader.bad_interface);
        self.end_capture(info, frames, bad, result)
    }

    /// Reads one capture file from disk: with worker threads and an uncompressed file, every
    /// worker reads the file itself and keeps its shard's frames (no frame is copied between
    /// threads; the reader thread only correlates and writes), else as [`Self::feed_capture`]
    /// does. `input` is the already opened file (used in the second case).
    pub fn feed_file(
        &mut self,
        path: &Path,
        name: &str,
        input: impl Read + Send,
        compression: Compression,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), CaptureError> {
        if self.pool.is_none() || compression != Compression::None || path.as_os_str() == "-" {
            return self.feed_capture(name, input, progress);
        }
        drop(input);
        self.capture_idx = self.out.captures.len() as u32;
        self.capture_names.push(name.to_string());
        let first_frame = self.out.frames;
        let idx = self.capture_idx;
        let next_expire = self.next_expire;
        if let Some(pool) = self.pool.as_mut() {
            pool.read_file(path, idx, name, (first_frame, next_expire));
        }
        loop {
            let Some(mut group) = self.pool.as_mut().and_then(|p| p.next_group()) else {
                let info = CaptureInfo {
                    name: name.to_string(),
                    ..Default::default()
                };
                let e = CaptureError::Unreadable {
                    detail: format!("{name}: a worker thread stopped"),
                };
                return self.end_capture(info, 0, 0, Err(e));
            };
            if let Some(o) = group.iter().find_map(|r| r.offset) {
                progress(o);
            }
            let end = group.iter().any(|r| r.end);
            let done = group.iter_mut().find_map(|r| r.done.take());
            self.absorb(group);
            if end {
                let d = done.unwrap_or_default();
                self.out.secrets.extend(d.secrets);
                // The next capture ticks where this one left off, as one thread would.
                self.next_expire = self.next_expire.max(d.next_expire);
                let mut info = d.info;
                info.name = name.to_string();
                return self.end_capture(info, d.frames, d.bad_interface, d.result);
            }
        }
    }

    /// Worker side of [`Self::feed_file`]: reads the whole capture, processes the frames of
    /// shard `w` of `n`, reports at every expiry tick, then marks the end (worker 0 with the
    /// capture's facts).
    pub(crate) fn read_shard(
        &mut self,
        path: &Path,
        capture: u32,
        name: &str,
        first_frame: u64,
        (w, n): (usize, usize),
        reports: &std::sync::mpsc::SyncSender<parallel::Report>,
    ) {
        self.set_capture(capture, name);
        let mut done = parallel::CaptureDone::default();
        let reader = crate::capture::open_input(path)
            .and_then(|(input, _)| CaptureReader::new(input, first_frame));
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => {
                done.result = Err(e);
                let _ = reports.send(parallel::Report::end(w == 0, done));
                return;
            }
        };
        done.result = loop {
            match reader.next_event() {
                // `ref`, as in `feed_capture`.
                Ok(Some(Event::Frame(ref frame))) => {
                    // Only worker 0's facts are reported.
                    if w == 0 {
                        done.info.add_frame(frame);
                    }
                    let mut tick = None;
                    if frame.ts.0 >= self.next_expire {
                        self.next_expire = frame.ts.0.saturating_add(EXPIRE_EVERY_NS);
                        self.expire(frame.ts);
                        tick = Some(self.report(Some(frame.ts)));
                    }
                    if parallel::worker_of(frame, n) == w {
                        self.process(frame);
                    }
                    if let Some(mut r) = tick {
                        r.offset = (w == 0).then(|| reader.offset());
                        let _ = reports.send(r);
                    }
                }
                Ok(Some(Event::Secrets(s))) => {
                    if s.kind == DSB_TLS_KEY_LOG {
                        self.trackers.keys.add_text(&s.data);
                    }
                    if w == 0 {
                        done.secrets.push(s);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        done.frames = reader.frames();
        done.bad_interface = reader.bad_interface;
        done.next_expire = self.next_expire;
        let _ = reports.send(parallel::Report::end(w == 0, done));
    }

    /// The end of one capture: frame numbering, the reader's anomalies, the capture's facts.
    fn end_capture(
        &mut self,
        mut info: CaptureInfo,
        frames: u64,
        bad_interface: u64,
        result: Result<(), CaptureError>,
    ) -> Result<(), CaptureError> {
        self.out.frames = self.out.frames.max(frames + self.out.frames);
        if bad_interface > 0 {
            self.anomaly(
                info.last_ts.unwrap_or_default(),
                None,
                None,
                "pcapng-bad-block",
                format!(
                    "{bad_interface} packet block(s) referred to an unknown interface or were malformed"
                ),
            );
        }
        if let Err(e) = &result {
            info.error = Some(e.to_string());
            let (frame, kind) = match e {
                CaptureError::Truncated { frame, .. } => (Some(*frame), "capture-truncated"),
                CaptureError::Corrupt { frame, .. } => (Some(*frame), "capture-corrupt"),
                _ => (None, "capture-unreadable"),
            };
            self.anomaly(
                info.last_ts.unwrap_or_default(),
                frame,
                None,
                kind,
                e.to_string(),
            );
        }
        self.out.captures.push(info);
        result
    }

    /// One frame through every stage (expiry is driven separately, by [`Self::expire`]).
    pub(crate) fn process(&mut self, frame: &Frame<'_>) {
        let ts = frame.ts;
        let decoded = self.decoder.decode(frame);
        // By reference: moving the packet out copied it in 16-byte loads from the narrower
        // stores that had just built it (a stall per packet).
        match &decoded {
            Decoded::Ip(p) => {
                self.out.ip_packets += 1;
                // The decoder borrows `self.decoder`; copy out what we need first.
                let mut ctx = Ctx {
                    trackers: &mut self.trackers,
                    out: &mut self.out,
                    counts: &mut self.anomaly_counts,
                    names: &self.capture_names,
                    capture: self.capture_idx,
                    keep_headers: self.opts.keep_http_headers,
                };
                handle_ip(&mut self.flows, &mut ctx, frame, p, &mut self.ended);
            }
            Decoded::Arp(bytes) => {
                self.out.non_ip_frames += 1;
                match parse_arp(bytes) {
                    Ok(pkt) => self.trackers.arp.packet(ts, frame.number, &pkt),
                    Err(e) => {
                        let w = Weird::new(ts, e.kind(), e.to_string());
                        self.weird(Some(frame.number), None, w);
                    }
                }
            }
            Decoded::FragmentHeld => {}
            Decoded::Ignored => self.out.non_ip_frames += 1,
            Decoded::Malformed(w) => {
                let w = w.clone();
                self.weird(Some(frame.number), None, w);
            }
        }
        if self.decoder.has_weirds() {
            for w in self.decoder.weirds() {
                self.weird(Some(frame.number), None, w);
            }
        }
    }

    pub(crate) fn expire(&mut self, now: Timestamp) {
        self.decoder.expire(now);
        self.trackers.dns.expire(now, &mut self.out.dns);
        self.trackers.dhcp.expire(now, &mut self.out.dhcp);
        self.trackers.arp.expire(now, &mut self.out.arp);
        self.tracker_weirds();
        let mut ended: Vec<(Flow<ConnApp>, EndReason)> = Vec::new();
        self.flows.expire(now, &mut |f, r| ended.push((f, r)));
        for (f, r) in ended {
            self.flow_ended(f, r);
        }
        self.stamp(now);
        let (parts, live_first) = self.checkpoint_live(now);
        let bounds = Bounds {
            live_first,
            dns_pending: self.trackers.dns.oldest_pending(),
            arp_pending: self.trackers.arp.oldest_pending(),
        };
        if self.corr.is_some() {
            self.hand_over();
            if let Some(corr) = self.corr.as_mut() {
                for o in parts {
                    corr.part(o);
                }
            }
            self.advance(now, bounds);
        } else {
            // A worker: the main thread correlates (see `parallel`).
            self.parts.extend(parts);
            self.bounds = Some(bounds);
        }
    }

    /// Live connections idle for [`CHECKPOINT_IDLE_MS`] with nothing outstanding hand over
    /// their exchanges so far (by id); returns them and the earliest time a request not yet
    /// handed over can start.
    fn checkpoint_live(&mut self, now: Timestamp) -> (Vec<ConnOutcome>, Option<Timestamp>) {
        let mut parts = Vec::new();
        let mut live_first: Option<Timestamp> = None;
        for f in self.flows.iter_mut() {
            if f.tcp.is_none() {
                continue;
            }
            let packets = f.packets[0] + f.packets[1];
            let quiet = now.ms_since(f.last_ts);
            // The flow's own fields first: the parser state behind `app` (elsewhere in
            // memory) is only read for flows quiet long enough with something new.
            if quiet >= CHECKPOINT_IDLE_MS.min(CHECKPOINT_IDLE_RECORDS_MS)
                && f.app.reported.is_none_or(|r| r < f.last_ts)
                && f.app.checked != Some(packets)
                && quiet
                    >= match &f.app.app {
                        App::Tls(t) if matches!(t.inner, Inner::Undecided | Inner::None) => {
                            CHECKPOINT_IDLE_RECORDS_MS
                        }
                        _ => CHECKPOINT_IDLE_MS,
                    }
            {
                match checkpoint(f, now) {
                    Some(o) => parts.push(o),
                    None => f.app.checked = Some(packets),
                }
            }
            // Nothing new since the last hand-over: whatever comes starts after now.
            let bound = match f.app.reported {
                Some(r) if f.last_ts <= r => now,
                Some(r) => r,
                None => f.first_ts,
            };
            live_first = Some(live_first.map_or(bound, |t| t.min(bound)));
        }
        parts.sort_by_key(|o| o.connection_id);
        (parts, live_first)
    }

    /// Releases what is final at capture time `now`, given what the pipeline still holds.
    fn advance(&mut self, now: Timestamp, b: Bounds) {
        if !self.opts.release_while_reading {
            return;
        }
        let hold = now.add_ms(-TRACKER_HOLD_MS);
        let first_packet = [Some(hold), b.live_first, b.dns_pending, b.arp_pending]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(hold);
        let w = Watermark {
            now,
            first_packet,
            dns_pending: b.dns_pending,
        };
        self.release(Some(w));
        let held = self.corr.as_ref().map_or(0, |c| c.held());
        self.max_held = self.max_held.max(held);
    }

    /// Stamps the connection rows finished since the last call with the tick that saw them
    /// end (the `connections` table's order).
    fn stamp(&mut self, tick: Timestamp) {
        for r in self
            .out
            .connections
            .get_mut(self.conn_stamped..)
            .unwrap_or(&mut [])
        {
            r.end_tick = tick;
        }
        self.conn_stamped = self.out.connections.len();
    }

    /// Moves the rows finished since the last call into the correlator.
    fn hand_over(&mut self) {
        let Some(corr) = self.corr.as_mut() else {
            return;
        };
        let mut outcomes: FxHashMap<u64, ConnOutcome> = self
            .out
            .outcomes
            .drain(..)
            .map(|o| (o.connection_id, o))
            .collect();
        self.conn_stamped = 0;
        for row in self.out.connections.drain(..) {
            let o = outcomes.remove(&row.connection_id);
            corr.connection(row, o);
        }
        for l in self.out.dns.drain(..) {
            corr.dns(l);
        }
        for a in self.out.arp.get(self.arp_seen..).unwrap_or(&[]) {
            corr.arp(a);
        }
        self.arp_seen = self.out.arp.len();
        for d in self.out.dhcp.get(self.dhcp_seen..).unwrap_or(&[]) {
            corr.dhcp(d);
        }
        self.dhcp_seen = self.out.dhcp.len();
    }

    /// Releases final rows to the sink and the collection (`None`: everything).
    fn release(&mut self, w: Option<Watermark>) {
        let Some(corr) = self.corr.as_mut() else {
            return;
        };
        let mut tee = Tee {
            collect: self.collect.then_some(&mut self.collected),
            stream: self.sink.as_deref_mut(),
        };
        match w {
            Some(w) => corr.advance(w, &mut tee),
            None => corr.finish(&mut tee),
        }
    }

    fn flow_ended(&mut self, f: Flow<ConnApp>, _reason: EndReason) {
        let mut ctx = Ctx {
            trackers: &mut self.trackers,
            out: &mut self.out,
            counts: &mut self.anomaly_counts,
            names: &self.capture_names,
            capture: self.capture_idx,
            keep_headers: self.opts.keep_http_headers,
        };
        finish_flow(&mut ctx, f);
    }

    fn tracker_weirds(&mut self) {
        let mut ws = self.trackers.dns.weirds();
        ws.extend(self.trackers.dhcp.weirds());
        ws.extend(self.trackers.arp.weirds());
        for w in ws {
            self.weird(None, None, w);
        }
    }

    fn weird(&mut self, frame: Option<u64>, conn: Option<u64>, w: Weird) {
        self.anomaly(w.ts, frame, conn, w.kind, w.detail);
    }

    fn anomaly(
        &mut self,
        ts: Timestamp,
        frame: Option<u64>,
        conn: Option<u64>,
        kind: &str,
        detail: String,
    ) {
        push_anomaly(
            &mut self.out,
            &mut self.anomaly_counts,
            ts,
            frame,
            conn,
            kind,
            detail,
        );
    }

    /// Flushes every live flow and pending protocol state into the output rows.
    pub(crate) fn drain(&mut self) {
        let mut ended: Vec<(Flow<ConnApp>, EndReason)> = Vec::new();
        self.flows.drain(&mut |f, r| ended.push((f, r)));
        for (f, r) in ended {
            self.flow_ended(f, r);
        }
        for w in self.flows.weirds() {
            self.weird(None, None, w);
        }
        self.trackers.dns.finish(&mut self.out.dns);
        self.trackers.dhcp.finish(&mut self.out.dhcp);
        self.trackers.arp.finish(&mut self.out.arp);
        self.tracker_weirds();
    }

    /// Ends the analysis: flushes every live flow and pending protocol state, then
    /// correlates.
    pub fn finish(&mut self) -> Analysis {
        if let Some(pool) = self.pool.take() {
            for g in pool.finish() {
                self.absorb(g);
            }
        } else {
            self.drain();
        }
        // Suppressed anomalies: one summary row per kind.
        let mut over: Vec<(String, u64)> = self
            .anomaly_counts
            .iter()
            .filter(|(_, n)| **n > MAX_ANOMALIES_PER_KIND)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        over.sort();
        let end = self
            .out
            .captures
            .iter()
            .filter_map(|c| c.last_ts)
            .max()
            .unwrap_or_default();
        for (kind, n) in over {
            self.out.anomalies.push(AnomalyRow {
                time: end,
                frame: None,
                connection_id: None,
                kind: "anomalies-suppressed".into(),
                detail: format!(
                    "{} more '{kind}' anomalies not listed (cap {MAX_ANOMALIES_PER_KIND} per kind)",
                    n - MAX_ANOMALIES_PER_KIND
                ),
            });
        }
        // Everything left is final now: correlate it.
        self.stamp(Timestamp(i64::MAX));
        self.hand_over();
        self.release(None);
        let mut out = std::mem::take(&mut self.out);
        let c = std::mem::take(&mut self.collected);
        out.connections = c.connections;
        out.requests = c.requests;
        out.navigations = c.navigations;
        out.dns = c.dns;
        out.dns_navigation = c.dns_navigation;
        // Total orders, so the output never depends on when a tracker emitted a row.
        out.anomalies.sort_by(|a, b| {
            (a.time, a.frame, a.connection_id, &a.kind, &a.detail).cmp(&(
                b.time,
                b.frame,
                b.connection_id,
                &b.kind,
                &b.detail,
            ))
        });
        // Several workers each kept their first rows of a kind: keep the first ones overall.
        let mut kept: FxHashMap<String, u64> = FxHashMap::default();
        out.anomalies.retain(|a| {
            if a.kind == "anomalies-suppressed" {
                return true;
            }
            let n = kept.entry(a.kind.clone()).or_insert(0);
            *n += 1;
            *n <= MAX_ANOMALIES_PER_KIND
        });

        out
    }
}

#[allow(clippy::too_many_arguments)]
fn push_anomaly(
    out: &mut Analysis,
    counts: &mut FxHashMap<String, u64>,
    ts: Timestamp,
    frame: Option<u64>,
    conn: Option<u64>,
    kind: &str,
    detail: String,
) {
    let n = counts.entry(kind.to_string()).or_insert(0);
    *n += 1;
    if *n <= MAX_ANOMALIES_PER_KIND {
        out.anomalies.push(AnomalyRow {
            time: ts,
            frame,
            connection_id: conn,
            kind: kind.to_string(),
            detail,
        });
    }
}

/// What a pipeline (or one worker's) still holds back at a tick: the earliest start of a
/// request not yet handed over, and of a DNS or ARP exchange its tracker has not emitted.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bounds {
    pub live_first: Option<Timestamp>,
    pub dns_pending: Option<Timestamp>,
    pub arp_pending: Option<Timestamp>,
}

impl Bounds {
    /// The earliest of two workers' bounds.
    pub fn min(self, o: Bounds) -> Bounds {
        let m = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Bounds {
            live_first: m(self.live_first, o.live_first),
            dns_pending: m(self.dns_pending, o.dns_pending),
            arp_pending: m(self.arp_pending, o.arp_pending),
        }
    }
}

/// Released rows to the collection and/or the stream.
struct Tee<'a> {
    collect: Option<&'a mut Collect>,
    stream: Option<&'a mut (dyn RowSink + 'static)>,
}

impl Tee<'_> {
    /// Hands `row` to the stream and the collection (a clone when both want it).
    fn each<T: Clone>(&mut self, row: T, put: impl Fn(&mut dyn RowSink, T)) {
        match (&mut self.collect, &mut self.stream) {
            (Some(c), Some(s)) => {
                put(*s, row.clone());
                put(*c, row);
            }
            (Some(c), None) => put(*c, row),
            (None, Some(s)) => put(*s, row),
            (None, None) => {}
        }
    }
}

impl RowSink for Tee<'_> {
    crate::correlate::rows_through_each!();
}

/// Borrowed pipeline state for the per-packet functions.
struct Ctx<'a> {
    trackers: &'a mut Trackers,
    out: &'a mut Analysis,
    counts: &'a mut FxHashMap<String, u64>,
    names: &'a [String],
    capture: u32,
    keep_headers: bool,
}

impl Ctx<'_> {
    fn weird(&mut self, frame: Option<u64>, conn: Option<u64>, w: Weird) {
        push_anomaly(self.out, self.counts, w.ts, frame, conn, w.kind, w.detail);
    }
}

fn handle_ip(
    flows: &mut FlowTable<ConnApp>,
    ctx: &mut Ctx<'_>,
    frame: &Frame<'_>,
    p: &Packet<'_>,
    ended: &mut Vec<(Flow<ConnApp>, EndReason)>,
) {
    let ts = frame.ts;
    let capture = ctx.capture;
    match &p.transport {
        Transport::Tcp(seg) => {
            // The addresses borrowed, not copied (see `flow::Side`).
            let src = Side {
                ip: &p.src,
                port: seg.src_port,
            };
            let dst = Side {
                ip: &p.dst,
                port: seg.dst_port,
            };
            let syn_seq = (seg.flags.syn && !seg.flags.ack).then_some(seg.seq);
            let synack = seg.flags.syn && seg.flags.ack;
            let Some(l) = flows.lookup(
                ts,
                frame.number,
                src,
                dst,
                PROTO_TCP,
                syn_seq,
                synack,
                || ConnApp::new(capture, true),
                &mut |f, r| ended.push((f, r)),
            ) else {
                return;
            };
            let dir = l.dir;
            let f = l.flow;
            count_packet(f, dir, frame, seg.payload.len() as u64 + seg.missing as u64);
            // Only a FIN or a RST can close a connection.
            let closing = seg.flags.fin || seg.flags.rst;
            let was_closed = closing && f.tcp.as_ref().is_some_and(|t| t.is_closed());
            if let Some(t) = f.tcp.as_mut() {
                t.segment(
                    dir,
                    ts,
                    seg.seq,
                    seg.ack,
                    seg.flags.syn,
                    seg.flags.ack,
                    seg.flags.fin,
                    seg.flags.rst,
                    seg.window,
                    seg.payload.len() as u32 + seg.missing,
                );
            }
            let now_closed =
                closing && !was_closed && f.tcp.as_ref().is_some_and(|t| t.is_closed());
            let closed = if now_closed {
                Some((f.id, f.orig, f.resp))
            } else {
                None
            };
            tcp_stream(ctx, f, dir, ts, seg);
            if let Some((id, orig, resp)) = closed {
                flows.closed(id, (orig, resp, PROTO_TCP), ts);
            }
        }
        Transport::Udp {
            src_port,
            dst_port,
            payload,
        } => {
            let src = Endpoint {
                ip: p.src,
                port: *src_port,
            };
            let dst = Endpoint {
                ip: p.dst,
                port: *dst_port,
            };
            let Some(l) = flows.lookup(
                ts,
                frame.number,
                (&src).into(),
                (&dst).into(),
                PROTO_UDP,
                None,
                false,
                || ConnApp::new(capture, false),
                &mut |f, r| ended.push((f, r)),
            ) else {
                return;
            };
            let dir = l.dir;
            let f = l.flow;
            count_packet(f, dir, frame, payload.len() as u64);
            let conn = f.id;
            udp_payload(ctx, conn, frame, src, dst, payload);
        }
        Transport::Other(_) => {}
    }
    // Checked first: most packets end no flow, and an empty drain still costs a call.
    if !ended.is_empty() {
        for (f, _) in ended.drain(..) {
            finish_flow(ctx, f);
        }
    }
}

/// Per-direction packet, frame-byte and payload-byte counters of a flow.
fn count_packet(f: &mut Flow<ConnApp>, dir: Direction, frame: &Frame<'_>, payload: u64) {
    let i = dir.idx();
    f.packets[i] += 1;
    f.frame_bytes[i] += frame.orig_len as u64;
    f.payload_bytes[i] += payload;
}

/// Known UDP protocols: DNS (port 53, or any port from a known resolver) and DHCP.
fn udp_payload(
    ctx: &mut Ctx<'_>,
    conn: u64,
    frame: &Frame<'_>,
    src: Endpoint,
    dst: Endpoint,
    payload: &[u8],
) {
    let ts = frame.ts;
    let dsrc = dns::Endpoint {
        ip: src.ip,
        port: src.port,
    };
    let ddst = dns::Endpoint {
        ip: dst.ip,
        port: dst.port,
    };
    let dhcp_ports = matches!((src.port, dst.port), (67, 68) | (68, 67) | (67, 67));
    if dhcp_ports {
        match parse_dhcp(payload) {
            Ok(m) => ctx.trackers.dhcp.message(ts, frame.number, &m),
            Err(e) => ctx.weird(
                Some(frame.number),
                Some(conn),
                Weird::new(ts, e.kind(), e.to_string()),
            ),
        }
        return;
    }
    if dns::is_multicast_dns(&dsrc, &ddst) {
        return;
    }
    let port53 = src.port == 53 || dst.port == 53;
    let from_resolver =
        ctx.trackers.resolvers.contains(&src.ip) || ctx.trackers.resolvers.contains(&dst.ip);
    if !(port53 || (from_resolver && dns::looks_like_dns(payload))) {
        return;
    }
    match dns::parse_message(payload) {
        Ok(m) => {
            if m.is_response && src.port == 53 && ctx.trackers.resolvers.len() < 1024 {
                ctx.trackers.resolvers.insert(src.ip);
            }
            ctx.trackers
                .dns
                .message(ts, frame.number, dsrc, ddst, dns::Transport::Udp, m);
        }
        Err(e) => ctx.weird(
            Some(frame.number),
            Some(conn),
            Weird::new(ts, e.kind(), e.to_string()),
        ),
    }
}

/// What the protocol dispatch needs to know of a flow: its own fields, borrowed apart from
/// the reassembler and parser state (built field by field where the flow is at hand, so the
/// borrows stay disjoint; the endpoints are not copied per packet).
struct FlowInfo<'f> {
    orig: &'f Endpoint,
    resp: &'f Endpoint,
    id: u64,
    first_frame: u64,
    last_ts: Timestamp,
}

/// [`FlowInfo`] of a flow, from its fields (a macro, not a function taking the flow, so
/// that `f.app` can be borrowed mutably beside it).
macro_rules! flow_info {
    ($f:expr) => {
        FlowInfo {
            orig: &$f.orig,
            resp: &$f.resp,
            id: $f.id,
            first_frame: $f.first_frame,
            last_ts: $f.last_ts,
        }
    };
}

/// A stream event as the dispatch sees it (borrowed: delivered bytes are not copied).
enum Ev<'a> {
    Data(&'a [u8], Timestamp),
    Gap,
    /// FIN or RST: the direction is closed (completes close-delimited HTTP bodies).
    Close(Timestamp),
}

impl<'a> From<StreamEvent<'a>> for Ev<'a> {
    fn from(ev: StreamEvent<'a>) -> Self {
        match ev {
            StreamEvent::Data {
                bytes, ready_ts, ..
            } => Ev::Data(bytes, ready_ts),
            StreamEvent::Gap { .. } => Ev::Gap,
            StreamEvent::Fin { ts, .. } | StreamEvent::Rst { ts } => Ev::Close(ts),
        }
    }
}

/// Feeds a TCP segment through reassembly into the connection's protocol parser.
fn tcp_stream(
    ctx: &mut Ctx<'_>,
    f: &mut Flow<ConnApp>,
    dir: Direction,
    ts: Timestamp,
    seg: &crate::decode::TcpSegment<'_>,
) {
    if matches!(f.app.app, App::Other) {
        return;
    }
    let info = flow_info!(f);
    let carries = !seg.payload.is_empty() || seg.flags.fin || seg.flags.rst;
    if f.app.reasm.is_none() {
        if !carries || f.app.stream_done {
            return;
        }
        let mut r = Box::new([Reassembler::new(), Reassembler::new()]);
        if let Some(t) = &f.tcp {
            for d in [Direction::Orig, Direction::Resp] {
                if let Some(isn) = t.dirs[d.idx()].isn {
                    r[d.idx()].syn(isn);
                }
            }
        }
        f.app.reasm = Some(r);
    }
    let ConnApp { reasm, app, .. } = &mut f.app;
    let Some(streams) = reasm.as_mut() else {
        return;
    };
    let mut stop = false;
    {
        let [o, r] = &mut **streams;
        let (this, other) = match dir {
            Direction::Orig => (o, r),
            Direction::Resp => (r, o),
        };
        if seg.flags.syn {
            this.syn(seg.seq);
            if !seg.payload.is_empty() {
                // TCP Fast Open: data in the SYN (or SYN-ACK) follows the ISN.
                this.segment(
                    ts,
                    seg.seq.wrapping_add(1),
                    seg.payload,
                    seg.flags.fin,
                    seg.flags.rst,
                    &mut |ev| deliver(ctx, &info, app, &mut stop, dir, ev.into()),
                );
            }
        } else {
            this.segment(
                ts,
                seg.seq,
                seg.payload,
                seg.flags.fin,
                seg.flags.rst,
                &mut |ev| deliver(ctx, &info, app, &mut stop, dir, ev.into()),
            );
        }
        if seg.flags.ack {
            // The peer acknowledged data the capture never showed: that direction's held
            // data is delivered with a gap.
            other.peer_ack(ts, seg.ack, &mut |ev| {
                deliver(ctx, &info, app, &mut stop, dir.flip(), ev.into())
            });
        }
    }
    if streams.iter().any(|r| r.has_weirds()) {
        for w in streams.iter_mut().flat_map(|r| r.weirds()) {
            ctx.weird(None, Some(info.id), w);
        }
    }
    if stop {
        *reasm = None;
        f.app.stream_done = true;
    }
}

/// One in-order piece of a stream to the connection's parser. Sets `stop` when the
/// connection carries nothing we parse (reassembly can stop).
fn deliver(
    ctx: &mut Ctx<'_>,
    f: &FlowInfo<'_>,
    app: &mut App,
    stop: &mut bool,
    dir: Direction,
    ev: Ev<'_>,
) {
    if matches!(app, App::Undecided) {
        let Ev::Data(bytes, _) = &ev else {
            return;
        };
        // A capture that starts mid-connection often starts with a 1-byte keep-alive probe
        // (sequence number one below the next byte): not the start of any protocol.
        if bytes.len() <= 1 {
            return;
        }
        *app = if f.resp.port == 53 || f.orig.port == 53 {
            App::Dns(Box::new([TcpFramer::new(), TcpFramer::new()]))
        } else if dir == Direction::Orig
            && (tls::looks_like_tls_client_hello(bytes)
                // A handshake record header on the HTTPS port that fails the sanity checks
                // (say, an oversized length) is still TLS: its parser reports what is wrong.
                || (f.resp.port == 443 && bytes.starts_with(&[0x16, 0x03])))
        {
            App::Tls(Box::default())
        } else if dir == Direction::Orig && bytes.starts_with(H2_PREFACE) {
            App::H2(Box::default(), Vec::new())
        } else if dir == Direction::Orig && http::looks_like_http_request(bytes) {
            App::Http(Box::new(http_conn(ctx.keep_headers)), Vec::new())
        } else if dir == Direction::Resp && (f.resp.port == 443 || f.resp.port == 80) {
            // The server spoke first or the client's first bytes were lost: wait for the
            // client's bytes only on web ports; elsewhere give up.
            return;
        } else {
            App::Other
        };
        if matches!(app, App::Other) {
            *stop = true;
            return;
        }
    }
    if matches!(app, App::Other) {
        return;
    }
    match (app, ev) {
        (App::Dns(framers), Ev::Data(bytes, ready_ts)) => {
            let (src, dst) = match dir {
                Direction::Orig => (f.orig, f.resp),
                Direction::Resp => (f.resp, f.orig),
            };
            let mut msgs: Vec<(Timestamp, Vec<u8>)> = Vec::new();
            framers[dir.idx()].push(ready_ts, bytes, &mut |t, m| msgs.push((t, m.to_vec())));
            for (t, m) in msgs {
                match dns::parse_message(&m) {
                    Ok(msg) => ctx.trackers.dns.message(
                        t,
                        f.first_frame,
                        dns::Endpoint {
                            ip: src.ip,
                            port: src.port,
                        },
                        dns::Endpoint {
                            ip: dst.ip,
                            port: dst.port,
                        },
                        dns::Transport::Tcp,
                        msg,
                    ),
                    Err(e) => ctx.weird(None, Some(f.id), Weird::new(t, e.kind(), e.to_string())),
                }
            }
        }
        (App::Dns(framers), Ev::Gap) => framers[dir.idx()].gap(),
        (App::Tls(t), ev) => {
            // Inside an encrypted record without keys: the bytes only shorten the skip.
            if let Ev::Data(bytes, _) = &ev
                && t.dec.is_none()
                && ctx.trackers.keys.is_empty()
                && t.conn.skip_in_body(dir, bytes.len())
            {
                return;
            }
            match ev {
                Ev::Data(bytes, ready_ts) => {
                    t.conn.data(dir, ready_ts, bytes);
                    if t.dec.is_none() && !ctx.trackers.keys.is_empty() {
                        t.dec = Some(TlsDecryptor::new());
                    }
                    let mut pts: Vec<Plaintext> = Vec::new();
                    let mut alpn_h2 = false;
                    if let Some(dec) = t.dec.as_mut() {
                        dec.data(&ctx.trackers.keys, dir, ready_ts, bytes, &mut pts);
                        alpn_h2 = dec.alpn() == Some("h2");
                        for w in dec.weirds() {
                            ctx.weird(None, Some(f.id), w);
                        }
                    }
                    for pt in pts {
                        plaintext(t, alpn_h2, ctx.keep_headers, pt);
                    }
                }
                Ev::Gap => {
                    t.conn.gap(dir, 0, f.last_ts);
                    if let Some(dec) = t.dec.as_mut() {
                        dec.gap(dir);
                    }
                    match &mut t.inner {
                        Inner::Http(h) => h.gap(dir, 0, f.last_ts),
                        Inner::H2(h) => h.gap(dir),
                        _ => {}
                    }
                }
                Ev::Close(ts) => {
                    if let Inner::Http(h) = &mut t.inner {
                        h.close(dir, ts);
                    }
                }
            }
            t.conn.drain_records(&mut t.records);
            if t.conn.has_weirds() {
                for w in t.conn.weirds() {
                    ctx.weird(None, Some(f.id), w);
                }
            }
            let mut ws = Vec::new();
            match &mut t.inner {
                Inner::Http(h) => {
                    h.drain(&mut t.http);
                    if h.has_weirds() {
                        ws = h.weirds();
                    }
                }
                Inner::H2(h) => {
                    h.drain(&mut t.h2);
                    ws = h.weirds();
                }
                _ => {}
            }
            for w in ws {
                ctx.weird(None, Some(f.id), w);
            }
        }
        (App::H2(conn, streams), ev) => {
            match ev {
                Ev::Data(bytes, ready_ts) => conn.data(dir, ready_ts, bytes),
                Ev::Gap => conn.gap(dir),
                Ev::Close(_) => {}
            }
            conn.drain(streams);
            for w in conn.weirds() {
                ctx.weird(None, Some(f.id), w);
            }
        }
        (App::Http(conn, txs), ev) => {
            match ev {
                Ev::Data(bytes, ready_ts) => conn.data(dir, ready_ts, ready_ts, bytes),
                Ev::Gap => conn.gap(dir, 0, f.last_ts),
                Ev::Close(ts) => conn.close(dir, ts),
            }
            conn.drain(txs);
            if conn.has_weirds() {
                for w in conn.weirds() {
                    ctx.weird(None, Some(f.id), w);
                }
            }
        }
        _ => {}
    }
}

/// Decrypted application data to the HTTP/1.x or HTTP/2 parser.
/// An HTTP/1 parser keeping every header or only the fields the tables use.
fn http_conn(keep_headers: bool) -> Http1Conn {
    if keep_headers {
        Http1Conn::new()
    } else {
        Http1Conn::without_headers()
    }
}

fn plaintext(t: &mut TlsApp, alpn_h2: bool, keep_headers: bool, pt: Plaintext) {
    t.plaintext_bytes += pt.data.len() as u64;
    if matches!(t.inner, Inner::Undecided) {
        if pt.dir != Direction::Orig && !alpn_h2 {
            // HTTP/1.x: wait for the client's request. HTTP/2: the server may speak first.
            return;
        }
        t.inner = if alpn_h2 || pt.data.starts_with(H2_PREFACE) {
            Inner::H2(Box::default())
        } else if http::looks_like_http_request(&pt.data) {
            Inner::Http(Box::new(http_conn(keep_headers)))
        } else {
            Inner::None
        };
    }
    match &mut t.inner {
        Inner::Http(h) => h.data(pt.dir, pt.ts, pt.ts, &pt.data),
        Inner::H2(h) => h.data(pt.dir, pt.ts, &pt.data),
        _ => {}
    }
}

/// A flow left the table: flush its streams and emit its connection row.
/// The exchanges a live, idle connection completed since its last hand-over, when none is
/// outstanding (an unanswered request, an open HTTP/2 stream); `None` when there is nothing to
/// hand over or something is still outstanding. The parser state stays with the flow.
fn checkpoint(f: &mut Flow<ConnApp>, now: Timestamp) -> Option<ConnOutcome> {
    let mut o = ConnOutcome::new(f);
    if let Some(r) = f.app.reported {
        o.continue_after(r);
    }
    match &mut f.app.app {
        App::Tls(t) => {
            t.conn.drain_records(&mut t.records);
            let client = t.conn.summary().client_dir.unwrap_or(Direction::Orig);
            let last_app = t
                .records
                .iter()
                .rev()
                .find(|r| r.content_type == tls::CT_APPLICATION_DATA && !r.handshake);
            if last_app.is_none_or(|r| r.dir == client) {
                return None;
            }
            match &mut t.inner {
                Inner::Http(h) => {
                    if !h.is_idle() {
                        return None;
                    }
                    h.drain(&mut t.http);
                }
                Inner::H2(h) => {
                    if !h.is_idle() {
                        return None;
                    }
                    h.drain(&mut t.h2);
                }
                _ => {}
            }
            o.tls = Some(t.conn.summary_essentials());
            o.alpn = t.dec.as_ref().and_then(|d| d.alpn().map(str::to_string));
            if o.alpn.is_none() {
                o.alpn = t.conn.summary().alpn.clone();
            }
            o.records = std::mem::take(&mut t.records);
            o.http = std::mem::take(&mut t.http);
            o.h2 = std::mem::take(&mut t.h2);
            if !o.settle() {
                t.records = std::mem::take(&mut o.records);
                t.http = std::mem::take(&mut o.http);
                t.h2 = std::mem::take(&mut o.h2);
                return None;
            }
        }
        App::H2(conn, streams) => {
            if !conn.is_idle() {
                return None;
            }
            conn.drain(streams);
            o.h2 = std::mem::take(streams);
            if !o.settle() {
                *streams = std::mem::take(&mut o.h2);
                return None;
            }
        }
        App::Http(conn, txs) => {
            if !conn.is_idle() {
                return None;
            }
            conn.drain(txs);
            o.http = std::mem::take(txs);
            if !o.settle() {
                *txs = std::mem::take(&mut o.http);
                return None;
            }
        }
        _ => return None,
    }
    f.app.reported = Some(now);
    match &mut f.app.app {
        App::Tls(t) => {
            t.conn.shrink();
            t.records.shrink_to_fit();
            if let Inner::Http(h) = &mut t.inner {
                h.shrink();
            }
        }
        App::Http(conn, txs) => {
            conn.shrink();
            txs.shrink_to_fit();
        }
        _ => {}
    }
    o.compact();
    Some(o)
}

fn finish_flow(ctx: &mut Ctx<'_>, mut f: Flow<ConnApp>) {
    if let Some(mut reasm) = f.app.reasm.take() {
        let info = flow_info!(f);
        let mut stop = false;
        for dir in [Direction::Orig, Direction::Resp] {
            let app = &mut f.app.app;
            reasm[dir.idx()].flush(f.last_ts, &mut |ev| {
                deliver(ctx, &info, app, &mut stop, dir, ev.into())
            });
        }
    }
    let mut row = connection_row(&f, ctx.names);
    let mut outcome = ConnOutcome::new(&f);
    if let Some(r) = f.app.reported {
        outcome.continue_after(r);
    }
    match std::mem::take(&mut f.app.app) {
        App::Tls(mut t) => {
            t.conn.drain_records(&mut t.records);
            for w in t.conn.weirds() {
                ctx.weird(None, Some(f.id), w);
            }
            match &mut t.inner {
                Inner::Http(h) => {
                    h.close(Direction::Orig, f.last_ts);
                    h.close(Direction::Resp, f.last_ts);
                    h.drain(&mut t.http);
                    h.finish(f.last_ts, &mut t.http);
                }
                Inner::H2(h) => {
                    h.drain(&mut t.h2);
                    h.finish(&mut t.h2);
                }
                _ => {}
            }
            let s = t.conn.take_summary();
            row.sni = s.sni.clone();
            row.alpn = s.alpn.clone();
            if let Some(dec) = &t.dec {
                if row.alpn.is_none() {
                    row.alpn = dec.alpn().map(str::to_string);
                }
                row.decrypted =
                    Some(matches!(dec.state(), DecryptState::Decrypting) && t.plaintext_bytes > 0);
            }
            row.tls_version = s.version.map(|v| tls::version_name(v).to_string());
            row.tls_version_code = s.version;
            row.tls_cipher = s.cipher_name.clone();
            row.tls_resumed = s.resumed;
            row.tls_handshake_ms = match (s.handshake_done_ts, row.established_time) {
                (Some(done), Some(est)) => Some(done.ms_since(est)),
                _ => None,
            };
            outcome.tls = Some(s);
            outcome.alpn = row.alpn.clone();
            outcome.records = std::mem::take(&mut t.records);
            outcome.http = std::mem::take(&mut t.http);
            outcome.h2 = std::mem::take(&mut t.h2);
        }
        App::H2(mut conn, mut streams) => {
            conn.drain(&mut streams);
            conn.finish(&mut streams);
            for w in conn.weirds() {
                ctx.weird(None, Some(f.id), w);
            }
            outcome.h2 = streams;
        }
        App::Http(mut conn, mut txs) => {
            conn.close(Direction::Orig, f.last_ts);
            conn.close(Direction::Resp, f.last_ts);
            conn.drain(&mut txs);
            conn.finish(f.last_ts, &mut txs);
            for w in conn.weirds() {
                ctx.weird(None, Some(f.id), w);
            }
            outcome.http = txs;
        }
        _ => {}
    }
    ctx.out.connections.push(row);
    if f.tcp.is_some() {
        outcome.compact();
        // A connection without a single exchange (scan, refused, idle) makes no request.
        if outcome.has_exchanges() {
            ctx.out.outcomes.push(outcome);
        }
    }
}

/// Builds the `connections` row of a finished flow.
fn connection_row(f: &Flow<ConnApp>, names: &[String]) -> ConnectionRow {
    let tcp = f.tcp.as_ref();
    ConnectionRow {
        connection_id: f.id,
        transport: if tcp.is_some() { "tcp" } else { "udp" },
        client_ip: Some(f.orig.ip),
        client_port: f.orig.port,
        server_ip: Some(f.resp.ip),
        server_port: f.resp.port,
        start_time: f.first_ts,
        established_time: tcp.and_then(|t| t.established_ts),
        end_time: f.last_ts,
        handshake_rtt_ms: tcp.and_then(|t| t.handshake_rtt_ms()),
        syn_retransmits: tcp.map(|t| t.syn_retransmits()),
        syn_seen: tcp.is_some_and(|t| t.syn_count > 0),
        close: tcp.map(|t| t.close_kind()),
        bytes_orig: f.frame_bytes[0],
        bytes_resp: f.frame_bytes[1],
        packets_orig: f.packets[0],
        packets_resp: f.packets[1],
        payload_orig: f.payload_bytes[0],
        payload_resp: f.payload_bytes[1],
        retransmits_orig: tcp.map(|t| t.dirs[0].retransmits),
        retransmits_resp: tcp.map(|t| t.dirs[1].retransmits),
        out_of_order: tcp.map(|t| t.dirs[0].out_of_order + t.dirs[1].out_of_order),
        zero_window: tcp.map(|t| t.dirs[0].zero_window + t.dirs[1].zero_window),
        first_frame: f.first_frame,
        app_protocol: f.app.protocol_name(),
        capture: names
            .get(f.app.capture as usize)
            .cloned()
            .unwrap_or_default(),
        ..Default::default()
    }
}

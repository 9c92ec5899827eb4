//! HTTP/1.x over cleartext TCP byte streams.
//!
//! Owns: parsing the two in-order byte streams of one connection (from TCP reassembly)
//! into request/response transactions with their wire timings (first/last byte of each
//! side), sizes and the headers that matter for page-load analysis. Handles pipelining
//! (responses pair with pending requests in order), 1xx interim responses, HEAD/204/304,
//! Content-Length, chunked (streamed: chunk framing is parsed, bodies are only counted,
//! never buffered) and close-delimited bodies, `101 Switching Protocols` (h2c, WebSocket),
//! the h2c prior-knowledge preface and CONNECT tunnels, gaps and resynchronisation.
//!
//! Every buffer is capped (constants below) and anything odd becomes a [`Weird`].
//!
//! Must not import: any other protocol module, the flow table, reassembly or later
//! stages. Imports only `crate::base`, std and `httparse`.

use std::collections::VecDeque;

use crate::base::{Direction, Timestamp, Weird};

/// Most bytes of one message head (start line + headers) buffered across chunks.
/// Beyond it: weird `http-header-too-long`, the direction is desynchronised.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header lines httparse may parse in one message head (more: `http-too-many-headers`).
pub const MAX_HEADERS: usize = 256;
/// Most transactions held while waiting for their response (pipelining). When full, the
/// oldest is emitted without response and weird `http-pending-cap` is recorded.
pub const MAX_PENDING: usize = 256;
/// Most header pairs kept per message in `request_headers` / `response_headers`
/// (the rest are dropped silently from the lists; the message is still parsed).
pub const MAX_KEPT_HEADERS: usize = 64;
/// Longest header value / URI kept (longer ones are truncated at a char boundary).
pub const MAX_KEPT_VALUE: usize = 8 * 1024;
/// Longest chunk-size line, trailer line or resync candidate line.
pub const MAX_LINE: usize = 8 * 1024;
/// Most weirds held until `weirds()` is called; more are counted and summarised as one
/// `http-weird-cap` record.
pub const MAX_WEIRDS: usize = 256;
/// Most completed transactions held until `drain()`; more are dropped with weird
/// `http-undrained-cap`.
pub const MAX_UNDRAINED: usize = 4096;

/// One request and (if seen) its response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpTransaction {
    pub method: String,
    /// Request target as sent (origin-form `/path?q`, or absolute-form through proxies).
    pub uri: String,
    /// Minor version of the request: 0 = HTTP/1.0, 1 = HTTP/1.1.
    pub version: u8,
    /// `Host` header; if absent, the authority of an absolute-form URI.
    pub host: Option<String>,
    /// `ready_ts` of the chunk holding the first request byte.
    pub req_first_ts: Timestamp,
    /// `first_ts` (first arrival, before any retransmission) of that chunk.
    pub req_first_seen_ts: Timestamp,
    /// `ready_ts` of the chunk holding the last request byte (end of headers or body).
    pub req_last_ts: Timestamp,
    /// Request line + headers + blank line.
    pub req_header_bytes: u64,
    /// Request body bytes on the wire (chunk framing included).
    pub req_body_bytes: u64,
    /// Final status (never 1xx except 101); None when no response was seen.
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// Interim 1xx statuses seen before the final response (100, 102, 103).
    pub interim: Vec<u16>,
    /// `ready_ts` of the first byte of the first interim response.
    pub interim_first_ts: Option<Timestamp>,
    /// `ready_ts` of the chunk holding the first byte of the final response's status line.
    pub resp_first_ts: Option<Timestamp>,
    /// `first_ts` of that chunk.
    pub resp_first_seen_ts: Option<Timestamp>,
    /// `ready_ts` of the chunk completing the final response's headers.
    pub resp_headers_ts: Option<Timestamp>,
    /// `ready_ts` of the chunk holding the last response byte.
    pub resp_last_ts: Option<Timestamp>,
    /// Status line + headers + blank line of the final response, plus all interim responses.
    pub resp_header_bytes: u64,
    /// Response body bytes on the wire (chunk framing and trailers included; bytes lost in
    /// gaps inside a body of known length are counted too).
    pub resp_body_bytes: u64,
    /// Decoded body bytes (chunk payloads only); equals `resp_body_bytes` when not chunked.
    pub resp_content_bytes: u64,
    pub chunked: bool,
    /// Response `Content-Length` when valid.
    pub content_length: Option<u64>,
    /// Request headers.
    pub referer: Option<String>,
    pub sec_fetch_dest: Option<String>,
    pub sec_fetch_mode: Option<String>,
    pub user_agent: Option<String>,
    /// Response headers.
    pub location: Option<String>,
    pub cache_control: Option<String>,
    pub connection: Option<String>,
    pub content_type: Option<String>,
    /// All headers in order, at most `MAX_KEPT_HEADERS` pairs, values capped (for HAR).
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    /// Protocol switched to by this transaction: `h2c` / `websocket` (lowercased `Upgrade`
    /// of a 101), `connect` for a 2xx answer to CONNECT; None otherwise.
    pub upgrade: Option<String>,
    /// A body (or head) was cut by a gap, a desynchronisation or the end of the capture.
    pub incomplete: bool,
}

/// How the current message body is delimited (and how much is left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Streaming chunked-encoding state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line: value so far, hex digits seen, in extension/whitespace,
    /// line length.
    Size {
        size: u64,
        digits: u32,
        ext: bool,
        line: usize,
    },
    /// Chunk payload bytes left.
    Data(u64),
    /// CRLF after a chunk payload; `cr` = CR seen.
    DataEnd { cr: bool },
    /// Trailer section: length of the current line (0 = at line start).
    Trailer { line: usize },
}

const CHUNK_START: Chunk = Chunk::Size {
    size: 0,
    digits: 0,
    ext: false,
    line: 0,
};

/// What a direction is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading a start line + headers into `Side::hbuf`.
    Headers,
    Body(Body),
    /// Lost framing: skipping to a line that parses as a start line. `at_start` = the
    /// next byte begins a line (`hbuf` holds the candidate line so far).
    Desync {
        at_start: bool,
        skipped: u64,
    },
    /// Upgraded / tunnelled: bytes are not HTTP/1 any more and are ignored.
    Passthrough,
}

/// Per-direction parser state.
#[derive(Debug)]
struct Side {
    mode: Mode,
    /// Message head (or resync candidate line) bytes so far; at most `MAX_HEADER_BYTES`.
    hbuf: Vec<u8>,
    /// (first_ts, ready_ts) of the chunk holding the first byte in `hbuf`.
    msg_first: (Timestamp, Timestamp),
    /// End-of-head detector: 0 = in a line, 1 = just after LF, 2 = after LF CR.
    eol: u8,
    /// The start line of the message in `hbuf` is complete and was checked.
    line1_done: bool,
    /// Transaction whose body this direction is reading (None: orphan response).
    cur: Option<u64>,
    /// Response side: the message being read answers request `next_resp_seq`.
    advances: bool,
}

impl Side {
    fn new() -> Self {
        Side {
            mode: Mode::Headers,
            hbuf: Vec::new(),
            msg_first: (Timestamp(0), Timestamp(0)),
            eol: 0,
            line1_done: false,
            cur: None,
            advances: false,
        }
    }

    fn reset_head(&mut self) {
        self.hbuf.clear();
        self.eol = 0;
        self.line1_done = false;
    }
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    tx: HttpTransaction,
    req_done: bool,
    resp_done: bool,
}

/// HTTP/1.x state of one TCP connection. Feed it both directions' in-order bytes.
#[derive(Debug)]
pub struct Http1Conn {
    sides: [Side; 2],
    txs: VecDeque<Pending>,
    /// Sequence number the next request gets.
    next_req_seq: u64,
    /// Sequence number of the request the next final response answers.
    next_resp_seq: u64,
    done: Vec<HttpTransaction>,
    weirds: Vec<Weird>,
    weirds_dropped: u64,
    weirds_dropped_ts: Timestamp,
    upgraded: Option<String>,
    /// Keep every header name and value of each transaction (for HAR); the fields the
    /// tables use are extracted either way.
    keep_headers: bool,
}

impl Default for Http1Conn {
    fn default() -> Self {
        Self::new()
    }
}

/// Outcome of parsing one complete message head.
enum Head {
    Request(Box<HttpTransaction>, BodyKind),
    Response(Box<Resp>),
    /// `PRI * HTTP/2.0` preface: HTTP/2 with prior knowledge.
    Preface,
    Bad(&'static str, String),
}

/// Body framing announced by a message head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Resp {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    content_length: Option<u64>,
    chunked: bool,
    /// Framing if the request allows a body.
    kind: BodyKind,
    upgrade: Option<String>,
    location: Option<String>,
    cache_control: Option<String>,
    connection: Option<String>,
    content_type: Option<String>,
    weird: Option<(&'static str, String)>,
}

impl Http1Conn {
    pub fn new() -> Self {
        Http1Conn {
            sides: [Side::new(), Side::new()],
            txs: VecDeque::new(),
            next_req_seq: 0,
            next_resp_seq: 0,
            done: Vec::new(),
            weirds: Vec::new(),
            weirds_dropped: 0,
            weirds_dropped_ts: Timestamp(0),
            upgraded: None,
            keep_headers: true,
        }
    }

    /// A connection parser that keeps only the header fields the tables use, not every
    /// header (which only the HAR export needs).
    pub fn without_headers() -> Self {
        Http1Conn {
            keep_headers: false,
            ..Self::new()
        }
    }

    /// In-order bytes of one direction (`Orig` = client). `first_ts` = when these bytes
    /// first arrived, `ready_ts` = when they became readable in order.
    /// A message's "first byte time" is the `ready_ts` of the chunk holding its first
    /// byte, its "last byte time" the `ready_ts` of the chunk holding its last byte.
    pub fn data(&mut self, dir: Direction, first_ts: Timestamp, ready_ts: Timestamp, bytes: &[u8]) {
        let mut rest = bytes;
        // Every step consumes at least one byte or completes a message head (which
        // changes state); the bound is a belt-and-braces guard against a stuck loop.
        let mut budget = bytes.len().saturating_mul(2).saturating_add(8);
        while !rest.is_empty() && budget > 0 {
            budget -= 1;
            let used = match self.sides[dir.idx()].mode {
                Mode::Headers => self.step_headers(dir, first_ts, ready_ts, rest),
                Mode::Body(b) => self.step_body(dir, ready_ts, b, rest),
                Mode::Desync { at_start, skipped } => {
                    self.step_desync(dir, first_ts, ready_ts, at_start, skipped, rest)
                }
                Mode::Passthrough => rest.len(),
            };
            rest = rest.get(used..).unwrap_or(&[]);
        }
        self.emit_ready();
    }

    /// `len` bytes are missing in a direction. Inside a body of known length they are
    /// accounted (the transaction is marked incomplete) and parsing continues; otherwise
    /// the direction is desynchronised (weird `http-gap-desync`) and resyncs at the next
    /// line that parses as a request/status line.
    pub fn gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        match side.mode {
            Mode::Passthrough => {}
            Mode::Desync { skipped, .. } => {
                side.hbuf.clear();
                side.mode = Mode::Desync {
                    at_start: true,
                    skipped: skipped.saturating_add(len),
                };
            }
            Mode::Body(Body::Length(rem)) if len < rem => {
                side.mode = Mode::Body(Body::Length(rem - len));
                self.account(dir, len, len, ts, true);
            }
            Mode::Body(Body::Length(rem)) if len == rem => {
                self.account(dir, len, len, ts, true);
                self.body_done(dir, ts);
            }
            Mode::Body(Body::Chunked(Chunk::Data(rem))) if len <= rem => {
                side.mode = Mode::Body(Body::Chunked(if len == rem {
                    Chunk::DataEnd { cr: false }
                } else {
                    Chunk::Data(rem - len)
                }));
                self.account(dir, len, len, ts, true);
            }
            Mode::Body(Body::UntilClose) => self.account(dir, len, len, ts, true),
            _ => {
                self.desync(
                    dir,
                    ts,
                    "http-gap-desync",
                    format!("{len}-byte gap in {dir:?} outside a body of known length"),
                    true,
                );
                let side = &mut self.sides[dir.idx()];
                if let Mode::Desync { at_start, skipped } = side.mode {
                    side.mode = Mode::Desync {
                        at_start,
                        skipped: skipped.saturating_add(len),
                    };
                }
            }
        }
        self.emit_ready();
    }

    /// FIN/RST or end of capture for a direction. Completes a close-delimited response;
    /// a message cut inside its head or a body of known length is recorded
    /// (`http-truncated`) and marked incomplete.
    pub fn close(&mut self, dir: Direction, ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        match side.mode {
            Mode::Passthrough => {}
            Mode::Desync { .. } => {
                side.hbuf.clear();
                side.mode = Mode::Headers;
            }
            Mode::Headers if side.hbuf.is_empty() => {}
            Mode::Body(Body::UntilClose) => {
                let ts = self.last_ts(dir).unwrap_or(ts);
                self.body_done(dir, ts);
            }
            Mode::Headers | Mode::Body(_) => {
                let what = if side.mode == Mode::Headers {
                    "head"
                } else {
                    "body"
                };
                self.weird(
                    ts,
                    "http-truncated",
                    format!("{dir:?} stream ended inside a message {what}"),
                );
                self.abandon(dir, ts);
                self.sides[dir.idx()].mode = Mode::Headers;
            }
        }
        self.emit_ready();
    }

    /// Gives back the buffers' spare capacity (a connection gone idle keeps little).
    pub fn shrink(&mut self) {
        for side in self.sides.iter_mut() {
            side.hbuf.shrink_to_fit();
        }
        self.done.shrink_to_fit();
    }

    /// No transaction in progress (every request seen has its complete response).
    pub fn is_idle(&self) -> bool {
        self.txs.is_empty()
    }

    /// Completed transactions since the last call, in request order.
    pub fn drain(&mut self, out: &mut Vec<HttpTransaction>) {
        out.append(&mut self.done);
    }

    /// End of capture: closes both directions and emits everything pending (requests
    /// without a response have `status: None`).
    pub fn finish(&mut self, ts: Timestamp, out: &mut Vec<HttpTransaction>) {
        self.close(Direction::Orig, ts);
        self.close(Direction::Resp, ts);
        while let Some(p) = self.txs.pop_front() {
            self.emit(p.tx, ts);
        }
        self.drain(out);
    }

    /// Anomalies recorded since the last call.
    /// Whether [`Self::weirds`] has anything to return (cheap, for the per-packet path).
    #[inline]
    pub fn has_weirds(&self) -> bool {
        !self.weirds.is_empty() || self.weirds_dropped > 0
    }

    pub fn weirds(&mut self) -> Vec<Weird> {
        let mut out = std::mem::take(&mut self.weirds);
        if self.weirds_dropped > 0 {
            out.push(Weird::new(
                self.weirds_dropped_ts,
                "http-weird-cap",
                format!(
                    "{} more HTTP anomalies on this connection were not recorded (cap {MAX_WEIRDS})",
                    self.weirds_dropped
                ),
            ));
            self.weirds_dropped = 0;
        }
        out
    }

    /// Protocol the connection switched to: `h2c` / `websocket` / other lowercased
    /// `Upgrade` token after a 101, `h2c` after an HTTP/2 prior-knowledge preface,
    /// `connect` after a 2xx answer to CONNECT. Parsing stops in both directions then.
    pub fn upgraded(&self) -> Option<&str> {
        self.upgraded.as_deref()
    }

    // ----- internals -------------------------------------------------------------

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: String) {
        if self.weirds.len() < MAX_WEIRDS {
            self.weirds.push(Weird::new(ts, kind, detail));
        } else {
            self.weirds_dropped = self.weirds_dropped.saturating_add(1);
            self.weirds_dropped_ts = ts;
        }
    }

    fn tx_mut(&mut self, seq: u64) -> Option<&mut Pending> {
        let front = self.txs.front()?.seq;
        let idx = usize::try_from(seq.checked_sub(front)?).ok()?;
        self.txs.get_mut(idx)
    }

    fn emit(&mut self, tx: HttpTransaction, ts: Timestamp) {
        if self.done.len() < MAX_UNDRAINED {
            self.done.push(tx);
        } else {
            self.weird(
                ts,
                "http-undrained-cap",
                format!(
                    "more than {MAX_UNDRAINED} completed transactions not drained; dropped {} {}",
                    tx.method, tx.uri
                ),
            );
        }
    }

    /// Moves fully completed transactions at the front to `done`.
    fn emit_ready(&mut self) {
        while self.txs.front().is_some_and(|p| p.req_done && p.resp_done) {
            if let Some(p) = self.txs.pop_front() {
                let ts = p.tx.resp_last_ts.unwrap_or(p.tx.req_last_ts);
                self.emit(p.tx, ts);
            }
        }
    }

    /// Last byte time recorded so far for the message this direction is reading.
    fn last_ts(&mut self, dir: Direction) -> Option<Timestamp> {
        let seq = self.sides[dir.idx()].cur?;
        let p = self.tx_mut(seq)?;
        match dir {
            Direction::Orig => Some(p.tx.req_last_ts),
            Direction::Resp => p.tx.resp_last_ts,
        }
    }

    /// Adds body bytes to the transaction this direction is reading.
    fn account(&mut self, dir: Direction, wire: u64, content: u64, ts: Timestamp, lost: bool) {
        let Some(seq) = self.sides[dir.idx()].cur else {
            return;
        };
        let Some(p) = self.tx_mut(seq) else {
            return;
        };
        let t = &mut p.tx;
        t.incomplete |= lost;
        match dir {
            Direction::Orig => {
                t.req_body_bytes = t.req_body_bytes.saturating_add(wire);
                t.req_last_ts = ts;
            }
            Direction::Resp => {
                t.resp_body_bytes = t.resp_body_bytes.saturating_add(wire);
                t.resp_content_bytes = t.resp_content_bytes.saturating_add(content);
                t.resp_last_ts = Some(ts);
            }
        }
    }

    /// The current message of `dir` is complete at `ts`.
    fn body_done(&mut self, dir: Direction, ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        side.mode = Mode::Headers;
        side.reset_head();
        let cur = side.cur.take();
        let advances = std::mem::replace(&mut side.advances, false);
        match dir {
            Direction::Orig => {
                if let Some(p) = cur.and_then(|s| self.tx_mut(s)) {
                    p.req_done = true;
                    p.tx.req_last_ts = ts;
                }
            }
            Direction::Resp => {
                if let Some(p) = cur.and_then(|s| self.tx_mut(s)) {
                    p.resp_done = true;
                    p.tx.resp_last_ts = Some(ts);
                }
                if advances {
                    self.next_resp_seq = self.next_resp_seq.saturating_add(1);
                }
            }
        }
    }

    /// The current message of `dir` cannot be finished (gap, parse error, truncation):
    /// close it as incomplete. A head cut after a valid start line still yields (or
    /// closes) a transaction so that in-order pairing stays right.
    fn abandon(&mut self, dir: Direction, ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        match side.mode {
            Mode::Body(_) => {
                let cur = side.cur;
                let last = self.last_ts(dir).unwrap_or(ts);
                if let Some(p) = cur.and_then(|s| self.tx_mut(s)) {
                    p.tx.incomplete = true;
                }
                self.body_done(dir, last);
            }
            Mode::Headers => {
                let head = std::mem::take(&mut side.hbuf);
                let (first_seen, first) = side.msg_first;
                side.reset_head();
                match dir {
                    Direction::Orig => {
                        if let Some((method, uri, version)) = split_request_line(&head) {
                            let tx = HttpTransaction {
                                method,
                                uri,
                                version,
                                req_first_ts: first,
                                req_first_seen_ts: first_seen,
                                req_last_ts: first,
                                req_header_bytes: head.len() as u64,
                                incomplete: true,
                                ..HttpTransaction::default()
                            };
                            self.push_request(tx, ts, true);
                        }
                    }
                    Direction::Resp => {
                        if head.starts_with(b"HTTP/1.") && self.next_resp_seq < self.next_req_seq {
                            let seq = self.next_resp_seq;
                            if let Some(p) = self.tx_mut(seq) {
                                p.resp_done = true;
                                p.tx.incomplete = true;
                                p.tx.status = parse_status_code(&head);
                                p.tx.resp_first_ts = Some(first);
                                p.tx.resp_first_seen_ts = Some(first_seen);
                                p.tx.resp_last_ts = Some(first);
                                p.tx.resp_header_bytes =
                                    p.tx.resp_header_bytes.saturating_add(head.len() as u64);
                            }
                            self.next_resp_seq = seq.saturating_add(1);
                        }
                    }
                }
            }
            Mode::Desync { .. } | Mode::Passthrough => {}
        }
    }

    /// Records a weird, closes the current message and starts looking for a start line.
    fn desync(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        kind: &'static str,
        detail: String,
        at_start: bool,
    ) {
        self.weird(ts, kind, detail);
        self.abandon(dir, ts);
        let side = &mut self.sides[dir.idx()];
        side.reset_head();
        side.mode = Mode::Desync {
            at_start,
            skipped: 0,
        };
    }

    /// Queues a new request (evicting the oldest one when `MAX_PENDING` are waiting).
    fn push_request(&mut self, tx: HttpTransaction, ts: Timestamp, req_done: bool) -> u64 {
        if self.txs.len() >= MAX_PENDING
            && let Some(old) = self.txs.pop_front()
        {
            self.weird(
                ts,
                "http-pending-cap",
                format!(
                    "more than {MAX_PENDING} requests awaiting a response; emitting {} {} without it",
                    old.tx.method, old.tx.uri
                ),
            );
            self.emit(old.tx, ts);
        }
        let seq = self.next_req_seq;
        self.next_req_seq = seq.saturating_add(1);
        self.txs.push_back(Pending {
            seq,
            tx,
            req_done,
            resp_done: false,
        });
        seq
    }

    /// Stops HTTP/1 parsing on both directions (101, CONNECT tunnel, h2 preface).
    fn switch(&mut self, proto: String) {
        self.upgraded = Some(proto);
        for side in &mut self.sides {
            side.mode = Mode::Passthrough;
            side.hbuf = Vec::new();
        }
    }

    fn step_headers(
        &mut self,
        dir: Direction,
        first_ts: Timestamp,
        ready_ts: Timestamp,
        input: &[u8],
    ) -> usize {
        let keep = self.keep_headers;
        let side = &mut self.sides[dir.idx()];
        let mut skip = 0;
        if side.hbuf.is_empty() {
            // Empty lines between messages are ignored (RFC 9112 section 2.2), and so
            // are NUL bytes: the garbage byte of a TCP keep-alive probe shows up here
            // when a capture starts in the middle of a connection.
            skip = input
                .iter()
                .take_while(|b| matches!(**b, b'\r' | b'\n' | 0))
                .count();
            side.msg_first = (first_ts, ready_ts);
            side.eol = 0;
            side.line1_done = false;
        }
        let input = input.get(skip..).unwrap_or(&[]);
        if input.is_empty() {
            return skip;
        }
        let room = MAX_HEADER_BYTES.saturating_sub(side.hbuf.len());
        let scan = input.get(..room.min(input.len())).unwrap_or(&[]);
        let mut end = None;
        let mut first_nl = None;
        for (i, &b) in scan.iter().enumerate() {
            match (side.eol, b) {
                (1 | 2, b'\n') => {
                    end = Some(i + 1);
                    break;
                }
                (_, b'\n') => {
                    side.eol = 1;
                    if first_nl.is_none() && !side.line1_done {
                        first_nl = Some(i + 1);
                    }
                }
                (1, b'\r') => side.eol = 2,
                _ => side.eol = 0,
            }
        }
        let Some(end) = end else {
            side.hbuf.extend_from_slice(scan);
            if let Some(nl) = first_nl {
                side.line1_done = true;
                let line_len = side.hbuf.len() - (scan.len() - nl);
                let line = side.hbuf.get(..line_len).unwrap_or(&[]);
                if !start_line_ok(dir, line) {
                    let detail = format!(
                        "bad {} line {:?}",
                        if dir == Direction::Orig {
                            "request"
                        } else {
                            "status"
                        },
                        printable(line)
                    );
                    // Drop what followed the bad line too; resync starts right after it.
                    side.hbuf.clear();
                    self.desync(dir, ready_ts, bad_kind(dir), detail, true);
                    return skip + nl;
                }
            }
            if self.sides[dir.idx()].hbuf.len() >= MAX_HEADER_BYTES {
                self.desync(
                    dir,
                    ready_ts,
                    "http-header-too-long",
                    format!("{dir:?} message head longer than {MAX_HEADER_BYTES} bytes"),
                    false,
                );
            }
            return skip + scan.len();
        };
        let head_part = scan.get(..end).unwrap_or(&[]);
        let head = if side.hbuf.is_empty() {
            parse_head(dir, head_part, keep)
        } else {
            side.hbuf.extend_from_slice(head_part);
            parse_head(dir, &side.hbuf, keep)
        };
        let head_len = side.hbuf.len().max(head_part.len()) as u64;
        if matches!(head, Head::Bad(..)) {
            // Keep the head so that `abandon` can still pair a valid start line.
            if side.hbuf.is_empty() {
                side.hbuf.extend_from_slice(head_part);
            }
        } else {
            side.reset_head();
        }
        self.on_head(dir, ready_ts, head, head_len);
        skip + end
    }

    /// A complete message head was parsed.
    fn on_head(&mut self, dir: Direction, ready_ts: Timestamp, head: Head, head_len: u64) {
        let (first_seen, first) = self.sides[dir.idx()].msg_first;
        match head {
            Head::Bad(kind, detail) => self.desync(dir, ready_ts, kind, detail, true),
            Head::Preface => self.switch("h2c".to_string()),
            Head::Request(mut tx, kind) => {
                tx.req_first_ts = first;
                tx.req_first_seen_ts = first_seen;
                tx.req_last_ts = ready_ts;
                tx.req_header_bytes = head_len;
                let seq = self.push_request(*tx, ready_ts, kind == BodyKind::None);
                let side = &mut self.sides[dir.idx()];
                side.cur = Some(seq);
                side.mode = match kind {
                    BodyKind::None => {
                        side.cur = None;
                        Mode::Headers
                    }
                    BodyKind::Length(n) => Mode::Body(Body::Length(n)),
                    BodyKind::Chunked => Mode::Body(Body::Chunked(CHUNK_START)),
                    BodyKind::UntilClose => Mode::Headers,
                };
            }
            Head::Response(r) => self.on_response(ready_ts, first_seen, first, r, head_len),
        }
    }

    fn on_response(
        &mut self,
        ready_ts: Timestamp,
        first_seen: Timestamp,
        first: Timestamp,
        r: Box<Resp>,
        head_len: u64,
    ) {
        let r = *r;
        if let Some((kind, detail)) = r.weird.clone() {
            self.weird(ready_ts, kind, detail);
        }
        let seq = self.next_resp_seq;
        let has_request = seq < self.next_req_seq;
        let matched = has_request && self.tx_mut(seq).is_some();
        if !has_request {
            self.weird(
                ready_ts,
                "http-unmatched-response",
                format!("{} response without a pending request", r.status),
            );
        }
        let (method, req_upgrade) = match self.tx_mut(seq) {
            Some(p) if matched => (
                p.tx.method.clone(),
                header_value(&p.tx.request_headers, "upgrade"),
            ),
            _ => (String::new(), None),
        };

        if (100..200).contains(&r.status) && r.status != 101 {
            if let Some(p) = self.tx_mut(seq).filter(|_| matched) {
                p.tx.interim.push(r.status);
                p.tx.interim_first_ts.get_or_insert(first);
                p.tx.resp_header_bytes = p.tx.resp_header_bytes.saturating_add(head_len);
            }
            return;
        }

        let tunnel = method == "CONNECT" && (200..300).contains(&r.status);
        let no_body =
            method == "HEAD" || r.status == 204 || r.status == 304 || r.status == 101 || tunnel;
        let kind = if no_body { BodyKind::None } else { r.kind };
        let upgrade = if r.status == 101 {
            Some(
                r.upgrade
                    .clone()
                    .or(req_upgrade)
                    .map(|u| u.trim().to_ascii_lowercase())
                    .unwrap_or_else(|| "unknown".to_string()),
            )
        } else if tunnel {
            Some("connect".to_string())
        } else {
            None
        };
        if let Some(p) = self.tx_mut(seq).filter(|_| matched) {
            let t = &mut p.tx;
            t.status = Some(r.status);
            t.reason = Some(r.reason);
            t.resp_first_ts = Some(first);
            t.resp_first_seen_ts = Some(first_seen);
            t.resp_headers_ts = Some(ready_ts);
            t.resp_last_ts = Some(ready_ts);
            t.resp_header_bytes = t.resp_header_bytes.saturating_add(head_len);
            t.chunked = r.chunked && !no_body;
            t.content_length = r.content_length;
            t.location = r.location;
            t.cache_control = r.cache_control;
            t.connection = r.connection;
            t.content_type = r.content_type;
            t.response_headers = r.headers;
            t.upgrade = upgrade.clone();
        }
        let side = &mut self.sides[Direction::Resp.idx()];
        side.cur = if matched { Some(seq) } else { None };
        side.advances = has_request;
        match kind {
            BodyKind::None => self.body_done(Direction::Resp, ready_ts),
            BodyKind::Length(n) => side.mode = Mode::Body(Body::Length(n)),
            BodyKind::Chunked => side.mode = Mode::Body(Body::Chunked(CHUNK_START)),
            BodyKind::UntilClose => side.mode = Mode::Body(Body::UntilClose),
        }
        if let Some(proto) = upgrade {
            // The request side is done too: what follows is not HTTP/1.
            let req_cur = self.sides[Direction::Orig.idx()].cur;
            if let Some(p) = req_cur.and_then(|s| self.tx_mut(s)) {
                p.req_done = true;
            }
            self.sides[Direction::Orig.idx()].cur = None;
            self.switch(proto);
        }
    }

    fn step_body(
        &mut self,
        dir: Direction,
        ready_ts: Timestamp,
        body: Body,
        input: &[u8],
    ) -> usize {
        match body {
            Body::UntilClose => {
                let n = input.len() as u64;
                self.account(dir, n, n, ready_ts, false);
                input.len()
            }
            Body::Length(rem) => {
                let take = rem.min(input.len() as u64);
                self.account(dir, take, take, ready_ts, false);
                if take == rem {
                    self.body_done(dir, ready_ts);
                } else {
                    self.sides[dir.idx()].mode = Mode::Body(Body::Length(rem - take));
                }
                usize::try_from(take).unwrap_or(input.len())
            }
            Body::Chunked(mut st) => {
                let out = parse_chunked(&mut st, input);
                self.account(dir, out.consumed as u64, out.content, ready_ts, false);
                if let Some((kind, detail)) = out.soft {
                    self.weird(ready_ts, kind, detail);
                }
                if let Some((kind, detail)) = out.error {
                    self.desync(dir, ready_ts, kind, detail, false);
                } else if out.done {
                    self.body_done(dir, ready_ts);
                } else {
                    self.sides[dir.idx()].mode = Mode::Body(Body::Chunked(st));
                }
                out.consumed.max(1).min(input.len())
            }
        }
    }

    fn step_desync(
        &mut self,
        dir: Direction,
        first_ts: Timestamp,
        ready_ts: Timestamp,
        at_start: bool,
        skipped: u64,
        input: &[u8],
    ) -> usize {
        let side = &mut self.sides[dir.idx()];
        let nl = input.iter().position(|b| *b == b'\n');
        let part_len = nl.map_or(input.len(), |i| i + 1);
        let part = input.get(..part_len).unwrap_or(&[]);
        if at_start && side.hbuf.is_empty() {
            side.msg_first = (first_ts, ready_ts);
        }
        let fits = side.hbuf.len().saturating_add(part.len()) <= MAX_LINE;
        if nl.is_none() {
            if at_start && fits {
                side.hbuf.extend_from_slice(part);
                side.mode = Mode::Desync { at_start, skipped };
            } else {
                let dropped = side.hbuf.len() as u64 + part.len() as u64;
                side.hbuf.clear();
                side.mode = Mode::Desync {
                    at_start: false,
                    skipped: skipped.saturating_add(dropped),
                };
            }
            return part_len;
        }
        if at_start && fits {
            side.hbuf.extend_from_slice(part);
            if start_line_ok(dir, &side.hbuf) {
                side.mode = Mode::Headers;
                side.eol = 1;
                side.line1_done = true;
                self.weird(
                    ready_ts,
                    "http-resync",
                    format!("{dir:?} resynchronised after skipping {skipped} bytes"),
                );
                return part_len;
            }
        }
        let dropped = if at_start && fits {
            side.hbuf.len() as u64
        } else {
            side.hbuf.len() as u64 + part.len() as u64
        };
        side.hbuf.clear();
        side.mode = Mode::Desync {
            at_start: true,
            skipped: skipped.saturating_add(dropped),
        };
        part_len
    }
}

/// Result of feeding bytes to the chunked decoder.
#[derive(Debug, Default)]
struct ChunkOut {
    consumed: usize,
    content: u64,
    done: bool,
    /// Tolerated oddity (processing continues).
    soft: Option<(&'static str, String)>,
    /// Framing lost: the direction must resync.
    error: Option<(&'static str, String)>,
}

/// Streams `input` through the chunked decoder state `st`. Stops after the final
/// trailer line (`done`), on an error, or when `input` is used up.
fn parse_chunked(st: &mut Chunk, input: &[u8]) -> ChunkOut {
    let mut out = ChunkOut::default();
    let mut i = 0usize;
    while i < input.len() {
        let b = input.get(i).copied().unwrap_or(0);
        match *st {
            Chunk::Data(rem) => {
                let avail = (input.len() - i) as u64;
                let take = rem.min(avail);
                out.content = out.content.saturating_add(take);
                i = i.saturating_add(usize::try_from(take).unwrap_or(usize::MAX));
                *st = if take == rem {
                    Chunk::DataEnd { cr: false }
                } else {
                    Chunk::Data(rem - take)
                };
                continue;
            }
            Chunk::Size {
                size,
                digits,
                ext,
                line,
            } => {
                let line = line.saturating_add(1);
                if line > MAX_LINE {
                    out.error = Some((
                        "http-chunk-line-too-long",
                        format!("chunk-size line longer than {MAX_LINE} bytes"),
                    ));
                    break;
                }
                match (b, hex_val(b)) {
                    (b'\n', _) if digits == 0 => {
                        out.error = Some(("http-bad-chunk-size", "empty chunk-size line".into()));
                        break;
                    }
                    (b'\n', _) => {
                        *st = if size == 0 {
                            Chunk::Trailer { line: 0 }
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    (_, Some(v)) if !ext => {
                        match size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(v)))
                        {
                            Some(s) => {
                                *st = Chunk::Size {
                                    size: s,
                                    digits: digits.saturating_add(1),
                                    ext,
                                    line,
                                }
                            }
                            None => {
                                out.error = Some((
                                    "http-bad-chunk-size",
                                    "chunk size overflows 64 bits".into(),
                                ));
                                break;
                            }
                        }
                    }
                    (b';' | b' ' | b'\t' | b'\r', _) if digits > 0 => {
                        *st = Chunk::Size {
                            size,
                            digits,
                            ext: true,
                            line,
                        }
                    }
                    (_, _) if ext => {
                        *st = Chunk::Size {
                            size,
                            digits,
                            ext,
                            line,
                        }
                    }
                    _ => {
                        out.error = Some((
                            "http-bad-chunk-size",
                            format!("unexpected byte 0x{b:02x} in chunk-size line"),
                        ));
                        break;
                    }
                }
            }
            Chunk::DataEnd { cr } => match b {
                b'\r' if !cr => *st = Chunk::DataEnd { cr: true },
                b'\n' => *st = CHUNK_START,
                _ => {
                    out.soft = Some((
                        "http-chunk-missing-crlf",
                        format!("byte 0x{b:02x} instead of CRLF after chunk data"),
                    ));
                    *st = CHUNK_START;
                    continue; // reparse this byte as the next chunk-size line
                }
            },
            Chunk::Trailer { line } => match b {
                b'\n' if line == 0 => {
                    i += 1;
                    out.done = true;
                    break;
                }
                b'\n' => *st = Chunk::Trailer { line: 0 },
                b'\r' => {}
                _ if line >= MAX_LINE => {
                    out.error = Some((
                        "http-chunk-line-too-long",
                        format!("trailer line longer than {MAX_LINE} bytes"),
                    ));
                    break;
                }
                _ => *st = Chunk::Trailer { line: line + 1 },
            },
        }
        i += 1;
    }
    out.consumed = i.min(input.len());
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn bad_kind(dir: Direction) -> &'static str {
    match dir {
        Direction::Orig => "http-bad-request",
        Direction::Resp => "http-bad-response",
    }
}

/// Parses a complete message head (ending with its blank line).
/// `keep`: keep every header (see [`Http1Conn::without_headers`]).
fn parse_head(dir: Direction, buf: &[u8], keep: bool) -> Head {
    if buf.starts_with(b"PRI * HTTP/2.0") && dir == Direction::Orig {
        return Head::Preface;
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    let bad = |e: httparse::Error| {
        let kind = if e == httparse::Error::TooManyHeaders {
            "http-too-many-headers"
        } else {
            bad_kind(dir)
        };
        Head::Bad(
            kind,
            format!("{e}: {:?}", printable(buf.get(..80).unwrap_or(buf))),
        )
    };
    match dir {
        Direction::Orig => {
            let mut req = httparse::Request::new(&mut slots);
            match cfg.parse_request(&mut req, buf) {
                Ok(httparse::Status::Complete(_)) => request_head(&req, keep),
                Ok(httparse::Status::Partial) => Head::Bad(bad_kind(dir), "incomplete head".into()),
                Err(e) => bad(e),
            }
        }
        Direction::Resp => {
            let mut resp = httparse::Response::new(&mut slots);
            match cfg.parse_response(&mut resp, buf) {
                Ok(httparse::Status::Complete(_)) => response_head(&resp, keep),
                Ok(httparse::Status::Partial) => Head::Bad(bad_kind(dir), "incomplete head".into()),
                Err(e) => bad(e),
            }
        }
    }
}

/// Content-Length values of a head: None = absent, Some(Err) = invalid or conflicting.
fn content_length(headers: &[httparse::Header]) -> Option<Result<u64, String>> {
    let mut found: Option<u64> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        for part in h.value.split(|b| *b == b',') {
            let s = String::from_utf8_lossy(part);
            let s = s.trim();
            let v = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<u64>().ok()
            } else {
                None
            };
            match (v, found) {
                (None, _) => return Some(Err(format!("invalid Content-Length {s:?}"))),
                (Some(v), Some(f)) if v != f => {
                    return Some(Err(format!("conflicting Content-Length {f} and {v}")));
                }
                (Some(v), _) => found = Some(v),
            }
        }
    }
    found.map(Ok)
}

/// Transfer-Encoding: None = absent, Some(true) = chunked is the final coding.
fn transfer_chunked(headers: &[httparse::Header]) -> Option<bool> {
    let mut last: Option<String> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        for part in String::from_utf8_lossy(h.value).split(',') {
            let p = part.trim();
            if !p.is_empty() {
                last = Some(p.to_ascii_lowercase());
            }
        }
        last.get_or_insert_with(String::new);
    }
    last.map(|l| l == "chunked")
}

fn request_head(req: &httparse::Request, keep: bool) -> Head {
    let headers = &*req.headers;
    let method = req.method.unwrap_or("").to_string();
    let uri = cap_string(req.path.unwrap_or("").to_string());
    if !target_ok(method.as_bytes(), uri.as_bytes()) {
        return Head::Bad(
            "http-bad-request",
            format!("request {method}: unusable request-target {uri:?}"),
        );
    }
    let te = transfer_chunked(headers);
    let cl = content_length(headers);
    let kind = match (te, cl) {
        (Some(true), _) => BodyKind::Chunked,
        (Some(false), _) => {
            return Head::Bad(
                "http-bad-transfer-encoding",
                format!("request {method} {uri}: Transfer-Encoding without final chunked"),
            );
        }
        (None, Some(Err(e))) => {
            return Head::Bad(
                "http-bad-content-length",
                format!("request {method} {uri}: {e}"),
            );
        }
        (None, Some(Ok(0))) | (None, None) => BodyKind::None,
        (None, Some(Ok(n))) => BodyKind::Length(n),
    };
    let host = get(headers, "host")
        .filter(|h| !h.is_empty())
        .or_else(|| authority_of(&uri));
    let tx = HttpTransaction {
        version: req.version.unwrap_or(1),
        host,
        referer: get(headers, "referer"),
        sec_fetch_dest: get(headers, "sec-fetch-dest"),
        sec_fetch_mode: get(headers, "sec-fetch-mode"),
        user_agent: get(headers, "user-agent"),
        request_headers: keep_headers(headers, keep),
        method,
        uri,
        ..HttpTransaction::default()
    };
    Head::Request(Box::new(tx), kind)
}

fn response_head(resp: &httparse::Response, keep: bool) -> Head {
    let headers = &*resp.headers;
    let status = resp.code.unwrap_or(0);
    let te = transfer_chunked(headers);
    let cl = content_length(headers);
    let mut weird = None;
    let (kind, content_length) = match (te, cl) {
        (Some(true), cl) => {
            if cl.is_some() {
                weird = Some((
                    "http-te-and-cl",
                    format!("{status} response has both Transfer-Encoding and Content-Length"),
                ));
            }
            (BodyKind::Chunked, cl.and_then(Result::ok))
        }
        (Some(false), cl) => (BodyKind::UntilClose, cl.and_then(Result::ok)),
        (None, Some(Ok(n))) => (BodyKind::Length(n), Some(n)),
        (None, Some(Err(e))) => {
            weird = Some(("http-bad-content-length", format!("{status} response: {e}")));
            (BodyKind::UntilClose, None)
        }
        (None, None) => (BodyKind::UntilClose, None),
    };
    let kind = if kind == BodyKind::Length(0) {
        BodyKind::None
    } else {
        kind
    };
    Head::Response(Box::new(Resp {
        status,
        reason: resp.reason.unwrap_or("").to_string(),
        content_length,
        chunked: kind == BodyKind::Chunked,
        kind,
        upgrade: get(headers, "upgrade"),
        location: get(headers, "location"),
        cache_control: get(headers, "cache-control"),
        connection: get(headers, "connection"),
        content_type: get(headers, "content-type"),
        headers: keep_headers(headers, keep),
        weird,
    }))
}

/// First value of a header (case-insensitive), trimmed, lossy UTF-8, capped.
fn get(headers: &[httparse::Header], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| cap_string(String::from_utf8_lossy(h.value).trim().to_string()))
}

fn header_value(kept: &[(String, String)], name: &str) -> Option<String> {
    kept.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn keep_headers(headers: &[httparse::Header], keep: bool) -> Vec<(String, String)> {
    if !keep {
        return Vec::new();
    }
    headers
        .iter()
        .take(MAX_KEPT_HEADERS)
        .map(|h| {
            (
                cap_string(h.name.to_string()),
                cap_string(String::from_utf8_lossy(h.value).into_owned()),
            )
        })
        .collect()
}

fn cap_string(mut s: String) -> String {
    if s.len() > MAX_KEPT_VALUE {
        let mut cut = MAX_KEPT_VALUE;
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `host[:port]` of an absolute-form URI (`http://host:port/path`).
fn authority_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    let auth = auth.rsplit('@').next()?;
    (!auth.is_empty()).then(|| auth.to_string())
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_method(m: &[u8]) -> bool {
    (1..=24).contains(&m.len())
        && m.iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
}

/// `(method, target, minor version)` of a request line `METHOD SP target SP HTTP/1.x`.
fn split_request_line(head: &[u8]) -> Option<(String, String, u8)> {
    let end = head.iter().position(|b| *b == b'\n')?;
    let line = trim_eol(head.get(..=end)?);
    let mut parts = line.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let (m, t, v) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_method(m) || v.len() != 8 || !v.starts_with(b"HTTP/1.") {
        return None;
    }
    let minor = match v.last() {
        Some(b'0') => 0,
        Some(b'1') => 1,
        _ => return None,
    };
    if t.iter().any(|b| b.is_ascii_control()) || !target_ok(m, t) {
        return None;
    }
    Some((
        String::from_utf8_lossy(m).into_owned(),
        cap_string(String::from_utf8_lossy(t).into_owned()),
        minor,
    ))
}

/// Request-target forms of RFC 9112 section 3.2: origin (`/p`), asterisk (`*`),
/// absolute (`http://h/p`), authority (`h:443`, CONNECT only). Rejecting anything else
/// keeps mid-message bytes (a capture starting inside a request) from parsing as one.
fn target_ok(method: &[u8], target: &[u8]) -> bool {
    match target.first() {
        Some(b'/') => true,
        Some(b'*') => target.len() == 1,
        Some(_) if method == b"CONNECT" => true,
        Some(_) => target.windows(3).any(|w| w == b"://"),
        None => false,
    }
}

/// Status code of a status line `HTTP/1.x SP 3DIGIT [SP reason]`.
fn parse_status_code(head: &[u8]) -> Option<u16> {
    let line = trim_eol(head.split(|b| *b == b'\n').next()?);
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let rest = rest.trim_ascii_start();
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|b| *b != b' ') {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// The first line of `head` is a plausible start line for `dir`.
fn start_line_ok(dir: Direction, head: &[u8]) -> bool {
    match dir {
        Direction::Orig => {
            head.starts_with(b"PRI * HTTP/2.0") || split_request_line(head).is_some()
        }
        Direction::Resp => parse_status_code(head).is_some(),
    }
}

/// Short printable rendering of bytes for weird details.
fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..80).unwrap_or(b)).into_owned()
}

/// Content detection for HTTP on non-standard ports: the stream starts with a method
/// token (uppercase letters, `-`, `_`; up to 24) followed by a space and, if present, a
/// visible character (`/`, `*`, or an absolute URI / authority).
pub fn looks_like_http_request(first_bytes: &[u8]) -> bool {
    let Some(sp) = first_bytes.iter().take(25).position(|b| *b == b' ') else {
        return false;
    };
    let method = first_bytes.get(..sp).unwrap_or(&[]);
    if !is_method(method) {
        return false;
    }
    match first_bytes.get(sp + 1) {
        None => true,
        Some(b) => b.is_ascii_graphic(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const O: Direction = Direction::Orig;
    const R: Direction = Direction::Resp;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn t(n: i64) -> Timestamp {
        Timestamp(n)
    }

    /// Feeds (direction, time, bytes) events (ready = first arrival) and finishes.
    fn run(events: &[(Direction, i64, &[u8])]) -> (Vec<HttpTransaction>, Vec<Weird>) {
        let mut c = Http1Conn::new();
        let mut out = Vec::new();
        let mut end = 0;
        for (d, ts, b) in events {
            c.data(*d, t(*ts), t(*ts), b);
            c.drain(&mut out);
            end = *ts;
        }
        c.finish(t(end + 1), &mut out);
        (out, c.weirds())
    }

    fn kinds(w: &[Weird]) -> Vec<&'static str> {
        w.iter().map(|w| w.kind).collect()
    }

    // secdev_scapy/test/pcaps/http2_h2c.pcap, frame 1 (curl GET with Upgrade: h2c).
    const H2C_REQ: &str = "474554202f726f626f74732e74787420485454502f312e310d0a486f73743a206e6768747470322e6f72670d0a557365722d4167656e743a206375726c2f372e36312e300d0a4163636570743a202a2f2a0d0a436f6e6e656374696f6e3a20557067726164652c2048545450322d53657474696e67730d0a557067726164653a206832630d0a48545450322d53657474696e67733a2041414d414141426b414152414141414141414941414141410d0a0d0a";
    // Same file, frame 2: "101 Switching Protocols" + the server's HTTP/2 SETTINGS frame.
    const H2C_101: &str = "485454502f312e312031303120537769746368696e672050726f746f636f6c730d0a436f6e6e656374696f6e3a20557067726164650d0a557067726164653a206832630d0a0d0a000012040000000000000300000064000400100000000100002000";
    // Same file, frame 3: the client's HTTP/2 connection preface.
    const H2_PREFACE: &str = "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a";

    #[test]
    fn h2c_upgrade_real_capture() {
        // tshark: GET nghttp2.org /robots.txt -> 101; frame times 1534095041.693796 / .293875
        let (req, resp, pre) = (hex(H2C_REQ), hex(H2C_101), hex(H2_PREFACE));
        let mut c = Http1Conn::new();
        c.data(
            O,
            t(1_534_095_041_693_796_000),
            t(1_534_095_041_693_796_000),
            &req,
        );
        c.data(
            R,
            t(1_534_095_042_293_875_000),
            t(1_534_095_042_293_875_000),
            &resp,
        );
        c.data(
            O,
            t(1_534_095_042_294_261_000),
            t(1_534_095_042_294_261_000),
            &pre,
        );
        assert_eq!(c.upgraded(), Some("h2c"));
        let mut out = Vec::new();
        c.drain(&mut out);
        assert_eq!(out.len(), 1);
        let x = &out[0];
        assert_eq!(
            (x.method.as_str(), x.uri.as_str(), x.version),
            ("GET", "/robots.txt", 1)
        );
        assert_eq!(x.host.as_deref(), Some("nghttp2.org"));
        assert_eq!(x.user_agent.as_deref(), Some("curl/7.61.0"));
        assert_eq!(x.status, Some(101));
        assert_eq!(x.reason.as_deref(), Some("Switching Protocols"));
        assert_eq!(x.upgrade.as_deref(), Some("h2c"));
        assert_eq!(x.connection.as_deref(), Some("Upgrade"));
        assert_eq!(x.req_header_bytes, 178);
        // 98-byte segment = 71-byte head + 27-byte HTTP/2 SETTINGS frame (not HTTP/1).
        assert_eq!((x.resp_header_bytes, x.resp_body_bytes), (71, 0));
        assert_eq!(x.req_first_ts, t(1_534_095_041_693_796_000));
        assert_eq!(x.req_last_ts, t(1_534_095_041_693_796_000));
        assert_eq!(x.resp_first_ts, Some(t(1_534_095_042_293_875_000)));
        assert_eq!(x.resp_last_ts, Some(t(1_534_095_042_293_875_000)));
        assert_eq!(x.request_headers.len(), 6);
        assert_eq!(x.request_headers[5].0, "HTTP2-Settings");
        c.finish(t(1_534_095_043_000_000_000), &mut out);
        assert_eq!(out.len(), 1);
        assert!(c.weirds().is_empty());
    }

    #[test]
    fn h2c_prior_knowledge_preface() {
        let (txs, w) = run(&[(O, 1, &hex(H2_PREFACE)), (O, 2, b"\x00\x00\x00\x04\x00")]);
        assert!(txs.is_empty());
        assert!(w.is_empty());
        let mut c = Http1Conn::new();
        c.data(O, t(1), t(1), &hex(H2_PREFACE));
        assert_eq!(c.upgraded(), Some("h2c"));
    }

    // FoxIO-LLC_ja4/pcap/http1.pcapng frames 12 and 13: HEAD /generate_204 -> 204 with
    // "Content-Length: 0" (tshark: HEAD connectivitycheck.gstatic.com /generate_204 204).
    const JA4_HEAD: &str = "48454144202f67656e65726174655f32303420485454502f312e310d0a486f73743a20636f6e6e6563746976697479636865636b2e677374617469632e636f6d0d0a436f6e6e656374696f6e3a206b6565702d616c6976650d0a557365722d4167656e743a204d6f7a696c6c612f352e3020284c696e75783b20416e64726f69642031312e303b204275696c642f525131412e3231303130352e30303329204170706c655765624b69742f3533372e333620284b48544d4c2c206c696b65204765636b6f29204368726f6d652f39322e302e343531352e313539205361666172692f3533372e33362043724b65792f312e35362e35303030303020446576696365547970652f416e64726f696454560d0a4163636570742d456e636f64696e673a20677a69702c206465666c6174650d0a4163636570742d4c616e67756167653a20656e2d55530d0a0d0a";
    const JA4_204: &str = "485454502f312e3120323034204e6f20436f6e74656e740d0a436f6e74656e742d4c656e6774683a20300d0a43726f73732d4f726967696e2d5265736f757263652d506f6c6963793a2063726f73732d6f726967696e0d0a446174653a205765642c203037204a756e20323032332031363a34333a353620474d540d0a0d0a";

    #[test]
    fn head_204_real_capture() {
        let (txs, w) = run(&[
            (O, 1_686_156_236_978_209_000, &hex(JA4_HEAD)),
            (R, 1_686_156_236_982_333_000, &hex(JA4_204)),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(txs.len(), 1);
        let x = &txs[0];
        assert_eq!(x.method, "HEAD");
        assert_eq!(x.host.as_deref(), Some("connectivitycheck.gstatic.com"));
        assert_eq!(x.uri, "/generate_204");
        assert_eq!(x.status, Some(204));
        assert_eq!(x.content_length, Some(0));
        assert_eq!((x.req_header_bytes, x.resp_header_bytes), (331, 127));
        assert_eq!(x.resp_body_bytes, 0);
        assert_eq!(x.connection, None);
        assert!(
            x.user_agent
                .as_deref()
                .unwrap()
                .starts_with("Mozilla/5.0 (Linux; Android 11.0")
        );
        assert_eq!(x.resp_headers_ts, Some(t(1_686_156_236_982_333_000)));
        assert!(!x.incomplete);
    }

    #[test]
    fn head_with_content_length_has_no_body() {
        let (txs, w) = run(&[
            (
                O,
                1,
                b"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
            (R, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
            (R, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<_> = txs
            .iter()
            .map(|x| {
                (
                    x.uri.as_str(),
                    x.status,
                    x.content_length,
                    x.resp_body_bytes,
                    x.resp_last_ts,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/big", Some(200), Some(5000), 0, Some(t(2))),
                ("/x", Some(200), Some(3), 3, Some(t(3)))
            ]
        );
    }

    // seladb_PcapPlusPlus/Tests/Pcap++Test/PcapExamples/example2.pcap frame 1176
    // (tcp.stream 58, answer to frame 1112): chunked, one 2-byte chunk "\r\n" then "0".
    const EX2_CHUNKED: &str = "485454502f312e3120323030204f4b0d0a5365727665723a206e67696e780d0a446174653a205361742c203033204a616e20323031352031333a30353a353220474d540d0a436f6e74656e742d547970653a20746578742f68746d6c0d0a5472616e736665722d456e636f64696e673a206368756e6b65640d0a436f6e6e656374696f6e3a206b6565702d616c6976650d0a582d506f77657265642d42793a205048502f352e332e31390d0a4163636573732d436f6e74726f6c2d416c6c6f772d4f726967696e3a202a0d0a4163636573732d436f6e74726f6c2d416c6c6f772d486561646572733a20582d5265717565737465642d576974680d0a0d0a320d0a0d0a0d0a300d0a0d0a";

    /// Response fields that must not depend on how the bytes were split.
    fn resp_key(x: &HttpTransaction) -> (Option<u16>, u64, u64, u64, bool, bool) {
        (
            x.status,
            x.resp_header_bytes,
            x.resp_body_bytes,
            x.resp_content_bytes,
            x.chunked,
            x.incomplete,
        )
    }

    #[test]
    fn chunked_real_capture_split_at_every_byte() {
        let resp = hex(EX2_CHUNKED);
        assert_eq!(resp.len(), 266); // tcp.len of frame 1176
        let req = b"GET /uia HTTP/1.1\r\nHost: px.dynamicyield.com\r\n\r\n";
        // 254-byte head, 12-byte body "2\r\n" "\r\n" "\r\n" "0\r\n" "\r\n" with 2 content bytes.
        let want = (Some(200), 254, 12, 2, true, false);
        let (txs, w) = run(&[(O, 1, req), (R, 2, &resp)]);
        assert!(w.is_empty());
        assert_eq!(resp_key(&txs[0]), want);
        assert_eq!(txs[0].content_type.as_deref(), Some("text/html"));
        for cut in 1..resp.len() {
            let (a, b) = resp.split_at(cut);
            let (txs, w) = run(&[(O, 1, req), (R, 2, a), (R, 3, b)]);
            assert!(w.is_empty(), "cut {cut}: {w:?}");
            assert_eq!(txs.len(), 1, "cut {cut}");
            assert_eq!(resp_key(&txs[0]), want, "cut {cut}");
            let x = &txs[0];
            // The head ends at byte 254: its time is the chunk that completed it.
            let head_ts = if cut >= 254 { t(2) } else { t(3) };
            assert_eq!(x.resp_headers_ts, Some(head_ts), "cut {cut}");
            assert_eq!(x.resp_last_ts, Some(t(3)), "cut {cut}");
            assert_eq!(x.resp_first_ts, Some(t(2)), "cut {cut}");
        }
    }

    #[test]
    fn chunked_extensions_trailers_split_everywhere() {
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            1a;name=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n\
            A \r\n0123456789\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
        let next: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
        let mut all = resp.to_vec();
        all.extend_from_slice(next);
        let req: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        let (whole, w) = run(&[(O, 1, req), (R, 2, &all)]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].resp_content_bytes, 36);
        assert_eq!(whole[0].resp_body_bytes, (resp.len() - 53) as u64);
        assert_eq!(whole[1].status, Some(404));
        assert_eq!(whole[1].resp_body_bytes, 2);
        for cut in 1..all.len() {
            let (a, b) = all.split_at(cut);
            let (txs, w) = run(&[(O, 1, req), (R, 2, a), (R, 2, b)]);
            assert!(w.is_empty(), "cut {cut}: {w:?}");
            assert_eq!(txs, whole, "cut {cut}");
        }
        // One byte at a time.
        let mut ev: Vec<(Direction, i64, &[u8])> = vec![(O, 1, req)];
        ev.extend(all.chunks(1).map(|c| (R, 2, c)));
        assert_eq!(run(&ev).0, whole);
    }

    // example2.pcap frames 413 / 575 (tcp.stream 15): conditional GET answered 304.
    const EX2_COND_GET: &str = "474554202f646d702f6578706f7365626f782d63617465676f726965732d63616368652e6a733f633d313720485454502f312e310d0a486f73743a2073662e6578706f7365626f782e636f6d0d0a557365722d4167656e743a204d6f7a696c6c612f352e30202857696e646f7773204e5420362e313b2072763a33342e3029204765636b6f2f32303130303130312046697265666f782f33342e300d0a4163636570743a202a2f2a0d0a4163636570742d4c616e67756167653a20656e2d55532c656e3b713d302e350d0a4163636570742d456e636f64696e673a20677a69702c206465666c6174650d0a444e543a20310d0a526566657265723a20687474703a2f2f7777772e796e65742e636f2e696c2f686f6d652f302c373334302c4c2d382c30302e68746d6c0d0a436f6e6e656374696f6e3a206b6565702d616c6976650d0a49662d4d6f6469666965642d53696e63653a204d6f6e2c203137204e6f7620323031342031343a34313a313720474d540d0a49662d4e6f6e652d4d617463683a2030783844314430384241453446433744390d0a0d0a";
    const EX2_304: &str = "485454502f312e31203330342054686520636f6e646974696f6e20737065636966696564207573696e67204854545020636f6e646974696f6e616c20686561646572287329206973206e6f74206d65742e0d0a436f6e74656e742d4c656e6774683a20300d0a5365727665723a2057696e646f77732d417a7572652d426c6f622f312e30204d6963726f736f66742d485454504150492f322e300d0a782d6d732d726571756573742d69643a2031656262313533392d303030312d303030322d333335662d3765656138333030303030300d0a782d6d732d76657273696f6e3a20323030392d30392d31390d0a446174653a205361742c203033204a616e20323031352031333a30353a343820474d540d0a0d0a";

    #[test]
    fn not_modified_real_capture_and_304_never_has_body() {
        let (txs, w) = run(&[
            (O, 1_420_290_298_286_411_000, &hex(EX2_COND_GET)),
            (R, 1_420_290_298_433_047_000, &hex(EX2_304)),
        ]);
        assert!(w.is_empty());
        let x = &txs[0];
        assert_eq!(x.host.as_deref(), Some("sf.exposebox.com"));
        assert_eq!(x.uri, "/dmp/exposebox-categories-cache.js?c=17");
        assert_eq!(x.status, Some(304));
        assert_eq!(
            x.referer.as_deref(),
            Some("http://www.ynet.co.il/home/0,7340,L-8,00.html")
        );
        assert_eq!(x.connection, None);
        assert_eq!(
            (x.req_header_bytes, x.resp_header_bytes, x.resp_body_bytes),
            (409, 276, 0)
        );
        assert_eq!(x.resp_first_ts.unwrap().ms_since(x.req_last_ts), 146.636);

        // A 304 (and a 204) with a non-zero Content-Length still has no body.
        let (txs, w) = run(&[
            (O, 1, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
            (R, 2, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nCache-Control: max-age=60\r\n\r\n"),
            (R, 3, b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
            (R, 4, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nZ"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<_> = txs.iter().map(|x| (x.status, x.resp_body_bytes)).collect();
        assert_eq!(got, [(Some(304), 0), (Some(204), 0), (Some(200), 1)]);
        assert_eq!(txs[0].cache_control.as_deref(), Some("max-age=60"));
    }

    #[test]
    fn expect_100_continue() {
        let (txs, w) = run(&[
            (O, 10, b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n"),
            (R, 20, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (O, 30, b"abc"),
            (O, 40, b"def"),
            (R, 50, b"HTTP/1.1 201 Created\r\nLocation: /up/1\r\nContent-Length: 0\r\n\r\n"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        let x = &txs[0];
        assert_eq!(x.interim, [100]);
        assert_eq!(x.interim_first_ts, Some(t(20)));
        assert_eq!(x.status, Some(201));
        assert_eq!(x.location.as_deref(), Some("/up/1"));
        assert_eq!((x.req_first_ts, x.req_last_ts), (t(10), t(40)));
        assert_eq!(x.req_body_bytes, 6);
        assert_eq!(
            (x.resp_first_ts, x.resp_last_ts),
            (Some(t(50)), Some(t(50)))
        );
        // 25-byte interim head + 60-byte final head.
        assert_eq!(x.resp_header_bytes, 25 + 60);
    }

    #[test]
    fn close_delimited_response() {
        let mut c = Http1Conn::new();
        c.data(O, t(1), t(1), b"GET / HTTP/1.0\r\n\r\n");
        c.data(
            R,
            t(2),
            t(2),
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ",
        );
        c.data(R, t(3), t(4), b"world");
        let mut out = Vec::new();
        c.drain(&mut out);
        assert!(out.is_empty(), "not complete before the close");
        c.close(R, t(9));
        c.drain(&mut out);
        assert_eq!(out.len(), 1);
        let x = &out[0];
        assert_eq!(x.version, 0);
        assert_eq!(x.resp_body_bytes, 11);
        assert_eq!(x.resp_headers_ts, Some(t(2)));
        // Last byte time = ready time of the chunk holding it, not the FIN time.
        assert_eq!(x.resp_last_ts, Some(t(4)));
        assert!(!x.incomplete);
        assert!(c.weirds().is_empty());
    }

    #[test]
    fn close_delimited_completed_by_finish() {
        let (txs, w) = run(&[
            (O, 1, b"GET / HTTP/1.1\r\n\r\n"),
            (R, 2, b"HTTP/1.1 200 OK\r\n\r\nabc"),
        ]);
        assert!(w.is_empty());
        assert_eq!(
            (txs[0].resp_body_bytes, txs[0].resp_last_ts),
            (3, Some(t(2)))
        );
    }

    #[test]
    fn pipelined_requests_pair_in_order_with_first_and_ready_times() {
        let mut c = Http1Conn::new();
        c.data(
            O,
            t(1),
            t(1),
            b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHo",
        );
        c.data(O, t(2), t(5), b"st: h\r\nReferer: http://h/1\r\nSec-Fetch-Dest: image\r\nSec-Fetch-Mode: no-cors\r\n\r\n");
        c.data(
            R,
            t(6),
            t(6),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 302 Found\r\nLocation: /3\r\n",
        );
        c.data(R, t(7), t(8), b"Content-Length: 0\r\n\r\n");
        let mut out = Vec::new();
        c.drain(&mut out);
        assert!(c.weirds().is_empty());
        let u: Vec<_> = out.iter().map(|x| (x.uri.as_str(), x.status)).collect();
        assert_eq!(u, [("/1", Some(200)), ("/2", Some(302))]);
        let b = &out[1];
        assert_eq!(
            (b.req_first_ts, b.req_first_seen_ts, b.req_last_ts),
            (t(1), t(1), t(5))
        );
        assert_eq!(
            (b.resp_first_ts, b.resp_first_seen_ts),
            (Some(t(6)), Some(t(6)))
        );
        assert_eq!(
            (b.resp_headers_ts, b.resp_last_ts),
            (Some(t(8)), Some(t(8)))
        );
        assert_eq!(b.referer.as_deref(), Some("http://h/1"));
        assert_eq!(b.sec_fetch_dest.as_deref(), Some("image"));
        assert_eq!(b.sec_fetch_mode.as_deref(), Some("no-cors"));
        assert_eq!(b.location.as_deref(), Some("/3"));
    }

    #[test]
    fn request_chunked_body_and_finish_without_response() {
        let (txs, w) = run(&[(O, 1, b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /q HTTP/1.1\r\n\r\n")]);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<_> = txs
            .iter()
            .map(|x| (x.uri.as_str(), x.req_body_bytes, x.status))
            .collect();
        assert_eq!(got, [("/p", 13, None), ("/q", 0, None)]);
    }

    #[test]
    fn unmatched_response_is_weird_and_ignored() {
        let (txs, w) = run(&[
            (
                R,
                1,
                b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 2\r\n\r\nxx",
            ),
            (O, 2, b"GET / HTTP/1.1\r\n\r\n"),
            (R, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ]);
        assert_eq!(kinds(&w), ["http-unmatched-response"]);
        assert_eq!(w[0].ts, t(1));
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0].status, Some(200));
    }

    #[test]
    fn gap_inside_known_length_body_is_accounted() {
        let mut c = Http1Conn::new();
        c.data(O, t(1), t(1), b"GET / HTTP/1.1\r\n\r\n");
        c.data(
            R,
            t(2),
            t(2),
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
        );
        c.gap(R, 5, t(3));
        c.data(R, t(4), t(4), b"cde");
        c.data(R, t(5), t(5), b"HTTP/1.1 200 OK\r\n\r\n"); // unmatched, fine
        let mut out = Vec::new();
        c.drain(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resp_body_bytes, 10);
        assert!(out[0].incomplete);
        assert_eq!(out[0].resp_last_ts, Some(t(4)));
        assert_eq!(kinds(&c.weirds()), ["http-unmatched-response"]);
    }

    #[test]
    fn gap_in_headers_desyncs_then_resyncs() {
        let mut c = Http1Conn::new();
        c.data(
            O,
            t(1),
            t(1),
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        );
        c.data(R, t(2), t(2), b"HTTP/1.1 200 OK\r\nCont");
        c.gap(R, 100, t(3));
        c.data(
            R,
            t(4),
            t(4),
            b"ody tail\r\nmore\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx",
        );
        let mut out = Vec::new();
        c.finish(t(9), &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|x| (x.uri.as_str(), x.status, x.incomplete))
            .collect();
        assert_eq!(got, [("/a", Some(200), true), ("/b", Some(404), false)]);
        assert_eq!(out[1].resp_first_ts, Some(t(4)));
        assert_eq!(kinds(&c.weirds()), ["http-gap-desync", "http-resync"]);
    }

    #[test]
    fn lost_request_head_keeps_pairing_when_start_line_was_seen() {
        let mut c = Http1Conn::new();
        c.data(O, t(1), t(1), b"GET /a HTTP/1.1\r\nHost: h\r\nUser-Ag");
        c.gap(O, 50, t(2));
        c.data(O, t(3), t(3), b"GET /b HTTP/1.1\r\n\r\n");
        c.data(R, t(4), t(4), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n");
        let mut out = Vec::new();
        c.drain(&mut out);
        let got: Vec<_> = out
            .iter()
            .map(|x| (x.uri.as_str(), x.status, x.incomplete))
            .collect();
        assert_eq!(got, [("/a", Some(200), true), ("/b", Some(201), false)]);
    }

    #[test]
    fn bad_chunk_size_desyncs_and_resyncs() {
        let (txs, w) = run(&[
            (O, 1, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
            (
                R,
                2,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\njunk\r\n",
            ),
            (R, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ]);
        assert_eq!(kinds(&w), ["http-bad-chunk-size", "http-resync"]);
        let got: Vec<_> = txs
            .iter()
            .map(|x| (x.uri.as_str(), x.status, x.incomplete))
            .collect();
        assert_eq!(got, [("/a", Some(200), true), ("/b", Some(200), false)]);
    }

    #[test]
    fn websocket_and_connect_switch_protocols() {
        let mut c = Http1Conn::new();
        c.data(
            O,
            t(1),
            t(1),
            b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        c.data(R, t(2), t(2), b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello");
        c.data(O, t(3), t(3), b"\x81\x85garbage that is not HTTP\r\n\r\n");
        assert_eq!(c.upgraded(), Some("websocket"));
        let mut out = Vec::new();
        c.finish(t(4), &mut out);
        assert_eq!(out[0].upgrade.as_deref(), Some("websocket"));
        assert!(c.weirds().is_empty());

        let mut c = Http1Conn::new();
        c.data(
            O,
            t(1),
            t(1),
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        );
        c.data(
            R,
            t(2),
            t(2),
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
        );
        c.data(O, t(3), t(3), b"\x16\x03\x01\x02\x00");
        assert_eq!(c.upgraded(), Some("connect"));
        let mut out = Vec::new();
        c.finish(t(4), &mut out);
        assert_eq!((out[0].status, out[0].resp_body_bytes), (Some(200), 0));
        assert!(c.weirds().is_empty());
    }

    #[test]
    fn upgrade_refused_keeps_parsing() {
        let (txs, w) = run(&[
            (O, 1, b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"),
            (R, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n."),
            (O, 3, b"GET /2 HTTP/1.1\r\n\r\n"),
            (R, 4, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ]);
        assert!(w.is_empty());
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].upgrade, None);
    }

    #[test]
    fn caps_are_enforced_and_reported() {
        // Pending cap: 300 requests, no response.
        let mut c = Http1Conn::new();
        let mut out = Vec::new();
        for i in 0..300 {
            c.data(
                O,
                t(i),
                t(i),
                format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes(),
            );
        }
        c.drain(&mut out);
        assert_eq!(out.len(), 300 - MAX_PENDING);
        assert!(out.iter().all(|x| x.status.is_none()));
        let w = c.weirds();
        assert_eq!(w.len(), 300 - MAX_PENDING);
        assert!(w.iter().all(|w| w.kind == "http-pending-cap"));
        c.finish(t(1000), &mut out);
        assert_eq!(out.len(), 300);
        assert_eq!(out[299].uri, "/299");

        // Head cap: a never-ending header line, then a real request.
        let mut c = Http1Conn::new();
        c.data(O, t(1), t(1), b"GET /long HTTP/1.1\r\nX: ");
        let filler = vec![b'a'; 10_000];
        for i in 0..8 {
            c.data(O, t(2 + i), t(2 + i), &filler);
        }
        c.data(O, t(20), t(20), b"\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
        c.data(R, t(21), t(21), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let mut out = Vec::new();
        c.finish(t(30), &mut out);
        assert_eq!(kinds(&c.weirds()), ["http-header-too-long", "http-resync"]);
        let got: Vec<_> = out
            .iter()
            .map(|x| (x.uri.as_str(), x.status, x.incomplete))
            .collect();
        assert_eq!(got, [("/long", Some(200), true), ("/ok", Some(200), false)]);
        assert_eq!(out[0].req_header_bytes, MAX_HEADER_BYTES as u64);

        // Weird cap.
        let mut c = Http1Conn::new();
        for i in 0..(MAX_WEIRDS as i64 + 10) {
            c.data(R, t(i), t(i), b"HTTP/1.1 200 OK\r\n\r\n");
            c.close(R, t(i));
        }
        let w = c.weirds();
        assert_eq!(w.len(), MAX_WEIRDS + 1);
        assert_eq!(w[MAX_WEIRDS].kind, "http-weird-cap");
        assert!(w[MAX_WEIRDS].detail.starts_with("10 more"));
    }

    #[test]
    fn bad_heads_are_weird() {
        let (txs, w) = run(&[(O, 1, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n")]);
        assert!(txs.is_empty());
        assert_eq!(kinds(&w), ["http-bad-request"]);
        let (txs, w) = run(&[
            (
                O,
                1,
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            ),
            (R, 2, b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"),
        ]);
        assert_eq!(kinds(&w), ["http-bad-content-length"]);
        // The request line was valid, so the 400 still pairs with it.
        assert_eq!((txs[0].method.as_str(), txs[0].status), ("POST", Some(400)));
        let (_, w) = run(&[
            (O, 1, b"GET / HTTP/1.1\r\n\r\n"),
            (R, 2, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
        ]);
        assert_eq!(kinds(&w), ["http-te-and-cl"]);
        let (_, w) = run(&[
            (O, 1, b"GET / HTTP/1.1\r\n\r\n"),
            (R, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
        ]);
        assert_eq!(kinds(&w), ["http-truncated"]);
    }

    #[test]
    fn absolute_uri_host_fallback_and_caps_on_values() {
        let long = "v".repeat(MAX_KEPT_VALUE + 10);
        let req = format!("GET http://proxy.example:8080/x?y HTTP/1.1\r\nReferer: {long}\r\n\r\n");
        let (txs, _) = run(&[(O, 1, req.as_bytes())]);
        assert_eq!(txs[0].host.as_deref(), Some("proxy.example:8080"));
        assert_eq!(
            txs[0].referer.as_ref().map(String::len),
            Some(MAX_KEPT_VALUE)
        );
    }

    #[test]
    fn content_detection() {
        assert!(looks_like_http_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http_request(b"OPTIONS * HTTP/1.1"));
        assert!(looks_like_http_request(b"M-SEARCH * HTTP/1.1"));
        assert!(looks_like_http_request(b"PRI * HTTP/2.0"));
        assert!(looks_like_http_request(b"POST "));
        assert!(!looks_like_http_request(b"get / HTTP/1.1"));
        assert!(!looks_like_http_request(b"\x16\x03\x01\x02\x00"));
        assert!(!looks_like_http_request(b"GET"));
        assert!(!looks_like_http_request(b"GET  /"));
        assert!(!looks_like_http_request(b""));
        assert!(!looks_like_http_request(b"SSH-2.0-OpenSSH_9.6\r\n"));
        // Request-target sanity (not part of detection, but of parsing).
        assert!(target_ok(b"GET", b"/x") && target_ok(b"OPTIONS", b"*"));
        assert!(target_ok(b"GET", b"http://h/") && target_ok(b"CONNECT", b"h:443"));
        assert!(
            !target_ok(b"T", b"3.tlu.dl.delivery.mp.microsoft.com/f") && !target_ok(b"GET", b"*x")
        );
    }

    #[test]
    fn keepalive_nul_before_request_is_skipped() {
        // example2.pcap tcp.stream 1: capture starts with a keep-alive byte 0x00.
        let (txs, w) = run(&[(
            O,
            1,
            b"\x00GET /ping HTTP/1.1\r\nHost: ping.chartbeat.net\r\n\r\n",
        )]);
        assert!(w.is_empty());
        assert_eq!(txs[0].uri, "/ping");
    }

    /// A transcript used by the property tests: pipelined requests (one with a chunked
    /// body), a 100, chunked / length / HEAD / 304 responses, then a close-delimited one.
    fn transcript() -> (Vec<u8>, Vec<u8>) {
        let orig = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
            4\r\nwxyz\r\n0\r\n\r\n\
            HEAD /c HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\n\r\nGET /e HTTP/1.0\r\n\r\n"
            .to_vec();
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n\
            HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nabcd\
            HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
            HTTP/1.1 304 Not Modified\r\n\r\n\
            HTTP/1.0 200 OK\r\n\r\ntail of a close-delimited body"
            .to_vec();
        (orig, resp)
    }

    fn feed_split(orig: &[u8], resp: &[u8], cuts: &[usize]) -> (Vec<HttpTransaction>, Vec<Weird>) {
        let mut c = Http1Conn::new();
        let mut out = Vec::new();
        for (dir, bytes) in [(O, orig), (R, resp)] {
            let mut start = 0;
            for cut in cuts
                .iter()
                .map(|c| c % (bytes.len() + 1))
                .chain([bytes.len()])
            {
                if cut > start {
                    c.data(dir, t(1), t(1), &bytes[start..cut]);
                    start = cut;
                }
            }
        }
        c.close(R, t(2));
        c.finish(t(3), &mut out);
        (out, c.weirds())
    }

    #[test]
    fn transcript_whole() {
        let (o, r) = transcript();
        let (txs, w) = feed_split(&o, &r, &[]);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<_> = txs
            .iter()
            .map(|x| {
                (
                    x.method.as_str(),
                    x.uri.as_str(),
                    x.status,
                    x.resp_content_bytes,
                    x.req_body_bytes,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("GET", "/a", Some(200), 5, 0),
                ("POST", "/b", Some(201), 4, 14),
                ("HEAD", "/c", Some(200), 0, 0),
                ("GET", "/d", Some(304), 0, 0),
                ("GET", "/e", Some(200), 30, 0),
            ]
        );
        assert_eq!(txs[1].interim, [100]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any split of the two streams gives the same transactions as one chunk each.
        #[test]
        fn split_invariance(cuts in proptest::collection::vec(0usize..400, 0..40)) {
            let (o, r) = transcript();
            let mut sorted = cuts.clone();
            sorted.sort_unstable();
            let whole = feed_split(&o, &r, &[]);
            prop_assert_eq!(feed_split(&o, &r, &sorted), whole);
        }

        /// Arbitrary bytes, gaps and closes never panic and stay within caps.
        #[test]
        fn never_panics(ops in proptest::collection::vec(
            (0u8..4, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64), 0u64..2000), 0..60)) {
            let mut c = Http1Conn::new();
            let mut out = Vec::new();
            let pieces: [&[u8]; 6] = [b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", b"Transfer-Encoding: chunked\r\n",
                b"Content-Length: 3\r\n", b"\r\n", b"ffffffffffffffffff\r\n"];
            for (i, (op, orig, bytes, n)) in ops.into_iter().enumerate() {
                let dir = if orig { O } else { R };
                let ts = t(i as i64);
                match op {
                    0 => c.data(dir, ts, ts, &bytes),
                    1 => c.data(dir, ts, ts, pieces[(n % 6) as usize]),
                    2 => c.gap(dir, n, ts),
                    _ => c.close(dir, ts),
                }
                c.drain(&mut out);
                prop_assert!(c.txs.len() <= MAX_PENDING);
                prop_assert!(c.sides.iter().all(|s| s.hbuf.len() <= MAX_HEADER_BYTES));
            }
            c.finish(t(1000), &mut out);
            prop_assert!(c.weirds().len() <= MAX_WEIRDS + 1);
        }
    }
}

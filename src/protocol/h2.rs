//! HTTP/2 (RFC 9113) over decrypted TLS (ALPN `h2`) or cleartext `h2c` (prior knowledge,
//! or after an HTTP/1.1 `Upgrade: h2c`): frames → streams → one request row per stream.
//!
//! Owns: the per-direction frame parser (client preface, 9-byte frame headers, padding,
//! priority, HEADERS/PUSH_PROMISE + CONTINUATION assembly), HPACK header decoding (the
//! maintained `loona-hpack` crate, one decoder per direction, table limit from
//! SETTINGS_HEADER_TABLE_SIZE), and the stream table with the capture times of each
//! stream's HEADERS, DATA and END_STREAM.
//!
//! Input is in-order bytes per direction, each chunk stamped with the capture time at which
//! it became readable (for TLS: when the record holding it completed). A frame's start time
//! is the chunk holding the first byte of its 9-byte header, its end time the chunk holding
//! its last byte. DATA payloads are never buffered, only counted.
//!
//! Imports only `crate::base`, std and crates; never another protocol module.

use std::collections::BTreeMap;

use loona_hpack::Decoder;

use crate::base::{Direction, Timestamp, Weird};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Default SETTINGS_MAX_FRAME_SIZE; a frame longer than the receiver's advertised value
/// (this, until its SETTINGS say otherwise) means desync: weird, stop that direction.
const DEFAULT_MAX_FRAME: u32 = 16_384;
/// Largest value SETTINGS_MAX_FRAME_SIZE may take (2^24 - 1, the 16 MiB frame length field).
const MAX_FRAME_CAP: u32 = (1 << 24) - 1;
/// Cap on one assembled header block (HEADERS/PUSH_PROMISE + CONTINUATIONs). Beyond it the
/// block is dropped (weird) and that direction's HPACK state is lost.
const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Cap on the buffered payload of a control frame (SETTINGS, GOAWAY, ...); the rest is
/// skipped (only a GOAWAY's debug data can be that long in practice).
const MAX_CONTROL_PAYLOAD: usize = 16 * 1024;
/// Cap on the HPACK dynamic table a peer may ask for with SETTINGS_HEADER_TABLE_SIZE.
const MAX_HPACK_TABLE: usize = 256 * 1024;
/// Cap on concurrently open streams per connection; new streams beyond it are ignored.
const MAX_OPEN_STREAMS: usize = 1000;
/// Cap on completed streams waiting for `drain`; beyond it completed streams are dropped.
const MAX_DONE_STREAMS: usize = 4096;
/// Cap on headers kept per stream and direction (pseudo-headers are not counted).
const MAX_HEADERS: usize = 64;
/// Cap on the length of one kept header name or value (longer ones are truncated).
const MAX_HEADER_LEN: usize = 8 * 1024;
/// Cap on weird records kept per connection; one final `h2-too-many-weirds` marks the cut.
const MAX_WEIRDS: usize = 64;

const T_DATA: u8 = 0x0;
const T_HEADERS: u8 = 0x1;
const T_RST_STREAM: u8 = 0x3;
const T_SETTINGS: u8 = 0x4;
const T_PUSH_PROMISE: u8 = 0x5;
const T_GOAWAY: u8 = 0x7;
const T_CONTINUATION: u8 = 0x9;

const F_END_STREAM: u8 = 0x1;
const F_ACK: u8 = 0x1;
const F_END_HEADERS: u8 = 0x4;
const F_PADDED: u8 = 0x8;
const F_PRIORITY: u8 = 0x20;

const S_HEADER_TABLE_SIZE: u16 = 0x1;
const S_MAX_FRAME_SIZE: u16 = 0x5;

/// One HTTP/2 stream: a request and its response, with the capture times that give
/// send / wait / receive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct H2Stream {
    pub stream_id: u32,
    pub method: Option<String>,
    pub scheme: Option<String>,
    /// `:authority`, or the `host` header when there is no `:authority`.
    pub authority: Option<String>,
    pub path: Option<String>,
    /// `:status` of the final (non-1xx) response.
    pub status: Option<u16>,
    /// Regular request headers in order (pseudo-headers are in the fields above); capped.
    pub request_headers: Vec<(String, String)>,
    /// Regular headers of the final response in order; capped.
    pub response_headers: Vec<(String, String)>,
    /// First HEADERS frame of the request (chunk holding its first header byte); for a
    /// pushed stream, the PUSH_PROMISE frame.
    pub req_headers_ts: Option<Timestamp>,
    /// END_STREAM from the client (chunk holding the last request byte); for a pushed
    /// stream, the end of the PUSH_PROMISE block.
    pub req_end_ts: Option<Timestamp>,
    /// First HEADERS frame of the final response (its first byte): the first response byte.
    pub resp_headers_ts: Option<Timestamp>,
    /// First 1xx informational HEADERS frame (its first byte), if any.
    pub informational_ts: Option<Timestamp>,
    /// END_STREAM from the server (chunk holding the last response byte).
    pub resp_end_ts: Option<Timestamp>,
    /// HEADERS + CONTINUATION + DATA frame bytes (9-byte headers included) from the client.
    pub request_bytes: u64,
    /// HEADERS + CONTINUATION + DATA (+ PUSH_PROMISE sent on it) frame bytes from the server.
    pub response_bytes: u64,
    /// RST_STREAM error code (from either side).
    pub reset: Option<u32>,
    /// Stream opened by the server with PUSH_PROMISE.
    pub pushed: bool,
    pub referer: Option<String>,
    pub sec_fetch_dest: Option<String>,
    pub sec_fetch_mode: Option<String>,
    pub location: Option<String>,
}

/// A stream still open, with which sides have ended.
#[derive(Debug)]
struct OpenStream {
    s: H2Stream,
    orig_done: bool,
    resp_done: bool,
}

/// What an assembled header block is for.
#[derive(Clone, Copy, Debug)]
enum BlockKind {
    Headers { end_stream: bool },
    Push { promised: u32 },
}

/// A header block being assembled from HEADERS/PUSH_PROMISE and CONTINUATION frames.
#[derive(Debug)]
struct Block {
    stream_id: u32,
    kind: BlockKind,
    start_ts: Timestamp,
    frame_bytes: u64,
    buf: Vec<u8>,
    overflow: bool,
}

/// Where the parser of one direction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Matching the client preface; the number of bytes matched so far.
    Preface(usize),
    Header,
    Payload,
    /// Stopped after a gap or a desync.
    Dead,
}

/// A parsed 9-byte frame header.
#[derive(Clone, Copy, Debug, Default)]
struct FrameHead {
    len: u32,
    typ: u8,
    flags: u8,
    stream_id: u32,
    start_ts: Timestamp,
}

/// Parser state of one direction.
struct Side {
    phase: Phase,
    head_buf: [u8; 9],
    head_len: usize,
    head_ts: Timestamp,
    frame: FrameHead,
    remaining: u32,
    payload: Vec<u8>,
    payload_cap: usize,
    block: Option<Block>,
    /// Decodes the header blocks this side sends.
    decoder: Decoder<'static>,
    hpack_ok: bool,
    /// SETTINGS_MAX_FRAME_SIZE advertised by the other side (limit on frames this side sends).
    max_frame: u32,
}

impl Side {
    fn new(phase: Phase) -> Self {
        Side {
            phase,
            head_buf: [0; 9],
            head_len: 0,
            head_ts: Timestamp::default(),
            frame: FrameHead::default(),
            remaining: 0,
            payload: Vec::new(),
            payload_cap: 0,
            block: None,
            decoder: Decoder::new(),
            hpack_ok: true,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// One HTTP/2 connection: feed both directions with [`H2Conn::data`], collect streams with
/// [`H2Conn::drain`] as they complete and [`H2Conn::finish`] at the end.
pub struct H2Conn {
    sides: [Side; 2],
    open: BTreeMap<u32, OpenStream>,
    done: Vec<H2Stream>,
    max_client_id: u32,
    max_push_id: u32,
    weirds: Vec<Weird>,
    weirds_total: usize,
}

impl Default for H2Conn {
    fn default() -> Self {
        Self::new()
    }
}

/// Headers decoded from one block, pseudo-headers split out.
#[derive(Default)]
struct Decoded {
    method: Option<String>,
    scheme: Option<String>,
    authority: Option<String>,
    path: Option<String>,
    status: Option<String>,
    headers: Vec<(String, String)>,
    capped: bool,
}

impl Decoded {
    fn push(&mut self, name: &[u8], value: &[u8]) {
        let v = || lossy(value);
        match name {
            b":method" => self.method = Some(v()),
            b":scheme" => self.scheme = Some(v()),
            b":authority" => self.authority = Some(v()),
            b":path" => self.path = Some(v()),
            b":status" => self.status = Some(v()),
            _ if self.headers.len() >= MAX_HEADERS => self.capped = true,
            _ => {
                if name.len() > MAX_HEADER_LEN || value.len() > MAX_HEADER_LEN {
                    self.capped = true;
                }
                self.headers.push((lossy(name), lossy(value)));
            }
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// UTF-8 (lossy) of at most `MAX_HEADER_LEN` bytes.
fn lossy(b: &[u8]) -> String {
    let b = b.get(..MAX_HEADER_LEN).unwrap_or(b);
    String::from_utf8_lossy(b).into_owned()
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

impl H2Conn {
    pub fn new() -> Self {
        H2Conn {
            sides: [Side::new(Phase::Preface(0)), Side::new(Phase::Header)],
            open: BTreeMap::new(),
            done: Vec::new(),
            max_client_id: 0,
            max_push_id: 0,
            weirds: Vec::new(),
            weirds_total: 0,
        }
    }

    /// For `Upgrade: h2c`: the HTTP/1.1 request becomes stream 1, already ended by the
    /// client; its response comes as HTTP/2 on stream 1. `request` carries what the caller
    /// knows of the request (method, authority, path, headers, times); its id is set to 1.
    pub fn open_upgrade_stream(&mut self, mut request: H2Stream) {
        request.stream_id = 1;
        self.max_client_id = self.max_client_id.max(1);
        self.open.insert(
            1,
            OpenStream {
                s: request,
                orig_done: true,
                resp_done: false,
            },
        );
    }

    /// In-order bytes of one direction (`Orig` = client). The client's bytes start with the
    /// 24-byte preface (skipped; if absent, frames are parsed anyway, with a weird).
    /// `ready_ts` = when these bytes became readable.
    pub fn data(&mut self, dir: Direction, ready_ts: Timestamp, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let side = &mut self.sides[dir.idx()];
            match side.phase {
                Phase::Dead => return,
                Phase::Preface(k) => {
                    let want = PREFACE.get(k..).unwrap_or_default();
                    let n = want.len().min(rest.len());
                    let (now, later) = rest.split_at(n);
                    if want.get(..n) == Some(now) {
                        rest = later;
                        side.phase = if k + n == PREFACE.len() {
                            Phase::Header
                        } else {
                            Phase::Preface(k + n)
                        };
                    } else {
                        side.phase = Phase::Header;
                        self.weird(ready_ts, "h2-no-preface", "client bytes do not start with the HTTP/2 preface; parsing frames anyway");
                        if let Some(seen) = PREFACE.get(..k) {
                            self.feed(dir, ready_ts, seen);
                        }
                    }
                }
                Phase::Header | Phase::Payload => {
                    let used = self.feed_one(dir, ready_ts, rest);
                    rest = rest.get(used..).unwrap_or_default();
                }
            }
        }
    }

    /// Feeds bytes known to be past the preface.
    fn feed(&mut self, dir: Direction, ts: Timestamp, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.sides[dir.idx()].phase != Phase::Dead {
            let used = self.feed_one(dir, ts, bytes);
            bytes = bytes.get(used..).unwrap_or_default();
        }
    }

    /// Consumes bytes of one frame header or payload; returns how many were used (> 0
    /// unless the direction is dead).
    fn feed_one(&mut self, dir: Direction, ts: Timestamp, bytes: &[u8]) -> usize {
        let side = &mut self.sides[dir.idx()];
        match side.phase {
            Phase::Header => {
                if side.head_len == 0 {
                    side.head_ts = ts;
                }
                let n = (9 - side.head_len.min(9)).min(bytes.len());
                if let (Some(dst), Some(src)) = (
                    side.head_buf.get_mut(side.head_len..side.head_len + n),
                    bytes.get(..n),
                ) {
                    dst.copy_from_slice(src);
                }
                side.head_len += n;
                if side.head_len >= 9 {
                    side.head_len = 0;
                    self.start_frame(dir, ts);
                }
                n
            }
            Phase::Payload => {
                let n = (side.remaining as usize).min(bytes.len());
                let room = side.payload_cap.saturating_sub(side.payload.len());
                side.payload
                    .extend_from_slice(bytes.get(..n.min(room)).unwrap_or_default());
                side.remaining -= n as u32;
                if side.remaining == 0 {
                    self.end_frame(dir, ts);
                }
                n
            }
            Phase::Preface(_) | Phase::Dead => 0,
        }
    }

    /// A 9-byte frame header is complete.
    fn start_frame(&mut self, dir: Direction, ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        let h = side.head_buf;
        let frame = FrameHead {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            typ: h[3],
            flags: h[4],
            stream_id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
            start_ts: side.head_ts,
        };
        if frame.len > side.max_frame {
            let max = side.max_frame;
            side.phase = Phase::Dead;
            side.block = None;
            self.weird(
                frame.start_ts,
                "h2-frame-too-large",
                format!(
                    "{dir:?} frame of {} bytes (type {}) exceeds the advertised maximum {max}; parsing of this direction stopped",
                    frame.len, frame.typ
                ),
            );
            return;
        }
        side.frame = frame;
        side.remaining = frame.len;
        side.payload.clear();
        side.payload_cap = match frame.typ {
            T_DATA => 0,
            T_HEADERS | T_PUSH_PROMISE | T_CONTINUATION => MAX_HEADER_BLOCK + 512,
            _ => MAX_CONTROL_PAYLOAD,
        };
        side.phase = Phase::Payload;
        if frame.len == 0 {
            self.end_frame(dir, ts);
        }
    }

    /// A frame's payload is complete (or skipped past its cap).
    fn end_frame(&mut self, dir: Direction, end_ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        side.phase = Phase::Header;
        let f = side.frame;
        let payload = std::mem::take(&mut side.payload);
        let truncated = payload.len() < f.len as usize;
        let pending = side.block.as_ref().map(|b| b.stream_id);
        if let Some(sid) = pending
            && (f.typ != T_CONTINUATION || f.stream_id != sid)
        {
            self.sides[dir.idx()].block = None;
            self.hpack_lost(
                dir,
                f.start_ts,
                "h2-continuation-missing",
                "header block interrupted before END_HEADERS",
            );
        }
        let frame_bytes = u64::from(f.len) + 9;
        match f.typ {
            T_DATA => {
                self.add_bytes(dir, f.stream_id, frame_bytes);
                if f.flags & F_END_STREAM != 0 {
                    self.end_side(dir, f.stream_id, end_ts);
                }
            }
            T_HEADERS | T_PUSH_PROMISE => self.header_frame(dir, &f, &payload, truncated, end_ts),
            T_CONTINUATION => match self.sides[dir.idx()].block.as_mut() {
                Some(b) => {
                    b.frame_bytes = b.frame_bytes.saturating_add(frame_bytes);
                    append_fragment(b, &payload, truncated);
                    if f.flags & F_END_HEADERS != 0 {
                        self.finish_block(dir, end_ts);
                    }
                }
                None => self.weird(
                    f.start_ts,
                    "h2-unexpected-continuation",
                    format!(
                        "{dir:?} CONTINUATION on stream {} without a header block",
                        f.stream_id
                    ),
                ),
            },
            T_RST_STREAM => match be32(&payload) {
                Some(code) if f.stream_id != 0 => self.reset(f.stream_id, code, end_ts),
                _ => self.weird(
                    f.start_ts,
                    "h2-bad-frame",
                    format!(
                        "{dir:?} bad RST_STREAM ({} bytes, stream {})",
                        f.len, f.stream_id
                    ),
                ),
            },
            T_SETTINGS if f.flags & F_ACK == 0 => self.settings(dir, &payload, f.start_ts),
            T_GOAWAY => {
                if let Some(last) = be32(&payload) {
                    self.goaway(dir, last & 0x7fff_ffff, end_ts);
                }
            }
            _ => {} // PRIORITY, PING, WINDOW_UPDATE, SETTINGS ack, unknown types: ignored.
        }
    }

    /// HEADERS or PUSH_PROMISE: strip padding/priority, start a header block.
    fn header_frame(
        &mut self,
        dir: Direction,
        f: &FrameHead,
        payload: &[u8],
        truncated: bool,
        end_ts: Timestamp,
    ) {
        let mut body = payload;
        let mut pad = 0usize;
        let mut ok = true;
        if f.flags & F_PADDED != 0 {
            match body.split_first() {
                Some((&p, rest)) => {
                    pad = usize::from(p);
                    body = rest;
                }
                None => ok = false,
            }
        }
        let skip = match (f.typ, f.flags & F_PRIORITY != 0) {
            (T_PUSH_PROMISE, _) => 4,
            (_, true) => 5,
            _ => 0,
        };
        let promised = if f.typ == T_PUSH_PROMISE {
            be32(body).map(|p| p & 0x7fff_ffff)
        } else {
            None
        };
        body = body.get(skip..).unwrap_or_else(|| {
            ok = false;
            &[]
        });
        // Padding is at the end of the frame; a truncated buffer lost it anyway.
        if !truncated {
            match body.len().checked_sub(pad) {
                Some(n) => body = body.get(..n).unwrap_or_default(),
                None => ok = false,
            }
        }
        if !ok || f.stream_id == 0 || (f.typ == T_PUSH_PROMISE && promised.is_none()) {
            self.hpack_lost(
                dir,
                f.start_ts,
                "h2-bad-frame",
                &format!(
                    "bad padding/length in type {} frame of {} bytes on stream {}",
                    f.typ, f.len, f.stream_id
                ),
            );
            return;
        }
        let kind = match promised {
            Some(promised) => BlockKind::Push { promised },
            None => BlockKind::Headers {
                end_stream: f.flags & F_END_STREAM != 0,
            },
        };
        let mut block = Block {
            stream_id: f.stream_id,
            kind,
            start_ts: f.start_ts,
            frame_bytes: u64::from(f.len) + 9,
            buf: Vec::new(),
            overflow: false,
        };
        append_fragment(&mut block, body, truncated);
        self.sides[dir.idx()].block = Some(block);
        if f.flags & F_END_HEADERS != 0 {
            self.finish_block(dir, end_ts);
        }
    }

    /// END_HEADERS seen: decode the block (always, to keep HPACK in sync) and apply it.
    fn finish_block(&mut self, dir: Direction, end_ts: Timestamp) {
        let side = &mut self.sides[dir.idx()];
        let Some(block) = side.block.take() else {
            return;
        };
        let mut decoded = None;
        if block.overflow {
            self.hpack_lost(
                dir,
                block.start_ts,
                "h2-header-block-too-large",
                &format!(
                    "header block on stream {} over {MAX_HEADER_BLOCK} bytes",
                    block.stream_id
                ),
            );
        } else if side.hpack_ok {
            let mut d = Decoded::default();
            match side
                .decoder
                .decode_with_cb(&block.buf, |n, v| d.push(&n, &v))
            {
                Ok(()) => decoded = Some(d),
                Err(e) => self.hpack_lost(
                    dir,
                    block.start_ts,
                    "h2-hpack-error",
                    &format!("header block on stream {}: {e}", block.stream_id),
                ),
            }
        }
        if decoded.as_ref().is_some_and(|d| d.capped) {
            self.weird(
                block.start_ts,
                "h2-headers-capped",
                format!("stream {}: more than {MAX_HEADERS} headers or one over {MAX_HEADER_LEN} bytes; kept the first", block.stream_id),
            );
        }
        match block.kind {
            BlockKind::Headers { end_stream } => {
                self.apply_headers(dir, &block, decoded);
                if end_stream {
                    self.end_side(dir, block.stream_id, end_ts);
                }
            }
            BlockKind::Push { promised } => {
                self.add_bytes(dir, block.stream_id, block.frame_bytes);
                if dir != Direction::Resp
                    || promised == 0
                    || promised % 2 == 1
                    || promised <= self.max_push_id
                {
                    self.weird(
                        block.start_ts,
                        "h2-bad-push",
                        format!(
                            "{dir:?} PUSH_PROMISE of stream {promised} on stream {}",
                            block.stream_id
                        ),
                    );
                    return;
                }
                self.max_push_id = promised;
                let mut s = H2Stream {
                    stream_id: promised,
                    pushed: true,
                    req_headers_ts: Some(block.start_ts),
                    req_end_ts: Some(end_ts),
                    ..H2Stream::default()
                };
                if let Some(d) = decoded {
                    set_request(&mut s, d);
                }
                self.insert(s, true, block.start_ts);
            }
        }
    }

    /// Applies a decoded HEADERS block to its stream, opening it if new.
    fn apply_headers(&mut self, dir: Direction, block: &Block, decoded: Option<Decoded>) {
        let sid = block.stream_id;
        if !self.open.contains_key(&sid) {
            let fresh = sid % 2 == 1 && sid > self.max_client_id;
            if !fresh {
                return; // a closed stream (e.g. after RST_STREAM): nothing to attach to.
            }
            if dir == Direction::Resp && !(sid == 1 && self.open.is_empty()) {
                self.weird(
                    block.start_ts,
                    "h2-unexpected-stream",
                    format!("response HEADERS on stream {sid} never opened by the client"),
                );
            }
            self.max_client_id = sid;
            let s = H2Stream {
                stream_id: sid,
                ..H2Stream::default()
            };
            if !self.insert(s, false, block.start_ts) {
                return;
            }
        }
        let Some(o) = self.open.get_mut(&sid) else {
            return;
        };
        let s = &mut o.s;
        match dir {
            Direction::Orig => {
                s.request_bytes = s.request_bytes.saturating_add(block.frame_bytes);
                if s.req_headers_ts.is_none() {
                    s.req_headers_ts = Some(block.start_ts);
                    if let Some(d) = decoded {
                        set_request(s, d);
                    }
                }
            }
            Direction::Resp => {
                s.response_bytes = s.response_bytes.saturating_add(block.frame_bytes);
                if s.resp_headers_ts.is_some() {
                    return; // trailers
                }
                let status = decoded
                    .as_ref()
                    .and_then(|d| d.status.as_deref()?.parse::<u16>().ok());
                if status.is_some_and(|c| (100..200).contains(&c)) {
                    s.informational_ts.get_or_insert(block.start_ts);
                    return;
                }
                s.resp_headers_ts = Some(block.start_ts);
                s.status = status;
                if let Some(d) = decoded {
                    s.location = d.header("location");
                    s.response_headers = d.headers;
                }
            }
        }
    }

    /// Adds a stream to the open table; false (and a weird) when the table is full.
    fn insert(&mut self, s: H2Stream, orig_done: bool, ts: Timestamp) -> bool {
        if self.open.len() >= MAX_OPEN_STREAMS {
            self.weird(
                ts,
                "h2-too-many-streams",
                format!(
                    "more than {MAX_OPEN_STREAMS} open streams; stream {} ignored",
                    s.stream_id
                ),
            );
            return false;
        }
        self.open.insert(
            s.stream_id,
            OpenStream {
                s,
                orig_done,
                resp_done: false,
            },
        );
        true
    }

    fn add_bytes(&mut self, dir: Direction, sid: u32, n: u64) {
        if let Some(o) = self.open.get_mut(&sid) {
            let b = match dir {
                Direction::Orig => &mut o.s.request_bytes,
                Direction::Resp => &mut o.s.response_bytes,
            };
            *b = b.saturating_add(n);
        }
    }

    /// END_STREAM from `dir` on `sid`.
    fn end_side(&mut self, dir: Direction, sid: u32, ts: Timestamp) {
        let Some(o) = self.open.get_mut(&sid) else {
            return;
        };
        match dir {
            Direction::Orig if !o.orig_done => {
                o.orig_done = true;
                o.s.req_end_ts = Some(ts);
            }
            Direction::Resp if !o.resp_done => {
                o.resp_done = true;
                o.s.resp_end_ts = Some(ts);
            }
            _ => {}
        }
        if o.orig_done && o.resp_done {
            self.complete(sid, ts);
        }
    }

    fn reset(&mut self, sid: u32, code: u32, ts: Timestamp) {
        if let Some(o) = self.open.get_mut(&sid) {
            o.s.reset = Some(code);
            self.complete(sid, ts);
        }
    }

    /// GOAWAY from `dir`: streams the peer opened above `last` were never processed.
    fn goaway(&mut self, dir: Direction, last: u32, ts: Timestamp) {
        let peer_opened = |id: u32| match dir {
            Direction::Resp => id % 2 == 1,
            Direction::Orig => id.is_multiple_of(2),
        };
        let gone: Vec<u32> = self
            .open
            .range(last.saturating_add(1)..)
            .map(|(&id, _)| id)
            .filter(|&id| peer_opened(id))
            .collect();
        for id in gone {
            self.complete(id, ts);
        }
    }

    fn complete(&mut self, sid: u32, ts: Timestamp) {
        let Some(o) = self.open.remove(&sid) else {
            return;
        };
        if self.done.len() >= MAX_DONE_STREAMS {
            self.weird(ts, "h2-too-many-completed", format!("more than {MAX_DONE_STREAMS} completed streams not drained; stream {sid} dropped"));
            return;
        }
        self.done.push(o.s);
    }

    /// SETTINGS from `dir` limit what the other side sends.
    fn settings(&mut self, dir: Direction, payload: &[u8], ts: Timestamp) {
        if !payload.len().is_multiple_of(6) {
            self.weird(
                ts,
                "h2-bad-frame",
                format!("{dir:?} SETTINGS payload of {} bytes", payload.len()),
            );
        }
        for s in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([s[0], s[1]]);
            let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
            let peer = &mut self.sides[dir.flip().idx()];
            match id {
                S_HEADER_TABLE_SIZE => {
                    let allowed = (v as usize).min(MAX_HPACK_TABLE);
                    peer.decoder.set_max_allowed_table_size(allowed);
                    if allowed < v as usize {
                        self.weird(
                            ts,
                            "h2-hpack-table-capped",
                            format!("SETTINGS_HEADER_TABLE_SIZE {v} capped to {MAX_HPACK_TABLE}"),
                        );
                    }
                }
                S_MAX_FRAME_SIZE if (DEFAULT_MAX_FRAME..=MAX_FRAME_CAP).contains(&v) => {
                    peer.max_frame = v
                }
                S_MAX_FRAME_SIZE => self.weird(
                    ts,
                    "h2-bad-setting",
                    format!("SETTINGS_MAX_FRAME_SIZE {v} out of range"),
                ),
                _ => {}
            }
        }
    }

    /// A header block could not be decoded: that direction's HPACK table is now unknown,
    /// so its later header blocks are not decoded (frames and times still are).
    fn hpack_lost(&mut self, dir: Direction, ts: Timestamp, kind: &'static str, detail: &str) {
        let side = &mut self.sides[dir.idx()];
        let was_ok = std::mem::replace(&mut side.hpack_ok, false);
        let tail = if was_ok {
            "; later header blocks of this direction are not decoded"
        } else {
            ""
        };
        self.weird(ts, kind, format!("{dir:?} {detail}{tail}"));
    }

    /// A gap (lost bytes) in one direction: framing and HPACK state are lost, parsing of
    /// that direction stops. Streams stay open until `finish`.
    pub fn gap(&mut self, dir: Direction) {
        let side = &mut self.sides[dir.idx()];
        if side.phase == Phase::Dead {
            return;
        }
        side.phase = Phase::Dead;
        side.block = None;
        side.payload = Vec::new();
        let ts = side.head_ts;
        self.weird(
            ts,
            "h2-gap",
            format!("{dir:?} bytes missing; HTTP/2 parsing of this direction stopped"),
        );
    }

    /// No stream open.
    pub fn is_idle(&self) -> bool {
        self.open.is_empty()
    }

    /// Moves the completed streams (both END_STREAMs, RST_STREAM, or refused by GOAWAY)
    /// into `out`, in order of completion.
    pub fn drain(&mut self, out: &mut Vec<H2Stream>) {
        out.append(&mut self.done);
    }

    /// Moves every stream into `out`: the completed ones, then those still open by id.
    pub fn finish(&mut self, out: &mut Vec<H2Stream>) {
        self.drain(out);
        out.extend(std::mem::take(&mut self.open).into_values().map(|o| o.s));
    }

    /// Takes the weird records seen so far.
    pub fn weirds(&mut self) -> Vec<Weird> {
        std::mem::take(&mut self.weirds)
    }

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: impl Into<String>) {
        self.weirds_total = self.weirds_total.saturating_add(1);
        if self.weirds_total < MAX_WEIRDS {
            self.weirds.push(Weird::new(ts, kind, detail));
        } else if self.weirds_total == MAX_WEIRDS {
            self.weirds.push(Weird::new(
                ts,
                "h2-too-many-weirds",
                format!(
                    "over {MAX_WEIRDS} weird records on this connection; the rest are not reported"
                ),
            ));
        }
    }
}

/// Appends a fragment to a block, enforcing `MAX_HEADER_BLOCK`.
fn append_fragment(b: &mut Block, frag: &[u8], truncated: bool) {
    if truncated || b.buf.len().saturating_add(frag.len()) > MAX_HEADER_BLOCK {
        b.overflow = true;
        b.buf = Vec::new();
    }
    if !b.overflow {
        b.buf.extend_from_slice(frag);
    }
}

fn set_request(s: &mut H2Stream, d: Decoded) {
    s.authority = d.authority.clone().or_else(|| d.header("host"));
    s.referer = d.header("referer");
    s.sec_fetch_dest = d.header("sec-fetch-dest");
    s.sec_fetch_mode = d.header("sec-fetch-mode");
    s.method = d.method;
    s.scheme = d.scheme;
    s.path = d.path;
    s.request_headers = d.headers;
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Orig, Resp};

    type Chunk = (Direction, Timestamp, Vec<u8>);

    /// Parses a `testdata/h2/*.txt` fixture (format in `testdata/h2/mkfix.py`).
    fn load(text: &str) -> Vec<Chunk> {
        let mut out = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut it = line.split(' ');
            let dir = if it.next() == Some("o") { Orig } else { Resp };
            let ts = Timestamp(it.next().unwrap().parse().unwrap());
            let mut bytes = Vec::new();
            let mut hex = it.next().unwrap();
            while !hex.is_empty() {
                if let Some(r) = hex.strip_prefix('(') {
                    let (pat, r) = r.split_once(")*").unwrap();
                    let (n, r) = r.split_once('.').unwrap();
                    bytes.extend(unhex(pat).repeat(n.parse().unwrap()));
                    hex = r;
                } else {
                    bytes.extend(unhex(&hex[..2]));
                    hex = &hex[2..];
                }
            }
            out.push((dir, ts, bytes));
        }
        out
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn run_on(mut c: H2Conn, chunks: &[Chunk]) -> (Vec<H2Stream>, Vec<Weird>) {
        let mut out = Vec::new();
        for (d, ts, b) in chunks {
            c.data(*d, *ts, b);
            c.drain(&mut out);
        }
        c.finish(&mut out);
        (out, c.weirds())
    }

    fn run(chunks: &[Chunk]) -> (Vec<H2Stream>, Vec<Weird>) {
        run_on(H2Conn::new(), chunks)
    }

    /// An h2c Upgrade capture: drops the HTTP/1.1 request and 101 (up to the first blank
    /// line of each direction) and opens stream 1 for the upgraded request.
    fn run_upgrade(chunks: &[Chunk], req: H2Stream) -> (Vec<H2Stream>, Vec<Weird>) {
        let mut skipping = [true, true];
        let mut rest = Vec::new();
        for (d, ts, b) in chunks {
            let skip = &mut skipping[d.idx()];
            if *skip {
                if let Some(p) = b.windows(4).position(|w| w == b"\r\n\r\n") {
                    *skip = false;
                    rest.push((*d, *ts, b[p + 4..].to_vec()));
                }
            } else {
                rest.push((*d, *ts, b.clone()));
            }
        }
        let mut c = H2Conn::new();
        c.open_upgrade_stream(req);
        run_on(c, &rest)
    }

    fn frame(typ: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.extend([typ, flags]);
        v.extend(sid.to_be_bytes());
        v.extend(payload);
        v
    }

    fn hpack(enc: &mut loona_hpack::Encoder, h: &[(&str, &str)]) -> Vec<u8> {
        enc.encode(h.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    fn ts(n: i64) -> Timestamp {
        Timestamp(n)
    }

    /// tshark -o tls.keylog_file:http2-16-ssl.derived.keys -r http2-16-ssl.pcapng -Y http2:
    /// stream 1 GET / localhost (frame 14, HEADERS 32 bytes END_STREAM), 404 (frame 17,
    /// HEADERS 66 + DATA 130 END_STREAM).
    #[test]
    fn decrypted_tls_stream() {
        let (s, w) = run(&load(include_str!("../../testdata/h2/tls_h2.txt")));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.stream_id, 1);
        assert_eq!(s.method.as_deref(), Some("GET"));
        assert_eq!(s.scheme.as_deref(), Some("https"));
        assert_eq!(s.authority.as_deref(), Some("localhost"));
        assert_eq!(s.path.as_deref(), Some("/"));
        assert_eq!(s.status, Some(404));
        assert_eq!(s.req_headers_ts, Some(ts(1_423_310_436_849_728_557)));
        assert_eq!(s.req_end_ts, Some(ts(1_423_310_436_849_728_557)));
        assert_eq!(s.resp_headers_ts, Some(ts(1_423_310_436_890_064_309)));
        assert_eq!(s.resp_end_ts, Some(ts(1_423_310_436_890_064_309)));
        assert_eq!(
            (s.request_bytes, s.response_bytes),
            (32 + 9, 66 + 9 + 130 + 9)
        );
        assert!(
            s.response_headers
                .iter()
                .any(|(n, v)| n == "content-type" && v == "text/html; charset=UTF-8"),
            "{:?}",
            s.response_headers
        );
    }

    /// tshark -r dns_over_https.pcap -Y http2 (h2c prior knowledge): streams 1 and 3 in
    /// frame 4 (GET dns.google), 200 in frames 8/10, ends in 9/11; stream 5 GET frame 13,
    /// 200 frame 15, end frame 17; stream 7 GET frame 14, client RST_STREAM CANCEL (8) frame
    /// 20 (the 200 in frame 21 arrives after the reset and is ignored).
    #[test]
    fn doh_prior_knowledge_and_rst() {
        let (s, w) = run(&load(include_str!("../../testdata/h2/doh.txt")));
        assert!(w.is_empty(), "{w:?}");
        let ids: Vec<u32> = s.iter().map(|s| s.stream_id).collect();
        assert_eq!(ids, [1, 3, 5, 7]);
        for x in &s {
            assert_eq!(x.method.as_deref(), Some("GET"));
            assert_eq!(x.authority.as_deref(), Some("dns.google"));
            assert!(
                x.path
                    .as_deref()
                    .unwrap()
                    .starts_with("/dns-query?dns=AAABAAABAAAAAAAB")
            );
        }
        let t = |s: &H2Stream| {
            (
                s.req_headers_ts,
                s.req_end_ts,
                s.resp_headers_ts,
                s.resp_end_ts,
            )
        };
        let q = Some(ts(1_672_176_378_000_314_000));
        assert_eq!(
            t(&s[0]),
            (
                q,
                q,
                Some(ts(1_672_176_378_199_944_000)),
                Some(ts(1_672_176_378_200_283_000))
            )
        );
        assert_eq!(
            t(&s[1]),
            (
                q,
                q,
                Some(ts(1_672_176_378_209_710_000)),
                Some(ts(1_672_176_378_211_425_000))
            )
        );
        let q5 = Some(ts(1_672_176_385_671_727_000));
        assert_eq!(
            t(&s[2]),
            (
                q5,
                q5,
                Some(ts(1_672_176_385_865_974_000)),
                Some(ts(1_672_176_385_868_132_000))
            )
        );
        let q7 = Some(ts(1_672_176_385_672_177_000));
        assert_eq!(t(&s[3]), (q7, q7, None, None));
        assert_eq!(
            s.iter().map(|s| s.status).collect::<Vec<_>>(),
            [Some(200), Some(200), Some(200), None]
        );
        assert_eq!(s[3].reset, Some(8));
        // frame 4: HEADERS 197 + 9; frames 8/9: HEADERS 350, DATA 468, DATA 0 (+ 9 each).
        assert_eq!(
            (s[0].request_bytes, s[0].response_bytes),
            (206, 359 + 477 + 9)
        );
    }

    /// arkime http2-nghttp2.pcap (h2c prior knowledge): stream 13 is a 16384-byte HEADERS
    /// (flags 0x21, no END_HEADERS) + CONTINUATIONs up to frame 24; tshark does not decode
    /// that block. Server: PUSH_PROMISE of stream 2 GET /stylesheets/screen.css nghttp2.org
    /// (frame 26), HEADERS 200 on 13 and 2 (frame 28), 13 ends frame 35, 2 ends frame 92.
    #[test]
    fn continuation_and_push_promise() {
        let (s, w) = run(&load(include_str!("../../testdata/h2/nghttp2_push.txt")));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.len(), 2);
        let (a, p) = (&s[0], &s[1]);
        assert_eq!(a.stream_id, 13);
        assert_eq!(
            (
                a.method.as_deref(),
                a.authority.as_deref(),
                a.path.as_deref()
            ),
            (Some("GET"), Some("nghttp2.org"), Some("/"))
        );
        assert_eq!(a.req_headers_ts, Some(ts(1_593_995_681_482_643_000)));
        assert_eq!(a.req_end_ts, Some(ts(1_593_995_681_983_879_000)));
        assert_eq!(a.resp_headers_ts, Some(ts(1_593_995_682_317_638_000)));
        assert_eq!(a.resp_end_ts, Some(ts(1_593_995_682_318_444_000)));
        assert_eq!(a.status, Some(200));
        assert!(a.request_bytes > 16_384 + 9 && !a.pushed);
        assert_eq!(p.stream_id, 2);
        assert!(p.pushed);
        assert_eq!(
            (
                p.method.as_deref(),
                p.authority.as_deref(),
                p.path.as_deref()
            ),
            (
                Some("GET"),
                Some("nghttp2.org"),
                Some("/stylesheets/screen.css")
            )
        );
        assert_eq!(p.req_headers_ts, Some(ts(1_593_995_682_317_587_000)));
        assert_eq!(p.resp_headers_ts, Some(ts(1_593_995_682_317_638_000)));
        assert_eq!(p.resp_end_ts, Some(ts(1_593_995_682_803_152_000)));
        assert_eq!(p.status, Some(200));
        // DATA 16384 + 9437 + 13261 and HEADERS 62, each + 9.
        assert_eq!(p.response_bytes, 16_384 + 9_437 + 13_261 + 62 + 4 * 9);
        assert!(
            p.response_headers
                .iter()
                .any(|(n, v)| n == "content-type" && v == "text/css")
        );
    }

    /// scapy http2_h2c.pcap: HTTP/1.1 GET /robots.txt with Upgrade (frame 1), 101 + h2 in
    /// frame 2; stream 1 200 (frame 6); stream 3 GET /humans.txt nghttp2.org (frame 8, its
    /// block starts with a dynamic table size update to 4096), 404 (frame 10).
    #[test]
    fn h2c_upgrade_and_table_size_update() {
        let req = H2Stream {
            method: Some("GET".into()),
            path: Some("/robots.txt".into()),
            req_headers_ts: Some(ts(1_534_095_041_693_796_000)),
            req_end_ts: Some(ts(1_534_095_041_693_796_000)),
            ..H2Stream::default()
        };
        let (s, w) = run_upgrade(
            &load(include_str!("../../testdata/h2/h2c_upgrade.txt")),
            req,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].stream_id, s[0].path.as_deref(), s[0].status),
            (1, Some("/robots.txt"), Some(200))
        );
        assert_eq!(s[0].resp_headers_ts, Some(ts(1_534_095_042_294_392_000)));
        assert_eq!(s[0].resp_end_ts, Some(ts(1_534_095_042_294_392_000)));
        assert_eq!(
            (
                s[1].stream_id,
                s[1].method.as_deref(),
                s[1].authority.as_deref()
            ),
            (3, Some("GET"), Some("nghttp2.org"))
        );
        assert_eq!(
            (s[1].path.as_deref(), s[1].status),
            (Some("/humans.txt"), Some(404))
        );
        assert_eq!(s[1].req_headers_ts, Some(ts(1_534_095_042_295_103_000)));
        assert_eq!(s[1].resp_headers_ts, Some(ts(1_534_095_042_610_209_000)));
    }

    /// suricata http2-range.pcap, port 57226: Upgrade for GET /eicar; 206 in frame 23,
    /// DATA END_STREAM (11 bytes) + RST_STREAM in frame 25.
    #[test]
    fn h2c_upgrade_range_206() {
        let (s, w) = run_upgrade(
            &load(include_str!("../../testdata/h2/range.txt")),
            H2Stream::default(),
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].stream_id, s[0].status, s[0].reset),
            (1, Some(206), None)
        );
        assert_eq!(s[0].resp_headers_ts, Some(ts(1_630_660_000_003_793_000)));
        assert_eq!(s[0].resp_end_ts, Some(ts(1_630_660_000_003_832_000)));
        assert_eq!(s[0].response_bytes, 91 + 9 + 11 + 9);
    }

    /// Synthetic: padded + priority HEADERS split by CONTINUATION, a 103 before the 200,
    /// trailers, padded DATA, referer/sec-fetch/location extraction.
    #[test]
    fn padding_priority_continuation_informational() {
        let mut ce = loona_hpack::Encoder::new();
        let block = hpack(
            &mut ce,
            &[
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", "a.example"),
                (":path", "/up"),
                ("referer", "https://a.example/"),
                ("sec-fetch-dest", "document"),
                ("sec-fetch-mode", "navigate"),
            ],
        );
        let (b1, b2) = block.split_at(7);
        let mut p = vec![3u8]; // pad length
        p.extend([0, 0, 0, 0, 16]); // priority: dependency 0, weight 16
        p.extend(b1);
        p.extend([0, 0, 0]);
        let mut c = PREFACE.to_vec();
        c.extend(frame(T_HEADERS, F_PADDED | F_PRIORITY, 1, &p));
        c.extend(frame(T_CONTINUATION, F_END_HEADERS, 1, b2));
        c.extend(frame(T_DATA, F_PADDED | F_END_STREAM, 1, &[2, b'x', 0, 0]));
        let mut se = loona_hpack::Encoder::new();
        let mut r = frame(
            T_HEADERS,
            F_END_HEADERS,
            1,
            &hpack(&mut se, &[(":status", "103"), ("link", "</s.css>")]),
        );
        let first = r.len();
        r.extend(frame(
            T_HEADERS,
            F_END_HEADERS,
            1,
            &hpack(&mut se, &[(":status", "302"), ("location", "/next")]),
        ));
        r.extend(frame(T_DATA, 0, 1, b"abc"));
        r.extend(frame(
            T_HEADERS,
            F_END_HEADERS | F_END_STREAM,
            1,
            &hpack(&mut se, &[("grpc-status", "0")]),
        ));
        // The 302 frame header starts in the first chunk: its first byte gives its time.
        let (r1, r2) = r.split_at(first + 3);
        let chunks = vec![
            (Orig, ts(10), c[..30].to_vec()),
            (Orig, ts(11), c[30..].to_vec()),
            (Resp, ts(20), r1.to_vec()),
            (Resp, ts(21), r2.to_vec()),
        ];
        let (s, w) = run(&chunks);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(
            (
                s.method.as_deref(),
                s.scheme.as_deref(),
                s.authority.as_deref(),
                s.path.as_deref()
            ),
            (Some("POST"), Some("https"), Some("a.example"), Some("/up"))
        );
        assert_eq!(
            (
                s.referer.as_deref(),
                s.sec_fetch_dest.as_deref(),
                s.sec_fetch_mode.as_deref()
            ),
            (
                Some("https://a.example/"),
                Some("document"),
                Some("navigate")
            )
        );
        assert_eq!(s.request_headers.len(), 3);
        assert_eq!(
            (s.req_headers_ts, s.req_end_ts),
            (Some(ts(10)), Some(ts(11)))
        );
        assert_eq!(
            (s.informational_ts, s.resp_headers_ts, s.resp_end_ts),
            (Some(ts(20)), Some(ts(20)), Some(ts(21)))
        );
        assert_eq!(
            (s.status, s.location.as_deref()),
            (Some(302), Some("/next"))
        );
        assert_eq!(s.request_bytes, (c.len() - PREFACE.len()) as u64);
        assert_eq!(s.response_bytes, r.len() as u64);
    }

    /// Server RST_STREAM (INTERNAL_ERROR) ends a stream; later frames on it are ignored.
    #[test]
    fn rst_stream_from_server() {
        let mut ce = loona_hpack::Encoder::new();
        let mut c = PREFACE.to_vec();
        c.extend(frame(
            T_HEADERS,
            F_END_HEADERS | F_END_STREAM,
            1,
            &hpack(&mut ce, &[(":method", "GET"), (":path", "/a")]),
        ));
        let mut r = frame(T_RST_STREAM, 0, 1, &2u32.to_be_bytes());
        r.extend(frame(T_DATA, F_END_STREAM, 1, b"late"));
        let (s, w) = run(&[(Orig, ts(1), c), (Resp, ts(2), r)]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            (s.len(), s[0].reset, s[0].resp_end_ts, s[0].response_bytes),
            (1, Some(2), None, 0)
        );
    }

    /// Dynamic table: indexed entries reused across blocks; SETTINGS_HEADER_TABLE_SIZE
    /// from the server limits the client's size updates.
    #[test]
    fn dynamic_table_and_size_limit() {
        let mut ce = loona_hpack::Encoder::new();
        let h = [(":method", "GET"), (":path", "/x"), ("x-custom", "value")];
        let b1 = hpack(&mut ce, &h);
        let b2 = hpack(&mut ce, &h);
        assert!(
            b2.len() < b1.len(),
            "second block must use the dynamic table"
        );
        let mut c = PREFACE.to_vec();
        c.extend(frame(T_HEADERS, F_END_HEADERS | F_END_STREAM, 1, &b1));
        c.extend(frame(T_HEADERS, F_END_HEADERS | F_END_STREAM, 3, &b2));
        // Size update to 200 (allowed after SETTINGS_HEADER_TABLE_SIZE=256), then an
        // indexed :method GET (static 2).
        c.extend(frame(
            T_HEADERS,
            F_END_HEADERS | F_END_STREAM,
            5,
            &[0x3f, 0xa9, 0x01, 0x82],
        ));
        // Size update to 4096: over the allowed 256: HPACK error, later blocks undecoded.
        c.extend(frame(
            T_HEADERS,
            F_END_HEADERS | F_END_STREAM,
            7,
            &[0x3f, 0xe1, 0x1f, 0x82],
        ));
        c.extend(frame(T_HEADERS, F_END_HEADERS | F_END_STREAM, 9, &[0x82]));
        let settings = frame(T_SETTINGS, 0, 0, &[0, 1, 0, 0, 1, 0]);
        let (s, w) = run(&[(Resp, ts(1), settings), (Orig, ts(2), c)]);
        let x: Vec<_> = s
            .iter()
            .map(|s| (s.stream_id, s.path.as_deref(), s.method.as_deref()))
            .collect();
        assert_eq!(
            x,
            [
                (1, Some("/x"), Some("GET")),
                (3, Some("/x"), Some("GET")),
                (5, None, Some("GET")),
                (7, None, None),
                (9, None, None)
            ]
        );
        assert_eq!(
            s[1].request_headers,
            [("x-custom".to_string(), "value".to_string())]
        );
        assert_eq!(
            w.iter().map(|w| w.kind).collect::<Vec<_>>(),
            ["h2-hpack-error"]
        );
        assert_eq!(
            s[4].req_headers_ts,
            Some(ts(2)),
            "frames still tracked after HPACK loss"
        );
    }

    #[test]
    fn no_preface_gap_and_oversize_frame() {
        let mut ce = loona_hpack::Encoder::new();
        let c = frame(
            T_HEADERS,
            F_END_HEADERS,
            1,
            &hpack(&mut ce, &[(":method", "GET")]),
        );
        let (s, w) = run(&[(Orig, ts(1), c.clone())]);
        assert_eq!((s.len(), s[0].method.as_deref()), (1, Some("GET")));
        assert_eq!(w[0].kind, "h2-no-preface");
        // A preface cut short then something else: the matched bytes are parsed as frames.
        let (_, w) = run(&[
            (Orig, ts(1), b"PRI * HT".to_vec()),
            (Orig, ts(2), b"XX".to_vec()),
        ]);
        assert_eq!(w[0].kind, "h2-no-preface");
        // Oversize frame: parsing of that direction stops.
        let mut r = vec![0, 0x40, 0x01, T_DATA, 0, 0, 0, 0, 1];
        r.extend(frame(T_HEADERS, F_END_HEADERS, 1, &[0x88]));
        let mut conn = H2Conn::new();
        conn.data(Orig, ts(1), &[PREFACE.as_slice(), &c].concat());
        conn.data(Resp, ts(2), &r);
        conn.gap(Orig);
        conn.data(Orig, ts(3), &frame(T_DATA, F_END_STREAM, 1, b"x"));
        let mut s = Vec::new();
        conn.finish(&mut s);
        assert_eq!((s[0].status, s[0].req_end_ts), (None, None));
        let kinds: Vec<_> = conn.weirds().iter().map(|w| w.kind).collect();
        assert_eq!(kinds, ["h2-frame-too-large", "h2-gap"]);
    }

    #[test]
    fn header_block_cap() {
        let mut c = PREFACE.to_vec();
        c.extend(frame(T_SETTINGS, 0, 0, &[0, 5, 0, 0xff, 0xff, 0xff]));
        let big = vec![0u8; MAX_HEADER_BLOCK / 2 + 1];
        let mut r = frame(T_HEADERS, F_END_STREAM, 1, &big);
        r.extend(frame(T_CONTINUATION, F_END_HEADERS, 1, &big));
        let mut ce = loona_hpack::Encoder::new();
        c.extend(frame(
            T_HEADERS,
            F_END_HEADERS | F_END_STREAM,
            1,
            &hpack(&mut ce, &[(":method", "GET")]),
        ));
        let (s, w) = run(&[(Orig, ts(1), c), (Resp, ts(2), r)]);
        assert_eq!((s[0].status, s[0].resp_end_ts), (None, Some(ts(2))));
        assert_eq!(
            w.iter().map(|w| w.kind).collect::<Vec<_>>(),
            ["h2-header-block-too-large"]
        );
    }

    /// Splitting any chunk at any byte (same timestamp) gives identical results.
    #[test]
    fn split_at_every_byte() {
        // (the Huffman decoder is slow in debug builds: every 5th byte of the DoH capture)
        for (f, step) in [
            (include_str!("../../testdata/h2/tls_h2.txt"), 1),
            (include_str!("../../testdata/h2/h2c_upgrade.txt"), 1),
            (include_str!("../../testdata/h2/doh.txt"), 5),
        ] {
            let chunks = load(f);
            let want = run(&chunks);
            for i in 0..chunks.len() {
                for k in (1..chunks[i].2.len()).step_by(step) {
                    let mut c = chunks.clone();
                    let (d, t, b) = c.remove(i);
                    c.insert(i, (d, t, b[k..].to_vec()));
                    c.insert(i, (d, t, b[..k].to_vec()));
                    assert_eq!(run(&c), want, "chunk {i} split at {k}");
                }
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Random re-chunking of a capture (same timestamps) changes nothing.
            #[test]
            fn rechunking_is_invisible(cuts in proptest::collection::vec(1usize..3000, 1..40)) {
                let chunks = load(include_str!("../../testdata/h2/nghttp2_push.txt"));
                let want = run(&chunks);
                let mut split = Vec::new();
                let mut cut = cuts.iter().cycle();
                for (d, t, b) in &chunks {
                    let mut rest = b.as_slice();
                    while !rest.is_empty() {
                        let n = (*cut.next().unwrap()).min(rest.len());
                        split.push((*d, *t, rest[..n].to_vec()));
                        rest = &rest[n..];
                    }
                }
                prop_assert_eq!(run(&split), want);
            }

            /// Arbitrary bytes never panic, with or without a preface.
            #[test]
            fn garbage_never_panics(a in proptest::collection::vec(any::<u8>(), 0..600), b in proptest::collection::vec(any::<u8>(), 0..600), pre in any::<bool>()) {
                let mut c = if pre { PREFACE.to_vec() } else { Vec::new() };
                c.extend(&a);
                let _ = run(&[(Orig, ts(1), c), (Resp, ts(2), b)]);
            }

            /// Real traffic with bytes flipped never panics (HPACK and framing errors).
            #[test]
            fn mutated_capture_never_panics(flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<proptest::sample::Index>(), any::<u8>()), 1..8)) {
                let mut chunks = load(include_str!("../../testdata/h2/doh.txt"));
                for (ci, bi, v) in flips {
                    let n = chunks.len();
                    let c = &mut chunks[ci.index(n)].2;
                    let m = c.len();
                    c[bi.index(m)] ^= v;
                }
                let _ = run(&chunks);
            }
        }
    }
}

//! DNS over UDP and TCP: a lenient wire parser, TCP length-prefix framing, and the
//! query/response matcher that produces the rows of the `dns` table.
//!
//! Owns: decoding DNS messages ([`parse_message`]), splitting a TCP DNS byte stream into
//! messages ([`TcpFramer`]), matching queries with responses into lookups ([`DnsTracker`]),
//! and the small helpers the caller needs to decide what is DNS ([`looks_like_dns`],
//! [`is_multicast_dns`]). Must not import other protocol modules, nor flow/reassembly/
//! correlate/export: only `crate::base`, std and crates.
//!
//! Why a hand-written parser and not simple-dns 0.13: it decodes a message all-or-nothing
//! (hickory-proto's `Message` decoding is whole-message too; not tried here, and it is a
//! large dependency). Checked on the public captures and by hand, simple-dns rejects
//! (a) any question of a type it does not know (`InvalidQType(52)` for a TLSA query,
//! likewise TYPE65280), (b) a whole message when one record has a class it does not know
//! (`InvalidClass(255)` for the TSIG records of zeek `dns-edns-ecs.pcap` frames 7-8),
//! (c) a response cut by the capture's snap length (dpkt `truncated_dns.pcap`), and it
//! folds unknown rcodes into `Reserved`, losing BADVERS/BADCOOKIE. A page-load analyser
//! must keep every lookup, so this parser keeps whatever it could decode and says so
//! ([`DnsMessage::incomplete`]); record types it does not interpret stay opaque bytes.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustc_hash::FxHashMap;

use crate::base::{Timestamp, Weird, shrink_after_burst};

/// Questions decoded per message; more (never seen in practice) mark the message incomplete.
pub const MAX_QUESTIONS: usize = 8;
/// Answer records kept per message; more mark the message incomplete.
pub const MAX_ANSWERS: usize = 1024;
/// Compression pointers followed while decoding one name (defeats pointer loops).
pub const MAX_POINTER_JUMPS: usize = 128;
/// Longest name on the wire (RFC 1035 section 2.3.4).
pub const MAX_NAME_WIRE_LEN: usize = 255;
/// CNAME links followed from the question name.
pub const MAX_CNAME_CHAIN: usize = 16;
/// Lookups held by [`DnsTracker`] (awaiting an answer or lingering after one). When full,
/// new queries are dropped with a `dns-pending-cap` weird.
pub const MAX_PENDING: usize = 65_536;
/// Weirds buffered between two [`DnsTracker::weirds`] calls; the excess is counted and
/// reported as one `dns-weirds-dropped` weird.
pub const MAX_WEIRDS: usize = 4096;
/// An unanswered query is given up this long after its last transmission.
pub const UNANSWERED_TIMEOUT_MS: f64 = 10_000.0;
/// An answered lookup is kept this long after its response to absorb duplicate responses
/// and late retransmissions before it is emitted.
pub const ANSWER_LINGER_MS: f64 = 1_000.0;
/// Largest DNS message over TCP (16-bit length prefix); [`TcpFramer`] never buffers more
/// than this plus the prefix.
pub const MAX_TCP_MESSAGE: usize = 65_535;

const HEADER_LEN: usize = 12;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const TYPE_SVCB: u16 = 64;
const TYPE_HTTPS: u16 = 65;
const SVC_ALPN: u16 = 1;
const SVC_IPV4HINT: u16 = 4;
const SVC_IPV6HINT: u16 = 6;

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/// A decoded DNS message (only what lookups need: header, questions, answer section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    /// QR bit.
    pub is_response: bool,
    pub opcode: u8,
    /// Response code: the header's 4 bits, plus the EDNS(0) extended bits from the OPT
    /// record when there is one (so BADVERS = 16, BADCOOKIE = 23 are kept).
    pub rcode: u16,
    /// TC bit: the server truncated the answer; the client should retry over TCP.
    pub truncated: bool,
    pub questions: Vec<Question>,
    /// The answer section, in wire order (authority and additional records are walked,
    /// not kept: additional records are not part of the answer to the question).
    pub answers: Vec<Answer>,
    /// ANCOUNT as declared by the header.
    pub answer_count: u16,
    /// Not every declared question or record was decoded: the payload ended early (e.g.
    /// the capture's snap length), a record was malformed, or a `MAX_*` cap was reached.
    /// Everything before that point is kept.
    pub incomplete: bool,
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Question {
    /// Lowercase, no trailing dot; the root is `""`. Bytes outside printable ASCII, and
    /// `.` or `\` inside a label, are written `\DDD` (decimal, as in zone files).
    pub name: String,
    pub qtype: u16,
}

/// One resource record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, same form as [`Question::name`].
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData,
}

/// Record data. Types not listed, and listed types whose data is malformed, are `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    /// SVCB (64) or HTTPS (65), RFC 9460. `target` is `""` for the root (".": the owner
    /// name itself in service mode). Parameters other than these three are skipped.
    Svcb {
        priority: u16,
        target: String,
        alpn: Vec<String>,
        ipv4hint: Vec<Ipv4Addr>,
        ipv6hint: Vec<Ipv6Addr>,
    },
    /// The raw RDATA bytes.
    Other(Vec<u8>),
}

/// Why a payload is not a DNS message at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("DNS message of {len} bytes is shorter than the 12-byte header")]
    TooShort { len: usize },
    #[error("first question is malformed or cut short at offset {offset} of {len} bytes")]
    BadQuestion { offset: usize, len: usize },
}

impl DnsError {
    /// The `Weird` kind a caller should record for this error.
    pub fn kind(&self) -> &'static str {
        "dns-malformed"
    }
}

/// Decodes one DNS message (a UDP payload, or one TCP message without its length prefix).
///
/// Fails only when there is no header or the first question cannot be decoded (nothing
/// to match on). Everything after that is best effort: see [`DnsMessage::incomplete`].
pub fn parse_message(payload: &[u8]) -> Result<DnsMessage, DnsError> {
    parse_with_end(payload).map(|(msg, _)| msg)
}

/// [`parse_message`], also returning the offset where decoding stopped.
fn parse_with_end(payload: &[u8]) -> Result<(DnsMessage, usize), DnsError> {
    let len = payload.len();
    let mut r = Reader::new(payload);
    let (Some(id), Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) =
        (r.u16(), r.u16(), r.u16(), r.u16(), r.u16(), r.u16())
    else {
        return Err(DnsError::TooShort { len });
    };
    let mut msg = DnsMessage {
        id,
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: flags & 0x000f,
        truncated: flags & 0x0200 != 0,
        // Sized from the header (capped: the counts are untrusted).
        questions: Vec::with_capacity(usize::from(qd).min(4)),
        answers: Vec::with_capacity(usize::from(an).min(16)),
        answer_count: an,
        incomplete: false,
    };

    for index in 0..qd {
        if msg.questions.len() >= MAX_QUESTIONS {
            msg.incomplete = true;
            return Ok((msg, r.pos));
        }
        let offset = r.pos;
        match (r.name(), r.u16(), r.u16()) {
            (Some(name), Some(qtype), Some(_class)) => msg.questions.push(Question { name, qtype }),
            _ if index == 0 => return Err(DnsError::BadQuestion { offset, len }),
            _ => {
                msg.incomplete = true;
                return Ok((msg, offset));
            }
        }
    }

    let total = u32::from(an) + u32::from(ns) + u32::from(ar);
    let mut opt_seen = false;
    for index in 0..total {
        let Some(rec) = r.record() else {
            msg.incomplete = true;
            break;
        };
        if index < u32::from(an) {
            if msg.answers.len() >= MAX_ANSWERS {
                msg.incomplete = true;
                continue;
            }
            let data = decode_rdata(payload, rec.rtype, rec.rdata_start, rec.rdata);
            msg.answers.push(Answer {
                name: rec.name,
                rtype: rec.rtype,
                ttl: rec.ttl,
                data,
            });
        } else if index >= u32::from(an) + u32::from(ns) && rec.rtype == TYPE_OPT && !opt_seen {
            // EDNS(0): the OPT "TTL" carries the upper 8 bits of the 12-bit rcode.
            opt_seen = true;
            msg.rcode |= ((rec.ttl >> 24) as u16) << 4;
        }
    }
    Ok((msg, r.pos))
}

/// A bounds-checked cursor over a message; every read returns `None` past the end.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

/// A record header and its RDATA, borrowed from the message.
struct RawRecord<'a> {
    name: String,
    rtype: u16,
    ttl: u32,
    rdata_start: usize,
    rdata: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(msg: &'a [u8]) -> Self {
        Reader { msg, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.msg.len()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.msg.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn name(&mut self) -> Option<String> {
        let (name, end) = read_name(self.msg, self.pos)?;
        self.pos = end;
        Some(name)
    }

    fn record(&mut self) -> Option<RawRecord<'a>> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let _class = self.u16()?;
        let ttl = self.u32()?;
        let rdlen = self.u16()?;
        let rdata_start = self.pos;
        let rdata = self.take(usize::from(rdlen))?;
        Some(RawRecord {
            name,
            rtype,
            ttl,
            rdata_start,
            rdata,
        })
    }
}

/// Decodes the (possibly compressed) name at `start`. Returns it and the offset just after
/// it in the original position (after the first pointer, if any).
fn read_name(msg: &[u8], start: usize) -> Option<(String, usize)> {
    let mut out = String::with_capacity(48);
    let mut pos = start;
    let mut end = None;
    let mut jumps = 0usize;
    let mut wire_len = 1usize; // the root label
    loop {
        let len = *msg.get(pos)?;
        let after = pos.checked_add(1)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some((out, end.unwrap_or(after))),
            0x00 => {
                let label_end = after.checked_add(usize::from(len))?;
                let label = msg.get(after..label_end)?;
                wire_len = wire_len.saturating_add(usize::from(len)).saturating_add(1);
                if wire_len > MAX_NAME_WIRE_LEN {
                    return None;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                push_label(&mut out, label);
                pos = label_end;
            }
            0xc0 => {
                let low = *msg.get(after)?;
                if end.is_none() {
                    end = Some(after.checked_add(1)?);
                }
                jumps = jumps.saturating_add(1);
                if jumps > MAX_POINTER_JUMPS {
                    return None;
                }
                pos = (usize::from(len & 0x3f) << 8) | usize::from(low);
            }
            _ => return None, // 0x40 / 0x80: extended and reserved label types
        }
    }
}

fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' => {
                let _ = write!(out, "\\{b:03}");
            }
            0x21..=0x7e => out.push(char::from(b.to_ascii_lowercase())),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

fn decode_rdata(msg: &[u8], rtype: u16, start: usize, rdata: &[u8]) -> RData {
    let end = start.saturating_add(rdata.len());
    let decoded = match rtype {
        TYPE_A => <[u8; 4]>::try_from(rdata)
            .ok()
            .map(|b| RData::A(Ipv4Addr::from(b))),
        TYPE_AAAA => <[u8; 16]>::try_from(rdata)
            .ok()
            .map(|b| RData::Aaaa(Ipv6Addr::from(b))),
        TYPE_CNAME => read_name(msg, start)
            .filter(|(_, name_end)| *name_end <= end)
            .map(|(name, _)| RData::Cname(name)),
        TYPE_SVCB | TYPE_HTTPS => parse_svcb(msg, start, end),
        _ => None,
    };
    decoded.unwrap_or_else(|| RData::Other(rdata.to_vec()))
}

/// SVCB/HTTPS RDATA (RFC 9460 section 2.2) at `start..end` of `msg`.
fn parse_svcb(msg: &[u8], start: usize, end: usize) -> Option<RData> {
    let mut r = Reader {
        msg: msg.get(..end)?,
        pos: start,
    };
    let priority = r.u16()?;
    let target = r.name()?;
    let (mut alpn, mut ipv4hint, mut ipv6hint) = (Vec::new(), Vec::new(), Vec::new());
    while !r.at_end() {
        let key = r.u16()?;
        let len = r.u16()?;
        let value = r.take(usize::from(len))?;
        match key {
            SVC_ALPN => {
                let mut v = Reader::new(value);
                while !v.at_end() {
                    let n = v.u8()?;
                    alpn.push(String::from_utf8_lossy(v.take(usize::from(n))?).into_owned());
                }
            }
            SVC_IPV4HINT if value.len() % 4 == 0 => ipv4hint.extend(
                value
                    .chunks_exact(4)
                    .filter_map(|c| <[u8; 4]>::try_from(c).ok())
                    .map(Ipv4Addr::from),
            ),
            SVC_IPV6HINT if value.len() % 16 == 0 => ipv6hint.extend(
                value
                    .chunks_exact(16)
                    .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                    .map(Ipv6Addr::from),
            ),
            SVC_IPV4HINT | SVC_IPV6HINT => return None,
            _ => {}
        }
    }
    Some(RData::Svcb {
        priority,
        target,
        alpn,
        ipv4hint,
        ipv6hint,
    })
}

impl fmt::Display for Answer {
    /// `TYPE data`: `A 192.0.2.1`, `CNAME x.example`, `HTTPS 1 . alpn=h3,h2 ipv4hint=...`,
    /// and RFC 3597's generic form for opaque data: `TYPE99 \# 2 0a0b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", qtype_name(self.rtype))?;
        match &self.data {
            RData::A(a) => write!(f, "{a}"),
            RData::Aaaa(a) => write!(f, "{a}"),
            RData::Cname(n) => f.write_str(n),
            RData::Svcb {
                priority,
                target,
                alpn,
                ipv4hint,
                ipv6hint,
            } => {
                write!(
                    f,
                    "{priority} {}",
                    if target.is_empty() { "." } else { target }
                )?;
                // Lists written item by item (no joined copies).
                for (i, a) in alpn.iter().enumerate() {
                    f.write_str(if i == 0 { " alpn=" } else { "," })?;
                    f.write_str(a)?;
                }
                for (i, a) in ipv4hint.iter().enumerate() {
                    f.write_str(if i == 0 { " ipv4hint=" } else { "," })?;
                    write!(f, "{a}")?;
                }
                for (i, a) in ipv6hint.iter().enumerate() {
                    f.write_str(if i == 0 { " ipv6hint=" } else { "," })?;
                    write!(f, "{a}")?;
                }
                Ok(())
            }
            RData::Other(bytes) => {
                write!(f, "\\# {}", bytes.len())?;
                if !bytes.is_empty() {
                    f.write_str(" ")?;
                }
                bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// Mnemonic of a record/query type (`"A"`, `"HTTPS"`, ...), else RFC 3597's `"TYPE123"`.
pub fn qtype_name(t: u16) -> Cow<'static, str> {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return Cow::Owned(format!("TYPE{t}")),
    };
    Cow::Borrowed(name)
}

/// Mnemonic of a (possibly extended) response code, else `"RCODE123"`.
pub fn rcode_name(r: u16) -> Cow<'static, str> {
    let name = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return Cow::Owned(format!("RCODE{r}")),
    };
    Cow::Borrowed(name)
}

/// Heuristic for UDP payloads on ports other than 53: a standard query or response with
/// 1 to 4 questions that decodes completely, with no bytes left over.
pub fn looks_like_dns(payload: &[u8]) -> bool {
    let Some(&[_, _, flags_hi, _, qd_hi, qd_lo]) = payload.get(..6) else {
        return false;
    };
    let qdcount = u16::from_be_bytes([qd_hi, qd_lo]);
    if (flags_hi >> 3) & 0x0f != 0 || !(1..=4).contains(&qdcount) {
        return false;
    }
    match parse_with_end(payload) {
        Ok((msg, end)) => {
            !msg.incomplete && msg.questions.len() == usize::from(qdcount) && end == payload.len()
        }
        Err(_) => false,
    }
}

/// mDNS (port 5353), LLMNR (5355), or anything sent to a multicast or broadcast address:
/// local name resolution, not part of a page load; the caller skips it.
pub fn is_multicast_dns(src: &Endpoint, dst: &Endpoint) -> bool {
    const MDNS: u16 = 5353;
    const LLMNR: u16 = 5355;
    let group = match dst.ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    };
    group
        || [src.port, dst.port]
            .iter()
            .any(|p| *p == MDNS || *p == LLMNR)
}

// ---------------------------------------------------------------------------------------
// TCP framing
// ---------------------------------------------------------------------------------------

/// Splits one direction of a TCP DNS byte stream into messages (RFC 1035 section 4.2.2:
/// each message is preceded by its 2-byte length; a stream carries several).
///
/// Holds at most one incomplete message (`2 + MAX_TCP_MESSAGE` bytes). A message is
/// delivered with the timestamp of the segment that completed it (when it became
/// readable), during the `push` of that segment. A zero-length message is delivered as an
/// empty slice (which [`parse_message`] rejects, so the caller records it).
#[derive(Debug)]
pub struct TcpFramer {
    buf: Vec<u8>,
    /// False after a gap until a segment starts with a plausible length + header.
    synced: bool,
}

impl Default for TcpFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpFramer {
    pub fn new() -> Self {
        TcpFramer {
            buf: Vec::new(),
            synced: true,
        }
    }

    /// Feeds in-order stream bytes; calls `out` for every message they complete.
    pub fn push(&mut self, ts: Timestamp, bytes: &[u8], out: &mut dyn FnMut(Timestamp, &[u8])) {
        let mut rest = bytes;
        if rest.is_empty() {
            return;
        }
        if !self.synced {
            if !plausible_frame_start(rest) {
                return;
            }
            self.synced = true;
        }
        // First complete the message held back from earlier segments.
        while !self.buf.is_empty() {
            let want = match self.buf.get(..2) {
                Some(&[hi, lo]) => 2 + usize::from(u16::from_be_bytes([hi, lo])),
                _ => 2,
            };
            if self.buf.len() >= 2 && self.buf.len() >= want {
                out(ts, self.buf.get(2..want).unwrap_or_default());
                self.buf.clear();
                break;
            }
            if rest.is_empty() {
                return;
            }
            let n = want.saturating_sub(self.buf.len()).min(rest.len());
            let (head, tail) = rest.split_at(n);
            self.buf.extend_from_slice(head);
            rest = tail;
        }
        // Then whole messages straight from the segment; keep the incomplete tail.
        while let Some(&[hi, lo]) = rest.get(..2) {
            let end = 2 + usize::from(u16::from_be_bytes([hi, lo]));
            let Some(message) = rest.get(2..end) else {
                break;
            };
            out(ts, message);
            rest = rest.get(end..).unwrap_or_default();
        }
        self.buf.extend_from_slice(rest);
    }

    /// Bytes were lost in this direction: drop the partial message and skip segments until
    /// one starts with a plausible length prefix and DNS header (message boundaries are
    /// unknown after a gap; DNS clients and servers start messages on segment boundaries
    /// nearly always).
    pub fn gap(&mut self) {
        self.buf.clear();
        self.synced = false;
    }
}

/// A length prefix of at least a header, then a header with a sane opcode and 1-4
/// questions.
fn plausible_frame_start(b: &[u8]) -> bool {
    let Some(&[len_hi, len_lo, _, _, flags_hi, _, qd_hi, qd_lo]) = b.get(..8) else {
        return false;
    };
    let opcode = (flags_hi >> 3) & 0x0f;
    u16::from_be_bytes([len_hi, len_lo]) >= HEADER_LEN as u16
        && matches!(opcode, 0..=2 | 4..=6)
        && (1..=4).contains(&u16::from_be_bytes([qd_hi, qd_lo]))
}

// ---------------------------------------------------------------------------------------
// Query/response matching
// ---------------------------------------------------------------------------------------

/// One side of a DNS exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The `transport` column value: `"udp"` or `"tcp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One row of the `dns` table (SPEC.md), minus the ids the caller assigns.
///
/// Semantics chosen for a post-mortem reader:
/// - Retransmissions of the same query (same endpoints, txid and question) are counted in
///   `retransmits`; `query_time`/`query_frame` are the FIRST transmission, so `latency_ms`
///   is what the user waited.
/// - The first response wins; later duplicates are ignored (weird `dns-duplicate-response`,
///   saying whether their answers differ, as a spoofed/injected answer would).
/// - A UDP answer with TC=1 completes its lookup with `truncated = true`; the client's TCP
///   retry is a separate lookup with `transport = Tcp` (the correlator can join them on
///   client, qname and qtype).
/// - Unanswered queries are emitted with `response_time`, `rcode`, `latency_ms` null.
/// - A response with no matching query (capture started mid-lookup, or the query was not
///   seen) still gives a row, because its answers map server addresses to names:
///   `unsolicited = true`, `query_time`/`query_frame` = the response's, `latency_ms` null;
///   plus weird `dns-unsolicited-response`.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsLookup {
    pub query_time: Timestamp,
    pub response_time: Option<Timestamp>,
    /// From the first query transmission to the first response.
    pub latency_ms: Option<f64>,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub transport: Transport,
    pub txid: u16,
    /// First question; `""`/0 if the message had none.
    pub qname: String,
    pub qtype: u16,
    pub rcode: Option<u16>,
    /// Answer section of the first response.
    pub answers: Vec<Answer>,
    /// Smallest TTL of the answer section (null without answers).
    pub min_ttl: Option<u32>,
    pub retransmits: u32,
    /// The response had TC=1.
    pub truncated: bool,
    pub query_frame: u64,
    pub response_frame: Option<u64>,
    /// Final addresses after following the CNAME chain from qname (A/AAAA answers of the
    /// last name; plus SVCB/HTTPS ipv4hint/ipv6hint of any name on the chain), deduplicated,
    /// in answer order.
    pub addresses: Vec<IpAddr>,
    /// CNAME targets, in chain order from qname.
    pub cnames: Vec<String>,
    /// A response without a matching query (see the type's doc).
    pub unsolicited: bool,
}

impl DnsLookup {
    fn new(ts: Timestamp, frame: u64, key: &Key) -> Self {
        DnsLookup {
            query_time: ts,
            response_time: None,
            latency_ms: None,
            client_ip: key.client.ip,
            client_port: key.client.port,
            server_ip: key.server.ip,
            server_port: key.server.port,
            transport: key.transport,
            txid: key.txid,
            qname: key.qname.clone(),
            qtype: key.qtype,
            rcode: None,
            answers: Vec::new(),
            min_ttl: None,
            retransmits: 0,
            truncated: false,
            query_frame: frame,
            response_frame: None,
            addresses: Vec::new(),
            cnames: Vec::new(),
            unsolicited: false,
        }
    }

    fn set_response(&mut self, ts: Timestamp, frame: u64, msg: DnsMessage) {
        self.response_time = Some(ts);
        if !self.unsolicited {
            self.latency_ms = Some(ts.ms_since(self.query_time));
        }
        self.rcode = Some(msg.rcode);
        self.truncated = msg.truncated;
        self.response_frame = Some(frame);
        self.answers = msg.answers;
        self.min_ttl = self.answers.iter().map(|a| a.ttl).min();
        let (addresses, cnames) = resolve_chain(&self.qname, &self.answers);
        self.addresses = addresses;
        self.cnames = cnames;
    }
}

/// Follows CNAMEs from `qname` through `answers`; returns (addresses, cname targets).
pub fn resolve_chain(qname: &str, answers: &[Answer]) -> (Vec<IpAddr>, Vec<String>) {
    let mut chain = vec![qname.to_string()];
    for _ in 0..MAX_CNAME_CHAIN {
        let Some(last) = chain.last() else { break };
        let next = answers.iter().find_map(|a| match &a.data {
            RData::Cname(target) if a.name == *last => Some(target),
            _ => None,
        });
        match next {
            Some(target) if !chain.contains(target) => chain.push(target.clone()),
            _ => break,
        }
    }
    let last = chain.last().cloned().unwrap_or_default();
    let mut addresses: Vec<IpAddr> = Vec::new();
    let mut add = |ip: IpAddr| {
        if !addresses.contains(&ip) {
            addresses.push(ip);
        }
    };
    for a in answers {
        match &a.data {
            RData::A(ip) if a.name == last => add(IpAddr::V4(*ip)),
            RData::Aaaa(ip) if a.name == last => add(IpAddr::V6(*ip)),
            RData::Svcb {
                ipv4hint, ipv6hint, ..
            } if chain.contains(&a.name) => {
                ipv4hint.iter().for_each(|ip| add(IpAddr::V4(*ip)));
                ipv6hint.iter().for_each(|ip| add(IpAddr::V6(*ip)));
            }
            _ => {}
        }
    }
    chain.remove(0);
    (addresses, chain)
}

/// What identifies a lookup: both ends, transport, transaction id and question.
/// Field order matters: `by_key` is range-searched on the prefix up to `txid`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    client: Endpoint,
    server: Endpoint,
    transport: Transport,
    txid: u16,
    qname: String,
    qtype: u16,
}

#[derive(Debug)]
struct Entry {
    lookup: DnsLookup,
    key: Key,
    deadline: Timestamp,
}

/// Matches queries and responses into [`DnsLookup`]s. Feed it every unicast DNS message in
/// capture order; call [`expire`](Self::expire) now and then and
/// [`finish`](Self::finish) at the end.
#[derive(Debug)]
pub struct DnsTracker {
    by_key: BTreeMap<Key, u64>,
    entries: FxHashMap<u64, Entry>,
    /// (deadline, entry id): when each entry is emitted.
    deadlines: BTreeSet<(Timestamp, u64)>,
    next_id: u64,
    max_pending: usize,
    weirds: Vec<Weird>,
    weirds_dropped: u64,
    last_ts: Timestamp,
}

impl Default for DnsTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl DnsTracker {
    pub fn new() -> Self {
        Self::with_max_pending(MAX_PENDING)
    }

    /// A tracker holding at most `max_pending` lookups (tests; memory-tight callers).
    pub fn with_max_pending(max_pending: usize) -> Self {
        DnsTracker {
            by_key: BTreeMap::new(),
            entries: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            next_id: 0,
            max_pending,
            weirds: Vec::new(),
            weirds_dropped: 0,
            last_ts: Timestamp::default(),
        }
    }

    /// A DNS message seen from `src` to `dst` at `ts`, in frame `frame`. The message's
    /// answer records and question name move into the lookup.
    pub fn message(
        &mut self,
        ts: Timestamp,
        frame: u64,
        src: Endpoint,
        dst: Endpoint,
        transport: Transport,
        msg: DnsMessage,
    ) {
        self.last_ts = self.last_ts.max(ts);
        if msg.incomplete {
            self.weird(
                ts,
                "dns-incomplete",
                format!(
                    "frame {frame}: DNS {} txid {:#06x} only partly decoded ({} of {} answers): cut short, malformed or over a cap",
                    if msg.is_response { "response" } else { "query" },
                    msg.id,
                    msg.answers.len(),
                    msg.answer_count
                ),
            );
        }
        let is_response = msg.is_response;
        let mut msg = msg;
        let (qname, qtype) = msg
            .questions
            .first_mut()
            .map(|q| (std::mem::take(&mut q.name), q.qtype))
            .unwrap_or_default();
        let (client, server) = if is_response { (dst, src) } else { (src, dst) };
        let key = Key {
            client,
            server,
            transport,
            txid: msg.id,
            qname,
            qtype,
        };
        if is_response {
            self.response(ts, frame, key, msg);
        } else {
            self.query(ts, frame, key);
        }
    }

    fn query(&mut self, ts: Timestamp, frame: u64, key: Key) {
        if let Some(&id) = self.by_key.get(&key) {
            let mut answered = true;
            if let Some(e) = self.entries.get_mut(&id) {
                e.lookup.retransmits = e.lookup.retransmits.saturating_add(1);
                answered = e.lookup.response_time.is_some();
            }
            if !answered {
                self.reschedule(id, ts.add_ms(UNANSWERED_TIMEOUT_MS));
            }
            return;
        }
        let lookup = DnsLookup::new(ts, frame, &key);
        self.insert(ts, key, lookup, ts.add_ms(UNANSWERED_TIMEOUT_MS));
    }

    fn response(&mut self, ts: Timestamp, frame: u64, key: Key, msg: DnsMessage) {
        let id = match self.by_key.get(&key) {
            Some(&id) => Some(id),
            // Some servers omit the question in error responses: match on txid alone.
            None if msg.questions.is_empty() => self.find_unanswered_by_txid(&key),
            None => None,
        };
        let Some(id) = id else {
            self.weird(
                ts,
                "dns-unsolicited-response",
                format!(
                    "frame {frame}: response txid {:#06x} for {} {} from {}:{} matches no query seen",
                    key.txid,
                    key.qname,
                    qtype_name(key.qtype),
                    key.server.ip,
                    key.server.port
                ),
            );
            let mut lookup = DnsLookup::new(ts, frame, &key);
            lookup.unsolicited = true;
            lookup.set_response(ts, frame, msg);
            self.insert(ts, key, lookup, ts.add_ms(ANSWER_LINGER_MS));
            return;
        };
        let mut duplicate = None;
        if let Some(e) = self.entries.get_mut(&id) {
            if e.lookup.response_time.is_none() {
                e.lookup.set_response(ts, frame, msg);
            } else {
                let differs = e.lookup.answers != msg.answers || e.lookup.rcode != Some(msg.rcode);
                duplicate = Some((e.lookup.response_frame.unwrap_or_default(), differs));
            }
        }
        match duplicate {
            None => self.reschedule(id, ts.add_ms(ANSWER_LINGER_MS)),
            Some((first, differs)) => self.weird(
                ts,
                "dns-duplicate-response",
                format!(
                    "frame {frame}: another response txid {:#06x} for {} {} (first in frame {first}){}; the first is kept",
                    key.txid,
                    key.qname,
                    qtype_name(key.qtype),
                    if differs { ", with different answers" } else { "" }
                ),
            ),
        }
    }

    fn find_unanswered_by_txid(&self, key: &Key) -> Option<u64> {
        let start = Key {
            qname: String::new(),
            qtype: 0,
            ..key.clone()
        };
        self.by_key
            .range(start..)
            .take_while(|(k, _)| {
                k.client == key.client
                    && k.server == key.server
                    && k.transport == key.transport
                    && k.txid == key.txid
            })
            .map(|(_, &id)| id)
            .find(|id| {
                self.entries
                    .get(id)
                    .is_some_and(|e| e.lookup.response_time.is_none())
            })
    }

    fn insert(&mut self, ts: Timestamp, key: Key, lookup: DnsLookup, deadline: Timestamp) {
        if self.entries.len() >= self.max_pending {
            self.weird(
                ts,
                "dns-pending-cap",
                format!(
                    "frame {}: {} DNS lookups already pending (cap); {} {} txid {:#06x} not tracked",
                    lookup.query_frame,
                    self.entries.len(),
                    key.qname,
                    qtype_name(key.qtype),
                    key.txid
                ),
            );
            return;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.by_key.insert(key.clone(), id);
        self.deadlines.insert((deadline, id));
        self.entries.insert(
            id,
            Entry {
                lookup,
                key,
                deadline,
            },
        );
    }

    fn reschedule(&mut self, id: u64, deadline: Timestamp) {
        if let Some(e) = self.entries.get_mut(&id) {
            self.deadlines.remove(&(e.deadline, id));
            e.deadline = deadline;
            self.deadlines.insert((deadline, id));
        }
    }

    /// Appends finished lookups to `out`: answered ones [`ANSWER_LINGER_MS`] after their
    /// response, unanswered ones [`UNANSWERED_TIMEOUT_MS`] after their last transmission
    /// (both in capture time). Order: first query time, then query frame, then arrival.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<DnsLookup>) {
        let mut ids = Vec::new();
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            ids.push(id);
        }
        self.emit(ids, out);
        shrink_after_burst(&mut self.entries);
    }

    /// The earliest first query among lookups not yet emitted (the correlator waits for it).
    pub fn oldest_pending(&self) -> Option<Timestamp> {
        self.entries.values().map(|e| e.lookup.query_time).min()
    }

    /// End of capture: appends every remaining lookup (same order as `expire`).
    pub fn finish(&mut self, out: &mut Vec<DnsLookup>) {
        let ids = std::mem::take(&mut self.deadlines)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        self.emit(ids, out);
    }

    fn emit(&mut self, ids: Vec<u64>, out: &mut Vec<DnsLookup>) {
        let mut done: Vec<(u64, DnsLookup)> = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self.entries.remove(&id) {
                self.by_key.remove(&e.key);
                done.push((id, e.lookup));
            }
        }
        done.sort_by(|(ia, a), (ib, b)| {
            (a.query_time, a.query_frame, ia).cmp(&(b.query_time, b.query_frame, ib))
        });
        out.extend(done.into_iter().map(|(_, l)| l));
    }

    /// Takes the weirds recorded since the last call.
    pub fn weirds(&mut self) -> Vec<Weird> {
        let mut w = std::mem::take(&mut self.weirds);
        if self.weirds_dropped > 0 {
            w.push(Weird::new(
                self.last_ts,
                "dns-weirds-dropped",
                format!(
                    "{} more DNS weirds not recorded (cap {MAX_WEIRDS})",
                    self.weirds_dropped
                ),
            ));
            self.weirds_dropped = 0;
        }
        w
    }

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: String) {
        if self.weirds.len() >= MAX_WEIRDS {
            self.weirds_dropped = self.weirds_dropped.saturating_add(1);
        } else {
            self.weirds.push(Weird::new(ts, kind, detail));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// Capture time from tshark's `frame.time_epoch` split as (seconds, microseconds).
    fn t(secs: i64, micros: i64) -> Timestamp {
        Timestamp(secs * 1_000_000_000 + micros * 1_000)
    }

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn parse(s: &str) -> DnsMessage {
        parse_message(&hex(s)).unwrap()
    }

    // zeek_zeek/testing/btest/Traces/dns-svcb.pcap, frames 1 (query) and 2 (response).
    const SVCB_Q: &str = "c96401200001000000000001076578616d706c6503636f6d0000400001000029100000000000000c000a0008ae4238d93c7c8538";
    const SVCB_R: &str = "c96481000001000100000000076578616d706c6503636f6d0000400001076578616d706c6503636f6d0000400001000002580013000003666f6f076578616d706c6503636f6d00";
    // arkime_arkime/tests/pcap/dns-https.pcap, frames 1 and 2.
    const HTTPS_Q: &str = "d75c012000010000000000000a636c6f7564666c61726503636f6d0000410001";
    const HTTPS_R: &str = "d75c81a000010001000000000a636c6f7564666c61726503636f6d0000410001c00c0041000100000117003d0001000001000602683302683200040008681084e5681085e500060020260647000000000000000000681084e5260647000000000000000000681085e5";
    // OISF_suricata-verify/tests/dns-eve-v2-udp-nxdomain-soa/dns-udp-nxdomain-soa.pcap, frames 1, 2.
    const NX_Q: &str = "82950120000100000000000103646e65046f697366036e65740000010001000029100000000000000c000a0008a4f5228c58c6180a";
    const NX_R: &str = "82958183000100000001000103646e65046f697366036e65740000010001c01000060001000003830045066e732d31313009617773646e732d313303636f6d0011617773646e732d686f73746d617374657206616d617a6f6ec03b0000000100001c200000038400127500000151800000290200000000000000";
    // OISF_suricata-verify/pcaps/20250224-dns-additionals-with-cname.pcap, frame 2.
    const ADDL_CNAME_R: &str = "000085800001000100000001076578616d706c6503636f6d0000010001076578616d706c6503636f6d00000100010000012c0004c0a801010773657276696365076578616d706c6503636f6d00000500010000012c001e10696e7465726e616c2d73657276696365076578616d706c65036e657400";
    // kbandla_dpkt/examples/data/truncated_dns.pcap, frame 1: 238 bytes on the wire, 200
    // captured; ANCOUNT 9, the capture ends inside the 7th answer.
    const SNAPLEN_R: &str = "f8d38180000100090000000003617069037370640973616d73756e67646d03636f6d0000010001c00c000500010000012c0011036170690a73616d73756e67737064c01ec033000100010000003c0004364b8da1c033000100010000003c00046351fb0cc033000100010000003c0004343279f4c033000100010000003c000434d2c1cfc033000100010000003c000434329fccc033000100010000003c";
    // FoxIO-LLC_ja4/pcap/latest.pcapng: frames 67 and 70 (same query, retransmitted) and 71,
    // 76 (the response, twice), 172.16.225.48:50804 <-> 172.16.224.1:53.
    const RETX_Q: &str =
        "d6d90100000100000000000009646973636f766572790363656d05636c6f75640275730000010001";
    const RETX_R: &str = "d6d98180000100050000000009646973636f766572790363656d05636c6f75640275730000010001c00c000500010000000a001f0e643268356f6b6a7a39383735696e0a636c6f756466726f6e74036e657400c034000100010000003c00040d21a565c034000100010000003c00040d21a527c034000100010000003c00040d21a529c034000100010000003c00040d21a548";
    // zeek_zeek/testing/btest/Traces/dns-edns-ecs.pcap, frame 10: UDP DNSKEY response with
    // TC=1 from 209.112.114.33:53 to 192.168.120.22:58982 (the TCP retry is frame 11).
    const TC_R: &str = "cf5b860000010002000000010472697065036e65740000300001c00c0030000100000e1001080101030803010001ff6463d5bced6964068a2e1061a2a107d97f05976be21bd629b41ff249b60a639a423fe49a8de04eb18fc77db1462067d17c4d35471a5d47a4717d383d1148c398747221e3f6208c841334a1843ad4a1d58a6b6fcd4d7308013eac443f143f550ac5e82a68076d2e453ed4dace8c439efb4c0c73ba4fb1cdb62adcd35ca182689d9b101fb239daa836a30810c9c09bfac3a41b017860601931b4dc463328f8edf2423ede3e94cbf4670389826a1122f9130c164c9bae3eef3d7ac37975820a0dddba8b75bddda1381fbd87b94caa0ecc3bebae09e01e652d60e5500abdee1227c58d4a9749bea5825326bbc33dc576c744dacaebdc110866a0f00cd90f8cb653c00c0030000100000e1000880100030803010001b2d37c33e3051e7a203f1f622a810b7fbaafd5ebc52fec155fb6d0204d498d7d78efb41ba2294ec3befb44cbc2e8fe1f8a009b55ed7801c3d5b41e838a0aa6c06984298d644ba3b75c85c23bb6ecf1df835e7393942553dcbdd58e7317d344b490b66f84508dc4e764a8aad4f0201f51c1efdf255c960d429d11e0c157512beb0000291000000080000000";
    // the-tcpdump-group_tcpdump/tests/dns_tcp.pcap, tcp.payload of frames 4 (query,
    // 192.168.1.11:33779 -> 209.87.249.18:53) and 6 (response), length-prefixed.
    const TCP_Q: &str = "0038431901200001000000000001037777770774637064756d70036f72670000010001000029100000000000000c000a00088f06be7d691442f0";
    const TCP_R: &str = "00e0431985000001000200020005037777770774637064756d70036f72670000010001c00c000100010000003c0004c08b2e42c00c000100010000003c0004c6c75868c01000020001000151800012036e69630973616e64656c6d616e02636100c0100002000100015180001203736e7308636f6f7065726978036e657400c04d000100010000012c0004d157f912c04d001c00010000012c00102607f0b0000f000000000000babef00dc06b0001000100001c200004616b850fc06b001c000100001c20001026003c0300000000f03c91fffe96e8ef0000291000000000000000";
    // OISF_suricata-verify/tests/dns-udp-junkrequest-first/input.pcap, frame 1 (tshark:
    // "Questions: 816", malformed).
    const JUNK: &str = "304002010330";

    fn q(name: &str, qtype: u16) -> Vec<Question> {
        vec![Question {
            name: name.into(),
            qtype,
        }]
    }

    // ---- parser, against tshark's dns.qry.name / dns.qry.type / dns.flags.rcode / dns.a /
    // dns.aaaa / dns.cname / dns.resp.ttl for the same frames ----

    #[test]
    fn svcb_zeek() {
        let m = parse(SVCB_Q);
        assert_eq!(
            (m.id, m.is_response, m.opcode, m.questions.clone()),
            (0xc964, false, 0, q("example.com", 64))
        );
        let m = parse(SVCB_R);
        assert!(m.is_response && !m.truncated && !m.incomplete);
        assert_eq!((m.rcode, m.questions.clone()), (0, q("example.com", 64)));
        assert_eq!(
            m.answers,
            vec![Answer {
                name: "example.com".into(),
                rtype: 64,
                ttl: 600,
                data: RData::Svcb {
                    priority: 0,
                    target: "foo.example.com".into(),
                    alpn: vec![],
                    ipv4hint: vec![],
                    ipv6hint: vec![]
                },
            }]
        );
        assert_eq!(m.answers[0].to_string(), "SVCB 0 foo.example.com");
    }

    #[test]
    fn https_arkime() {
        let m = parse(HTTPS_R);
        assert_eq!(
            (m.id, m.rcode, m.questions.clone()),
            (0xd75c, 0, q("cloudflare.com", 65))
        );
        assert_eq!(m.answers.len(), 1);
        assert_eq!((m.answers[0].rtype, m.answers[0].ttl), (65, 279));
        let RData::Svcb {
            priority,
            target,
            alpn,
            ipv4hint,
            ipv6hint,
        } = &m.answers[0].data
        else {
            panic!("not SVCB: {:?}", m.answers[0].data);
        };
        assert_eq!((*priority, target.as_str()), (1, ""));
        assert_eq!(alpn, &["h3", "h2"]);
        assert_eq!(
            ipv4hint,
            &[
                "104.16.132.229".parse::<Ipv4Addr>().unwrap(),
                "104.16.133.229".parse().unwrap()
            ]
        );
        assert_eq!(
            ipv6hint,
            &[
                "2606:4700::6810:84e5".parse::<Ipv6Addr>().unwrap(),
                "2606:4700::6810:85e5".parse().unwrap()
            ]
        );
        assert_eq!(
            m.answers[0].to_string(),
            "HTTPS 1 . alpn=h3,h2 ipv4hint=104.16.132.229,104.16.133.229 ipv6hint=2606:4700::6810:84e5,2606:4700::6810:85e5"
        );
        let (addrs, cnames) = resolve_chain("cloudflare.com", &m.answers);
        assert_eq!(
            addrs,
            ips(&[
                "104.16.132.229",
                "104.16.133.229",
                "2606:4700::6810:84e5",
                "2606:4700::6810:85e5"
            ])
        );
        assert!(cnames.is_empty());
    }

    #[test]
    fn nxdomain_suricata() {
        let m = parse(NX_Q);
        assert_eq!(
            (m.id, m.is_response, m.questions.clone()),
            (0x8295, false, q("dne.oisf.net", 1))
        );
        let m = parse(NX_R);
        assert_eq!((m.rcode, rcode_name(m.rcode).as_ref()), (3, "NXDOMAIN"));
        assert_eq!(
            (m.answer_count, m.answers.len(), m.incomplete),
            (0, 0, false)
        );
    }

    #[test]
    fn cname_in_additional_section_is_not_an_answer() {
        // tshark's dns.cname shows internal-service.example.net, but that CNAME is an
        // additional record owned by service.example.com, not part of example.com's chain.
        let m = parse(ADDL_CNAME_R);
        assert_eq!((m.id, m.rcode), (0, 0));
        assert_eq!(
            m.answers,
            vec![Answer {
                name: "example.com".into(),
                rtype: 1,
                ttl: 300,
                data: RData::A("192.168.1.1".parse().unwrap())
            }]
        );
        let (addrs, cnames) = resolve_chain("example.com", &m.answers);
        assert_eq!((addrs, cnames.len()), (ips(&["192.168.1.1"]), 0));
    }

    #[test]
    fn snaplen_cut_response_keeps_decoded_answers() {
        let m = parse(SNAPLEN_R);
        assert!(m.incomplete);
        assert_eq!((m.id, m.rcode, m.answer_count), (0xf8d3, 0, 9));
        assert_eq!(m.questions, q("api.spd.samsungdm.com", 1));
        // tshark shows the same 6 answers (ttl 300,60,60,60,60,60).
        let ttls: Vec<u32> = m.answers.iter().map(|a| a.ttl).collect();
        assert_eq!(ttls, [300, 60, 60, 60, 60, 60]);
        let (addrs, cnames) = resolve_chain("api.spd.samsungdm.com", &m.answers);
        assert_eq!(cnames, ["api.samsungspd.com"]);
        assert_eq!(
            addrs,
            ips(&[
                "54.75.141.161",
                "99.81.251.12",
                "52.50.121.244",
                "52.210.193.207",
                "52.50.159.204"
            ])
        );
    }

    #[test]
    fn tc_flag_and_opaque_dnskey() {
        let m = parse(TC_R);
        assert!(m.truncated && m.is_response && !m.incomplete);
        assert_eq!(
            (m.id, m.rcode, m.questions.clone()),
            (0xcf5b, 0, q("ripe.net", 48))
        );
        assert_eq!(m.answers.len(), 2);
        assert!(
            m.answers
                .iter()
                .all(|a| a.rtype == 48 && a.ttl == 3600 && matches!(a.data, RData::Other(_)))
        );
        let RData::Other(data) = &m.answers[1].data else {
            unreachable!()
        };
        assert_eq!(data.len(), 0x88);
        assert!(
            m.answers[1]
                .to_string()
                .starts_with("DNSKEY \\# 136 0100030803010001b2d3")
        );
    }

    #[test]
    fn retransmit_fixture_chain() {
        let m = parse(RETX_R);
        assert_eq!(m.questions, q("discovery.cem.cloud.us", 1));
        let (addrs, cnames) = resolve_chain("discovery.cem.cloud.us", &m.answers);
        assert_eq!(cnames, ["d2h5okjz9875in.cloudfront.net"]);
        assert_eq!(
            addrs,
            ips(&[
                "13.33.165.101",
                "13.33.165.39",
                "13.33.165.41",
                "13.33.165.72"
            ])
        );
    }

    /// Builds `header + one question` with the given flags and qtype.
    fn query_bytes(id: u16, flags: u16, name: &[u8], qtype: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(name);
        b.extend_from_slice(&qtype.to_be_bytes());
        b.extend_from_slice(&[0, 1]);
        b
    }

    #[test]
    fn unknown_question_types_are_kept() {
        // simple-dns 0.13 rejects both of these (InvalidQType).
        for (qtype, name) in [(52, "TLSA"), (65280, "TYPE65280")] {
            let m = parse_message(&query_bytes(1, 0x0100, b"\x01a\x01b\x00", qtype)).unwrap();
            assert_eq!(m.questions, q("a.b", qtype));
            assert_eq!(qtype_name(qtype), name);
        }
        assert_eq!(qtype_name(65), "HTTPS");
        assert_eq!(qtype_name(28), "AAAA");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(12), "RCODE12");
    }

    #[test]
    fn names_lowercased_and_escaped() {
        let m = parse_message(&query_bytes(1, 0, b"\x05WwW\x00.\x03a\\b\x00", 1)).unwrap();
        assert_eq!(m.questions[0].name, "www\\000\\046.a\\092b");
        let root = parse_message(&query_bytes(1, 0, b"\x00", 2)).unwrap();
        assert_eq!(root.questions, q("", 2));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert_eq!(parse_message(&[0; 11]), Err(DnsError::TooShort { len: 11 }));
        // A compression pointer to itself.
        let looped = query_bytes(1, 0, b"\xc0\x0c", 1);
        assert_eq!(
            parse_message(&looped),
            Err(DnsError::BadQuestion {
                offset: 12,
                len: looped.len()
            })
        );
        // Reserved label type 0x40.
        assert!(parse_message(&query_bytes(1, 0, b"\x41a\x00", 1)).is_err());
        assert!(parse_message(&hex(JUNK)).is_err());
        assert_eq!(DnsError::TooShort { len: 3 }.kind(), "dns-malformed");
    }

    #[test]
    fn extended_rcode_from_opt() {
        // NOERROR header + OPT whose TTL's top byte is 1: rcode 16 = BADVERS.
        let mut b = query_bytes(7, 0x8000, b"\x01a\x00", 1);
        b[11] = 1; // ARCOUNT
        b.extend_from_slice(&[0, 0, 41, 0x10, 0, 0x01, 0, 0, 0, 0, 0]);
        let m = parse_message(&b).unwrap();
        assert_eq!(
            (m.rcode, rcode_name(m.rcode).as_ref(), m.incomplete),
            (16, "BADVERS", false)
        );
        // The NXDOMAIN fixture's OPT has extended bits 0: rcode stays 3.
        assert_eq!(parse(NX_R).rcode, 3);
    }

    #[test]
    fn looks_like_dns_heuristic() {
        assert!(looks_like_dns(&hex(RETX_Q)));
        assert!(looks_like_dns(&hex(HTTPS_R)));
        assert!(!looks_like_dns(&hex(JUNK)));
        assert!(!looks_like_dns(
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
        ));
        let mut trailing = hex(RETX_Q);
        trailing.push(0);
        assert!(!looks_like_dns(&trailing));
        assert!(!looks_like_dns(&hex(SNAPLEN_R)));
        assert!(!looks_like_dns(&query_bytes(1, 0x2800, b"\x01a\x00", 1))); // opcode 5
    }

    #[test]
    fn multicast_detection() {
        assert!(is_multicast_dns(
            &ep("192.168.1.2", 5353),
            &ep("224.0.0.251", 5353)
        ));
        assert!(is_multicast_dns(
            &ep("fe80::1", 5353),
            &ep("fe80::2", 51000)
        ));
        assert!(is_multicast_dns(
            &ep("192.168.1.2", 51000),
            &ep("224.0.0.252", 5355)
        ));
        assert!(is_multicast_dns(
            &ep("fe80::1", 51000),
            &ep("ff02::1:3", 5355)
        ));
        assert!(!is_multicast_dns(
            &ep("172.16.225.48", 50804),
            &ep("172.16.224.1", 53)
        ));
    }

    // ---- TCP framing ----

    fn frame_all(
        framer: &mut TcpFramer,
        segments: &[(Timestamp, &[u8])],
    ) -> Vec<(Timestamp, Vec<u8>)> {
        let mut got = Vec::new();
        for (ts, seg) in segments {
            framer.push(*ts, seg, &mut |t, m| got.push((t, m.to_vec())));
        }
        got
    }

    #[test]
    fn tcp_dns_tcpdump_fixture() {
        let (qb, rb) = (hex(TCP_Q), hex(TCP_R));
        let mut client = TcpFramer::new();
        let got = frame_all(&mut client, &[(t(1591780863, 847323), &qb)]);
        assert_eq!(got.len(), 1);
        let m = parse_message(&got[0].1).unwrap();
        assert_eq!(
            (m.id, m.is_response, m.questions.clone()),
            (0x4319, false, q("www.tcpdump.org", 1))
        );

        let mut server = TcpFramer::new();
        let got = frame_all(&mut server, &[(t(1591780863, 973180), &rb)]);
        assert_eq!(got, vec![(t(1591780863, 973180), rb[2..].to_vec())]);
        let m = parse_message(&got[0].1).unwrap();
        assert!(!m.incomplete);
        // Answer section only: tshark's dns.a also lists the 2 glue A records.
        let a: Vec<String> = m.answers.iter().map(|a| a.to_string()).collect();
        assert_eq!(a, ["A 192.139.46.66", "A 198.199.88.104"]);
        assert_eq!(
            m.answers.iter().map(|a| a.ttl).collect::<Vec<_>>(),
            [60, 60]
        );
    }

    #[test]
    fn tcp_split_at_every_byte_and_several_per_segment() {
        let stream: Vec<u8> = [hex(TCP_Q), hex(TCP_Q), hex(TCP_R)].concat();
        let expected = vec![
            hex(TCP_Q)[2..].to_vec(),
            hex(TCP_Q)[2..].to_vec(),
            hex(TCP_R)[2..].to_vec(),
        ];
        for cut in 0..=stream.len() {
            let mut f = TcpFramer::new();
            let (a, b) = stream.split_at(cut);
            let got: Vec<Vec<u8>> = frame_all(&mut f, &[(t(1, 0), a), (t(2, 0), b)])
                .into_iter()
                .map(|x| x.1)
                .collect();
            assert_eq!(got, expected, "cut at {cut}");
        }
        // Byte by byte: each message gets the time of the segment completing it.
        let mut f = TcpFramer::new();
        let segs: Vec<(Timestamp, &[u8])> = stream
            .chunks(1)
            .enumerate()
            .map(|(i, c)| (Timestamp(i as i64), c))
            .collect();
        let got = frame_all(&mut f, &segs);
        let ends: Vec<i64> = got.iter().map(|x| x.0.0).collect();
        assert_eq!(ends, [0x39, 0x39 * 2 + 1, stream.len() as i64 - 1]);
    }

    #[test]
    fn tcp_gap_resyncs_on_a_plausible_message_start() {
        let (qb, rb) = (hex(TCP_Q), hex(TCP_R));
        let mut f = TcpFramer::new();
        let mut got = frame_all(&mut f, &[(t(1, 0), &rb[..40])]);
        f.gap();
        // The rest of the lost message, then a new message: only the latter comes out.
        got.extend(frame_all(&mut f, &[(t(2, 0), &rb[100..]), (t(3, 0), &qb)]));
        assert_eq!(got, vec![(t(3, 0), qb[2..].to_vec())]);
        // A zero-length message is delivered empty (the parser then rejects it).
        let got = frame_all(&mut TcpFramer::new(), &[(t(4, 0), &[0, 0])]);
        assert_eq!(got, vec![(t(4, 0), vec![])]);
    }

    // ---- tracker ----

    const CLIENT: &str = "172.16.225.48";
    const SERVER: &str = "172.16.224.1";

    fn drain(tr: &mut DnsTracker) -> Vec<DnsLookup> {
        let mut out = Vec::new();
        tr.finish(&mut out);
        out
    }

    #[test]
    fn retransmission_counted_latency_from_first_query() {
        // latest.pcapng frames 67, 70, 71, 76 (tshark: 70 is a retransmitted request, 76
        // a retransmitted response).
        let (c, s) = (ep(CLIENT, 50804), ep(SERVER, 53));
        let (qm, rm) = (parse(RETX_Q), parse(RETX_R));
        let mut tr = DnsTracker::new();
        tr.message(t(1687555547, 528343), 67, c, s, Transport::Udp, qm.clone());
        tr.message(t(1687555547, 572969), 70, c, s, Transport::Udp, qm.clone());
        tr.message(t(1687555547, 574005), 71, s, c, Transport::Udp, rm.clone());
        tr.message(t(1687555547, 593073), 76, s, c, Transport::Udp, rm.clone());
        let mut out = Vec::new();
        tr.expire(t(1687555548, 574004), &mut out);
        assert!(out.is_empty(), "still lingering for late duplicates");
        tr.expire(t(1687555548, 574005), &mut out);
        assert_eq!(out.len(), 1);
        let l = &out[0];
        assert_eq!(
            (l.retransmits, l.query_frame, l.response_frame),
            (1, 67, Some(71))
        );
        assert_eq!(
            (l.query_time, l.response_time),
            (t(1687555547, 528343), Some(t(1687555547, 574005)))
        );
        assert!((l.latency_ms.unwrap() - 45.662).abs() < 1e-9);
        assert_eq!(
            (l.rcode, l.min_ttl, l.truncated, l.unsolicited),
            (Some(0), Some(10), false, false)
        );
        assert_eq!(
            (l.qname.as_str(), l.qtype, l.txid, l.transport.as_str()),
            ("discovery.cem.cloud.us", 1, 0xd6d9, "udp")
        );
        assert_eq!(
            (l.client_ip, l.client_port, l.server_port),
            (c.ip, 50804, 53)
        );
        assert_eq!(l.cnames, ["d2h5okjz9875in.cloudfront.net"]);
        assert_eq!(l.addresses.len(), 4);
        let w = tr.weirds();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "dns-duplicate-response");
        assert!(w[0].detail.contains("first in frame 71") && !w[0].detail.contains("different"));
        assert!(drain(&mut tr).is_empty());
    }

    /// A burst of lookups does not keep its table after they are emitted.
    #[test]
    fn entries_table_shrinks_after_a_burst() {
        let (c, s) = (ep(CLIENT, 50804), ep(SERVER, 53));
        let mut tr = DnsTracker::new();
        for i in 0..5_000u16 {
            let mut m = parse(RETX_Q);
            m.id = i;
            tr.message(
                t(100, i64::from(i) * 1000),
                u64::from(i),
                c,
                s,
                Transport::Udp,
                m,
            );
        }
        assert!(tr.entries.capacity() >= 5_000);
        let mut out = Vec::new();
        tr.expire(t(200, 0), &mut out);
        assert_eq!(out.len(), 5_000);
        assert!(tr.entries.capacity() < 64, "{}", tr.entries.capacity());
    }

    #[test]
    fn unanswered_query_times_out_and_is_emitted_on_finish() {
        let (c, s) = (ep(CLIENT, 50804), ep(SERVER, 53));
        let qm = parse(RETX_Q);
        let mut tr = DnsTracker::new();
        tr.message(t(100, 0), 1, c, s, Transport::Udp, qm.clone());
        tr.message(t(105, 0), 2, c, s, Transport::Udp, qm.clone()); // retransmission extends the wait
        let mut out = Vec::new();
        tr.expire(t(114, 999_999), &mut out);
        assert!(out.is_empty());
        tr.expire(t(115, 0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (
                out[0].response_time,
                out[0].rcode,
                out[0].latency_ms,
                out[0].retransmits
            ),
            (None, None, None, 1)
        );

        tr.message(t(200, 0), 3, c, s, Transport::Udp, qm.clone());
        let out = drain(&mut tr);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (
                out[0].query_frame,
                out[0].response_frame,
                out[0].answers.len()
            ),
            (3, None, 0)
        );
    }

    #[test]
    fn truncated_udp_answer_then_tcp_retry() {
        // dns-edns-ecs.pcap frame 10 (TC=1 over UDP) and its TCP retry (frame 11, txid
        // 0x183a, client port 56653); the queries are not in that capture, so built here.
        let (cu, ct, s) = (
            ep("192.168.120.22", 58982),
            ep("192.168.120.22", 56653),
            ep("209.112.114.33", 53),
        );
        let query =
            parse_message(&query_bytes(0xcf5b, 0x0000, b"\x04ripe\x03net\x00", 48)).unwrap();
        let tc = parse(TC_R);
        let mut tcp_query = query.clone();
        tcp_query.id = 0x183a;
        let mut tcp_resp = tc.clone();
        (tcp_resp.id, tcp_resp.truncated) = (0x183a, false);

        let mut tr = DnsTracker::new();
        tr.message(
            t(1534836769, 250000),
            9,
            cu,
            s,
            Transport::Udp,
            query.clone(),
        );
        tr.message(t(1534836769, 263573), 10, s, cu, Transport::Udp, tc.clone());
        tr.message(
            t(1534836769, 264000),
            11,
            ct,
            s,
            Transport::Tcp,
            tcp_query.clone(),
        );
        tr.message(
            t(1534836769, 271918),
            12,
            s,
            ct,
            Transport::Tcp,
            tcp_resp.clone(),
        );
        let out = drain(&mut tr);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].transport, out[0].truncated, out[0].rcode),
            (Transport::Udp, true, Some(0))
        );
        assert!((out[0].latency_ms.unwrap() - 13.573).abs() < 1e-9);
        assert_eq!(
            (out[1].transport, out[1].truncated, out[1].txid),
            (Transport::Tcp, false, 0x183a)
        );
        assert_eq!(
            (out[1].qname.as_str(), out[1].qtype, out[1].answers.len()),
            ("ripe.net", 48, 2)
        );
        assert!(tr.weirds().is_empty());
    }

    #[test]
    fn txid_collision_with_different_question_kept_separate() {
        let (c, s) = (ep(CLIENT, 40000), ep(SERVER, 53));
        let qa = parse_message(&query_bytes(0x1234, 0x0100, b"\x01a\x07example\x00", 1)).unwrap();
        let mut qaaaa = qa.clone();
        qaaaa.questions[0].qtype = 28;
        let resp = |qm: &DnsMessage, data: RData, rtype| DnsMessage {
            is_response: true,
            answers: vec![Answer {
                name: "a.example".into(),
                rtype,
                ttl: 30,
                data,
            }],
            answer_count: 1,
            ..qm.clone()
        };
        let ra = resp(&qa, RData::A("192.0.2.1".parse().unwrap()), 1);
        let raaaa = resp(&qaaaa, RData::Aaaa("2001:db8::1".parse().unwrap()), 28);
        let mut tr = DnsTracker::new();
        tr.message(t(1, 0), 1, c, s, Transport::Udp, qa.clone());
        tr.message(t(1, 100), 2, c, s, Transport::Udp, qaaaa.clone());
        tr.message(t(1, 5000), 3, s, c, Transport::Udp, raaaa.clone());
        tr.message(t(1, 9000), 4, s, c, Transport::Udp, ra.clone());
        let out = drain(&mut tr);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].qtype, out[0].retransmits, out[0].response_frame),
            (1, 0, Some(4))
        );
        assert_eq!(out[0].addresses, ips(&["192.0.2.1"]));
        assert_eq!(
            (out[1].qtype, out[1].retransmits, out[1].response_frame),
            (28, 0, Some(3))
        );
        assert_eq!(out[1].addresses, ips(&["2001:db8::1"]));
        assert!((out[1].latency_ms.unwrap() - 4.9).abs() < 1e-9);
    }

    #[test]
    fn unsolicited_response_still_gives_a_row() {
        // dns-https.pcap frame 2 without frame 1.
        let (c, s) = (ep("10.15.33.65", 50457), ep("8.8.8.8", 53));
        let mut tr = DnsTracker::new();
        tr.message(
            t(1710773996, 379777),
            2,
            s,
            c,
            Transport::Udp,
            parse(HTTPS_R),
        );
        let out = drain(&mut tr);
        assert_eq!(out.len(), 1);
        let l = &out[0];
        assert!(l.unsolicited);
        assert_eq!(
            (l.query_time, l.response_time, l.latency_ms),
            (t(1710773996, 379777), Some(t(1710773996, 379777)), None)
        );
        assert_eq!(
            (l.query_frame, l.response_frame, l.addresses.len()),
            (2, Some(2), 4)
        );
        assert_eq!(tr.weirds()[0].kind, "dns-unsolicited-response");
    }

    #[test]
    fn https_lookup_latency_matches_tshark() {
        // tshark dns.time for dns-https.pcap frame 2: 0.016476000 s.
        let (c, s) = (ep("10.15.33.65", 50457), ep("8.8.8.8", 53));
        let mut tr = DnsTracker::new();
        tr.message(
            t(1710773996, 363301),
            1,
            c,
            s,
            Transport::Udp,
            parse(HTTPS_Q),
        );
        tr.message(
            t(1710773996, 379777),
            2,
            s,
            c,
            Transport::Udp,
            parse(HTTPS_R),
        );
        let out = drain(&mut tr);
        assert!((out[0].latency_ms.unwrap() - 16.476).abs() < 1e-9);
        assert_eq!(out[0].min_ttl, Some(279));
    }

    #[test]
    fn response_without_question_matches_on_txid_and_differing_duplicate_noted() {
        let (c, s) = (ep(CLIENT, 40000), ep(SERVER, 53));
        let qm = parse(NX_Q);
        let mut formerr = parse(NX_R);
        formerr.questions.clear();
        formerr.rcode = 1;
        let mut tr = DnsTracker::new();
        tr.message(t(1, 0), 1, c, s, Transport::Udp, qm.clone());
        tr.message(t(1, 1000), 2, s, c, Transport::Udp, formerr.clone());
        tr.message(t(1, 2000), 3, s, c, Transport::Udp, parse(NX_R));
        let out = drain(&mut tr);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].rcode, out[0].qname.as_str(), out[0].response_frame),
            (Some(1), "dne.oisf.net", Some(2))
        );
        let w = tr.weirds();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].detail.contains("with different answers"),
            "{}",
            w[0].detail
        );
    }

    #[test]
    fn pending_cap_reported_and_incomplete_noted() {
        let s = ep(SERVER, 53);
        let qm = parse(RETX_Q);
        let mut tr = DnsTracker::with_max_pending(2);
        for port in 1..=3 {
            tr.message(
                t(10 - i64::from(port), 0),
                u64::from(port),
                ep(CLIENT, port),
                s,
                Transport::Udp,
                qm.clone(),
            );
        }
        tr.message(
            t(11, 0),
            4,
            s,
            ep(CLIENT, 9),
            Transport::Udp,
            parse(SNAPLEN_R),
        );
        let kinds: Vec<&str> = tr.weirds().iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            [
                "dns-pending-cap",
                "dns-incomplete",
                "dns-unsolicited-response",
                "dns-pending-cap"
            ]
        );
        // Deterministic order: by first query time, not arrival.
        let frames: Vec<u64> = drain(&mut tr).iter().map(|l| l.query_frame).collect();
        assert_eq!(frames, [2, 1]);
    }

    #[test]
    fn weird_buffer_is_capped() {
        let mut tr = DnsTracker::new();
        let rm = parse(RETX_R);
        for i in 0..(MAX_WEIRDS as u64 + 5) {
            tr.message(
                t(1, 0),
                i,
                ep(SERVER, 53),
                ep(CLIENT, 1000),
                Transport::Udp,
                rm.clone(),
            );
        }
        let w = tr.weirds();
        assert_eq!(w.len(), MAX_WEIRDS + 1);
        assert_eq!(w[MAX_WEIRDS].kind, "dns-weirds-dropped");
        assert!(w[MAX_WEIRDS].detail.starts_with("5 more"));
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_message(&bytes);
            let _ = looks_like_dns(&bytes);
        }

        #[test]
        fn parser_never_panics_on_mutated_fixture(pos in 0usize..300, val in any::<u8>(), cut in 0usize..300) {
            let mut b = hex(HTTPS_R);
            let n = b.len();
            b[pos % n] = val;
            b.truncate(cut % (n + 1));
            if let Ok(m) = parse_message(&b) {
                let _ = resolve_chain(m.questions.first().map_or("", |q| q.name.as_str()), &m.answers);
                for a in &m.answers { let _ = a.to_string(); }
            }
        }

        #[test]
        fn framer_is_split_invariant(cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let stream: Vec<u8> = [hex(TCP_Q), hex(TCP_R), hex(TCP_Q)].concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut segs = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                segs.push((Timestamp(0), &stream[prev..c]));
                prev = c;
            }
            let got: Vec<Vec<u8>> = frame_all(&mut TcpFramer::new(), &segs).into_iter().map(|x| x.1).collect();
            prop_assert_eq!(got, vec![hex(TCP_Q)[2..].to_vec(), hex(TCP_R)[2..].to_vec(), hex(TCP_Q)[2..].to_vec()]);
        }
    }
}

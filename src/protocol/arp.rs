//! ARP (Ethernet/IPv4): parses ARP packets and pairs requests with replies, one `arp`
//! table row per exchange: request/reply times and latency, gratuitous announcements,
//! unanswered requests. Rows keep frame numbers and retransmission counts for the
//! `blocked` phase (a client waiting for its next hop's address).
//!
//! Owns: [`parse_arp`], [`ArpPacket`], [`ArpTracker`], [`ArpExchange`], [`format_mac`].
//! Imports only `crate::base`, std and crates; never another protocol module.
//!
//! Pairing: a request is pending under (requester IP, target IP); repeated requests while it
//! is pending are retransmissions (latency counts from the first). A reply from the target
//! IP to the requester IP answers it. A request or reply whose sender IP equals its target
//! IP, or a reply sent to a broadcast/zero target MAC without a pending request, is
//! gratuitous and becomes its own row. A request unanswered [`ARP_TIMEOUT_NS`] after its
//! last transmission is emitted with no reply. A unicast reply with no pending request
//! (its request was before the capture, or a duplicate reply) is a row without
//! `request_time` plus an `arp-unsolicited-reply` weird.
//!
//! Limitations: pairing uses IP addresses only (a reply's target MAC is not checked against
//! the requester's MAC); RARP/InARP opcodes are reported as weirds and otherwise ignored.

use crate::base::{SeededMap, Timestamp, Weird, WeirdLog};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// ARP body length for Ethernet/IPv4 (8-byte header + 2 × (6 + 4)).
pub const ARP_LEN: usize = 28;
/// A request unanswered this long after its last transmission is given up (capture time).
pub const ARP_TIMEOUT_NS: i64 = 5_000_000_000;
/// Most requests awaiting a reply; beyond this the least recently sent one is emitted as
/// unanswered early (`arp-pending-cap` weird).
pub const MAX_PENDING: usize = 4096;
/// Completed rows waiting for the next `expire`/`finish` call.
pub const MAX_DONE: usize = 65_536;
/// Completed rows held back so rows come out in `arp_id` order (an older request is still
/// pending); beyond this they are handed out anyway.
pub const MAX_HELD: usize = 4096;
/// Weirds held until `weirds()` is called; beyond this they are counted, then reported once.
pub const MAX_WEIRDS: usize = 1024;

pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// Why bytes are not an Ethernet/IPv4 ARP packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    #[error("ARP packet is {len} bytes, shorter than {ARP_LEN}")]
    Truncated { len: usize },
    #[error(
        "ARP for hardware type {htype} / protocol 0x{ptype:04x} \
         (address lengths {hlen}/{plen}) is not Ethernet/IPv4"
    )]
    Unsupported {
        htype: u16,
        ptype: u16,
        hlen: u8,
        plen: u8,
    },
}

impl ArpError {
    /// Stable kebab-case code for a [`Weird`].
    pub fn kind(&self) -> &'static str {
        match self {
            ArpError::Truncated { .. } => "arp-truncated",
            ArpError::Unsupported { .. } => "arp-unsupported",
        }
    }
}

/// One decoded Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    /// 1 = request, 2 = reply (others are RARP/InARP).
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

/// Parses an ARP body (the bytes after the Ethernet/VLAN/SLL header; trailing padding is
/// ignored). Only hardware type 1 (Ethernet; 6, IEEE 802, is accepted too) with protocol
/// 0x0800, hlen 6, plen 4.
pub fn parse_arp(bytes: &[u8]) -> Result<ArpPacket, ArpError> {
    let Some(b) = bytes.get(..ARP_LEN) else {
        return Err(ArpError::Truncated { len: bytes.len() });
    };
    let be16 = |i: usize| u16::from_be_bytes([at(b, i), at(b, i + 1)]);
    let (htype, ptype, hlen, plen) = (be16(0), be16(2), at(b, 4), at(b, 5));
    if !matches!(htype, 1 | 6) || ptype != 0x0800 || hlen != 6 || plen != 4 {
        return Err(ArpError::Unsupported {
            htype,
            ptype,
            hlen,
            plen,
        });
    }
    Ok(ArpPacket {
        op: be16(6),
        sender_mac: mac_at(b, 8),
        sender_ip: ip_at(b, 14),
        target_mac: mac_at(b, 18),
        target_ip: ip_at(b, 24),
    })
}

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn mac_at(b: &[u8], i: usize) -> [u8; 6] {
    std::array::from_fn(|k| at(b, i + k))
}

fn ip_at(b: &[u8], i: usize) -> Ipv4Addr {
    Ipv4Addr::new(at(b, i), at(b, i + 1), at(b, i + 2), at(b, i + 3))
}

/// A MAC address as lower-case `02:77:00:00:00:64` (any length).
pub fn format_mac(m: &[u8]) -> String {
    let mut s = String::with_capacity(m.len().saturating_mul(3));
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// One `arp` table row.
///
/// For a request (answered or not) and an unsolicited unicast reply, `sender_*` is the
/// requester and `target_ip`/`target_mac` the address asked for and the answer. For a
/// gratuitous row, `sender_*` is the announcer, `target_ip` the packet's target IP and
/// `target_mac` is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct ArpExchange {
    /// Sequential, in capture order of each row's first packet.
    pub arp_id: u64,
    /// First transmission of the request.
    pub request_time: Option<Timestamp>,
    pub reply_time: Option<Timestamp>,
    /// Reply time minus first request time.
    pub latency_ms: Option<f64>,
    pub sender_ip: Ipv4Addr,
    pub sender_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
    /// The answer: the replier's sender MAC.
    pub target_mac: Option<[u8; 6]>,
    pub gratuitous: bool,
    /// Requests sent after the first one before the reply (or the timeout).
    pub retransmits: u32,
    /// Frame of the first request.
    pub request_frame: Option<u64>,
    /// Time of the last request transmission.
    pub last_request_time: Option<Timestamp>,
    pub reply_frame: Option<u64>,
}

impl ArpExchange {
    fn request(id: u64, ts: Timestamp, frame: u64, p: &ArpPacket) -> Self {
        ArpExchange {
            arp_id: id,
            request_time: Some(ts),
            reply_time: None,
            latency_ms: None,
            sender_ip: p.sender_ip,
            sender_mac: p.sender_mac,
            target_ip: p.target_ip,
            target_mac: None,
            gratuitous: false,
            retransmits: 0,
            request_frame: Some(frame),
            last_request_time: Some(ts),
            reply_frame: None,
        }
    }
}

/// Pairs ARP requests and replies into [`ArpExchange`] rows.
///
/// Completed rows are queued and handed out by the next [`ArpTracker::expire`] or
/// [`ArpTracker::finish`] call (at most [`MAX_DONE`] are queued): call `expire` regularly.
/// Rows come out in `arp_id` order (capture order of first packets): a finished row waits
/// for older requests still pending (up to [`MAX_HELD`] rows).
#[derive(Default)]
pub struct ArpTracker {
    /// (requester IP, target IP) → request awaiting its reply.
    pending: SeededMap<(Ipv4Addr, Ipv4Addr), ArpExchange>,
    /// `arp_id`s in `pending`: the first is the output watermark.
    pending_ids: BTreeSet<u64>,
    done: Vec<ArpExchange>,
    next_id: u64,
    /// Earliest capture time at which some pending request may time out.
    next_due: i64,
    weirds: WeirdLog,
    evicted: u64,
    done_dropped: u64,
    last_ts: Timestamp,
}

impl ArpTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests awaiting a reply.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one parsed packet (`frame` is the capture frame number). The caller reports
    /// `parse_arp` errors itself (`Weird::new(ts, e.kind(), e.to_string())`).
    pub fn packet(&mut self, ts: Timestamp, frame: u64, p: &ArpPacket) {
        self.last_ts = self.last_ts.max(ts);
        match p.op {
            OP_REQUEST => self.on_request(ts, frame, p),
            OP_REPLY => self.on_reply(ts, frame, p),
            op => {
                let d = format!("frame {frame}: ARP opcode {op} (not request/reply) ignored");
                self.weird(ts, "arp-unknown-opcode", d);
            }
        }
    }

    fn on_request(&mut self, ts: Timestamp, frame: u64, p: &ArpPacket) {
        if p.sender_ip == p.target_ip && !p.sender_ip.is_unspecified() {
            let mut ex = ArpExchange::request(self.new_id(), ts, frame, p);
            ex.gratuitous = true;
            self.push_done(ex);
            return;
        }
        let key = (p.sender_ip, p.target_ip);
        self.timeout_key(ts, key);
        if let Some(ex) = self.pending.get_mut(&key) {
            ex.retransmits = ex.retransmits.saturating_add(1);
            ex.last_request_time = Some(ts);
        } else {
            if self.pending.len() >= MAX_PENDING {
                self.evict_oldest(ts);
            }
            let ex = ArpExchange::request(self.new_id(), ts, frame, p);
            self.insert_pending(key, ex);
        }
        let due = ts.0.saturating_add(ARP_TIMEOUT_NS);
        if self.pending.len() == 1 || due < self.next_due {
            self.next_due = due;
        }
    }

    fn on_reply(&mut self, ts: Timestamp, frame: u64, p: &ArpPacket) {
        let key = (p.target_ip, p.sender_ip);
        self.timeout_key(ts, key);
        if let Some(mut ex) = self.remove_pending(&key) {
            ex.reply_time = Some(ts);
            ex.reply_frame = Some(frame);
            ex.target_mac = Some(p.sender_mac);
            ex.latency_ms = ex.request_time.map(|r| ts.ms_since(r));
            self.push_done(ex);
            return;
        }
        let broadcast = p.target_mac == [0xff; 6] || p.target_mac == [0; 6];
        let gratuitous = broadcast || p.sender_ip == p.target_ip;
        let ex = if gratuitous {
            ArpExchange {
                sender_ip: p.sender_ip,
                sender_mac: p.sender_mac,
                target_ip: p.target_ip,
                target_mac: None,
                gratuitous: true,
                ..self.reply_only(ts, frame)
            }
        } else {
            let d = format!(
                "frame {frame}: ARP reply {} is-at {} to {} without a pending request",
                p.sender_ip,
                format_mac(&p.sender_mac),
                p.target_ip
            );
            self.weird(ts, "arp-unsolicited-reply", d);
            ArpExchange {
                sender_ip: p.target_ip,
                sender_mac: p.target_mac,
                target_ip: p.sender_ip,
                target_mac: Some(p.sender_mac),
                gratuitous: false,
                ..self.reply_only(ts, frame)
            }
        };
        self.push_done(ex);
    }

    /// A row with only a reply; addresses are filled in by the caller.
    fn reply_only(&mut self, ts: Timestamp, frame: u64) -> ArpExchange {
        ArpExchange {
            arp_id: self.new_id(),
            request_time: None,
            reply_time: Some(ts),
            latency_ms: None,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            sender_mac: [0; 6],
            target_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: None,
            gratuitous: false,
            retransmits: 0,
            request_frame: None,
            last_request_time: None,
            reply_frame: Some(frame),
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id = self.next_id.saturating_add(1);
        self.next_id
    }

    fn is_timed_out(ex: &ArpExchange, now: i64) -> bool {
        let last = ex.last_request_time.map_or(i64::MIN, |t| t.0);
        last.saturating_add(ARP_TIMEOUT_NS) <= now
    }

    /// Gives up the request under `key` if it timed out by `ts` (even when `expire` was not
    /// called in time), so a late packet does not join it.
    fn timeout_key(&mut self, ts: Timestamp, key: (Ipv4Addr, Ipv4Addr)) {
        let timed_out = self
            .pending
            .get(&key)
            .is_some_and(|ex| Self::is_timed_out(ex, ts.0));
        if timed_out && let Some(ex) = self.remove_pending(&key) {
            self.push_done(ex);
        }
    }

    fn evict_oldest(&mut self, ts: Timestamp) {
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, ex)| (ex.last_request_time, ex.arp_id))
            .map(|(k, _)| *k);
        if let Some(ex) = oldest.and_then(|k| self.remove_pending(&k)) {
            self.evicted = self.evicted.saturating_add(1);
            if self.evicted == 1 {
                let d = format!(
                    "more than {MAX_PENDING} ARP requests awaiting replies; \
                     least recent ones emitted as unanswered early"
                );
                self.weird(ts, "arp-pending-cap", d);
            }
            self.push_done(ex);
        }
    }

    fn push_done(&mut self, ex: ArpExchange) {
        if self.done.len() < MAX_DONE {
            self.done.push(ex);
        } else {
            self.done_dropped = self.done_dropped.saturating_add(1);
            if self.done_dropped == 1 {
                let d = format!(
                    "more than {MAX_DONE} completed ARP rows queued (expire not called); \
                     rows dropped"
                );
                self.weird(self.last_ts, "arp-output-cap", d);
            }
        }
    }

    /// Hands out completed rows and requests unanswered [`ARP_TIMEOUT_NS`] after their last
    /// transmission at capture time `now`, in `arp_id` order.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<ArpExchange>) {
        if !self.pending.is_empty() && now.0 >= self.next_due {
            let mut timed_out: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
            let mut next_due = i64::MAX;
            for (k, ex) in &self.pending {
                if Self::is_timed_out(ex, now.0) {
                    timed_out.push(*k);
                } else {
                    let last = ex.last_request_time.map_or(i64::MIN, |t| t.0);
                    next_due = next_due.min(last.saturating_add(ARP_TIMEOUT_NS));
                }
            }
            for k in timed_out {
                if let Some(ex) = self.remove_pending(&k) {
                    self.push_done(ex);
                }
            }
            self.next_due = next_due;
        }
        self.drain_done(out);
    }

    /// The earliest request time among exchanges not yet handed out (in progress, or done and
    /// held back for `arp_id` order).
    pub fn oldest_pending(&self) -> Option<Timestamp> {
        self.pending
            .values()
            .chain(self.done.iter())
            .filter_map(|e| e.request_time)
            .min()
    }

    /// End of capture: hands out every row (pending requests as unanswered), by `arp_id`.
    pub fn finish(&mut self, out: &mut Vec<ArpExchange>) {
        let rest: Vec<ArpExchange> = self.pending.drain().map(|(_, ex)| ex).collect();
        self.pending_ids.clear();
        for ex in rest {
            self.push_done(ex);
        }
        self.drain_done(out);
        if self.evicted > 1 {
            let d = format!("{} ARP requests emitted early in total", self.evicted);
            self.weird(self.last_ts, "arp-pending-cap", d);
            self.evicted = 1;
        }
    }

    /// Hands out done rows older than every pending request, in `arp_id` order.
    fn drain_done(&mut self, out: &mut Vec<ArpExchange>) {
        self.done.sort_by_key(|e| e.arp_id);
        let watermark = match self.pending_ids.first() {
            Some(&id) if self.done.len() <= MAX_HELD => id,
            _ => u64::MAX,
        };
        let n = self.done.partition_point(|e| e.arp_id < watermark);
        out.extend(self.done.drain(..n));
    }

    fn insert_pending(&mut self, key: (Ipv4Addr, Ipv4Addr), ex: ArpExchange) {
        self.pending_ids.insert(ex.arp_id);
        self.pending.insert(key, ex);
    }

    fn remove_pending(&mut self, key: &(Ipv4Addr, Ipv4Addr)) -> Option<ArpExchange> {
        let ex = self.pending.remove(key)?;
        self.pending_ids.remove(&ex.arp_id);
        Some(ex)
    }

    /// Takes the weirds collected so far.
    pub fn weirds(&mut self) -> Vec<Weird> {
        self.weirds.take(self.last_ts, "arp-weird-cap", "ARP")
    }

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: String) {
        self.weirds.push(MAX_WEIRDS, Weird::new(ts, kind, detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ts(sec: i64, usec: i64) -> Timestamp {
        Timestamp(sec * 1_000_000_000 + usec * 1000)
    }

    fn arp(hex: &str) -> ArpPacket {
        parse_arp(&unhex(hex)).unwrap()
    }

    // arkime/tests/pcap/cloudshark-arp.pcap, ARP bodies of frames 1, 2, 5, 6 with times.
    const CLOUDSHARK: [(i64, i64, &str); 4] = [
        (
            1352595620,
            652165,
            "0001080006040001001a6b6c0ccc0a0a0a020000000000000a0a0a01",
        ),
        (
            1352595620,
            652195,
            "0001080006040002001d09f092ab0a0a0a01001a6b6c0ccc0a0a0a02",
        ),
        (
            1352595625,
            652633,
            "0001080006040001001d09f092ab0a0a0a010000000000000a0a0a02",
        ),
        (
            1352595625,
            653150,
            "0001080006040002001a6b6c0ccc0a0a0a02001d09f092ab0a0a0a01",
        ),
    ];
    const CLOUDSHARK_FRAMES: [u64; 4] = [1, 2, 5, 6];

    // zeek/testing/btest/Traces/linuxsll-arp.pcap: all 12 frames are requests.
    const SLL_REQ_A: &str = "0001080006040001cc2de0261999c0a81601000000000000c0a816a0";
    const SLL_REQ_B: &str = "00010800060400010050568bcffa0a010a640000000000000a010a01";
    const SLL_GRAT: &str = "00010800060400010050568b3f0dc0a81651000000000000c0a81651";
    const SLL: [(i64, i64, &str); 12] = [
        (1593626138, 922595, SLL_REQ_A),
        (1593626139, 51412, SLL_REQ_B),
        (1593626140, 75317, SLL_REQ_B),
        (1593626141, 99329, SLL_REQ_B),
        (1593626142, 76691, SLL_GRAT),
        (1593626142, 123368, SLL_REQ_B),
        (1593626143, 147377, SLL_REQ_B),
        (1593626144, 77548, SLL_GRAT),
        (1593626144, 171236, SLL_REQ_B),
        (1593626145, 195396, SLL_REQ_B),
        (1593626146, 219343, SLL_REQ_B),
        (1593626147, 243274, SLL_REQ_B),
    ];

    #[test]
    fn parses_like_tshark() {
        // tshark: arp.opcode 1, arp.src.proto_ipv4 10.10.10.2, arp.dst.proto_ipv4 10.10.10.1.
        let p = arp(CLOUDSHARK[0].2);
        assert_eq!(p.op, OP_REQUEST);
        assert_eq!(format_mac(&p.sender_mac), "00:1a:6b:6c:0c:cc");
        assert_eq!(p.sender_ip, ip("10.10.10.2"));
        assert_eq!(p.target_mac, [0; 6]);
        assert_eq!(p.target_ip, ip("10.10.10.1"));
        let r = arp(CLOUDSHARK[1].2);
        assert_eq!(r.op, OP_REPLY);
        assert_eq!(format_mac(&r.sender_mac), "00:1d:09:f0:92:ab");
        assert_eq!(
            (r.sender_ip, r.target_ip),
            (ip("10.10.10.1"), ip("10.10.10.2"))
        );
        // Ethernet padding after the 28 bytes is ignored (frame 1 is padded to 60 bytes).
        let mut padded = unhex(CLOUDSHARK[0].2);
        padded.extend([0; 18]);
        assert_eq!(parse_arp(&padded), Ok(p));
    }

    #[test]
    fn parse_errors() {
        let b = unhex(CLOUDSHARK[0].2);
        assert_eq!(parse_arp(&b[..27]), Err(ArpError::Truncated { len: 27 }));
        let mut v6 = b.clone();
        v6[2..4].copy_from_slice(&[0x86, 0xdd]);
        let e = parse_arp(&v6).unwrap_err();
        assert_eq!(e.kind(), "arp-unsupported");
        assert_eq!(
            e.to_string(),
            "ARP for hardware type 1 / protocol 0x86dd (address lengths 6/4) is not Ethernet/IPv4"
        );
        for n in 0..b.len() {
            assert!(parse_arp(&b[..n]).is_err());
        }
    }

    #[test]
    fn pairs_cloudshark_requests_and_replies() {
        let mut t = ArpTracker::new();
        for (i, (s, us, hex)) in CLOUDSHARK.iter().enumerate() {
            t.packet(ts(*s, *us), CLOUDSHARK_FRAMES[i], &arp(hex));
        }
        let mut out = Vec::new();
        t.expire(ts(1352595625, 653150), &mut out);
        assert_eq!(out.len(), 2);
        let a = &out[0];
        assert_eq!(a.arp_id, 1);
        assert_eq!(
            (a.sender_ip, a.target_ip),
            (ip("10.10.10.2"), ip("10.10.10.1"))
        );
        assert_eq!(format_mac(&a.sender_mac), "00:1a:6b:6c:0c:cc");
        assert_eq!(
            a.target_mac.map(|m| format_mac(&m)).as_deref(),
            Some("00:1d:09:f0:92:ab")
        );
        assert_eq!(a.request_time, Some(ts(1352595620, 652165)));
        assert_eq!(a.reply_time, Some(ts(1352595620, 652195)));
        assert!((a.latency_ms.unwrap() - 0.030).abs() < 1e-9);
        assert_eq!((a.request_frame, a.reply_frame), (Some(1), Some(2)));
        assert!(!a.gratuitous && a.retransmits == 0);
        let b = &out[1];
        assert_eq!(
            (b.sender_ip, b.target_ip),
            (ip("10.10.10.1"), ip("10.10.10.2"))
        );
        assert!((b.latency_ms.unwrap() - 0.517).abs() < 1e-9);
        assert_eq!((b.request_frame, b.reply_frame), (Some(5), Some(6)));
        assert!(t.weirds().is_empty());
    }

    #[test]
    fn linuxsll_retransmits_gratuitous_and_unanswered() {
        let mut t = ArpTracker::new();
        let mut out = Vec::new();
        for (i, (s, us, hex)) in SLL.iter().enumerate() {
            let now = ts(*s, *us);
            t.packet(now, i as u64 + 1, &arp(hex));
            t.expire(now, &mut out);
        }
        // Frame 1's request timed out at 143.92 s, but row 2 (still retransmitting)
        // holds back the gratuitous rows 3 and 4.
        let ids: Vec<_> = out.iter().map(|x| x.arp_id).collect();
        assert_eq!(ids, [1]);
        t.finish(&mut out);
        let ids: Vec<_> = out.iter().map(|x| x.arp_id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        let a = &out[0];
        assert_eq!(
            (a.sender_ip, a.target_ip),
            (ip("192.168.22.1"), ip("192.168.22.160"))
        );
        assert_eq!(
            (a.reply_time, a.latency_ms, a.target_mac),
            (None, None, None)
        );
        let b = &out[1];
        assert_eq!(
            (b.sender_ip, b.target_ip),
            (ip("10.1.10.100"), ip("10.1.10.1"))
        );
        assert_eq!(b.retransmits, 8);
        assert_eq!(b.request_time, Some(ts(1593626139, 51412)));
        assert_eq!(b.last_request_time, Some(ts(1593626147, 243274)));
        assert_eq!(b.request_frame, Some(2));
        for (g, frame) in [(&out[2], 5), (&out[3], 8)] {
            assert!(g.gratuitous);
            assert_eq!(
                (g.sender_ip, g.target_ip),
                (ip("192.168.22.81"), ip("192.168.22.81"))
            );
            assert_eq!(format_mac(&g.sender_mac), "00:50:56:8b:3f:0d");
            assert_eq!((g.request_frame, g.reply_time), (Some(frame), None));
        }
    }

    #[test]
    fn suricata_vlan_probe_to_zero_target_retransmits() {
        // OISF/suricata-verify tests/arp/detect-arp-03-vlan/input.pcap: 3 identical requests
        // 10.204.1.5 -> 0.0.0.0 (tshark arp.dst.proto_ipv4 0.0.0.0).
        let hex = "00010800060400011860248d97ba0acc010500000000000000000000";
        let mut t = ArpTracker::new();
        for (i, us) in [986551, 987186, 987729].iter().enumerate() {
            t.packet(ts(1774860599, *us), i as u64 + 1, &arp(hex));
        }
        let mut out = Vec::new();
        t.expire(ts(1774860599 + 4, 987729), &mut out);
        assert!(out.is_empty());
        t.expire(ts(1774860599 + 5, 987729), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].target_ip, out[0].retransmits), (ip("0.0.0.0"), 2));
        assert!(!out[0].gratuitous);
    }

    fn pkt(op: u16, smac: u8, sip: &str, tmac: [u8; 6], tip: &str) -> ArpPacket {
        ArpPacket {
            op,
            sender_mac: [2, 0, 0, 0, 0, smac],
            sender_ip: ip(sip),
            target_mac: tmac,
            target_ip: ip(tip),
        }
    }

    #[test]
    fn unsolicited_gratuitous_late_and_unknown_replies() {
        let mut t = ArpTracker::new();
        let me = [2, 0, 0, 0, 0, 1];
        // Unicast reply with no request: row with the asker as sender, plus a weird.
        t.packet(ts(1, 0), 1, &pkt(OP_REPLY, 9, "10.0.0.9", me, "10.0.0.1"));
        // Broadcast reply: gratuitous.
        t.packet(
            ts(2, 0),
            2,
            &pkt(OP_REPLY, 8, "10.0.0.8", [0xff; 6], "10.0.0.1"),
        );
        // Request answered after the 5 s timeout: unanswered row + unsolicited reply row.
        t.packet(
            ts(3, 0),
            3,
            &pkt(OP_REQUEST, 1, "10.0.0.1", [0; 6], "10.0.0.7"),
        );
        t.packet(ts(9, 0), 4, &pkt(OP_REPLY, 7, "10.0.0.7", me, "10.0.0.1"));
        t.packet(ts(9, 0), 5, &pkt(3, 7, "10.0.0.7", me, "10.0.0.1"));
        let mut out = Vec::new();
        t.finish(&mut out);
        assert_eq!(out.len(), 4);
        let u = &out[0];
        assert_eq!((u.sender_ip, u.target_ip), (ip("10.0.0.1"), ip("10.0.0.9")));
        assert_eq!(u.sender_mac, me);
        assert_eq!(u.target_mac, Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(
            (u.request_time, u.reply_time, u.gratuitous),
            (None, Some(ts(1, 0)), false)
        );
        assert!(out[1].gratuitous && out[1].sender_ip == ip("10.0.0.8"));
        assert_eq!((out[2].request_frame, out[2].reply_frame), (Some(3), None));
        assert_eq!((out[3].request_frame, out[3].reply_frame), (None, Some(4)));
        let kinds: Vec<_> = t.weirds().iter().map(|w| w.kind).collect();
        let want = [
            "arp-unsolicited-reply",
            "arp-unsolicited-reply",
            "arp-unknown-opcode",
        ];
        assert_eq!(kinds, want);
    }

    #[test]
    fn pending_cap_evicts_oldest_with_weird() {
        let mut t = ArpTracker::new();
        for i in 0..=MAX_PENDING as u32 {
            let p = ArpPacket {
                op: OP_REQUEST,
                sender_mac: [2, 0, 0, 0, 0, 1],
                sender_ip: ip("10.0.0.1"),
                target_mac: [0; 6],
                target_ip: Ipv4Addr::from(0x0b00_0000 + i),
            };
            t.packet(Timestamp(i64::from(i)), u64::from(i), &p);
        }
        assert_eq!(t.pending_len(), MAX_PENDING);
        let w = t.weirds();
        assert_eq!((w.len(), w[0].kind), (1, "arp-pending-cap"));
        let mut out = Vec::new();
        t.expire(Timestamp(10), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].target_ip, ip("11.0.0.0"));
        t.finish(&mut out);
        assert_eq!(out.len(), MAX_PENDING + 1);
        assert!(out.windows(2).all(|w| w[0].arp_id < w[1].arp_id));
    }

    #[test]
    fn format_mac_examples() {
        assert_eq!(
            format_mac(&[0x02, 0x77, 0, 0, 0, 0x64]),
            "02:77:00:00:00:64"
        );
        assert_eq!(format_mac(&[]), "");
    }

    proptest::proptest! {
        #[test]
        fn parse_and_track_never_panic(
            pkts in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 28..29), proptest::num::i64::ANY), 0..40),
        ) {
            let mut t = ArpTracker::new();
            let mut out = Vec::new();
            for (i, (mut b, when)) in pkts.into_iter().enumerate() {
                // Valid header, small address space so requests and replies meet.
                b[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
                b[6] = 0;
                if let Ok(p) = parse_arp(&b) {
                    t.packet(Timestamp(when), i as u64, &p);
                }
                t.expire(Timestamp(when), &mut out);
            }
            t.finish(&mut out);
            proptest::prop_assert!(out.windows(2).all(|w| w[0].arp_id < w[1].arp_id) || out.len() > MAX_HELD);
        }
    }
}

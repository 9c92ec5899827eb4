//! DHCPv4 (UDP 67/68): parses BOOTP messages with their DHCP options and groups them into
//! exchanges (DISCOVER → OFFER → REQUEST → ACK/NAK, plus DECLINE, RELEASE, INFORM), one
//! `dhcp` table row per exchange with the time of each step.
//!
//! Owns: [`parse_dhcp`], [`DhcpMessage`], [`DhcpTracker`], [`DhcpExchange`].
//! Imports only `crate::base`, std and crates; never another protocol module.
//!
//! Grouping: messages are grouped by (client hardware address, xid). A DISCOVER with a new
//! xid ends the client's previous exchange and starts a new one. A REQUEST with a new xid
//! that answers the client's latest OFFER (same requested address or server id) joins that
//! exchange, with a `dhcp-xid-changed` weird (RFC 2131 wants the OFFER's xid; some clients
//! pick a new one). Any other message with an unknown xid starts its own exchange.
//!
//! Not handled (documented limitations): option overload (option 52: options carried in the
//! `sname`/`file` fields are not read; the value is kept in [`DhcpMessage::overload`]),
//! RFC 3396 long-option concatenation (list options repeated are appended; scalar options
//! keep their first value), relay-agent details (giaddr is kept, option 82 is not decoded),
//! message types 9..=18 (FORCERENEW, LEASEQUERY, ...) which are parsed but not tracked.

use crate::base::{SeededMap, Timestamp, Weird, WeirdLog};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Fixed BOOTP header length (op .. file), before the magic cookie.
pub const BOOTP_HEADER_LEN: usize = 236;
/// RFC 2131 magic cookie that starts the options area.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Most addresses kept per list option (router, DNS servers); more is a weird.
pub const MAX_ADDRS_PER_OPTION: usize = 16;
/// Most parse issues kept per message.
pub const MAX_ISSUES: usize = 8;
/// Most exchanges in progress at once; beyond this the least recently active one is
/// emitted early (`dhcp-pending-cap` weird).
pub const MAX_PENDING_EXCHANGES: usize = 4096;
/// Different xids one exchange may collect (see the module doc); more start a new exchange.
pub const MAX_XIDS_PER_EXCHANGE: usize = 4;
/// An exchange with no message for this long (capture time) is complete. DHCP clients back
/// off up to 64 s between retransmissions.
pub const DHCP_IDLE_NS: i64 = 70_000_000_000;
/// Completed exchanges waiting for the next `expire`/`finish` call.
pub const MAX_DONE: usize = 65_536;
/// Completed exchanges held back so rows come out in `dhcp_id` order (an older exchange is
/// still in progress); beyond this they are handed out anyway.
pub const MAX_HELD: usize = 4096;
/// Weirds held until `weirds()` is called; beyond this they are counted, then reported once.
pub const MAX_WEIRDS: usize = 1024;

/// DHCP message types (option 53) tracked here.
pub const DISCOVER: u8 = 1;
pub const OFFER: u8 = 2;
pub const REQUEST: u8 = 3;
pub const DECLINE: u8 = 4;
pub const ACK: u8 = 5;
pub const NAK: u8 = 6;
pub const RELEASE: u8 = 7;
pub const INFORM: u8 = 8;

/// Why a payload is not a DHCP message, or what is wrong inside one.
///
/// [`parse_dhcp`] returns the first two as errors; the others are collected in
/// [`DhcpMessage::issues`] while parsing goes on with what could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("DHCP payload is {len} bytes, shorter than the {BOOTP_HEADER_LEN}-byte BOOTP header")]
    Truncated { len: usize },
    #[error("BOOTP op is {0}, not 1 (request) or 2 (reply)")]
    BadOp(u8),
    #[error("hardware address length {0} exceeds the 16-byte chaddr field")]
    BadHlen(u8),
    #[error("option {code} claims {len} bytes but only {avail} remain")]
    OptionTruncated { code: u8, len: usize, avail: usize },
    #[error("option {code} has invalid length {len}")]
    OptionBadLength { code: u8, len: usize },
    #[error("options area has no END (255) option")]
    NoEnd,
    #[error("option {code} lists more than {MAX_ADDRS_PER_OPTION} addresses; the rest are ignored")]
    ListCap { code: u8 },
    #[error("more than {MAX_ISSUES} problems in one message; the rest are not reported")]
    TooManyIssues,
}

impl DhcpError {
    /// Stable kebab-case code for a [`Weird`].
    pub fn kind(&self) -> &'static str {
        match self {
            DhcpError::Truncated { .. } => "dhcp-truncated",
            DhcpError::BadOp(_) => "dhcp-bad-op",
            DhcpError::BadHlen(_) => "dhcp-bad-hlen",
            DhcpError::OptionTruncated { .. } => "dhcp-option-truncated",
            DhcpError::OptionBadLength { .. } => "dhcp-option-bad-length",
            DhcpError::NoEnd => "dhcp-options-no-end",
            DhcpError::ListCap { .. } => "dhcp-option-list-cap",
            DhcpError::TooManyIssues => "dhcp-too-many-issues",
        }
    }
}

/// One decoded BOOTP/DHCP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpMessage {
    /// 1 = BOOTREQUEST (client), 2 = BOOTREPLY (server).
    pub op: u8,
    pub htype: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    /// Client hardware address: the first `hlen` bytes of chaddr (6 for Ethernet), at most 16.
    pub client_mac: Vec<u8>,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    /// False for plain BOOTP (no magic cookie): then no option below is set.
    pub has_cookie: bool,
    /// Option 53.
    pub msg_type: Option<u8>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 3 (at most [`MAX_ADDRS_PER_OPTION`]).
    pub router: Vec<Ipv4Addr>,
    /// Option 6 (at most [`MAX_ADDRS_PER_OPTION`]).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_s: Option<u32>,
    /// Option 12, lossy UTF-8.
    pub hostname: Option<String>,
    /// Option 56 (server's explanation, usually with a NAK), lossy UTF-8.
    pub message: Option<String>,
    /// Option 52, not acted upon (see the module doc).
    pub overload: Option<u8>,
    /// Problems found while parsing; the fields above hold what could be read.
    pub issues: Vec<DhcpError>,
}

/// Parses a UDP payload as BOOTP + DHCP options.
///
/// Errors only when the fixed header is missing or `op` is invalid; option-level problems
/// are returned in [`DhcpMessage::issues`]. A payload without the magic cookie is plain
/// BOOTP (`has_cookie == false`, `msg_type == None`).
pub fn parse_dhcp(payload: &[u8]) -> Result<DhcpMessage, DhcpError> {
    let Some(hdr) = payload.get(..BOOTP_HEADER_LEN) else {
        return Err(DhcpError::Truncated { len: payload.len() });
    };
    let op = byte(hdr, 0);
    if op != 1 && op != 2 {
        return Err(DhcpError::BadOp(op));
    }
    let mut m = DhcpMessage {
        op,
        htype: byte(hdr, 1),
        xid: be32(hdr, 4),
        secs: u16::from_be_bytes([byte(hdr, 8), byte(hdr, 9)]),
        flags: u16::from_be_bytes([byte(hdr, 10), byte(hdr, 11)]),
        ciaddr: ip_at(hdr, 12),
        yiaddr: ip_at(hdr, 16),
        siaddr: ip_at(hdr, 20),
        giaddr: ip_at(hdr, 24),
        client_mac: Vec::new(),
        has_cookie: false,
        msg_type: None,
        requested_ip: None,
        server_id: None,
        router: Vec::new(),
        dns_servers: Vec::new(),
        lease_s: None,
        hostname: None,
        message: None,
        overload: None,
        issues: Vec::new(),
    };
    let hlen = byte(hdr, 2);
    if usize::from(hlen) > 16 {
        push_issue(&mut m.issues, DhcpError::BadHlen(hlen));
    }
    let hw_len = usize::from(hlen).min(16);
    m.client_mac = hdr.get(28..28 + hw_len).unwrap_or_default().to_vec();

    let rest = payload.get(BOOTP_HEADER_LEN..).unwrap_or_default();
    if rest.get(..4) == Some(&MAGIC_COOKIE[..]) {
        m.has_cookie = true;
        parse_options(rest.get(4..).unwrap_or_default(), &mut m);
    }
    Ok(m)
}

fn parse_options(mut opts: &[u8], m: &mut DhcpMessage) {
    loop {
        let Some((&code, after_code)) = opts.split_first() else {
            push_issue(&mut m.issues, DhcpError::NoEnd);
            return;
        };
        match code {
            0 => {
                opts = after_code;
                continue;
            }
            255 => return,
            _ => {}
        }
        let Some((&len, body)) = after_code.split_first() else {
            push_issue(
                &mut m.issues,
                DhcpError::OptionTruncated {
                    code,
                    len: 1,
                    avail: 0,
                },
            );
            return;
        };
        let len = usize::from(len);
        let Some(data) = body.get(..len) else {
            let avail = body.len();
            push_issue(
                &mut m.issues,
                DhcpError::OptionTruncated { code, len, avail },
            );
            return;
        };
        opts = body.get(len..).unwrap_or_default();
        apply_option(code, data, m);
    }
}

fn apply_option(code: u8, data: &[u8], m: &mut DhcpMessage) {
    let bad_len = |m: &mut DhcpMessage| {
        let e = DhcpError::OptionBadLength {
            code,
            len: data.len(),
        };
        push_issue(&mut m.issues, e);
    };
    match code {
        53 | 52 => match data {
            [v] if code == 53 => {
                m.msg_type.get_or_insert(*v);
            }
            [v] => {
                m.overload.get_or_insert(*v);
            }
            _ => bad_len(m),
        },
        50 | 54 | 51 => match <[u8; 4]>::try_from(data) {
            Ok(b) => match code {
                50 => {
                    m.requested_ip.get_or_insert(Ipv4Addr::from(b));
                }
                54 => {
                    m.server_id.get_or_insert(Ipv4Addr::from(b));
                }
                _ => {
                    m.lease_s.get_or_insert(u32::from_be_bytes(b));
                }
            },
            Err(_) => bad_len(m),
        },
        3 | 6 => {
            if data.is_empty() || !data.len().is_multiple_of(4) {
                bad_len(m);
                return;
            }
            let list = if code == 3 {
                &mut m.router
            } else {
                &mut m.dns_servers
            };
            let mut capped = false;
            for c in data.chunks_exact(4) {
                if list.len() >= MAX_ADDRS_PER_OPTION {
                    capped = true;
                    break;
                }
                list.push(Ipv4Addr::new(
                    byte(c, 0),
                    byte(c, 1),
                    byte(c, 2),
                    byte(c, 3),
                ));
            }
            if capped {
                push_issue(&mut m.issues, DhcpError::ListCap { code });
            }
        }
        12 => {
            m.hostname
                .get_or_insert_with(|| String::from_utf8_lossy(data).into_owned());
        }
        56 => {
            m.message
                .get_or_insert_with(|| String::from_utf8_lossy(data).into_owned());
        }
        _ => {}
    }
}

fn push_issue(issues: &mut Vec<DhcpError>, e: DhcpError) {
    if issues.len() < MAX_ISSUES {
        issues.push(e);
    } else if let Some(last) = issues.last_mut() {
        *last = DhcpError::TooManyIssues;
    }
}

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([byte(b, i), byte(b, i + 1), byte(b, i + 2), byte(b, i + 3)])
}

fn ip_at(b: &[u8], i: usize) -> Ipv4Addr {
    Ipv4Addr::from(be32(b, i))
}

/// Name of a DHCP message type, for details and logs.
pub fn msg_type_name(t: u8) -> &'static str {
    match t {
        DISCOVER => "DISCOVER",
        OFFER => "OFFER",
        REQUEST => "REQUEST",
        DECLINE => "DECLINE",
        ACK => "ACK",
        NAK => "NAK",
        RELEASE => "RELEASE",
        INFORM => "INFORM",
        9..=18 => "other",
        _ => "unknown",
    }
}

/// One `dhcp` table row: a client's exchange, with the first transmission of each step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DhcpExchange {
    /// Sequential, in capture order of each exchange's first message.
    pub dhcp_id: u64,
    /// Client hardware address (chaddr), see [`DhcpExchange::client_mac_string`].
    pub client_mac: Vec<u8>,
    /// xid of the first message.
    pub xid: u32,
    pub first_time: Timestamp,
    pub last_time: Timestamp,
    pub first_frame: u64,
    pub last_frame: u64,
    pub discover_time: Option<Timestamp>,
    pub offer_time: Option<Timestamp>,
    pub request_time: Option<Timestamp>,
    pub ack_time: Option<Timestamp>,
    pub nak_time: Option<Timestamp>,
    pub decline_time: Option<Timestamp>,
    pub release_time: Option<Timestamp>,
    pub inform_time: Option<Timestamp>,
    /// yiaddr of the first ACK, when not 0.0.0.0 (an ACK to INFORM assigns nothing).
    pub assigned_ip: Option<Ipv4Addr>,
    /// yiaddr of the first OFFER.
    pub offered_ip: Option<Ipv4Addr>,
    /// Option 50 (or ciaddr when renewing) of the latest DISCOVER/REQUEST/INFORM; 0.0.0.0
    /// counts as absent.
    pub requested_ip: Option<Ipv4Addr>,
    /// Server identifier (option 54): the ACK's, else the first OFFER/NAK's, else the one the
    /// client named in its REQUEST.
    pub server_ip: Option<Ipv4Addr>,
    /// Router, DNS servers and lease: from the ACK, else from the first OFFER.
    pub router: Vec<Ipv4Addr>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub lease_s: Option<u32>,
    /// Client's host name (option 12), first seen.
    pub hostname: Option<String>,
    /// Server's message (option 56) with a NAK.
    pub nak_message: Option<String>,
    /// DHCP messages in the exchange (all types).
    pub messages: u32,
    pub offers: u32,
    pub naks: u32,
    /// DISCOVERs / REQUESTs after the first one of the exchange.
    pub discover_retransmits: u32,
    pub request_retransmits: u32,
    /// First message to the first ACK, else the first NAK, else the last message.
    pub total_ms: f64,
}

impl DhcpExchange {
    /// `client_mac` as `aa:bb:cc:dd:ee:ff` (lower-case hex, any length).
    pub fn client_mac_string(&self) -> String {
        let mut s = String::with_capacity(self.client_mac.len().saturating_mul(3));
        for (i, b) in self.client_mac.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    fn new(id: u64, ts: Timestamp, frame: u64, msg: &DhcpMessage) -> Self {
        DhcpExchange {
            dhcp_id: id,
            client_mac: msg.client_mac.clone(),
            xid: msg.xid,
            first_time: ts,
            last_time: ts,
            first_frame: frame,
            last_frame: frame,
            ..DhcpExchange::default()
        }
    }

    fn add(&mut self, ts: Timestamp, frame: u64, t: u8, msg: &DhcpMessage) {
        self.messages = self.messages.saturating_add(1);
        if ts > self.last_time {
            self.last_time = ts;
        }
        self.last_frame = self.last_frame.max(frame);
        if msg.op == 1 {
            if self.hostname.is_none() {
                self.hostname.clone_from(&msg.hostname);
            }
            let asked = msg.requested_ip.and_then(nonzero).or(nonzero(msg.ciaddr));
            if matches!(t, DISCOVER | REQUEST | INFORM) && asked.is_some() {
                self.requested_ip = asked;
            }
        }
        match t {
            DISCOVER => {
                if self.discover_time.is_some() {
                    self.discover_retransmits = self.discover_retransmits.saturating_add(1);
                }
                self.discover_time.get_or_insert(ts);
            }
            OFFER => {
                self.offers = self.offers.saturating_add(1);
                if self.offer_time.is_none() {
                    self.offer_time = Some(ts);
                    self.offered_ip = nonzero(msg.yiaddr);
                    self.server_ip = self.server_ip.or(msg.server_id);
                    if self.ack_time.is_none() {
                        self.take_config(msg);
                    }
                }
            }
            REQUEST => {
                if self.request_time.is_some() {
                    self.request_retransmits = self.request_retransmits.saturating_add(1);
                }
                self.request_time.get_or_insert(ts);
                self.server_ip = self.server_ip.or(msg.server_id);
            }
            ACK if self.ack_time.is_none() => {
                self.ack_time = Some(ts);
                self.assigned_ip = nonzero(msg.yiaddr);
                if msg.server_id.is_some() {
                    self.server_ip = msg.server_id;
                }
                if !msg.router.is_empty() {
                    self.router.clone_from(&msg.router);
                }
                if !msg.dns_servers.is_empty() {
                    self.dns_servers.clone_from(&msg.dns_servers);
                }
                self.lease_s = msg.lease_s.or(self.lease_s);
            }
            NAK => {
                self.naks = self.naks.saturating_add(1);
                if self.nak_time.is_none() {
                    self.nak_time = Some(ts);
                    self.nak_message.clone_from(&msg.message);
                    self.server_ip = self.server_ip.or(msg.server_id);
                }
            }
            DECLINE => {
                self.decline_time.get_or_insert(ts);
            }
            RELEASE => {
                self.release_time.get_or_insert(ts);
            }
            INFORM => {
                self.inform_time.get_or_insert(ts);
            }
            _ => {}
        }
        let end = self.ack_time.or(self.nak_time).unwrap_or(self.last_time);
        self.total_ms = end.ms_since(self.first_time);
    }

    fn take_config(&mut self, msg: &DhcpMessage) {
        if self.router.is_empty() {
            self.router.clone_from(&msg.router);
        }
        if self.dns_servers.is_empty() {
            self.dns_servers.clone_from(&msg.dns_servers);
        }
        self.lease_s = self.lease_s.or(msg.lease_s);
    }

    /// Has an OFFER and nothing after it yet: a REQUEST with a new xid may continue it.
    fn awaits_request(&self) -> bool {
        self.offer_time.is_some()
            && self.request_time.is_none()
            && self.ack_time.is_none()
            && self.nak_time.is_none()
    }
}

fn nonzero(ip: Ipv4Addr) -> Option<Ipv4Addr> {
    (!ip.is_unspecified()).then_some(ip)
}

struct Pending {
    ex: DhcpExchange,
    xids: Vec<u32>,
}

/// Groups DHCP messages into [`DhcpExchange`] rows.
///
/// Completed rows are queued and handed out by the next [`DhcpTracker::expire`] or
/// [`DhcpTracker::finish`] call (at most [`MAX_DONE`] are queued): call `expire` regularly.
/// Rows come out in `dhcp_id` order (capture order of first messages): a finished exchange
/// waits for older ones still in progress (up to [`MAX_HELD`] rows).
#[derive(Default)]
pub struct DhcpTracker {
    /// By `dhcp_id`: the first key is the output watermark.
    pending: BTreeMap<u64, Pending>,
    by_xid: SeededMap<(Vec<u8>, u32), u64>,
    latest: SeededMap<Vec<u8>, u64>,
    done: Vec<DhcpExchange>,
    next_id: u64,
    /// Earliest capture time at which some pending exchange may be idle.
    next_due: i64,
    weirds: WeirdLog,
    evicted: u64,
    done_dropped: u64,
    last_ts: Timestamp,
}

impl DhcpTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Exchanges in progress.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one parsed message (`frame` is the capture frame number). Parse issues in
    /// `msg.issues` become weirds here; the caller reports `parse_dhcp` errors itself
    /// (`Weird::new(ts, e.kind(), e.to_string())`).
    pub fn message(&mut self, ts: Timestamp, frame: u64, msg: &DhcpMessage) {
        self.last_ts = self.last_ts.max(ts);
        for e in &msg.issues {
            let detail = format!("frame {frame} xid 0x{:08x}: {e}", msg.xid);
            self.weird(ts, e.kind(), detail);
        }
        let t = match msg.msg_type {
            Some(t @ DISCOVER..=INFORM) => t,
            Some(9..=18) => return, // valid but not tracked (module doc)
            Some(t) => {
                let d = format!("frame {frame}: DHCP message type {t} is not defined");
                self.weird(ts, "dhcp-unknown-message-type", d);
                return;
            }
            None => {
                let d = format!("frame {frame}: BOOTP message without DHCP message type");
                self.weird(ts, "dhcp-no-message-type", d);
                return;
            }
        };
        let key = (msg.client_mac.clone(), msg.xid);
        let mut known = self.by_xid.get(&key).copied();
        if let Some(id) = known {
            // Idle too long (expire not called in time): that exchange is over.
            let idle = self
                .pending
                .get(&id)
                .is_some_and(|p| ts.0 >= p.ex.last_time.0.saturating_add(DHCP_IDLE_NS));
            if idle {
                self.close(id);
                known = None;
            }
        }
        let id = match known {
            Some(id) => id,
            None => self.place(ts, frame, t, msg, key),
        };
        if let Some(p) = self.pending.get_mut(&id) {
            p.ex.add(ts, frame, t, msg);
        }
        let due = ts.0.saturating_add(DHCP_IDLE_NS);
        if self.pending.len() == 1 || due < self.next_due {
            self.next_due = due;
        }
    }

    /// Finds or creates the exchange for a message whose (mac, xid) is not known yet.
    fn place(
        &mut self,
        ts: Timestamp,
        frame: u64,
        t: u8,
        msg: &DhcpMessage,
        key: (Vec<u8>, u32),
    ) -> u64 {
        let latest = self.latest.get(&msg.client_mac).copied();
        if let Some(lid) = latest {
            if t == DISCOVER {
                self.close(lid);
            } else if t == REQUEST
                && let Some(p) = self.pending.get_mut(&lid)
            {
                let ex = &p.ex;
                let same_ip = msg.requested_ip.is_some() && msg.requested_ip == ex.offered_ip;
                let same_srv = msg.server_id.is_some() && msg.server_id == ex.server_ip;
                let live = ts.0 <= ex.last_time.0.saturating_add(DHCP_IDLE_NS);
                if live
                    && ex.awaits_request()
                    && (same_ip || same_srv)
                    && p.xids.len() < MAX_XIDS_PER_EXCHANGE
                {
                    let d = format!(
                        "frame {frame}: REQUEST xid 0x{:08x} answers an OFFER with xid 0x{:08x}",
                        msg.xid, ex.xid
                    );
                    p.xids.push(msg.xid);
                    self.by_xid.insert(key, lid);
                    self.weird(ts, "dhcp-xid-changed", d);
                    return lid;
                }
            }
        }
        if self.pending.len() >= MAX_PENDING_EXCHANGES {
            self.evict_oldest(ts);
        }
        self.next_id = self.next_id.saturating_add(1);
        let id = self.next_id;
        let ex = DhcpExchange::new(id, ts, frame, msg);
        self.pending.insert(
            id,
            Pending {
                ex,
                xids: vec![msg.xid],
            },
        );
        self.by_xid.insert(key, id);
        self.latest.insert(msg.client_mac.clone(), id);
        id
    }

    fn evict_oldest(&mut self, ts: Timestamp) {
        let oldest = self
            .pending
            .values()
            .min_by_key(|p| (p.ex.last_time, p.ex.dhcp_id))
            .map(|p| p.ex.dhcp_id);
        if let Some(id) = oldest {
            self.evicted = self.evicted.saturating_add(1);
            if self.evicted == 1 {
                let d = format!(
                    "more than {MAX_PENDING_EXCHANGES} DHCP exchanges in progress; \
                     least recently active ones emitted early"
                );
                self.weird(ts, "dhcp-pending-cap", d);
            }
            self.close(id);
        }
    }

    /// Moves an exchange from pending to the done queue.
    fn close(&mut self, id: u64) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        for x in &p.xids {
            let k = (p.ex.client_mac.clone(), *x);
            if self.by_xid.get(&k) == Some(&id) {
                self.by_xid.remove(&k);
            }
        }
        if self.latest.get(&p.ex.client_mac) == Some(&id) {
            self.latest.remove(&p.ex.client_mac);
        }
        if self.done.len() < MAX_DONE {
            self.done.push(p.ex);
        } else {
            self.done_dropped = self.done_dropped.saturating_add(1);
            if self.done_dropped == 1 {
                let d = format!(
                    "more than {MAX_DONE} completed DHCP exchanges queued (expire not called); \
                     rows dropped"
                );
                let ts = p.ex.last_time;
                self.weird(ts, "dhcp-output-cap", d);
            }
        }
    }

    /// Hands out completed exchanges and those idle for [`DHCP_IDLE_NS`] at capture time
    /// `now`, in `dhcp_id` order.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<DhcpExchange>) {
        if !self.pending.is_empty() && now.0 >= self.next_due {
            let mut idle: Vec<u64> = Vec::new();
            let mut next_due = i64::MAX;
            for p in self.pending.values() {
                let due = p.ex.last_time.0.saturating_add(DHCP_IDLE_NS);
                if due <= now.0 {
                    idle.push(p.ex.dhcp_id);
                } else {
                    next_due = next_due.min(due);
                }
            }
            idle.sort_unstable();
            for id in idle {
                self.close(id);
            }
            self.next_due = next_due;
        }
        self.drain_done(out);
    }

    /// End of capture: hands out every exchange, sorted by `dhcp_id`.
    pub fn finish(&mut self, out: &mut Vec<DhcpExchange>) {
        let mut ids: Vec<u64> = self.pending.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.close(id);
        }
        self.drain_done(out);
        if self.evicted > 1 {
            let d = format!("{} DHCP exchanges emitted early in total", self.evicted);
            self.weird(self.last_ts, "dhcp-pending-cap", d);
            self.evicted = 1;
        }
    }

    /// Hands out done rows older than every exchange in progress, in `dhcp_id` order.
    fn drain_done(&mut self, out: &mut Vec<DhcpExchange>) {
        self.done.sort_by_key(|e| e.dhcp_id);
        let watermark = match self.pending.first_key_value() {
            Some((&id, _)) if self.done.len() <= MAX_HELD => id,
            _ => u64::MAX,
        };
        let n = self.done.partition_point(|e| e.dhcp_id < watermark);
        out.extend(self.done.drain(..n));
    }

    /// Takes the weirds collected so far.
    pub fn weirds(&mut self) -> Vec<Weird> {
        self.weirds.take(self.last_ts, "dhcp-weird-cap", "DHCP")
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

    /// Rebuilds a captured UDP payload from its first 34 bytes (op .. 6-byte chaddr) and its
    /// options (magic cookie .. END). In these captures everything in between (chaddr
    /// padding, sname, file) and after END was zero; `total` is the captured length.
    fn bootp(head: &str, opts: &str, total: usize) -> Vec<u8> {
        let mut b = unhex(head);
        b.resize(BOOTP_HEADER_LEN, 0);
        b.extend(unhex(opts));
        b.resize(total, 0);
        b
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ts(sec: i64, usec: i64) -> Timestamp {
        Timestamp(sec * 1_000_000_000 + usec * 1000)
    }

    // arkime/tests/pcap/wireshark-dhcp.pcap (= Wireshark's sample dhcp.pcap), frames 1-4:
    // DISCOVER, OFFER, REQUEST (new xid!), ACK.
    const WS: [(&str, &str, usize); 4] = [
        (
            "0101060000003d1d0000000000000000000000000000000000000000000b8201fc42",
            "638253633501013d0701000b8201fc4232040000000037040103062aff",
            272,
        ),
        (
            "0201060000003d1d0000000000000000c0a8000ac0a8000100000000000b8201fc42",
            "638253633501020104ffffff003a04000007083b0400000c4e330400000e103604c0a80001ff",
            300,
        ),
        (
            "0101060000003d1e0000000000000000000000000000000000000000000b8201fc42",
            "638253633501033d0701000b8201fc423204c0a8000a3604c0a8000137040103062aff",
            272,
        ),
        (
            "0201060000003d1e0000000000000000c0a8000a0000000000000000000b8201fc42",
            "638253633501053a04000007083b0400000c4e330400000e103604c0a800010104ffffff00ff",
            300,
        ),
    ];
    const WS_TS: [(i64, i64); 4] = [
        (1102274184, 317453),
        (1102274184, 317748),
        (1102274184, 387484),
        (1102274184, 387798),
    ];

    // zeek/testing/btest/Traces/dhcp/dhcp.pcap, frames 1-9 (one client, every message type).
    const ZEEK_HEAD: &str = "0101060000000xxx000000000000000000000000000000000000000090b11c994929";
    const ZEEK_OFFER_ACK_OPTS: &str = "3604800206983304000003840104ffffff0003048002060106088002010b8002010a04088002011480020115430d6e6574776f726b2d636f6e66671c04800206ff2a0c8002011480020115800201162b0b3137322e31382e362e33373c07417275626141502c088002681d8002681e2e01020f07636d752e656475ff";
    fn zeek() -> Vec<(Timestamp, Vec<u8>)> {
        let client = |xid: &str| ZEEK_HEAD.replace("0xxx", xid);
        let frames: [(i64, i64, String, String, usize); 9] = [
            (1370200442, 323173, client("07c0"), "638253633501013204c0a8d3c20c0d62746573742e69732e636f6f6cff".into(), 265),
            (1370200442, 328120, "02010600000007c0000000000000000080020661ac13e6070000000090b11c994929".into(), format!("63825363350102{ZEEK_OFFER_ACK_OPTS}"), 367),
            (1370200443, 344965, client("07c0"), "638253633501033604800206983204c0a8d3c20c0d62746573742e69732e636f6f6cff".into(), 271),
            (1370200443, 347629, "02010600000007c0000080000000000000000000800206980000000090b11c994929".into(), "63825363350106360480020698381f7265717565737465642061646472657373206e6f7420617661696c61626c65ff".into(), 300),
            (1370200444, 362953, client("07c0"), "638253633501033204800206bd0c0d62746573742e69732e636f6f6cff".into(), 265),
            (1370200444, 371332, "02010600000007c00000000000000000800206bdac13e6070000000090b11c994929".into(), format!("6382536335010536{}", &ZEEK_OFFER_ACK_OPTS[2..]), 367),
            (1370200445, 381970, client("07c0"), "63825363350104ff".into(), 244),
            (1370200446, 402928, client("079c"), "63825363350107ff".into(), 244),
            (1370200447, 422207, client("07c4"), "638253633501083304012ec3c03204800206bd0c0d62746573742e69732e636f6f6cff".into(), 271),
        ];
        frames
            .iter()
            .map(|(s, us, h, o, n)| (ts(*s, *us), bootp(h, o, *n)))
            .collect()
    }

    // ntop/nDPI tests/cfgs/default/pcap/dhcp-fuzz.pcapng frame 1 (fuzzed: message type 106,
    // option 60 claims 49 bytes with 37 left; tshark: "Malformed Packet").
    const FUZZ: &str = concat!(
        "01010600c979b96000000000c0a80168000000000000000000000000001f29da2d7900000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000d700000000000053000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000065000000000000000000006382536335016a3d0701001f29da2d790c074d4b30333836323c314d",
        "53465420352e30370c010f03062c2e2f1f21f92bfc2b03dc0100ff000000002500000000"
    );

    fn ws_msgs() -> Vec<DhcpMessage> {
        WS.iter()
            .map(|(h, o, n)| parse_dhcp(&bootp(h, o, *n)).unwrap())
            .collect()
    }

    #[test]
    fn parses_wireshark_dora_like_tshark() {
        let m = ws_msgs();
        // tshark: dhcp.option.dhcp 1,2,3,5; dhcp.id 0x3d1d,0x3d1d,0x3d1e,0x3d1e.
        let types: Vec<_> = m.iter().map(|m| m.msg_type).collect();
        assert_eq!(types, [Some(1), Some(2), Some(3), Some(5)]);
        let xids: Vec<_> = m.iter().map(|m| m.xid).collect();
        assert_eq!(xids, [0x3d1d, 0x3d1d, 0x3d1e, 0x3d1e]);
        assert_eq!(m[0].op, 1);
        assert_eq!(m[1].op, 2);
        assert_eq!(m[0].client_mac, [0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42]);
        assert_eq!(m[0].requested_ip, Some(ip("0.0.0.0")));
        // OFFER: dhcp.ip.your 192.168.0.10, dhcp.ip.server 192.168.0.1, server id, lease 3600.
        assert_eq!(m[1].yiaddr, ip("192.168.0.10"));
        assert_eq!(m[1].siaddr, ip("192.168.0.1"));
        assert_eq!(m[1].server_id, Some(ip("192.168.0.1")));
        assert_eq!(m[1].lease_s, Some(3600));
        assert!(m[1].router.is_empty() && m[1].dns_servers.is_empty());
        // REQUEST: requested 192.168.0.10 from server 192.168.0.1.
        assert_eq!(m[2].requested_ip, Some(ip("192.168.0.10")));
        assert_eq!(m[2].server_id, Some(ip("192.168.0.1")));
        assert_eq!(m[3].yiaddr, ip("192.168.0.10"));
        assert_eq!(m[3].lease_s, Some(3600));
        assert!(m.iter().all(|m| m.has_cookie && m.issues.is_empty()));
    }

    #[test]
    fn parses_zeek_offer_nak_inform_like_tshark() {
        let f = zeek();
        let offer = parse_dhcp(&f[1].1).unwrap();
        assert_eq!(offer.msg_type, Some(OFFER));
        assert_eq!(offer.yiaddr, ip("128.2.6.97"));
        assert_eq!(offer.siaddr, ip("172.19.230.7"));
        assert_eq!(offer.server_id, Some(ip("128.2.6.152")));
        assert_eq!(offer.router, [ip("128.2.6.1")]);
        assert_eq!(offer.dns_servers, [ip("128.2.1.11"), ip("128.2.1.10")]);
        assert_eq!(offer.lease_s, Some(900));
        assert!(offer.issues.is_empty());
        let nak = parse_dhcp(&f[3].1).unwrap();
        assert_eq!(nak.msg_type, Some(NAK));
        assert_eq!(nak.flags, 0x8000);
        assert_eq!(
            nak.message.as_deref(),
            Some("requested address not available")
        );
        let inform = parse_dhcp(&f[8].1).unwrap();
        assert_eq!(inform.msg_type, Some(INFORM));
        assert_eq!(inform.xid, 0x7c4);
        assert_eq!(inform.lease_s, Some(19841984));
        assert_eq!(inform.requested_ip, Some(ip("128.2.6.189")));
        assert_eq!(inform.hostname.as_deref(), Some("btest.is.cool"));
        let types: Vec<_> = f
            .iter()
            .map(|(_, b)| parse_dhcp(b).unwrap().msg_type)
            .collect();
        let want = [1, 2, 3, 6, 3, 5, 4, 7, 8].map(Some);
        assert_eq!(types, want);
    }

    #[test]
    fn tracker_joins_request_with_new_xid_to_offer() {
        let mut t = DhcpTracker::new();
        for (i, m) in ws_msgs().iter().enumerate() {
            let (s, us) = WS_TS[i];
            t.message(ts(s, us), i as u64 + 1, m);
        }
        let mut out = Vec::new();
        t.finish(&mut out);
        assert_eq!(out.len(), 1);
        let x = &out[0];
        assert_eq!(x.dhcp_id, 1);
        assert_eq!(x.client_mac_string(), "00:0b:82:01:fc:42");
        assert_eq!(x.xid, 0x3d1d);
        assert_eq!(x.discover_time, Some(ts(1102274184, 317453)));
        assert_eq!(x.offer_time, Some(ts(1102274184, 317748)));
        assert_eq!(x.request_time, Some(ts(1102274184, 387484)));
        assert_eq!(x.ack_time, Some(ts(1102274184, 387798)));
        assert_eq!(x.assigned_ip, Some(ip("192.168.0.10")));
        assert_eq!(x.server_ip, Some(ip("192.168.0.1")));
        assert_eq!(x.lease_s, Some(3600));
        assert_eq!((x.messages, x.first_frame, x.last_frame), (4, 1, 4));
        assert!((x.total_ms - 70.345).abs() < 1e-9);
        let w = t.weirds();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "dhcp-xid-changed");
    }

    #[test]
    fn tracker_zeek_variety() {
        let mut t = DhcpTracker::new();
        let mut out = Vec::new();
        for (i, (when, b)) in zeek().iter().enumerate() {
            t.message(*when, i as u64 + 1, &parse_dhcp(b).unwrap());
            t.expire(*when, &mut out);
        }
        assert!(out.is_empty(), "nothing idle yet");
        t.expire(ts(1370200447 + 71, 422207), &mut out);
        assert_eq!(out.len(), 3);
        let x = &out[0];
        assert_eq!((x.dhcp_id, x.xid, x.messages), (1, 0x7c0, 7));
        assert_eq!(x.discover_time, Some(ts(1370200442, 323173)));
        assert_eq!(x.offer_time, Some(ts(1370200442, 328120)));
        assert_eq!(x.request_time, Some(ts(1370200443, 344965)));
        assert_eq!(x.nak_time, Some(ts(1370200443, 347629)));
        assert_eq!(x.ack_time, Some(ts(1370200444, 371332)));
        assert_eq!(x.decline_time, Some(ts(1370200445, 381970)));
        assert_eq!(x.request_retransmits, 1);
        assert_eq!(x.offered_ip, Some(ip("128.2.6.97")));
        assert_eq!(x.assigned_ip, Some(ip("128.2.6.189")));
        assert_eq!(x.requested_ip, Some(ip("128.2.6.189")));
        assert_eq!(x.server_ip, Some(ip("128.2.6.152")));
        assert_eq!(x.router, [ip("128.2.6.1")]);
        assert_eq!(x.dns_servers, [ip("128.2.1.11"), ip("128.2.1.10")]);
        assert_eq!(x.lease_s, Some(900));
        assert_eq!(x.hostname.as_deref(), Some("btest.is.cool"));
        assert_eq!(
            x.nak_message.as_deref(),
            Some("requested address not available")
        );
        assert!((x.total_ms - 2048.159).abs() < 1e-9);
        assert_eq!(
            (out[1].xid, out[1].release_time),
            (0x79c, Some(ts(1370200446, 402928)))
        );
        assert_eq!(
            (out[2].xid, out[2].inform_time),
            (0x7c4, Some(ts(1370200447, 422207)))
        );
        assert_eq!(out[2].requested_ip, Some(ip("128.2.6.189")));
        assert!(t.weirds().is_empty());
    }

    #[test]
    fn fuzzed_message_gives_weirds_not_rows() {
        let m = parse_dhcp(&unhex(FUZZ)).unwrap();
        assert_eq!(m.msg_type, Some(106));
        assert_eq!(m.xid, 0xc979b960);
        assert_eq!(m.ciaddr, ip("192.168.1.104"));
        assert_eq!(m.hostname.as_deref(), Some("MK03862"));
        let trunc = DhcpError::OptionTruncated {
            code: 60,
            len: 49,
            avail: 37,
        };
        assert_eq!(m.issues, [trunc]);
        let mut t = DhcpTracker::new();
        t.message(ts(1268519154, 926217), 1, &m);
        let kinds: Vec<_> = t.weirds().iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            ["dhcp-option-truncated", "dhcp-unknown-message-type"]
        );
        let mut out = Vec::new();
        t.finish(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn header_errors_and_plain_bootp() {
        assert_eq!(
            parse_dhcp(&[1; 100]),
            Err(DhcpError::Truncated { len: 100 })
        );
        let mut b = bootp(WS[0].0, WS[0].1, WS[0].2);
        b[0] = 3;
        assert_eq!(parse_dhcp(&b), Err(DhcpError::BadOp(3)));
        assert_eq!(DhcpError::BadOp(3).kind(), "dhcp-bad-op");
        // No magic cookie: plain BOOTP, no options read.
        let b = bootp(WS[1].0, "", 300);
        let m = parse_dhcp(&b).unwrap();
        assert!(!m.has_cookie && m.msg_type.is_none());
        let mut t = DhcpTracker::new();
        t.message(Timestamp(1), 1, &m);
        assert_eq!(t.weirds()[0].kind, "dhcp-no-message-type");
    }

    #[test]
    fn option_problems_are_issues() {
        // Missing END, bad lengths, hlen too big.
        let b = bootp(WS[0].0, "6382536335020101330400000e10", 250);
        let mut b2 = b.clone();
        b2[2] = 20;
        let m = parse_dhcp(&b2).unwrap();
        let kinds: Vec<_> = m.issues.iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [
                "dhcp-bad-hlen",
                "dhcp-option-bad-length",
                "dhcp-options-no-end"
            ]
        );
        assert_eq!(m.client_mac.len(), 16);
        assert_eq!(m.msg_type, None);
        assert_eq!(m.lease_s, Some(3600));
        // 20 routers: 16 kept, one ListCap issue. Many bad options: issues capped.
        let routers = format!("0350{}", "0a000001".repeat(20));
        let m = parse_dhcp(&bootp(WS[1].0, &format!("63825363{routers}ff"), 400)).unwrap();
        assert_eq!(m.router.len(), MAX_ADDRS_PER_OPTION);
        assert_eq!(m.issues, [DhcpError::ListCap { code: 3 }]);
        let many = format!("63825363{}ff", "3303000000".repeat(20));
        let m = parse_dhcp(&bootp(WS[1].0, &many, 400)).unwrap();
        assert_eq!(m.issues.len(), MAX_ISSUES);
        assert_eq!(m.issues.last(), Some(&DhcpError::TooManyIssues));
    }

    #[test]
    fn new_discover_with_new_xid_starts_new_exchange() {
        let m = ws_msgs();
        let mut t = DhcpTracker::new();
        t.message(ts(10, 0), 1, &m[0]);
        let mut d2 = m[0].clone();
        d2.xid = 0x1234;
        t.message(ts(12, 0), 2, &d2);
        t.message(ts(14, 0), 3, &m[0]); // back to the first xid: a fresh exchange
        let mut out = Vec::new();
        t.expire(ts(14, 0), &mut out);
        let ids: Vec<_> = out.iter().map(|x| (x.dhcp_id, x.xid)).collect();
        assert_eq!(ids, [(1, 0x3d1d), (2, 0x1234)]);
        assert_eq!(t.pending_len(), 1);
        // Same xid after the idle timeout: new exchange too.
        t.message(ts(14 + 71, 0), 4, &m[0]);
        t.finish(&mut out);
        let ids: Vec<_> = out.iter().map(|x| x.dhcp_id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn rows_come_out_in_id_order() {
        let m = ws_msgs();
        let mut t = DhcpTracker::new();
        let mut other = m[0].clone();
        other.client_mac = vec![2, 0, 0, 0, 0, 1];
        t.message(ts(10, 0), 1, &other); // id 1, stays in progress
        t.message(ts(11, 0), 2, &m[0]); // id 2
        let mut again = m[0].clone();
        again.xid = 7;
        t.message(ts(12, 0), 3, &again); // closes id 2, id 3
        let mut out = Vec::new();
        t.expire(ts(12, 0), &mut out);
        assert!(out.is_empty(), "id 2 waits for id 1");
        t.expire(ts(10 + 71, 0), &mut out);
        let ids: Vec<_> = out.iter().map(|x| x.dhcp_id).collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn pending_cap_evicts_with_weird() {
        let base = ws_msgs()[0].clone();
        let mut t = DhcpTracker::new();
        for i in 0..=MAX_PENDING_EXCHANGES as u32 {
            let mut m = base.clone();
            m.client_mac = i.to_be_bytes().to_vec();
            t.message(Timestamp(i64::from(i)), u64::from(i), &m);
        }
        assert_eq!(t.pending_len(), MAX_PENDING_EXCHANGES);
        let w = t.weirds();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "dhcp-pending-cap");
        let mut out = Vec::new();
        t.finish(&mut out);
        assert_eq!(out.len(), MAX_PENDING_EXCHANGES + 1);
        assert!(out.windows(2).all(|w| w[0].dhcp_id < w[1].dhcp_id));
    }

    #[test]
    fn every_prefix_of_real_payloads_is_safe() {
        let mut all: Vec<Vec<u8>> = zeek().into_iter().map(|(_, b)| b).collect();
        all.push(unhex(FUZZ));
        let mut t = DhcpTracker::new();
        for b in &all {
            for n in 0..=b.len() {
                if let Ok(m) = parse_dhcp(&b[..n]) {
                    t.message(Timestamp(n as i64), 0, &m);
                }
            }
        }
        let mut out = Vec::new();
        t.finish(&mut out);
        assert!(!out.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parse_and_track_never_panic(
            head in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            opts in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            t0 in proptest::num::i64::ANY,
        ) {
            let mut b = head;
            if b.len() >= BOOTP_HEADER_LEN {
                b.truncate(BOOTP_HEADER_LEN);
                b.extend(MAGIC_COOKIE);
            }
            b.extend(opts);
            let mut t = DhcpTracker::new();
            if let Ok(m) = parse_dhcp(&b) {
                t.message(Timestamp(t0), 1, &m);
                t.message(Timestamp(t0.saturating_add(1)), 2, &m);
            }
            let mut out = Vec::new();
            t.expire(Timestamp(i64::MAX), &mut out);
            t.finish(&mut out);
        }
    }
}

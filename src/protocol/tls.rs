//! TLS over a reassembled TCP stream, without keys: the record layer of each direction, the
//! cleartext handshake (reassembled across records and segments), and the timing of the
//! protected records that follow.
//!
//! Owns: record framing, handshake-message reassembly, ClientHello / ServerHello /
//! HelloRetryRequest decoding (with `tls-parser`), resumption detection, the handshake
//! completion time of SPEC.md's `tls` phase, and the list of protected records per direction
//! (the raw material the correlator uses to time encrypted requests).
//!
//! Must not import: any other protocol module, the flow table, reassembly, the correlator.
//! Only `crate::base`, std and `tls-parser`.
//!
//! The client is the side that sends the ClientHello (normally [`Direction::Orig`]). Without
//! keys, TLS 1.3 hides everything after the ServerHello: the client's first protected record
//! after the server's protected flight is taken as its Finished, the server's protected
//! records before that as its handshake flight (the last one as its Finished). In TLS 1.2
//! the handshake is visible and each side's Finished is its first handshake record after its
//! ChangeCipherSpec.
//!
//! Known blind spots: with 0-RTT, an EndOfEarlyData sent in its own record before the client
//! Finished is taken for the Finished; a TLS 1.3 client certificate flight sent as several
//! records counts only its first record as the Finished; STARTTLS-style streams must be handed
//! over from the first TLS byte by the caller.

use crate::base::{Direction, Timestamp, Weird};
use tls_parser::{
    SNIType, TlsCipherSuite, TlsExtension, parse_tls_client_hello_extension,
    parse_tls_handshake_client_hello, parse_tls_handshake_server_hello,
    parse_tls_server_hello_extension,
};

/// Largest record payload accepted: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows for
/// protected records. A longer record stops parsing of that direction (`tls-record-too-long`).
pub const MAX_RECORD_LEN: usize = 16_384 + 2_048;
/// Largest handshake message buffered (a Certificate chain can span several records). A
/// longer message is skipped without buffering: its type still counts (Certificate seen),
/// its content is not decoded (`tls-handshake-too-long`).
pub const MAX_HANDSHAKE_MSG: usize = 64 * 1024;
/// Protected records kept until [`TlsConn::drain_records`]; further ones are counted and
/// dropped (`tls-record-queue-full`, reported once).
pub const MAX_UNDRAINED_RECORDS: usize = 100_000;
/// Cleartext alerts kept in [`TlsSummary::alerts`] (`tls-too-many-alerts` beyond).
pub const MAX_ALERTS: usize = 32;
/// Weirds one connection may report in its lifetime; one `tls-too-many-weirds` marks the cut.
pub const MAX_WEIRDS: usize = 32;

const RECORD_HEADER: usize = 5;
const HANDSHAKE_HEADER: usize = 4;

/// Record content types.
pub const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CT_ALERT: u8 = 21;
pub const CT_HANDSHAKE: u8 = 22;
pub const CT_APPLICATION_DATA: u8 = 23;
pub const CT_HEARTBEAT: u8 = 24;

/// Extensions decoded (others are skipped, so an odd one we do not use raises no weird):
/// server_name, ALPN, session_ticket, pre_shared_key, early_data, supported_versions, key_share.
const CLIENT_EXTENSIONS_USED: [u16; 7] = [0, 16, 35, 41, 42, 43, 51];
const SERVER_EXTENSIONS_USED: [u16; 4] = [16, 41, 43, 51];

/// The ServerHello.random that marks a TLS 1.3 HelloRetryRequest (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// One protected record (application data, or a record whose content is hidden without
/// keys), in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsRecord {
    pub dir: Direction,
    /// When the record completed: `ready_ts` of the chunk that delivered its last byte.
    pub ts: Timestamp,
    /// When the first byte of the record (its header) became readable.
    pub first_ts: Timestamp,
    /// Outer content type: 23 for application data (and every TLS 1.3 protected record);
    /// 21 (encrypted alert) or 22 (encrypted Finished/renegotiation) after a TLS 1.2 CCS.
    pub content_type: u8,
    /// Record payload length (ciphertext, without the 5-byte header).
    pub len: u16,
    /// The client's Finished had been seen before this record (for the client's own Finished
    /// record: false). Server records with `true` in TLS 1.3 may be NewSessionTickets.
    pub after_client_finished: bool,
    /// Our estimate that this record carries handshake messages, not application data: the
    /// TLS 1.3 server flight and client Finished, TLS 1.2 encrypted Finished/renegotiation.
    pub handshake: bool,
    /// TLS 1.3 0-RTT: sent by the client before it could have its Finished ready.
    pub early_data: bool,
}

/// What the handshake revealed, plus per-direction application-data statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsSummary {
    /// Side that sent the ClientHello (None until one is seen).
    pub client_dir: Option<Direction>,
    /// Completion of the first ClientHello message.
    pub client_hello_ts: Option<Timestamp>,
    /// ClientHello messages seen (2 after a HelloRetryRequest). The fields below describe the
    /// first one.
    pub client_hellos: u32,
    /// The client opened with an SSLv2-compatible ClientHello (skipped, not decoded).
    pub sslv2_client_hello: bool,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    /// From supported_versions when present, else the legacy ClientHello version. No GREASE.
    pub versions_offered: Vec<u16>,
    pub client_session_id: Vec<u8>,
    /// The client sent a non-empty SessionTicket extension (an empty one only says "tickets
    /// supported").
    pub ticket_offered: bool,
    pub psk_offered: bool,
    pub early_data_offered: bool,
    /// Groups of the key_share entries of the first ClientHello. No GREASE.
    pub key_share_groups: Vec<u16>,

    /// Completion of the (real) ServerHello.
    pub server_hello_ts: Option<Timestamp>,
    pub hello_retry: bool,
    pub hello_retry_ts: Option<Timestamp>,
    /// The key-share group the HelloRetryRequest asked for.
    pub hello_retry_group: Option<u16>,
    /// Negotiated version, from supported_versions if present.
    pub version: Option<u16>,
    pub cipher: Option<u16>,
    pub cipher_name: Option<String>,
    /// From the ServerHello (TLS 1.2); None in TLS 1.3 (it is in EncryptedExtensions).
    pub alpn: Option<String>,
    /// TLS 1.3: the ServerHello carries pre_shared_key.
    pub psk_accepted: bool,
    /// The ServerHello echoes the client's non-empty session id (TLS 1.3 does it always in
    /// middlebox-compatibility mode, so it only means resumption for TLS <= 1.2).
    pub session_id_echoed: bool,
    /// The server sent a cleartext Certificate (TLS <= 1.2).
    pub certificate_seen: bool,
    pub client_key_exchange_seen: bool,
    /// TLS <= 1.2: the server sent a NewSessionTicket.
    pub ticket_issued: bool,
    /// TLS <= 1.2: completion of the ServerHelloDone (the server's first flight is complete).
    pub server_hello_done_ts: Option<Timestamp>,
    /// None = unknown (no ServerHello seen). TLS 1.3: PSK accepted. TLS <= 1.2: abbreviated
    /// handshake (server CCS without Certificate/ServerKeyExchange/ServerHelloDone, no
    /// ClientKeyExchange); provisionally the session-id echo until the flight shows.
    pub resumed: Option<bool>,

    /// TLS 1.2: the server's encrypted Finished record. TLS 1.3 (estimate): the server's last
    /// protected record before the client's Finished.
    pub server_finished_ts: Option<Timestamp>,
    pub client_finished_ts: Option<Timestamp>,
    /// SPEC's end of the `tls` phase, when the client can send its request: TLS 1.3 client
    /// Finished; TLS 1.2 the later of both Finished records, or the client Finished when it
    /// sent application data before the server's Finished (False Start).
    pub handshake_done_ts: Option<Timestamp>,
    /// TLS 1.2 False Start: client application data before the server's Finished.
    pub false_start: bool,
    /// First ChangeCipherSpec per direction ([orig, resp]).
    pub ccs_ts: [Option<Timestamp>; 2],
    /// Cleartext alerts: (direction, time, level, description).
    pub alerts: Vec<(Direction, Timestamp, u8, u8)>,
    /// Protected alert records (TLS 1.2 type 21 after CCS) per direction.
    pub encrypted_alerts: [u32; 2],

    /// Per direction, records with content type 23 not classified as handshake (in TLS 1.3
    /// the server's first ones are often NewSessionTickets).
    pub first_app_data_ts: [Option<Timestamp>; 2],
    pub app_records: [u64; 2],
    pub app_bytes: [u64; 2],
}

/// Record and handshake reassembly state of one direction.
#[derive(Debug, Default)]
struct DirState {
    /// Partial record, header included (at most `RECORD_HEADER + MAX_RECORD_LEN`).
    rec: Vec<u8>,
    /// When the first byte of `rec` became readable.
    rec_first_ts: Timestamp,
    /// Records completed (an SSLv2 hello counts as one).
    records: u64,
    /// Bytes still to skip of an SSLv2 record.
    v2_skip: usize,
    /// Parsing of this direction stopped (gap or bad framing).
    stopped: bool,
    /// Partial handshake message, header included (at most `HANDSHAKE_HEADER + MAX_HANDSHAKE_MSG`).
    hs: Vec<u8>,
    /// Bytes still to skip of an oversized handshake message.
    hs_skip: usize,
    /// Records are protected: after CCS (TLS <= 1.2) or after the ServerHello (TLS 1.3).
    protected: bool,
    /// Body bytes still to skip of a protected record whose body is not needed (only its
    /// type and length are): they are counted, never copied.
    body_skip: usize,
}

/// TLS state of one TCP connection. Feed each direction's in-order bytes with [`data`]
/// (and losses with [`gap`]); read [`summary`]; drain protected records and weirds.
///
/// [`data`]: TlsConn::data
/// [`gap`]: TlsConn::gap
/// [`summary`]: TlsConn::summary
#[derive(Debug, Default)]
pub struct TlsConn {
    summary: TlsSummary,
    dirs: [DirState; 2],
    records: Vec<TlsRecord>,
    records_dropped: u64,
    weirds: Vec<Weird>,
    weird_count: usize,
    /// The ServerHello negotiated TLS 1.3.
    tls13: bool,
    /// TLS <= 1.2: a full-handshake message (Certificate, ServerKeyExchange,
    /// CertificateRequest, ServerHelloDone, ClientKeyExchange) was seen.
    full_handshake: bool,
    /// TLS 1.3: the server sent protected records before the client's Finished; the last one's time.
    server_flight_last_ts: Option<Timestamp>,
}

impl TlsConn {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `len` bytes that fall inside the body of a record being skipped (application
    /// data without keys), short of its last byte: nothing to parse and no record completed.
    /// False, and nothing taken, otherwise ([`Self::data`] then takes them). Most packets of
    /// an encrypted download end here, in a few instructions kept apart from the parser's
    /// code (whose size cost instruction-cache misses on every packet).
    #[inline]
    pub fn skip_in_body(&mut self, dir: Direction, len: usize) -> bool {
        let st = &mut self.dirs[dir.idx()];
        if st.stopped || st.v2_skip > 0 || st.body_skip <= len {
            return false;
        }
        st.body_skip -= len;
        true
    }

    /// In-order bytes of one direction. `ready_ts` = when these bytes became readable.
    /// A record completes at the `ready_ts` of the chunk that delivered its last byte.
    pub fn data(&mut self, dir: Direction, ready_ts: Timestamp, bytes: &[u8]) {
        if self.skip_in_body(dir, bytes.len()) {
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let st = &mut self.dirs[dir.idx()];
            if st.stopped {
                return;
            }
            if st.v2_skip > 0 {
                let n = st.v2_skip.min(rest.len());
                st.v2_skip -= n;
                rest = rest.get(n..).unwrap_or_default();
                if st.v2_skip == 0 {
                    self.summary.client_hello_ts.get_or_insert(ready_ts);
                }
                continue;
            }
            if st.body_skip > 0 {
                let n = st.body_skip.min(rest.len());
                st.body_skip -= n;
                rest = rest.get(n..).unwrap_or_default();
                if st.body_skip == 0 {
                    let (ct, len) = match st.rec.as_slice() {
                        [ct, _, _, hi, lo, ..] => (*ct, u16::from_be_bytes([*hi, *lo])),
                        _ => (0, 0),
                    };
                    let first_ts = st.rec_first_ts;
                    st.rec.clear();
                    st.records = st.records.saturating_add(1);
                    self.on_protected(dir, ct, len, first_ts, ready_ts);
                }
                continue;
            }
            if st.rec.is_empty() {
                st.rec_first_ts = ready_ts;
            }
            let before = st.rec.len();
            let want = match record_len(&st.rec) {
                Some(len) => RECORD_HEADER.saturating_add(len),
                None => RECORD_HEADER,
            };
            let n = want.saturating_sub(before).min(rest.len());
            let Some((head, tail)) = rest.split_at_checked(n) else {
                return;
            };
            st.rec.extend_from_slice(head);
            rest = tail;
            if before < RECORD_HEADER
                && st.rec.len() == RECORD_HEADER
                && !self.check_header(dir, ready_ts)
            {
                continue;
            }
            let st = &mut self.dirs[dir.idx()];
            // Application data, and handshake records once protected: only the header
            // matters without keys, so the body is skipped rather than buffered.
            if st.rec.len() == RECORD_HEADER
                && let Some(len) = record_len(&st.rec).filter(|l| *l > 0)
                && (st.rec.first() == Some(&CT_APPLICATION_DATA)
                    || (st.protected && st.rec.first() == Some(&CT_HANDSHAKE)))
            {
                st.body_skip = len;
                continue;
            }
            if record_len(&st.rec)
                .is_some_and(|len| st.rec.len() == RECORD_HEADER.saturating_add(len))
            {
                let rec = std::mem::take(&mut st.rec);
                let first_ts = st.rec_first_ts;
                st.records = st.records.saturating_add(1);
                self.on_record(dir, &rec, first_ts, ready_ts);
                let st = &mut self.dirs[dir.idx()];
                if !st.stopped {
                    st.rec = rec;
                    st.rec.clear();
                }
            }
        }
    }

    /// Bytes lost in this direction: parsing of its records stops (no resync).
    pub fn gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        if self.dirs[dir.idx()].stopped {
            return;
        }
        self.stop(dir);
        self.weird(
            ts,
            "tls-stream-gap",
            format!(
                "{len} bytes missing in the {} direction; its TLS records are no longer parsed",
                dir_name(dir)
            ),
        );
    }

    /// Gives back the buffers' spare capacity (a connection gone idle keeps little).
    pub fn shrink(&mut self) {
        for d in self.dirs.iter_mut() {
            d.rec.shrink_to_fit();
            d.hs.shrink_to_fit();
        }
        self.records.shrink_to_fit();
    }

    pub fn summary(&self) -> &TlsSummary {
        &self.summary
    }

    /// A copy of the summary without the ClientHello detail lists (offered ALPN and
    /// versions, session id, key shares, alerts), which correlation does not read.
    pub fn summary_essentials(&mut self) -> TlsSummary {
        let s = &mut self.summary;
        let kept = (
            std::mem::take(&mut s.alpn_offered),
            std::mem::take(&mut s.versions_offered),
            std::mem::take(&mut s.client_session_id),
            std::mem::take(&mut s.key_share_groups),
            std::mem::take(&mut s.alerts),
        );
        let copy = s.clone();
        (
            s.alpn_offered,
            s.versions_offered,
            s.client_session_id,
            s.key_share_groups,
            s.alerts,
        ) = kept;
        copy
    }

    /// The summary, moved out (the connection is over).
    pub fn take_summary(&mut self) -> TlsSummary {
        std::mem::take(&mut self.summary)
    }

    /// Whether parsing of `dir` stopped (gap, not TLS, bad framing).
    pub fn is_stopped(&self, dir: Direction) -> bool {
        self.dirs[dir.idx()].stopped
    }

    /// Moves the protected records observed since the last call into `out`, in stream order
    /// (both directions interleaved in call order). Includes the records classified as
    /// encrypted handshake (`handshake == true`); application data is the rest.
    pub fn drain_records(&mut self, out: &mut Vec<TlsRecord>) {
        out.append(&mut self.records);
    }

    /// Takes the weirds reported since the last call.
    pub fn weirds(&mut self) -> Vec<Weird> {
        std::mem::take(&mut self.weirds)
    }

    /// Whether [`Self::weirds`] has anything to return (cheap, for the per-packet path).
    #[inline]
    pub fn has_weirds(&self) -> bool {
        !self.weirds.is_empty()
    }

    // ----- record layer -------------------------------------------------------------------

    /// Validates a just-completed record header; returns false if the record was consumed
    /// (SSLv2 hello) or parsing stopped.
    fn check_header(&mut self, dir: Direction, ts: Timestamp) -> bool {
        let st = &mut self.dirs[dir.idx()];
        let Some(&[b0, b1, b2, b3, b4]) = st.rec.get(..RECORD_HEADER) else {
            return false;
        };
        let first = st.records == 0;
        if first && b0 & 0x80 != 0 && b2 == 1 {
            // SSLv2-compatible ClientHello: 2-byte header, msg type 1, then the version.
            let total = (usize::from(b0 & 0x7f) << 8 | usize::from(b1)).saturating_add(2);
            st.v2_skip = total.saturating_sub(RECORD_HEADER);
            st.records = 1;
            st.rec.clear();
            let s = &mut self.summary;
            s.sslv2_client_hello = true;
            s.client_hellos = s.client_hellos.saturating_add(1);
            s.client_dir.get_or_insert(dir);
            if st.v2_skip == 0 {
                s.client_hello_ts.get_or_insert(ts);
            }
            s.versions_offered = vec![u16::from_be_bytes([b3, b4])];
            return false;
        }
        let len = usize::from(u16::from_be_bytes([b3, b4]));
        if !(CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&b0) || b1 != 3 || b2 > 4 {
            let kind = if first {
                "tls-not-tls"
            } else {
                "tls-bad-record-header"
            };
            self.stop(dir);
            self.weird(
                ts,
                kind,
                format!(
                    "{} record header {b0:02x} {b1:02x}{b2:02x} len {len} is not TLS; direction no longer parsed",
                    dir_name(dir)
                ),
            );
            return false;
        }
        if len > MAX_RECORD_LEN {
            self.stop(dir);
            self.weird(
                ts,
                "tls-record-too-long",
                format!(
                    "{} record of {len} bytes exceeds {MAX_RECORD_LEN}; direction no longer parsed",
                    dir_name(dir)
                ),
            );
            return false;
        }
        true
    }

    fn on_record(&mut self, dir: Direction, rec: &[u8], first_ts: Timestamp, ts: Timestamp) {
        let Some((&ct, _)) = rec.split_first() else {
            return;
        };
        let payload = rec.get(RECORD_HEADER..).unwrap_or_default();
        let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        let protected = self.dirs[dir.idx()].protected;
        match ct {
            CT_CHANGE_CIPHER_SPEC => self.on_ccs(dir, ts),
            CT_ALERT => match payload {
                // A protected alert cannot be 2 bytes long (MAC or AEAD tag).
                &[level, desc] => {
                    if self.summary.alerts.len() < MAX_ALERTS {
                        self.summary.alerts.push((dir, ts, level, desc));
                    } else {
                        self.weird(
                            ts,
                            "tls-too-many-alerts",
                            format!("more than {MAX_ALERTS} alerts"),
                        );
                    }
                }
                _ => {
                    let n = &mut self.summary.encrypted_alerts[dir.idx()];
                    *n = n.saturating_add(1);
                    self.on_protected(dir, ct, len, first_ts, ts);
                }
            },
            CT_HANDSHAKE if !protected => self.feed_handshake(dir, payload, ts),
            CT_HANDSHAKE | CT_APPLICATION_DATA => self.on_protected(dir, ct, len, first_ts, ts),
            _ => {} // heartbeat: neither handshake nor application data
        }
    }

    fn on_ccs(&mut self, dir: Direction, ts: Timestamp) {
        self.summary.ccs_ts[dir.idx()].get_or_insert(ts);
        // TLS 1.3 compatibility CCS (also sent around a HelloRetryRequest) changes nothing.
        if self.tls13 || self.summary.server_hello_ts.is_none() {
            return;
        }
        let st = &mut self.dirs[dir.idx()];
        st.protected = true;
        let partial = st.hs.len();
        st.hs.clear();
        st.hs_skip = 0;
        if partial > 0 {
            self.weird(
                ts,
                "tls-handshake-truncated",
                format!(
                    "{} ChangeCipherSpec after {partial} bytes of an incomplete handshake message",
                    dir_name(dir)
                ),
            );
        }
        if dir != self.client_dir() && !self.full_handshake {
            self.summary.resumed = Some(true);
        }
    }

    /// A record whose content is hidden: classify it, update timings, queue it.
    fn on_protected(
        &mut self,
        dir: Direction,
        ct: u8,
        len: u16,
        first_ts: Timestamp,
        ts: Timestamp,
    ) {
        let is_client = dir == self.client_dir();
        let client_stopped = self.dirs[self.client_dir().idx()].stopped;
        let after_client_finished = self.summary.client_finished_ts.is_some();
        let mut handshake = false;
        let mut early_data = false;
        let s = &mut self.summary;
        if self.tls13 {
            if ct == CT_APPLICATION_DATA && !after_client_finished {
                if !is_client {
                    // Without the client's direction its Finished stays unknown: say nothing.
                    handshake = !client_stopped;
                    self.server_flight_last_ts = Some(ts);
                } else if s.early_data_offered && self.server_flight_last_ts.is_none() {
                    early_data = true;
                } else {
                    handshake = true;
                    s.client_finished_ts = Some(ts);
                    s.server_finished_ts = self.server_flight_last_ts;
                    s.handshake_done_ts = Some(ts);
                }
            }
        } else if s.server_hello_ts.is_none() {
            // Before the ServerHello only TLS 1.3 0-RTT data can be protected.
            early_data = is_client && s.early_data_offered && ct == CT_APPLICATION_DATA;
        } else if ct == CT_HANDSHAKE {
            handshake = true;
            if is_client {
                s.client_finished_ts.get_or_insert(ts);
            } else {
                s.server_finished_ts.get_or_insert(ts);
            }
            if s.handshake_done_ts.is_none()
                && let (Some(c), Some(sv)) = (s.client_finished_ts, s.server_finished_ts)
            {
                s.handshake_done_ts = Some(c.max(sv));
            }
        } else if ct == CT_APPLICATION_DATA
            && is_client
            && s.handshake_done_ts.is_none()
            && s.server_finished_ts.is_none()
            && let Some(c) = s.client_finished_ts
        {
            s.false_start = true;
            s.handshake_done_ts = Some(c);
        }
        if ct == CT_APPLICATION_DATA && !handshake {
            let i = dir.idx();
            s.first_app_data_ts[i].get_or_insert(ts);
            s.app_records[i] = s.app_records[i].saturating_add(1);
            s.app_bytes[i] = s.app_bytes[i].saturating_add(u64::from(len));
        }
        if self.records.len() >= MAX_UNDRAINED_RECORDS {
            self.records_dropped = self.records_dropped.saturating_add(1);
            if self.records_dropped == 1 {
                self.weird(
                    ts,
                    "tls-record-queue-full",
                    format!("more than {MAX_UNDRAINED_RECORDS} undrained TLS records; later ones dropped"),
                );
            }
            return;
        }
        self.records.push(TlsRecord {
            dir,
            ts,
            first_ts,
            content_type: ct,
            len,
            after_client_finished,
            handshake,
            early_data,
        });
    }

    // ----- handshake layer ----------------------------------------------------------------

    /// Cleartext handshake bytes of one record: reassemble messages across records.
    fn feed_handshake(&mut self, dir: Direction, mut p: &[u8], ts: Timestamp) {
        while !p.is_empty() {
            let st = &mut self.dirs[dir.idx()];
            if st.protected || st.stopped {
                // A message (e.g. a TLS 1.3 ServerHello) switched this direction to protected.
                return;
            }
            if st.hs_skip > 0 {
                let n = st.hs_skip.min(p.len());
                st.hs_skip -= n;
                p = p.get(n..).unwrap_or_default();
                continue;
            }
            let want = match handshake_len(&st.hs) {
                Some(len) => HANDSHAKE_HEADER.saturating_add(len),
                None => HANDSHAKE_HEADER,
            };
            let n = want.saturating_sub(st.hs.len()).min(p.len());
            let Some((head, tail)) = p.split_at_checked(n) else {
                return;
            };
            st.hs.extend_from_slice(head);
            p = tail;
            let Some(len) = handshake_len(&st.hs) else {
                continue;
            };
            let typ = st.hs.first().copied().unwrap_or_default();
            if len > MAX_HANDSHAKE_MSG {
                st.hs_skip = len.saturating_sub(st.hs.len().saturating_sub(HANDSHAKE_HEADER));
                st.hs.clear();
                self.on_message_type(dir, typ, ts);
                self.weird(
                    ts,
                    "tls-handshake-too-long",
                    format!(
                        "{} handshake message type {typ} of {len} bytes exceeds {MAX_HANDSHAKE_MSG}; skipped undecoded",
                        dir_name(dir)
                    ),
                );
                continue;
            }
            if st.hs.len() == HANDSHAKE_HEADER.saturating_add(len) {
                let msg = std::mem::take(&mut st.hs);
                self.on_message(
                    dir,
                    typ,
                    msg.get(HANDSHAKE_HEADER..).unwrap_or_default(),
                    ts,
                );
                let st = &mut self.dirs[dir.idx()];
                st.hs = msg;
                st.hs.clear();
            }
        }
    }

    /// What the mere type of a handshake message tells.
    fn on_message_type(&mut self, dir: Direction, typ: u8, ts: Timestamp) {
        let from_server = dir != self.client_dir();
        match typ {
            11..=14 if from_server => {
                self.full_handshake = true;
                if typ == 11 {
                    self.summary.certificate_seen = true;
                } else if typ == 14 {
                    self.summary.server_hello_done_ts.get_or_insert(ts);
                }
            }
            16 if !from_server => {
                self.full_handshake = true;
                self.summary.client_key_exchange_seen = true;
            }
            4 if from_server => self.summary.ticket_issued = true,
            _ => {}
        }
        if self.full_handshake && !self.tls13 && self.summary.server_hello_ts.is_some() {
            self.summary.resumed = Some(false);
        }
    }

    fn on_message(&mut self, dir: Direction, typ: u8, body: &[u8], ts: Timestamp) {
        match typ {
            1 => self.on_client_hello(dir, body, ts),
            2 => self.on_server_hello(dir, body, ts),
            _ => self.on_message_type(dir, typ, ts),
        }
    }

    fn on_client_hello(&mut self, dir: Direction, body: &[u8], ts: Timestamp) {
        if self.summary.client_dir.is_some_and(|c| c != dir) {
            self.weird(
                ts,
                "tls-unexpected-client-hello",
                format!("ClientHello from the server side ({})", dir_name(dir)),
            );
            return;
        }
        let s = &mut self.summary;
        s.client_dir = Some(dir);
        s.client_hellos = s.client_hellos.saturating_add(1);
        if s.client_hellos > 1 {
            return; // after a HelloRetryRequest: keep describing the first one
        }
        s.client_hello_ts = Some(ts);
        let ch = match parse_tls_handshake_client_hello(body) {
            Ok((_, ch)) => ch,
            Err(_) => {
                let detail = format!("ClientHello of {} bytes not decodable", body.len());
                self.weird(ts, "tls-malformed-client-hello", detail);
                return;
            }
        };
        let s = &mut self.summary;
        s.client_session_id = ch.session_id.unwrap_or_default().to_vec();
        s.versions_offered = vec![ch.version.0];
        let bad = for_each_extension(ch.ext.unwrap_or_default(), |typ, raw| {
            if !CLIENT_EXTENSIONS_USED.contains(&typ) {
                return true;
            }
            match parse_tls_client_hello_extension(raw) {
                Ok((_, ext)) => {
                    apply_client_extension(s, typ, &ext);
                    true
                }
                Err(_) => false,
            }
        });
        self.report_bad_extensions("ClientHello", &bad, ts);
    }

    fn on_server_hello(&mut self, dir: Direction, body: &[u8], ts: Timestamp) {
        if dir == self.client_dir() {
            self.weird(
                ts,
                "tls-unexpected-server-hello",
                format!("ServerHello from the client side ({})", dir_name(dir)),
            );
            return;
        }
        let sh = match parse_tls_handshake_server_hello(body) {
            Ok((_, sh)) => sh,
            Err(_) => {
                let detail = format!("ServerHello of {} bytes not decodable", body.len());
                self.weird(ts, "tls-malformed-server-hello", detail);
                return;
            }
        };
        let hrr = sh.random == HRR_RANDOM;
        if !hrr && self.summary.server_hello_ts.is_some() {
            self.weird(
                ts,
                "tls-duplicate-server-hello",
                "second ServerHello ignored",
            );
            return;
        }
        let mut version = None;
        let mut alpn = None;
        let mut psk = false;
        let mut group = None;
        let bad = for_each_extension(sh.ext.unwrap_or_default(), |typ, raw| {
            if !SERVER_EXTENSIONS_USED.contains(&typ) {
                return true;
            }
            match parse_tls_server_hello_extension(raw) {
                Ok((_, TlsExtension::SupportedVersions(v))) => version = v.first().map(|v| v.0),
                Ok((_, TlsExtension::ALPN(v))) => {
                    alpn = v.first().map(|p| String::from_utf8_lossy(p).into_owned());
                }
                Ok((_, TlsExtension::PreSharedKey(_))) => psk = true,
                Ok((_, TlsExtension::KeyShare(k))) => group = be16(k, 0),
                Ok(_) => {}
                Err(_) => return false,
            }
            true
        });
        self.report_bad_extensions("ServerHello", &bad, ts);
        let version = version.unwrap_or(sh.version.0);
        let s = &mut self.summary;
        s.version = Some(version);
        s.cipher = Some(sh.cipher.0);
        s.cipher_name = TlsCipherSuite::from_id(sh.cipher.0).map(|c| c.name.to_string());
        if hrr {
            s.hello_retry = true;
            s.hello_retry_ts.get_or_insert(ts);
            s.hello_retry_group = group;
            return;
        }
        s.server_hello_ts = Some(ts);
        s.alpn = alpn;
        s.psk_accepted = psk;
        let sid = sh.session_id.unwrap_or_default();
        s.session_id_echoed = !sid.is_empty() && sid == s.client_session_id.as_slice();
        if version == 0x0304 || version >> 8 == 0x7f {
            self.tls13 = true;
            s.resumed = Some(psk);
            for st in &mut self.dirs {
                st.protected = true;
                st.hs.clear();
                st.hs_skip = 0;
            }
        } else {
            s.resumed = Some(s.session_id_echoed && !self.full_handshake);
        }
    }

    fn report_bad_extensions(&mut self, msg: &str, bad: &[u16], ts: Timestamp) {
        if !bad.is_empty() {
            self.weird(
                ts,
                "tls-malformed-extension",
                format!("{msg} extension(s) not decodable: {bad:?}"),
            );
        }
    }

    // ----- helpers ------------------------------------------------------------------------

    fn client_dir(&self) -> Direction {
        self.summary.client_dir.unwrap_or(Direction::Orig)
    }

    fn stop(&mut self, dir: Direction) {
        let st = &mut self.dirs[dir.idx()];
        st.stopped = true;
        st.rec = Vec::new();
        st.hs = Vec::new();
        st.v2_skip = 0;
        st.hs_skip = 0;
        st.body_skip = 0;
    }

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: impl Into<String>) {
        self.weird_count = self.weird_count.saturating_add(1);
        if self.weird_count < MAX_WEIRDS {
            self.weirds.push(Weird::new(ts, kind, detail));
        } else if self.weird_count == MAX_WEIRDS {
            self.weirds.push(Weird::new(
                ts,
                "tls-too-many-weirds",
                format!("more than {MAX_WEIRDS} TLS anomalies on this connection; further ones not reported"),
            ));
        }
    }
}

/// Records a decoded ClientHello extension in the summary.
fn apply_client_extension(s: &mut TlsSummary, typ: u16, ext: &TlsExtension) {
    match ext {
        TlsExtension::SNI(names) => {
            s.sni = names
                .iter()
                .find(|(t, _)| *t == SNIType::HostName)
                .map(|(_, n)| String::from_utf8_lossy(n).into_owned());
        }
        TlsExtension::ALPN(protos) => {
            s.alpn_offered = protos
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
        }
        TlsExtension::SupportedVersions(v) => {
            s.versions_offered = v.iter().map(|v| v.0).filter(|v| !is_grease(*v)).collect();
        }
        TlsExtension::SessionTicket(t) => s.ticket_offered = !t.is_empty(),
        TlsExtension::PreSharedKey(_) => s.psk_offered = true,
        TlsExtension::EarlyData(_) => s.early_data_offered = true,
        TlsExtension::KeyShare(raw) if typ == 51 => s.key_share_groups = key_share_groups(raw),
        _ => {}
    }
}

/// Calls `f(type, whole_extension_bytes)` for each extension of an extensions block.
/// Returns the types `f` could not decode (false), and 0xffff if the block's framing is bad
/// (which ends the walk).
fn for_each_extension(mut blob: &[u8], mut f: impl FnMut(u16, &[u8]) -> bool) -> Vec<u16> {
    let mut bad = Vec::new();
    while !blob.is_empty() {
        let (Some(typ), Some(len)) = (be16(blob, 0), be16(blob, 2)) else {
            bad.push(0xffff);
            break;
        };
        let total = 4usize.saturating_add(usize::from(len));
        let Some((raw, rest)) = blob.split_at_checked(total) else {
            bad.push(0xffff);
            break;
        };
        if !f(typ, raw) {
            bad.push(typ);
        }
        blob = rest;
    }
    bad
}

/// Groups of a ClientHello key_share extension body (`KeyShareEntry client_shares<..>`).
fn key_share_groups(raw: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let list_len = be16(raw, 0).map_or(0, usize::from);
    let mut list = raw.get(2..).unwrap_or_default();
    list = list.get(..list_len).unwrap_or(list);
    while let (Some(group), Some(len)) = (be16(list, 0), be16(list, 2)) {
        if !is_grease(group) {
            out.push(group);
        }
        list = list
            .get(4usize.saturating_add(usize::from(len))..)
            .unwrap_or_default();
    }
    out
}

/// Payload length of a record whose header is complete.
fn record_len(rec: &[u8]) -> Option<usize> {
    if rec.len() < RECORD_HEADER {
        return None;
    }
    be16(rec, 3).map(usize::from)
}

/// Body length of a handshake message whose header is complete.
fn handshake_len(hs: &[u8]) -> Option<usize> {
    match hs.get(1..HANDSHAKE_HEADER) {
        Some(&[a, b, c]) => Some(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at.checked_add(2)?) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn dir_name(dir: Direction) -> &'static str {
    match dir {
        Direction::Orig => "orig",
        Direction::Resp => "resp",
    }
}

/// Content detection for non-443 ports: do these first bytes of a stream start a TLS
/// ClientHello (or an SSLv2-compatible one)? Needs at least 6 bytes (9 to check the length).
pub fn looks_like_tls_client_hello(first_bytes: &[u8]) -> bool {
    match first_bytes {
        [CT_HANDSHAKE, 3, minor, l0, l1, 1, rest @ ..] if *minor <= 4 => {
            let rec_len = usize::from(u16::from_be_bytes([*l0, *l1]));
            if !(HANDSHAKE_HEADER..=MAX_RECORD_LEN).contains(&rec_len) {
                return false;
            }
            match rest {
                // ClientHello body: version(2) random(32) sid(1) ciphers(2+2) comp(1+1) at least.
                [a, b, c, v_major, ..] => {
                    let hs_len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
                    (41..=MAX_HANDSHAKE_MSG).contains(&hs_len) && *v_major == 3
                }
                [a, b, c] => {
                    let hs_len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
                    (41..=MAX_HANDSHAKE_MSG).contains(&hs_len)
                }
                _ => true,
            }
        }
        // SSLv2 header: 2-byte length with the high bit, CLIENT-HELLO (1), version 3.x or 2.
        [l0, l1, 1, major, _, ..] if l0 & 0x80 != 0 && (*major == 3 || *major == 0) => {
            (usize::from(l0 & 0x7f) << 8 | usize::from(*l1)) >= 9
        }
        _ => false,
    }
}

/// Human name of a protocol version: "TLS 1.3", "TLS 1.2", ..., "unknown".
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0304 => "TLS 1.3",
        0x0303 => "TLS 1.2",
        0x0302 => "TLS 1.1",
        0x0301 => "TLS 1.0",
        0x0300 => "SSL 3.0",
        0x0002 => "SSL 2.0",
        v if v >> 8 == 0x7f => "TLS 1.3 draft",
        v if is_grease(v) => "GREASE",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// One chunk of a fixture: (frame number, direction, ready time, bytes).
    type Chunk = (u32, Direction, Timestamp, Vec<u8>);

    /// Reads a `testdata/tls/*.bin` fixture written by `scripts/tls_extract_fixture.py`: repeated
    /// `frame u32 LE | dir u8 | ready_ts_ns i64 LE | len u32 LE | bytes`, in-order chunks of
    /// one TCP stream (dir 0 = the SYN sender).
    fn chunks(mut raw: &[u8]) -> Vec<Chunk> {
        let mut out = Vec::new();
        while !raw.is_empty() {
            let (h, rest) = raw.split_at(17);
            let frame = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let dir = if h[4] == 0 {
                Direction::Orig
            } else {
                Direction::Resp
            };
            let ts = i64::from_le_bytes(h[5..13].try_into().unwrap());
            let len = u32::from_le_bytes(h[13..17].try_into().unwrap()) as usize;
            let (data, rest) = rest.split_at(len);
            out.push((frame, dir, Timestamp(ts), data.to_vec()));
            raw = rest;
        }
        out
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn run(chunks: &[Chunk]) -> (TlsConn, Vec<TlsRecord>, Vec<Weird>) {
        let mut c = TlsConn::new();
        for (_, dir, ts, data) in chunks {
            c.data(*dir, *ts, data);
        }
        let mut recs = Vec::new();
        c.drain_records(&mut recs);
        let w = c.weirds();
        (c, recs, w)
    }

    /// tshark's frame.time_epoch "1648774116.348430000" as a Timestamp.
    fn t(epoch: &str) -> Timestamp {
        let (s, ns) = epoch.split_once('.').unwrap();
        Timestamp(s.parse::<i64>().unwrap() * 1_000_000_000 + ns.parse::<i64>().unwrap())
    }

    fn lens(recs: &[TlsRecord], dir: Direction) -> Vec<(u16, bool, bool)> {
        recs.iter()
            .filter(|r| r.dir == dir)
            .map(|r| (r.len, r.handshake, r.after_client_finished))
            .collect()
    }

    const TLS13: &[u8] = include_bytes!("../../testdata/tls/illustrated_tls13.bin");
    const TLS12: &[u8] = include_bytes!("../../testdata/tls/illustrated_tls12.bin");
    const HRR: &[u8] = include_bytes!("../../testdata/tls/zeek_hrr.bin");
    const RESUMPTION13: &[u8] = include_bytes!("../../testdata/tls/snet_tls13_resumption.bin");
    const NDPI_CERT: &[u8] = include_bytes!("../../testdata/tls/ndpi_cert_stream2.bin");
    const JA4_FALSE_START: &[u8] = include_bytes!("../../testdata/tls/ja4_browsers_stream0.bin");
    const FRAGMENTED_GZ: &[u8] =
        include_bytes!("../../testdata/tls/zeek_fragmented_handshake_zeroed.bin.gz");

    // ----- real captures (expectations from tshark 4.0.17, see tools/expect.sh) ---------

    /// Chunks inside an application-data record's body are taken by `skip_in_body`
    /// (nothing parsed); the chunk with the record's last byte is not, and `data` completes
    /// the record at that chunk's time, as when every chunk goes through `data`.
    #[test]
    fn skipped_body_chunks_complete_the_record_at_its_last_byte() {
        let ts = |n: i64| Timestamp(n * 1_000_000);
        let mut fast = TlsConn::new();
        let mut slow = TlsConn::new();
        let header = [CT_APPLICATION_DATA, 0x03, 0x03, 0x00, 100];
        for c in [&mut fast, &mut slow] {
            c.data(Direction::Resp, ts(1), &header);
        }
        let body = [0xabu8; 100];
        for (i, part) in body.chunks(30).enumerate() {
            let at = ts(2 + i as i64);
            let last = i == 3;
            assert_eq!(
                fast.skip_in_body(Direction::Resp, part.len()),
                !last,
                "chunk {i}"
            );
            if last {
                fast.data(Direction::Resp, at, part);
            }
            slow.data(Direction::Resp, at, part);
        }
        // Another record's header: the skip is over, nothing is taken.
        assert!(!fast.skip_in_body(Direction::Resp, 5));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        fast.drain_records(&mut a);
        slow.drain_records(&mut b);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].first_ts, a[0].ts, a[0].content_type),
            (ts(1), ts(5), 23)
        );
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(
            format!("{:?}", fast.summary()),
            format!("{:?}", slow.summary())
        );
    }

    /// syncsynchalt/illustrated-tls13 captures/capture.pcap, stream 0 (frames 5-17).
    #[test]
    fn tls13_full_handshake_illustrated() {
        let (c, recs, w) = run(&chunks(TLS13));
        let s = c.summary();
        assert!(w.is_empty(), "{w:?}");
        // frame 5: ClientHello
        assert_eq!(s.client_hello_ts, Some(t("1648774116.287068000")));
        assert_eq!(s.sni.as_deref(), Some("example.ulfheim.net"));
        assert_eq!(s.versions_offered, vec![0x0304]);
        assert_eq!(s.key_share_groups, vec![29]);
        assert_eq!(s.client_session_id, (0xe0..=0xffu8).collect::<Vec<_>>());
        assert!(!s.psk_offered && !s.ticket_offered && !s.early_data_offered);
        // frame 7: ServerHello (supported_version 0x0304, cipher 0x1302), CCS, 4 protected records
        assert_eq!(s.server_hello_ts, Some(t("1648774116.343971000")));
        assert_eq!(s.version, Some(0x0304));
        assert_eq!(version_name(0x0304), "TLS 1.3");
        assert_eq!(s.cipher, Some(0x1302));
        assert_eq!(s.cipher_name.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
        assert!(s.session_id_echoed && !s.psk_accepted && !s.hello_retry);
        assert_eq!(s.resumed, Some(false));
        assert_eq!(s.alpn, None);
        assert_eq!(
            s.ccs_ts,
            [
                Some(t("1648774116.348430000")),
                Some(t("1648774116.343971000"))
            ]
        );
        // frame 9: client CCS + Finished (69) = end of the tls phase
        assert_eq!(s.server_finished_ts, Some(t("1648774116.343971000")));
        assert_eq!(s.client_finished_ts, Some(t("1648774116.348430000")));
        assert_eq!(s.handshake_done_ts, Some(t("1648774116.348430000")));
        assert_eq!(
            lens(&recs, Direction::Resp),
            vec![
                (23, true, false),
                (835, true, false),
                (281, true, false),
                (69, true, false),
                (234, false, true), // frames 13, 15: NewSessionTickets
                (234, false, true),
                (21, false, true), // frame 17
            ]
        );
        assert_eq!(
            lens(&recs, Direction::Orig),
            vec![(69, true, false), (21, false, true)]
        );
        assert_eq!(
            s.first_app_data_ts,
            [
                Some(t("1648774116.348730000")),
                Some(t("1648774116.349747000"))
            ]
        );
        assert_eq!((s.app_records, s.app_bytes), ([1, 3], [21, 489]));
        assert!(recs.iter().all(|r| r.content_type == 23 && !r.early_data));
    }

    /// syncsynchalt/illustrated-tls12 captures/capture.pcap, stream 0 (frames 5-17).
    #[test]
    fn tls12_full_handshake_illustrated() {
        let (c, recs, w) = run(&chunks(TLS12));
        let s = c.summary();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.sni.as_deref(), Some("example.ulfheim.net"));
        assert_eq!(s.versions_offered, vec![0x0303]); // no supported_versions extension
        assert!(s.client_session_id.is_empty());
        // frame 7: ServerHello 0xc013, Certificate, ServerKeyExchange, ServerHelloDone
        assert_eq!(s.version, Some(0x0303));
        assert_eq!(s.cipher, Some(0xc013));
        assert_eq!(
            s.cipher_name.as_deref(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
        );
        assert!(s.certificate_seen && s.client_key_exchange_seen);
        assert_eq!(s.server_hello_done_ts, Some(t("1539199544.288586000")));
        assert_eq!(s.resumed, Some(false));
        // frame 9: CKE, CCS, Finished; frame 11: server CCS, Finished = end of tls phase
        assert_eq!(s.client_finished_ts, Some(t("1539199544.289332000")));
        assert_eq!(s.server_finished_ts, Some(t("1539199544.289570000")));
        assert_eq!(s.handshake_done_ts, Some(t("1539199544.289570000")));
        assert!(!s.false_start);
        // frames 13, 15: application data; frame 17: encrypted alert (48 bytes)
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.dir, r.content_type, r.len, r.handshake))
            .collect();
        use Direction::{Orig, Resp};
        assert_eq!(
            got,
            vec![
                (Orig, 22, 64, true),
                (Resp, 22, 64, true),
                (Orig, 23, 48, false),
                (Resp, 23, 48, false),
                (Orig, 21, 48, false)
            ]
        );
        assert_eq!(s.encrypted_alerts, [1, 0]);
        assert!(s.alerts.is_empty());
        assert_eq!((s.app_records, s.app_bytes), ([1, 1], [48, 48]));
    }

    /// zeek testing/btest/Traces/tls/hrr.pcap: HelloRetryRequest (frame 6), second ClientHello
    /// (frame 8), ServerHello out of order (frames 9 and 11, readable at frame 11).
    #[test]
    fn tls13_hello_retry_request() {
        let (c, recs, w) = run(&chunks(HRR));
        let s = c.summary();
        assert!(w.is_empty(), "{w:?}");
        assert!(s.hello_retry);
        assert_eq!(s.hello_retry_ts, Some(t("1556554523.045413000")));
        assert_eq!(s.hello_retry_group, Some(23)); // tshark key_share_selected_group
        assert_eq!(s.client_hellos, 2);
        assert_eq!(s.key_share_groups, vec![21]); // first ClientHello's key share
        assert_eq!(s.client_hello_ts, Some(t("1556554523.016311000")));
        assert_eq!(s.sni, None);
        assert_eq!(s.server_hello_ts, Some(t("1556554523.061083000")));
        assert_eq!((s.version, s.cipher), (Some(0x0304), Some(0x1302)));
        assert_eq!(
            s.ccs_ts,
            [
                Some(t("1556554523.045843000")),
                Some(t("1556554523.045413000"))
            ]
        );
        assert_eq!(s.handshake_done_ts, Some(t("1556554523.063469000"))); // frame 13
        assert_eq!(s.resumed, Some(false));
        assert_eq!(
            lens(&recs, Direction::Resp),
            vec![(1248, true, false), (517, false, true)]
        );
        assert_eq!(
            lens(&recs, Direction::Orig),
            vec![(69, true, false), (19, false, true)]
        );
    }

    /// Voev/snet tests/pcap/data/decrypt_by_keylog/tls1.3_session_resumption.pcap.
    #[test]
    fn tls13_psk_resumption() {
        let (c, recs, w) = run(&chunks(RESUMPTION13));
        let s = c.summary();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.sni.as_deref(), Some("127.0.0.1"));
        assert!(s.psk_offered && s.psk_accepted); // extension 41 in frames 4 and 6
        assert_eq!(s.resumed, Some(true));
        assert!(!s.certificate_seen);
        assert_eq!(s.server_finished_ts, Some(t("1680344669.026536000"))); // frame 6
        assert_eq!(s.handshake_done_ts, Some(t("1680344669.026974000"))); // frame 8
        assert_eq!(
            lens(&recs, Direction::Resp),
            vec![
                (23, true, false),
                (69, true, false),
                (250, false, true),
                (23, false, true),
                (19, false, true)
            ]
        );
        assert_eq!(
            lens(&recs, Direction::Orig),
            vec![
                (69, true, false),
                (23, false, true),
                (22, false, true),
                (19, false, true)
            ]
        );
    }

    /// nDPI tests/cfgs/default/pcap/tls_certificate_too_long.pcap, tcp.stream 2: Chrome-like
    /// ClientHello with GREASE (frame 49); a 3856-byte server record over frames 53-55.
    #[test]
    fn tls12_grease_and_record_over_segments() {
        let ch = chunks(NDPI_CERT);
        assert!(looks_like_tls_client_hello(&ch[0].3));
        assert!(!looks_like_tls_client_hello(&ch[1].3));
        let (c, recs, w) = run(&ch);
        let s = c.summary();
        assert!(w.is_empty() && recs.is_empty(), "{w:?}");
        assert_eq!(s.sni.as_deref(), Some("wdcp.microsoft.com"));
        assert_eq!(s.alpn_offered, vec!["h2", "http/1.1"]);
        assert_eq!(s.versions_offered, vec![0x0304, 0x0303, 0x0302, 0x0301]); // 0x1a1a dropped
        assert_eq!(s.key_share_groups, vec![29]); // 0xaaaa dropped
        assert_eq!(s.client_session_id.first(), Some(&0xe0));
        assert_eq!(s.server_hello_ts, Some(t("1626168077.565902000")));
        assert_eq!((s.version, s.cipher), (Some(0x0303), Some(0xc030)));
        assert_eq!(s.alpn.as_deref(), Some("h2"));
        assert!(s.certificate_seen && !s.session_id_echoed);
        assert_eq!(s.server_hello_done_ts, Some(t("1626168077.565902000")));
        assert_eq!(s.resumed, Some(false));
        assert_eq!(s.handshake_done_ts, None); // the client closed without answering
    }

    /// FoxIO ja4 pcap/browsers-x509.pcapng, tcp.stream 0 up to frame 25: Edge sends its
    /// request (frames 11-13) right after its Finished (frame 10), before the server's
    /// NewSessionTicket/CCS/Finished (frame 16): TLS False Start.
    #[test]
    fn tls12_false_start() {
        let (c, recs, w) = run(&chunks(JA4_FALSE_START));
        let s = c.summary();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.sni.as_deref(), Some("edge.microsoft.com"));
        assert_eq!(s.versions_offered, vec![0x0304, 0x0303]);
        assert_eq!(
            (s.version, s.cipher, s.alpn.as_deref()),
            (Some(0x0303), Some(0xc030), Some("h2"))
        );
        assert!(s.certificate_seen && s.ticket_issued && s.false_start);
        assert_eq!(s.client_finished_ts, Some(t("1691545910.436128000")));
        assert_eq!(s.server_finished_ts, Some(t("1691545911.081842000")));
        assert_eq!(s.handshake_done_ts, Some(t("1691545910.436128000")));
        assert_eq!(s.first_app_data_ts[0], Some(t("1691545910.436458000")));
        let client: Vec<u16> = recs
            .iter()
            .filter(|r| r.dir == Direction::Orig)
            .map(|r| r.len)
            .collect();
        assert_eq!(client, vec![40, 100, 2088, 200, 33]);
        let server: Vec<u16> = recs
            .iter()
            .filter(|r| r.dir == Direction::Resp)
            .map(|r| r.len)
            .collect();
        assert_eq!(server, vec![40, 64, 33, 383, 108, 33]);
    }

    /// zeek testing/btest/Traces/tls/tls-fragmented-handshake.pcap.gz: a 339629-byte
    /// Certificate over 21 records (frames 25-410), then ServerKeyExchange and
    /// ServerHelloDone (frame 411). Certificate bytes zeroed in the fixture, framing kept.
    #[test]
    fn oversized_certificate_is_skipped_then_parsing_resumes() {
        let (c, recs, w) = run(&chunks(&gunzip(FRAGMENTED_GZ)));
        let s = c.summary();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "tls-handshake-too-long");
        assert!(w[0].detail.contains("339629"), "{}", w[0].detail);
        assert_eq!(s.sni.as_deref(), Some("104.236.167.107"));
        assert_eq!(s.server_hello_ts, Some(t("1426117218.083491000")));
        assert_eq!(s.cipher, Some(0xc028));
        assert!(s.certificate_seen);
        assert_eq!(s.server_hello_done_ts, Some(t("1426117218.251128000")));
        assert_eq!(s.resumed, Some(false));
        assert!(recs.is_empty() && !c.is_stopped(Direction::Resp));
    }

    // ----- synthetic streams ------------------------------------------------------------

    fn rec(ct: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 3, 3];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn hs(typ: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![typ];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    fn ext(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut v = typ.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    fn hello(typ: u8, random: [u8; 32], sid: &[u8], suites: &[u8], exts: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(sid.len() as u8);
        b.extend_from_slice(sid);
        if typ == 1 {
            b.extend_from_slice(&(suites.len() as u16).to_be_bytes());
            b.extend_from_slice(suites);
            b.extend_from_slice(&[1, 0]);
        } else {
            b.extend_from_slice(suites);
            b.push(0);
        }
        let e = exts.concat();
        b.extend_from_slice(&(e.len() as u16).to_be_bytes());
        b.extend_from_slice(&e);
        hs(typ, &b)
    }

    const SID: [u8; 32] = [7; 32];

    /// TLS 1.2 abbreviated handshake: ServerHello echoing the session id, then CCS + Finished
    /// from the server first; the client's Finished ends the tls phase.
    #[test]
    fn tls12_abbreviated_resumption() {
        let mut c = TlsConn::new();
        let ch = hello(1, [1; 32], &SID, &[0xc0, 0x2f], &[ext(35, &[9; 40])]);
        c.data(Direction::Orig, Timestamp(1), &rec(22, &ch));
        let sh = hello(2, [2; 32], &SID, &[0xc0, 0x2f], &[]);
        let mut flight = rec(22, &sh);
        assert_eq!(c.summary().resumed, None);
        flight.extend(rec(20, &[1]));
        flight.extend(rec(22, &[0x55; 40]));
        c.data(Direction::Resp, Timestamp(2), &flight);
        let mut fin = rec(20, &[1]);
        fin.extend(rec(22, &[0x66; 40]));
        c.data(Direction::Orig, Timestamp(3), &fin);
        c.data(Direction::Orig, Timestamp(4), &rec(23, &[0x77; 100]));
        let s = c.summary();
        assert!(s.ticket_offered && s.session_id_echoed && !s.certificate_seen);
        assert_eq!(s.resumed, Some(true));
        assert_eq!(s.server_finished_ts, Some(Timestamp(2)));
        assert_eq!(s.client_finished_ts, Some(Timestamp(3)));
        assert_eq!(s.handshake_done_ts, Some(Timestamp(3)));
        assert!(!s.false_start);
        assert_eq!(
            s.cipher_name.as_deref(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert!(c.weirds().is_empty());
    }

    /// TLS 1.3 0-RTT: records the client sends before the server's flight are early data.
    #[test]
    fn tls13_early_data() {
        let mut c = TlsConn::new();
        let ch = hello(
            1,
            [1; 32],
            &SID,
            &[0x13, 0x01],
            &[ext(42, &[]), ext(41, &[0; 20]), ext(43, &[2, 3, 4])],
        );
        let mut first = rec(22, &ch);
        first.extend(rec(20, &[1]));
        first.extend(rec(23, &[0xee; 300]));
        c.data(Direction::Orig, Timestamp(1), &first);
        let sh = hello(
            2,
            [2; 32],
            &SID,
            &[0x13, 0x01],
            &[ext(43, &[3, 4]), ext(41, &[0, 0])],
        );
        let mut flight = rec(22, &sh);
        flight.extend(rec(23, &[0xdd; 80]));
        c.data(Direction::Resp, Timestamp(2), &flight);
        c.data(Direction::Orig, Timestamp(3), &rec(23, &[0xcc; 53]));
        c.data(Direction::Orig, Timestamp(4), &rec(23, &[0xbb; 200]));
        let s = c.summary().clone();
        assert!(s.early_data_offered && s.psk_accepted);
        assert_eq!(s.resumed, Some(true));
        assert_eq!(s.versions_offered, vec![0x0304]);
        assert_eq!(s.handshake_done_ts, Some(Timestamp(3)));
        let mut recs = Vec::new();
        c.drain_records(&mut recs);
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.dir, r.len, r.early_data, r.handshake))
            .collect();
        use Direction::{Orig, Resp};
        let want = vec![
            (Orig, 300, true, false), // 0-RTT, before the ServerHello
            (Resp, 80, false, true),  // server flight
            (Orig, 53, false, true),  // client Finished
            (Orig, 200, false, false),
        ];
        assert_eq!(got, want);
        c.drain_records(&mut recs);
        assert_eq!(recs.len(), 4, "drained records are not repeated");
    }

    /// A handshake message cut into many small records, each record cut into many segments.
    #[test]
    fn client_hello_over_records_and_segments() {
        let (_, _, ch_bytes) = {
            let ch = chunks(TLS13);
            ch.into_iter().next().map(|(f, d, _, b)| (f, d, b)).unwrap()
        };
        let msg = &ch_bytes[5..]; // the ClientHello message of frame 5
        let mut stream = Vec::new();
        for part in msg.chunks(50) {
            stream.extend(rec(22, part));
        }
        let mut c = TlsConn::new();
        for (i, seg) in stream.chunks(7).enumerate() {
            c.data(Direction::Orig, Timestamp(i as i64), seg);
        }
        let s = c.summary();
        assert_eq!(s.sni.as_deref(), Some("example.ulfheim.net"));
        assert_eq!(s.key_share_groups, vec![29]);
        assert_eq!(
            s.client_hello_ts,
            Some(Timestamp(((stream.len() - 1) / 7) as i64))
        );
        assert!(c.weirds().is_empty());
    }

    #[test]
    fn record_times_first_byte_and_completion() {
        let mut c = TlsConn::new();
        let r = rec(23, &[1; 1000]);
        c.data(Direction::Resp, Timestamp(10), &r[..3]);
        c.data(Direction::Resp, Timestamp(20), &r[3..600]);
        c.data(Direction::Resp, Timestamp(30), &r[600..]);
        let mut recs = Vec::new();
        c.drain_records(&mut recs);
        assert_eq!(
            (recs[0].first_ts, recs[0].ts, recs[0].len),
            (Timestamp(10), Timestamp(30), 1000)
        );
    }

    #[test]
    fn sslv2_client_hello_is_skipped() {
        // SSLv2 CLIENT-HELLO, version 3.1, 3 cipher specs, no session id, 16-byte challenge.
        let mut v2 = vec![
            0x80, 0x22, 0x01, 0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x10,
        ];
        v2.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0x0a]);
        v2.extend_from_slice(&[0xab; 16]);
        assert!(looks_like_tls_client_hello(&v2));
        let mut c = TlsConn::new();
        c.data(Direction::Orig, Timestamp(1), &v2[..4]);
        c.data(Direction::Orig, Timestamp(2), &v2[4..10]);
        c.data(Direction::Orig, Timestamp(3), &v2[10..]);
        let sh = hello(2, [2; 32], &[], &[0x00, 0x2f], &[]);
        c.data(Direction::Resp, Timestamp(4), &rec(22, &sh));
        let s = c.summary();
        assert!(s.sslv2_client_hello);
        assert_eq!(s.versions_offered, vec![0x0301]);
        assert_eq!(s.client_hello_ts, Some(Timestamp(3)));
        assert_eq!(s.cipher, Some(0x002f));
        assert!(!c.is_stopped(Direction::Orig));
        assert!(c.weirds().is_empty());
    }

    #[test]
    fn gap_stops_the_direction() {
        let mut c = TlsConn::new();
        c.data(Direction::Resp, Timestamp(1), &rec(23, &[1; 10])[..8]);
        c.gap(Direction::Resp, 100, Timestamp(2));
        c.gap(Direction::Resp, 100, Timestamp(3));
        c.data(Direction::Resp, Timestamp(4), &rec(23, &[1; 10]));
        let w = c.weirds();
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].kind, w[0].ts), ("tls-stream-gap", Timestamp(2)));
        assert!(c.is_stopped(Direction::Resp) && !c.is_stopped(Direction::Orig));
        assert_eq!(c.summary().app_records, [0, 0]);
    }

    #[test]
    fn bad_framing_stops_the_direction() {
        let mut c = TlsConn::new();
        c.data(Direction::Orig, Timestamp(1), b"GET / HTTP/1.1\r\n\r\n");
        c.data(Direction::Resp, Timestamp(1), &[23, 3, 3, 0xff, 0xff, 0]);
        let kinds: Vec<_> = c.weirds().iter().map(|w| w.kind).collect();
        assert_eq!(kinds, vec!["tls-not-tls", "tls-record-too-long"]);
        assert!(c.is_stopped(Direction::Orig) && c.is_stopped(Direction::Resp));
        assert!(!looks_like_tls_client_hello(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_tls_client_hello(&[22, 3, 1]));
    }

    #[test]
    fn undrained_records_are_capped() {
        let mut c = TlsConn::new();
        let r = rec(23, &[]);
        let stream: Vec<u8> = std::iter::repeat_n(r, MAX_UNDRAINED_RECORDS + 5)
            .flatten()
            .collect();
        c.data(Direction::Orig, Timestamp(1), &stream);
        let w = c.weirds();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "tls-record-queue-full");
        let mut recs = Vec::new();
        c.drain_records(&mut recs);
        assert_eq!(recs.len(), MAX_UNDRAINED_RECORDS);
        assert_eq!(
            c.summary().app_records[0],
            (MAX_UNDRAINED_RECORDS + 5) as u64
        );
    }

    #[test]
    fn names_and_grease() {
        assert_eq!(version_name(0x0303), "TLS 1.2");
        assert_eq!(version_name(0x0300), "SSL 3.0");
        assert_eq!(version_name(0x7f1c), "TLS 1.3 draft");
        assert_eq!(version_name(0x1a1a), "GREASE");
        assert_eq!(version_name(0x1234), "unknown");
        assert!(is_grease(0xfafa) && is_grease(0x0a0a) && !is_grease(0x0a1a) && !is_grease(0x1301));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Re-cutting each chunk at arbitrary points (same ready time) changes nothing.
            #[test]
            fn chunking_does_not_matter(cuts in proptest::collection::vec(1usize..64, 1..40), which in 0usize..3) {
                let raw = [TLS13, NDPI_CERT, JA4_FALSE_START][which];
                let orig = chunks(raw);
                let mut split = Vec::new();
                let mut k = 0;
                for (f, d, ts, data) in &orig {
                    let mut rest = &data[..];
                    while !rest.is_empty() {
                        let n = cuts[k % cuts.len()].min(rest.len());
                        k += 1;
                        split.push((*f, *d, *ts, rest[..n].to_vec()));
                        rest = &rest[n..];
                    }
                }
                let (a, ra, wa) = run(&orig);
                let (b, rb, wb) = run(&split);
                prop_assert_eq!(a.summary(), b.summary());
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(wa, wb);
            }

            /// Arbitrary bytes, chunks and gaps never panic and keep buffers bounded.
            #[test]
            fn arbitrary_input_never_panics(
                ops in proptest::collection::vec((any::<bool>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..30),
                prefix in any::<bool>(),
            ) {
                let mut c = TlsConn::new();
                if prefix {
                    // Start like a real handshake so that later garbage reaches deeper states.
                    for (_, d, ts, data) in chunks(TLS12).iter().take(2) {
                        c.data(*d, *ts, data);
                    }
                }
                for (i, (orig, kind, data)) in ops.iter().enumerate() {
                    let dir = if *orig { Direction::Orig } else { Direction::Resp };
                    let ts = Timestamp(i as i64);
                    match kind % 16 {
                        0 => c.gap(dir, data.len() as u64, ts),
                        1 => c.data(dir, ts, &rec(22, data)),
                        2 => c.data(dir, ts, &rec(22, &hs(kind / 16, data))),
                        3 => c.data(dir, ts, &rec(21, data)),
                        _ => c.data(dir, ts, data),
                    }
                }
                for st in &c.dirs {
                    prop_assert!(st.rec.len() <= RECORD_HEADER + MAX_RECORD_LEN);
                    prop_assert!(st.hs.len() <= HANDSHAKE_HEADER + MAX_HANDSHAKE_MSG);
                }
                prop_assert!(c.weirds().len() <= MAX_WEIRDS);
            }
        }
    }
}

//! Per-connection TCP statistics: handshake times, SYN retransmits, close, and per-direction
//! retransmission / out-of-order / zero-window counts, with wrapping sequence arithmetic.

use crate::base::{Direction, Timestamp};

/// Holes remembered per direction to tell out-of-order fills from retransmissions.
const MAX_HOLES: usize = 16;
/// Loss times remembered per direction (for findings that place loss in a request's phases).
pub const MAX_LOSS_TIMES: usize = 256;
/// A hole filled later than this (or than one handshake RTT, if longer) was a loss that the
/// sender repaired, not reordering (Wireshark's rule of thumb is 3 ms).
const REORDER_WINDOW_NS: i64 = 3_000_000;

/// Per-direction state.
#[derive(Clone, Debug, Default)]
pub struct TcpDirStats {
    /// Highest sequence number seen + payload length (relative wrap-aware via `seq_gt`).
    pub next_seq: Option<u32>,
    pub isn: Option<u32>,
    pub retransmits: u64,
    pub out_of_order: u64,
    pub zero_window: u64,
    pub fin_ts: Option<Timestamp>,
    pub rst_ts: Option<Timestamp>,
    /// (start, end, when the hole was first seen).
    holes: Vec<(u32, u32, Timestamp)>,
    /// Capture times of the first retransmissions (and late hole fills: data lost before
    /// the capture point, sent again), at most `MAX_LOSS_TIMES`.
    pub loss_times: Vec<Timestamp>,
}

/// What one segment was, for the caller's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentClass {
    New,
    Retransmission,
    OutOfOrder,
    /// No payload and no SYN/FIN.
    Empty,
}

#[derive(Clone, Debug, Default)]
pub struct TcpStats {
    pub syn_ts: Option<Timestamp>,
    /// Last SYN transmission (the one the SYN-ACK answered, usually).
    pub last_syn_ts: Option<Timestamp>,
    pub syn_count: u32,
    pub synack_ts: Option<Timestamp>,
    pub synack_count: u32,
    /// Client's ACK of the SYN-ACK: the connection is established.
    pub established_ts: Option<Timestamp>,
    pub dirs: [TcpDirStats; 2],
    /// Both directions sent payload or FIN at some point.
    data_seen: bool,
}

/// Wrapping "a > b" on 32-bit sequence numbers.
pub fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl TcpStats {
    pub fn is_closed(&self) -> bool {
        let [o, r] = &self.dirs;
        (o.fin_ts.is_some() && r.fin_ts.is_some()) || o.rst_ts.is_some() || r.rst_ts.is_some()
    }

    pub fn has_data(&self) -> bool {
        self.data_seen
    }

    pub fn syn_retransmits(&self) -> u32 {
        self.syn_count.saturating_sub(1)
    }

    /// SYN → SYN-ACK, from the SYN transmission that was answered.
    pub fn handshake_rtt_ms(&self) -> Option<f64> {
        Some(self.synack_ts?.ms_since(self.last_syn_ts?))
    }

    /// "fin", "rst" or "open".
    pub fn close_kind(&self) -> &'static str {
        let [o, r] = &self.dirs;
        if o.rst_ts.is_some() || r.rst_ts.is_some() {
            "rst"
        } else if o.fin_ts.is_some() || r.fin_ts.is_some() {
            "fin"
        } else {
            "open"
        }
    }

    /// Earliest FIN or RST.
    pub fn close_ts(&self) -> Option<Timestamp> {
        self.dirs
            .iter()
            .flat_map(|d| [d.fin_ts, d.rst_ts])
            .flatten()
            .min()
    }

    /// Accounts one segment of direction `dir`.
    ///
    /// Inlined for the common case, the next bytes in order on an established connection
    /// (every packet of a download), where nothing but the next sequence number changes;
    /// everything else is [`Self::segment_general`], out of line.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn segment(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        seq: u32,
        ack: u32,
        syn: bool,
        has_ack: bool,
        fin: bool,
        rst: bool,
        window: u16,
        payload_len: u32,
    ) -> SegmentClass {
        if !syn && !fin && !rst && payload_len > 0 && window != 0 && self.established_ts.is_some() {
            let d = &mut self.dirs[dir.idx()];
            if d.next_seq == Some(seq) {
                self.data_seen = true;
                d.next_seq = Some(seq.wrapping_add(payload_len));
                return SegmentClass::New;
            }
        }
        self.segment_general(
            dir,
            ts,
            seq,
            ack,
            syn,
            has_ack,
            fin,
            rst,
            window,
            payload_len,
        )
    }

    /// [`Self::segment`] for every case.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn segment_general(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        seq: u32,
        ack: u32,
        syn: bool,
        has_ack: bool,
        fin: bool,
        rst: bool,
        window: u16,
        payload_len: u32,
    ) -> SegmentClass {
        if syn && !has_ack && dir == Direction::Orig {
            self.syn_count += 1;
            self.syn_ts.get_or_insert(ts);
            if self.synack_ts.is_none() {
                self.last_syn_ts = Some(ts);
            }
        }
        if syn && has_ack && dir == Direction::Resp {
            self.synack_count += 1;
            self.synack_ts.get_or_insert(ts);
        }
        if dir == Direction::Orig
            && !syn
            && has_ack
            && self.established_ts.is_none()
            && self.synack_ts.is_some()
        {
            let expected = self.dirs[1].isn.map(|i| i.wrapping_add(1));
            if expected.is_none_or(|e| e == ack) {
                self.established_ts = Some(ts);
            }
        }
        let rtt_ns = match (self.synack_ts, self.last_syn_ts) {
            (Some(a), Some(s)) => a.0.saturating_sub(s.0),
            _ => 0,
        };
        let reorder_window = rtt_ns.max(REORDER_WINDOW_NS);
        if window == 0 && !syn && !fin && !rst {
            self.dirs[dir.idx()].zero_window += 1;
        }
        let d = &mut self.dirs[dir.idx()];
        if rst {
            d.rst_ts.get_or_insert(ts);
        }
        if fin {
            d.fin_ts.get_or_insert(ts);
        }
        if syn {
            d.isn.get_or_insert(seq);
            let n = seq.wrapping_add(1);
            if d.next_seq.is_none_or(|x| seq_gt(n, x)) {
                d.next_seq = Some(n);
            }
            return SegmentClass::New;
        }
        let len = payload_len.wrapping_add(fin as u32);
        if payload_len > 0 || fin {
            self.data_seen = true;
        }
        if len == 0 {
            return SegmentClass::Empty;
        }
        let end = seq.wrapping_add(len);
        let class = match d.next_seq {
            None => {
                d.next_seq = Some(end);
                SegmentClass::New
            }
            Some(next) => {
                if !seq_gt(next, seq) {
                    // At or beyond the highest byte seen.
                    if seq_gt(seq, next) && d.holes.len() < MAX_HOLES {
                        d.holes.push((next, seq, ts));
                    }
                    d.next_seq = Some(end);
                    SegmentClass::New
                } else if let Some(i) = d
                    .holes
                    .iter()
                    .position(|&(hs, he, _)| seq_gt(he, seq) && seq_gt(end, hs))
                {
                    // Fills (part of) a hole: reordering if it came soon after the hole
                    // appeared, else the sender's repair of a loss upstream of the capture.
                    let (hs, he, seen) = d.holes[i];
                    d.holes.swap_remove(i);
                    if seq_gt(seq, hs) && d.holes.len() < MAX_HOLES {
                        d.holes.push((hs, seq, seen));
                    }
                    if seq_gt(he, end) && d.holes.len() < MAX_HOLES {
                        d.holes.push((end, he, seen));
                    }
                    if seq_gt(end, next) {
                        d.next_seq = Some(end);
                    }
                    if ts.0.saturating_sub(seen.0) > reorder_window {
                        SegmentClass::Retransmission
                    } else {
                        SegmentClass::OutOfOrder
                    }
                } else {
                    if seq_gt(end, next) {
                        d.next_seq = Some(end);
                    }
                    SegmentClass::Retransmission
                }
            }
        };
        match class {
            SegmentClass::Retransmission => {
                d.retransmits += 1;
                if d.loss_times.len() < MAX_LOSS_TIMES {
                    d.loss_times.push(ts);
                }
            }
            SegmentClass::OutOfOrder => d.out_of_order += 1,
            _ => {}
        }
        class
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    fn seg(s: &mut TcpStats, dir: Direction, t: i64, seq: u32, len: u32) -> SegmentClass {
        s.segment(
            dir,
            Timestamp(t),
            seq,
            0,
            false,
            true,
            false,
            false,
            1000,
            len,
        )
    }

    /// A SYN from the client at `t` ns with sequence number `isn`.
    fn syn(s: &mut TcpStats, t: i64, isn: u32) {
        s.segment(
            Orig,
            Timestamp(t),
            isn,
            0,
            true,
            false,
            false,
            false,
            1000,
            0,
        );
    }

    /// The inlined fast path leaves the same state as the general path: a handshake, then
    /// in-order data, retransmissions, a hole and its fill, a zero window and a FIN, fed
    /// once through `segment` and once through `segment_general` alone.
    #[test]
    fn fast_path_equals_the_general_path() {
        #[allow(clippy::type_complexity)]
        let script: &[(Direction, i64, u32, u32, bool, bool, bool, u16, u32)] = &[
            (Orig, 0, 100, 0, true, false, false, 1000, 0),
            (Resp, 10, 500, 101, true, true, false, 1000, 0),
            (Orig, 20, 101, 501, false, true, false, 1000, 0),
            (Orig, 21, 101, 501, false, true, false, 1000, 50),
            (Resp, 30, 501, 151, false, true, false, 1000, 1400),
            (Resp, 31, 1901, 151, false, true, false, 1000, 1400),
            (Resp, 32, 1901, 151, false, true, false, 1000, 1400),
            (Resp, 33, 4701, 151, false, true, false, 1000, 1400),
            (Resp, 34, 3301, 151, false, true, false, 0, 1400),
            (Resp, 35, 6101, 151, false, true, false, 1000, 100),
            (Orig, 40, 151, 6201, false, true, true, 1000, 0),
        ];
        let (mut fast, mut slow) = (TcpStats::default(), TcpStats::default());
        for &(dir, t, seq, ack, syn, has_ack, fin, window, len) in script {
            let a = fast.segment(
                dir,
                Timestamp(t),
                seq,
                ack,
                syn,
                has_ack,
                fin,
                false,
                window,
                len,
            );
            let b = slow.segment_general(
                dir,
                Timestamp(t),
                seq,
                ack,
                syn,
                has_ack,
                fin,
                false,
                window,
                len,
            );
            assert_eq!(a, b, "at {t}");
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "at {t}");
        }
        assert!(fast.established_ts.is_some());
    }

    #[test]
    fn handshake_and_rtt() {
        let mut s = TcpStats::default();
        syn(&mut s, 0, 100);
        syn(&mut s, 1_000_000_000, 100);
        s.segment(
            Resp,
            Timestamp(1_040_000_000),
            500,
            101,
            true,
            true,
            false,
            false,
            1000,
            0,
        );
        s.segment(
            Orig,
            Timestamp(1_040_100_000),
            101,
            501,
            false,
            true,
            false,
            false,
            1000,
            0,
        );
        assert_eq!(s.syn_retransmits(), 1);
        assert_eq!(s.handshake_rtt_ms(), Some(40.0));
        assert_eq!(s.established_ts, Some(Timestamp(1_040_100_000)));
    }

    #[test]
    fn retransmission_vs_out_of_order() {
        let mut s = TcpStats::default();
        syn(&mut s, 0, 99);
        assert_eq!(seg(&mut s, Orig, 1, 100, 10), SegmentClass::New);
        assert_eq!(seg(&mut s, Orig, 2, 120, 10), SegmentClass::New); // hole 110..120
        assert_eq!(seg(&mut s, Orig, 3, 110, 10), SegmentClass::OutOfOrder);
        assert_eq!(seg(&mut s, Orig, 4, 110, 10), SegmentClass::Retransmission);
        assert_eq!(seg(&mut s, Orig, 5, 100, 10), SegmentClass::Retransmission);
        assert_eq!(s.dirs[0].retransmits, 2);
        assert_eq!(s.dirs[0].out_of_order, 1);
    }

    #[test]
    fn late_hole_fill_is_a_repaired_loss() {
        let mut s = TcpStats::default();
        syn(&mut s, 0, 99);
        seg(&mut s, Orig, 1, 100, 10);
        seg(&mut s, Orig, 2, 120, 10); // hole 110..120 seen at t=2 ns
        // Filled 200 ms later: the sender retransmitted what was lost before the capture.
        assert_eq!(
            seg(&mut s, Orig, 200_000_002, 110, 10),
            SegmentClass::Retransmission
        );
        assert_eq!(s.dirs[0].loss_times, vec![Timestamp(200_000_002)]);
    }

    #[test]
    fn wraps_around() {
        let mut s = TcpStats::default();
        syn(&mut s, 0, u32::MAX - 5);
        assert_eq!(seg(&mut s, Orig, 1, u32::MAX - 4, 10), SegmentClass::New);
        assert_eq!(seg(&mut s, Orig, 2, 5, 10), SegmentClass::New);
        assert_eq!(
            seg(&mut s, Orig, 3, u32::MAX - 4, 10),
            SegmentClass::Retransmission
        );
    }
}

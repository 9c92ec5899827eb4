//! TCP reassembly of ONE direction of a connection into an in-order byte stream.
//!
//! Owns: mapping 32-bit wrapping sequence numbers to 64-bit stream offsets, the bounded
//! out-of-order buffer, overlap/retransmission handling (first arrival wins, as in Zeek),
//! and turning holes the capture never saw into explicit [`StreamEvent::Gap`]s: bytes
//! are never silently skipped and never glued across a hole.
//!
//! Push model: [`Reassembler::segment`], [`Reassembler::peer_ack`] and
//! [`Reassembler::flush`] call an `out` callback for every event that becomes
//! deliverable, so in-order payload is handed on as a borrowed slice of the packet
//! (no copy); only out-of-order bytes are copied into the buffer.
//!
//! Must not import anything from the crate except `crate::base` (it sits between `flow`
//! and `protocol` and knows neither: no flow table, no parsers).

use std::collections::BTreeMap;

use crate::base::{Timestamp, Weird};

/// Default cap on out-of-order bytes held per direction (1 MiB). Hitting it delivers a
/// Gap up to the earliest held segment and records `tcp-reassembly-cap`.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 1 << 20;
/// Default cap on out-of-order segments held per direction (same handling as bytes).
pub const DEFAULT_MAX_SEGMENTS: usize = 1024;
/// Cap on weirds waiting to be drained by [`Reassembler::weirds`]; beyond it they are
/// counted and reported as one `tcp-weirds-dropped` on the next drain.
pub const MAX_PENDING_WEIRDS: usize = 64;

/// Something a stream consumer must see, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// In-order bytes. `offset` = stream offset of `bytes[0]` (0 = first byte after the
    /// SYN, or the first byte seen when no SYN was seen).
    /// `first_ts` = capture time these bytes first arrived (earliest arrival, even if
    /// held out of order); `ready_ts` = capture time they became readable in order
    /// (the arrival, ACK or flush that completed the in-order prefix).
    Data {
        offset: u64,
        bytes: &'a [u8],
        first_ts: Timestamp,
        ready_ts: Timestamp,
    },
    /// Bytes `[offset, offset + len)` were never seen (capture loss or cap overflow);
    /// delivered at `ts`.
    Gap {
        offset: u64,
        len: u64,
        ts: Timestamp,
    },
    /// The sender finished: the stream ends at `offset`. Delivered once, after all
    /// bytes (or gaps) before it.
    Fin { offset: u64, ts: Timestamp },
    /// The sender reset the connection (delivered once, after flushing held data).
    Rst { ts: Timestamp },
}

/// How one segment related to what was already seen (for per-connection counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// All its bytes (or its FIN) were new and became readable in order.
    New,
    /// Nothing new: every byte was already delivered or held (or was invalid: before
    /// the stream start / after the FIN, which also records a weird).
    Retransmission,
    /// Some bytes already seen (delivered or held), the rest new and readable in order.
    PartialOverlap,
    /// New bytes (or a FIN) beyond a hole: held until the hole is filled or gapped.
    OutOfOrder,
    /// Keep-alive probe: sequence number one below the next expected, at most one byte.
    KeepAlive,
    /// No payload, no FIN, no RST (a pure ACK or window update).
    Empty,
    /// The segment carried RST.
    Rst,
}

/// One held out-of-order piece. Held pieces never overlap each other.
#[derive(Debug)]
struct Piece {
    bytes: Vec<u8>,
    /// Capture time the bytes arrived.
    ts: Timestamp,
}

/// Reassembles one direction of a TCP connection. See the module doc.
#[derive(Debug)]
pub struct Reassembler {
    /// Sequence number of stream offset 0 (ISN + 1), once known.
    base_seq: Option<u32>,
    /// Next stream offset to deliver: everything below was delivered (as Data or Gap).
    next: u64,
    /// Out-of-order pieces keyed by stream offset; all keys are `>= next`.
    held: BTreeMap<u64, Piece>,
    held_bytes: usize,
    max_buffered_bytes: usize,
    max_segments: usize,
    /// Stream offset of the FIN (= stream length), once seen.
    fin_offset: Option<u64>,
    fin_delivered: bool,
    rst_delivered: bool,
    /// Capture time of the last segment (stamps weirds of `syn`, which has no time).
    last_ts: Timestamp,
    weirds: Vec<Weird>,
    weirds_dropped: u64,
    /// Tests: take the general path for in-order segments too (the shortcut's oracle).
    #[cfg(test)]
    general_only: bool,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    /// A reassembler with the default caps (1 MiB, 1024 segments held out of order).
    pub fn new() -> Self {
        Self::with_caps(DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_SEGMENTS)
    }

    /// A reassembler holding at most `max_buffered_bytes` bytes in at most
    /// `max_segments` pieces out of order.
    pub fn with_caps(max_buffered_bytes: usize, max_segments: usize) -> Self {
        Reassembler {
            base_seq: None,
            next: 0,
            held: BTreeMap::new(),
            held_bytes: 0,
            max_buffered_bytes,
            max_segments,
            fin_offset: None,
            fin_delivered: false,
            rst_delivered: false,
            last_ts: Timestamp::default(),
            weirds: Vec::new(),
            weirds_dropped: 0,
            #[cfg(test)]
            general_only: false,
        }
    }

    /// SYN seen with this ISN: the stream starts at `isn + 1`. If never called, the
    /// first segment carrying payload or FIN starts the stream. A SYN carrying data
    /// (TFO) is passed as `syn(isn)` then `segment(.., isn + 1, payload, ..)`.
    pub fn syn(&mut self, isn: u32) {
        let start = isn.wrapping_add(1);
        match self.base_seq {
            None => self.base_seq = Some(start),
            Some(b) if b == start => {}
            Some(b) => self.weird(
                self.last_ts,
                "tcp-syn-isn-changed",
                format!("SYN with ISN {isn} but the stream already starts at seq {b}; ignored"),
            ),
        }
    }

    /// Bytes delivered in order so far, gaps included (= the next stream offset).
    pub fn delivered(&self) -> u64 {
        self.next
    }

    /// Bytes currently held out of order.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Stream offset of the FIN, once one was seen (delivered or not).
    pub fn fin_offset(&self) -> Option<u64> {
        self.fin_offset
    }

    /// Drains the weirds recorded since the last call.
    /// Whether [`Reassembler::weirds`] has anything to return (cheap, for the per-packet path).
    #[inline]
    pub fn has_weirds(&self) -> bool {
        !self.weirds.is_empty() || self.weirds_dropped > 0
    }

    pub fn weirds(&mut self) -> Vec<Weird> {
        let mut w = std::mem::take(&mut self.weirds);
        if self.weirds_dropped > 0 {
            w.push(Weird::new(
                self.last_ts,
                "tcp-weirds-dropped",
                format!(
                    "{} reassembly weirds dropped (more than {MAX_PENDING_WEIRDS} pending)",
                    self.weirds_dropped
                ),
            ));
            self.weirds_dropped = 0;
        }
        w
    }

    /// One TCP segment of this direction, captured at `ts`. Calls `out` for every event
    /// that becomes deliverable. RST: the payload is ignored, held data is flushed (with
    /// gaps) and `Rst` delivered (once).
    ///
    /// Generic and inlined for the common case (the next bytes in order), so the caller's
    /// `out` is called directly there and can be inlined into it; every other case goes
    /// through [`Self::segment_general`].
    #[inline]
    pub fn segment<F: FnMut(StreamEvent<'_>) + ?Sized>(
        &mut self,
        ts: Timestamp,
        seq: u32,
        payload: &[u8],
        fin: bool,
        rst: bool,
        out: &mut F,
    ) -> SegmentKind {
        self.last_ts = ts;
        // The common case, the next bytes in order with nothing held and no FIN: delivered
        // at once (what the general path below does for it, without its bookkeeping).
        #[cfg(test)]
        let shortcut = !self.general_only;
        #[cfg(not(test))]
        let shortcut = true;
        if shortcut
            && !rst
            && !fin
            && !payload.is_empty()
            && self.held.is_empty()
            && self.fin_offset.is_none()
            && self.base_seq.is_some()
            && self.offset_of(seq) == i128::from(self.next)
        {
            let offset = self.next;
            self.next = offset.saturating_add(payload.len() as u64);
            out(StreamEvent::Data {
                offset,
                bytes: payload,
                first_ts: ts,
                ready_ts: ts,
            });
            return SegmentKind::New;
        }
        self.segment_general(ts, seq, payload, fin, rst, &mut |ev| out(ev))
    }

    /// [`Self::segment`] for every case but the next bytes in order (out of line, one copy).
    #[inline(never)]
    fn segment_general(
        &mut self,
        ts: Timestamp,
        seq: u32,
        payload: &[u8],
        fin: bool,
        rst: bool,
        out: &mut dyn FnMut(StreamEvent<'_>),
    ) -> SegmentKind {
        if rst {
            if !payload.is_empty() {
                self.weird(
                    ts,
                    "tcp-rst-with-data",
                    format!("RST carries {} payload bytes; ignored", payload.len()),
                );
            }
            self.flush(ts, out);
            if !self.rst_delivered {
                self.rst_delivered = true;
                out(StreamEvent::Rst { ts });
            }
            return SegmentKind::Rst;
        }
        if payload.is_empty() && !fin {
            // A pure ACK does not start the stream: a keep-alive's seq is one too low.
            return match self.base_seq {
                Some(_) if self.offset_of(seq) + 1 == i128::from(self.next) => {
                    SegmentKind::KeepAlive
                }
                _ => SegmentKind::Empty,
            };
        }
        if self.base_seq.is_none() {
            self.base_seq = Some(seq);
        }
        let mut start = self.offset_of(seq);
        let end = start.saturating_add(payload.len() as i128);
        if !fin && payload.len() == 1 && start + 1 == i128::from(self.next) {
            return SegmentKind::KeepAlive;
        }

        let mut data = payload;
        let mut invalid = 0usize;
        if start < 0 {
            let cut = usize::try_from(-start)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.weird(
                ts,
                "tcp-data-before-start",
                format!("{cut} bytes before the stream start; dropped"),
            );
            data = data.get(cut..).unwrap_or_default();
            invalid = cut;
            start = 0;
        }
        // `start >= 0` and `end >= start` here, and both are within 2^31 + 2^32 of next.
        let s = u64::try_from(start).unwrap_or(u64::MAX);

        let mut fin_new = false;
        if fin {
            fin_new = self.register_fin(ts, end);
        }
        if let Some(f) = self.fin_offset {
            let room = usize::try_from(f.saturating_sub(s)).unwrap_or(usize::MAX);
            if data.len() > room {
                self.weird(
                    ts,
                    "tcp-data-after-fin",
                    format!(
                        "{} bytes after the FIN at stream offset {f}; dropped",
                        data.len() - room
                    ),
                );
                invalid = invalid.saturating_add(data.len() - room);
                data = data.get(..room).unwrap_or_default();
            }
        }
        let e = s.saturating_add(data.len() as u64);

        if !self.held.is_empty() {
            self.check_overlap(ts, s, data);
        }
        let mut from_payload = 0u64;
        // Deliver in order: alternately from held pieces and from this payload.
        loop {
            if self
                .held
                .first_key_value()
                .is_some_and(|(&k, _)| k <= self.next)
            {
                self.deliver_held_run(ts, out);
                continue;
            }
            if s <= self.next && self.next < e {
                let upto = self.held.first_key_value().map_or(e, |(&k, _)| k.min(e));
                let from = usize::try_from(self.next - s).unwrap_or(usize::MAX);
                let to = usize::try_from(upto - s).unwrap_or(usize::MAX);
                if let Some(bytes) = data.get(from..to) {
                    out(StreamEvent::Data {
                        offset: self.next,
                        bytes,
                        first_ts: ts,
                        ready_ts: ts,
                    });
                }
                from_payload += upto - self.next;
                self.next = upto;
                continue;
            }
            break;
        }
        let mut held_now = 0;
        if e > self.next {
            held_now = self.hold(ts, s, data);
            self.enforce_caps(ts, out);
            self.deliver_held_run(ts, out);
        }
        self.maybe_deliver_fin(ts, out);

        let old = (data.len() as u64)
            .saturating_sub(from_payload)
            .saturating_sub(held_now)
            .saturating_add(invalid as u64);
        if held_now > 0 || (fin_new && self.fin_offset.is_some_and(|f| f > self.next)) {
            SegmentKind::OutOfOrder
        } else if from_payload == 0 && !fin_new {
            SegmentKind::Retransmission
        } else if old > 0 {
            SegmentKind::PartialOverlap
        } else {
            SegmentKind::New
        }
    }

    /// The peer acknowledged `ack`. Holes below it were received by the peer, so the
    /// capture missed them: held data up to `ack` is delivered with Gaps for the holes.
    /// An ACK behind the delivered point (or before any segment) changes nothing.
    ///
    /// Inlined for the common case, an ACK at or behind the delivered point; the rest is out
    /// of line.
    #[inline]
    pub fn peer_ack<F: FnMut(StreamEvent<'_>) + ?Sized>(
        &mut self,
        ts: Timestamp,
        ack: u32,
        out: &mut F,
    ) {
        if self.base_seq.is_none() {
            return;
        }
        let a = self.offset_of(ack);
        if a <= i128::from(self.next) {
            return;
        }
        self.peer_ack_ahead(ts, a, &mut |ev| out(ev));
    }

    /// [`Self::peer_ack`] for an ACK beyond the delivered point (stream offset `a`).
    #[inline(never)]
    fn peer_ack_ahead(&mut self, ts: Timestamp, a: i128, out: &mut dyn FnMut(StreamEvent<'_>)) {
        let mut target = u64::try_from(a).unwrap_or(self.next);
        if let Some(f) = self.fin_offset {
            // The FIN takes one sequence number but no stream byte.
            target = target.min(f);
        }
        self.gap_until(ts, target, out);
        self.deliver_held_run(ts, out);
        self.maybe_deliver_fin(ts, out);
    }

    /// End of capture / flow expiry: delivers everything held, with Gaps for holes, and
    /// a seen FIN (with a Gap before it if bytes before it were never seen).
    pub fn flush(&mut self, ts: Timestamp, out: &mut dyn FnMut(StreamEvent<'_>)) {
        let last_held = self
            .held
            .last_key_value()
            .map(|(&k, p)| k.saturating_add(p.bytes.len() as u64));
        if let Some(end) = last_held {
            self.gap_until(ts, end, out);
        }
        if let Some(f) = self.fin_offset {
            self.gap_until(ts, f, out);
        }
        self.maybe_deliver_fin(ts, out);
    }

    /// Stream offset of `seq`: the 64-bit value with these low 32 bits (relative to the
    /// base) that is closest to `next`. Negative means before the stream start.
    fn offset_of(&self, seq: u32) -> i128 {
        let rel = seq.wrapping_sub(self.base_seq.unwrap_or(seq));
        let delta = rel.wrapping_sub(self.next as u32) as i32;
        i128::from(self.next) + i128::from(delta)
    }

    /// Records the FIN ending at stream offset `pos`; returns whether it was new.
    fn register_fin(&mut self, ts: Timestamp, pos: i128) -> bool {
        if let Some(f) = self.fin_offset {
            if i128::from(f) != pos {
                self.weird(
                    ts,
                    "tcp-fin-moved",
                    format!("FIN at stream offset {pos} after a FIN at {f}; first kept"),
                );
            }
            return false;
        }
        let Ok(pos) = u64::try_from(pos) else {
            self.weird(
                ts,
                "tcp-fin-before-start",
                "FIN before the stream start; ignored",
            );
            return false;
        };
        if pos < self.next {
            self.weird(
                ts,
                "tcp-fin-behind-data",
                format!(
                    "FIN at stream offset {pos} but {} bytes were already delivered",
                    self.next
                ),
            );
            self.fin_offset = Some(self.next);
            return true;
        }
        self.fin_offset = Some(pos);
        // Held data beyond the FIN cannot be part of the stream.
        let beyond: Vec<u64> = self.held.range(pos..).map(|(&k, _)| k).collect();
        let mut dropped = 0usize;
        for k in beyond {
            if let Some(p) = self.held.remove(&k) {
                dropped = dropped.saturating_add(p.bytes.len());
            }
        }
        if let Some((&k, p)) = self.held.range_mut(..pos).next_back() {
            let keep = usize::try_from(pos - k).unwrap_or(usize::MAX);
            if p.bytes.len() > keep {
                dropped = dropped.saturating_add(p.bytes.len() - keep);
                p.bytes.truncate(keep);
            }
        }
        if dropped > 0 {
            self.held_bytes = self.held_bytes.saturating_sub(dropped);
            self.weird(
                ts,
                "tcp-data-after-fin",
                format!("{dropped} held bytes after the FIN at stream offset {pos}; dropped"),
            );
        }
        true
    }

    /// Notes a weird if `data` (at stream offset `s`) differs from held bytes it overlaps.
    fn check_overlap(&mut self, ts: Timestamp, s: u64, data: &[u8]) {
        let e = s.saturating_add(data.len() as u64);
        let mut differing = 0u64;
        for (&k, p) in self.held.range(..e).rev() {
            let pe = k.saturating_add(p.bytes.len() as u64);
            if pe <= s {
                break;
            }
            let (lo, hi) = (k.max(s), pe.min(e));
            let held = p.bytes.get(to_usize(lo - k)..to_usize(hi - k));
            let new = data.get(to_usize(lo - s)..to_usize(hi - s));
            if let (Some(a), Some(b)) = (held, new) {
                differing += a.iter().zip(b).filter(|(x, y)| x != y).count() as u64;
            }
        }
        if differing > 0 {
            self.weird(
                ts,
                "tcp-overlap-mismatch",
                format!(
                    "retransmitted bytes at stream offsets {s}..{e} differ from the first \
                     copy in {differing} bytes; first copy kept"
                ),
            );
        }
    }

    /// Copies the parts of `data` (at offset `s`) beyond `next` not already held.
    /// Returns the number of bytes newly held.
    fn hold(&mut self, ts: Timestamp, s: u64, data: &[u8]) -> u64 {
        let e = s.saturating_add(data.len() as u64);
        let mut cur = s.max(self.next);
        let mut added = 0;
        while cur < e {
            if let Some((&k, p)) = self.held.range(..=cur).next_back() {
                let pe = k.saturating_add(p.bytes.len() as u64);
                if pe > cur {
                    cur = pe;
                    continue;
                }
            }
            let stop = self.held.range(cur..).next().map_or(e, |(&k, _)| k.min(e));
            if stop <= cur {
                break; // unreachable: held pieces are never empty
            }
            let bytes = data
                .get(to_usize(cur - s)..to_usize(stop - s))
                .unwrap_or_default()
                .to_vec();
            self.held_bytes = self.held_bytes.saturating_add(bytes.len());
            self.held.insert(cur, Piece { bytes, ts });
            added += stop - cur;
            cur = stop;
        }
        added
    }

    /// While a cap is exceeded: Gap up to the earliest held piece and deliver from there.
    fn enforce_caps(&mut self, ts: Timestamp, out: &mut dyn FnMut(StreamEvent<'_>)) {
        let mut skipped = 0u64;
        let mut hit = false;
        while self.held_bytes > self.max_buffered_bytes || self.held.len() > self.max_segments {
            let Some((&k, _)) = self.held.first_key_value() else {
                break;
            };
            hit = true;
            skipped = skipped.saturating_add(k.saturating_sub(self.next));
            self.gap_until(ts, k, out);
            self.deliver_held_run(ts, out);
        }
        if hit {
            self.weird(
                ts,
                "tcp-reassembly-cap",
                format!(
                    "out-of-order buffer over its cap ({} bytes / {} segments): \
                     {skipped} unseen bytes delivered as a gap",
                    self.max_buffered_bytes, self.max_segments
                ),
            );
        }
    }

    /// Advances `next` to `target`: held pieces on the way are delivered, holes become
    /// Gaps (each one maximal).
    fn gap_until(&mut self, ts: Timestamp, target: u64, out: &mut dyn FnMut(StreamEvent<'_>)) {
        while self.next < target {
            match self.held.first_key_value().map(|(&k, _)| k) {
                Some(k) if k <= self.next => self.deliver_held_run(ts, out),
                first => {
                    let stop = first.map_or(target, |k| k.min(target));
                    out(StreamEvent::Gap {
                        offset: self.next,
                        len: stop - self.next,
                        ts,
                    });
                    self.next = stop;
                }
            }
        }
    }

    /// Delivers held pieces while the earliest one starts at (or before) `next`.
    fn deliver_held_run(&mut self, ts: Timestamp, out: &mut dyn FnMut(StreamEvent<'_>)) {
        while self
            .held
            .first_key_value()
            .is_some_and(|(&k, _)| k <= self.next)
        {
            let Some((k, p)) = self.held.pop_first() else {
                break;
            };
            self.held_bytes = self.held_bytes.saturating_sub(p.bytes.len());
            let end = k.saturating_add(p.bytes.len() as u64);
            if end > self.next {
                let skip = to_usize(self.next - k);
                if let Some(bytes) = p.bytes.get(skip..) {
                    out(StreamEvent::Data {
                        offset: self.next,
                        bytes,
                        first_ts: p.ts,
                        ready_ts: ts,
                    });
                }
                self.next = end;
            }
        }
    }

    fn maybe_deliver_fin(&mut self, ts: Timestamp, out: &mut dyn FnMut(StreamEvent<'_>)) {
        if let Some(f) = self.fin_offset
            && !self.fin_delivered
            && self.next >= f
        {
            self.fin_delivered = true;
            out(StreamEvent::Fin { offset: f, ts });
        }
    }

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: impl Into<String>) {
        if self.weirds.len() < MAX_PENDING_WEIRDS {
            self.weirds.push(Weird::new(ts, kind, detail));
        } else {
            self.weirds_dropped = self.weirds_dropped.saturating_add(1);
        }
    }
}

/// Offsets inside one held piece or one payload always fit (they are at most its length).
fn to_usize(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An owned copy of a [`StreamEvent`] (timestamps as raw nanoseconds).
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Data(u64, Vec<u8>, i64, i64),
        Gap(u64, u64, i64),
        Fin(u64, i64),
        Rst(i64),
    }

    fn own(e: StreamEvent<'_>) -> Ev {
        match e {
            StreamEvent::Data {
                offset,
                bytes,
                first_ts,
                ready_ts,
            } => Ev::Data(offset, bytes.to_vec(), first_ts.0, ready_ts.0),
            StreamEvent::Gap { offset, len, ts } => Ev::Gap(offset, len, ts.0),
            StreamEvent::Fin { offset, ts } => Ev::Fin(offset, ts.0),
            StreamEvent::Rst { ts } => Ev::Rst(ts.0),
        }
    }

    /// A reassembler plus the events it delivered so far.
    struct H {
        r: Reassembler,
        ev: Vec<Ev>,
    }

    impl H {
        fn new(r: Reassembler) -> Self {
            H { r, ev: Vec::new() }
        }
        fn seg(&mut self, ts: i64, seq: u32, p: &[u8]) -> SegmentKind {
            self.seg_f(ts, seq, p, false, false)
        }
        fn seg_f(&mut self, ts: i64, seq: u32, p: &[u8], fin: bool, rst: bool) -> SegmentKind {
            let ev = &mut self.ev;
            self.r
                .segment(Timestamp(ts), seq, p, fin, rst, &mut |e| ev.push(own(e)))
        }
        fn ack(&mut self, ts: i64, ack: u32) {
            let ev = &mut self.ev;
            self.r
                .peer_ack(Timestamp(ts), ack, &mut |e| ev.push(own(e)));
        }
        fn flush(&mut self, ts: i64) {
            let ev = &mut self.ev;
            self.r.flush(Timestamp(ts), &mut |e| ev.push(own(e)));
        }
        fn take(&mut self) -> Vec<Ev> {
            std::mem::take(&mut self.ev)
        }
        fn weird_kinds(&mut self) -> Vec<&'static str> {
            self.r.weirds().iter().map(|w| w.kind).collect()
        }
    }

    fn d(off: u64, b: &[u8], first: i64, ready: i64) -> Ev {
        Ev::Data(off, b.to_vec(), first, ready)
    }

    fn with_syn(isn: u32) -> H {
        let mut h = H::new(Reassembler::new());
        h.r.syn(isn);
        h
    }

    #[test]
    fn in_order_delivers_directly() {
        let mut h = with_syn(1000);
        assert_eq!(h.seg(1, 1001, b"hello"), SegmentKind::New);
        assert_eq!(h.seg(2, 1006, b" world"), SegmentKind::New);
        assert_eq!(h.take(), vec![d(0, b"hello", 1, 1), d(5, b" world", 2, 2)]);
        assert_eq!(h.r.delivered(), 11);
        assert_eq!(h.r.held_bytes(), 0);
        assert!(h.weird_kinds().is_empty());
    }

    #[test]
    fn retransmission_and_partial_overlap() {
        let mut h = with_syn(1000);
        h.seg(1, 1001, b"hello");
        h.take();
        assert_eq!(h.seg(2, 1001, b"hello"), SegmentKind::Retransmission);
        assert_eq!(h.seg(3, 1003, b"ll"), SegmentKind::Retransmission);
        assert!(h.take().is_empty());
        assert_eq!(h.seg(4, 1003, b"lloXY"), SegmentKind::PartialOverlap);
        assert_eq!(h.take(), vec![d(5, b"XY", 4, 4)]);
        assert_eq!(h.r.delivered(), 7);
    }

    #[test]
    fn out_of_order_then_fill_keeps_first_arrival_time() {
        let mut h = with_syn(0);
        assert_eq!(h.seg(10, 6, b"world"), SegmentKind::OutOfOrder);
        assert!(h.take().is_empty());
        assert_eq!(h.r.held_bytes(), 5);
        assert_eq!(h.seg(20, 1, b"hello"), SegmentKind::New);
        assert_eq!(
            h.take(),
            vec![d(0, b"hello", 20, 20), d(5, b"world", 10, 20)]
        );
        assert_eq!(h.r.held_bytes(), 0);
    }

    #[test]
    fn overlap_with_held_first_arrival_wins_and_mismatch_is_weird() {
        let mut h = with_syn(0);
        // held [10, 15) "abcde"
        assert_eq!(h.seg(1, 11, b"abcde"), SegmentKind::OutOfOrder);
        // [12, 18) "cZefgh": 'Z' differs from held 'd'; only "fgh" is new
        assert_eq!(h.seg(2, 13, b"cZefgh"), SegmentKind::OutOfOrder);
        assert_eq!(h.weird_kinds(), vec!["tcp-overlap-mismatch"]);
        // identical overlap is not weird, and brings nothing new
        assert_eq!(h.seg(3, 12, b"bcd"), SegmentKind::Retransmission);
        assert!(h.weird_kinds().is_empty());
        // [0, 12) in order: its last two bytes overlap held "ab" (and differ): partial
        assert_eq!(h.seg(4, 1, b"0123456789XY"), SegmentKind::PartialOverlap);
        assert_eq!(h.weird_kinds(), vec!["tcp-overlap-mismatch"]);
        assert_eq!(
            h.take(),
            vec![
                d(0, b"0123456789", 4, 4),
                d(10, b"abcde", 1, 4),
                d(15, b"fgh", 2, 4)
            ]
        );
        assert_eq!(h.r.delivered(), 18);
    }

    #[test]
    fn hole_then_flush_gives_exact_gap() {
        let mut h = with_syn(99);
        h.seg(1, 100, b"abcde");
        assert_eq!(h.seg(2, 110, b"klmno"), SegmentKind::OutOfOrder);
        assert_eq!(h.seg(3, 120, b"uv"), SegmentKind::OutOfOrder);
        h.flush(9);
        assert_eq!(
            h.take(),
            vec![
                d(0, b"abcde", 1, 1),
                Ev::Gap(5, 5, 9),
                d(10, b"klmno", 2, 9),
                Ev::Gap(15, 5, 9),
                d(20, b"uv", 3, 9)
            ]
        );
        assert_eq!(h.r.delivered(), 22);
        // a late copy of the hole is old now
        assert_eq!(h.seg(10, 105, b"fghij"), SegmentKind::Retransmission);
        assert!(h.take().is_empty());
    }

    #[test]
    fn sequence_wraps_at_2_pow_32() {
        let mut h = with_syn(u32::MAX - 2); // stream starts at seq 2^32 - 2
        assert_eq!(h.seg(1, u32::MAX - 1, b"abcde"), SegmentKind::New); // seqs ..FE FF 0 1 2
        assert_eq!(h.seg(2, 8, b"ijk"), SegmentKind::OutOfOrder); // offset 10
        assert_eq!(h.seg(3, 3, b"fgh"), SegmentKind::New); // offset 5
        h.ack(4, 8); // acks offset 10: gap of 2
        assert_eq!(
            h.take(),
            vec![
                d(0, b"abcde", 1, 1),
                d(5, b"fgh", 3, 3),
                Ev::Gap(8, 2, 4),
                d(10, b"ijk", 2, 4)
            ]
        );
    }

    #[test]
    fn stream_longer_than_4_gib() {
        // 65537 segments of 64 KiB, in order and borrowed: no copy, so this is quick.
        let chunk = vec![7u8; 1 << 16];
        let mut r = Reassembler::new();
        r.syn(0x1234_5678);
        let (mut bytes, mut last_off) = (0u64, 0u64);
        let mut seq = 0x1234_5679u32;
        for i in 0..=(1u32 << 16) {
            let kind = r.segment(
                Timestamp(i64::from(i)),
                seq,
                &chunk,
                false,
                false,
                &mut |e| {
                    if let StreamEvent::Data {
                        offset, bytes: b, ..
                    } = e
                    {
                        assert_eq!(offset, bytes);
                        bytes += b.len() as u64;
                        last_off = offset;
                    }
                },
            );
            assert_eq!(kind, SegmentKind::New);
            seq = seq.wrapping_add(1 << 16);
        }
        assert_eq!(bytes, (1u64 << 32) + (1 << 16));
        assert_eq!(last_off, 1u64 << 32);
        // an old segment from 4 GiB ago has the same low 32 bits as a fresh one: the
        // closest interpretation (the fresh one) wins
        let mut evs = Vec::new();
        r.segment(Timestamp(0), seq, b"x", false, false, &mut |e| {
            evs.push(own(e))
        });
        assert_eq!(evs, vec![d((1u64 << 32) + (1 << 16), b"x", 0, 0)]);
    }

    #[test]
    fn segment_cap_gaps_up_to_earliest_held() {
        let mut h = H::new(Reassembler::with_caps(1000, 2));
        h.r.syn(0);
        h.seg(1, 6, b"fghij"); // [5, 10)
        h.seg(2, 21, b"uvwxy"); // [20, 25)
        assert!(h.take().is_empty());
        h.seg(3, 31, b"567"); // [30, 33): third segment, over the cap of 2
        assert_eq!(h.take(), vec![Ev::Gap(0, 5, 3), d(5, b"fghij", 1, 3)]);
        assert_eq!(h.weird_kinds(), vec!["tcp-reassembly-cap"]);
        assert_eq!(h.r.delivered(), 10);
        assert_eq!(h.r.held_bytes(), 8);
    }

    #[test]
    fn byte_cap_gaps_up_to_earliest_held() {
        let mut h = H::new(Reassembler::with_caps(8, 100));
        h.r.syn(0);
        h.seg(1, 21, b"uvwxy"); // [20, 25)
        h.seg(2, 6, b"fghij"); // [5, 10): 10 bytes held > 8
        assert_eq!(h.take(), vec![Ev::Gap(0, 5, 2), d(5, b"fghij", 2, 2)]);
        assert_eq!(h.r.held_bytes(), 5);
        // a single segment larger than the cap is delivered after a gap
        let big = [1u8; 20];
        h.seg(3, 41, &big); // [40, 60)
        assert_eq!(
            h.take(),
            vec![
                Ev::Gap(10, 10, 3),
                d(20, b"uvwxy", 1, 3),
                Ev::Gap(25, 15, 3),
                d(40, &big, 3, 3)
            ]
        );
        assert_eq!(
            h.weird_kinds(),
            vec!["tcp-reassembly-cap", "tcp-reassembly-cap"]
        );
    }

    #[test]
    fn peer_ack_beyond_seen_data_delivers_gaps() {
        let mut h = with_syn(0);
        h.seg(1, 1, b"abcde"); // [0, 5)
        h.seg(2, 11, b"klmno"); // [10, 15) held
        h.ack(3, 4); // old ack: nothing
        h.ack(3, 6); // acks exactly what was delivered: nothing
        assert_eq!(h.take(), vec![d(0, b"abcde", 1, 1)]);
        h.ack(4, 13); // inside the held piece: the hole before it was missed
        assert_eq!(h.take(), vec![Ev::Gap(5, 5, 4), d(10, b"klmno", 2, 4)]);
        h.ack(5, 21); // beyond everything seen
        assert_eq!(h.take(), vec![Ev::Gap(15, 5, 5)]);
        assert_eq!(h.r.delivered(), 20);
        // no SYN and no segment yet: acks are ignored
        let mut h = H::new(Reassembler::new());
        h.ack(1, 1000);
        assert!(h.take().is_empty());
        assert_eq!(h.r.delivered(), 0);
    }

    #[test]
    fn fin_in_order_out_of_order_retransmitted_and_data_after() {
        let mut h = with_syn(0);
        h.seg(1, 1, b"ab");
        // FIN carried by a segment beyond a hole
        assert_eq!(h.seg_f(2, 5, b"ef", true, false), SegmentKind::OutOfOrder);
        assert_eq!(h.r.fin_offset(), Some(6));
        assert_eq!(h.seg(3, 3, b"cd"), SegmentKind::New);
        assert_eq!(
            h.take(),
            vec![
                d(0, b"ab", 1, 1),
                d(2, b"cd", 3, 3),
                d(4, b"ef", 2, 3),
                Ev::Fin(6, 3)
            ]
        );
        assert_eq!(h.seg_f(4, 7, b"", true, false), SegmentKind::Retransmission);
        assert_eq!(h.seg(5, 7, b"zz"), SegmentKind::Retransmission);
        assert!(h.take().is_empty());
        assert_eq!(h.weird_kinds(), vec!["tcp-data-after-fin"]);
        // the ACK of the FIN (fin + 1) does not invent a gap
        h.ack(6, 8);
        assert!(h.take().is_empty());
        assert_eq!(h.r.delivered(), 6);
    }

    #[test]
    fn fin_drops_held_data_beyond_it_and_flush_gaps_up_to_it() {
        let mut h = with_syn(0);
        h.seg(1, 11, b"klmnopq"); // [10, 17) held
        h.seg_f(2, 15, b"", true, false); // FIN at 14
        assert_eq!(h.weird_kinds(), vec!["tcp-data-after-fin"]);
        assert_eq!(h.r.held_bytes(), 4);
        h.flush(3);
        assert_eq!(
            h.take(),
            vec![Ev::Gap(0, 10, 3), d(10, b"klmn", 1, 3), Ev::Fin(14, 3)]
        );
    }

    #[test]
    fn rst_flushes_then_is_delivered_once() {
        let mut h = with_syn(0);
        h.seg(1, 1, b"ab");
        h.seg(2, 5, b"ef");
        assert_eq!(h.seg_f(3, 9, b"", false, true), SegmentKind::Rst);
        assert_eq!(h.seg_f(4, 9, b"", false, true), SegmentKind::Rst);
        assert_eq!(
            h.take(),
            vec![
                d(0, b"ab", 1, 1),
                Ev::Gap(2, 2, 3),
                d(4, b"ef", 2, 3),
                Ev::Rst(3)
            ]
        );
        assert_eq!(h.seg_f(5, 7, b"oops", false, true), SegmentKind::Rst);
        assert_eq!(h.weird_kinds(), vec!["tcp-rst-with-data"]);
    }

    #[test]
    fn keep_alives_and_pure_acks() {
        let mut h = with_syn(0);
        assert_eq!(h.seg(1, 0, b""), SegmentKind::KeepAlive); // before any data
        h.seg(2, 1, b"abc");
        assert_eq!(h.seg(3, 3, b"c"), SegmentKind::KeepAlive);
        assert_eq!(h.seg(4, 3, b""), SegmentKind::KeepAlive);
        assert_eq!(h.seg(5, 4, b""), SegmentKind::Empty);
        assert_eq!(h.take(), vec![d(0, b"abc", 2, 2)]);
    }

    #[test]
    fn without_syn_first_payload_starts_the_stream() {
        let mut h = H::new(Reassembler::new());
        // a pure ACK does not start the stream (its seq may be a keep-alive's)
        assert_eq!(h.seg(1, 4999, b""), SegmentKind::Empty);
        assert_eq!(h.seg(2, 5000, b"abc"), SegmentKind::New);
        assert_eq!(h.seg(3, 4998, b"xyabcd"), SegmentKind::PartialOverlap);
        assert_eq!(h.take(), vec![d(0, b"abc", 2, 2), d(3, b"d", 3, 3)]);
        assert_eq!(h.weird_kinds(), vec!["tcp-data-before-start"]);
        assert_eq!(h.seg(4, 4990, b"xy"), SegmentKind::Retransmission);
        assert_eq!(h.weird_kinds(), vec!["tcp-data-before-start"]);
    }

    #[test]
    fn syn_with_other_isn_is_weird() {
        let mut h = with_syn(10);
        h.r.syn(10);
        assert!(h.weird_kinds().is_empty());
        h.seg(5, 11, b"a");
        h.r.syn(77);
        let w = h.r.weirds();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, "tcp-syn-isn-changed");
        assert_eq!(w[0].ts, Timestamp(5));
    }

    #[test]
    fn pending_weirds_are_capped() {
        let mut h = with_syn(0);
        h.seg(1, 101, b"a"); // held at 100
        for i in 0..100 {
            h.seg(2 + i, 101, b"b"); // mismatch each time
        }
        let w = h.r.weirds();
        assert_eq!(w.len(), MAX_PENDING_WEIRDS + 1);
        assert_eq!(w[MAX_PENDING_WEIRDS].kind, "tcp-weirds-dropped");
        assert!(w[MAX_PENDING_WEIRDS].detail.starts_with("36 "));
        assert!(h.r.weirds().is_empty());
    }

    /// Segment metadata of TCP stream 0 and 2 of
    /// `FoxIO-LLC_ja4/pcap/browsers-x509.pcapng`, from
    /// `tshark -Y tcp.stream==N -T fields -e frame.number -e frame.time_epoch
    /// -e tcp.srcport -e tcp.seq_raw -e tcp.len -e tcp.ack_raw -e tcp.flags.*`:
    /// (frame, ts ns, from client, seq, payload length, ack, flags).
    /// Payload bytes are synthesised from the sequence number (see `synth`), so
    /// retransmissions carry the same bytes as on the wire.
    type Row = (u32, i64, bool, u32, usize, u32, &'static str);

    fn synth(seq: u32) -> u8 {
        (seq.wrapping_mul(2_654_435_761) >> 24) as u8
    }

    /// Replays rows through one reassembler per direction (ACKs go to the other side).
    /// Returns per direction: (events, frames classified Retransmission, KeepAlive).
    fn replay(rows: &[Row]) -> [(Vec<Ev>, Vec<u32>, Vec<u32>); 2] {
        let mut h = [H::new(Reassembler::new()), H::new(Reassembler::new())];
        let mut retrans = [Vec::new(), Vec::new()];
        let mut keep = [Vec::new(), Vec::new()];
        for &(frame, ts, c2s, seq, len, ack, flags) in rows {
            let (me, peer) = if c2s { (0, 1) } else { (1, 0) };
            if flags.contains('S') {
                h[me].r.syn(seq);
                continue;
            }
            let payload: Vec<u8> = (0..len as u32)
                .map(|i| synth(seq.wrapping_add(i)))
                .collect();
            let kind = h[me].seg_f(ts, seq, &payload, flags.contains('F'), flags.contains('R'));
            match kind {
                SegmentKind::Retransmission => retrans[me].push(frame),
                SegmentKind::KeepAlive => keep[me].push(frame),
                _ => {}
            }
            if flags.contains('A') {
                h[peer].ack(ts, ack);
            }
        }
        for x in &mut h {
            assert!(x.weird_kinds().is_empty());
        }
        let [a, b] = h;
        let [ra, rb] = retrans;
        let [ka, kb] = keep;
        [(a.ev, ra, ka), (b.ev, rb, kb)]
    }

    /// Checks the events are contiguous Data with the synthesised bytes, then one Fin.
    fn check_stream(ev: &[Ev], isn: u32, len: u64) {
        let mut next = 0u64;
        for e in &ev[..ev.len() - 1] {
            let Ev::Data(off, b, first, ready) = e else {
                panic!("unexpected {e:?}");
            };
            assert_eq!(*off, next);
            assert!(first <= ready);
            for (i, &x) in b.iter().enumerate() {
                assert_eq!(x, synth(isn.wrapping_add(1 + (next + i as u64) as u32)));
            }
            next += b.len() as u64;
        }
        assert_eq!(next, len);
        assert!(matches!(ev.last(), Some(Ev::Fin(f, _)) if *f == len));
    }

    #[test]
    fn real_capture_stream0_retransmissions() {
        let [(c, c_re, c_ka), (s, s_re, s_ka)] = replay(STREAM0);
        // tshark: client FIN at relative seq 10315 (10314 bytes, relative seq 1 = offset
        // 0); server data ends at relative seq 15603 (15602 bytes) and its FIN (frame
        // 178) comes after the client's.
        check_stream(&c, 3_380_915_834, 10_314);
        check_stream(&s, 981_284_033, 15_602);
        // tshark tcp.analysis.retransmission: 87 88 147 158 159 176 (client),
        // 139 148 150 152 153 154 (server; spurious). tshark also flags 92 and 94: their
        // originals were never captured (frame 89 "previous segment not captured"), so
        // for us they are the first copy and carry new bytes.
        assert_eq!(c_re, vec![87, 88, 147, 158, 159, 176]);
        assert_eq!(s_re, vec![139, 148, 150, 152, 153, 154]);
        assert!(c_ka.is_empty() && s_ka.is_empty());
    }

    #[test]
    fn real_capture_stream2_keepalive_fin_rst() {
        let [(c, c_re, c_ka), (s, s_re, s_ka)] = replay(STREAM2);
        check_stream(&c, 3_543_672_889, 643);
        // tshark: 163 keep-alive; 166 167 (client) and 171 (server) FIN retransmissions
        assert_eq!(c_ka, vec![163]);
        assert_eq!(c_re, vec![166, 167]);
        assert_eq!(s_re, vec![171]);
        assert!(s_ka.is_empty());
        // server: 5514 bytes, FIN (frame 169), then RST (frame 174)
        let n = s.len();
        assert_eq!(s[n - 2], Ev::Fin(5514, 1_691_545_997_317_436_000));
        assert_eq!(s[n - 1], Ev::Rst(1_691_545_997_332_051_000));
        check_stream(&s[..n - 1], 262_363_211, 5514);
    }

    #[rustfmt::skip]
    const STREAM0: &[Row] = &[
    (1, 1691545909738087000, true, 3380915834, 0, 0, "S"),
    (2, 1691545909741902000, false, 981284033, 0, 3380915835, "SA"),
    (3, 1691545909742014000, true, 3380915835, 0, 981284034, "A"),
    (4, 1691545909742458000, true, 3380915835, 517, 981284034, "A"),
    (5, 1691545909750132000, false, 981284034, 0, 3380916352, "A"),
    (6, 1691545910428611000, false, 981284034, 1458, 3380916352, "A"),
    (7, 1691545910430388000, false, 981285492, 4374, 3380916352, "A"),
    (8, 1691545910430388000, false, 981289866, 115, 3380916352, "A"),
    (9, 1691545910430493000, true, 3380916352, 0, 981289981, "A"),
    (10, 1691545910436128000, true, 3380916352, 158, 981289981, "A"),
    (11, 1691545910436458000, true, 3380916510, 105, 981289981, "A"),
    (12, 1691545910436690000, true, 3380916615, 2093, 981289981, "A"),
    (13, 1691545910436764000, true, 3380918708, 205, 981289981, "A"),
    (14, 1691545910442986000, false, 981289981, 0, 3380918708, "A"),
    (15, 1691545910542241000, false, 981289981, 0, 3380918913, "A"),
    (16, 1691545911081842000, false, 981289981, 342, 3380918913, "A"),
    (17, 1691545911081842000, false, 981290323, 69, 3380918913, "A"),
    (18, 1691545911081928000, true, 3380918913, 0, 981290392, "A"),
    (19, 1691545911082457000, true, 3380918913, 38, 981290392, "A"),
    (20, 1691545911085204000, false, 981290392, 38, 3380918913, "A"),
    (21, 1691545911132492000, true, 3380918951, 0, 981290430, "A"),
    (22, 1691545911191239000, false, 981290430, 0, 3380918951, "A"),
    (23, 1691545911469614000, false, 981290430, 388, 3380918951, "A"),
    (24, 1691545911469614000, false, 981290818, 113, 3380918951, "A"),
    (25, 1691545911469614000, false, 981290931, 38, 3380918951, "A"),
    (26, 1691545911469688000, true, 3380918951, 0, 981290969, "A"),
    (27, 1691545911482414000, true, 3380918951, 156, 981290969, "A"),
    (28, 1691545911482532000, true, 3380919107, 439, 981290969, "A"),
    (29, 1691545911487970000, false, 981290969, 0, 3380919546, "A"),
    (35, 1691545912311159000, false, 981290969, 274, 3380919546, "A"),
    (36, 1691545912311159000, false, 981291243, 2916, 3380919546, "A"),
    (37, 1691545912311159000, false, 981294159, 466, 3380919546, "A"),
    (38, 1691545912311159000, false, 981294625, 38, 3380919546, "A"),
    (39, 1691545912311403000, true, 3380919546, 0, 981294663, "A"),
    (40, 1691545912323203000, true, 3380919546, 158, 981294663, "A"),
    (41, 1691545912323277000, true, 3380919704, 1962, 981294663, "A"),
    (42, 1691545912342407000, false, 981294663, 0, 3380921144, "A"),
    (52, 1691545912428648000, false, 981294663, 0, 3380921666, "A"),
    (62, 1691545913324487000, false, 981294663, 278, 3380921666, "A"),
    (63, 1691545913324487000, false, 981294941, 138, 3380921666, "A"),
    (64, 1691545913324487000, false, 981295079, 38, 3380921666, "A"),
    (65, 1691545913324573000, true, 3380921666, 0, 981295117, "A"),
    (66, 1691545913336524000, true, 3380921666, 157, 981295117, "A"),
    (67, 1691545913336616000, true, 3380921823, 785, 981295117, "A"),
    (68, 1691545913346397000, false, 981295117, 0, 3380922608, "A"),
    (72, 1691545914265603000, false, 981295117, 277, 3380922608, "A"),
    (73, 1691545914274690000, false, 981295394, 138, 3380922608, "A"),
    (74, 1691545914274690000, false, 981295532, 38, 3380922608, "A"),
    (75, 1691545914274825000, true, 3380922608, 0, 981295570, "A"),
    (76, 1691545914277949000, true, 3380922608, 156, 981295570, "A"),
    (77, 1691545914278044000, true, 3380922764, 617, 981295570, "A"),
    (78, 1691545914283269000, false, 981295570, 0, 3380923381, "A"),
    (85, 1691545916202164000, false, 981295570, 274, 3380923381, "A"),
    (86, 1691545916217751000, true, 3380923381, 42, 981295844, "A"),
    (87, 1691545916466141000, true, 3380923381, 42, 981295844, "A"),
    (88, 1691545916777805000, true, 3380923381, 42, 981295844, "A"),
    (89, 1691545916783721000, false, 981296028, 0, 3380923423, "A"),
    (92, 1691545919099199000, false, 981295844, 146, 3380923423, "A"),
    (93, 1691545919153827000, true, 3380923423, 0, 981295990, "A"),
    (94, 1691545919190924000, false, 981295990, 38, 3380923423, "A"),
    (95, 1691545919196092000, true, 3380923423, 157, 981296028, "A"),
    (96, 1691545919196192000, true, 3380923580, 337, 981296028, "A"),
    (97, 1691545919201993000, false, 981296028, 0, 3380923917, "A"),
    (98, 1691545920018526000, false, 981296028, 275, 3380923917, "A"),
    (99, 1691545920018526000, false, 981296303, 1458, 3380923917, "A"),
    (100, 1691545920018703000, true, 3380923917, 0, 981297761, "A"),
    (101, 1691545920023613000, false, 981297761, 677, 3380923917, "A"),
    (102, 1691545920023613000, false, 981298438, 38, 3380923917, "A"),
    (103, 1691545920023809000, true, 3380923917, 0, 981298476, "A"),
    (104, 1691545920035290000, true, 3380923917, 157, 981298476, "A"),
    (105, 1691545920035381000, true, 3380924074, 421, 981298476, "A"),
    (106, 1691545920045167000, false, 981298476, 0, 3380924495, "A"),
    (107, 1691545921086395000, false, 981298476, 277, 3380924495, "A"),
    (108, 1691545921086395000, false, 981298753, 168, 3380924495, "A"),
    (109, 1691545921086395000, false, 981298921, 38, 3380924495, "A"),
    (110, 1691545921086442000, true, 3380924495, 0, 981298959, "A"),
    (132, 1691545962743753000, true, 3380924495, 157, 981298959, "A"),
    (133, 1691545962743869000, true, 3380924652, 46, 981298959, "A"),
    (134, 1691545962743895000, true, 3380924698, 1409, 981298959, "A"),
    (135, 1691545962908347000, false, 981298959, 0, 3380924698, "A"),
    (136, 1691545962935850000, false, 981298959, 0, 3380926107, "A"),
    (137, 1691545963864646000, false, 981298959, 46, 3380926107, "A"),
    (138, 1691545963908845000, true, 3380926107, 0, 981299005, "A"),
    (139, 1691545963953011000, false, 981298959, 46, 3380926107, "A"),
    (140, 1691545963953044000, true, 3380926107, 0, 981299005, "A"),
    (141, 1691545964339816000, false, 981299005, 274, 3380926107, "A"),
    (142, 1691545964339816000, false, 981299279, 108, 3380926107, "A"),
    (143, 1691545964339816000, false, 981299387, 211, 3380926107, "A"),
    (144, 1691545964339816000, false, 981299598, 38, 3380926107, "A"),
    (145, 1691545964340034000, true, 3380926107, 0, 981299636, "A"),
    (146, 1691545964342164000, true, 3380926107, 42, 981299636, "A"),
    (147, 1691545964635524000, true, 3380926107, 42, 981299636, "A"),
    (148, 1691545964782129000, false, 981299004, 1, 3380926107, "A"),
    (149, 1691545964782163000, true, 3380926149, 0, 981299636, "A"),
    (150, 1691545964796533000, false, 981299278, 1, 3380926107, "A"),
    (151, 1691545964796574000, true, 3380926149, 0, 981299636, "A"),
    (152, 1691545964796937000, false, 981299386, 1, 3380926107, "A"),
    (153, 1691545964796937000, false, 981299597, 1, 3380926107, "A"),
    (154, 1691545964796937000, false, 981299598, 38, 3380926107, "A"),
    (155, 1691545964796981000, true, 3380926149, 0, 981299636, "A"),
    (156, 1691545964797053000, true, 3380926149, 0, 981299636, "A"),
    (157, 1691545964797077000, true, 3380926149, 0, 981299636, "A"),
    (158, 1691545965070108000, true, 3380926107, 42, 981299636, "A"),
    (159, 1691545965828743000, true, 3380926107, 42, 981299636, "A"),
    (160, 1691545966023215000, false, 981299636, 0, 3380926149, "A"),
    (161, 1691545966261627000, false, 981299636, 0, 3380926149, "A"),
    (162, 1691545967161526000, false, 981299636, 0, 3380926149, "A"),
    (175, 1691545997526039000, true, 3380926149, 0, 981299636, "AF"),
    (176, 1691545997967410000, true, 3380926149, 0, 981299636, "AF"),
    (177, 1691545998416353000, false, 981299636, 0, 3380926150, "A"),
    (178, 1691545998416353000, false, 981299636, 0, 3380926150, "AF"),
    (179, 1691545998416465000, true, 3380926150, 0, 981299637, "A"),
    ];

    #[rustfmt::skip]
    const STREAM2: &[Row] = &[
    (120, 1691545934646949000, true, 3543672889, 0, 0, "S"),
    (121, 1691545934652846000, false, 262363211, 0, 3543672890, "SA"),
    (122, 1691545934653002000, true, 3543672890, 0, 262363212, "A"),
    (123, 1691545934653341000, true, 3543672890, 517, 262363212, "A"),
    (124, 1691545934661131000, false, 262363212, 0, 3543673407, "A"),
    (125, 1691545935681451000, false, 262363212, 4200, 3543673407, "A"),
    (126, 1691545935681582000, true, 3543673407, 0, 262367412, "A"),
    (127, 1691545935980052000, false, 262367412, 987, 3543673407, "A"),
    (128, 1691545935982383000, true, 3543673407, 126, 262368399, "A"),
    (129, 1691545936086011000, false, 262368399, 0, 3543673533, "A"),
    (130, 1691545936936551000, false, 262368399, 327, 3543673533, "A"),
    (131, 1691545936991443000, true, 3543673533, 0, 262368726, "A"),
    (163, 1691545981948173000, true, 3543673532, 1, 262368726, "A"),
    (164, 1691545982467193000, false, 262368726, 0, 3543673533, "A"),
    (165, 1691545996034058000, true, 3543673533, 0, 262368726, "AF"),
    (166, 1691545996341850000, true, 3543673533, 0, 262368726, "AF"),
    (167, 1691545996945105000, true, 3543673533, 0, 262368726, "AF"),
    (168, 1691545997317436000, false, 262368726, 0, 3543673534, "A"),
    (169, 1691545997317436000, false, 262368726, 0, 3543673534, "AF"),
    (170, 1691545997317436000, false, 262368727, 0, 3543673534, "A"),
    (171, 1691545997317436000, false, 262368726, 0, 3543673534, "AF"),
    (172, 1691545997317493000, true, 3543673534, 0, 262368727, "A"),
    (173, 1691545997317548000, true, 3543673534, 0, 262368727, "A"),
    (174, 1691545997332051000, false, 262368727, 0, 0, "R"),
    ];

    // ---- property tests against a slow, obviously-correct model ----

    /// A deterministic xorshift shuffle (the seed comes from proptest).
    fn shuffle<T>(v: &mut [T], mut seed: u64) {
        for i in (1..v.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.swap(i, (seed % (i as u64 + 1)) as usize);
        }
    }

    /// Cuts `0..len` into consecutive segments with the given lengths (cycled).
    fn partition(len: usize, lens: &[usize]) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        let mut at = 0;
        for &l in lens.iter().cycle() {
            if at >= len {
                break;
            }
            let e = (at + l).min(len);
            v.push((at, e));
            at = e;
        }
        v
    }

    /// Extra segments: `(start index, length)` made into ranges inside `0..len`.
    fn extras(len: usize, picks: &[(prop::sample::Index, usize)]) -> Vec<(usize, usize)> {
        if len == 0 {
            return Vec::new();
        }
        picks
            .iter()
            .map(|(i, l)| {
                let s = i.index(len);
                (s, (s + l).min(len))
            })
            .collect()
    }

    fn isn_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![any::<u32>(), (u32::MAX - 30_000)..=u32::MAX]
    }

    /// Feeds segments `[s, e)` of `data` (in the given order, ts = 1, 2, ...).
    fn feed(h: &mut H, isn: u32, data: &[u8], segs: &[(usize, usize)]) {
        for (i, &(s, e)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(s as u32);
            h.seg(i as i64 + 1, seq, &data[s..e]);
        }
    }

    /// Events as one `Option<u8>` per stream byte (None = gap); checks contiguity.
    fn as_bytes(ev: &[Ev]) -> Vec<Option<u8>> {
        let mut v = Vec::new();
        for e in ev {
            match e {
                Ev::Data(off, b, first, ready) => {
                    assert_eq!(*off, v.len() as u64, "Data offset not contiguous");
                    assert!(!b.is_empty());
                    assert!(first <= ready);
                    v.extend(b.iter().map(|&x| Some(x)));
                }
                Ev::Gap(off, len, _) => {
                    assert_eq!(*off, v.len() as u64, "Gap offset not contiguous");
                    assert!(*len > 0);
                    v.extend(std::iter::repeat_n(None, *len as usize));
                }
                Ev::Fin(..) | Ev::Rst(..) => {}
            }
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The in-order shortcut is the general path's answer for its case: the same
        /// segments (split, reordered, duplicated, overlapping; with or without a SYN,
        /// ACKs of the peer, a FIN, an RST, small caps) give the same events, segment
        /// kinds, weirds and counters with and without it.
        #[test]
        fn prop_in_order_shortcut_matches_general_path(
            data in prop::collection::vec(any::<u8>(), 0..6_000),
            lens in prop::collection::vec(1usize..700, 1..30),
            picks in prop::collection::vec((any::<prop::sample::Index>(), 1usize..900), 0..10),
            seed in any::<u64>(),
            shuffled in any::<bool>(),
            isn in isn_strategy(),
            syn in any::<bool>(),
            small_caps in any::<bool>(),
            fin_at in prop::option::of(any::<prop::sample::Index>()),
            rst_at in prop::option::of(any::<prop::sample::Index>()),
            acks in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let mut segs = partition(data.len(), &lens);
            segs.extend(extras(data.len(), &picks));
            if shuffled {
                shuffle(&mut segs, seed);
            }
            let n = segs.len().max(1);
            let fin_i = fin_at.map(|i| i.index(n));
            let rst_i = rst_at.map(|i| i.index(n));
            let ack_is: Vec<usize> = acks.iter().map(|i| i.index(n)).collect();
            let run = |general_only: bool| {
                let mut r = if small_caps {
                    Reassembler::with_caps(2_000, 4)
                } else {
                    Reassembler::new()
                };
                r.general_only = general_only;
                if syn {
                    r.syn(isn);
                }
                let mut evs: Vec<String> = Vec::new();
                let mut kinds = Vec::new();
                for (i, &(s, e)) in segs.iter().enumerate() {
                    let ts = Timestamp(i as i64 + 1);
                    let seq = isn.wrapping_add(1).wrapping_add(s as u32);
                    if fin_i == Some(i) {
                        // A bare FIN, possibly ahead of the data before it.
                        let seq = isn.wrapping_add(1).wrapping_add(data.len() as u32);
                        kinds.push(r.segment(ts, seq, b"", true, false, &mut |ev| {
                            evs.push(format!("{ev:?}"))
                        }));
                    }
                    let fin = fin_i.is_none() && i + 1 == segs.len() && e == data.len();
                    let rst = rst_i == Some(i);
                    kinds.push(r.segment(ts, seq, &data[s..e], fin, rst, &mut |ev| {
                        evs.push(format!("{ev:?}"))
                    }));
                    if ack_is.contains(&i) {
                        let ack = isn.wrapping_add(1).wrapping_add(e as u32);
                        r.peer_ack(ts, ack, &mut |ev| evs.push(format!("{ev:?}")));
                    }
                }
                r.flush(Timestamp(n as i64 + 1), &mut |ev| evs.push(format!("{ev:?}")));
                let weirds: Vec<String> =
                    r.weirds().iter().map(|w| format!("{} {}", w.kind, w.detail)).collect();
                (evs, kinds, weirds, r.delivered(), r.held_bytes())
            };
            prop_assert_eq!(run(false), run(true));
        }

        /// Split, reorder, duplicate and overlap: the exact stream comes out, in order,
        /// before any flush, with first/ready times equal to the model's.
        #[test]
        fn prop_reorder_duplicate_overlap_reproduces_stream(
            data in prop::collection::vec(any::<u8>(), 0..20_000),
            lens in prop::collection::vec(1usize..1500, 1..50),
            picks in prop::collection::vec((any::<prop::sample::Index>(), 1usize..3000), 0..40),
            seed in any::<u64>(),
            isn in isn_strategy(),
            fin in any::<bool>(),
        ) {
            let mut segs = partition(data.len(), &lens);
            segs.extend(extras(data.len(), &picks));
            shuffle(&mut segs, seed);
            let mut h = H::new(Reassembler::with_caps(usize::MAX, usize::MAX));
            h.r.syn(isn);
            feed(&mut h, isn, &data, &segs);
            let fin_ts = segs.len() as i64 + 1;
            if fin {
                h.seg_f(fin_ts, isn.wrapping_add(1).wrapping_add(data.len() as u32), b"", true, false);
            }
            let ev = h.take();
            let got = as_bytes(&ev);
            let want: Vec<Option<u8>> = data.iter().map(|&x| Some(x)).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(h.r.delivered(), data.len() as u64);
            prop_assert_eq!(h.r.held_bytes(), 0);
            // model times: earliest arrival per byte, ready = running max of earliest
            let mut earliest = vec![i64::MAX; data.len()];
            for (i, &(s, e)) in segs.iter().enumerate() {
                for t in &mut earliest[s..e] {
                    *t = (*t).min(i as i64 + 1);
                }
            }
            let mut ready = earliest.clone();
            for i in 1..ready.len() {
                ready[i] = ready[i].max(ready[i - 1]);
            }
            for e in &ev {
                if let Ev::Data(off, b, first, rdy) = e {
                    for j in 0..b.len() {
                        let k = *off as usize + j;
                        prop_assert_eq!(*first, earliest[k]);
                        prop_assert_eq!(*rdy, ready[k]);
                    }
                }
            }
            let fins: Vec<Ev> = ev.iter().filter(|e| matches!(e, Ev::Fin(..))).cloned().collect();
            if fin {
                prop_assert_eq!(fins, vec![Ev::Fin(data.len() as u64, fin_ts)]);
            } else {
                prop_assert!(fins.is_empty());
            }
            h.flush(fin_ts + 1);
            prop_assert!(h.take().is_empty());
            prop_assert!(h.weird_kinds().is_empty());
        }

        /// Dropped segments come out as Gaps at exactly the ranges no sent segment
        /// covered (model: one Option<u8> per byte). The end is found by flush (trailing
        /// loss unknown without a FIN), by a FIN, or by the peer's ACK of everything.
        #[test]
        fn prop_dropped_ranges_become_exact_gaps(
            data in prop::collection::vec(any::<u8>(), 1..20_000),
            lens in prop::collection::vec(1usize..1500, 1..50),
            drop in prop::collection::vec(prop::bool::weighted(0.3), 1..50),
            picks in prop::collection::vec((any::<prop::sample::Index>(), 1usize..3000), 0..10),
            seed in any::<u64>(),
            isn in isn_strategy(),
            mode in 0u8..4,
        ) {
            let mut segs: Vec<(usize, usize)> = partition(data.len(), &lens)
                .into_iter()
                .zip(drop.iter().cycle())
                .filter(|(_, d)| !**d)
                .map(|(r, _)| r)
                .collect();
            segs.extend(extras(data.len(), &picks));
            shuffle(&mut segs, seed);
            let mut model: Vec<Option<u8>> = vec![None; data.len()];
            for &(s, e) in &segs {
                for k in s..e {
                    model[k] = Some(data[k]);
                }
            }
            let mut h = H::new(Reassembler::with_caps(usize::MAX, usize::MAX));
            h.r.syn(isn);
            feed(&mut h, isn, &data, &segs);
            let end = isn.wrapping_add(1).wrapping_add(data.len() as u32);
            let t = segs.len() as i64 + 1;
            match mode {
                0 => {
                    h.flush(t);
                    while model.last() == Some(&None) {
                        model.pop();
                    }
                }
                1 => {
                    h.seg_f(t, end, b"", true, false);
                    h.flush(t + 1);
                }
                2 => h.ack(t, end),
                _ => {
                    h.seg_f(t, end, b"", true, false);
                    h.ack(t + 1, end.wrapping_add(1));
                }
            }
            let ev = h.take();
            for w in ev.windows(2) {
                prop_assert!(!matches!(w, [Ev::Gap(..), Ev::Gap(..)]), "gaps not maximal");
            }
            let fins = ev.iter().filter(|e| matches!(e, Ev::Fin(..))).count();
            prop_assert_eq!(fins, usize::from(mode == 1 || mode == 3));
            if fins == 1 {
                prop_assert!(matches!(ev.last(), Some(Ev::Fin(f, _)) if *f == data.len() as u64));
            }
            prop_assert_eq!(as_bytes(&ev), model);
            prop_assert_eq!(h.r.held_bytes(), 0);
            prop_assert!(h.weird_kinds().is_empty());
        }

        /// Tiny caps: whatever is skipped, every delivered byte is the right byte at the
        /// right offset, offsets stay contiguous, and caps hits are reported.
        #[test]
        fn prop_small_caps_never_corrupt(
            data in prop::collection::vec(any::<u8>(), 1..8_000),
            lens in prop::collection::vec(1usize..700, 1..30),
            picks in prop::collection::vec((any::<prop::sample::Index>(), 1usize..2000), 0..10),
            seed in any::<u64>(),
            isn in isn_strategy(),
            max_bytes in 0usize..3000,
            max_segs in 0usize..6,
        ) {
            let mut segs = partition(data.len(), &lens);
            segs.extend(extras(data.len(), &picks));
            shuffle(&mut segs, seed);
            let mut h = H::new(Reassembler::with_caps(max_bytes, max_segs));
            h.r.syn(isn);
            feed(&mut h, isn, &data, &segs);
            prop_assert!(h.r.held_bytes() <= max_bytes);
            h.seg_f(segs.len() as i64 + 1, isn.wrapping_add(1).wrapping_add(data.len() as u32), b"", true, false);
            h.flush(segs.len() as i64 + 2);
            let ev = h.take();
            let got = as_bytes(&ev);
            prop_assert_eq!(got.len(), data.len());
            for (g, d) in got.iter().zip(&data) {
                if let Some(g) = g {
                    prop_assert_eq!(g, d);
                }
            }
            let gapped = got.iter().any(Option::is_none);
            let kinds = h.weird_kinds();
            prop_assert!(kinds.iter().all(|k| *k == "tcp-reassembly-cap"));
            prop_assert_eq!(gapped, !kinds.is_empty());
        }
    }
}

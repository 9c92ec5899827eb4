//! Flow table: bidirectional 5-tuple key, `orig` = the side that sent the first packet (the
//! SYN sender for TCP), sequential ids in capture order, idle expiry by capture time so memory
//! follows *live* flows, and per-connection TCP statistics ([`tcp`]).
//!
//! Each flow carries an application slot `A` owned by the caller (the pipeline keeps its
//! reassembly and parser state there); this module never looks inside it.
//!
//! Imports `crate::base` only.

pub mod tcp;

use crate::base::{Direction, SeededMap, SortedQueue, Timestamp, Weird};
use std::net::IpAddr;

pub use tcp::{TcpDirStats, TcpStats};

/// Live flows at once; beyond this the least recently created idle flow is expired early.
pub const MAX_FLOWS: usize = 1_000_000;
/// Idle timeouts (capture time).
pub const TCP_IDLE_NS: i64 = 300_000_000_000;
pub const TCP_CLOSED_NS: i64 = 10_000_000_000;
pub const UDP_IDLE_NS: i64 = 60_000_000_000;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// One side of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// Direction-less key: the two endpoints in sorted order, packed into integers (this key is
/// built, compared and hashed once per packet: three integer compares instead of a walk over
/// two `IpAddr` enums).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    lo_ip: u128,
    hi_ip: u128,
    /// The low side's family and port (bits 40..57), the high side's (8..25), the protocol
    /// (0..8).
    rest: u64,
}

/// One side of a packet as [`FlowTable::lookup`] takes it: the address borrowed where the
/// decoder left it. A copy of a just-decoded `IpAddr` (17 bytes, written as a tag and the
/// address bytes) is made of 16-byte loads that cannot take those stores' values directly:
/// a stall per copy, the hottest instruction of the per-packet path while `lookup` took
/// [`Endpoint`]s. Only a new flow copies it.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub ip: &'a IpAddr,
    pub port: u16,
}

impl Side<'_> {
    fn endpoint(self) -> Endpoint {
        Endpoint {
            ip: *self.ip,
            port: self.port,
        }
    }
}

impl<'a> From<&'a Endpoint> for Side<'a> {
    fn from(e: &'a Endpoint) -> Self {
        Side {
            ip: &e.ip,
            port: e.port,
        }
    }
}

/// An endpoint as two integers: the address bits, and the family (bit 16: IPv6) above the
/// port. The family keeps an IPv4 address apart from the IPv6 address with the same bits.
#[inline]
fn side(e: Side<'_>) -> (u128, u32) {
    match *e.ip {
        IpAddr::V4(a) => (u128::from(a.to_bits()), u32::from(e.port)),
        IpAddr::V6(a) => (a.to_bits(), (1 << 16) | u32::from(e.port)),
    }
}

/// Three words: the two addresses and the packed rest. Equal keys hash equal.
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u128(self.lo_ip);
        h.write_u128(self.hi_ip);
        h.write_u64(self.rest);
    }
}

impl FlowKey {
    #[inline]
    pub fn new(a: Endpoint, b: Endpoint, proto: u8) -> Self {
        Self::with_side((&a).into(), (&b).into(), proto).0
    }

    /// The key, and whether `a` is its low side. Without branches: which side is low
    /// alternates with the packets' direction, which no predictor guesses.
    #[inline]
    fn with_side(a: Side<'_>, b: Side<'_>, proto: u8) -> (Self, bool) {
        let (a, b) = (side(a), side(b));
        let a_lo = (a.0 < b.0) | ((a.0 == b.0) & (a.1 <= b.1));
        let lo = std::hint::select_unpredictable(a_lo, a, b);
        let hi = std::hint::select_unpredictable(a_lo, b, a);
        let key = FlowKey {
            lo_ip: lo.0,
            hi_ip: hi.0,
            rest: (u64::from(lo.1) << 40) | (u64::from(hi.1) << 8) | u64::from(proto),
        };
        (key, a_lo)
    }

    /// The IP protocol number.
    #[inline]
    fn proto(&self) -> u8 {
        (self.rest & 0xff) as u8
    }
}

/// A flow and the caller's state for it.
#[derive(Debug)]
pub struct Flow<A> {
    pub id: u64,
    pub proto: u8,
    pub orig: Endpoint,
    pub resp: Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Frame number of the first packet.
    pub first_frame: u64,
    pub packets: [u64; 2],
    /// Bytes of whole frames on the wire (as Wireshark's conversation table counts them).
    pub frame_bytes: [u64; 2],
    /// Transport payload bytes.
    pub payload_bytes: [u64; 2],
    pub tcp: Option<TcpStats>,
    pub app: A,
    /// `orig` is the low side of the flow's key: a packet's direction is then whether its
    /// source is the low side too, without comparing addresses.
    orig_lo: bool,
}

impl<A> Flow<A> {
    /// The direction of a packet whose source is (`src_lo`) or is not the key's low side.
    #[inline]
    fn direction_by_side(&self, src_lo: bool) -> Direction {
        std::hint::select_unpredictable(src_lo == self.orig_lo, Direction::Orig, Direction::Resp)
    }

    fn idle_timeout(&self) -> i64 {
        match &self.tcp {
            Some(t) if t.is_closed() => TCP_CLOSED_NS,
            Some(_) => TCP_IDLE_NS,
            None => UDP_IDLE_NS,
        }
    }
}

/// Why a flow left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Idle,
    /// A new connection (SYN) reused the 5-tuple of a closed one.
    Reused,
    /// The live-flow cap was hit.
    Evicted,
    EndOfCapture,
}

/// The flow table.
pub struct FlowTable<A> {
    /// Flows by slot; freed slots are reused (`free`).
    slots: Vec<Option<Flow<A>>>,
    free: Vec<usize>,
    /// Each live flow's slot.
    index: SeededMap<FlowKey, usize>,
    /// The key and slot of the last packet's flow: the next packet of the same flow (most
    /// packets: a download is a run of them) is found without hashing its key.
    last: Option<(FlowKey, usize)>,
    /// (deadline, id, slot), earliest first: lazily re-checked idle deadlines. A flow may
    /// have several entries (a closed flow gets a shorter one); stale ones (the slot holds
    /// another flow or none) are skipped.
    timers: Timers,
    next_id: u64,
    /// (id, first frame) of each flow created since the last [`Self::take_created`], when
    /// recording (a worker of the parallel pipeline reports them so ids are global).
    created: Option<Vec<(u64, u64)>>,
    weirds: Vec<Weird>,
    evicted: u64,
}

impl<A> Default for FlowTable<A> {
    fn default() -> Self {
        FlowTable {
            slots: Vec::new(),
            free: Vec::new(),
            index: SeededMap::default(),
            last: None,
            timers: Timers::default(),
            // Ids start at 1, like every other table's.
            next_id: 1,
            created: None,
            weirds: Vec::new(),
            evicted: 0,
        }
    }
}

/// A flow's idle deadline: (deadline, flow id, slot).
type Timer = (i64, u64, u32);

fn timer(deadline: i64, id: u64, slot: u32) -> Timer {
    (deadline, id, slot)
}

/// The flows' deadlines, earliest first, in one sorted queue per timeout (TCP idle, TCP
/// closed, UDP idle): deadlines of one timeout are set in capture order, so each queue only
/// grows at its back and expires from its front. Together they pop in (deadline, id, slot)
/// order, as one heap of all of them would.
#[derive(Debug, Default)]
struct Timers([SortedQueue<Timer, ()>; 3]);

impl Timers {
    fn push(&mut self, timeout: i64, t: Timer) {
        let class = match timeout {
            TCP_IDLE_NS => 0,
            TCP_CLOSED_NS => 1,
            _ => 2,
        };
        self.0[class].push(t, ());
    }

    /// The queue holding the earliest deadline.
    fn first(&self) -> Option<usize> {
        (0..3)
            .filter_map(|i| self.0[i].peek().map(|(t, _)| (t, i)))
            .min()
            .map(|(_, i)| i)
    }

    fn peek(&self) -> Option<Timer> {
        self.first().and_then(|i| self.0[i].peek()).map(|(t, _)| t)
    }

    fn pop(&mut self) -> Option<Timer> {
        let i = self.first()?;
        self.0[i].pop().map(|(t, _)| t)
    }

    fn clear(&mut self) {
        self.0.iter_mut().for_each(SortedQueue::clear);
    }
}

/// What the caller learns about a packet's flow.
pub struct Lookup<'t, A> {
    pub flow: &'t mut Flow<A>,
    pub dir: Direction,
    /// True when this packet created the flow.
    pub created: bool,
}

impl<A> FlowTable<A> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The slot of a live flow.
    fn slot_of(&self, key: &FlowKey) -> Option<usize> {
        match self.last {
            Some((k, i)) if k == *key => Some(i),
            _ => self.index.get(key).copied(),
        }
    }

    fn get(&self, key: &FlowKey) -> Option<&Flow<A>> {
        self.slots.get(self.slot_of(key)?)?.as_ref()
    }

    /// Adds a flow; returns its slot.
    fn insert(&mut self, key: FlowKey, flow: Flow<A>) -> usize {
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = Some(flow);
                }
                i
            }
            None => {
                self.slots.push(Some(flow));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        i
    }

    fn remove(&mut self, key: &FlowKey) -> Option<Flow<A>> {
        let i = self.index.remove(key)?;
        if self.last.is_some_and(|(k, _)| k == *key) {
            self.last = None;
        }
        let f = self.slots.get_mut(i)?.take();
        self.free.push(i);
        f
    }

    /// The flow in `slot` if it is flow `id` (a timer entry still about it).
    fn at(&self, slot: u32, id: u64) -> Option<&Flow<A>> {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .filter(|f| f.id == id)
    }

    /// Removes the flow in `slot` (its key is made from its endpoints).
    fn remove_at(&mut self, slot: u32) -> Option<Flow<A>> {
        let f = self.slots.get(slot as usize)?.as_ref()?;
        let key = FlowKey::new(f.orig, f.resp, f.proto);
        self.remove(&key)
    }

    pub fn weirds(&mut self) -> Vec<Weird> {
        std::mem::take(&mut self.weirds)
    }

    /// Records each new flow's (id, first frame) until taken.
    pub fn record_created(&mut self) {
        self.created.get_or_insert_with(Vec::new);
    }

    /// The flows created since the last call (see [`Self::record_created`]).
    pub fn take_created(&mut self) -> Vec<(u64, u64)> {
        self.created
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Every live flow, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Flow<A>> {
        self.slots.iter_mut().flatten()
    }

    /// Finds or creates the flow of a packet from `src` to `dst`.
    ///
    /// `syn_seq` (the sequence number of a SYN without ACK) with a new ISN on an existing TCP
    /// flow that is closed or carried data ends that flow and starts a new one (port reuse; a
    /// retransmitted SYN keeps its ISN); `synack` on a new flow makes the receiver `orig`. `ended` receives flows that
    /// leave the table because of this packet.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn lookup(
        &mut self,
        ts: Timestamp,
        frame: u64,
        src: Side<'_>,
        dst: Side<'_>,
        proto: u8,
        syn_seq: Option<u32>,
        synack: bool,
        new_app: impl FnOnce() -> A,
        ended: &mut dyn FnMut(Flow<A>, EndReason),
    ) -> Option<Lookup<'_, A>> {
        let (key, src_lo) = FlowKey::with_side(src, dst, proto);
        // The common case, kept small enough to inline: another packet of the last packet's
        // flow, not a SYN (which may start a new connection on the tuple).
        if syn_seq.is_none()
            && let Some((k, slot)) = self.last
            && k == key
        {
            // `None` only if the table lost the flow it last found (a bug, not input).
            let flow = self.slots.get_mut(slot).and_then(Option::as_mut)?;
            if ts > flow.last_ts {
                flow.last_ts = ts;
            }
            let dir = flow.direction_by_side(src_lo);
            return Some(Lookup {
                flow,
                dir,
                created: false,
            });
        }
        self.lookup_slow(
            ts, frame, key, src_lo, src, dst, syn_seq, synack, new_app, ended,
        )
    }

    /// [`Self::lookup`] for every other packet: hashing, port reuse, creation.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn lookup_slow(
        &mut self,
        ts: Timestamp,
        frame: u64,
        key: FlowKey,
        src_lo: bool,
        src: Side<'_>,
        dst: Side<'_>,
        syn_seq: Option<u32>,
        synack: bool,
        new_app: impl FnOnce() -> A,
        ended: &mut dyn FnMut(Flow<A>, EndReason),
    ) -> Option<Lookup<'_, A>> {
        let proto = key.proto();
        let syn_only = syn_seq.is_some();
        if let Some(seq) = syn_seq
            && let Some(f) = self.get(&key)
            && let Some(t) = f.tcp.as_ref()
            && (t.is_closed() || (t.has_data() && f.orig == src.endpoint()))
            && t.dirs[0].isn != Some(seq)
        {
            // A fresh SYN on a tuple whose connection is over (port reuse).
            if let Some(old) = self.remove(&key) {
                ended(old, EndReason::Reused);
            }
        }
        let known = self.slot_of(&key);
        if known.is_none() && self.index.len() >= MAX_FLOWS {
            self.evict_one(ts, ended);
        }
        let slot = match known {
            Some(slot) => slot,
            None => {
                let (src, dst) = (src.endpoint(), dst.endpoint());
                let (orig, resp) = if synack || (!syn_only && server_port_heuristic(src, dst)) {
                    (dst, src)
                } else {
                    (src, dst)
                };
                let id = self.next_id;
                self.next_id += 1;
                if let Some(c) = self.created.as_mut() {
                    c.push((id, frame));
                }
                let tcp = (proto == PROTO_TCP).then(TcpStats::default);
                let timeout = if tcp.is_some() {
                    TCP_IDLE_NS
                } else {
                    UDP_IDLE_NS
                };
                let slot = self.insert(
                    key,
                    Flow {
                        id,
                        proto,
                        orig,
                        resp,
                        first_ts: ts,
                        last_ts: ts,
                        first_frame: frame,
                        packets: [0; 2],
                        frame_bytes: [0; 2],
                        payload_bytes: [0; 2],
                        tcp,
                        app: new_app(),
                        orig_lo: (orig == src) == src_lo,
                    },
                );
                self.timers.push(
                    timeout,
                    timer(ts.0.saturating_add(timeout), id, slot as u32),
                );
                slot
            }
        };
        // `None` only if the table lost the flow it just found or made (a bug, not input).
        self.last = Some((key, slot));
        let Some(flow) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            self.last = None;
            return None;
        };
        if ts > flow.last_ts {
            flow.last_ts = ts;
        }
        let dir = flow.direction_by_side(src_lo);
        Some(Lookup {
            flow,
            dir,
            created: known.is_none(),
        })
    }

    /// A TCP flow was just closed (FIN both ways or RST): it expires after the short
    /// closed timeout instead of the idle one, so memory follows live connections.
    pub fn closed(&mut self, flow_id: u64, key_of: (Endpoint, Endpoint, u8), now: Timestamp) {
        let key = FlowKey::new(key_of.0, key_of.1, key_of.2);
        if let Some(slot) = self.slot_of(&key) {
            self.timers.push(
                TCP_CLOSED_NS,
                timer(now.0.saturating_add(TCP_CLOSED_NS), flow_id, slot as u32),
            );
        }
    }

    /// Expires flows idle at capture time `now`.
    pub fn expire(&mut self, now: Timestamp, ended: &mut dyn FnMut(Flow<A>, EndReason)) {
        while let Some((deadline, id, slot)) = self.timers.peek() {
            if deadline > now.0 {
                break;
            }
            self.timers.pop();
            let Some(f) = self.at(slot, id) else {
                continue;
            };
            let timeout = f.idle_timeout();
            let due = f.last_ts.0.saturating_add(timeout);
            if due <= now.0 {
                if let Some(f) = self.remove_at(slot) {
                    ended(f, EndReason::Idle);
                }
            } else {
                // Still active: check again at its new deadline.
                self.timers.push(timeout, timer(due, id, slot));
            }
        }
    }

    fn evict_one(&mut self, ts: Timestamp, ended: &mut dyn FnMut(Flow<A>, EndReason)) {
        while let Some((_, id, slot)) = self.timers.pop() {
            if self.at(slot, id).is_some() {
                if let Some(f) = self.remove_at(slot) {
                    self.evicted += 1;
                    if self.evicted == 1 {
                        self.weirds.push(Weird::new(
                            ts,
                            "flow-table-cap",
                            format!("more than {MAX_FLOWS} live flows; oldest flows evicted early"),
                        ));
                    }
                    ended(f, EndReason::Evicted);
                }
                return;
            }
        }
    }

    /// End of capture: every flow, in id order.
    pub fn drain(&mut self, ended: &mut dyn FnMut(Flow<A>, EndReason)) {
        let mut all: Vec<Flow<A>> = self.slots.drain(..).flatten().collect();
        self.index.clear();
        self.free.clear();
        self.last = None;
        self.timers.clear();
        all.sort_by_key(|f| f.id);
        for f in all {
            ended(f, EndReason::EndOfCapture);
        }
    }
}

/// For a flow first seen mid-stream: true when `src` looks like the server (a well-known port
/// talking to an ephemeral one).
fn server_port_heuristic(src: Endpoint, dst: Endpoint) -> bool {
    src.port < 1024 && dst.port >= 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: s.parse().unwrap(),
            port,
        }
    }

    /// Both directions give one key; the address family, the ports' sides and the protocol
    /// tell keys apart.
    #[test]
    fn flow_keys() {
        let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        assert_eq!(FlowKey::new(c, s, 6), FlowKey::new(s, c, 6));
        assert_ne!(FlowKey::new(c, s, 6), FlowKey::new(c, s, 17));
        // IPv4 10.0.0.1 and IPv6 ::a00:1 have the same low bits.
        let c6 = ep("::a00:1", 40000);
        assert_ne!(FlowKey::new(c, s, 6), FlowKey::new(c6, s, 6));
        // Ports swapped between the hosts: another connection.
        let (c2, s2) = (ep("10.0.0.1", 443), ep("10.0.0.2", 40000));
        assert_ne!(FlowKey::new(c, s, 6), FlowKey::new(c2, s2, 6));
        let (a6, b6) = (ep("2001:db8::1", 5353), ep("2001:db8::2", 53));
        assert_eq!(FlowKey::new(a6, b6, 17), FlowKey::new(b6, a6, 17));
        assert_ne!(
            FlowKey::new(a6, b6, 17),
            FlowKey::new(a6, ep("2001:db8::2", 54), 17)
        );
    }

    /// [`FlowTable::lookup`] of a TCP packet from `a` to `b` at `ts` (also its frame
    /// number), dropping the flows it ends.
    fn tcp<'t>(
        t: &'t mut FlowTable<()>,
        ts: i64,
        (a, b): (&Endpoint, &Endpoint),
        syn_seq: Option<u32>,
        synack: bool,
    ) -> Lookup<'t, ()> {
        t.lookup(
            Timestamp(ts),
            ts as u64,
            a.into(),
            b.into(),
            6,
            syn_seq,
            synack,
            || (),
            &mut |_, _| {},
        )
        .unwrap()
    }

    #[test]
    fn bidirectional_and_sequential_ids() {
        let mut t: FlowTable<()> = FlowTable::new();
        let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let l = tcp(&mut t, 1, (&c, &s), Some(1), false);
        assert!(l.created);
        assert_eq!(l.dir, Direction::Orig);
        assert_eq!(l.flow.id, 1);
        let l = tcp(&mut t, 2, (&s, &c), None, true);
        assert!(!l.created);
        assert_eq!(l.dir, Direction::Resp);
        let l = tcp(&mut t, 3, (&ep("10.0.0.1", 40001), &s), Some(1), false);
        assert_eq!(l.flow.id, 2);
    }

    #[test]
    fn synack_first_makes_receiver_orig() {
        let mut t: FlowTable<()> = FlowTable::new();
        let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let l = tcp(&mut t, 1, (&s, &c), None, true);
        assert_eq!(l.flow.orig, c);
        assert_eq!(l.dir, Direction::Resp);
    }

    #[test]
    fn idle_udp_expires_by_capture_time() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut n = 0;
        let (c, s) = (ep("10.0.0.1", 5000), ep("10.0.0.2", 53));
        t.lookup(
            Timestamp(0),
            1,
            (&c).into(),
            (&s).into(),
            17,
            None,
            false,
            || (),
            &mut |_, _| {},
        )
        .unwrap();
        t.expire(Timestamp(UDP_IDLE_NS - 1), &mut |_, _| n += 1);
        assert_eq!(n, 0);
        t.expire(Timestamp(UDP_IDLE_NS), &mut |_, _| n += 1);
        assert_eq!(n, 1);
        assert!(t.is_empty());
    }

    /// The last-flow shortcut never hands out a flow that left the table: a flow that ends
    /// (idle, port reuse) and a new flow that takes its slot are told apart, packet after
    /// packet, in both orders.
    #[test]
    fn last_flow_shortcut_follows_removal_and_slot_reuse() {
        type Ended = Vec<(u64, u32, EndReason)>;
        #[allow(clippy::too_many_arguments)]
        fn look(
            t: &mut FlowTable<u32>,
            ended: &mut Ended,
            ts: i64,
            a: Endpoint,
            b: Endpoint,
            proto: u8,
            syn: Option<u32>,
            app: u32,
        ) -> (u64, u32, bool, Direction) {
            let l = t
                .lookup(
                    Timestamp(ts),
                    ts as u64,
                    (&a).into(),
                    (&b).into(),
                    proto,
                    syn,
                    false,
                    || app,
                    &mut |f, r| ended.push((f.id, f.app, r)),
                )
                .unwrap();
            (l.flow.id, l.flow.app, l.created, l.dir)
        }
        let mut t: FlowTable<u32> = FlowTable::new();
        let mut ended: Ended = Vec::new();
        let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let (c2, s2) = (ep("10.0.0.3", 40000), ep("10.0.0.4", 53));
        assert_eq!(
            look(&mut t, &mut ended, 0, c, s, 6, Some(1), 10),
            (1, 10, true, Direction::Orig)
        );
        assert_eq!(
            look(&mut t, &mut ended, 1, s, c, 6, None, 0),
            (1, 10, false, Direction::Resp)
        );
        // UDP flow 2, the last flow looked up, expires; another flow takes its slot, and
        // the next packet of flow 2's tuple makes a new flow, not a hit on the old slot.
        assert_eq!(
            look(&mut t, &mut ended, 2, c2, s2, 17, None, 20),
            (2, 20, true, Direction::Orig)
        );
        t.expire(Timestamp(UDP_IDLE_NS + 2), &mut |f, r| {
            ended.push((f.id, f.app, r))
        });
        assert_eq!(ended.pop(), Some((2, 20, EndReason::Idle)));
        assert_eq!(t.len(), 1);
        let c3 = ep("10.0.0.5", 40000);
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 3, c3, s2, 17, None, 30),
            (3, 30, true, Direction::Orig)
        );
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 3, s2, c2, 17, None, 35),
            (4, 35, true, Direction::Resp)
        );
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 4, s2, c3, 17, None, 0),
            (3, 30, false, Direction::Resp)
        );
        // Port reuse right after the old connection's last packet: the new SYN ends flow 1
        // (it carried data one way: mark it) and makes flow 5 from the same tuple.
        if let Some(f) = t.iter_mut().find(|f| f.id == 1) {
            f.tcp.as_mut().unwrap().segment(
                Direction::Orig,
                Timestamp(5),
                2,
                0,
                false,
                true,
                false,
                false,
                100,
                10,
            );
        }
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 5, c, s, 6, None, 0),
            (1, 10, false, Direction::Orig)
        );
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 6, c, s, 6, Some(99), 40),
            (5, 40, true, Direction::Orig)
        );
        assert_eq!(ended.pop(), Some((1, 10, EndReason::Reused)));
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 7, s, c, 6, None, 0),
            (5, 40, false, Direction::Resp)
        );
        assert_eq!(t.len(), 3);
        let mut rest = Vec::new();
        t.drain(&mut |f, _| rest.push((f.id, f.app)));
        assert_eq!(rest, vec![(3, 30), (4, 35), (5, 40)]);
        assert!(t.is_empty());
        // After a drain the table starts over cleanly.
        assert_eq!(
            look(&mut t, &mut ended, UDP_IDLE_NS + 8, c, s, 6, Some(1), 50),
            (6, 50, true, Direction::Orig)
        );
    }

    proptest::proptest! {
        /// The timer queues pop in (deadline, id, slot) order, earliest first, as one heap of
        /// reversed tuples does, whatever the order of the pushes and the timeouts they are
        /// filed under, negative and extreme deadlines included.
        #[test]
        fn timers_pop_in_tuple_order(
            entries in proptest::collection::vec(
                (
                    proptest::prop_oneof![proptest::prelude::any::<i64>(), -2i64..3],
                    proptest::prop_oneof![proptest::prelude::any::<u64>(), 0u64..4],
                    0u32..3,
                ),
                0..64,
            )
        ) {
            let mut ours = Timers::default();
            let mut want: std::collections::BinaryHeap<std::cmp::Reverse<(i64, u64, u32)>> =
                std::collections::BinaryHeap::new();
            let timeouts = [TCP_IDLE_NS, TCP_CLOSED_NS, UDP_IDLE_NS, 7];
            for (i, &(d, id, slot)) in entries.iter().enumerate() {
                ours.push(timeouts[i % timeouts.len()], timer(d, id, slot));
                want.push(std::cmp::Reverse((d, id, slot)));
            }
            while let Some(std::cmp::Reverse(w)) = want.pop() {
                proptest::prop_assert_eq!(ours.peek(), Some(w));
                let got = ours.pop();
                proptest::prop_assert_eq!(got, Some(w));
            }
            proptest::prop_assert!(ours.pop().is_none());
        }
    }

    /// Timers name a flow by slot: a flow in a reused slot ends at its own idle time, not at
    /// the old flow's leftover timers, and still ends when it goes idle.
    #[test]
    fn stale_timers_skip_a_reused_slot() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut ended = Vec::new();
        let (c, s) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let sec = 1_000_000_000;
        let look = |t: &mut FlowTable<()>, ts: i64, a: Endpoint, b: Endpoint, proto, syn| {
            let l = t
                .lookup(
                    Timestamp(ts),
                    0,
                    (&a).into(),
                    (&b).into(),
                    proto,
                    syn,
                    false,
                    || (),
                    &mut |_, _| {},
                )
                .unwrap();
            (l.flow.id, l.dir)
        };
        assert_eq!(
            look(&mut t, 0, c, s, PROTO_TCP, Some(1)),
            (1, Direction::Orig)
        );
        // Reset at 1 s: timers at 11 s (closed) and 300 s (idle) both name slot 0.
        if let Some(tcp) = t.iter_mut().next().and_then(|f| f.tcp.as_mut()) {
            tcp.segment(
                Direction::Orig,
                Timestamp(sec),
                2,
                0,
                false,
                true,
                false,
                true,
                0,
                0,
            );
        }
        t.closed(1, (c, s, PROTO_TCP), Timestamp(sec));
        t.expire(Timestamp(12 * sec), &mut |f, r| ended.push((f.id, r)));
        assert_eq!(ended, vec![(1, EndReason::Idle)]);
        // A UDP flow takes slot 0 and stays busy past the old flow's 300 s timer.
        let (d, r) = (ep("10.0.0.3", 5353), ep("10.0.0.4", 53));
        assert_eq!(
            look(&mut t, 13 * sec, d, r, PROTO_UDP, None),
            (2, Direction::Orig)
        );
        assert_eq!(
            look(&mut t, 299 * sec, r, d, PROTO_UDP, None),
            (2, Direction::Resp)
        );
        t.expire(Timestamp(301 * sec), &mut |f, r| ended.push((f.id, r)));
        assert_eq!(ended.len(), 1, "flow 2 was expired by flow 1's timer");
        assert_eq!(t.len(), 1);
        // Its own idle timeout still ends it.
        t.expire(Timestamp(360 * sec), &mut |f, r| ended.push((f.id, r)));
        assert_eq!(ended.last(), Some(&(2, EndReason::Idle)));
        assert!(t.is_empty());
    }
}

//! Shared vocabulary used by every stage: capture timestamps, flow directions and
//! "weird" observations (anomalies) reported by parsers.
//!
//! This module imports nothing from the crate; every other module may import it.

use std::collections::VecDeque;
use std::fmt;

/// Entries popped earliest key first, for keys that arrive almost in order (deadlines and
/// answer times in capture order): an entry at or after the last one joins a queue read
/// from its front in memory order; an earlier one (a capture whose time goes back) waits in
/// a heap beside it. A binary heap of every entry sifted through cold memory on every pop
/// (2 % of the run time each for the DNS join expiry and the flow timers on the benchmark
/// capture); with the heap for the late ones, no push order costs more than a heap does.
#[derive(Debug)]
pub struct SortedQueue<K, V> {
    in_order: VecDeque<(K, V)>,
    late: std::collections::BinaryHeap<Earliest<K, V>>,
}

impl<K: Ord, V> Default for SortedQueue<K, V> {
    fn default() -> Self {
        SortedQueue {
            in_order: VecDeque::new(),
            late: std::collections::BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy, V: Copy> SortedQueue<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, key: K, value: V) {
        if self.in_order.back().is_none_or(|(k, _)| *k <= key) {
            self.in_order.push_back((key, value));
        } else {
            self.late.push(Earliest { key, value });
        }
    }

    /// Whether the earliest entry is in the heap of late ones.
    fn late_first(&self) -> bool {
        match (self.in_order.front(), self.late.peek()) {
            (Some((k, _)), Some(l)) => l.key < *k,
            (None, Some(_)) => true,
            _ => false,
        }
    }

    pub fn peek(&self) -> Option<(K, V)> {
        if self.late_first() {
            self.late.peek().map(|e| (e.key, e.value))
        } else {
            self.in_order.front().copied()
        }
    }

    pub fn pop(&mut self) -> Option<(K, V)> {
        if self.late_first() {
            self.late.pop().map(|e| (e.key, e.value))
        } else {
            self.in_order.pop_front()
        }
    }

    pub fn len(&self) -> usize {
        self.in_order.len() + self.late.len()
    }

    pub fn is_empty(&self) -> bool {
        self.in_order.is_empty() && self.late.is_empty()
    }

    pub fn clear(&mut self) {
        self.in_order.clear();
        self.late.clear();
    }
}

/// A hash map for keys that come from the capture (addresses, ports, ids): foldhash with a
/// per-process random seed, so a crafted capture cannot aim every key at one bucket (hash
/// flooding). Nothing may depend on its iteration order; callers sort where order shows.
pub type SeededMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A capture timestamp: nanoseconds since the Unix epoch, UTC.
///
/// Always taken from the capture file, never from the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self` (negative if `self` is earlier).
    pub fn ms_since(self, earlier: Timestamp) -> f64 {
        // Saturating i64 (±292 years) rather than i128: this runs per packet.
        self.0.saturating_sub(earlier.0) as f64 / 1e6
    }

    /// Adds a number of milliseconds (saturating).
    pub fn add_ms(self, ms: f64) -> Timestamp {
        Timestamp(self.0.saturating_add((ms * 1e6) as i64))
    }

    /// RFC 3339 with nanoseconds, UTC: `2024-01-31T12:34:56.123456789Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }

    /// Appends [`Self::to_rfc3339`]'s text to `out` as bytes (the CSV writer's path).
    pub fn push_rfc3339_bytes(self, out: &mut Vec<u8>) {
        match self.rfc3339_bytes() {
            Some(b) => out.extend_from_slice(&b),
            None => out.extend_from_slice(self.to_rfc3339().as_bytes()),
        }
    }

    /// (year, month, day, second of the day, nanoseconds).
    fn civil(self) -> (i64, u32, u32, i64, i64) {
        let secs = self.0.div_euclid(1_000_000_000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        (
            y,
            m,
            d,
            secs.rem_euclid(86_400),
            self.0.rem_euclid(1_000_000_000),
        )
    }

    /// The text for years 0..=9999 (every capture), filled in place, two digits per step
    /// in 32-bit arithmetic (every CSV row has one to four timestamps).
    fn rfc3339_bytes(self) -> Option<[u8; 30]> {
        let (y, m, d, sod, nanos) = self.civil();
        if !(0..=9999).contains(&y) {
            return None;
        }
        // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`; every value below fits in u32.
        let (y, sod, nanos) = (y as u32, sod as u32, nanos as u32);
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        let mut two = |at: usize, v: u32| {
            let i = (v as usize % 100) * 2;
            b[at] = DIGIT_PAIRS[i];
            b[at + 1] = DIGIT_PAIRS[i + 1];
        };
        two(0, y / 100);
        two(2, y);
        two(5, m);
        two(8, d);
        two(11, sod / 3600);
        two(14, sod / 60 % 60);
        two(17, sod % 60);
        two(20, nanos / 10_000_000);
        two(22, nanos / 100_000);
        two(24, nanos / 1_000);
        two(26, nanos / 10);
        b[28] = b'0' + (nanos % 10) as u8;
        Some(b)
    }
}

/// "00".."99": the two digits of `n` at `2 * n`.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = self.rfc3339_bytes() {
            return f.write_str(std::str::from_utf8(&b).unwrap_or_default());
        }
        let (y, m, d, sod, nanos) = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            y,
            m,
            d,
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            nanos
        )
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The two sides of a flow. `Orig` sent the first packet (the SYN sender for TCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Orig,
    Resp,
}

impl Direction {
    pub fn flip(self) -> Direction {
        match self {
            Direction::Orig => Direction::Resp,
            Direction::Resp => Direction::Orig,
        }
    }

    /// 0 for `Orig`, 1 for `Resp`: index into per-direction arrays.
    pub fn idx(self) -> usize {
        match self {
            Direction::Orig => 0,
            Direction::Resp => 1,
        }
    }
}

/// Something odd a parser saw in the traffic. Becomes an `anomalies` row; processing goes on.
///
/// `kind` is a short stable code (`dns-malformed`, `tls-record-too-long`, ...);
/// `detail` a human sentence with the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weird {
    pub ts: Timestamp,
    pub kind: &'static str,
    pub detail: String,
}

impl Weird {
    pub fn new(ts: Timestamp, kind: &'static str, detail: impl Into<String>) -> Self {
        Weird {
            ts,
            kind,
            detail: detail.into(),
        }
    }
}

/// Weirds a parser holds until its owner collects them, at most `cap`; beyond that they
/// are counted and reported as one summary weird at the next collection.
#[derive(Clone, Debug, Default)]
pub struct WeirdLog {
    items: Vec<Weird>,
    dropped: u64,
}

impl WeirdLog {
    pub fn push(&mut self, cap: usize, w: Weird) {
        if self.items.len() < cap {
            self.items.push(w);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// The weirds so far, plus (if some were dropped) `cap_kind`: "N more `what` weirds
    /// not reported" at `ts`.
    pub fn take(&mut self, ts: Timestamp, cap_kind: &'static str, what: &str) -> Vec<Weird> {
        if self.dropped > 0 {
            let d = format!("{} more {what} weirds not reported", self.dropped);
            self.items.push(Weird::new(ts, cap_kind, d));
            self.dropped = 0;
        }
        std::mem::take(&mut self.items)
    }
}

/// Gives back most of a hash map's table after a burst: a map of more than 1,024 slots that
/// is under a quarter full is shrunk to twice its length. (A hash table never shrinks by
/// itself, so a burst of lookups or connections kept its memory for the rest of the run.)
/// The rehash is linear in the length and happens at most once per halving: amortised over
/// the removals that made room for it.
pub fn shrink_after_burst<K, V, S>(m: &mut std::collections::HashMap<K, V, S>)
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher,
{
    if m.capacity() > 1024 && m.len() * 4 < m.capacity() {
        m.shrink_to(m.len() * 2);
    }
}

/// An entry of a `BinaryHeap` used as a min-heap (timers, expiry queues): ordered by `key`
/// alone, reversed, so the earliest key pops first; `value` rides along uncompared. The
/// comparisons are marked for inlining: a heap of `Reverse` tuples had called an out-of-line
/// comparison on every sift step.
#[derive(Clone, Copy, Debug)]
pub struct Earliest<K, V> {
    pub key: K,
    pub value: V,
}

impl<K: Ord, V> PartialEq for Earliest<K, V> {
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<K: Ord, V> Eq for Earliest<K, V> {}

impl<K: Ord, V> Ord for Earliest<K, V> {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.key.cmp(&self.key)
    }
}

impl<K: Ord, V> PartialOrd for Earliest<K, V> {
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the push order (sorted runs, time going back, ties), interleaved with
        /// pops, the queue pops what a heap of the same entries pops: the earliest key.
        #[test]
        fn sorted_queue_pops_the_earliest_key(
            ops in proptest::collection::vec(proptest::option::of(0i64..50), 0..200)
        ) {
            let mut q: SortedQueue<(i64, u32), u32> = SortedQueue::new();
            let mut want = std::collections::BinaryHeap::new();
            for (i, op) in ops.into_iter().enumerate() {
                let i = i as u32;
                match op {
                    Some(k) => {
                        q.push((k, i), i);
                        want.push(std::cmp::Reverse(((k, i), i)));
                    }
                    None => {
                        let w = want.pop().map(|std::cmp::Reverse(e)| e);
                        proptest::prop_assert_eq!(q.peek(), w);
                        proptest::prop_assert_eq!(q.pop(), w);
                    }
                }
                proptest::prop_assert_eq!(q.len(), want.len());
            }
            while let Some(std::cmp::Reverse(w)) = want.pop() {
                proptest::prop_assert_eq!(q.pop(), Some(w));
            }
            proptest::prop_assert!(q.is_empty() && q.pop().is_none());
        }
    }

    /// A million pushes with time running backwards (each before the last) take the heap
    /// path, not a shift of the whole queue per push.
    #[test]
    fn sorted_queue_reversed_pushes_stay_fast() {
        let mut q = SortedQueue::new();
        let n = 1_000_000i64;
        for k in (0..n).rev() {
            q.push(k, ());
        }
        for k in 0..n {
            assert_eq!(q.pop(), Some((k, ())));
        }
    }

    /// A map shrinks once under a quarter full (and past 1,024 slots), to twice its length,
    /// and not otherwise.
    #[test]
    fn maps_shrink_after_a_burst_only() {
        let mut m: std::collections::HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        m.retain(|k, _| *k < 4_000);
        let cap = m.capacity();
        shrink_after_burst(&mut m);
        assert_eq!(m.capacity(), cap, "about 30 % full: kept");
        m.retain(|k, _| *k < 10);
        shrink_after_burst(&mut m);
        assert!(m.capacity() < 64, "{} slots for 10 entries", m.capacity());
        assert_eq!(m.len(), 10);
        let mut small: std::collections::HashMap<u32, u32> = (0..800).map(|i| (i, i)).collect();
        small.clear();
        let cap = small.capacity();
        shrink_after_burst(&mut small);
        assert_eq!(small.capacity(), cap, "1,024 slots or fewer: kept");
    }

    #[test]
    fn rfc3339_digits_match_formatting() {
        let mut t = i64::MIN;
        for _ in 0..2000 {
            let secs = t.div_euclid(1_000_000_000);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            let want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                y,
                m,
                d,
                sod / 3600,
                (sod / 60) % 60,
                sod % 60,
                t.rem_euclid(1_000_000_000)
            );
            assert_eq!(Timestamp(t).to_rfc3339(), want);
            t = t.wrapping_add(9_223_372_036_854_775 + 123_456_789);
        }
    }

    #[test]
    fn rfc3339_epoch_and_known_date() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000000000Z");
        // 2009-02-13T23:31:30Z = 1234567890 s
        assert_eq!(
            Timestamp(1_234_567_890_123_456_789).to_rfc3339(),
            "2009-02-13T23:31:30.123456789Z"
        );
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn weird_log_caps_and_summarises() {
        let mut log = WeirdLog::default();
        for i in 0..5 {
            log.push(3, Weird::new(Timestamp(i), "x", "d"));
        }
        let w = log.take(Timestamp(9), "x-cap", "X");
        assert_eq!(w.len(), 4);
        assert_eq!(w[3].kind, "x-cap");
        assert_eq!(w[3].detail, "2 more X weirds not reported");
        assert!(log.take(Timestamp(10), "x-cap", "X").is_empty());
    }

    #[test]
    fn ms_since() {
        assert_eq!(Timestamp(3_500_000).ms_since(Timestamp(1_000_000)), 2.5);
    }
}

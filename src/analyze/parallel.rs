//! All cores: frames are sharded over worker threads by a symmetric hash of the two host
//! addresses, so both directions of a flow, all its IP fragments and every flow between two
//! hosts (a client and its resolver: DNS, and the TC→TCP retry) land on one worker. DHCP
//! and ARP (broadcast, no host pair) go to worker 0.
//!
//! An uncompressed capture file is read by every worker itself: each parses all frames
//! (cheap) and processes only its shard's, expiring state at the same capture times as a
//! single-threaded run and adding TLS keys as it meets them. Compressed input and standard
//! input are read once by the main thread, which sends each frame to its worker in batches,
//! with expiry ticks and keys to every worker in stream order. At each tick every worker reports what it finished (`Report`);
//! once all have reported a tick, the main thread numbers the new flows in capture order
//! (by first frame, as one analyzer numbers them), feeds the rows to its correlator and
//! releases what is final, so memory stays bounded as in a single-threaded run. The output
//! is identical to a single-threaded run (tested).
//!
//! Part of the driver (`analyze`): it runs one [`Analyzer`] per worker; imports `base`,
//! `capture`.

use super::{Analysis, Analyzer, Bounds, Options};
use crate::base::Timestamp;
use crate::capture::{Frame, linktype};
use crate::correlate::ConnOutcome;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Messages per batch sent to a worker.
const BATCH_MSGS: usize = 1024;
/// Packet bytes per batch.
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per worker (memory bound: BATCH_BYTES × this × workers).
const IN_FLIGHT: usize = 4;
/// Reports a worker may send ahead of the main thread (one per second of capture time):
/// a worker reading a file itself waits when the main thread's correlation and writing
/// fall behind, so the rows in flight stay bounded. (Feeding batches, the main thread reads
/// reports after every tick it sends, and a worker holds at most `IN_FLIGHT` + 1 batches of
/// at most one tick each, so it never waits on a full report channel while the main thread
/// waits on its full batch channel.)
const REPORTS_IN_FLIGHT: usize = 16;

enum Msg {
    Frame {
        number: u64,
        ts: Timestamp,
        linktype: i32,
        interface: u32,
        orig_len: u32,
        start: usize,
        end: usize,
    },
    Tick(Timestamp),
    Keys(Vec<u8>),
    Capture(u32, String),
    /// Read this capture file yourself and keep your shard's frames.
    ReadFile {
        path: std::path::PathBuf,
        capture: u32,
        name: String,
        first_frame: u64,
        /// Capture time of the next expiry tick (carried across captures).
        next_expire: i64,
    },
}

#[derive(Default)]
struct Batch {
    msgs: Vec<Msg>,
    bytes: Vec<u8>,
}

/// What a worker found since its last report: sent at every expiry tick (`tick`) and once at
/// the end (`tick: None`, with the anomaly counts). Ids are the worker's own; `created` maps
/// them to first frames so the main thread numbers flows in capture order.
#[derive(Default)]
pub(crate) struct Report {
    pub tick: Option<Timestamp>,
    /// Finished rows (connections with their end ticks, final outcomes, DNS, ARP, DHCP,
    /// anomalies) and packet counters.
    pub rows: Analysis,
    /// Exchanges of live connections that went idle.
    pub parts: Vec<ConnOutcome>,
    pub created: Vec<(u64, u64)>,
    pub bounds: Bounds,
    pub counts: FxHashMap<String, u64>,
    /// Worker 0 reading a file itself: how far it has read (for the progress bar).
    pub offset: Option<u64>,
    /// The worker has read the whole capture file (see `Analyzer::feed_file`).
    pub end: bool,
    /// Worker 0's facts about that capture.
    pub done: Option<CaptureDone>,
}

impl Report {
    /// The end-of-capture marker (rows stay with the worker until its next tick).
    pub fn end(facts: bool, done: CaptureDone) -> Self {
        Report {
            end: true,
            done: facts.then_some(done),
            ..Default::default()
        }
    }
}

/// What reading one capture file found (worker 0 reports it).
pub(crate) struct CaptureDone {
    pub info: super::CaptureInfo,
    pub frames: u64,
    pub bad_interface: u64,
    pub result: Result<(), crate::capture::CaptureError>,
    pub secrets: Vec<crate::capture::Secrets>,
    pub next_expire: i64,
}

impl Default for CaptureDone {
    fn default() -> Self {
        CaptureDone {
            info: Default::default(),
            frames: 0,
            bad_interface: 0,
            result: Ok(()),
            secrets: Vec::new(),
            next_expire: i64::MIN,
        }
    }
}

/// The worker threads, the batches being filled for them, and their reports not yet merged.
pub struct Pool {
    senders: Vec<SyncSender<Batch>>,
    handles: Vec<JoinHandle<()>>,
    pending: Vec<Batch>,
    replies: Vec<Receiver<Report>>,
    queues: Vec<VecDeque<Report>>,
}

impl Pool {
    pub fn new(opts: Options, threads: usize) -> Self {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        let mut replies = Vec::new();
        for w in 0..threads {
            let (tx, rx): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(IN_FLIGHT);
            let (rtx, rrx): (SyncSender<Report>, Receiver<Report>) =
                sync_channel(REPORTS_IN_FLIGHT);
            let o = opts.clone();
            handles.push(std::thread::spawn(move || worker(o, rx, rtx, (w, threads))));
            senders.push(tx);
            replies.push(rrx);
        }
        let pending = (0..threads).map(|_| Batch::default()).collect();
        let queues = (0..threads).map(|_| VecDeque::new()).collect();
        Pool {
            senders,
            handles,
            pending,
            replies,
            queues,
        }
    }

    /// Every worker reads `path` itself (capture number `capture`, frames numbered from
    /// `first_frame`, the next expiry tick at `next_expire`) and keeps its shard's frames.
    pub fn read_file(
        &mut self,
        path: &std::path::Path,
        capture: u32,
        name: &str,
        (first_frame, next_expire): (u64, i64),
    ) {
        self.broadcast(|| Msg::ReadFile {
            path: path.to_path_buf(),
            capture,
            name: name.to_string(),
            first_frame,
            next_expire,
        });
        for w in 0..self.pending.len() {
            self.send(w);
        }
    }

    /// The next report of every worker, waiting for them; `None` when a worker has stopped.
    pub(crate) fn next_group(&mut self) -> Option<Vec<Report>> {
        for (rx, q) in self.replies.iter().zip(self.queues.iter_mut()) {
            if q.is_empty() {
                q.push_back(rx.recv().ok()?);
            }
        }
        Some(
            self.queues
                .iter_mut()
                .filter_map(|q| q.pop_front())
                .collect(),
        )
    }

    /// The reports of every worker for the ticks all of them have passed, one group per tick
    /// in stream order (without waiting).
    pub(crate) fn ready(&mut self) -> Vec<Vec<Report>> {
        for (rx, q) in self.replies.iter().zip(self.queues.iter_mut()) {
            while let Ok(r) = rx.try_recv() {
                q.push_back(r);
            }
        }
        let mut groups = Vec::new();
        while self.queues.iter().all(|q| !q.is_empty()) {
            groups.push(
                self.queues
                    .iter_mut()
                    .filter_map(|q| q.pop_front())
                    .collect(),
            );
        }
        groups
    }

    fn send(&mut self, w: usize) {
        if let (Some(b), Some(tx)) = (self.pending.get_mut(w), self.senders.get(w)) {
            let batch = std::mem::take(b);
            // A worker that died (panic) drops its receiver; its part is lost at join.
            let _ = tx.send(batch);
        }
    }

    fn push(&mut self, w: usize, msg: Msg) {
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        b.msgs.push(msg);
        if b.msgs.len() >= BATCH_MSGS || b.bytes.len() >= BATCH_BYTES {
            self.send(w);
        }
    }

    fn broadcast(&mut self, make: impl Fn() -> Msg) {
        for w in 0..self.pending.len() {
            self.push(w, make());
        }
    }

    /// An expiry tick: every worker expires state and reports (its batch is sent now, so the
    /// report comes back while reading goes on).
    pub fn tick(&mut self, ts: Timestamp) {
        self.broadcast(|| Msg::Tick(ts));
        for w in 0..self.pending.len() {
            self.send(w);
        }
    }

    pub fn keys(&mut self, text: &[u8]) {
        self.broadcast(|| Msg::Keys(text.to_vec()));
    }

    pub fn capture(&mut self, idx: u32, name: &str) {
        self.broadcast(|| Msg::Capture(idx, name.to_string()));
    }

    pub fn frame(&mut self, f: &Frame<'_>) {
        let w = worker_of(f, self.pending.len());
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        let start = b.bytes.len();
        b.bytes.extend_from_slice(f.data);
        let end = b.bytes.len();
        self.push(
            w,
            Msg::Frame {
                number: f.number,
                ts: f.ts,
                linktype: f.linktype,
                interface: f.interface,
                orig_len: f.orig_len,
                start,
                end,
            },
        );
    }

    /// Flushes, stops the workers and returns every report not yet merged, grouped by tick;
    /// the last group holds each worker's final report.
    pub(crate) fn finish(mut self) -> Vec<Vec<Report>> {
        for w in 0..self.pending.len() {
            self.send(w);
        }
        self.senders.clear();
        // Every report until each worker has finished (it may wait on a full channel).
        for (rx, q) in self.replies.iter().zip(self.queues.iter_mut()) {
            while let Ok(r) = rx.recv() {
                q.push_back(r);
            }
        }
        for h in std::mem::take(&mut self.handles) {
            // A worker that panicked loses its rows; the others still report.
            let _ = h.join();
        }
        let mut groups = self.ready();
        // A dead worker's missing reports: merge what the others sent.
        let rest = self.queues.iter().map(VecDeque::len).max().unwrap_or(0);
        for _ in 0..rest {
            groups.push(
                self.queues
                    .iter_mut()
                    .map(|q| q.pop_front().unwrap_or_default())
                    .collect(),
            );
        }
        groups
    }
}

/// The worker of `n` that owns a frame.
pub(crate) fn worker_of(f: &Frame<'_>, n: usize) -> usize {
    shard(f.linktype, f.data)
        .map(|h| (h % n.max(1) as u64) as usize)
        .unwrap_or(0)
}

fn worker(opts: Options, rx: Receiver<Batch>, reports: SyncSender<Report>, shard: (usize, usize)) {
    let mut a = Analyzer::new_worker(opts);
    while let Ok(batch) = rx.recv() {
        for msg in batch.msgs {
            match msg {
                Msg::Frame {
                    number,
                    ts,
                    linktype,
                    interface,
                    orig_len,
                    start,
                    end,
                } => {
                    let data = batch.bytes.get(start..end).unwrap_or(&[]);
                    a.process(&Frame {
                        number,
                        ts,
                        linktype,
                        interface,
                        data,
                        orig_len,
                    });
                }
                Msg::Tick(ts) => {
                    a.expire(ts);
                    let _ = reports.send(a.report(Some(ts)));
                }
                Msg::Keys(k) => {
                    a.add_keylog(&k);
                }
                Msg::Capture(i, name) => a.set_capture(i, &name),
                Msg::ReadFile {
                    path,
                    capture,
                    name,
                    first_frame,
                    next_expire,
                } => {
                    a.next_expire = next_expire;
                    a.read_shard(&path, capture, &name, first_frame, shard, &reports);
                }
            }
        }
    }
    a.drain();
    let _ = reports.send(a.report(None));
}

/// A symmetric hash of the frame's two IP addresses; `None` for frames without a host pair
/// (ARP, non-IP) and for DHCP, which all go to worker 0.
fn shard(lt: i32, data: &[u8]) -> Option<u64> {
    let ip = match lt {
        linktype::ETHERNET => {
            let mut off = 12;
            let mut et = u16::from_be_bytes([*data.get(off)?, *data.get(off + 1)?]);
            while et == 0x8100 || et == 0x88a8 || et == 0x9100 {
                off += 4;
                et = u16::from_be_bytes([*data.get(off)?, *data.get(off + 1)?]);
            }
            if et != 0x0800 && et != 0x86dd {
                return None;
            }
            data.get(off + 2..)?
        }
        linktype::LINUX_SLL => data.get(16..)?,
        linktype::LINUX_SLL2 => data.get(20..)?,
        linktype::NULL | linktype::LOOP => data.get(4..)?,
        linktype::RAW
        | linktype::RAW_ALT1
        | linktype::RAW_ALT2
        | linktype::IPV4
        | linktype::IPV6 => data,
        _ => return None,
    };
    let (a, b, proto, l4) = match ip.first()? >> 4 {
        4 => {
            let ihl = ((ip.first()? & 0x0f) as usize) * 4;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
            let l4 = if frag == 0 { ip.get(ihl..) } else { None };
            (ip.get(12..16)?, ip.get(16..20)?, *ip.get(9)?, l4)
        }
        6 => (ip.get(8..24)?, ip.get(24..40)?, *ip.get(6)?, ip.get(40..)),
        _ => return None,
    };
    // DHCP is matched across addresses (0.0.0.0 → broadcast, then server → client).
    if proto == 17
        && let Some(u) = l4
        && let (Some(sp), Some(dp)) = (u.get(0..2), u.get(2..4))
    {
        let (sp, dp) = (
            u16::from_be_bytes([sp[0], sp[1]]),
            u16::from_be_bytes([dp[0], dp[1]]),
        );
        if matches!(
            (sp, dp),
            (67, 68) | (68, 67) | (67, 67) | (546, 547) | (547, 546)
        ) {
            return None;
        }
    }
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // FNV-1a over the ordered pair: stable across runs (ids must be deterministic).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lo.iter().chain(hi.iter()) {
        h ^= *byte as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Some(h)
}

//! Capture reading: pcap and pcapng (any byte order, micro/nanosecond, several sections and
//! interfaces), optionally gzip- or zstd-compressed, from a file or standard input.
//!
//! Streams with a bounded buffer: the whole file is never in memory. Yields [`Frame`]s with
//! capture timestamps and Decryption Secrets Blocks.
//!
//! Owns: [`CaptureReader`], [`Frame`], [`CaptureError`]. Imports only `crate::base`.

mod open;

use crate::base::Timestamp;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::fmt;
use std::io::Read;

pub use open::{Compression, open_input};

/// Initial size of the streaming buffer.
const INITIAL_BUFFER: usize = 1 << 20;
/// Largest block we accept: a bigger one is treated as corruption (a real packet block is at
/// most a few hundred KiB even with jumbo/TSO frames).
const MAX_BLOCK: usize = 64 << 20;

/// Link-layer header types we know by number (see tcpdump.org/linktypes.html).
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
    /// Some systems write 12 or 14 for raw IP.
    pub const RAW_ALT1: i32 = 12;
    pub const RAW_ALT2: i32 = 14;
}

/// One captured packet.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based frame number, as Wireshark numbers frames (across all captures of one run).
    pub number: u64,
    pub ts: Timestamp,
    pub linktype: i32,
    pub interface: u32,
    /// The captured bytes (may be shorter than `orig_len` when snaplen cut them).
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// A Decryption Secrets Block (pcapng): `kind` 0x544c534b = TLS key log.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub kind: u32,
    pub data: Vec<u8>,
}

/// What the reader yields.
#[derive(Debug)]
pub enum Event<'a> {
    Frame(Frame<'a>),
    Secrets(Secrets),
}

/// Why reading stopped early.
#[derive(Debug)]
pub enum CaptureError {
    /// The file could not be opened or read at all.
    Unreadable { detail: String },
    /// The input is not a pcap/pcapng capture.
    NotACapture { detail: String },
    /// The capture ends in the middle of a block.
    Truncated { frame: u64, offset: u64 },
    /// A block is malformed; nothing after it can be trusted.
    Corrupt {
        frame: u64,
        offset: u64,
        detail: String,
    },
}

impl CaptureError {
    /// True when results up to the error are usable (exit code 1), false when nothing was read
    /// (exit code 2).
    pub fn is_partial(&self) -> bool {
        matches!(
            self,
            CaptureError::Truncated { .. } | CaptureError::Corrupt { .. }
        )
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Unreadable { detail } => write!(f, "cannot read capture: {detail}"),
            CaptureError::NotACapture { detail } => {
                write!(f, "not a pcap or pcapng capture: {detail}")
            }
            CaptureError::Truncated { frame, offset } => write!(
                f,
                "capture truncated: frame {frame} at byte offset {offset} is incomplete"
            ),
            CaptureError::Corrupt {
                frame,
                offset,
                detail,
            } => write!(
                f,
                "capture corrupt at frame {frame}, byte offset {offset}: {detail}"
            ),
        }
    }
}

impl std::error::Error for CaptureError {}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: i32,
    snaplen: u32,
    /// Units per second.
    resolution: u64,
    offset_s: i64,
}

/// Streaming reader over one capture.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    /// Bytes of the block returned last, consumed at the next call.
    pending: usize,
    /// Byte offset (in the decompressed stream) of the next block.
    offset: u64,
    /// Frames yielded so far by this reader.
    frames: u64,
    /// Number given to the first frame of this capture minus one.
    base_number: u64,
    legacy: Option<Legacy>,
    /// Byte order of the current pcapng section, once its header was read.
    ng_big_endian: Option<bool>,
    interfaces: Vec<Interface>,
    last_ts: Timestamp,
    done: bool,
    /// Every block through pcap-parser: the record shortcut's oracle in tests and fuzzing.
    general_only: bool,
    /// Blocks skipped because they were of no interest or unknown (for the summary).
    pub skipped_blocks: u64,
    /// Packets whose interface id was unknown.
    pub bad_interface: u64,
}

impl<'r> CaptureReader<'r> {
    /// Starts reading `input`. `first_number` is the frame number of the first frame minus one
    /// (so several captures in one run get distinct frame numbers).
    pub fn new(input: impl Read + Send + 'r, first_number: u64) -> Result<Self, CaptureError> {
        let input = FillReader(input);
        let inner = pcap_parser::create_reader(INITIAL_BUFFER, input).map_err(|e| match e {
            PcapError::Eof => CaptureError::NotACapture {
                detail: "empty input".into(),
            },
            PcapError::ReadError => CaptureError::Unreadable {
                detail: "read error".into(),
            },
            PcapError::Incomplete(_) | PcapError::UnexpectedEof => CaptureError::NotACapture {
                detail: "input too short for a capture file header".into(),
            },
            _ => CaptureError::NotACapture {
                detail: "unknown file header (expected pcap or pcapng magic)".into(),
            },
        })?;
        Ok(CaptureReader {
            inner,
            pending: 0,
            offset: 0,
            frames: 0,
            base_number: first_number,
            legacy: None,
            ng_big_endian: None,
            interfaces: Vec::new(),
            last_ts: Timestamp::default(),
            done: false,
            general_only: false,
            skipped_blocks: 0,
            bad_interface: 0,
        })
    }

    /// Reads every block through pcap-parser, without the legacy-record shortcut (tests and
    /// fuzzing compare the two).
    #[doc(hidden)]
    pub fn set_general_only(&mut self, on: bool) {
        self.general_only = on;
    }

    /// Byte offset of the next block in the (decompressed) capture.
    pub fn offset(&self) -> u64 {
        self.offset + self.pending as u64
    }

    /// Frames yielded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn error_frame(&self) -> u64 {
        self.base_number + self.frames + 1
    }

    /// The next frame or secrets block; `Ok(None)` at the end of the capture.
    ///
    /// Inlined into the caller's loop, with everything but the two common record shapes out
    /// of line ([`Self::next_general`]): returned through memory, the event was written
    /// field by field and read back in 16-byte loads that could not take the stores' values
    /// directly, a stall on every frame (the hottest instruction of the read loop in perf).
    #[inline(always)]
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        if self.pending > 0 {
            self.inner.consume_noshift(self.pending);
            self.offset += self.pending as u64;
            self.pending = 0;
        }
        // A legacy pcap record whole in the buffer is read here, without pcap-parser's block
        // machinery (the same fields `parse_pcap_frame` reads; anything else, including a
        // record that needs a refill, takes the general path below).
        if !self.general_only
            && let Some(l) = self.legacy
            && !l.modified
            && let Some((ts_sec, frac, caplen, orig_len)) = legacy_record(self.inner.data(), l)
        {
            let len = 16 + caplen;
            let frac = if l.nanos {
                frac as i64
            } else {
                frac as i64 * 1000
            };
            let ts = Timestamp(ts_sec as i64 * 1_000_000_000 + frac);
            return Ok(Some(self.frame_event(
                len,
                ts,
                l.linktype,
                0,
                (16, len),
                orig_len,
            )));
        }
        // Likewise a pcapng Enhanced Packet Block without options, of a known interface.
        if !self.general_only
            && let Some(be) = self.ng_big_endian
            && let Some(b) = ng_epb(self.inner.data(), be)
            && let Some(ifc) = self.interfaces.get(b.if_id as usize)
        {
            let (ts, linktype) = (ng_ts(b.ts_high, b.ts_low, ifc), ifc.linktype);
            return Ok(Some(self.frame_event(
                b.len,
                ts,
                linktype,
                b.if_id,
                (28, 28 + b.caplen),
                b.origlen,
            )));
        }
        self.next_general()
    }

    /// [`Self::next_event`] for every block but a legacy pcap record or an option-less
    /// Enhanced Packet Block whole in the buffer: metadata, skipped blocks, refills, errors.
    #[inline(never)]
    fn next_general(&mut self) -> Result<Option<Event<'_>>, CaptureError> {
        loop {
            // Each block is parsed once: what the caller needs of it is described without a
            // borrow (packet bytes as a range of the buffer), then the buffer is read again.
            let base = self.inner.data().as_ptr() as usize;
            let step = match self.inner.next() {
                Ok((len, block)) => match classify(&block) {
                    Kind::Meta => Step::Meta(
                        len,
                        absorb_meta(
                            &block,
                            &mut self.legacy,
                            &mut self.ng_big_endian,
                            &mut self.interfaces,
                        ),
                    ),
                    Kind::Skip => Step::Skip(len),
                    Kind::Packet => Step::Packet(
                        len,
                        probe(&block, base, self.legacy, &self.interfaces, self.last_ts),
                    ),
                },
                Err(PcapError::Eof) => Step::Eof,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::ReadError) => Step::ReadError,
                Err(e) => Step::Corrupt(describe(&e)),
            };
            match step {
                Step::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Refill => {
                    if self.inner.reader_exhausted() {
                        self.done = true;
                        return self.truncated_or_end();
                    }
                    if self.inner.refill().is_err() {
                        self.done = true;
                        return Err(self.read_error());
                    }
                    if self.inner.reader_exhausted() && self.inner.data().is_empty() {
                        self.done = true;
                        return Ok(None);
                    }
                }
                Step::Grow => {
                    let cap = self.inner.data().len().max(INITIAL_BUFFER) * 2;
                    if cap > MAX_BLOCK || !self.inner.grow(cap) {
                        self.done = true;
                        return Err(CaptureError::Corrupt {
                            frame: self.error_frame(),
                            offset: self.offset,
                            detail: format!("block larger than {} MiB", MAX_BLOCK >> 20),
                        });
                    }
                    if self.inner.refill().is_err() {
                        self.done = true;
                        return Err(self.read_error());
                    }
                }
                Step::Truncated => {
                    self.done = true;
                    return self.truncated_or_end();
                }
                Step::ReadError => {
                    self.done = true;
                    return Err(self.read_error());
                }
                Step::Corrupt(detail) => {
                    self.done = true;
                    return Err(CaptureError::Corrupt {
                        frame: self.error_frame(),
                        offset: self.offset,
                        detail,
                    });
                }
                Step::Meta(len, result) => {
                    if let Err(detail) = result {
                        self.done = true;
                        return Err(if self.frames == 0 {
                            CaptureError::NotACapture { detail }
                        } else {
                            CaptureError::Corrupt {
                                frame: self.error_frame(),
                                offset: self.offset,
                                detail,
                            }
                        });
                    }
                    self.consume(len);
                }
                Step::Skip(len) => {
                    self.skipped_blocks += 1;
                    self.consume(len);
                }
                Step::Packet(len, built) => match built {
                    Built::Frame(ts, linktype, interface, range, orig_len) => {
                        return Ok(Some(
                            self.frame_event(len, ts, linktype, interface, range, orig_len),
                        ));
                    }
                    Built::Secrets(s) => {
                        self.consume(len);
                        return Ok(Some(Event::Secrets(s)));
                    }
                    Built::Bad => {
                        self.bad_interface += 1;
                        self.consume(len);
                    }
                },
            }
        }
    }

    /// The frame of the block of `len` bytes at the start of the buffer (consumed at the
    /// next call), its packet bytes at `range` within the block's buffer. Inlined, as
    /// [`Self::next_event`] is.
    #[inline(always)]
    fn frame_event(
        &mut self,
        len: usize,
        ts: Timestamp,
        linktype: i32,
        interface: u32,
        (start, end): (usize, usize),
        orig_len: u32,
    ) -> Event<'_> {
        self.pending = len;
        self.frames += 1;
        self.last_ts = ts;
        let buffered = self.inner.data();
        // The next record's header (and the link/IP/TCP headers after it) is the first thing
        // the next call reads; asking for it now hides the cache miss behind this frame's
        // analysis (6–13 % less user time on the benchmark capture, bench/README.md).
        prefetch(buffered, len);
        Event::Frame(Frame {
            number: self.base_number + self.frames,
            ts,
            linktype,
            interface,
            data: buffered.get(start..end).unwrap_or(&[]),
            orig_len,
        })
    }

    fn consume(&mut self, len: usize) {
        self.inner.consume_noshift(len);
        self.offset += len as u64;
    }

    fn truncated_or_end(&mut self) -> Result<Option<Event<'_>>, CaptureError> {
        // Trailing bytes that do not form a block: a truncated capture. A file that ends
        // cleanly at a block boundary has no remaining data.
        if self.inner.data().is_empty() {
            Ok(None)
        } else {
            Err(CaptureError::Truncated {
                frame: self.error_frame(),
                offset: self.offset,
            })
        }
    }
}

/// A legacy pcap file's header fields that its records depend on.
#[derive(Clone, Copy, Debug)]
struct Legacy {
    linktype: i32,
    nanos: bool,
    big_endian: bool,
    /// Kuznetzov's modified format (24-byte record headers): always the general path.
    modified: bool,
}

/// The 16-byte record header at the start of `buf` (timestamp seconds, fraction, captured
/// and original length), when the whole record is in `buf`. Inlined into
/// [`CaptureReader::next_event`] (its fields were returned through memory).
#[inline(always)]
fn legacy_record(buf: &[u8], l: Legacy) -> Option<(u32, u32, usize, u32)> {
    let field = |at| u32_at(buf, at, l.big_endian);
    let caplen = usize::try_from(field(8)?).ok()?;
    if buf.len().saturating_sub(16) < caplen {
        return None;
    }
    Some((field(0)?, field(4)?, caplen, field(12)?))
}

/// The fields of a pcapng Enhanced Packet Block at the start of `buf`.
struct Epb {
    if_id: u32,
    ts_high: u32,
    ts_low: u32,
    caplen: usize,
    origlen: u32,
    /// The whole block's length.
    len: usize,
}

/// An Enhanced Packet Block at the start of `buf` that pcap-parser would read without a
/// question: whole in `buf`, both length fields equal, the padded packet data filling the
/// block exactly (no options; a block with options takes the general path). Inlined, as
/// [`legacy_record`] is.
#[inline(always)]
fn ng_epb(buf: &[u8], big_endian: bool) -> Option<Epb> {
    let field = |at| u32_at(buf, at, big_endian);
    if field(0)? != EPB_TYPE {
        return None;
    }
    let len = usize::try_from(field(4)?).ok()?;
    if len < 32 || buf.len() < len || field(len - 4)? as usize != len {
        return None;
    }
    let caplen = field(20)?;
    if caplen >= u32::MAX - 4 {
        return None;
    }
    let caplen = caplen as usize;
    if len != 32usize.checked_add(caplen.checked_add(3)? & !3)? {
        return None;
    }
    Some(Epb {
        if_id: field(8)?,
        ts_high: field(12)?,
        ts_low: field(16)?,
        caplen,
        origlen: field(24)?,
        len,
    })
}

/// The 32-bit field at `at` in the file's byte order.
fn u32_at(buf: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// pcapng block type of an Enhanced Packet Block.
const EPB_TYPE: u32 = 6;

/// Reads a header/interface block into reader state; rejects versions we cannot read.
fn absorb_meta(
    block: &PcapBlockOwned<'_>,
    legacy: &mut Option<Legacy>,
    ng_big_endian: &mut Option<bool>,
    interfaces: &mut Vec<Interface>,
) -> Result<(), String> {
    {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                if h.version_major != 2 {
                    return Err(format!(
                        "unsupported pcap version {}.{}",
                        h.version_major, h.version_minor
                    ));
                }
                // Bits 16-25 of the link-type field are reserved and must be zero; the top
                // bits carry FCS information.
                if h.network.0 as u32 & 0x03ff_0000 != 0 {
                    return Err(format!(
                        "pcap link-type field has reserved bits set (0x{:08x})",
                        h.network.0 as u32
                    ));
                }
                *legacy = Some(Legacy {
                    linktype: h.network.0 & 0xffff,
                    nanos: h.is_nanosecond_precision(),
                    big_endian: h.is_bigendian(),
                    modified: h.is_modified_format(),
                });
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                if shb.major_version != 1 {
                    return Err(format!(
                        "unsupported pcapng section version {}.{}",
                        shb.major_version, shb.minor_version
                    ));
                }
                interfaces.clear();
                *ng_big_endian = Some(shb.big_endian());
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                interfaces.push(Interface {
                    linktype: idb.linktype.0,
                    snaplen: idb.snaplen,
                    // An invalid if_tsresol is treated as the default (microseconds).
                    resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                    offset_s: idb.ts_offset(),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Describes a packet/secrets block without borrowing it: packet bytes are given as a range
/// of the reader's buffer, which starts at address `base`.
fn probe(
    block: &PcapBlockOwned<'_>,
    base: usize,
    legacy: Option<Legacy>,
    interfaces: &[Interface],
    last_ts: Timestamp,
) -> Built {
    {
        let range = |d: &[u8], cap: usize| -> (usize, usize) {
            let start = (d.as_ptr() as usize).saturating_sub(base);
            (start, start + cap.min(d.len()))
        };
        match block {
            PcapBlockOwned::Legacy(b) => {
                let (lt, nanos) =
                    legacy.map_or((linktype::ETHERNET, false), |l| (l.linktype, l.nanos));
                let frac = if nanos {
                    b.ts_usec as i64
                } else {
                    b.ts_usec as i64 * 1000
                };
                let ts = Timestamp(b.ts_sec as i64 * 1_000_000_000 + frac);
                Built::Frame(ts, lt, 0, range(b.data, b.caplen as usize), b.origlen)
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                match interfaces.get(epb.if_id as usize) {
                    Some(ifc) => Built::Frame(
                        ng_ts(epb.ts_high, epb.ts_low, ifc),
                        ifc.linktype,
                        epb.if_id,
                        range(epb.data, epb.caplen as usize),
                        epb.origlen,
                    ),
                    None => Built::Bad,
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => match interfaces.first() {
                Some(ifc) => {
                    let mut cap = spb.origlen as usize;
                    if ifc.snaplen > 0 {
                        cap = cap.min(ifc.snaplen as usize);
                    }
                    // SPBs carry no timestamp: reuse the last one seen.
                    Built::Frame(last_ts, ifc.linktype, 0, range(spb.data, cap), spb.origlen)
                }
                None => Built::Bad,
            },
            PcapBlockOwned::NG(Block::Unknown(ub)) if ub.block_type == OPB_TYPE => {
                match parse_opb(ub.data) {
                    Some(opb) => match interfaces.get(opb.if_id as usize) {
                        Some(ifc) => Built::Frame(
                            ng_ts(opb.ts_high, opb.ts_low, ifc),
                            ifc.linktype,
                            opb.if_id,
                            range(opb.data, opb.data.len()),
                            opb.origlen,
                        ),
                        None => Built::Bad,
                    },
                    None => Built::Bad,
                }
            }
            PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
                let n = (dsb.secrets_len as usize).min(dsb.data.len());
                Built::Secrets(Secrets {
                    kind: dsb.secrets_type.0,
                    data: dsb.data[..n].to_vec(),
                })
            }
            _ => Built::Bad,
        }
    }
}

impl CaptureReader<'_> {
    fn read_error(&self) -> CaptureError {
        if self.frames > 0 {
            CaptureError::Corrupt {
                frame: self.error_frame(),
                offset: self.offset,
                detail: "read or decompression error".into(),
            }
        } else {
            CaptureError::Unreadable {
                detail: format!("read or decompression error at byte offset {}", self.offset),
            }
        }
    }
}

/// Obsolete Packet Block (pcapng type 2), which pcap-parser reports as unknown.
const OPB_TYPE: u32 = 2;

struct Opb<'a> {
    if_id: u32,
    ts_high: u32,
    ts_low: u32,
    origlen: u32,
    data: &'a [u8],
}

/// `body` is the block body after type and length. Little-endian only (the block type was
/// matched little-endian).
fn parse_opb(body: &[u8]) -> Option<Opb<'_>> {
    let u16_at = |o: usize| -> Option<u16> {
        Some(u16::from_le_bytes(body.get(o..o + 2)?.try_into().ok()?))
    };
    let u32_at = |o: usize| -> Option<u32> {
        Some(u32::from_le_bytes(body.get(o..o + 4)?.try_into().ok()?))
    };
    let if_id = u16_at(0)? as u32;
    let ts_high = u32_at(4)?;
    let ts_low = u32_at(8)?;
    let caplen = u32_at(12)? as usize;
    let origlen = u32_at(16)?;
    let data = body.get(20..20usize.checked_add(caplen)?)?;
    Some(Opb {
        if_id,
        ts_high,
        ts_low,
        origlen,
        data,
    })
}

fn ng_ts(high: u32, low: u32, ifc: &Interface) -> Timestamp {
    let ticks = ((high as u128) << 32) | low as u128;
    let res = ifc.resolution as u128;
    let secs = ticks / res;
    let frac = ticks % res;
    let nanos = frac * 1_000_000_000 / res;
    let total = (secs as i128 + ifc.offset_s as i128) * 1_000_000_000 + nanos as i128;
    Timestamp(total.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

enum Step {
    Meta(usize, Result<(), String>),
    Skip(usize),
    Packet(usize, Built),
    Eof,
    Refill,
    Grow,
    Truncated,
    ReadError,
    Corrupt(String),
}

enum Kind {
    Meta,
    Packet,
    Skip,
}

enum Built {
    Frame(Timestamp, i32, u32, (usize, usize), u32),
    Secrets(Secrets),
    Bad,
}

fn classify(block: &PcapBlockOwned<'_>) -> Kind {
    match block {
        PcapBlockOwned::LegacyHeader(_) => Kind::Meta,
        PcapBlockOwned::Legacy(_) => Kind::Packet,
        PcapBlockOwned::NG(b) => match b {
            Block::SectionHeader(_) | Block::InterfaceDescription(_) => Kind::Meta,
            Block::EnhancedPacket(_) | Block::SimplePacket(_) | Block::DecryptionSecrets(_) => {
                Kind::Packet
            }
            Block::Unknown(u) if u.block_type == OPB_TYPE => Kind::Packet,
            _ => Kind::Skip,
        },
    }
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("malformed block ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("malformed block ({kind:?})"),
        PcapError::HeaderNotRecognized => "unrecognised block header".into(),
        other => format!("{other:?}"),
    }
}

/// Makes every `read` fill the buffer as far as the input allows, so that pcap-parser's
/// first read sees a whole file header even through a decompressor that returns small pieces.
struct FillReader<R>(R);

impl<R: Read> Read for FillReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.0.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if n > 0 {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        Ok(n)
    }
}

/// Every event of a reader over `bytes`, as text, then its error or end, offset and counts.
fn events_text(bytes: &[u8], general_only: bool) -> Vec<String> {
    let mut r = match CaptureReader::new(std::io::Cursor::new(bytes.to_vec()), 0) {
        Ok(r) => r,
        Err(e) => return vec![format!("{e:?}")],
    };
    r.set_general_only(general_only);
    let mut out = vec![];
    loop {
        match r.next_event() {
            Ok(Some(Event::Frame(f))) => out.push(format!(
                "{} {:?} {} {} {} {:?}",
                f.number, f.ts, f.linktype, f.interface, f.orig_len, f.data
            )),
            Ok(Some(Event::Secrets(s))) => out.push(format!("{s:?}")),
            Ok(None) => break,
            Err(e) => {
                out.push(format!("{e:?}"));
                break;
            }
        }
    }
    out.push(format!(
        "offset {} frames {} skipped {} bad {}",
        r.offset(),
        r.frames(),
        r.skipped_blocks,
        r.bad_interface
    ));
    out
}

/// Whether the record shortcuts read `bytes` as pcap-parser does: the same frames, errors,
/// offsets and counts (for the `capture` fuzz target and the tests). On a difference, both
/// readings.
#[doc(hidden)]
pub fn shortcuts_agree(bytes: &[u8]) -> Result<(), (Vec<String>, Vec<String>)> {
    let (fast, general) = (events_text(bytes, false), events_text(bytes, true));
    if fast == general {
        Ok(())
    } else {
        Err((fast, general))
    }
}

/// Tests: every capture file under the public captures and `testdata` (pcap, pcapng, cap).
#[cfg(test)]
pub(crate) fn test_capture_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for root in ["../shared/captures/public", "testdata"] {
        let mut dirs = vec![std::path::PathBuf::from(root)];
        while let Some(d) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p
                    .extension()
                    .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
                {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

/// Asks the CPU to bring the 128 bytes at `data[at..]` into its cache (a hint: nothing is
/// read, and nothing happens past the end of `data` or on other architectures).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(data: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(next) = data.get(at..at + 128) {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = next.as_ptr().cast::<i8>();
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in the
        // target's baseline); a prefetch never faults, and both addresses are inside `next`.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_le(nanos: bool, frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        v.extend_from_slice(&magic.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        for (s, f, d) in frames {
            v.extend_from_slice(&s.to_le_bytes());
            v.extend_from_slice(&f.to_le_bytes());
            v.extend_from_slice(&(d.len() as u32).to_le_bytes());
            v.extend_from_slice(&(d.len() as u32).to_le_bytes());
            v.extend_from_slice(d);
        }
        v
    }

    fn collect(bytes: Vec<u8>) -> (Vec<(u64, Timestamp, usize)>, Option<CaptureError>) {
        let mut r = match CaptureReader::new(std::io::Cursor::new(bytes), 0) {
            Ok(r) => r,
            Err(e) => return (vec![], Some(e)),
        };
        let mut out = vec![];
        loop {
            match r.next_event() {
                Ok(Some(Event::Frame(f))) => out.push((f.number, f.ts, f.data.len())),
                Ok(Some(Event::Secrets(_))) => {}
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn pcap_micro_and_nano() {
        let (f, e) = collect(pcap_le(false, &[(10, 5, b"abcd"), (11, 0, b"xy")]));
        assert!(e.is_none());
        assert_eq!(
            f,
            vec![
                (1, Timestamp(10_000_005_000), 4),
                (2, Timestamp(11_000_000_000), 2)
            ]
        );
        let (f, _) = collect(pcap_le(true, &[(10, 5, b"abcd")]));
        assert_eq!(f, vec![(1, Timestamp(10_000_000_005), 4)]);
    }

    #[test]
    fn truncated_pcap_names_frame_and_offset() {
        let mut v = pcap_le(false, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        v.truncate(v.len() - 2);
        let (f, e) = collect(v);
        assert_eq!(f.len(), 1);
        match e {
            Some(CaptureError::Truncated { frame, offset }) => {
                assert_eq!(frame, 2);
                assert_eq!(offset, 24 + 16 + 4);
            }
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[test]
    fn not_a_capture() {
        let (_, e) = collect(b"hello world, this is not a capture file at all".to_vec());
        assert!(matches!(e, Some(CaptureError::NotACapture { .. })));
        let (_, e) = collect(vec![]);
        assert!(matches!(e, Some(CaptureError::NotACapture { .. })));
    }

    #[test]
    fn ng_timestamp_resolutions() {
        let micro = Interface {
            linktype: 1,
            snaplen: 0,
            resolution: 1_000_000,
            offset_s: 0,
        };
        assert_eq!(ng_ts(0, 1_500_000, &micro), Timestamp(1_500_000_000));
        let pow2 = Interface {
            resolution: 1 << 10,
            ..micro
        };
        assert_eq!(ng_ts(0, 1024 + 512, &pow2), Timestamp(1_500_000_000));
        let off = Interface {
            offset_s: 100,
            ..micro
        };
        assert_eq!(ng_ts(0, 0, &off), Timestamp(100_000_000_000));
    }

    /// A pcapng file: section header, one interface (microseconds), then the given blocks.
    fn pcapng(be: bool, blocks: &[Vec<u8>]) -> Vec<u8> {
        let w = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let mut v = Vec::new();
        for (t, body) in [
            (0x0a0d_0d0a_u32, {
                let mut b = Vec::new();
                w(&mut b, 0x1a2b_3c4d);
                b.extend_from_slice(&if be { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
                b.extend_from_slice(&[0xff; 8]);
                b
            }),
            (1, {
                let mut b = Vec::new();
                let lt_snap: [u8; 8] = if be {
                    [0, 1, 0, 0, 0, 0, 0xff, 0xff]
                } else {
                    [1, 0, 0, 0, 0xff, 0xff, 0, 0]
                };
                b.extend_from_slice(&lt_snap);
                b
            }),
        ] {
            w(&mut v, t);
            w(&mut v, 12 + body.len() as u32);
            v.extend_from_slice(&body);
            w(&mut v, 12 + body.len() as u32);
        }
        for b in blocks {
            v.extend_from_slice(b);
        }
        v
    }

    /// An Enhanced Packet Block; `opts` raw option bytes; `len2` overrides the trailing length.
    fn epb(
        be: bool,
        if_id: u32,
        ts: u64,
        data: &[u8],
        orig: u32,
        opts: &[u8],
        len2: Option<u32>,
    ) -> Vec<u8> {
        let w = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() })
        };
        let padded = (data.len() + 3) & !3;
        let len = (32 + padded + opts.len()) as u32;
        let mut v = Vec::new();
        w(&mut v, 6);
        w(&mut v, len);
        w(&mut v, if_id);
        w(&mut v, (ts >> 32) as u32);
        w(&mut v, ts as u32);
        w(&mut v, data.len() as u32);
        w(&mut v, orig);
        v.extend_from_slice(data);
        v.resize(v.len() + padded - data.len(), 0);
        v.extend_from_slice(opts);
        w(&mut v, len2.unwrap_or(len));
        v
    }

    /// The record shortcuts read what pcap-parser reads: the same frames, errors and offsets
    /// on every public and bundled capture (whole, and cut at several lengths); on legacy
    /// files little- and big-endian, micro- and nanosecond, snaplen-cut, over-long and in
    /// the modified format; on pcapng sections of both byte orders with blocks with options,
    /// an unknown interface, mismatched lengths and a cut block. Fails if a shortcut misreads
    /// a field or takes a block it must not.
    #[test]
    fn record_shortcuts_match_pcap_parser() {
        let files: Vec<_> = test_capture_files()
            .into_iter()
            .filter(|p| p.metadata().is_ok_and(|m| m.len() < 8 << 20))
            .collect();
        assert!(files.len() > 10, "captures not found: {files:?}");
        let mut legacy = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            legacy += usize::from(
                bytes
                    .get(..4)
                    .is_some_and(|m| m != [0x0a, 0x0d, 0x0d, 0x0a]),
            );
            for cut in [bytes.len(), bytes.len() * 2 / 3, 24 + 16 + 7, 24 + 10] {
                let b = &bytes[..cut.min(bytes.len())];
                if let Err((fast, general)) = shortcuts_agree(b) {
                    assert_eq!(fast, general, "{} cut at {cut}", path.display());
                }
            }
        }
        assert!(legacy > 5, "too few legacy pcap files: {legacy}");

        // Synthetic files: both byte orders, both resolutions, a snaplen cut, the modified
        // format, and a record whose length runs past the end.
        let frames: &[(u32, u32, &[u8])] = &[(10, 5, b"abcd"), (11, 999_999, b"xy"), (12, 0, b"")];
        let swap = |mut v: Vec<u8>| {
            for chunk in [0..4usize, 8..12, 12..16, 16..20, 20..24] {
                v[chunk].reverse();
            }
            v[4..6].reverse();
            v[6..8].reverse();
            let mut at = 24;
            while at + 16 <= v.len() {
                let caplen = u32::from_le_bytes(v[at + 8..at + 12].try_into().unwrap()) as usize;
                for f in 0..4 {
                    v[at + 4 * f..at + 4 * f + 4].reverse();
                }
                at += 16 + caplen;
            }
            v
        };
        let mut samples = vec![pcap_le(false, frames), pcap_le(true, frames)];
        samples.push(swap(pcap_le(false, frames)));
        samples.push(swap(pcap_le(true, frames)));
        let mut cut = pcap_le(false, frames);
        cut[24 + 12..24 + 16].copy_from_slice(&1500u32.to_le_bytes());
        samples.push(cut);
        let mut long = pcap_le(false, frames);
        long[24 + 8..24 + 12].copy_from_slice(&4000u32.to_le_bytes());
        samples.push(long);
        let mut modified = pcap_le(false, &[]);
        modified[..4].copy_from_slice(&0xa1b2_cd34u32.to_le_bytes());
        for (s, f, d) in frames {
            for x in [*s, *f, d.len() as u32, d.len() as u32] {
                modified.extend_from_slice(&x.to_le_bytes());
            }
            modified.extend_from_slice(&[0; 8]);
            modified.extend_from_slice(d);
        }
        samples.push(modified);
        for be in [false, true] {
            let opt = |code: u16, val: &[u8]| {
                let mut o = Vec::new();
                let c = if be {
                    code.to_be_bytes()
                } else {
                    code.to_le_bytes()
                };
                let l = if be {
                    (val.len() as u16).to_be_bytes()
                } else {
                    (val.len() as u16).to_le_bytes()
                };
                o.extend_from_slice(&c);
                o.extend_from_slice(&l);
                o.extend_from_slice(val);
                o.resize((o.len() + 3) & !3, 0);
                o
            };
            let flags = [opt(2, &[1, 0, 0, 0]), opt(0, &[])].concat();
            let good = |ts| epb(be, 0, ts, b"abcde", 5, &[], None);
            samples.push(pcapng(
                be,
                &[good(1_700_000_000_000_001), good(1_700_000_000_500_000)],
            ));
            samples.push(pcapng(
                be,
                &[good(1), epb(be, 0, 2, b"xyz", 1500, &flags, None), good(3)],
            ));
            samples.push(pcapng(
                be,
                &[good(1), epb(be, 7, 2, b"xyz", 3, &[], None), good(3)],
            ));
            samples.push(pcapng(
                be,
                &[good(1), epb(be, 0, 2, b"xyz", 3, &[], Some(99)), good(3)],
            ));
            samples.push(pcapng(be, &[good(1), epb(be, 0, 2, b"", 0, &[], None)]));
            let mut cut = pcapng(be, &[good(1), good(2)]);
            cut.truncate(cut.len() - 5);
            samples.push(cut);
        }
        for (i, b) in samples.iter().enumerate() {
            if let Err((fast, general)) = shortcuts_agree(b) {
                assert_eq!(fast, general, "sample {i}");
            }
            let got = events_text(b, false);
            assert!(got.len() > 1, "sample {i}: {got:?}");
        }
    }
}

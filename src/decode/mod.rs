//! Link and network decoding: Ethernet (with 802.1Q / Q-in-Q), Linux cooked SLL and SLL2,
//! raw IPv4/IPv6, BSD null/loopback → IPv4/IPv6 (with extension headers) → TCP/UDP views,
//! plus ARP. Uses etherparse's lax slicing so a snaplen-cut packet still yields what it can.
//! IP fragments are reassembled in [`defrag`] with caps.
//!
//! Owns: [`Decoder`], [`Packet`], [`Transport`]. Imports `crate::base`, `crate::capture`.

mod defrag;

use crate::base::{Timestamp, Weird};
use crate::capture::{Frame, linktype};
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice, UdpSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use defrag::{DefragKey, Defragmenter};

/// TCP header fields we use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

#[derive(Debug)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: &'a [u8],
    /// Payload bytes on the wire that the capture did not keep (snaplen).
    pub missing: u32,
}

#[derive(Debug)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    /// Another IP protocol (ICMP, ...), by number.
    Other(u8),
}

/// A decoded IP packet.
#[derive(Debug)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport<'a>,
}

/// The result of decoding one frame.
#[derive(Debug)]
pub enum Decoded<'a> {
    Ip(Packet<'a>),
    /// An ARP packet (the ARP header and body).
    Arp(&'a [u8]),
    /// A fragment held for reassembly.
    FragmentHeld,
    /// Not IP/ARP, or a link type we do not decode; not an error.
    Ignored,
    /// Malformed: reported as an anomaly.
    Malformed(Weird),
}

/// Decodes frames; keeps the IP fragment reassembly state.
#[derive(Default)]
pub struct Decoder {
    defrag: Defragmenter,
    /// Reassembled datagram of the current frame (valid until the next call).
    scratch: Vec<u8>,
    /// Link types seen that we cannot decode (reported once each).
    pub unknown_linktypes: Vec<i32>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Weird records from fragment reassembly (caps hit, overlaps).
    pub fn weirds(&mut self) -> Vec<Weird> {
        self.defrag.weirds()
    }

    /// Whether [`Decoder::weirds`] has anything to return.
    #[inline]
    pub fn has_weirds(&self) -> bool {
        self.defrag.has_weirds()
    }

    /// Expire stale fragments.
    pub fn expire(&mut self, now: Timestamp) {
        self.defrag.expire(now);
    }

    /// Inlined for the same reason as [`fast_path`]; the lax path stays out of line.
    #[inline(always)]
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        if let Some(p) = fast_path(frame) {
            return Decoded::Ip(p);
        }
        self.decode_lax(frame)
    }

    /// Every frame through etherparse's lax slicing (the fast path's fallback, and its
    /// reference in tests).
    #[inline(never)]
    fn decode_lax<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        let ts = frame.ts;
        let data = frame.data;
        let sliced = match frame.linktype {
            linktype::ETHERNET => match LaxSlicedPacket::from_ethernet(data) {
                Ok(p) => p,
                Err(e) => return malformed(ts, "link-truncated", format!("ethernet: {e}")),
            },
            linktype::RAW
            | linktype::RAW_ALT1
            | linktype::RAW_ALT2
            | linktype::IPV4
            | linktype::IPV6 => match LaxSlicedPacket::from_ip(data) {
                Ok(p) => p,
                Err(e) => return malformed(ts, "ip-malformed", format!("raw ip: {e}")),
            },
            linktype::LINUX_SLL => {
                let (Some(proto), Some(rest)) = (be16(data, 14), data.get(16..)) else {
                    return malformed(ts, "link-truncated", "linux cooked header too short");
                };
                LaxSlicedPacket::from_ether_type(EtherType(proto), rest)
            }
            linktype::LINUX_SLL2 => {
                let (Some(proto), Some(rest)) = (be16(data, 0), data.get(20..)) else {
                    return malformed(ts, "link-truncated", "linux cooked v2 header too short");
                };
                LaxSlicedPacket::from_ether_type(EtherType(proto), rest)
            }
            linktype::NULL | linktype::LOOP => {
                let Some(head) = data.get(..4) else {
                    return malformed(ts, "link-truncated", "loopback header too short");
                };
                let le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
                let be = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                let family = if le < 256 { le } else { be };
                let et = match family {
                    2 => EtherType::IPV4,
                    24 | 28 | 30 => EtherType::IPV6,
                    _ => return Decoded::Ignored,
                };
                LaxSlicedPacket::from_ether_type(et, &data[4..])
            }
            other => {
                if !self.unknown_linktypes.contains(&other) && self.unknown_linktypes.len() < 64 {
                    self.unknown_linktypes.push(other);
                }
                return Decoded::Ignored;
            }
        };
        self.sliced(ts, &sliced)
    }

    fn sliced<'a>(&'a mut self, ts: Timestamp, p: &LaxSlicedPacket<'a>) -> Decoded<'a> {
        let Some(net) = &p.net else {
            if let Some((err, _)) = &p.stop_err {
                return malformed(ts, "ip-malformed", err.to_string());
            }
            return Decoded::Ignored;
        };
        let (src, dst, payload, frag) = match &net {
            LaxNetSlice::Arp(arp) => return Decoded::Arp(arp.slice()),
            LaxNetSlice::Ipv4(v4) => {
                let h = v4.header();
                let src = IpAddr::V4(h.source_addr());
                let dst = IpAddr::V4(h.destination_addr());
                let frag = if v4.is_payload_fragmented() {
                    Some((
                        DefragKey {
                            src,
                            dst,
                            id: h.identification() as u32,
                            proto: h.protocol().0,
                        },
                        h.fragments_offset().byte_offset() as usize,
                        h.more_fragments(),
                    ))
                } else {
                    None
                };
                (src, dst, v4.payload(), frag)
            }
            LaxNetSlice::Ipv6(v6) => {
                let h = v6.header();
                let src = IpAddr::V6(h.source_addr());
                let dst = IpAddr::V6(h.destination_addr());
                let frag = if v6.is_payload_fragmented() {
                    ipv6_fragment(v6.extensions().first_header(), v6.extensions().slice()).map(
                        |(id, off, more)| {
                            (
                                DefragKey {
                                    src,
                                    dst,
                                    id,
                                    proto: v6.payload().ip_number.0,
                                },
                                off,
                                more,
                            )
                        },
                    )
                } else {
                    None
                };
                (src, dst, v6.payload(), frag)
            }
        };
        if let Some((key, offset, more)) = frag {
            if payload.incomplete {
                return malformed(ts, "ip-fragment-truncated", "fragment cut by snaplen");
            }
            return match self.defrag.add(ts, key, offset, more, payload.payload) {
                Some(datagram) => {
                    self.scratch = datagram;
                    let t = parse_transport(key.proto, &self.scratch, 0);
                    match t {
                        Ok(transport) => Decoded::Ip(Packet {
                            src,
                            dst,
                            transport,
                        }),
                        Err(w) => malformed(ts, "transport-malformed", w),
                    }
                }
                None => Decoded::FragmentHeld,
            };
        }
        // The declared payload length minus what the capture kept.
        let missing = 0u32;
        let transport = match &p.transport {
            Some(TransportSlice::Tcp(tcp)) => {
                let wire_len = if payload.incomplete {
                    None
                } else {
                    Some(payload.payload.len())
                };
                tcp_view(tcp, wire_len)
            }
            Some(TransportSlice::Udp(udp)) => Transport::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp_payload(udp, payload.payload),
            },
            Some(_) => Transport::Other(payload.ip_number.0),
            None => match payload.ip_number.0 {
                6 | 17 => {
                    if let Some((err, _)) = &p.stop_err {
                        return malformed(ts, "transport-malformed", err.to_string());
                    }
                    return malformed(ts, "transport-malformed", "transport header cut");
                }
                n => Transport::Other(n),
            },
        };
        let _ = missing;
        Decoded::Ip(Packet {
            src,
            dst,
            transport,
        })
    }
}

/// The common case without the lax slicer's copies: Ethernet II or raw IP carrying a whole,
/// unfragmented IPv4 or IPv6 (no extension headers) packet with a valid TCP header, or UDP
/// whose length field matches the IP payload. Anything else (VLAN tags, fragments, snaplen
/// cuts, padding-free oddities, malformed headers) returns `None` and takes the lax path,
/// which gives the same answer for these frames (tested on every public capture).
///
/// Inlined into its caller: returned through memory, the packet was written field by field
/// and read back in 16-byte loads that could not take the stores' values directly (a stall
/// on every packet; the hottest instruction of `Analyzer::process` in perf).
#[inline(always)]
fn fast_path<'a>(frame: &Frame<'a>) -> Option<Packet<'a>> {
    let d = frame.data;
    let ip = match frame.linktype {
        linktype::ETHERNET => match d.get(12..14)? {
            [0x08, 0x00] | [0x86, 0xdd] => d.get(14..)?,
            _ => return None,
        },
        linktype::RAW | linktype::RAW_ALT1 | linktype::RAW_ALT2 => d,
        _ => return None,
    };
    let (src, dst, proto, payload) = match ip.first()? >> 4 {
        4 => {
            let h = etherparse::Ipv4HeaderSlice::from_slice(ip).ok()?;
            let total = usize::from(h.total_len());
            let hlen = h.slice().len();
            if h.is_fragmenting_payload() || total < hlen || total > ip.len() {
                return None;
            }
            let src = IpAddr::V4(h.source_addr());
            let dst = IpAddr::V4(h.destination_addr());
            (src, dst, h.protocol().0, ip.get(hlen..total)?)
        }
        6 => {
            let h = etherparse::Ipv6HeaderSlice::from_slice(ip).ok()?;
            let len = usize::from(h.payload_length());
            if len == 0 || 40 + len > ip.len() {
                return None;
            }
            let src = IpAddr::V6(h.source_addr());
            let dst = IpAddr::V6(h.destination_addr());
            (src, dst, h.next_header().0, ip.get(40..40 + len)?)
        }
        _ => return None,
    };
    let transport = match proto {
        6 => {
            let t = etherparse::TcpHeaderSlice::from_slice(payload).ok()?;
            Transport::Tcp(TcpSegment {
                src_port: t.source_port(),
                dst_port: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: TcpFlags {
                    syn: t.syn(),
                    ack: t.ack(),
                    fin: t.fin(),
                    rst: t.rst(),
                    psh: t.psh(),
                },
                window: t.window_size(),
                payload: payload.get(t.slice().len()..)?,
                missing: 0,
            })
        }
        17 => {
            let u = etherparse::UdpHeaderSlice::from_slice(payload).ok()?;
            if usize::from(u.length()) != payload.len() {
                return None;
            }
            Transport::Udp {
                src_port: u.source_port(),
                dst_port: u.destination_port(),
                payload: payload.get(8..)?,
            }
        }
        _ => return None,
    };
    Some(Packet {
        src,
        dst,
        transport,
    })
}

/// Whether the fast path, where it answers, answers as the lax slicer does (for the
/// `capture` fuzz target and the tests; `true` where the fast path declines).
#[doc(hidden)]
pub fn fast_path_agrees(frame: &Frame<'_>) -> bool {
    let Some(p) = fast_path(frame) else {
        return true;
    };
    let mut d = Decoder::new();
    format!("{:?}", Decoded::Ip(p)) == format!("{:?}", d.decode_lax(frame))
}

fn malformed<'a>(ts: Timestamp, kind: &'static str, detail: impl Into<String>) -> Decoded<'a> {
    Decoded::Malformed(Weird::new(ts, kind, detail))
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn tcp_view<'a>(tcp: &TcpSlice<'a>, wire_len: Option<usize>) -> Transport<'a> {
    let payload = tcp.payload();
    let missing = wire_len
        .map(|w| w.saturating_sub(tcp.slice().len()))
        .unwrap_or(0) as u32;
    Transport::Tcp(TcpSegment {
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
        },
        window: tcp.window_size(),
        payload,
        missing,
    })
}

/// UDP payload bounded by the UDP length field when it is shorter than the IP payload.
fn udp_payload<'a>(udp: &UdpSlice<'a>, _ip_payload: &'a [u8]) -> &'a [u8] {
    let p = udp.payload();
    let declared = (udp.length() as usize).saturating_sub(8);
    if declared > 0 && declared < p.len() {
        &p[..declared]
    } else {
        p
    }
}

/// Parses the transport header of a reassembled datagram.
fn parse_transport(proto: u8, data: &[u8], _unused: usize) -> Result<Transport<'_>, String> {
    match proto {
        6 => TcpSlice::from_slice(data)
            .map(|t| tcp_view(&t, Some(data.len())))
            .map_err(|e| format!("tcp in reassembled datagram: {e}")),
        17 => UdpSlice::from_slice_lax(data)
            .map(|u| Transport::Udp {
                src_port: u.source_port(),
                dst_port: u.destination_port(),
                payload: u.payload(),
            })
            .map_err(|e| format!("udp in reassembled datagram: {e}")),
        n => Ok(Transport::Other(n)),
    }
}

/// Walks IPv6 extension headers to the fragment header: (identification, offset, more).
fn ipv6_fragment(first: Option<etherparse::IpNumber>, exts: &[u8]) -> Option<(u32, usize, bool)> {
    let mut next = first?.0;
    let mut rest = exts;
    for _ in 0..16 {
        match next {
            44 => {
                let h = etherparse::Ipv6FragmentHeaderSlice::from_slice(rest).ok()?;
                return Some((
                    h.identification(),
                    h.fragment_offset().byte_offset() as usize,
                    h.more_fragments(),
                ));
            }
            0 | 43 | 60 | 135 | 139 | 140 => {
                let nh = *rest.first()?;
                let len = (*rest.get(1)? as usize + 1) * 8;
                rest = rest.get(len..)?;
                next = nh;
            }
            51 => {
                let nh = *rest.first()?;
                let len = (*rest.get(1)? as usize + 2) * 4;
                rest = rest.get(len..)?;
                next = nh;
            }
            _ => return None,
        }
    }
    None
}

/// Convenience for tests and the summary.
pub fn ip_is_multicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || *a == Ipv4Addr::BROADCAST,
        IpAddr::V6(a) => a.is_multicast() || *a == Ipv6Addr::UNSPECIFIED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Frame;

    fn frame(linktype: i32, data: &[u8]) -> Frame<'_> {
        Frame {
            number: 1,
            ts: Timestamp(0),
            linktype,
            interface: 0,
            data,
            orig_len: data.len() as u32,
        }
    }

    /// IPv4/TCP SYN from illustrated-tls13 capture frame 1 style (hand-built, checksums zero).
    fn ipv4_tcp_syn() -> Vec<u8> {
        let mut v = vec![
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
        ];
        v.extend_from_slice(&[
            0xc0, 0x00, 0x01, 0xbb, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        v
    }

    #[test]
    fn raw_ip_tcp_syn() {
        let pkt = ipv4_tcp_syn();
        let mut d = Decoder::new();
        match d.decode(&frame(linktype::RAW, &pkt)) {
            Decoded::Ip(p) => {
                assert_eq!(p.src, "192.168.0.1".parse::<IpAddr>().unwrap());
                match p.transport {
                    Transport::Tcp(t) => {
                        assert_eq!(t.dst_port, 443);
                        assert_eq!(t.seq, 100);
                        assert!(t.flags.syn && !t.flags.ack);
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_and_sll2_links() {
        let ip = ipv4_tcp_syn();
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        let mut d = Decoder::new();
        assert!(matches!(
            d.decode(&frame(linktype::NULL, &null)),
            Decoded::Ip(_)
        ));
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        assert!(matches!(
            d.decode(&frame(linktype::LINUX_SLL2, &sll2)),
            Decoded::Ip(_)
        ));
    }

    /// The fast path agrees with the lax slicer wherever it answers: on every frame of the
    /// public captures and the bundled test captures, and on each of them with bytes of the
    /// headers flipped (lengths, versions, offsets, flags).
    #[test]
    fn fast_path_agrees_with_lax_slicing() {
        use crate::capture::{CaptureReader, Event};
        let files = crate::capture::test_capture_files();
        assert!(files.len() > 10, "captures not found: {files:?}");
        let (mut fast, mut total) = (0u64, 0u64);
        let mut check = |f: &Frame<'_>| {
            total += 1;
            if fast_path(f).is_some() {
                fast += 1;
            }
            assert!(
                fast_path_agrees(f),
                "frame {} linktype {}: {:?}",
                f.number,
                f.linktype,
                f.data
            );
        };
        for path in &files {
            let Ok(file) = std::fs::File::open(path) else {
                continue;
            };
            let Ok(mut r) = CaptureReader::new(std::io::BufReader::new(file), 1) else {
                continue;
            };
            let mut n = 0;
            while let Ok(Some(ev)) = r.next_event() {
                let Event::Frame(f) = ev else {
                    continue;
                };
                n += 1;
                if n > 2000 {
                    break;
                }
                check(&f);
                if n > 100 {
                    continue;
                }
                // Header bytes mutated one at a time: link, IP and transport headers.
                let mut buf = f.data.to_vec();
                for i in (0..buf.len().min(80)).step_by(3) {
                    for x in [0x00u8, 0xff, 0x45, 0x60, 0x05] {
                        let old = buf[i];
                        buf[i] = x;
                        check(&Frame { data: &buf, ..f });
                        buf[i] = old;
                    }
                }
                // Cut short.
                for cut in [14, 20, 34, 40, 54, 60] {
                    if cut < f.data.len() {
                        check(&Frame {
                            data: &f.data[..cut],
                            ..f
                        });
                    }
                }
            }
        }
        assert!(
            fast > 1000,
            "the fast path answered {fast} of {total} frames"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut d = Decoder::new();
        for lt in [0, 1, 101, 108, 113, 228, 229, 276, 999] {
            for len in 0..64 {
                let data: Vec<u8> = (0..len).map(|i| (i * 37 + lt as usize) as u8).collect();
                let _ = d.decode(&frame(lt, &data));
            }
        }
    }
}

//! The bare floor pass that `bench/run.sh` compares `lifecycle analyze` against.
//!
//! `cargo run --release --example floor -- CAPTURE`
//!
//! Reads a pcap or pcapng file with pcap-parser's streaming reader (1 MiB buffer,
//! refill/consume loop), slices every frame with `etherparse::LaxSlicedPacket`, and counts
//! packets and bytes per direction-less 5-tuple in an `FxHashMap`. No reassembly, no
//! protocol parsing, no output tables: it is the least work any flow analyser must do,
//! so `lifecycle seconds / floor seconds` says what the rest of the pipeline costs.
//!
//! Prints one line: `packets=… flows=… bytes=… non_ip=…`.

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};
use rustc_hash::FxHashMap;
use std::fs::File;
use std::net::IpAddr;
use std::process::ExitCode;

/// One side of a flow: address and port (0 for protocols without ports).
type Side = (u128, u16);

/// A direction-less 5-tuple: the two sides in sorted order plus the IP protocol.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: Side,
    hi: Side,
    proto: u8,
}

#[derive(Default)]
struct Counts {
    packets: u64,
    bytes: u64,
}

#[derive(Default)]
struct Tally {
    flows: FxHashMap<FlowKey, Counts>,
    packets: u64,
    bytes: u64,
    non_ip: u64,
}

impl Tally {
    fn count(&mut self, frame: &[u8]) {
        self.packets += 1;
        self.bytes += frame.len() as u64;
        match flow_key(frame) {
            Some(key) => {
                let c = self.flows.entry(key).or_default();
                c.packets += 1;
                c.bytes += frame.len() as u64;
            }
            None => self.non_ip += 1,
        }
    }
}

fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn flow_key(frame: &[u8]) -> Option<FlowKey> {
    let pkt = LaxSlicedPacket::from_ethernet(frame).ok()?;
    let (src, dst, proto) = match pkt.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.protocol().0,
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                ip.payload().ip_number.0,
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let (sport, dport) = match &pkt.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        _ => (0, 0),
    };
    let a = (addr_bits(src), sport);
    let b = (addr_bits(dst), dport);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Some(FlowKey { lo, hi, proto })
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: floor CAPTURE");
        return ExitCode::from(2);
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("floor: {}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    let mut reader = match create_reader(1 << 20, file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("floor: {}: {e:?}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };

    let mut t = Tally::default();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::Legacy(b) => {
                        t.count(&b.data[..(b.caplen as usize).min(b.data.len())])
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(b)) => {
                        t.count(&b.data[..(b.caplen as usize).min(b.data.len())])
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(b)) => t.count(b.data),
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    eprintln!("floor: read error: {e:?}");
                    return ExitCode::from(1);
                }
            }
            Err(e) => {
                eprintln!("floor: parse error after {} packets: {e:?}", t.packets);
                return ExitCode::from(1);
            }
        }
    }
    println!(
        "packets={} flows={} bytes={} non_ip={}",
        t.packets,
        t.flows.len(),
        t.bytes,
        t.non_ip
    );
    ExitCode::SUCCESS
}

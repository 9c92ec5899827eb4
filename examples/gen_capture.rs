//! Writes a deterministic, realistic benchmark capture.
//!
//! `cargo run --release --example gen_capture -- OUT.pcap SIZE_MB [SEED]`
//!
//! The file is a little-endian, microsecond, Ethernet pcap of about SIZE_MB megabytes
//! (10^6 bytes), as seen from the LAN side of an office router:
//!
//! - a client population 10.0.1.1 … 10.0.2.250 behind a gateway whose resolver is 10.0.0.1;
//! - web-like sessions against a few thousand named servers: DNS over UDP 53 (A, AAAA and
//!   HTTPS/type 65 queries with EDNS, answers with CNAME/A, AAAA, HTTPS or NODATA+SOA),
//!   then a TCP connection to port 443 (SYN with MSS/SACK/timestamps/window scale) carrying
//!   a real TLS 1.3 ClientHello (SNI, ALPN h2/http1.1, supported_versions, key_share, …),
//!   ServerHello + ChangeCipherSpec + encrypted handshake, then rounds of application-data
//!   requests and responses of realistic sizes, close_notify, FIN close (a few RSTs);
//! - about one in eight sessions is plain HTTP/1.1 on port 80 (GET with Host, 200 with
//!   Content-Length), keep-alive with several requests;
//! - a few long downloads (5–25 MB, one every ~75 s, HTTPS or HTTP) sent in MSS-1448
//!   segments, one congestion window per round trip;
//! - a small fraction of server segments reordered, lost before the capture point and
//!   retransmitted, or duplicated, with the client's (dup) ACKs following from them;
//! - about one web session in twenty is left open without FIN/RST, so analysers must expire
//!   it by idle time.
//!
//! Round trips are 20–80 ms, connections overlap, and the capture averages roughly 1 MB/s,
//! so the time span grows with the size (about 8 minutes per 500 MB) and idle flows
//! expire in analysers. IPv4, TCP and UDP checksums are correct; TCP sequence and
//! acknowledgement numbers are consistent. The generator streams to a `BufWriter` and
//! keeps only the packets of the current phase of each live session in memory.
//!
//! Same arguments, same bytes: everything comes from one seeded PRNG (default seed 1).
//! A summary (packets, sessions, time span) goes to standard error.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// 2024-03-01 09:00:00 UTC, in nanoseconds.
const START_NS: u64 = 1_709_283_600 * 1_000_000_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// TCP payload per full segment (MSS 1460 minus 12 bytes of timestamp option).
const SEG: usize = 1448;
const CLIENTS: u32 = 500;
const SERVERS: usize = 3000;
/// Mean gap between the starts of two web sessions (capture time).
const WEB_GAP_MEAN_NS: f64 = 150.0 * MS as f64;
/// Mean gap between the starts of two long downloads (capture time).
const DOWNLOAD_GAP_MEAN_NS: f64 = 75.0 * SEC as f64;
const GW_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x01];
const RESOLVER: [u8; 4] = [10, 0, 0, 1];

// ---------------------------------------------------------------------------------------
// Deterministic randomness

/// splitmix64: tiny, fast, and good enough for traffic shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + ((u128::from(self.next()) * u128::from(hi - lo)) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.range(0, xs.len() as u64) as usize]
    }
    fn fill(&mut self, out: &mut Vec<u8>, n: usize) {
        let start = out.len();
        out.resize(start + n, 0);
        for chunk in out[start..].chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Frames

struct Pkt {
    ts: u64,
    frame: Vec<u8>,
}

fn client_mac(ip: [u8; 4]) -> [u8; 6] {
    [0x02, 0x00, ip[0], ip[1], ip[2], ip[3]]
}

/// Ethernet + IPv4 header with zero lengths and checksums; `finish_ipv4` patches them.
#[allow(clippy::too_many_arguments)]
fn begin_ipv4(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    ttl: u8,
    cap: usize,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(34 + cap);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0x00, 0, 0]);
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&[0x40, 0x00, ttl, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f
}

fn sum16(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Sets IPv4 total length and checksum, UDP length, and the TCP/UDP checksum.
fn finish_ipv4(f: &mut [u8]) {
    let ip_len = f.len() - 14;
    f[16..18].copy_from_slice(&(ip_len as u16).to_be_bytes());
    let c = fold(sum16(&f[14..34], 0));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let proto = f[23];
    let l4_len = ip_len - 20;
    let ck_off = match proto {
        6 => 34 + 16,
        17 => {
            f[38..40].copy_from_slice(&(l4_len as u16).to_be_bytes());
            34 + 6
        }
        _ => return,
    };
    let mut acc = sum16(&f[26..34], 0) + u64::from(proto) + l4_len as u64;
    acc = sum16(&f[34..], acc);
    let mut c = fold(acc);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    f[ck_off..ck_off + 2].copy_from_slice(&c.to_be_bytes());
}

#[allow(clippy::too_many_arguments)]
fn udp_frame(
    ts: u64,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    id: u16,
    ttl: u8,
    payload: &[u8],
) -> Pkt {
    let mut f = begin_ipv4(
        src_mac,
        dst_mac,
        src.0,
        dst.0,
        17,
        id,
        ttl,
        8 + payload.len(),
    );
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    finish_ipv4(&mut f);
    Pkt { ts, frame: f }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

// ---------------------------------------------------------------------------------------
// DNS

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn dns_header(out: &mut Vec<u8>, id: u16, flags: u16, an: u16, ns: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for n in [1, an, ns, 1] {
        out.extend_from_slice(&u16::to_be_bytes(n));
    }
}

fn edns_opt(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
}

fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    dns_header(&mut m, id, 0x0100, 0, 0);
    put_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    edns_opt(&mut m);
    m
}

/// Resource record header; returns the offset of RDLENGTH for patching.
fn rr_head(m: &mut Vec<u8>, owner_ptr: u16, rtype: u16, ttl: u32) -> usize {
    m.extend_from_slice(&(0xc000 | owner_ptr).to_be_bytes());
    m.extend_from_slice(&rtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&ttl.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.len() - 2
}

fn rr_done(m: &mut [u8], len_at: usize) {
    let n = (m.len() - len_at - 2) as u16;
    m[len_at..len_at + 2].copy_from_slice(&n.to_be_bytes());
}

fn dns_response(rng: &mut Rng, id: u16, server: &Server, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(256);
    dns_header(&mut m, id, 0x8180, 0, 0);
    put_name(&mut m, &server.name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    let ttl = *rng.pick(&[60u32, 300, 300, 3600, 20, 86400]);
    let (mut an, mut ns) = (0u16, 0u16);
    // Owner of the final records: the query name (offset 12) or the CNAME target.
    let mut owner = 12u16;
    let has_answer = match qtype {
        1 => true,
        28 => server.has_v6,
        _ => server.has_https_rr,
    };
    if has_answer
        && qtype != 65
        && let Some(cname) = &server.cname
    {
        let at = rr_head(&mut m, 12, 5, ttl);
        owner = m.len() as u16;
        put_name(&mut m, cname);
        rr_done(&mut m, at);
        an += 1;
    }
    if has_answer {
        match qtype {
            1 => {
                for k in 0..server.n_addrs {
                    let at = rr_head(&mut m, owner, 1, ttl);
                    let mut ip = server.ip;
                    ip[3] = ip[3].wrapping_add(k);
                    m.extend_from_slice(&ip);
                    rr_done(&mut m, at);
                    an += 1;
                }
            }
            28 => {
                for k in 0..server.n_addrs {
                    let at = rr_head(&mut m, owner, 28, ttl);
                    m.extend_from_slice(&[0x26, 0x06, 0x47, 0x00, 0, 0, 0, 0]);
                    m.extend_from_slice(&server.ip);
                    m.extend_from_slice(&[0, 0, 0, k + 1]);
                    rr_done(&mut m, at);
                    an += 1;
                }
            }
            _ => {
                // HTTPS RR: priority 1, target ".", alpn="h2,h3", ipv4hint.
                let at = rr_head(&mut m, owner, 65, ttl);
                m.extend_from_slice(&[0, 1, 0]);
                m.extend_from_slice(&[0, 1, 0, 6, 2, b'h', b'2', 2, b'h', b'3']);
                m.extend_from_slice(&[0, 4, 0, 4]);
                m.extend_from_slice(&server.ip);
                rr_done(&mut m, at);
                an += 1;
            }
        }
    } else {
        // NODATA: SOA of the zone apex in the authority section.
        let apex = server
            .name
            .split_once('.')
            .map_or(server.name.as_str(), |(_, a)| a);
        put_name(&mut m, apex);
        m.extend_from_slice(&[0, 6, 0, 1]);
        m.extend_from_slice(&900u32.to_be_bytes());
        let at = m.len();
        m.extend_from_slice(&[0, 0]);
        put_name(&mut m, &format!("ns1.{apex}"));
        put_name(&mut m, &format!("hostmaster.{apex}"));
        for v in [2024022901u32, 7200, 3600, 1209600, 300] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        rr_done(&mut m, at);
        ns += 1;
    }
    edns_opt(&mut m);
    m[6..8].copy_from_slice(&an.to_be_bytes());
    m[8..10].copy_from_slice(&ns.to_be_bytes());
    m
}

// ---------------------------------------------------------------------------------------
// TLS

fn u16be(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u16).to_be_bytes());
}

fn ext(out: &mut Vec<u8>, typ: u16, body: &[u8]) {
    out.extend_from_slice(&typ.to_be_bytes());
    u16be(out, body.len());
    out.extend_from_slice(body);
}

/// A Chrome/Firefox-shaped TLS 1.3 ClientHello record, padded to 517 bytes when short.
fn client_hello(rng: &mut Rng, sni: &str, alpn_h2: bool) -> Vec<u8> {
    let mut exts = Vec::with_capacity(512);
    let mut b = Vec::new();
    u16be(&mut b, sni.len() + 3);
    b.push(0);
    u16be(&mut b, sni.len());
    b.extend_from_slice(sni.as_bytes());
    ext(&mut exts, 0x0000, &b);
    ext(&mut exts, 0x0017, &[]);
    ext(&mut exts, 0xff01, &[0]);
    ext(
        &mut exts,
        0x000a,
        &[0, 8, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19],
    );
    ext(&mut exts, 0x000b, &[1, 0]);
    ext(&mut exts, 0x0023, &[]);
    let alpn: &[u8] = if alpn_h2 {
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ]
    } else {
        &[0, 9, 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1']
    };
    ext(&mut exts, 0x0010, alpn);
    ext(&mut exts, 0x0005, &[1, 0, 0, 0, 0]);
    ext(
        &mut exts,
        0x000d,
        &[0, 16, 4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1, 8, 6, 6, 1],
    );
    ext(&mut exts, 0x0012, &[]);
    let mut ks = vec![0, 36, 0x00, 0x1d, 0, 32];
    rng.fill(&mut ks, 32);
    ext(&mut exts, 0x0033, &ks);
    ext(&mut exts, 0x002d, &[1, 1]);
    ext(&mut exts, 0x002b, &[4, 3, 4, 3, 3]);
    ext(&mut exts, 0x001b, &[2, 0, 2]);

    let mut hello = Vec::with_capacity(520);
    hello.extend_from_slice(&[0x03, 0x03]);
    rng.fill(&mut hello, 32);
    hello.push(32);
    rng.fill(&mut hello, 32);
    let suites: [u16; 15] = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    u16be(&mut hello, suites.len() * 2);
    for s in suites {
        hello.extend_from_slice(&s.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]);
    // Padding extension (RFC 7685) to a 508-byte handshake body, as browsers do.
    let unpadded = hello.len() + 2 + exts.len();
    if unpadded + 4 < 508 {
        let pad = 508 - unpadded - 4;
        ext(&mut exts, 0x0015, &vec![0; pad]);
    }
    u16be(&mut hello, exts.len());
    hello.extend_from_slice(&exts);

    let mut rec = Vec::with_capacity(hello.len() + 9);
    rec.extend_from_slice(&[0x16, 0x03, 0x01]);
    u16be(&mut rec, hello.len() + 4);
    rec.push(0x01);
    rec.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    rec.extend_from_slice(&hello);
    rec
}

/// ServerHello + ChangeCipherSpec + the encrypted rest of the handshake.
fn server_hello_flight(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut sh = Vec::with_capacity(128);
    sh.extend_from_slice(&[0x03, 0x03]);
    rng.fill(&mut sh, 32);
    sh.push(32);
    rng.fill(&mut sh, 32);
    sh.extend_from_slice(&[0x13, 0x01, 0x00]);
    let mut exts = Vec::new();
    ext(&mut exts, 0x002b, &[0x03, 0x04]);
    let mut ks = vec![0x00, 0x1d, 0, 32];
    rng.fill(&mut ks, 32);
    ext(&mut exts, 0x0033, &ks);
    u16be(&mut sh, exts.len());
    sh.extend_from_slice(&exts);
    out.extend_from_slice(&[0x16, 0x03, 0x03]);
    u16be(out, sh.len() + 4);
    out.push(0x02);
    out.extend_from_slice(&(sh.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&sh);
    out.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    // EncryptedExtensions + Certificate + CertificateVerify + Finished.
    let n = rng.range(2300, 5200) as usize;
    app_data(rng, out, n);
}

/// TLS application-data records carrying `plain` bytes (16 KiB records, 17-byte tag+type).
fn app_data(rng: &mut Rng, out: &mut Vec<u8>, mut plain: usize) {
    while plain > 0 {
        let p = plain.min(16384);
        plain -= p;
        out.extend_from_slice(&[0x17, 0x03, 0x03]);
        u16be(out, p + 17);
        rng.fill(out, p + 17);
    }
}

/// A response body of `len` bytes: `len` bytes of HTML-ish text.
fn http_body(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    const WORDS: [&str; 12] = [
        "<div class=\"item\">",
        "</div>\n",
        "lorem ",
        "ipsum ",
        "dolor ",
        "<span>",
        "</span>",
        "sit amet ",
        "<a href=\"/p/",
        "\">link</a>",
        "consectetur ",
        "adipiscing ",
    ];
    let end = out.len() + len;
    while out.len() < end {
        let w = rng.pick(&WORDS).as_bytes();
        let take = w.len().min(end - out.len());
        out.extend_from_slice(&w[..take]);
    }
}

// ---------------------------------------------------------------------------------------
// Servers and clients

struct Server {
    name: String,
    ip: [u8; 4],
    cname: Option<String>,
    n_addrs: u8,
    has_v6: bool,
    has_https_rr: bool,
}

fn make_servers(rng: &mut Rng) -> Vec<Server> {
    const SYL: [&str; 24] = [
        "ka", "lo", "mi", "tra", "ven", "zo", "pex", "ri", "sol", "nu", "bel", "cor", "dan", "fi",
        "gru", "hal", "jet", "lum", "mar", "nix", "or", "qua", "sto", "vi",
    ];
    const PREFIX: [&str; 14] = [
        "www", "www", "www", "cdn", "api", "static", "img", "assets", "edge", "m", "login",
        "media", "fonts", "ads",
    ];
    const TLD: [&str; 9] = [
        "com", "com", "com", "net", "org", "io", "co.uk", "de", "app",
    ];
    const NETS: [u8; 12] = [23, 31, 34, 52, 93, 104, 142, 151, 157, 185, 199, 203];
    (0..SERVERS)
        .map(|_| {
            let mut word = String::new();
            for _ in 0..rng.range(2, 4) {
                word.push_str(rng.pick::<&str>(&SYL));
            }
            let name = format!("{}.{}.{}", rng.pick(&PREFIX), word, rng.pick(&TLD));
            let cname = rng.chance(0.3).then(|| {
                format!(
                    "{word}.{}",
                    rng.pick(&[
                        "edgekey.net",
                        "cdn.cloudflare.net",
                        "fastly.net",
                        "akamaized.net"
                    ])
                )
            });
            let ip = [
                *rng.pick(&NETS),
                rng.range(0, 256) as u8,
                rng.range(0, 256) as u8,
                rng.range(1, 240) as u8,
            ];
            Server {
                name,
                ip,
                cname,
                n_addrs: rng.range(1, 5) as u8,
                has_v6: rng.chance(0.6),
                has_https_rr: rng.chance(0.35),
            }
        })
        .collect()
}

fn client_ip(i: u32) -> [u8; 4] {
    [10, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8]
}

// ---------------------------------------------------------------------------------------
// TCP connection model (capture point on the client's LAN)

struct Conn {
    cmac: [u8; 6],
    cip: [u8; 4],
    cport: u16,
    sip: [u8; 4],
    sport: u16,
    /// Next sequence number each side sends.
    c_seq: u32,
    s_seq: u32,
    /// Next sequence number each side expects (its ACK field).
    c_ack: u32,
    s_ack: u32,
    c_ts_off: u32,
    s_ts_off: u32,
    c_id: u16,
    s_id: u16,
    rtt: u64,
    /// Serialization time of a full-sized segment on the path's bottleneck.
    seg_gap: u64,
}

impl Conn {
    fn tcp(&mut self, ts: u64, from_client: bool, flags: u8, seq: u32, payload: &[u8]) -> Pkt {
        let syn = flags & SYN != 0;
        let opt_len = if syn { 20 } else { 12 };
        let (smac, dmac, sip, dip, sport, dport, id, ttl, ack, win, tsval, tsecr);
        let ms = (ts / MS) as u32;
        let peer_ms = (ts.saturating_sub(self.rtt / 2) / MS) as u32;
        if from_client {
            (smac, dmac, sip, dip, sport, dport) = (
                self.cmac, GW_MAC, self.cip, self.sip, self.cport, self.sport,
            );
            self.c_id = self.c_id.wrapping_add(1);
            (id, ttl, ack, win) = (self.c_id, 64, self.c_ack, if syn { 64240 } else { 2058 });
            (tsval, tsecr) = (
                ms.wrapping_add(self.c_ts_off),
                peer_ms.wrapping_add(self.s_ts_off),
            );
        } else {
            (smac, dmac, sip, dip, sport, dport) = (
                GW_MAC, self.cmac, self.sip, self.cip, self.sport, self.cport,
            );
            self.s_id = self.s_id.wrapping_add(1);
            (id, ttl, ack, win) = (self.s_id, 56, self.s_ack, if syn { 65160 } else { 501 });
            (tsval, tsecr) = (
                ms.wrapping_add(self.s_ts_off),
                peer_ms.wrapping_add(self.c_ts_off),
            );
        }
        let tsecr = if syn && from_client { 0 } else { tsecr };
        let mut f = begin_ipv4(
            smac,
            dmac,
            sip,
            dip,
            6,
            id,
            ttl,
            20 + opt_len + payload.len(),
        );
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&(if flags & ACK != 0 { ack } else { 0 }).to_be_bytes());
        f.push((((20 + opt_len) / 4) << 4) as u8);
        f.push(flags);
        f.extend_from_slice(&u16::to_be_bytes(win));
        f.extend_from_slice(&[0, 0, 0, 0]);
        if syn {
            f.extend_from_slice(&[2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
            f.extend_from_slice(&tsval.to_be_bytes());
            f.extend_from_slice(&tsecr.to_be_bytes());
            f.extend_from_slice(&[1, 3, 3, 7]);
        } else {
            f.extend_from_slice(&[1, 1, 8, 10]);
            f.extend_from_slice(&tsval.to_be_bytes());
            f.extend_from_slice(&tsecr.to_be_bytes());
        }
        f.extend_from_slice(payload);
        finish_ipv4(&mut f);
        Pkt { ts, frame: f }
    }

    /// A client segment sent in order; the server will have received it.
    fn c_send(&mut self, out: &mut Vec<Pkt>, ts: u64, flags: u8, payload: &[u8]) {
        let seq = self.c_seq;
        out.push(self.tcp(ts, true, flags, seq, payload));
        let adv = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        self.c_seq = self.c_seq.wrapping_add(adv);
        self.s_ack = self.c_seq;
    }

    /// A server segment without data (SYN-ACK, pure ACK, FIN); the client receives it.
    fn s_ctl(&mut self, out: &mut Vec<Pkt>, ts: u64, flags: u8) {
        let seq = self.s_seq;
        out.push(self.tcp(ts, false, flags, seq, &[]));
        let adv = u32::from(flags & (SYN | FIN) != 0);
        self.s_seq = self.s_seq.wrapping_add(adv);
        self.c_ack = self.s_seq;
    }

    /// Client data split into segments, sent back to back from `ts`. Returns the end time.
    fn c_data(&mut self, out: &mut Vec<Pkt>, mut ts: u64, data: &[u8]) -> u64 {
        let n = data.chunks(SEG).len();
        for (i, chunk) in data.chunks(SEG).enumerate() {
            let flags = if i + 1 == n { ACK | PSH } else { ACK };
            self.c_send(out, ts, flags, chunk);
            ts += 30_000;
        }
        ts
    }

    /// Server data arriving at the capture point from `ts`, sent in slow-start rounds
    /// starting at congestion window `*cwnd` (grown in place, capped at `max_cwnd`),
    /// with occasional reordering, loss-before-capture and duplication, and the client's
    /// ACKs (delayed ACK every second segment, immediate dup ACKs on holes). Returns the
    /// time of the last packet.
    fn s_data(
        &mut self,
        rng: &mut Rng,
        out: &mut Vec<Pkt>,
        mut ts: u64,
        data: &[u8],
        cwnd: &mut usize,
        max_cwnd: usize,
    ) -> u64 {
        let base = self.s_seq;
        let nseg = data.len().div_ceil(SEG);
        let mut next_seg = 0usize;
        // Receiver state: in-order point and out-of-order segments held.
        let mut rcv = 0usize; // bytes received in order
        let mut held: Vec<(usize, usize)> = Vec::new();
        let mut unacked = 0u32;
        while next_seg < nseg {
            let round_end = (next_seg + *cwnd).min(nseg);
            let mut order: Vec<usize> = (next_seg..round_end).collect();
            let mut late: Vec<usize> = Vec::new();
            let mut i = 0;
            while i < order.len() {
                let r = rng.unit();
                if r < 0.002 && i + 1 < order.len() {
                    order.swap(i, i + 1);
                    i += 1;
                } else if r < 0.004 {
                    late.push(order.remove(i));
                    continue;
                } else if r < 0.005 {
                    late.push(order[i]);
                }
                i += 1;
            }
            let round_start = ts;
            for (pos, &k) in order.iter().enumerate() {
                let lo = k * SEG;
                let hi = (lo + SEG).min(data.len());
                let last = pos + 1 == order.len() && late.is_empty();
                self.deliver(
                    out,
                    ts,
                    base,
                    data,
                    lo,
                    hi,
                    last,
                    &mut rcv,
                    &mut held,
                    &mut unacked,
                );
                ts += self.seg_gap;
            }
            if !late.is_empty() {
                // Retransmissions after the sender noticed the dup ACKs: one RTT later.
                ts = ts.max(round_start + self.rtt) + rng.range(0, 5 * MS);
                let n = late.len();
                for (pos, &k) in late.iter().enumerate() {
                    let lo = k * SEG;
                    let hi = (lo + SEG).min(data.len());
                    self.deliver(
                        out,
                        ts,
                        base,
                        data,
                        lo,
                        hi,
                        pos + 1 == n,
                        &mut rcv,
                        &mut held,
                        &mut unacked,
                    );
                    ts += self.seg_gap;
                }
            }
            next_seg = round_end;
            if next_seg < nseg {
                // The next window leaves the server when these ACKs reach it.
                ts = ts.max(round_start + self.rtt);
            }
            *cwnd = (*cwnd * 2).min(max_cwnd);
        }
        if unacked > 0 {
            self.c_send(out, ts + (40 * MS).min(self.rtt / 2), ACK, &[]);
        }
        self.s_seq = base.wrapping_add(data.len() as u32);
        self.c_ack = self.s_seq;
        ts
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        out: &mut Vec<Pkt>,
        ts: u64,
        base: u32,
        data: &[u8],
        lo: usize,
        hi: usize,
        last: bool,
        rcv: &mut usize,
        held: &mut Vec<(usize, usize)>,
        unacked: &mut u32,
    ) {
        let flags = if last || hi == data.len() {
            ACK | PSH
        } else {
            ACK
        };
        let seq = base.wrapping_add(lo as u32);
        out.push(self.tcp(ts, false, flags, seq, &data[lo..hi]));
        let ack_now;
        if lo == *rcv {
            *rcv = hi;
            let before = held.len();
            held.sort_unstable();
            held.retain(|&(l, h)| {
                if l <= *rcv {
                    *rcv = (*rcv).max(h);
                    false
                } else {
                    true
                }
            });
            *unacked += 1;
            ack_now = *unacked >= 2 || before != held.len() || last;
        } else {
            if lo > *rcv {
                held.push((lo, hi));
            }
            ack_now = true; // dup ACK (hole or duplicate)
        }
        if ack_now {
            self.c_ack = base.wrapping_add(*rcv as u32);
            self.c_send(out, ts + 20_000, ACK, &[]);
            *unacked = 0;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sessions

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Https,
    Http,
    Download { tls: bool },
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Dns,
    Handshake,
    Round,
    Close,
    Done,
}

struct Session {
    kind: Kind,
    phase: Phase,
    server: usize,
    conn: Conn,
    /// Capture time of the last generated packet.
    t: u64,
    rounds_left: u32,
    cwnd: usize,
    /// Download: response bytes still to send.
    left: u64,
    queue: VecDeque<Pkt>,
}

struct World {
    rng: Rng,
    servers: Vec<Server>,
    next_port: Vec<u16>,
    sessions_web: u64,
    sessions_http: u64,
    downloads: u64,
    dns_queries: u64,
    abandoned: u64,
}

impl World {
    fn popular_server(&mut self) -> usize {
        let u = self.rng.unit();
        ((SERVERS as f64) * u * u * u) as usize
    }

    fn new_session(&mut self, t: u64, download: bool) -> Session {
        let rng = &mut self.rng;
        let client = rng.range(0, u64::from(CLIENTS)) as u32;
        let cip = client_ip(client);
        let port = &mut self.next_port[client as usize];
        *port = if *port >= 65000 { 49152 } else { *port + 1 };
        let cport = *port;
        let kind = if download {
            self.downloads += 1;
            Kind::Download {
                tls: rng.chance(0.7),
            }
        } else if rng.chance(0.12) {
            self.sessions_http += 1;
            Kind::Http
        } else {
            self.sessions_web += 1;
            Kind::Https
        };
        let server = if download {
            rng.range(0, SERVERS as u64) as usize
        } else {
            self.popular_server()
        };
        let rng = &mut self.rng;
        let sip = self.servers[server].ip;
        let rtt = rng.range(20, 81) * MS;
        let mbps = rng.range(20, 200);
        let conn = Conn {
            cmac: client_mac(cip),
            cip,
            cport,
            sip,
            sport: match kind {
                Kind::Https | Kind::Download { tls: true } => 443,
                _ => 80,
            },
            c_seq: rng.next() as u32,
            s_seq: rng.next() as u32,
            c_ack: 0,
            s_ack: 0,
            c_ts_off: rng.next() as u32,
            s_ts_off: rng.next() as u32,
            c_id: rng.next() as u16,
            s_id: rng.next() as u16,
            rtt,
            seg_gap: 1514 * 8 * 1000 / mbps,
        };
        let (phase, rounds_left, left) = match kind {
            Kind::Download { .. } => (Phase::Dns, 1, rng.range(5_000_000, 25_000_000)),
            _ => {
                let dns = rng.chance(0.7);
                let rounds = 1 + rng.range(0, 4) as u32;
                (if dns { Phase::Dns } else { Phase::Handshake }, rounds, 0)
            }
        };
        Session {
            kind,
            phase,
            server,
            conn,
            t,
            rounds_left,
            cwnd: 10,
            left,
            queue: VecDeque::new(),
        }
    }

    /// Generates the next phase of `s` into its queue; `stopping` cuts downloads short.
    fn refill(&mut self, s: &mut Session, stopping: bool) {
        let mut out: Vec<Pkt> = Vec::new();
        while out.is_empty() && s.phase != Phase::Done {
            match s.phase {
                Phase::Dns => self.dns(s, &mut out),
                Phase::Handshake => self.handshake(s, &mut out),
                Phase::Round => self.round(s, &mut out, stopping),
                Phase::Close => self.close(s, &mut out),
                Phase::Done => {}
            }
        }
        // Client ACKs are stamped a little after the segment they answer; keep time order.
        out.sort_by_key(|p| p.ts);
        if let Some(p) = out.last() {
            s.t = s.t.max(p.ts);
        }
        s.queue.extend(out);
    }

    fn dns(&mut self, s: &mut Session, out: &mut Vec<Pkt>) {
        let rng = &mut self.rng;
        let server = &self.servers[s.server];
        let sport = rng.range(1024, 65536) as u16;
        let cip = s.conn.cip;
        let cmac = s.conn.cmac;
        let mut t = s.t;
        let rtt = rng.range(3, 40) * MS;
        let mut last = t;
        for qtype in [1u16, 28, 65] {
            let id = rng.next() as u16;
            let q = dns_query(id, &server.name, qtype);
            out.push(udp_frame(
                t,
                cmac,
                GW_MAC,
                (cip, sport),
                (RESOLVER, 53),
                rng.next() as u16,
                64,
                &q,
            ));
            let r = dns_response(rng, id, server, qtype);
            let rt = t + rtt + rng.range(0, 2 * MS);
            out.push(udp_frame(
                rt,
                GW_MAC,
                cmac,
                (RESOLVER, 53),
                (cip, sport),
                rng.next() as u16,
                64,
                &r,
            ));
            last = last.max(rt);
            t += rng.range(50_000, 400_000);
            self.dns_queries += 1;
        }
        s.t = last + rng.range(200_000, 3 * MS);
        s.phase = Phase::Handshake;
    }

    fn handshake(&mut self, s: &mut Session, out: &mut Vec<Pkt>) {
        let rng = &mut self.rng;
        let c = &mut s.conn;
        let mut t = s.t;
        c.c_send(out, t, SYN, &[]);
        t += c.rtt;
        c.s_ctl(out, t, SYN | ACK);
        t += 150_000;
        c.c_send(out, t, ACK, &[]);
        let tls = matches!(s.kind, Kind::Https | Kind::Download { tls: true });
        if tls {
            let name = self.servers[s.server].name.clone();
            t += 300_000;
            let h2 = s.kind == Kind::Https || rng.chance(0.5);
            let hello = client_hello(rng, &name, h2);
            t = c.c_data(out, t, &hello);
            t += c.rtt + rng.range(1, 6) * MS;
            let mut flight = Vec::with_capacity(6000);
            server_hello_flight(rng, &mut flight);
            t = c.s_data(rng, out, t, &flight, &mut s.cwnd, 10);
            // Client CCS + Finished; the first request follows in the first round.
            let mut fin = vec![0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
            app_data(rng, &mut fin, 36);
            t = c.c_data(out, t + rng.range(500_000, 3 * MS), &fin);
        }
        s.t = t;
        s.phase = Phase::Round;
    }

    fn round(&mut self, s: &mut Session, out: &mut Vec<Pkt>, stopping: bool) {
        let rng = &mut self.rng;
        let c = &mut s.conn;
        let name = &self.servers[s.server].name;
        let mut t = s.t;
        match s.kind {
            Kind::Https | Kind::Http => {
                let objects = 1 + rng.range(0, 4) as usize;
                let mut req = Vec::new();
                let mut resp = Vec::new();
                for _ in 0..objects {
                    let size = match rng.unit() {
                        u if u < 0.65 => rng.range(200, 4_000),
                        u if u < 0.93 => rng.range(4_000, 40_000),
                        _ => rng.range(40_000, 250_000),
                    } as usize;
                    if s.kind == Kind::Https {
                        let n = rng.range(40, 400) as usize;
                        app_data(rng, &mut req, n);
                        app_data(rng, &mut resp, size);
                    } else {
                        let path = format!("/{}/{}.html", rng.range(0, 100), rng.next() % 100_000);
                        req.extend_from_slice(
                            format!(
                                "GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
                            )
                            .as_bytes(),
                        );
                        resp.extend_from_slice(
                            format!(
                                "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 01 Mar 2024 09:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {size}\r\nConnection: keep-alive\r\nCache-Control: max-age=600\r\n\r\n"
                            )
                            .as_bytes(),
                        );
                        http_body(rng, &mut resp, size);
                    }
                }
                if s.kind == Kind::Http {
                    // HTTP/1.1 without pipelining: one request, one response, in turn.
                    let mut reqs = split_http(&req);
                    let mut resps = split_http_resp(&resp);
                    for (q, r) in reqs.drain(..).zip(resps.drain(..)) {
                        t = c.c_data(out, t, q);
                        t += c.rtt + rng.range(2, 60) * MS;
                        t = c.s_data(rng, out, t, r, &mut s.cwnd, 64);
                        t += rng.range(1, 20) * MS;
                    }
                } else {
                    t = c.c_data(out, t, &req);
                    t += c.rtt + rng.range(2, 80) * MS;
                    t = c.s_data(rng, out, t, &resp, &mut s.cwnd, 64);
                }
                s.rounds_left -= 1;
                if s.rounds_left == 0 {
                    s.phase = Phase::Close;
                    // Keep-alive idle before the browser closes the connection.
                    t += (rng.exp(3.0 * SEC as f64) as u64).min(20 * SEC);
                } else {
                    t += (rng.exp(400.0 * MS as f64) as u64).min(5 * SEC);
                }
            }
            Kind::Download { tls } => {
                if s.rounds_left > 0 {
                    // The request, and the response headers in the first window.
                    s.rounds_left = 0;
                    let mut req = Vec::new();
                    let path = format!(
                        "/releases/{}/image-{}.iso",
                        rng.range(1, 20),
                        rng.next() % 1000
                    );
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n\r\n",
                        s.left
                    );
                    let get = format!(
                        "GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
                    );
                    if tls {
                        app_data(rng, &mut req, get.len());
                    } else {
                        req.extend_from_slice(get.as_bytes());
                    }
                    t = c.c_data(out, t, &req);
                    t += c.rtt + rng.range(5, 30) * MS;
                    let mut first = Vec::new();
                    if tls {
                        app_data(rng, &mut first, head.len() + 8192);
                    } else {
                        first.extend_from_slice(head.as_bytes());
                        rng.fill(&mut first, 8192);
                    }
                    s.left = s.left.saturating_sub(8192);
                    t = c.s_data(rng, out, t, &first, &mut s.cwnd, 10);
                    s.cwnd = 20;
                } else {
                    // One window of body per call: a bulk TCP stream at a steady rate.
                    let window = s.cwnd * SEG;
                    let mut chunk = Vec::with_capacity(window + 64);
                    if tls {
                        // Whole 16 KiB records, so record boundaries fall mid-segment.
                        while chunk.len() < window && s.left > 0 {
                            let p = s.left.min(16384) as usize;
                            s.left -= p as u64;
                            app_data(rng, &mut chunk, p);
                        }
                    } else {
                        let n = (window as u64).min(s.left) as usize;
                        s.left -= n as u64;
                        rng.fill(&mut chunk, n);
                    }
                    let mut cw = s.cwnd;
                    let start = t;
                    t = c.s_data(rng, out, t, &chunk, &mut cw, s.cwnd);
                    t = t.max(start + c.rtt);
                    s.cwnd = (s.cwnd + 2).min(44);
                    if s.left == 0 || stopping {
                        s.phase = Phase::Close;
                        t += 50 * MS;
                    }
                }
            }
        }
        s.t = t;
    }

    fn close(&mut self, s: &mut Session, out: &mut Vec<Pkt>) {
        let rng = &mut self.rng;
        let c = &mut s.conn;
        let mut t = s.t;
        s.phase = Phase::Done;
        if !matches!(s.kind, Kind::Download { .. }) && rng.chance(0.05) {
            // Abandoned: no close seen; analysers must expire the flow when idle.
            self.abandoned += 1;
            return;
        }
        if matches!(s.kind, Kind::Https | Kind::Download { tls: true }) {
            // close_notify alert.
            let mut alert = vec![0x17, 0x03, 0x03, 0x00, 0x13];
            rng.fill(&mut alert, 19);
            c.c_send(out, t, ACK | PSH, &alert);
            t += 100_000;
        }
        if rng.chance(0.03) {
            c.c_send(out, t, RST | ACK, &[]);
        } else {
            c.c_send(out, t, FIN | ACK, &[]);
            t += c.rtt;
            if rng.chance(0.04) {
                c.s_ctl(out, t, RST);
            } else {
                c.s_ctl(out, t, FIN | ACK);
                c.c_send(out, t + 100_000, ACK, &[]);
            }
        }
        s.phase = Phase::Done;
    }
}

/// Splits concatenated HTTP requests (each ending in a blank line).
fn split_http(buf: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = buf;
    while let Some(p) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        parts.push(&rest[..p + 4]);
        rest = &rest[p + 4..];
    }
    parts
}

/// Splits concatenated HTTP responses using their Content-Length.
fn split_http_resp(buf: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = buf;
    while let Some(p) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = std::str::from_utf8(&rest[..p]).unwrap_or("");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let end = (p + 4 + len).min(rest.len());
        parts.push(&rest[..end]);
        rest = &rest[end..];
    }
    parts
}

// ---------------------------------------------------------------------------------------
// Main loop: merge sessions by time and stream packets to the file

struct PcapWriter<W: Write> {
    w: W,
    bytes: u64,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    fn new(mut w: W) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter {
            w,
            bytes: 24,
            packets: 0,
        })
    }

    fn write(&mut self, p: &Pkt) -> std::io::Result<()> {
        let us = p.ts / 1000;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(p.frame.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(p.frame.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&p.frame)?;
        self.bytes += 16 + p.frame.len() as u64;
        self.packets += 1;
        Ok(())
    }
}

fn run(out: &str, size_mb: f64, seed: u64) -> std::io::Result<()> {
    let target = (size_mb * 1e6) as u64;
    let file = File::create(out)?;
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file))?;
    let mut rng = Rng(seed ^ 0x6c69_6665_6379_636c);
    let servers = make_servers(&mut rng);
    let mut world = World {
        rng,
        servers,
        next_port: (0..CLIENTS)
            .map(|i| 49152 + (i as u16 * 37) % 8000)
            .collect(),
        sessions_web: 0,
        sessions_http: 0,
        downloads: 0,
        dns_queries: 0,
        abandoned: 0,
    };

    let mut slots: Vec<Option<Session>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut next_web = START_NS;
    let mut next_download = START_NS + 5 * SEC;
    let mut last_ts = START_NS;
    let mut peak_live = 0usize;

    loop {
        let stopping = w.bytes >= target;
        let head = heap.peek().map(|Reverse((ts, _))| *ts);
        let arrival = next_web.min(next_download);
        if !stopping && head.is_none_or(|h| arrival <= h) {
            let download = next_download <= next_web;
            let mut s = world.new_session(arrival, download);
            if download {
                next_download += world.rng.exp(DOWNLOAD_GAP_MEAN_NS) as u64 + 1;
            } else {
                next_web += world.rng.exp(WEB_GAP_MEAN_NS) as u64 + 1;
            }
            world.refill(&mut s, false);
            if let Some(p) = s.queue.front() {
                let idx = free.pop().unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                heap.push(Reverse((p.ts, idx)));
                slots[idx] = Some(s);
                peak_live = peak_live.max(heap.len());
            }
            continue;
        }
        let Some(Reverse((_, idx))) = heap.pop() else {
            break;
        };
        let Some(s) = slots[idx].as_mut() else {
            continue;
        };
        if let Some(p) = s.queue.pop_front() {
            last_ts = p.ts;
            w.write(&p)?;
        }
        if s.queue.is_empty() {
            world.refill(s, stopping);
        }
        match s.queue.front() {
            Some(p) => heap.push(Reverse((p.ts, idx))),
            None => {
                slots[idx] = None;
                free.push(idx);
            }
        }
    }
    w.w.flush()?;
    let span = (last_ts - START_NS) as f64 / 1e9;
    eprintln!(
        "gen_capture: {out}: {:.1} MB, {} packets, {} https + {} http sessions, {} downloads ({} web sessions left open), {} dns queries, {:.0} s span ({:.2} MB/s), peak {} live sessions",
        w.bytes as f64 / 1e6,
        w.packets,
        world.sessions_web,
        world.sessions_http,
        world.downloads,
        world.abandoned,
        world.dns_queries,
        span,
        w.bytes as f64 / 1e6 / span.max(1e-9),
        peak_live
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some(size)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: gen_capture OUT.pcap SIZE_MB [SEED]");
        return ExitCode::from(2);
    };
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    match run(out, size, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_capture: {out}: {e}");
            ExitCode::from(1)
        }
    }
}

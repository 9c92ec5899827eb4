//! Hostile captures made by a generator here: each must finish, with bounded memory and a
//! sensible anomaly count.

use crate::util::{cli_tables, library_tables};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A little-endian microsecond pcap (Ethernet) written packet by packet.
struct PcapWriter<W: Write> {
    w: W,
    t_us: u64,
}

impl<W: Write> PcapWriter<W> {
    fn new(mut w: W) -> Self {
        let mut h = Vec::new();
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h).unwrap();
        PcapWriter {
            w,
            t_us: 1_700_000_000_000_000,
        }
    }

    /// Lets `us` microseconds of capture time pass.
    fn pause(&mut self, us: u64) {
        self.t_us += us;
    }

    fn frame(&mut self, ip_payload_proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) {
        self.t_us += 100;
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = 20 + l4.len();
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64]);
        f.push(ip_payload_proto);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        let (s, us) = (self.t_us / 1_000_000, self.t_us % 1_000_000);
        let mut rec = Vec::with_capacity(16 + f.len());
        rec.extend_from_slice(&(s as u32).to_le_bytes());
        rec.extend_from_slice(&(us as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        rec.extend_from_slice(&f);
        self.w.write_all(&rec).unwrap();
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let mut t = Vec::with_capacity(20 + payload.len());
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&ack.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        self.frame(6, src, dst, &t);
    }

    fn udp(&mut self, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) {
        let mut u = Vec::with_capacity(8 + payload.len());
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        self.frame(17, src, dst, &u);
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const SYN_ACK: u8 = 0x12;
const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

/// Runs the binary with `args` (standard output discarded): (exit code, peak RSS in KB).
fn run_binary(args: &[&std::ffi::OsStr]) -> (i32, u64) {
    let script = "import resource,subprocess,sys\n\
                  r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL)\n\
                  print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let o = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_lifecycle")])
        .args(args)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut it = text.split_whitespace();
    let rc: i32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(-1);
    let rss: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (rc, rss)
}

/// Runs the binary, returning (exit code, peak RSS in KB, CSV dir contents by table).
fn run(capture: &Path) -> (i32, u64, std::collections::BTreeMap<String, String>) {
    let out = capture.with_extension("out");
    let args = ["analyze", "--quiet", "--format", "csv", "--out"].map(std::ffi::OsStr::new);
    let mut args = args.to_vec();
    args.extend([out.as_os_str(), capture.as_os_str()]);
    let (rc, rss) = run_binary(&args);
    eprintln!("{}: exit {rc}, peak RSS {rss} KB", capture.display());
    let mut tables = std::collections::BTreeMap::new();
    for t in ["connections", "dns", "requests", "anomalies"] {
        tables.insert(
            t.to_string(),
            std::fs::read_to_string(out.join(format!("{t}.csv"))).unwrap_or_default(),
        );
    }
    (rc, rss, tables)
}

fn count_kind(anomalies: &str, kind: &str) -> usize {
    anomalies
        .lines()
        .filter(|l| l.contains(&format!(",{kind},")))
        .count()
}

fn capture(
    name: &str,
    make: impl FnOnce(&mut PcapWriter<std::io::BufWriter<std::fs::File>>),
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut w = PcapWriter::new(std::io::BufWriter::new(
        std::fs::File::create(&path).unwrap(),
    ));
    make(&mut w);
    w.w.flush().unwrap();
    (dir, path)
}

/// Peak RSS allowed for a few hundred thousand hostile packets on one connection or lookup
/// stream (the binary alone is ~15 MB; measured ~20 MB, ~74 MB for 50k lookups).
const RSS_LIMIT_KB: u64 = 120_000;
/// For 60k half-open connections, each a live flow until it expires (measured ~165 MB in a
/// debug build: ~2.7 KB per flow with its connection row).
const RSS_LIMIT_FLOOD_KB: u64 = 250_000;

#[test]
fn syn_flood_to_many_ports() {
    let (_d, p) = capture("synflood.pcap", |w| {
        for i in 0..60_000u32 {
            w.tcp(
                C,
                1024 + (i % 60_000) as u16,
                S,
                (i % 65_000) as u16 + 1,
                i,
                0,
                SYN,
                &[],
            );
        }
    });
    let (rc, rss, t) = run(&p);
    assert_eq!(rc, 0);
    assert!(rss < RSS_LIMIT_FLOOD_KB, "peak RSS {rss} KB");
    assert_eq!(
        t["connections"].lines().count(),
        60_001,
        "one row per SYN'd connection + header"
    );
}

#[test]
fn reassembly_bomb_is_capped() {
    let (_d, p) = capture("bomb.pcap", |w| {
        w.tcp(C, 40000, S, 80, 1000, 0, SYN, &[]);
        w.tcp(S, 80, C, 40000, 5000, 1001, SYN_ACK, &[]);
        w.tcp(C, 40000, S, 80, 1001, 5001, ACK, &[]);
        w.tcp(
            C,
            40000,
            S,
            80,
            1001,
            5001,
            PSH_ACK,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        // 200k segments far beyond the next expected byte, never filling the hole.
        let chunk = [0x41u8; 64];
        for i in 0..200_000u32 {
            let seq = 1_000_000u32.wrapping_add(i.wrapping_mul(7919) % 50_000_000);
            w.tcp(S, 80, C, 40000, seq, 1028, PSH_ACK, &chunk);
        }
    });
    let (rc, rss, t) = run(&p);
    assert_eq!(rc, 0);
    assert!(rss < RSS_LIMIT_KB, "peak RSS {rss} KB");
    let caps = count_kind(&t["anomalies"], "tcp-reassembly-cap");
    assert!(
        caps >= 1,
        "the reassembly cap is reported:\n{}",
        t["anomalies"]
    );
}

/// A DNS query in wire format for `name`, type A, with `id`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn dns_id_collisions_stay_apart() {
    let (_d, p) = capture("dnsids.pcap", |w| {
        for i in 0..50_000u32 {
            // Every query has the same id and port; names differ.
            w.udp(
                C,
                5353 + 1,
                [10, 0, 0, 53],
                53,
                &dns_query(0x4242, &format!("h{i}.example")),
            );
        }
    });
    let (rc, rss, t) = run(&p);
    assert_eq!(rc, 0);
    assert!(rss < RSS_LIMIT_KB, "peak RSS {rss} KB");
    // Each distinct question is its own (unanswered) lookup.
    assert_eq!(t["dns"].lines().count(), 50_001);
}

#[test]
fn endless_chunked_body_is_counted_not_buffered() {
    let (_d, p) = capture("chunked.pcap", |w| {
        w.tcp(C, 40001, S, 80, 1000, 0, SYN, &[]);
        w.tcp(S, 80, C, 40001, 5000, 1001, SYN_ACK, &[]);
        w.tcp(C, 40001, S, 80, 1001, 5001, ACK, &[]);
        let req = b"GET /stream HTTP/1.1\r\nHost: s\r\n\r\n";
        w.tcp(C, 40001, S, 80, 1001, 5001, PSH_ACK, req);
        let ack = 1001 + req.len() as u32;
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        w.tcp(S, 80, C, 40001, 5001, ack, PSH_ACK, head);
        let mut seq = 5001 + head.len() as u32;
        let mut chunk = b"5a0\r\n".to_vec();
        chunk.extend_from_slice(&[b'x'; 0x5a0]);
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..40_000 {
            w.tcp(S, 80, C, 40001, seq, ack, PSH_ACK, &chunk);
            seq = seq.wrapping_add(chunk.len() as u32);
        }
    });
    let (rc, rss, t) = run(&p);
    assert_eq!(rc, 0);
    assert!(
        rss < RSS_LIMIT_KB,
        "peak RSS {rss} KB (60 MB of body must not be buffered)"
    );
    // The request is there; its response never ended.
    assert!(
        t["requests"].contains("http://s/stream"),
        "{}",
        t["requests"]
    );
}

#[test]
fn oversized_tls_record_is_an_anomaly() {
    let (_d, p) = capture("tlsbig.pcap", |w| {
        w.tcp(C, 40002, S, 443, 1000, 0, SYN, &[]);
        w.tcp(S, 443, C, 40002, 5000, 1001, SYN_ACK, &[]);
        w.tcp(C, 40002, S, 443, 1001, 5001, ACK, &[]);
        // A handshake record header claiming 2^14 + 2049 bytes, then a ClientHello start.
        let len = (1u32 << 14) + 2049;
        let mut rec = vec![
            0x16,
            0x03,
            0x01,
            (len >> 8) as u8,
            len as u8,
            0x01,
            0x00,
            0x40,
            0x00,
        ];
        rec.extend_from_slice(&[0x03, 0x03]);
        rec.extend_from_slice(&[0u8; 1200]);
        w.tcp(C, 40002, S, 443, 1001, 5001, PSH_ACK, &rec);
    });
    let (rc, _rss, t) = run(&p);
    assert_eq!(rc, 0);
    assert_eq!(
        count_kind(&t["anomalies"], "tls-record-too-long"),
        1,
        "{}",
        t["anomalies"]
    );
}

/// A DNS A response for `dns_query(id, name)` answering `addr`.
fn dns_answer(id: u16, name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut r = dns_query(id, name);
    r[2] = 0x81;
    r[3] = 0x80;
    r[7] = 1;
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    r.extend_from_slice(&addr);
    r
}

type Writer = PcapWriter<std::io::BufWriter<std::fs::File>>;

/// The resolver, and a client other than `C`, of the DNS timing tests.
const RESOLVER: [u8; 4] = [10, 0, 0, 53];
const OTHER: [u8; 4] = [10, 0, 0, 9];

/// One HTTP GET on a new connection from `client:port` to `server:80`, closed with FINs;
/// `meanwhile` writes what happens while the server thinks.
fn http_get_with(
    w: &mut Writer,
    (client, port): ([u8; 4], u16),
    server: [u8; 4],
    host: &str,
    meanwhile: &mut dyn FnMut(&mut Writer),
) {
    w.tcp(client, port, server, 80, 1000, 0, SYN, &[]);
    w.tcp(server, 80, client, port, 5000, 1001, SYN_ACK, &[]);
    w.tcp(client, port, server, 80, 1001, 5001, ACK, &[]);
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let c2 = 1001 + req.len() as u32;
    w.tcp(
        client,
        port,
        server,
        80,
        1001,
        5001,
        PSH_ACK,
        req.as_bytes(),
    );
    meanwhile(w);
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    w.tcp(server, 80, client, port, 5001, c2, PSH_ACK, resp);
    let s2 = 5001 + resp.len() as u32;
    w.tcp(client, port, server, 80, c2, s2, 0x11, &[]);
    w.tcp(server, 80, client, port, s2, c2 + 1, 0x11, &[]);
    w.tcp(client, port, server, 80, c2 + 1, s2 + 1, ACK, &[]);
}

/// [`http_get_with`] answered at once (about 1 ms of capture time).
fn http_get(w: &mut Writer, client: [u8; 4], port: u16, server: [u8; 4], host: &str) {
    http_get_with(w, (client, port), server, host, &mut |_| {});
}

/// CSV tables as (name, text).
type Tables = Vec<(String, String)>;

/// The CSV tables of `p` from the command line (one thread) and from the library (rows
/// released while reading), checked to be the same released while reading or all at once,
/// and with one thread or two.
fn tables_any_way(p: &Path) -> (Tables, Tables) {
    let streamed = library_tables(p, true);
    assert_eq!(
        streamed,
        library_tables(p, false),
        "streamed vs all at once"
    );
    let one = cli_tables(&[p], 1, None);
    assert_eq!(one, cli_tables(&[p], 2, None), "1 vs 2 threads");
    (one, streamed)
}

/// A column of the rows of a CSV table whose column `key` is `value`.
fn column_where(text: &str, col: &str, key: &str, value: &str) -> Vec<String> {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = head.iter().position(|h| *h == col).unwrap();
    let k = head.iter().position(|h| *h == key).unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[k] == value)
        .map(|r| r[i].to_string())
        .collect()
}

/// A CSV table by name (`name.csv` from the command line, `name` from the library).
fn table_of(tables: &[(String, String)], t: &str) -> String {
    let file = format!("{t}.csv");
    tables
        .iter()
        .find(|(n, _)| *n == file || n == t)
        .unwrap()
        .1
        .clone()
}

/// A failing resolver: the client asks four times over 24 s (same id, as glibc retries) and
/// the answer comes 26 s after the first query; the connection follows at once and its
/// server thinks for 8 s. Meanwhile another client loads a page every second. The lookup is
/// the request's DNS phase (not a cached answer), and the tables are the same released while
/// reading or all at once, with one thread or two. Fails with the former 12 s join bound,
/// and with its fixed lookback for releasing rows (the lookup is written before the
/// connection's outcome arrives).
#[test]
fn slow_resolver_lookup_is_the_dns_phase() {
    let name = "slow.example";
    let (_d, p) = capture("slowdns.pcap", |w| {
        let mut port = 41_000;
        // The other client: a lookup and a page load, then a quiet second.
        let mut other = |w: &mut Writer| {
            let host = format!("p{port}.example");
            w.udp(OTHER, port, RESOLVER, 53, &dns_query(port, &host));
            w.pause(2_000);
            w.udp(
                RESOLVER,
                53,
                OTHER,
                port,
                &dns_answer(port, &host, [10, 0, 1, 1]),
            );
            http_get(w, OTHER, port, [10, 0, 1, 1], &host);
            port += 1;
            w.pause(1_000_000);
        };
        for i in 0..4 {
            if i > 0 {
                for _ in 0..8 {
                    other(w);
                }
            }
            w.udp(C, 5300, RESOLVER, 53, &dns_query(0x77, name));
        }
        // The last query 24 s after the first; the answer 2 s later.
        for _ in 0..2 {
            other(w);
        }
        w.udp(RESOLVER, 53, C, 5300, &dns_answer(0x77, name, S));
        // The server thinks for 8 s: the lookup reaches the correlator while the connection
        // is still open, so the lookup must wait there to be joined.
        http_get_with(w, (C, 40010), S, name, &mut |w| {
            for _ in 0..8 {
                other(w);
            }
        });
        for _ in 0..30 {
            other(w);
        }
    });
    let (tables, _) = tables_any_way(&p);
    let (dns, requests) = (table_of(&tables, "dns"), table_of(&tables, "requests"));
    assert_eq!(
        column_where(&dns, "retransmits", "qname", name),
        ["3"],
        "{dns}"
    );
    let req = |col: &str| column_where(&requests, col, "client_port", "40010");
    assert_eq!(req("dns_cached"), ["false"], "{requests}");
    let ms: f64 = req("dns_ms")[0].parse().unwrap();
    assert!(
        (26_000.0..26_100.0).contains(&ms),
        "dns_ms {ms}: {requests}"
    );
    // The request starts at the first query; the other client's 64 loads are all there.
    let first_query = column_where(&dns, "query_time", "qname", name);
    assert_eq!(req("start_time"), first_query);
    assert_eq!(requests.lines().count(), 1 + 1 + 64, "{requests}");
}

/// A client that asks again with a new id (as Chromium's resolver does), of another server:
/// the first attempt is never answered, the second is answered 30 ms after it was sent, 1 s
/// after the first. The request's DNS phase starts at the first attempt (what the client
/// waited), with the attempt counted as a retransmission; the `dns` table keeps one row per
/// attempt. Another client's unanswered query for the same name, and a lookup of another
/// name, are not part of it. The same with rows released while reading or all at once,
/// and with one thread or two.
#[test]
fn dns_retry_with_a_new_id_is_part_of_the_dns_phase() {
    dns_retry_case(1, 1_000_000, 0);
}

/// The same with four unanswered attempts 8 s apart and a server that thinks for 8 s while
/// another client loads pages: the first attempt is 32 s before the answer, so the rows
/// wait longer than usual for the connection to join it (fails with the usual lookback).
#[test]
fn long_dns_retry_chain_waits_for_its_connection() {
    dns_retry_case(4, 8_000_000, 8);
}

/// `attempts` unanswered attempts `gap_us` apart, then one answered 30 ms after it was
/// sent, `gap_us` after the last; the server thinks for `think_s` seconds.
fn dns_retry_case(attempts: u16, gap_us: u64, think_s: u32) {
    const RESOLVER2: [u8; 4] = [10, 0, 0, 54];
    let name = "retry.example";
    let (_d, p) = capture("retry.pcap", |w| {
        let mut port = 41_000;
        // The other client: a page load, then a quiet second.
        let mut other = |w: &mut Writer| {
            http_get(w, OTHER, port, [10, 0, 1, 1], "plain.example");
            port += 1;
            w.pause(1_000_000);
        };
        w.udp(OTHER, 6000, RESOLVER, 53, &dns_query(0x10, name));
        w.pause(500_000);
        for i in 0..attempts {
            if i > 0 {
                w.pause(gap_us - 300_000);
            }
            w.udp(C, 5301 + i, RESOLVER, 53, &dns_query(0x11 + i, name));
            w.pause(300_000);
            if i == 0 {
                w.udp(C, 5400, RESOLVER, 53, &dns_query(0x40, "other.example"));
                let a = dns_answer(0x40, "other.example", [10, 0, 1, 2]);
                w.udp(RESOLVER, 53, C, 5400, &a);
            }
        }
        w.pause(gap_us - 300_000);
        let id = 0x11 + attempts;
        w.udp(C, 5399, RESOLVER2, 53, &dns_query(id, name));
        w.pause(30_000);
        w.udp(RESOLVER2, 53, C, 5399, &dns_answer(id, name, S));
        http_get_with(w, (C, 40020), S, name, &mut |w| {
            for _ in 0..think_s {
                other(w);
            }
        });
        for _ in 0..40 {
            other(w);
        }
    });
    let (tables, _) = tables_any_way(&p);
    let (dns, requests) = (table_of(&tables, "dns"), table_of(&tables, "requests"));
    // One row per attempt, and the other client's.
    let rows_of_name = column_where(&dns, "txid", "qname", name).len();
    assert_eq!(rows_of_name, usize::from(attempts) + 2, "{dns}");
    let req = |col: &str| column_where(&requests, col, "client_port", "40020");
    assert_eq!(req("dns_cached"), ["false"], "{requests}");
    let ms: f64 = req("dns_ms")[0].parse().unwrap();
    // From the first attempt (0x11) to the SYN after the answer.
    let want = (attempts as f64 * gap_us as f64 + 30_000.0) / 1000.0;
    assert!(
        (want..want + 1.0).contains(&ms),
        "dns_ms {ms}, want {want}: {requests}"
    );
    let first_query = column_where(&dns, "query_time", "txid", &format!("{}", 0x11));
    assert_eq!(req("start_time"), first_query, "{requests}\n{dns}");
    // Every attempt served the request's navigation.
    let nav = req("navigation_id");
    for id in 0x11..=0x11 + attempts {
        let of_attempt = column_where(&dns, "navigation_id", "txid", &id.to_string());
        assert_eq!(of_attempt, nav, "attempt {id:#x}: {dns}");
    }
    // The attempts are the finding's transmissions.
    let findings = req("finding_details").join(" ");
    let sent = format!("sent {} times", attempts + 1);
    assert!(findings.contains(&sent), "{findings}");
}

/// `sessions` page loads, one every 700 ms of capture time, from 50 clients to 20 servers:
/// DNS lookup, handshake, one HTTP GET, then FIN; every tenth connection is left open
/// (kept alive, never closed), as browsers and abandoned sessions leave them.
fn web_sessions(w: &mut Writer, sessions: u32) {
    for i in 0..sessions {
        let client = [10, 1, (i % 50 / 250) as u8, (i % 50 + 1) as u8];
        let server = [192, 0, 2, (i % 20 + 1) as u8];
        let name = format!("host{}.example", i % 20);
        let id = i as u16;
        let cport = 40_000 + (i % 20_000) as u16;
        w.udp(client, cport, RESOLVER, 53, &dns_query(id, &name));
        w.pause(3_000);
        w.udp(RESOLVER, 53, client, cport, &dns_answer(id, &name, server));
        let (c, s) = (1_000u32, 50_000u32);
        w.tcp(client, cport, server, 80, c, 0, SYN, &[]);
        w.pause(20_000);
        w.tcp(server, 80, client, cport, s, c + 1, SYN_ACK, &[]);
        w.tcp(client, cport, server, 80, c + 1, s + 1, ACK, &[]);
        let req = format!("GET /page{i} HTTP/1.1\r\nHost: {name}\r\n\r\n");
        w.tcp(
            client,
            cport,
            server,
            80,
            c + 1,
            s + 1,
            PSH_ACK,
            req.as_bytes(),
        );
        w.pause(50_000);
        let body = "x".repeat(1000);
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{body}");
        let c2 = c + 1 + req.len() as u32;
        w.tcp(
            server,
            80,
            client,
            cport,
            s + 1,
            c2,
            PSH_ACK,
            resp.as_bytes(),
        );
        let s2 = s + 1 + resp.len() as u32;
        w.tcp(client, cport, server, 80, c2, s2, ACK, &[]);
        if i % 10 != 0 {
            w.tcp(client, cport, server, 80, c2, s2, 0x11, &[]);
            w.tcp(server, 80, client, cport, s2, c2 + 1, 0x11, &[]);
            w.tcp(client, cport, server, 80, c2 + 1, s2 + 1, ACK, &[]);
        }
        w.pause(600_000);
    }
}

/// Runs the library over a capture with rows streamed away (as `--out` does); returns the
/// most rows the correlator held at once and the rows written.
fn held_and_written(path: &Path, threads: usize) -> (usize, usize) {
    use lifecycle::analyze::{Analyzer, Options};
    use lifecycle::correlate::{ConnectionRow, NavigationRow, RequestRow, RowSink};
    use lifecycle::protocol::dns::DnsLookup;
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl RowSink for Count {
        fn connection(&mut self, _: ConnectionRow) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn request(&mut self, _: RequestRow) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn navigation(&mut self, _: NavigationRow) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn dns(&mut self, _: DnsLookup, _: Option<u64>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut a = Analyzer::with_threads(Options::default(), threads);
    a.stream_to(Box::new(Count(n.clone())), false);
    let (r, _) = lifecycle::capture::open_input(path).unwrap();
    a.feed_capture("web", r, &mut |_| {}).unwrap();
    let out = a.finish();
    assert!(
        out.requests.is_empty(),
        "rows were kept although not asked for"
    );
    (a.max_held(), n.load(std::sync::atomic::Ordering::Relaxed))
}

#[test]
fn correlation_memory_follows_live_state_not_capture_length() {
    let (_d1, short) = capture("web-300.pcap", |w| web_sessions(w, 300));
    let (_d2, long) = capture("web-1200.pcap", |w| web_sessions(w, 1200));
    let (held_short, rows_short) = held_and_written(&short, 1);
    let (held_long, rows_long) = held_and_written(&long, 1);
    eprintln!("held {held_short}/{rows_short} rows, then {held_long}/{rows_long}");
    // Worker threads report every second of capture time: the same bound.
    let (held_par, rows_par) = held_and_written(&long, 2);
    assert_eq!(rows_par, rows_long);
    assert!(
        held_par <= held_long + held_long / 5,
        "{held_par} with 2 threads"
    );
    // 300 sessions: 300 connections + 300 requests + 300 lookups + 300 navigations (one per
    // client quiet gap at most) are written; the correlator holds only the last seconds.
    assert!(
        rows_long >= 4 * rows_short - 8,
        "{rows_short} then {rows_long} rows"
    );
    assert!(held_long < rows_short, "held {held_long} of {rows_long}");
    assert!(
        held_long <= held_short + held_short / 5,
        "held {held_short} then {held_long}: grows with the capture"
    );
}

#[test]
fn the_report_and_out_dash_on_standard_output_stream_too() {
    // Without --out the report is written a navigation at a time: memory does not follow
    // the capture's length (keeping every row for the report did: ~1 KB per row).
    let (_d1, short) = capture("web-1000.pcap", |w| web_sessions(w, 1000));
    let (_d2, long) = capture("web-6000.pcap", |w| web_sessions(w, 6000));
    let rss = |p: &Path| {
        let (rc, rss) = run_binary(&[std::ffi::OsStr::new("analyze"), p.as_os_str()]);
        assert_eq!(rc, 0);
        rss
    };
    let (short_kb, long_kb) = (rss(&short), rss(&long));
    eprintln!("report: peak RSS {short_kb} KB for 1000 sessions, {long_kb} KB for 6000");
    assert!(
        long_kb < short_kb + 4_000,
        "peak RSS {short_kb} KB, then {long_kb} KB for 6x the sessions"
    );
    // The tables as one JSON object on standard output (`--out -`) take the memory of
    // writing them as files (both stream; with every row kept it was ~20 MB more here).
    let out = long.with_extension("json-out");
    let json = |to: &std::ffi::OsStr| {
        let args = ["analyze", "--quiet", "--format", "json", "--out"];
        let mut args = args.map(std::ffi::OsStr::new).to_vec();
        args.extend([to, long.as_os_str()]);
        let (rc, rss) = run_binary(&args);
        assert_eq!(rc, 0);
        rss
    };
    let (files_kb, stdout_kb) = (json(out.as_os_str()), json(std::ffi::OsStr::new("-")));
    eprintln!("JSON tables: peak RSS {files_kb} KB as files, {stdout_kb} KB on stdout");
    assert!(
        stdout_kb < files_kb + 3_000,
        "peak RSS {files_kb} KB writing files, {stdout_kb} KB writing --out -"
    );
}

#[test]
fn streamed_tables_equal_the_all_at_once_correlation() {
    // Rows released a second at a time (checkpoints of idle kept-alive connections
    // included) or all at the end, and with worker threads: the same tables.
    let (_d, path) = capture("web-400.pcap", |w| web_sessions(w, 400));
    let (one, streamed) = tables_any_way(&path);
    // The CLI's streamed files equal the library's tables.
    let requests = table_of(&one, "requests");
    assert_eq!(requests, table_of(&streamed, "requests"), "requests.csv");
    // Every request joined its lookup and has a navigation; kept-alive connections too.
    assert_eq!(requests.lines().skip(1).count(), 400);
    let conns = table_of(&one, "connections")
        .lines()
        .skip(1)
        .filter(|l| l.contains(",tcp,"))
        .count();
    assert_eq!(conns, 400);
}

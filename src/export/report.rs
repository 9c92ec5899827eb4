//! The human report on standard output: one block per navigation, written as the navigation
//! is released while the capture is read ([`ReportSink`]), so memory stays bounded by live
//! state as with `--out`; then what was in the capture(s), the connections per server and
//! anomalies.

use crate::analyze::Analysis;
use crate::base::Timestamp;
use crate::correlate::{ConnectionRow, NavigationRow, RequestRow, RowSink};
use crate::protocol::dns::DnsLookup;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// Most servers counted one by one in the per-server summary; connections to servers met
/// after that are counted together (a scan or flood would otherwise grow it without bound).
pub const MAX_SERVERS: usize = 100_000;

/// Width of the waterfall bar in characters.
const BAR: usize = 50;

/// Phase glyphs of the text waterfall (legend printed with it).
const GLYPHS: [(&str, char); 8] = [
    ("blocked", 'b'),
    ("dns", 'd'),
    ("connect", 'c'),
    ("tls", 's'),
    ("stalled", '.'),
    ("send", '>'),
    ("wait", '-'),
    ("receive", '='),
];

fn bar(r: &RequestRow, start: Timestamp, span_ms: f64) -> String {
    let mut line = vec![' '; BAR];
    let scale = if span_ms > 0.0 {
        BAR as f64 / span_ms
    } else {
        0.0
    };
    let mut t = r.start_time.ms_since(start);
    let phases = r.phases();
    for (i, p) in phases.iter().enumerate() {
        let Some(ms) = p else { continue };
        let a = ((t * scale).floor() as usize).min(BAR - 1);
        let b = (((t + ms) * scale).ceil() as usize).clamp(a + 1, BAR);
        for c in line.iter_mut().take(b).skip(a) {
            *c = GLYPHS[i].1;
        }
        t += ms;
    }
    line.into_iter().collect()
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// One navigation: header, text waterfall of its requests, findings.
fn navigation_block(n: &NavigationRow, reqs: &[RequestRow], s: &mut String, color: bool) {
    let (bold, dim, red, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    {
        let _ = writeln!(
            s,
            "\n{bold}navigation {} — {} {} ({}){reset}",
            n.navigation_id,
            n.client_ip,
            n.page_url
                .clone()
                .or(n.page_host.clone())
                .unwrap_or_else(|| "?".into()),
            n.temperature
        );
        let _ = writeln!(
            s,
            "  {} · {:.1} ms · {} · {} B in",
            n.start_time.to_rfc3339(),
            n.duration_ms,
            super::navigation_counts(n),
            n.bytes_in
        );
        let span = n.duration_ms.max(0.001);
        let _ = writeln!(
            s,
            "  {dim}{:>4} {:<44} {:>4} {:>3} {:>7} {:>7} {:>7} {:>7} {:>8}  |{}|{reset}",
            "id",
            "request",
            "st",
            "c/w",
            "dns",
            "conn",
            "tls",
            "wait",
            "total",
            format_args!("0 … {:.0} ms", span)
        );
        for r in reqs.iter().take(60) {
            let what = match (&r.method, &r.url) {
                (Some(m), Some(u)) => format!("{m} {u}"),
                _ => format!(
                    "{} {}:{} [{}]",
                    r.scheme,
                    r.host.clone().unwrap_or_else(|| r.server_ip.to_string()),
                    r.server_port,
                    r.timing_source
                ),
            };
            let what: String = if what.chars().count() > 44 {
                what.chars().take(43).collect::<String>() + "…"
            } else {
                what
            };
            // Cold/warm: D = DNS lookup, C = new connection, T = full TLS; lower case = warm.
            let cw = format!(
                "{}{}{}",
                if r.dns_cached == Some(false) {
                    'D'
                } else {
                    'd'
                },
                if r.connection_reused { 'c' } else { 'C' },
                match (r.encrypted, r.connection_reused, r.tls_resumed) {
                    (false, _, _) => ' ',
                    (true, true, _) | (true, false, Some(true)) => 't',
                    _ => 'T',
                }
            );
            let _ = writeln!(
                s,
                "  {:>4} {:<44} {:>4} {:>3} {:>7} {:>7} {:>7} {:>7} {:>8}  |{}|",
                r.request_id,
                what,
                r.status
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into()),
                cw,
                ms(r.dns_ms),
                ms(r.connect_ms),
                ms(r.tls_ms),
                ms(r.wait_ms),
                ms(r.total_ms),
                bar(r, n.start_time, span)
            );
        }
        if reqs.len() > 60 {
            let _ = writeln!(s, "  … {} more requests (see --out)", reqs.len() - 60);
        }
        let mut seen = Vec::new();
        for r in reqs {
            for f in &r.findings {
                if seen.len() < 12 && !seen.contains(&f.code) {
                    seen.push(f.code);
                    let _ = writeln!(
                        s,
                        "  {red}! {}{reset} (request {}): {}",
                        f.code, r.request_id, f.detail
                    );
                }
            }
        }
        // Navigation-level findings (DHCP lease, ARP wait before the first request).
        for f in &n.findings {
            if seen.len() < 12 && !seen.contains(&f.code) {
                seen.push(f.code);
                let _ = writeln!(s, "  {red}! {}{reset}: {}", f.code, f.detail);
            }
        }
        if let Some(p) = n.slowest_phase {
            let _ = writeln!(s, "  slowest phase of the main document: {p}");
        }
    }
}

/// The report being written: navigation blocks as they come, the summary at the end.
pub struct Report<W: Write> {
    out: W,
    color: bool,
    /// Requests whose navigation's row has not come yet (the correlator releases a
    /// navigation after all of its requests).
    waiting: BTreeMap<u64, Vec<RequestRow>>,
    navigations: u64,
    tcp: u64,
    udp: u64,
    /// Per server: connections, bytes out, bytes in, retransmissions.
    servers: BTreeMap<String, (u64, u64, u64, u64)>,
    /// Connections to servers met after [`MAX_SERVERS`] (not listed one by one).
    unlisted: u64,
    /// The first write error (a closed pipe): nothing more is written.
    error: Option<io::Error>,
}

impl<W: Write> Report<W> {
    pub fn new(out: W, color: bool) -> Self {
        Report {
            out,
            color,
            waiting: BTreeMap::new(),
            navigations: 0,
            tcp: 0,
            udp: 0,
            servers: BTreeMap::new(),
            unlisted: 0,
            error: None,
        }
    }

    fn write(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(text.as_bytes())
        {
            self.error = Some(e);
        }
    }

    pub fn request(&mut self, r: RequestRow) {
        if let Some(id) = r.navigation_id {
            self.waiting.entry(id).or_default().push(r);
        }
    }

    /// Writes the navigation's block with the requests that came before it.
    pub fn navigation(&mut self, n: &NavigationRow) {
        let reqs = self.waiting.remove(&n.navigation_id).unwrap_or_default();
        let mut s = String::new();
        navigation_block(n, &reqs, &mut s, self.color);
        self.write(&s);
        self.navigations += 1;
    }

    pub fn connection(&mut self, c: &ConnectionRow) {
        if c.transport == "tcp" {
            self.tcp += 1;
        } else {
            self.udp += 1;
        }
        let server = c
            .sni
            .clone()
            .or_else(|| c.server_ip.map(|i| i.to_string()))
            .unwrap_or_default();
        let key = format!("{} {}:{}", c.transport, server, c.server_port);
        if self.servers.len() >= MAX_SERVERS && !self.servers.contains_key(&key) {
            self.unlisted += 1;
            return;
        }
        let e = self.servers.entry(key).or_default();
        e.0 += 1;
        e.1 += c.payload_orig;
        e.2 += c.payload_resp;
        e.3 += c.retransmits_orig.unwrap_or(0) + c.retransmits_resp.unwrap_or(0);
    }

    /// The end: the legend, the captures read, connections per server and anomalies; the
    /// writer back, or the first write error.
    pub fn finish(mut self, a: &Analysis) -> io::Result<W> {
        let mut s = String::new();
        if self.navigations > 0 {
            let legend: Vec<String> = GLYPHS.iter().map(|(n, c)| format!("{c} {n}")).collect();
            let _ = writeln!(
                s,
                "\n  legend: {} · c/w: D/d DNS lookup/cached, C/c new/reused connection, T/t full/resumed-or-reused TLS",
                legend.join(", ")
            );
        }
        let _ = writeln!(s);
        for c in &a.captures {
            let _ = writeln!(
                s,
                "capture {}: {} frames, {}",
                c.name,
                c.frames,
                c.span_text()
            );
            if let Some(e) = &c.error {
                let _ = writeln!(s, "  ! {e}");
            }
        }
        let _ = writeln!(
            s,
            "\n{} connections ({} TCP, {} UDP), {} IP packets, {} other frames",
            self.tcp + self.udp,
            self.tcp,
            self.udp,
            a.ip_packets,
            a.non_ip_frames
        );
        let mut per: Vec<_> = std::mem::take(&mut self.servers).into_iter().collect();
        per.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
        if !per.is_empty() {
            let _ = writeln!(
                s,
                "\n{:<48} {:>6} {:>12} {:>12} {:>8}",
                "server", "conns", "bytes out", "bytes in", "retrans"
            );
            for (k, (n, o, r, rt)) in per.iter().take(20) {
                let _ = writeln!(s, "{:<48} {:>6} {:>12} {:>12} {:>8}", k, n, o, r, rt);
            }
            if per.len() > 20 {
                let _ = writeln!(s, "... and {} more servers", per.len() - 20);
            }
            if self.unlisted > 0 {
                let _ = writeln!(
                    s,
                    "... and {} connections to servers beyond the first {MAX_SERVERS}",
                    self.unlisted
                );
            }
        }
        if !a.anomalies.is_empty() {
            let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
            for an in &a.anomalies {
                *kinds.entry(an.kind.as_str()).or_default() += 1;
            }
            let _ = writeln!(s, "\nanomalies:");
            for (k, n) in kinds {
                let _ = writeln!(s, "  {k}: {n}");
            }
        }
        self.write(&s);
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The report as a row sink, shared with whoever finishes it once the rows are in.
pub struct ReportSink<W: Write>(pub Arc<Mutex<Option<Report<W>>>>);

impl<W: Write + Send> ReportSink<W> {
    fn with(&mut self, f: impl FnOnce(&mut Report<W>)) {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = guard.as_mut() {
            f(r);
        }
    }
}

impl<W: Write + Send> RowSink for ReportSink<W> {
    fn connection(&mut self, row: ConnectionRow) {
        self.with(|r| r.connection(&row));
    }
    fn request(&mut self, row: RequestRow) {
        self.with(|r| r.request(row));
    }
    fn navigation(&mut self, row: NavigationRow) {
        self.with(|r| r.navigation(&row));
    }
    fn dns(&mut self, _row: DnsLookup, _navigation_id: Option<u64>) {}
}

/// Renders the whole report from collected rows (what [`ReportSink`] writes while reading).
pub fn render(a: &Analysis, color: bool) -> String {
    let mut r = Report::new(Vec::new(), color);
    for req in &a.requests {
        r.request(req.clone());
    }
    for n in &a.navigations {
        r.navigation(n);
    }
    for c in &a.connections {
        r.connection(c);
    }
    let out = r.finish(a).unwrap_or_default();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Timestamp;

    fn request(id: u64, nav: u64) -> RequestRow {
        RequestRow {
            request_id: id,
            navigation_id: Some(nav),
            start_time: Timestamp(1_000_000_000 * id as i64),
            ..Default::default()
        }
    }

    fn navigation(id: u64) -> NavigationRow {
        NavigationRow {
            navigation_id: id,
            duration_ms: 10.0,
            ..Default::default()
        }
    }

    #[test]
    fn a_navigation_block_is_written_when_it_comes_and_its_requests_are_let_go() {
        let mut r = Report::new(Vec::new(), false);
        r.request(request(1, 1));
        r.request(request(2, 1));
        r.request(request(3, 2));
        r.navigation(&navigation(1));
        // Written at once, with its two requests; only navigation 2's request waits.
        let text = String::from_utf8_lossy(&r.out).into_owned();
        assert!(text.contains("navigation 1 —"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.contains("[")).count(),
            2,
            "{text}"
        );
        assert_eq!(r.waiting.len(), 1);
        r.navigation(&navigation(2));
        assert!(r.waiting.is_empty());
        let out = r.finish(&Analysis::default()).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("navigation 2 —") && text.contains("legend:"),
            "{text}"
        );
        assert!(text.contains("0 connections (0 TCP, 0 UDP)"), "{text}");
    }

    #[test]
    fn servers_beyond_the_cap_are_counted_together() {
        let mut r = Report::new(Vec::new(), false);
        let conn = |i: usize| ConnectionRow {
            transport: "tcp",
            server_port: 443,
            server_ip: Some(std::net::Ipv4Addr::from(i as u32).into()),
            ..Default::default()
        };
        for i in 0..MAX_SERVERS + 5 {
            r.connection(&conn(i));
        }
        // A server already listed keeps counting past the cap.
        r.connection(&conn(0));
        assert_eq!(r.servers.get("tcp 0.0.0.0:443").map(|v| v.0), Some(2));
        assert!(r.servers.len() <= MAX_SERVERS);
        let listed: u64 = r.servers.values().map(|v| v.0).sum();
        assert_eq!(listed + r.unlisted, MAX_SERVERS as u64 + 6);
        let text = String::from_utf8_lossy(&r.finish(&Analysis::default()).unwrap()).into_owned();
        assert!(
            text.contains("connections to servers beyond the first"),
            "{text}"
        );
    }
}

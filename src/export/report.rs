//! The human report on standard output: what was in the capture(s), the connections per
//! server, and anomalies.

use crate::analyze::Analysis;
use crate::base::Timestamp;
use crate::correlate::RequestRow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// Per navigation: header, text waterfall of its requests, findings.
fn navigations(a: &Analysis, s: &mut String, color: bool) {
    let (bold, dim, red, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    for n in &a.navigations {
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
        let reqs: Vec<&RequestRow> = a
            .requests
            .iter()
            .filter(|r| r.navigation_id == Some(n.navigation_id))
            .collect();
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
        for r in &reqs {
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
    if !a.navigations.is_empty() {
        let legend: Vec<String> = GLYPHS.iter().map(|(n, c)| format!("{c} {n}")).collect();
        let _ = writeln!(
            s,
            "\n  legend: {} · c/w: D/d DNS lookup/cached, C/c new/reused connection, T/t full/resumed-or-reused TLS",
            legend.join(", ")
        );
    }
}

/// Renders the report. `color` only when standard output is a terminal.
pub fn render(a: &Analysis, color: bool) -> String {
    let mut s = String::new();
    for c in &a.captures {
        let span = c.span_text();
        let _ = writeln!(s, "capture {}: {} frames, {}", c.name, c.frames, span);
        if let Some(e) = &c.error {
            let _ = writeln!(s, "  ! {e}");
        }
    }
    navigations(a, &mut s, color);
    let tcp = a
        .connections
        .iter()
        .filter(|c| c.transport == "tcp")
        .count();
    let udp = a.connections.len() - tcp;
    let _ = writeln!(
        s,
        "\n{} connections ({} TCP, {} UDP), {} IP packets, {} other frames",
        a.connections.len(),
        tcp,
        udp,
        a.ip_packets,
        a.non_ip_frames
    );
    // Connections per server.
    let mut per: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for c in &a.connections {
        let server = c
            .sni
            .clone()
            .or_else(|| c.server_ip.map(|i| i.to_string()))
            .unwrap_or_default();
        let key = format!("{} {}:{}", c.transport, server, c.server_port);
        let e = per.entry(key).or_default();
        e.0 += 1;
        e.1 += c.payload_orig;
        e.2 += c.payload_resp;
        e.3 += c.retransmits_orig.unwrap_or(0) + c.retransmits_resp.unwrap_or(0);
    }
    let mut per: Vec<_> = per.into_iter().collect();
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
    s
}

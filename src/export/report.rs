//! The human report on standard output: what was in the capture(s), the connections per
//! server, and anomalies.

use crate::analyze::Analysis;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Renders the summary. `color` only when standard output is a terminal.
pub fn render(a: &Analysis, _color: bool) -> String {
    let mut s = String::new();
    for c in &a.captures {
        let span = match (c.first_ts, c.last_ts) {
            (Some(f), Some(l)) => format!(
                "{} → {} ({:.3} s)",
                f.to_rfc3339(),
                l.to_rfc3339(),
                l.ms_since(f) / 1000.0
            ),
            _ => "no packets".into(),
        };
        let _ = writeln!(s, "capture {}: {} frames, {}", c.name, c.frames, span);
        if let Some(e) = &c.error {
            let _ = writeln!(s, "  ! {e}");
        }
    }
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

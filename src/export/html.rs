//! HTML writer: one self-contained page (inline CSS, no script, nothing fetched) with, per
//! navigation, a waterfall of its requests and a connection view (one row per connection,
//! its requests drawn on it).
//!
//! Phases are coloured as Chrome DevTools colours them: blocked/stalled grey, dns teal,
//! connect orange, tls purple, send and wait green, receive blue. Each request row carries
//! its cold/warm marks (D/d DNS lookup or cached, C/c new or reused connection, T/t full or
//! resumed/reused TLS), its findings beside it, and everything in a hover title.
//! Rows carry `data-request-id` / `data-connection-id` so tests can count them.
//!
//! Imports `analyze`, `correlate` (rows) and `base`.

use crate::analyze::Analysis;
use crate::base::Timestamp;
use crate::correlate::{ConnectionRow, NavigationRow, RequestRow};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Phase names (CSS classes) and labels, in time order.
const PHASES: [(&str, &str); 8] = [
    ("blocked", "blocked (ARP)"),
    ("dns", "DNS"),
    ("connect", "connect"),
    ("tls", "TLS"),
    ("stalled", "stalled"),
    ("send", "send"),
    ("wait", "wait (TTFB)"),
    ("receive", "receive"),
];

const CSS: &str = r#"
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px 24px;color:#202124;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 4px}h3{font-size:13px;margin:14px 0 4px;color:#5f6368}
.meta,.summary{color:#5f6368;margin:2px 0}
.legend{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0;align-items:center}
.legend i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
.wf{border:1px solid #dadce0;border-radius:4px}
.row{display:flex;align-items:center;min-height:20px;border-top:1px solid #f1f3f4}
.row:first-child{border-top:0}.row:hover{background:#e8f0fe}
.label{flex:0 0 430px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 6px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.tl{flex:1 1 auto;position:relative;height:16px;margin:0 4px}
.notes{flex:0 0 230px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 6px;font-size:11px}
.axis{color:#5f6368;font-size:11px;background:#f8f9fa}.axis .tl{height:18px}
.tick{position:absolute;top:0;bottom:0;border-left:1px solid #dadce0;padding-left:2px;white-space:nowrap}
.ph{position:absolute;top:3px;height:10px;min-width:1px}
.blocked{background:#9e9e9e}.stalled{background:#cfcfcf}.dns{background:#009688}.connect{background:#f57c00}
.tls{background:#9c27b0}.send{background:#1b5e20}.wait{background:#4caf50}.receive{background:#1e88e5}
.life{position:absolute;top:7px;height:2px;background:#bdc1c6}
.onconn{position:absolute;top:1px;height:14px;min-width:2px;opacity:.95;outline:1px solid #fff}
.onconn .ph{top:2px}
.id{color:#5f6368;display:inline-block;width:3.2em;text-align:right;margin-right:6px}
.st{display:inline-block;width:2.6em}.st.err{color:#c5221f;font-weight:bold}
.cw{display:inline-block;width:3.2em;letter-spacing:1px}.cw b{color:#1a73e8}.cw s{color:#9aa0a6;text-decoration:none}
.temp{font-size:11px;padding:1px 6px;border-radius:8px;color:#fff;vertical-align:middle;margin-left:6px}
.temp.cold{background:#1a73e8}.temp.warm{background:#e8710a}.temp.partial{background:#80868b}
.finding{color:#c5221f;margin-right:6px}
ul.findings{margin:4px 0 8px;padding-left:20px;color:#c5221f}
"#;

/// Writes the page.
pub fn write_html(a: &Analysis, w: &mut dyn Write) -> io::Result<()> {
    w.write_all(render(a).as_bytes())
}

/// The page as a string.
pub fn render(a: &Analysis) -> String {
    let conns: HashMap<u64, &ConnectionRow> =
        a.connections.iter().map(|c| (c.connection_id, c)).collect();
    let mut s = String::new();
    let title = a
        .captures
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>lifecycle — {}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(s, "<h1>Page loads in {}</h1>", esc(&title));
    for c in &a.captures {
        let span = c.span_text();
        let _ = writeln!(
            s,
            "<p class=\"meta\">capture {}: {} frames, {}{}</p>",
            esc(&c.name),
            c.frames,
            esc(&span),
            c.error
                .as_ref()
                .map(|e| format!(" — <b>{}</b>", esc(e)))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "<p class=\"meta\">{} navigations, {} requests, {} connections. Hover a row for its timings and findings.</p>",
        a.navigations.len(),
        a.requests.len(),
        a.connections.len()
    );
    legend(&mut s);
    // Each navigation's requests in one pass (in their order), not one pass per navigation.
    let mut by_nav: HashMap<Option<u64>, Vec<&RequestRow>> = HashMap::new();
    for r in &a.requests {
        by_nav.entry(r.navigation_id).or_default().push(r);
    }
    for n in &a.navigations {
        let reqs = by_nav
            .get(&Some(n.navigation_id))
            .map_or(&[][..], Vec::as_slice);
        navigation(&mut s, n, reqs, &conns);
    }
    let orphans = by_nav.remove(&None).unwrap_or_default();
    if !orphans.is_empty() {
        let _ = writeln!(
            s,
            "<section class=\"nav\" id=\"other\"><h2>Requests outside any navigation</h2>"
        );
        let (start, end) = span_of(None, &orphans);
        waterfall(&mut s, &orphans, start, end);
        connection_view(&mut s, &orphans, &conns, start, end);
        s.push_str("</section>\n");
    }
    if a.requests.is_empty() {
        s.push_str("<p>No HTTP requests or TLS exchanges were found in the capture.</p>\n");
    }
    s.push_str("</body></html>\n");
    s
}

fn legend(s: &mut String) {
    s.push_str("<div class=\"legend\">");
    for (class, label) in PHASES {
        let _ = write!(s, "<span><i class=\"{class}\"></i>{label}</span>");
    }
    s.push_str(
        "<span title=\"upper case: the cold side of each axis\">marks: <b>D</b>/d DNS lookup/cached · \
         <b>C</b>/c new/reused connection · <b>T</b>/t full/resumed TLS</span></div>\n",
    );
}

/// The time range shown: the navigation and every request of it.
fn span_of(n: Option<&NavigationRow>, reqs: &[&RequestRow]) -> (Timestamp, Timestamp) {
    let mut start = n.map(|n| n.start_time);
    let mut end = n.map(|n| n.end_time);
    for r in reqs {
        let e = r.start_time.add_ms(r.total_ms.unwrap_or(0.0));
        start = Some(start.map_or(r.start_time, |s| s.min(r.start_time)));
        end = Some(end.map_or(e, |x| x.max(e)));
    }
    let start = start.unwrap_or_default();
    (start, end.unwrap_or(start))
}

fn navigation(
    s: &mut String,
    n: &NavigationRow,
    reqs: &[&RequestRow],
    conns: &HashMap<u64, &ConnectionRow>,
) {
    let page = n
        .page_url
        .clone()
        .or_else(|| n.page_host.clone())
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(
        s,
        "<section class=\"nav\" id=\"nav-{id}\" data-navigation-id=\"{id}\">\
         <h2>Navigation {id} — {} <span class=\"temp {t}\">{t}</span></h2>",
        esc(&page),
        id = n.navigation_id,
        t = esc(n.temperature),
    );
    let _ = writeln!(
        s,
        "<p class=\"summary\">{} · client {} · {:.1} ms · {} · {} B in, {} B out{}</p>",
        n.start_time.to_rfc3339(),
        n.client_ip,
        n.duration_ms,
        super::navigation_counts(n),
        n.bytes_in,
        n.bytes_out,
        n.slowest_phase
            .map(|p| format!(" · slowest phase of the document: {p}"))
            .unwrap_or_default()
    );
    if !n.findings.is_empty() {
        s.push_str("<ul class=\"findings\">");
        for f in &n.findings {
            let _ = write!(s, "<li><b>{}</b>: {}</li>", esc(f.code), esc(&f.detail));
        }
        s.push_str("</ul>\n");
    }
    let (start, end) = span_of(Some(n), reqs);
    waterfall(s, reqs, start, end);
    connection_view(s, reqs, conns, start, end);
    s.push_str("</section>\n");
}

/// Position of `t` in the view, in percent.
fn pct(t: Timestamp, start: Timestamp, span_ms: f64) -> f64 {
    (t.ms_since(start) / span_ms * 100.0).clamp(0.0, 100.0)
}

/// A "nice" tick step (1, 2 or 5 × 10^k ms) giving about five ticks.
fn tick_step(span_ms: f64) -> f64 {
    let raw = (span_ms / 5.0).max(0.001);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|x| *x >= raw)
        .unwrap_or(10.0 * mag)
}

fn axis(s: &mut String, span_ms: f64, label: &str) {
    let _ = write!(
        s,
        "<div class=\"row axis\"><div class=\"label\">{}</div><div class=\"tl\">",
        esc(label)
    );
    let step = tick_step(span_ms);
    let mut t = 0.0;
    while t <= span_ms + 1e-9 {
        let text = if step >= 1000.0 {
            format!("{:.0} s", t / 1000.0)
        } else if step < 1.0 {
            format!("{t:.2} ms")
        } else {
            format!("{t:.0} ms")
        };
        let at = t / span_ms * 100.0;
        // A label this close to the right edge would run into the findings column.
        let text = if at > 90.0 && t > 0.0 { "" } else { &text };
        let _ = write!(
            s,
            "<span class=\"tick\" style=\"left:{at:.3}%\">{text}</span>"
        );
        t += step;
    }
    s.push_str("</div><div class=\"notes\">findings</div></div>\n");
}

/// The phases of a request as (class, label, start, ms), contiguous from `start_time`.
fn phases(r: &RequestRow) -> Vec<(&'static str, &'static str, Timestamp, f64)> {
    let values = r.phases();
    let mut t = r.start_time;
    let mut out = Vec::new();
    for ((class, label), v) in PHASES.iter().zip(values) {
        if let Some(ms) = v.filter(|x| x.is_finite() && *x >= 0.0) {
            out.push((*class, *label, t, ms));
            t = t.add_ms(ms);
        }
    }
    out
}

fn what(r: &RequestRow) -> String {
    match (&r.method, &r.url) {
        (Some(m), Some(u)) => format!("{m} {u}"),
        (None, Some(u)) => u.clone(),
        _ => format!(
            "{}://{}:{} [{}]",
            r.scheme,
            r.host.clone().unwrap_or_else(|| r.server_ip.to_string()),
            r.server_port,
            r.timing_source
        ),
    }
}

/// Cold/warm marks as HTML and as words (for the title).
fn marks(r: &RequestRow) -> (String, String) {
    let d = match r.dns_cached {
        Some(false) => ("<b>D</b>", "DNS lookup"),
        Some(true) => ("<s>d</s>", "DNS cached"),
        None => ("<s>·</s>", "DNS unknown"),
    };
    let c = if r.connection_reused {
        ("<s>c</s>", "reused connection")
    } else {
        ("<b>C</b>", "new connection")
    };
    let t = match (r.encrypted, r.connection_reused, r.tls_resumed) {
        (false, _, _) => ("<s>·</s>", "no TLS"),
        (true, true, _) => ("<s>t</s>", "TLS reused"),
        (true, false, Some(true)) => ("<s>t</s>", "TLS resumed"),
        _ => ("<b>T</b>", "full TLS handshake"),
    };
    (
        format!("{}{}{}", d.0, c.0, t.0),
        format!("{}, {}, {}", d.1, c.1, t.1),
    )
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1} ms"))
        .unwrap_or_else(|| "–".into())
}

fn request_title(r: &RequestRow) -> String {
    let mut t = format!(
        "request {} on connection {}: {}",
        r.request_id,
        r.connection_id,
        what(r)
    );
    if let Some(st) = r.status {
        let _ = write!(t, " → {st}");
    }
    let _ = write!(
        t,
        "\nstart {}\nserver {}:{}{}\n{} ({})",
        r.start_time.to_rfc3339(),
        r.server_ip,
        r.server_port,
        r.host
            .as_ref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default(),
        marks(r).1,
        r.timing_source
    );
    let values = r.phases();
    for ((_, label), v) in PHASES.iter().zip(values) {
        let _ = write!(t, "\n  {label}: {}", ms(v));
    }
    let _ = write!(
        t,
        "\n  total: {}\n{} B sent, {} B received",
        ms(r.total_ms),
        r.request_bytes,
        r.response_bytes
    );
    for f in &r.findings {
        let _ = write!(t, "\n! {}: {}", f.code, f.detail);
    }
    t
}

fn waterfall(s: &mut String, reqs: &[&RequestRow], start: Timestamp, end: Timestamp) {
    let span = end.ms_since(start).max(0.001);
    s.push_str("<h3>Requests</h3><div class=\"wf requests\">\n");
    axis(s, span, "id  status  marks  request");
    for r in reqs {
        let (marks_html, _) = marks(r);
        let status = match r.status {
            Some(x) if x >= 400 => format!("<span class=\"st err\">{x}</span>"),
            Some(x) => format!("<span class=\"st\">{x}</span>"),
            None => "<span class=\"st\">–</span>".into(),
        };
        let _ = write!(
            s,
            "<div class=\"row req\" data-request-id=\"{}\" title=\"{}\"><div class=\"label\">\
             <span class=\"id\">{}</span>{status}<span class=\"cw\">{marks_html}</span>{}</div><div class=\"tl\">",
            r.request_id,
            esc(&request_title(r)),
            r.request_id,
            esc(&what(r)),
        );
        for (class, label, t, ms) in phases(r) {
            let _ = write!(
                s,
                "<span class=\"ph {class}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{label} {ms:.1} ms\"></span>",
                pct(t, start, span),
                ms / span * 100.0
            );
        }
        s.push_str("</div><div class=\"notes\">");
        for f in &r.findings {
            let _ = write!(
                s,
                "<span class=\"finding\" title=\"{}\">{}</span>",
                esc(&f.detail),
                esc(f.code)
            );
        }
        s.push_str("</div></div>\n");
    }
    s.push_str("</div>\n");
}

fn connection_view(
    s: &mut String,
    reqs: &[&RequestRow],
    conns: &HashMap<u64, &ConnectionRow>,
    start: Timestamp,
    end: Timestamp,
) {
    let span = end.ms_since(start).max(0.001);
    let mut ids: Vec<u64> = reqs.iter().map(|r| r.connection_id).collect();
    ids.sort_unstable();
    ids.dedup();
    s.push_str("<h3>Connections</h3><div class=\"wf connections\">\n");
    axis(s, span, "connection  server");
    for id in ids {
        let on: Vec<&&RequestRow> = reqs.iter().filter(|r| r.connection_id == id).collect();
        let c = conns.get(&id).copied();
        let reused = on.first().is_some_and(|r| r.connection_reused);
        let label = match c {
            Some(c) => {
                let server = c
                    .sni
                    .clone()
                    .unwrap_or_else(|| c.server_ip.map(|i| i.to_string()).unwrap_or_default());
                let mut l = format!("#{id} {server}:{}", c.server_port);
                for x in [&c.alpn, &c.tls_version].into_iter().flatten() {
                    let _ = write!(l, " {x}");
                }
                l
            }
            None => format!("#{id}"),
        };
        let mut title = format!(
            "connection {id}: {} request(s){}",
            on.len(),
            if reused {
                ", opened before this view"
            } else {
                ""
            }
        );
        if let Some(c) = c {
            let _ = write!(
                title,
                "\n{}:{} → {}:{}\nopened {}, closed {} ({})\nhandshake RTT {}, TLS handshake {}\n{} B out, {} B in, {} + {} retransmits",
                c.client_ip.map(|i| i.to_string()).unwrap_or_default(),
                c.client_port,
                c.server_ip.map(|i| i.to_string()).unwrap_or_default(),
                c.server_port,
                c.start_time.to_rfc3339(),
                c.end_time.to_rfc3339(),
                c.close.unwrap_or("-"),
                ms(c.handshake_rtt_ms),
                ms(c.tls_handshake_ms),
                c.bytes_orig,
                c.bytes_resp,
                c.retransmits_orig.unwrap_or(0),
                c.retransmits_resp.unwrap_or(0)
            );
        }
        let _ = write!(
            s,
            "<div class=\"row conn\" data-connection-id=\"{id}\" title=\"{}\"><div class=\"label\">{}</div><div class=\"tl\">",
            esc(&title),
            esc(&label)
        );
        if let Some(c) = c {
            let a = pct(c.start_time, start, span);
            let b = pct(c.end_time, start, span);
            let _ = write!(
                s,
                "<span class=\"life\" style=\"left:{a:.3}%;width:{:.3}%\"></span>",
                (b - a).max(0.0)
            );
        }
        for r in &on {
            // The connection's own setup phases come from its first request.
            for (class, label, t, ms) in phases(r) {
                if class == "blocked" || class == "dns" {
                    continue;
                }
                let _ = write!(
                    s,
                    "<span class=\"ph {class}\" data-on-connection=\"{}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"request {}: {label} {ms:.1} ms — {}\"></span>",
                    r.request_id,
                    pct(t, start, span),
                    ms / span * 100.0,
                    r.request_id,
                    esc(&what(r))
                );
            }
        }
        let _ = writeln!(
            s,
            "</div><div class=\"notes\">{} request{}{}</div></div>",
            on.len(),
            if on.len() == 1 { "" } else { "s" },
            if reused { ", reused" } else { ", new" }
        );
    }
    s.push_str("</div>\n");
}

/// HTML text and attribute escaping.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_one_row_per_request() {
        let r = RequestRow {
            request_id: 7,
            navigation_id: Some(1),
            method: Some("GET".into()),
            url: Some("http://x/<script>\"".into()),
            send_ms: Some(1.0),
            wait_ms: Some(2.0),
            receive_ms: Some(3.0),
            total_ms: Some(6.0),
            ..RequestRow::default()
        };
        let a = Analysis {
            requests: vec![r],
            navigations: vec![NavigationRow {
                navigation_id: 1,
                duration_ms: 6.0,
                ..NavigationRow::default()
            }],
            ..Analysis::default()
        };
        let page = render(&a);
        assert!(!page.contains("<script"), "{page}");
        assert_eq!(page.matches("data-request-id=").count(), 1);
        assert_eq!(page.matches("data-connection-id=").count(), 1);
        assert!(page.contains("class=\"ph wait\""));
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(tick_step(1000.0), 200.0);
        assert_eq!(tick_step(480.0), 100.0);
        assert_eq!(tick_step(30.0), 10.0);
    }
}

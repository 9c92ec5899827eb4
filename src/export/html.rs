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

use super::spool::{FilePart, Part};
use crate::analyze::{Analysis, CaptureInfo};
use crate::base::Timestamp;
use crate::correlate::{ConnectionRow, NavigationRow, RequestRow, RowSink};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

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

/// Writes the page of an analysis whose rows were all kept.
pub fn write_html(a: &Analysis, w: &mut dyn Write) -> io::Result<()> {
    let mut page = HtmlWriter::new(Vec::new());
    super::replay(a, &mut page);
    page.finish(&a.captures, w)
}

/// The page as a string.
pub fn render(a: &Analysis) -> String {
    let mut text = Vec::new();
    match write_html(a, &mut text) {
        Ok(()) => String::from_utf8_lossy(&text).into_owned(),
        Err(e) => format!("<!-- {e} -->"),
    }
}

/// Most requests the page holds while the capture is read (waiting for their navigation's
/// row, or in sections waiting for their connections' rows): about 1 KB each. Past it the
/// oldest held sections are written without the connections not yet ended, and, when no
/// section is waiting, a navigation's further requests are left out of the page (both
/// counted and noted on the page).
pub const MAX_HELD_REQUESTS: usize = 50_000;

/// The page written while the capture is read. A navigation's section (its waterfall and
/// connection view) is written once its row and the rows of every connection its requests
/// used have been released, in navigation order, and appended to `body`; the head (the
/// captures and the counts, known at the end), the requests outside any navigation and the
/// end of the page are written by `finish`. Held meanwhile: requests whose navigation is
/// not released yet, sections waiting for a connection (a kept-alive connection can outlive
/// its navigations: its row comes when it ends) and the sections behind them, requests
/// outside any navigation, and the rows of connections that a held request uses; at most
/// `cap` requests in all.
pub struct HtmlWriter<P: Part> {
    body: P,
    /// Requests by navigation, until the navigation's row arrives.
    waiting: HashMap<u64, Vec<RequestRow>>,
    /// Navigations with their requests, in release order, until their connections arrive.
    pending: VecDeque<(NavigationRow, Vec<RequestRow>)>,
    orphans: Vec<RequestRow>,
    /// Connection rows that held requests use, and how many held requests use each.
    conns: HashMap<u64, ConnectionRow>,
    uses: HashMap<u64, usize>,
    navigations: u64,
    requests: u64,
    connections: u64,
    /// Requests in `waiting` and `pending`, and their cap.
    held: usize,
    cap: usize,
    /// Sections written before a connection they show had ended (the cap), and requests
    /// left out of the page (the cap, with no section to write).
    pub early_sections: u64,
    pub left_out: u64,
    error: Option<io::Error>,
    text: String,
}

impl<P: Part> HtmlWriter<P> {
    pub fn new(body: P) -> Self {
        Self::with_cap(body, MAX_HELD_REQUESTS)
    }

    /// A writer holding at most `cap` requests.
    pub fn with_cap(body: P, cap: usize) -> Self {
        HtmlWriter {
            body,
            waiting: HashMap::new(),
            pending: VecDeque::new(),
            orphans: Vec::new(),
            conns: HashMap::new(),
            uses: HashMap::new(),
            navigations: 0,
            requests: 0,
            connections: 0,
            held: 0,
            cap,
            early_sections: 0,
            left_out: 0,
            error: None,
            text: String::new(),
        }
    }

    pub fn request(&mut self, r: RequestRow) {
        self.requests += 1;
        // Over the cap: the oldest sections go out as they are; with none waiting, this
        // request is left out.
        while self.held >= self.cap && !self.pending.is_empty() {
            if self.head_waits() {
                self.early_sections += 1;
            }
            self.write_head();
        }
        if self.held >= self.cap {
            self.left_out += 1;
            return;
        }
        *self.uses.entry(r.connection_id).or_default() += 1;
        self.held += 1;
        match r.navigation_id {
            Some(n) => self.waiting.entry(n).or_default().push(r),
            // Held to the end, for the page's last section.
            None => self.orphans.push(r),
        }
    }

    /// A connection's row comes after every request on it has been handed over.
    pub fn connection(&mut self, c: ConnectionRow) {
        self.connections += 1;
        if self.uses.contains_key(&c.connection_id) {
            self.conns.insert(c.connection_id, c);
            self.write_ready(false);
        }
    }

    pub fn navigation(&mut self, n: NavigationRow) {
        self.navigations += 1;
        let reqs = self.waiting.remove(&n.navigation_id).unwrap_or_default();
        self.pending.push_back((n, reqs));
        self.write_ready(false);
    }

    /// Writes the sections at the head of the queue whose connections are known (`all`:
    /// every section, at the end).
    fn write_ready(&mut self, all: bool) {
        while !self.pending.is_empty() && (all || !self.head_waits()) {
            self.write_head();
        }
        if self.pending.is_empty() && self.pending.capacity() > 1024 {
            self.pending.shrink_to(64);
        }
    }

    /// Whether the oldest held section still waits for a connection's row.
    fn head_waits(&self) -> bool {
        self.pending.front().is_some_and(|(_, reqs)| {
            reqs.iter()
                .any(|r| !self.conns.contains_key(&r.connection_id))
        })
    }

    /// Writes the oldest held section with the connection rows known now.
    fn write_head(&mut self) {
        let Some((n, reqs)) = self.pending.pop_front() else {
            return;
        };
        let refs: Vec<&RequestRow> = reqs.iter().collect();
        self.text.clear();
        navigation(&mut self.text, &n, &refs, &self.conns);
        if self.error.is_none()
            && let Err(e) = self.body.write_all(self.text.as_bytes())
        {
            self.error = Some(e);
        }
        self.held = self.held.saturating_sub(reqs.len());
        for r in &reqs {
            self.release_use(r.connection_id);
        }
    }

    fn release_use(&mut self, id: u64) {
        if let Some(n) = self.uses.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.uses.remove(&id);
                self.conns.remove(&id);
            }
        }
    }

    /// The whole page to `w`: the captures' facts, then every section.
    pub fn finish(&mut self, captures: &[CaptureInfo], w: &mut dyn Write) -> io::Result<()> {
        // Every row has arrived: a connection still missing has no row at all.
        self.write_ready(true);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut s = String::new();
        let title = captures
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
        for c in captures {
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
            self.navigations, self.requests, self.connections
        );
        if self.early_sections > 0 || self.left_out > 0 {
            let _ = writeln!(
                s,
                "<p class=\"meta\"><b>Held rows capped</b> at {} requests: {} navigation(s) drawn before a connection they used had ended (shown without its details), {} request(s) left out of this page (the tables have them).</p>",
                self.cap, self.early_sections, self.left_out
            );
        }
        legend(&mut s);
        w.write_all(s.as_bytes())?;
        self.body.copy_to(w)?;
        s.clear();
        let orphans: Vec<&RequestRow> = self.orphans.iter().collect();
        if !orphans.is_empty() {
            let _ = writeln!(
                s,
                "<section class=\"nav\" id=\"other\"><h2>Requests outside any navigation</h2>"
            );
            let (start, end) = span_of(None, &orphans);
            waterfall(&mut s, &orphans, start, end);
            connection_view(&mut s, &orphans, &self.conns, start, end);
            s.push_str("</section>\n");
        }
        if self.requests == 0 {
            s.push_str("<p>No HTTP requests or TLS exchanges were found in the capture.</p>\n");
        }
        s.push_str("</body></html>\n");
        w.write_all(s.as_bytes())
    }
}

/// The HTML page written while the capture is read, its sections spooled to a file.
pub type SpooledHtml = Arc<Mutex<HtmlWriter<FilePart>>>;

/// A spooled HTML page in directory `dir`.
pub fn spooled(dir: &std::path::Path) -> io::Result<SpooledHtml> {
    let body = FilePart::create(dir.join("html-sections.part"))?;
    Ok(Arc::new(Mutex::new(HtmlWriter::new(body))))
}

/// The stream hands rows to the page (through [`crate::correlate::Shared`]).
impl<P: Part> RowSink for HtmlWriter<P> {
    fn connection(&mut self, row: ConnectionRow) {
        HtmlWriter::connection(self, row);
    }
    fn request(&mut self, row: RequestRow) {
        HtmlWriter::request(self, row);
    }
    fn navigation(&mut self, row: NavigationRow) {
        HtmlWriter::navigation(self, row);
    }
    fn dns(&mut self, _: crate::protocol::dns::DnsLookup, _: Option<u64>) {}
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
    conns: &HashMap<u64, ConnectionRow>,
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
    conns: &HashMap<u64, ConnectionRow>,
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
        let c = conns.get(&id);
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

    /// Rows in the order the stream releases them, with a kept-alive connection that
    /// outlives its first navigation: each section waits for its connections and those
    /// behind it wait their turn, the page is the one written from all rows at once, and
    /// nothing is held once every row has arrived (requests outside any navigation aside,
    /// which go at the end of the page).
    #[test]
    fn streamed_page_waits_for_connections_and_equals_the_page_at_once() {
        let ts = |ms: i64| Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000);
        let req = |id: u64, nav: Option<u64>, conn: u64, at: i64| RequestRow {
            request_id: id,
            navigation_id: nav,
            connection_id: conn,
            start_time: ts(at),
            wait_ms: Some(5.0),
            total_ms: Some(5.0),
            ..RequestRow::default()
        };
        let nav = |id: u64, at: i64| NavigationRow {
            navigation_id: id,
            start_time: ts(at),
            end_time: ts(at + 5),
            duration_ms: 5.0,
            ..NavigationRow::default()
        };
        let conn = |id: u64, sni: &str| ConnectionRow {
            connection_id: id,
            sni: Some(sni.into()),
            server_port: 443,
            alpn: Some("h2".into()),
            ..ConnectionRow::default()
        };
        let a = Analysis {
            // Connection 1 carries requests of navigations 1 and 2 and ends last.
            requests: vec![
                req(1, Some(1), 1, 0),
                req(2, Some(1), 2, 1),
                req(3, Some(2), 1, 3000),
                req(4, None, 3, 3500),
                req(5, Some(3), 4, 6000),
            ],
            connections: vec![
                conn(2, "b.example"),
                conn(4, "d.example"),
                conn(3, "c.example"),
                conn(1, "a.example"),
            ],
            navigations: vec![nav(1, 0), nav(2, 3000), nav(3, 6000)],
            ..Analysis::default()
        };
        let mut at_once = Vec::new();
        write_html(&a, &mut at_once).unwrap();
        let mut w = HtmlWriter::new(Vec::new());
        w.request(a.requests[0].clone());
        w.request(a.requests[1].clone());
        w.connection(a.connections[0].clone());
        w.navigation(a.navigations[0].clone());
        // Navigation 1 waits for connection 1.
        assert!(w.body.is_empty());
        w.request(a.requests[2].clone());
        w.request(a.requests[3].clone());
        w.navigation(a.navigations[1].clone());
        w.request(a.requests[4].clone());
        w.connection(a.connections[1].clone());
        w.navigation(a.navigations[2].clone());
        // Navigation 3 is complete but waits behind navigations 1 and 2.
        assert!(w.body.is_empty());
        assert_eq!(w.pending.len(), 3);
        w.connection(a.connections[2].clone());
        w.connection(a.connections[3].clone());
        let body = String::from_utf8(w.body.clone()).unwrap();
        let order: Vec<usize> = ["id=\"nav-1\"", "id=\"nav-2\"", "id=\"nav-3\""]
            .iter()
            .map(|id| body.find(id).unwrap())
            .collect();
        assert!(order.windows(2).all(|p| p[0] < p[1]), "{order:?}");
        assert!(body.contains("a.example") && body.contains("d.example"));
        // Only the request outside any navigation (and its connection) is still held.
        assert!(w.pending.is_empty() && w.waiting.is_empty());
        assert_eq!(w.conns.keys().collect::<Vec<_>>(), [&3]);
        let mut streamed = Vec::new();
        w.finish(&a.captures, &mut streamed).unwrap();
        assert!(
            streamed == at_once,
            "{}",
            String::from_utf8_lossy(&streamed)
        );
        let page = String::from_utf8(at_once).unwrap();
        assert!(page.contains("3 navigations, 5 requests, 4 connections"));
        assert!(page.contains("Requests outside any navigation") && page.contains("c.example"));
    }

    /// Past the cap on held requests, the oldest waiting section is written without the
    /// connection that has not ended, and with no section waiting further requests are
    /// left out; both are counted and noted on the page.
    #[test]
    fn held_requests_are_capped_and_the_cap_is_noted() {
        let req = |id: u64, nav: u64, conn: u64| RequestRow {
            request_id: id,
            navigation_id: Some(nav),
            connection_id: conn,
            ..RequestRow::default()
        };
        let nav = |id: u64| NavigationRow {
            navigation_id: id,
            ..NavigationRow::default()
        };
        let mut w = HtmlWriter::with_cap(Vec::new(), 3);
        // Navigation 1 waits for connection 9, which is still open.
        w.request(req(1, 1, 9));
        w.request(req(2, 1, 9));
        w.navigation(nav(1));
        w.request(req(3, 2, 8));
        assert!(w.body.is_empty());
        // A fourth held request: navigation 1 goes out without connection 9's details.
        w.request(req(4, 2, 8));
        assert_eq!((w.early_sections, w.left_out, w.held), (1, 0, 2));
        assert!(String::from_utf8_lossy(&w.body).contains("id=\"nav-1\""));
        w.request(req(5, 2, 8));
        // Nothing left to write: the next request of the open navigation is left out.
        w.request(req(6, 2, 8));
        assert_eq!((w.early_sections, w.left_out, w.held), (1, 1, 3));
        w.navigation(nav(2));
        let mut page = Vec::new();
        w.finish(&[], &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.contains("Held rows capped</b> at 3 requests: 1 navigation(s)"),
            "{page}"
        );
        assert!(page.contains("1 request(s) left out"));
        assert_eq!(page.matches("data-request-id=").count(), 5);
        // Under the cap nothing is noted.
        let mut w = HtmlWriter::with_cap(Vec::new(), 3);
        w.request(req(1, 1, 9));
        w.navigation(nav(1));
        let mut page = Vec::new();
        w.finish(&[], &mut page).unwrap();
        assert!(!String::from_utf8(page).unwrap().contains("capped"));
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(tick_step(1000.0), 200.0);
        assert_eq!(tick_step(480.0), 100.0);
        assert_eq!(tick_step(30.0), 10.0);
    }
}

//! HAR 1.2 writer: one page per navigation, one entry per request (SPEC.md "Timing model").
//!
//! Mapping: `blocked` = blocked + stalled (as Chrome DevTools exports its Stalled time),
//! `connect` includes `ssl` (= tls), `time` is the sum of the timings that are not -1
//! (`ssl` counted once, inside `connect`), and a phase that did not happen is -1. Timestamps
//! are RFC 3339 with microseconds (JavaScript and Python parse them). What the capture
//! cannot show is marked rather than invented: without keys an encrypted request has the
//! URL `https://HOST/` with `_url_inferred: true` and the method `GET` with
//! `_method_inferred: true`; unknown sizes are -1 and an unknown status is 0. Headers,
//! cookies and query strings are not kept by the analysis, except the query string, which
//! is read back from the URL. Extras are `_`-prefixed as the HAR spec asks.
//!
//! Imports `analyze`, `correlate` (rows) and `base`.

use super::spool::{FilePart, Part};
use crate::analyze::Analysis;
use crate::base::Timestamp;
use crate::correlate::{ConnectionRow, NavigationRow, RequestRow, RowSink};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// The HAR document of an analysis (what [`write_har`] writes, parsed back).
pub fn har(a: &Analysis) -> Value {
    let mut text = Vec::new();
    match write_har(a, &mut text) {
        Ok(()) => serde_json::from_slice(&text).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// Writes the HAR document of an analysis whose rows were all kept, pretty-printed.
pub fn write_har(a: &Analysis, w: &mut dyn Write) -> io::Result<()> {
    let alpn: HashMap<u64, &str> = a
        .connections
        .iter()
        .filter_map(|c| Some((c.connection_id, c.alpn.as_deref()?)))
        .collect();
    let mut doc = HarWriter::new(Vec::new(), Vec::new());
    for n in &a.navigations {
        doc.page(n);
    }
    let mut reqs: Vec<&RequestRow> = a.requests.iter().collect();
    // HAR prefers entries sorted by startedDateTime; ids break ties so output is stable.
    reqs.sort_by_key(|r| (r.start_time, r.request_id));
    for r in reqs {
        doc.entry(r, alpn.get(&r.connection_id).copied());
    }
    doc.finish(w)
}

/// Indentation of an item of `log.pages` or `log.entries` in the pretty-printed document.
const ITEM_INDENT: &[u8] = b"      ";
/// Indentation of the arrays' closing brackets.
const ARRAY_INDENT: &[u8] = b"    ";

/// A HAR document written as its rows arrive: each page and entry is serialised when it is
/// released and appended to its part, so memory does not grow with the capture; `finish`
/// joins the parts into the same text `serde_json::to_writer_pretty` gives for the whole
/// document. Entries are in the order given (the stream releases requests in start order).
pub struct HarWriter<P: Part> {
    pages: P,
    entries: P,
    n_pages: u64,
    n_entries: u64,
    /// The first write error (reported by `finish`).
    error: Option<io::Error>,
    item: Vec<u8>,
    text: Vec<u8>,
}

impl<P: Part> HarWriter<P> {
    pub fn new(pages: P, entries: P) -> Self {
        HarWriter {
            pages,
            entries,
            n_pages: 0,
            n_entries: 0,
            error: None,
            item: Vec::new(),
            text: Vec::new(),
        }
    }

    pub fn page(&mut self, n: &NavigationRow) {
        let v = page(n);
        self.push(false, &v);
    }

    /// A request; `alpn` is its connection's, for the HTTP version of a request whose
    /// messages were not visible.
    pub fn entry(&mut self, r: &RequestRow, alpn: Option<&str>) {
        let v = entry(r, alpn);
        self.push(true, &v);
    }

    fn push(&mut self, is_entry: bool, v: &Value) {
        if self.error.is_some() {
            return;
        }
        let (part, count) = if is_entry {
            (&mut self.entries, &mut self.n_entries)
        } else {
            (&mut self.pages, &mut self.n_pages)
        };
        self.item.clear();
        self.text.clear();
        if let Err(e) = serde_json::to_writer_pretty(&mut self.item, v) {
            self.error = Some(io::Error::other(e));
            return;
        }
        if *count > 0 {
            self.text.extend_from_slice(b",\n");
        }
        indent(&self.item, ITEM_INDENT, &mut self.text);
        *count += 1;
        if let Err(e) = part.write_all(&self.text) {
            self.error = Some(e);
        }
    }

    /// The whole document to `w`.
    pub fn finish(&mut self, w: &mut dyn Write) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (pages_at, entries_at) = ("\\u0001pages", "\\u0001entries");
        let skeleton = json!({
            "log": {
                "version": "1.2",
                "creator": {"name": "lifecycle", "version": env!("CARGO_PKG_VERSION")},
                "pages": "\u{1}pages",
                "entries": "\u{1}entries",
                "comment": "Reconstructed from a packet capture by lifecycle: timings are observed on the wire; headers where HTTP was visible (cleartext or decrypted; cookies are not split out, bodies are not kept).",
            }
        });
        let text = serde_json::to_string_pretty(&skeleton).map_err(io::Error::other)?;
        let holes = (text.find(pages_at), text.find(entries_at));
        let (Some(p), Some(e)) = holes else {
            return Err(io::Error::other("HAR skeleton without its placeholders"));
        };
        // The placeholders are JSON strings: their quotes go with them.
        let (p, e) = (p - 1, e - 1);
        let (pl, el) = (pages_at.len() + 2, entries_at.len() + 2);
        w.write_all(&text.as_bytes()[..p])?;
        array(&mut self.pages, self.n_pages, w)?;
        w.write_all(&text.as_bytes()[p + pl..e])?;
        array(&mut self.entries, self.n_entries, w)?;
        w.write_all(&text.as_bytes()[e + el..])?;
        w.write_all(b"\n")
    }
}

/// An array of `n` items written to `part`, as the pretty printer writes it.
fn array(part: &mut dyn Part, n: u64, w: &mut dyn Write) -> io::Result<()> {
    if n == 0 {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    part.copy_to(w)?;
    w.write_all(b"\n")?;
    w.write_all(ARRAY_INDENT)?;
    w.write_all(b"]")
}

/// `text` with `prefix` before each line (a JSON text has no raw newline inside a string).
fn indent(text: &[u8], prefix: &[u8], out: &mut Vec<u8>) {
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(prefix);
        out.extend_from_slice(line);
    }
}

/// The HAR document written while the capture is read: pages and entries spooled to two
/// files in a private directory, joined by [`HarWriter::finish`] at the end.
pub type SpooledHar = Arc<Mutex<HarWriter<FilePart>>>;

/// A spooled HAR document in directory `dir`.
pub fn spooled(dir: &std::path::Path) -> io::Result<SpooledHar> {
    let pages = FilePart::create(dir.join("har-pages.part"))?;
    let entries = FilePart::create(dir.join("har-entries.part"))?;
    Ok(Arc::new(Mutex::new(HarWriter::new(pages, entries))))
}

/// The stream hands rows to the document (through [`crate::correlate::Shared`]):
/// requests become entries in release order, which is start order, and navigations pages.
impl<P: Part> RowSink for HarWriter<P> {
    fn connection(&mut self, _: ConnectionRow) {}
    fn request(&mut self, row: RequestRow) {
        self.entry(&row, None);
    }
    fn navigation(&mut self, row: NavigationRow) {
        self.page(&row);
    }
    fn dns(&mut self, _: crate::protocol::dns::DnsLookup, _: Option<u64>) {}
}

/// The page id of a navigation.
pub fn page_id(navigation_id: u64) -> String {
    format!("page_{navigation_id}")
}

fn page(n: &NavigationRow) -> Value {
    let title = n
        .page_url
        .clone()
        .or_else(|| n.page_host.clone())
        .unwrap_or_else(|| format!("navigation {}", n.navigation_id));
    let findings: Vec<Value> = n
        .findings
        .iter()
        .map(|f| json!({"code": f.code, "detail": f.detail}))
        .collect();
    json!({
        "startedDateTime": har_time(n.start_time),
        "id": page_id(n.navigation_id),
        "title": title,
        "pageTimings": {
            "onContentLoad": -1,
            "onLoad": round_ms(n.duration_ms),
            "comment": "onLoad is the navigation's duration: its last response byte; onContentLoad is not visible on the wire",
        },
        "_navigation_id": n.navigation_id,
        "_client_ip": n.client_ip.to_string(),
        "_temperature": n.temperature,
        "_end_time": har_time(n.end_time),
        "_findings": findings,
    })
}

/// A phase in HAR: milliseconds rounded to the microsecond, -1 when it did not happen.
fn timing(ms: Option<f64>) -> f64 {
    ms.filter(|x| x.is_finite()).map(round_ms).unwrap_or(-1.0)
}

fn round_ms(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        -1.0
    }
}

/// Sum of the phases that happened; None when none did.
fn sum(parts: &[Option<f64>]) -> Option<f64> {
    parts.iter().flatten().copied().reduce(|a, b| a + b)
}

/// HAR `timings` of a request, SPEC.md's mapping.
pub fn timings(r: &RequestRow) -> [(&'static str, f64); 7] {
    let connect = r.connect_ms.map(|c| c + r.tls_ms.unwrap_or(0.0));
    [
        ("blocked", timing(sum(&[r.blocked_ms, r.stalled_ms]))),
        ("dns", timing(r.dns_ms)),
        ("connect", timing(connect)),
        ("ssl", timing(r.tls_ms)),
        ("send", timing(r.send_ms)),
        ("wait", timing(r.wait_ms)),
        ("receive", timing(r.receive_ms)),
    ]
}

/// HAR's spelling of the protocol (as Chromium writes it): `HTTP/1.1`, `HTTP/2.0`, from the
/// request's version, else the connection's ALPN; empty when neither is known.
fn http_version(r: &RequestRow, alpn: Option<&str>) -> String {
    let v = r.http_version.as_deref().or(alpn);
    match v {
        None => String::new(),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "h2" | "h2c" | "http/2" | "http/2.0" => "HTTP/2.0".into(),
            "http/1.1" => "HTTP/1.1".into(),
            "http/1.0" => "HTTP/1.0".into(),
            x if x == "h3" || x.starts_with("h3-") || x == "http/3" => "HTTP/3.0".into(),
            _ => v.to_string(),
        },
    }
}

/// `scheme://host[:port]/` for a request whose URL is not visible.
fn inferred_url(r: &RequestRow) -> String {
    let host = match &r.host {
        Some(h) => h.clone(),
        None => match r.server_ip {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        },
    };
    let default_port = match r.scheme {
        "https" => 443,
        _ => 80,
    };
    if r.server_port == default_port {
        format!("{}://{host}/", r.scheme)
    } else {
        format!("{}://{host}:{}/", r.scheme, r.server_port)
    }
}

/// `name=value` pairs of the URL's query, as they appear (not percent-decoded).
fn query_string(url: &str) -> Vec<Value> {
    let Some((_, q)) = url.split_once('?') else {
        return Vec::new();
    };
    let q = q.split('#').next().unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({"name": n, "value": v})
        })
        .collect()
}

fn entry(r: &RequestRow, alpn: Option<&str>) -> Value {
    let t = timings(r);
    // `ssl` is inside `connect`: count it once.
    let time: f64 = t
        .iter()
        .filter(|(name, v)| *name != "ssl" && *v >= 0.0)
        .map(|(_, v)| v)
        .sum();
    let mut timings = Map::new();
    for (name, v) in t {
        timings.insert(name.into(), json!(v));
    }
    let (url, url_inferred) = match &r.url {
        Some(u) => (u.clone(), false),
        None => (inferred_url(r), true),
    };
    let (method, method_inferred) = match &r.method {
        Some(m) if !m.is_empty() => (m.clone(), false),
        _ => ("GET".to_string(), true),
    };
    let version = http_version(r, alpn);
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| json!({"code": f.code, "detail": f.detail}))
        .collect();
    let mut e = Map::new();
    if let Some(n) = r.navigation_id {
        e.insert("pageref".into(), json!(page_id(n)));
    }
    e.insert("startedDateTime".into(), json!(har_time(r.start_time)));
    e.insert("time".into(), json!(round_ms(time)));
    let d = r.http.as_deref();
    let pairs = |h: Option<&Vec<(String, String)>>| -> Vec<Value> {
        h.map(|h| {
            h.iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect()
        })
        .unwrap_or_default()
    };
    let size = |x: Option<u64>| -> i64 { x.map(|v| v as i64).unwrap_or(-1) };
    e.insert(
        "request".into(),
        json!({
            "method": method,
            "url": url,
            "httpVersion": version,
            "cookies": [],
            "headers": pairs(d.map(|d| &d.request_headers)),
            "queryString": query_string(&url),
            "headersSize": size(d.and_then(|d| d.request_header_bytes)),
            "bodySize": size(d.and_then(|d| d.request_body_bytes)),
        }),
    );
    e.insert(
        "response".into(),
        json!({
            "status": r.status.unwrap_or(0),
            "statusText": d.and_then(|d| d.reason.clone()).unwrap_or_default(),
            "httpVersion": version,
            "cookies": [],
            "headers": pairs(d.map(|d| &d.response_headers)),
            "content": {
                "size": size(d.and_then(|d| d.content_bytes)),
                "mimeType": d.and_then(|d| d.content_type.clone()).unwrap_or_default(),
            },
            "redirectURL": r.location.clone().unwrap_or_default(),
            "headersSize": size(d.and_then(|d| d.response_header_bytes)),
            "bodySize": size(d.and_then(|d| d.response_body_bytes)),
        }),
    );
    e.insert("cache".into(), json!({}));
    e.insert("timings".into(), Value::Object(timings));
    e.insert("serverIPAddress".into(), json!(r.server_ip.to_string()));
    e.insert("connection".into(), json!(r.connection_id.to_string()));
    e.insert("_request_id".into(), json!(r.request_id));
    e.insert("_navigation_id".into(), json!(r.navigation_id));
    e.insert("_serverPort".into(), json!(r.server_port));
    e.insert("_clientIPAddress".into(), json!(r.client_ip.to_string()));
    e.insert("_clientPort".into(), json!(r.client_port));
    e.insert("_dns_cached".into(), json!(r.dns_cached));
    e.insert("_connection_reused".into(), json!(r.connection_reused));
    e.insert("_tls_resumed".into(), json!(r.tls_resumed));
    e.insert("_encrypted".into(), json!(r.encrypted));
    e.insert("_timing_source".into(), json!(r.timing_source));
    e.insert("_stalled".into(), json!(timing(r.stalled_ms)));
    e.insert("_requestBytes".into(), json!(r.request_bytes));
    e.insert("_transferSize".into(), json!(r.response_bytes));
    e.insert("_findings".into(), Value::Array(findings));
    if method_inferred {
        e.insert("_method_inferred".into(), json!(true));
    }
    if url_inferred {
        e.insert("_url_inferred".into(), json!(true));
    }
    Value::Object(e)
}

/// RFC 3339, UTC, microseconds: `2024-01-31T12:34:56.123456Z`.
pub fn har_time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    match s.rfind('.') {
        Some(dot) if s.len() >= dot + 7 => format!("{}Z", &s[..dot + 7]),
        _ => s,
    }
}

/// Checks a document against HAR 1.2's required fields and their types (the rules of the
/// HAR 1.2 spec and of the `har-schema` JSON schema): returns every problem found, with
/// its JSON path. An empty list means valid.
pub fn validate(v: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(log) = v.get("log").and_then(Value::as_object) else {
        return vec!["log: missing or not an object".into()];
    };
    let mut ck = Checker { p: &mut p };
    ck.string(log, "log", "version", false);
    ck.creator(log, "log", "creator", false);
    ck.creator(log, "log", "browser", true);
    let mut page_ids = Vec::new();
    if let Some(pages) = ck.array(log, "log", "pages", true) {
        for (i, pg) in pages.iter().enumerate() {
            let path = format!("log.pages[{i}]");
            let Some(pg) = ck.object_value(pg, &path) else {
                continue;
            };
            ck.date_time(pg, &path, "startedDateTime");
            if let Some(id) = ck.string(pg, &path, "id", false) {
                page_ids.push(id.to_string());
            }
            ck.string(pg, &path, "title", false);
            if let Some(pt) = ck.object(pg, &path, "pageTimings", false) {
                let path = format!("{path}.pageTimings");
                ck.number(pt, &path, "onContentLoad", true, -1.0);
                ck.number(pt, &path, "onLoad", true, -1.0);
            }
        }
    }
    if let Some(entries) = ck.array(log, "log", "entries", false) {
        for (i, e) in entries.iter().enumerate() {
            let path = format!("log.entries[{i}]");
            let Some(e) = ck.object_value(e, &path) else {
                continue;
            };
            if let Some(pr) = ck.string(e, &path, "pageref", true)
                && !page_ids.iter().any(|id| id == pr)
            {
                ck.p.push(format!("{path}.pageref: {pr:?} names no page"));
            }
            ck.date_time(e, &path, "startedDateTime");
            ck.number(e, &path, "time", false, 0.0);
            ck.object(e, &path, "cache", false);
            ck.string(e, &path, "serverIPAddress", true);
            ck.string(e, &path, "connection", true);
            if let Some(rq) = ck.object(e, &path, "request", false) {
                let path = format!("{path}.request");
                if let Some(m) = ck.string(rq, &path, "method", false)
                    && m.is_empty()
                {
                    ck.p.push(format!("{path}.method: empty"));
                }
                if let Some(u) = ck.string(rq, &path, "url", false)
                    && !u.contains("://")
                {
                    ck.p.push(format!("{path}.url: not absolute: {u:?}"));
                }
                ck.string(rq, &path, "httpVersion", false);
                ck.pairs(rq, &path, "cookies");
                ck.pairs(rq, &path, "headers");
                ck.pairs(rq, &path, "queryString");
                ck.integer(rq, &path, "headersSize");
                ck.integer(rq, &path, "bodySize");
            }
            if let Some(rs) = ck.object(e, &path, "response", false) {
                let path = format!("{path}.response");
                ck.integer(rs, &path, "status");
                ck.string(rs, &path, "statusText", false);
                ck.string(rs, &path, "httpVersion", false);
                ck.pairs(rs, &path, "cookies");
                ck.pairs(rs, &path, "headers");
                if let Some(c) = ck.object(rs, &path, "content", false) {
                    let path = format!("{path}.content");
                    ck.integer(c, &path, "size");
                    ck.string(c, &path, "mimeType", false);
                }
                ck.string(rs, &path, "redirectURL", false);
                ck.integer(rs, &path, "headersSize");
                ck.integer(rs, &path, "bodySize");
            }
            if let Some(t) = ck.object(e, &path, "timings", false) {
                let path = format!("{path}.timings");
                for k in ["blocked", "dns", "connect", "ssl"] {
                    ck.number(t, &path, k, true, -1.0);
                }
                for k in ["send", "wait", "receive"] {
                    ck.number(t, &path, k, false, -1.0);
                }
            }
        }
    }
    p
}

struct Checker<'a> {
    p: &'a mut Vec<String>,
}

type Obj = Map<String, Value>;

impl Checker<'_> {
    fn get<'v>(&mut self, o: &'v Obj, path: &str, k: &str, optional: bool) -> Option<&'v Value> {
        let v = o.get(k);
        if v.is_none() && !optional {
            self.p.push(format!("{path}.{k}: missing"));
        }
        v
    }

    fn string<'v>(&mut self, o: &'v Obj, path: &str, k: &str, optional: bool) -> Option<&'v str> {
        let v = self.get(o, path, k, optional)?;
        let s = v.as_str();
        if s.is_none() {
            self.p.push(format!("{path}.{k}: not a string: {v}"));
        }
        s
    }

    fn object_value<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Obj> {
        let o = v.as_object();
        if o.is_none() {
            self.p.push(format!("{path}: not an object"));
        }
        o
    }

    fn object<'v>(&mut self, o: &'v Obj, path: &str, k: &str, optional: bool) -> Option<&'v Obj> {
        let v = self.get(o, path, k, optional)?;
        self.object_value(v, &format!("{path}.{k}"))
    }

    fn array<'v>(
        &mut self,
        o: &'v Obj,
        path: &str,
        k: &str,
        optional: bool,
    ) -> Option<&'v Vec<Value>> {
        let v = self.get(o, path, k, optional)?;
        let a = v.as_array();
        if a.is_none() {
            self.p.push(format!("{path}.{k}: not an array"));
        }
        a
    }

    fn creator(&mut self, o: &Obj, path: &str, k: &str, optional: bool) {
        if let Some(c) = self.object(o, path, k, optional) {
            let path = format!("{path}.{k}");
            self.string(c, &path, "name", false);
            self.string(c, &path, "version", false);
        }
    }

    fn number(&mut self, o: &Obj, path: &str, k: &str, optional: bool, min: f64) {
        if let Some(v) = self.get(o, path, k, optional) {
            match v.as_f64() {
                Some(x) if x >= min => {}
                _ => self
                    .p
                    .push(format!("{path}.{k}: not a number >= {min}: {v}")),
            }
        }
    }

    fn integer(&mut self, o: &Obj, path: &str, k: &str) {
        if let Some(v) = self.get(o, path, k, false)
            && v.as_i64().is_none()
        {
            self.p.push(format!("{path}.{k}: not an integer: {v}"));
        }
    }

    /// An array of `{name, value}` objects (headers, cookies, queryString).
    fn pairs(&mut self, o: &Obj, path: &str, k: &str) {
        if let Some(a) = self.array(o, path, k, false) {
            for (i, x) in a.iter().enumerate() {
                let path = format!("{path}.{k}[{i}]");
                if let Some(x) = self.object_value(x, &path) {
                    self.string(x, &path, "name", false);
                    self.string(x, &path, "value", false);
                }
            }
        }
    }

    fn date_time(&mut self, o: &Obj, path: &str, k: &str) {
        if let Some(s) = self.string(o, path, k, false)
            && !is_date_time(s)
        {
            self.p
                .push(format!("{path}.{k}: not an ISO 8601 date-time: {s:?}"));
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)`, as JSON Schema's `date-time`.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && digits(i + 1..i + 3)
                && b.get(i + 3) == Some(&b':')
                && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::NavigationRow;

    fn request() -> RequestRow {
        RequestRow {
            request_id: 1,
            navigation_id: Some(1),
            connection_id: 3,
            start_time: Timestamp(1_700_000_000_123_456_789),
            scheme: "https",
            host: Some("example.org".into()),
            server_port: 443,
            encrypted: true,
            timing_source: "tls-records",
            dns_ms: Some(10.0),
            connect_ms: Some(20.0),
            tls_ms: Some(30.0),
            stalled_ms: Some(1.5),
            send_ms: Some(0.25),
            wait_ms: Some(40.0),
            receive_ms: Some(5.0),
            ..RequestRow::default()
        }
    }

    #[test]
    fn timings_follow_the_spec_mapping() {
        let r = request();
        let t: HashMap<_, _> = timings(&r).into_iter().collect();
        assert_eq!(t["blocked"], 1.5);
        assert_eq!(t["dns"], 10.0);
        assert_eq!(t["connect"], 50.0);
        assert_eq!(t["ssl"], 30.0);
        let e = entry(&r, None);
        // 1.5 + 10 + 50 + 0.25 + 40 + 5; ssl only inside connect.
        assert_eq!(e["time"], json!(106.75));
        assert_eq!(e["request"]["url"], json!("https://example.org/"));
        assert_eq!(e["_url_inferred"], json!(true));
        assert_eq!(e["request"]["method"], json!("GET"));
        assert_eq!(e["_method_inferred"], json!(true));
        assert_eq!(e["startedDateTime"], json!("2023-11-14T22:13:20.123456Z"));
        assert_eq!(e["response"]["status"], json!(0));
        assert_eq!(e["request"]["httpVersion"], json!(""));
        let h2 = RequestRow {
            http_version: Some("h2".into()),
            ..request()
        };
        assert_eq!(
            entry(&h2, None)["response"]["httpVersion"],
            json!("HTTP/2.0")
        );
    }

    #[test]
    fn reused_connection_has_no_connect_and_no_ssl() {
        let r = RequestRow {
            connect_ms: None,
            tls_ms: None,
            dns_ms: None,
            stalled_ms: None,
            method: Some("POST".into()),
            url: Some("http://h:8080/p?a=1&b=&c#frag".into()),
            ..request()
        };
        let t: HashMap<_, _> = timings(&r).into_iter().collect();
        assert_eq!(
            (t["blocked"], t["dns"], t["connect"], t["ssl"]),
            (-1.0, -1.0, -1.0, -1.0)
        );
        let e = entry(&r, None);
        assert_eq!(e["time"], json!(45.25));
        assert!(e.get("_url_inferred").is_none());
        assert_eq!(
            e["request"]["queryString"],
            json!([{"name": "a", "value": "1"}, {"name": "b", "value": ""}, {"name": "c", "value": ""}])
        );
    }

    #[test]
    fn document_validates_and_validator_catches_errors() {
        let a = Analysis {
            requests: vec![request()],
            navigations: vec![NavigationRow {
                navigation_id: 1,
                ..NavigationRow::default()
            }],
            ..Analysis::default()
        };
        let mut doc = har(&a);
        assert_eq!(validate(&doc), Vec::<String>::new());
        doc["log"]["entries"][0]["request"]
            .as_object_mut()
            .unwrap()
            .remove("method");
        doc["log"]["entries"][0]["pageref"] = json!("nope");
        doc["log"]["entries"][0]["startedDateTime"] = json!("yesterday");
        let problems = validate(&doc);
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }

    /// The whole document as one value, pretty-printed: what the streamed text must equal.
    fn at_once(pages: &[NavigationRow], entries: &[(RequestRow, Option<&str>)]) -> String {
        let doc = json!({
            "log": {
                "version": "1.2",
                "creator": {"name": "lifecycle", "version": env!("CARGO_PKG_VERSION")},
                "pages": pages.iter().map(page).collect::<Vec<_>>(),
                "entries": entries.iter().map(|(r, a)| entry(r, *a)).collect::<Vec<_>>(),
                "comment": "Reconstructed from a packet capture by lifecycle: timings are observed on the wire; headers where HTTP was visible (cleartext or decrypted; cookies are not split out, bodies are not kept).",
            }
        });
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    /// Written item by item, the text is the pretty printer's for the whole document: no
    /// rows, pages only, entries only, several of both, with text that needs escaping
    /// (quotes, a newline, a tab, non-ASCII) and nested arrays empty and not.
    #[test]
    fn streamed_text_is_the_pretty_printed_document() {
        let nav = |id: u64, title: &str| NavigationRow {
            navigation_id: id,
            page_url: Some(title.to_string()),
            findings: vec![crate::correlate::Finding {
                code: "slow-dns",
                detail: "a \"quoted\"\nline".into(),
            }],
            ..NavigationRow::default()
        };
        let mut r2 = request();
        r2.request_id = 2;
        r2.url = Some("https://example.org/a?x=1&y=\"é\"\t".into());
        r2.method = Some("POST".into());
        r2.http = Some(Box::new(crate::correlate::HttpDetail {
            request_headers: vec![("Host".into(), "example.org".into())],
            ..Default::default()
        }));
        let mut r3 = request();
        r3.request_id = 3;
        r3.http_version = None;
        let pages = [nav(1, "https://example.org/"), nav(2, "ü\n\"")];
        let entries = [(request(), None), (r2, Some("h2")), (r3, Some("http/1.1"))];
        for (np, ne) in [(0, 0), (1, 0), (0, 1), (2, 3), (1, 3)] {
            let mut w = HarWriter::new(Vec::new(), Vec::new());
            for n in &pages[..np] {
                w.page(n);
            }
            for (r, a) in &entries[..ne] {
                w.entry(r, *a);
            }
            let mut text = Vec::new();
            w.finish(&mut text).unwrap();
            let text = String::from_utf8(text).unwrap();
            assert_eq!(
                text,
                at_once(&pages[..np], &entries[..ne]),
                "{np} pages, {ne} entries"
            );
        }
    }

    /// The spooled document's items go to its files as rows arrive, not to memory: after
    /// 2,000 requests through the sink, all but the write buffer is on disk before the end.
    #[test]
    fn har_sink_spools_rows_as_they_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let doc = spooled(dir.path()).unwrap();
        let mut sink = crate::correlate::Shared(doc.clone());
        let mut one = Vec::new();
        serde_json::to_writer_pretty(&mut one, &entry(&request(), None)).unwrap();
        for id in 1..=2000 {
            let mut r = request();
            r.request_id = id;
            sink.request(r);
        }
        sink.navigation(NavigationRow {
            navigation_id: 1,
            ..NavigationRow::default()
        });
        let on_disk = std::fs::metadata(dir.path().join("har-entries.part"))
            .unwrap()
            .len();
        assert!(
            on_disk as usize > 2000 * one.len() - (1 << 16),
            "{on_disk} bytes spooled of about {}",
            2000 * one.len()
        );
        let mut text = Vec::new();
        doc.lock().unwrap().finish(&mut text).unwrap();
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["log"]["entries"].as_array().unwrap().len(), 2000);
        assert_eq!(v["log"]["entries"][1999]["_request_id"], json!(2000));
        assert_eq!(v["log"]["pages"].as_array().unwrap().len(), 1);
        assert_eq!(validate(&v), Vec::<String>::new());
    }

    #[test]
    fn date_times() {
        assert!(is_date_time("2026-11-22T03:48:37.525Z"));
        assert!(is_date_time("2009-07-24T19:20:30.45+01:00"));
        assert!(is_date_time("2009-07-24T19:20:30Z"));
        assert!(!is_date_time("2009-07-24T19:20:30"));
        assert!(!is_date_time("2009-07-24T19:20:30.Z"));
        assert!(!is_date_time("2009-7-24T19:20:30Z"));
    }
}

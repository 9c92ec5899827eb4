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

use crate::analyze::Analysis;
use crate::base::Timestamp;
use crate::correlate::{ConnectionRow, NavigationRow, RequestRow};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{self, Write};

/// The HAR document of an analysis.
pub fn har(a: &Analysis) -> Value {
    let conns: HashMap<u64, &ConnectionRow> =
        a.connections.iter().map(|c| (c.connection_id, c)).collect();
    let pages: Vec<Value> = a.navigations.iter().map(page).collect();
    let mut reqs: Vec<&RequestRow> = a.requests.iter().collect();
    // HAR prefers entries sorted by startedDateTime; ids break ties so output is stable.
    reqs.sort_by_key(|r| (r.start_time, r.request_id));
    let entries: Vec<Value> = reqs
        .iter()
        .map(|r| entry(r, conns.get(&r.connection_id).copied()))
        .collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "lifecycle", "version": env!("CARGO_PKG_VERSION")},
            "pages": pages,
            "entries": entries,
            "comment": "Reconstructed from a packet capture by lifecycle: timings are observed on the wire; headers where HTTP was visible (cleartext or decrypted; cookies are not split out, bodies are not kept).",
        }
    })
}

/// Writes the HAR document, pretty-printed.
pub fn write_har(a: &Analysis, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &har(a)).map_err(io::Error::other)?;
    w.write_all(b"\n")
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
fn http_version(r: &RequestRow, c: Option<&ConnectionRow>) -> String {
    let v = r
        .http_version
        .as_deref()
        .or_else(|| c.and_then(|c| c.alpn.as_deref()));
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

fn entry(r: &RequestRow, c: Option<&ConnectionRow>) -> Value {
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
    let version = http_version(r, c);
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

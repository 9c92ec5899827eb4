//! Why a request was slow: stable codes with a one-line explanation and the numbers behind
//! it. Thresholds are relative to the measured round-trip time of the path where one exists.

use super::ConnOutcome;
use super::rows::RequestRow;
use crate::protocol::dns::DnsLookup;
use crate::protocol::tls;

/// A finding: a stable `code` and a human sentence with the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub code: &'static str,
    pub detail: String,
}

impl Finding {
    pub fn new(code: &'static str, detail: String) -> Self {
        Finding { code, detail }
    }

    /// `code: detail`, as written in CSV lists.
    pub fn render(&self) -> String {
        format!("{}: {}", self.code, self.detail)
    }
}

/// A DNS lookup slower than this is worth a finding (no RTT to the resolver is known
/// independently of the lookup itself).
pub const DNS_SLOW_MS: f64 = 100.0;

/// Wire times of the exchange, to place losses in its phases.
pub struct Times {
    pub req_last: crate::base::Timestamp,
    pub resp_first: Option<crate::base::Timestamp>,
    pub resp_last: Option<crate::base::Timestamp>,
    /// Milliseconds of the wait during which another response on the same connection was
    /// arriving.
    pub busy_ms: f64,
}

pub fn for_request(
    r: &RequestRow,
    c: &ConnOutcome,
    lookup: Option<&DnsLookup>,
    t: Times,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let rtt = c.rtt_ms;
    if let Some(l) = lookup
        && !r.connection_reused
    {
        if let Some(lat) = l.latency_ms
            && lat > DNS_SLOW_MS
        {
            out.push(Finding::new(
                "dns-slow",
                format!(
                    "DNS lookup of {} took {lat:.1} ms (threshold {DNS_SLOW_MS} ms)",
                    l.qname
                ),
            ));
        }
        if l.retransmits > 0 {
            out.push(Finding::new(
                "dns-retransmit",
                format!(
                    "DNS query for {} was sent {} times before an answer",
                    l.qname,
                    l.retransmits + 1
                ),
            ));
        }
    }
    if !r.connection_reused {
        if c.syn_retransmits > 0 {
            out.push(Finding::new(
                "syn-retransmit",
                format!(
                    "SYN retransmitted {} time(s): connect took {:.1} ms for a {:.1} ms RTT",
                    c.syn_retransmits,
                    r.connect_ms.unwrap_or(0.0),
                    rtt.unwrap_or(0.0)
                ),
            ));
        }
        if let Some(t) = &c.tls {
            if t.version == Some(0x0303) && t.resumed == Some(false) {
                out.push(Finding::new(
                    "tls12-two-rtt",
                    format!(
                        "full TLS 1.2 handshake needs two round trips: {:.1} ms ({:.1} ms RTT)",
                        r.tls_ms.unwrap_or(0.0),
                        rtt.unwrap_or(0.0)
                    ),
                ));
            }
            if t.hello_retry {
                out.push(Finding::new(
                    "tls-hello-retry",
                    format!(
                        "server sent HelloRetryRequest ({}): one extra round trip",
                        t.version.map(tls::version_name).unwrap_or("TLS")
                    ),
                ));
            }
        }
    }
    if let Some(s) = r.status
        && (300..400).contains(&s)
        && r.location.is_some()
    {
        out.push(Finding::new(
            "redirect",
            format!("{s} redirect to {}", r.location.clone().unwrap_or_default()),
        ));
    }
    if !r.connection_reused
        && let (Some(tls_ms), Some(start), Some(tls), Some(rtt)) =
            (r.tls_ms, c.established_ts, &c.tls, rtt)
    {
        let end = start.add_ms(tls_ms);
        let lost = c
            .loss_resp
            .iter()
            .chain(&c.loss_orig)
            .filter(|l| **l > start && **l <= end)
            .count();
        // Round trips the handshake needs: one for TLS 1.3 and resumed TLS 1.2 (plus one
        // after a HelloRetryRequest), two for a full TLS 1.2 handshake.
        let full12 = tls.version == Some(0x0303) && tls.resumed == Some(false);
        let rtts = if full12 { 2.0 } else { 1.0 } + if tls.hello_retry { 1.0 } else { 0.0 };
        let expected = rtts * rtt;
        if tls_ms > expected + rtt.max(50.0) {
            let why = if lost > 0 {
                format!("{lost} handshake segment(s) were lost and sent again")
            } else {
                "a flight stalled (a lost last segment waits for the sender's retransmission timeout, or the peer was slow)".to_string()
            };
            out.push(Finding::new(
                "tls-slow-handshake",
                format!(
                    "TLS took {tls_ms:.1} ms where {rtts:.0} round trip(s) of {rtt:.1} ms were expected: {why}"
                ),
            ));
        }
    }
    // Server segments lost (upstream of the capture or on it) and sent again while this
    // request waited for its first byte, or while it downloaded.
    let lost_in = |from: crate::base::Timestamp, to: Option<crate::base::Timestamp>| -> usize {
        to.map(|to| {
            c.loss_resp
                .iter()
                .filter(|l| **l > from && **l <= to)
                .count()
        })
        .unwrap_or(0)
    };
    let lost_waiting = lost_in(t.req_last, t.resp_first);
    if lost_waiting > 0 {
        out.push(Finding::new(
            "loss-before-first-byte",
            format!(
                "{lost_waiting} server segment(s) were lost and sent again before the first byte: wait {:.1} ms for a {:.1} ms RTT",
                r.wait_ms.unwrap_or(0.0),
                rtt.unwrap_or(0.0)
            ),
        ));
    } else if let (Some(wait), Some(rtt)) = (r.wait_ms, rtt)
        && t.busy_ms > rtt.max(50.0)
    {
        out.push(Finding::new(
            "queued-behind-response",
            format!(
                "for {:.1} ms of its {wait:.1} ms wait the connection was delivering another response (head-of-line on HTTP/1.1, stream scheduling on HTTP/2)",
                t.busy_ms
            ),
        ));
    } else if let (Some(wait), Some(rtt)) = (r.wait_ms, rtt) {
        let think = wait - rtt;
        if think > rtt.max(50.0) {
            out.push(Finding::new(
                "server-think-time",
                format!("server took {think:.1} ms beyond one {rtt:.1} ms round trip before the first byte"),
            ));
        }
    }
    let lost_downloading = t.resp_first.map(|f| lost_in(f, t.resp_last)).unwrap_or(0);
    if lost_downloading > 0 {
        out.push(Finding::new(
            "loss-during-download",
            format!(
                "{lost_downloading} server segment(s) were lost and sent again during the {:.1} ms download",
                r.receive_ms.unwrap_or(0.0)
            ),
        ));
    }
    if c.zero_window > 0 {
        out.push(Finding::new(
            "zero-window",
            format!(
                "{} zero-window advertisement(s) stalled the transfer",
                c.zero_window
            ),
        ));
    }
    out
}

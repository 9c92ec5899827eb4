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

pub fn for_request(r: &RequestRow, c: &ConnOutcome, lookup: Option<&DnsLookup>) -> Vec<Finding> {
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
    if let (Some(wait), Some(rtt)) = (r.wait_ms, rtt) {
        let think = wait - rtt;
        if think > rtt.max(50.0) {
            out.push(Finding::new(
                "server-think-time",
                format!("server took {think:.1} ms beyond one {rtt:.1} ms round trip before the first byte"),
            ));
        }
    }
    if c.retransmits_resp > 0 && r.receive_ms.is_some() {
        out.push(Finding::new(
            "loss-during-download",
            format!(
                "{} server segment(s) retransmitted on this connection",
                c.retransmits_resp
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

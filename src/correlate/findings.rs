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
        let mut s = String::new();
        self.push_rendered(&mut s);
        s
    }

    /// [`Self::render`]'s text appended to `s` (the table writers' path: no string each).
    pub fn push_rendered(&self, s: &mut String) {
        s.push_str(self.code);
        s.push_str(": ");
        s.push_str(&self.detail);
    }
}

/// `{:.1}` of a millisecond figure, written with integers where that is exact (the
/// formatter's exact float path cost a third of the work of making a request row with a
/// finding): away from a tie `round(x * 10)` is the decimal rounding; near one, for huge
/// values, negative zero and non-finite values, the formatter decides.
struct Ms1(f64);

impl std::fmt::Display for Ms1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        let y = x * 10.0;
        let r = y.round();
        // |y| < 1e12: the product's rounding error is far below the 0.001 margin.
        if x.is_finite()
            && y.abs() < 1e12
            && (y - r).abs() < 0.499
            && !(r == 0.0 && x.is_sign_negative())
        {
            let v = r as i64;
            let sign = if v < 0 { "-" } else { "" };
            let v = v.unsigned_abs();
            let mut b = itoa::Buffer::new();
            f.write_str(sign)?;
            f.write_str(b.format(v / 10))?;
            f.write_str(".")?;
            f.write_str(b.format(v % 10))
        } else {
            write!(f, "{x:.1}")
        }
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
                    "DNS lookup of {} took {} ms (threshold {DNS_SLOW_MS} ms)",
                    l.qname,
                    Ms1(lat)
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
                    "SYN retransmitted {} time(s): connect took {} ms for a {} ms RTT",
                    c.syn_retransmits,
                    Ms1(r.connect_ms.unwrap_or(0.0)),
                    Ms1(rtt.unwrap_or(0.0))
                ),
            ));
        }
        if let Some(t) = &c.tls {
            if t.version == Some(0x0303) && t.resumed == Some(false) {
                out.push(Finding::new(
                    "tls12-two-rtt",
                    format!(
                        "full TLS 1.2 handshake needs two round trips: {} ms ({} ms RTT)",
                        Ms1(r.tls_ms.unwrap_or(0.0)),
                        Ms1(rtt.unwrap_or(0.0))
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
                    "TLS took {} ms where {rtts:.0} round trip(s) of {} ms were expected: {why}",
                    Ms1(tls_ms),
                    Ms1(rtt)
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
                "{lost_waiting} server segment(s) were lost and sent again before the first byte: wait {} ms for a {} ms RTT",
                Ms1(r.wait_ms.unwrap_or(0.0)),
                Ms1(rtt.unwrap_or(0.0))
            ),
        ));
    } else if let (Some(wait), Some(rtt)) = (r.wait_ms, rtt)
        && t.busy_ms > rtt.max(50.0)
    {
        out.push(Finding::new(
            "queued-behind-response",
            format!(
                "for {} ms of its {} ms wait the connection was delivering another response (head-of-line on HTTP/1.1, stream scheduling on HTTP/2)",
                Ms1(t.busy_ms),
                Ms1(wait)
            ),
        ));
    } else if let (Some(wait), Some(rtt)) = (r.wait_ms, rtt) {
        let think = wait - rtt;
        if think > rtt.max(50.0) {
            out.push(Finding::new(
                "server-think-time",
                format!(
                    "server took {} ms beyond one {} ms round trip before the first byte",
                    Ms1(think),
                    Ms1(rtt)
                ),
            ));
        }
    }
    let lost_downloading = t.resp_first.map(|f| lost_in(f, t.resp_last)).unwrap_or(0);
    if lost_downloading > 0 {
        out.push(Finding::new(
            "loss-during-download",
            format!(
                "{lost_downloading} server segment(s) were lost and sent again during the {} ms download",
                Ms1(r.receive_ms.unwrap_or(0.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ms1` writes what `{:.1}` writes: exact ties both ways (x.x5 values that are and are
    /// not representable), values just off a tie, negatives, negative zero, huge and
    /// non-finite values, and a sweep of ordinary millisecond figures.
    #[test]
    fn ms1_is_what_the_formatter_writes() {
        let mut xs = vec![
            0.0,
            -0.0,
            0.05,
            0.15,
            0.25,
            0.35,
            0.45,
            1.25,
            2.5,
            -0.05,
            -0.04,
            -1.25,
            0.95,
            9.95,
            99.95,
            0.049999,
            0.050001,
            1e11,
            1e12,
            1e13,
            -1e13,
            1e300,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123.456,
            72.0,
            0.1,
            0.2,
            0.3,
        ];
        let mut x = 0.0001f64;
        while x < 1e7 {
            xs.extend([x, -x, x * 1.37, (x * 20.0).round() / 20.0]);
            x *= 1.013;
        }
        for i in 0..20_000 {
            xs.push(f64::from(i) / 20.0);
            xs.push(f64::from(i) * 0.001);
        }
        for x in xs {
            assert_eq!(Ms1(x).to_string(), format!("{x:.1}"), "{x:e}");
        }
    }
}

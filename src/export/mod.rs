//! Exporters: the tables of SPEC.md as Parquet, CSV or JSON (one column model, [`Table`],
//! defined once per table below), HAR 1.2, the HTML waterfall page, and the human report on
//! standard output.
//!
//! Imports `base`, `correlate` (rows) and `analyze` (the finished [`Analysis`]). polars is
//! used only by `parquet`.

pub mod csv;
pub mod har;
pub mod html;
pub mod json;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod report;
pub mod spool;
pub mod stream;
pub mod table;

use crate::analyze::Analysis;
use crate::correlate::{AnomalyRow, ConnectionRow, NavigationRow, RequestRow};
use crate::protocol::arp::{ArpExchange, format_mac};
use crate::protocol::dhcp::DhcpExchange;
use crate::protocol::dns::{self, DnsLookup};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use table::{Table, TableBuilder, push_ip_text};

/// Output formats for `--out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    Json,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Json => "json",
        }
    }
}

pub fn connections_table(rows: &[ConnectionRow]) -> Table<'_> {
    TableBuilder::new("connections", rows)
        .int("connection_id", |r| Some(r.connection_id as i64))
        .str("transport", |r| Some(r.transport))
        .ip("client_ip", |r| r.client_ip)
        .int("client_port", |r| Some(r.client_port as i64))
        .ip("server_ip", |r| r.server_ip)
        .int("server_port", |r| Some(r.server_port as i64))
        .time("start_time", |r| Some(r.start_time))
        .time("established_time", |r| r.established_time)
        .time("end_time", |r| Some(r.end_time))
        .float("handshake_rtt_ms", |r| r.handshake_rtt_ms)
        .int("syn_retransmits", |r| r.syn_retransmits.map(i64::from))
        .bool("syn_seen", |r| Some(r.syn_seen))
        .str("close", |r| r.close)
        .int("bytes_orig", |r| Some(r.bytes_orig as i64))
        .int("bytes_resp", |r| Some(r.bytes_resp as i64))
        .int("packets_orig", |r| Some(r.packets_orig as i64))
        .int("packets_resp", |r| Some(r.packets_resp as i64))
        .int("retransmits_orig", |r| r.retransmits_orig.map(|x| x as i64))
        .int("retransmits_resp", |r| r.retransmits_resp.map(|x| x as i64))
        .int("out_of_order", |r| r.out_of_order.map(|x| x as i64))
        .int("zero_window", |r| r.zero_window.map(|x| x as i64))
        .str("sni", |r| r.sni.as_deref())
        .str("alpn", |r| r.alpn.as_deref())
        .str("tls_version", |r| r.tls_version.as_deref())
        .str("tls_cipher", |r| r.tls_cipher.as_deref())
        .bool("tls_resumed", |r| r.tls_resumed)
        .float("tls_handshake_ms", |r| r.tls_handshake_ms)
        .int("requests", |r| Some(r.requests as i64))
        .int("navigation_id", |r| r.navigation_id.map(|x| x as i64))
        .int("payload_orig", |r| Some(r.payload_orig as i64))
        .int("payload_resp", |r| Some(r.payload_resp as i64))
        .str("app_protocol", |r| r.app_protocol)
        .int("first_frame", |r| Some(r.first_frame as i64))
        .str("capture", |r| Some(r.capture.as_str()))
        .build()
}

pub fn anomalies_table(rows: &[AnomalyRow]) -> Table<'_> {
    TableBuilder::new("anomalies", rows)
        .time("time", |r| Some(r.time))
        .int("frame", |r| r.frame.map(|x| x as i64))
        .int("connection_id", |r| r.connection_id.map(|x| x as i64))
        .str("kind", |r| Some(r.kind.as_str()))
        .str("detail", |r| Some(r.detail.as_str()))
        .build()
}

/// `dns` rows; `dns_id` is the row's position (rows are in query order).
pub fn dns_table(rows: &[DnsLookup]) -> Table<'_> {
    dns_table_from(rows, 0, &[])
}

/// `dns` rows whose first row is the `first`-th lookup (0-based), for chunked writing.
/// `navs[i]` is the navigation of `rows[i]` (as in [`Analysis::dns_navigation`]).
fn dns_table_from<'r>(rows: &'r [DnsLookup], first: usize, navs: &[Option<u64>]) -> Table<'r> {
    TableBuilder::new("dns", rows)
        .int_at("dns_id", |i, _| Some((i + first) as i64 + 1))
        .time("query_time", |r| (!r.unsolicited).then_some(r.query_time))
        .time("response_time", |r| r.response_time)
        .float("latency_ms", |r| r.latency_ms)
        .ip("client_ip", |r| Some(r.client_ip))
        .ip("server_ip", |r| Some(r.server_ip))
        .str("transport", |r| Some(r.transport.as_str()))
        .int("txid", |r| Some(r.txid as i64))
        .str("qname", |r| Some(r.qname.as_str()))
        .str("qtype", |r| Some(dns::qtype_name(r.qtype)))
        .str("rcode", |r| r.rcode.map(dns::rcode_name))
        .list_with("answers", |r, l| {
            for a in &r.answers {
                l.item_with(|s| push_answer(a, s));
            }
        })
        .int("min_ttl", |r| r.min_ttl.map(i64::from))
        .int("retransmits", |r| Some(r.retransmits as i64))
        .int_at("navigation_id", |i, _| {
            navs.get(i).copied().flatten().map(|n| n as i64)
        })
        .int("client_port", |r| Some(r.client_port as i64))
        .int("server_port", |r| Some(r.server_port as i64))
        .list_with("addresses", |r, l| {
            for a in &r.addresses {
                l.item_with(|s| push_ip_text(*a, s));
            }
        })
        .list("cnames", |r| r.cnames.iter().map(String::as_str))
        .bool("truncated", |r| Some(r.truncated))
        .bool("unsolicited", |r| Some(r.unsolicited))
        .int("query_frame", |r| Some(r.query_frame as i64))
        .int("response_frame", |r| r.response_frame.map(|x| x as i64))
        .build()
}

/// An answer record's text as its `Display` writes it, appended to `s`, with addresses and
/// names written without the formatter.
fn push_answer(a: &dns::Answer, s: &mut String) {
    use std::fmt::Write as _;
    match &a.data {
        dns::RData::A(ip) => {
            s.push_str(&dns::qtype_name(a.rtype));
            s.push(' ');
            push_ip_text((*ip).into(), s);
        }
        dns::RData::Aaaa(ip) => {
            s.push_str(&dns::qtype_name(a.rtype));
            s.push(' ');
            push_ip_text((*ip).into(), s);
        }
        dns::RData::Cname(name) => {
            s.push_str(&dns::qtype_name(a.rtype));
            s.push(' ');
            s.push_str(name);
        }
        _ => {
            let _ = write!(s, "{a}");
        }
    }
}

pub fn dhcp_table(rows: &[DhcpExchange]) -> Table<'_> {
    TableBuilder::new("dhcp", rows)
        .int("dhcp_id", |r| Some(r.dhcp_id as i64))
        .str("client_mac", |r| Some(r.client_mac_string()))
        .int("xid", |r| Some(r.xid as i64))
        .time("discover_time", |r| r.discover_time)
        .time("offer_time", |r| r.offer_time)
        .time("request_time", |r| r.request_time)
        .time("ack_time", |r| r.ack_time)
        .ip("assigned_ip", |r| r.assigned_ip.map(Into::into))
        .ip("server_ip", |r| r.server_ip.map(Into::into))
        .ip("router", |r| r.router.first().map(|&i| i.into()))
        .list("dns_servers", |r| {
            r.dns_servers.iter().map(|i| i.to_string())
        })
        .int("lease_s", |r| r.lease_s.map(i64::from))
        .float("total_ms", |r| Some(r.total_ms))
        .time("nak_time", |r| r.nak_time)
        .time("decline_time", |r| r.decline_time)
        .time("release_time", |r| r.release_time)
        .time("inform_time", |r| r.inform_time)
        .ip("requested_ip", |r| r.requested_ip.map(Into::into))
        .str("hostname", |r| r.hostname.as_deref())
        .int("messages", |r| Some(r.messages as i64))
        .int("discover_retransmits", |r| {
            Some(r.discover_retransmits as i64)
        })
        .int("request_retransmits", |r| {
            Some(r.request_retransmits as i64)
        })
        .int("first_frame", |r| Some(r.first_frame as i64))
        .build()
}

pub fn arp_table(rows: &[ArpExchange]) -> Table<'_> {
    TableBuilder::new("arp", rows)
        .int("arp_id", |r| Some(r.arp_id as i64))
        .time("request_time", |r| r.request_time)
        .time("reply_time", |r| r.reply_time)
        .float("latency_ms", |r| r.latency_ms)
        .ip("sender_ip", |r| Some(r.sender_ip.into()))
        .str("sender_mac", |r| Some(format_mac(&r.sender_mac)))
        .ip("target_ip", |r| Some(r.target_ip.into()))
        .str("target_mac", |r| r.target_mac.map(|m| format_mac(&m)))
        .bool("gratuitous", |r| Some(r.gratuitous))
        .int("retransmits", |r| Some(r.retransmits as i64))
        .int("request_frame", |r| r.request_frame.map(|x| x as i64))
        .int("reply_frame", |r| r.reply_frame.map(|x| x as i64))
        .build()
}

pub fn requests_table(rows: &[RequestRow]) -> Table<'_> {
    TableBuilder::new("requests", rows)
        .int("request_id", |r| Some(r.request_id as i64))
        .int("navigation_id", |r| r.navigation_id.map(|x| x as i64))
        .int("connection_id", |r| Some(r.connection_id as i64))
        .time("start_time", |r| Some(r.start_time))
        .ip("client_ip", |r| Some(r.client_ip))
        .int("client_port", |r| Some(r.client_port as i64))
        .ip("server_ip", |r| Some(r.server_ip))
        .int("server_port", |r| Some(r.server_port as i64))
        .str("host", |r| r.host.as_deref())
        .str("scheme", |r| Some(r.scheme))
        .str("http_version", |r| r.http_version.as_deref())
        .str("method", |r| r.method.as_deref())
        .str("url", |r| r.url.as_deref())
        .str("uri", |r| r.uri.as_deref())
        .int("status", |r| r.status.map(i64::from))
        .bool("encrypted", |r| Some(r.encrypted))
        .str("timing_source", |r| Some(r.timing_source))
        .float("blocked_ms", |r| r.blocked_ms)
        .float("dns_ms", |r| r.dns_ms)
        .float("connect_ms", |r| r.connect_ms)
        .float("tls_ms", |r| r.tls_ms)
        .float("stalled_ms", |r| r.stalled_ms)
        .float("send_ms", |r| r.send_ms)
        .float("wait_ms", |r| r.wait_ms)
        .float("receive_ms", |r| r.receive_ms)
        .float("total_ms", |r| r.total_ms)
        .bool("dns_cached", |r| r.dns_cached)
        .bool("connection_reused", |r| Some(r.connection_reused))
        .bool("tls_resumed", |r| r.tls_resumed)
        .int("request_bytes", |r| Some(r.request_bytes as i64))
        .int("response_bytes", |r| Some(r.response_bytes as i64))
        .list("findings", |r| r.findings.iter().map(|f| f.code))
        .list_with("finding_details", |r, l| {
            for f in &r.findings {
                l.item_with(|s| f.push_rendered(s));
            }
        })
        .float("rtt_ms", |r| r.rtt_ms)
        .build()
}

pub fn navigations_table(rows: &[NavigationRow]) -> Table<'_> {
    TableBuilder::new("navigations", rows)
        .int("navigation_id", |r| Some(r.navigation_id as i64))
        .ip("client_ip", |r| Some(r.client_ip))
        .time("start_time", |r| Some(r.start_time))
        .time("end_time", |r| Some(r.end_time))
        .float("duration_ms", |r| Some(r.duration_ms))
        .str("page_host", |r| r.page_host.as_deref())
        .str("page_url", |r| r.page_url.as_deref())
        .str("temperature", |r| Some(r.temperature))
        .int("requests", |r| Some(r.requests as i64))
        .int("hosts", |r| Some(r.hosts as i64))
        .int("dns_lookups", |r| Some(r.dns_lookups as i64))
        .int("dns_cached_hosts", |r| Some(r.dns_cached_hosts as i64))
        .int("connections_new", |r| Some(r.connections_new as i64))
        .int("connections_reused", |r| Some(r.connections_reused as i64))
        .int("tls_full", |r| Some(r.tls_full as i64))
        .int("tls_resumed", |r| Some(r.tls_resumed as i64))
        .int("bytes_in", |r| Some(r.bytes_in as i64))
        .int("bytes_out", |r| Some(r.bytes_out as i64))
        .int("document_request_id", |r| {
            Some(r.document_request_id as i64)
        })
        .float("document_dns_ms", |r| r.document_dns_ms)
        .float("document_connect_ms", |r| r.document_connect_ms)
        .float("document_tls_ms", |r| r.document_tls_ms)
        .float("document_wait_ms", |r| r.document_wait_ms)
        .float("document_receive_ms", |r| r.document_receive_ms)
        .str("slowest_phase", |r| r.slowest_phase)
        .list("findings", |r| r.findings.iter().map(|f| f.code))
        .list("host_list", |r| r.host_list.iter().map(String::as_str))
        .build()
}

/// What a navigation was made of, as the report and the HTML page both say it:
/// "N requests on H hosts · D DNS lookups · a new / b reused connections · TLS f full / r
/// resumed".
pub fn navigation_counts(n: &NavigationRow) -> String {
    format!(
        "{} requests on {} hosts · {} DNS lookups · {} new / {} reused connections · TLS {} full / {} resumed",
        n.requests,
        n.hosts,
        n.dns_lookups,
        n.connections_new,
        n.connections_reused,
        n.tls_full,
        n.tls_resumed,
    )
}

/// Every table of the analysis.
pub fn tables(a: &Analysis) -> Vec<Table<'_>> {
    TABLES.iter().map(|build| build(a)).collect()
}

/// Builders of every table, in output order (built one at a time when writing files, so
/// only one table's cells are in memory at once).
const TABLES: [fn(&Analysis) -> Table<'_>; 7] = [
    |a| navigations_table(&a.navigations),
    |a| requests_table(&a.requests),
    |a| connections_table(&a.connections),
    |a| dns_table_from(&a.dns, 0, &a.dns_navigation),
    |a| dhcp_table(&a.dhcp),
    |a| arp_table(&a.arp),
    |a| anomalies_table(&a.anomalies),
];

/// Writes one table in a format.
pub fn write_table(t: &Table, format: Format, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Csv => csv::write_csv(t, w),
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::write_parquet(t, w),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(io::Error::other(
            "this build has no Parquet support (built without the `parquet` feature)",
        )),
        Format::Json => json::write_json(t, w),
    }
}

/// Hands every kept row of an analysis to `sink` in an order the stream can release them
/// in: a navigation's requests (and their connections) before the navigation.
pub fn replay(a: &Analysis, sink: &mut dyn crate::correlate::RowSink) {
    for r in &a.requests {
        sink.request(r.clone());
    }
    for r in &a.connections {
        sink.connection(r.clone());
    }
    for r in &a.navigations {
        sink.navigation(r.clone());
    }
    for (i, r) in a.dns.iter().enumerate() {
        sink.dns(r.clone(), a.dns_navigation.get(i).copied().flatten());
    }
}

/// Writes every table as `DIR/<table>.<ext>`, each atomically (temporary name, then rename),
/// through the same chunked writers as a streaming run ([`stream::TableFiles`]).
pub fn write_tables(a: &Analysis, dir: &Path, format: Format) -> io::Result<Vec<String>> {
    use crate::correlate::RowSink;
    let mut files = stream::TableFiles::create(dir, format)?;
    replay(a, &mut files);
    let mut written = files.close()?;
    written.extend(write_small_tables(a, dir, format)?);
    Ok(written)
}

/// Writes the `dhcp`, `arp` and `anomalies` tables (small: their trackers cap them), the
/// ones a streaming run writes at the end.
pub fn write_small_tables(a: &Analysis, dir: &Path, format: Format) -> io::Result<Vec<String>> {
    let mut written = Vec::new();
    for t in [
        dhcp_table(&a.dhcp),
        arp_table(&a.arp),
        anomalies_table(&a.anomalies),
    ] {
        let path = dir.join(format!("{}.{}", t.name, format.ext()));
        write_atomic(&path, |w| write_table(&t, format, w))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// Every table as one JSON object `{table: [rows]}` (for `--out - --format json`).
pub fn write_tables_json(a: &Analysis, w: &mut dyn Write) -> io::Result<()> {
    json::write_tables_object(&tables(a), w)
}

/// Every table as one JSON object, like [`write_tables_json`], where the tables streamed
/// while reading ([`stream::TableFiles`] in JSON) are the files in `dir`: their bytes are
/// copied (memory stays bounded by live state); the others come from `a`.
pub fn write_tables_json_from(a: &Analysis, dir: &Path, w: &mut dyn Write) -> io::Result<()> {
    json::write_object_with(&tables(a), w, |t, w| {
        match fs::File::open(dir.join(format!("{}.json", t.name))) {
            Ok(f) => {
                // The file is the array and a final newline, which the object does not have.
                let len = f.metadata()?.len();
                io::copy(&mut io::Read::take(f, len.saturating_sub(1)), w).map(|_| ())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => json::write_array(t, w),
            Err(e) => Err(e),
        }
    })
}

/// The temporary name beside `path` a file is written under before it is renamed.
pub fn temp_path(path: &Path) -> std::path::PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `path` atomically: into a temporary file beside it, then a rename, so a reader
/// never sees half a file and a failed run leaves any previous file in place.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut w = BufWriter::new(fs::File::create(&tmp)?);
        write(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => fs::rename(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns::{Answer, RData};

    /// The table text of answers and addresses is what `Display` prints, including the
    /// shortcuts' record types (an A or CNAME record under another type number keeps its
    /// type's name).
    #[test]
    fn answer_and_address_text_match_display() {
        let answer = |rtype, data| Answer {
            name: "www.example".into(),
            rtype,
            ttl: 60,
            data,
        };
        let answers = [
            answer(1, RData::A("192.0.2.1".parse().unwrap())),
            answer(1, RData::A("0.0.0.0".parse().unwrap())),
            answer(1, RData::A("255.255.255.255".parse().unwrap())),
            answer(99, RData::A("10.20.30.4".parse().unwrap())),
            answer(5, RData::Cname("edge.example.net".into())),
            answer(5, RData::Cname(String::new())),
            answer(28, RData::Aaaa("2001:db8::1".parse().unwrap())),
            answer(
                65,
                RData::Svcb {
                    priority: 1,
                    target: String::new(),
                    alpn: vec!["h3".into(), "h2".into()],
                    ipv4hint: vec!["192.0.2.7".parse().unwrap()],
                    ipv6hint: vec![],
                },
            ),
            answer(99, RData::Other(vec![0x0a, 0x0b])),
        ];
        let text = |f: &dyn Fn(&mut String)| {
            let mut s = String::from("x");
            f(&mut s);
            s
        };
        for a in &answers {
            assert_eq!(text(&|s| push_answer(a, s)), format!("x{a}"));
        }
        for ip in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "::",
            "::ffff:192.0.2.1",
            "2001:db8::8a2e:370:7334",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(text(&|s| push_ip_text(ip, s)), format!("x{ip}"));
        }
        for x in 0..=255u8 {
            let ip = std::net::IpAddr::from([x, 255 - x, x / 3, 7]);
            assert_eq!(text(&|s| push_ip_text(ip, s)), format!("x{ip}"));
        }
    }
}

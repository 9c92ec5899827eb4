//! DNS transactions (name, type, rcode), the SNI and negotiated version of every TLS
//! connection, and every HTTP/1.x request (method, host, URI) with its status agree with
//! tshark (expectations from `scripts/tshark-protocol-golden.py`, committed under
//! `testdata/golden/proto/`).

use crate::util::{analyze, public_dir, testdata};
use std::collections::BTreeSet;

fn our_view(name: &str) -> BTreeSet<String> {
    let (a, _) = analyze(&public_dir().join(name));
    let mut out = BTreeSet::new();
    for d in a.dns.iter().filter(|d| d.response_time.is_some()) {
        if d.transport.as_str() == "udp" {
            out.insert(format!(
                "dns\t{}\t{}\t{}",
                d.qname,
                d.qtype,
                d.rcode.map(|r| (r & 0xf).to_string()).unwrap_or_default()
            ));
        }
    }
    for c in a
        .connections
        .iter()
        .filter(|c| c.app_protocol == Some("tls"))
    {
        out.insert(format!(
            "tls\t{}\t{}",
            c.sni.clone().unwrap_or_else(|| "-".into()),
            c.tls_version_code
                .map(|v| format!("0x{v:04x}"))
                .unwrap_or_else(|| "-".into())
        ));
    }
    for r in a.requests.iter().filter(|r| r.timing_source == "http") {
        out.insert(format!(
            "http\t{}\t{}\t{}\t{}",
            r.method.clone().unwrap_or_default(),
            r.host.clone().unwrap_or_else(|| "-".into()),
            r.uri.clone().unwrap_or_default(),
            r.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    out
}

#[test]
fn protocols_match_tshark() {
    let dir = testdata("golden/proto");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    assert!(
        entries.len() >= 16,
        "golden files missing: {}",
        entries.len()
    );
    let mut failures = Vec::new();
    for golden in entries {
        let name = golden
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .replace('~', "/");
        let expected: BTreeSet<String> = std::fs::read_to_string(&golden)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let actual = our_view(&name);
        if expected != actual {
            let missing: Vec<_> = expected.difference(&actual).collect();
            let extra: Vec<_> = actual.difference(&expected).collect();
            failures.push(format!(
                "{name}\n  only tshark: {missing:?}\n  only lifecycle: {extra:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

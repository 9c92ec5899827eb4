//! With keys (a key log file or the capture's own Decryption Secrets Blocks), lifecycle finds
//! the same HTTP/1.x and HTTP/2 requests (method, host, path, status) tshark shows after
//! decrypting (`scripts/tshark-decrypted-golden.py`, committed under
//! `testdata/golden/decrypted/`).

use crate::util::{analyze_with_keys, public_dir, testdata};
use std::collections::BTreeSet;

#[test]
fn decrypted_requests_match_tshark() {
    let index = std::fs::read_to_string(testdata("golden/decrypted/INDEX.tsv")).unwrap_or_default();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in index.lines() {
        let Some((cap, keys)) = line.split_once('\t') else {
            continue;
        };
        let golden = testdata(&format!("golden/decrypted/{}.tsv", cap.replace('/', "~")));
        let expected: BTreeSet<String> = std::fs::read_to_string(&golden)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let keys = (keys != "-").then(|| public_dir().join(keys));
        let a = analyze_with_keys(&public_dir().join(cap), keys.as_deref());
        let actual: BTreeSet<String> = a
            .requests
            .iter()
            .filter(|r| r.encrypted && r.timing_source == "http")
            .map(|r| {
                let host = r.host.clone().unwrap_or_else(|| "-".into());
                let url = r.url.clone().unwrap_or_default();
                let path = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
                    .unwrap_or(url);
                format!(
                    "req\t{}\t{host}\t{path}\t{}",
                    r.method.clone().unwrap_or_default(),
                    r.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into())
                )
            })
            .collect();
        checked += 1;
        // tshark leaves a close-delimited HTTP/1.0 response undissected (status "-"); we
        // read it (verified by hand with `-z follow,tls,ascii`: "HTTP/1.0 200 ok"). There,
        // only method, host and path are compared.
        let key = |l: &String| {
            l.rsplit_once('\t')
                .map(|(k, _)| k.to_string())
                .unwrap_or_default()
        };
        let wildcard: BTreeSet<String> = expected
            .iter()
            .filter(|l| l.ends_with("\t-"))
            .map(key)
            .collect();
        let norm = |set: &BTreeSet<String>| -> BTreeSet<String> {
            set.iter()
                .map(|l| {
                    if wildcard.contains(&key(l)) {
                        key(l)
                    } else {
                        l.clone()
                    }
                })
                .collect()
        };
        let (expected, actual) = (norm(&expected), norm(&actual));
        if expected != actual {
            failures.push(format!(
                "{cap}\n  only tshark: {:?}\n  only lifecycle: {:?}",
                expected.difference(&actual).collect::<Vec<_>>(),
                actual.difference(&expected).collect::<Vec<_>>()
            ));
        }
    }
    assert!(checked >= 12);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

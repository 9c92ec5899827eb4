//! `--threads N` gives byte-identical tables to a single-threaded run.

use crate::util::{public_dir, testdata};
use std::path::Path;
use std::process::Command;

fn tables(capture: &Path, threads: usize, keylog: Option<&Path>) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifecycle"));
    cmd.args(["analyze", "--quiet", "--format", "csv", "--threads"])
        .arg(threads.to_string())
        .arg("--out")
        .arg(dir.path())
        .arg(capture);
    if let Some(k) = keylog {
        cmd.arg("--keylog").arg(k);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn threads_give_identical_output() {
    let captures = [
        testdata("wikipedia.pcap"),
        testdata("lab/chromium-cold-then-warm/chromium-cold-then-warm.dsb.pcapng"),
        testdata("lab/lossy/lossy.pcapng"),
        testdata("lab/full-cold-curl/full-cold-curl.pcapng"),
        public_dir().join("FoxIO-LLC_ja4/pcap/latest.pcapng"),
        public_dir().join("ntop_nDPI/tests/cfgs/default/pcap/android.pcap"),
        public_dir().join("zeek_zeek/testing/btest/Traces/dns-edns-ecs.pcap"),
        public_dir().join("seladb_PcapPlusPlus/Tests/Pcap++Test/PcapExamples/example2.pcap"),
        public_dir().join("zeek_zeek/testing/btest/Traces/dhcp/dhcp.pcap"),
        public_dir().join("rusticata_pcap-analyzer/assets/frag_tcp_80_ipv4.pcap"),
    ];
    for c in &captures {
        let one = tables(c, 1, None);
        assert_eq!(one.len(), 7);
        for n in [2, 3] {
            let many = tables(c, n, None);
            for ((name, a), (_, b)) in one.iter().zip(&many) {
                assert!(a == b, "{} with {n} threads: {name} differs", c.display());
            }
        }
    }
}

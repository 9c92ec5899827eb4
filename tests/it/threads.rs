//! `--threads N` gives byte-identical tables to a single-threaded run.

use crate::util::{cli_tables, library_tables, public_dir, testdata};
use std::path::Path;

fn tables(capture: &Path, threads: usize, keylog: Option<&Path>) -> Vec<(String, String)> {
    cli_tables(&[capture], threads, keylog)
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

#[test]
fn rows_released_while_reading_equal_rows_released_at_the_end() {
    // Every public capture and the lab captures: the watermark never releases a row that
    // something later in the capture would have changed.
    let mut captures: Vec<std::path::PathBuf> = std::fs::read_dir(testdata("lab"))
        .unwrap()
        .filter_map(|e| e.ok())
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten())
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".pcapng"))
        .collect();
    captures.push(testdata("wikipedia.pcap"));
    let manifest = std::fs::read_to_string(public_dir().join("MANIFEST.tsv")).unwrap_or_default();
    for line in manifest.lines().skip(1) {
        if let Some(p) = line.split('\t').next() {
            let path = public_dir().join(p);
            if path.is_file() {
                captures.push(path);
            }
        }
    }
    captures.sort();
    assert!(captures.len() > 50, "{} captures", captures.len());
    for c in &captures {
        let streamed = library_tables(c, true);
        let at_end = library_tables(c, false);
        for ((name, a), (_, b)) in streamed.iter().zip(&at_end) {
            assert!(a == b, "{}: {name} differs", c.display());
        }
    }
}

#[test]
fn compressed_input_through_the_reader_thread_gives_identical_output() {
    // A gzip capture cannot be read by every worker cheaply: the reader thread decompresses
    // and sends each frame to its worker. Same tables as one thread.
    let src = testdata("lab/chromium-cold-then-warm/chromium-cold-then-warm.dsb.pcapng");
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("capture.pcapng.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut enc, &std::fs::read(&src).unwrap()).unwrap();
    enc.finish().unwrap();
    let one = tables(&gz, 1, None);
    assert_eq!(one.len(), 7);
    let requests = one.iter().find(|(n, _)| n == "requests.csv").unwrap();
    assert!(requests.1.lines().count() > 5, "{}", requests.1);
    for n in [2, 3] {
        let many = tables(&gz, n, None);
        for ((name, a), (_, b)) in one.iter().zip(&many) {
            assert!(a == b, "gzip with {n} threads: {name} differs");
        }
    }
    // Two captures in one run, the first read by the reader thread and the second by the
    // workers themselves: ticks and frame numbers carry over as with one thread.
    let lossy = testdata("lab/lossy/lossy.pcapng");
    let both = |threads| cli_tables(&[gz.as_path(), lossy.as_path()], threads, None);
    assert!(both(1) == both(2), "two captures: 1 and 2 threads differ");
}

//! The binary: exit codes, messages, output files.

use crate::util::{lifecycle, public_dir, run_ok, testdata};
use std::process::Command;

#[test]
fn clean_capture_exits_zero_with_report() {
    let out = run_ok(
        lifecycle()
            .args(["analyze"])
            .arg(public_dir().join("zeek_zeek/testing/btest/Traces/wikipedia.pcap")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("connections"), "{stdout}");
}

#[test]
fn truncated_capture_exits_one_naming_frame_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let src =
        std::fs::read(public_dir().join("zeek_zeek/testing/btest/Traces/wikipedia.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &src[..src.len() - 10]).unwrap();
    let outdir = dir.path().join("out");
    let out = lifecycle()
        .args(["analyze", "--format", "csv", "--out"])
        .arg(&outdir)
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("frame") && stderr.contains("byte offset"),
        "{stderr}"
    );
    // Partial results were written.
    let conns = std::fs::read_to_string(outdir.join("connections.csv")).unwrap();
    assert!(conns.lines().count() > 10, "{conns}");
}

#[test]
fn not_a_capture_exits_two() {
    let out = lifecycle()
        .args(["analyze"])
        .arg(testdata("README.md"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap"));
    let out = lifecycle()
        .args(["analyze", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_error_exits_two() {
    let out = lifecycle().args(["analyze"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = lifecycle().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn gzip_and_stdin_inputs() {
    let gz =
        public_dir().join("zeek_zeek/testing/btest/Traces/tls/tls-fragmented-handshake.pcap.gz");
    let out = lifecycle().arg("analyze").arg(&gz).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 connections"));
    let file =
        std::fs::File::open(public_dir().join("zeek_zeek/testing/btest/Traces/wikipedia.pcap"))
            .unwrap();
    let out = lifecycle()
        .args(["analyze", "-"])
        .stdin(file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn every_malformed_public_capture_fails_cleanly() {
    for (name, code) in [
        ("google_gopacket/pcapgo/tests/le/test901.pcapng", 1),
        ("rusticata_pcap-parser/assets/err-eof.bin", 2),
        (
            "seladb_PcapPlusPlus/Tests/Fuzzers/RegressionTests/regression_samples/clusterfuzz-testcase-FuzzTarget-6207688043397120",
            1,
        ),
        (
            "seladb_PcapPlusPlus/Tests/Fuzzers/RegressionTests/regression_samples/clusterfuzz-testcase-minimized-FuzzTarget-5631583764873216",
            2,
        ),
        (
            "seladb_PcapPlusPlus/Tests/Fuzzers/RegressionTests/regression_samples/clusterfuzz-testcase-minimized-FuzzTarget-5755755617189888",
            1,
        ),
        (
            "seladb_PcapPlusPlus/Tests/Fuzzers/RegressionTests/regression_samples/crash-null-deref-pcapng-shb",
            2,
        ),
        (
            "seladb_PcapPlusPlus/Tests/Fuzzers/RegressionTests/regression_samples/crash-pcapng-epb-unbounded-length",
            1,
        ),
        (
            "the-tcpdump-group_libpcap/tests/linktype-reserved-field-not-zero.pcap",
            2,
        ),
        (
            "the-tcpdump-group_libpcap/tests/pcap-invalid-version-1.pcap",
            2,
        ),
        (
            "the-tcpdump-group_libpcap/tests/pcapng-invalid-vers-1.pcapng",
            2,
        ),
        (
            "the-tcpdump-group_libpcap/tests/shb-option-too-long.pcapng",
            1,
        ),
    ] {
        let out = lifecycle()
            .arg("analyze")
            .arg(public_dir().join(name))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name}: one clear line expected: {stderr}"
        );
    }
}

#[test]
fn keylog_flag_decrypts_and_bad_path_exits_two() {
    let dir = public_dir().join("Voev_snet/tests/pcap/data/decrypt_by_keylog");
    let out = run_ok(
        lifecycle()
            .args(["analyze", "--out", "-", "--format", "json", "--keylog"])
            .arg(dir.join("log.txt"))
            .arg(dir.join("tls1.3_curl_google.pcap")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("https://www.google.com/"), "{stdout}");
    let out = lifecycle()
        .args(["analyze", "--keylog", "/nonexistent/keys.txt"])
        .arg(dir.join("tls1.3_curl_google.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The Parquet files open outside Rust: `tests/read_parquet.py` reads them with pyarrow and
/// compares every value with the JSON output (skipped when python3 has no pyarrow;
/// `.ci/run` installs it).
#[test]
fn parquet_reads_back_with_pyarrow() {
    let probe = Command::new("python3")
        .args(["-c", "import pyarrow"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIP parquet_reads_back_with_pyarrow: python3 -c 'import pyarrow' failed (pip install pyarrow)"
        );
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_parquet.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_lifecycle"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn report_streamed_while_reading_equals_the_report_of_all_rows() {
    // The binary writes each navigation's block as it is released (bounded memory); the
    // library renders the same report from every row collected at the end.
    let mut caps = vec![
        testdata("wikipedia.pcap"),
        testdata("lab/chromium-cold-then-warm/chromium-cold-then-warm.dsb.pcapng"),
    ];
    for s in ["full-cold-curl", "redirect", "slow-dns", "lossy"] {
        caps.push(testdata(&format!("lab/{s}/{s}.pcapng")));
    }
    for cap in caps {
        let (a, _) = crate::util::analyze(&cap);
        let expected = lifecycle::export::report::render(&a, false);
        assert!(expected.contains("navigation 1 —"), "{}", cap.display());
        for threads in ["1", "2"] {
            let out = run_ok(
                lifecycle()
                    .args(["analyze", "--threads", threads])
                    .arg(&cap),
            );
            crate::util::assert_same_lines(
                &format!("report of {} with {threads} threads", cap.display()),
                &expected,
                &String::from_utf8_lossy(&out.stdout),
            );
        }
    }
}

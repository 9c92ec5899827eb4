//! Exports: Parquet read back with polars (types and row counts), typed JSON, `--out -`,
//! HAR 1.2 (structural check, and `har-validator` when node has it), and the HTML page
//! (self-contained; rendered in headless Chromium when it is installed).

use crate::util::{analyze, library_tables, library_tables_with, lifecycle, run_ok, testdata};
use lifecycle::export::table::ColumnData;
use lifecycle::export::{self, Format, har};
#[cfg(feature = "parquet")]
use polars::prelude::{DataType, ParquetReader, SerReader, TimeUnit, TimeZone};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The captures every export is checked on: the bundled one and the lab's.
fn captures() -> Vec<PathBuf> {
    let mut v = vec![testdata("wikipedia.pcap")];
    for s in ["full-cold-curl", "curl-tls12", "redirect", "slow-dns"] {
        v.push(testdata(&format!("lab/{s}/{s}.pcapng")));
    }
    v
}

/// [`captures`] and a capture with its TLS keys inside (decrypted HTTP/2, every header).
fn captures_and_decrypted() -> Vec<PathBuf> {
    let mut v = captures();
    v.push(testdata(
        "lab/chromium-cold-then-warm/chromium-cold-then-warm.dsb.pcapng",
    ));
    v
}

#[cfg(feature = "parquet")]
fn expected_dtype(c: &ColumnData) -> DataType {
    match c {
        ColumnData::Int(_) => DataType::Int64,
        ColumnData::Float(_) => DataType::Float64,
        ColumnData::Str(_) | ColumnData::Ip(_) => DataType::String,
        ColumnData::Bool(_) => DataType::Boolean,
        ColumnData::Time(_) => DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
        ColumnData::List(_) => DataType::List(Box::new(DataType::String)),
    }
}

// Reading the files back needs polars, which only the default (Parquet) build links.
#[cfg(feature = "parquet")]
#[test]
fn parquet_reads_back_with_types_and_row_counts() {
    for cap in [
        testdata("wikipedia.pcap"),
        testdata("lab/full-cold-curl/full-cold-curl.pcapng"),
    ] {
        let (a, err) = analyze(&cap);
        assert_eq!(err, None);
        let dir = tempfile::tempdir().unwrap();
        let files = export::write_tables(&a, dir.path(), Format::Parquet).unwrap();
        assert_eq!(files.len(), 7);
        for t in export::tables(&a) {
            let path = dir.path().join(format!("{}.parquet", t.name));
            let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
                .finish()
                .unwrap();
            assert_eq!(df.height(), t.rows, "{}: {}", cap.display(), t.name);
            assert_eq!(df.width(), t.columns.len());
            for (col, pc) in t.columns.iter().zip(df.columns()) {
                assert_eq!(pc.name().as_str(), col.name);
                assert_eq!(
                    pc.dtype(),
                    &expected_dtype(&col.data),
                    "{} {}.{}",
                    cap.display(),
                    t.name,
                    col.name
                );
                let nulls = match &col.data {
                    ColumnData::Int(v) => v.iter().filter(|x| x.is_none()).count(),
                    ColumnData::Float(v) => v.iter().filter(|x| x.is_none()).count(),
                    ColumnData::Str(v) => v.iter().filter(|x| x.is_none()).count(),
                    ColumnData::Ip(v) => v.iter().filter(|x| x.is_none()).count(),
                    ColumnData::Bool(v) => v.iter().filter(|x| x.is_none()).count(),
                    ColumnData::Time(v) => v.iter().filter(|x| x.is_none()).count(),
                    ColumnData::List(_) => 0,
                };
                assert_eq!(pc.null_count(), nulls, "{}.{}", t.name, col.name);
            }
        }
        // Spot values: the first timestamp survives at nanosecond precision.
        let t = export::tables(&a);
        let conns = t.iter().find(|t| t.name == "connections").unwrap();
        if let Some(ColumnData::Time(v)) = conns.column("start_time").map(|c| &c.data)
            && let Some(Some(first)) = v.first()
        {
            let df = ParquetReader::new(
                std::fs::File::open(dir.path().join("connections.parquet")).unwrap(),
            )
            .finish()
            .unwrap();
            let ns = df
                .column("start_time")
                .unwrap()
                .cast(&DataType::Int64)
                .unwrap();
            assert_eq!(ns.i64().unwrap().get(0), Some(first.nanos()));
        }
    }
    // The lab capture has requests and a navigation, so those tables are not only schemas.
    let (a, _) = analyze(&testdata("lab/full-cold-curl/full-cold-curl.pcapng"));
    assert!(!a.requests.is_empty() && !a.navigations.is_empty());
}

#[test]
fn default_format_is_parquet_and_files_are_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for _ in 0..2 {
        run_ok(
            lifecycle()
                .arg("analyze")
                .arg(testdata("lab/full-cold-curl/full-cold-curl.pcapng"))
                .arg("--out")
                .arg(&out)
                .arg("--quiet"),
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "anomalies.parquet",
            "arp.parquet",
            "connections.parquet",
            "dhcp.parquet",
            "dns.parquet",
            "navigations.parquet",
            "requests.parquet"
        ],
        "no temporary files are left behind"
    );
}

fn json_matches(v: &Value, c: &ColumnData, row: usize) -> bool {
    match (c, v) {
        (_, Value::Null) => match c {
            ColumnData::Int(x) => x[row].is_none(),
            ColumnData::Float(x) => x[row].is_none_or(|f| !f.is_finite()),
            ColumnData::Str(x) => x[row].is_none(),
            ColumnData::Ip(x) => x[row].is_none(),
            ColumnData::Bool(x) => x[row].is_none(),
            ColumnData::Time(x) => x[row].is_none(),
            ColumnData::List(_) => false,
        },
        (ColumnData::Int(x), Value::Number(n)) => n.as_i64() == x[row],
        (ColumnData::Float(x), Value::Number(n)) => x[row]
            .zip(n.as_f64())
            .is_some_and(|(a, b)| (a - b).abs() <= 0.0005),
        (ColumnData::Str(x), Value::String(s)) => x[row].as_deref() == Some(s.as_str()),
        (ColumnData::Ip(x), Value::String(s)) => x[row].map(|a| a.to_string()).as_ref() == Some(s),
        (ColumnData::Bool(x), Value::Bool(b)) => x[row] == Some(*b),
        (ColumnData::Time(x), Value::String(s)) => {
            x[row].map(|t| t.to_rfc3339()).as_ref() == Some(s)
        }
        (ColumnData::List(x), Value::Array(items)) => {
            x.row(row).map(|it| it.map(Some).collect::<Vec<_>>())
                == Some(items.iter().map(|i| i.as_str()).collect::<Vec<_>>())
        }
        _ => false,
    }
}

#[test]
fn json_files_are_typed_row_arrays() {
    for cap in captures() {
        let (a, _) = analyze(&cap);
        let dir = tempfile::tempdir().unwrap();
        export::write_tables(&a, dir.path(), Format::Json).unwrap();
        for t in export::tables(&a) {
            let text =
                std::fs::read_to_string(dir.path().join(format!("{}.json", t.name))).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            let rows = v.as_array().unwrap();
            assert_eq!(rows.len(), t.rows, "{} {}", cap.display(), t.name);
            for (i, row) in rows.iter().enumerate() {
                let obj = row.as_object().unwrap();
                let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
                let cols: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
                assert_eq!(keys, cols, "keys in column order");
                for c in &t.columns {
                    assert!(
                        json_matches(&obj[c.name], &c.data, i),
                        "{} {}[{i}].{} = {}",
                        cap.display(),
                        t.name,
                        c.name,
                        obj[c.name]
                    );
                }
            }
        }
    }
}

#[test]
fn out_dash_writes_one_json_object_to_stdout() {
    let cap = testdata("lab/full-cold-curl/full-cold-curl.pcapng");
    let o = run_ok(
        lifecycle()
            .arg("analyze")
            .arg(&cap)
            .args(["--out", "-", "--format", "json"]),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, _) = analyze(&cap);
    let obj = v.as_object().unwrap();
    let names: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "navigations",
            "requests",
            "connections",
            "dns",
            "dhcp",
            "arp",
            "anomalies"
        ]
    );
    assert_eq!(obj["requests"].as_array().unwrap().len(), a.requests.len());
    assert_eq!(
        obj["connections"].as_array().unwrap().len(),
        a.connections.len()
    );

    // Parquet cannot go to a terminal, and two outputs cannot share standard output.
    for args in [
        vec!["--out", "-"],
        vec!["--out", "-", "--format", "csv"],
        vec!["--out", "-", "--format", "json", "--har", "-"],
    ] {
        let o = lifecycle()
            .arg("analyze")
            .arg(&cap)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        assert!(String::from_utf8_lossy(&o.stderr).contains("standard output"));
    }
}

#[test]
fn out_dash_streams_the_same_object_as_all_rows_at_once() {
    // `--out -` spools the large tables into a private temporary directory while reading
    // and joins them at the end: byte for byte the object written from every row, with
    // 1 or 2 threads and with the rows also kept for a HAR; the directory is removed.
    let tmp = tempfile::tempdir().unwrap();
    let har = tmp.path().join("x.har");
    for cap in captures_and_decrypted() {
        let (a, _) = analyze(&cap);
        let mut expected = Vec::new();
        export::write_tables_json(&a, &mut expected).unwrap();
        let runs: [&[&str]; 3] = [&["--threads", "1"], &["--threads", "2"], &["--har"]];
        for extra in runs {
            let mut cmd = lifecycle();
            cmd.env("TMPDIR", tmp.path()).arg("analyze").arg(&cap);
            cmd.args(["--quiet", "--out", "-", "--format", "json"])
                .args(extra);
            if extra == ["--har"] {
                cmd.arg(&har);
            }
            let o = run_ok(&mut cmd);
            assert!(
                o.stdout == expected,
                "{} {extra:?}: --out - differs from the object of all rows",
                cap.display()
            );
            let left: Vec<_> = std::fs::read_dir(tmp.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| n != "x.har")
                .collect();
            assert!(left.is_empty(), "left behind: {left:?}");
        }
    }
}

fn write_har(cap: &Path, dir: &Path) -> (PathBuf, Value) {
    let path = dir.join("out.har");
    run_ok(
        lifecycle()
            .arg("analyze")
            .arg(cap)
            .arg("--har")
            .arg(&path)
            .arg("--quiet"),
    );
    let v = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, v)
}

/// `--har` and `--html` write pages, entries and sections as the rows are released
/// (spooled to a private temporary directory, joined at the end): byte for byte the
/// documents written from every row kept, with 1 or 2 threads, to a file or standard
/// output, and beside table files, which are the same as without them; the temporary
/// directory is removed.
#[test]
fn har_and_html_are_streamed_byte_for_byte_as_from_all_rows() {
    use lifecycle::analyze::{Analyzer, Options};
    use lifecycle::capture::open_input;
    let tmp = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for cap in captures_and_decrypted() {
        let mut a = Analyzer::new(Options {
            keep_http_headers: true,
            ..Options::default()
        });
        let (r, _) = open_input(&cap).unwrap();
        a.feed_capture(&cap.display().to_string(), r, &mut |_| {})
            .unwrap();
        let all = a.finish();
        assert!(!all.requests.is_empty(), "{}", cap.display());
        let mut expected = Vec::new();
        har::write_har(&all, &mut expected).unwrap();
        let mut expected_html = Vec::new();
        export::html::write_html(&all, &mut expected_html).unwrap();
        let path = out.path().join("x.har");
        let html = out.path().join("x.html");
        let tables = out.path().join("tables");
        let runs: [&[&str]; 4] = [
            &["--threads", "1", "--quiet"],
            &["--threads", "2", "--quiet"],
            &["--threads", "2", "--quiet", "--format", "csv", "--out"],
            &["--threads", "1"],
        ];
        for extra in runs {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&html);
            let mut cmd = lifecycle();
            cmd.env("TMPDIR", tmp.path())
                .arg("analyze")
                .arg(&cap)
                .args(extra);
            if extra.ends_with(&["--out"]) {
                cmd.arg(&tables);
            }
            // The run without --quiet writes the document to standard output.
            let to_stdout = !extra.contains(&"--quiet");
            cmd.arg("--har")
                .arg(if to_stdout { Path::new("-") } else { &path });
            cmd.arg("--html").arg(&html);
            let o = run_ok(&mut cmd);
            let got = if to_stdout {
                o.stdout
            } else {
                std::fs::read(&path).unwrap()
            };
            assert!(
                got == expected,
                "{} {extra:?}: the streamed HAR differs from the one written from all rows",
                cap.display()
            );
            assert!(
                std::fs::read(&html).unwrap() == expected_html,
                "{} {extra:?}: the streamed HTML page differs from the one of all rows",
                cap.display()
            );
            let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
            assert!(left.is_empty(), "left behind: {left:?}");
        }
        let mut with_har: Vec<(String, String)> = std::fs::read_dir(&tables)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).unwrap();
                (e.file_name().to_string_lossy().into_owned(), text)
            })
            .collect();
        with_har.sort();
        let without = crate::util::cli_tables(&[cap.as_path()], 2, None);
        assert_eq!(with_har, without, "{}", cap.display());
    }
}

/// Without `--har` the HTTP parser keeps only the header fields the tables use: the tables
/// are the same as with every header kept, and with `--har` the HAR still lists them all.
#[test]
fn headers_are_kept_for_the_har_only() {
    use lifecycle::analyze::Options;
    for cap in captures() {
        let lean = library_tables_with(
            &cap,
            Options {
                keep_http_headers: false,
                ..Options::default()
            },
        );
        assert_eq!(lean, library_tables(&cap, true), "{}", cap.display());
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, doc) = write_har(&testdata("wikipedia.pcap"), dir.path());
    let entries = doc["log"]["entries"].as_array().unwrap();
    let http: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e["request"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://"))
        })
        .collect();
    assert!(!http.is_empty());
    for e in http {
        assert!(
            !e["request"]["headers"].as_array().unwrap().is_empty(),
            "{e}"
        );
    }
}

#[test]
fn har_is_valid_har_1_2_and_matches_the_tables() {
    for cap in captures() {
        let dir = tempfile::tempdir().unwrap();
        let (_, doc) = write_har(&cap, dir.path());
        let problems = har::validate(&doc);
        assert!(problems.is_empty(), "{}: {problems:#?}", cap.display());
        let (a, _) = analyze(&cap);
        let log = &doc["log"];
        assert_eq!(log["version"], "1.2");
        assert_eq!(log["pages"].as_array().unwrap().len(), a.navigations.len());
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries.len(), a.requests.len());
        for e in entries {
            let id = e["_request_id"].as_u64().unwrap();
            let r = a.requests.iter().find(|r| r.request_id == id).unwrap();
            let t = &e["timings"];
            let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
                .iter()
                .map(|k| t[k].as_f64().unwrap())
                .filter(|x| *x >= 0.0)
                .sum();
            let time = e["time"].as_f64().unwrap();
            assert!((time - sum).abs() < 0.01, "time {time} vs timings {sum}");
            if let Some(total) = r.total_ms {
                assert!(
                    (time - total).abs() < 0.01,
                    "time {time} vs total_ms {total}"
                );
            }
            if r.connection_reused {
                assert_eq!(t["connect"], -1.0);
                assert_eq!(t["ssl"], -1.0);
            }
            if let Some(tls) = r.tls_ms {
                assert!(
                    t["connect"].as_f64().unwrap() >= tls - 0.001,
                    "connect includes ssl"
                );
            }
            assert_eq!(e["connection"], r.connection_id.to_string());
            assert_eq!(e["serverIPAddress"], r.server_ip.to_string());
            assert_eq!(
                e["_url_inferred"].as_bool().unwrap_or(false),
                r.url.is_none()
            );
        }
        // Entries are in startedDateTime order.
        let starts: Vec<&str> = entries
            .iter()
            .map(|e| e["startedDateTime"].as_str().unwrap())
            .collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    }
}

/// The structural check must accept what a real browser writes, or it checks our own
/// idea of HAR rather than HAR. The Chromium HAR comes from the capture lab
/// (`../shared/lab/capture-lab.sh`, scenario chromium-cold-then-warm).
#[test]
fn har_check_accepts_a_real_chromium_har() {
    let p = testdata("lab/chromium-cold-then-warm/chromium.har");
    let text = std::fs::read_to_string(&p).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(har::validate(&doc), Vec::<String>::new());
    // Our entries carry every key the browser's entries carry (extras aside).
    let dir = tempfile::tempdir().unwrap();
    let (_, ours) = write_har(
        &testdata("lab/full-cold-curl/full-cold-curl.pcapng"),
        dir.path(),
    );
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('_') && *k != "comment")
            .cloned()
            .collect();
        k.sort();
        k
    };
    let theirs = &doc["log"]["entries"][0];
    let mine = &ours["log"]["entries"][0];
    for part in ["request", "response"] {
        let missing: Vec<String> = keys(&theirs[part])
            .into_iter()
            .filter(|k| !keys(&mine[part]).contains(k))
            .collect();
        assert!(missing.is_empty(), "{part} lacks {missing:?}");
    }
    let missing: Vec<String> = keys(theirs)
        .into_iter()
        .filter(|k| !keys(mine).contains(k))
        .collect();
    assert!(missing.is_empty(), "entry lacks {missing:?}");
}

/// `har-validator` (the HAR 1.2 JSON schema, as used by HAR tooling) when node has it:
/// `npm install -g har-validator`.
#[test]
fn har_passes_har_validator_when_available() {
    let root = Command::new("npm").args(["root", "-g"]).output();
    let Ok(root) = root else {
        eprintln!("SKIP har_passes_har_validator_when_available: npm not installed");
        return;
    };
    let node_path = String::from_utf8_lossy(&root.stdout).trim().to_string();
    let probe = Command::new("node")
        .env("NODE_PATH", &node_path)
        .args(["-e", "require('har-validator')"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIP har_passes_har_validator_when_available: node cannot load har-validator (npm install -g har-validator)"
        );
        return;
    }
    let script = "const v=require('har-validator');const fs=require('fs');\
        const h=JSON.parse(fs.readFileSync(process.argv[1],'utf8'));\
        v.har(h).then(()=>console.log('valid')).catch(e=>{console.error(JSON.stringify(e.errors||e.message,null,1));process.exit(1)});";
    for cap in captures() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_har(&cap, dir.path());
        let o = Command::new("node")
            .env("NODE_PATH", &node_path)
            .args(["-e", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: har-validator: {}",
            cap.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn write_html(cap: &Path, dir: &Path) -> (PathBuf, String) {
    let path = dir.join("page.html");
    run_ok(
        lifecycle()
            .arg("analyze")
            .arg(cap)
            .arg("--html")
            .arg(&path)
            .arg("--quiet"),
    );
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn html_is_self_contained_with_one_row_per_request() {
    for cap in captures() {
        let dir = tempfile::tempdir().unwrap();
        let (_, page) = write_html(&cap, dir.path());
        let lower = page.to_ascii_lowercase();
        for needle in [
            "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
        ] {
            assert!(
                !lower.contains(needle),
                "{}: page contains {needle}",
                cap.display()
            );
        }
        let (a, _) = analyze(&cap);
        assert_eq!(page.matches("data-request-id=").count(), a.requests.len());
        let conns: std::collections::BTreeSet<u64> =
            a.requests.iter().map(|r| r.connection_id).collect();
        let mut per_view = 0;
        for n in &a.navigations {
            let ids: std::collections::BTreeSet<u64> = a
                .requests
                .iter()
                .filter(|r| r.navigation_id == Some(n.navigation_id))
                .map(|r| r.connection_id)
                .collect();
            per_view += ids.len();
        }
        let orphans: std::collections::BTreeSet<u64> = a
            .requests
            .iter()
            .filter(|r| r.navigation_id.is_none())
            .map(|r| r.connection_id)
            .collect();
        assert!(per_view + orphans.len() >= conns.len());
        assert_eq!(
            page.matches("data-connection-id=").count(),
            per_view + orphans.len()
        );
        assert_eq!(
            page.matches("data-navigation-id=").count(),
            a.navigations.len()
        );
    }
}

/// Renders the page in real headless Chromium (Debian's `chromium` package) when installed.
#[test]
fn html_renders_in_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!(
            "SKIP html_renders_in_headless_chromium: /usr/bin/chromium not installed (apt-get install chromium)"
        );
        return;
    }
    let cap = testdata("lab/full-cold-curl/full-cold-curl.pcapng");
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_html(&cap, dir.path());
    let url = format!("file://{}", path.display());
    let profile = dir.path().join("profile");
    let run = |extra: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let o = run(&["--dump-dom"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dom = String::from_utf8_lossy(&o.stdout);
    let (a, _) = analyze(&cap);
    assert_eq!(
        dom.matches("data-request-id=").count(),
        a.requests.len(),
        "{dom}"
    );
    let shot = std::env::var_os("LIFECYCLE_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("page.png"));
    let o = run(&[&format!("--screenshot={}", shot.display())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

//! Helpers shared by the integration tests.

use lifecycle::analyze::{Analysis, Analyzer, Options};
use lifecycle::capture::open_input;
use std::path::{Path, PathBuf};

/// `../shared/captures/public` beside the repository (present in CI and dev machines).
pub fn public_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/public")
}

pub fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(p)
}

/// Analyses one capture through the library; returns the analysis and whether reading
/// stopped with an error.
pub fn analyze(path: &Path) -> (Analysis, Option<String>) {
    let mut a = Analyzer::new(Options::default());
    let err = match open_input(path) {
        Ok((r, _)) => a
            .feed_capture(&path.display().to_string(), r, &mut |_| {})
            .err()
            .map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    (a.finish(), err)
}

/// Prints expected/actual as blocks when they differ.
pub fn assert_same_lines(what: &str, expected: &str, actual: &str) {
    if expected != actual {
        panic!("{what} differs\n--- expected ---\n{expected}\n--- actual ---\n{actual}\n");
    }
}

/// Like [`analyze`], with an SSLKEYLOGFILE-format key log.
pub fn analyze_with_keys(path: &Path, keys: Option<&Path>) -> Analysis {
    let mut a = Analyzer::new(Options::default());
    if let Some(k) = keys {
        a.add_keylog(&std::fs::read(k).unwrap_or_default());
    }
    if let Ok((r, _)) = open_input(path) {
        let _ = a.feed_capture(&path.display().to_string(), r, &mut |_| {});
    }
    a.finish()
}

/// The binary under test.
pub fn lifecycle() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_lifecycle"))
}

/// Runs `cmd`, asserting exit code 0 (its standard error in the message).
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Every table file (name, CSV text, sorted by name) of `lifecycle analyze --format csv
/// --threads N` over `captures`; exit code 1 (a damaged capture) is accepted.
pub fn cli_tables(
    captures: &[&Path],
    threads: usize,
    keylog: Option<&Path>,
) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lifecycle();
    cmd.args(["analyze", "--quiet", "--format", "csv", "--threads"])
        .arg(threads.to_string())
        .arg("--out")
        .arg(dir.path())
        .args(captures);
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

/// The tables (name, CSV text) of a capture through the library, rows released while
/// reading (the default) or all at the end.
pub fn library_tables(capture: &Path, release_while_reading: bool) -> Vec<(String, String)> {
    library_tables_with(
        capture,
        Options {
            release_while_reading,
            ..Options::default()
        },
    )
}

/// [`library_tables`] with any options.
pub fn library_tables_with(capture: &Path, opts: Options) -> Vec<(String, String)> {
    let mut a = Analyzer::new(opts);
    if let Ok((r, _)) = open_input(capture) {
        let _ = a.feed_capture("c", r, &mut |_| {});
    }
    let out = a.finish();
    lifecycle::export::tables(&out)
        .iter()
        .map(|t| {
            let mut buf = Vec::new();
            lifecycle::export::csv::write_csv(t, &mut buf).unwrap();
            (t.name.to_string(), String::from_utf8(buf).unwrap())
        })
        .collect()
}

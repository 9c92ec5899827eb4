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

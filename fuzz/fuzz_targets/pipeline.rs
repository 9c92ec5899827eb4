//! The whole analysis (all stages, correlation, every table) on an arbitrary capture.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::analyze::{Analyzer, Options};

fuzz_target!(|data: &[u8]| {
    let mut a = Analyzer::new(Options::default());
    let _ = a.feed_capture("fuzz", std::io::Cursor::new(data.to_vec()), &mut |_| {});
    let analysis = a.finish();
    let _ = lifecycle::export::tables(&analysis);
    let _ = lifecycle::export::report::render(&analysis, false);
});

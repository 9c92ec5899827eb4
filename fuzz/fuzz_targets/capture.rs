//! Capture reader + link/IP decoder on arbitrary bytes; the decoder's fast path must agree
//! with etherparse's lax slicing on every frame it takes, and the reader's record shortcuts
//! must read what pcap-parser reads (same frames, same error, same offset).
#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::capture::{CaptureReader, Event};
use lifecycle::decode::Decoder;

fuzz_target!(|data: &[u8]| {
    if let Err((fast, general)) = lifecycle::capture::shortcuts_agree(data) {
        assert_eq!(fast, general);
    }
    let Ok(mut r) = CaptureReader::new(std::io::Cursor::new(data.to_vec()), 0) else {
        return;
    };
    let mut d = Decoder::new();
    while let Ok(Some(ev)) = r.next_event() {
        if let Event::Frame(f) = ev {
            assert!(lifecycle::decode::fast_path_agrees(&f));
            let _ = d.decode(&f);
        }
    }
});

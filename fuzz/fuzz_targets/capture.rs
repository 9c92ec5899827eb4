//! Capture reader + link/IP decoder on arbitrary bytes; the decoder's fast path must agree
//! with etherparse's lax slicing on every frame it takes, and the reader's legacy-record
//! shortcut must read what pcap-parser reads (same frames, same error, same offset).
#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::capture::{CaptureReader, Event};
use lifecycle::decode::Decoder;

/// Every event of a reader as text, then its error or end and offset.
fn events(data: &[u8], general_only: bool) -> Vec<String> {
    let mut r = match CaptureReader::new(std::io::Cursor::new(data.to_vec()), 0) {
        Ok(r) => r,
        Err(e) => return vec![format!("{e:?}")],
    };
    r.set_general_only(general_only);
    let mut out = Vec::new();
    loop {
        match r.next_event() {
            Ok(Some(Event::Frame(f))) => out.push(format!(
                "{} {:?} {} {} {} {:?}",
                f.number, f.ts, f.linktype, f.interface, f.orig_len, f.data
            )),
            Ok(Some(Event::Secrets(s))) => out.push(format!("{s:?}")),
            Ok(None) => break,
            Err(e) => {
                out.push(format!("{e:?}"));
                break;
            }
        }
    }
    out.push(format!("{} {}", r.offset(), r.frames()));
    out
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(events(data, false), events(data, true));
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

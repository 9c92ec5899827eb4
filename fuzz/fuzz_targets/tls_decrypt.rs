#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::{Direction, Timestamp};
use lifecycle::protocol::tls_decrypt::{KeyLog, TlsDecryptor};

fuzz_target!(|data: &[u8]| {
    let mut keys = KeyLog::new();
    keys.add_text(data);
    let mut d = TlsDecryptor::new();
    let split = data
        .first()
        .map(|b| *b as usize)
        .unwrap_or(0)
        .min(data.len());
    let (a, b) = data.split_at(split);
    let mut out = Vec::new();
    d.data(&keys, Direction::Orig, Timestamp(1), a, &mut out);
    d.data(&keys, Direction::Resp, Timestamp(2), b, &mut out);
});

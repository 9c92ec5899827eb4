#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::{Direction, Timestamp};
use lifecycle::protocol::tls::{self, TlsConn};

fuzz_target!(|data: &[u8]| {
    let _ = tls::looks_like_tls_client_hello(data);
    let mut c = TlsConn::new();
    // First byte splits the input into a client and a server part.
    let split = data
        .first()
        .map(|b| *b as usize)
        .unwrap_or(0)
        .min(data.len());
    let (a, b) = data.split_at(split);
    c.data(Direction::Orig, Timestamp(1), a);
    c.data(Direction::Resp, Timestamp(2), b);
    c.data(Direction::Orig, Timestamp(3), b);
    let mut recs = Vec::new();
    c.drain_records(&mut recs);
    let _ = c.summary();
});

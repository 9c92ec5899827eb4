#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::{Direction, Timestamp};
use lifecycle::protocol::h2::H2Conn;

fuzz_target!(|data: &[u8]| {
    let mut c = H2Conn::new();
    let split = data
        .first()
        .map(|b| *b as usize)
        .unwrap_or(0)
        .min(data.len());
    let (a, b) = data.split_at(split);
    c.data(
        Direction::Orig,
        Timestamp(1),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    );
    c.data(Direction::Orig, Timestamp(2), a);
    c.data(Direction::Resp, Timestamp(3), b);
    let mut out = Vec::new();
    c.finish(&mut out);
});

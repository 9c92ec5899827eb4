#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::{Direction, Timestamp};
use lifecycle::protocol::http::Http1Conn;

fuzz_target!(|data: &[u8]| {
    let mut c = Http1Conn::new();
    let split = data
        .first()
        .map(|b| *b as usize)
        .unwrap_or(0)
        .min(data.len());
    let (a, b) = data.split_at(split);
    for (i, chunk) in a.chunks(7).enumerate() {
        c.data(
            Direction::Orig,
            Timestamp(i as i64),
            Timestamp(i as i64),
            chunk,
        );
    }
    c.data(Direction::Resp, Timestamp(100), Timestamp(100), b);
    c.gap(Direction::Resp, 10, Timestamp(101));
    c.data(Direction::Resp, Timestamp(102), Timestamp(102), b);
    c.close(Direction::Resp, Timestamp(103));
    let mut out = Vec::new();
    c.finish(Timestamp(104), &mut out);
});

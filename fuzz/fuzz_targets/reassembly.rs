//! Segments described by the input (seq offset, length, flags) through one reassembler.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::Timestamp;
use lifecycle::reassembly::Reassembler;

fuzz_target!(|data: &[u8]| {
    let mut r = Reassembler::with_caps(4096, 16);
    r.syn(u32::MAX - 100);
    let payload = [0x55u8; 2048];
    let mut delivered = 0u64;
    for (i, c) in data.chunks(5).enumerate() {
        if c.len() < 5 {
            break;
        }
        let seq = u32::from_le_bytes([c[0], c[1], c[2], 0]).wrapping_add(u32::MAX - 99);
        let len = (c[3] as usize * 8).min(payload.len());
        r.segment(
            Timestamp(i as i64),
            seq,
            &payload[..len],
            c[4] & 1 == 1,
            c[4] & 2 == 2,
            &mut |_| {
                delivered += 1;
            },
        );
        if c[4] & 4 == 4 {
            r.peer_ack(Timestamp(i as i64), seq, &mut |_| {});
        }
    }
    r.flush(Timestamp(1_000_000), &mut |_| {});
});

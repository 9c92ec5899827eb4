#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::Timestamp;
use lifecycle::protocol::dns::{self, DnsTracker, Endpoint, TcpFramer, Transport};

fuzz_target!(|data: &[u8]| {
    let mut t = DnsTracker::new();
    let a = Endpoint {
        ip: [10, 0, 0, 1].into(),
        port: 5000,
    };
    let b = Endpoint {
        ip: [10, 0, 0, 2].into(),
        port: 53,
    };
    if let Ok(m) = dns::parse_message(data) {
        t.message(Timestamp(1), 1, a, b, Transport::Udp, m.clone());
        t.message(Timestamp(2), 2, b, a, Transport::Udp, m);
    }
    let mut f = TcpFramer::new();
    let mut msgs = 0;
    f.push(Timestamp(3), data, &mut |_, m| {
        msgs += 1;
        let _ = dns::parse_message(m);
    });
    let _ = dns::looks_like_dns(data);
    let mut out = Vec::new();
    t.finish(&mut out);
});

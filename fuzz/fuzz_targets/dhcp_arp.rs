#![no_main]
use libfuzzer_sys::fuzz_target;
use lifecycle::base::Timestamp;
use lifecycle::protocol::{arp, dhcp};

fuzz_target!(|data: &[u8]| {
    let mut t = dhcp::DhcpTracker::new();
    if let Ok(m) = dhcp::parse_dhcp(data) {
        t.message(Timestamp(1), 1, &m);
        t.message(Timestamp(2), 2, &m);
    }
    let mut out = Vec::new();
    t.finish(&mut out);
    let mut a = arp::ArpTracker::new();
    if let Ok(p) = arp::parse_arp(data) {
        a.packet(Timestamp(1), 1, &p);
    }
    let mut out = Vec::new();
    a.finish(&mut out);
});

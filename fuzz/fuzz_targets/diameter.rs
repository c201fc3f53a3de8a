//! Diameter messages: view, records, framing, correlation, owned Repr round trip.
#![no_main]

use landfall_parsers::diameter::{framing, record, DiameterCorrelator, Message, MessageRepr};
use landfall_parsers::flow::{FlowKey, PacketMeta};
use std::net::{IpAddr, Ipv4Addr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = framing::find_header(data);
    let meta = PacketMeta {
        file: 0,
        frame: 1,
        ts_us: 0,
    };
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let flow = FlowKey::new(ip, 3868, ip, 3869);
    let mut correlator = DiameterCorrelator::default();
    if let Ok(m) = Message::parse(data) {
        let _ = record(&m, &meta);
        let _ = correlator.push(&meta, flow, &m);
        let _ = correlator.push(&meta, flow.reversed(), &m);
        if let Ok(r) = MessageRepr::from_message(&m) {
            let bytes = r.emit();
            let again = Message::parse(&bytes).expect("emitted message parses");
            assert_eq!(
                MessageRepr::from_message(&again).expect("emitted AVPs parse"),
                r
            );
        }
    }
});

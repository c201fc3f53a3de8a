//! GTPv2-C messages: view, piggybacking, records, correlation, Repr round trip.
#![no_main]

use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::gtp::v2::correlate::Gtpv2Correlator;
use landfall_parsers::gtp::v2::{record, Gtpv2Message, Gtpv2Repr};
use std::net::{IpAddr, Ipv4Addr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let meta = PacketMeta {
        file: 0,
        frame: 1,
        ts_us: 0,
    };
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let flow = FlowKey::new(ip, 2123, ip, 2124);
    let mut correlator = Gtpv2Correlator::new(Default::default());
    let mut next = Some(Gtpv2Message::parse(data));
    while let Some(Ok(m)) = next.take() {
        let _ = record(&m, &meta);
        let _ = correlator.push(&meta, flow, &m);
        next = m.piggybacked();
    }
    if let Ok(r) = Gtpv2Repr::parse(data) {
        assert_eq!(
            Gtpv2Repr::parse(&r.emit(false)).expect("emitted message parses"),
            r
        );
    }
});

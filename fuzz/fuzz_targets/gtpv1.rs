//! A sequence of GTPv1-C messages (each prefixed by a length octet; the top bit picks the
//! direction) through one correlator: view, extension headers, IEs, fields, records,
//! request/response correlation (one second apart, so requests also expire), Repr round trip.
#![no_main]

use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::gtp::v1::correlate::Gtpv1Correlator;
use landfall_parsers::gtp::v1::{record, Gtpv1Fields, Gtpv1Message, Gtpv1Repr};
use std::net::{IpAddr, Ipv4Addr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let sgsn = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let ggsn = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut correlator = Gtpv1Correlator::new(Default::default());
    let mut rest = data;
    let mut frame = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len & 0x7f).min(tail.len());
        let (msg, next) = tail.split_at(n);
        rest = next;
        frame += 1;
        let meta = PacketMeta {
            file: 0,
            frame,
            ts_us: frame as i64 * 1_000_000,
        };
        let flow = if len & 0x80 == 0 {
            FlowKey::new(sgsn, 2123, ggsn, 2123)
        } else {
            FlowKey::new(ggsn, 2123, sgsn, 2123)
        };
        if let Ok(m) = Gtpv1Message::parse(msg) {
            let _ = m.extensions().count();
            let _ = Gtpv1Fields::extract(&m);
            let _ = record(&m, &meta);
            let _ = correlator.push(&meta, flow, &m);
        }
        if let Ok(r) = Gtpv1Repr::parse(msg) {
            assert_eq!(
                Gtpv1Repr::parse(&r.emit()).expect("emitted message parses"),
                r
            );
        }
    }
    correlator.flush();
});

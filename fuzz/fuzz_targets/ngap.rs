//! NGAP PDUs (aligned PER through oxirush-ngap, the IEs read: UE ids, user location,
//! NAS-PDU through oxirush-nas, 5G-S-TMSI) and their correlation: the input is split
//! into PDUs at 0xff 0xfe, each sent one way or the other over two associations, so UE
//! contexts are made, paired, moved and released; the NAS decoder also gets each PDU
//! as it is.
#![no_main]

use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::ngap::correlate::NgapCorrelator;
use landfall_parsers::ngap::nas::NasFacts;
use landfall_parsers::ngap::NgapView;
use std::net::{IpAddr, Ipv4Addr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let gnb = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    ];
    let amf = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let mut c = NgapCorrelator::new(Default::default());
    let mut rest = data;
    let mut i = 0u64;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == [0xff, 0xfe])
            .unwrap_or(rest.len());
        let (pdu, tail) = rest.split_at(end);
        rest = tail.get(2..).unwrap_or_default();
        let _ = NasFacts::parse(pdu);
        let Ok((view, _)) = NgapView::parse(pdu) else {
            continue;
        };
        let meta = PacketMeta {
            file: 0,
            frame: i,
            ts_us: i as i64 * 1000,
        };
        let _ = view.record(&meta);
        let up = FlowKey::new(gnb[(i % 2) as usize], 9487, amf, 38412);
        let flow = if i % 3 == 2 { up.reversed() } else { up };
        let _ = c.push(&meta, flow, &view);
        i += 1;
    }
    c.flush();
});

//! A sequence of TCAP messages (each prefixed by a length octet) through one MAP
//! correlator: transaction ids, dialogue portion, components, every operation's argument
//! and result reader, records, dialogue state and signals.
#![no_main]

use landfall_parsers::flow::PacketMeta;
use landfall_parsers::ss7::map::correlate::MapCorrelator;
use landfall_parsers::ss7::map::{decode_fields, MapComponent};
use landfall_parsers::ss7::sccp::SccpAddress;
use landfall_parsers::ss7::tcap::TcapMessage;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut corr = MapCorrelator::new(Default::default(), Default::default(), Default::default());
    let vlr = SccpAddress::e164(7, "447785000685");
    let hlr = SccpAddress::e164(6, "33612000000");
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
        let (called, calling) = if len & 0x80 == 0 {
            (hlr, vlr)
        } else {
            (vlr, hlr)
        };
        let Ok(m) = TcapMessage::parse(msg) else {
            continue;
        };
        if let Some(d) = m.dialogue {
            let _ = d.context_string();
            let _ = d.map_context();
        }
        if !corr.is_map(&meta, &called, &calling, &m) {
            continue;
        }
        let mut comps = Vec::new();
        for c in m.components() {
            let Ok(c) = c else { break };
            let (fields, _) = decode_fields(&c);
            let mc = MapComponent {
                tcap: &m,
                component: c,
                fields,
                called,
                calling,
            };
            let _ = mc.record(&meta);
            comps.push((c, fields));
        }
        let _ = corr.push(&meta, &called, &calling, &m, &comps);
    }
    corr.flush();
});

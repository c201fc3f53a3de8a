//! A sequence of SCCP messages (each prefixed by a length octet) through one reassembler:
//! addresses, pointers, optional parameters, XUDT segment state; completed user data goes
//! on to TCAP. Address emit/parse round trip.
#![no_main]

use landfall_parsers::ss7::sccp::{Reassembled, SccpAddress, SccpMessage, SccpReassembler};
use landfall_parsers::ss7::sigtran::mtp3::RoutingLabel;
use landfall_parsers::ss7::tcap::TcapMessage;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut reasm = SccpReassembler::default();
    let label = RoutingLabel {
        opc: 1,
        dpc: 2,
        sls: 0,
    };
    let mut rest = data;
    let mut ts = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (msg, next) = tail.split_at(n);
        rest = next;
        ts += 1_000_000;
        let Ok(m) = SccpMessage::parse(msg) else {
            continue;
        };
        for a in [&m.called, &m.calling] {
            let again = SccpAddress::parse(&a.emit()).expect("emitted address parses");
            assert_eq!(again.ssn, a.ssn);
            assert_eq!(again.point_code, a.point_code);
        }
        match reasm.push(ts, label, &m) {
            Reassembled::Whole(d) => {
                let _ = TcapMessage::parse(d);
            }
            Reassembled::Complete(d) => {
                let _ = TcapMessage::parse(&d);
            }
            Reassembled::Pending | Reassembled::Dropped(_) => {}
        }
    }
    reasm.finish();
});

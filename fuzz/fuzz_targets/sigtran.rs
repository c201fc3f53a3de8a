//! One SIGTRAN user message: M3UA (first byte even) or M2PA (odd), its parameters, the
//! MTP3 label, and the SCCP message inside; M3UA Repr round trip.
#![no_main]

use landfall_parsers::ss7::sccp::SccpMessage;
use landfall_parsers::ss7::sigtran::m2pa::M2paMessage;
use landfall_parsers::ss7::sigtran::m3ua::{M3uaMessage, M3uaRepr};
use landfall_parsers::ss7::sigtran::mtp3::Mtp3Message;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        if let Ok(m) = M3uaMessage::parse(body) {
            let _ = m.name();
            let _ = m.params().count();
            if let Ok(pd) = m.protocol_data() {
                let _ = SccpMessage::parse(pd.data);
            }
        }
        if let Ok(r) = M3uaRepr::parse(body) {
            assert_eq!(M3uaRepr::parse(&r.emit()).expect("emitted M3UA parses"), r);
        }
    } else if let Ok(m) = M2paMessage::parse(body) {
        if let Some(Ok(mtp3)) = m.mtp3.map(Mtp3Message::parse) {
            let again = Mtp3Message::emit(mtp3.si, mtp3.ni, mtp3.label, mtp3.data);
            assert_eq!(
                Mtp3Message::parse(&again).expect("emitted MTP3 parses"),
                mtp3
            );
            let _ = SccpMessage::parse(mtp3.data);
        }
    }
});

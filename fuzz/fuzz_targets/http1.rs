//! HTTP/1.1 from the wire: bytes of two directions (length-prefixed chunks, top bit =
//! direction) framed (Content-Length, chunked), parsed and paired in order; every
//! message's Repr round-trips.
#![no_main]

use landfall_fuzz::{frame_connection, Connection, Count};
use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::http::framing::HttpFramer;
use landfall_parsers::http::h1::{H1Connections, H1Repr};

struct H1(H1Connections, Count);

impl Connection for H1 {
    fn message(&mut self, meta: &PacketMeta, flow: FlowKey, unit: &[u8]) {
        if let Ok(r) = H1Repr::parse(unit) {
            let mut out = Vec::new();
            r.emit(&mut out);
            // A target with spaces or CRLF cannot be written back as it was.
            if let Ok(again) = H1Repr::parse(&out) {
                assert_eq!(again.body, r.body);
            }
        }
        self.0.message(meta, flow, unit, &mut self.1);
    }
    fn lost(&mut self, flow: &FlowKey) {
        self.0.lost(flow);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    frame_connection(
        HttpFramer::H1,
        data,
        &mut H1(H1Connections::default(), Count::default()),
    );
});

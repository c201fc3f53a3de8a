//! HTTP/2 from the wire: a sequence of byte chunks (length-prefixed, top bit of the length
//! = direction) cut into frames by the framer and fed to one connection state (preface,
//! header blocks with HPACK, CONTINUATION, DATA, resets, bounds); every frame's Repr
//! round-trips.
#![no_main]

use landfall_fuzz::{frame_connection, Connection, Count};
use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::http::frame::{Frame, FrameRepr};
use landfall_parsers::http::framing::HttpFramer;
use landfall_parsers::http::h2::H2Connections;

struct H2(H2Connections, Count);

impl Connection for H2 {
    fn message(&mut self, meta: &PacketMeta, flow: FlowKey, unit: &[u8]) {
        if let Ok(fr) = Frame::parse(unit) {
            if let Ok(r) = FrameRepr::parse(&fr) {
                let mut out = Vec::new();
                r.emit(&mut out);
                let again = Frame::parse(&out).expect("emitted frame parses");
                assert_eq!(FrameRepr::parse(&again).expect("repr"), r);
            }
        }
        self.0.push(meta, flow, unit, &mut self.1);
    }
    fn lost(&mut self, flow: &FlowKey) {
        self.0.lost(flow);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    frame_connection(
        HttpFramer::H2,
        data,
        &mut H2(H2Connections::default(), Count::default()),
    );
});

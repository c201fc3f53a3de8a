//! HTTP/1.1 from the wire: bytes of two directions (length-prefixed chunks, top bit =
//! direction) framed (Content-Length, chunked), parsed and paired in order; every
//! message's Repr round-trips.
#![no_main]

use landfall_parsers::error::DecodeError;
use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::http::framing::HttpFramer;
use landfall_parsers::http::h1::{H1Connections, H1Repr};
use landfall_parsers::http::{HttpMessage, HttpSink, Note};
use landfall_parsers::transport::tcp::{Framer, Framing};
use std::net::{IpAddr, Ipv4Addr};

struct Count(u64);

impl HttpSink for Count {
    fn message(&mut self, m: &HttpMessage<'_>) {
        self.0 += m.body.len() as u64;
    }
    fn error(&mut self, _: &PacketMeta, _: DecodeError) {}
    fn note(&mut self, _: Note) {}
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let flow = FlowKey::new(ip, 40000, ip, 7777);
    let mut conns = H1Connections::default();
    let mut sink = Count(0);
    let mut bufs = [Vec::new(), Vec::new()];
    let mut rest = data;
    let mut frame = 0u64;
    while rest.len() >= 2 {
        let head = u16::from_be_bytes([rest[0], rest[1]]);
        let (dir, len) = (usize::from(head >> 15), usize::from(head & 0x7fff));
        let chunk = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        frame += 1;
        let meta = PacketMeta {
            file: 0,
            frame,
            ts_us: frame as i64,
        };
        let f = if dir == 0 { flow } else { flow.reversed() };
        let buf = &mut bufs[dir];
        buf.extend_from_slice(chunk);
        // The reassembler never frames an empty buffer.
        while !buf.is_empty() {
            match HttpFramer::H1.frame(buf) {
                Framing::Message(n) if n > 0 && n <= buf.len() => {
                    let unit: Vec<u8> = buf.drain(..n).collect();
                    if let Ok(r) = H1Repr::parse(&unit) {
                        let mut out = Vec::new();
                        r.emit(&mut out);
                        // A target with spaces or CRLF cannot be written back as it was.
                        if let Ok(again) = H1Repr::parse(&out) {
                            assert_eq!(again.body, r.body);
                        }
                    }
                    conns.message(&meta, f, &unit, &mut sink);
                }
                Framing::Invalid => {
                    let skip = HttpFramer::H1.resync(&buf[1..]).map_or(buf.len(), |k| k + 1);
                    buf.drain(..skip.min(buf.len()));
                    conns.lost(&f);
                }
                _ => break,
            }
            if buf.len() > 1 << 16 {
                buf.clear();
            }
        }
    }
});

//! What the fuzz targets share: the HTTP targets' wire, bytes of both directions of one
//! TCP connection cut into messages by an [`HttpFramer`] as the TCP reassembler would.
//! Written once so the http1 and http2 targets differ only in what they do with a message.

use landfall_parsers::error::DecodeError;
use landfall_parsers::flow::{FlowKey, PacketMeta};
use landfall_parsers::http::framing::HttpFramer;
use landfall_parsers::http::{HttpMessage, HttpSink, Note};
use landfall_parsers::transport::tcp::{Framer, Framing};
use std::net::{IpAddr, Ipv4Addr};

/// A direction's buffer beyond this is dropped, as a stream past its bound would be.
const MAX_BUFFER: usize = 1 << 16;

/// An HTTP sink that looks at every message it is handed (bodies and requests counted,
/// so the optimiser keeps the work).
#[derive(Default)]
pub struct Count(pub u64);

impl HttpSink for Count {
    fn message(&mut self, m: &HttpMessage<'_>) {
        self.0 += m.body.len() as u64 + u64::from(m.head.is_request());
    }
    fn error(&mut self, _: &PacketMeta, _: DecodeError) {}
    fn note(&mut self, _: Note) {}
}

/// What a framed connection tells its target.
pub trait Connection {
    /// One framed message of direction `flow`, carried in packet `meta`.
    fn message(&mut self, meta: &PacketMeta, flow: FlowKey, unit: &[u8]);
    /// Bytes of direction `flow` were skipped: its state can no longer be trusted.
    fn lost(&mut self, flow: &FlowKey);
}

/// Feeds `data` through `framer` into `conn`: length-prefixed chunks (a big-endian u16,
/// its top bit the direction, the rest the length) appended to that direction's buffer,
/// each buffer framed as far as it goes; garbage skipped to the framer's next resync point.
pub fn frame_connection(framer: HttpFramer, data: &[u8], conn: &mut impl Connection) {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let flow = FlowKey::new(ip, 40000, ip, 7777);
    let mut bufs = [Vec::new(), Vec::new()];
    let mut rest = data;
    let mut frame = 0u64;
    while rest.len() >= 2 {
        let head = u16::from_be_bytes([rest[0], rest[1]]);
        let (dir, len) = (usize::from(head >> 15), usize::from(head & 0x7fff));
        let end = (2 + len).min(rest.len());
        let chunk = &rest[2..end];
        rest = &rest[end..];
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
            match framer.frame(buf) {
                Framing::Message(n) if n > 0 && n <= buf.len() => {
                    let unit: Vec<u8> = buf.drain(..n).collect();
                    conn.message(&meta, f, &unit);
                }
                Framing::Invalid => {
                    let skip = framer.resync(&buf[1..]).map_or(buf.len(), |k| k + 1);
                    buf.drain(..skip.min(buf.len()));
                    conn.lost(&f);
                }
                _ => break,
            }
            if buf.len() > MAX_BUFFER {
                buf.clear();
                conn.lost(&f);
            }
        }
    }
}

//! Link, IP, UDP, TCP and SCTP parsers on arbitrary frames, for every link type.
#![no_main]

use landfall_parsers::capture::Frame;
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};
use landfall_parsers::flow::PacketMeta;

struct Null;
impl Sink for Null {}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // First byte picks the link type, the rest is a sequence of length-prefixed frames fed
    // to one decoder, so reassembly state is exercised across frames.
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let linktype = [0, 1, 12, 101, 108, 113, 228, 229, 276][usize::from(pick) % 9];
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut n = 0;
    while rest.len() >= 2 && n < 64 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let frame = Frame {
            meta: PacketMeta {
                file: 0,
                frame: n + 1,
                ts_us: n as i64 * 1000,
            },
            linktype,
            data: rest[2..2 + len].to_vec(),
            orig_len: len as u32,
        };
        decoder.push(&frame, &mut Null);
        rest = &rest[2 + len..];
        n += 1;
    }
    decoder.finish(&mut Null);
});

//! A whole capture file through the readers and the decoder. The file is read in place
//! (as a mapped file is) and streamed, and the two readers must give the same frames and
//! errors.
#![no_main]

use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};

struct Null;
impl Sink for Null {}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let in_place = CaptureReader::from_bytes(data.to_vec(), "fuzz", 0);
    let streamed = CaptureReader::from_reader(std::io::Cursor::new(data.to_vec()), "fuzz", 0);
    let (in_place, streamed) = match (in_place, streamed) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) => return assert_eq!(a, b, "the readers fail to open differently"),
        (a, b) => panic!("one reader opens, the other not: {:?} / {:?}", a.err(), b.err()),
    };
    let frames: Vec<_> = in_place.take(10_000).collect();
    let other: Vec<_> = streamed.take(10_000).collect();
    assert_eq!(frames, other, "in-place and streamed readers differ");
    let mut decoder = Decoder::new(DecoderConfig::default());
    for frame in &frames {
        match frame {
            Ok(f) => decoder.push(f, &mut Null),
            Err(_) => break,
        }
    }
    decoder.finish(&mut Null);
});

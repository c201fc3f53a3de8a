//! A whole capture file through the readers and the decoder.
#![no_main]

use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};

struct Null;
impl Sink for Null {}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::from_reader(std::io::Cursor::new(data.to_vec()), "fuzz", 0)
    else {
        return;
    };
    let mut decoder = Decoder::new(DecoderConfig::default());
    for frame in reader.take(10_000) {
        match frame {
            Ok(f) => decoder.push(&f, &mut Null),
            Err(_) => break,
        }
    }
    decoder.finish(&mut Null);
});

//! No panic on bad input: every real capture, truncated at random points and with random
//! byte flips, goes through the decoders and the dataflow; problems are counted.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use landfall::ingest::SignalSink;
use landfall_dataflows::{run_moments, Rules};
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::decode_captures;
use landfall_parsers::decode::DecoderConfig;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Decode `bytes` as a capture and run the dataflow; returns (frames, errors, signals).
fn replay(bytes: Vec<u8>, name: &str) -> (u64, u64, usize) {
    let reader = match CaptureReader::from_reader(Cursor::new(bytes), name, 0) {
        Ok(r) => r,
        // A destroyed file header is refused up front with an error, which is fine.
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return (0, 1, 0);
        }
    };
    let mut sink = SignalSink::default();
    let decoder = decode_captures(vec![reader], DecoderConfig::default(), &mut sink, |_| {});
    let n = sink.signals.len();
    let moments = run_moments(Arc::new(sink.signals), 1, 1_000_000, Rules::default());
    assert!(
        moments.len() <= 6 * n,
        "more moments than signals can explain"
    );
    (decoder.stats.frames, decoder.stats.error_total(), n)
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn truncated_and_bit_flipped_captures_are_counted_not_fatal() {
    let dir = common::shared_captures();
    let mut rng = Rng(0x5eed_1a4d_fa11);
    let mut cases = 0;
    for path in common::capture_files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let original = std::fs::read(&path).expect("read capture");
        let (frames, _, _) = replay(original.clone(), &name);
        assert!(frames > 0, "{name}: no frames decoded from the intact file");

        // A cut inside the last record must be reported as a truncated capture.
        let (f, errors, _) = replay(original[..original.len() - 1].to_vec(), &name);
        assert!(
            f < frames + 1 && errors > 0,
            "{name}: truncation of the last record not counted"
        );
        for _ in 0..8 {
            // Random cuts may fall on a record boundary (no error then): only no panic,
            // and never more frames than the whole file.
            let cut = 24 + rng.below(original.len().saturating_sub(24));
            let (f, _, _) = replay(original[..cut].to_vec(), &name);
            assert!(
                f <= frames,
                "{name} cut at {cut}: more frames than the whole file"
            );
            cases += 1;
        }
        for _ in 0..12 {
            let mut bytes = original.clone();
            let flips = 1 + rng.below(64);
            for _ in 0..flips {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            replay(bytes, &name);
            cases += 1;
        }
        // Flips concentrated in the protocol headers of the first frames, where they hurt most.
        let mut bytes = original.clone();
        let head = bytes.len().min(4096);
        for _ in 0..128 {
            let i = rng.below(head);
            bytes[i] = rng.next() as u8;
        }
        replay(bytes, &name);
        cases += 1;
    }
    eprintln!("{cases} damaged captures replayed without a panic");
}

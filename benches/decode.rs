//! Decode throughput (frames/s and MB/s) on the 32-UE magma capture replicated 25 times
//! (≈100k frames, 69 MB): capture reading, link, IP reassembly, SCTP/TCP, Diameter and
//! correlation, everything `landfall replay` does before the dataflow. `compare-tshark.sh`
//! puts the same file through tshark for the ratio.

use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use landfall::replicate::{read_frames, replicate};
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};
use landfall_parsers::Signal;

const COPIES: u32 = 25;

#[derive(Default)]
struct Count {
    signals: u64,
}

impl Sink for Count {
    fn signal(&mut self, s: Signal) {
        black_box(s);
        self.signals += 1;
    }
}

/// Decode a whole in-memory capture; returns (frames, messages, signals).
fn decode(bytes: &[u8]) -> (u64, u64, u64) {
    let reader =
        CaptureReader::from_reader(Cursor::new(bytes.to_vec()), "bench", 0).expect("capture");
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut sink = Count::default();
    for frame in reader {
        decoder.push(&frame.expect("frame"), &mut sink);
    }
    decoder.finish(&mut sink);
    (
        decoder.stats.frames,
        decoder.stats.message_total(),
        sink.signals,
    )
}

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/captures/magma-gx-gy-s6a-32ue.pcapng");
    let Ok(original) = std::fs::read(&path) else {
        eprintln!("skipping decode benchmark: {} is absent", path.display());
        return;
    };
    let frames = read_frames(original, "magma-gx-gy-s6a-32ue").expect("read capture");
    let big = replicate(&frames, COPIES).expect("replicate");
    // Check once, outside the timed loop, that the benchmark measures real decoding.
    let (n_frames, messages, signals) = decode(&big);
    assert_eq!(n_frames, 4070 * u64::from(COPIES));
    assert_eq!(
        messages,
        1288 * u64::from(COPIES),
        "every Diameter message decoded"
    );
    assert_eq!(
        signals,
        96 * u64::from(COPIES),
        "ULR, AIR and PUR of 32 UEs per copy"
    );

    let mut g = c.benchmark_group("decode-magma-32ue-x25");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(5));
    g.throughput(Throughput::Elements(n_frames));
    g.bench_function("frames", |b| b.iter(|| black_box(decode(&big))));
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("bytes", |b| b.iter(|| black_box(decode(&big))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

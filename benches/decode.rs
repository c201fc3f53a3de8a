//! Decode throughput (frames/s and MB/s) on the 32-UE magma capture replicated 25 times
//! (101,750 frames, 72 MB of pcapng, in memory): capture reading, link, IP reassembly,
//! SCTP/TCP, Diameter and correlation, everything `landfall replay` does before the
//! dataflow. `compare-tshark.sh` puts the same file through tshark for the ratio.
//! The replicated capture is built at setup (`landfall::replicate`, as
//! `landfall replicate` does); without the shared captures the
//! benchmark says so and measures nothing.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use landfall::replicate::{read_frames, replicate};
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{AppMessage, Decoder, DecoderConfig, Sink};
use landfall_parsers::flow::PacketMeta;
use landfall_parsers::Signal;

const COPIES: u32 = 25;

/// Counts what the decoder hands out (and keeps it observable to the optimiser).
#[derive(Default)]
struct Count {
    messages: u64,
    signals: u64,
}

impl Sink for Count {
    fn message(&mut self, meta: &PacketMeta, msg: &AppMessage<'_, '_>) {
        black_box((meta, msg));
        self.messages += 1;
    }

    fn signal(&mut self, s: Signal) {
        black_box(s);
        self.signals += 1;
    }
}

/// Decode a whole in-memory capture; returns (frames, messages counted by the decoder,
/// messages seen by the sink, signals).
/// `from_reader` wants a `'static` reader: the capture is leaked once at setup so the
/// timed loop reads it in place instead of copying 72 MB per iteration.
fn decode(bytes: &'static [u8]) -> (u64, u64, u64, u64) {
    let reader = CaptureReader::from_reader(bytes, "bench", 0).expect("capture");
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut sink = Count::default();
    for frame in reader {
        decoder.push(&frame.expect("frame"), &mut sink);
    }
    decoder.finish(&mut sink);
    (
        decoder.stats.frames,
        decoder.stats.message_total(),
        sink.messages,
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
    let big: &'static [u8] = replicate(&frames, COPIES).expect("replicate").leak();
    // Check once, outside the timed loop, that the benchmark measures real decoding.
    let (n_frames, messages, seen, signals) = decode(big);
    assert_eq!(n_frames, 4070 * u64::from(COPIES));
    assert_eq!(seen, messages, "the sink saw every message");
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

    // The same work twice, reported as frames/s and as bytes/s (of the pcapng file).
    for (group, throughput) in [
        (
            "decode-magma-32ue-x25-frames",
            Throughput::Elements(n_frames),
        ),
        (
            "decode-magma-32ue-x25-bytes",
            Throughput::Bytes(big.len() as u64),
        ),
    ] {
        let mut g = c.benchmark_group(group);
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(5));
        g.throughput(throughput);
        g.bench_function("read+decode", |b| b.iter(|| black_box(decode(big))));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Record ingest: signal records (JSON Lines, docs/records.md) read into signals, per core,
//! against the capture path measured in the same run: the same signals decoded from the
//! capture they came from (the bundled roaming scenario replicated with distinct
//! subscribers, in memory; reading, link, IP, SCTP/TCP, Diameter, GTP, MAP, correlation).
//! Target: ≥ 1 M records/s per core for JSON Lines. One thread each; RUNS runs (default 5)
//! interleaved, best / median / slowest; the ratio is records/s over the capture path's
//! signals/s.
//!
//! ```sh
//! cargo bench --bench records                   # 4000 copies (≈ 40 k signals), 5 runs
//! COPIES=20000 RUNS=7 cargo bench --bench records
//! ```

use std::hint::black_box;
use std::time::Instant;

use landfall_model::record::SignalRecord;
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::records::{read_records, FileNames, RecordStats};
use landfall_parsers::Signal;
use landfall_testkit::replicate::{replicate_with, Options};
use landfall_testkit::rotation::frames;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Signals(Vec<Signal>);

impl Sink for Signals {
    fn signal(&mut self, s: Signal) {
        self.0.push(s);
    }
}

/// Every signal of an in-memory capture.
fn decode(bytes: &'static [u8]) -> Vec<Signal> {
    let mut reader = CaptureReader::from_bytes(bytes, "bench.pcap", 0).expect("capture");
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut sink = Signals::default();
    while let Some(frame) = reader.next_frame() {
        decoder.push_ref(&frame.expect("frame"), &mut sink);
    }
    decoder.finish(&mut sink);
    sink.0
}

fn read(text: &[u8], e212: &E212) -> (Vec<Signal>, RecordStats) {
    let (mut names, mut out, mut stats) =
        (FileNames::default(), Vec::new(), RecordStats::default());
    read_records(text, "bench.jsonl", e212, &mut names, &mut out, &mut stats).expect("read");
    (out, stats)
}

fn summary(rates: &mut [f64]) -> (f64, f64, f64) {
    rates.sort_by(|a, b| b.total_cmp(a));
    (rates[0], rates[rates.len() / 2], rates[rates.len() - 1])
}

fn main() {
    let copies = env("COPIES", 4000) as u32;
    let runs = env("RUNS", 5).max(1) as usize;
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap"),
    )
    .expect("fixture");
    let (capture, _) = replicate_with(
        &frames(&fixture),
        &Options {
            copies,
            distinct_subscribers: true,
            diameter_tcp_ports: vec![3868, 3871],
        },
    )
    .expect("replicate");
    let capture: &'static [u8] = Box::leak(capture.into_boxed_slice());
    let signals = decode(capture);
    let files = vec!["bench.pcap".to_owned()];
    let mut text = Vec::new();
    for s in &signals {
        serde_json::to_writer(&mut text, &SignalRecord::of(s, &files)).unwrap();
        text.push(b'\n');
    }
    let e212 = E212::default();
    let (back, stats) = read(&text, &e212);
    assert_eq!(
        back, signals,
        "the records read back to the capture's signals"
    );
    assert_eq!(stats.bad_total(), 0);
    println!(
        "{} signals, capture {:.1} MB, records {:.1} MB ({} B a record)",
        signals.len(),
        capture.len() as f64 / 1e6,
        text.len() as f64 / 1e6,
        text.len() / signals.len().max(1)
    );
    let (mut from_capture, mut from_records) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let n = black_box(decode(capture)).len();
        from_capture.push(n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let n = black_box(read(&text, &e212)).0.len();
        from_records.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let ratios: Vec<f64> = from_records
        .iter()
        .zip(&from_capture)
        .map(|(r, c)| r / c)
        .collect();
    let (cb, cm, cs) = summary(&mut from_capture);
    let (rb, rm, rs) = summary(&mut from_records);
    let (qb, qm, qs) = summary(&mut ratios.clone());
    println!(
        "capture path  signals/s  best {:>10.0}  median {:>10.0}  slowest {:>10.0}",
        cb, cm, cs
    );
    println!(
        "records       records/s  best {:>10.0}  median {:>10.0}  slowest {:>10.0}",
        rb, rm, rs
    );
    println!("records / capture        best {qb:>10.2}  median {qm:>10.2}  slowest {qs:>10.2}");
    println!(
        "target ≥ 1 M records/s per core: median {:.2} M/s ({})",
        rm / 1e6,
        if rm >= 1e6 { "met" } else { "not met" }
    );
}

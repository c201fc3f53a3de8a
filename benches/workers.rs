//! More workers than cores: the dataflow of `replay` on the bundled scenario replicated
//! 400 times (thousands of one-second batches, each a round in which every worker must
//! take part), with as many workers as cores (the baseline, same run), twice as many, and
//! four times as many. Workers park while they wait for each other, so oversubscription
//! costs what sharing a core costs, not a scheduler time slice per batch (before they
//! parked, 3 workers on 2 cores took 50–100× as long as 2). Prints each variant's best,
//! median and slowest of 5 runs and its ratio to the baseline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_dataflows::{run_moments, Rules};
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};
use landfall_parsers::Signal;
use landfall_testkit::replicate::{read_frames, replicate};

const COPIES: u32 = 400;
const RUNS: usize = 5;
const BATCH_US: i64 = 1_000_000;

#[derive(Default)]
struct Collect(Vec<Signal>);

impl Sink for Collect {
    fn signal(&mut self, s: Signal) {
        self.0.push(s);
    }
}

fn signals() -> Vec<Signal> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/roaming-scenario.pcap"
    );
    let bytes = std::fs::read(path).expect("the bundled scenario");
    let frames = read_frames(bytes, "scenario").expect("frames");
    let big = replicate(&frames, COPIES).expect("replicated capture");
    let mut reader = CaptureReader::from_bytes(big, "replicated", 0).expect("capture");
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut sink = Collect::default();
    while let Some(frame) = reader.next_frame() {
        decoder.push_ref(&frame.expect("frame"), &mut sink);
    }
    decoder.finish(&mut sink);
    sink.0
}

/// (best, median, slowest) of `RUNS` runs with `workers`, and the moment count.
fn measure(signals: &Arc<Vec<Signal>>, workers: usize) -> ([Duration; 3], usize) {
    let mut times = Vec::new();
    let mut moments = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        moments = run_moments(Arc::clone(signals), workers, BATCH_US, Rules::default()).len();
        times.push(start.elapsed());
    }
    times.sort();
    ([times[0], times[RUNS / 2], times[RUNS - 1]], moments)
}

fn main() {
    // `cargo bench` passes harness flags; `--list` and the test run measure nothing.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let signals = Arc::new(signals());
    println!(
        "workers bench: {} signals ({COPIES} copies of the scenario), {cores} cores, best/median/slowest of {RUNS}",
        signals.len()
    );
    let (base, moments) = measure(&signals, cores);
    for (label, workers) in [
        ("workers = cores (baseline)", cores),
        ("workers = 2 x cores", 2 * cores),
        ("workers = 4 x cores", 4 * cores),
    ] {
        let (t, m) = if workers == cores {
            (base, moments)
        } else {
            measure(&signals, workers)
        };
        assert_eq!(m, moments, "the same moments for any worker count");
        println!(
            "  {label:<28} {workers:>2} workers  best {:>8.1} ms  median {:>8.1} ms  slowest {:>8.1} ms  median vs baseline {:.2}x",
            t[0].as_secs_f64() * 1e3,
            t[1].as_secs_f64() * 1e3,
            t[2].as_secs_f64() * 1e3,
            t[1].as_secs_f64() / base[1].as_secs_f64()
        );
    }
}

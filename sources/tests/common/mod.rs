//! Helpers of the sources' integration tests: captures to feed, replay's signals to
//! compare with, and a collector of the merged stream that checks its watermarks.

#![allow(dead_code)] // each test file uses its share

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use landfall_model::signal::Signal;
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::{decode_captures, DecoderConfig, Sink};
use landfall_sources::{Merged, Sources, SourcesConfig};

/// How long any test waits for the service before failing.
pub const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Signals(pub Vec<Signal>);

impl Sink for Signals {
    fn signal(&mut self, s: Signal) {
        self.0.push(s);
    }
}

/// What `landfall replay` gives for these files (in this order, file indices 0, 1, …),
/// sorted.
pub fn replay(paths: &[PathBuf]) -> Vec<Signal> {
    let readers = paths
        .iter()
        .enumerate()
        .map(|(i, p)| CaptureReader::open(p, i as u16).unwrap())
        .collect();
    let mut sink = Signals::default();
    decode_captures(readers, DecoderConfig::default(), &mut sink, |_| {});
    sink.0.sort();
    sink.0
}

#[allow(unused_imports)] // each test file uses its share
pub use landfall_testkit::rotation::{frames, pcapng, span};

/// Settings for tests: quick follow, short batches.
pub fn config() -> SourcesConfig {
    let mut c = SourcesConfig::default();
    c.follow.poll = Duration::from_millis(10);
    c.follow.grace = Duration::from_millis(200);
    c.channel_batches = 4;
    c
}

/// What the merged stream carried.
#[derive(Debug, Default)]
pub struct Collected {
    pub signals: Vec<Signal>,
    /// Watermarks in order, as handed out.
    pub watermarks: Vec<i64>,
    /// Signals older than a watermark handed out before them.
    pub late: u64,
    pub ended: bool,
}

impl Collected {
    pub fn take(&mut self, m: Merged) {
        match m {
            Merged::Batch(b) => {
                let w = self.watermarks.last().copied();
                self.late += b
                    .signals
                    .iter()
                    .filter(|s| w.is_some_and(|w| s.at < w))
                    .count() as u64;
                self.signals.extend(b.signals);
                if let Some(w) = b.watermark {
                    if let Some(&prev) = self.watermarks.last() {
                        assert!(w >= prev, "the watermark went back: {prev} → {w}");
                    }
                    self.watermarks.push(w);
                }
            }
            Merged::End => self.ended = true,
        }
    }

    pub fn sorted(mut self) -> Vec<Signal> {
        self.signals.sort();
        self.signals
    }
}

/// Read the merged stream until its end (or `until` says stop, then stop the sources
/// and read on to the end), within [`DEADLINE`].
pub fn collect(sources: &Sources, mut until: impl FnMut(&Collected) -> bool) -> Collected {
    let started = Instant::now();
    let mut c = Collected::default();
    let mut stopping = false;
    while !c.ended {
        assert!(started.elapsed() < DEADLINE, "no end within {DEADLINE:?}");
        match sources.output.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => c.take(m),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("output closed without an end: {e}"),
        }
        if !stopping && until(&c) {
            sources.control.stop();
            stopping = true;
        }
    }
    assert_eq!(
        c.late,
        sources.control.merge().late_signals(),
        "late signals as the merge counted them"
    );
    c
}

/// Wait until `cond` holds (polling), within [`DEADLINE`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The folder of the shared real captures, beside the repository.
pub fn shared_captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures")
}

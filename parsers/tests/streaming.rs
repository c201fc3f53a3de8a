//! What a streaming consumer of the decoder relies on: `Decoder::oldest_pending` bounds
//! the time of every signal still to come and changes no output, and
//! `CaptureReader::from_stream` reads a stream arriving in small pieces to the same frames
//! as `from_reader`, with `offset` at the end of each frame.

use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use landfall_parsers::capture::{CaptureReader, Frame};
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};
use landfall_parsers::Signal;
use landfall_testkit::scenario::{roaming_scenario, skew_scenario};

#[derive(Default)]
struct Signals(Vec<Signal>);

impl Sink for Signals {
    fn signal(&mut self, s: Signal) {
        self.0.push(s);
    }
}

fn frames(bytes: &[u8]) -> Vec<Frame> {
    CaptureReader::from_reader(Cursor::new(bytes.to_vec()), "t", 0)
        .unwrap()
        .map(|f| f.unwrap())
        .collect()
}

/// Decode `frames` in order, asking for the low watermark after each frame when `ask`:
/// every signal emitted later must not be older than it.
fn decode(frames: &[Frame], ask: bool) -> (Vec<Signal>, String) {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut sink = Signals::default();
    let mut bound: Option<i64> = None;
    let mut last = i64::MIN;
    for f in frames {
        let before = sink.0.len();
        d.push(f, &mut sink);
        if let Some(b) = bound {
            for s in &sink.0[before..] {
                assert!(s.at >= b, "signal below the bound {b}: {s:?}");
            }
        }
        last = last.max(f.meta.ts_us);
        if ask {
            let low = d.oldest_pending().map_or(last, |p| p.min(last));
            bound = Some(bound.map_or(low, |b| b.max(low)));
        }
    }
    d.finish(&mut sink);
    (sink.0, format!("{:?}", d.stats))
}

/// The bound holds for frames in capture order (files of several interfaces, and the skew
/// scenario, are not: a frame behind the latest one is late by its own lag).
fn check(bytes: &[u8]) -> usize {
    let mut f = frames(bytes);
    f.sort_by_key(|f| f.meta.ts_us);
    let (asked, stats_asked) = decode(&f, true);
    let (plain, stats_plain) = decode(&f, false);
    assert_eq!(asked, plain, "asking changes no signal");
    assert_eq!(stats_asked, stats_plain, "nor any count");
    asked.len()
}

#[test]
fn oldest_pending_bounds_the_signals_to_come_and_changes_nothing() {
    assert!(check(&roaming_scenario()) > 10);
    assert!(check(&skew_scenario(8)) > 10);
}

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/captures")
        .join(name)
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn oldest_pending_on_real_captures() {
    for name in [
        "magma-gx-gy-s6a-32ue.pcapng",
        "magma-inbound-roaming-01-s6a-s8-gtpv2.pcapng",
        "open5gs-testattach-epc-s6a-gtpv2-s1ap-sll.pcapng",
    ] {
        let bytes = std::fs::read(shared(name)).unwrap();
        assert!(check(&bytes) > 0, "{name}");
    }
}

/// Gives at most `chunk` bytes per read, like a pipe fed slowly.
struct Trickle {
    bytes: Cursor<Vec<u8>>,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.bytes.read(&mut buf[..n])
    }
}

#[test]
fn from_stream_reads_small_pieces_to_the_same_frames() {
    let pcap = roaming_scenario();
    let pcapng = landfall_testkit::replicate::replicate(&frames(&pcap), 2).unwrap();
    for bytes in [pcap, pcapng] {
        let want = frames(&bytes);
        for chunk in [1, 7, 100, 4096] {
            let t = Trickle {
                bytes: Cursor::new(bytes.clone()),
                chunk,
            };
            let mut r = CaptureReader::from_stream(t, "t", 0).unwrap();
            let mut got = Vec::new();
            while let Some(f) = r.next_frame() {
                got.push(f.unwrap().to_frame());
            }
            assert_eq!(got, want, "chunk {chunk}");
            assert_eq!(r.offset(), bytes.len() as u64, "offset at the end");
        }
    }
}

#[test]
fn offset_is_the_end_of_the_last_frame() {
    let bytes = roaming_scenario();
    let mut r = CaptureReader::from_reader(Cursor::new(bytes.clone()), "t", 0).unwrap();
    let first = r.next_frame().unwrap().unwrap().data.len() as u64;
    // Classic pcap: 24-byte file header, 16-byte record header.
    assert_eq!(r.offset(), 24 + 16 + first);
    let mut m = CaptureReader::from_bytes(bytes.clone(), "t", 0).unwrap();
    m.next_frame();
    assert_eq!(m.offset(), r.offset(), "in place too");
    while r.next_frame().is_some() {}
    assert_eq!(r.offset(), bytes.len() as u64);
}

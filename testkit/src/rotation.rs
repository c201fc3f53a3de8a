//! A probe's rotated capture files: captures cut and shifted in time so that they follow
//! each other, as a probe writing one file after another would leave them in its folder.
//! The followed-folder tests of the sources and of `landfall serve` drop these in.

use std::collections::BTreeMap;
use std::io::Cursor;

use landfall_parsers::capture::{CaptureReader, Frame, PcapNgWriter};

use crate::replicate::{replicate_with, Options};
use crate::scenario::{roaming_scenario, skew_scenario};

/// Every frame of a capture held in memory.
pub fn frames(bytes: &[u8]) -> Vec<Frame> {
    CaptureReader::from_reader(Cursor::new(bytes.to_vec()), "t", 0)
        .expect("a capture")
        .map(|f| f.expect("a frame"))
        .collect()
}

/// `frames` as a pcapng (one interface per link type, ns stamps), each moved by
/// `shift_us`.
pub fn pcapng(frames: &[Frame], shift_us: i64) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).expect("a pcapng header");
    let mut ifaces: BTreeMap<u32, u32> = BTreeMap::new();
    for f in frames {
        let i = match ifaces.get(&f.linktype) {
            Some(&i) => i,
            None => {
                let i = w.add_interface(f.linktype, 9).expect("an interface");
                ifaces.insert(f.linktype, i);
                i
            }
        };
        w.write_packet(i, (f.meta.ts_us + shift_us) * 1000, &f.data, f.orig_len)
            .expect("a packet");
    }
    w.into_inner().expect("the capture")
}

/// The capture time span of `frames`: (first, last) µs.
pub fn span(frames: &[Frame]) -> (i64, i64) {
    let ts = frames.iter().map(|f| f.meta.ts_us);
    (ts.clone().min().expect("frames"), ts.max().expect("frames"))
}

/// Five files a probe rotated, each a second after the one before, named so that name
/// order is time order only when digit runs count as numbers: the roaming scenario; the
/// clock-skew scenario; the roaming scenario replicated `copies` times with distinct
/// subscribers, cut in two at a frame in the middle of its transactions (a rotation);
/// the roaming scenario again (its subscribers return after the gap-free pause).
pub fn rotated_files(copies: u32) -> Vec<(String, Vec<u8>)> {
    let roaming = roaming_scenario();
    let roaming_frames = frames(&roaming);
    let (_, roaming_end) = span(&roaming_frames);
    let skew = frames(&skew_scenario(20));
    let (skew_start, skew_end) = span(&skew);
    let skew_shift = roaming_end + 1_000_000 - skew_start;
    let (big, _) = replicate_with(
        &roaming_frames,
        &Options {
            copies,
            distinct_subscribers: true,
            diameter_tcp_ports: vec![3868, 3871],
        },
    )
    .expect("a replication");
    let big = frames(&big);
    let (big_start, big_end) = span(&big);
    let big_shift = skew_end + skew_shift + 1_000_000 - big_start;
    let (first, second) = big.split_at(big.len() / 2 + 7);
    let (roaming_start, _) = span(&roaming_frames);
    let last_shift = big_end + big_shift + 1_000_000 - roaming_start;
    vec![
        ("probe-1.pcap".into(), roaming),
        ("probe-2.pcapng".into(), pcapng(&skew, skew_shift)),
        ("probe-3.pcapng".into(), pcapng(first, big_shift)),
        ("probe-10.pcapng".into(), pcapng(second, big_shift)),
        (
            "probe-11.pcapng".into(),
            pcapng(&roaming_frames, last_shift),
        ),
    ]
}

//! Clock skew between the probes of a link's two directions (issue 18): the skew scenario
//! (2 ms round trips, built by landfall's own encoders) is split per link into a file of
//! requests and a file of answers whose clock is behind by more than the round trip; the
//! replay of the two files must give exactly the moments of the single-file capture, with
//! early answers held (the tolerance) or with the offset given as a setting (tolerance 0).

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use landfall_parsers::capture::{CaptureReader, Frame, PcapWriter, TsResolution};
use landfall_parsers::transport::link::LinkType;
use landfall_testkit::scenario::{skew_scenario, SKEW_SERVERS};
use serde_json::Value;

/// Subscribers per link: one every 50 ms, so a 500 ms lag has ten transactions in flight.
const SUBSCRIBERS: u32 = 24;

/// The links of the scenario, by their server's index in [`SKEW_SERVERS`].
const LINKS: [(&str, usize); 5] = [
    ("diameter-sctp", 0),
    ("diameter-tcp", 1),
    ("gtpv2", 2),
    ("gtpv1", 3),
    ("map", 4),
];

/// Lags of the answer file's clock, µs.
const LAGS_US: [i64; 4] = [5_000, 20_000, 150_000, 500_000];

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("landfall-skew-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Source and destination IPv4 addresses of an Ethernet frame.
fn addrs(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    let a = |o: usize| Ipv4Addr::new(frame[o], frame[o + 1], frame[o + 2], frame[o + 3]);
    (a(26), a(30))
}

fn write(path: &Path, frames: &[(i64, Vec<u8>)]) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, TsResolution::Micro).unwrap();
    for (ts, data) in frames {
        w.write_packet(ts * 1000, data, data.len() as u32).unwrap();
    }
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

/// The frames of one link: all in one file, and split into requests (client → server) and
/// answers (server → client, stamped `lag_us` early).
struct Split {
    single: PathBuf,
    requests: PathBuf,
    answers: PathBuf,
}

/// The frames of a capture.
fn frames_of(bytes: Vec<u8>) -> Vec<Frame> {
    CaptureReader::from_bytes(bytes, "skew", 0)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn split(frames: &[Frame], link: usize, lag_us: i64, d: &Path) -> Split {
    let server = SKEW_SERVERS[link];
    let (mut all, mut req, mut ans) = (Vec::new(), Vec::new(), Vec::new());
    for f in frames {
        let (src, dst) = addrs(&f.data);
        if src == server {
            ans.push((f.meta.ts_us - lag_us, f.data.clone()));
        } else if dst == server {
            req.push((f.meta.ts_us, f.data.clone()));
        } else {
            continue;
        }
        all.push((f.meta.ts_us, f.data.clone()));
    }
    assert!(!req.is_empty() && !ans.is_empty());
    let s = Split {
        single: d.join("single.pcap"),
        requests: d.join("requests.pcap"),
        answers: d.join("answers.pcap"),
    };
    write(&s.single, &all);
    write(&s.requests, &req);
    write(&s.answers, &ans);
    s
}

fn landfall(args: &[&str]) -> Output {
    common::run_landfall(args)
}

/// Moments without their `source` (file and frame differ between the runs).
fn moments(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("moment is JSON");
            v.as_object_mut().unwrap().remove("source");
            v
        })
        .collect()
}

/// The `early N` count of `proto`'s pairing line in a replay summary.
fn early(stderr: &[u8], proto: &str) -> u64 {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .find(|l| l.trim_start().starts_with(proto) && l.contains("in order"))
        .and_then(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "early")?;
            w.get(i + 1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn split_directions_replay_to_the_single_file_moments() {
    let frames = frames_of(skew_scenario(SUBSCRIBERS));
    for (name, link) in LINKS {
        for lag in LAGS_US {
            let d = dir(&format!("{name}-{lag}"));
            let s = split(&frames, link, lag, &d);
            let single = moments(&landfall(&["replay", "--quiet", path(&s.single)]).stdout);
            assert!(
                single.len() >= SUBSCRIBERS as usize,
                "{name}: {} moments",
                single.len()
            );
            // Early answers held for their requests: the default tolerance (300 ms), raised
            // above the lag where it is larger.
            let tolerance = format!("{}ms", (lag / 1000 + 100).max(300));
            let out = landfall(&[
                "replay",
                path(&s.requests),
                path(&s.answers),
                "--answer-tolerance",
                &tolerance,
            ]);
            assert_eq!(
                moments(&out.stdout),
                single,
                "{name}, answers {lag} µs behind, tolerance {tolerance}"
            );
            let proto = name.split('-').next().unwrap();
            eprintln!(
                "{name} answers {} ms behind: {} moments, {} answers paired early",
                lag / 1000,
                single.len(),
                early(&out.stderr, proto)
            );
            assert!(
                early(&out.stderr, proto) > 0,
                "{name}, {lag} µs: no answer was paired early:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // The offset given as a setting, early pairing disabled.
            let offset = format!("answers.pcap=+{}ms", lag / 1000);
            let out = landfall(&[
                "replay",
                "--quiet",
                path(&s.requests),
                path(&s.answers),
                "--clock-offset",
                &offset,
                "--answer-tolerance",
                "0",
            ]);
            assert_eq!(
                moments(&out.stdout),
                single,
                "{name}, answers {lag} µs behind, --clock-offset {offset}"
            );
            // Without either, transactions are lost (what the issue measured).
            if lag >= 20_000 {
                let out = landfall(&[
                    "replay",
                    "--quiet",
                    path(&s.requests),
                    path(&s.answers),
                    "--answer-tolerance",
                    "0",
                ]);
                assert_ne!(moments(&out.stdout), single, "{name}, {lag} µs");
            }
            if std::env::var_os("LANDFALL_KEEP_SKEW").is_none() {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
    }
}

#[test]
fn inspect_stats_shows_negative_delays_and_suggests_an_offset() {
    let frames = frames_of(skew_scenario(SUBSCRIBERS));
    let d = dir("inspect");
    let s = split(&frames, 0, 20_000, &d);
    let out = landfall(&["inspect", "--stats", path(&s.requests), path(&s.answers)]);
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    let line = text
        .lines()
        .find(|l| l.contains("requests.pcap → answers.pcap"))
        .unwrap_or_else(|| panic!("no delay line:\n{text}"));
    // 2 ms round trips stamped 20 ms early: every delay is -18 ms.
    let n = 2 * SUBSCRIBERS;
    assert!(line.contains(&format!("count {n} negative {n}")), "{line}");
    assert!(line.contains("median -18.000"), "{line}");
    assert!(
        text.contains("suggest --clock-offset answers.pcap=+18ms"),
        "{text}"
    );
    assert!(text.contains("early"), "{text}");
    // With the suggested offset no delay is negative, and nothing is suggested.
    let out = landfall(&[
        "inspect",
        "--stats",
        path(&s.requests),
        path(&s.answers),
        "--clock-offset",
        "answers.pcap=+20ms",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("negative 0"), "{text}");
    assert!(!text.contains("suggest"), "{text}");
    // A lag beyond the tolerance: nothing pairs, but the requests coming after their
    // dropped answers still measure it.
    let s = split(&frames, 1, 500_000, &d);
    let out = landfall(&["inspect", "--stats", path(&s.requests), path(&s.answers)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("early dropped {SUBSCRIBERS:>8}")),
        "{text}"
    );
    assert!(text.contains("median -498.000"), "{text}");
    assert!(
        text.contains("suggest --clock-offset answers.pcap=+498ms"),
        "{text}"
    );
    assert!(text.contains("--answer-tolerance 499ms"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_clock_flags_exit_2_with_the_flag_named() {
    let frames = frames_of(skew_scenario(1));
    let d = dir("flags");
    let s = split(&frames, 0, 0, &d);
    for (flag, value, says) in [
        ("--clock-offset", "answers.pcap", "--clock-offset"),
        ("--clock-offset", "answers.pcap=soon", "--clock-offset"),
        ("--clock-offset", "answers.pcap=+2days", "--clock-offset"),
        (
            "--clock-offset",
            "other.pcap=+5ms",
            "--clock-offset other.pcap",
        ),
        ("--answer-tolerance", "-5ms", "--answer-tolerance"),
        ("--answer-tolerance", "2h", "--answer-tolerance"),
    ] {
        for cmd in ["replay", "inspect"] {
            let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
                .args([cmd, path(&s.requests), path(&s.answers), flag, value])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {flag} {value}: {err}");
            assert!(err.contains(says), "{cmd} {flag} {value}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Every message the decoder finds, as its inspect record, in the order found.
#[derive(Default)]
struct Records(Vec<String>);

impl landfall_parsers::decode::Sink for Records {
    fn message(
        &mut self,
        meta: &landfall_parsers::flow::PacketMeta,
        msg: &landfall_parsers::decode::AppMessage<'_, '_>,
    ) {
        self.0
            .push(serde_json::to_string(&msg.record(meta)).expect("record"));
    }
}

fn decode(frames: &[Frame]) -> Vec<String> {
    use landfall_parsers::decode::{Decoder, DecoderConfig};
    let mut d = Decoder::new(DecoderConfig::default());
    let mut sink = Records::default();
    for f in frames {
        d.push(f, &mut sink);
    }
    d.finish(&mut sink);
    assert_eq!(d.stats.error_total(), 0, "{:?}", d.stats.errors);
    sink.0
}

/// TCP and SCTP reassemble each direction on its own: feeding every packet of one
/// direction of each link before any of the other gives the same messages, each direction
/// in its own order (the roaming scenario has SCTP INIT/COOKIE handshakes, SACKs, bundled
/// DATA chunks, a TCP handshake, a ULR split over three segments one of them out of order,
/// a retransmitted segment and two messages in one segment).
#[test]
fn tcp_and_sctp_do_not_depend_on_which_direction_comes_first() {
    for bytes in [
        landfall_testkit::scenario::roaming_scenario(),
        skew_scenario(4),
    ] {
        let frames = frames_of(bytes);
        let in_order = decode(&frames);
        assert!(in_order.len() > 20, "{}", in_order.len());
        for first_up in [true, false] {
            let (mut a, b): (Vec<_>, Vec<_>) = frames.iter().cloned().partition(|f| {
                let (src, dst) = addrs(&f.data);
                (src < dst) == first_up
            });
            a.extend(b);
            let mut one_then_other = decode(&a);
            // Messages come out per direction; as sets (each with its frame) they are equal,
            // and within a direction the order is kept.
            let mut sorted = in_order.clone();
            sorted.sort();
            let per_direction = one_then_other.clone();
            one_then_other.sort();
            assert_eq!(one_then_other, sorted);
            let frame = |r: &String| -> u64 {
                let v: Value = serde_json::from_str(r).unwrap();
                v["frame"].as_u64().unwrap_or(0)
            };
            let frames_of = |rs: &[String], src_first: bool| -> Vec<u64> {
                rs.iter()
                    .map(frame)
                    .filter(|&n| {
                        let f = &frames[n as usize - 1];
                        let (src, dst) = addrs(&f.data);
                        (src < dst) == src_first
                    })
                    .collect()
            };
            for dirn in [true, false] {
                assert_eq!(frames_of(&per_direction, dirn), frames_of(&in_order, dirn));
            }
        }
    }
}

/// Every signal the decoder finds.
#[derive(Default)]
struct Signals(Vec<landfall_parsers::Signal>);

impl landfall_parsers::decode::Sink for Signals {
    fn signal(&mut self, s: landfall_parsers::Signal) {
        self.0.push(s);
    }
}

fn signals(frames: &[Frame]) -> Vec<landfall_parsers::Signal> {
    use landfall_parsers::decode::{Decoder, DecoderConfig};
    let mut d = Decoder::new(DecoderConfig::default());
    let mut sink = Signals::default();
    for f in frames {
        d.push(f, &mut sink);
    }
    d.finish(&mut sink);
    sink.0.sort_by_key(|s| (s.at, s.source.frame));
    sink.0
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Each link's answers stamped up to 290 ms early (any lag below the default
    /// tolerance, a different one per link), the frames merged by time: the decoder gives
    /// exactly the signals of the in-order capture, for all five links at once.
    #[test]
    fn answers_early_by_any_lag_within_the_tolerance_give_the_in_order_signals(
        lags in proptest::collection::vec(0i64..290_000, 5),
    ) {
        let frames = frames_of(skew_scenario(6));
        let expected = signals(&frames);
        proptest::prop_assert_eq!(expected.len(), 6 * 9);
        let mut skewed = frames.clone();
        for f in &mut skewed {
            let (src, _) = addrs(&f.data);
            if let Some(link) = SKEW_SERVERS.iter().position(|s| *s == src) {
                f.meta.ts_us -= lags[link];
            }
        }
        // A stable sort: each direction keeps its own order.
        skewed.sort_by_key(|f| f.meta.ts_us);
        proptest::prop_assert_eq!(signals(&skewed), expected);
    }
}

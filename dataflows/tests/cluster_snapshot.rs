//! Restart without floods or gaps in a timely cluster: two processes (threads of this
//! test, talking over loopback) each feed their own share of the signals, take their
//! snapshots at the same boundary (process 0 asks, process 1 takes its share as it feeds),
//! and are stopped; restarted from those snapshots they first agree on the latest boundary
//! both have one at, and the moments handed out before it together with those of the
//! restarted cluster are exactly the uninterrupted ones.

use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use landfall_dataflows::stream::{batch_at, start_from, Completed, StreamConfig, StreamInput};
use landfall_dataflows::StreamSnapshot;
use landfall_dataflows::{reference_moments, sort_moments, Moment, Rules, Topology};
use landfall_model::{Country, Imsi, Location, Plmn, Proto, Provenance, Signal, SignalKind};

const START: i64 = 1_750_000_000_000_000;
const MINUTE: i64 = 60_000_000;
const BATCH_US: i64 = 1_000_000;

/// `n` signals of 300 subscribers over 36 hours, in time order: cell changes at home and
/// location updates abroad (two visited networks), from a deterministic generator.
fn signals(n: usize, seed: u64) -> Vec<Signal> {
    let mut x = seed | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut out: Vec<Signal> = (0..n)
        .map(|i| {
            let who = next(300);
            let abroad = next(5);
            let (serving, country) = match abroad {
                0 => (Plmn::new(262, 1, 2), "DE"),
                1 => (Plmn::new(214, 7, 2), "ES"),
                _ => (Plmn::new(208, 1, 2), "FR"),
            };
            Signal {
                at: START + next(36 * 60) as i64 * MINUTE + next(3) as i64 * 400_000,
                imsi: Imsi::parse(&format!("20801{who:010}")).unwrap(),
                msisdn: None,
                kind: if abroad < 2 {
                    SignalKind::LocationUpdate
                } else {
                    SignalKind::CellChange
                },
                home: Some(Plmn::new(208, 1, 2)),
                home_country: Country::new("FR"),
                serving: Some(serving),
                serving_country: Country::new(country),
                location: Some(Location::Ecgi {
                    plmn: serving,
                    eci: next(4) as u32,
                }),
                rat: Some(1004),
                source: Provenance {
                    file: 0,
                    frame: i as u64,
                    proto: Proto::Diameter,
                    message: 316,
                },
            }
        })
        .collect();
    out.sort_by_key(|s| (s.at, s.source));
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster(process: usize, hosts: &[String]) -> Topology {
    Topology::Cluster {
        process,
        hosts: hosts.to_vec(),
        connect_timeout: Some(Duration::from_secs(30)),
    }
}

fn hosts() -> Vec<String> {
    (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect()
}

fn config(workers: usize) -> StreamConfig {
    StreamConfig {
        snapshots: true,
        ..StreamConfig::new(workers, BATCH_US)
    }
}

/// Every completed batch a process hands out, read on a thread of its own.
fn reader(output: Receiver<Completed>) -> thread::JoinHandle<Vec<Completed>> {
    thread::spawn(move || output.iter().collect())
}

/// Process `p`'s share: every other chunk of `chunk` signals.
fn share(all: &[Signal], chunk: usize, p: usize) -> Vec<Vec<Signal>> {
    all.chunks(chunk)
        .map(|c| {
            c.iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == p)
                .map(|(_, s)| *s)
                .collect()
        })
        .collect()
}

/// The watermark after chunk `i`: the earliest signal of any later chunk.
fn low(all: &[Signal], chunk: usize, i: usize) -> i64 {
    all.get((i + 1) * chunk).map_or(i64::MAX, |s| s.at)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// A snapshot and how many of the process's signals had been sent when it was taken.
type Taken = (StreamSnapshot, usize);

/// A process other than 0: its share of a snapshot, once its workers have taken it.
fn take(input: &mut StreamInput, sent: usize, snapshots: &mut Vec<Taken>) {
    if let Some(s) = input.take_snapshot() {
        input.snapshot_written(s.watermark);
        snapshots.push((s, sent));
    }
}

/// One round: a first run snapshotted twice (at chunks `cuts.0` and `cuts.1` of process
/// 0's feed; process 1 feeds on to `cuts.2`), stopped; process 1 keeps its second
/// snapshot only if `p1_keeps_latest`; a second run restored from what each kept.
fn round(
    seed: u64,
    workers: usize,
    cuts: (usize, usize, usize),
    p1_keeps_latest: bool,
    repeat: bool,
) {
    let wanted = if repeat { 3 } else { 2 };
    let chunk = 40;
    let all = signals(4000, seed);
    let mut expected = reference_moments(&all, &Rules::default());
    sort_moments(&mut expected);
    let shares = [share(&all, chunk, 0), share(&all, chunk, 1)];
    let (a, b, c) = cuts;
    assert!(a < b && b <= c && c <= shares[0].len());

    // The first run.
    let first = hosts();
    let p0 = {
        let (first, feed) = (first.clone(), shares[0].clone());
        let all = all.clone();
        thread::spawn(move || {
            let stream = start_from(&cluster(0, &first), config(workers), None).unwrap();
            let (mut input, output, workers) = stream.split();
            let out = reader(output);
            let (mut snapshots, mut sent) = (Vec::new(), 0);
            for (i, part) in feed.iter().enumerate().take(b) {
                if i == a {
                    assert!(input.may_snapshot());
                    let s = input.snapshot().unwrap();
                    input.snapshot_written(s.watermark);
                    snapshots.push((s, sent));
                }
                sent += part.len();
                input.send(part.clone()).unwrap();
                input.advance(low(&all, chunk, i)).unwrap();
            }
            // The next only once process 1 has written the first; asked twice at the
            // same boundary when `repeat` (a final snapshot with the watermark unmoved).
            for _ in 0..if repeat { 2 } else { 1 } {
                wait_until("process 1's last snapshot", || input.may_snapshot());
                let s = input.snapshot().unwrap();
                input.snapshot_written(s.watermark);
                snapshots.push((s, sent));
            }
            input.close();
            workers.join().unwrap();
            (snapshots, out.join().unwrap())
        })
    };
    let p1 = {
        let (first, feed) = (first.clone(), shares[1].clone());
        let all = all.clone();
        thread::spawn(move || {
            let stream = start_from(&cluster(1, &first), config(workers), None).unwrap();
            let (mut input, output, workers) = stream.split();
            let out = reader(output);
            let (mut snapshots, mut sent) = (Vec::new(), 0);
            for (i, part) in feed.iter().enumerate().take(c) {
                sent += part.len();
                input.send(part.clone()).unwrap();
                input.advance(low(&all, chunk, i)).unwrap();
                // A feeder slower than process 0's, busy with its sources, looks now
                // and then only: the input keeps the signals the snapshot needs
                // meanwhile, though the dataflow's frontier has moved on.
                thread::sleep(Duration::from_millis(2));
                if i % 10 == 9 {
                    take(&mut input, sent, &mut snapshots);
                }
            }
            wait_until("process 1's snapshots", || {
                take(&mut input, sent, &mut snapshots);
                snapshots.len() == wanted
            });
            assert!(!input.may_snapshot(), "only process 0 asks");
            input.close();
            workers.join().unwrap();
            (snapshots, out.join().unwrap())
        })
    };
    let (s0, out0) = p0.join().unwrap();
    let (s1, out1) = p1.join().unwrap();
    assert_eq!((s0.len(), s1.len()), (wanted, wanted));
    if repeat {
        assert_eq!(
            s0[1].0.watermark, s0[2].0.watermark,
            "asked again at one boundary"
        );
    }
    for ((x, _), (y, _)) in s0.iter().zip(&s1) {
        assert_eq!(x.watermark, y.watermark, "one boundary for both processes");
        assert_eq!((x.processes, x.workers), (2, workers as u32));
    }
    assert!(s0[0].0.watermark < s0[1].0.watermark);
    for (x, y) in s0.iter().zip(&s1) {
        assert_eq!(x.0.watermark, y.0.watermark);
    }
    // Each snapshot's pending signals: exactly what the process had sent for batches from
    // its boundary on.
    for (p, taken) in [&s0, &s1].into_iter().enumerate() {
        let mine: Vec<Signal> = shares[p].iter().flatten().copied().collect();
        for (s, sent) in taken {
            let b = batch_at(s.watermark, BATCH_US);
            let mut want: Vec<Signal> = mine[..*sent]
                .iter()
                .filter(|x| batch_at(x.at, BATCH_US) >= b)
                .copied()
                .collect();
            let mut have = s.pending.clone();
            want.sort_by_key(|x| (x.at, x.source));
            have.sort_by_key(|x| (x.at, x.source));
            assert!(
                have == want,
                "process {p}'s pending signals at {}: {} of the {} sent for its batches on",
                s.watermark,
                have.len(),
                want.len()
            );
        }
    }

    // What each process kept, through the files' bytes.
    let bytes = |(s, sent): &Taken| (StreamSnapshot::decode(&s.encode()).unwrap(), *sent);
    // Process 0: its latest file and the previous one; process 1 the same, or (killed
    // before it wrote its latest) the two before.
    let last = wanted - 1;
    let p1_last = if p1_keeps_latest { last } else { last - 1 };
    let kept = [
        vec![bytes(&s0[last]), bytes(&s0[last - 1])],
        (0..=p1_last).rev().take(2).map(|i| bytes(&s1[i])).collect(),
    ];
    let at = p1_last;
    let boundary = s0[at].0.watermark;
    assert!(
        s0[at].0.presence.len() + s1[at].0.presence.len() > 10,
        "subscribers in the state"
    );
    let mut got: Vec<Moment> = out0
        .into_iter()
        .chain(out1)
        .filter(|c| c.upto <= boundary)
        .flat_map(|c| c.moments)
        .collect();

    // The second run, each process restored from what it kept.
    let second = hosts();
    let runs: Vec<_> = (0..2)
        .map(|p| {
            let second = second.clone();
            let (snapshots, sent): (Vec<StreamSnapshot>, Vec<usize>) =
                kept[p].iter().cloned().unzip();
            let feed = shares[p].clone();
            let all = all.clone();
            thread::spawn(move || {
                let stream =
                    start_from(&cluster(p, &second), config(workers), snapshots.clone()).unwrap();
                let chosen = stream.restored.expect("a snapshot restored");
                let (mut input, output, workers) = stream.split();
                let out = reader(output);
                // What had not been sent when the snapshot was taken (a journal's or a
                // source's own position): every signal sent before it is in the state
                // or among its pending signals, sent again by the restore.
                let mut skip = sent[chosen];
                for (i, part) in feed.iter().enumerate() {
                    let n = skip.min(part.len());
                    skip -= n;
                    input.send(part[n..].to_vec()).unwrap();
                    input.advance(low(&all, chunk, i)).unwrap();
                }
                input.close();
                let report = workers.join().unwrap();
                assert_eq!(report.late, 0);
                (snapshots[chosen].watermark, out.join().unwrap())
            })
        })
        .collect();
    for run in runs {
        let (w, out) = run.join().unwrap();
        assert_eq!(w, boundary, "both processes restored the same boundary");
        for c in out {
            for m in c.moments {
                assert!(
                    m.at >= boundary,
                    "the restored run announces nothing before its boundary: {m:?}"
                );
                got.push(m);
            }
        }
    }
    sort_moments(&mut got);
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
}

#[test]
fn a_cluster_snapshotted_together_restores_together() {
    round(7, 1, (20, 45, 60), true, false);
    round(11, 2, (10, 30, 90), true, true);
}

#[test]
fn a_process_without_the_latest_snapshot_makes_the_cluster_restore_the_one_before() {
    round(13, 1, (25, 50, 55), false, true);
    round(17, 2, (5, 70, 80), false, false);
}

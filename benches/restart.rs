//! Restart time from a snapshot: how long a restarted `serve` takes from reading the
//! snapshot file of N tracked subscribers to a dataflow that applies new signals against
//! the restored state (target: ≤ 10 s for 1 M subscribers), against building the same
//! state from scratch by feeding the signals (the baseline, measured in the same run).
//!
//! Setup (once, in a child process): a stream on WORKERS workers (10 ms batches, horizon
//! of silence 30 days, snapshots on) is fed one located signal for each of N distinct
//! subscribers, in event-time order over SPAN seconds of event time with the watermark
//! following; once every batch is complete the snapshot is taken
//! (`StreamInput::snapshot`), encoded and written with `snapshot::write_atomic`; the
//! stream is closed. Every subscriber is then present (tracked), in its home network or
//! visiting one of 12 networks in 4 countries.
//!
//! Each measured run is a fresh child process (as a restarted service is), so its peak
//! RSS (`VmHWM`) is its own:
//! * restore: (a) read the file and `StreamSnapshot::decode` it; (b) `start_from` with
//!   it, then one probe signal for each of 16 restored subscribers (same network and cell
//!   as before: no moment if their state is in place, arrivals if it is not) and one for
//!   a subscriber never seen (its arrivals show the output path works), the watermark
//!   advanced past them, until that batch is handed out. Checked: no moment for the
//!   restored ones, an arrival for the new one, N + 1 subscribers tracked. Total = (a) + (b).
//! * build (baseline): `start`, feed the N signals as in the setup, until the last batch
//!   is handed out (a lower bound of a replay: one signal per subscriber; a real replay
//!   of the horizon reads every signal of it).
//!
//! ```sh
//! cargo bench --bench restart                                   # 1 M subscribers, 3 runs each
//! LANDFALL_BENCH_SUBSCRIBERS=100000 RUNS=3 cargo bench --bench restart   # a smoke run
//! ```
//! Other knobs: WORKERS (2), SPAN (event-time seconds the signals spread over, 10).

#[path = "common/synthetic.rs"]
mod synthetic;

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use landfall_dataflows::moment::MomentKind;
use landfall_dataflows::snapshot::{write_atomic, StreamSnapshot};
use landfall_dataflows::stream::{start, start_from, Completed, StreamConfig, StreamInput};
use landfall_dataflows::{Moment, Rules, Topology};
use landfall_parsers::{Location, Proto, Provenance, Signal, SignalKind};
use synthetic::{imsi_of, mix, networks, rss_bytes};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const BATCH_US: i64 = 10_000;
const HORIZON_US: i64 = 30 * 24 * 3_600 * 1_000_000;
/// Event time of the first signal (2026-06-01T00:00:00Z).
const T0: i64 = 1_780_272_000_000_000;
/// Signals sent at once (as `run_signals` does).
const CHUNK: usize = 4096;
/// Restored subscribers probed after a restore.
const PROBES: u64 = 16;
/// The restore target.
const TARGET_S: f64 = 10.0;

fn config(workers: usize) -> StreamConfig {
    StreamConfig {
        rules: Rules {
            horizon_us: HORIZON_US,
            ..Rules::default()
        },
        snapshots: true,
        ..StreamConfig::new(workers, BATCH_US)
    }
}

/// Subscriber `sub`'s signal at `at`: a cell change in its serving network (its home
/// network, or one of the 12 it visits), in one of 20,000 cells of that network.
fn signal(sub: u64, at: i64) -> Signal {
    let nets = networks();
    let home = nets[(mix(sub) % 3) as usize];
    let (serving, country) = nets[(mix(sub ^ 1) % nets.len() as u64) as usize];
    Signal {
        at,
        imsi: imsi_of(sub),
        msisdn: None,
        kind: SignalKind::CellChange,
        home: Some(home.0),
        home_country: Some(home.1),
        serving: Some(serving),
        serving_country: Some(country),
        location: Some(Location::Ecgi {
            plmn: serving,
            eci: (mix(sub ^ 2) % 20_000) as u32,
        }),
        rat: Some(1004),
        source: Provenance {
            file: 0,
            frame: sub,
            proto: Proto::Gtpv2,
            message: 34,
        },
    }
}

/// The N signals, in event-time order over `span_us`.
fn signals(n: u64, span_us: i64) -> Vec<Signal> {
    (0..n)
        .map(|i| {
            signal(
                i,
                T0 + (i as i128 * span_us as i128 / n.max(1) as i128) as i64,
            )
        })
        .collect()
}

/// The first event time of the batch after `at`'s.
fn next_batch(at: i64) -> i64 {
    (at / BATCH_US + 1) * BATCH_US
}

/// A completed batch as the drain forwards it: its end, how many moments, and (when kept)
/// the moments.
struct Done {
    upto: i64,
    count: usize,
    moments: Vec<Moment>,
}

/// Drain `output` on a thread, forwarding each completed batch (its moments only when
/// `keep`: the build's are counted, not held).
fn drain(
    output: mpsc::Receiver<Completed>,
    keep: bool,
) -> (mpsc::Receiver<Done>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        for c in output {
            let done = Done {
                upto: c.upto,
                count: c.moments.len(),
                moments: if keep { c.moments } else { Vec::new() },
            };
            if tx.send(done).is_err() {
                break;
            }
        }
    });
    (rx, h)
}

/// Wait until a batch ending at or after `upto` is handed out; returns how many moments
/// came and those kept.
fn wait_upto(rx: &mpsc::Receiver<Done>, upto: i64) -> (usize, Vec<Moment>) {
    let (mut count, mut moments) = (0, Vec::new());
    loop {
        let d = rx.recv().expect("the workers hand out every batch");
        count += d.count;
        moments.extend(d.moments);
        if d.upto >= upto {
            return (count, moments);
        }
    }
}

/// Feed `signals` in order, the watermark following, then past the last one.
fn feed(input: &mut StreamInput, mut signals: Vec<Signal>) -> i64 {
    let end = signals.last().map_or(T0, |s| next_batch(s.at));
    signals.reverse();
    while !signals.is_empty() {
        let mut chunk = signals.split_off(signals.len().saturating_sub(CHUNK));
        chunk.reverse();
        input.send(chunk).expect("send");
        if let Some(next) = signals.last() {
            input.advance(next.at).expect("advance");
        }
    }
    input.advance(end).expect("advance");
    end
}

/// Child: build the state from scratch; with `path`, snapshot it there afterwards.
fn child_build(n: u64, workers: usize, span_us: i64, path: Option<&Path>) {
    let signals = signals(n, span_us);
    let base = rss_bytes("VmRSS:");
    let started = Instant::now();
    let stream = start(&Topology::Process, config(workers)).expect("workers");
    let tracked = stream.tracked.clone();
    let (mut input, output, handle) = stream.split();
    let (rx, drainer) = drain(output, false);
    let end = feed(&mut input, signals);
    let (moments, _) = wait_upto(&rx, end);
    let built = started.elapsed().as_secs_f64();
    let rss = rss_bytes("VmRSS:");
    assert_eq!(tracked.serving(), n, "every subscriber tracked");
    let mut line = format!("RESULT build={built:.6} moments={moments} rss={rss}");
    if let Some(path) = path {
        let t = Instant::now();
        let snapshot = input.snapshot().expect("snapshot");
        let taken = t.elapsed().as_secs_f64();
        assert_eq!(
            snapshot.presence.len() as u64,
            n,
            "the snapshot's subscribers"
        );
        assert!(snapshot.pending.is_empty(), "no pending signal");
        let t = Instant::now();
        let bytes = snapshot.encode();
        let encoded = t.elapsed().as_secs_f64();
        let t = Instant::now();
        write_atomic(path, &bytes).expect("write the snapshot");
        let written = t.elapsed().as_secs_f64();
        line += &format!(
            " snapshot={taken:.6} encode={encoded:.6} write={written:.6} bytes={}",
            bytes.len()
        );
    }
    input.close();
    handle.join().expect("workers");
    drainer.join().expect("drain");
    line += &format!(" base={base} hwm={}", rss_bytes("VmHWM:"));
    println!("{line}");
}

/// Child: restore from the snapshot at `path` until a probe batch is handed out.
fn child_restore(n: u64, workers: usize, path: &Path) {
    // (a) read + decode.
    let started = Instant::now();
    let bytes = std::fs::read(path).expect("read the snapshot");
    let snapshot = StreamSnapshot::decode(&bytes).expect("decode the snapshot");
    let read_decode = started.elapsed().as_secs_f64();
    drop(bytes);
    assert_eq!(snapshot.presence.len() as u64, n, "restored subscribers");
    let watermark = snapshot.watermark;
    // (b) start from it until the restored state answers.
    let t = Instant::now();
    let stream = start_from(&Topology::Process, config(workers), Some(snapshot)).expect("workers");
    let tracked = stream.tracked.clone();
    let (mut input, output, handle) = stream.split();
    let (rx, drainer) = drain(output, true);
    let probed: Vec<u64> = (0..PROBES).map(|k| k * n / PROBES).collect();
    let fresh = n + 1_000;
    let mut probes: Vec<Signal> = probed.iter().map(|&s| signal(s, watermark)).collect();
    probes.push(signal(fresh, watermark));
    input.send(probes).expect("send");
    let end = next_batch(watermark);
    input.advance(end).expect("advance");
    let (_, moments) = wait_upto(&rx, end);
    let restart = t.elapsed().as_secs_f64();
    let total = read_decode + restart;
    // The restored state was in place: nothing announced again for a restored
    // subscriber, arrivals for the new one, every subscriber tracked.
    for &s in &probed {
        let imsi = imsi_of(s);
        assert!(
            !moments.iter().any(|m| m.imsi == imsi),
            "a moment announced again for restored subscriber {s}"
        );
    }
    let fresh_imsi = imsi_of(fresh);
    assert!(
        moments
            .iter()
            .any(|m| m.imsi == fresh_imsi && m.kind == MomentKind::Arrival),
        "the new subscriber's arrival"
    );
    assert_eq!(tracked.serving(), n + 1, "restored subscribers tracked");
    let rss = rss_bytes("VmRSS:");
    input.close();
    handle.join().expect("workers");
    drainer.join().expect("drain");
    println!(
        "RESULT read_decode={read_decode:.6} start={restart:.6} total={total:.6} rss={rss} hwm={}",
        rss_bytes("VmHWM:")
    );
}

/// `key=value` fields of a child's RESULT line.
fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {line}"))
}

fn run_child(args: &[String]) -> String {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "child {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .expect("a RESULT line")
        .to_owned()
}

/// Best, median, slowest.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn mib(b: f64) -> f64 {
    b / (1u64 << 20) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let mode = args[pos + 1].as_str();
        let n: u64 = args[pos + 2].parse().expect("subscribers");
        let workers: usize = args[pos + 3].parse().expect("workers");
        let span_us: i64 = args[pos + 4].parse().expect("span");
        let path = args.get(pos + 5).map(Path::new);
        match mode {
            "build" => child_build(n, workers, span_us, path),
            "restore" => child_restore(n, workers, path.expect("snapshot path")),
            _ => panic!("unknown child mode {mode}"),
        }
        return;
    }
    let n = env("LANDFALL_BENCH_SUBSCRIBERS", 1_000_000);
    let workers = env("WORKERS", 2);
    let runs = env("RUNS", 3).max(1) as usize;
    let span_us = env("SPAN", 10) as i64 * 1_000_000;
    let dir = tempfile::tempdir().expect("temp folder");
    let path = dir.path().join("snapshot-p0");
    let common = |mode: &str, with_path: bool| {
        let mut a = vec![
            mode.to_owned(),
            n.to_string(),
            workers.to_string(),
            span_us.to_string(),
        ];
        if with_path {
            a.push(path.display().to_string());
        }
        a
    };
    println!(
        "restart: {n} subscribers on {workers} workers, 10 ms batches, horizon 30 d, signals over {} s of event time; {runs} runs each, a child process per run",
        span_us / 1_000_000
    );

    let setup = run_child(&common("build", true));
    let size = field(&setup, "bytes");
    println!(
        "setup: built in {:.3} s ({} moments); snapshot taken in {:.3} s, encoded in {:.3} s, written (write_atomic) in {:.3} s; file {:.1} MiB ({:.1} B per subscriber)",
        field(&setup, "build"),
        field(&setup, "moments") as u64,
        field(&setup, "snapshot"),
        field(&setup, "encode"),
        field(&setup, "write"),
        mib(size),
        size / n.max(1) as f64
    );

    let mut builds = Vec::new();
    let mut build_hwm = Vec::new();
    let mut build_base = Vec::new();
    let mut build_rss = Vec::new();
    let mut restores: Vec<String> = Vec::new();
    // Interleaved, so that a change of the machine's load falls on both.
    for _ in 0..runs {
        let b = run_child(&common("build", false));
        builds.push(field(&b, "build"));
        build_hwm.push(field(&b, "hwm"));
        build_base.push(field(&b, "base"));
        build_rss.push(field(&b, "rss"));
        restores.push(run_child(&common("restore", true)));
    }
    let totals: Vec<f64> = restores.iter().map(|r| field(r, "total")).collect();
    let (rd_best, rd_med, rd_worst) =
        spread(restores.iter().map(|r| field(r, "read_decode")).collect());
    let (st_best, st_med, st_worst) = spread(restores.iter().map(|r| field(r, "start")).collect());
    let (t_best, t_med, t_worst) = spread(totals);
    let (b_best, b_med, b_worst) = spread(builds);
    let (_, rss_med, _) = spread(restores.iter().map(|r| field(r, "rss")).collect());
    let (_, hwm_med, hwm_worst) = spread(restores.iter().map(|r| field(r, "hwm")).collect());
    let (_, bhwm_med, _) = spread(build_hwm);
    let (_, bbase_med, _) = spread(build_base);
    let (_, brss_med, _) = spread(build_rss);
    println!("seconds, best / median / slowest of {runs}:");
    println!("  (a) read + decode      {rd_best:.3} / {rd_med:.3} / {rd_worst:.3}");
    println!("  (b) start_from → probe {st_best:.3} / {st_med:.3} / {st_worst:.3}");
    println!("  restore total (a)+(b)  {t_best:.3} / {t_med:.3} / {t_worst:.3}");
    println!(
        "  build from scratch     {b_best:.3} / {b_med:.3} / {b_worst:.3}  (baseline: feeding the {n} signals)"
    );
    println!(
        "restore total / {TARGET_S} s target: {:.3} (best), {:.3} (median)",
        t_best / TARGET_S,
        t_med / TARGET_S
    );
    println!(
        "build / restore (median): {:.2}× (how much faster the restore is than feeding one signal per subscriber)",
        b_med / t_med
    );
    println!(
        "file {:.1} MiB for {n} subscribers; restoring process: RSS after the probe {:.1} MiB (median), peak (VmHWM) {:.1} MiB median, {:.1} MiB highest; building process: RSS once built {:.1} MiB, peak {:.1} MiB (medians; {:.1} MiB before the stream started: the signals)",
        mib(size),
        mib(rss_med),
        mib(hwm_med),
        mib(hwm_worst),
        mib(brss_med),
        mib(bhwm_med),
        mib(bbase_med)
    );
}

//! The streaming runner, always on: a synthetic source at a fixed rate for a fixed time,
//! subscribers arriving and falling silent, and what a long run must show — memory flat
//! once the horizon of silence is reached, the subscribers tracked following the active
//! ones, and the signal → moment latency. Then the highest sustained rate on the workers,
//! against the batch path (`run_moments`, the same operators fed round by round)
//! measured in the same run.
//!
//! Soak: signals carry the wall clock as their event time; every 10 ms the source sends the
//! signals due (RATE a second) and advances the watermark to now, so a moment's latency is
//! the wall time at which it is handed out minus its signal's time: batching, the exchange
//! between workers, the detector and the hand-out, with no lateness added (a deployment
//! adds `rules.lateness`, see benches/README.md). Subscribers: a window of ACTIVE
//! subscribers slides over the population, a new one entering (and the oldest leaving, never
//! to return) every ACTIVE/CHURN signals; 1 % of signals find the subscriber visiting another
//! network. The horizon is HORIZON seconds (short, so that the steady state comes within
//! the run; the default of serve is 30 days).
//!
//! ```sh
//! cargo bench --bench soak                              # 10 minutes at 100 k/s on 2 workers
//! SOAK_SECONDS=60 RATE=100000 cargo bench --bench soak  # a shorter run
//! ```

#[path = "common/synthetic.rs"]
mod synthetic;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use landfall_dataflows::stream::{run_signals, start, StreamConfig};
use landfall_dataflows::{run_moments, Rules, Topology};
use landfall_parsers::{Location, Proto, Provenance, Signal, SignalKind};
use synthetic::{imsi_of, mix, networks, rss_bytes};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Subscribers signalling at any time.
const ACTIVE: u64 = 50_000;
/// Signals per new subscriber entering the window.
const CHURN: u64 = 50;
/// Horizon of silence of the soak, seconds.
const HORIZON: i64 = 60;

/// Signal `i` at event time `at`: its subscriber is drawn from the window that starts at
/// `i / CHURN`.
fn signal(i: u64, at: i64) -> Signal {
    let r = mix(i ^ 0x50a4);
    let sub = i / CHURN + r % ACTIVE;
    let nets = networks();
    let home = nets[(mix(sub) % 3) as usize];
    // The network: the subscriber's own, moved on by one of its moves now and then.
    let moves = u64::from(r % 100 < 1);
    let (serving, country) =
        nets[((mix(sub ^ 1) + moves * (r >> 32)) % nets.len() as u64) as usize];
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
            frame: i,
            proto: Proto::Gtpv2,
            message: 34,
        },
    }
}

/// Latencies in fixed 100 µs buckets up to 10 s (the last bucket holds everything
/// longer), allocated once: the soak's own memory stays flat however many moments come.
struct Latencies {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

impl Latencies {
    const BUCKET_US: u64 = 100;
    const BUCKETS: usize = 100_000;

    fn new() -> Latencies {
        Latencies {
            buckets: vec![0; Self::BUCKETS],
            count: 0,
            max_us: 0,
        }
    }

    fn record(&mut self, us: u64) {
        let i = ((us / Self::BUCKET_US) as usize).min(Self::BUCKETS - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The upper edge of the bucket holding the `p` quantile, in ms (the max for 1.0).
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        if p >= 1.0 {
            return self.max_us as f64 / 1000.0;
        }
        let rank = ((self.count - 1) as f64 * p).round() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen > rank {
                return ((i as u64 + 1) * Self::BUCKET_US) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
}

fn soak(seconds: u64, rate: u64, workers: usize) {
    let rules = Rules {
        horizon_us: HORIZON * 1_000_000,
        ..Rules::default()
    };
    let stream = start(
        &Topology::Process,
        StreamConfig {
            rules,
            ..StreamConfig::new(workers, 10_000)
        },
    )
    .expect("workers");
    let tracked = stream.tracked.clone();
    let (mut input, output, workers_handle) = stream.split();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            // Latencies (µs), and moments counted.
            let mut latencies = Latencies::new();
            let mut moments = 0u64;
            for c in output {
                let now = now_us();
                moments += c.moments.len() as u64;
                for m in &c.moments {
                    latencies.record((now - m.at).max(0) as u64);
                }
            }
            done.store(true, Ordering::SeqCst);
            (latencies, moments)
        })
    };
    let start_at = Instant::now();
    let tick = Duration::from_millis(10);
    let mut sent = 0u64;
    // RSS every minute: flat once the horizon is reached, or not.
    let mut marks: Vec<u64> = (1..=seconds / 60).map(|m| m * 60).collect();
    if marks.last() != Some(&seconds) {
        marks.push(seconds);
    }
    println!("soak: {rate} signals/s for {seconds} s on {workers} workers, horizon {HORIZON} s, {ACTIVE} active subscribers, one new every {CHURN} signals");
    println!(
        "{:>8} {:>12} {:>12} {:>10}",
        "second", "signals", "tracked", "RSS MiB"
    );
    let mut next_mark = 0;
    while start_at.elapsed() < Duration::from_secs(seconds) {
        let due = (start_at.elapsed().as_secs_f64() * rate as f64) as u64;
        if due > sent {
            let at = now_us();
            let batch: Vec<Signal> = (sent..due).map(|i| signal(i, at)).collect();
            sent = due;
            input.send(batch).expect("send");
            input.advance(at + 1).expect("advance");
        }
        let elapsed = start_at.elapsed().as_secs();
        if next_mark < marks.len() && elapsed >= marks[next_mark] {
            println!(
                "{:>8} {:>12} {:>12} {:>10.1}",
                elapsed,
                sent,
                tracked.serving(),
                rss_bytes("VmRSS:") as f64 / (1 << 20) as f64
            );
            next_mark += 1;
        }
        thread::sleep(tick.saturating_sub(Duration::from_micros(
            (start_at.elapsed().as_micros() % tick.as_micros()) as u64,
        )));
    }
    if next_mark < marks.len() {
        println!(
            "{:>8} {:>12} {:>12} {:>10.1}",
            start_at.elapsed().as_secs(),
            sent,
            tracked.serving(),
            rss_bytes("VmRSS:") as f64 / (1 << 20) as f64
        );
    }
    let achieved = sent as f64 / start_at.elapsed().as_secs_f64();
    input.close();
    let report = workers_handle.join().expect("workers");
    let (latencies, moments) = reader.join().expect("reader");
    assert!(done.load(Ordering::SeqCst));
    println!(
        "sent {sent} ({achieved:.0}/s), applied {}, late {}, moments {moments}",
        report.signals, report.late
    );
    println!(
        "signal → moment latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} moments; 100 µs buckets)",
        latencies.percentile_ms(0.5),
        latencies.percentile_ms(0.99),
        latencies.percentile_ms(1.0),
        latencies.count
    );
}

/// The highest sustained rate: `n` signals (time-ordered, as a capture gives them) through
/// the streaming runner, against the batch path on the same signals.
fn throughput(n: u64, workers: usize) {
    let step = 10; // µs between signals: 100 k/s of event time
    let t0 = 1_780_272_000_000_000;
    let signals: Vec<Signal> = (0..n).map(|i| signal(i, t0 + (i * step) as i64)).collect();
    let rules = Rules::default();
    let mut best_stream = f64::MAX;
    let mut best_batch = f64::MAX;
    let mut stream_runs = Vec::new();
    let mut batch_runs = Vec::new();
    for _ in 0..3 {
        let s = signals.clone();
        let start = Instant::now();
        let (moments, _) = run_signals(
            &Topology::Process,
            s,
            None,
            StreamConfig {
                rules,
                ..StreamConfig::new(workers, 1_000_000)
            },
        )
        .expect("stream");
        let e = start.elapsed().as_secs_f64();
        best_stream = best_stream.min(e);
        stream_runs.push(e);

        let s = Arc::new(signals.clone());
        let start = Instant::now();
        let batch = run_moments(s, workers, 1_000_000, rules);
        let e = start.elapsed().as_secs_f64();
        best_batch = best_batch.min(e);
        batch_runs.push(e);
        assert_eq!(moments.len(), batch.len(), "the same moments");
    }
    stream_runs.sort_by(f64::total_cmp);
    batch_runs.sort_by(f64::total_cmp);
    let rate = |s: f64| n as f64 / s / 1e6;
    println!(
        "throughput, {n} signals on {workers} workers (3 runs each, M signals/s best / median / slowest):"
    );
    println!(
        "  streaming runner  {:.2} / {:.2} / {:.2}",
        rate(stream_runs[0]),
        rate(stream_runs[1]),
        rate(stream_runs[2])
    );
    println!(
        "  batch run_moments {:.2} / {:.2} / {:.2}  (baseline)",
        rate(batch_runs[0]),
        rate(batch_runs[1]),
        rate(batch_runs[2])
    );
    println!(
        "  ratio streaming/batch (best): {:.2}",
        best_batch / best_stream
    );
}

fn main() {
    let seconds = env("SOAK_SECONDS", 600);
    let rate = env("RATE", 100_000);
    let workers = env("WORKERS", 2) as usize;
    let n = env("SIGNALS", 4_000_000);
    if seconds > 0 {
        soak(seconds, rate, workers);
    }
    throughput(n, workers);
}

//! Deliveries per second through the durable outbox to local receivers (target: ≥ 20 k/s
//! on 2 cores), against the same receivers hit directly by a plain reqwest loop (the
//! baseline, measured in the same run: the ratio is the outbox and dispatcher's cost).
//!
//! Each run: N partner events are rendered from synthetic matches with
//! `delivery::event::render_match` (roaming-on, country and network arrivals; the
//! partner's pseudonym and MSISDN, about 600 bytes; not timed), inserted into a fresh
//! SQLite outbox (`Outbox::open`) in batches of BATCH (`insert_batch`: one fsynced
//! transaction each; timed: the insert rate), then `Dispatcher::run` (loopback sinks
//! allowed by the guard, everything else the default `DispatchConfig`) until every event
//! has reached its receiver (the receivers' count polled every millisecond) and the
//! outbox has recorded each as delivered. Deliveries/s = N / the time from the
//! dispatcher's start to the last receipt.
//!
//! Receivers: one axum server per sink on 127.0.0.1 (its own port; a partner per sink,
//! each with its own webhook secret), answering 204, counting requests, checking the
//! bearer token and one signature in 64 (`webhook-signature` recomputed from the
//! partner's secret). They run on their own tokio runtime (RECEIVER_THREADS threads, 2),
//! the dispatcher on another (the default: a thread per core): the same cores all the
//! same.
//!
//! Variants: 1 sink and 10 sinks, with the default per-sink concurrency (8 requests in
//! flight) and with HIGH_CONCURRENCY (64); the baseline sends the same bodies with the
//! same signed headers from the same number of concurrent requests per sink (one reqwest
//! client, no outbox). Runs interleaved (baseline, outbox, …), RUNS each.
//!
//! ```sh
//! cargo bench --bench delivery                                       # 100,000 events, 3 runs
//! LANDFALL_BENCH_EVENTS=5000 RUNS=3 cargo bench --bench delivery      # a smoke run
//! ```

#[path = "common/synthetic.rs"]
mod synthetic;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use landfall_delivery::dispatch::{DispatchConfig, Dispatcher, SecretTable};
use landfall_delivery::event::{render_match, EventType, PartnerKeys, RenderConfig};
use landfall_delivery::guard::GuardConfig;
use landfall_delivery::metrics::DeliveryMetrics;
use landfall_delivery::now_us;
use landfall_delivery::outbox::{Outbox, OutboxEvent};
use landfall_delivery::sign::{WebhookHeaders, WebhookSecret};
use landfall_model::identity::{Country, Msisdn};
use landfall_model::moment::{Area, Level, Moment, MomentKind, Rules};
use landfall_model::partner::{Match, PartnerId, Purpose};
use landfall_parsers::{Location, Proto, Provenance, Signal, SignalKind};
use synthetic::{imsi_of, mix, networks, rss_bytes};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The throughput target, deliveries per second.
const TARGET: f64 = 20_000.0;
/// One request in this many has its signature checked by the receiver.
const VERIFY_EVERY: u64 = 64;
const BEARER: &str = "sink-token-of-the-partner";

/// A receiver's counts.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    verified: AtomicU64,
    bad: AtomicU64,
}

#[derive(Clone)]
struct Receiver {
    counts: Arc<Counts>,
    secret: WebhookSecret,
}

async fn hook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let n = r.counts.requests.fetch_add(1, Ordering::Relaxed);
    let bearer_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Bearer ") == Some(BEARER));
    if !bearer_ok {
        r.counts.bad.fetch_add(1, Ordering::Relaxed);
    }
    if n % VERIFY_EVERY == 0 {
        let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
        let ok = match (
            get(WebhookHeaders::ID),
            get(WebhookHeaders::TIMESTAMP).and_then(|t| t.parse::<i64>().ok()),
            get(WebhookHeaders::SIGNATURE),
        ) {
            (Some(id), Some(ts), Some(sig)) => {
                let want = r.secret.signature(id, ts, &body);
                sig.split(' ').any(|s| s == want)
            }
            _ => false,
        };
        if ok {
            r.counts.verified.fetch_add(1, Ordering::Relaxed);
        } else {
            r.counts.bad.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::NO_CONTENT
}

/// A sink: its partner, secret, receiver URL and counts.
struct Sink {
    partner: u32,
    secret: WebhookSecret,
    keys: PartnerKeys,
    url: String,
    counts: Arc<Counts>,
}

fn start_sinks(rt: &Runtime, n: usize) -> Vec<Sink> {
    (0..n)
        .map(|i| {
            let partner = 100 + i as u32;
            let secret = WebhookSecret::generate().expect("secret");
            let counts = Arc::new(Counts::default());
            let app = Router::new()
                .route("/hook", post(hook))
                .with_state(Receiver {
                    counts: counts.clone(),
                    secret: secret.clone(),
                });
            let listener = rt
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind");
            let port = listener.local_addr().expect("address").port();
            rt.spawn(async move { axum::serve(listener, app).await });
            Sink {
                partner,
                secret,
                keys: PartnerKeys {
                    pseudonym_key: format!("pseudonym key of partner {partner}").into_bytes(),
                    id_key: format!("id key of partner {partner}").into_bytes(),
                    msisdn_allowed: true,
                },
                url: format!("http://127.0.0.1:{port}/hook"),
                counts,
            }
        })
        .collect()
}

fn total(sinks: &[Sink], f: impl Fn(&Counts) -> u64) -> u64 {
    sinks.iter().map(|s| f(&s.counts)).sum()
}

/// Event `i` of a run, for sink `i % sinks`: a match of a synthetic subscriber's moment
/// (roaming-on, country arrival or network arrival, detected a second ago) rendered for
/// the sink's partner.
fn event(i: u64, run: u64, sinks: &[Sink]) -> OutboxEvent {
    let sink = &sinks[(i % sinks.len() as u64) as usize];
    let sub = mix(i ^ (run << 40)) % 10_000_000;
    let nets = networks();
    let home = nets[(mix(sub) % 3) as usize];
    // A visited network, in another country than home.
    let (serving, country) = nets[3 + (mix(sub ^ 1) % 9) as usize];
    let now = now_us();
    let s = Signal {
        at: now - 1_000_000,
        imsi: imsi_of(sub),
        msisdn: Msisdn::parse(&format!("336{:08}", sub % 100_000_000)).ok(),
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
    };
    let rules = Rules::default();
    let (moment, ty) = match i % 3 {
        0 => (
            Moment::caused_by(
                &s,
                &rules,
                MomentKind::RoamingOn,
                Area::Country(country),
                Some(Area::Country(home.1)),
                None,
            ),
            EventType::RoamingOn,
        ),
        1 => (
            Moment::caused_by(
                &s,
                &rules,
                MomentKind::Arrival,
                Area::Country(country),
                Some(Area::Country(home.1)),
                None,
            ),
            EventType::Arrival(Level::Country),
        ),
        _ => (
            Moment::caused_by(
                &s,
                &rules,
                MomentKind::Arrival,
                Area::Network(serving),
                Some(Area::Network(home.0)),
                None,
            ),
            EventType::Arrival(Level::Network),
        ),
    };
    let subscription = 1_000 + u64::from(sink.partner);
    let m = Match {
        partner: PartnerId(sink.partner),
        subscription,
        purpose: Purpose(1),
        moment,
    };
    let cfg = RenderConfig {
        mcc_of: Some(|c: Country| match c.as_str() {
            "FR" => Some(208),
            "DE" => Some(262),
            "ES" => Some(214),
            "IT" => Some(222),
            _ => None,
        }),
        ..RenderConfig::new("urn:landfall:bench-operator")
    };
    render_match(&cfg, &sink.keys, &m, ty, now)
        .expect("render")
        .into_outbox(
            sink.partner,
            subscription,
            Some(sink.url.clone()),
            Some(BEARER.into()),
            now,
        )
}

/// Wait until the receivers have `target` requests more than `before`; false on timeout.
fn wait_received(sinks: &[Sink], before: u64, target: u64, timeout: Duration) -> bool {
    let t = Instant::now();
    while total(sinks, |c| c.requests.load(Ordering::Relaxed)) - before < target {
        if t.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// What one outbox run measured.
struct OutboxRun {
    insert_s: f64,
    deliver_s: f64,
    /// Until the outbox had every event marked delivered.
    marked_s: f64,
    extra: u64,
}

fn outbox_run(
    rt: &Runtime,
    sinks: &[Sink],
    events: &[OutboxEvent],
    batch: usize,
    cfg: &DispatchConfig,
    timeout: Duration,
) -> OutboxRun {
    let dir = tempfile::tempdir().expect("temp folder");
    let outbox = Arc::new(Outbox::open(&dir.path().join("landfall.db"), now_us()).expect("open"));
    let t = Instant::now();
    for chunk in events.chunks(batch.max(1)) {
        let n = outbox.insert_batch(chunk).expect("insert");
        assert_eq!(n, chunk.len(), "every event new");
    }
    let insert_s = t.elapsed().as_secs_f64();

    let secrets = Arc::new(SecretTable::default());
    for s in sinks {
        secrets.set(s.partner, s.secret.clone());
    }
    let dispatcher = Dispatcher::new(
        outbox.clone(),
        cfg.clone(),
        secrets,
        |_| {},
        DeliveryMetrics::default(),
    )
    .expect("dispatcher");
    let before = total(sinks, |c| c.requests.load(Ordering::Relaxed));
    let n = events.len() as u64;
    let (stop, stopped) = oneshot::channel::<()>();
    let t = Instant::now();
    let task = rt.spawn(dispatcher.run(async move {
        let _ = stopped.await;
    }));
    let all = wait_received(sinks, before, n, timeout);
    let deliver_s = t.elapsed().as_secs_f64();
    assert!(
        all,
        "timed out: {} of {n} delivered after {deliver_s:.1} s",
        total(sinks, |c| c.requests.load(Ordering::Relaxed)) - before
    );
    // The outcomes recorded: nothing pending, no dead letter.
    loop {
        let status = outbox.status(now_us()).expect("status");
        assert!(
            status.iter().all(|p| p.dead == 0),
            "dead letters: {status:?}"
        );
        if status.iter().all(|p| p.pending == 0) {
            break;
        }
        assert!(
            t.elapsed() < timeout,
            "not all marked delivered: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let marked_s = t.elapsed().as_secs_f64();
    let _ = stop.send(());
    rt.block_on(task).expect("dispatcher");
    let extra = total(sinks, |c| c.requests.load(Ordering::Relaxed)) - before - n;
    OutboxRun {
        insert_s,
        deliver_s,
        marked_s,
        extra,
    }
}

/// The baseline: `per_sink` concurrent requests per sink sending the same events with the
/// same headers from one reqwest client, no outbox; returns seconds.
fn direct_run(
    rt: &Runtime,
    sinks: &[Sink],
    events: &Arc<Vec<OutboxEvent>>,
    per_sink: usize,
) -> f64 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let secrets: Arc<Vec<(u32, WebhookSecret)>> = Arc::new(
        sinks
            .iter()
            .map(|s| (s.partner, s.secret.clone()))
            .collect(),
    );
    let n_sinks = sinks.len();
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for s in 0..n_sinks {
            // This sink's events, shared by its tasks.
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..per_sink {
                let (client, events, secrets, next) = (
                    client.clone(),
                    events.clone(),
                    secrets.clone(),
                    next.clone(),
                );
                tasks.spawn(async move {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let i = s + k * n_sinks;
                        let Some(e) = events.get(i) else { break };
                        let secret = &secrets[s].1;
                        let h = secret.headers(&e.event_id, now_us() / 1_000_000, &e.body);
                        let resp = client
                            .post(e.sink_url.as_deref().expect("a sink"))
                            .header("content-type", "application/cloudevents+json")
                            .header(WebhookHeaders::ID, h.id)
                            .header(WebhookHeaders::TIMESTAMP, h.timestamp)
                            .header(WebhookHeaders::SIGNATURE, h.signature)
                            .header("authorization", format!("Bearer {BEARER}"))
                            .body(e.body.clone())
                            .send()
                            .await
                            .expect("send");
                        assert!(resp.status().is_success());
                    }
                });
            }
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("sender");
        }
    });
    t.elapsed().as_secs_f64()
}

/// Best, median, slowest of rates (so best = highest).
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| b.total_cmp(a));
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn fmt_k(r: f64) -> String {
    format!("{:.1} k", r / 1e3)
}

fn main() {
    let n = env("LANDFALL_BENCH_EVENTS", 100_000);
    let runs = env("RUNS", 3).max(1) as usize;
    let batch = env("BATCH", 500) as usize;
    let high = env("HIGH_CONCURRENCY", 64) as usize;
    let receiver_threads = env("RECEIVER_THREADS", 2) as usize;
    let timeout = Duration::from_secs(env("TIMEOUT", 600));

    let receivers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(receiver_threads.max(1))
        .thread_name("receiver")
        .enable_all()
        .build()
        .expect("receiver runtime");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("dispatch")
        .enable_all()
        .build()
        .expect("dispatch runtime");
    let default_cfg = DispatchConfig {
        guard: GuardConfig {
            allow_http_loopback: true,
            allow_private_sinks: false,
        },
        ..DispatchConfig::default()
    };
    let default_c = default_cfg.per_sink_concurrency;
    println!(
        "delivery: {n} events a run, inserted in batches of {batch}; {runs} runs per variant; receivers on {receiver_threads} threads; default per-sink concurrency {default_c}, high {high}"
    );
    let all_sinks = start_sinks(&receivers, 10);
    let mut summary = Vec::new();
    for sink_count in [1usize, 10] {
        let sinks = &all_sinks[..sink_count];
        for concurrency in [default_c, high] {
            let cfg = DispatchConfig {
                per_sink_concurrency: concurrency,
                ..default_cfg.clone()
            };
            let mut insert_rates = Vec::new();
            let mut deliver_rates = Vec::new();
            let mut marked_rates = Vec::new();
            let mut direct_rates = Vec::new();
            let mut extra = 0;
            let mut body_bytes = 0;
            for run in 0..runs {
                let events: Vec<OutboxEvent> = (0..n)
                    .map(|i| {
                        event(
                            i,
                            (sink_count * 1000 + concurrency * 10 + run) as u64,
                            sinks,
                        )
                    })
                    .collect();
                body_bytes = events.iter().map(|e| e.body.len()).sum::<usize>();
                let events = Arc::new(events);
                let d = direct_run(&receivers, sinks, &events, concurrency);
                direct_rates.push(n as f64 / d);
                let r = outbox_run(&rt, sinks, &events, batch, &cfg, timeout);
                insert_rates.push(n as f64 / r.insert_s);
                deliver_rates.push(n as f64 / r.deliver_s);
                marked_rates.push(n as f64 / r.marked_s);
                extra += r.extra;
            }
            let (ib, im, iw) = spread(insert_rates);
            let (db, dm, dw) = spread(deliver_rates);
            let (mb, mm, mw) = spread(marked_rates);
            let (bb, bm, bw) = spread(direct_rates);
            let name = format!(
                "{sink_count} sink{}, {concurrency} per sink{}",
                if sink_count == 1 { "" } else { "s" },
                if concurrency == default_c {
                    " (default)"
                } else {
                    ""
                }
            );
            println!(
                "{name}: bodies {:.0} B on average; per second, best / median / slowest of {runs}:",
                body_bytes as f64 / n as f64
            );
            println!(
                "  insert into the outbox   {} / {} / {}",
                fmt_k(ib),
                fmt_k(im),
                fmt_k(iw)
            );
            println!(
                "  delivered (receipts)     {} / {} / {}",
                fmt_k(db),
                fmt_k(dm),
                fmt_k(dw)
            );
            println!(
                "  recorded delivered       {} / {} / {}",
                fmt_k(mb),
                fmt_k(mm),
                fmt_k(mw)
            );
            println!(
                "  direct reqwest loop      {} / {} / {}  (baseline: {concurrency} requests in flight per sink, no outbox)",
                fmt_k(bb),
                fmt_k(bm),
                fmt_k(bw)
            );
            println!(
                "  delivered / 20 k/s target: {:.2} (best), {:.2} (median); outbox / direct (median): {:.2}; duplicate receipts: {extra}",
                db / TARGET,
                dm / TARGET,
                dm / bm
            );
            summary.push((name, dm, bm, im));
        }
    }
    let verified = total(&all_sinks, |c| c.verified.load(Ordering::Relaxed));
    let bad = total(&all_sinks, |c| c.bad.load(Ordering::Relaxed));
    println!("receivers: {verified} signatures checked, {bad} bad requests");
    assert_eq!(bad, 0, "every checked signature and bearer token right");
    println!(
        "summary (medians): variant, delivered/s, ×target, direct/s, outbox/direct, inserts/s"
    );
    for (name, dm, bm, im) in summary {
        println!(
            "  {name:<32} {:>9} {:>6.2} {:>9} {:>6.2} {:>9}",
            fmt_k(dm),
            dm / TARGET,
            fmt_k(bm),
            dm / bm,
            fmt_k(im)
        );
    }
    println!(
        "peak RSS {:.1} MiB",
        rss_bytes("VmHWM:") as f64 / (1u64 << 20) as f64
    );
}

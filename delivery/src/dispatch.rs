//! The webhook dispatcher: outbox events POSTed to their sinks.
//!
//! One scheduler task wakes on the outbox's [`Notify`] (every insert and redelivery),
//! on the earliest due retry, or at the poll interval; it expires stale events, prunes
//! finished ones after the retention, and pokes one task per sink (keyed by origin,
//! [`sink_key`](crate::outbox::sink_key)) with due events. Each sink task leases events
//! into a local queue (topped up while the queued ones are sent) and starts up to its
//! concurrency limit of senders, each of which goes on with the next queued event while
//! the sink's circuit breaker stays closed (no task and no wake-up per event); a slow,
//! hung or dead sink only ever delays itself.
//!
//! A send: the event's `expires_at` checked right before (past it: dropped and counted,
//! never sent); the sink URL checked again ([`guard`](crate::guard); names are checked
//! by the client's resolver); `Content-Type: application/cloudevents+json`, the Standard
//! Webhooks headers, `Authorization: Bearer` with the sink credential. Outcomes: 2xx
//! delivered; `410 Gone` ends the subscription (its events cancelled, the service told
//! through the `on_gone` callback); a redirect is never followed (dead letter: a
//! redirect could point inside the operator's network); any other status, a timeout or
//! a connection error is retried with the configured backoff (± jitter) or after the
//! response's `Retry-After` (seconds or HTTP date), until `max_attempts`: then a dead
//! letter. Sinks refused by the guard are dead letters at once.
//!
//! Outcomes are recorded by one mark writer on a thread of its own, whatever is queued
//! after a 2 ms linger in one transaction (`Outbox::apply_marks`), through a bounded
//! queue; an outcome lost to a crash leaves the event leased, and it is sent again
//! (same id) once the lease ends or at the next start.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER,
};
use reqwest::StatusCode;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::guard::{check_sink_url, GuardConfig, GuardedResolver, SinkRefused};
use crate::metrics::{DeliveryMetrics, Outcome};
use crate::now_us;
use crate::outbox::{Claimed, Mark, Outbox, OutboxError};
use crate::sign::{WebhookHeaders, WebhookSecret};

/// The dispatcher's settings.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// Delay before retry n (n = 1, 2, …) after a failed attempt; the last repeats.
    /// Default: Standard Webhooks' 5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
    pub retry_delays: Vec<Duration>,
    /// Attempts before an event is a dead letter (default 8).
    pub max_attempts: u32,
    /// Each retry delay is scaled by a random factor in `1 ± jitter` (default 0.2).
    pub jitter: f64,
    /// `Retry-After` is honoured up to this (default 1 h).
    pub max_retry_after: Duration,
    /// The whole request, connection to response (default 10 s).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests in flight per sink (default 8).
    pub per_sink_concurrency: usize,
    /// Consecutive failures that open a sink's circuit (default 5).
    pub breaker_failures: u32,
    /// How long an open circuit stays open before one probe (default 30 s).
    pub breaker_cooldown: Duration,
    /// How long a claimed event is leased (must exceed 4 x the request timeout: events
    /// are claimed four rounds of the concurrency ahead): an event
    /// whose send never reports back is due again after it.
    pub lease: Duration,
    /// The scheduler's longest sleep (default 1 s).
    pub poll_interval: Duration,
    /// Finished rows are pruned after this (default 24 h).
    pub retention: Duration,
    /// Metrics gauges refreshed this often (default 5 s).
    pub refresh_interval: Duration,
    pub guard: GuardConfig,
    pub user_agent: String,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            retry_delays: [5, 300, 1_800, 7_200, 18_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_attempts: 8,
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3_600),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            per_sink_concurrency: 8,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(24 * 3_600),
            refresh_interval: Duration::from_secs(5),
            guard: GuardConfig::default(),
            user_agent: "landfall-delivery".into(),
        }
    }
}

/// Where the dispatcher finds a partner's webhook secret (the partners' store).
pub trait SecretLookup: Send + Sync {
    fn secret(&self, partner: u32) -> Option<WebhookSecret>;
}

/// A [`SecretLookup`] the service fills and updates.
#[derive(Debug, Default)]
pub struct SecretTable(RwLock<HashMap<u32, WebhookSecret>>);

impl SecretTable {
    pub fn set(&self, partner: u32, secret: WebhookSecret) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(partner, secret);
    }

    pub fn remove(&self, partner: u32) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&partner);
    }
}

impl SecretLookup for SecretTable {
    fn secret(&self, partner: u32) -> Option<WebhookSecret> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&partner)
            .cloned()
    }
}

/// A sink answered `410 Gone`: its subscription ends (the outbox has cancelled its
/// undelivered events; the service ends the subscription and emits
/// `subscription-ended`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoneNotice {
    pub partner: u32,
    pub subscription: u64,
    pub event_id: String,
}

/// The dispatcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("dispatcher settings: {0}")]
    Config(&'static str),
}

type OnGone = Arc<dyn Fn(GoneNotice) + Send + Sync>;

struct Shared {
    outbox: Arc<Outbox>,
    /// Outcomes to record, written in batches by the mark writer.
    marks: mpsc::Sender<Mark>,
    cfg: DispatchConfig,
    client: reqwest::Client,
    secrets: Arc<dyn SecretLookup>,
    on_gone: OnGone,
    metrics: DeliveryMetrics,
    /// Subscriptions a sink ended with 410 in this run: their events already claimed
    /// (cancelled in the outbox meanwhile) are not sent.
    ended: Mutex<std::collections::HashSet<u64>>,
    /// Every sink task's state, for [`Circuits::states`].
    circuits: Arc<Circuits>,
}

/// A sink's circuit breaker as the operator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Sending; `failures`: consecutive failed attempts so far (below the threshold).
    Closed { failures: u32 },
    /// Not sending until the cooldown ends (`remaining`), then one probe.
    Open { remaining: Duration },
    /// One probe allowed or out.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CircuitState::Closed { .. } => "closed",
            CircuitState::Open { .. } => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

/// The sinks' circuit breakers by sink key ([`crate::outbox::sink_key`]), read by the
/// operator console; a sink appears once the dispatcher first had an event for it.
#[derive(Default)]
pub struct Circuits(Mutex<HashMap<String, std::sync::Weak<SinkShared>>>);

impl std::fmt::Debug for Circuits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Circuits")
    }
}

impl Circuits {
    fn register(&self, key: &str, sink: &Arc<SinkShared>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), Arc::downgrade(sink));
    }

    /// Each known sink's circuit state now.
    pub fn states(&self) -> HashMap<String, CircuitState> {
        let now = Instant::now();
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter_map(|(k, w)| {
                let sink = w.upgrade()?;
                let st = match sink.lock().breaker {
                    Breaker::Closed { failures } => CircuitState::Closed { failures },
                    Breaker::Open { until } if until > now => CircuitState::Open {
                        remaining: until - now,
                    },
                    Breaker::Open { .. } | Breaker::HalfOpen { .. } => CircuitState::HalfOpen,
                };
                Some((k.clone(), st))
            })
            .collect()
    }
}

/// The dispatcher; [`Dispatcher::run`] until the shutdown future completes.
pub struct Dispatcher {
    shared: Arc<Shared>,
    marks: mpsc::Receiver<Mark>,
}

/// Outcomes waiting to be written (bounded: sends wait when the writer lags).
const MARKS_QUEUE: usize = 4096;
const MARKS_BATCH: usize = 1024;
/// How long the mark writer collects outcomes before a transaction.
const MARKS_LINGER: Duration = Duration::from_millis(2);

impl Dispatcher {
    pub fn new(
        outbox: Arc<Outbox>,
        cfg: DispatchConfig,
        secrets: Arc<dyn SecretLookup>,
        on_gone: impl Fn(GoneNotice) + Send + Sync + 'static,
        metrics: DeliveryMetrics,
    ) -> Result<Dispatcher, DispatchError> {
        if cfg.per_sink_concurrency == 0 {
            return Err(DispatchError::Config(
                "per_sink_concurrency must be at least 1",
            ));
        }
        if cfg.max_attempts == 0 {
            return Err(DispatchError::Config("max_attempts must be at least 1"));
        }
        if cfg.lease <= cfg.request_timeout * PREFETCH as u32 {
            // Events are claimed PREFETCH rounds ahead: the last must still be leased
            // when its turn comes.
            return Err(DispatchError::Config(
                "lease must exceed 4 x request_timeout",
            ));
        }
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .dns_resolver(GuardedResolver::new(cfg.guard))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve and connect on our behalf, past the guard.
            .no_proxy()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .build()
            .map_err(|e| DispatchError::Client(e.to_string()))?;
        let (marks_tx, marks) = mpsc::channel(MARKS_QUEUE);
        Ok(Dispatcher {
            marks,
            shared: Arc::new(Shared {
                marks: marks_tx,
                outbox,
                cfg,
                client,
                secrets,
                on_gone: Arc::new(on_gone),
                metrics,
                ended: Mutex::default(),
                circuits: Arc::default(),
            }),
        })
    }

    /// The sinks' circuit breakers (shared: readable while [`Dispatcher::run`] runs).
    pub fn circuits(&self) -> Arc<Circuits> {
        Arc::clone(&self.shared.circuits)
    }

    /// Dispatch until `shutdown` completes; then stop claiming, let the requests in
    /// flight finish (bounded by the request timeout) and return.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let sh = self.shared;
        let (ob, m, rx) = (sh.outbox.clone(), sh.metrics.clone(), self.marks);
        let writer = tokio::task::spawn_blocking(move || mark_writer(ob, m, rx));
        let wake = sh.outbox.notify();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut sinks: HashMap<String, Arc<Notify>> = HashMap::new();
        let mut workers = JoinSet::new();
        let mut last_prune = Instant::now();
        let mut last_refresh: Option<Instant> = None;
        tokio::pin!(shutdown);
        loop {
            let now = now_us();
            let mut next = Instant::now() + sh.cfg.poll_interval;
            match db(&sh.outbox, move |o| o.release_ended_leases(now)).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    events = n,
                    "sends that never reported back within their lease: due again"
                ),
                Err(e) => tracing::warn!(error = %e, "outbox lease release failed"),
            }
            match db(&sh.outbox, move |o| o.expire(now)).await {
                Ok(n) => {
                    sh.metrics.expired.inc_by(n as u64);
                }
                Err(e) => tracing::warn!(error = %e, "outbox expiry failed"),
            }
            if last_prune.elapsed() >= Duration::from_secs(60) {
                last_prune = Instant::now();
                let retention = sh.cfg.retention.as_micros() as i64;
                if let Err(e) = db(&sh.outbox, move |o| o.prune(now, retention)).await {
                    tracing::warn!(error = %e, "outbox pruning failed");
                }
            }
            if last_refresh.is_none_or(|t| t.elapsed() >= sh.cfg.refresh_interval) {
                last_refresh = Some(Instant::now());
                let (ob, m) = (sh.outbox.clone(), sh.metrics.clone());
                let r = tokio::task::spawn_blocking(move || m.refresh(&ob, now)).await;
                if let Ok(Err(e)) = r {
                    tracing::warn!(error = %e, "delivery metrics refresh failed");
                }
            }
            match db(&sh.outbox, |o| o.due_sinks()).await {
                Ok(due) => {
                    for (key, due_at) in due {
                        if due_at <= now {
                            let poke = sinks.entry(key.clone()).or_insert_with(|| {
                                let n = Arc::new(Notify::new());
                                workers.spawn(sink_worker(
                                    key.clone(),
                                    sh.clone(),
                                    n.clone(),
                                    stop_rx.clone(),
                                ));
                                n
                            });
                            poke.notify_one();
                        } else {
                            let wait = Duration::from_micros((due_at - now) as u64);
                            next = next.min(Instant::now() + wait);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "outbox scan failed"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep_until(next) => {}
            }
        }
        let _ = stop_tx.send(true);
        while workers.join_next().await.is_some() {}
        // The last sender of marks goes with `sh`: the writer drains the queue and ends.
        drop(sh);
        let _ = writer.await;
    }
}

/// Write outcomes in batches, on a blocking thread for the dispatcher's life (no task
/// hop per batch): once an outcome arrives, the writer lingers [`MARKS_LINGER`] so that
/// those of a busy dispatcher share one transaction, then writes whatever is queued, up
/// to [`MARKS_BATCH`]. A crash in between loses only outcomes (the events are sent
/// again, same id, after their lease).
fn mark_writer(outbox: Arc<Outbox>, metrics: DeliveryMetrics, mut rx: mpsc::Receiver<Mark>) {
    let mut buf = Vec::with_capacity(MARKS_BATCH);
    while let Some(first) = rx.blocking_recv() {
        buf.push(first);
        std::thread::sleep(MARKS_LINGER);
        while buf.len() < MARKS_BATCH {
            match rx.try_recv() {
                Ok(m) => buf.push(m),
                Err(_) => break,
            }
        }
        let retry = buf.iter().any(|m| matches!(m, Mark::Retry { .. }));
        match outbox.apply_marks(&buf) {
            Ok(expired) => {
                metrics.expired.inc_by(expired as u64);
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox update failed (those events are sent again after their lease)")
            }
        }
        buf.clear();
        if retry {
            // The scheduler computes its next wake-up from the due times.
            outbox.notify().notify_one();
        }
    }
}

async fn record(sh: &Shared, mark: Mark) {
    if sh.marks.send(mark).await.is_err() {
        tracing::warn!("outbox mark writer gone (the event is sent again after its lease)");
    }
}

/// Run an outbox call off the async threads.
async fn db<T: Send + 'static>(
    outbox: &Arc<Outbox>,
    f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    let ob = outbox.clone();
    tokio::task::spawn_blocking(move || f(&ob))
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))?
}

/// A sink's circuit breaker.
#[derive(Debug)]
enum Breaker {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe allowed; `in_flight` while it is out.
    HalfOpen {
        in_flight: bool,
    },
}

enum Admit {
    /// Send up to the free permits.
    Yes,
    /// Send one probe.
    Probe,
    /// Not before this.
    WaitUntil(Instant),
    /// The probe is out: wait for it.
    WaitProbe,
}

impl Breaker {
    fn admit(&mut self, now: Instant) -> Admit {
        match *self {
            Breaker::Closed { .. } => Admit::Yes,
            Breaker::Open { until } if now < until => Admit::WaitUntil(until),
            Breaker::Open { .. } | Breaker::HalfOpen { in_flight: false } => {
                *self = Breaker::HalfOpen { in_flight: true };
                Admit::Probe
            }
            Breaker::HalfOpen { in_flight: true } => Admit::WaitProbe,
        }
    }

    /// The event ended without a request (expired, refused before connecting): a probe
    /// that was not made leaves the circuit half-open, ready for the next one.
    fn no_attempt(&mut self) {
        if let Breaker::HalfOpen { in_flight: true } = self {
            *self = Breaker::HalfOpen { in_flight: false };
        }
    }

    fn success(&mut self) {
        *self = Breaker::Closed { failures: 0 };
    }

    /// Returns whether the circuit opened now.
    fn failure(&mut self, threshold: u32, cooldown: Duration) -> bool {
        match *self {
            Breaker::Closed { failures } if failures + 1 < threshold => {
                *self = Breaker::Closed {
                    failures: failures + 1,
                };
                false
            }
            Breaker::Open { .. } => false,
            _ => {
                *self = Breaker::Open {
                    until: Instant::now() + cooldown,
                };
                true
            }
        }
    }
}

/// How many rounds of a sink's concurrency are claimed at most ahead of the sends.
const PREFETCH: usize = 4;
/// The queue is topped up (up to [`PREFETCH`] rounds) once this many rounds or fewer are
/// left, while the sends go on: the claim's round trip hides behind the queued rounds.
const REFILL_AT: usize = 2;

/// What a sink's task and its senders share.
struct SinkShared {
    /// Events claimed and not yet taken by a sender, and the circuit breaker.
    state: Mutex<SinkState>,
    /// One permit per request in flight (the sink's concurrency); a sender holds one.
    slots: Arc<Semaphore>,
    /// Pokes the sink's task from its senders: the queue is low, or a slot is free.
    poke: Notify,
    /// The queue's length at or below which it is topped up.
    refill_at: usize,
    /// Set at shutdown: senders take no further event.
    stopping: AtomicBool,
}

struct SinkState {
    queue: VecDeque<Claimed>,
    breaker: Breaker,
    /// A sender has poked the task since it last looked (one poke is enough).
    asked: bool,
}

impl SinkShared {
    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A sink's task: claims its due events into the local queue and starts a sender per
/// free slot. A sender goes on with the next queued event while the circuit is closed,
/// so a busy sink costs no task and no wake-up per event: the task is poked only to top
/// the queue up (claimed while the queued rounds are being sent), to fill a free slot,
/// and for the circuit's probes and waits.
async fn sink_worker(
    key: String,
    sh: Arc<Shared>,
    poke: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let conc = sh.cfg.per_sink_concurrency;
    let sink = Arc::new(SinkShared {
        state: Mutex::new(SinkState {
            queue: VecDeque::new(),
            breaker: Breaker::Closed { failures: 0 },
            asked: false,
        }),
        slots: Arc::new(Semaphore::new(conc)),
        poke: Notify::new(),
        refill_at: conc * REFILL_AT,
        stopping: AtomicBool::new(false),
    });
    sh.circuits.register(&key, &sink);
    let mut sends: JoinSet<()> = JoinSet::new();
    // The last claim found fewer due events than it asked for: claim again only once the
    // scheduler pokes (new or newly due events), not on every sender's poke.
    let mut drained = false;
    'outer: loop {
        tokio::select! {
            _ = poke.notified() => drained = false,
            _ = sink.poke.notified() => {}
            _ = stop.changed() => break,
        }
        loop {
            while sends.try_join_next().is_some() {}
            if *stop.borrow() {
                break 'outer;
            }
            let (admit, queued) = {
                let mut st = sink.lock();
                st.asked = false;
                (st.breaker.admit(Instant::now()), st.queue.len())
            };
            let limit = match admit {
                Admit::Yes => sink.slots.available_permits(),
                Admit::Probe => 1,
                Admit::WaitUntil(t) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(t) => continue,
                        _ = stop.changed() => break 'outer,
                    }
                }
                // The probe's sender pokes us when it ends.
                Admit::WaitProbe => break,
            };
            // Claimed ahead (up to PREFETCH rounds of the concurrency, well within the
            // lease): one transaction per many sends, not one per free slot.
            let want = match admit {
                Admit::Probe if queued == 0 => 1,
                Admit::Probe => 0,
                _ if queued <= sink.refill_at => conc * PREFETCH - queued,
                _ => 0,
            };
            if want > 0 && !drained {
                let now = now_us();
                let lease_until = now + sh.cfg.lease.as_micros() as i64;
                let k = key.clone();
                match db(&sh.outbox, move |o| o.claim(&k, now, want, lease_until)).await {
                    Ok(c) => {
                        drained = c.len() < want;
                        sink.lock().queue.extend(c);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, sink = %key, "outbox claim failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            let mut started = 0;
            while started < limit {
                let Ok(slot) = sink.slots.clone().try_acquire_owned() else {
                    break;
                };
                let Some(c) = sink.lock().queue.pop_front() else {
                    break;
                };
                started += 1;
                sends.spawn(sender(sh.clone(), sink.clone(), c, slot));
            }
            if started == 0 && matches!(admit, Admit::Probe) {
                // Nothing to probe with: stay half-open, ready for the next event.
                sink.lock().breaker = Breaker::HalfOpen { in_flight: false };
            }
            // Every slot busy, or nothing to send: a sender or the scheduler pokes us.
            break;
        }
    }
    // Shutdown: the sends in flight finish (each bounded by the request timeout).
    sink.stopping.store(true, Ordering::Relaxed);
    while sends.join_next().await.is_some() {}
}

/// Send `first`, then the sink's next queued events while its circuit stays closed,
/// holding one of the sink's slots. Pokes the sink's task when the queue runs low (to
/// top it up) or a slot is free with events queued, and when it stops.
async fn sender(
    sh: Arc<Shared>,
    sink: Arc<SinkShared>,
    first: Claimed,
    _slot: OwnedSemaphorePermit,
) {
    let mut c = first;
    loop {
        send_one(&sh, &sink, c).await;
        if sink.stopping.load(Ordering::Relaxed) {
            break;
        }
        let (next, poke) = {
            let mut st = sink.lock();
            // A probe, a wait or an open circuit is the sink task's to handle.
            if !matches!(st.breaker, Breaker::Closed { .. }) {
                break;
            }
            let next = st.queue.pop_front();
            let left = st.queue.len();
            let need = left <= sink.refill_at || (left > 0 && sink.slots.available_permits() > 0);
            let poke = need && !st.asked;
            st.asked |= poke;
            (next, poke)
        };
        if poke {
            sink.poke.notify_one();
        }
        match next {
            Some(n) => c = n,
            None => break,
        }
    }
    sink.poke.notify_one();
}

/// What a response or error means for the event.
enum Verdict {
    Delivered(u16),
    Gone,
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    Dead {
        status: Option<u16>,
        error: String,
        attempted: bool,
    },
}

fn refusal_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a SinkRefused> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<SinkRefused>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

/// `Retry-After`: delay-seconds or an HTTP date, as a delay from `now`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The delay before the next attempt after `attempts` failed ones (± jitter).
fn backoff(cfg: &DispatchConfig, attempts: u32) -> Duration {
    let Some(last) = cfg.retry_delays.last() else {
        return Duration::ZERO;
    };
    let base = cfg
        .retry_delays
        .get(attempts.saturating_sub(1) as usize)
        .unwrap_or(last);
    let j = cfg.jitter.clamp(0.0, 1.0);
    base.mul_f64(1.0 + j * (2.0 * random_unit() - 1.0))
}

async fn send_one(sh: &Shared, sink: &SinkShared, mut c: Claimed) {
    if sh
        .ended
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&c.subscription)
    {
        return;
    }
    let now = now_us();
    let seq = c.seq;
    if c.expires_at_us.is_some_and(|e| e <= now) {
        sink.lock().breaker.no_attempt();
        record(sh, Mark::Expired { seq, at_us: now }).await;
        sh.metrics.outcome(Outcome::Expired);
        tracing::debug!(partner = c.partner, subscription = c.subscription, event = %c.event_id, "expired before sending");
        return;
    }
    // The body is sent once: a retry claims it again from the outbox.
    let body = std::mem::take(&mut c.body);
    let verdict = attempt(sh, &c, body).await;
    {
        let b = &mut sink.lock().breaker;
        match &verdict {
            Verdict::Retry { .. }
            | Verdict::Dead {
                attempted: true, ..
            } => {
                if b.failure(sh.cfg.breaker_failures, sh.cfg.breaker_cooldown) {
                    sh.metrics.circuit_opens.inc();
                    tracing::warn!(partner = c.partner, "sink circuit opened");
                }
            }
            Verdict::Dead {
                attempted: false, ..
            } => b.no_attempt(),
            Verdict::Delivered(_) | Verdict::Gone => b.success(),
        }
    }
    let now = now_us();
    let r = match verdict {
        Verdict::Delivered(status) => {
            sh.metrics
                .latency_seconds
                .observe((now - c.created_at_us).max(0) as f64 / 1e6);
            sh.metrics.outcome(Outcome::Delivered);
            tracing::debug!(partner = c.partner, subscription = c.subscription, event = %c.event_id, status, "delivered");
            record(
                sh,
                Mark::Delivered {
                    seq,
                    status,
                    at_us: now,
                },
            )
            .await;
            Ok(())
        }
        Verdict::Gone => {
            sh.metrics.outcome(Outcome::Gone);
            tracing::info!(
                partner = c.partner,
                subscription = c.subscription,
                "sink answered 410 Gone: the subscription ends"
            );
            let sub = c.subscription;
            sh.ended
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(sub);
            let r = db(&sh.outbox, move |o| {
                o.cancel_subscription(sub, now).map(|_| ())
            })
            .await;
            (sh.on_gone)(GoneNotice {
                partner: c.partner,
                subscription: c.subscription,
                event_id: c.event_id.clone(),
            });
            r
        }
        Verdict::Retry {
            status,
            error,
            after,
        } => {
            let attempts = c.attempts + 1;
            if attempts >= sh.cfg.max_attempts {
                sh.metrics.outcome(Outcome::Dead);
                tracing::warn!(partner = c.partner, subscription = c.subscription, event = %c.event_id, attempts, error = %error, "dead letter: attempts exhausted");
                record(
                    sh,
                    Mark::Dead {
                        seq,
                        status,
                        error,
                        attempted: true,
                        at_us: now,
                    },
                )
                .await;
                Ok(())
            } else {
                sh.metrics.outcome(Outcome::Retry);
                let delay = match after {
                    Some(a) => a.min(sh.cfg.max_retry_after),
                    None => backoff(&sh.cfg, attempts),
                };
                let due = now + delay.as_micros() as i64;
                tracing::debug!(partner = c.partner, subscription = c.subscription, event = %c.event_id, attempts, error = %error, delay_ms = delay.as_millis() as u64, "retry scheduled");
                record(
                    sh,
                    Mark::Retry {
                        seq,
                        status,
                        error,
                        due_us: due,
                    },
                )
                .await;
                Ok(())
            }
        }
        Verdict::Dead {
            status,
            error,
            attempted,
        } => {
            sh.metrics.outcome(Outcome::Dead);
            tracing::warn!(partner = c.partner, subscription = c.subscription, event = %c.event_id, error = %error, "dead letter");
            record(
                sh,
                Mark::Dead {
                    seq,
                    status,
                    error,
                    attempted,
                    at_us: now,
                },
            )
            .await;
            Ok(())
        }
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "outbox update failed (the event is sent again after its lease)");
    }
}

const WEBHOOK_ID: HeaderName = HeaderName::from_static(WebhookHeaders::ID);
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static(WebhookHeaders::TIMESTAMP);
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static(WebhookHeaders::SIGNATURE);
const CLOUDEVENTS_JSON: HeaderValue = HeaderValue::from_static("application/cloudevents+json");

async fn attempt(sh: &Shared, c: &Claimed, body: Vec<u8>) -> Verdict {
    // The URL parsed once, for the check and the request.
    let url = match check_sink_url(&c.sink_url, &sh.cfg.guard) {
        Ok(url) => url,
        Err(refused) => {
            return Verdict::Dead {
                status: None,
                error: format!("sink refused: {refused}"),
                attempted: false,
            }
        }
    };
    let Some(secret) = sh.secrets.secret(c.partner) else {
        return Verdict::Dead {
            status: None,
            error: "the partner has no webhook secret".into(),
            attempted: false,
        };
    };
    let ts = now_us() / 1_000_000;
    let h = secret.headers(&c.event_id, ts, &body);
    let mut req = sh
        .client
        .post(url)
        .header(CONTENT_TYPE, CLOUDEVENTS_JSON)
        .header(WEBHOOK_ID, h.id)
        .header(WEBHOOK_TIMESTAMP, h.timestamp)
        .header(WEBHOOK_SIGNATURE, h.signature)
        .body(body);
    if let Some(token) = &c.sink_bearer {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let code = status.as_u16();
            if status.is_success() {
                Verdict::Delivered(code)
            } else if status == StatusCode::GONE {
                Verdict::Gone
            } else if status.is_redirection() {
                Verdict::Dead {
                    status: Some(code),
                    error: "the sink redirected; redirects are not followed".into(),
                    attempted: true,
                }
            } else {
                Verdict::Retry {
                    status: Some(code),
                    error: format!("HTTP {code}"),
                    after: retry_after(resp.headers(), SystemTime::now()),
                }
            }
        }
        Err(e) => {
            if let Some(refused) = refusal_in(&e) {
                return Verdict::Dead {
                    status: None,
                    error: format!("sink refused: {refused}"),
                    attempted: false,
                };
            }
            let what = if e.is_timeout() {
                "timeout".to_string()
            } else if e.is_connect() {
                "connection failed".to_string()
            } else {
                // The error's text names the URL, never the body.
                format!("request failed: {e}")
            };
            Verdict::Retry {
                status: None,
                error: what,
                after: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        h.insert(RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        h.insert(RETRY_AFTER, past.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn backoff_follows_the_schedule_with_jitter() {
        let cfg = DispatchConfig::default();
        for (attempts, base) in [
            (1, 5.0),
            (2, 300.0),
            (3, 1_800.0),
            (6, 36_000.0),
            (9, 36_000.0),
        ] {
            for _ in 0..50 {
                let d = backoff(&cfg, attempts).as_secs_f64();
                assert!(d >= base * 0.8 && d <= base * 1.2, "{attempts}: {d}");
            }
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let mut b = Breaker::Closed { failures: 0 };
        assert!(!b.failure(3, Duration::from_millis(50)));
        assert!(!b.failure(3, Duration::from_millis(50)));
        assert!(b.failure(3, Duration::from_millis(50)));
        assert!(matches!(b.admit(Instant::now()), Admit::WaitUntil(_)));
        let later = Instant::now() + Duration::from_millis(60);
        assert!(matches!(b.admit(later), Admit::Probe));
        assert!(matches!(b.admit(later), Admit::WaitProbe));
        assert!(
            b.failure(3, Duration::from_millis(50)),
            "a failed probe opens again"
        );
        let later = Instant::now() + Duration::from_millis(60);
        assert!(matches!(b.admit(later), Admit::Probe));
        // A probe that was never sent (the event expired) leaves it ready for another.
        b.no_attempt();
        assert!(matches!(b.admit(later), Admit::Probe));
        b.success();
        assert!(matches!(b.admit(Instant::now()), Admit::Yes));
    }
}

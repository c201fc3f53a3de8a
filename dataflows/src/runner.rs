//! Run the moment dataflow (by default the bounded [`crate::detect`], with zones
//! [`crate::detect_with_zones`]) over a slice of signals on timely workers and collect
//! the final moments: the replay path, and the harness of the property tests. One
//! [`RunConfig`] carries everything a run needs besides its inputs and [`Topology`].

use crate::detector::detect;
use crate::history::moments;
use crate::moment::{sort_moments, Moment, Rules};
use crate::newly::{newly_where, Newly};
use crate::zone_detector::{detect_with_zones, detect_zones};
use crate::zones::{zone_membership, CatalogCell, Zone};
use differential_dataflow::collection::AsCollection;
use differential_dataflow::input::Input;
use differential_dataflow::VecCollection;
use landfall_model::Signal;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use timely::dataflow::operators::Exchange as _;

/// How input is presented to the dataflow.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Feed {
    /// Signal `i` enters at timely time `(at - min_at) / batch_us`: batches in event-time
    /// order.
    #[default]
    InOrder,
    /// Out-of-order input as the caller schedules it, one `(delay, key)` per signal:
    /// signal `i` enters `delay` batches after its event-time batch, and each worker
    /// inserts the signals of a round in the order of their keys (a signal without an
    /// entry enters in order). Later batches then revise moments already emitted for
    /// earlier ones. The test kit makes shuffled schedules (`landfall_testkit::feed`).
    Scheduled(Arc<[(u64, u64)]>),
}

/// Which presence operator runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Engine {
    /// [`crate::detect`]: bounded per-subscriber state, event-time batches; a signal more
    /// than `lateness_batches` batches behind the newest batch fed is late: counted in
    /// [`RunReport`] and left out.
    #[default]
    Bounded,
    /// [`crate::moments`]: per-subscriber history; any late signal revises the output.
    History,
}

/// Everything a run needs besides its inputs: the rules and how signals are fed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// Timely worker threads in this process (at least 1).
    pub workers: usize,
    /// Width of one input batch (one timely time) in µs of event time (at least 1).
    pub batch_us: i64,
    pub feed: Feed,
    pub engine: Engine,
    /// How many batches a signal may arrive behind the newest one and still be handled
    /// as if in order ([`Engine::Bounded`] only).
    pub lateness_batches: u64,
    /// Re-entry gap, TTL and minimum dwell.
    pub rules: Rules,
}

impl RunConfig {
    /// Signals fed in event-time order to the bounded engine, none late: how a capture
    /// is replayed.
    pub fn in_order(workers: usize, batch_us: i64) -> RunConfig {
        RunConfig {
            workers,
            batch_us,
            feed: Feed::InOrder,
            engine: Engine::Bounded,
            lateness_batches: 0,
            rules: Rules::default(),
        }
    }

    /// This configuration with `rules`.
    pub fn with_rules(&self, rules: Rules) -> RunConfig {
        RunConfig {
            rules,
            ..self.clone()
        }
    }
}

/// What a run counted besides its moments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Signals that arrived later than the lateness allows (not applied).
    pub late: u64,
    /// The first few of them.
    pub late_examples: Vec<landfall_model::Provenance>,
}

/// [`run_moments_with`] with in-order batches.
pub fn run_moments(
    signals: Arc<Vec<Signal>>,
    workers: usize,
    batch_us: i64,
    cfg: Rules,
) -> Vec<Moment> {
    run_moments_with(
        signals,
        RunConfig::in_order(workers, batch_us).with_rules(cfg),
    )
    .0
}

/// The timely time (batch number) at which signal `i` enters, and a key ordering the
/// inserts within the batch.
fn schedule(signals: &[Signal], i: usize, min_at: i64, opts: &RunConfig) -> (u64, u64) {
    let batch = batch_of(signals[i].at, min_at, opts.batch_us);
    let (delay, key) = match &opts.feed {
        Feed::InOrder => None,
        Feed::Scheduled(schedule) => schedule.get(i).copied(),
    }
    .unwrap_or((0, i as u64));
    (batch.saturating_add(delay), key)
}

/// Execute the presence dataflow with `opts.workers` threads and return all moments,
/// sorted by `(at, id)`, with what the run counted.
///
/// The feed arrives in rounds: round `r` holds the signals whose [`Feed`] schedule is `r`
/// (in order: their event-time batch). Worker `w` feeds the signals whose index
/// `i % workers == w`. With [`Engine::Bounded`] a signal of event-time batch `b` enters at
/// time `b`; the input is held at `r - lateness_batches` during round `r`, so a signal
/// with `b` below that is late (counted, not applied). With [`Engine::History`] a signal
/// enters at its round and revises earlier output. The output collection is accumulated
/// over all times and workers; the result holds every moment with a positive final count.
/// For a given feed and lateness, the result does not depend on `workers`.
///
/// # Panics
/// If a worker thread panics, or timely cannot start.
pub fn run_moments_with(signals: Arc<Vec<Signal>>, opts: RunConfig) -> (Vec<Moment>, RunReport) {
    run_moments_on(&Topology::Process, signals, opts)
}

/// Where the timely workers run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Topology {
    /// `RunConfig::workers` threads in this process.
    #[default]
    Process,
    /// One process of a timely cluster: `RunConfig::workers` threads in each of
    /// `hosts.len()` processes, this one being `process` (0-based); `hosts` are the
    /// `host:port` addresses of all processes, in process order. Every process feeds
    /// the same signals (each worker its share); the moments are gathered on process 0,
    /// the others return none. `connect_timeout` bounds the wait for the other processes
    /// (none: wait as long as it takes).
    Cluster {
        process: usize,
        hosts: Vec<String>,
        connect_timeout: Option<Duration>,
    },
}

/// A hostfile's addresses: one `IP:port` a line (timely takes socket addresses), blank
/// lines and `#` comments skipped, no address twice (`replay --hostfile`, `serve`'s `cluster.hostfile`).
pub fn parse_hostfile(text: &str) -> Result<Vec<SocketAddr>, String> {
    let mut hosts: Vec<SocketAddr> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let addr: SocketAddr = line.parse().map_err(|_| {
            format!(
                "line {}: {line:?} is not an IP address and port (e.g. 127.0.0.1:2101)",
                n + 1
            )
        })?;
        if addr.port() == 0 {
            return Err(format!("line {}: {line:?} has port 0", n + 1));
        }
        if let Some(first) = hosts.iter().position(|h| *h == addr) {
            return Err(format!(
                "line {}: {line:?} repeats the address of process {first}",
                n + 1
            ));
        }
        hosts.push(addr);
    }
    Ok(hosts)
}

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Timely could not start (in a cluster: an address it cannot use).
    #[error("the timely workers could not start: {0}")]
    Start(String),
    /// Not every process of the cluster connected within the timeout.
    #[error("the cluster's processes did not all connect within {0:?} (is every process started, with the same --hostfile?)")]
    ConnectTimeout(Duration),
    /// A worker stopped with an error (in a cluster: often a peer process that died).
    #[error("a timely worker failed: {0}")]
    Worker(String),
}

impl Topology {
    pub(crate) fn config(&self, workers: usize) -> timely::Config {
        match self {
            Topology::Process => timely::Config::process(workers),
            Topology::Cluster { process, hosts, .. } => timely::Config {
                communication: timely::CommunicationConfig::Cluster {
                    threads: workers,
                    process: *process,
                    addresses: hosts.clone(),
                    report: false,
                    zerocopy: false,
                },
                worker: timely::WorkerConfig::default(),
            },
        }
    }
}

/// Zones and the cell catalog of a run, with edits over time: `(batch, item, +1 | -1)`
/// enters (or leaves) at the start of that batch, before its signals are placed. An item
/// leaves only after it entered (see [`zone_membership`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneInputs {
    pub catalog: Vec<(u64, CatalogCell, isize)>,
    pub zones: Vec<(u64, Zone, isize)>,
}

/// [`run_moments_with`] on a given [`Topology`].
pub fn run_moments_on(
    topology: &Topology,
    signals: Arc<Vec<Signal>>,
    opts: RunConfig,
) -> (Vec<Moment>, RunReport) {
    run_moments_zoned(topology, signals, None, opts)
}

/// [`run_moments_on`] with zone-level moments too ([`detect_zones`] over the zones and
/// catalog of `zones`, edits applied at their batches). Zone detection needs signals at
/// their event-time batch: with [`Engine::History`] a delayed signal is placed at the
/// batch it enters.
///
/// # Panics
/// Where [`try_run_moments_zoned`] returns an error.
pub fn run_moments_zoned(
    topology: &Topology,
    signals: Arc<Vec<Signal>>,
    zones: Option<Arc<ZoneInputs>>,
    opts: RunConfig,
) -> (Vec<Moment>, RunReport) {
    try_run_moments_zoned(topology, signals, zones, opts).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run_moments_zoned`], returning an error where timely cannot start, the cluster does
/// not connect in time, or a worker fails.
pub fn try_run_moments_zoned(
    topology: &Topology,
    signals: Arc<Vec<Signal>>,
    zones: Option<Arc<ZoneInputs>>,
    opts: RunConfig,
) -> Result<(Vec<Moment>, RunReport), RunError> {
    let (engine, cfg) = (opts.engine, opts.rules);
    let min_at = signals.iter().map(|s| s.at).min().unwrap_or(0);
    let batch_us = opts.batch_us.max(1);
    let (updates, report) = run(topology, signals, zones, opts, move |s, reference| {
        moments_of(s, reference, cfg, engine, min_at, batch_us)
    })?;
    let mut counts: BTreeMap<Moment, isize> = BTreeMap::new();
    for (m, _, diff) in updates {
        *counts.entry(m).or_insert(0) += diff;
    }
    let mut out = Vec::new();
    for (m, count) in counts {
        assert!(count >= 0, "negative final multiplicity {count} for {m:?}");
        out.extend(std::iter::repeat_n(m, count as usize));
    }
    sort_moments(&mut out);
    Ok((out, report))
}

/// Run [`detect`] and [`newly_where`] (expiry at the batch of `at + ttl`) and return every
/// update of the view as `(entry, batch, diff)`, sorted by batch. Accumulating the updates up to
/// batch `t` gives the view as of the end of batch `t`.
pub fn run_newly_where(
    signals: Arc<Vec<Signal>>,
    opts: RunConfig,
) -> (Vec<(Newly, u64, isize)>, RunReport) {
    run_newly_where_zoned(signals, None, opts)
}

/// [`run_newly_where`] with zones: the view of [`detect_with_zones`]'s moments, so zone
/// entries too (a zone arrival enters the view when its stay has dwelled).
pub fn run_newly_where_zoned(
    signals: Arc<Vec<Signal>>,
    zones: Option<Arc<ZoneInputs>>,
    opts: RunConfig,
) -> (Vec<(Newly, u64, isize)>, RunReport) {
    let cfg = opts.rules;
    let min_at = signals.iter().map(|s| s.at).min().unwrap_or(0);
    let batch_us = opts.batch_us.max(1);
    let (mut updates, report) = run(
        &Topology::Process,
        signals,
        zones,
        opts,
        move |s, reference| {
            let moments = moments_of(s, reference, cfg, Engine::Bounded, min_at, batch_us);
            newly_where(moments, move |_t: &u64, at| {
                batch_of(at.saturating_add(cfg.ttl_us), min_at, batch_us)
            })
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    updates.sort_by_key(|u| (u.1, u.0, u.2));
    (updates, report)
}

/// The moments of `s` by `engine`, at the zone level too when the run has zones; signals
/// and stays enter at their event-time batch (`min_at`, `batch_us`).
fn moments_of<'a>(
    s: VecCollection<'a, u64, Signal>,
    zones: ZoneCollections<'a>,
    cfg: Rules,
    engine: Engine,
    min_at: i64,
    batch_us: i64,
) -> VecCollection<'a, u64, Moment> {
    let at_time = move |t: &u64, at: i64| batch_of(at, min_at, batch_us).max(*t);
    match (zones, engine) {
        (Some((catalog, zones)), Engine::Bounded) => {
            detect_with_zones(s, zone_membership(catalog, zones), cfg, at_time)
        }
        (Some((catalog, zones)), Engine::History) => {
            let membership = zone_membership(catalog, zones);
            moments(s.clone(), cfg).concat(detect_zones(s, membership, cfg, at_time))
        }
        (None, Engine::Bounded) => detect(s, cfg),
        (None, Engine::History) => moments(s, cfg),
    }
}

/// The event-time batch of `at`.
pub fn batch_of(at: i64, min_at: i64, batch_us: i64) -> u64 {
    ((i128::from(at) - i128::from(min_at)) / i128::from(batch_us.max(1))).max(0) as u64
}

/// The catalog and zone collections handed to a dataflow builder (when the run has zones).
type ZoneCollections<'a> = Option<(
    VecCollection<'a, u64, CatalogCell>,
    VecCollection<'a, u64, Zone>,
)>;

/// Feed `signals` (and `zones`, by worker 0) per `opts` into the dataflow `build` makes,
/// on `opts.workers` threads; returns every output update and what the feed counted.
///
/// Workers park while they wait for each other (they never spin), so more workers than
/// cores costs what oversubscription costs, not a time slice per batch.
fn run<D, B>(
    topology: &Topology,
    signals: Arc<Vec<Signal>>,
    zones: Option<Arc<ZoneInputs>>,
    opts: RunConfig,
    build: B,
) -> Result<(Updates<D>, RunReport), RunError>
where
    D: timely::ExchangeData + Clone,
    B: for<'a> Fn(VecCollection<'a, u64, Signal>, ZoneCollections<'a>) -> VecCollection<'a, u64, D>
        + Send
        + Sync
        + 'static,
{
    let workers = opts.workers.max(1);
    let config = topology.config(workers);
    // The workers start only once every process of a cluster is connected: the first
    // one says so, and the wait for it is what the connect timeout bounds.
    let (started_tx, started) = mpsc::sync_channel::<()>(1);
    let execute = move || {
        timely::execute(config, move |worker| {
            if worker.index() == 0 {
                let _ = started_tx.try_send(());
            }
            let index = worker.index();
            let peers = worker.peers();
            let sink: Rc<RefCell<Vec<(D, u64, isize)>>> = Rc::new(RefCell::new(Vec::new()));

            let (mut input, mut reference, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, signals) = scope.new_collection::<Signal, isize>();
                let (reference, collections) = match zones {
                    Some(_) => {
                        let (catalog_in, catalog) = scope.new_collection::<CatalogCell, isize>();
                        let (zones_in, zones) = scope.new_collection::<Zone, isize>();
                        (Some((catalog_in, zones_in)), Some((catalog, zones)))
                    }
                    None => (None, None),
                };
                let sink = Rc::clone(&sink);
                // Gather the output on worker 0 (process 0 in a cluster).
                let (probe, _) = build(signals, collections)
                    .inner
                    .exchange(|_| 0)
                    .as_collection()
                    .inspect(move |(d, time, diff)| {
                        sink.borrow_mut().push((d.clone(), *time, *diff))
                    })
                    .probe();
                (input, reference, probe)
            });
            // Reference data enters up front at its batches, from worker 0.
            if let (Some((catalog_in, zones_in)), Some(z), 0) = (&mut reference, &zones, index) {
                for (t, c, r) in &z.catalog {
                    catalog_in.update_at(*c, *t, *r);
                }
                for (t, zone, r) in &z.zones {
                    zones_in.update_at(zone.clone(), *t, *r);
                }
            }

            let min_at = signals.iter().map(|s| s.at).min().unwrap_or(0);
            let mut rounds = BTreeSet::new();
            // (round, insert order key, index) of this worker's signals.
            let mut mine: Vec<(u64, u64, usize)> = Vec::new();
            for i in 0..signals.len() {
                let (round, key) = schedule(&signals, i, min_at, &opts);
                rounds.insert(round);
                if i % peers == index {
                    mine.push((round, key, i));
                }
            }
            mine.sort_unstable();

            let mut report = RunReport::default();
            let mut next = mine.iter().peekable();
            for &round in &rounds {
                let held = match opts.engine {
                    Engine::Bounded => round.saturating_sub(opts.lateness_batches),
                    Engine::History => round,
                };
                if *input.time() < held {
                    input.advance_to(held);
                    if let Some((catalog_in, zones_in)) = &mut reference {
                        catalog_in.advance_to(held);
                        zones_in.advance_to(held);
                    }
                }
                while let Some(&&(r, _, i)) = next.peek() {
                    if r != round {
                        break;
                    }
                    let s = signals[i];
                    match opts.engine {
                        Engine::History => input.insert(s),
                        Engine::Bounded => {
                            let b = batch_of(s.at, min_at, opts.batch_us);
                            if b < *input.time() {
                                report.late += 1;
                                if report.late_examples.len() < 5 {
                                    report.late_examples.push(s.source);
                                }
                            } else {
                                input.update_at(s, b, 1);
                            }
                        }
                    }
                    next.next();
                }
                input.flush();
                if let Some((catalog_in, zones_in)) = &mut reference {
                    catalog_in.flush();
                    zones_in.flush();
                }
                while probe.less_than(input.time()) {
                    worker.step_or_park(None);
                }
            }
            input.close();
            drop(reference);
            while !probe.done() {
                worker.step_or_park(None);
            }

            let collected = sink.borrow_mut().split_off(0);
            (collected, report)
        })
        .map(|guards| guards.join())
    };
    let connect_timeout = match topology {
        Topology::Cluster {
            connect_timeout, ..
        } => *connect_timeout,
        Topology::Process => None,
    };
    let results = match connect_timeout {
        None => execute(),
        Some(timeout) => {
            let handle = std::thread::spawn(execute);
            match started.recv_timeout(timeout) {
                // Left blocked in timely's connection loop: the caller is expected to exit.
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(RunError::ConnectTimeout(timeout))
                }
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => handle
                    .join()
                    .map_err(|p| RunError::Start(panic_text(p.as_ref())))?,
            }
        }
    }
    .map_err(RunError::Start)?;

    let mut all = Vec::new();
    let mut report = RunReport::default();
    for result in results {
        let (updates, r) = result.map_err(RunError::Worker)?;
        report.late += r.late;
        report.late_examples.extend(r.late_examples);
        all.extend(updates);
    }
    report.late_examples.sort();
    report.late_examples.truncate(5);
    Ok((all, report))
}

/// Every output update of a run: `(data, batch, diff)`.
type Updates<D> = Vec<(D, u64, isize)>;

/// The message of a panic payload.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_owned())
}

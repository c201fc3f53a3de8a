//! The streaming runner: long-lived timely workers fed through bounded channels, handing
//! out moments as each event-time batch completes. `landfall serve` runs it for months;
//! `landfall replay` is its finite case (every signal sent, then the input closed).
//!
//! Time is the event-time batch `at / batch_us` (absolute, so that a run can start at any
//! moment and a restarted one lines up). The feeder — the service's merge of its sources —
//! sends signals in any order and a *watermark*: the event time below which no more signals
//! will come. Each worker's input follows the watermark; a signal whose batch the input has
//! already passed is late, counted in [`StreamReport`] and left out. Reference data (zones,
//! catalog cells) enters at the current input time. Workers park while they wait; one
//! woken by neither a timely message nor its channel looks again after [`POLL`].
//!
//! Moments are gathered on worker 0 of process 0; once the dataflow's frontier has passed
//! a batch, that batch's moments are final and are sent out, consolidated and ordered by
//! `(at, id)`, as one [`Completed`]. The output channel is bounded too: a consumer that
//! falls behind slows the workers, and they in turn the feeder.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::input::{Input, InputSession};
use differential_dataflow::VecCollection;
use landfall_model::{Country, Provenance, Signal, TimestampUs};
use timely::dataflow::operators::vec::Broadcast as _;
use timely::dataflow::operators::Exchange as _;
use timely::dataflow::operators::Inspect as _;
use timely::dataflow::operators::Probe as _;
use timely::dataflow::ProbeHandle;

use crate::detector::{detect_shared, imsi_route, owner, route_of_key, Presence, SharedPresence};
use crate::horizon::Tracked;
use crate::moment::{sort_moments, Moment, Rules};
use crate::runner::{panic_text, RunError, Topology};
use crate::snapshot::StreamSnapshot;
use crate::subscribe::{partner_matches_at, Match, MomentsAt};
use crate::zone_detector::{detect_with_zones_shared, SharedZoneState, ZonePresence};
use crate::zones::{zone_membership, CatalogCell, Zone};

mod cut;
mod output;
mod partners;

use cut::{CutShared, CutWorker};
pub use output::Completed;
use output::{hand_out, SharedGathered};
use partners::PartnerInputs;
pub use partners::RegistryEdit;

/// How long an idle worker parks before it looks at its channel again.
pub const POLL: Duration = Duration::from_millis(1);

/// What a streaming run needs besides its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Timely worker threads in this process (at least 1).
    pub workers: usize,
    /// Width of one event-time batch (one timely time) in µs (at least 1). Moments of a
    /// batch go out once the watermark has passed its end, so this bounds the latency
    /// the batching adds.
    pub batch_us: i64,
    /// Re-entry gap, TTL, minimum dwell.
    pub rules: Rules,
    /// Whether the run computes zone moments (zones and catalog cells are then sent with
    /// [`StreamInput::zones`] and [`StreamInput::catalog`]).
    pub zones: bool,
    /// Messages each worker's input channel holds before the feeder waits.
    pub channel: usize,
    /// Which process hands out a moment (in a cluster).
    pub emit: Emit,
    /// Whether [`StreamInput::snapshot`] is available: the input then keeps a copy of the
    /// signals sent for batches not yet closed by the watermark (the snapshot's pending
    /// signals; as many as the workers' stashes hold). With zones, the snapshot holds the
    /// zone detector's state too (the zones and the catalog are not in it: a restored run
    /// is sent them again, before its first watermark).
    pub snapshots: bool,
    /// The partner stage, for this operator's country (inbound/outbound): subscriptions,
    /// consent and opt-outs sent with [`StreamInput::registry`], matches handed out in
    /// [`Completed::matches`]. Its state is not in snapshots.
    pub partners: Option<Country>,
}

/// Which process of a cluster hands out a moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emit {
    /// The process whose workers own the subscriber (`landfall serve`: each process
    /// emits its own subscribers' moments).
    #[default]
    ByOwner,
    /// Process 0, every moment (`landfall replay`: one output).
    AllOnProcess0,
}

impl StreamConfig {
    /// `workers` workers, `batch_us` batches, default rules, no zones, 16 messages a
    /// channel.
    pub fn new(workers: usize, batch_us: i64) -> StreamConfig {
        StreamConfig {
            workers,
            batch_us,
            rules: Rules::default(),
            zones: false,
            channel: 16,
            emit: Emit::ByOwner,
            snapshots: false,
            partners: None,
        }
    }
}

/// A worker's share of a snapshot: its subscribers' country/network state and zone state
/// (none without zones), by key.
type Share = (Vec<(u64, Presence)>, Vec<(u64, ZonePresence)>);

/// What every worker of a restored run starts from (each keeps the subscribers it owns).
struct Restored {
    watermark: TimestampUs,
    presence: Vec<(u64, Presence)>,
    zones: Vec<(u64, ZonePresence)>,
}

/// The states a run may restore (a cluster's processes agree on one first), dropped once
/// every local worker has taken its subscribers from the chosen one.
struct Candidates {
    states: Mutex<Vec<Arc<Restored>>>,
    /// `(watermark, shape)` of each, for the agreement.
    have: cut::Have,
    /// Local workers yet to take their share.
    remaining: Mutex<usize>,
}

impl Candidates {
    /// The chosen state's subscribers that `keep` keeps (both levels), filtered by each
    /// worker at once (the lock is held only to find the state); once the last local
    /// worker has called this, the states go with the last reference.
    fn take(&self, chosen: Option<usize>, keep: impl Fn(&u64) -> bool) -> Share {
        let state = chosen.and_then(|i| self.states.lock().expect("candidates").get(i).cloned());
        let mine = state
            .as_deref()
            .map(|r| {
                (
                    r.presence
                        .iter()
                        .filter(|(k, _)| keep(k))
                        .cloned()
                        .collect(),
                    r.zones.iter().filter(|(k, _)| keep(k)).cloned().collect(),
                )
            })
            .unwrap_or_default();
        let mut remaining = self.remaining.lock().expect("candidates");
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            self.states.lock().expect("candidates").clear();
        }
        mine
    }
}

/// One message from the feeder to a worker.
enum Command {
    Signals(Vec<Signal>),
    /// No more signals below this event time.
    Watermark(TimestampUs),
    Zones(Vec<(Zone, isize)>),
    Catalog(Vec<(CatalogCell, isize)>),
    /// Capture names by file index.
    Files(Vec<(u16, String)>),
    Registry(Vec<(RegistryEdit, isize)>),
    /// Take a share of the state at the current input time ([`cut`]); take no other
    /// command until every worker has.
    Snapshot,
}

/// What a streaming run counted, summed over its workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Signals behind the watermark when they came (not applied).
    pub late: u64,
    /// The first few of them.
    pub late_examples: Vec<Provenance>,
    /// Signals applied.
    pub signals: u64,
}

/// The feeding side of a streaming run: signals spread over the workers, watermarks and
/// reference data to all of them. Dropping it (or [`StreamInput::close`]) ends the input:
/// the workers then complete every batch and stop.
pub struct StreamInput {
    senders: Vec<SyncSender<Command>>,
    next: usize,
    watermark: TimestampUs,
    batch_us: i64,
    /// With snapshots: the signals sent for batches not yet complete (and from an asked
    /// snapshot's boundary on, until it is taken).
    pending: Option<Vec<Signal>>,
    cut: Arc<CutShared>,
    /// The workers' shares of a snapshot, and those of one not complete yet.
    shares: Receiver<(u64, Share)>,
    collected: Vec<(u64, Share)>,
    /// This process, its workers, and the run's shape `(processes, workers per
    /// process)`.
    process: usize,
    workers: usize,
    shape: (u32, u32),
    /// (Process 0.) The boundary of the last snapshot asked for.
    asked: Option<u64>,
}

/// Why [`StreamInput::snapshot`] gave no snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotUnavailable {
    #[error("snapshots are not enabled for this run (StreamConfig::snapshots)")]
    Disabled,
    #[error("the dataflow workers have stopped")]
    Stopped,
    #[error("only process 0 of a cluster asks for snapshots")]
    NotProcess0,
}

/// The workers stopped (one failed, or they were never started): nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the dataflow workers have stopped")]
pub struct Stopped;

impl StreamInput {
    /// Send signals (to one worker; the dataflow routes them by subscriber). Waits while
    /// that worker's channel is full.
    pub fn send(&mut self, signals: Vec<Signal>) -> Result<(), Stopped> {
        if signals.is_empty() {
            return Ok(());
        }
        if self.senders.is_empty() {
            return Err(Stopped);
        }
        if let Some(pending) = &mut self.pending {
            let now = batch_at(self.watermark, self.batch_us);
            // What the workers take (the rest is late and left out by them too).
            pending.extend(
                signals
                    .iter()
                    .filter(|s| batch_at(s.at, self.batch_us) >= now),
            );
        }
        let i = self.next;
        self.next = (self.next + 1) % self.senders.len();
        self.senders[i]
            .send(Command::Signals(signals))
            .map_err(|_| Stopped)
    }

    /// No signal below `at` will be sent any more: batches before it can complete. A
    /// watermark below an earlier one changes nothing.
    pub fn advance(&mut self, at: TimestampUs) -> Result<(), Stopped> {
        if at <= self.watermark {
            return Ok(());
        }
        self.watermark = at;
        if let Some(pending) = &mut self.pending {
            let keep = batch_at(at, self.batch_us).min(self.cut.keep_from());
            pending.retain(|s| batch_at(s.at, self.batch_us) >= keep);
        }
        self.broadcast(|| Command::Watermark(at))
    }

    /// The state of this process's workers at the current watermark (see
    /// [`crate::snapshot`]): waits until the dataflow has completed every batch before the
    /// watermark's, so the moments of those batches are all in `output` (or already
    /// taken) by the time this returns. Keep draining `output` meanwhile. In a cluster,
    /// process 0 asks (the other processes take theirs with
    /// [`StreamInput::take_snapshot`]), and only once [`StreamInput::may_snapshot`].
    pub fn snapshot(&mut self) -> Result<StreamSnapshot, SnapshotUnavailable> {
        if self.pending.is_none() {
            return Err(SnapshotUnavailable::Disabled);
        }
        if self.process != 0 {
            return Err(SnapshotUnavailable::NotProcess0);
        }
        if self.senders.is_empty() {
            return Err(SnapshotUnavailable::Stopped);
        }
        let b = batch_at(self.watermark, self.batch_us);
        self.broadcast(|| Command::Snapshot)
            .map_err(|_| SnapshotUnavailable::Stopped)?;
        self.asked = Some(b);
        while !self.complete(b) {
            let share = self
                .shares
                .recv()
                .map_err(|_| SnapshotUnavailable::Stopped)?;
            self.collected.push(share);
        }
        Ok(self.assemble(b))
    }

    /// Whether process 0 may ask for a snapshot: every process has written the last one.
    pub fn may_snapshot(&self) -> bool {
        self.process == 0 && self.asked.is_none_or(|b| self.cut.all_wrote(b))
    }

    /// (Processes other than 0.) This process's share of the snapshot process 0 asked
    /// for, once its workers have all taken theirs; none yet otherwise.
    pub fn take_snapshot(&mut self) -> Option<StreamSnapshot> {
        if self.pending.is_none() || self.process == 0 {
            return None;
        }
        self.collected.extend(self.shares.try_iter());
        let b = self.collected.first()?.0;
        self.complete(b).then(|| self.assemble(b))
    }

    /// Whether every local worker's share at `b` is in.
    fn complete(&self, b: u64) -> bool {
        self.collected.iter().filter(|(at, _)| *at == b).count() >= self.workers
    }

    /// The snapshot at `b` from the collected shares and the signals sent for batches
    /// from `b` on.
    fn assemble(&mut self, b: u64) -> StreamSnapshot {
        let (mut presence, mut zones) = (Vec::new(), Vec::new());
        for (_, (p, z)) in self.collected.drain(..).filter(|(at, _)| *at == b) {
            presence.extend(p);
            zones.extend(z);
        }
        presence.sort_unstable_by_key(|(k, _)| *k);
        zones.sort_unstable_by_key(|(k, _)| *k);
        let pending = self
            .pending
            .iter()
            .flatten()
            .filter(|s| batch_at(s.at, self.batch_us) >= b)
            .copied()
            .collect();
        self.cut.floor.store(u64::MAX, Ordering::SeqCst);
        StreamSnapshot {
            // The boundary itself: the same in every process of a cluster.
            watermark: batch_start(b, self.batch_us),
            batch_us: self.batch_us,
            presence,
            zones,
            pending,
            log_position: 0,
            processes: self.shape.0,
            workers: self.shape.1,
        }
    }

    /// The snapshot at `watermark` is written (in a cluster, process 0 asks for the next
    /// only once every process has said so).
    pub fn snapshot_written(&self, watermark: TimestampUs) {
        self.cut.wrote(batch_at(watermark, self.batch_us));
    }

    /// The latest watermark sent.
    pub fn watermark(&self) -> TimestampUs {
        self.watermark
    }

    /// Subscriptions, consent and opt-outs added (`+1`) or removed (`-1`) from the current
    /// time on (with [`StreamConfig::partners`]; ignored otherwise).
    pub fn registry(&mut self, edits: Vec<(RegistryEdit, isize)>) -> Result<(), Stopped> {
        self.senders[0]
            .send(Command::Registry(edits))
            .map_err(|_| Stopped)
    }

    /// Zones added (`+1`) or removed (`-1`) from the current time on.
    pub fn zones(&mut self, edits: Vec<(Zone, isize)>) -> Result<(), Stopped> {
        self.senders[0]
            .send(Command::Zones(edits))
            .map_err(|_| Stopped)
    }

    /// Catalog cells added or removed from the current time on.
    pub fn catalog(&mut self, edits: Vec<(CatalogCell, isize)>) -> Result<(), Stopped> {
        self.senders[0]
            .send(Command::Catalog(edits))
            .map_err(|_| Stopped)
    }

    /// Capture names by file index (each process of a cluster naming its own indices):
    /// they reach whichever process emits a moment of that capture, in [`Completed::files`],
    /// no later than the moment.
    pub fn files(&mut self, names: Vec<(u16, String)>) -> Result<(), Stopped> {
        self.senders[0]
            .send(Command::Files(names))
            .map_err(|_| Stopped)
    }

    /// End the input.
    pub fn close(self) {}

    /// End the input but keep taking this process's shares of the snapshots process 0
    /// asks for ([`StreamInput::take_snapshot`]): a process of a cluster whose sources
    /// have ended still owns subscribers, and the cluster's snapshots need their state.
    pub fn end(&mut self) {
        self.senders.clear();
    }

    fn broadcast(&self, command: impl Fn() -> Command) -> Result<(), Stopped> {
        for s in &self.senders {
            s.send(command()).map_err(|_| Stopped)?;
        }
        Ok(())
    }
}

/// A running streaming dataflow: its input, its output, and the workers to wait for.
pub struct Stream {
    pub input: StreamInput,
    /// Completed batches, in order (process 0 only; other processes of a cluster get none).
    pub output: Receiver<Completed>,
    /// Subscribers held by this process's workers, read while they run.
    pub tracked: Tracked,
    /// Which of the snapshots given to [`start_from`] the run restored (by position).
    pub restored: Option<usize>,
    workers: JoinHandle<Result<StreamReport, RunError>>,
}

impl Stream {
    /// Wait for the workers to finish (after the input is closed) and return what they
    /// counted. Keep draining `output` meanwhile, or hand it to another thread: the
    /// workers wait while it is full.
    pub fn join(self) -> Result<StreamReport, RunError> {
        drop(self.input);
        self.workers
            .join()
            .map_err(|p| RunError::Worker(panic_text(p.as_ref())))?
    }

    /// Split into the input, the output and a handle to [`StreamWorkers::join`] (the
    /// tracked-subscriber gauge: clone [`Stream::tracked`] first).
    pub fn split(self) -> (StreamInput, Receiver<Completed>, StreamWorkers) {
        (self.input, self.output, StreamWorkers(self.workers))
    }
}

/// The workers of a [`Stream`] whose input and output are used elsewhere.
pub struct StreamWorkers(JoinHandle<Result<StreamReport, RunError>>);

impl StreamWorkers {
    /// Wait for the workers to finish (the input closed) and return what they counted.
    pub fn join(self) -> Result<StreamReport, RunError> {
        self.0
            .join()
            .map_err(|p| RunError::Worker(panic_text(p.as_ref())))?
    }
}

/// Start the workers of a streaming run on `topology`.
pub fn start(topology: &Topology, cfg: StreamConfig) -> Result<Stream, RunError> {
    start_from(topology, cfg, None)
}

/// Start the workers of a streaming run on `topology`, from one of `snapshots` when any
/// is given (taken by a run with the same batch width; on one process, by a run on one
/// process with any number of workers: the latest is restored; in a cluster, the
/// processes first agree on the latest watermark every one of them has a snapshot at,
/// taken by a cluster of this shape, and each restores its own, or all start empty):
/// every worker keeps the subscribers it owns, the input starts at the snapshot's
/// watermark, and the snapshot's pending signals are sent again ([`Stream::restored`]
/// says which). With zones, send the zones and the catalog ([`StreamInput::zones`],
/// [`StreamInput::catalog`]) before the first watermark: they then enter at the
/// snapshot's batch, before any signal is placed. The zone state of a snapshot is ignored
/// by a run without zones; a run with zones restored from a snapshot without zone state
/// starts with no one in a zone.
pub fn start_from(
    topology: &Topology,
    cfg: StreamConfig,
    snapshots: impl IntoIterator<Item = StreamSnapshot>,
) -> Result<Stream, RunError> {
    let workers = cfg.workers.max(1);
    let (process, processes) = match topology {
        Topology::Process => (0, 1),
        Topology::Cluster { process, hosts, .. } => (*process, hosts.len().max(1)),
    };
    let shape = (processes as u32, workers as u32);
    let snapshots: Vec<StreamSnapshot> = snapshots.into_iter().collect();
    if let Some(s) = snapshots.iter().find(|s| s.batch_us != cfg.batch_us.max(1)) {
        return Err(RunError::Start(format!(
            "the snapshot was taken with batches of {} µs, this run has {} µs",
            s.batch_us,
            cfg.batch_us.max(1)
        )));
    }
    let mut inputs = Vec::with_capacity(snapshots.len());
    let mut states = Vec::with_capacity(snapshots.len());
    let mut have = Vec::with_capacity(snapshots.len());
    for s in snapshots {
        have.push((s.watermark, (s.processes, s.workers)));
        inputs.push((s.watermark, s.pending));
        states.push(Arc::new(Restored {
            watermark: s.watermark,
            presence: s.presence,
            zones: s.zones,
        }));
    }
    // On one process: the latest snapshot of a run on one process (any worker count).
    let fixed = (processes == 1).then(|| {
        (0..have.len())
            .filter(|&i| have[i].1 .0 == 1)
            .max_by_key(|&i| have[i].0)
    });
    let candidates = Arc::new(Candidates {
        states: Mutex::new(states),
        have,
        remaining: Mutex::new(workers),
    });
    let mut senders = Vec::with_capacity(workers);
    let mut receivers = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = mpsc::sync_channel(cfg.channel.max(1));
        senders.push(tx);
        receivers.push(Some(rx));
    }
    let receivers = std::sync::Mutex::new(receivers);
    let (out_tx, output) = mpsc::sync_channel::<Completed>(cfg.channel.max(1));
    let (shares_tx, shares) = mpsc::sync_channel::<(u64, Share)>(workers);
    let cut = Arc::new(CutShared::default());
    let tracked = Tracked::default();
    let tracked_here = tracked.clone();
    let config = topology.config(workers);
    // The workers start only once every process of a cluster is connected: the first one
    // says so, and the wait for it is what the connect timeout bounds.
    let (started_tx, started) = mpsc::sync_channel::<()>(1);
    // Which snapshot the workers restored (the first worker of the process says).
    let (chosen_tx, chosen) = mpsc::sync_channel::<Option<usize>>(1);
    let cut_here = Arc::clone(&cut);
    let handle = std::thread::Builder::new()
        .name("landfall-dataflow".into())
        .spawn(move || -> Result<StreamReport, RunError> {
            let guards = timely::execute(config, move |worker| {
                if worker.index() % workers == 0 {
                    let _ = started_tx.try_send(());
                }
                let local = worker.index() % workers;
                let rx = receivers.lock().expect("receivers")[local]
                    .take()
                    .expect("one receiver per local worker");
                let emits = match cfg.emit {
                    Emit::ByOwner => worker.index() % workers == 0,
                    Emit::AllOnProcess0 => worker.index() == 0,
                };
                let out = emits.then(|| out_tx.clone());
                let choice = match fixed {
                    Some(i) => i,
                    None => cut::agree(worker, workers, shape, &candidates.have).and_then(|w| {
                        candidates
                            .have
                            .iter()
                            .position(|(at, s)| *at == w && *s == shape)
                    }),
                };
                if local == 0 {
                    let _ = chosen_tx.try_send(choice);
                }
                let (me, peers) = (worker.index(), worker.peers());
                let restored = choice.map(|i| {
                    let (presence, zones) =
                        candidates.take(Some(i), |k| owner(route_of_key(*k), peers) == me);
                    Restored {
                        watermark: candidates.have[i].0,
                        presence,
                        zones,
                    }
                });
                if choice.is_none() {
                    candidates.take(None, |_| false);
                }
                let cut = (Arc::clone(&cut_here), shares_tx.clone());
                run_worker(worker, rx, out, cfg, &tracked, restored.as_ref(), cut)
            })
            .map_err(RunError::Start)?;
            let mut report = StreamReport::default();
            for r in guards.join() {
                let r = r.map_err(RunError::Worker)?;
                report.late += r.late;
                report.signals += r.signals;
                report.late_examples.extend(r.late_examples);
            }
            report.late_examples.sort();
            report.late_examples.truncate(5);
            Ok(report)
        })
        .map_err(|e| RunError::Start(e.to_string()))?;
    let stopped = |handle: JoinHandle<Result<StreamReport, RunError>>| {
        handle
            .join()
            .map_err(|p| RunError::Start(panic_text(p.as_ref())))?
            .err()
            .map_or_else(
                || Err(RunError::Start("the workers stopped at once".into())),
                Err,
            )
    };
    if let Topology::Cluster {
        connect_timeout: Some(timeout),
        ..
    } = topology
    {
        match started.recv_timeout(*timeout) {
            Ok(()) => {}
            // Left blocked in timely's connection loop: the caller is expected to exit.
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(RunError::ConnectTimeout(*timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => return stopped(handle),
        }
    }
    let Ok(restored) = chosen.recv() else {
        return stopped(handle);
    };
    let (watermark, pending) = match restored {
        Some(i) => std::mem::take(&mut inputs[i]),
        None => (i64::MIN, Vec::new()),
    };
    let mut input = StreamInput {
        senders,
        next: 0,
        watermark,
        batch_us: cfg.batch_us.max(1),
        pending: cfg.snapshots.then(Vec::new),
        cut,
        shares,
        collected: Vec::new(),
        process,
        workers,
        shape,
        asked: None,
    };
    for chunk in pending.chunks(CHUNK) {
        // A send fails only when the workers stopped: their error comes from `join`.
        if input.send(chunk.to_vec()).is_err() {
            break;
        }
    }
    Ok(Stream {
        input,
        output,
        tracked: tracked_here,
        restored,
        workers: handle,
    })
}

/// The event-time batch of `at` (absolute; times before 1970 go to batch 0).
pub fn batch_at(at: TimestampUs, batch_us: i64) -> u64 {
    (at.max(0) / batch_us.max(1)) as u64
}

/// The first event time of batch `b`.
fn batch_start(b: u64, batch_us: i64) -> TimestampUs {
    i64::try_from(b)
        .unwrap_or(i64::MAX)
        .saturating_mul(batch_us.max(1))
}

type ReferenceInputs = (
    InputSession<u64, CatalogCell, isize>,
    InputSession<u64, Zone, isize>,
);

/// One worker: build the dataflow, then apply commands until the channel closes.
fn run_worker(
    worker: &mut timely::worker::Worker,
    rx: Receiver<Command>,
    out: Option<SyncSender<Completed>>,
    cfg: StreamConfig,
    tracked: &Tracked,
    restored: Option<&Restored>,
    (cut, shares): (Arc<CutShared>, SyncSender<(u64, Share)>),
) -> StreamReport {
    let batch_us = cfg.batch_us.max(1);
    // The detector's state: the country/network detector's alone, or (with zones) the
    // zone operator's, which keeps both levels.
    let shared = SharedPresence::default();
    let shared_zones = SharedZoneState::default();
    if let Some(r) = restored {
        // Already this worker's subscribers only.
        let presence = r.presence.iter().cloned();
        if cfg.zones {
            let mut state = shared_zones.borrow_mut();
            state.serving.extend(presence);
            state.zones.extend(r.zones.iter().cloned());
        } else {
            shared.borrow_mut().extend(presence);
        }
    }
    // The time the restored state is at (its dataflow starts there).
    let from = restored.map_or(0, |r| batch_at(r.watermark, batch_us));
    let sink: SharedGathered = SharedGathered::default();
    let named: Rc<RefCell<Vec<(u16, String)>>> = Rc::new(RefCell::new(Vec::new()));
    let probe = ProbeHandle::new();
    let (peers, local) = (worker.peers() as u64, cfg.workers.max(1) as u64);
    let (mut input, mut reference, mut files, mut partners, marks) =
        worker.dataflow::<u64, _, _>(|scope| {
            let marks = CutWorker::marks(&scope);
            let (input, signals) = scope.new_collection::<Signal, isize>();
            let (files, names) = scope.new_collection::<(u16, String), isize>();
            let named = Rc::clone(&named);
            names
                .inner
                .broadcast()
                .inspect(move |(name, _, diff)| {
                    if *diff > 0 {
                        named.borrow_mut().push(name.clone());
                    }
                })
                .probe_with(&probe);
            let (reference, moments): (Option<ReferenceInputs>, VecCollection<'_, u64, Moment>) =
                if cfg.zones {
                    let (catalog_in, catalog) = scope.new_collection::<CatalogCell, isize>();
                    let (zones_in, zones) = scope.new_collection::<Zone, isize>();
                    let at_time = move |t: &u64, at: i64| batch_at(at, batch_us).max(*t);
                    let moments = detect_with_zones_shared(
                        signals,
                        zone_membership(catalog, zones),
                        cfg.rules,
                        at_time,
                        move |t: &u64| batch_start(*t, batch_us),
                        tracked.clone(),
                        Rc::clone(&shared_zones),
                        from,
                    );
                    (Some((catalog_in, zones_in)), moments)
                } else {
                    (
                        None,
                        detect_shared(
                            signals,
                            cfg.rules,
                            move |t: &u64| batch_start(*t, batch_us),
                            tracked.clone(),
                            Rc::clone(&shared),
                        ),
                    )
                };
            let sink_here = Rc::clone(&sink);
            // To the first worker of the process owning the subscriber (its state's worker).
            moments
                .clone()
                .inner
                .exchange(move |(m, _, _): &(Moment, u64, isize)| match cfg.emit {
                    Emit::ByOwner => imsi_route(&m.imsi) % peers / local * local,
                    Emit::AllOnProcess0 => 0,
                })
                .as_collection()
                .inspect(move |(m, time, diff)| {
                    sink_here.borrow_mut().moments.push((*m, *time, *diff))
                })
                .inner
                .probe_with(&probe);
            let partners = cfg.partners.map(|country| {
                let (subscriptions, subs) = scope.new_collection();
                let (consent, granted) = scope.new_collection();
                let (opt_out, opted_out) = scope.new_collection();
                // The detector leaves each moment on its subscriber's worker.
                let matches = partner_matches_at(
                    moments,
                    MomentsAt::SubscriberWorker,
                    subs,
                    granted,
                    opted_out,
                    country,
                    move |at| batch_at(at, batch_us),
                );
                let sink = Rc::clone(&sink);
                matches
                    .inner
                    .exchange(move |(m, _, _): &(Match, u64, isize)| match cfg.emit {
                        Emit::ByOwner => imsi_route(&m.moment.imsi) % peers / local * local,
                        Emit::AllOnProcess0 => 0,
                    })
                    .as_collection()
                    .inspect(move |(m, time, diff)| {
                        sink.borrow_mut().matches.push((*m, *time, *diff))
                    })
                    .inner
                    .probe_with(&probe);
                PartnerInputs::new(subscriptions, consent, opt_out)
            });
            (input, reference, files, partners, marks)
        });
    let mut cut = CutWorker::new(
        marks,
        (worker.index(), worker.peers(), local as usize),
        cut,
        shares,
    );

    if let Some(r) = restored {
        let b = batch_at(r.watermark, batch_us);
        input.advance_to(b);
        files.advance_to(b);
        if let Some((c, z)) = &mut reference {
            c.advance_to(b);
            z.advance_to(b);
        }
        if let Some(p) = &mut partners {
            p.advance_to(b);
        }
    }

    let mut report = StreamReport::default();
    let mut open = true;
    // Batches before this one have been handed out.
    let mut handed: u64 = 0;
    // This worker's share of a snapshot: its subscribers' state.
    let share = || -> Share {
        if cfg.zones {
            let state = shared_zones.borrow();
            let serving = state.serving.iter().map(|(k, p)| (*k, p.clone()));
            let zones = state.zones.iter().map(|(k, p)| (*k, p.clone()));
            (serving.collect(), zones.collect())
        } else {
            let serving = shared
                .borrow()
                .iter()
                .map(|(k, p)| (*k, p.clone()))
                .collect();
            (serving, Vec::new())
        }
    };
    let frontier =
        |probe: &ProbeHandle<u64>| probe.with_frontier(|f| f.first().copied().unwrap_or(u64::MAX));
    while open {
        let mut moved = false;
        cut.step(frontier(&probe), share);
        // Take what the channel holds now, a bounded number of messages, then step (none
        // while this worker holds for a snapshot: nothing after it may change the state).
        for _ in 0..if cut.holding() { 0 } else { 64 } {
            match rx.try_recv() {
                Ok(Command::Snapshot) => {
                    cut.asked(*input.time());
                    break;
                }
                Ok(command) => {
                    moved = true;
                    apply(
                        command,
                        &mut input,
                        &mut reference,
                        &mut partners,
                        &mut files,
                        batch_us,
                        &mut report,
                    );
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if moved {
            input.flush();
            files.flush();
            if let Some((c, z)) = &mut reference {
                c.flush();
                z.flush();
            }
            if let Some(p) = &mut partners {
                p.flush();
            }
            worker.step();
        } else if open {
            // Nothing came: park until a timely message or the poll interval.
            worker.step_or_park(Some(POLL));
        }
        if let Some(out) = &out {
            hand_out(&sink, &named, &probe, &mut handed, batch_us, out);
        }
    }
    input.close();
    files.close();
    drop(reference);
    drop(partners);
    // Other processes may still ask for snapshots: their shares are taken here too.
    while !probe.done() {
        cut.step(frontier(&probe), share);
        worker.step_or_park(Some(POLL));
        if let Some(out) = &out {
            hand_out(&sink, &named, &probe, &mut handed, batch_us, out);
        }
    }
    cut.step(frontier(&probe), share);
    if let Some(out) = &out {
        hand_out(&sink, &named, &probe, &mut handed, batch_us, out);
    }
    report
}

/// Apply one command to this worker's inputs.
fn apply(
    command: Command,
    input: &mut InputSession<u64, Signal, isize>,
    reference: &mut Option<ReferenceInputs>,
    partners: &mut Option<PartnerInputs>,
    files: &mut InputSession<u64, (u16, String), isize>,
    batch_us: i64,
    report: &mut StreamReport,
) {
    match command {
        Command::Signals(signals) => {
            let now = *input.time();
            for s in signals {
                let b = batch_at(s.at, batch_us);
                if b < now {
                    report.late += 1;
                    if report.late_examples.len() < 5 {
                        report.late_examples.push(s.source);
                    }
                } else {
                    report.signals += 1;
                    input.update_at(s, b, 1);
                }
            }
        }
        Command::Files(names) => {
            for name in names {
                files.insert(name);
            }
        }
        Command::Watermark(at) => {
            let b = batch_at(at, batch_us);
            if b > *input.time() {
                input.advance_to(b);
                files.advance_to(b);
                if let Some((c, z)) = reference {
                    c.advance_to(b);
                    z.advance_to(b);
                }
                if let Some(p) = partners {
                    p.advance_to(b);
                }
            }
        }
        Command::Zones(edits) => {
            if let Some((_, z)) = reference {
                for (zone, r) in edits {
                    z.update(zone, r);
                }
            }
        }
        Command::Catalog(edits) => {
            if let Some((c, _)) = reference {
                for (cell, r) in edits {
                    c.update(cell, r);
                }
            }
        }
        Command::Registry(edits) => {
            if let Some(p) = partners {
                p.apply(edits);
            }
        }
        // Taken by the worker loop.
        Command::Snapshot => {}
    }
}

/// Signals a finite run sends at once.
const CHUNK: usize = 4096;

/// The finite case of the streaming runner (`landfall replay`): `signals` sent in
/// event-time order, the watermark following them, zones and catalog present from the
/// start; returns every moment, ordered by `(at, id)`, and what the workers counted. In a
/// cluster each process passes its own share of the signals, and process 0 returns the
/// moments (the others none).
pub fn run_signals(
    topology: &Topology,
    signals: Vec<Signal>,
    reference: Option<(Vec<Zone>, Vec<CatalogCell>)>,
    cfg: StreamConfig,
) -> Result<(Vec<Moment>, StreamReport), RunError> {
    let cfg = StreamConfig {
        zones: reference.is_some(),
        ..cfg
    };
    let (mut input, output, workers) = start(topology, cfg)?.split();
    let reader = std::thread::spawn(move || {
        output
            .iter()
            .flat_map(|c| c.moments)
            .collect::<Vec<Moment>>()
    });
    // A send fails only when the workers stopped: their error comes from `join`.
    let _ = feed_in_order(&mut input, signals, reference);
    input.close();
    let report = workers.join()?;
    let mut moments = reader
        .join()
        .map_err(|p| RunError::Worker(panic_text(p.as_ref())))?;
    sort_moments(&mut moments);
    Ok((moments, report))
}

fn feed_in_order(
    input: &mut StreamInput,
    mut signals: Vec<Signal>,
    reference: Option<(Vec<Zone>, Vec<CatalogCell>)>,
) -> Result<(), Stopped> {
    if let Some((zones, cells)) = reference {
        input.catalog(cells.into_iter().map(|c| (c, 1)).collect())?;
        input.zones(zones.into_iter().map(|z| (z, 1)).collect())?;
    }
    signals.sort_by_key(|s| s.at);
    // Sent from the end of the vector backwards: each chunk moves out, nothing is copied.
    signals.reverse();
    while !signals.is_empty() {
        let mut chunk = signals.split_off(signals.len().saturating_sub(CHUNK));
        chunk.reverse();
        input.send(chunk)?;
        if let Some(next) = signals.last() {
            input.advance(next.at)?;
        }
    }
    Ok(())
}

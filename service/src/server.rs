//! `landfall serve`: the configured sources, the streaming dataflow, the moment sinks, the
//! newly-where view and the operator endpoints, wired together and run until the inputs
//! end or a stop is asked (SIGTERM, SIGINT, or [`Stop::stop`]).
//!
//! ```text
//! sources (threads) ──Merged──► feeder ──signals, merged watermark──► dataflow workers
//!                                                                            │ Completed
//! HTTP (tokio: /metrics, /healthz, /readyz, /v1/operator) ◄── view, metrics ◄─ emitter ──► sinks
//! ```
//!
//! Every hand-off is a bounded channel: a slow sink slows the dataflow, which slows the
//! feeder, which slows file reading (live capture drops, counted, instead).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use landfall_dataflows::stream::{self, Completed, Emit, StreamConfig, StreamInput};
use landfall_dataflows::{RunError, Tracked};
use landfall_model::{Signal, TimestampUs};
use landfall_sources::{
    Control, FileTable, FolderSpec, FollowConfig, Input, InterfaceSpec, Merged, RecordInput,
    RecordSpec, SourceError, SourceSpec, SourcesConfig,
};
use tracing::{info, warn};

use crate::config::{Config, ConfigError, InputKind};
use crate::http::{self, AppState, Ready};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::partners::{Edit, Partners};
use crate::restart::{self, Resume, Snapshotter};
use crate::sink::{open_sinks, MomentSink};
use crate::view::View;
use landfall_delivery::metrics::DeliveryMetrics;

/// Why `serve` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("runtime.data_dir {0}")]
    DataDir(String),
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Bind(#[from] http::BindError),
    #[error("sink: {0}")]
    Sink(std::io::Error),
    #[error("{0}")]
    Dataflow(#[from] RunError),
    #[error("the HTTP runtime could not start: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    PartnersStart(#[from] crate::partners::PartnersError),
    #[error("partners: {0}")]
    Partners(String),
}

/// A stop request, shared with signal handlers and tests.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a run did, for the last log line and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub signals: u64,
    pub late: u64,
    pub moments: u64,
}

/// A server started and running: its HTTP address and the handle to wait for it.
pub struct Running {
    /// Where the HTTP endpoints listen (the configured port, or the one the system chose
    /// for port 0).
    pub http: SocketAddr,
    pub stop: Stop,
    ready: Ready,
    handle: thread::JoinHandle<Result<Summary, ServeError>>,
}

impl Running {
    /// Wait until the inputs end or a stop is asked, and everything is written.
    pub fn wait(self) -> Result<Summary, ServeError> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(ServeError::Sink(std::io::Error::other("panicked"))))
    }

    /// Ready: state restored and sources open.
    pub fn is_ready(&self) -> bool {
        self.ready.is_ready()
    }
}

/// Start everything `cfg` describes; returns once the HTTP endpoints listen and the
/// sources are open (an error in any of them is returned here, before anything runs).
/// `stop` ends the run: the sources stop, every batch completes, the sinks flush.
pub fn start(cfg: Config, stop: Stop) -> Result<Running, ServeError> {
    cfg.prepare_data_dir()
        .map_err(|e| ServeError::DataDir(format!("{}: {e}", cfg.runtime.data_dir.display())))?;
    let decoder = cfg.decoder_config()?;
    let zones = cfg.load_zones()?;
    let sinks = open_sinks(&cfg.sinks).map_err(ServeError::Sink)?;

    // HTTP first: a port in use fails before any input is read.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Delivery (with [partners]) gets a thread of its own beside the HTTP endpoints.
        .worker_threads(if cfg.partners.is_some() { 2 } else { 1 })
        .thread_name("landfall-http")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let listener = runtime.block_on(http::bind(cfg.http.listen))?;
    let addr = listener.local_addr().map_err(ServeError::Runtime)?;
    // The partner side: registry, outbox (SQLite in the data directory), delivery.
    let partners = match &cfg.partners {
        Some(p) => Some(Partners::start(
            &cfg.runtime.data_dir,
            p,
            landfall_model::TimestampUs::try_from(cfg.rules.ttl.as_micros()).unwrap_or(i64::MAX),
            zones.is_some(),
        )?),
        None => None,
    };
    let mut metrics = Metrics::new();
    let delivery_metrics = partners
        .as_ref()
        .map(|_| metrics.register_more(DeliveryMetrics::register));
    let metrics = Arc::new(metrics);
    let view = Arc::new(Mutex::new(View::new()));
    let ready = Ready::default();
    let state = AppState::new(
        Arc::clone(&metrics),
        Arc::clone(&view),
        ready.clone(),
        cfg.http.operator_key.as_deref(),
    );

    let sources = landfall_sources::start(
        specs(&cfg),
        SourcesConfig {
            decoder,
            max_delay: cfg.rules.lateness.max(Duration::from_millis(1)),
            idle_timeout: cfg.rules.idle_timeout,
            advance_with_wall_clock: cfg.rules.wall_clock,
            follow: follow(&cfg),
            process: cfg.cluster.process as usize,
            processes: cfg.cluster.processes.max(1) as usize,
            ..SourcesConfig::default()
        },
    )?;
    // Restart: the snapshots of the last run, if any (with zones too: their state is in
    // them; in a cluster, the processes agree on the boundary every one has), and what
    // the re-read inputs then give that the one restored already covers.
    let (data_dir, process) = (&cfg.runtime.data_dir, cfg.cluster.process);
    let snapshots = restart::load_all(data_dir, process);
    let resumes: Vec<(Resume, u64, [usize; 3], TimestampUs)> = snapshots
        .iter()
        .map(|s| {
            let sizes = [s.presence.len(), s.zones.len(), s.pending.len()];
            (Resume::from_snapshot(s), s.log_position, sizes, s.watermark)
        })
        .collect();
    let stream = stream::start_from(
        &cfg.cluster.topology(),
        StreamConfig {
            workers: cfg.runtime.workers as usize,
            batch_us: cfg.rules.batch_us(),
            rules: cfg.rules.rules(),
            zones: zones.is_some(),
            channel: 16,
            emit: Emit::ByOwner,
            snapshots: true,
            partners: cfg.partners.as_ref().map(|p| p.operator_country),
        },
        snapshots,
    )?;
    let mut resumes = resumes;
    let restored = stream.restored.map(|i| resumes.swap_remove(i));
    if !resumes.is_empty() && stream.restored != Some(0) {
        warn!(
            snapshots = resumes.len(),
            restored = restored.is_some(),
            "a snapshot of this process was not restored (the cluster's processes had none in common at that boundary, or it was taken by another cluster shape)"
        );
    }
    if stream.restored == Some(1) {
        // The latest file is ahead of what the cluster restored: gone, so that it is
        // never taken for a snapshot of this run.
        let _ = std::fs::remove_file(restart::snapshot_path(data_dir, process));
    }
    let (resume, position) = match restored {
        Some((resume, position, [subscribers, in_zones, pending], watermark)) => {
            info!(
                subscribers,
                in_zones, pending, watermark, "restoring the snapshot"
            );
            (resume, position)
        }
        None => (Resume::none(), 0),
    };
    // Inputs that cannot be read again are journaled (by source index).
    let journaled: Vec<bool> = cfg
        .inputs
        .iter()
        .map(|i| {
            matches!(
                i.kind,
                InputKind::Stdin
                    | InputKind::Interface { .. }
                    | InputKind::Tcp { .. }
                    | InputKind::Unix { .. }
            )
        })
        .collect();
    let journal = if journaled.contains(&true) {
        let (journal, recovered) = Journal::open(data_dir, process, position).map_err(|e| {
            ServeError::DataDir(format!("{}: the journal: {e}", data_dir.display()))
        })?;
        if !recovered.signals.is_empty() || recovered.torn_bytes > 0 {
            info!(
                signals = recovered.signals.len(),
                segments = recovered.segments,
                torn_bytes = recovered.torn_bytes,
                "journal read: its signals are sent again"
            );
        }
        Some((journal, recovered.signals))
    } else {
        None
    };
    let snapshotter = Some(Snapshotter::new(
        data_dir.clone(),
        process,
        cfg.runtime.snapshot_interval,
        position,
        cfg.cluster.processes > 1,
    ));
    let tracked = stream.tracked.clone();
    let (mut input, output, workers) = stream.split();
    if let Some((zones, catalog)) = zones {
        // Present from the start, before any signal; after a restore, at the snapshot's
        // batch, before the feeder sends its first watermark (the zone state restored is
        // kept by zone id: see docs/operations.md for a catalog changed between runs).
        let sent = input
            .catalog(catalog.cells.into_iter().map(|c| (c, 1)).collect())
            .and_then(|()| input.zones(zones.into_iter().map(|z| (z, 1)).collect()));
        if sent.is_err() {
            return Err(workers
                .join()
                .err()
                .unwrap_or(RunError::Worker("the dataflow stopped at start".into()))
                .into());
        }
    }

    // A stop stops the sources; the rest drains from there.
    let control = sources.control.clone();
    {
        let (stop, control) = (stop.clone(), control.clone());
        thread::Builder::new()
            .name("landfall-stop".into())
            .spawn(move || {
                while !stop.is_stopped() {
                    thread::sleep(Duration::from_millis(20));
                }
                control.stop();
            })
            .map_err(ServeError::Runtime)?;
    }
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            wait_for_signal().await;
            info!("stop requested by signal");
            stop.stop();
        });
    }
    let (partners, edits) = partners.unzip();
    let partners = partners.map(Arc::new);
    let extra = partners
        .as_ref()
        .map(|p| p.routes(cfg.http.operator_key.as_deref()));
    if let (Some(p), Some(m)) = (&partners, delivery_metrics) {
        let dispatcher = p.dispatcher(m).map_err(ServeError::Partners)?;
        runtime.spawn(dispatcher.run(stopped(stop.clone())));
        // Subscriptions past their expiry time (or their sink token's) end.
        let (registry, stop) = (Arc::clone(&p.registry), stop.clone());
        runtime.spawn(async move {
            while !stop.is_stopped() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let registry = Arc::clone(&registry);
                let now = landfall_delivery::now_us();
                match tokio::task::spawn_blocking(move || registry.expire_due(now)).await {
                    Ok(Err(e)) => warn!("partners: expiring subscriptions: {e}"),
                    Err(e) => warn!("partners: expiring subscriptions: {e}"),
                    Ok(Ok(_)) => {}
                }
            }
        });
    }
    let http_stop = stop.clone();
    let http_state = state.clone();
    runtime.spawn(async move {
        if let Err(e) = http::serve(listener, http_state, extra, stopped(http_stop)).await {
            warn!("HTTP server stopped: {e}");
        }
    });

    let sent_at = Arc::new(Mutex::new(SentTimes::default()));
    // The emitter's mark: every moment before it is in the sinks.
    let written = Arc::new(AtomicI64::new(i64::MIN));
    let emitter = {
        let (metrics, view, sent_at) = (
            Arc::clone(&metrics),
            Arc::clone(&view),
            Arc::clone(&sent_at),
        );
        let written = Arc::clone(&written);
        thread::Builder::new()
            .name("landfall-emit".into())
            .spawn(move || {
                emit(
                    output,
                    sinks,
                    partners.as_deref(),
                    &metrics,
                    &view,
                    &sent_at,
                    &written,
                )
            })
            .map_err(ServeError::Runtime)?
    };
    let emitting = Arc::new(AtomicBool::new(true));
    let feeder = {
        let sent_at = Arc::clone(&sent_at);
        let output = sources.output;
        let files = Arc::clone(control.files());
        let emitting = Arc::clone(&emitting);
        let (journal, journaled_again) = journal.unzip();
        let restart = Restart {
            resume,
            snapshotter,
            journal,
            journaled,
            journaled_again: journaled_again.unwrap_or_default(),
            written,
            emitting: Box::new(move || emitting.load(Ordering::SeqCst)),
            alone: cfg.cluster.processes <= 1,
            process_0: cfg.cluster.process == 0,
        };
        thread::Builder::new()
            .name("landfall-feed".into())
            .spawn(move || feed(output, edits, &mut input, &files, &sent_at, restart))
            .map_err(ServeError::Runtime)?
    };
    ready.set();
    info!(http = %addr, inputs = cfg.inputs.len(), "serving");

    let names: Vec<String> = cfg.inputs.iter().map(|i| i.name.clone()).collect();
    let ready_here = ready.clone();
    let stop_here = stop.clone();
    let handle = thread::Builder::new()
        .name("landfall-serve".into())
        .spawn(move || {
            let mut refresher = MetricsRefresher {
                metrics: Arc::clone(&metrics),
                control: control.clone(),
                bad_records: vec![0; names.len()],
                names,
                tracked,
                late: 0,
            };
            let (fed, emitted) = loop {
                refresher.refresh();
                if emitter.is_finished() {
                    emitting.store(false, Ordering::SeqCst);
                }
                if feeder.is_finished() && emitter.is_finished() {
                    break (feeder.join(), emitter.join());
                }
                thread::sleep(Duration::from_millis(100));
            };
            refresher.refresh();
            let report = workers.join();
            ready_here.clear();
            stop_here.stop();
            drop(runtime);
            let report = report?;
            let fed = fed.unwrap_or(0);
            let moments = emitted.unwrap_or(Ok(0)).map_err(ServeError::Sink)?;
            info!(signals = fed, late = report.late, moments, "stopped");
            Ok(Summary {
                signals: report.signals,
                late: report.late,
                moments,
            })
        })
        .map_err(ServeError::Runtime)?;
    Ok(Running {
        http: addr,
        stop,
        ready,
        handle,
    })
}

/// The sources' specifications from the configuration.
fn specs(cfg: &Config) -> Vec<Input> {
    cfg.inputs
        .iter()
        .map(|input| {
            let folder = |path: &PathBuf, pattern: &Option<glob::Pattern>| FolderSpec {
                path: path.clone(),
                pattern: pattern.as_ref().map_or(String::new(), |p| p.to_string()),
            };
            let records = |input_: RecordInput| {
                SourceSpec::Records(RecordSpec {
                    input: input_,
                    mapping: input.format.mapping(),
                })
            };
            let spec = match &input.kind {
                InputKind::Files { paths } if input.format.is_records() => {
                    records(RecordInput::Files(paths.clone()))
                }
                InputKind::Files { paths } => SourceSpec::Files(paths.clone()),
                InputKind::Folder { path, pattern, .. } if input.format.is_records() => {
                    records(RecordInput::Folder(folder(path, pattern)))
                }
                InputKind::Folder { path, pattern, .. } => {
                    SourceSpec::Folder(folder(path, pattern))
                }
                InputKind::Stdin if input.format.is_records() => records(RecordInput::Stdin),
                InputKind::Stdin => SourceSpec::Stdin,
                InputKind::Tcp { listen } => records(RecordInput::Tcp(*listen)),
                InputKind::Unix { path } => records(RecordInput::Unix(path.clone())),
                InputKind::Interface {
                    device,
                    filter,
                    snaplen,
                    buffer_bytes,
                } => SourceSpec::Interface(InterfaceSpec {
                    name: device.clone(),
                    filter: Some(filter.clone()),
                    snaplen: *snaplen,
                    buffer_bytes: u32::try_from(*buffer_bytes).unwrap_or(u32::MAX),
                }),
            };
            Input {
                spec,
                clock_offset_us: input.clock_offset_us,
            }
        })
        .collect()
}

/// Followed folders: a file not grown for the shortest `idle_close` of them is complete.
fn follow(cfg: &Config) -> FollowConfig {
    let grace = cfg
        .inputs
        .iter()
        .filter_map(|i| match &i.kind {
            InputKind::Folder { idle_close, .. } => Some(*idle_close),
            _ => None,
        })
        .min();
    FollowConfig {
        grace: grace.unwrap_or(FollowConfig::default().grace),
        ..FollowConfig::default()
    }
}

/// When signals were handed to the dataflow: `(latest event time sent so far, when)`, for
/// the signal → moment latency. Bounded: the oldest entries go first.
#[derive(Default)]
struct SentTimes(VecDeque<(TimestampUs, Instant)>);

impl SentTimes {
    const KEPT: usize = 65_536;

    fn record(&mut self, latest: TimestampUs, at: Instant) {
        if self.0.back().is_some_and(|(t, _)| *t >= latest) {
            return;
        }
        if self.0.len() == Self::KEPT {
            self.0.pop_front();
        }
        self.0.push_back((latest, at));
    }

    /// When the first signal at or after `at` was sent (none: no longer known).
    fn sent(&self, at: TimestampUs) -> Option<Instant> {
        let i = self.0.partition_point(|(t, _)| *t < at);
        self.0.get(i).map(|(_, when)| *when)
    }
}

/// The feeder's part in restarts: what the snapshot restored covers, the snapshots, and
/// the journal of the inputs that cannot be read again.
struct Restart {
    resume: Resume,
    snapshotter: Option<Snapshotter>,
    journal: Option<Journal>,
    /// By source index: its signals go to the journal.
    journaled: Vec<bool>,
    /// The journal's signals not covered by the snapshot, sent before anything else.
    journaled_again: Vec<Signal>,
    written: Arc<AtomicI64>,
    emitting: Box<dyn Fn() -> bool + Send>,
    /// Not a cluster.
    alone: bool,
    /// Process 0 (alone or not): the one that asks for snapshots.
    process_0: bool,
}

/// The feeder: merged batches into the dataflow, and the merged watermark (each source's
/// already allows for its pending requests and disorder, within `rules.lateness`), a
/// snapshot now and then. Returns how many signals it sent.
fn feed(
    merged: std::sync::mpsc::Receiver<Merged>,
    edits: Option<std::sync::mpsc::Receiver<Edit>>,
    input: &mut StreamInput,
    files: &FileTable,
    sent_at: &Mutex<SentTimes>,
    mut restart: Restart,
) -> u64 {
    let mut sent = 0u64;
    let mut latest = i64::MIN;
    let mut named = 0u64;
    // The name sent for each file index (an index is reused after 65536 captures).
    let mut sent_names: std::collections::HashMap<u16, String> = std::collections::HashMap::new();
    // Whether each file index's signals are journaled.
    let mut journal_file: std::collections::HashMap<u16, bool> = std::collections::HashMap::new();
    let again = std::mem::take(&mut restart.journaled_again);
    if !again.is_empty() {
        // Into the new segment too: kept until a snapshot covers them.
        if let Some(j) = &mut restart.journal {
            if let Err(e) = j.append(&again) {
                warn!("journal: {e}");
            }
        }
        sent += again.len() as u64;
        if input.send(again).is_err() {
            return sent;
        }
    }
    let mut ended = false;
    loop {
        // Registry edits (partners) at the input's current time, between batches.
        if let Some(edits) = &edits {
            for edit in edits.try_iter() {
                let applied = match edit {
                    Edit::Registry(e) => input.registry(e),
                    Edit::Zones(z) => input.zones(z),
                };
                if applied.is_err() {
                    return sent;
                }
            }
        }
        // A snapshot when one is due (process 0) or asked for (the others).
        if let Some(s) = &mut restart.snapshotter {
            let journal = restart.journal.as_mut();
            if !s.maybe(false, input, journal, &restart.written, &*restart.emitting) {
                break;
            }
        }
        let m = match merged.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => m,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match m {
            Merged::Batch(mut batch) => {
                // The names of new captures go ahead of their signals (a source registers
                // a capture before decoding it), to whichever process emits the moments.
                let registered = files.registered();
                if registered != named {
                    named = registered;
                    // Only the names not sent yet: a folder rotating for weeks must not
                    // send every earlier name again with each new file.
                    let new: Vec<(u16, String)> = files
                        .entries()
                        .into_iter()
                        .filter(|(i, e)| sent_names.get(i) != Some(&e.name))
                        .map(|(i, e)| (i, e.name))
                        .collect();
                    sent_names.extend(new.iter().cloned());
                    if input.files(new).is_err() {
                        break;
                    }
                    for (i, e) in files.entries() {
                        let j = restart.journaled.get(e.source).copied().unwrap_or(false);
                        journal_file.insert(i, j);
                    }
                }
                restart.resume.filter(&mut batch.signals);
                if let Some(j) = &mut restart.journal {
                    let to_journal: Vec<Signal> = batch
                        .signals
                        .iter()
                        .filter(|s| journal_file.get(&s.source.file).copied().unwrap_or(false))
                        .copied()
                        .collect();
                    if let Err(e) = j.append(&to_journal) {
                        warn!("journal: {e}");
                    }
                }
                let n = batch.signals.len() as u64;
                for s in &batch.signals {
                    latest = latest.max(s.at);
                }
                if input.send(batch.signals).is_err() {
                    break;
                }
                sent += n;
                if n > 0 {
                    sent_at
                        .lock()
                        .expect("sent times")
                        .record(latest, Instant::now());
                }
                if let Some(w) = batch.watermark {
                    if input.advance(w).is_err() {
                        break;
                    }
                }
            }
            Merged::End => {
                ended = true;
                break;
            }
        }
    }
    let Some(s) = &mut restart.snapshotter else {
        return sent;
    };
    // A graceful end: the last snapshot, so a restart derives nothing again. In a cluster
    // process 0 asks once every process has written the last one (within a bound), and
    // the other processes, their input ended, go on taking their shares of what process
    // 0 asks until the whole cluster is done.
    if ended && restart.process_0 {
        let waiting = Instant::now();
        while !input.may_snapshot()
            && waiting.elapsed() < FINAL_SNAPSHOT_WAIT
            && (restart.emitting)()
        {
            thread::sleep(Duration::from_millis(5));
        }
        let journal = restart.journal.as_mut();
        s.maybe(true, input, journal, &restart.written, &*restart.emitting);
    }
    if !restart.alone {
        input.end();
        while !restart.process_0 && (restart.emitting)() {
            let journal = restart.journal.as_mut();
            if !s.maybe(false, input, journal, &restart.written, &*restart.emitting) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    sent
}

/// How long process 0 of a cluster waits at its end for every process to have written
/// the last snapshot before it asks for the final one.
const FINAL_SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

/// The emitter: completed batches to the sinks, the view and the metrics. Returns how many
/// moments it wrote.
fn emit(
    output: std::sync::mpsc::Receiver<Completed>,
    mut sinks: Vec<Box<dyn MomentSink>>,
    partners: Option<&Partners>,
    metrics: &Metrics,
    view: &Mutex<View>,
    sent_at: &Mutex<SentTimes>,
    written_upto: &AtomicI64,
) -> std::io::Result<u64> {
    let mut written = 0u64;
    // Capture names by file index, as the dataflow hands them out.
    let mut names: Vec<String> = Vec::new();
    for c in output {
        // Partner matches into the outbox first: durable before the batch counts as
        // emitted (the snapshot waits for `written_upto`).
        if let Some(p) = partners {
            if let Err(e) = p.emit(&c.matches, &c.moments, c.upto) {
                return Err(std::io::Error::other(format!("outbox: {e}")));
            }
        }
        for (index, name) in c.files {
            let i = usize::from(index);
            if names.len() <= i {
                names.resize(i + 1, String::new());
            }
            names[i] = name;
        }
        if !c.moments.is_empty() {
            sinks.write_batch(&c.moments, &names)?;
            written += c.moments.len() as u64;
            let now = Instant::now();
            let sent = sent_at.lock().expect("sent times");
            for m in &c.moments {
                metrics.moment(m);
                if let Some(when) = sent.sent(m.at) {
                    metrics.signal_to_moment(now.saturating_duration_since(when));
                }
            }
        }
        written_upto.fetch_max(c.upto, Ordering::SeqCst);
        let mut view = view.lock().expect("view");
        view.apply(&c.moments);
        view.expire(c.upto);
    }
    Ok(written)
}

/// Copies the sources' and the dataflow's counters into the metrics.
struct MetricsRefresher {
    metrics: Arc<Metrics>,
    control: Control,
    /// The inputs' names (the `source` label), in the order of the sources.
    names: Vec<String>,
    tracked: Tracked,
    /// Late signals already counted.
    late: u64,
    /// Bad record lines already reported, per source.
    bad_records: Vec<u64>,
}

impl MetricsRefresher {
    fn refresh(&mut self) {
        self.metrics
            .tracked_subscribers(self.tracked.serving().max(self.tracked.zones()));
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        for (i, (stats, name)) in self.control.sources().iter().zip(&self.names).enumerate() {
            let snap = stats.snapshot();
            // Frames, bytes, messages, signals and errors, as the decoder counted them; a
            // record input's lines.
            self.metrics.decode_stats(name, &stats.decode_stats());
            let records = stats.record_stats();
            if records != Default::default() {
                self.metrics
                    .record_stats(name, &records, snap.frames, snap.bytes);
                // Bad lines are reported as they come (at most once a refresh), with the
                // first few by file and line.
                let seen = &mut self.bad_records[i];
                if records.bad_total() > *seen {
                    warn!(
                        source = %name,
                        bad = records.bad_total() - *seen,
                        total = records.bad_total(),
                        examples = %records.examples.join("; "),
                        "record lines skipped"
                    );
                    *seen = records.bad_total();
                }
            }
            self.metrics.capture_drops(
                name,
                snap.kernel_drops + snap.interface_drops,
                snap.landfall_drops,
            );
            if let Some(w) = snap.watermark {
                let lag = now_us.saturating_sub(w).max(0) as u64;
                self.metrics.watermark_lag(name, Duration::from_micros(lag));
            }
        }
        let late = self.control.merge().late_signals();
        self.metrics.late_signals(late.saturating_sub(self.late));
        self.late = self.late.max(late);
    }
}

/// Completes once `stop` is asked.
async fn stopped(stop: Stop) {
    while !stop.is_stopped() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

//! landfall-sources: the inputs of `landfall serve`, as threads and bounded channels.
//!
//! ```text
//! per source:  reader thread ──FrameBatch──► decoder thread ──signals + watermark──┐
//!              (files, folder, stdin,        (one Decoder, the                      │
//!               interface)                    source's watermark)                   ▼
//!                                                         merge thread ──Merged──► consumer
//!  record source: line readers ──Chunk──► its thread ──────────────────┘  (merged watermark:
//!  (files, folder, stdin, sockets;        (the source's watermark)       min over the sources
//!   records or a vendor's mapping)                                        neither idle nor ended)
//! ```
//!
//! Every channel is bounded ([`SourcesConfig::channel_batches`] batches): when the
//! consumer lags, the merge waits, the decoders wait, and file and stdin reading waits.
//! A live capture never waits (the kernel ring must keep draining): it holds up to
//! [`SourcesConfig::live_buffer_bytes`] of frames, then drops and counts them.
//!
//! [`start`] checks every source (a missing file or folder, an unknown interface, a bad
//! BPF filter: one [`SourceError`] naming it) before any thread runs, then returns the
//! merged stream ([`Sources::output`]) and a [`Control`] for counters and stopping.
//! Signals carry their capture's file index, unique across the sources: the
//! [`FileTable`] names it. See [`watermark`] for a source's watermark and [`merge`] for
//! the merged one.

pub mod config;
mod decode_loop;
pub mod error;
pub mod file_table;
pub mod follow;
mod frames;
pub mod merge;
pub mod names;
pub mod records;
#[cfg(feature = "live")]
pub mod send;
mod source;
pub mod stats;
pub mod watermark;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use landfall_parsers::decode::Decoder;

pub use config::{
    FolderSpec, FollowConfig, Input, InterfaceSpec, SourceSpec, SourcesConfig, DEFAULT_FILTER,
};
pub use error::SourceError;
pub use file_table::{FileEntry, FileTable};
pub use merge::{Batch, MergeConfig, MergeStats, Merged, Merger};
pub use records::{RecordInput, RecordSpec};
pub use stats::{Position, SourceStats, StatsSnapshot};
pub use watermark::Watermark;

use decode_loop::{DecodeLoop, LoopConfig};
use frames::FrameSender;
use source::{Context, Reader};

/// The running sources: the merged stream, and the control of the threads behind it.
pub struct Sources {
    /// Batches of signals with the merged watermark, then [`Merged::End`] once every
    /// source has ended. Dropping it stops the merge (and, through the channels, the
    /// sources).
    pub output: Receiver<Merged>,
    pub control: Control,
    threads: Vec<JoinHandle<()>>,
}

/// Counters and stop of the running sources; cheap to clone and share (metrics, signal
/// handlers).
#[derive(Clone, Debug)]
pub struct Control {
    stop: Arc<AtomicBool>,
    stats: Vec<Arc<SourceStats>>,
    merge: Arc<MergeStats>,
    files: Arc<FileTable>,
}

impl Control {
    /// Ask every source to stop: files and streams stop reading (what was read is decoded
    /// and the decoders finished), followed folders stop at the current end of their
    /// file, live captures close. [`Merged::End`] follows once all have ended. A source
    /// blocked reading standard input ends its decoder all the same; its reading thread is
    /// left to the process's exit.
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Each source's counters, in the order of the specifications.
    pub fn sources(&self) -> &[Arc<SourceStats>] {
        &self.stats
    }

    pub fn merge(&self) -> &Arc<MergeStats> {
        &self.merge
    }

    /// The names of the file indices in signals' provenance.
    pub fn files(&self) -> &Arc<FileTable> {
        &self.files
    }
}

impl Sources {
    /// Stop the sources (see [`Control::stop`]; after [`Merged::End`] there is nothing
    /// left to stop) and wait for their threads, every one but those blocked on standard
    /// input. What is still in the output is dropped.
    pub fn join(self) {
        self.control.stop();
        drop(self.output);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// A source checked and ready: frames to decode, or record lines.
enum Opened {
    Frames(Reader),
    Records(records::Records),
}

/// Check every source, then start them: see the crate doc.
pub fn start<I: Into<Input>>(
    inputs: impl IntoIterator<Item = I>,
    cfg: SourcesConfig,
) -> Result<Sources, SourceError> {
    let inputs: Vec<Input> = inputs.into_iter().map(Into::into).collect();
    let files = Arc::new(FileTable::striped(cfg.process, cfg.processes));
    let stdin = |s: &SourceSpec| {
        matches!(
            s,
            SourceSpec::Stdin
                | SourceSpec::Records(RecordSpec {
                    input: RecordInput::Stdin,
                    ..
                })
        )
    };
    if inputs.iter().filter(|i| stdin(&i.spec)).count() > 1 {
        return Err(SourceError::StdinTwice);
    }
    let mut readers = Vec::with_capacity(inputs.len());
    let mut stats = Vec::with_capacity(inputs.len());
    for (id, input) in inputs.into_iter().enumerate() {
        stats.push(Arc::new(SourceStats::new(&input.spec.describe())));
        let opened = match input.spec {
            SourceSpec::Records(r) => Opened::Records(records::Records::open(r, id, &files)?),
            spec => Opened::Frames(Reader::open(spec, id, &files)?),
        };
        readers.push((opened, input.clock_offset_us));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cap = cfg.channel_batches.max(1);
    let (env_tx, env_rx) = sync_channel(cap);
    let (out_tx, out_rx) = sync_channel(cap);
    let merge_stats = Arc::new(MergeStats::default());
    let merger = Merger::new(
        readers.len(),
        MergeConfig {
            idle_timeout: cfg.idle_timeout,
            advance_with_wall_clock: cfg.advance_with_wall_clock,
        },
        Instant::now(),
    );
    let mut threads = Vec::new();
    {
        let (sources, ms) = (stats.clone(), merge_stats.clone());
        threads.push(spawn("landfall-merge", move || {
            merge::run(env_rx, out_tx, merger, sources, ms)
        })?);
    }
    let loop_cfg = LoopConfig {
        batch_signals: cfg.batch_signals.max(1),
        batch_interval: cfg.batch_interval,
        stats_interval: cfg.stats_interval,
        max_delay: cfg.max_delay,
        wall_clock: cfg.advance_with_wall_clock,
    };
    for (id, (opened, clock_offset_us)) in readers.into_iter().enumerate() {
        let cx = Context {
            id,
            files: files.clone(),
            stop: stop.clone(),
            stats: stats[id].clone(),
            cfg: cfg.clone(),
            clock_offset_us,
        };
        let reader = match opened {
            Opened::Frames(r) => r,
            Opened::Records(r) => {
                let out = env_tx.clone();
                threads.push(spawn(&format!("landfall-src{id}-records"), move || {
                    r.run(out, cx)
                })?);
                continue;
            }
        };
        let (frame_tx, frame_rx) = sync_channel(cap);
        let decode = DecodeLoop {
            id,
            decoder: Decoder::new(cfg.decoder.clone()),
            rx: frame_rx,
            out: env_tx.clone(),
            stats: stats[id].clone(),
            files: files.clone(),
            stop: stop.clone(),
            cfg: loop_cfg,
        };
        let (out, source_stats) = (env_tx.clone(), stats[id].clone());
        threads.push(spawn(&format!("landfall-src{id}-decode"), move || {
            // Decoders do not panic; should one all the same, the source ends (reported)
            // instead of holding the merge forever.
            let run = std::panic::AssertUnwindSafe(|| decode.run());
            if std::panic::catch_unwind(run).is_err() {
                source_stats.set_error("the decoder failed (a bug): source ended".to_string());
                source_stats.set_ended();
                let _ = out.send(merge::Envelope {
                    source: id,
                    event: merge::SourceEvent::End,
                });
            }
        })?);
        let out = FrameSender::new(frame_tx, cfg.batch_interval, stats[id].clone());
        let unjoinable = reader.unjoinable();
        let t = spawn(&format!("landfall-src{id}-read"), move || {
            reader.run(out, cx)
        })?;
        if !unjoinable {
            threads.push(t);
        }
    }
    Ok(Sources {
        output: out_rx,
        control: Control {
            stop,
            stats,
            merge: merge_stats,
            files,
        },
        threads,
    })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, SourceError> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(SourceError::Thread)
}

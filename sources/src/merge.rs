//! The merge of every source's signals into one stream with one watermark.
//!
//! Signals are passed on as they come (no reordering, no buffering: the consumer orders
//! by event time up to the watermark). The merged watermark is the minimum of the
//! watermarks of the sources that are neither ended nor idle:
//!
//! * a source is **idle** when it decoded no frame for `idle_timeout` of wall-clock time
//!   (counted from its start before its first frame): a silent interface must not stall
//!   the others. When it speaks again it holds the watermark again, from where it is; its
//!   signals older than the merged watermark by then are late (counted here in
//!   [`MergeStats::late_signals`], and passed on).
//! * a finite source (files, stdin) that **ended** has been finished (its decoder flushed)
//!   and holds nothing; when every source has ended, [`Merged::End`] follows.
//! * when **every** source still running is idle, the watermark is the highest of the
//!   sources' own watermarks (each promises nothing older from it; idle ones are not
//!   waited for). With `advance_with_wall_clock` it also moves on with the wall clock, so
//!   that a live service's timers (TTL expiry, dwell) fire without traffic. Not simply to
//!   `now − idle_timeout`: each source's event time is extrapolated from its latest
//!   frame, `last frame time + (now − when it was decoded) − idle_timeout`, and the
//!   minimum over the sources is taken. For a live capture whose clock is right that *is*
//!   `now − idle_timeout`; for a folder catching up on old rotated files, or a probe whose
//!   clock is off, it continues from the data's own time instead of jumping to today (which
//!   would make every later signal of those files late). Before any frame at all it is
//!   `now − idle_timeout`. Off by default: a replay of old captures that pauses (a slow
//!   disk, a folder waiting for its next file) would still advance, so it is for live
//!   inputs.
//!
//! The merged watermark never goes back. [`Merger`] is the logic, driven with explicit
//! clocks (unit-tested); [`run`] is its thread.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_model::signal::Signal;

use crate::decode_loop::wall_us;
use crate::stats::SourceStats;

/// What a source's decoder thread tells the merge.
#[derive(Debug)]
pub(crate) enum SourceEvent {
    /// Signals decoded, the source's watermark after them, and its latest frame (event
    /// time, when decoded) if frames were decoded since the last event.
    Progress {
        signals: Vec<Signal>,
        watermark: Option<i64>,
        last_frame: Option<(i64, Instant)>,
    },
    /// Read to the end (or stopped), decoder finished: nothing more from this source.
    End,
}

#[derive(Debug)]
pub(crate) struct Envelope {
    pub source: usize,
    pub event: SourceEvent,
}

/// Signals and the merged watermark after them: no later batch carries a signal older
/// than `watermark` (µs, event time), except late ones (counted in
/// [`MergeStats::late_signals`]). `None` until every source still held has a watermark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub signals: Vec<Signal>,
    pub watermark: Option<i64>,
}

/// What the merged stream carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merged {
    Batch(Batch),
    /// Every source has ended (finite inputs read, or the service stopped): no more
    /// signals; the consumer may complete every time.
    End,
}

/// Merge settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeConfig {
    pub idle_timeout: Duration,
    pub advance_with_wall_clock: bool,
}

/// Counters of the merge.
#[derive(Debug)]
pub struct MergeStats {
    late: AtomicU64,
    batches: AtomicU64,
    watermark: AtomicI64,
}

impl Default for MergeStats {
    fn default() -> Self {
        MergeStats::new_zeroed()
    }
}

impl MergeStats {
    fn new_zeroed() -> MergeStats {
        MergeStats {
            late: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
        }
    }

    /// Signals older than the merged watermark already handed out when they arrived.
    pub fn late_signals(&self) -> u64 {
        self.late.load(Relaxed)
    }

    /// Batches handed to the consumer.
    pub fn batches(&self) -> u64 {
        self.batches.load(Relaxed)
    }

    /// The merged watermark handed out last.
    pub fn watermark(&self) -> Option<i64> {
        Some(self.watermark.load(Relaxed)).filter(|&w| w != i64::MIN)
    }
}

/// Where one source stands, as the merge sees it.
#[derive(Clone, Copy, Debug)]
struct Clock {
    watermark: Option<i64>,
    /// Latest frame's event time and when it was decoded.
    last_frame: Option<(i64, Instant)>,
    /// Its latest frame or, before any, its start.
    active_at: Instant,
    ended: bool,
}

/// The merged watermark of several sources (see the module doc).
#[derive(Clone, Debug)]
pub struct Merger {
    cfg: MergeConfig,
    sources: Vec<Clock>,
    emitted: Option<i64>,
}

impl Merger {
    /// `n` sources started at `now`.
    pub fn new(n: usize, cfg: MergeConfig, now: Instant) -> Merger {
        let clock = Clock {
            watermark: None,
            last_frame: None,
            active_at: now,
            ended: false,
        };
        Merger {
            cfg,
            sources: vec![clock; n],
            emitted: None,
        }
    }

    /// Source `id` reports its watermark and, when it decoded frames, its latest one.
    pub fn progress(
        &mut self,
        id: usize,
        watermark: Option<i64>,
        last_frame: Option<(i64, Instant)>,
    ) {
        if let Some(c) = self.sources.get_mut(id) {
            c.watermark = watermark.max(c.watermark);
            if let Some((t, at)) = last_frame {
                c.last_frame = Some((t, at));
                c.active_at = c.active_at.max(at);
            }
        }
    }

    /// Source `id` has ended.
    pub fn end(&mut self, id: usize) {
        if let Some(c) = self.sources.get_mut(id) {
            c.ended = true;
        }
    }

    pub fn all_ended(&self) -> bool {
        self.sources.iter().all(|c| c.ended)
    }

    /// No frame from source `id` for the idle timeout (and not ended).
    pub fn is_idle(&self, id: usize, now: Instant) -> bool {
        self.sources.get(id).is_some_and(|c| {
            !c.ended && now.saturating_duration_since(c.active_at) >= self.cfg.idle_timeout
        })
    }

    /// The merged watermark at `now` (`wall_us`: the wall clock, µs since the epoch); never
    /// below what it returned before.
    pub fn watermark(&mut self, now: Instant, wall_us: i64) -> Option<i64> {
        let idle_us = i64::try_from(self.cfg.idle_timeout.as_micros()).unwrap_or(i64::MAX);
        let held: Vec<&Clock> = (0..self.sources.len())
            .filter(|&i| !self.sources[i].ended && !self.is_idle(i, now))
            .map(|i| &self.sources[i])
            .collect();
        let candidate = if !held.is_empty() {
            // Every source held must have said where it is.
            held.iter()
                .map(|c| c.watermark)
                .collect::<Option<Vec<i64>>>()
                .and_then(|w| w.into_iter().min())
        } else {
            let mut c = self.sources.iter().filter_map(|c| c.watermark).max();
            if self.cfg.advance_with_wall_clock {
                let running = self.sources.iter().filter(|c| !c.ended);
                let extrapolated = running
                    .filter_map(|c| c.last_frame)
                    .map(|(t, at)| {
                        let since = now.saturating_duration_since(at).as_micros();
                        t.saturating_add(i64::try_from(since).unwrap_or(i64::MAX))
                    })
                    .min()
                    .unwrap_or(wall_us);
                c = c.max(Some(extrapolated.saturating_sub(idle_us)));
            }
            c
        };
        self.emitted = self.emitted.max(candidate);
        self.emitted
    }

    /// The watermark last returned.
    pub fn current(&self) -> Option<i64> {
        self.emitted
    }

    /// How many of `signals` are older than the watermark already handed out.
    pub fn late(&self, signals: &[Signal]) -> u64 {
        match self.emitted {
            Some(w) => signals.iter().filter(|s| s.at < w).count() as u64,
            None => 0,
        }
    }
}

/// The merge thread: events from every source in, batches out (blocking while the
/// consumer lags, which in turn holds the sources back). Ends after [`Merged::End`], or
/// when the consumer is gone.
pub(crate) fn run(
    rx: Receiver<Envelope>,
    out: SyncSender<Merged>,
    mut merger: Merger,
    sources: Vec<Arc<SourceStats>>,
    stats: Arc<MergeStats>,
) {
    let tick =
        (merger.cfg.idle_timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
    let send = |b: Batch| {
        stats.batches.fetch_add(1, Relaxed);
        stats
            .watermark
            .store(b.watermark.unwrap_or(i64::MIN), Relaxed);
        out.send(Merged::Batch(b)).is_ok()
    };
    loop {
        let before = merger.current();
        let signals = match rx.recv_timeout(tick) {
            Ok(Envelope { source, event }) => match event {
                SourceEvent::Progress {
                    signals,
                    watermark,
                    last_frame,
                } => {
                    merger.progress(source, watermark, last_frame);
                    stats.late.fetch_add(merger.late(&signals), Relaxed);
                    signals
                }
                SourceEvent::End => {
                    merger.end(source);
                    Vec::new()
                }
            },
            Err(RecvTimeoutError::Timeout) => Vec::new(),
            // Every source's thread is gone.
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if merger.all_ended() {
            if !signals.is_empty()
                && !send(Batch {
                    signals,
                    watermark: before,
                })
            {
                return;
            }
            break;
        }
        let now = Instant::now();
        for (i, s) in sources.iter().enumerate() {
            s.set_idle(merger.is_idle(i, now));
        }
        let watermark = merger.watermark(now, wall_us());
        if (!signals.is_empty() || watermark != before) && !send(Batch { signals, watermark }) {
            return;
        }
    }
    let _ = out.send(Merged::End);
}

#[cfg(test)]
mod tests;

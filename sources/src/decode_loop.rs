//! A source's decoder thread: frames from its reader thread through one
//! [`Decoder`] into batches of signals, each sent to the merge with the source's
//! watermark after it. A batch goes at `batch_signals` signals or `batch_interval` after
//! its first frame, so signals wait little and the channel is crossed rarely; a source
//! that decoded frames but made no signal still reports progress, so the merge knows it
//! is not idle. At the end of the input (or on stop) the decoder is finished: what it
//! still held (TCP streams, pending requests) is flushed, and the source stops holding the
//! merged watermark.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use landfall_model::signal::Signal;
use landfall_parsers::decode::{Decoder, Sink};

use crate::file_table::FileTable;
use crate::frames::{Closed, FrameBatch};
use crate::merge::{Envelope, SourceEvent};
use crate::stats::{Position, SourceStats};
use crate::watermark::{self, Watermark};

/// How often a decoder thread with nothing to do looks at the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// After a stop, how long a decoder thread waits for its reader's last frames.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Wall clock, µs since the epoch.
pub(crate) fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Settings of a decoder thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopConfig {
    pub batch_signals: usize,
    pub batch_interval: Duration,
    pub stats_interval: Duration,
    pub max_delay: Duration,
    /// Whether the run follows the wall clock: only then is a frame stamped more than a
    /// day after it taken as damaged ([`crate::watermark::MAX_FUTURE_US`]); without it the
    /// captures' own time is the run's, future dates included (synthetic captures).
    pub wall_clock: bool,
}

/// Collects the decoder's signals.
struct Collect<'a>(&'a mut Vec<Signal>);

impl Sink for Collect<'_> {
    fn signal(&mut self, s: Signal) {
        self.0.push(s);
    }
}

pub(crate) struct DecodeLoop {
    pub id: usize,
    pub decoder: Decoder,
    pub rx: Receiver<FrameBatch>,
    pub out: SyncSender<Envelope>,
    pub stats: Arc<SourceStats>,
    pub files: Arc<FileTable>,
    pub stop: Arc<AtomicBool>,
    pub cfg: LoopConfig,
}

/// What is collected between two sends.
struct Pending {
    watermark: Watermark,
    signals: Vec<Signal>,
    /// When the first frame not reported yet was decoded.
    dirty_since: Option<Instant>,
    /// Latest frame time and when it was decoded.
    last_frame: Option<(i64, Instant)>,
    sent_watermark: Option<i64>,
    stats_copied: Instant,
}

impl DecodeLoop {
    pub fn run(mut self) {
        let mut p = Pending {
            watermark: Watermark::new(self.cfg.max_delay),
            signals: Vec::new(),
            dirty_since: None,
            last_frame: None,
            sent_watermark: None,
            stats_copied: Instant::now(),
        };
        loop {
            let wait = match p.dirty_since {
                Some(t) => self.cfg.batch_interval.saturating_sub(t.elapsed()),
                None => TICK,
            };
            match self.rx.recv_timeout(wait) {
                Ok(batch) => self.decode(&batch, &mut p),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.stop.load(Relaxed) {
                // The reader stops soon and hands over what it holds: decode until it is
                // gone, or the grace is over (a reader blocked on stdin never goes).
                let until = Instant::now() + STOP_GRACE;
                while let Ok(batch) = self
                    .rx
                    .recv_timeout(until.saturating_duration_since(Instant::now()))
                {
                    self.decode(&batch, &mut p);
                }
                break;
            }
            let due = p.signals.len() >= self.cfg.batch_signals
                || p.dirty_since
                    .is_some_and(|t| t.elapsed() >= self.cfg.batch_interval);
            if due && self.send(&mut p).is_err() {
                return self.stats.set_ended();
            }
            if p.stats_copied.elapsed() >= self.cfg.stats_interval {
                self.stats.set_decode(&self.decoder.stats, false);
                p.stats_copied = Instant::now();
            }
        }
        self.decoder.finish(&mut Collect(&mut p.signals));
        self.stats.set_decode(&self.decoder.stats, true);
        // The end: everything decoded is out, nothing more will come.
        let _ = self.send(&mut p);
        self.stats.set_ended();
        let _ = self.out.send(Envelope {
            source: self.id,
            event: SourceEvent::End,
        });
    }

    fn decode(&mut self, batch: &FrameBatch, p: &mut Pending) {
        // 0: no wall clock to compare with (see `LoopConfig::wall_clock`).
        let wall = if self.cfg.wall_clock { wall_us() } else { 0 };
        let (mut frames, mut bytes) = (0u64, 0u64);
        let DecodeLoop { decoder, .. } = self;
        let mut sink = Collect(&mut p.signals);
        let watermark = &mut p.watermark;
        batch.for_each(|item| match item {
            Ok(f) => {
                watermark.observe(f.meta.ts_us, wall);
                decoder.push_ref(&f, &mut sink);
                frames += 1;
                bytes += f.data.len() as u64;
            }
            Err(e) => decoder.stats.capture_error(e),
        });
        self.stats.add_frames(frames, bytes);
        if let Some((file, offset)) = batch.position {
            if let Some(name) = self.files.name(file) {
                self.stats.set_position(Position { file: name, offset });
            }
        }
        if frames > 0 {
            let now = Instant::now();
            p.dirty_since.get_or_insert(now);
            if let Some(last) = p.watermark.last_frame() {
                p.last_frame = Some((last, now));
                self.stats.set_last_frame(last, wall);
            }
        }
    }

    /// Send the signals collected and the watermark after them, if anything changed.
    fn send(&mut self, p: &mut Pending) -> Result<(), Closed> {
        let pending = self.decoder.oldest_pending();
        let answers = self
            .decoder
            .answer_delay(watermark::ANSWER_PER_MILLE, watermark::ANSWERS_KNOWN);
        let watermark = p.watermark.update(pending, answers);
        let progressed = p.dirty_since.take().is_some();
        if p.signals.is_empty() && watermark == p.sent_watermark && !progressed {
            return Ok(());
        }
        let signals = std::mem::take(&mut p.signals);
        self.stats.add_signals(signals.len() as u64);
        self.stats.set_watermark(watermark);
        p.sent_watermark = watermark;
        let event = SourceEvent::Progress {
            signals,
            watermark,
            last_frame: if progressed { p.last_frame } else { None },
        };
        self.out
            .send(Envelope {
                source: self.id,
                event,
            })
            .map_err(|_| Closed)
    }
}

//! Frames handed from a source's reader thread to its decoder thread, many at a time: one
//! buffer of bytes and one list of items per batch, so the channel is crossed once per
//! batch and a frame costs a copy, not an allocation.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_parsers::capture::{CaptureError, FrameRef};
use landfall_parsers::flow::PacketMeta;

use crate::stats::SourceStats;

/// One thing read, in order.
#[derive(Debug)]
pub(crate) enum Item {
    /// A frame whose bytes are the next `len` of [`FrameBatch::data`].
    Frame {
        meta: PacketMeta,
        linktype: u32,
        orig_len: u32,
        len: usize,
    },
    /// A capture that could not be read (on): counted by the decoder.
    Error(Box<CaptureError>),
}

/// Frames and capture errors in reading order, and where reading stood after them.
#[derive(Debug, Default)]
pub(crate) struct FrameBatch {
    pub data: Vec<u8>,
    pub items: Vec<Item>,
    /// (file index, byte offset) just past the last frame, when the reader knows it.
    pub position: Option<(u16, u64)>,
}

impl FrameBatch {
    pub fn push(&mut self, f: &FrameRef<'_>) {
        self.data.extend_from_slice(f.data);
        self.items.push(Item::Frame {
            meta: f.meta,
            linktype: f.linktype,
            orig_len: f.orig_len,
            len: f.data.len(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each item, frames lent from the batch's buffer.
    pub fn for_each(&self, mut f: impl FnMut(Result<FrameRef<'_>, &CaptureError>)) {
        let mut at = 0;
        for item in &self.items {
            match item {
                Item::Frame {
                    meta,
                    linktype,
                    orig_len,
                    len,
                } => {
                    let data = self.data.get(at..at + len).unwrap_or_default();
                    at += len;
                    f(Ok(FrameRef {
                        meta: *meta,
                        linktype: *linktype,
                        data,
                        orig_len: *orig_len,
                    }));
                }
                Item::Error(e) => f(Err(e)),
            }
        }
    }
}

/// The decoder thread has gone (stopped, or its consumer went away): stop reading.
#[derive(Debug)]
pub(crate) struct Closed;

/// The reader's end of the channel to the decoder thread: collects frames into batches
/// and sends a batch when it is full, when [`FrameSender::flush`] is called (before the
/// reader waits for input), or when it is older than the batch interval.
pub(crate) struct FrameSender {
    tx: SyncSender<FrameBatch>,
    batch: FrameBatch,
    started: Option<Instant>,
    interval: Duration,
    pub stats: Arc<SourceStats>,
}

/// A batch is sent at this many frames or bytes.
const BATCH_FRAMES: usize = 512;
const BATCH_BYTES: usize = 1 << 20;

impl FrameSender {
    pub fn new(tx: SyncSender<FrameBatch>, interval: Duration, stats: Arc<SourceStats>) -> Self {
        FrameSender {
            tx,
            batch: FrameBatch::default(),
            started: None,
            interval,
            stats,
        }
    }

    /// Add a frame; sends (blocking while the decoder lags) when the batch is full.
    pub fn frame(&mut self, f: &FrameRef<'_>) -> Result<(), Closed> {
        self.batch.push(f);
        let started = *self.started.get_or_insert_with(Instant::now);
        let n = self.batch.items.len();
        if n >= BATCH_FRAMES
            || self.batch.data.len() >= BATCH_BYTES
            || (n.is_multiple_of(32) && started.elapsed() >= self.interval)
        {
            return self.flush();
        }
        Ok(())
    }

    /// A capture error, sent at once with what precedes it.
    pub fn error(&mut self, e: CaptureError) -> Result<(), Closed> {
        self.stats.add_capture_error(&e);
        self.batch.items.push(Item::Error(Box::new(e)));
        self.flush()
    }

    /// Where reading stands after the frames added so far.
    pub fn position(&mut self, file: u16, offset: u64) {
        self.batch.position = Some((file, offset));
    }

    /// Send what is collected (blocking while the decoder lags).
    pub fn flush(&mut self) -> Result<(), Closed> {
        self.started = None;
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::take(&mut self.batch);
        self.tx.send(b).map_err(|_| Closed)
    }

    /// Send what is collected if the decoder has room, else keep it (live capture: never
    /// wait). `Err` when the decoder is gone.
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    pub fn try_flush(&mut self) -> Result<bool, Closed> {
        if self.batch.is_empty() {
            return Ok(true);
        }
        let b = std::mem::take(&mut self.batch);
        match self.tx.try_send(b) {
            Ok(()) => {
                self.started = None;
                Ok(true)
            }
            Err(TrySendError::Full(b)) => {
                self.batch = b;
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => Err(Closed),
        }
    }

    /// Bytes and frames held, not yet sent.
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    pub fn held(&self) -> (usize, usize) {
        (self.batch.data.len(), self.batch.items.len())
    }

    /// Is the batch older than the interval?
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    pub fn due(&self) -> bool {
        self.started.is_some_and(|s| s.elapsed() >= self.interval)
    }

    /// Add a frame without sending (live capture sends with [`FrameSender::try_flush`]).
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    pub fn hold(&mut self, f: &FrameRef<'_>) {
        self.batch.push(f);
        self.started.get_or_insert_with(Instant::now);
    }
}

//! What each source counted, readable while it runs: atomics written by the source's
//! threads, a copy of its decoder's [`DecodeStats`] refreshed every `stats_interval`, and
//! its position (file and byte offset) for a later restart.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use landfall_parsers::decode::DecodeStats;
use landfall_parsers::records::RecordStats;

/// "None" in the `i64` atomics.
const NONE: i64 = i64::MIN;

/// Where a source has read to: the capture (its name) and the byte offset just past the
/// last frame decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub file: String,
    pub offset: u64,
}

/// Counters of one source. Written by its threads, read by anyone (`Arc<SourceStats>`).
#[derive(Debug)]
pub struct SourceStats {
    /// What the source is (`folder /x (*.pcap)`, `interface eth1`, …).
    pub description: String,
    frames: AtomicU64,
    bytes: AtomicU64,
    capture_errors: AtomicU64,
    signals: AtomicU64,
    kernel_drops: AtomicU64,
    interface_drops: AtomicU64,
    landfall_drops: AtomicU64,
    files: AtomicU64,
    watermark: AtomicI64,
    last_frame_us: AtomicI64,
    last_frame_wall_us: AtomicI64,
    idle: AtomicBool,
    ended: AtomicBool,
    decode: Mutex<DecodeStats>,
    records: Mutex<RecordStats>,
    position: Mutex<Option<Position>>,
    last_error: Mutex<Option<String>>,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Frames decoded (a record source: lines read).
    pub frames: u64,
    /// Bytes of the frames decoded (or of the lines read).
    pub bytes: u64,
    /// Capture files or streams that could not be read (on), and broken records.
    pub capture_errors: u64,
    /// Signals handed to the merge.
    pub signals: u64,
    /// Live capture: packets the kernel dropped (its ring was full) …
    pub kernel_drops: u64,
    /// … and the interface dropped (libpcap's `if_dropped`).
    pub interface_drops: u64,
    /// Live capture: frames landfall dropped because its decoder lagged.
    pub landfall_drops: u64,
    /// Captures opened (files of a folder so far).
    pub files: u64,
    /// The source's watermark (event time, µs), once known.
    pub watermark: Option<i64>,
    /// The latest frame's capture time (µs).
    pub last_frame_us: Option<i64>,
    /// When the latest frame was decoded (wall clock, µs since the epoch).
    pub last_frame_wall_us: Option<i64>,
    /// No frame for the idle timeout: not holding the merged watermark back.
    pub idle: bool,
    /// Read to its end (or stopped): its decoder finished.
    pub ended: bool,
}

fn opt(v: i64) -> Option<i64> {
    (v != NONE).then_some(v)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SourceStats {
    pub fn new(description: &str) -> SourceStats {
        SourceStats {
            description: description.to_string(),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            capture_errors: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            kernel_drops: AtomicU64::new(0),
            interface_drops: AtomicU64::new(0),
            landfall_drops: AtomicU64::new(0),
            files: AtomicU64::new(0),
            watermark: AtomicI64::new(NONE),
            last_frame_us: AtomicI64::new(NONE),
            last_frame_wall_us: AtomicI64::new(NONE),
            idle: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            decode: Mutex::new(DecodeStats::default()),
            records: Mutex::new(RecordStats::default()),
            position: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            frames: self.frames.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            capture_errors: self.capture_errors.load(Relaxed),
            signals: self.signals.load(Relaxed),
            kernel_drops: self.kernel_drops.load(Relaxed),
            interface_drops: self.interface_drops.load(Relaxed),
            landfall_drops: self.landfall_drops.load(Relaxed),
            files: self.files.load(Relaxed),
            watermark: opt(self.watermark.load(Relaxed)),
            last_frame_us: opt(self.last_frame_us.load(Relaxed)),
            last_frame_wall_us: opt(self.last_frame_wall_us.load(Relaxed)),
            idle: self.idle.load(Relaxed),
            ended: self.ended.load(Relaxed),
        }
    }

    /// The decoder's counts as of the last copy (every `stats_interval`, and at the end):
    /// messages by type, signals by kind, errors by layer and reason. Request→answer delay
    /// samples are left out of the running copies (they can be large); pairing and delays
    /// are filled by the decoder at the end only.
    pub fn decode_stats(&self) -> DecodeStats {
        lock(&self.decode).clone()
    }

    /// A record source's counts: record lines read into signals, blank, bad by reason
    /// with examples (`file:line: what`). Empty for capture sources.
    pub fn record_stats(&self) -> RecordStats {
        lock(&self.records).clone()
    }

    pub(crate) fn add_records(&self, r: RecordStats) {
        lock(&self.records).absorb(r);
    }

    /// Where the source has read to, when it reads a file or stream.
    pub fn position(&self) -> Option<Position> {
        lock(&self.position).clone()
    }

    /// The last problem met while running (a file that could not be read, an interface
    /// gone), for a readable report; each is also counted.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub(crate) fn add_frames(&self, frames: u64, bytes: u64) {
        self.frames.fetch_add(frames, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn add_capture_error(&self, e: &dyn std::fmt::Display) {
        self.capture_errors.fetch_add(1, Relaxed);
        self.set_error(e.to_string());
    }

    pub(crate) fn set_error(&self, e: String) {
        *lock(&self.last_error) = Some(e);
    }

    pub(crate) fn add_signals(&self, n: u64) {
        self.signals.fetch_add(n, Relaxed);
    }

    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    pub(crate) fn add_landfall_drops(&self, n: u64) {
        self.landfall_drops.fetch_add(n, Relaxed);
    }

    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    pub(crate) fn set_kernel_drops(&self, kernel: u64, interface: u64) {
        self.kernel_drops.store(kernel, Relaxed);
        self.interface_drops.store(interface, Relaxed);
    }

    pub(crate) fn add_file(&self) {
        self.files.fetch_add(1, Relaxed);
    }

    pub(crate) fn set_watermark(&self, w: Option<i64>) {
        self.watermark.store(w.unwrap_or(NONE), Relaxed);
    }

    pub(crate) fn set_last_frame(&self, event_us: i64, wall_us: i64) {
        self.last_frame_us.store(event_us, Relaxed);
        self.last_frame_wall_us.store(wall_us, Relaxed);
    }

    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Relaxed);
    }

    pub(crate) fn set_ended(&self) {
        self.ended.store(true, Relaxed);
    }

    pub(crate) fn set_decode(&self, d: &DecodeStats, with_delays: bool) {
        let copy = DecodeStats {
            frames: d.frames,
            bytes: d.bytes,
            messages: d.messages.clone(),
            signals: d.signals.clone(),
            errors: d.errors.clone(),
            skipped: d.skipped.clone(),
            pairing: d.pairing.clone(),
            delays: if with_delays {
                d.delays.clone()
            } else {
                Default::default()
            },
        };
        *lock(&self.decode) = copy;
    }

    pub(crate) fn set_position(&self, p: Position) {
        *lock(&self.position) = Some(p);
    }
}

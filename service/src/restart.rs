//! Restart without floods or gaps (docs/operations.md): `serve` snapshots the dataflow's
//! state into `runtime.data_dir` every `runtime.snapshot_interval`, and a restarted `serve`
//! starts from the snapshot.
//!
//! * A snapshot is written only once the sinks hold every moment of the batches it covers
//!   (the emitter's `written` mark has reached its watermark), so no moment of those is
//!   lost; it is written atomically (`landfall_dataflows::snapshot::write_atomic`), one file
//!   per process (`snapshot-p{process}`) replaced each time: the state files are bounded.
//! * On restart the inputs are read again from their start (files and folders; what is
//!   still there), and [`Resume`] drops what the snapshot already covers: signals of the
//!   batches before its watermark (applied), and the re-read copies of its pending signals
//!   (re-sent from the snapshot itself). The moments of batches after the watermark are
//!   derived again; those the sinks wrote before the stop are the same moments, same ids.
//! * Standard input and live interfaces cannot be read again: their signals are written
//!   to the [`Journal`] before they are sent, and sent again from it on restart.
//! * A graceful stop takes a last snapshot once the inputs have ended.
//! * With zones the snapshot holds the zone detector's state too (stays, the stays waiting
//!   for the minimum dwell, whose timers the restored dataflow sets again); the zones and
//!   the catalog are fed again from the configuration, and the partners' circle zones
//!   from their registry, before the first watermark of the restored run.
//! * Not covered: the processes of a cluster are not coordinated (a cluster runs without
//!   snapshots).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use landfall_dataflows::snapshot::{write_atomic, StreamSnapshot};
use landfall_dataflows::stream::{batch_at, StreamInput};
use landfall_model::Signal;
use tracing::{info, warn};

use crate::journal::Journal;

/// The snapshot file of `process` in `dir`.
pub fn snapshot_path(dir: &Path, process: u32) -> PathBuf {
    dir.join(format!("snapshot-p{process}"))
}

/// The snapshot at `path`, if there is a readable one (a damaged one, or one of another
/// format version such as the `LFSNAP02` of versions without zone state, is reported and
/// ignored: the run then starts empty, as a first start does).
pub fn load(path: &Path) -> Option<StreamSnapshot> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!("snapshot {}: {e}; starting without it", path.display());
            return None;
        }
    };
    match StreamSnapshot::decode(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("snapshot {}: {e}; starting without it", path.display());
            None
        }
    }
}

/// What a restarted feeder drops from the re-read inputs.
#[derive(Debug, Default)]
pub struct Resume {
    /// Batches before this one are in the snapshot's state.
    below: u64,
    batch_us: i64,
    /// The snapshot's pending signals (sent again at start), by how many copies remain to
    /// be dropped.
    pending: HashMap<Signal, u32>,
    /// Signals dropped so far.
    pub dropped: u64,
}

impl Resume {
    /// Nothing dropped (no snapshot).
    pub fn none() -> Resume {
        Resume::default()
    }

    /// Drops what `snapshot` covers.
    pub fn from_snapshot(snapshot: &StreamSnapshot) -> Resume {
        let mut pending: HashMap<Signal, u32> = HashMap::new();
        for s in &snapshot.pending {
            *pending.entry(*s).or_default() += 1;
        }
        Resume {
            below: batch_at(snapshot.watermark, snapshot.batch_us),
            batch_us: snapshot.batch_us,
            pending,
            dropped: 0,
        }
    }

    /// Keep the signals of `signals` not covered by the snapshot.
    pub fn filter(&mut self, signals: &mut Vec<Signal>) {
        if self.below == 0 && self.pending.is_empty() {
            return;
        }
        let before = signals.len();
        signals.retain(|s| {
            if batch_at(s.at, self.batch_us) < self.below {
                return false;
            }
            match self.pending.get_mut(s) {
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        self.pending.remove(s);
                    }
                    false
                }
                None => true,
            }
        });
        self.dropped += (before - signals.len()) as u64;
    }
}

/// Takes a snapshot every `interval`, once the sinks have the moments it covers.
pub struct Snapshotter {
    pub path: PathBuf,
    pub interval: Duration,
    last: Instant,
}

impl Snapshotter {
    pub fn new(path: PathBuf, interval: Duration) -> Snapshotter {
        Snapshotter {
            path,
            interval,
            last: Instant::now(),
        }
    }

    /// When the interval has passed (or `now`: the final one of a graceful stop): a
    /// snapshot of `input` at its watermark, written once `written` (the sinks' mark:
    /// every moment before it written) has reached the watermark's batch; with a
    /// `journal`, a new segment started first and the older ones deleted after. Returns
    /// false when the dataflow or the emitter is gone.
    pub fn maybe(
        &mut self,
        now: bool,
        input: &mut StreamInput,
        mut journal: Option<&mut Journal>,
        written: &AtomicI64,
        emitting: &dyn Fn() -> bool,
    ) -> bool {
        if (!now && self.last.elapsed() < self.interval) || input.watermark() == i64::MIN {
            return true;
        }
        self.last = Instant::now();
        let position = match journal.as_deref_mut().map(Journal::rotate).transpose() {
            Ok(p) => p.unwrap_or(0),
            Err(e) => {
                warn!("journal: {e}; no snapshot now");
                return true;
            }
        };
        let mut snapshot = match input.snapshot() {
            Ok(s) => s,
            Err(e) => {
                warn!("no snapshot: {e}");
                return false;
            }
        };
        snapshot.log_position = position;
        let b = batch_at(snapshot.watermark, snapshot.batch_us);
        let covered = i64::try_from(b)
            .unwrap_or(i64::MAX)
            .saturating_mul(snapshot.batch_us);
        while written.load(Ordering::SeqCst) < covered {
            if !emitting() {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        match write_atomic(&self.path, &snapshot.encode()) {
            Ok(()) => {
                info!(
                    subscribers = snapshot.presence.len(),
                    in_zones = snapshot.zones.len(),
                    pending = snapshot.pending.len(),
                    "snapshot written"
                );
                if let Some(j) = journal {
                    if let Err(e) = j.covered(position) {
                        warn!("journal: {e}");
                    }
                }
            }
            Err(e) => warn!("snapshot {}: {e}", self.path.display()),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(at: i64, frame: u64) -> Signal {
        landfall_testkit::signal::bare_attach(at, "208011234567890", frame)
    }

    #[test]
    fn resume_drops_what_the_snapshot_covers_once() {
        let snapshot = StreamSnapshot {
            watermark: 10_000_000,
            batch_us: 1_000_000,
            presence: Vec::new(),
            zones: Vec::new(),
            pending: vec![signal(10_500_000, 7), signal(12_000_000, 9)],
            log_position: 0,
        };
        let mut resume = Resume::from_snapshot(&snapshot);
        let mut read = vec![
            signal(9_999_999, 1),  // applied before the snapshot
            signal(10_500_000, 7), // pending: sent from the snapshot
            signal(10_500_000, 8), // not seen before the stop
            signal(12_000_000, 9), // pending
        ];
        resume.filter(&mut read);
        assert_eq!(read, vec![signal(10_500_000, 8)]);
        // A second copy of a pending signal is a signal of its own.
        let mut again = vec![signal(10_500_000, 7)];
        resume.filter(&mut again);
        assert_eq!(again.len(), 1);
        assert_eq!(resume.dropped, 3);
    }

    #[test]
    fn a_damaged_snapshot_is_ignored() {
        let dir = std::env::temp_dir().join(format!("landfall-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = snapshot_path(&dir, 0);
        assert!(load(&path).is_none());
        let s = StreamSnapshot {
            watermark: 5,
            batch_us: 1,
            presence: Vec::new(),
            zones: Vec::new(),
            pending: vec![signal(5, 1)],
            log_position: 0,
        };
        let bytes = s.encode();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(load(&path).is_none());
        // A snapshot of the previous format (no zone state): ignored too.
        let mut old = bytes.clone();
        old[..8].copy_from_slice(b"LFSNAP02");
        std::fs::write(&path, &old).unwrap();
        assert!(load(&path).is_none());
        write_atomic(&path, &bytes).unwrap();
        assert_eq!(load(&path), Some(s));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

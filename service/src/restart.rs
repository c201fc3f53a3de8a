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
//! * In a cluster every process writes its own share, all at the same boundary (process
//!   0 asks, the others take theirs as their feeders come by: `dataflows::stream`'s cut);
//!   each process keeps its previous snapshot too, and a restarted cluster restores the
//!   latest boundary every process has (the processes agree on it first).

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

/// The snapshot before it, kept until the next is written (a cluster may have to restore
/// it: the processes' latest files are at most one snapshot apart).
pub fn previous_path(dir: &Path, process: u32) -> PathBuf {
    dir.join(format!("snapshot-p{process}.previous"))
}

/// The readable snapshots of `process` in `dir`: the latest, then the previous (a
/// cluster's).
pub fn load_all(dir: &Path, process: u32) -> Vec<StreamSnapshot> {
    [snapshot_path(dir, process), previous_path(dir, process)]
        .iter()
        .filter_map(|p| load(p))
        .collect()
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

/// Takes a snapshot every `interval` (process 0; the other processes of a cluster when
/// process 0 asks), once the sinks have the moments it covers.
pub struct Snapshotter {
    dir: PathBuf,
    process: u32,
    pub interval: Duration,
    last: Instant,
    /// In a cluster: the previous file is kept, and with it the journal from the
    /// position of the snapshot in the latest file, once the next one is written (the
    /// previous file's restore needs them).
    keep_previous: bool,
    latest_position: u64,
}

impl Snapshotter {
    /// `restored`: the journal position of the snapshot the run started from;
    /// `cluster`: keep the previous snapshot and its journal.
    pub fn new(
        dir: PathBuf,
        process: u32,
        interval: Duration,
        restored: u64,
        cluster: bool,
    ) -> Snapshotter {
        Snapshotter {
            dir,
            process,
            interval,
            last: Instant::now(),
            keep_previous: cluster,
            latest_position: restored,
        }
    }

    /// Process 0, when the interval has passed (or `now`: the final one of a graceful
    /// stop) and every process has written the last one: a snapshot of `input` at its
    /// watermark; the other processes of a cluster, their share of the one process 0
    /// asked for, once their workers have taken it. Written once `written` (the sinks'
    /// mark: every moment before it written) has reached its boundary, the previous file
    /// kept beside it; with a `journal`, a new segment started first and those before the
    /// previous snapshot's deleted after. Returns false when the dataflow or the emitter
    /// is gone.
    pub fn maybe(
        &mut self,
        now: bool,
        input: &mut StreamInput,
        mut journal: Option<&mut Journal>,
        written: &AtomicI64,
        emitting: &dyn Fn() -> bool,
    ) -> bool {
        let taken = if self.process == 0 {
            if (!now && self.last.elapsed() < self.interval) || input.watermark() == i64::MIN {
                return true;
            }
            if !input.may_snapshot() {
                // A cluster's process has not written the last one yet: said once an
                // interval, so that a process stuck writing is seen.
                if !now && self.last.elapsed() >= self.interval * 2 {
                    warn!("a snapshot is due, but not every process of the cluster has written the last one");
                    self.last = Instant::now() - self.interval;
                }
                return true;
            }
            None
        } else {
            match input.take_snapshot() {
                Some(s) => Some(s),
                None => return true,
            }
        };
        self.last = Instant::now();
        let position = match journal.as_deref_mut().map(Journal::rotate).transpose() {
            Ok(p) => p.unwrap_or(0),
            Err(e) => {
                warn!("journal: {e}; no snapshot now");
                if let Some(s) = &taken {
                    input.snapshot_written(s.watermark);
                }
                return true;
            }
        };
        let taken = match taken {
            Some(s) => Ok(s),
            None => input.snapshot(),
        };
        let mut snapshot = match taken {
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
        let (latest, previous) = (
            snapshot_path(&self.dir, self.process),
            previous_path(&self.dir, self.process),
        );
        // In a cluster the latest file becomes the previous one (a kill between the two
        // steps leaves the previous file alone: the restart restores it).
        let kept = match self
            .keep_previous
            .then(|| std::fs::rename(&latest, &previous))
        {
            Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => write_atomic(&latest, &snapshot.encode()),
        };
        match kept {
            Ok(()) => {
                info!(
                    subscribers = snapshot.presence.len(),
                    in_zones = snapshot.zones.len(),
                    pending = snapshot.pending.len(),
                    "snapshot written"
                );
                let covered = if self.keep_previous {
                    self.latest_position
                } else {
                    position
                };
                if let Some(j) = journal {
                    if let Err(e) = j.covered(covered) {
                        warn!("journal: {e}");
                    }
                }
                self.latest_position = position;
            }
            Err(e) => warn!("snapshot {}: {e}", latest.display()),
        }
        // Done with this boundary either way: a cluster goes on to the next.
        input.snapshot_written(snapshot.watermark);
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
            processes: 1,
            workers: 1,
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
            processes: 1,
            workers: 1,
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

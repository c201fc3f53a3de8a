//! Consistent snapshots of a streaming run, on one process or a timely cluster: every
//! worker's state taken at the same batch boundary `b` (every batch before `b` applied,
//! none after), whichever process the signals came from.
//!
//! The protocol, timely's frontier doing the hard part:
//! 1. Process 0's feeder asks ([`super::StreamInput::snapshot`]): its workers stop taking
//!    commands at their input time `b` (the *hold*), so the dataflow's frontier cannot
//!    pass `b`; worker 0 broadcasts `Request(b)`.
//! 2. Every worker of every process, once the frontier has reached `b`, sends its share of
//!    the state to its process's feeder and broadcasts `Dumped(b)`. Until then it goes on
//!    taking its feeder's signals and watermarks (its input may be ahead of `b`: nothing
//!    at or after `b` is applied while process 0 holds).
//! 3. Process 0's workers let go once every worker has dumped.
//! 4. Each process's feeder writes its own snapshot file (its workers' shares and the
//!    signals it sent for batches from `b` on; the input keeps those from the *floor* `b`
//!    until the feeder has taken them) and says so
//!    ([`super::StreamInput::snapshot_written`]); its first worker broadcasts
//!    `Written(b)`. Process 0 asks for the next snapshot only once every process has
//!    written the last, so the processes' latest files are at most one snapshot apart.
//! 5. A restarted cluster first agrees ([`agree`]) on the latest boundary every process
//!    has a snapshot of (each keeps its previous one), and each process restores its own.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::{Broadcast as _, Input as _};
use timely::dataflow::operators::{Inspect as _, Probe as _};
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope};

use super::{Share, POLL};
use landfall_model::TimestampUs;

/// What workers tell each other about a snapshot at batch boundary `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Mark {
    /// Process 0 holds at `b`: take a share once the frontier is there.
    Request(u64),
    /// One worker has sent its share.
    Dumped(u64),
    /// One process has written its file.
    Written(u64),
}

/// Boundaries in the atomics below are stored plus one: 0 is "none".
fn stored(b: u64) -> u64 {
    b.saturating_add(1)
}

/// What a process's input (its feeder) and its workers share.
#[derive(Debug)]
pub(super) struct CutShared {
    /// The dataflow's frontier (every batch before it complete), as the process's first
    /// worker last saw it: the input keeps no signal of an earlier batch.
    pub completed: AtomicU64,
    /// A boundary this process has been asked a snapshot at and whose share its feeder
    /// has not taken yet (`u64::MAX`: none): the input keeps the signals from it on.
    pub floor: AtomicU64,
    /// The latest boundary this process's feeder wrote a snapshot of (plus one).
    pub written: AtomicU64,
    /// (Process 0.) The latest boundary every process has written (plus one).
    pub all_written: AtomicU64,
}

impl Default for CutShared {
    fn default() -> Self {
        CutShared {
            completed: AtomicU64::new(0),
            floor: AtomicU64::new(u64::MAX),
            written: AtomicU64::new(0),
            all_written: AtomicU64::new(0),
        }
    }
}

impl CutShared {
    /// The earliest batch whose signals the input must still keep.
    pub fn keep_from(&self) -> u64 {
        // `completed` first: a worker sets the floor before the frontier can pass it.
        let completed = self.completed.load(Ordering::SeqCst);
        completed.min(self.floor.load(Ordering::SeqCst))
    }

    /// Whether every process has written the snapshot at `b`.
    pub fn all_wrote(&self, b: u64) -> bool {
        self.all_written.load(Ordering::SeqCst) >= stored(b)
    }

    pub fn wrote(&self, b: u64) {
        self.written.fetch_max(stored(b), Ordering::SeqCst);
    }
}

/// One worker's part in the protocol.
pub(super) struct CutWorker {
    marks: InputHandleVec<u64, Mark>,
    seen: Rc<RefCell<Vec<Mark>>>,
    /// Global worker index, all workers, workers per process.
    index: usize,
    peers: usize,
    local: usize,
    shared: std::sync::Arc<CutShared>,
    shares: SyncSender<(u64, Share)>,
    /// A share to take once the frontier reaches this boundary.
    due: Option<u64>,
    /// Take no command until every worker has dumped at this boundary.
    hold: Option<u64>,
    dumped: BTreeMap<u64, usize>,
    written: BTreeMap<u64, usize>,
    /// The process's written mark (stored form) already announced.
    announced: u64,
}

impl CutWorker {
    /// The marks' stream in `scope` (every mark to every worker); returns the input to
    /// send them with and where they arrive.
    pub fn marks(scope: &Scope<'_, u64>) -> (InputHandleVec<u64, Mark>, Rc<RefCell<Vec<Mark>>>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let here = Rc::clone(&seen);
        let (input, stream) = scope.new_input::<Mark>();
        stream
            .broadcast()
            .inspect(move |m| here.borrow_mut().push(*m));
        (input, seen)
    }

    pub fn new(
        (marks, seen): (InputHandleVec<u64, Mark>, Rc<RefCell<Vec<Mark>>>),
        (index, peers, local): (usize, usize, usize),
        shared: std::sync::Arc<CutShared>,
        shares: SyncSender<(u64, Share)>,
    ) -> CutWorker {
        CutWorker {
            marks,
            seen,
            index,
            peers,
            local: local.max(1),
            shared,
            shares,
            due: None,
            hold: None,
            dumped: BTreeMap::new(),
            written: BTreeMap::new(),
            announced: 0,
        }
    }

    /// Whether the worker takes commands now.
    pub fn holding(&self) -> bool {
        self.hold.is_some()
    }

    /// Its feeder asked for a snapshot (process 0) with the worker's input at `b`.
    pub fn asked(&mut self, b: u64) {
        self.hold = Some(b);
        self.due = Some(b);
        if self.is_first_here() {
            self.shared.floor.store(b, Ordering::SeqCst);
        }
        if self.index == 0 {
            self.marks.send(Mark::Request(b));
            self.marks.flush();
        }
    }

    fn is_first_here(&self) -> bool {
        self.index.is_multiple_of(self.local)
    }

    /// Take in the marks that came, and act: a share taken once the frontier (every batch
    /// before it complete) has reached a requested boundary, the hold let go once every
    /// worker has dumped, the process's written snapshot announced.
    pub fn step(&mut self, frontier: u64, share: impl FnOnce() -> Share) {
        let seen: Vec<Mark> = std::mem::take(&mut *self.seen.borrow_mut());
        let processes = (self.peers / self.local).max(1);
        for mark in seen {
            match mark {
                Mark::Request(b) => {
                    // Process 0's workers were asked by their feeder already; the others
                    // act on every request, one at the same boundary as the last too
                    // (process 0 may ask again before its watermark moves).
                    if self.index / self.local != 0 {
                        self.due = Some(b);
                    }
                    if self.is_first_here() {
                        self.shared.floor.fetch_min(b, Ordering::SeqCst);
                    }
                }
                Mark::Dumped(b) => *self.dumped.entry(b).or_default() += 1,
                Mark::Written(b) => {
                    let n = self.written.entry(b).or_default();
                    *n += 1;
                    if *n == processes {
                        self.shared
                            .all_written
                            .fetch_max(stored(b), Ordering::SeqCst);
                        self.written.retain(|k, _| *k > b);
                    }
                }
            }
        }
        if self.is_first_here() {
            self.shared.completed.fetch_max(frontier, Ordering::SeqCst);
        }
        let mut sent = false;
        if let Some(b) = self.due {
            if frontier >= b {
                // Process 0 holds at `b` until every worker has its share: the frontier
                // cannot be past it (it would hold batches after the boundary).
                debug_assert_eq!(frontier, b, "a snapshot's share taken past its boundary");
                self.due = None;
                // The feeder may be gone (its inputs ended): nothing then waits for it.
                let _ = self.shares.try_send((b, share()));
                self.marks.send(Mark::Dumped(b));
                sent = true;
            }
        }
        if let Some(b) = self.hold {
            if self.dumped.get(&b).copied().unwrap_or(0) >= self.peers {
                self.hold = None;
                self.dumped.retain(|k, _| *k > b);
            }
        }
        if self.is_first_here() {
            let written = self.shared.written.load(Ordering::SeqCst);
            if written > self.announced {
                self.announced = written;
                self.marks.send(Mark::Written(written - 1));
                sent = true;
            }
        }
        if sent {
            self.marks.flush();
        }
    }
}

/// What a process has of earlier runs: each snapshot's watermark and the shape of the
/// cluster that took it `(processes, workers per process)`.
pub(super) type Have = Vec<(TimestampUs, (u32, u32))>;

/// A restarted cluster's choice: the latest watermark every process has a snapshot at,
/// taken by a cluster of this one's shape `(processes, workers)`; none when there is no
/// such watermark (each process then starts empty). Every worker runs it; the first
/// worker of each process says what the process has.
pub(super) fn agree(
    worker: &mut timely::worker::Worker,
    local: usize,
    shape: (u32, u32),
    have: &Have,
) -> Option<TimestampUs> {
    let found: Rc<RefCell<Vec<Have>>> = Rc::new(RefCell::new(Vec::new()));
    let probe = ProbeHandle::new();
    let here = Rc::clone(&found);
    let mut input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Have>();
        stream
            .broadcast()
            .inspect(move |h| here.borrow_mut().push(h.clone()))
            .probe_with(&probe);
        input
    });
    if worker.index().is_multiple_of(local.max(1)) {
        input.send(have.clone());
    }
    drop(input);
    while !probe.done() {
        worker.step_or_park(Some(POLL));
    }
    let found = found.borrow();
    choose(&found, shape)
}

/// The latest watermark in every process's list with the given shape.
fn choose(found: &[Have], shape: (u32, u32)) -> Option<TimestampUs> {
    let (first, rest) = found.split_first()?;
    if found.len() != shape.0 as usize {
        return None;
    }
    first
        .iter()
        .filter(|(w, s)| *s == shape && rest.iter().all(|h| h.contains(&(*w, shape))))
        .map(|(w, _)| *w)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_boundary_every_process_has_is_chosen() {
        let shape = (2, 1);
        let p0 = vec![(30, shape), (20, shape)];
        let p1 = vec![(20, shape), (10, shape)];
        assert_eq!(choose(&[p0.clone(), p1.clone()], shape), Some(20));
        assert_eq!(choose(&[p1.clone(), p0.clone()], shape), Some(20));
        // A process without a snapshot: nobody restores.
        assert_eq!(choose(&[p0.clone(), Vec::new()], shape), None);
        // Taken by a cluster of another shape: not restored.
        assert_eq!(choose(&[p0.clone(), p1.clone()], (2, 2)), None);
        // Not every process answered.
        assert_eq!(choose(&[p0], shape), None);
    }
}

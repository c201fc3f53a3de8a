//! Forgetting subscribers silent for longer than the horizon ([`Rules::horizon_us`]), so
//! that the state of a run that lasts months follows the subscribers active within the
//! horizon, not every subscriber ever seen.
//!
//! The rules forget a silent subscriber when its next signal comes (the detectors reset
//! its state then); this module frees the memory before that. Each tracked subscriber has
//! exactly one entry in a wheel of due times: when its entry comes due, the subscriber is
//! dropped if it has been silent for longer than the horizon, or else filed again at its
//! new due time. Dropping is invisible in the output: the next signal would reset the
//! state anyway.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use ahash::AHashMap;
use landfall_model::TimestampUs;

use crate::moment::Rules;

/// How many slots of the wheel one horizon spans: a subscriber is dropped at most
/// 1/`SLOTS` of the horizon after it could be.
const SLOTS: i64 = 64;

/// The wheel of one operator's subscribers (keyed as its state map is).
#[derive(Debug)]
pub(crate) struct Horizon {
    horizon_us: i64,
    slot_us: i64,
    /// Subscribers by the slot in which they may be dropped.
    due: BTreeMap<i64, Vec<u64>>,
}

impl Horizon {
    pub(crate) fn new(rules: &Rules) -> Horizon {
        Horizon {
            horizon_us: rules.horizon_us,
            slot_us: (rules.horizon_us / SLOTS).max(1_000_000),
            due: BTreeMap::new(),
        }
    }

    /// Whether subscribers are ever forgotten.
    fn enabled(&self) -> bool {
        self.horizon_us != i64::MAX
    }

    /// Track a subscriber whose state was just created, last seen at `last`.
    pub(crate) fn track(&mut self, key: u64, last: TimestampUs) {
        if !self.enabled() {
            return;
        }
        let slot = last.saturating_add(self.horizon_us) / self.slot_us + 1;
        self.due.entry(slot).or_default().push(key);
    }

    /// Drop from `state` the subscribers silent for longer than the horizon at `now` (the
    /// latest event time applied); `last_seen` tells when a state's subscriber was last
    /// located (`i64::MIN`: never); each dropped state goes to `dropped_state` (which
    /// does what forgetting it at the next signal would have done). Returns how many were
    /// dropped.
    pub(crate) fn sweep<V>(
        &mut self,
        now: TimestampUs,
        state: &mut AHashMap<u64, V>,
        last_seen: impl Fn(&V) -> TimestampUs,
        mut dropped_state: impl FnMut(V),
    ) -> usize {
        if !self.enabled() {
            return 0;
        }
        let mut dropped = 0;
        let current = now / self.slot_us;
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > current {
                break;
            }
            for key in entry.remove() {
                let Some(v) = state.get(&key) else {
                    continue;
                };
                let last = last_seen(v);
                if last == i64::MIN || last.saturating_add(self.horizon_us) < now {
                    if let Some(v) = state.remove(&key) {
                        dropped_state(v);
                    }
                    dropped += 1;
                } else {
                    self.track(key, last);
                }
            }
        }
        dropped
    }
}

/// How many subscribers the detectors hold state for, over every worker of this process:
/// a gauge read while the dataflow runs (`landfall serve`'s metrics).
#[derive(Clone, Debug, Default)]
pub struct Tracked(Arc<TrackedCounts>);

#[derive(Debug, Default)]
struct TrackedCounts {
    serving: AtomicI64,
    zones: AtomicI64,
}

impl Tracked {
    /// Subscribers with country/network state.
    pub fn serving(&self) -> u64 {
        self.0.serving.load(Ordering::Relaxed).max(0) as u64
    }

    /// Subscribers with zone state (in a zone, or out of one within the re-entry gap).
    pub fn zones(&self) -> u64 {
        self.0.zones.load(Ordering::Relaxed).max(0) as u64
    }

    /// One operator's country/network state went from `before` to `after` entries.
    pub(crate) fn serving_changed(&self, before: usize, after: usize) {
        self.0
            .serving
            .fetch_add(after as i64 - before as i64, Ordering::Relaxed);
    }

    /// One operator's zone state went from `before` to `after` entries.
    pub(crate) fn zones_changed(&self, before: usize, after: usize) {
        self.0
            .zones
            .fetch_add(after as i64 - before as i64, Ordering::Relaxed);
    }
}

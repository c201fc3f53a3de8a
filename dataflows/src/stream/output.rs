//! What the workers hand out: each completed batch's moments (and partner matches), in
//! order, once.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::SyncSender;

use timely::dataflow::ProbeHandle;

use landfall_model::TimestampUs;

use super::batch_start;
use crate::moment::{sort_moments, Moment};
use crate::subscribe::Match;

/// The moments of every batch before `upto` (an event time: the watermark the dataflow
/// has passed), not yet handed out; ordered by `(at, id)`. In a cluster, each process gets
/// the moments of the subscribers its workers own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completed {
    /// Every time before this one is complete; `TimestampUs::MAX` in the last batch of
    /// a run (its input closed: everything is complete).
    pub upto: TimestampUs,
    pub moments: Vec<Moment>,
    /// Capture names sent with [`StreamInput::files`] by any process of the cluster and
    /// not yet handed out: what these moments' `source.file` indices name.
    pub files: Vec<(u16, String)>,
    /// With partners ([`super::StreamConfig::partners`]): the partner matches that appeared
    /// (`+1`) or were retracted (`-1`: consent withdrawn, subscription removed, moment
    /// expired) in these batches, ordered by moment time, moment id and subscription.
    pub matches: Vec<(Match, isize)>,
}

/// What the emitting worker gathers until its batches complete: `(update, batch, diff)`.
#[derive(Default)]
pub(super) struct Gathered {
    pub moments: Vec<(Moment, u64, isize)>,
    pub matches: Vec<(Match, u64, isize)>,
}

pub(super) type SharedGathered = Rc<RefCell<Gathered>>;

/// Send out the moments of the batches the dataflow has completed since the last call.
pub(super) fn hand_out(
    sink: &SharedGathered,
    named: &RefCell<Vec<(u16, String)>>,
    probe: &ProbeHandle<u64>,
    handed: &mut u64,
    batch_us: i64,
    out: &SyncSender<Completed>,
) {
    // The first batch not yet complete (none left: every batch is).
    let frontier = probe.with_frontier(|f| f.first().copied().unwrap_or(u64::MAX));
    if frontier <= *handed {
        return;
    }
    let mut ready: Vec<(Moment, isize)> = Vec::new();
    let mut gathered = sink.borrow_mut();
    gathered.moments.retain(|(m, t, diff)| {
        if *t < frontier {
            ready.push((*m, *diff));
            false
        } else {
            true
        }
    });
    *handed = frontier;
    ready.sort_unstable_by_key(|a| a.0);
    let mut moments = Vec::with_capacity(ready.len());
    let mut i = 0;
    while i < ready.len() {
        let m = ready[i].0;
        let mut count = 0;
        while i < ready.len() && ready[i].0 == m {
            count += ready[i].1;
            i += 1;
        }
        moments.extend(std::iter::repeat_n(m, count.max(0) as usize));
    }
    sort_moments(&mut moments);
    let mut matches = consolidate_matches(&mut gathered.matches, frontier);
    matches.sort_unstable_by_key(|(m, _)| (m.moment.at, m.moment.id, m.subscription, m.partner));
    // A consumer that went away only loses what it no longer reads.
    let files = named.borrow_mut().split_off(0);
    let _ = out.send(Completed {
        upto: batch_start(frontier, batch_us),
        moments,
        files,
        matches,
    });
}

/// The matches of batches before `frontier`, taken out and summed per match (updates that
/// cancel within them vanish).
fn consolidate_matches(
    gathered: &mut Vec<(Match, u64, isize)>,
    frontier: u64,
) -> Vec<(Match, isize)> {
    let mut ready: Vec<(Match, isize)> = Vec::new();
    gathered.retain(|(m, t, diff)| {
        if *t < frontier {
            ready.push((*m, *diff));
            false
        } else {
            true
        }
    });
    ready.sort_unstable_by_key(|a| a.0);
    let mut out: Vec<(Match, isize)> = Vec::with_capacity(ready.len());
    for (m, d) in ready {
        match out.last_mut() {
            Some((last, sum)) if *last == m => *sum += d,
            _ => out.push((m, d)),
        }
    }
    out.retain(|(_, d)| *d != 0);
    out
}

//! Run [`crate::presence::moments`] over a slice of signals on a local timely cluster and
//! collect the final moments: the replay path, and the harness of the property tests.

use crate::moment::{sort_moments, Moment, PresenceConfig};
use crate::presence::moments;
use differential_dataflow::input::Input;
use landfall_parsers::Signal;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

/// How input is presented to the dataflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Feed {
    /// Signal `i` enters at timely time `(at - min_at) / batch_us`: batches in event-time
    /// order.
    #[default]
    InOrder,
    /// Out-of-order input: each signal enters `d` batches late, `d` drawn deterministically
    /// from `0..=max_delay_batches` (seeded by `seed` and the signal's index), and each
    /// worker inserts the signals of a batch in a shuffled order. Later batches then revise
    /// moments already emitted for earlier ones.
    Shuffled { seed: u64, max_delay_batches: u64 },
}

/// Options of [`run_moments_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Timely worker threads in this process (at least 1).
    pub workers: usize,
    /// Width of one input batch (one timely time) in µs of event time (at least 1).
    pub batch_us: i64,
    pub feed: Feed,
}

/// [`run_moments_with`] with in-order batches.
pub fn run_moments(
    signals: Arc<Vec<Signal>>,
    workers: usize,
    batch_us: i64,
    cfg: PresenceConfig,
) -> Vec<Moment> {
    run_moments_with(
        signals,
        RunOptions {
            workers,
            batch_us,
            feed: Feed::InOrder,
        },
        cfg,
    )
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The timely time (batch number) at which signal `i` enters, and a key ordering the
/// inserts within the batch.
fn schedule(signals: &[Signal], i: usize, min_at: i64, opts: &RunOptions) -> (u64, u64) {
    let s = &signals[i];
    let batch = ((i128::from(s.at) - i128::from(min_at)) / i128::from(opts.batch_us.max(1))) as u64;
    match opts.feed {
        Feed::InOrder => (batch, i as u64),
        Feed::Shuffled {
            seed,
            max_delay_batches,
        } => {
            let r = splitmix64(seed ^ splitmix64(i as u64));
            let delay = if max_delay_batches == 0 {
                0
            } else {
                r % (max_delay_batches + 1)
            };
            (batch + delay, splitmix64(r))
        }
    }
}

/// Execute the presence dataflow with `opts.workers` threads and return all moments,
/// sorted by `(at, id)`.
///
/// Worker `w` feeds the signals whose index `i % workers == w`, one timely time per
/// batch; every worker advances its input through the same sequence of times (all
/// batches that hold any signal), waits for the batch to complete, and closes the input
/// at the end. The output collection is accumulated over all times and workers; the
/// result holds every moment with a positive final count (as many copies as the count).
/// The result does not depend on `workers` or `feed`.
///
/// # Panics
/// If a worker thread panics, or timely cannot start.
pub fn run_moments_with(
    signals: Arc<Vec<Signal>>,
    opts: RunOptions,
    cfg: PresenceConfig,
) -> Vec<Moment> {
    let workers = opts.workers.max(1);
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let sink: Rc<RefCell<Vec<(Moment, isize)>>> = Rc::new(RefCell::new(Vec::new()));

        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, signals) = scope.new_collection::<Signal, isize>();
            let sink = Rc::clone(&sink);
            let (probe, _) = moments(signals, cfg)
                .inspect(move |(m, _time, diff)| sink.borrow_mut().push((*m, *diff)))
                .probe();
            (input, probe)
        });

        let min_at = signals.iter().map(|s| s.at).min().unwrap_or(0);
        let mut times = BTreeSet::new();
        let mut mine: Vec<(u64, u64, usize)> = Vec::new();
        for i in 0..signals.len() {
            let (time, key) = schedule(&signals, i, min_at, &opts);
            times.insert(time);
            if i % peers == index {
                mine.push((time, key, i));
            }
        }
        mine.sort_unstable();

        let mut next = mine.iter().peekable();
        for &time in &times {
            input.advance_to(time);
            while let Some(&&(t, _, i)) = next.peek() {
                if t != time {
                    break;
                }
                input.insert(signals[i]);
                next.next();
            }
            input.flush();
            worker.step_while(|| probe.less_than(input.time()));
        }
        input.close();
        worker.step_while(|| !probe.done());

        let collected = sink.borrow_mut().split_off(0);
        collected
    })
    .expect("timely failed to start");

    let mut counts: BTreeMap<Moment, isize> = BTreeMap::new();
    for result in guards.join() {
        let updates = result.expect("a timely worker panicked");
        for (m, diff) in updates {
            *counts.entry(m).or_insert(0) += diff;
        }
    }
    let mut out = Vec::new();
    for (m, count) in counts {
        assert!(count >= 0, "negative final multiplicity {count} for {m:?}");
        out.extend(std::iter::repeat_n(m, count as usize));
    }
    sort_moments(&mut out);
    out
}

//! Bounded-state presence: the fast path for live, national-scale traffic.
//!
//! [`detect`] partitions signals by IMSI across workers (timely `Exchange`), holds each
//! time's signals until the input frontier has passed that time, then applies them in
//! `(at, source, signal)` order to a compact per-subscriber state ([`Presence`]: current
//! country and network, last known country, and the areas seen within the re-entry gap),
//! emitting moments as differential updates `(moment, time, +1)`.
//!
//! Why not a `reduce` over each subscriber's history ([`crate::history`])? Most signals
//! repeat the subscriber's current area; a reduce re-reads the history on every change and
//! keeps all of it. Here a signal costs one hash lookup and, usually, no output, and a
//! subscriber's state is a few dozen bytes that never grows beyond the areas visited
//! within the gap (entries older than the gap are pruned as time passes).
//!
//! The price is the event-time contract: timely times must follow event time (the runner
//! uses `at / batch_us`, holding its input frontier back by the configured lateness), so
//! that each subscriber's signals are applied in event-time order. Within the lateness,
//! out-of-order input is therefore handled as if in order; a signal later than that cannot
//! enter the dataflow at its own time and is counted by the feeder instead
//! ([`crate::runner::RunReport::late`]). Negative multiplicities (retracting a signal) are
//! not supported by this operator and are ignored.
//!
//! The rule code is written independently of [`crate::reference`], which the property
//! tests compare it with.

use std::collections::BTreeMap;

use ahash::AHashMap;
use differential_dataflow::collection::AsCollection;
use differential_dataflow::VecCollection;
use landfall_model::{Country, Imsi, Plmn, Signal, TimestampUs};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::history::is_relevant;
use crate::horizon::{Horizon, Tracked};
use crate::moment::{Area, Level, Moment, MomentKind, Rules};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::rc::Rc;

/// When a subscriber was last in an area: the latest `at` of a location signal there,
/// and the latest `at` strictly before that (several signals can share an `at`, and the
/// gap window `[t - gap, t)` excludes `t`); `i64::MIN` for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub(crate) last: TimestampUs,
    pub(crate) before_last: TimestampUs,
}

impl Seen {
    pub(crate) const NEVER: Seen = Seen {
        last: i64::MIN,
        before_last: i64::MIN,
    };

    fn at(t: TimestampUs) -> Seen {
        Seen {
            last: t,
            before_last: i64::MIN,
        }
    }

    pub(crate) fn mark(&mut self, t: TimestampUs) {
        if t > self.last {
            self.before_last = self.last;
            self.last = t;
        }
    }

    /// Add the times of `later` (all at or after this record's).
    pub(crate) fn merge(&mut self, later: Seen) {
        for t in [later.before_last, later.last] {
            if t != i64::MIN {
                self.mark(t);
            }
        }
    }

    /// The latest signal strictly before `t` is within `[t - gap, t)`.
    pub(crate) fn within(&self, t: TimestampUs, gap: i64) -> bool {
        let before_t = if self.last < t {
            self.last
        } else {
            self.before_last
        };
        before_t != i64::MIN && before_t >= t.saturating_sub(gap)
    }
}

/// A country or network: the areas this detector keeps (8 bytes, where [`Area`] with its
/// zone variant takes 34), so that the rare `left` entries stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Serving {
    Country(Country),
    Network(Plmn),
}

impl Serving {
    fn of(area: Area) -> Option<Serving> {
        match area {
            Area::Country(c) => Some(Serving::Country(c)),
            Area::Network(p) => Some(Serving::Network(p)),
            Area::Zone(_) => None,
        }
    }
}

/// An area the subscriber left within the re-entry gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Left {
    area: Serving,
    seen: Seen,
}

/// Areas left within the gap, boxed: one pointer in [`Presence`] for the many subscribers
/// who never move, an allocation of the exact size for those who do.
/// (`Box<Vec>` on purpose: 8 bytes in every subscriber's state instead of 24.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::box_collection)]
struct LeftAreas(Option<Box<Vec<Left>>>);

impl LeftAreas {
    fn iter(&self) -> std::slice::Iter<'_, Left> {
        self.0.as_deref().map_or([].iter(), |v| v.iter())
    }

    fn push(&mut self, l: Left) {
        let v = self
            .0
            .get_or_insert_with(|| Box::new(Vec::with_capacity(1)));
        v.reserve_exact(1);
        v.push(l);
    }

    /// Remove `area`'s entry, returning when it was seen.
    fn take(&mut self, area: Option<Serving>) -> Option<Seen> {
        let v = self.0.as_mut()?;
        let i = v.iter().position(|l| Some(l.area) == area)?;
        let seen = v.swap_remove(i).seen;
        if v.is_empty() {
            self.0 = None;
        }
        Some(seen)
    }

    /// Keep the entries last seen at or after `horizon`.
    fn retain_since(&mut self, horizon: TimestampUs) {
        if let Some(v) = self.0.as_mut() {
            v.retain(|l| l.seen.last >= horizon);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }
}

/// One subscriber's presence state: 72 bytes, with no heap allocation unless the
/// subscriber left an area within the re-entry gap. Serializable for the streaming
/// runner's snapshots ([`crate::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    country: Option<Country>,
    network: Option<Plmn>,
    /// Last known country (departures do not reset it), for roaming transitions.
    last_country: Option<Country>,
    /// The latest country / network (the current one, or after a departure signal the
    /// one it had before) and when the subscriber was last there (fields kept apart
    /// rather than in tuples, so the small ones pack together).
    country_latest: Option<Country>,
    network_latest: Option<Plmn>,
    country_seen: Seen,
    network_seen: Seen,
    /// Other areas seen within the gap (rare: only after a move).
    left: LeftAreas,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            country: None,
            network: None,
            last_country: None,
            country_latest: None,
            network_latest: None,
            country_seen: Seen::NEVER,
            network_seen: Seen::NEVER,
            left: LeftAreas::default(),
        }
    }
}

impl Presence {
    fn current(&self, level: Level) -> Option<Area> {
        match level {
            Level::Country => self.country.map(Area::Country),
            Level::Network => self.network.map(Area::Network),
            Level::Zone => None,
        }
    }

    /// The slot remembering the latest area of `area`'s level.
    fn slot(&self, area: Area) -> (Option<Area>, Seen) {
        match area {
            Area::Country(_) => (self.country_latest.map(Area::Country), self.country_seen),
            Area::Network(_) => (self.network_latest.map(Area::Network), self.network_seen),
            Area::Zone(_) => (None, Seen::NEVER),
        }
    }

    /// Had a location signal in `area` during `[t - gap, t)`?
    fn seen_within(&self, area: Area, t: TimestampUs, gap: i64) -> bool {
        let (latest, seen) = self.slot(area);
        if latest == Some(area) {
            return seen.within(t, gap);
        }
        let area = Serving::of(area);
        self.left
            .iter()
            .any(|l| Some(l.area) == area && l.seen.within(t, gap))
    }

    /// Record a location signal in `area` at `t`; the level's previous latest area moves
    /// to `left` (if it is still within the gap, checked by [`Presence::prune`]).
    fn mark(&mut self, area: Area, t: TimestampUs) {
        let (latest, seen) = self.slot(area);
        if latest == Some(area) {
            let mut seen = seen;
            seen.mark(t);
            self.set_slot(area, seen);
            return;
        }
        if let Some(prev) = latest.filter(|_| seen.last != i64::MIN) {
            if let Some(prev) = Serving::of(prev) {
                self.left.push(Left { area: prev, seen });
            }
        }
        // The new area may be one left earlier: take its history back.
        let mut seen = self.left.take(Serving::of(area)).unwrap_or(Seen::NEVER);
        if seen.last == i64::MIN {
            seen = Seen::at(t);
        } else {
            seen.mark(t);
        }
        self.set_slot(area, seen);
    }

    fn set_slot(&mut self, area: Area, seen: Seen) {
        match area {
            Area::Country(c) => (self.country_latest, self.country_seen) = (Some(c), seen),
            Area::Network(p) => (self.network_latest, self.network_seen) = (Some(p), seen),
            // Zones are kept by `crate::zone_detector`, never here.
            Area::Zone(_) => {}
        }
    }

    /// Forget left areas whose last signal is older than the gap before `t`: with signals
    /// applied in time order they can no longer block an arrival.
    fn prune(&mut self, t: TimestampUs, gap: i64) {
        self.left.retain_since(t.saturating_sub(gap));
    }

    /// When the subscriber last had a location signal with a serving country or network
    /// (`i64::MIN`: never).
    pub fn last_located(&self) -> TimestampUs {
        self.country_seen.last.max(self.network_seen.last)
    }

    /// Apply one signal; moments go to `out`. A subscriber silent for longer than the
    /// horizon is forgotten first.
    pub fn apply(&mut self, s: &Signal, cfg: &Rules, out: &mut Vec<Moment>) {
        if cfg.forgotten(self.last_located(), s.at) {
            *self = Presence::default();
        }
        if s.kind.is_departure() {
            for level in Level::SERVING {
                if let Some(old) = self.current(level) {
                    out.push(Moment::caused_by(
                        s,
                        cfg,
                        MomentKind::Departure,
                        old,
                        None,
                        None,
                    ));
                }
            }
            self.country = None;
            self.network = None;
            return;
        }
        if !s.kind.is_location() || (s.serving_country.is_none() && s.serving.is_none()) {
            return;
        }
        self.prune(s.at, cfg.reentry_gap_us);
        let areas = [
            s.serving_country.map(Area::Country),
            s.serving.map(Area::Network),
        ];
        for new in areas.into_iter().flatten() {
            let old = self.current(new.level());
            if old != Some(new) {
                if let Some(old) = old {
                    out.push(Moment::caused_by(
                        s,
                        cfg,
                        MomentKind::Departure,
                        old,
                        None,
                        Some(new),
                    ));
                }
                if !self.seen_within(new, s.at, cfg.reentry_gap_us) {
                    out.push(Moment::caused_by(
                        s,
                        cfg,
                        MomentKind::Arrival,
                        new,
                        old,
                        None,
                    ));
                }
                match new {
                    Area::Country(c) => self.country = Some(c),
                    Area::Network(p) => self.network = Some(p),
                    Area::Zone(_) => {}
                }
            }
            self.mark(new, s.at);
        }
        let Some(c) = s.serving_country else {
            return;
        };
        let last = self.last_country.replace(c);
        if last == Some(c) {
            return;
        }
        let Some(home) = s.home_country else {
            return;
        };
        let kind = match (c == home, last) {
            (false, None) => MomentKind::RoamingOn,
            (false, Some(l)) if l == home => MomentKind::RoamingOn,
            (false, Some(_)) => MomentKind::RoamingChangeCountry,
            (true, Some(_)) => MomentKind::RoamingOff,
            (true, None) => return,
        };
        out.push(Moment::caused_by(
            s,
            cfg,
            kind,
            Area::Country(c),
            last.map(Area::Country),
            None,
        ));
    }
}

/// An IMSI as a map key of 8 bytes: its value, with its digit count in the top byte (so
/// that leading zeros are kept apart).
pub fn imsi_key(imsi: &Imsi) -> u64 {
    let v = imsi
        .as_bytes()
        .iter()
        .fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
    v | ((imsi.len() as u64) << 56)
}

/// [`imsi_route`] of the IMSI whose [`imsi_key`] is `key` (the key keeps every digit:
/// its value and its digit count), so that state kept by key can be routed again, e.g.
/// to the worker that owns it when a snapshot is restored on another number of workers.
pub fn route_of_key(key: u64) -> u64 {
    let len = (key >> 56) as usize;
    let mut v = key & ((1u64 << 56) - 1);
    let mut digits = [0u8; 24];
    for d in digits[..len.min(24)].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    route_of_digits(&digits[..len.min(24)])
}

fn route_of_digits(ascii: &[u8]) -> u64 {
    let mut x = ascii
        .iter()
        .fold(0u64, |a, &d| a.wrapping_mul(10).wrapping_add(u64::from(d)));
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The worker (of `peers`) that timely's `Exchange` sends a route value to: a mask when
/// `peers` is a power of two, the remainder otherwise (as `timely`'s exchange pusher).
pub fn owner(route: u64, peers: usize) -> usize {
    let peers = peers.max(1);
    if peers.is_power_of_two() {
        (route & (peers as u64 - 1)) as usize
    } else {
        (route % peers as u64) as usize
    }
}

/// The worker an IMSI's state lives on: a fixed mix of its digits, the same in every
/// process of a cluster.
pub fn imsi_route(imsi: &Imsi) -> u64 {
    route_of_digits(imsi.as_bytes())
}

/// Order of application within one time: event time, provenance, then the whole signal
/// (shared with [`crate::zone_detector`], so both levels apply a time's signals alike).
pub(crate) fn order(a: &Signal, b: &Signal) -> std::cmp::Ordering {
    (a.at, a.source, a.imsi)
        .cmp(&(b.at, b.source, b.imsi))
        .then_with(|| a.cmp(b))
}

/// Signals waiting for their time to be complete, with the capability to answer at it.
pub(crate) type SignalStash<T> = BTreeMap<T, (Capability<T>, Vec<Signal>)>;

/// Stash one input container's signals by time (`r` copies of a signal of multiplicity
/// `r`; retractions are not supported and skipped). A new time's batch takes a vector
/// from `spare` (see [`recycle`]), so batches do not grow from empty every time.
pub(crate) fn stash_signals<T: Timestamp>(
    stash: &mut SignalStash<T>,
    spare: &mut Vec<Vec<Signal>>,
    cap: &InputCapability<T>,
    port: usize,
    data: &mut Vec<(Signal, T, isize)>,
) {
    for (s, t, r) in data.drain(..) {
        if r <= 0 {
            continue;
        }
        let slot = stash
            .entry(t.clone())
            .or_insert_with(|| (cap.delayed(&t, port), spare.pop().unwrap_or_default()));
        for _ in 0..r {
            slot.1.push(s);
        }
    }
}

/// Keep a processed batch's vector (emptied, its capacity kept) for a later batch, so that
/// batches are not grown from empty, reallocating and copying as they fill (see
/// benches/README.md for the measurement).
pub(crate) fn recycle(spare: &mut Vec<Vec<Signal>>, mut batch: Vec<Signal>) {
    const KEPT: usize = 4;
    if spare.len() < KEPT {
        batch.clear();
        spare.push(batch);
    }
}

/// Apply a relevant signal to its subscriber's country/network state: a departure of a
/// subscriber not tracked creates no state; a new subscriber is tracked by `horizon`.
pub(crate) fn apply_serving(
    state: &mut AHashMap<u64, Presence>,
    horizon: &mut Horizon,
    key: u64,
    s: &Signal,
    cfg: &Rules,
    out: &mut Vec<Moment>,
) {
    if s.kind.is_departure() {
        if let Some(p) = state.get_mut(&key) {
            p.apply(s, cfg, out);
        }
        return;
    }
    match state.entry(key) {
        Entry::Occupied(mut e) => e.get_mut().apply(s, cfg, out),
        Entry::Vacant(e) => {
            e.insert(Presence::default()).apply(s, cfg, out);
            horizon.track(key, s.at);
        }
    }
}

/// Looks up every key of a batch before the batch is applied in order. The lookups are
/// independent, so their cache misses (a table of a million subscribers does not fit in
/// cache) overlap instead of stalling one by one; the ordered pass then finds the
/// entries in cache. This made the detectors about a quarter faster in the presence
/// benchmark.
pub(crate) fn warm<V>(state: &AHashMap<u64, V>, keys: &[u64]) {
    for key in keys {
        std::hint::black_box(state.get(key));
    }
}

/// Moments of `signals` with bounded per-subscriber state (see the module docs for the
/// event-time contract). The output collection holds each moment once, at the time of
/// the signal that caused it.
pub fn detect<'scope, T>(
    signals: VecCollection<'scope, T, Signal>,
    cfg: Rules,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
{
    detect_counted(signals, cfg, |_: &T| i64::MIN, Tracked::default())
}

/// [`detect`], counting the subscribers it holds state for in `tracked`. `start_of(t)` is
/// the earliest event time a signal at time `t` can have: as the frontier passes, the
/// subscribers silent past the horizon are dropped even on a worker that gets no signals
/// (`i64::MIN` when the times say nothing of event time).
pub fn detect_counted<'scope, T, S>(
    signals: VecCollection<'scope, T, Signal>,
    cfg: Rules,
    start_of: S,
    tracked: Tracked,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    S: Fn(&T) -> TimestampUs + 'static,
{
    detect_shared(signals, cfg, start_of, tracked, SharedPresence::default())
}

/// One operator's per-subscriber state, shared with the worker that runs it (the
/// streaming runner reads it for a snapshot between steps, and fills it from one before
/// the dataflow is built).
pub type SharedPresence = Rc<RefCell<AHashMap<u64, Presence>>>;

/// [`detect_counted`] on `state`: what it holds when the dataflow is built (a restored
/// snapshot) is tracked by the horizon and counted as if its subscribers had just come;
/// the worker may read it whenever the operator is not running.
pub fn detect_shared<'scope, T, S>(
    signals: VecCollection<'scope, T, Signal>,
    cfg: Rules,
    start_of: S,
    tracked: Tracked,
    shared: SharedPresence,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    S: Fn(&T) -> TimestampUs + 'static,
{
    let route = Exchange::new(|(s, _, _): &(Signal, T, isize)| imsi_route(&s.imsi));
    signals
        .inner
        .unary_frontier(route, "PresenceBounded", move |_cap, _info| {
            let mut stash: SignalStash<T> = BTreeMap::new();
            let mut spare: Vec<Vec<Signal>> = Vec::new();
            let mut horizon = Horizon::new(&cfg);
            {
                let restored = shared.borrow();
                for (&key, p) in restored.iter() {
                    horizon.track(key, p.last_located());
                }
                tracked.serving_changed(0, restored.len());
            }
            let mut moments: Vec<Moment> = Vec::new();
            let mut keys: Vec<u64> = Vec::new();
            move |(input, frontier), output| {
                let mut state = shared.borrow_mut();
                let state = &mut *state;
                let port = output.output_index();
                input.for_each(|cap, data| stash_signals(&mut stash, &mut spare, &cap, port, data));
                while let Some(entry) = stash.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (t, (cap, mut batch)) = entry.remove_entry();
                    batch.sort_by(order);
                    batch.retain(is_relevant);
                    keys.clear();
                    keys.extend(batch.iter().map(|s| imsi_key(&s.imsi)));
                    warm(state, &keys);
                    let before = state.len();
                    for (s, &key) in batch.iter().zip(&keys) {
                        apply_serving(state, &mut horizon, key, s, &cfg, &mut moments);
                    }
                    if let Some(last) = batch.last() {
                        horizon.sweep(last.at, state, Presence::last_located, drop);
                    }
                    tracked.serving_changed(before, state.len());
                    recycle(&mut spare, batch);
                    if !moments.is_empty() {
                        let mut session = output.session(&cap);
                        for m in moments.drain(..) {
                            session.give((m, t.clone(), 1isize));
                        }
                    }
                }
                if let Some(t) = frontier.frontier().first() {
                    let before = state.len();
                    horizon.sweep(start_of(t), state, Presence::last_located, drop);
                    tracked.serving_changed(before, state.len());
                }
            }
        })
        .as_collection()
}

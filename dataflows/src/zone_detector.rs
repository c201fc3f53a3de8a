//! Zone-level moments (docs/semantics.md, "Zone stays and minimum dwell"): arrivals into and
//! departures from operator-defined zones — the airport arrivals hall, the station — from cells,
//! tracking areas and location areas that signals carry.
//!
//! [`detect_zones`] is a timely operator beside [`crate::detect`]: signals are partitioned
//! by IMSI, the zone membership `(ZoneKey, ZoneId)` ([`crate::zone_membership`], itself
//! maintained incrementally from the zone definitions and the cell catalog) is broadcast to
//! every worker. Each time is applied once both inputs are complete for it: first the
//! membership changes of that time, then the signals in `(at, source)` order. A signal is
//! placed by the membership *as of its time*; editing a zone changes where later signals
//! land, it does not move subscribers by itself (their next signal does).
//!
//! The rules, per subscriber and zone (zones may overlap: a subscriber can be in several):
//! * A **located** signal (attach, location update, cell change, session start with a
//!   location) places the subscriber in the zones its cell / TAC / LAC belongs to, and in no
//!   other. A located-kind signal *without* a location places the subscriber in no zone if
//!   its serving network differs from the network of the last located signal (it left
//!   that network's cells), and changes nothing otherwise. A departure signal (purge,
//!   cancel, detach) leaves every zone.
//! * A **stay** in zone `Z` runs from the first signal placing the subscriber in `Z` to
//!   the first signal placing them outside it. A stay **dwells** once it has lasted
//!   [`Rules::min_dwell_us`] of event time (a stay that has not ended by the end of the
//!   input dwells); with the default 0 every stay dwells at once.
//! * **arrival** into `Z` at the stay's start `t`, once the stay dwells, unless a signal of
//!   an earlier *dwelling* stay in `Z` lies within `[t - reentry_gap, t)`. Stays too short to
//!   dwell neither arrive nor block a later arrival: border ping-pong between two cells
//!   produces nothing until the subscriber settles, and then one arrival. With a minimum
//!   dwell the arrival is emitted when the dwell is reached (at the dataflow time of
//!   `at + min_dwell`, or earlier when a later signal of the subscriber shows it), carrying
//!   the stay's start as `at`.
//! * **departure** from `Z` when a dwelling stay ends (`to` = None; zones overlap, so the
//!   next zone, if any, has its own arrival).
//! * Zone moments carry `from: None`; there are no roaming transitions at this level.
//!
//! State is kept only for subscribers in a zone or with a dwelling stay within the
//! re-entry gap; everyone else costs one membership lookup per located signal.
//!
//! Snapshots ([`crate::snapshot`]): [`detect_with_zones_shared`] keeps both levels' state
//! in a [`ZoneState`] the streaming worker reads between steps and fills from a snapshot
//! before the dataflow is built. Everything else the operator holds is rebuilt: the
//! membership from the zones and catalog fed again, the horizon wheels from the states'
//! last location times, and the dwell timers (a capability each) from the stays still
//! waiting, taken from the operator's initial capability at the time they were set for.
//! [`crate::reference_zone_moments`] is the sequential oracle of the property tests.

use std::collections::BTreeMap;

use ahash::AHashMap;
use differential_dataflow::collection::AsCollection;
use differential_dataflow::VecCollection;
use landfall_model::{Plmn, Signal, TimestampUs};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Capability;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::detector::{
    apply_serving, imsi_key, imsi_route, order, recycle, stash_signals, warm, Presence, Seen,
    SignalStash,
};
use crate::history::is_relevant;
use crate::horizon::{Horizon, Tracked};
use crate::moment::{Area, Moment, MomentKind, Rules};
use crate::zones::{ZoneId, ZoneKey};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Progress {
    /// Lasted the minimum dwell: its signals count for the re-entry gap (in
    /// [`ZonePresence::seen`]) and its end is a departure.
    Dwelled,
    /// Not yet: the arrival it will give (None when the re-entry gap blocks it) and its
    /// signal times so far.
    Pending {
        arrival: Option<Box<Moment>>,
        seen: Seen,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stay {
    zone: ZoneId,
    start: TimestampUs,
    progress: Progress,
}

/// One subscriber's zone state: the current stays, and the zones of dwelling stays seen
/// within the re-entry gap. Serializable for snapshots ([`crate::snapshot`]): everything
/// the operator keeps per subscriber is here (a stay still waiting for its minimum dwell
/// keeps its start, so its dwell timer can be set again on restore: [`detect_with_zones_shared`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonePresence {
    /// Network of the last located signal.
    plmn: Option<Plmn>,
    stays: Vec<Stay>,
    seen: Vec<(ZoneId, Seen)>,
    /// The latest location signal (`i64::MIN`: none yet), for the horizon of silence.
    last_located: TimestampUs,
}

impl Default for ZonePresence {
    fn default() -> Self {
        ZonePresence {
            plmn: None,
            stays: Vec::new(),
            seen: Vec::new(),
            last_located: i64::MIN,
        }
    }
}

/// What a signal says about the subscriber's zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement<'a> {
    /// In exactly these zones (possibly none), located in `plmn` (None: a departure).
    In(&'a [ZoneId], Option<Plmn>),
    /// Nothing changes.
    Unchanged,
}

impl ZonePresence {
    /// No stay and nothing within the gap: the state can be dropped.
    pub fn is_empty(&self) -> bool {
        self.stays.is_empty() && self.seen.is_empty()
    }

    /// A signal of the subscriber comes: if it was silent for longer than the horizon, it
    /// is forgotten first (its waiting stays dwell, as at the end of the input: their
    /// arrivals go to `out`); a location signal is then its latest.
    pub fn touch(&mut self, s: &Signal, cfg: &Rules, out: &mut Vec<Moment>) {
        if self.last_located != i64::MIN && cfg.forgotten(self.last_located, s.at) {
            self.confirm(i64::MAX, 0, out);
            *self = ZonePresence::default();
        }
        if s.kind.is_location() {
            self.last_located = s.at;
        }
    }

    /// When the subscriber last had a location signal (`i64::MIN`: never).
    pub fn last_located(&self) -> TimestampUs {
        self.last_located
    }

    /// The stays still waiting for their minimum dwell: `(zone, start)` (each holds a
    /// dwell timer in the operator).
    pub fn waiting(&self) -> impl Iterator<Item = (ZoneId, TimestampUs)> + '_ {
        self.stays
            .iter()
            .filter(|st| matches!(st.progress, Progress::Pending { .. }))
            .map(|st| (st.zone, st.start))
    }

    /// What `s` says, given the zones its location belongs to (`zones`, empty when it has
    /// no location or belongs to none). Departure kinds and located kinds only.
    pub fn placement<'a>(&self, s: &Signal, zones: &'a [ZoneId]) -> Placement<'a> {
        if s.kind.is_departure() {
            return Placement::In(&[], None);
        }
        if !s.kind.is_location() {
            return Placement::Unchanged;
        }
        match s.location {
            Some(l) => Placement::In(zones, Some(l.plmn())),
            None if self.plmn.is_some() && s.serving.is_some() && s.serving != self.plmn => {
                Placement::In(&[], self.plmn)
            }
            None => Placement::Unchanged,
        }
    }

    /// Stays of at least `dwell` by `upto` dwell now: their arrivals go to `out`.
    pub fn confirm(&mut self, upto: TimestampUs, dwell: i64, out: &mut Vec<Moment>) {
        for i in 0..self.stays.len() {
            if self.stays[i].start.saturating_add(dwell) <= upto {
                self.dwell_now(i, out);
            }
        }
    }

    /// Stay `i` dwells from now on (nothing if it already does).
    fn dwell_now(&mut self, i: usize, out: &mut Vec<Moment>) {
        let stay = &mut self.stays[i];
        let Progress::Pending { arrival, seen } =
            std::mem::replace(&mut stay.progress, Progress::Dwelled)
        else {
            return;
        };
        let zone = stay.zone;
        out.extend(arrival.map(|m| *m));
        match self.seen.iter_mut().find(|(z, _)| *z == zone) {
            Some((_, s)) => s.merge(seen),
            None => {
                self.seen.reserve_exact(1);
                self.seen.push((zone, seen));
            }
        }
    }

    /// Apply one signal placed by `placement`; moments go to `out`; returns the zones of
    /// stays that started and wait for the minimum dwell.
    pub fn apply(
        &mut self,
        s: &Signal,
        placement: Placement<'_>,
        cfg: &Rules,
        out: &mut Vec<Moment>,
        started: &mut Vec<ZoneId>,
    ) {
        let Placement::In(zones, plmn) = placement else {
            return;
        };
        let dwell = cfg.min_dwell_us.max(0);
        self.confirm(s.at, dwell, out);
        self.plmn = plmn;
        // Stays that end here.
        let mut i = 0;
        while i < self.stays.len() {
            if zones.contains(&self.stays[i].zone) {
                i += 1;
                continue;
            }
            let stay = self.stays.swap_remove(i);
            if stay.progress == Progress::Dwelled {
                out.push(Moment::caused_by(
                    s,
                    cfg,
                    MomentKind::Departure,
                    Area::Zone(stay.zone),
                    None,
                    None,
                ));
            }
        }
        for &zone in zones {
            match self.stays.iter_mut().find(|st| st.zone == zone) {
                Some(stay) => match &mut stay.progress {
                    Progress::Pending { seen, .. } => seen.mark(s.at),
                    Progress::Dwelled => {
                        if let Some((_, seen)) = self.seen.iter_mut().find(|(z, _)| *z == zone) {
                            seen.mark(s.at);
                        }
                    }
                },
                None => {
                    let blocked = self
                        .seen
                        .iter()
                        .any(|(z, seen)| *z == zone && seen.within(s.at, cfg.reentry_gap_us));
                    let arrival = (!blocked).then(|| {
                        Box::new(Moment::caused_by(
                            s,
                            cfg,
                            MomentKind::Arrival,
                            Area::Zone(zone),
                            None,
                            None,
                        ))
                    });
                    let mut seen = Seen::NEVER;
                    seen.mark(s.at);
                    self.stays.reserve_exact(1);
                    self.stays.push(Stay {
                        zone,
                        start: s.at,
                        progress: Progress::Pending { arrival, seen },
                    });
                    if dwell > 0 {
                        started.push(zone);
                    }
                }
            }
        }
        self.confirm(s.at, dwell, out);
        self.prune(s.at, cfg.reentry_gap_us);
    }

    /// The stay in `zone` that started at `start`, if still waiting, dwells now (its
    /// minimum dwell has passed without a signal ending it).
    pub fn confirm_stay(&mut self, zone: ZoneId, start: TimestampUs, out: &mut Vec<Moment>) {
        if let Some(i) = self
            .stays
            .iter()
            .position(|st| st.zone == zone && st.start == start)
        {
            self.dwell_now(i, out);
        }
    }

    /// Forget zones of dwelling stays whose last signal is older than the gap (unless the
    /// subscriber is still there).
    fn prune(&mut self, t: TimestampUs, gap: i64) {
        let horizon = t.saturating_sub(gap);
        let stays = &self.stays;
        self.seen
            .retain(|(z, seen)| seen.last >= horizon || stays.iter().any(|st| st.zone == *z));
    }
}

/// The zones each zone key belongs to, with multiplicities as the membership collection
/// gives them.
#[derive(Default)]
struct Membership {
    by_key: AHashMap<ZoneKey, Vec<(ZoneId, isize)>>,
}

impl Membership {
    fn update(&mut self, key: ZoneKey, zone: ZoneId, diff: isize) {
        let zones = self.by_key.entry(key).or_default();
        match zones.iter_mut().position(|(z, _)| *z == zone) {
            Some(i) => {
                zones[i].1 += diff;
                if zones[i].1 == 0 {
                    zones.swap_remove(i);
                }
            }
            None => zones.push((zone, diff)),
        }
        if zones.is_empty() {
            self.by_key.remove(&key);
        }
    }

    /// The zones of `s`'s location into `out` (sorted, each once).
    fn zones_of(&self, s: &Signal, out: &mut Vec<ZoneId>) {
        out.clear();
        let Some(l) = s.location else {
            return;
        };
        for key in ZoneKey::keys_of(&l).into_iter().flatten() {
            if let Some(zones) = self.by_key.get(&key) {
                out.extend(zones.iter().filter(|(_, n)| *n > 0).map(|(z, _)| *z));
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// One update of the membership collection.
type MembershipChange = ((ZoneKey, ZoneId), isize);

/// A stay waiting for its minimum dwell: (subscriber key, zone, start).
type Timer = (u64, ZoneId, TimestampUs);

/// Zone arrivals and departures of `signals` placed by `membership` (see the module docs).
///
/// `at_time(t, at)` is the dataflow time at which signals of event time `at` enter (for a
/// stay seen at time `t`, the time its minimum dwell is reached); it must not be earlier
/// than `t`. Like [`crate::detect`], the operator needs signals to enter at their
/// event-time batch; each moment is emitted once (positive multiplicities only).
pub fn detect_zones<'scope, T, F>(
    signals: VecCollection<'scope, T, Signal>,
    membership: VecCollection<'scope, T, (ZoneKey, ZoneId)>,
    cfg: Rules,
    at_time: F,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
{
    zone_operator(
        signals,
        membership,
        cfg,
        at_time,
        |_: &T| i64::MIN,
        Levels::ZonesOnly,
        Tracked::default(),
        SharedZoneState::default(),
        T::minimum(),
    )
}

/// `detect(signals) ⊎ detect_zones(signals, …)` in one operator: the signals are exchanged,
/// stashed and sorted once for both levels (the same moments, about half the cost of
/// running the two operators side by side).
pub fn detect_with_zones<'scope, T, F>(
    signals: VecCollection<'scope, T, Signal>,
    membership: VecCollection<'scope, T, (ZoneKey, ZoneId)>,
    cfg: Rules,
    at_time: F,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
{
    detect_with_zones_counted(
        signals,
        membership,
        cfg,
        at_time,
        |_: &T| i64::MIN,
        Tracked::default(),
    )
}

/// [`detect_with_zones`], counting the subscribers it holds state for in `tracked`;
/// `start_of` as for [`crate::detect_counted`].
pub fn detect_with_zones_counted<'scope, T, F, S>(
    signals: VecCollection<'scope, T, Signal>,
    membership: VecCollection<'scope, T, (ZoneKey, ZoneId)>,
    cfg: Rules,
    at_time: F,
    start_of: S,
    tracked: Tracked,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
    S: Fn(&T) -> TimestampUs + 'static,
{
    detect_with_zones_shared(
        signals,
        membership,
        cfg,
        at_time,
        start_of,
        tracked,
        SharedZoneState::default(),
        T::minimum(),
    )
}

/// The zone operator's per-subscriber state, by [`imsi_key`]: the country/network state of
/// every subscriber (as [`crate::detect`] keeps it) and the zone state of those in a zone
/// or within the re-entry gap of a dwelling stay. A snapshot ([`crate::snapshot`]) is these
/// two maps; the operator's other state is either reference data fed again on restore
/// (the zone membership) or derived from them (the horizon wheels, the dwell timers).
#[derive(Debug, Default)]
pub struct ZoneState {
    pub serving: AHashMap<u64, Presence>,
    pub zones: AHashMap<u64, ZonePresence>,
}

/// [`ZoneState`] shared with the worker that runs the operator (read for a snapshot between
/// steps, filled from one before the dataflow is built).
pub type SharedZoneState = Rc<RefCell<ZoneState>>;

/// [`detect_with_zones_counted`] on `shared`: what it holds when the dataflow is built (a
/// restored snapshot taken at time `from`) is tracked by the horizons and counted, and
/// each of its stays still waiting for the minimum dwell gets its dwell timer again (at
/// `at_time(from, start + min_dwell)`, not before `from`), so that its arrival is emitted
/// as in an uninterrupted run. The worker may read `shared` whenever the operator is not
/// running.
#[allow(clippy::too_many_arguments)]
pub fn detect_with_zones_shared<'scope, T, F, S>(
    signals: VecCollection<'scope, T, Signal>,
    membership: VecCollection<'scope, T, (ZoneKey, ZoneId)>,
    cfg: Rules,
    at_time: F,
    start_of: S,
    tracked: Tracked,
    shared: SharedZoneState,
    from: T,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
    S: Fn(&T) -> TimestampUs + 'static,
{
    zone_operator(
        signals,
        membership,
        cfg,
        at_time,
        start_of,
        Levels::All,
        tracked,
        shared,
        from,
    )
}

/// Which levels the zone operator decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Levels {
    /// Zones alone ([`detect_zones`]).
    ZonesOnly,
    /// Zones and the country/network rules of [`crate::detect`] ([`detect_with_zones`]).
    All,
}

/// The zone operator; with [`Levels::All`], also the country/network rules of [`crate::detect`].
#[allow(clippy::too_many_arguments)]
fn zone_operator<'scope, T, F, S>(
    signals: VecCollection<'scope, T, Signal>,
    membership: VecCollection<'scope, T, (ZoneKey, ZoneId)>,
    cfg: Rules,
    at_time: F,
    start_of: S,
    levels: Levels,
    tracked: Tracked,
    shared: SharedZoneState,
    from: T,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
    S: Fn(&T) -> TimestampUs + 'static,
{
    let route = Exchange::new(|(s, _, _): &(Signal, T, isize)| imsi_route(&s.imsi));
    let dwell = cfg.min_dwell_us.max(0);
    signals
        .inner
        .binary_frontier(
            membership.inner.broadcast(),
            route,
            Pipeline,
            "ZonePresence",
            move |cap, _info| {
                let mut signal_stash: SignalStash<T> = BTreeMap::new();
                let mut spare: Vec<Vec<Signal>> = Vec::new();
                let mut member_stash: BTreeMap<T, Vec<MembershipChange>> = BTreeMap::new();
                let mut timers: BTreeMap<T, (Capability<T>, Vec<Timer>)> = BTreeMap::new();
                let mut members = Membership::default();
                // Never before a stay's dwell is decided (see the sweep below).
                let mut zone_horizon = Horizon::new(&Rules {
                    horizon_us: cfg.horizon_us.max(dwell),
                    ..cfg
                });
                let mut serving_horizon = Horizon::new(&cfg);
                {
                    // A restored snapshot: its subscribers tracked by the horizons and
                    // counted as if they had just come, and the dwell timer of every
                    // stay still waiting set again, from the initial capability, at the
                    // time it was set for (`at_time` of the stay's start plus the
                    // dwell: the snapshot was taken before that time, or the timer would
                    // have fired; never before `from`, the restored time).
                    let restored = shared.borrow();
                    for (&key, p) in &restored.serving {
                        serving_horizon.track(key, p.last_located());
                    }
                    for (&key, p) in &restored.zones {
                        zone_horizon.track(key, p.last_located());
                        for (zone, start) in p.waiting() {
                            let due = at_time(&from, start.saturating_add(dwell));
                            let due = if due < from { from.clone() } else { due };
                            timers
                                .entry(due.clone())
                                .or_insert_with(|| (cap.delayed(&due), Vec::new()))
                                .1
                                .push((key, zone, start));
                        }
                    }
                    tracked.serving_changed(0, restored.serving.len());
                    tracked.zones_changed(0, restored.zones.len());
                }
                drop(cap);
                let mut zones: Vec<ZoneId> = Vec::new();
                let mut keys: Vec<u64> = Vec::new();
                let mut started: Vec<ZoneId> = Vec::new();
                let mut moments: Vec<Moment> = Vec::new();
                move |(signals, s_frontier), (changes, m_frontier), output| {
                    let mut shared = shared.borrow_mut();
                    let ZoneState {
                        serving: serving_state,
                        zones: state,
                    } = &mut *shared;
                    let port = output.output_index();
                    signals.for_each(|cap, data| {
                        stash_signals(&mut signal_stash, &mut spare, &cap, port, data)
                    });
                    changes.for_each(|_cap, data| {
                        for (kz, t, r) in data.drain(..) {
                            member_stash.entry(t).or_default().push((kz, r));
                        }
                    });
                    let complete = |t: &T| !s_frontier.less_equal(t) && !m_frontier.less_equal(t);
                    loop {
                        let next = match (signal_stash.keys().next(), timers.keys().next()) {
                            (Some(a), Some(b)) => a.min(b).clone(),
                            (Some(a), None) => a.clone(),
                            (None, Some(b)) => b.clone(),
                            (None, None) => break,
                        };
                        if !complete(&next) {
                            break;
                        }
                        while let Some(entry) = member_stash.first_entry() {
                            if *entry.key() > next {
                                break;
                            }
                            for ((key, zone), r) in entry.remove() {
                                members.update(key, zone, r);
                            }
                        }
                        let mut cap = None;
                        let mut now = None;
                        let before = (serving_state.len(), state.len());
                        if let Some((c, mut batch)) = signal_stash.remove(&next) {
                            batch.sort_by(order);
                            // Every subscriber's entry looked up first (see `warm`).
                            keys.clear();
                            keys.extend(batch.iter().map(|s| imsi_key(&s.imsi)));
                            if levels == Levels::All {
                                warm(serving_state, &keys);
                            }
                            for (s, &key) in batch.iter().zip(&keys) {
                                if levels == Levels::All && is_relevant(s) {
                                    apply_serving(
                                        serving_state,
                                        &mut serving_horizon,
                                        key,
                                        s,
                                        &cfg,
                                        &mut moments,
                                    );
                                }
                                if s.kind.is_location() {
                                    members.zones_of(s, &mut zones);
                                } else if s.kind.is_departure() {
                                    zones.clear();
                                } else {
                                    continue;
                                }
                                let p = match state.get_mut(&key) {
                                    Some(p) => p,
                                    None if zones.is_empty() => continue,
                                    None => {
                                        zone_horizon.track(key, s.at);
                                        state.entry(key).or_default()
                                    }
                                };
                                p.touch(s, &cfg, &mut moments);
                                started.clear();
                                let placement = p.placement(s, &zones);
                                p.apply(s, placement, &cfg, &mut moments, &mut started);
                                if !started.is_empty() {
                                    let due = at_time(&next, s.at.saturating_add(dwell));
                                    let due = if due < next { next.clone() } else { due };
                                    let slot = timers
                                        .entry(due.clone())
                                        .or_insert_with(|| (c.delayed(&due), Vec::new()));
                                    slot.1.extend(started.iter().map(|&z| (key, z, s.at)));
                                }
                                if p.is_empty() {
                                    state.remove(&key);
                                }
                            }
                            now = batch.last().map(|s| s.at);
                            recycle(&mut spare, batch);
                            cap = Some(c);
                        }
                        if let Some((c, due)) = timers.remove(&next) {
                            for (key, zone, start) in due {
                                if let Some(p) = state.get_mut(&key) {
                                    p.confirm_stay(zone, start, &mut moments);
                                }
                            }
                            cap = Some(c);
                        }
                        // Subscribers silent past the horizon, forgotten as their next
                        // signal would forget them.
                        if let Some(now) = now.take() {
                            zone_horizon.sweep(now, state, ZonePresence::last_located, |mut p| {
                                p.confirm(i64::MAX, 0, &mut moments)
                            });
                            serving_horizon.sweep(now, serving_state, Presence::last_located, drop);
                        }
                        tracked.serving_changed(before.0, serving_state.len());
                        tracked.zones_changed(before.1, state.len());
                        if let (Some(c), false) = (cap, moments.is_empty()) {
                            let mut session = output.session(&c);
                            for m in moments.drain(..) {
                                session.give((m, next.clone(), 1isize));
                            }
                        }
                    }
                    // As the frontier passes, subscribers silent past the horizon go even
                    // here without signals. A stay waits for its dwell at most `dwell`,
                    // and the zone wheel never drops before that, so the timers have
                    // confirmed every stay of a dropped subscriber.
                    let passed = |t: Option<&T>| t.map_or(i64::MAX, &start_of);
                    let now = passed(s_frontier.frontier().first())
                        .min(passed(m_frontier.frontier().first()));
                    if now != i64::MAX {
                        let before = (serving_state.len(), state.len());
                        zone_horizon.sweep(now, state, ZonePresence::last_located, |p| {
                            debug_assert!(p
                                .stays
                                .iter()
                                .all(|st| st.progress == Progress::Dwelled));
                        });
                        serving_horizon.sweep(now, serving_state, Presence::last_located, drop);
                        tracked.serving_changed(before.0, serving_state.len());
                        tracked.zones_changed(before.1, state.len());
                    }
                    // Membership changes with nothing to place: apply once complete, so
                    // the stash stays small.
                    while let Some(entry) = member_stash.first_entry() {
                        if !complete(entry.key()) {
                            break;
                        }
                        for ((key, zone), r) in entry.remove() {
                            members.update(key, zone, r);
                        }
                    }
                }
            },
        )
        .as_collection()
}

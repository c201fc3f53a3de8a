//! Subscriptions and consent as differential input collections (docs/semantics.md,
//! "Consent" and "Budgets"): which partner receives which moment, decided inside the
//! dataflow so that a new subscription, a cancelled one, a consent given or withdrawn, or a
//! global opt-out takes effect incrementally.
//!
//! [`partner_matches`] is the stage the pipeline uses. A match (subscription `s`, moment
//! `m`) is present at dataflow time `x` iff
//!
//! * `m` is live: its update has been applied (at the later of its dataflow time and
//!   `time_of(m.at)`) and `x < time_of(m.expires_at)`;
//! * `s` is present at `x` and accepts `m` ([`Subscription::accepts`], area listed or none
//!   listed); a subscription delivers a moment at most once, whatever its areas;
//! * the subscriber's consent to (`s.partner`, `s.purpose`) held, with no global opt-out,
//!   both at `time_of(m.at)` and at `x`. Consent does not reach back: a moment that
//!   happened before the subscriber agreed is not delivered when they agree later (they
//!   agreed to be tracked from then on). Withdrawal or opt-out retracts live matches at
//!   once. Deciding by the moment's own time, not by when an update arrives, makes a
//!   retraction (a revised moment) undo exactly what its insertion did;
//! * and `s`'s delivery budget let it through (below).
//!
//! Why one operator and not joins: most subscribers consent to nobody, and arranging
//! every live moment (millions within the TTL) to join it with a small registry cost ≈1 KB
//! per subscriber. Consents, opt-outs and device subscriptions (one subscriber each, a
//! million for a large partner) go to the worker that owns their subscriber, by the IMSI
//! route the moments and the detector state take; area-wide subscriptions (thousands) are
//! broadcast to every worker. Moments are exchanged to their subscriber's worker, or taken
//! where they are when the detector already left them there ([`MomentsAt`]): the stage
//! then moves no moment, and drops one not consented to anyone where it was made.
//! Subscriptions are indexed ([`index`]) so a moment visits only those that could accept
//! it. Moments are looked up as each time completes, and only the consented ones are kept,
//! until they expire. Nothing is arranged. State: the consent and
//! opt-out histories whole (a revision may ask about any past time), each subscription's
//! count (its presence is only asked at the time being completed), the live consented
//! moments, and per capped subscription the ids of its live deliveries and the event times
//! it delivered per subscriber (not pruned yet).
//!
//! A subscription created or deleted re-derives only what it can change: a device one the
//! live moments of its subscriber, an area-wide one the live consented moments against it
//! alone (not every subscription).
//!
//! Budgets, `subscriptionMaxEvents` and the per-subscriber frequency cap (no two delivered
//! moments of one subscriber within `frequency_cap_us` of event time): decided per
//! subscription on one worker, when a match appears, in order of dataflow time and then
//! `(at, moment id)`; moments with one id are one event. They are delivery budgets: a
//! match that expires or is retracted (withdrawal, revision) does not give its slot back,
//! and if it reappears while still live it passes again without spending another; one
//! refused stays refused (both budgets only tighten, so refusals need no record). Budgets
//! belong to the subscription id.
//!
//! Building blocks and other views:
//! * [`live_moments`]: moments from their time until their `expires_at` (the retraction is
//!   held in the operator until the frontier reaches it, as in [`crate::newly`]).
//! * [`matches()`] and [`with_consent`]: the join formulation with consent as of *now* only
//!   (no budgets); kept for views that want it.
//! * [`aggregates`]: for partners without per-person consent, arrivals counted per area ×
//!   home country × interval, with counts below `k` suppressed.

use std::collections::BTreeMap;

use ahash::{AHashMap, AHashSet};
use differential_dataflow::collection::AsCollection;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use landfall_model::{Country, Imsi, TimestampUs};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, ParallelizationContract, Pipeline};
use timely::dataflow::operators::core::Concat as _;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Partition};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::Exchange as _;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::detector::imsi_route;
use crate::moment::{Area, Moment, MomentId, MomentKind};

pub mod index;

use index::{Grantee, SubscriptionIndex};

pub use landfall_model::partner::{Consent, Direction, Match, PartnerId, Purpose, Subscription};

/// Retractions waiting for their time, with the capability to send them.
type Held<T> = BTreeMap<T, (Capability<T>, Vec<(Moment, isize)>)>;

/// Moments from their time until their `expires_at`: `expiry(t, expires_at)` is the
/// dataflow time of the retraction (not earlier than `t`). Retractions are held in the
/// operator, never sent ahead of the frontier.
pub fn live_moments<'scope, T, F>(
    moments: VecCollection<'scope, T, Moment>,
    expiry: F,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
{
    moments
        .inner
        .unary_frontier(Pipeline, "LiveMoments", move |_cap, _info| {
            let mut held: Held<T> = BTreeMap::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for (m, t, r) in data.drain(..) {
                        let due = expiry(&t, m.expires_at);
                        let due = if due < t { t.clone() } else { due };
                        held.entry(due.clone())
                            .or_insert_with(|| (cap.delayed(&due, port), Vec::new()))
                            .1
                            .push((m, r));
                        session.give((m, t, r));
                    }
                });
                while let Some(entry) = held.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (t, (cap, due)) = entry.remove_entry();
                    let mut session = output.session(&cap);
                    for (m, r) in due {
                        session.give((m, t.clone(), -r));
                    }
                }
            }
        })
        .as_collection()
}

/// The join key of areas: a subscription lists areas, or matches any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum AreaKey {
    Any,
    Area(Area),
}

/// The join keys of a subscription's areas (or [`AreaKey::Any`]).
fn area_keys(s: &Subscription) -> Vec<AreaKey> {
    if s.areas.is_empty() {
        vec![AreaKey::Any]
    } else {
        s.areas.iter().map(|a| AreaKey::Area(*a)).collect()
    }
}

/// Live moments × subscriptions → matches (see the module docs).
pub fn matches<'scope, T>(
    moments: VecCollection<'scope, T, Moment>,
    subscriptions: VecCollection<'scope, T, Subscription>,
    operator_country: Country,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + Lattice + Ord,
{
    let subs = subscriptions.flat_map(|s| area_keys(&s).into_iter().map(move |k| (k, s.clone())));
    moments
        .flat_map(|m| [(AreaKey::Any, m), (AreaKey::Area(m.area), m)])
        .join_map(subs, move |_key, m, s| s.offer(m, operator_country))
        .flat_map(|x| x)
}

/// Matches whose subscriber consented to the partner for the purpose and did not opt out.
pub fn with_consent<'scope, T>(
    matches: VecCollection<'scope, T, Match>,
    consent: VecCollection<'scope, T, Consent>,
    opt_out: VecCollection<'scope, T, Imsi>,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + Lattice + Ord,
{
    let consented = matches
        .map(|m| ((m.moment.imsi, m.partner, m.purpose), m))
        .semijoin(consent.map(|c| (c.imsi, c.partner, c.purpose)).distinct())
        .map(|(_, m)| m);
    let opted_out = consented
        .clone()
        .map(|m| (m.moment.imsi, m))
        .semijoin(opt_out.distinct())
        .map(|(_, m)| m);
    consented.concat(opted_out.negate())
}

/// An aggregate's group: area, home country, interval index.
pub type AggregateKey = (Area, Option<Country>, i64);

/// A subscription's delivery budget, carried with its matches to the cap stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Budget {
    max_events: Option<u32>,
    frequency_cap_us: Option<i64>,
}

impl Budget {
    fn of(s: &Subscription) -> Budget {
        Budget {
            max_events: s.max_events,
            frequency_cap_us: s.frequency_cap_us,
        }
    }

    fn is_unlimited(&self) -> bool {
        self.max_events.is_none() && self.frequency_cap_us.is_none()
    }
}

/// Registry data of the partner stage: consents, opt-outs and device subscriptions on the
/// worker of their subscriber, area-wide subscriptions on every worker. Each is present
/// while its count is positive, as `distinct` would make it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum RegistryEntry {
    Consent(Consent),
    OptOut(Imsi),
    /// Boxed: consents are the bulk of the reference stream, and a 176-byte variant
    /// would make every one of them that large in the broadcast buffers.
    Subscription(Box<Subscription>),
}

/// Updates at totally ordered times, applied in time order: present at `x` iff the sum
/// up to `x` is positive. Kept whole (opt-outs are rare) so that any past time can be
/// asked, as a revised moment needs.
#[derive(Clone, Debug)]
struct History<T>(Vec<(T, isize)>);

impl<T: Ord + Clone> History<T> {
    fn update(&mut self, t: &T, r: isize) {
        if let Some(last) = self.0.last_mut().filter(|(lt, _)| lt == t) {
            last.1 += r;
        } else {
            self.0.push((t.clone(), r));
        }
    }

    fn holds_at(&self, x: &T) -> bool {
        self.0
            .iter()
            .take_while(|(t, _)| t <= x)
            .map(|(_, r)| r)
            .sum::<isize>()
            > 0
    }
}

/// One complete-able dataflow time of the partner stage: what happens at it, and the
/// capability to say so.
struct Pending<T: Timestamp> {
    cap: Capability<T>,
    moments: Vec<(Moment, isize)>,
    refs: Vec<(RegistryEntry, isize)>,
    /// Subscribers with live moments expiring now.
    expiring: Vec<Imsi>,
}

impl<T: Timestamp> Pending<T> {
    fn new(cap: Capability<T>) -> Self {
        Pending {
            cap,
            moments: Vec::new(),
            refs: Vec::new(),
            expiring: Vec::new(),
        }
    }
}

/// The partner stage's per-worker state.
struct Stage<T> {
    /// Consent updates by subscriber, one flat list sorted by (grantee, time):
    /// one allocation per consenting subscriber (most have one update per grantee).
    grants: AHashMap<Imsi, Vec<(Grantee, T, isize)>>,
    opt_outs: AHashMap<Imsi, History<T>>,
    /// The present subscriptions (see [`index`]).
    subs: SubscriptionIndex,
    /// Live moments consented at their own time, with their multiplicity.
    live: AHashMap<Imsi, Vec<(Moment, isize)>>,
}

/// Whether the updates of one grantee (sorted by time) sum positive up to `x`.
fn holds_at<T: Ord>(updates: &[(Grantee, T, isize)], x: &T) -> bool {
    updates
        .iter()
        .take_while(|(_, t, _)| t <= x)
        .map(|(_, _, r)| r)
        .sum::<isize>()
        > 0
}

impl<T: Ord + Clone> Stage<T> {
    fn opted_out(&self, imsi: &Imsi, x: &T) -> bool {
        self.opt_outs.get(imsi).is_some_and(|h| h.holds_at(x))
    }

    fn grant(&self, imsi: &Imsi, key: Grantee) -> &[(Grantee, T, isize)] {
        let Some(g) = self.grants.get(imsi) else {
            return &[];
        };
        let start = g.partition_point(|(k, _, _)| *k < key);
        let end = g.partition_point(|(k, _, _)| *k <= key);
        &g[start..end]
    }

    /// Any consent of `imsi` held at `d`, without opt-out?
    fn any_grant_at(&self, imsi: &Imsi, d: &T) -> bool {
        self.grants
            .get(imsi)
            .is_some_and(|g| g.chunk_by(|a, b| a.0 == b.0).any(|u| holds_at(u, d)))
            && !self.opted_out(imsi, d)
    }

    /// Whether subscription `s` (id `id`) takes `m` with consent held at `d` and `x`: the
    /// match and its budget.
    fn offer(
        &self,
        id: u64,
        s: &Subscription,
        m: &Moment,
        d: &T,
        x: &T,
        operator: Country,
    ) -> Option<(Match, Budget)> {
        let take = (s.areas.is_empty() || s.areas.contains(&m.area)) && s.accepts(m, operator) && {
            let g = self.grant(&m.imsi, (s.partner, s.purpose));
            holds_at(g, d)
                && holds_at(g, x)
                && !self.opted_out(&m.imsi, d)
                && !self.opted_out(&m.imsi, x)
        };
        take.then(|| {
            let matched = Match {
                partner: s.partner,
                subscription: id,
                purpose: s.purpose,
                moment: *m,
            };
            (matched, Budget::of(s))
        })
    }

    /// `(match, budget, r)` for each subscription present at `x` that takes `m` with
    /// consent held at `d` and `x`. The grantees consented at both are found once per
    /// moment (most subscriptions a moment meets are of partners it has no consent for).
    fn offers(&self, m: &Moment, d: &T, x: &T, operator: Country, r: isize, out: &mut Vec<Diff>) {
        if self.opted_out(&m.imsi, d) || self.opted_out(&m.imsi, x) {
            return;
        }
        let Some(g) = self.grants.get(&m.imsi) else {
            return;
        };
        let allowed: Vec<Grantee> = g
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|u| holds_at(u, d) && holds_at(u, x))
            .map(|u| u[0].0)
            .collect();
        if allowed.is_empty() {
            return;
        }
        self.subs.candidates(m, &allowed, |id, s| {
            if (s.areas.is_empty() || s.areas.contains(&m.area)) && s.accepts(m, operator) {
                let matched = Match {
                    partner: s.partner,
                    subscription: id,
                    purpose: s.purpose,
                    moment: *m,
                };
                out.push((matched, Budget::of(s), r));
            }
        });
    }

    /// Apply a reference update; times come in order.
    fn apply(&mut self, t: &T, reference: RegistryEntry, r: isize) {
        match reference {
            RegistryEntry::Consent(c) => {
                let key = (c.partner, c.purpose);
                let g = self.grants.entry(c.imsi).or_default();
                let end = g.partition_point(|(k, _, _)| *k <= key);
                match g[..end].last_mut() {
                    Some(last) if last.0 == key && last.1 == *t => last.2 += r,
                    _ => g.insert(end, (key, t.clone(), r)),
                }
            }
            RegistryEntry::OptOut(imsi) => self
                .opt_outs
                .entry(imsi)
                .or_insert_with(|| History(Vec::new()))
                .update(t, r),
            RegistryEntry::Subscription(s) => self.subs.update(*s, r),
        }
    }
}

/// What the matching operator emits: a match and its subscription's budget.
type Budgeted = (Match, Budget);

/// A change of the matching operator's output at the time being completed.
type Diff = (Match, Budget, isize);

impl RegistryEntry {
    /// The route of an entry kept by subscriber (`None`: an area-wide subscription, on
    /// every worker).
    fn route(&self) -> Option<u64> {
        match self {
            RegistryEntry::Consent(c) => Some(imsi_route(&c.imsi)),
            RegistryEntry::OptOut(imsi) => Some(imsi_route(imsi)),
            RegistryEntry::Subscription(s) => s.device.as_ref().map(imsi_route),
        }
    }
}

/// Where the moments given to the partner stage are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MomentsAt {
    /// On any worker: the stage exchanges each to its subscriber's worker.
    Anywhere,
    /// Each already on its subscriber's worker (`imsi_route(imsi) % peers`), as the
    /// detector emits them: the stage takes them where they are. Moving them again was
    /// most of what the stage cost per moment not consented to anyone.
    SubscriberWorker,
}

/// Matches for partners (see the module docs for the semantics): `moments` as they come
/// (expiry is applied here), the consent registry, global opt-outs, subscriptions, and
/// `time_of`, the dataflow time of an event time (the same map the feeder uses), by which
/// a moment's own time and its `expires_at` are placed. Moments may be on any worker
/// ([`partner_matches_at`] takes them where the detector leaves them).
pub fn partner_matches<'scope, T, F>(
    moments: VecCollection<'scope, T, Moment>,
    subscriptions: VecCollection<'scope, T, Subscription>,
    consent: VecCollection<'scope, T, Consent>,
    opt_out: VecCollection<'scope, T, Imsi>,
    operator_country: Country,
    time_of: F,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + Lattice + TotalOrder,
    F: Fn(TimestampUs) -> T + Clone + 'static,
{
    partner_matches_at(
        moments,
        MomentsAt::Anywhere,
        subscriptions,
        consent,
        opt_out,
        operator_country,
        time_of,
    )
}

/// [`partner_matches`] of moments that are `at` where [`MomentsAt`] says.
pub fn partner_matches_at<'scope, T, F>(
    moments: VecCollection<'scope, T, Moment>,
    at: MomentsAt,
    subscriptions: VecCollection<'scope, T, Subscription>,
    consent: VecCollection<'scope, T, Consent>,
    opt_out: VecCollection<'scope, T, Imsi>,
    operator_country: Country,
    time_of: F,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + Lattice + TotalOrder,
    F: Fn(TimestampUs) -> T + Clone + 'static,
{
    let args = (subscriptions, consent, opt_out, operator_country, time_of);
    match at {
        MomentsAt::Anywhere => {
            let route = Exchange::new(|(m, _, _): &(Moment, T, isize)| imsi_route(&m.imsi));
            stage(moments, route, None, args)
        }
        MomentsAt::SubscriberWorker => {
            let scope = moments.scope();
            let here = (scope.index() as u64, scope.peers() as u64);
            stage(moments, Pipeline, Some(here), args)
        }
    }
}

/// The registry inputs of the stage, its operator country and `time_of`.
type StageArgs<'scope, T, F> = (
    VecCollection<'scope, T, Subscription>,
    VecCollection<'scope, T, Consent>,
    VecCollection<'scope, T, Imsi>,
    Country,
    F,
);

/// The partner stage with the moments brought in by `pact` (`here`: this worker's index
/// and the worker count, when the moments must already be on their subscriber's worker;
/// checked in debug builds).
fn stage<'scope, T, F, P>(
    moments: VecCollection<'scope, T, Moment>,
    pact: P,
    here: Option<(u64, u64)>,
    (subscriptions, consent, opt_out, operator_country, time_of): StageArgs<'scope, T, F>,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + Lattice + TotalOrder,
    F: Fn(TimestampUs) -> T + Clone + 'static,
    P: ParallelizationContract<T, Vec<(Moment, T, isize)>>,
{
    // Consents, opt-outs and device subscriptions to their subscriber's worker (the
    // moments' route), area-wide subscriptions to every worker; unarranged.
    let entries = consent
        .map(RegistryEntry::Consent)
        .concat(opt_out.map(RegistryEntry::OptOut))
        .concat(subscriptions.map(|s| RegistryEntry::Subscription(Box::new(s))));
    // Split, not filtered twice: each entry is moved once, never cloned (device
    // subscriptions are created and deleted all day).
    let mut parts = entries
        .inner
        .partition(2, |(x, t, r): (RegistryEntry, T, isize)| {
            (u64::from(x.route().is_none()), (x, t, r))
        });
    let everywhere = parts.pop().expect("two parts").broadcast();
    let owned = parts
        .pop()
        .expect("two parts")
        .exchange(|(x, _, _): &(RegistryEntry, T, isize)| x.route().unwrap_or(0));
    let refs = owned.concat(everywhere);
    let budget_time_of = time_of.clone();
    let budgeted: VecCollection<'scope, T, Budgeted> = moments
        .inner
        .binary_frontier(
            refs,
            pact,
            Pipeline,
            "PartnerMatches",
            move |_cap, _info| {
                let mut pending: BTreeMap<T, Pending<T>> = BTreeMap::new();
                // Subscribers with consent updates received and not yet applied, and how
                // many: until applied, their moments wait for them.
                let mut consenting: AHashMap<Imsi, usize> = AHashMap::new();
                let mut stage = Stage {
                    grants: AHashMap::new(),
                    opt_outs: AHashMap::new(),
                    subs: SubscriptionIndex::default(),
                    live: AHashMap::new(),
                };
                let mut diffs: Vec<Diff> = Vec::new();
                move |(moments_in, f1), (refs_in, f2), output| {
                    let port = output.output_index();
                    refs_in.for_each(|cap, data| {
                        for (x, t, r) in data.drain(..) {
                            if let RegistryEntry::Consent(c) = &x {
                                *consenting.entry(c.imsi).or_default() += 1;
                            }
                            pending
                                .entry(t.clone())
                                .or_insert_with(|| Pending::new(cap.delayed(&t, port)))
                                .refs
                                .push((x, r));
                        }
                    });
                    // The earliest time a reference update not yet received may come at.
                    // Before it, a subscriber without consent applied or received never
                    // consented to anyone, so their moment can be dropped on arrival (most
                    // moments; `live` and the output never see them). Subscription and
                    // opt-out updates waiting for their time do not hold moments back:
                    // without a consent they match nothing either way.
                    let refs_from: Option<T> = f2.frontier().iter().cloned().min();
                    moments_in.for_each(|cap, data| {
                        for (m, t, r) in data.drain(..) {
                            debug_assert!(
                                here.is_none_or(|(i, n)| imsi_route(&m.imsi) % n == i),
                                "a moment off its subscriber's worker"
                            );
                            // Never before the moment's own time, so + and − see one history.
                            let d = time_of(m.at);
                            let eff = if d > t { d } else { t };
                            let settled = refs_from.as_ref().is_none_or(|f| eff < *f);
                            if settled
                                && !stage.grants.contains_key(&m.imsi)
                                && !consenting.contains_key(&m.imsi)
                            {
                                continue;
                            }
                            pending
                                .entry(eff.clone())
                                .or_insert_with(|| Pending::new(cap.delayed(&eff, port)))
                                .moments
                                .push((m, r));
                        }
                    });
                    while let Some(entry) = pending.first_entry() {
                        let t = entry.key();
                        if f1.less_equal(t) || f2.less_equal(t) {
                            break;
                        }
                        let (t, p) = entry.remove_entry();
                        // Subscribers whose registry entries (consent, opt-out, device
                        // subscriptions) change at `t`: their live matches are derived
                        // afresh. Everyone else's change only by the moments arriving or
                        // expiring at `t`, derived one by one, and by the area-wide
                        // subscriptions that appear or disappear at `t`, each derived
                        // against the live moments alone.
                        let mut full: Vec<Imsi> = p
                            .refs
                            .iter()
                            .filter_map(|(x, _)| match x {
                                RegistryEntry::Consent(c) => Some(c.imsi),
                                RegistryEntry::OptOut(imsi) => Some(*imsi),
                                RegistryEntry::Subscription(s) => s.device,
                            })
                            .filter(|i| stage.live.contains_key(i))
                            .collect();
                        full.sort_unstable();
                        full.dedup();
                        let is_full = |imsi: &Imsi| full.binary_search(imsi).is_ok();
                        // Before `t` (histories hold only earlier times): retract ...
                        for imsi in &full {
                            for (m, r) in stage.live.get(imsi).into_iter().flatten() {
                                stage.offers(
                                    m,
                                    &time_of(m.at),
                                    &t,
                                    operator_country,
                                    -r,
                                    &mut diffs,
                                );
                            }
                        }
                        // Area-wide subscriptions changed at `t`, with their presence
                        // before it.
                        let mut area: Vec<(Subscription, bool)> = Vec::new();
                        for (x, _) in &p.refs {
                            if let RegistryEntry::Subscription(s) = x {
                                if s.device.is_none() && !area.iter().any(|(a, _)| **s == *a) {
                                    area.push(((**s).clone(), stage.subs.area_present(s)));
                                }
                            }
                        }
                        for (x, r) in p.refs {
                            if let RegistryEntry::Consent(c) = &x {
                                if let Some(n) = consenting.get_mut(&c.imsi) {
                                    *n -= 1;
                                    if *n == 0 {
                                        consenting.remove(&c.imsi);
                                    }
                                }
                            }
                            stage.apply(&t, x, r);
                        }
                        // One that appeared (disappeared) asserts (retracts) its matches
                        // of the live moments of subscribers not derived afresh: their
                        // consent does not change at `t`, and the moments expiring at `t`
                        // are still live here, as they were asserted.
                        for (s, before) in area {
                            let r0 = match (before, stage.subs.area_present(&s)) {
                                (false, true) => 1,
                                (true, false) => -1,
                                _ => continue,
                            };
                            for (imsi, v) in &stage.live {
                                if is_full(imsi) {
                                    continue;
                                }
                                for (m, r) in v {
                                    let d = time_of(m.at);
                                    if let Some((matched, budget)) =
                                        stage.offer(s.id, &s, m, &d, &t, operator_country)
                                    {
                                        diffs.push((matched, budget, r0 * r));
                                    }
                                }
                            }
                        }
                        let mut expiring = p.expiring;
                        expiring.sort_unstable();
                        expiring.dedup();
                        for imsi in &expiring {
                            let Some(mut v) = stage.live.remove(imsi) else {
                                continue;
                            };
                            let whole = is_full(imsi);
                            v.retain(|(m, r)| {
                                if time_of(m.expires_at) > t {
                                    return true;
                                }
                                if !whole {
                                    let d = time_of(m.at);
                                    stage.offers(m, &d, &t, operator_country, -r, &mut diffs);
                                }
                                false
                            });
                            if !v.is_empty() {
                                stage.live.insert(*imsi, v);
                            }
                        }
                        for (m, r) in p.moments {
                            let until = time_of(m.expires_at);
                            let d = time_of(m.at);
                            if until <= t || !stage.any_grant_at(&m.imsi, &d) {
                                continue;
                            }
                            if !is_full(&m.imsi) {
                                stage.offers(&m, &d, &t, operator_country, r, &mut diffs);
                            }
                            let v = stage.live.entry(m.imsi).or_default();
                            match v.iter().position(|(x, _)| *x == m) {
                                Some(i) => {
                                    v[i].1 += r;
                                    if v[i].1 == 0 {
                                        v.swap_remove(i);
                                    }
                                }
                                None => {
                                    v.push((m, r));
                                    pending
                                        .entry(until.clone())
                                        .or_insert_with(|| Pending::new(p.cap.delayed(&until)))
                                        .expiring
                                        .push(m.imsi);
                                }
                            }
                            if v.is_empty() {
                                stage.live.remove(&m.imsi);
                            }
                        }
                        // ... and assert what holds at `t`.
                        for imsi in &full {
                            for (m, r) in stage.live.get(imsi).into_iter().flatten() {
                                stage.offers(
                                    m,
                                    &time_of(m.at),
                                    &t,
                                    operator_country,
                                    *r,
                                    &mut diffs,
                                );
                            }
                        }
                        if diffs.is_empty() {
                            continue;
                        }
                        diffs.sort_unstable();
                        let mut session = output.session(&p.cap);
                        for group in diffs.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
                            let r: isize = group.iter().map(|x| x.2).sum();
                            if r != 0 {
                                let (matched, budget, _) = group[0];
                                session.give(((matched, budget), t.clone(), r));
                            }
                        }
                        diffs.clear();
                    }
                }
            },
        )
        .as_collection();
    let free = budgeted
        .clone()
        .filter(|(_, b)| b.is_unlimited())
        .map(|(m, _)| m);
    let capped = within_budget(budgeted.filter(|(_, b)| !b.is_unlimited()), budget_time_of);
    free.concat(capped)
}

/// A capped subscription's delivery budget as spent so far.
#[derive(Default)]
struct Spent {
    delivered: u32,
    /// Event times of the moments delivered, per subscriber (for the frequency cap).
    times: AHashMap<Imsi, Vec<TimestampUs>>,
    /// The live matches delivered, by partner, purpose and moment id (moments with one id
    /// are one event for the partner; the partner and purpose keep apart two
    /// subscriptions given one id, which then share the budget but not decisions).
    /// Refusals need no record: both budgets only tighten (the count of deliveries and the
    /// delivered times only grow), so a refused match asked again is refused again.
    delivered_ids: AHashSet<Delivered>,
}

/// What a delivery is remembered by within its subscription's budget.
type Delivered = (PartnerId, Purpose, MomentId);

fn delivered(m: &Match) -> Delivered {
    (m.partner, m.purpose, m.moment.id)
}

impl Spent {
    /// Whether a match not delivered before (remembered as `key`) may be delivered now,
    /// spending the budget.
    fn spend(&mut self, budget: Budget, key: Delivered, m: &Moment) -> bool {
        let pass = budget.max_events.is_none_or(|n| self.delivered < n)
            && budget.frequency_cap_us.is_none_or(|cap| {
                self.times
                    .get(&m.imsi)
                    .is_none_or(|times| times.iter().all(|t| (t - m.at).abs() >= cap))
            });
        if pass {
            self.delivered += 1;
            if budget.frequency_cap_us.is_some() {
                self.times.entry(m.imsi).or_default().push(m.at);
            }
            self.delivered_ids.insert(key);
        }
        pass
    }
}

/// Max events and frequency caps: each match is decided when it appears and was not
/// delivered before, in order of dataflow time and then `(at, moment id)`; a delivered
/// match then passes through unchanged (retractions, re-appearances), an undelivered
/// one never passes.
fn within_budget<'scope, T, F>(
    budgeted: VecCollection<'scope, T, Budgeted>,
    time_of: F,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + TotalOrder,
    F: Fn(TimestampUs) -> T + 'static,
{
    let route = Exchange::new(|((m, _), _, _): &(Budgeted, T, isize)| m.subscription);
    budgeted
        .inner
        .unary_frontier(route, "WithinBudget", move |_cap, _info| {
            type Stash<T> = BTreeMap<T, (Capability<T>, Vec<(Budgeted, isize)>)>;
            let mut stash: Stash<T> = BTreeMap::new();
            let mut spent: AHashMap<u64, Spent> = AHashMap::new();
            // Deliveries forgotten once their moment expired (it cannot come back).
            let mut forget: BTreeMap<T, Vec<(u64, Delivered)>> = BTreeMap::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each(|cap, data| {
                    for (x, t, r) in data.drain(..) {
                        stash
                            .entry(t.clone())
                            .or_insert_with(|| (cap.delayed(&t, port), Vec::new()))
                            .1
                            .push((x, r));
                    }
                });
                while let Some(entry) = stash.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (t, (cap, mut batch)) = entry.remove_entry();
                    batch.sort_unstable_by_key(|((m, b), _)| (m.moment.at, m.moment.id, *m, *b));
                    let mut session = output.session(&cap);
                    for group in batch.chunk_by(|a, b| a.0 == b.0) {
                        let r: isize = group.iter().map(|x| x.1).sum();
                        let (m, budget) = group[0].0;
                        if r == 0 {
                            continue;
                        }
                        let s = spent.entry(m.subscription).or_default();
                        let key = delivered(&m);
                        let pass = if s.delivered_ids.contains(&key) {
                            true
                        } else if r > 0 && s.spend(budget, key, &m.moment) {
                            forget
                                .entry(time_of(m.moment.expires_at))
                                .or_default()
                                .push((m.subscription, key));
                            true
                        } else {
                            false
                        };
                        if pass {
                            session.give((m, t.clone(), r));
                        }
                    }
                    drop(session);
                    while let Some(f) = forget.first_entry() {
                        if *f.key() > t {
                            break;
                        }
                        for (sub, key) in f.remove() {
                            if let Some(s) = spent.get_mut(&sub) {
                                s.delivered_ids.remove(&key);
                            }
                        }
                    }
                }
            }
        })
        .as_collection()
}

/// Arrivals per (area, home country, interval) with at least `k` subscribers; `interval`
/// is the index of the `interval_us` window of the arrival's event time.
pub fn aggregates<'scope, T>(
    moments: VecCollection<'scope, T, Moment>,
    interval_us: i64,
    k: isize,
) -> VecCollection<'scope, T, (AggregateKey, isize)>
where
    T: Timestamp + Lattice + Ord,
{
    moments
        .filter(|m| m.kind == MomentKind::Arrival)
        .map(move |m| (m.area, m.home_country, m.at.div_euclid(interval_us.max(1))))
        .count()
        .filter(move |(_, n)| *n >= k)
}

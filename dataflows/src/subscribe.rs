//! Subscriptions and consent as differential input collections (DESIGN.md, "Partners,
//! subscriptions, consent"): which partner receives which moment, decided inside the
//! dataflow so that a new subscription, a cancelled one, a consent given or withdrawn, or a
//! global opt-out takes effect incrementally.
//!
//! * [`live_moments`]: moments from their time until their `expires_at` (the retraction is
//!   held in the operator until the frontier reaches it, as in [`crate::newly`]), so that
//!   the arrangements below hold only moments still worth delivering.
//! * [`matches`]: live moments × subscriptions, joined on the area (subscriptions without
//!   areas match any area), then filtered by type, home country / network, direction,
//!   RAT and subscription expiry → [`Match`].
//! * [`with_consent`]: keeps a match only while the subscriber has consented to that
//!   partner for the subscription's purpose and has not opted out globally.
//! * [`aggregates`]: for partners without per-person consent, arrivals counted per area ×
//!   home country × interval, with counts below `k` suppressed.
//!
//! Not here yet: `subscriptionMaxEvents` and the per-subscriber frequency cap (they depend
//! on delivery order and belong with the outbox).

use std::collections::BTreeMap;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use landfall_parsers::{Country, Imsi, Plmn, TimestampUs};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::moment::{Area, Moment, MomentKind};

/// A partner (a receiver of moments).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartnerId(pub u32);

/// Why a partner processes the data (consent is per purpose).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Purpose(pub u16);

/// Whose moments a subscription wants, relative to the operator's home country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    Any,
    /// Visitors: subscribers whose home country is not the operator's.
    Inbound,
    /// The operator's own subscribers (e.g. abroad).
    Outbound,
}

/// A subscription: a partner's standing request for moments. Empty lists match anything.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subscription {
    pub id: u64,
    pub partner: PartnerId,
    pub purpose: Purpose,
    pub types: Vec<MomentKind>,
    pub areas: Vec<Area>,
    pub home_countries: Vec<Country>,
    pub home_networks: Vec<Plmn>,
    pub direction: Direction,
    pub rats: Vec<u32>,
    /// The subscription matches moments up to (not including) this event time.
    pub expires_at: Option<TimestampUs>,
}

impl Subscription {
    /// The match of `m` through this subscription, if it accepts it.
    pub fn offer(&self, m: &Moment, operator_country: Country) -> Option<Match> {
        self.accepts(m, operator_country).then_some(Match {
            partner: self.partner,
            subscription: self.id,
            purpose: self.purpose,
            moment: *m,
        })
    }

    /// Everything but the area (which the join handles).
    pub fn accepts(&self, m: &Moment, operator_country: Country) -> bool {
        let any_or = |empty: bool, hit: bool| empty || hit;
        any_or(self.types.is_empty(), self.types.contains(&m.kind))
            && any_or(
                self.home_countries.is_empty(),
                m.home_country
                    .is_some_and(|c| self.home_countries.contains(&c)),
            )
            && any_or(
                self.home_networks.is_empty(),
                m.home.is_some_and(|p| self.home_networks.contains(&p)),
            )
            && any_or(
                self.rats.is_empty(),
                m.rat.is_some_and(|r| self.rats.contains(&r)),
            )
            && match self.direction {
                Direction::Any => true,
                Direction::Inbound => m.home_country.is_some_and(|c| c != operator_country),
                Direction::Outbound => m.home_country == Some(operator_country),
            }
            && self.expires_at.is_none_or(|e| m.at < e)
    }
}

/// A subscriber's consent to one partner for one purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Consent {
    pub imsi: Imsi,
    pub partner: PartnerId,
    pub purpose: Purpose,
}

/// A moment for a partner, through one of its subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Match {
    pub partner: PartnerId,
    pub subscription: u64,
    pub purpose: Purpose,
    pub moment: Moment,
}

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

/// Matches for partners, the efficient way round: the consent registry minus opted-out
/// subscribers is joined with the live moments by IMSI (most subscribers consent to
/// nobody, so most moments stop here), and only the remaining moments are matched with the
/// partners' subscriptions on (partner, purpose, area). The result equals
/// `with_consent(matches(moments, subscriptions, operator), consent, opt_out)`.
pub fn partner_matches<'scope, T>(
    moments: VecCollection<'scope, T, Moment>,
    subscriptions: VecCollection<'scope, T, Subscription>,
    consent: VecCollection<'scope, T, Consent>,
    opt_out: VecCollection<'scope, T, Imsi>,
    operator_country: Country,
) -> VecCollection<'scope, T, Match>
where
    T: Timestamp + Lattice + Ord,
{
    // Consents of subscribers who did not opt out (both small), then one join with the
    // moments: a single arrangement of the live moments, by IMSI.
    let consents = consent
        .distinct()
        .map(|c| (c.imsi, (c.partner, c.purpose)))
        .antijoin(opt_out.distinct());
    let allowed = moments
        .map(|m| (m.imsi, m))
        .join_map(consents, |_imsi, m, &(p, u)| (p, u, *m));
    let subs = subscriptions.flat_map(|s| {
        area_keys(&s)
            .into_iter()
            .map(move |k| ((s.partner, s.purpose, k), s.clone()))
    });
    allowed
        .flat_map(|(p, u, m)| {
            [
                ((p, u, AreaKey::Any), m),
                ((p, u, AreaKey::Area(m.area)), m),
            ]
        })
        .join_map(subs, move |_key, m, s| s.offer(m, operator_country))
        .flat_map(|x| x)
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

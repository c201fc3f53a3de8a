//! The *newly where* view (docs/semantics.md, "TTL and the newly-where view"): `(subscriber,
//! area, arrived_at)` from an arrival until the subscriber leaves the area or the moment's TTL
//! runs out — the live, queryable set partners ask about ("who is newly at the airport?").
//!
//! [`newly_where`] turns the moment collection into that view. An arrival adds its entry at
//! the arrival's time; a departure from the area retracts it at the departure's time; the
//! expiry retraction is *held inside the operator* (a map keyed by expiry time, with one
//! capability at the earliest) and emitted only when the input frontier reaches the expiry
//! time. Nothing future-dated enters an arrangement downstream, which is what makes a TTL
//! affordable in differential dataflow (see docs/semantics.md,
//! "TTL and the newly-where view").
//!
//! Moments are applied in `(at, source)` order. Moments carry no finer order, so when
//! several signals of one subscriber share `(at, source)` (one frame, one µs) the
//! arrivals are applied before the departures: a same-instant `A → B` leaves `A` not
//! newly anymore, as it should, but the rarer same-instant return into `A` after more than
//! the re-entry gap away is applied as a departure too. Across batches the order is the
//! batch's: a zone arrival learnt after its minimum dwell comes after a same-instant
//! departure learnt before it, and stays.
//!
//! [`count_per_area`] and [`members_per_area`] are the queries built on it; both are
//! ordinary differential collections (arrange them to serve lookups).

use std::collections::BTreeMap;

use ahash::AHashMap;
use differential_dataflow::collection::AsCollection;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use landfall_model::{Imsi, TimestampUs};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::detector::imsi_route;
use crate::moment::{Area, Moment, MomentKind};

/// One member of the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Newly {
    pub imsi: Imsi,
    pub area: Area,
    /// Event time of the arrival (µs).
    pub arrived_at: TimestampUs,
}

/// The view of `moments` (as [`crate::detect`] produces them: each moment once, at the
/// time of its signal). `expiry(t, at)` is the dataflow time at which an arrival at event
/// time `at`, seen at time `t`, expires (e.g. the event-time batch of `at + ttl`); it must
/// not be earlier than `t`.
pub fn newly_where<'scope, T, F>(
    moments: VecCollection<'scope, T, Moment>,
    expiry: F,
) -> VecCollection<'scope, T, Newly>
where
    T: Timestamp + TotalOrder,
    F: Fn(&T, TimestampUs) -> T + 'static,
{
    let route = Exchange::new(|(m, _, _): &(Moment, T, isize)| imsi_route(&m.imsi));
    moments
        .inner
        .unary_frontier(route, "NewlyWhere", move |_cap, _info| {
            // Moments waiting for their time to be complete, in time order.
            let mut stash: BTreeMap<T, (Capability<T>, Vec<Moment>)> = BTreeMap::new();
            // Live entries: (imsi, area) → arrived_at.
            let mut live: AHashMap<(Imsi, Area), TimestampUs> = AHashMap::new();
            // Held expiry retractions by expiry time.
            let mut expiries: BTreeMap<T, (Capability<T>, Vec<Newly>)> = BTreeMap::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each(|cap, data| {
                    for (m, t, r) in data.drain(..) {
                        if r <= 0 || !matches!(m.kind, MomentKind::Arrival | MomentKind::Departure)
                        {
                            continue;
                        }
                        let slot = stash
                            .entry(t.clone())
                            .or_insert_with(|| (cap.delayed(&t, port), Vec::new()));
                        slot.1.push(m);
                    }
                });
                // Apply complete times, and expiries due, in time order.
                loop {
                    let next_moments = stash
                        .first_key_value()
                        .map(|(t, _)| t.clone())
                        .filter(|t| !frontier.less_equal(t));
                    let next_expiry = expiries
                        .first_key_value()
                        .map(|(t, _)| t.clone())
                        .filter(|t| !frontier.less_equal(t));
                    // Expiries at a time go before the moments of that time.
                    let take_expiry = match (&next_expiry, &next_moments) {
                        (Some(e), Some(m)) => e <= m,
                        (Some(_), None) => true,
                        (None, Some(_)) => false,
                        (None, None) => break,
                    };
                    if take_expiry {
                        let Some((t, (cap, due))) = expiries.pop_first() else {
                            break;
                        };
                        let mut session = output.session(&cap);
                        for n in due {
                            if live.get(&(n.imsi, n.area)) == Some(&n.arrived_at) {
                                live.remove(&(n.imsi, n.area));
                                session.give((n, t.clone(), -1isize));
                            }
                        }
                        continue;
                    }
                    let Some((t, (cap, mut batch))) = stash.pop_first() else {
                        break;
                    };
                    // Signal order; among moments of one (at, source), arrivals first.
                    batch.sort_by(|a, b| {
                        let rank = |m: &Moment| u8::from(m.kind == MomentKind::Departure);
                        (a.at, a.source, rank(a), a).cmp(&(b.at, b.source, rank(b), b))
                    });
                    let mut session = output.session(&cap);
                    for m in batch {
                        let key = (m.imsi, m.area);
                        match m.kind {
                            MomentKind::Departure => {
                                if let Some(arrived_at) = live.remove(&key) {
                                    let n = Newly {
                                        imsi: m.imsi,
                                        area: m.area,
                                        arrived_at,
                                    };
                                    session.give((n, t.clone(), -1));
                                }
                            }
                            _ => {
                                let n = Newly {
                                    imsi: m.imsi,
                                    area: m.area,
                                    arrived_at: m.at,
                                };
                                if let Some(old) = live.insert(key, m.at) {
                                    let gone = Newly {
                                        arrived_at: old,
                                        ..n
                                    };
                                    session.give((gone, t.clone(), -1));
                                }
                                session.give((n, t.clone(), 1));
                                let due = expiry(&t, m.at);
                                let due = if due < t { t.clone() } else { due };
                                expiries
                                    .entry(due.clone())
                                    .or_insert_with(|| (cap.delayed(&due), Vec::new()))
                                    .1
                                    .push(n);
                            }
                        }
                    }
                }
            }
        })
        .as_collection()
}

/// How many subscribers are newly in each area.
pub fn count_per_area<'scope, T>(
    view: VecCollection<'scope, T, Newly>,
) -> VecCollection<'scope, T, (Area, isize)>
where
    T: Timestamp + Lattice + Ord,
{
    view.map(|n| n.area).count()
}

/// The members of each area, keyed by area (arrange it to look an area up).
pub fn members_per_area<'scope, T>(
    view: VecCollection<'scope, T, Newly>,
) -> VecCollection<'scope, T, (Area, (Imsi, TimestampUs))>
where
    T: Timestamp,
{
    view.map(|n| (n.area, (n.imsi, n.arrived_at)))
}

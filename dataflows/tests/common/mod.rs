//! The newly-where view recomputed from reference moments, and the check of a run's view
//! updates against it, shared by the property tests with and without zones.

use std::collections::BTreeMap;

use landfall_dataflows::{Moment, MomentKind, Newly};

/// The view at the end of batch `t`: an arrival is in it from `known(arrival)` (the batch
/// the dataflow learns of it) until `expires(arrival)` (never before it entered), unless
/// a departure from the same area after it came in batch `batch(departure)` <= `t`. The
/// view applies moments batch by batch, each batch in `(at, source)` order with arrivals
/// before departures of the same `(at, source)`: so a departure of the arrival's own
/// `(at, source)` removes it only when it is learnt in the arrival's batch or later (one
/// learnt earlier ended an earlier stay, as a zone arrival learnt after its minimum dwell
/// shows when a same-frame signal left the zone and the next one re-entered it).
pub fn view_at(
    moments: &[Moment],
    t: u64,
    known: impl Fn(&Moment) -> u64,
    expires: impl Fn(&Moment) -> u64,
    batch: impl Fn(&Moment) -> u64,
) -> Vec<Newly> {
    let mut out = Vec::new();
    for a in moments.iter().filter(|m| m.kind == MomentKind::Arrival) {
        let from = known(a);
        if from > t || expires(a).max(from) <= t {
            continue;
        }
        let left = moments.iter().any(|d| {
            d.kind == MomentKind::Departure
                && d.imsi == a.imsi
                && d.area == a.area
                && batch(d) <= t
                && match (d.at, d.source).cmp(&(a.at, a.source)) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Equal => batch(d) >= from,
                    std::cmp::Ordering::Less => false,
                }
        });
        if !left {
            out.push(Newly {
                imsi: a.imsi,
                area: a.area,
                arrived_at: a.at,
            });
        }
    }
    out.sort();
    out
}

/// Accumulates the run's view `updates` (sorted by batch) batch by batch and compares
/// each with `expected(t)`; every entry must be present at most once, and all must have
/// expired at the end.
pub fn check_view(
    updates: &[(Newly, u64, isize)],
    expected: impl Fn(u64) -> Vec<Newly>,
) -> Result<(), String> {
    let last = updates.iter().map(|u| u.1).max().unwrap_or(0);
    let mut acc: BTreeMap<Newly, isize> = BTreeMap::new();
    let mut it = updates.iter().peekable();
    for t in 0..=last {
        while let Some(&&(n, ut, d)) = it.peek() {
            if ut > t {
                break;
            }
            *acc.entry(n).or_insert(0) += d;
            it.next();
        }
        if !acc.values().all(|c| *c == 0 || *c == 1) {
            return Err(format!("multiplicity other than 0 or 1 at batch {t}"));
        }
        let got: Vec<Newly> = acc
            .iter()
            .filter(|(_, c)| **c == 1)
            .map(|(n, _)| *n)
            .collect();
        let want = expected(t);
        if got != want {
            return Err(format!("view at batch {t}: got {got:?}, want {want:?}"));
        }
    }
    if !acc.values().all(|c| *c == 0) {
        return Err("entries left after the last expiry".to_string());
    }
    Ok(())
}

//! The history operator: signals in, moments out, from each subscriber's whole signal history.
//!
//! Built from small named steps, each usable on its own:
//! [`relevant_signals`] (drop kinds that change nothing) → [`key_by_imsi`] (so state is
//! partitioned by IMSI across workers) → [`subscriber_moments`] (a per-IMSI `reduce` that
//! sorts the subscriber's signals by `(at, source)` and runs the rule state machine).
//!
//! Because the `reduce` recomputes a subscriber's moments from the subscriber's whole
//! signal history, the design is trivially correct under incremental and out-of-order
//! input: a late signal revises that subscriber's output (retracting moments that no
//! longer hold, adding new ones), and the accumulated output always equals a batch
//! recomputation ([`crate::reference::reference_moments`]).
//!
//! **Cost.** Per-IMSI history grows without bound (the input arrangement keeps every
//! relevant signal, and each change re-runs the subscriber's whole history). That is
//! fine for replays and tests, not for live traffic: the bounded [`crate::detect`] is the
//! default engine; this operator is the one that revises its output for any disorder.
//!
//! The state machine here is written independently of [`crate::reference`] (per-level
//! passes over a sorted history, rather than one signal at a time across levels); the
//! property tests compare the two.

use crate::moment::{Area, Level, Moment, MomentKind, Rules};
use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use landfall_model::{Country, Imsi, Signal, TimestampUs};
use std::collections::HashMap;
use timely::progress::Timestamp;

/// Arrivals, departures and roaming transitions of every subscriber in `signals`.
///
/// Works in any scope whose timestamp is a lattice (e.g. `u64` batch numbers). The output
/// collection, accumulated up to any time, holds exactly the moments the rules derive from
/// the signals accumulated up to that time, each with multiplicity +1.
pub fn moments<'scope, T>(
    signals: VecCollection<'scope, T, Signal>,
    cfg: Rules,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + Lattice + Ord,
{
    let relevant = relevant_signals(signals);
    let keyed = key_by_imsi(relevant);
    subscriber_moments(keyed, cfg)
}

/// Does this signal change anything? Departure kinds always may; location kinds only when
/// they carry an area at some level; every other kind (rejected, auth, session end) never.
pub fn is_relevant(s: &Signal) -> bool {
    s.kind.is_departure()
        || (s.kind.is_location() && (s.serving.is_some() || s.serving_country.is_some()))
}

/// Keep only signals that can change presence ([`is_relevant`]).
pub fn relevant_signals<'scope, T>(
    signals: VecCollection<'scope, T, Signal>,
) -> VecCollection<'scope, T, Signal>
where
    T: Timestamp,
{
    signals.filter(is_relevant)
}

/// Key each signal by its IMSI.
pub fn key_by_imsi<'scope, T>(
    signals: VecCollection<'scope, T, Signal>,
) -> VecCollection<'scope, T, (Imsi, Signal)>
where
    T: Timestamp,
{
    signals.map(|s| (s.imsi, s))
}

/// Per-IMSI `reduce`: the subscriber's moments from the subscriber's signals.
pub fn subscriber_moments<'scope, T>(
    keyed: VecCollection<'scope, T, (Imsi, Signal)>,
    cfg: Rules,
) -> VecCollection<'scope, T, Moment>
where
    T: Timestamp + Lattice + Ord,
{
    keyed
        .reduce_named(
            "PresenceMoments",
            move |_imsi, input, output: &mut Vec<(Moment, isize)>| {
                // Values with a positive accumulated count are present (a duplicate signal
                // is processed once; processing it twice would change nothing).
                let history: Vec<&Signal> = input
                    .iter()
                    .filter(|(_, r)| *r > 0)
                    .map(|(s, _)| *s)
                    .collect();
                let mut ms = subscriber_history(history, &cfg);
                ms.sort();
                let mut i = 0;
                while i < ms.len() {
                    let mut j = i + 1;
                    while j < ms.len() && ms[j] == ms[i] {
                        j += 1;
                    }
                    output.push((ms[i], (j - i) as isize));
                    i = j;
                }
            },
        )
        .map(|(_imsi, m)| m)
}

/// The rule state machine for one subscriber: moments from the subscriber's signals
/// (in any order; they are processed by `(at, source)`, remaining ties by the full
/// `Signal` order).
pub fn subscriber_history(mut history: Vec<&Signal>, cfg: &Rules) -> Vec<Moment> {
    history.sort_by(|a, b| {
        (a.at, a.source)
            .cmp(&(b.at, b.source))
            .then_with(|| a.cmp(b))
    });
    let mut out = Vec::new();
    for level in Level::SERVING {
        level_pass(&history, level, cfg, &mut out);
    }
    roaming_pass(&history, cfg, &mut out);
    out
}

fn area_of(s: &Signal, level: Level) -> Option<Area> {
    match level {
        Level::Country => s.serving_country.map(Area::Country),
        Level::Network => s.serving.map(Area::Network),
        Level::Zone => None,
    }
}

/// Arrivals and departures at one level.
fn level_pass(sorted: &[&Signal], level: Level, cfg: &Rules, out: &mut Vec<Moment>) {
    let mut current: Option<Area> = None;
    // Distinct times of location signals per area, ascending (input is sorted by `at`).
    let mut visits: HashMap<Area, Vec<TimestampUs>> = HashMap::new();
    for &s in sorted {
        if s.kind.is_departure() {
            if let Some(left) = current.take() {
                out.push(Moment::caused_by(
                    s,
                    cfg,
                    MomentKind::Departure,
                    left,
                    None,
                    None,
                ));
            }
            continue;
        }
        if !s.kind.is_location() {
            continue;
        }
        let Some(area) = area_of(s, level) else {
            continue;
        };
        let times = visits.entry(area).or_default();
        if current != Some(area) {
            if let Some(left) = current {
                out.push(Moment::caused_by(
                    s,
                    cfg,
                    MomentKind::Departure,
                    left,
                    None,
                    Some(area),
                ));
            }
            // Any visit in [at - gap, at)?
            let before = times.partition_point(|&u| u < s.at);
            let recent = before > 0 && times[before - 1] >= s.at.saturating_sub(cfg.reentry_gap_us);
            if !recent {
                out.push(Moment::caused_by(
                    s,
                    cfg,
                    MomentKind::Arrival,
                    area,
                    current,
                    None,
                ));
            }
            current = Some(area);
        }
        if times.last() != Some(&s.at) {
            times.push(s.at);
        }
    }
}

/// Roaming transitions: the new country against the last known one, relative to home.
fn roaming_pass(sorted: &[&Signal], cfg: &Rules, out: &mut Vec<Moment>) {
    let mut known: Option<Country> = None;
    for &s in sorted.iter().filter(|s| s.kind.is_location()) {
        let Some(country) = s.serving_country else {
            continue;
        };
        if known == Some(country) {
            continue;
        }
        let previous = known.replace(country);
        let Some(home) = s.home_country else { continue };
        let was_abroad = previous.is_some_and(|p| p != home);
        let is_abroad = country != home;
        let kind = match (was_abroad, is_abroad) {
            (false, true) => MomentKind::RoamingOn,
            (true, true) => MomentKind::RoamingChangeCountry,
            (true, false) => MomentKind::RoamingOff,
            (false, false) => continue,
        };
        out.push(Moment::caused_by(
            s,
            cfg,
            kind,
            Area::Country(country),
            previous.map(Area::Country),
            None,
        ));
    }
}

//! A plain sequential implementation of the presence rules: one pass over all signals in
//! global `(at, source, imsi)` order with a `HashMap` of per-subscriber state.
//!
//! It is the oracle the differential operator is tested against, and the hash-map
//! baseline of the benchmarks. It shares no rule code with [`crate::presence`] on purpose.
//! State per subscriber is bounded by the number of distinct areas the subscriber visited.

use crate::moment::{sort_moments, Area, Level, Moment, MomentKind, PresenceConfig};
use landfall_parsers::{Country, Imsi, Plmn, Signal, TimestampUs};
use std::collections::HashMap;

/// When a subscriber last had a location signal in one area.
#[derive(Clone, Copy, Debug)]
struct Seen {
    /// The latest `at` of a location signal in the area.
    last: TimestampUs,
    /// The latest `at` strictly before `last`, if any (needed because several signals
    /// can share one `at`, and the gap window `[t - gap, t)` excludes `t` itself).
    before_last: Option<TimestampUs>,
}

#[derive(Default, Debug)]
struct Subscriber {
    country: Option<Country>,
    network: Option<Plmn>,
    /// Last known country (not reset by departure signals), for roaming transitions.
    last_country: Option<Country>,
    seen: HashMap<Area, Seen>,
}

impl Subscriber {
    fn current(&self, level: Level) -> Option<Area> {
        match level {
            Level::Country => self.country.map(Area::Country),
            Level::Network => self.network.map(Area::Network),
        }
    }

    fn set_current(&mut self, level: Level, area: Option<Area>) {
        match (level, area) {
            (Level::Country, Some(Area::Country(c))) => self.country = Some(c),
            (Level::Network, Some(Area::Network(p))) => self.network = Some(p),
            (Level::Country, _) => self.country = None,
            (Level::Network, _) => self.network = None,
        }
    }

    /// Was there a location signal in `area` during `[t - gap, t)`?
    fn seen_within(&self, area: &Area, t: TimestampUs, gap: i64) -> bool {
        let Some(seen) = self.seen.get(area) else {
            return false;
        };
        let latest_before_t = if seen.last < t {
            Some(seen.last)
        } else {
            seen.before_last
        };
        latest_before_t.is_some_and(|u| u >= t.saturating_sub(gap))
    }

    fn record_seen(&mut self, area: Area, t: TimestampUs) {
        self.seen
            .entry(area)
            .and_modify(|s| {
                if t > s.last {
                    s.before_last = Some(s.last);
                    s.last = t;
                }
            })
            .or_insert(Seen {
                last: t,
                before_last: None,
            });
    }
}

/// All moments the rules derive from `signals`, sorted by `(at, id)`.
pub fn reference_moments(signals: &[Signal], cfg: &PresenceConfig) -> Vec<Moment> {
    let mut order: Vec<&Signal> = signals.iter().collect();
    order.sort_by(|a, b| {
        (a.at, a.source, a.imsi)
            .cmp(&(b.at, b.source, b.imsi))
            .then_with(|| a.cmp(b))
    });

    let mut subscribers: HashMap<Imsi, Subscriber> = HashMap::new();
    let mut out = Vec::new();

    for s in order {
        if s.kind.is_departure() {
            let Some(sub) = subscribers.get_mut(&s.imsi) else {
                continue;
            };
            for level in Level::ALL {
                if let Some(old) = sub.current(level) {
                    out.push(Moment::caused_by(
                        s,
                        cfg,
                        MomentKind::Departure,
                        old,
                        None,
                        None,
                    ));
                    sub.set_current(level, None);
                }
            }
        } else if s.kind.is_location() {
            if s.serving.is_none() && s.serving_country.is_none() {
                continue;
            }
            let sub = subscribers.entry(s.imsi).or_default();
            let areas = [
                s.serving_country.map(Area::Country),
                s.serving.map(Area::Network),
            ];
            for new in areas.into_iter().flatten() {
                let level = new.level();
                let old = sub.current(level);
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
                    if !sub.seen_within(&new, s.at, cfg.reentry_gap_us) {
                        out.push(Moment::caused_by(
                            s,
                            cfg,
                            MomentKind::Arrival,
                            new,
                            old,
                            None,
                        ));
                    }
                    sub.set_current(level, Some(new));
                }
                sub.record_seen(new, s.at);
            }
            if let Some(c) = s.serving_country {
                let last = sub.last_country;
                if last != Some(c) {
                    if let Some(home) = s.home_country {
                        let kind = if c != home {
                            match last {
                                None => Some(MomentKind::RoamingOn),
                                Some(l) if l == home => Some(MomentKind::RoamingOn),
                                Some(_) => Some(MomentKind::RoamingChangeCountry),
                            }
                        } else if last.is_some() {
                            // last != c == home, so the subscriber was abroad.
                            Some(MomentKind::RoamingOff)
                        } else {
                            None
                        };
                        if let Some(kind) = kind {
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
                    sub.last_country = Some(c);
                }
            }
        }
    }
    sort_moments(&mut out);
    out
}

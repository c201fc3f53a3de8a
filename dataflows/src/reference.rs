//! A plain sequential implementation of the presence rules: one pass over all signals in
//! global `(at, source, imsi)` order with a `HashMap` of per-subscriber state.
//!
//! It is the oracle the differential operator is tested against, and the hash-map
//! baseline of the benchmarks. It shares no rule code with [`crate::history`] on purpose.
//! State per subscriber is bounded by the number of distinct areas the subscriber visited.

use crate::moment::{sort_moments, Area, Level, Moment, MomentKind, Rules};
use landfall_model::{Country, Imsi, Plmn, Signal, TimestampUs};
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

#[derive(Debug)]
struct Subscriber {
    country: Option<Country>,
    network: Option<Plmn>,
    /// Last known country (not reset by departure signals), for roaming transitions.
    last_country: Option<Country>,
    seen: HashMap<Area, Seen>,
    /// The latest location signal naming a serving country or network (`i64::MIN`:
    /// none), for the horizon of silence.
    last_located: TimestampUs,
}

impl Default for Subscriber {
    fn default() -> Self {
        Subscriber {
            country: None,
            network: None,
            last_country: None,
            seen: HashMap::new(),
            last_located: i64::MIN,
        }
    }
}

impl Subscriber {
    fn current(&self, level: Level) -> Option<Area> {
        match level {
            Level::Country => self.country.map(Area::Country),
            Level::Network => self.network.map(Area::Network),
            Level::Zone => None,
        }
    }

    fn set_current(&mut self, level: Level, area: Option<Area>) {
        match (level, area) {
            (Level::Country, Some(Area::Country(c))) => self.country = Some(c),
            (Level::Network, Some(Area::Network(p))) => self.network = Some(p),
            (Level::Country, _) => self.country = None,
            (Level::Network, _) => self.network = None,
            (Level::Zone, _) => {}
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
pub fn reference_moments(signals: &[Signal], cfg: &Rules) -> Vec<Moment> {
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
            if cfg.forgotten(sub.last_located, s.at) {
                subscribers.remove(&s.imsi);
                continue;
            }
            for level in Level::SERVING {
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
            if cfg.forgotten(sub.last_located, s.at) {
                *sub = Subscriber::default();
            }
            sub.last_located = s.at;
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

/// A subscriber's signals (in order) cut where the subscriber was silent for longer than
/// the horizon: each part is computed as if it were a subscriber of its own, since the
/// rules forget everything about the earlier part (an open stay then ends without a
/// departure, as at the end of the input).
fn lives<'a>(history: Vec<&'a Signal>, cfg: &Rules) -> Vec<Vec<&'a Signal>> {
    let mut lives: Vec<Vec<&Signal>> = vec![Vec::new()];
    let mut last_located = i64::MIN;
    for s in history {
        let relevant = s.kind.is_departure() || s.kind.is_location();
        if relevant && last_located != i64::MIN && cfg.forgotten(last_located, s.at) {
            lives.push(Vec::new());
            last_located = i64::MIN;
        }
        if s.kind.is_location() && (s.serving.is_some() || s.serving_country.is_some()) {
            last_located = s.at;
        }
        lives.last_mut().expect("one life at least").push(s);
    }
    lives
}

/// Zone-level moments (the rules of [`crate::zone_detector`]), computed per subscriber and
/// zone from whole stays rather than signal by signal: first the sequence of placements,
/// then each zone's stays (first signal in the zone, its signal times, the signal that
/// ends it), then which stays dwell, then arrivals and departures. `zones_of(s)` is the
/// set of zones `s`'s location belonged to at its time. Sorted by `(at, id)`.
pub fn reference_zone_moments(
    signals: &[Signal],
    zones_of: impl Fn(&Signal) -> Vec<crate::zones::ZoneId>,
    cfg: &Rules,
) -> Vec<Moment> {
    use crate::zones::ZoneId;
    use std::collections::{BTreeMap, BTreeSet};

    let mut by_imsi: BTreeMap<Imsi, Vec<&Signal>> = BTreeMap::new();
    for s in signals {
        by_imsi.entry(s.imsi).or_default().push(s);
    }
    let dwell = cfg.min_dwell_us.max(0);
    let mut out = Vec::new();
    let lives = by_imsi.into_values().flat_map(|mut history| {
        history.sort_by(|a, b| {
            (a.at, a.source, a.imsi)
                .cmp(&(b.at, b.source, b.imsi))
                .then_with(|| a.cmp(b))
        });
        lives(history, cfg)
    });
    for history in lives {
        // Placements: for each signal, the zone set it puts the subscriber in, if any.
        let mut placements: Vec<(&Signal, BTreeSet<ZoneId>)> = Vec::new();
        let mut located_in: Option<Plmn> = None;
        for &s in &history {
            if s.kind.is_departure() {
                located_in = None;
                placements.push((s, BTreeSet::new()));
            } else if s.kind.is_location() {
                if let Some(l) = s.location {
                    located_in = Some(l.plmn());
                    placements.push((s, zones_of(s).into_iter().collect()));
                } else if located_in.is_some() && s.serving.is_some() && s.serving != located_in {
                    placements.push((s, BTreeSet::new()));
                }
            }
        }
        let all: BTreeSet<ZoneId> = placements.iter().flat_map(|(_, z)| z.clone()).collect();
        for zone in all {
            // Stays: (first signal, distinct signal times, ending signal).
            let mut stays: Vec<(&Signal, Vec<TimestampUs>, Option<&Signal>)> = Vec::new();
            let mut inside = false;
            for (s, zones) in &placements {
                match (inside, zones.contains(&zone)) {
                    (false, true) => {
                        stays.push((s, vec![s.at], None));
                        inside = true;
                    }
                    (true, true) => {
                        let times = &mut stays.last_mut().expect("inside a stay").1;
                        if times.last() != Some(&s.at) {
                            times.push(s.at);
                        }
                    }
                    (true, false) => {
                        stays.last_mut().expect("inside a stay").2 = Some(s);
                        inside = false;
                    }
                    (false, false) => {}
                }
            }
            let area = Area::Zone(zone);
            let mut dwelled_times: Vec<TimestampUs> = Vec::new();
            for (first, times, end) in stays {
                let dwells = end.is_none_or(|e| e.at - first.at >= dwell);
                if !dwells {
                    continue;
                }
                let t = first.at;
                let blocked = dwelled_times
                    .iter()
                    .any(|&u| u < t && u >= t.saturating_sub(cfg.reentry_gap_us));
                if !blocked {
                    out.push(Moment::caused_by(
                        first,
                        cfg,
                        MomentKind::Arrival,
                        area,
                        None,
                        None,
                    ));
                }
                if let Some(e) = end {
                    out.push(Moment::caused_by(
                        e,
                        cfg,
                        MomentKind::Departure,
                        area,
                        None,
                        None,
                    ));
                }
                dwelled_times.extend(times);
            }
        }
    }
    sort_moments(&mut out);
    out
}

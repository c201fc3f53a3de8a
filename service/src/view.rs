//! The live newly-where view behind the operator endpoints: who arrived where and is still
//! there, with the semantics of `dataflows::newly` (docs/semantics.md, "TTL and the
//! newly-where view"), kept from the moments the service emits.
//!
//! An arrival (any level) adds `(imsi, area, arrived_at, expires_at)`, replacing an earlier
//! arrival of that subscriber in that area; a departure from the area removes it; it
//! expires once the view's clock reaches `expires_at`. Roaming moments do not enter it.
//! Within a batch moments are applied in `(at, source)` order, arrivals before departures
//! of the same `(at, source)`. The clock is event time: the latest moment applied or the
//! time given to [`View::expire`] (the wiring passes the runner's frontier), and never goes
//! back. Memory follows the present arrivals only: an entry lives at most its TTL.

use std::collections::{BTreeSet, HashMap};

use landfall_model::{
    Area, Country, Imsi, Level, Moment, MomentId, MomentKind, Msisdn, Plmn, TimestampUs,
};

/// One present arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub imsi: Imsi,
    pub msisdn: Option<Msisdn>,
    /// The subscriber's home network and country, as the arrival moment gave them.
    pub home: Option<Plmn>,
    pub home_country: Option<Country>,
    pub area: Area,
    pub arrived_at: TimestampUs,
    pub expires_at: TimestampUs,
    /// The arrival moment's id.
    pub id: MomentId,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    msisdn: Option<Msisdn>,
    home: Option<Plmn>,
    home_country: Option<Country>,
    arrived_at: TimestampUs,
    expires_at: TimestampUs,
    id: MomentId,
}

/// Present arrivals, indexed by area (recent first) and by expiry.
#[derive(Debug, Default)]
pub struct View {
    live: HashMap<(Imsi, Area), Entry>,
    /// Per area: (arrived_at, imsi) of its present arrivals.
    by_area: HashMap<Area, BTreeSet<(TimestampUs, Imsi)>>,
    /// (expires_at, imsi, area) of every present arrival.
    by_expiry: BTreeSet<(TimestampUs, Imsi, Area)>,
    clock: TimestampUs,
}

impl View {
    pub fn new() -> View {
        View::default()
    }

    /// Apply one batch of moments (any order within the batch; see the module doc).
    pub fn apply(&mut self, moments: &[Moment]) {
        let mut batch: Vec<&Moment> = moments
            .iter()
            .filter(|m| matches!(m.kind, MomentKind::Arrival | MomentKind::Departure))
            .collect();
        let rank = |m: &Moment| u8::from(m.kind == MomentKind::Departure);
        batch.sort_by(|a, b| (a.at, a.source, rank(a), *a).cmp(&(b.at, b.source, rank(b), *b)));
        for m in batch {
            self.expire(m.at);
            let key = (m.imsi, m.area);
            self.remove(&key);
            if m.kind == MomentKind::Arrival && m.expires_at > self.clock {
                self.insert(
                    key,
                    Entry {
                        msisdn: m.msisdn,
                        home: m.home,
                        home_country: m.home_country,
                        arrived_at: m.at,
                        expires_at: m.expires_at,
                        id: m.id,
                    },
                );
            }
        }
    }

    /// Advance the clock to `now_us` (event time, µs) and drop the arrivals expired by
    /// then (`expires_at <= now_us`); returns how many. An earlier time changes nothing.
    pub fn expire(&mut self, now_us: TimestampUs) -> usize {
        self.clock = self.clock.max(now_us);
        let mut n = 0;
        while let Some(&(at, imsi, area)) = self.by_expiry.first() {
            if at > self.clock {
                break;
            }
            self.remove(&(imsi, area));
            n += 1;
        }
        n
    }

    /// The view's clock: event time up to which expiries are applied (µs).
    pub fn clock(&self) -> TimestampUs {
        self.clock
    }

    /// How many arrivals are present, at every level.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Present arrivals per area at `level`, most first (then by area).
    pub fn counts(&self, level: Level) -> Vec<(Area, usize)> {
        let mut out: Vec<(Area, usize)> = self
            .by_area
            .iter()
            .filter(|(a, _)| a.level() == level)
            .map(|(a, members)| (*a, members.len()))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// The `limit` most recent present arrivals in `area` (latest `arrived_at` first), and
    /// how many there are in all.
    pub fn arrivals(&self, area: &Area, limit: usize) -> (Vec<Arrival>, usize) {
        let Some(members) = self.by_area.get(area) else {
            return (Vec::new(), 0);
        };
        let list = members
            .iter()
            .rev()
            .take(limit)
            .filter_map(|&(_, imsi)| {
                self.live.get(&(imsi, *area)).map(|e| Arrival {
                    imsi,
                    msisdn: e.msisdn,
                    home: e.home,
                    home_country: e.home_country,
                    area: *area,
                    arrived_at: e.arrived_at,
                    expires_at: e.expires_at,
                    id: e.id,
                })
            })
            .collect();
        (list, members.len())
    }

    fn insert(&mut self, key: (Imsi, Area), e: Entry) {
        self.by_area
            .entry(key.1)
            .or_default()
            .insert((e.arrived_at, key.0));
        self.by_expiry.insert((e.expires_at, key.0, key.1));
        self.live.insert(key, e);
    }

    fn remove(&mut self, key: &(Imsi, Area)) {
        let Some(e) = self.live.remove(key) else {
            return;
        };
        self.by_expiry.remove(&(e.expires_at, key.0, key.1));
        if let Some(members) = self.by_area.get_mut(&key.1) {
            members.remove(&(e.arrived_at, key.0));
            if members.is_empty() {
                self.by_area.remove(&key.1);
            }
        }
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;

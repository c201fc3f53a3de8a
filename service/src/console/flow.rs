//! Arrivals per minute (event time) by level, and who arrives: the console's Flow page.
//!
//! Every arrival moment the service emits is counted in its minute (`at` floored), by
//! level, home country and home network. Minutes older than [`WINDOW_MINUTES`] before the
//! latest one are dropped, so memory is bounded by the window (and, per minute, by the
//! distinct home countries and networks arriving in it).

use std::collections::{BTreeMap, HashMap};

use landfall_model::json::rfc3339_us;
use landfall_model::{Country, Level, Moment, MomentKind, Plmn, TimestampUs};
use serde_json::{json, Value};

/// Minutes kept (6 hours).
pub const WINDOW_MINUTES: u32 = 360;
/// Minutes `/v1/operator/flow` answers when not asked.
pub const DEFAULT_MINUTES: u32 = 180;
/// Home countries and networks listed.
pub const TOP: usize = 10;

const MINUTE_US: i64 = 60_000_000;

#[derive(Clone, Debug, Default)]
struct Minute {
    /// Arrivals at country, network, zone level.
    by_level: [u64; 3],
    /// Country-level arrivals by home country (each arrival counted once per subscriber
    /// and country; network and zone arrivals would count the same visitor again).
    home_countries: HashMap<Country, u64>,
    /// Network-level arrivals by home network.
    home_networks: HashMap<Plmn, u64>,
}

/// Arrivals per minute over the window.
#[derive(Debug, Default)]
pub struct Flow {
    minutes: BTreeMap<i64, Minute>,
    latest: Option<i64>,
}

fn level_index(l: Level) -> usize {
    match l {
        Level::Country => 0,
        Level::Network => 1,
        Level::Zone => 2,
    }
}

impl Flow {
    /// Count the arrivals among `moments`.
    pub fn record(&mut self, moments: &[Moment]) {
        for m in moments.iter().filter(|m| m.kind == MomentKind::Arrival) {
            let minute = m.at.div_euclid(MINUTE_US);
            let latest = self.latest.map_or(minute, |l| l.max(minute));
            self.latest = Some(latest);
            if minute <= latest - i64::from(WINDOW_MINUTES) {
                continue;
            }
            let b = self.minutes.entry(minute).or_default();
            b.by_level[level_index(m.level)] += 1;
            match m.level {
                Level::Country => {
                    if let Some(c) = m.home_country {
                        *b.home_countries.entry(c).or_default() += 1;
                    }
                }
                Level::Network => {
                    if let Some(p) = m.home {
                        *b.home_networks.entry(p).or_default() += 1;
                    }
                }
                Level::Zone => {}
            }
        }
        if let Some(latest) = self.latest {
            let keep_from = latest - i64::from(WINDOW_MINUTES) + 1;
            self.minutes = self.minutes.split_off(&keep_from);
        }
    }

    /// The minutes from `from` to the latest, gaps as zeros.
    fn rows(&self, minutes: u32) -> Vec<Value> {
        let Some(latest) = self.latest else {
            return Vec::new();
        };
        let from = latest - i64::from(minutes) + 1;
        (from..=latest)
            .map(|m| {
                let b = self.minutes.get(&m);
                let n = |i: usize| b.map_or(0, |b| b.by_level[i]);
                json!({
                    "minute": rfc3339_us(m * MINUTE_US as TimestampUs),
                    "country": n(0),
                    "network": n(1),
                    "zone": n(2),
                })
            })
            .collect()
    }

    /// The last `minutes` minutes (the live feed's tail).
    pub fn tail(&self, minutes: u32) -> Vec<Value> {
        self.rows(minutes)
    }

    /// `/v1/operator/flow`: the last `minutes` minutes and the top home countries and
    /// networks over them.
    pub fn json(&self, minutes: u32) -> Value {
        let from = self.latest.map_or(0, |l| l - i64::from(minutes) + 1);
        let mut countries: HashMap<Country, u64> = HashMap::new();
        let mut networks: HashMap<Plmn, u64> = HashMap::new();
        let mut totals = [0u64; 3];
        for (_, b) in self.minutes.range(from..) {
            for (c, n) in &b.home_countries {
                *countries.entry(*c).or_default() += n;
            }
            for (p, n) in &b.home_networks {
                *networks.entry(*p).or_default() += n;
            }
            for (t, n) in totals.iter_mut().zip(b.by_level) {
                *t += n;
            }
        }
        json!({
            "minutes": self.rows(minutes),
            "totals": { "country": totals[0], "network": totals[1], "zone": totals[2] },
            "top_home_countries": top(countries, |c| c.to_string()),
            "top_home_networks": top(networks, |p| p.to_string()),
        })
    }
}

fn top<K>(counts: HashMap<K, u64>, name: impl Fn(&K) -> String) -> Vec<Value> {
    let mut list: Vec<(String, u64)> = counts.iter().map(|(k, n)| (name(k), *n)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(TOP);
    list.into_iter().map(|(k, n)| json!([k, n])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::country;
    use landfall_model::Area;

    fn net() -> Area {
        Area::Network(Plmn::parse("208-01").unwrap())
    }

    /// A moment of a German subscriber (home 262-01).
    fn moment(imsi: &str, kind: MomentKind, area: Area, at: TimestampUs) -> Moment {
        let mut m = crate::testutil::moment(imsi, kind, area, at);
        m.home = Plmn::parse("262-01");
        m.home_country = Country::new("DE");
        m
    }

    #[test]
    fn counts_by_minute_level_and_home_within_the_window() {
        let mut f = Flow::default();
        let t0 = 1_780_000_000 * 1_000_000i64;
        let imsi = "262011234567890";
        f.record(&[
            moment(imsi, MomentKind::Arrival, country("FR"), t0),
            moment(
                "262011234567891",
                MomentKind::Arrival,
                country("FR"),
                t0 + 1,
            ),
            moment(imsi, MomentKind::Departure, country("FR"), t0 + 2),
            moment(imsi, MomentKind::Arrival, net(), t0 + 3 * MINUTE_US),
        ]);
        let j = f.json(10);
        let rows = j["minutes"].as_array().unwrap();
        assert_eq!(rows.len(), 10);
        let total: u64 = rows.iter().map(|r| r["country"].as_u64().unwrap()).sum();
        assert_eq!(total, 2);
        assert_eq!(rows[9]["network"], 1);
        assert_eq!(j["totals"]["country"], 2);
        assert_eq!(j["top_home_countries"], json!([["DE", 2]]));
        assert_eq!(j["top_home_networks"], json!([["262-01", 1]]));
        // A minute beyond the window drops the old ones.
        let zone = Area::Zone(landfall_model::ZoneId::new("cdg").unwrap());
        let later = t0 + i64::from(WINDOW_MINUTES + 5) * MINUTE_US;
        f.record(&[moment(imsi, MomentKind::Arrival, zone, later)]);
        assert!(f.minutes.len() <= WINDOW_MINUTES as usize);
        assert_eq!(f.json(WINDOW_MINUTES)["totals"]["country"], 0);
        assert_eq!(f.json(WINDOW_MINUTES)["totals"]["zone"], 1);
    }
}

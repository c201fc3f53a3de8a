//! The partner vocabulary: who receives moments ([`PartnerId`]), why ([`Purpose`]), what
//! they asked for ([`Subscription`]), the subscriber's [`Consent`], and a delivered
//! [`Match`].

use serde::{Deserialize, Serialize};

use crate::identity::{Country, Imsi, Plmn};
use crate::moment::{Area, Level, Moment, MomentKind};
use crate::signal::TimestampUs;

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
    /// The levels wanted (country, network, zone): CAMARA's `area-entered` is a zone
    /// arrival, `roaming-on` a country one.
    pub levels: Vec<Level>,
    /// One device only (CAMARA's `device`), or everyone in the areas.
    pub device: Option<Imsi>,
    pub areas: Vec<Area>,
    pub home_countries: Vec<Country>,
    pub home_networks: Vec<Plmn>,
    pub direction: Direction,
    pub rats: Vec<u32>,
    /// The subscription matches moments up to (not including) this event time.
    pub expires_at: Option<TimestampUs>,
    /// `subscriptionMaxEvents`: at most this many moments delivered, ever.
    pub max_events: Option<u32>,
    /// Per-subscriber frequency cap: no two delivered moments of one subscriber closer
    /// than this in event time (µs).
    pub frequency_cap_us: Option<i64>,
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
            && any_or(self.levels.is_empty(), self.levels.contains(&m.level))
            && self.device.is_none_or(|d| d == m.imsi)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moment::{Level, MomentId};
    use crate::signal::{Proto, Provenance};

    fn moment(level: Level, area: Area, imsi: &str) -> Moment {
        Moment {
            id: MomentId([0; 16]),
            kind: MomentKind::Arrival,
            level,
            area,
            from: None,
            to: None,
            imsi: Imsi::parse(imsi).unwrap(),
            msisdn: None,
            home: None,
            home_country: None,
            rat: None,
            at: 10,
            expires_at: 20,
            source: Provenance {
                file: 0,
                frame: 1,
                proto: Proto::Diameter,
                message: 0,
            },
        }
    }

    #[test]
    fn levels_and_device_narrow_a_subscription() {
        let fr = Country::new("FR").unwrap();
        let s = Subscription {
            id: 1,
            partner: PartnerId(1),
            purpose: Purpose(1),
            types: vec![],
            levels: vec![Level::Country],
            device: Some(Imsi::parse("208011234567890").unwrap()),
            areas: vec![],
            home_countries: vec![],
            home_networks: vec![],
            direction: Direction::Any,
            rats: vec![],
            expires_at: None,
            max_events: None,
            frequency_cap_us: None,
        };
        assert!(s.accepts(
            &moment(Level::Country, Area::Country(fr), "208011234567890"),
            fr
        ));
        let plmn = Plmn::new(208, 1, 2);
        assert!(!s.accepts(
            &moment(Level::Network, Area::Network(plmn), "208011234567890"),
            fr
        ));
        assert!(!s.accepts(
            &moment(Level::Country, Area::Country(fr), "208011234567891"),
            fr
        ));
        let anyone = Subscription {
            levels: vec![],
            device: None,
            ..s
        };
        assert!(anyone.accepts(
            &moment(Level::Network, Area::Network(plmn), "208011234567891"),
            fr
        ));
    }
}

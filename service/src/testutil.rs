//! Moments for the tests.

use landfall_model::moment::Rules;
use landfall_model::{
    Area, Country, Imsi, Moment, MomentKind, Proto, Provenance, Signal, SignalKind, TimestampUs,
};

pub fn country(code: &str) -> Area {
    Area::Country(Country::new(code).unwrap())
}

/// A moment of `imsi` of `kind` about `area` at `at` µs (TTL 2 h).
pub fn moment(imsi: &str, kind: MomentKind, area: Area, at: TimestampUs) -> Moment {
    moment_ttl(imsi, kind, area, at, Rules::default().ttl_us)
}

pub fn moment_ttl(
    imsi: &str,
    kind: MomentKind,
    area: Area,
    at: TimestampUs,
    ttl_us: i64,
) -> Moment {
    let signal = Signal {
        at,
        imsi: Imsi::parse(imsi).unwrap(),
        msisdn: None,
        kind: SignalKind::Attach,
        home: None,
        home_country: None,
        serving: None,
        serving_country: None,
        location: None,
        rat: None,
        source: Provenance {
            file: 0,
            frame: 1,
            proto: Proto::Diameter,
            message: 316,
        },
    };
    let rules = Rules {
        ttl_us,
        ..Rules::default()
    };
    Moment::caused_by(&signal, &rules, kind, area, None, None)
}

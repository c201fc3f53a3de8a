//! Moments for the tests.

use landfall_model::moment::Rules;
use landfall_model::{Area, Country, Moment, MomentKind, TimestampUs};

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
    let signal = landfall_testkit::signal::bare_attach(at, imsi, 1);
    let rules = Rules {
        ttl_us,
        ..Rules::default()
    };
    Moment::caused_by(&signal, &rules, kind, area, None, None)
}

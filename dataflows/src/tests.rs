//! Rule-by-rule tests. Every scenario runs through the reference, the operator's state
//! machine, and the timely runner (1 and 2 workers, in order and shuffled), which must agree.

use crate::history::subscriber_history;
use crate::moment::HOUR_US;
use crate::*;
use landfall_model::{Country, Imsi, Plmn, Proto, Provenance, SignalKind};
use landfall_testkit::feed;
use std::sync::Arc;

const IMSI: &str = "001020000000064";

fn plmn(s: &str) -> Option<Plmn> {
    if s.is_empty() {
        None
    } else {
        Some(Plmn::parse(s).expect("plmn"))
    }
}

fn country(s: &str) -> Option<Country> {
    if s.is_empty() {
        None
    } else {
        Some(Country::new(s).expect("country"))
    }
}

/// A signal of `IMSI` (home 001-02, country "001") at `at` µs, frame `frame`.
fn sig(at: i64, frame: u64, kind: SignalKind, serving: &str, serving_country: &str) -> Signal {
    Signal {
        at,
        imsi: Imsi::parse(IMSI).unwrap(),
        msisdn: None,
        kind,
        home: plmn("001-02"),
        home_country: country("001"),
        serving: plmn(serving),
        serving_country: country(serving_country),
        location: None,
        rat: Some(1004),
        source: Provenance {
            file: 0,
            frame,
            proto: Proto::Diameter,
            message: 316,
        },
    }
}

/// Moments of `signals` from every implementation, asserted equal.
fn run(signals: Vec<Signal>) -> Vec<Moment> {
    let cfg = Rules::default();
    let expected = reference_moments(&signals, &cfg);

    let mut machine = Vec::new();
    let mut imsis: Vec<Imsi> = signals.iter().map(|s| s.imsi).collect();
    imsis.sort();
    imsis.dedup();
    for imsi in imsis {
        machine.extend(subscriber_history(
            signals.iter().filter(|s| s.imsi == imsi).collect(),
            &cfg,
        ));
    }
    sort_moments(&mut machine);
    assert_eq!(machine, expected, "state machine vs reference");

    let shared = Arc::new(signals);
    for workers in [1, 2] {
        let got = run_moments(Arc::clone(&shared), workers, HOUR_US, cfg);
        assert_eq!(got, expected, "runner ({workers} workers) vs reference");
    }
    for (engine, lateness_batches) in [(Engine::History, 0), (Engine::Bounded, 5)] {
        let opts = RunConfig {
            workers: 2,
            batch_us: HOUR_US / 2,
            feed: Feed::Scheduled(feed::shuffled(shared.len(), 7, 5)),
            engine,
            lateness_batches,
            rules: Default::default(),
        };
        let (got, report) = run_moments_with(Arc::clone(&shared), opts.with_rules(cfg));
        assert_eq!(got, expected, "shuffled runner ({engine:?}) vs reference");
        assert_eq!(report.late, 0);
    }
    expected
}

/// `(kind, area, from, to, at)` of each moment, for compact assertions.
type Brief = (MomentKind, Area, Option<Area>, Option<Area>, i64);

fn sorted(mut v: Vec<Brief>) -> Vec<Brief> {
    v.sort();
    v
}

fn brief(ms: &[Moment]) -> Vec<Brief> {
    let mut v: Vec<Brief> = ms
        .iter()
        .map(|m| (m.kind, m.area, m.from, m.to, m.at))
        .collect();
    v.sort();
    v
}

fn net(s: &str) -> Area {
    Area::Network(Plmn::parse(s).unwrap())
}

fn ctry(s: &str) -> Area {
    Area::Country(Country::new(s).unwrap())
}

use MomentKind::*;
use SignalKind as K;

#[test]
fn magma_first_sighting_in_home_country() {
    // Home 001-02 (country "001"), ULR in 001-01: network arrival from None, country
    // arrival into "001", no roaming moment (same country as home).
    let ms = run(vec![sig(5, 1, K::Attach, "001-01", "001")]);
    assert_eq!(ms.len(), 2);
    assert_eq!(
        brief(&ms),
        sorted(vec![
            (Arrival, ctry("001"), None, None, 5),
            (Arrival, net("001-01"), None, None, 5)
        ])
    );
    let m = ms.iter().find(|m| m.level == Level::Network).unwrap();
    assert_eq!(m.imsi.as_str(), IMSI);
    assert_eq!(m.home, plmn("001-02"));
    assert_eq!(m.home_country, country("001"));
    assert_eq!(m.rat, Some(1004));
    assert_eq!(m.expires_at, 5 + 2 * HOUR_US);
    assert_eq!(m.source.frame, 1);
}

#[test]
fn reentry_within_gap_is_not_an_arrival() {
    let h = HOUR_US;
    let ms = run(vec![
        sig(0, 1, K::Attach, "001-01", "001"),
        sig(h, 2, K::LocationUpdate, "001-03", "001"),
        sig(2 * h, 3, K::LocationUpdate, "001-01", "001"),
    ]);
    assert_eq!(
        brief(&ms),
        sorted(vec![
            (Arrival, ctry("001"), None, None, 0),
            (Arrival, net("001-01"), None, None, 0),
            (Arrival, net("001-03"), Some(net("001-01")), None, h),
            (Departure, net("001-01"), None, Some(net("001-03")), h),
            (Departure, net("001-03"), None, Some(net("001-01")), 2 * h),
        ])
    );
}

#[test]
fn reentry_gap_boundaries() {
    let h = HOUR_US;
    // Last visit exactly `gap` before: inside [t - gap, t), no arrival.
    let at_gap = run(vec![
        sig(0, 1, K::Attach, "001-01", ""),
        sig(h, 2, K::LocationUpdate, "001-03", ""),
        sig(12 * h, 3, K::LocationUpdate, "001-01", ""),
    ]);
    assert!(!at_gap.iter().any(|m| m.kind == Arrival && m.at == 12 * h));
    // One µs later: outside the gap, an arrival.
    let after_gap = run(vec![
        sig(0, 1, K::Attach, "001-01", ""),
        sig(h, 2, K::LocationUpdate, "001-03", ""),
        sig(12 * h + 1, 3, K::LocationUpdate, "001-01", ""),
    ]);
    assert!(after_gap.iter().any(|m| m.kind == Arrival
        && m.at == 12 * h + 1
        && m.area == net("001-01")
        && m.from == Some(net("001-03"))));
    // Repeated signals in the area keep it "recent": the last one counts, not the first.
    let refreshed = run(vec![
        sig(0, 1, K::Attach, "001-01", ""),
        sig(10 * h, 2, K::CellChange, "001-01", ""),
        sig(11 * h, 3, K::LocationUpdate, "001-03", ""),
        sig(20 * h, 4, K::LocationUpdate, "001-01", ""),
    ]);
    assert!(!refreshed
        .iter()
        .any(|m| m.kind == Arrival && m.at == 20 * h));
}

#[test]
fn purge_departs_at_both_levels_and_reentry_is_gated() {
    let h = HOUR_US;
    let ms = run(vec![
        sig(0, 1, K::Attach, "001-01", "001"),
        sig(h, 2, K::Purge, "", ""),
        sig(h + 1, 3, K::Cancel, "001-01", "001"), // nothing left to depart from
        sig(2 * h, 4, K::Attach, "001-01", "001"), // back within the gap: no arrival
        sig(3 * h, 5, K::Detach, "", ""),
        sig(16 * h, 6, K::Attach, "001-01", "001"), // after the gap: arrivals
    ]);
    assert_eq!(
        brief(&ms),
        sorted(vec![
            (Arrival, ctry("001"), None, None, 0),
            (Arrival, ctry("001"), None, None, 16 * h),
            (Arrival, net("001-01"), None, None, 0),
            (Arrival, net("001-01"), None, None, 16 * h),
            (Departure, ctry("001"), None, None, h),
            (Departure, ctry("001"), None, None, 3 * h),
            (Departure, net("001-01"), None, None, h),
            (Departure, net("001-01"), None, None, 3 * h),
        ])
    );
}

#[test]
fn departure_before_any_location_changes_nothing() {
    assert!(run(vec![sig(0, 1, K::Purge, "001-01", "001")]).is_empty());
}

#[test]
fn rejected_auth_and_session_end_change_nothing() {
    let ms = run(vec![
        sig(0, 1, K::Rejected, "208-01", "FR"),
        sig(1, 2, K::Auth, "208-01", "FR"),
        sig(2, 3, K::Attach, "001-01", "001"),
        sig(3, 4, K::Rejected, "208-01", "FR"),
        sig(4, 5, K::Auth, "208-01", "FR"),
        sig(5, 6, K::SessionEnd, "208-01", "FR"),
    ]);
    assert_eq!(
        brief(&ms),
        sorted(vec![
            (Arrival, ctry("001"), None, None, 2),
            (Arrival, net("001-01"), None, None, 2)
        ])
    );
}

#[test]
fn roaming_on_change_country_off() {
    let h = HOUR_US;
    let ms = run(vec![
        sig(0, 1, K::Attach, "001-01", "001"),
        sig(h, 2, K::LocationUpdate, "208-01", "FR"),
        sig(2 * h, 3, K::LocationUpdate, "262-01", "DE"),
        sig(3 * h, 4, K::LocationUpdate, "001-01", "001"),
    ]);
    let roaming: Vec<Brief> = brief(&ms)
        .into_iter()
        .filter(|b| matches!(b.0, RoamingOn | RoamingOff | RoamingChangeCountry))
        .collect();
    assert_eq!(
        roaming,
        sorted(vec![
            (RoamingOn, ctry("FR"), Some(ctry("001")), None, h),
            (RoamingOff, ctry("001"), Some(ctry("DE")), None, 3 * h),
            (
                RoamingChangeCountry,
                ctry("DE"),
                Some(ctry("FR")),
                None,
                2 * h
            ),
        ])
    );
    // Back home within the gap: roaming-off but no country arrival.
    assert!(!ms
        .iter()
        .any(|m| m.kind == Arrival && m.level == Level::Country && m.at == 3 * h));
    assert!(ms
        .iter()
        .all(|m| m.level == Level::Country || !m.kind.as_str().starts_with("roaming")));
}

#[test]
fn first_sighting_abroad_is_roaming_on_and_departures_keep_last_country() {
    let h = HOUR_US;
    let ms = run(vec![
        sig(0, 1, K::Attach, "208-01", "FR"),
        sig(h, 2, K::Purge, "", ""),
        sig(2 * h, 3, K::Attach, "208-01", "FR"), // same last-known country: no roaming
    ]);
    let roaming: Vec<Brief> = brief(&ms)
        .into_iter()
        .filter(|b| b.0 == RoamingOn)
        .collect();
    assert_eq!(
        roaming,
        sorted(vec![(RoamingOn, ctry("FR"), None, None, 0)])
    );
    assert_eq!(
        ms.iter()
            .filter(|m| m.kind == RoamingOn || m.kind == RoamingChangeCountry)
            .count(),
        1
    );
}

#[test]
fn unknown_home_country_skips_roaming_but_tracks_last_country() {
    let h = HOUR_US;
    let mut a = sig(0, 1, K::Attach, "208-01", "FR");
    a.home_country = None;
    let b = sig(h, 2, K::LocationUpdate, "262-01", "DE");
    let ms = run(vec![a, b]);
    let roaming: Vec<Brief> = brief(&ms)
        .into_iter()
        .filter(|b| b.0 != Arrival && b.0 != Departure)
        .collect();
    // The first signal's country still became the last known one.
    assert_eq!(
        roaming,
        sorted(vec![(
            RoamingChangeCountry,
            ctry("DE"),
            Some(ctry("FR")),
            None,
            h
        )])
    );
}

#[test]
fn network_only_and_country_only_signals_touch_one_level() {
    let h = HOUR_US;
    let ms = run(vec![
        sig(0, 1, K::Attach, "001-01", "001"),
        sig(h, 2, K::LocationUpdate, "208-01", ""), // PLMN, no country
        sig(2 * h, 3, K::LocationUpdate, "", "DE"), // MAP: country only
    ]);
    assert_eq!(
        brief(&ms),
        sorted(vec![
            (Arrival, ctry("001"), None, None, 0),
            (Arrival, ctry("DE"), Some(ctry("001")), None, 2 * h),
            (Arrival, net("001-01"), None, None, 0),
            (Arrival, net("208-01"), Some(net("001-01")), None, h),
            (Departure, ctry("001"), None, Some(ctry("DE")), 2 * h),
            (Departure, net("001-01"), None, Some(net("208-01")), h),
            (RoamingOn, ctry("DE"), Some(ctry("001")), None, 2 * h),
        ])
    );
}

#[test]
fn same_time_signals_are_ordered_by_source() {
    // Frame 1 (001-01) comes before frame 2 (001-03) although listed later.
    let ms = run(vec![
        sig(7, 2, K::LocationUpdate, "001-03", ""),
        sig(7, 1, K::Attach, "001-01", ""),
    ]);
    assert_eq!(
        brief(&ms),
        sorted(vec![
            (Arrival, net("001-01"), None, None, 7),
            (Arrival, net("001-03"), Some(net("001-01")), None, 7),
            (Departure, net("001-01"), None, Some(net("001-03")), 7),
        ])
    );
}

#[test]
fn ids_are_deterministic_and_distinct() {
    let h = HOUR_US;
    let signals = vec![
        sig(0, 1, K::Attach, "001-01", "001"),
        sig(h, 2, K::LocationUpdate, "208-01", "FR"),
        sig(2 * h, 3, K::Purge, "", ""),
        sig(20 * h, 4, K::Attach, "001-01", "001"),
    ];
    let a = run(signals.clone());
    let b = run(signals);
    assert_eq!(a, b);
    let mut ids: Vec<MomentId> = a.iter().map(|m| m.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), a.len());
    // Sorted by (at, id).
    assert!(a.windows(2).all(|w| w[0].sort_key() <= w[1].sort_key()));
    // Ids are what MomentId::derive says.
    for m in &a {
        assert_eq!(
            m.id,
            MomentId::derive(&m.imsi, m.kind, m.level, &m.area, m.at)
        );
        assert_eq!(m.expires_at, m.at + 2 * h);
    }
}

#[test]
fn subscribers_are_independent() {
    let mut other = sig(0, 9, K::Attach, "001-01", "001");
    other.imsi = Imsi::parse("001010000000001").unwrap();
    let ms = run(vec![
        sig(0, 1, K::Attach, "001-01", "001"),
        other,
        sig(1, 2, K::Purge, "", ""),
    ]);
    assert_eq!(
        ms.iter()
            .filter(|m| m.imsi.as_str() == "001010000000001")
            .count(),
        2
    );
    assert_eq!(ms.iter().filter(|m| m.kind == Departure).count(), 2);
}

#[test]
fn same_microsecond_ping_pong_follows_the_half_open_gap() {
    // The gap window [t - gap, t) excludes t itself, so A → B → A within one µs yields a
    // second arrival into A at t — with the same id as the first (id = imsi, kind, level,
    // area, at), but a different `from` and source. Documented edge case of the spec.
    let ms = run(vec![
        sig(7, 1, K::Attach, "001-01", ""),
        sig(7, 2, K::LocationUpdate, "001-03", ""),
        sig(7, 3, K::LocationUpdate, "001-01", ""),
    ]);
    let into_a: Vec<&Moment> = ms
        .iter()
        .filter(|m| m.kind == Arrival && m.area == net("001-01"))
        .collect();
    assert_eq!(into_a.len(), 2);
    assert_eq!(into_a[0].id, into_a[1].id);
    assert_ne!(into_a[0].from, into_a[1].from);
}

//! Property: for random signal sequences (several IMSIs, every kind, colliding times spread
//! over more than a day, a small set of areas, out-of-order batches), both presence
//! operators run on 1 and 2 timely workers yield exactly the moments of the sequential
//! reference implementation: the history operator for any disorder, the bounded one for
//! disorder within its lateness — and, beyond it, the reference's moments of the signals
//! that were not late, with every late signal counted.

mod common;

use landfall_dataflows::{
    batch_of, reference_moments, run_moments, run_moments_with, run_newly_where, Engine, Feed,
    Rules, RunConfig, HOUR_US,
};
use landfall_model::{Country, Imsi, Plmn, Proto, Provenance, Signal, SignalKind};
use landfall_testkit::feed;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::sync::Arc;

const IMSIS: [&str; 3] = ["001020000000064", "001010000000001", "208100000000002"];

const KINDS: [SignalKind; 10] = [
    SignalKind::Attach,
    SignalKind::LocationUpdate,
    SignalKind::CellChange,
    SignalKind::SessionStart,
    SignalKind::SessionEnd,
    SignalKind::Detach,
    SignalKind::Cancel,
    SignalKind::Purge,
    SignalKind::Auth,
    SignalKind::Rejected,
];

/// Serving PLMN and the country it belongs to.
const AREAS: [(&str, &str); 5] = [
    ("001-01", "001"),
    ("001-02", "001"),
    ("208-01", "FR"),
    ("208-10", "FR"),
    ("262-01", "DE"),
];

fn home_of(imsi: usize) -> (Plmn, Country) {
    match imsi {
        0 => (Plmn::new(1, 2, 2), Country::new("001").unwrap()),
        1 => (Plmn::new(1, 1, 2), Country::new("001").unwrap()),
        _ => (Plmn::new(208, 10, 2), Country::new("FR").unwrap()),
    }
}

prop_compose! {
    fn signal()(
        imsi in 0..IMSIS.len(),
        // Location kinds are weighted up so that subscribers actually move.
        kind in prop_oneof![4 => 0..4usize, 3 => 4..10usize],
        area in 0..AREAS.len(),
        // 0: PLMN and country, 1: PLMN only, 2: country only (MAP), 3: neither.
        shape in prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        // Half-hour slots over 30 h plus a little jitter: many equal and near-equal times.
        slot in 0i64..60,
        jitter in prop_oneof![3 => Just(0i64), 1 => 0i64..3],
        frame in 0u64..8,
        home_known in prop::bool::weighted(0.9),
        rat in prop::option::of(prop_oneof![Just(1004u32), Just(1000u32)]),
    ) -> Signal {
        let (plmn, country) = AREAS[area];
        let (home, home_country) = home_of(imsi);
        Signal {
            at: 1_700_000_000_000_000 + slot * HOUR_US / 2 + jitter,
            imsi: Imsi::parse(IMSIS[imsi]).unwrap(),
            msisdn: None,
            kind: KINDS[kind],
            home: Some(home),
            home_country: home_known.then_some(home_country),
            serving: (shape <= 1).then(|| Plmn::parse(plmn).unwrap()),
            serving_country: (shape == 0 || shape == 2).then(|| Country::new(country).unwrap()),
            location: None,
            rat,
            source: Provenance { file: 0, frame, proto: Proto::Diameter, message: 316 },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn dataflow_equals_reference(
        signals in prop::collection::vec(signal(), 0..48),
        batch_us in prop_oneof![Just(HOUR_US / 6), Just(HOUR_US), Just(7 * HOUR_US)],
        short_gap in any::<bool>(),
        seed in any::<u64>(),
        max_delay_batches in 0u64..5,
    ) {
        let cfg = Rules {
            reentry_gap_us: if short_gap { 3 * HOUR_US } else { 12 * HOUR_US },
            ..Rules::default()
        };
        let expected = reference_moments(&signals, &cfg);
        let shared = Arc::new(signals);

        let one = run_moments(Arc::clone(&shared), 1, batch_us, cfg);
        prop_assert_eq!(&one, &expected, "1 worker, in order");

        let schedule = feed::shuffled(shared.len(), seed, max_delay_batches);
        let feed = Feed::Scheduled(Arc::clone(&schedule));
        let history = RunConfig { workers: 2, batch_us, feed, engine: Engine::History, lateness_batches: 0, rules: cfg };
        let (two, _) = run_moments_with(Arc::clone(&shared), history.clone());
        prop_assert_eq!(&two, &expected, "history, 2 workers, out of order");

        let bounded = RunConfig { engine: Engine::Bounded, lateness_batches: max_delay_batches, ..history };
        let (two, report) = run_moments_with(Arc::clone(&shared), bounded.clone());
        prop_assert_eq!(report.late, 0);
        prop_assert_eq!(&two, &expected, "bounded, 2 workers, disorder within lateness");

        // Less lateness than disorder: late signals are counted and left out.
        let tight = RunConfig { lateness_batches: max_delay_batches / 2, ..bounded };
        let late = feed::late_indices(&schedule, tight.lateness_batches);
        let kept: Vec<Signal> = shared
            .iter()
            .enumerate()
            .filter(|(i, _)| !late.contains(i))
            .map(|(_, s)| *s)
            .collect();
        let (got, report) = run_moments_with(Arc::clone(&shared), tight.with_rules(cfg));
        prop_assert_eq!(report.late, late.len() as u64);
        prop_assert_eq!(&got, &reference_moments(&kept, &cfg), "bounded, beyond lateness");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The view, accumulated up to every batch, equals its batch recomputation; entries
    /// leave by departure or expiry, and the updates are never future-dated.
    #[test]
    fn newly_where_equals_recomputation(
        signals in prop::collection::vec(signal(), 0..40),
        batch_us in prop_oneof![Just(HOUR_US / 6), Just(HOUR_US)],
        ttl_h in 1i64..4,
        workers in 1usize..3,
    ) {
        let cfg = Rules { ttl_us: ttl_h * HOUR_US, ..Rules::default() };
        let moments = reference_moments(&signals, &cfg);
        let min_at = signals.iter().map(|s| s.at).min().unwrap_or(0);
        let shared = Arc::new(signals);
        let opts = RunConfig::in_order(workers, batch_us);
        let (updates, _) = run_newly_where(Arc::clone(&shared), opts.with_rules(cfg));
        let batch = |at: i64| batch_of(at, min_at, batch_us);
        let expected = |t| common::view_at(
            &moments,
            t,
            |a| batch(a.at),
            |a| batch(a.at.saturating_add(cfg.ttl_us)),
            |d| batch(d.at),
        );
        common::check_view(&updates, expected).map_err(TestCaseError::fail)?;
    }
}

/// A fixed larger case so the comparison is not dominated by tiny inputs.
#[test]
fn larger_sequence_equals_reference() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let signals = prop::collection::vec(signal(), 400..401)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let cfg = Rules::default();
    let expected = reference_moments(&signals, &cfg);
    assert!(
        expected.len() > 20,
        "scenario too quiet: {}",
        expected.len()
    );
    let shared = Arc::new(signals);
    assert_eq!(run_moments(Arc::clone(&shared), 2, HOUR_US, cfg), expected);
    for (engine, lateness_batches) in [(Engine::History, 0), (Engine::Bounded, 8)] {
        let opts = RunConfig {
            workers: 2,
            batch_us: HOUR_US / 4,
            feed: Feed::Scheduled(feed::shuffled(shared.len(), 42, 8)),
            engine,
            lateness_batches,
            rules: Default::default(),
        };
        assert_eq!(
            run_moments_with(Arc::clone(&shared), opts.with_rules(cfg)).0,
            expected
        );
    }
}

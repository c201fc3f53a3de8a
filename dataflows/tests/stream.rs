//! Property: the streaming runner, fed signals out of order within the watermark in chunks
//! of any size, on 1 or 2 workers and with batches of any width, hands out exactly the
//! moments of the sequential references (country, network and zone levels, subscribers
//! forgotten after a horizon of silence or never), each batch once, in order, every moment
//! before the `upto` of its batch; and a run snapshotted at any watermark and restored
//! into a fresh run (on another number of workers) gives with it the uninterrupted moments,
//! with zones and a minimum dwell too (stays waiting for their dwell at the cut).

use std::time::Duration;

use landfall_dataflows::stream::{batch_at, start, start_from, RegistryEdit, StreamConfig};
use landfall_dataflows::zones::{CellKey, Shape, Zone};
use landfall_dataflows::StreamSnapshot;
use landfall_dataflows::{
    reference_moments, reference_zone_moments, sort_moments, Moment, Rules, Topology, ZoneId,
    ZoneKey, HOUR_US,
};
use landfall_model::partner::{Consent, Direction, Match, PartnerId, Purpose, Subscription};
use landfall_model::{Country, Imsi, Location, Plmn, Proto, Provenance, Signal, SignalKind};
use landfall_model::{Level, MomentKind};
use proptest::prelude::*;

const SUBSCRIBERS: [&str; 4] = [
    "208010000000001",
    "262010000000002",
    "214070000000003",
    "208010000000004",
];
const START: i64 = 1_750_000_000_000_000;
const MINUTE: i64 = 60_000_000;

fn home() -> Plmn {
    Plmn::new(208, 1, 2)
}

fn visited() -> Plmn {
    Plmn::new(262, 1, 2)
}

/// Three zones: cells 0–1, TAC 1, cells 2–4 (keys only: no catalog needed).
fn zones() -> Vec<Zone> {
    let cells = |ecis: &[u32]| {
        Shape::Keys(
            ecis.iter()
                .map(|&eci| ZoneKey::Cell(CellKey::Lte { plmn: home(), eci }))
                .collect(),
        )
    };
    vec![
        Zone {
            id: ZoneId::new("station").unwrap(),
            name: String::new(),
            shape: cells(&[0, 1]),
        },
        Zone {
            id: ZoneId::new("tac1").unwrap(),
            name: String::new(),
            shape: Shape::Keys(vec![ZoneKey::Tac {
                plmn: home(),
                tac: 1,
            }]),
        },
        Zone {
            id: ZoneId::new("airport").unwrap(),
            name: String::new(),
            shape: cells(&[2, 3, 4]),
        },
    ]
}

fn zones_of(s: &Signal) -> Vec<ZoneId> {
    let Some(l) = s.location else {
        return Vec::new();
    };
    let keys = ZoneKey::of_location(&l);
    let mut found: Vec<ZoneId> = zones()
        .into_iter()
        .filter(|z| matches!(&z.shape, Shape::Keys(k) if k.iter().any(|k| keys.contains(k))))
        .map(|z| z.id)
        .collect();
    found.sort();
    found
}

prop_compose! {
    fn signal()(
        who in 0..SUBSCRIBERS.len(),
        kind in prop_oneof![
            5 => Just(SignalKind::CellChange),
            2 => Just(SignalKind::LocationUpdate),
            1 => Just(SignalKind::Purge),
            1 => Just(SignalKind::Auth),
        ],
        eci in prop::option::of(0u32..6),
        tac in prop::option::of(0u16..2),
        abroad in prop::bool::weighted(0.2),
        minute in 0i64..(36 * 60),
        micros in prop_oneof![3 => Just(0i64), 1 => 0i64..2_000_000],
        frame in 0u64..16,
    ) -> Signal {
        let location = match (abroad, eci, tac) {
            (true, _, _) | (false, None, None) => None,
            (false, Some(eci), _) => Some(Location::Ecgi { plmn: home(), eci }),
            (false, None, Some(tac)) => Some(Location::Tai { plmn: home(), tac }),
        };
        Signal {
            at: START + minute * MINUTE + micros,
            imsi: Imsi::parse(SUBSCRIBERS[who]).unwrap(),
            msisdn: None,
            kind,
            home: Some(home()),
            home_country: Country::new("FR"),
            serving: Some(if abroad { visited() } else { home() }),
            serving_country: Country::new(if abroad { "DE" } else { "FR" }),
            location,
            rat: Some(1004),
            source: Provenance { file: 0, frame, proto: Proto::Diameter, message: 316 },
        }
    }
}

/// Signals in event-time order, then each moved up to `disorder` places, so that they come
/// out of order; the watermark sent after each chunk is the earliest signal still to come.
fn feed_order(mut signals: Vec<Signal>, disorder: usize, seed: u64) -> Vec<Signal> {
    signals.sort_by_key(|s| (s.at, s.source));
    let mut x = seed | 1;
    for i in 0..signals.len() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (i + (x as usize % (disorder + 1))).min(signals.len().saturating_sub(1));
        signals.swap(i, j);
    }
    signals
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn streamed_moments_equal_reference(
        signals in prop::collection::vec(signal(), 0..60),
        workers in 1usize..=2,
        batch_us in prop_oneof![Just(1_000i64), Just(1_000_000), Just(HOUR_US / 4)],
        chunk in 1usize..8,
        disorder in 0usize..5,
        seed in any::<u64>(),
        dwell in prop_oneof![Just(0i64), Just(20 * MINUTE)],
        short_gap in any::<bool>(),
        horizon in prop_oneof![Just(i64::MAX), Just(2 * HOUR_US), Just(13 * HOUR_US)],
    ) {
        let rules = Rules {
            reentry_gap_us: if short_gap { 3 * HOUR_US } else { 12 * HOUR_US },
            min_dwell_us: dwell,
            horizon_us: horizon,
            ..Rules::default()
        };
        let mut expected = reference_moments(&signals, &rules);
        expected.extend(reference_zone_moments(&signals, zones_of, &rules));
        sort_moments(&mut expected);

        let cfg = StreamConfig { rules, zones: true, ..StreamConfig::new(workers, batch_us) };
        let stream = start(&Topology::Process, cfg).unwrap();
        let (mut input, output, workers) = stream.split();
        let reader = std::thread::spawn(move || output.iter().collect::<Vec<_>>());
        input.zones(zones().into_iter().map(|z| (z, 1)).collect()).unwrap();
        let order = feed_order(signals, disorder, seed);
        for (i, part) in order.chunks(chunk).enumerate() {
            input.send(part.to_vec()).unwrap();
            let rest = &order[((i + 1) * chunk).min(order.len())..];
            let low = rest.iter().map(|s| s.at).min().unwrap_or(i64::MAX);
            input.advance(low).unwrap();
        }
        input.close();
        let report = workers.join().unwrap();
        let completed = reader.join().unwrap();

        prop_assert_eq!(report.late, 0);
        let mut upto = i64::MIN;
        let mut got: Vec<Moment> = Vec::new();
        for c in completed {
            prop_assert!(c.upto > upto, "batches handed out once, in order");
            upto = c.upto;
            for m in &c.moments {
                prop_assert!(m.at < c.upto, "a moment comes with its batch");
            }
            got.extend(c.moments);
        }
        sort_moments(&mut got);
        prop_assert_eq!(got, expected);
    }
}

fn cell_change(at: i64, imsi: &str, eci: u32) -> Signal {
    Signal {
        at,
        imsi: Imsi::parse(imsi).unwrap(),
        msisdn: None,
        kind: SignalKind::CellChange,
        home: Some(home()),
        home_country: Country::new("FR"),
        serving: Some(visited()),
        serving_country: Country::new("DE"),
        location: Some(Location::Ecgi {
            plmn: visited(),
            eci,
        }),
        rat: Some(1004),
        source: Provenance {
            file: 0,
            frame: at as u64,
            proto: Proto::Gtpv2,
            message: 34,
        },
    }
}

#[test]
fn moments_come_out_as_the_watermark_passes_without_the_input_ending() {
    let stream = start(&Topology::Process, StreamConfig::new(2, 1_000)).unwrap();
    let (mut input, output, workers) = stream.split();
    input
        .send(vec![cell_change(START, SUBSCRIBERS[0], 1)])
        .unwrap();
    input.advance(START + 1_000).unwrap();
    let mut arrivals = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while arrivals.is_empty() && std::time::Instant::now() < deadline {
        if let Ok(c) = output.recv_timeout(Duration::from_millis(100)) {
            arrivals.extend(c.moments);
        }
    }
    // Roaming-on and the country and network arrivals, with the input still open.
    assert_eq!(arrivals.len(), 3, "{arrivals:?}");
    input.close();
    workers.join().unwrap();
}

#[test]
fn a_signal_behind_the_watermark_is_late_and_left_out() {
    let stream = start(&Topology::Process, StreamConfig::new(1, 1_000)).unwrap();
    let (mut input, output, workers) = stream.split();
    input.advance(START + 10_000).unwrap();
    input
        .send(vec![
            cell_change(START, SUBSCRIBERS[0], 1),
            cell_change(START + 10_000, SUBSCRIBERS[1], 1),
        ])
        .unwrap();
    input.close();
    let report = workers.join().unwrap();
    let moments: Vec<Moment> = output.iter().flat_map(|c| c.moments).collect();
    assert_eq!(report.late, 1);
    assert_eq!(report.signals, 1);
    assert_eq!(report.late_examples.len(), 1);
    assert!(moments.iter().all(|m| m.imsi.as_str() == SUBSCRIBERS[1]));
    assert_eq!(moments.len(), 3);
}

#[test]
fn subscribers_silent_past_the_horizon_are_forgotten_and_new_again() {
    let rules = Rules {
        horizon_us: HOUR_US,
        ..Rules::default()
    };
    let stream = start(
        &Topology::Process,
        StreamConfig {
            rules,
            ..StreamConfig::new(2, 1_000_000)
        },
    )
    .unwrap();
    let tracked = stream.tracked.clone();
    let (mut input, output, workers) = stream.split();
    let reader = std::thread::spawn(move || output.iter().flat_map(|c| c.moments).collect());
    let imsi = |i: u32| format!("20801{i:010}");
    let first: Vec<Signal> = (0..500)
        .map(|i| cell_change(START + i64::from(i), &imsi(i), 1))
        .collect();
    input.send(first).unwrap();
    input.advance(START + 1_000_000).unwrap();
    let wait_for = |n: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tracked.serving() != n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        tracked.serving()
    };
    assert_eq!(wait_for(500), 500);
    // Two hours later one of them comes back: every other one is dropped, and it is new
    // again (roaming-on and both arrivals once more).
    let later = START + 2 * HOUR_US;
    input.send(vec![cell_change(later, &imsi(7), 1)]).unwrap();
    input.advance(later + 1_000_000).unwrap();
    assert_eq!(wait_for(1), 1);
    input.close();
    workers.join().unwrap();
    let moments: Vec<Moment> = reader.join().unwrap();
    assert_eq!(moments.len(), 3 * 501);
    assert_eq!(
        moments
            .iter()
            .filter(|m| m.imsi.as_str() == imsi(7))
            .count(),
        6
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Restart without floods or gaps, at the dataflow's level: the moments a run handed
    /// out for the batches before its snapshot's watermark, and those of a fresh run
    /// started from the snapshot (through its file bytes) and fed the rest, are together
    /// exactly the uninterrupted moments: none missing, none twice (no arrival announced
    /// again for a subscriber already present), on any worker counts before and after;
    /// with zones (and a minimum dwell, whose waiting stays the snapshot carries) or not.
    #[test]
    fn snapshot_then_restore_equals_uninterrupted(
        signals in prop::collection::vec(signal(), 0..60),
        before in 1usize..=3,
        after in 1usize..=3,
        batch_us in prop_oneof![Just(1_000i64), Just(1_000_000), Just(HOUR_US / 4)],
        chunk in 1usize..8,
        disorder in 0usize..5,
        seed in any::<u64>(),
        cut in 0usize..=100,
        short_gap in any::<bool>(),
        horizon in prop_oneof![Just(i64::MAX), Just(2 * HOUR_US), Just(13 * HOUR_US)],
        zoned in any::<bool>(),
        dwell in prop_oneof![Just(0i64), Just(20 * MINUTE)],
    ) {
        let rules = Rules {
            reentry_gap_us: if short_gap { 3 * HOUR_US } else { 12 * HOUR_US },
            horizon_us: horizon,
            min_dwell_us: dwell,
            ..Rules::default()
        };
        let mut expected = reference_moments(&signals, &rules);
        if zoned {
            expected.extend(reference_zone_moments(&signals, zones_of, &rules));
        }
        sort_moments(&mut expected);
        let order = feed_order(signals, disorder, seed);
        let chunks: Vec<&[Signal]> = order.chunks(chunk).collect();
        let cut = chunks.len() * cut / 100;
        // Watermark after chunk i: the earliest signal still to come.
        let low = |i: usize| {
            order[((i + 1) * chunk).min(order.len())..]
                .iter()
                .map(|s| s.at)
                .min()
                .unwrap_or(i64::MAX)
        };

        let cfg = |workers| StreamConfig {
            rules,
            snapshots: true,
            zones: zoned,
            ..StreamConfig::new(workers, batch_us)
        };
        let stream = start(&Topology::Process, cfg(before)).unwrap();
        let (mut input, output, workers) = stream.split();
        let reader = std::thread::spawn(move || output.iter().collect::<Vec<_>>());
        if zoned {
            input.zones(zones().into_iter().map(|z| (z, 1)).collect()).unwrap();
        }
        for (i, part) in chunks[..cut].iter().enumerate() {
            input.send(part.to_vec()).unwrap();
            input.advance(low(i)).unwrap();
        }
        let snapshot = input.snapshot().unwrap();
        input.close();
        prop_assert_eq!(workers.join().unwrap().late, 0);
        let boundary = batch_at(snapshot.watermark, batch_us);
        // What the first run handed out for the batches the snapshot covers (a zone
        // arrival waiting for its dwell comes in a later batch, with its stay's start as
        // `at`: it is the restored run's to give).
        let mut got: Vec<Moment> = reader
            .join()
            .unwrap()
            .into_iter()
            .filter(|c| c.upto <= boundary_start(boundary, batch_us))
            .flat_map(|c| c.moments)
            .collect();

        let snapshot = StreamSnapshot::decode(&snapshot.encode()).unwrap();
        let stream = start_from(&Topology::Process, cfg(after), Some(snapshot)).unwrap();
        let (mut input, output, workers) = stream.split();
        let reader = std::thread::spawn(move || output.iter().collect::<Vec<_>>());
        if zoned {
            input.zones(zones().into_iter().map(|z| (z, 1)).collect()).unwrap();
        }
        for (i, part) in chunks.iter().enumerate().skip(cut) {
            input.send(part.to_vec()).unwrap();
            input.advance(low(i)).unwrap();
        }
        input.close();
        prop_assert_eq!(workers.join().unwrap().late, 0);
        for c in reader.join().unwrap() {
            for m in c.moments {
                let waited = m.level == Level::Zone && m.kind == MomentKind::Arrival && dwell > 0;
                prop_assert!(
                    batch_at(m.at, batch_us) >= boundary || waited,
                    "restored run: {:?}",
                    m
                );
                got.push(m);
            }
        }
        sort_moments(&mut got);
        prop_assert_eq!(got, expected);
    }
}

/// The first event time of batch `b`.
fn boundary_start(b: u64, batch_us: i64) -> i64 {
    b as i64 * batch_us
}

fn located(at: i64, imsi: &str, eci: u32) -> Signal {
    Signal {
        serving: Some(home()),
        serving_country: Country::new("FR"),
        location: Some(Location::Ecgi { plmn: home(), eci }),
        ..cell_change(at, imsi, eci)
    }
}

/// The moments of `signals` (fed in event-time order, one at a time, the watermark at the
/// next one) with the zones of [`zones`], on `before` workers; with `cut`, the run is
/// snapshotted once the watermark is there and stopped, and a fresh run on `after`
/// workers, restored from the snapshot's bytes, is fed the rest. Returns the moments the
/// first run handed out for the batches before the cut and all of the restored run's,
/// and the snapshot.
fn zoned_run(
    signals: &[Signal],
    rules: Rules,
    batch_us: i64,
    (before, after): (usize, usize),
    cut: Option<i64>,
) -> (Vec<Moment>, Option<StreamSnapshot>) {
    let cfg = |workers| StreamConfig {
        rules,
        snapshots: true,
        zones: true,
        ..StreamConfig::new(workers, batch_us)
    };
    let mut signals = signals.to_vec();
    signals.sort_by_key(|s| (s.at, s.source));
    let split = cut.map_or(signals.len(), |w| signals.partition_point(|s| s.at < w));
    // The watermark after each signal: the next one's time, at most `upto`.
    let feed = |input: &mut landfall_dataflows::stream::StreamInput, part: &[Signal], upto| {
        for (i, s) in part.iter().enumerate() {
            input.send(vec![*s]).unwrap();
            let next = part.get(i + 1).map_or(i64::MAX, |n| n.at);
            input.advance(next.min(upto)).unwrap();
        }
    };
    let (mut input, output, workers) = start(&Topology::Process, cfg(before)).unwrap().split();
    let reader = std::thread::spawn(move || output.iter().collect::<Vec<_>>());
    input
        .zones(zones().into_iter().map(|z| (z, 1)).collect())
        .unwrap();
    feed(&mut input, &signals[..split], cut.unwrap_or(i64::MAX));
    let Some(w) = cut else {
        input.close();
        assert_eq!(workers.join().unwrap().late, 0);
        let moments = reader.join().unwrap().into_iter().flat_map(|c| c.moments);
        return (moments.collect(), None);
    };
    input.advance(w).unwrap();
    let snapshot = input.snapshot().unwrap();
    input.close();
    assert_eq!(workers.join().unwrap().late, 0);
    let covered = boundary_start(batch_at(snapshot.watermark, batch_us), batch_us);
    let mut got: Vec<Moment> = reader
        .join()
        .unwrap()
        .into_iter()
        .filter(|c| c.upto <= covered)
        .flat_map(|c| c.moments)
        .collect();

    let restored = StreamSnapshot::decode(&snapshot.encode()).unwrap();
    let (mut input, output, workers) = start_from(&Topology::Process, cfg(after), Some(restored))
        .unwrap()
        .split();
    let reader = std::thread::spawn(move || output.iter().collect::<Vec<_>>());
    input
        .zones(zones().into_iter().map(|z| (z, 1)).collect())
        .unwrap();
    feed(&mut input, &signals[split..], i64::MAX);
    input.close();
    assert_eq!(workers.join().unwrap().late, 0);
    got.extend(reader.join().unwrap().into_iter().flat_map(|c| c.moments));
    (got, Some(snapshot))
}

/// Zones with a minimum dwell of 20 minutes, snapshotted every 3 minutes of event time
/// (from before the first signal to after the last) and restored on another number of
/// workers: every cut gives the uninterrupted moments, which are the reference's. Among
/// the cuts, some fall while a stay waits for its dwell (the snapshot holds it, and only
/// the dwell timer set again on restore can give its arrival: the subscriber is silent
/// after it), some while a subscriber is in a zone (a restore without its zone state
/// would announce it again) and some within the re-entry gap of a zone just left.
#[test]
fn zone_snapshot_then_restore_equals_uninterrupted_at_every_cut() {
    let rules = Rules {
        min_dwell_us: 20 * MINUTE,
        reentry_gap_us: HOUR_US,
        ..Rules::default()
    };
    let (a, b, c) = (SUBSCRIBERS[0], SUBSCRIBERS[1], SUBSCRIBERS[2]);
    let m = |n: i64| START + n * MINUTE;
    let signals = vec![
        // A: in the station, a signal there later, to the airport, out of every zone,
        // back into the airport within the gap (no second arrival).
        located(m(0), a, 0),
        located(m(5), a, 1),
        located(m(30), a, 2),
        located(m(60), a, 5),
        located(m(70), a, 3),
        located(m(95), a, 3),
        // B: into the airport, a short bounce to the station (too short to dwell), back
        // to the airport, then silent: its arrival comes from the dwell timer alone.
        located(m(10), b, 2),
        located(m(12), b, 0),
        located(m(14), b, 3),
        // C: roaming in and out of the station's cells, dwelling once.
        cell_change(m(3), c, 1),
        located(m(20), c, 1),
        located(m(50), c, 4),
        located(m(100), c, 0),
    ];
    let mut expected = reference_moments(&signals, &rules);
    expected.extend(reference_zone_moments(&signals, zones_of, &rules));
    sort_moments(&mut expected);
    let airport = ZoneId::new("airport").unwrap();
    let b_arrival = expected
        .iter()
        .find(|x| x.imsi.as_str() == b && x.area == landfall_dataflows::Area::Zone(airport));
    assert_eq!(b_arrival.map(|x| x.at), Some(m(14)), "{expected:#?}");

    for batch_us in [MINUTE, 1_000_000] {
        let (mut whole, _) = zoned_run(&signals, rules, batch_us, (2, 2), None);
        sort_moments(&mut whole);
        assert_eq!(whole, expected, "uninterrupted, batches of {batch_us} µs");
        let mut waiting_cuts = 0;
        for (i, cut) in (-1..=36).map(|k| m(3 * k)).enumerate() {
            let workers = if i % 2 == 0 { (1, 2) } else { (2, 1) };
            let (mut got, snapshot) = zoned_run(&signals, rules, batch_us, workers, Some(cut));
            let snapshot = snapshot.unwrap();
            if snapshot
                .zones
                .iter()
                .any(|(_, z)| z.waiting().next().is_some())
            {
                waiting_cuts += 1;
            }
            sort_moments(&mut got);
            assert_eq!(
                got,
                expected,
                "cut at minute {} ({workers:?} workers, batches of {batch_us} µs)",
                (cut - START) / MINUTE
            );
        }
        assert!(waiting_cuts >= 5, "{waiting_cuts} cuts with a stay waiting");
    }
}

/// Collect what comes out until `done` holds of it (or 20 s pass).
fn matches_until(
    output: &std::sync::mpsc::Receiver<landfall_dataflows::stream::Completed>,
    got: &mut Vec<(Match, isize)>,
    done: impl Fn(&[(Match, isize)]) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done(got) && std::time::Instant::now() < deadline {
        if let Ok(c) = output.recv_timeout(Duration::from_millis(100)) {
            got.extend(c.matches);
        }
    }
}

#[test]
fn partner_matches_follow_subscriptions_and_consent_while_the_stream_runs() {
    let cfg = StreamConfig {
        partners: Country::new("FR"),
        ..StreamConfig::new(2, 1_000)
    };
    let (mut input, output, workers) = start(&Topology::Process, cfg).unwrap().split();
    let subscription = Subscription {
        id: 7,
        partner: PartnerId(1),
        purpose: Purpose(1),
        types: vec![MomentKind::Arrival],
        levels: vec![Level::Country],
        device: None,
        areas: vec![],
        home_countries: vec![],
        home_networks: vec![],
        direction: Direction::Outbound,
        rats: vec![],
        expires_at: None,
        max_events: None,
        frequency_cap_us: None,
    };
    let consent = |imsi: &str| Consent {
        imsi: Imsi::parse(imsi).unwrap(),
        partner: PartnerId(1),
        purpose: Purpose(1),
    };
    input
        .registry(vec![
            (RegistryEdit::Subscription(Box::new(subscription)), 1),
            (RegistryEdit::Consent(consent(SUBSCRIBERS[0])), 1),
        ])
        .unwrap();
    input
        .send(vec![
            cell_change(START, SUBSCRIBERS[0], 1),
            cell_change(START, SUBSCRIBERS[3], 1),
        ])
        .unwrap();
    input.advance(START + 1_000).unwrap();
    let mut got = Vec::new();
    matches_until(&output, &mut got, |g| !g.is_empty());
    // The consenting subscriber's country arrival only (not the network arrival, not
    // roaming-on, not the other subscriber's).
    assert_eq!(got.len(), 1, "{got:?}");
    let (m, diff) = got[0];
    assert_eq!((m.subscription, diff), (7, 1));
    assert_eq!(m.moment.imsi.as_str(), SUBSCRIBERS[0]);
    assert_eq!(
        (m.moment.kind, m.moment.level),
        (MomentKind::Arrival, Level::Country)
    );

    // Consent withdrawn while the moment is live: the match is retracted.
    input
        .registry(vec![(RegistryEdit::Consent(consent(SUBSCRIBERS[0])), -1)])
        .unwrap();
    input.advance(START + 2_000).unwrap();
    matches_until(&output, &mut got, |g| g.len() > 1);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], (m, -1));
    input.close();
    workers.join().unwrap();
    assert!(output.iter().all(|c| c.matches.is_empty()));
}

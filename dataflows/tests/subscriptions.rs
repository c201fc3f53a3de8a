//! Property: subscriptions, consent and opt-outs changing mid-stream — the partner
//! matches, accumulated up to every time, equal a recomputation from scratch of what holds
//! at that time (moment live, subscription present and accepting it, consent present, no
//! opt-out), with 1 and 2 workers. Also the k-suppressed aggregates.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use differential_dataflow::input::Input;
use landfall_dataflows::{
    aggregates, live_moments, matches, partner_matches, with_consent, AggregateKey, Area, Consent,
    Direction, Level, Match, Moment, MomentId, MomentKind, PartnerId, Purpose, Subscription,
};
use landfall_parsers::{Country, Imsi, Plmn, Proto, Provenance};
use proptest::prelude::*;

const IMSIS: [&str; 3] = ["208010000000001", "262010000000002", "214070000000003"];
const AREAS: [&str; 3] = ["FR", "DE", "ES"];
const LAST: u64 = 24;

fn country(i: usize) -> Country {
    Country::new(AREAS[i]).unwrap()
}

fn moment(imsi: usize, area: usize, kind: MomentKind, at: u64, ttl: u64) -> Moment {
    let imsi_v = Imsi::parse(IMSIS[imsi]).unwrap();
    let a = Area::Country(country(area));
    let at = at as i64;
    Moment {
        id: MomentId::derive(&imsi_v, kind, Level::Country, &a, at),
        kind,
        level: Level::Country,
        area: a,
        from: None,
        to: None,
        imsi: imsi_v,
        msisdn: None,
        home: Some(Plmn::new([208, 262, 214][imsi], [1, 1, 7][imsi], 2)),
        home_country: Some(country(imsi)),
        rat: Some(1004),
        at,
        expires_at: at + ttl as i64,
        source: Provenance {
            file: 0,
            frame: at as u64,
            proto: Proto::Diameter,
            message: 316,
        },
    }
}

fn subscription(
    id: u64,
    partner: u32,
    areas: Vec<usize>,
    inbound: bool,
    arrivals_only: bool,
) -> Subscription {
    Subscription {
        id,
        partner: PartnerId(partner),
        purpose: Purpose(1),
        types: if arrivals_only {
            vec![MomentKind::Arrival]
        } else {
            vec![]
        },
        areas: areas
            .into_iter()
            .map(|a| Area::Country(country(a)))
            .collect(),
        home_countries: vec![],
        home_networks: vec![],
        direction: if inbound {
            Direction::Inbound
        } else {
            Direction::Any
        },
        rats: vec![],
        expires_at: if id.is_multiple_of(3) { Some(12) } else { None },
    }
}

/// An input change: (time, what, +1/-1).
#[derive(Clone, Debug)]
enum Change {
    Moment(Moment),
    Sub(Subscription, isize),
    Consent(Consent, isize),
    OptOut(Imsi, isize),
}

fn changes() -> impl Strategy<Value = Vec<(u64, Change)>> {
    let m = (0..3usize, 0..3usize, prop::bool::ANY, 0..LAST, 1..6u64).prop_map(
        |(i, a, arr, t, ttl)| {
            let kind = if arr {
                MomentKind::Arrival
            } else {
                MomentKind::Departure
            };
            (t, Change::Moment(moment(i, a, kind, t, ttl)))
        },
    );
    let s = (
        0..4u64,
        0..2u32,
        prop::collection::vec(0..3usize, 0..2),
        prop::bool::ANY,
        prop::bool::ANY,
        0..LAST,
        prop::option::of(1..LAST),
    )
        .prop_map(|(id, p, areas, inb, arr, t, until)| {
            let sub = subscription(id, p, areas, inb, arr);
            let mut v = vec![(t, Change::Sub(sub.clone(), 1))];
            if let Some(u) = until {
                v.push(((t + u).min(LAST), Change::Sub(sub, -1)));
            }
            v
        });
    let c =
        (0..3usize, 0..2u32, 0..LAST, prop::option::of(1..LAST)).prop_map(|(i, p, t, until)| {
            let c = Consent {
                imsi: Imsi::parse(IMSIS[i]).unwrap(),
                partner: PartnerId(p),
                purpose: Purpose(1),
            };
            let mut v = vec![(t, Change::Consent(c, 1))];
            if let Some(u) = until {
                v.push(((t + u).min(LAST), Change::Consent(c, -1)));
            }
            v
        });
    let o = (0..3usize, 0..LAST)
        .prop_map(|(i, t)| vec![(t, Change::OptOut(Imsi::parse(IMSIS[i]).unwrap(), 1))]);
    (
        prop::collection::vec(m, 0..30),
        prop::collection::vec(s, 0..5),
        prop::collection::vec(c, 0..6),
        prop::collection::vec(o, 0..2),
    )
        .prop_map(|(m, s, c, o)| {
            let mut all = m;
            all.extend(s.into_iter().flatten());
            all.extend(c.into_iter().flatten());
            all.extend(o.into_iter().flatten());
            all.sort_by_key(|(t, _)| *t);
            all
        })
}

const FR: &str = "FR";

/// Run the dataflow; returns every match update and every aggregate update.
#[allow(clippy::type_complexity)]
fn run(
    changes: Vec<(u64, Change)>,
    workers: usize,
) -> (
    Vec<(Match, u64, isize)>,
    Vec<((AggregateKey, isize), u64, isize)>,
) {
    let out = Arc::new(Mutex::new((Vec::new(), Vec::new(), Vec::new())));
    let sink = Arc::clone(&out);
    timely::execute(timely::Config::process(workers), move |worker| {
        let sink = Arc::clone(&sink);
        let sink2 = Arc::clone(&sink);
        let (mut mi, mut si, mut ci, mut oi, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (mi, moments) = scope.new_collection::<Moment, isize>();
            let (si, subs) = scope.new_collection::<Subscription, isize>();
            let (ci, consent) = scope.new_collection::<Consent, isize>();
            let (oi, opt_out) = scope.new_collection::<Imsi, isize>();
            let live = live_moments(moments.clone(), |_t, expires_at| expires_at as u64);
            let operator = Country::new(FR).unwrap();
            // The two formulations must agree: their difference is empty.
            let reference = with_consent(
                matches(live.clone(), subs.clone(), operator),
                consent.clone(),
                opt_out.clone(),
            );
            let fast = partner_matches(live, subs, consent, opt_out, operator);
            let sink3 = Arc::clone(&sink);
            fast.clone()
                .concat(reference.negate())
                .consolidate()
                .inspect(move |(m, t, d)| sink3.lock().unwrap().2.push((*m, *t, *d)));
            let (probe, _) = fast
                .inspect(move |(m, t, d)| sink.lock().unwrap().0.push((*m, *t, *d)))
                .probe();
            aggregates(moments, 10, 2)
                .inspect(move |(x, t, d)| sink2.lock().unwrap().1.push((*x, *t, *d)));
            (mi, si, ci, oi, probe)
        });
        if worker.index() == 0 {
            for (t, c) in &changes {
                match c {
                    Change::Moment(m) => mi.update_at(*m, *t, 1),
                    Change::Sub(s, d) => si.update_at(s.clone(), *t, *d),
                    Change::Consent(c, d) => ci.update_at(*c, *t, *d),
                    Change::OptOut(i, d) => oi.update_at(*i, *t, *d),
                }
            }
        }
        for t in 1..=LAST + 8 {
            mi.advance_to(t);
            si.advance_to(t);
            ci.advance_to(t);
            oi.advance_to(t);
            mi.flush();
            si.flush();
            ci.flush();
            oi.flush();
            worker.step_while(|| probe.less_than(mi.time()));
        }
    })
    .unwrap();
    let (matches, aggs, difference) = std::mem::take(&mut *out.lock().unwrap());
    assert!(
        difference.is_empty(),
        "partner_matches differs from with_consent(matches): {difference:?}"
    );
    (matches, aggs)
}

/// What must hold at time `t`, from scratch.
fn expected(changes: &[(u64, Change)], t: u64) -> BTreeMap<Match, isize> {
    let mut subs: BTreeMap<Subscription, isize> = BTreeMap::new();
    let mut consent: BTreeMap<Consent, isize> = BTreeMap::new();
    let mut opted: BTreeMap<Imsi, isize> = BTreeMap::new();
    let mut moments = Vec::new();
    for (ct, c) in changes.iter().filter(|(ct, _)| *ct <= t) {
        match c {
            Change::Moment(m) => {
                if (m.expires_at as u64).max(*ct) > t {
                    moments.push(*m);
                }
            }
            Change::Sub(s, d) => *subs.entry(s.clone()).or_insert(0) += d,
            Change::Consent(c, d) => *consent.entry(*c).or_insert(0) += d,
            Change::OptOut(i, d) => *opted.entry(*i).or_insert(0) += d,
        }
    }
    let operator = Country::new(FR).unwrap();
    let mut out = BTreeMap::new();
    for m in &moments {
        if opted.get(&m.imsi).copied().unwrap_or(0) > 0 {
            continue;
        }
        for (s, n) in &subs {
            if *n <= 0
                || !(s.areas.is_empty() || s.areas.contains(&m.area))
                || !s.accepts(m, operator)
            {
                continue;
            }
            let c = Consent {
                imsi: m.imsi,
                partner: s.partner,
                purpose: s.purpose,
            };
            if consent.get(&c).copied().unwrap_or(0) <= 0 {
                continue;
            }
            let key = Match {
                partner: s.partner,
                subscription: s.id,
                purpose: s.purpose,
                moment: *m,
            };
            *out.entry(key).or_insert(0) += n * if s.areas.is_empty() {
                1
            } else {
                s.areas.iter().filter(|a| **a == m.area).count() as isize
            };
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn matches_follow_subscriptions_and_consent(changes in changes(), workers in 1usize..3) {
        let (updates, aggs) = run(changes.clone(), workers);
        for t in 0..=LAST + 7 {
            let mut got: BTreeMap<Match, isize> = BTreeMap::new();
            for (m, ut, d) in &updates {
                if *ut <= t {
                    *got.entry(*m).or_insert(0) += d;
                }
            }
            got.retain(|_, n| *n != 0);
            prop_assert_eq!(&got, &expected(&changes, t), "time {}", t);
        }
        // Aggregates: arrivals per (area, home, 10-unit interval), only counts >= 2.
        let mut want: BTreeMap<AggregateKey, isize> = BTreeMap::new();
        for (_, c) in &changes {
            if let Change::Moment(m) = c {
                if m.kind == MomentKind::Arrival {
                    *want.entry((m.area, m.home_country, m.at.div_euclid(10))).or_insert(0) += 1;
                }
            }
        }
        want.retain(|_, n| *n >= 2);
        let mut got: BTreeMap<(AggregateKey, isize), isize> = BTreeMap::new();
        for (x, _, d) in &aggs {
            *got.entry(*x).or_insert(0) += d;
        }
        got.retain(|_, n| *n != 0);
        let got: BTreeMap<_, _> = got.into_keys().collect();
        prop_assert_eq!(got, want);
    }
}

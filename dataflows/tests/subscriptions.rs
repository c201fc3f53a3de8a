//! Property: moments (late, early, revised), subscriptions, consent and opt-outs changing
//! mid-stream — the partner matches, accumulated up to every time, equal a recomputation
//! from scratch of what holds at that time (moment live, subscription present and
//! accepting it, consent and no opt-out both at the moment's time and now, within the
//! subscription's max events and frequency cap decided in order of first appearance),
//! with 1 and 2 workers. Also the k-suppressed aggregates.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use differential_dataflow::input::Input;
use landfall_dataflows::{
    aggregates, live_moments, matches, partner_matches, with_consent, AggregateKey, Area, Consent,
    Direction, Level, Match, Moment, MomentId, MomentKind, PartnerId, Purpose, Subscription,
};
use landfall_model::{Country, Imsi, Plmn, Proto, Provenance};
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
        levels: vec![],
        device: None,
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
        max_events: budget(id).0,
        frequency_cap_us: budget(id).1,
    }
}

/// Subscription 2 delivers at most 2 moments, 3 at most one per subscriber per 4 µs.
fn budget(id: u64) -> (Option<u32>, Option<i64>) {
    match id {
        2 => (Some(2), None),
        3 => (None, Some(4)),
        _ => (None, None),
    }
}

/// An input change: (time, what, +1/-1).
#[derive(Clone, Debug)]
enum Change {
    Moment(Moment, isize),
    Sub(Subscription, isize),
    Consent(Consent, isize),
    OptOut(Imsi, isize),
}

fn changes() -> impl Strategy<Value = Vec<(u64, Change)>> {
    // A moment, fed up to 1 before or 2 after its own time, perhaps revised away later.
    let m = (
        0..3usize,
        0..3usize,
        prop::bool::ANY,
        0..LAST,
        0..4u64,
        prop::option::of(1..8u64),
    )
        .prop_map(|(i, a, arr, at, shift, revised)| {
            let kind = if arr {
                MomentKind::Arrival
            } else {
                MomentKind::Departure
            };
            // The TTL a function of what the id covers, so equal ids mean equal moments.
            let ttl = 1 + (at * 5 + i as u64 * 3 + a as u64 + u64::from(arr)) % 7;
            let m = moment(i, a, kind, at, ttl);
            let fed = (at + shift).saturating_sub(1).min(LAST - 1);
            let mut v = vec![(fed, Change::Moment(m, 1))];
            if let Some(r) = revised {
                v.push(((fed + r).min(LAST), Change::Moment(m, -1)));
            }
            v
        });
    let s = (
        0..4u64,
        0..2u32,
        prop::collection::vec(0..3usize, 0..2),
        prop::bool::ANY,
        prop::bool::ANY,
        0..LAST,
        prop::option::of(1..LAST),
        prop::option::of(0..3usize),
        0..3usize,
    )
        .prop_map(|(id, p, areas, inb, arr, t, until, device, level)| {
            // Device subscriptions (one subscriber) mixed with area-wide ones, some of
            // either narrowed by level (the moments are all country-level).
            let sub = Subscription {
                device: device.map(|i| Imsi::parse(IMSIS[i]).unwrap()),
                levels: [vec![], vec![Level::Country], vec![Level::Network]][level].clone(),
                ..subscription(id, p, areas, inb, arr)
            };
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
        prop::collection::vec(m, 0..24),
        prop::collection::vec(s, 0..8),
        prop::collection::vec(c, 0..6),
        prop::collection::vec(o, 0..2),
    )
        .prop_map(|(m, s, c, o)| {
            let mut all: Vec<_> = m.into_iter().flatten().collect();
            all.extend(s.into_iter().flatten());
            all.extend(c.into_iter().flatten());
            all.extend(o.into_iter().flatten());
            all.sort_by_key(|(t, _)| *t);
            all
        })
}

const FR: &str = "FR";

/// Every update of: the partner matches, the aggregates, the join formulation
/// `with_consent(matches(live_moments(..)))`.
type Outputs = (
    Vec<(Match, u64, isize)>,
    Vec<((AggregateKey, isize), u64, isize)>,
    Vec<(Match, u64, isize)>,
);

/// Run the dataflow.
fn run(changes: Vec<(u64, Change)>, workers: usize) -> Outputs {
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
            let operator = Country::new(FR).unwrap();
            let sink3 = Arc::clone(&sink);
            with_consent(
                matches(
                    live_moments(moments.clone(), |_t, expires_at| expires_at as u64),
                    subs.clone(),
                    operator,
                ),
                consent.clone(),
                opt_out.clone(),
            )
            .inspect(move |(m, t, d)| sink3.lock().unwrap().2.push((*m, *t, *d)));
            let (probe, _) =
                partner_matches(moments.clone(), subs, consent, opt_out, operator, |at| {
                    at as u64
                })
                .inspect(move |(m, t, d)| sink.lock().unwrap().0.push((*m, *t, *d)))
                .probe();
            aggregates(moments, 10, 2)
                .inspect(move |(x, t, d)| sink2.lock().unwrap().1.push((*x, *t, *d)));
            (mi, si, ci, oi, probe)
        });
        if worker.index() == 0 {
            for (t, c) in &changes {
                match c {
                    Change::Moment(m, d) => mi.update_at(*m, *t, *d),
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
    let taken = std::mem::take(&mut *out.lock().unwrap());
    taken
}

/// Sum of the updates of `what` up to `x`.
fn count<K: PartialEq>(
    changes: &[(u64, Change)],
    x: u64,
    what: impl Fn(&Change) -> Option<(K, isize)>,
    key: &K,
) -> isize {
    changes
        .iter()
        .filter(|(ct, _)| *ct <= x)
        .filter_map(|(_, c)| what(c))
        .filter(|(k, _)| k == key)
        .map(|(_, d)| d)
        .sum()
}

/// Consent to (partner, purpose) and no opt-out at `x`.
fn allowed(changes: &[(u64, Change)], c: Consent, x: u64) -> bool {
    let consent = |ch: &Change| match ch {
        Change::Consent(c, d) => Some((*c, *d)),
        _ => None,
    };
    let opt_out = |ch: &Change| match ch {
        Change::OptOut(i, d) => Some((*i, *d)),
        _ => None,
    };
    count(changes, x, consent, &c) > 0 && count(changes, x, opt_out, &c.imsi) <= 0
}

/// Matches at `t` before budgets, from scratch.
fn unbudgeted(changes: &[(u64, Change)], t: u64) -> BTreeMap<Match, isize> {
    let mut live: BTreeMap<Moment, isize> = BTreeMap::new();
    let mut subs: BTreeMap<Subscription, isize> = BTreeMap::new();
    for (ct, c) in changes {
        match c {
            // Applied no earlier than its own time, live until it expires.
            Change::Moment(m, d) if (*ct).max(m.at as u64) <= t && t < m.expires_at as u64 => {
                *live.entry(*m).or_insert(0) += d
            }
            Change::Sub(s, d) if *ct <= t => *subs.entry(s.clone()).or_insert(0) += d,
            _ => {}
        }
    }
    let operator = Country::new(FR).unwrap();
    let mut out = BTreeMap::new();
    for (m, n) in live.iter().filter(|(_, n)| **n != 0) {
        for s in subs.iter().filter(|(_, n)| **n > 0).map(|(s, _)| s) {
            let c = Consent {
                imsi: m.imsi,
                partner: s.partner,
                purpose: s.purpose,
            };
            if (s.areas.is_empty() || s.areas.contains(&m.area))
                && s.accepts(m, operator)
                && allowed(changes, c, m.at as u64)
                && allowed(changes, c, t)
            {
                *out.entry(s.offer(m, operator).unwrap()).or_insert(0) += n;
            }
        }
    }
    out.retain(|_, n| *n != 0);
    out
}

/// What the join formulation holds at `t`: moments live from their dataflow time until
/// `expires_at` (or that time), consent as of `t` only, one match per subscription area.
fn consent_now_only(changes: &[(u64, Change)], t: u64) -> BTreeMap<Match, isize> {
    let mut live: BTreeMap<Moment, isize> = BTreeMap::new();
    let mut subs: BTreeMap<Subscription, isize> = BTreeMap::new();
    for (ct, c) in changes.iter().filter(|(ct, _)| *ct <= t) {
        match c {
            Change::Moment(m, d) if (m.expires_at as u64).max(*ct) > t => {
                *live.entry(*m).or_insert(0) += d
            }
            Change::Sub(s, d) => *subs.entry(s.clone()).or_insert(0) += d,
            _ => {}
        }
    }
    let operator = Country::new(FR).unwrap();
    let mut out = BTreeMap::new();
    for (m, k) in &live {
        for (s, n) in &subs {
            let c = Consent {
                imsi: m.imsi,
                partner: s.partner,
                purpose: s.purpose,
            };
            if *n > 0 && s.accepts(m, operator) && allowed(changes, c, t) {
                let areas = if s.areas.is_empty() {
                    1
                } else {
                    s.areas.iter().filter(|a| **a == m.area).count() as isize
                };
                *out.entry(s.offer(m, operator).unwrap()).or_insert(0) += k * n * areas;
            }
        }
    }
    out.retain(|_, n| *n != 0);
    out
}

/// What must hold at every time `0..=last`: each match decided against its
/// subscription's budget when it first appears, in `(at, id)` order, once per moment id.
fn expected(changes: &[(u64, Change)], last: u64) -> Vec<BTreeMap<Match, isize>> {
    let mut decided: BTreeMap<(u64, PartnerId, Purpose, MomentId), bool> = BTreeMap::new();
    let key = |m: &Match| (m.subscription, m.partner, m.purpose, m.moment.id);
    let mut delivered: BTreeMap<u64, u32> = BTreeMap::new();
    let mut times: BTreeMap<(u64, Imsi), Vec<i64>> = BTreeMap::new();
    (0..=last)
        .map(|t| {
            let mut now = unbudgeted(changes, t);
            let mut new: Vec<Match> = now
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(m, _)| *m)
                .collect();
            new.sort_by_key(|m| (m.moment.at, m.moment.id, *m));
            for m in new {
                if decided.contains_key(&key(&m)) {
                    continue;
                }
                let (max, cap) = budget(m.subscription);
                let n = delivered.entry(m.subscription).or_insert(0);
                let ts = times.entry((m.subscription, m.moment.imsi)).or_default();
                let pass = max.is_none_or(|max| *n < max)
                    && cap.is_none_or(|cap| ts.iter().all(|at| (at - m.moment.at).abs() >= cap));
                if pass {
                    *n += 1;
                    ts.push(m.moment.at);
                }
                decided.insert(key(&m), pass);
            }
            now.retain(|m, _| decided.get(&key(m)) == Some(&true));
            now
        })
        .collect()
}

fn accumulated(updates: &[(Match, u64, isize)], t: u64) -> BTreeMap<Match, isize> {
    let mut got: BTreeMap<Match, isize> = BTreeMap::new();
    for (m, ut, d) in updates {
        if *ut <= t {
            *got.entry(*m).or_insert(0) += d;
        }
    }
    got.retain(|_, n| *n != 0);
    got
}

/// Consent of the first subscriber to partner 0 for purpose 1, and a subscription of that
/// partner for everything: the fixed cases below.
fn first_consent() -> (Consent, Subscription) {
    let c = Consent {
        imsi: Imsi::parse(IMSIS[0]).unwrap(),
        partner: PartnerId(0),
        purpose: Purpose(1),
    };
    (c, subscription(1, 0, vec![], false, false))
}

/// On 1 and 2 workers: the updates (sorted by time, then event time) are `want`, and
/// accumulate to the oracle's matches at every time.
fn assert_updates(changes: &[(u64, Change)], want: &[(Match, u64, isize)]) {
    for workers in 1..=2 {
        let (mut updates, _, _) = run(changes.to_vec(), workers);
        updates.sort_by_key(|(m, t, _)| (*t, m.moment.at));
        assert_eq!(updates, want, "{workers} workers");
        let oracle = expected(changes, LAST + 7);
        for (t, w) in oracle.iter().enumerate() {
            assert_eq!(&accumulated(&updates, t as u64), w, "time {t}");
        }
    }
}

/// Consent given after a moment does not deliver it; a later moment is delivered while
/// consent lasts and retracted when it is withdrawn.
#[test]
fn consent_is_not_retroactive_and_withdrawal_retracts() {
    let (c, sub) = first_consent();
    let before = moment(0, 1, MomentKind::Arrival, 2, 10);
    let after = moment(0, 2, MomentKind::Arrival, 6, 10);
    let changes = vec![
        (0, Change::Sub(sub.clone(), 1)),
        (2, Change::Moment(before, 1)),
        (4, Change::Consent(c, 1)),
        (6, Change::Moment(after, 1)),
        (9, Change::Consent(c, -1)),
    ];
    let m = sub.offer(&after, Country::new(FR).unwrap()).unwrap();
    assert_updates(&changes, &[(m, 6, 1), (m, 9, -1)]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn matches_follow_subscriptions_and_consent(changes in changes(), workers in 1usize..3) {
        let (updates, aggs, joined) = run(changes.clone(), workers);
        let want = expected(&changes, LAST + 7);
        for (t, w) in want.iter().enumerate() {
            prop_assert_eq!(&accumulated(&updates, t as u64), w, "time {}", t);
            let now_only = consent_now_only(&changes, t as u64);
            prop_assert_eq!(accumulated(&joined, t as u64), now_only, "join, time {}", t);
        }
        // Aggregates: arrivals per (area, home, 10-unit interval), only counts >= 2.
        let mut want: BTreeMap<AggregateKey, isize> = BTreeMap::new();
        for (_, c) in &changes {
            if let Change::Moment(m, d) = c {
                if m.kind == MomentKind::Arrival {
                    *want.entry((m.area, m.home_country, m.at.div_euclid(10))).or_insert(0) += d;
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

/// Consent held at a moment's time, withdrawn, then given again: a revision (retraction)
/// and a late moment are decided by the consent at the moment's own time, not when they
/// arrive, so the retracted moment stays gone and the late one is delivered again.
#[test]
fn revisions_are_decided_at_the_moments_time() {
    let (c, sub) = first_consent();
    let revised = moment(0, 1, MomentKind::Arrival, 2, 12);
    let late = moment(0, 2, MomentKind::Arrival, 3, 12);
    let changes = vec![
        (0, Change::Sub(sub.clone(), 1)),
        (0, Change::Consent(c, 1)),
        (2, Change::Moment(revised, 1)),
        (4, Change::Consent(c, -1)),
        (5, Change::Moment(revised, -1)),
        (5, Change::Moment(late, 1)),
        (7, Change::Consent(c, 1)),
    ];
    let operator = Country::new(FR).unwrap();
    let (r, l) = (
        sub.offer(&revised, operator).unwrap(),
        sub.offer(&late, operator).unwrap(),
    );
    assert_updates(&changes, &[(r, 2, 1), (r, 4, -1), (l, 7, 1), (l, 15, -1)]);
}

/// A device subscription takes its subscriber's moments only; created and deleted while
/// moments are live (as partners do all day), with an area-wide one beside it, each
/// asserts and retracts the matches of the live moments it takes, and nothing else.
#[test]
fn subscriptions_created_and_deleted_while_moments_are_live() {
    let (c0, area) = first_consent();
    let c1 = Consent {
        imsi: Imsi::parse(IMSIS[1]).unwrap(),
        ..c0
    };
    let device = Subscription {
        device: Some(c0.imsi),
        ..subscription(4, 0, vec![], false, false)
    };
    let (m0, m1) = (
        moment(0, 1, MomentKind::Arrival, 2, 12),
        moment(1, 1, MomentKind::Arrival, 3, 12),
    );
    let changes = vec![
        (0, Change::Consent(c0, 1)),
        (0, Change::Consent(c1, 1)),
        (2, Change::Moment(m0, 1)),
        (3, Change::Moment(m1, 1)),
        (4, Change::Sub(device.clone(), 1)),
        (5, Change::Sub(area.clone(), 1)),
        (8, Change::Sub(device.clone(), -1)),
        (9, Change::Sub(area.clone(), -1)),
    ];
    let operator = Country::new(FR).unwrap();
    let d0 = device.offer(&m0, operator).unwrap();
    assert!(device.offer(&m1, operator).is_none());
    let (a0, a1) = (
        area.offer(&m0, operator).unwrap(),
        area.offer(&m1, operator).unwrap(),
    );
    let mut want = vec![
        (d0, 4, 1),
        (a0, 5, 1),
        (a1, 5, 1),
        (d0, 8, -1),
        (a0, 9, -1),
        (a1, 9, -1),
    ];
    want.sort_by_key(|(m, t, _)| (*t, m.moment.at));
    assert_updates(&changes, &want);
}

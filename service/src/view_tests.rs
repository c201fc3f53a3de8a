use std::collections::BTreeMap;

use landfall_model::{Country, Plmn};
use proptest::prelude::*;

use super::*;
use crate::testutil::{country, moment, moment_ttl};

const A: &str = "001010000000001";
const B: &str = "001010000000002";

fn imsi(s: &str) -> Imsi {
    Imsi::parse(s).unwrap()
}

#[test]
fn arrivals_stay_until_departure_or_expiry() {
    let mut v = View::new();
    let fr = country("FR");
    let net = Area::Network(Plmn::new(208, 1, 2));
    v.apply(&[
        moment_ttl(A, MomentKind::Arrival, fr, 100, 1_000),
        moment_ttl(A, MomentKind::Arrival, net, 100, 1_000),
        moment_ttl(B, MomentKind::Arrival, fr, 200, 1_000),
        moment_ttl(B, MomentKind::RoamingOn, fr, 200, 1_000),
    ]);
    assert_eq!(v.len(), 3);
    assert_eq!(v.counts(Level::Country), vec![(fr, 2)]);
    assert_eq!(v.counts(Level::Network), vec![(net, 1)]);
    assert!(v.counts(Level::Zone).is_empty());
    let (list, total) = v.arrivals(&fr, 10);
    assert_eq!(total, 2);
    assert_eq!(
        list.iter().map(|a| a.imsi).collect::<Vec<_>>(),
        vec![imsi(B), imsi(A)],
        "recent first"
    );
    assert_eq!(list[1].expires_at, 1_100);
    assert_eq!(v.arrivals(&fr, 1).0.len(), 1);
    // A departs from FR (its network entry stays).
    v.apply(&[moment(A, MomentKind::Departure, fr, 300)]);
    assert_eq!(v.counts(Level::Country), vec![(fr, 1)]);
    assert_eq!(v.len(), 2);
    // Expiry: A's network arrival at 1 100, B's at 1 200.
    assert_eq!(v.expire(1_099), 0);
    assert_eq!(v.expire(1_100), 1);
    assert_eq!(v.counts(Level::Network), vec![]);
    assert_eq!(v.expire(50), 0, "the clock never goes back");
    assert_eq!(v.clock(), 1_100);
    assert_eq!(v.expire(5_000), 1);
    assert!(v.is_empty());
    assert!(
        v.by_area.is_empty() && v.by_expiry.is_empty(),
        "nothing left behind"
    );
}

#[test]
fn same_instant_arrival_and_departure_apply_arrival_first() {
    let mut v = View::new();
    let (fr, de) = (country("FR"), country("DE"));
    // A → DE and back to FR at one µs in one frame: the departure from FR wins.
    v.apply(&[moment(A, MomentKind::Arrival, fr, 10)]);
    v.apply(&[
        moment(A, MomentKind::Departure, fr, 20),
        moment(A, MomentKind::Arrival, fr, 20),
        moment(A, MomentKind::Arrival, de, 20),
    ]);
    assert_eq!(v.counts(Level::Country), vec![(de, 1)]);
}

#[test]
fn a_late_arrival_already_expired_never_shows() {
    let mut v = View::new();
    v.expire(10_000);
    // A zone arrival whose stay started long ago (dwell ≥ ttl): never visible.
    let zone = Area::Zone(landfall_model::ZoneId::new("cdg").unwrap());
    v.apply(&[moment_ttl(A, MomentKind::Arrival, zone, 100, 1_000)]);
    assert!(v.is_empty());
    let later = moment_ttl(A, MomentKind::Arrival, zone, 9_500, 1_000);
    v.apply(&[later]);
    assert_eq!(v.arrivals(&zone, 5).0[0].id, later.id);
}

#[derive(Clone, Debug)]
struct Step {
    imsi: usize,
    area: usize,
    departure: bool,
    dt: i64,
}

proptest! {
    /// The view equals a recomputation from the whole history after every batch: for each
    /// (subscriber, area), its last arrival not followed by a departure from that area, if
    /// not expired by the clock. (Times strictly increase; same-instant order has its own test.)
    #[test]
    fn view_equals_recomputation(
        steps in proptest::collection::vec(
            (0usize..3, 0usize..3, any::<bool>(), 1i64..400).prop_map(|(imsi, area, departure, dt)| Step { imsi, area, departure, dt }),
            1..80),
        batch in 1usize..6,
        ttl in 50i64..1_500,
    ) {
        let imsis = ["001010000000001", "001010000000002", "001010000000003"];
        let areas = [country("FR"), country("DE"), Area::Network(Plmn::new(208, 1, 2))];
        let mut at = 0;
        let mut moments = Vec::new();
        for s in &steps {
            at += s.dt;
            let kind = if s.departure { MomentKind::Departure } else { MomentKind::Arrival };
            moments.push(moment_ttl(imsis[s.imsi], kind, areas[s.area], at, ttl));
        }
        let mut v = View::new();
        for (n, chunk) in moments.chunks(batch).enumerate() {
            v.apply(chunk);
            let seen = &moments[..(n * batch + chunk.len())];
            let clock = seen.iter().map(|m| m.at).max().unwrap();
            prop_assert_eq!(v.clock(), clock);
            let mut expect: BTreeMap<(Imsi, Area), TimestampUs> = BTreeMap::new();
            for m in seen {
                match m.kind {
                    MomentKind::Arrival => { expect.insert((m.imsi, m.area), m.at); }
                    _ => { expect.remove(&(m.imsi, m.area)); }
                }
                // Entries expired at the time of this moment are gone.
                expect.retain(|_, arrived| *arrived + ttl > m.at);
            }
            expect.retain(|_, arrived| *arrived + ttl > clock);
            let mut got: BTreeMap<(Imsi, Area), TimestampUs> = BTreeMap::new();
            for area in areas {
                for a in v.arrivals(&area, usize::MAX).0 {
                    got.insert((a.imsi, a.area), a.arrived_at);
                }
            }
            prop_assert_eq!(&got, &expect);
            let total: usize = [Level::Country, Level::Network].iter().flat_map(|l| v.counts(*l)).map(|(_, n)| n).sum();
            prop_assert_eq!(total, expect.len());
        }
        let _ = Country::new("FR");
    }
}

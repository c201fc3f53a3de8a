//! Property: zone membership maintained incrementally (catalog cells and zones added and
//! removed mid-stream) equals the batch resolution of what holds at every time, with 1 and
//! 2 workers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use differential_dataflow::input::Input;
use landfall_dataflows::zones::{
    resolve, zone_membership, CatalogCell, CellKey, LonLat, Shape, Zone, ZoneId, ZoneKey,
};
use landfall_model::Plmn;
use proptest::prelude::*;

const LAST: u64 = 12;

fn cell(i: u32, lon: f64, lat: f64) -> CatalogCell {
    CatalogCell {
        cell: CellKey::Lte {
            plmn: Plmn::new(208, 1, 2),
            eci: i,
        },
        at: LonLat::new(lon, lat),
    }
}

fn zone(id: u8, kind: u8, lon: f64, lat: f64, size: f64) -> Zone {
    let shape = match kind {
        0 => Shape::Circle {
            centre: LonLat::new(lon, lat),
            radius_m: (size * 100_000.0) as u32,
        },
        1 => Shape::Polygon(vec![
            LonLat::new(lon - size, lat - size),
            LonLat::new(lon + size, lat - size),
            LonLat::new(lon + size, lat + size),
            LonLat::new(lon - size, lat + size),
        ]),
        _ => Shape::Keys(vec![
            ZoneKey::Cell(CellKey::Lte {
                plmn: Plmn::new(208, 1, 2),
                eci: u32::from(id),
            }),
            ZoneKey::Tac {
                plmn: Plmn::new(208, 1, 2),
                tac: u16::from(id),
            },
        ]),
    };
    Zone {
        id: ZoneId::new(&format!("z{id}")).unwrap(),
        name: String::new(),
        shape,
    }
}

#[derive(Clone, Debug)]
enum Change {
    Cell(CatalogCell, isize),
    Zone(Zone, isize),
}

fn changes() -> impl Strategy<Value = Vec<(u64, Change)>> {
    // Positions around Paris, over about 0.4 degrees: several grid tiles.
    let c = (
        0..20u32,
        2.2..2.6f64,
        48.7..49.1f64,
        0..LAST,
        prop::option::of(1..LAST),
    )
        .prop_map(|(i, lon, lat, t, until)| {
            let c = cell(i, lon, lat);
            let mut v = vec![(t, Change::Cell(c, 1))];
            if let Some(u) = until {
                v.push(((t + u).min(LAST), Change::Cell(c, -1)));
            }
            v
        });
    let z = (
        0..6u8,
        0..3u8,
        2.2..2.6f64,
        48.7..49.1f64,
        0.01..0.15f64,
        0..LAST,
        prop::option::of(1..LAST),
    )
        .prop_map(|(id, kind, lon, lat, size, t, until)| {
            let z = zone(id, kind, lon, lat, size);
            let mut v = vec![(t, Change::Zone(z.clone(), 1))];
            if let Some(u) = until {
                v.push(((t + u).min(LAST), Change::Zone(z, -1)));
            }
            v
        });
    (
        prop::collection::vec(c, 0..25),
        prop::collection::vec(z, 0..6),
    )
        .prop_map(|(c, z)| {
            let mut all: Vec<(u64, Change)> = c.into_iter().flatten().collect();
            all.extend(z.into_iter().flatten());
            all.sort_by_key(|(t, _)| *t);
            all
        })
}

fn run(changes: Vec<(u64, Change)>, workers: usize) -> Vec<((ZoneKey, ZoneId), u64, isize)> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&out);
    timely::execute(timely::Config::process(workers), move |worker| {
        let sink = Arc::clone(&sink);
        let (mut ci, mut zi, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (ci, catalog) = scope.new_collection::<CatalogCell, isize>();
            let (zi, zones) = scope.new_collection::<Zone, isize>();
            let (probe, _) = zone_membership(catalog, zones)
                .inspect(move |(x, t, d)| sink.lock().unwrap().push((*x, *t, *d)))
                .probe();
            (ci, zi, probe)
        });
        if worker.index() == 0 {
            for (t, c) in &changes {
                match c {
                    Change::Cell(c, d) => ci.update_at(*c, *t, *d),
                    Change::Zone(z, d) => zi.update_at(z.clone(), *t, *d),
                }
            }
        }
        for t in 1..=LAST + 1 {
            ci.advance_to(t);
            zi.advance_to(t);
            ci.flush();
            zi.flush();
            worker.step_while(|| probe.less_than(ci.time()));
        }
    })
    .unwrap();
    let v = std::mem::take(&mut *out.lock().unwrap());
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn membership_follows_edits(changes in changes(), workers in 1usize..3) {
        let updates = run(changes.clone(), workers);
        for t in 0..=LAST {
            let mut cells: BTreeMap<CatalogCell, isize> = BTreeMap::new();
            let mut zones: BTreeMap<Zone, isize> = BTreeMap::new();
            for (ct, c) in changes.iter().filter(|(ct, _)| *ct <= t) {
                let _ = ct;
                match c {
                    Change::Cell(c, d) => *cells.entry(*c).or_insert(0) += d,
                    Change::Zone(z, d) => *zones.entry(z.clone()).or_insert(0) += d,
                }
            }
            let cells: Vec<CatalogCell> = cells.into_iter().filter(|(_, n)| *n > 0).map(|(c, _)| c).collect();
            let zones: Vec<Zone> = zones.into_iter().filter(|(_, n)| *n > 0).map(|(z, _)| z).collect();
            let want = resolve(&zones, &cells);
            let mut acc: BTreeMap<(ZoneKey, ZoneId), isize> = BTreeMap::new();
            for (x, ut, d) in &updates {
                if *ut <= t {
                    *acc.entry(*x).or_insert(0) += d;
                }
            }
            prop_assert!(acc.values().all(|n| *n == 0 || *n == 1));
            let got: BTreeSet<(ZoneKey, ZoneId)> = acc.into_iter().filter(|(_, n)| *n == 1).map(|(x, _)| x).collect();
            prop_assert_eq!(got, want, "time {}", t);
        }
    }
}

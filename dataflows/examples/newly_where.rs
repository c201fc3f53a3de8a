//! Plug the bounded presence operator, zone detection and the newly-where view into your
//! own timely pipeline, fed in event-time batches (the live path).
//!
//! Times are minutes of event time since `T0`. Each worker feeds its share of a small
//! stream (a German and an Italian subscriber landing in France, the German one moving on
//! to Spain), advancing its input to the next minute as event time passes; the
//! operators apply each minute once it is complete. A zone (`cdg`, two airport cells)
//! is loaded from TOML into a zone collection: the Italian subscriber's cell is in it, so
//! they are newly at the airport as well as in France and 208-10. The view keeps a subscriber "newly"
//! in an area until they leave it or the TTL (here 30 minutes) runs out; its changes and
//! the count per area are printed as they happen.
//!
//! ```sh
//! cargo run -p landfall-dataflows --example newly_where            # 1 worker
//! cargo run -p landfall-dataflows --example newly_where -- -w 2    # 2 workers
//! ```

use differential_dataflow::input::Input;
use landfall_dataflows::zones::{read_zones, CatalogCell, Zone};
use landfall_dataflows::{
    count_per_area, detect, detect_zones, newly_where, zone_membership, Rules,
};
use landfall_model::{Country, Imsi, Location, Plmn, Proto, Provenance, Signal, SignalKind};

const ZONES: &str = r#"
[[zone]]
id = "cdg"
name = "Paris CDG"
cells = ["208-10/ecgi/1001", "208-10/ecgi/1002"]
"#;

const T0: i64 = 1_700_000_000_000_000;
const MINUTE: i64 = 60_000_000;

fn signal(minute: i64, frame: u64, imsi: &str, home: &str, serving: &str, country: &str) -> Signal {
    let home = Plmn::parse(home).unwrap();
    Signal {
        at: T0 + minute * MINUTE,
        imsi: Imsi::parse(imsi).unwrap(),
        msisdn: None,
        kind: SignalKind::LocationUpdate,
        home: Some(home),
        home_country: Country::new(if home.mcc == 262 { "DE" } else { "IT" }),
        serving: Plmn::parse(serving),
        serving_country: Country::new(country),
        // The Italian subscriber's cell (ECGI 1001 of 208-10) is at the airport.
        location: (serving == "208-10").then(|| Location::Ecgi {
            plmn: Plmn::parse(serving).unwrap(),
            eci: 1001,
        }),
        rat: Some(1004),
        source: Provenance {
            file: 0,
            frame,
            proto: Proto::Diameter,
            message: 316,
        },
    }
}

fn main() {
    timely::execute_from_args(std::env::args(), |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let cfg = Rules {
            ttl_us: 30 * MINUTE,
            ..Rules::default()
        };
        let (mut input, mut zones, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, signals) = scope.new_collection::<Signal, isize>();
            // Reference data: zones and a cell catalog (empty here: the zone lists its cells).
            let (zones, zone_defs) = scope.new_collection::<Zone, isize>();
            let (_catalog, cells) = scope.new_collection::<CatalogCell, isize>();
            let membership = zone_membership(cells, zone_defs);
            // Timely time = minute of event time.
            let minute_of = move |t: &u64, at: i64| (((at - T0) / MINUTE) as u64).max(*t);
            let moments = detect(signals.clone(), cfg)
                .concat(detect_zones(signals, membership, cfg, minute_of));
            // Expiry at the minute of `at + ttl`.
            let view = newly_where(moments, move |t, at| minute_of(t, at + cfg.ttl_us));
            let view = view.inspect(|(n, minute, diff)| {
                println!(
                    "minute {minute:>3} {diff:+} newly {} in {} since {}",
                    n.imsi, n.area, n.arrived_at
                )
            });
            let (probe, _) = count_per_area(view)
                .inspect(|((area, count), minute, diff)| {
                    if *diff > 0 {
                        println!("minute {minute:>3}   {area}: {count} newly there");
                    }
                })
                .probe();
            (input, zones, probe)
        });
        if index == 0 {
            for z in read_zones(ZONES).expect("zones parse") {
                zones.insert(z);
            }
        }

        let stream = [
            signal(0, 1, "262010000000001", "262-01", "208-01", "FR"),
            signal(5, 2, "222010000000002", "222-01", "208-10", "FR"),
            signal(12, 3, "262010000000001", "262-01", "208-01", "FR"),
            signal(20, 4, "262010000000001", "262-01", "214-07", "ES"),
            signal(70, 5, "222010000000002", "222-01", "208-10", "FR"),
        ];
        for (i, s) in stream.iter().enumerate() {
            let minute = ((s.at - T0) / MINUTE) as u64;
            if minute > *input.time() {
                input.advance_to(minute);
                input.flush();
                zones.advance_to(minute);
                zones.flush();
                worker.step_while(|| probe.less_than(input.time()));
            }
            if i % peers == index {
                input.update_at(*s, minute, 1);
            }
        }
        input.close();
        zones.close();
        worker.step_while(|| !probe.done());
    })
    .unwrap();
}

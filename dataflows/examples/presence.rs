//! Plug the presence operator into your own timely / differential pipeline.
//!
//! A worker feeds a few signals in two rounds (timely times 0 and 1), keeps only the
//! arrivals of foreign subscribers ("inbound roamers") and prints every change of the
//! output collection. Round 1 delivers a *late* signal (event time before round 0's last
//! signal): the operator revises its earlier output, and the printout shows the
//! retraction (-1) and the corrected moment (+1).
//!
//! ```sh
//! cargo run -p landfall-dataflows --example presence
//! ```

use differential_dataflow::input::Input;
use landfall_dataflows::{moments, Area, MomentKind, Rules, HOUR_US};
use landfall_model::{Country, Imsi, Plmn, Proto, Provenance, Signal, SignalKind};

fn signal(
    at: i64,
    frame: u64,
    imsi: &str,
    home: &str,
    home_country: &str,
    serving: &str,
    country: &str,
) -> Signal {
    Signal {
        at,
        imsi: Imsi::parse(imsi).unwrap(),
        msisdn: None,
        kind: SignalKind::LocationUpdate,
        home: Plmn::parse(home),
        home_country: Country::new(home_country),
        serving: Plmn::parse(serving),
        serving_country: Country::new(country),
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

fn main() {
    timely::execute_from_args(std::env::args(), |worker| {
        let index = worker.index();
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, signals) = scope.new_collection::<Signal, isize>();
            let fr = Country::new("FR").unwrap();
            let (probe, _) = moments(signals, Rules::default())
                // Your pipeline continues here: inbound roamers arriving in France.
                .filter(move |m| {
                    m.kind == MomentKind::Arrival
                        && m.area == Area::Country(fr)
                        && m.home_country != Some(fr)
                })
                .inspect(|(m, time, diff)| {
                    println!(
                        "round {time} {diff:+} {} {} into {} from {:?} at {}",
                        m.id, m.imsi, m.area, m.from, m.at
                    )
                })
                .probe();
            (input, probe)
        });

        let t0 = 1_700_000_000_000_000;
        if index == 0 {
            // Round 0: a German subscriber lands in France, an Italian one too.
            input.insert(signal(
                t0,
                1,
                "262010000000001",
                "262-01",
                "DE",
                "208-01",
                "FR",
            ));
            input.insert(signal(
                t0 + HOUR_US,
                2,
                "222010000000002",
                "222-01",
                "IT",
                "208-10",
                "FR",
            ));
        }
        input.advance_to(1);
        input.flush();
        worker.step_while(|| probe.less_than(input.time()));

        if index == 0 {
            // Round 1, late: the Italian subscriber had already been seen in France an hour
            // earlier, so the arrival moves to that earlier time (new id).
            input.insert(signal(
                t0,
                3,
                "222010000000002",
                "222-01",
                "IT",
                "208-01",
                "FR",
            ));
        }
        input.advance_to(2);
        input.flush();
        worker.step_while(|| probe.less_than(input.time()));
    })
    .unwrap();
}

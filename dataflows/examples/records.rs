//! Feed signal records (JSON Lines, docs/records.md) — a probe's or a data platform's
//! export — into the presence operator inside your own timely pipeline.
//!
//! Each line is read with `landfall_model::record::SignalRecord` (the one parser of the
//! documented form), turned into a `Signal`, and fed in event-time batches of one minute;
//! the moments are printed as each minute completes. Without a file argument a few
//! embedded records are used: a German subscriber attaching in France, then moving to
//! Spain; a Spanish one refused (a rejection places no one).
//!
//! ```sh
//! cargo run -p landfall-dataflows --example records                  # the embedded records
//! landfall inspect --signals fixtures/roaming-scenario.pcap > /tmp/signals.jsonl
//! cargo run -p landfall-dataflows --example records -- /tmp/signals.jsonl -w 2
//! ```

use differential_dataflow::input::Input;
use landfall_dataflows::{detect, Rules};
use landfall_model::record::SignalRecord;
use landfall_model::Signal;

const EMBEDDED: &str = r#"{"v":1,"at":"2026-06-01T08:00:03Z","imsi":"262011234567890","kind":"attach","home":"262-01","home_country":"DE","serving":"208-01","serving_country":"FR","source":{"proto":"diameter"}}
{"v":1,"at":"2026-06-01T08:02:00Z","imsi":"214070000000003","kind":"rejected","home":"214-07","home_country":"ES","serving":"208-01","serving_country":"FR","source":{"proto":"diameter"}}
{"v":1,"at":"2026-06-01T11:30:00Z","imsi":"262011234567890","kind":"location_update","home":"262-01","home_country":"DE","serving":"214-07","serving_country":"ES","source":{"proto":"map"}}
"#;

const MINUTE: i64 = 60_000_000;

/// The records' signals in time order (from `path`, else the embedded ones); a bad line
/// is reported and skipped.
fn signals(path: Option<&str>) -> Vec<Signal> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).expect("the records file"),
        None => EMBEDDED.to_owned(),
    };
    let mut out: Vec<Signal> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(n, line)| {
            match SignalRecord::parse(line).and_then(|r| r.to_signal(|_| 0, n as u64 + 1)) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("line {}: {e}; skipped", n + 1);
                    None
                }
            }
        })
        .collect();
    out.sort_by_key(|s| s.at);
    out
}

fn main() {
    // The first argument, unless it is one of timely's flags (`-w 2`), is the records file.
    let mut args: Vec<String> = std::env::args().collect();
    let path = (args.len() > 1 && !args[1].starts_with('-')).then(|| args.remove(1));
    let stream = signals(path.as_deref());
    let t0 = stream.first().map_or(0, |s| s.at);
    timely::execute_from_args(args.into_iter(), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, signals) = scope.new_collection::<Signal, isize>();
            let (probe, _) = detect(signals, Rules::default())
                // Your pipeline continues here.
                .inspect(|(m, minute, diff)| {
                    println!(
                        "minute {minute:>4} {diff:+} {} {} {:?} {} at {}",
                        m.kind.as_str(),
                        m.imsi,
                        m.level,
                        m.area,
                        m.at
                    )
                })
                .probe();
            (input, probe)
        });
        for (i, s) in stream.iter().enumerate() {
            // Timely time = minute of event time since the first record.
            let minute = ((s.at - t0) / MINUTE) as u64;
            if minute > *input.time() {
                input.advance_to(minute);
                input.flush();
                worker.step_while(|| probe.less_than(input.time()));
            }
            if i % peers == index {
                input.update_at(*s, minute, 1);
            }
        }
        input.close();
        worker.step_while(|| !probe.done());
    })
    .unwrap();
}

//! Record readers: arbitrary bytes as a signal record file, and as a vendor export read
//! through each example mapping (CSV and JSON Lines). Nothing may panic; every line is
//! either a signal or a counted bad line (bytes that are not UTF-8 too); a signal read from
//! a record writes back to a record that reads to the same signal; lines handed one at a
//! time to a `LineReader`, as a stream's are, give what reading the whole input gives.
#![no_main]

use landfall_model::record::SignalRecord;
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::records::mapping::Mapping;
use landfall_parsers::records::{read_records, FileNames, LineReader, RecordStats};

const VENDOR_A: &str = include_str!("../../fixtures/records/vendor-a.toml");
const VENDOR_B: &str = include_str!("../../fixtures/records/vendor-b.toml");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let e212 = E212::default();
    let (mut names, mut out, mut stats) = (FileNames::default(), Vec::new(), RecordStats::default());
    read_records(data, "fuzz", &e212, &mut names, &mut out, &mut stats).expect("never an error");
    let lines = data.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count() as u64;
    assert_eq!(stats.signals + stats.bad_total(), lines);
    for s in &out {
        let line = serde_json::to_string(&SignalRecord::of(s, names.names())).unwrap();
        let back = SignalRecord::parse(&line).unwrap().to_signal(|_| s.source.file, 0).unwrap();
        assert_eq!(&back, s, "a signal does not survive its record");
    }
    for text in [VENDOR_A, VENDOR_B] {
        let mapping = std::sync::Arc::new(Mapping::parse(text).unwrap());
        let (mut names, mut out, mut stats) = (FileNames::default(), Vec::new(), RecordStats::default());
        let whole = mapping.read(data, "fuzz", &e212, &mut names, &mut out, &mut stats);
        assert_eq!(stats.signals as usize, out.len());
        // The same lines one at a time, as a stream gives them.
        let mut reader = LineReader::new("fuzz", Some(mapping.clone()));
        let (mut out2, mut stats2) = (Vec::new(), RecordStats::default());
        let mut header = Ok(());
        for line in data.split_inclusive(|&b| b == b'\n') {
            header = reader.line(line, &mut |_| 0, &e212, &mut out2, &mut stats2);
            if header.is_err() {
                break;
            }
        }
        if header.is_ok() {
            reader.finish(&mut stats2);
        }
        assert_eq!(whole.is_ok(), header.is_ok());
        assert_eq!(out2, out);
        assert_eq!(stats2, stats);
    }
});

//! Record readers: arbitrary bytes as a signal record file, and as a vendor export read
//! through each example mapping (CSV and JSON Lines). Nothing may panic; every line is
//! either a signal or a counted bad line; a signal read from a record writes back to a
//! record that reads to the same signal.
#![no_main]

use landfall_model::record::SignalRecord;
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::records::mapping::Mapping;
use landfall_parsers::records::{read_records, FileNames, RecordStats};

const VENDOR_A: &str = include_str!("../../fixtures/records/vendor-a.toml");
const VENDOR_B: &str = include_str!("../../fixtures/records/vendor-b.toml");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let e212 = E212::default();
    let (mut names, mut out, mut stats) = (FileNames::default(), Vec::new(), RecordStats::default());
    // Not UTF-8: an I/O error from the line reader, never a panic.
    if read_records(data, "fuzz", &e212, &mut names, &mut out, &mut stats).is_ok() {
        let lines = data.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count() as u64;
        assert!(stats.signals + stats.bad_total() <= lines);
    }
    for s in &out {
        let line = serde_json::to_string(&SignalRecord::of(s, names.names())).unwrap();
        let back = SignalRecord::parse(&line).unwrap().to_signal(|_| s.source.file, 0).unwrap();
        assert_eq!(&back, s, "a signal does not survive its record");
    }
    for text in [VENDOR_A, VENDOR_B] {
        let mapping = std::sync::Arc::new(Mapping::parse(text).unwrap());
        let (mut names, mut out, mut stats) = (FileNames::default(), Vec::new(), RecordStats::default());
        let _ = mapping.read(data, "fuzz", &e212, &mut names, &mut out, &mut stats);
        assert_eq!(stats.signals as usize, out.len());
    }
});

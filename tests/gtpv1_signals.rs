//! GTPv1-C from the real zeek captures: an accepted Create PDP Context gives a
//! session_start placing the subscriber in the RAI's network (460-06) and country.
//! (The GTPv0 Create on port 3386 in `zeek-gtpv1-pdp-ctx-messages` is not decoded.)

mod common;

use std::path::Path;
use std::process::Command;

use landfall::ingest::SignalSink;
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::decode_captures;
use landfall_parsers::decode::{DecodeStats, DecoderConfig};
use landfall_parsers::signal::{Location, Proto, Signal, SignalKind};
use landfall_parsers::types::{Country, Imsi, Msisdn, Plmn};

fn signals(path: &Path) -> (Vec<Signal>, DecodeStats) {
    let reader = CaptureReader::open(path, 0).expect("open capture");
    let mut sink = SignalSink::default();
    let decoder = decode_captures(vec![reader], DecoderConfig::default(), &mut sink, |_| {});
    (sink.signals, decoder.stats)
}

/// The Create PDP Context of frames 2-3 (both files): SGSN 192.169.100.1 → GGSN, RAI
/// 460-06 LAC 65534 RAC 255, GERAN, accepted (128).
fn check_gb_subscriber(s: &Signal) {
    assert_eq!(s.kind, SignalKind::SessionStart);
    assert_eq!(s.imsi, Imsi::parse("460004100000101").unwrap());
    assert_eq!(s.msisdn, Msisdn::parse("8615221000101").ok());
    assert_eq!(
        (s.source.frame, s.source.proto, s.source.message),
        (2, Proto::Gtpv1, 16)
    );
    assert_eq!(s.at, 1_267_091_876_294_807);
    let serving = Plmn::parse("460-06");
    assert_eq!(
        s.location,
        Some(Location::Rai {
            plmn: serving.unwrap(),
            lac: 65534,
            rac: 255
        })
    );
    assert_eq!((s.serving, s.home), (serving, Plmn::parse("460-00")));
    assert_eq!(
        (s.serving_country, s.home_country),
        (Country::new("CN"), Country::new("CN"))
    );
    assert_eq!(s.rat, Some(2));
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn create_pdp_context_exchanges_give_session_starts() {
    let dir = common::shared_captures();
    let (gb, stats) = signals(&dir.join("zeek-gtpv1-create-pdp-ctx-with-gb.pcap"));
    assert_eq!(gb.len(), 1, "{gb:?}");
    check_gb_subscriber(&gb[0]);
    assert!(
        !stats.skipped.keys().any(|k| k.starts_with("gtpv1")),
        "{:?}",
        stats.skipped
    );

    let (all, stats) = signals(&dir.join("zeek-gtpv1-pdp-ctx-messages.pcapng"));
    assert_eq!(all.len(), 2, "{all:?}");
    check_gb_subscriber(&all[0]);
    // Frames 7-8 on loopback: a Create with IMSI and MSISDN but no RAI/ULI or RAT Type,
    // accepted: a session start without location or serving network.
    let s = &all[1];
    assert_eq!((s.kind, s.source.frame), (SignalKind::SessionStart, 7));
    assert_eq!(s.imsi, Imsi::parse("240010123456789").unwrap());
    assert_eq!(s.msisdn, Msisdn::parse("46702123456").ok());
    assert_eq!(s.home_country, Country::new("SE"));
    assert_eq!((s.location, s.serving, s.rat), (None, None, None));
    assert!(
        !stats.skipped.keys().any(|k| k.starts_with("gtpv1")),
        "{:?}",
        stats.skipped
    );
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn accepted_create_pdp_context_places_the_subscriber() {
    let dir = common::shared_captures();
    for name in [
        "zeek-gtpv1-pdp-ctx-messages.pcapng",
        "zeek-gtpv1-create-pdp-ctx-with-gb.pcap",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
            .args(["replay", "--quiet"])
            .arg(dir.join(name))
            .output()
            .expect("run landfall");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let ms: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let hit = |level: &str, area: &str| {
            ms.iter().any(|m| {
                m["type"] == "arrival"
                    && m["level"] == level
                    && m["area"] == area
                    && m["imsi"] == "460004100000101"
                    && m["msisdn"] == "8615221000101"
                    && m["source"]["proto"] == "gtpv1"
            })
        };
        assert!(
            hit("network", "460-06") && hit("country", "CN"),
            "{name}: {ms:?}"
        );
    }
}

//! The bundled scenario end to end: the fixture is current (the generator reproduces it
//! byte for byte), replays to its hand-reviewed golden moments with 1 and 2 workers, and
//! each scenario case yields what the rules say. Also the real magma inbound-roaming
//! captures yield the roamer's network arrival.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Run `landfall replay` and return its standard output.
fn replay(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .arg("replay")
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run landfall replay");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn moments(jsonl: &str) -> Vec<Value> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("moment is JSON"))
        .collect()
}

fn of<'a>(ms: &'a [Value], imsi: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    ms.iter()
        .filter(|m| m["imsi"] == imsi)
        .map(|m| {
            (
                m["type"].as_str().unwrap(),
                m["level"].as_str().unwrap(),
                m["area"].as_str().unwrap(),
            )
        })
        .collect()
}

#[test]
fn fixture_is_what_the_generator_writes() {
    let on_disk = std::fs::read(fixture("roaming-scenario.pcap")).expect("fixture present");
    assert!(
        on_disk == landfall::scenario::roaming_scenario(),
        "fixtures/roaming-scenario.pcap is stale: regenerate it (see fixtures/README.md)"
    );
}

#[test]
fn replay_equals_golden_with_one_and_two_workers() {
    let golden =
        std::fs::read_to_string(fixture("roaming-scenario.moments.jsonl")).expect("golden present");
    let pcap = fixture("roaming-scenario.pcap");
    let pcap = pcap.to_str().unwrap();
    assert_eq!(replay(&[pcap, "--workers", "1"]), golden);
    assert_eq!(replay(&[pcap, "--workers", "2"]), golden);
}

#[test]
fn each_case_yields_what_the_rules_say() {
    let pcap = fixture("roaming-scenario.pcap");
    let ms = moments(&replay(&[pcap.to_str().unwrap()]));

    // Rejected attaches are not arrivals.
    assert!(of(&ms, "460001234567890").is_empty());
    assert!(of(&ms, "234150000000001").is_empty());

    // Inbound roamer: arrival at both levels and roaming-on; purge gives departures.
    let anna = of(&ms, "262011234567890");
    for want in [
        ("arrival", "network", "208-01"),
        ("arrival", "country", "FR"),
        ("roaming-on", "country", "FR"),
        ("departure", "network", "208-01"),
        ("departure", "country", "FR"),
    ] {
        assert!(
            anna.contains(&want),
            "inbound roamer lacks {want:?}: {anna:?}"
        );
    }

    // Outbound roamer: on, change-country, off.
    let bruno = of(&ms, "208011000000001");
    for want in [
        ("roaming-on", "country", "ES"),
        ("roaming-change-country", "country", "CH"),
        ("roaming-off", "country", "FR"),
    ] {
        assert!(
            bruno.contains(&want),
            "outbound roamer lacks {want:?}: {bruno:?}"
        );
    }

    // Re-entry inside the gap: one arrival into 208-01 only.
    let emil = of(&ms, "208015000000002");
    let arrivals = emil
        .iter()
        .filter(|m| **m == ("arrival", "network", "208-01"))
        .count();
    assert_eq!(arrivals, 1, "{emil:?}");
    // Outside the gap: two.
    let fay = of(&ms, "208016000000003");
    let arrivals = fay
        .iter()
        .filter(|m| **m == ("arrival", "network", "208-01"))
        .count();
    assert_eq!(arrivals, 2, "{fay:?}");

    // A shorter gap turns Emil's return into an arrival too.
    let short = moments(&replay(&[pcap.to_str().unwrap(), "--reentry-gap", "1h"]));
    let emil = of(&short, "208015000000002");
    assert_eq!(
        emil.iter()
            .filter(|m| **m == ("arrival", "network", "208-01"))
            .count(),
        2
    );
}

#[test]
fn fixture_decodes_without_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(["inspect", "--stats"])
        .arg(fixture("roaming-scenario.pcap"))
        .output()
        .expect("run inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("decode errors 0"), "{text}");
    let ulr = text
        .lines()
        .find(|l| l.contains(") ULR"))
        .unwrap_or_default();
    assert!(ulr.trim_end().ends_with(" 12"), "12 ULRs expected: {text}");
}

#[test]
fn magma_inbound_roamer_arrives_in_001_01() {
    let Some(dir) = common::shared_captures() else {
        return;
    };
    for name in [
        "magma-inbound-roaming-01-s6a-s8-gtpv2.pcapng",
        "magma-inbound-roaming-05-s6a-s8-gtpv2.pcapng",
    ] {
        let ms = moments(&replay(&[dir.join(name).to_str().unwrap()]));
        let hit = ms.iter().any(|m| {
            m["type"] == "arrival"
                && m["level"] == "network"
                && m["area"] == "001-01"
                && m["imsi"] == "001020000000064"
                && m["home"] == "001-02"
        });
        assert!(
            hit,
            "{name}: no network arrival of 001020000000064 into 001-01: {ms:?}"
        );
    }
}

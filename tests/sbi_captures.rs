//! 5G SBI from the real Open5GS and free5GC captures end to end: the Nudm UECM
//! registration of a roamer gives its network arrival once, at its first copy's time,
//! though SCPs and SEPPs relay it over four connections; the other 5G captures give
//! their registrations as signals; every HTTP request and response tshark decodes is
//! decoded alike (tests/data/sbi, made by make-expected.sh there); nothing else is a
//! decode error but the segments the HR capture lost (tshark counts the same 30).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use common::{capture_arg as capture, json_lines as lines, landfall_output as landfall};

const HR: &str = "open5gs-5g-roaming-home-routed-sll.pcapng";
const LBO: &str = "open5gs-5g-roaming-lbo-sll.pcapng";
const FREE5GC: &str = "telekom-free5gc-ngap-sbi-pfcp-sll.pcapng";
const LILY: &str = "lilyhuegerich-open5gs-5gc-4ue-ngap-sbi-sll.pcapng";
const HTTP1: &str = "open5gs-5g-testregistration-http1-sbi-sll.pcapng";

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn roamers_arrive_once_at_the_registration() {
    let dir = common::shared_captures();
    for (name, imsi, area, at, frame) in [
        (
            HR,
            "999700000021309",
            "001-01",
            "2025-07-18T12:38:59.739341Z",
            1426,
        ),
        (
            LBO,
            "001010000021309",
            "999-70",
            "2023-10-02T10:12:44.916637Z",
            2087,
        ),
    ] {
        let ms = lines(&landfall(&["replay", "--quiet", &capture(&dir, name)]));
        let arrivals: Vec<&Value> = ms
            .iter()
            .filter(|m| m["type"] == "arrival" && m["level"] == "network")
            .collect();
        assert_eq!(arrivals.len(), 1, "{name}: {ms:?}");
        let m = arrivals[0];
        assert_eq!(m["imsi"], imsi, "{name}");
        assert_eq!(m["area"], area, "{name}");
        assert_eq!(m["at"], at, "{name}: the AMF's request, the first copy");
        assert_eq!(m["source"]["frame"], frame, "{name}");
        assert_eq!(m["source"]["proto"], "sbi", "{name}");
        assert_eq!(m["rat"], 1006, "{name}: NR as S6a codes it");
    }
}

/// The same capture again 23 h later (past the 12 h re-entry gap), decoded as one input
/// with the first: its connections start again on the same addresses and sequence
/// numbers, and are new connections (their SYNs say so), so the roamer arrives again. Until
/// the SYN reached the HTTP streams, the second copy's bytes were taken for the first
/// connection's, already seen, and gave nothing.
#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn a_capture_of_the_same_connections_a_day_later_arrives_again() {
    let dir = common::shared_captures();
    let tmp = common::temp_dir("sbi-again");
    let again = tmp.join("again.pcapng");
    std::fs::copy(dir.join(LBO), &again).unwrap();
    let ms = lines(&landfall(&[
        "replay",
        "--quiet",
        &capture(&dir, LBO),
        again.to_str().unwrap(),
        "--clock-offset",
        "again.pcapng=+23h",
    ]));
    let arrivals: Vec<&Value> = ms
        .iter()
        .filter(|m| m["type"] == "arrival" && m["level"] == "network")
        .collect();
    assert_eq!(arrivals.len(), 2, "{ms:?}");
    for (m, at) in arrivals
        .iter()
        .zip(["2023-10-02T10:12:44.916637Z", "2023-10-03T09:12:44.916637Z"])
    {
        assert_eq!(m["imsi"], "001010000021309");
        assert_eq!(m["at"], at);
        assert_eq!(m["source"]["frame"], 2087);
        assert_eq!(m["source"]["proto"], "sbi");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn signals(dir: &Path, name: &str) -> Vec<Value> {
    lines(&landfall(&["inspect", "--signals", &capture(dir, name)]))
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn registrations_become_signals() {
    let dir = common::shared_captures();
    let kinds = |ss: &[Value]| {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for s in ss {
            *by.entry(s["kind"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
        by
    };
    // free5GC: one registration (initialRegistrationInd) of 208-93 at home.
    let f = signals(&dir, FREE5GC);
    let attach: Vec<&Value> = f.iter().filter(|s| s["kind"] == "attach").collect();
    assert_eq!(attach.len(), 1, "{f:?}");
    assert_eq!(attach[0]["imsi"], "2089300007487");
    assert_eq!(attach[0]["serving"], "208-93");
    // Four UEs over IPv6 SBI, each registered once.
    let l = signals(&dir, LILY);
    let mut imsis: Vec<&str> = l
        .iter()
        .filter(|s| s["kind"] == "location_update")
        .filter_map(|s| s["imsi"].as_str())
        .collect();
    imsis.sort_unstable();
    assert_eq!(
        imsis,
        [
            "901700000000001",
            "901700000000002",
            "901700000000003",
            "901700000000004"
        ]
    );
    // HTTP/1.1: the test suite's 24 registrations.
    let h = signals(&dir, HTTP1);
    assert_eq!(
        kinds(&h).get("location_update"),
        Some(&24),
        "{:?}",
        kinds(&h)
    );
    // The roaming captures: the registration, the purge at the end, authentications.
    for name in [HR, LBO] {
        let k = kinds(&signals(&dir, name));
        assert_eq!(k.get("purge"), Some(&1), "{name}: {k:?}");
        assert_eq!(k.get("auth"), Some(&2), "{name}: {k:?}");
        let registrations = k.get("attach").unwrap_or(&0) + k.get("location_update").unwrap_or(&0);
        assert_eq!(registrations, 1, "{name}: {k:?}");
    }
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn no_unexplained_decode_errors() {
    let dir = common::shared_captures();
    for name in [LBO, FREE5GC, LILY, HTTP1] {
        let report = landfall(&["inspect", "--stats", &capture(&dir, name)]);
        assert!(report.contains("decode errors 0"), "{name}:\n{report}");
    }
    let report = landfall(&["inspect", "--stats", &capture(&dir, HR)]);
    assert!(report.contains("decode errors 30\n"), "{report}");
    assert!(
        report.contains("tcp: stream gap (bytes never captured)                     30"),
        "{report}"
    );
}

/// One frame's HTTP requests (method, path) and response statuses, in order.
type FrameMessages = (Vec<String>, Vec<String>, Vec<u64>);

fn expected(name: &str) -> BTreeMap<u64, FrameMessages> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sbi")
        .join(name.replace(".pcapng", ".tsv"));
    let text = std::fs::read_to_string(&path).expect("expected records");
    let split = |s: &str| -> Vec<String> {
        s.split('|')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let statuses = split(f[3]).iter().map(|s| s.parse().unwrap()).collect();
            (f[0].parse().unwrap(), (split(f[1]), split(f[2]), statuses))
        })
        .collect()
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn http_messages_match_tshark() {
    let dir = common::shared_captures();
    for name in [HR, LBO, FREE5GC, LILY, HTTP1] {
        let mut ours: BTreeMap<u64, FrameMessages> = BTreeMap::new();
        for r in lines(&landfall(&["inspect", &capture(&dir, name)])) {
            if r["proto"] != "sbi" {
                continue;
            }
            let e = ours.entry(r["frame"].as_u64().unwrap()).or_default();
            if let Some(m) = r["method"].as_str() {
                e.0.push(m.to_owned());
                e.1.push(r["path"].as_str().unwrap_or("").to_owned());
            }
            if let Some(s) = r["status"].as_u64() {
                e.2.push(s);
            }
        }
        let want = expected(name);
        assert!(want.len() > 50, "{name}: {} frames", want.len());
        let differ: Vec<_> = want
            .iter()
            .filter(|(f, w)| ours.get(f) != Some(w))
            .take(5)
            .collect();
        assert!(differ.is_empty(), "{name}: tshark has {differ:?}");
        let extra: Vec<_> = ours
            .keys()
            .filter(|f| !want.contains_key(f))
            .take(5)
            .collect();
        assert!(extra.is_empty(), "{name}: only we have frames {extra:?}");
    }
}

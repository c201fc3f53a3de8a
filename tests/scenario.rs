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
        on_disk == landfall_testkit::scenario::roaming_scenario(),
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

/// (type, level, area, from, to, at) of one moment, for whole-record comparisons.
fn full(m: &Value) -> (String, String, String, String, String, String) {
    let s = |k: &str| m[k].as_str().unwrap_or("-").to_string();
    (
        s("type"),
        s("level"),
        s("area"),
        s("from"),
        s("to"),
        s("at"),
    )
}

#[test]
fn each_case_yields_what_the_rules_say() {
    let pcap = fixture("roaming-scenario.pcap");
    let ms = moments(&replay(&[pcap.to_str().unwrap()]));

    // Rejected attaches (Experimental-Result 5004, Result-Code 5001) are not arrivals;
    // `fixture_decodes_without_errors` checks both were decoded as rejected signals.
    assert!(of(&ms, "460001234567890").is_empty());
    assert!(of(&ms, "234150000000001").is_empty());

    // Inbound roamer: arrival at both levels and roaming-on; purge gives departures.
    let mut anna = of(&ms, "262011234567890");
    anna.sort();
    assert_eq!(
        anna,
        [
            ("arrival", "country", "FR"),
            ("arrival", "network", "208-01"),
            ("departure", "country", "FR"),
            ("departure", "network", "208-01"),
            ("roaming-on", "country", "FR"),
        ],
        "inbound roamer"
    );
    for m in ms.iter().filter(|m| m["imsi"] == "262011234567890") {
        assert_eq!(m["msisdn"], "4915112345678", "MSISDN from the ULA: {m}");
        assert_eq!(m["home"], "262-01");
        assert_eq!(m["home_country"], "DE");
        if m["type"] == "departure" {
            assert!(m.get("to").is_none(), "a purge leaves to no area: {m}");
            assert_eq!(m["at"], "2026-06-01T11:00:00.000000Z");
        }
    }

    // Outbound roamer: on, change-country, off, with the countries they came from.
    let bruno: Vec<_> = ms
        .iter()
        .filter(|m| m["imsi"] == "208011000000001" && m["type"] != "departure")
        .map(full)
        .collect();
    let want = |t: &str, l: &str, a: &str, f: &str, at: &str| {
        let s = |x: &str| x.to_string();
        (s(t), s(l), s(a), s(f), s("-"), format!("2026-06-01T{at}Z"))
    };
    for w in [
        want("roaming-on", "country", "ES", "-", "08:10:00.000200"),
        want("arrival", "country", "ES", "-", "08:10:00.000200"),
        want("arrival", "network", "214-07", "-", "08:10:00.000200"),
        want(
            "roaming-change-country",
            "country",
            "CH",
            "ES",
            "13:00:00.000000",
        ),
        want("arrival", "country", "CH", "ES", "13:00:00.000000"),
        want("arrival", "network", "228-01", "214-07", "13:00:00.000000"),
        want("roaming-off", "country", "FR", "CH", "17:00:00.000000"),
        want("arrival", "country", "FR", "CH", "17:00:00.000000"),
        want("arrival", "network", "208-01", "228-01", "17:00:00.000000"),
    ] {
        assert!(bruno.contains(&w), "outbound roamer lacks {w:?}: {bruno:?}");
    }
    assert_eq!(bruno.len(), 9, "{bruno:?}");

    // Home subscribers moving between French networks: no country or roaming moment
    // after their first sighting.
    for imsi in ["208015000000002", "208016000000003"] {
        let country: Vec<_> = of(&ms, imsi)
            .into_iter()
            .filter(|m| m.1 == "country")
            .collect();
        assert_eq!(country, [("arrival", "country", "FR")], "{imsi}");
    }

    // Re-entry inside the gap: the return to 208-01 at 12:00 was seen (departure from
    // 208-10 to 208-01) but is no second arrival into 208-01.
    let emil: Vec<_> = ms
        .iter()
        .filter(|m| m["imsi"] == "208015000000002" && m["level"] == "network")
        .map(full)
        .collect();
    let back = (
        "departure".to_string(),
        "network".to_string(),
        "208-10".to_string(),
        "-".to_string(),
        "208-01".to_string(),
        "2026-06-01T12:00:00.000000Z".to_string(),
    );
    assert!(emil.contains(&back), "return not seen: {emil:?}");
    let arrivals: Vec<_> = emil
        .iter()
        .filter(|m| m.0 == "arrival" && m.2 == "208-01")
        .collect();
    assert_eq!(arrivals.len(), 1, "{emil:?}");
    assert_eq!(arrivals[0].5, "2026-06-01T08:30:00.000000Z");

    // Outside the gap (15 h away): a second arrival, from 208-20.
    let fay: Vec<_> = ms
        .iter()
        .filter(|m| m["imsi"] == "208016000000003" && m["type"] == "arrival")
        .filter(|m| m["area"] == "208-01")
        .map(full)
        .collect();
    assert_eq!(fay.len(), 2, "{fay:?}");
    assert_eq!(fay[1].3, "208-20");
    assert_eq!(fay[1].5, "2026-06-02T00:00:00.000000Z");

    // GTPv2: Gina's accepted Create Session places her (inbound roamer from ES) in
    // 208-01; the later cell change and session end give nothing new.
    let mut gina = of(&ms, "214070000000005");
    gina.sort();
    assert_eq!(
        gina,
        [
            ("arrival", "country", "FR"),
            ("arrival", "network", "208-01"),
            ("roaming-on", "country", "FR"),
        ],
        "GTPv2 session"
    );
    assert!(ms
        .iter()
        .filter(|m| m["imsi"] == "214070000000005")
        .all(|m| m["source"]["proto"] == "gtpv2" && m["msisdn"] == "34600000005"));

    // MAP: Hugo's updateLocation reaches country level through the VLR's +33, with the
    // MSISDN of the dialogue's insertSubscriberData; the relayed End adds nothing. Ivan's
    // roamingNotAllowed is no arrival.
    let mut hugo = of(&ms, "310410123456789");
    hugo.sort();
    assert_eq!(
        hugo,
        [
            ("arrival", "country", "FR"),
            ("roaming-on", "country", "FR")
        ],
        "MAP updateLocation"
    );
    assert!(ms
        .iter()
        .filter(|m| m["imsi"] == "310410123456789")
        .all(|m| m["source"]["proto"] == "map"
            && m["msisdn"] == "14055550100"
            && m["home"] == "310-410"
            && m["home_country"] == "US"));
    assert!(of(&ms, "250011234567890").is_empty());

    // 5G SA: Lia's Nudm UECM registration, relayed by the SEPPs (two copies on the wire),
    // is one attach at the first copy's time over NR; her purge three hours later gives
    // the departures.
    let mut lia = of(&ms, "222100000000007");
    lia.sort();
    assert_eq!(
        lia,
        [
            ("arrival", "country", "FR"),
            ("arrival", "network", "208-01"),
            ("departure", "country", "FR"),
            ("departure", "network", "208-01"),
            ("roaming-on", "country", "FR"),
        ],
        "5G roamer"
    );
    for m in ms.iter().filter(|m| m["imsi"] == "222100000000007") {
        assert_eq!(m["source"]["proto"], "sbi", "{m}");
        assert_eq!(
            (&m["home"], &m["home_country"]),
            (&"222-10".into(), &"IT".into())
        );
        let (at, frame) = if m["type"] == "departure" {
            ("2026-06-02T04:00:00.000000Z", 74)
        } else {
            assert_eq!(m["rat"], 1006, "NR: {m}");
            ("2026-06-02T01:00:00.000000Z", 70)
        };
        assert_eq!(
            (&m["at"], &m["source"]["frame"]),
            (&at.into(), &frame.into()),
            "{m}"
        );
    }

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
    // Both rejected attaches and the refused MAP updateLocation were decoded, as rejected
    // signals; the GTPv2 session and the MAP update as their kinds.
    let rejected = text
        .lines()
        .find(|l| l.trim_start().starts_with("rejected "))
        .unwrap_or_default();
    assert!(rejected.trim_end().ends_with(" 3"), "3 rejected: {text}");
    // The SEPPs' copies of the 5G roamer's PUT and PATCH join their first copies.
    let copies = text
        .lines()
        .find(|l| l.contains("request copy relayed by an SCP/SEPP"))
        .unwrap_or_default();
    assert!(copies.trim_end().ends_with(" 2"), "2 SBI copies: {text}");
    for (name, n) in [
        ("attach", 7),
        ("purge", 2),
        ("session_start", 1),
        ("cell_change", 1),
        ("session_end", 1),
        ("location_update", 5),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_default();
        assert!(
            line.trim_end().ends_with(&format!(" {n}")),
            "{name}: {text}"
        );
    }
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn magma_inbound_roamer_arrives_in_001_01() {
    let dir = common::shared_captures();
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

/// Zones over the scenario (fixtures/zones.toml, fixtures/cells.csv): Gina's session starts
/// in a Paris-centre cell (polygon zone) and 15 minutes later her eNodeB hands her over to
/// the Roissy-CDG cell (in the circle zone via the catalog, and listed explicitly in the
/// arrivals-hall zone). With a 20-minute minimum dwell the short Paris-centre stay gives
/// nothing; without one it arrives and departs.
#[test]
fn zones_give_zone_moments_with_and_without_dwell() {
    let pcap = fixture("roaming-scenario.pcap");
    let zones = fixture("zones.toml");
    let cells = fixture("cells.csv");
    let args = |dwell: &'static str| {
        vec![
            pcap.to_str().unwrap().to_owned(),
            "--zones".into(),
            zones.to_str().unwrap().to_owned(),
            "--cells".into(),
            cells.to_str().unwrap().to_owned(),
            "--min-dwell".into(),
            dwell.into(),
        ]
    };
    let run = |dwell, workers: &str| {
        let mut a = args(dwell);
        a.extend(["--workers".to_owned(), workers.to_owned()]);
        replay(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let golden = std::fs::read_to_string(fixture("roaming-scenario.zones.moments.jsonl"))
        .expect("zones golden present");
    assert_eq!(run("20m", "1"), golden);
    assert_eq!(run("20m", "2"), golden);

    let plain = std::fs::read_to_string(fixture("roaming-scenario.moments.jsonl")).unwrap();
    let ms = moments(&golden);
    let (zoned, rest): (Vec<Value>, Vec<Value>) =
        ms.into_iter().partition(|m| m["level"] == "zone");
    assert_eq!(rest, moments(&plain), "zones add moments, change none");
    let gina = "214070000000005";
    let mut got = of(&zoned, gina);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("arrival", "zone", "cdg-arrivals"),
            ("arrival", "zone", "cdg-t2"),
        ]
    );
    assert_eq!(zoned.len(), 2, "{zoned:?}");
    for m in &zoned {
        assert_eq!(m["imsi"], gina);
        assert_eq!(m["at"], "2026-06-01T08:55:00.000000Z");
        assert_eq!(m["source"]["frame"], 36);
    }

    let eager = moments(&run("0s", "1"));
    let mut got: Vec<(&str, &str, &str)> = of(&eager, gina)
        .into_iter()
        .filter(|(_, level, _)| *level == "zone")
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("arrival", "zone", "cdg-arrivals"),
            ("arrival", "zone", "cdg-t2"),
            ("arrival", "zone", "paris-centre"),
            ("departure", "zone", "paris-centre"),
        ]
    );
}

/// `--ending-ago` moves the scenario in time, nothing else: the same moments (by kind,
/// level, area and subscriber), every time shifted alike, the last frame that long ago.
#[test]
fn the_scenario_moved_to_end_an_hour_ago() {
    let dir = common::temp_dir("scenario-ago");
    let out = dir.join("now.pcapng");
    let before = std::time::SystemTime::now();
    let st = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(["scenario", "--ending-ago", "1h", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let at = |m: &Value| -> i64 {
        humantime::parse_rfc3339(m["at"].as_str().unwrap())
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
    };
    let (old, new) = (
        moments(&replay(&[fixture("roaming-scenario.pcap")
            .to_str()
            .unwrap()])),
        moments(&replay(&[out.to_str().unwrap()])),
    );
    assert_eq!(old.len(), new.len());
    // Moments at one time are ordered by id, which hashes the time: compare as sets,
    // each time relative to the first.
    let relative = |ms: &[Value]| {
        let first = ms.iter().map(at).min().unwrap();
        let mut v: Vec<(i64, String)> = ms
            .iter()
            .map(|m| {
                let what = ["type", "level", "area", "imsi"].map(|k| m[k].to_string());
                (at(m) - first, what.join(" "))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(relative(&old), relative(&new));
    // The last moment is at most an hour before the run (the last frame is exactly).
    let hour_ago = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
        - 3_600_000_000;
    let last = new.iter().map(at).max().unwrap();
    assert!(last <= hour_ago + 5_000_000 && last > hour_ago - 86_400_000_000 * 3);
    let _ = std::fs::remove_dir_all(&dir);
}

//! GSM MAP from the real pcapr captures end to end: updateLocation / updateGprsLocation
//! dialogues give country-level arrivals (serving country from the VLR/SGSN number's E.164
//! calling code), the roamingNotAllowed dialogue gives `rejected` signals and no arrival,
//! the Ericsson INAP dialogue is not read as MAP, and a GT → PLMN table lifts MAP signals
//! to the network level.

mod common;

use std::path::Path;

use serde_json::Value;

fn landfall(args: &[&str]) -> (String, String) {
    let out = common::run_landfall(args);
    (
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

fn moments(dir: &Path, name: &str, extra: &[&str]) -> Vec<Value> {
    let path = dir.join(name);
    let mut args = vec!["replay", "--quiet", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    landfall(&args)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).expect("moment JSON"))
        .collect()
}

fn has(ms: &[Value], kind: &str, level: &str, area: &str, imsi: &str) -> bool {
    ms.iter()
        .any(|m| m["type"] == kind && m["level"] == level && m["area"] == area && m["imsi"] == imsi)
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn update_location_dialogues_arrive_in_the_vlr_country() {
    let dir = common::shared_captures();
    // VLR 441122 → +44, United Kingdom; the IMSIs are from test network 001-01.
    let lu = moments(&dir, "pcapr-LU-m3ua-map-updatelocation-isd.pcap", &[]);
    for imsi in ["001011356567851", "001011356567853"] {
        assert!(has(&lu, "arrival", "country", "GB", imsi), "{lu:?}");
        assert!(has(&lu, "roaming-on", "country", "GB", imsi), "{lu:?}");
    }
    // The MSISDN comes from insertSubscriberData of the same dialogue.
    assert!(lu.iter().any(|m| m["msisdn"] == "19786148973"), "{lu:?}");
    // updateGprsLocation: SGSN 861370800 → +86, China, a home subscriber (460-00).
    let ugl = moments(
        &dir,
        "pcapr-gprs_ms_log-m3ua-map-sai-ugl-isd-with-gb.pcap",
        &[],
    );
    assert!(
        has(&ugl, "arrival", "country", "CN", "460004100000101"),
        "{ugl:?}"
    );
    assert!(!ugl.iter().any(|m| m["type"] == "roaming-on"), "{ugl:?}");
    // pcapr-tmp relays every message over several links: one arrival, not four.
    let tmp = moments(&dir, "pcapr-tmp-m3ua-map-sri-ul-isd.pcap", &[]);
    let arrivals = tmp.iter().filter(|m| m["type"] == "arrival").count();
    assert_eq!(arrivals, 1, "{tmp:?}");
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn roaming_not_allowed_is_rejected_without_arrival() {
    let dir = common::shared_captures();
    let name = "pcapr-test-m3ua-map-ati-sendid-ul-roamingNotAllowed.pcap";
    assert!(moments(&dir, name, &[]).is_empty());
    let path = dir.join(name);
    let (stats, _) = landfall(&["inspect", "--stats", path.to_str().unwrap()]);
    let rejected = stats
        .lines()
        .find(|l| l.trim_start().starts_with("rejected "))
        .unwrap_or_default();
    assert!(rejected.trim_end().ends_with(" 2"), "{stats}");
    assert!(!stats.contains("location_update"), "{stats}");
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn inap_dialogue_is_not_read_as_map() {
    let dir = common::shared_captures();
    let path = dir.join("pcapr-attach_sccp_xudts-m2pa-xudt-segmented-tcap-ericsson-inap.pcap");
    let (records, _) = landfall(&["inspect", path.to_str().unwrap()]);
    let (stats, _) = landfall(&["inspect", "--stats", path.to_str().unwrap()]);
    assert!(records.trim().is_empty(), "{records}");
    assert!(stats.contains("tcap not MAP"), "{stats}");
    assert!(stats.contains("decode errors 0"), "{stats}");
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn gt_table_gives_map_signals_a_network() {
    let dir = common::shared_captures();
    let table = common::temp_dir("gt-plmn").join("gt.txt");
    std::fs::write(&table, "# test\n4411 234-15\n").unwrap();
    let ms = moments(
        &dir,
        "pcapr-LU-m3ua-map-updatelocation-isd.pcap",
        &["--gt-plmn", table.to_str().unwrap()],
    );
    assert!(
        has(&ms, "arrival", "network", "234-15", "001011356567851"),
        "{ms:?}"
    );
    assert!(
        has(&ms, "arrival", "country", "GB", "001011356567851"),
        "{ms:?}"
    );
}

//! NGAP from the real free5GC and Open5GS captures: every NGAP PDU tshark decodes is
//! decoded alike, frame by frame (kind, procedure code, RAN and AMF UE ids, NR-CGI and
//! 5GS TAI of the user location; tests/data/ngap, made by make-expected.sh there); the
//! registered UEs' cells become `cell_change` signals of their IMSI, the one whose
//! registration names only a GUTI attributed through its Identity Response; nothing is
//! a decode error.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use common::{capture_arg as capture, json_lines as lines, landfall_output as landfall};

const HR: &str = "open5gs-5g-roaming-home-routed-sll.pcapng";
const LBO: &str = "open5gs-5g-roaming-lbo-sll.pcapng";
const FREE5GC: &str = "telekom-free5gc-ngap-sbi-pfcp-sll.pcapng";
const LILY: &str = "lilyhuegerich-open5gs-5gc-4ue-ngap-sbi-sll.pcapng";

/// One frame's NGAP PDUs as tshark's columns show them, each column's values joined by
/// '|' in the order of the frame: kind, procedure code, RAN ids, AMF ids, NR-CGI MCC,
/// MNC, cell identity (hex), TAI MCC, MNC, TAC.
type Columns = [String; 10];

fn expected(name: &str) -> BTreeMap<u64, Columns> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ngap")
        .join(name.replace(".pcapng", ".tsv"));
    let text = std::fs::read_to_string(&path).expect("expected records");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 11, "{l}");
            let mut c: Columns = Default::default();
            for (i, v) in f[1..11].iter().enumerate() {
                c[i] = (*v).to_owned();
            }
            // A TAC outside a user location (NG Setup's supported TAs) has no 5GS TAI
            // PLMN beside it in tshark's fields: not one of the columns compared.
            if c[7].is_empty() {
                c[9].clear();
            }
            (f[0].parse().unwrap(), c)
        })
        .collect()
}

/// Our records of one frame in tshark's columns.
fn columns(records: &[&Value]) -> Columns {
    let mut c: [Vec<String>; 10] = Default::default();
    let plmn = |p: &Value| -> (String, String) {
        let s = p.as_str().unwrap_or("");
        let (mcc, mnc) = s.split_once('-').unwrap_or(("", ""));
        let n = |x: &str| x.parse::<u32>().map(|v| v.to_string()).unwrap_or_default();
        (n(mcc), n(mnc))
    };
    for r in records {
        let kind = match r["component"].as_str() {
            Some("initiating") => "0",
            Some("successful") => "1",
            _ => "2",
        };
        c[0].push(kind.to_owned());
        c[1].push(r["code"].to_string());
        if let Some(v) = r["ran_ue_id"].as_u64() {
            c[2].push(v.to_string());
        }
        if let Some(v) = r["amf_ue_id"].as_u64() {
            c[3].push(v.to_string());
        }
        if let Some(n) = r.get("ncgi") {
            let (mcc, mnc) = plmn(&n["plmn"]);
            c[4].push(mcc);
            c[5].push(mnc);
            c[6].push(format!("0x{:016x}", n["nci"].as_u64().unwrap()));
        }
        if let Some(t) = r.get("tai") {
            let (mcc, mnc) = plmn(&t["plmn"]);
            c[7].push(mcc);
            c[8].push(mnc);
            c[9].push(t["tac"].to_string());
        }
    }
    c.map(|v| v.join("|"))
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn ngap_pdus_match_tshark() {
    let dir = common::shared_captures();
    for name in [FREE5GC, LILY, HR, LBO] {
        let records = lines(&landfall(&["inspect", &capture(&dir, name)]));
        let mut by_frame: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for r in records.iter().filter(|r| r["proto"] == "ngap") {
            by_frame
                .entry(r["frame"].as_u64().unwrap())
                .or_default()
                .push(r);
        }
        let ours: BTreeMap<u64, Columns> =
            by_frame.iter().map(|(f, rs)| (*f, columns(rs))).collect();
        let want = expected(name);
        assert!(want.len() >= 12, "{name}: {} frames", want.len());
        let differ: Vec<_> = want
            .iter()
            .filter(|(f, w)| ours.get(f) != Some(w))
            .take(5)
            .map(|(f, w)| (f, w, ours.get(f)))
            .collect();
        assert!(differ.is_empty(), "{name}: tshark vs ours {differ:?}");
        let extra: Vec<_> = ours.keys().filter(|f| !want.contains_key(f)).collect();
        assert!(extra.is_empty(), "{name}: only we have frames {extra:?}");
    }
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn registered_ues_cells_become_signals() {
    let dir = common::shared_captures();
    let cells = |name: &str| -> Vec<Value> {
        lines(&landfall(&["inspect", "--signals", &capture(&dir, name)]))
            .into_iter()
            .filter(|s| s["source"]["proto"] == "ngap")
            .collect()
    };
    // free5GC: the UE of the SUCI 208-93 (null scheme), in cell 1 of TA 1, once the
    // Initial Context Setup is answered (frame 174): the signal is that answer's.
    let f = cells(FREE5GC);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["kind"], "cell_change");
    assert_eq!(f[0]["imsi"], "2089300007487");
    assert_eq!(f[0]["serving"], "208-93");
    assert_eq!(f[0]["location"]["type"], "ncgi");
    assert_eq!(f[0]["location"]["nci"], 1);
    assert_eq!(f[0]["source"]["frame"], 174);
    // Four UEs, one cell each.
    let l = cells(LILY);
    let mut imsis: Vec<&str> = l.iter().filter_map(|s| s["imsi"].as_str()).collect();
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
    // The roamers: registered with a GUTI of another network, then identified by their
    // Identity Response; the cell is the visited network's.
    for (name, imsi, serving) in [
        (HR, "999700000021309", "001-01"),
        (LBO, "001010000021309", "999-70"),
    ] {
        let s = cells(name);
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        assert_eq!(s[0]["imsi"], imsi, "{name}");
        assert_eq!(s[0]["serving"], serving, "{name}");
    }
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn ngap_is_counted_without_decode_errors() {
    let dir = common::shared_captures();
    for name in [FREE5GC, LILY, LBO] {
        let report = landfall(&["inspect", "--stats", &capture(&dir, name)]);
        assert!(report.contains("decode errors 0"), "{name}:\n{report}");
        assert!(
            report.contains("ngap InitialUEMessage"),
            "{name}:\n{report}"
        );
        assert!(
            report.contains("ngap InitialContextSetup successful"),
            "{name}:\n{report}"
        );
    }
}

//! `landfall inspect` scored against the tshark oracle in ../shared/conformance with its
//! own compare.py: every Diameter, GTPv1, MAP and GTPv2 record of every capture must pass (with one
//! documented ECI difference).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run compare.py over `ours` with `extra` arguments; it must report no failure.
fn compare(conformance: &Path, ours: &Path, extra: &[&str]) {
    let run = Command::new("python3")
        .arg(conformance.join("compare.py"))
        .arg("--dir")
        .arg(conformance.join("oracle"))
        .arg("--ours-dir")
        .arg(ours)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("run compare.py");
    let report = String::from_utf8_lossy(&run.stdout);
    eprintln!("{report}");
    let last = report.lines().last().unwrap_or_default();
    assert!(
        run.status.success(),
        "compare.py {extra:?} reports failures: {last}"
    );
    assert!(
        last.ends_with(" passed, 0 failed") && !last.starts_with("0 passed"),
        "unexpected summary: {last}"
    );
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn inspect_matches_the_tshark_oracle() {
    let captures = common::shared_captures();
    let conformance = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    assert!(
        Command::new("python3").arg("--version").output().is_ok(),
        "python3 is not installed: compare.py needs it (.ci/run installs it)"
    );
    let out = common::temp_dir("conformance");
    let status = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .arg("inspect")
        .arg("--out-dir")
        .arg(&out)
        .args(common::capture_files(&captures))
        .status()
        .expect("run landfall inspect");
    assert!(status.success(), "landfall inspect failed: {status}");

    compare(&conformance, &out, &["--protos", "diameter,gtpv1,map"]);
    // GTPv2: every field but the ECI, where tshark 4.0 keeps the 4 spare bits that
    // TS 29.274 §8.21.5 says receivers ignore (ndpi-gtpv2-create-session carries
    // 0x12345678 in the ECGI octets; the 28-bit ECI is 0x2345678 = 36984440).
    compare(
        &conformance,
        &out,
        &[
            "--protos",
            "gtpv2",
            "--fields",
            "frame,ts_us,proto,type,seq,teid,imsi,msisdn,plmn,rat,cause,tai,ecgi.plmn,lai,cgi,sai,rai",
        ],
    );
    let ndpi = std::fs::read_to_string(out.join("ndpi-gtpv2-create-session.pcap.jsonl"))
        .expect("ndpi output");
    assert!(
        ndpi.contains(r#""ecgi":{"plmn":"896-457","eci":36984440}"#),
        "{ndpi}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

//! `landfall inspect` scored against the tshark oracle in ../shared/conformance with its
//! own compare.py: every Diameter record of every capture must pass.

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn inspect_matches_the_tshark_oracle_for_diameter() {
    let Some(captures) = common::shared_captures() else {
        return;
    };
    let conformance = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipping: python3 is not installed (compare.py needs it)");
        return;
    }
    let out = common::temp_dir("conformance");
    let status = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .arg("inspect")
        .arg("--out-dir")
        .arg(&out)
        .args(common::capture_files(&captures))
        .status()
        .expect("run landfall inspect");
    assert!(status.success(), "landfall inspect failed: {status}");

    let compare = Command::new("python3")
        .arg(conformance.join("compare.py"))
        .arg("--dir")
        .arg(conformance.join("oracle"))
        .arg("--ours-dir")
        .arg(&out)
        .args(["--protos", "diameter", "--quiet"])
        .output()
        .expect("run compare.py");
    let report = String::from_utf8_lossy(&compare.stdout);
    eprintln!("{report}");
    let last = report.lines().last().unwrap_or_default();
    assert!(
        compare.status.success(),
        "compare.py reports failures: {last}"
    );
    assert!(
        last.ends_with(" passed, 0 failed") && !last.starts_with("0 passed"),
        "unexpected summary: {last}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

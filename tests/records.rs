//! Signal records (docs/records.md): `inspect --signals` of every shared capture and of the
//! fixture, fed back through `replay --records`, gives byte-identical moments to `replay`
//! of the capture itself; so does a run over several captures merged; a record file with
//! bad lines still gives the good lines' moments, the bad ones counted by reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_landfall");

fn run(args: &[&std::ffi::OsStr]) -> Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "landfall {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `replay` of `captures` and `replay --records` of their `inspect --signals`, compared
/// byte for byte; returns the number of moments.
fn same_through_records(dir: &Path, captures: &[PathBuf], name: &str) -> usize {
    let caps: Vec<&std::ffi::OsStr> = captures.iter().map(|p| p.as_os_str()).collect();
    let records = dir.join(format!("{name}.signals.jsonl"));
    let mut inspect: Vec<&std::ffi::OsStr> = vec!["inspect".as_ref(), "--signals".as_ref()];
    inspect.extend(&caps);
    std::fs::write(&records, run(&inspect).stdout).unwrap();
    let mut replay: Vec<&std::ffi::OsStr> = vec!["replay".as_ref(), "-q".as_ref()];
    replay.extend(&caps);
    let direct = run(&replay).stdout;
    let through = run(&[
        "replay".as_ref(),
        "-q".as_ref(),
        "--records".as_ref(),
        records.as_os_str(),
    ])
    .stdout;
    assert!(
        direct == through,
        "{name}: replay --records differs from replay ({} against {} bytes)",
        through.len(),
        direct.len()
    );
    let signals = std::fs::read_to_string(&records).unwrap().lines().count();
    let moments = direct.iter().filter(|&&b| b == b'\n').count();
    assert!(
        moments == 0 || signals > 0,
        "{name}: moments without signals"
    );
    moments
}

#[test]
fn the_fixture_goes_through_its_records_unchanged() {
    let dir = common::temp_dir("records-fixture");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap");
    assert!(same_through_records(&dir, &[fixture], "roaming-scenario") > 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn every_shared_capture_goes_through_its_records_unchanged() {
    let dir = common::temp_dir("records-shared");
    let captures = common::capture_files(&common::shared_captures());
    assert!(captures.len() >= 36, "{} captures", captures.len());
    let mut with_moments = 0;
    for c in &captures {
        let name = c.file_name().unwrap().to_string_lossy().into_owned();
        if same_through_records(&dir, std::slice::from_ref(c), &name) > 0 {
            with_moments += 1;
        }
    }
    assert!(
        with_moments >= 5,
        "only {with_moments} captures gave moments"
    );
    // Several captures merged, named by file in the records.
    let several: Vec<PathBuf> = captures
        .iter()
        .filter(|c| c.to_string_lossy().contains("magma"))
        .cloned()
        .collect();
    assert!(several.len() >= 2);
    assert!(same_through_records(&dir, &several, "magma-merged") > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_lines_are_counted_and_the_rest_gives_its_moments() {
    let dir = common::temp_dir("records-bad");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap");
    let good = run(&[
        "inspect".as_ref(),
        "--signals".as_ref(),
        fixture.as_os_str(),
    ])
    .stdout;
    let good = String::from_utf8(good).unwrap();
    let mut text = String::new();
    for (i, line) in good.lines().enumerate() {
        text.push_str(line);
        text.push('\n');
        if i == 2 {
            text.push_str("{\"v\":1,\"at\":\"soon\",\"imsi\":\"262011234567890\",\"kind\":\"attach\",\"source\":{\"proto\":\"diameter\"}}\n");
            text.push_str("garbage\n");
        }
    }
    let records = dir.join("mixed.jsonl");
    std::fs::write(&records, text).unwrap();
    let through = run(&["replay".as_ref(), "--records".as_ref(), records.as_os_str()]);
    let direct = run(&["replay".as_ref(), "-q".as_ref(), fixture.as_os_str()]).stdout;
    assert_eq!(through.stdout, direct);
    let report = String::from_utf8_lossy(&through.stderr);
    assert!(
        report.contains("2 bad lines skipped")
            && report.contains("mixed.jsonl:4: at")
            && report.contains("mixed.jsonl:5: "),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

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

/// Each example mapping, applied to its sample export, gives the moments of its golden
/// file (checked by hand against the rows: see fixtures/README.md), the bad rows named.
#[test]
fn each_example_mapping_gives_its_golden_moments() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/records");
    for (vendor, sample, bad) in [
        (
            "vendor-a",
            "vendor-a.csv",
            ["vendor-a.csv:7: imsi", "vendor-a.csv:8: serving"],
        ),
        (
            "vendor-b",
            "vendor-b.jsonl",
            ["vendor-b.jsonl:4: kind", "vendor-b.jsonl:5: at"],
        ),
    ] {
        let mapping = fixtures.join(format!("{vendor}.toml"));
        let out = run(&[
            "replay".as_ref(),
            "--records".as_ref(),
            "--mapping".as_ref(),
            mapping.as_os_str(),
            fixtures.join(sample).as_os_str(),
        ]);
        let golden = std::fs::read(fixtures.join(format!("{vendor}.moments.jsonl"))).unwrap();
        assert!(
            out.stdout == golden,
            "{vendor}: moments differ from the golden file:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let report = String::from_utf8_lossy(&out.stderr);
        for b in bad {
            assert!(report.contains(b), "{vendor}: {b} not reported: {report}");
        }
    }
}

/// A mapping that cannot be used stops the run before anything is read, naming its key.
#[test]
fn a_bad_mapping_is_one_error_naming_its_key() {
    let dir = common::temp_dir("records-mapping");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/records");
    let good = std::fs::read_to_string(fixtures.join("vendor-b.toml")).unwrap();
    for (change, says) in [
        (
            ("zone = \"Europe/Paris\"", "zone = \"Europe/Pariss\""),
            "time.zone",
        ),
        (("zone = \"Europe/Paris\"", ""), "time.zone"),
        (("format = \"jsonl\"", "format = \"xml\""), "line 5"),
        (("[fields]", "[fields]\ncolour = \"x\""), "unknown field"),
        (
            ("format = \"%Y-%m-%d %H:%M:%S%.f\"", "format = \"yyyy\""),
            "time.format",
        ),
    ] {
        let mapping = dir.join("bad.toml");
        std::fs::write(&mapping, good.replace(change.0, change.1)).unwrap();
        let out = Command::new(BIN)
            .args(["replay", "--records", "--mapping"])
            .arg(&mapping)
            .arg(fixtures.join("vendor-b.jsonl"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{change:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

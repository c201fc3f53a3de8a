//! Bad input and bad flags from a user's and a hostile tester's hands: every flag that
//! takes a value, given out-of-range, empty, negative and malformed values, gives one
//! readable error and exit code 2, never a panic; outputs are checked before inputs are
//! read; inputs are all opened first; standard input reads a capture stream.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn landfall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run landfall")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 2, no panic, and the message names what is wrong.
fn assert_refused(args: &[&str], says: &str) {
    let o = landfall(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
    assert!(
        e.contains(says),
        "{args:?}: expected {says:?} in the error: {e}"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn every_value_flag_refuses_bad_values_cleanly() {
    let pcap = fixture("roaming-scenario.pcap");
    let zones = fixture("zones.toml");
    let dir = common::temp_dir("bad-flags");
    let out = dir.join("m.jsonl");
    let (pcap, zones, out) = (path(&pcap), path(&zones), path(&out));
    let bad_durations = [
        "",
        "-1s",
        "abc",
        "10000y",
        "1000000y",
        "367d",
        "99999999999999999999s",
    ];
    for flag in ["--ttl", "--reentry-gap", "--min-dwell", "--connect-timeout"] {
        for v in bad_durations {
            let arg = format!("{flag}={v}");
            assert_refused(
                &["replay", pcap, "--zones", zones, "--out", out, &arg],
                flag,
            );
        }
    }
    assert_refused(&["replay", pcap, "--ttl", "0s"], "--ttl");
    assert_refused(
        &["replay", pcap, "--connect-timeout", "0s"],
        "--connect-timeout",
    );
    let numbers = ["", "-1", "abc", "1.5", "99999999999999999999"];
    for flag in ["--workers", "--processes", "--process"] {
        for v in numbers {
            assert_refused(&["replay", pcap, &format!("{flag}={v}")], flag);
        }
    }
    assert_refused(&["replay", pcap, "--workers", "0"], "--workers");
    assert_refused(&["replay", pcap, "--processes", "0"], "--processes");
    assert_refused(&["replay", pcap, "--process", "1"], "--process 1");
    assert_refused(
        &["replay", pcap, "--processes", "2", "--process", "2"],
        "--process 2 is not below --processes 2",
    );
    assert_refused(&["replay", pcap, "--processes", "2"], "--hostfile");
    for v in ["", "-1", "abc", "70000", "3868,x"] {
        let arg = format!("--diameter-tcp-ports={v}");
        assert_refused(&["replay", pcap, &arg], "--diameter-tcp-ports");
        assert_refused(&["inspect", pcap, &arg], "--diameter-tcp-ports");
    }
    for v in [
        "",
        "001",
        "001=",
        "001=4",
        "1=2",
        "abc=2",
        "001=2:zz9",
        "001=-2",
        "001=x:DE",
    ] {
        let arg = format!("--mcc={v}");
        assert_refused(&["replay", pcap, &arg], "--mcc");
        assert_refused(&["inspect", pcap, &arg], "--mcc");
    }
    let missing = dir.join("missing");
    let missing = path(&missing);
    for v in ["", missing] {
        let cluster = ["replay", pcap, "--processes", "2", "--out", out];
        assert_refused(&[&cluster[..], &["--hostfile", v]].concat(), "--hostfile");
        for flag in ["--zones", "--gt-plmn"] {
            assert_refused(&["replay", pcap, flag, v], flag);
        }
    }
    assert_refused(
        &["replay", pcap, "--zones", zones, "--cells", ""],
        "--cells",
    );
    assert_refused(
        &["replay", pcap, "--zones", zones, "--cells", missing],
        "--cells",
    );
    let gt = dir.join("gt.txt");
    std::fs::write(&gt, "4477 not-a-plmn\n").unwrap();
    assert_refused(&["replay", pcap, "--gt-plmn", path(&gt)], "--gt-plmn");
    let bad_zones = dir.join("zones.toml");
    std::fs::write(&bad_zones, "[[zone]]\nid = 5\n").unwrap();
    assert_refused(&["replay", pcap, "--zones", path(&bad_zones)], "--zones");
    assert_refused(&["replay", "", "--out", out], "CAPTURES");
    assert_refused(&["replay", pcap, "--out", ""], "--out");
    assert_refused(&["inspect", pcap, "--out-dir", ""], "");
    assert_refused(&["inspect", pcap, "--out-dir", pcap], "--out-dir");
    for v in ["", "0", "-1", "abc", "70000"] {
        assert_refused(
            &["replicate", pcap, out, &format!("--copies={v}")],
            "--copies",
        );
    }
    assert_refused(&["scenario", "--out", ""], "");
    assert_refused(
        &["scenario", "--out", path(&dir.join("no/such/dir/x.pcap"))],
        "",
    );
}

#[test]
fn the_longest_durations_work_and_one_more_is_refused() {
    let pcap = fixture("roaming-scenario.pcap");
    let pcap = path(&pcap);
    let golden = std::fs::read_to_string(fixture("roaming-scenario.moments.jsonl")).unwrap();
    // A year-long gap is a gap, not a wrapped value: the scenario's re-entries stay quiet.
    let long = landfall(&[
        "replay",
        "--quiet",
        pcap,
        "--reentry-gap",
        "366d",
        "--ttl",
        "366d",
    ]);
    assert!(long.status.success(), "{}", stderr(&long));
    let long = String::from_utf8(long.stdout).unwrap();
    assert!(long.lines().count() <= golden.lines().count(), "{long}");
    assert!(long.contains("\"expires_at\":\"2027-"), "{long}");
    assert_refused(
        &["replay", pcap, "--reentry-gap", "366d 1s"],
        "out of range",
    );
}

#[test]
fn an_output_in_a_missing_directory_fails_before_reading() {
    let dir = common::temp_dir("out-missing-dir");
    let out = dir.join("no/such/dir/moments.jsonl");
    let o = landfall(&[
        "replay",
        path(&fixture("roaming-scenario.pcap")),
        "--out",
        path(&out),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("creating --out"), "{e}");
    // Nothing was decoded: no summary.
    assert!(!e.contains("frames"), "{e}");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = common::temp_dir("out-is-input");
    let capture = dir.join("c.pcap");
    std::fs::copy(fixture("roaming-scenario.pcap"), &capture).unwrap();
    let before = std::fs::read(&capture).unwrap();
    // Also through another spelling of the same path.
    let other = dir.join(".").join("c.pcap");
    for out in [&capture, &other] {
        assert_refused(
            &["replay", path(&capture), "--out", path(out)],
            "refusing to overwrite an input",
        );
    }
    assert_eq!(std::fs::read(&capture).unwrap(), before);
}

#[test]
fn one_unreadable_input_stops_both_commands_unless_skipped() {
    let dir = common::temp_dir("unreadable");
    let good = fixture("roaming-scenario.pcap");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.join("missing.pcap");
    for cmd in ["replay", "inspect"] {
        let args = [cmd, path(&good), path(&empty), path(&missing)];
        let o = landfall(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(
            o.stdout.is_empty(),
            "{cmd}: nothing decoded before the error"
        );
        assert!(e.contains("2 of 3 captures cannot be read"), "{e}");
        assert!(
            e.contains("empty.pcap: file shorter than a capture header"),
            "{e}"
        );
        assert!(e.contains("missing.pcap: cannot open"), "{e}");
        let mut skip = args.to_vec();
        skip.push("--skip-unreadable");
        let o = landfall(&skip);
        let e = stderr(&o);
        assert!(o.status.success(), "{cmd}: {e}");
        assert!(!o.stdout.is_empty(), "{cmd}: the good file is decoded");
        assert!(e.contains("skipped"), "{e}");
    }
}

#[test]
fn error_messages_say_it_once() {
    let dir = common::temp_dir("messages");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let o = landfall(&["replay", path(&empty)]);
    let e = stderr(&o);
    assert_eq!(e.matches("empty.pcap").count(), 1, "{e}");
    assert!(!e.contains("byte offset 0"), "{e}");
    let missing = dir.join("missing.pcap");
    let e = stderr(&landfall(&["replay", path(&missing)]));
    assert!(!e.contains("byte offset"), "{e}");
    assert_eq!(e.matches("missing.pcap").count(), 1, "{e}");
    // A truncated capture: the stats name the frame and the offset in words.
    let whole = std::fs::read(fixture("roaming-scenario.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &whole[..whole.len() - 7]).unwrap();
    let o = landfall(&["inspect", "--stats", path(&cut)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("capture file truncated"), "{out}");
    assert!(out.contains("cut.pcap frame "), "{out}");
    assert!(!out.contains('#'), "{out}");
}

#[test]
fn a_malformed_cell_catalog_is_an_error_with_its_line() {
    let dir = common::temp_dir("catalog");
    let cells = dir.join("cells.csv");
    let good = std::fs::read_to_string(fixture("cells.csv")).unwrap();
    std::fs::write(&cells, format!("{good}LTE,208,1,1,77,,2.35,north,1000\n")).unwrap();
    let line = good.lines().count() + 1;
    let pcap = fixture("roaming-scenario.pcap");
    let zones = fixture("zones.toml");
    let base = [
        "replay",
        path(&pcap),
        "--zones",
        path(&zones),
        "--cells",
        path(&cells),
        "--min-dwell",
        "20m",
    ];
    assert_refused(
        &base,
        &format!("catalog line {line}: lat \"north\" is not a number"),
    );
    let mut skip = base.to_vec();
    skip.push("--skip-bad-rows");
    let o = landfall(&skip);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains(&format!("1 bad rows skipped: line {line}")),
        "{e}"
    );
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        std::fs::read_to_string(fixture("roaming-scenario.zones.moments.jsonl")).unwrap()
    );
}

#[test]
fn standard_input_reads_a_capture_stream() {
    let pcap = fixture("roaming-scenario.pcap");
    let golden = std::fs::read_to_string(fixture("roaming-scenario.moments.jsonl")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(["replay", "--quiet", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&pcap).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success());
    // The same moments as from the file, the source named "-".
    let want = golden.replace("\"file\":\"roaming-scenario.pcap\"", "\"file\":\"-\"");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    assert_refused(
        &["replay", "-", "-"],
        "standard input (-) can be read only once",
    );
}

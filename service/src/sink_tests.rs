use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use landfall_model::MomentKind;

use super::*;
use crate::testutil::{country, moment};

const GOLDEN: &str = include_str!("../../fixtures/roaming-scenario.moments.jsonl");

fn golden_moments() -> (Vec<Moment>, Vec<String>) {
    let files = vec!["roaming-scenario.pcap".to_owned()];
    let moments = GOLDEN
        .lines()
        .map(|l| MomentRecord::parse(l).unwrap().to_moment(&files).unwrap())
        .collect();
    (moments, files)
}

#[test]
fn lines_are_exactly_replays() {
    let (moments, files) = golden_moments();
    let mut sink = JsonLinesSink::new(Vec::new());
    sink.write_batch(&moments[..3], &files).unwrap();
    sink.write_batch(&[], &files).unwrap();
    sink.write_batch(&moments[3..], &files).unwrap();
    assert_eq!(String::from_utf8(sink.into_inner()).unwrap(), GOLDEN);
}

fn settings(
    dir: &Path,
    rotate_bytes: Option<u64>,
    rotate_interval: Option<Duration>,
    keep: u32,
) -> FileSinkSettings {
    FileSinkSettings {
        path: dir.join("out").join("moments.jsonl"),
        rotate_bytes,
        rotate_interval,
        keep,
        fsync: true,
    }
}

/// A clock at `secs` seconds after the epoch, moved by the test.
fn fake_clock() -> (Arc<AtomicU64>, Clock) {
    let secs = Arc::new(AtomicU64::new(1_780_000_000));
    let s = secs.clone();
    (
        secs,
        Box::new(move || UNIX_EPOCH + Duration::from_secs(s.load(Ordering::SeqCst))),
    )
}

fn read_all(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn files_rotate_by_size_and_keep_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (moments, files) = golden_moments();
    let line_len = moment_line(&moments[0], &files).len() as u64;
    let cfg = settings(dir.path(), Some(3 * line_len), None, 100);
    let (secs, clock) = fake_clock();
    let mut sink = RotatingFileSink::with_clock(cfg.clone(), clock).unwrap();
    for (i, m) in moments.iter().enumerate() {
        secs.fetch_add(1, Ordering::SeqCst);
        sink.write_batch(std::slice::from_ref(m), &files).unwrap();
        // Flushed per batch: the active file holds the line already.
        assert!(std::fs::read_to_string(&cfg.path)
            .unwrap()
            .ends_with(&GOLDEN.lines().nth(i).map(|l| format!("{l}\n")).unwrap()));
    }
    let mut rotated = rotated_files(&cfg.path).unwrap();
    rotated.sort();
    assert!(!rotated.is_empty());
    for p in &rotated {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len <= 3 * line_len + 200, "{} is {len} bytes", p.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("moments-2026") && name.ends_with("Z.jsonl"),
            "{name}"
        );
    }
    // Nothing lost, nothing repeated, in order.
    let mut all = rotated.clone();
    all.push(cfg.path.clone());
    assert_eq!(read_all(&all), GOLDEN);

    // Reopened with keep = 1: appends to the active file, prunes to one rotated file at
    // the next rotation.
    drop(sink);
    let (_secs, clock) = fake_clock();
    let mut sink =
        RotatingFileSink::with_clock(settings(dir.path(), Some(3 * line_len), None, 1), clock)
            .unwrap();
    let before = std::fs::metadata(&cfg.path).unwrap().len();
    sink.write_batch(&moments[..4], &files).unwrap();
    assert_eq!(rotated_files(&cfg.path).unwrap().len(), 1);
    assert!(std::fs::metadata(&cfg.path).unwrap().len() <= 3 * line_len);
    assert!(before > 0);
}

#[test]
fn files_rotate_by_age_between_batches() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec!["x.pcap".to_owned()];
    let cfg = settings(dir.path(), None, Some(Duration::from_secs(3600)), 2);
    let (secs, clock) = fake_clock();
    let mut sink = RotatingFileSink::with_clock(cfg.clone(), clock).unwrap();
    let m = |at| moment("001010000000001", MomentKind::Arrival, country("FR"), at);
    sink.write_batch(&[m(1), m(2)], &files).unwrap();
    secs.fetch_add(1800, Ordering::SeqCst);
    sink.write_batch(&[m(3)], &files).unwrap();
    assert!(
        rotated_files(&cfg.path).unwrap().is_empty(),
        "30 minutes: not yet"
    );
    secs.fetch_add(1800, Ordering::SeqCst);
    sink.write_batch(&[m(4)], &files).unwrap();
    let rotated = rotated_files(&cfg.path).unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!(
        rotated[0].file_name().unwrap().to_string_lossy(),
        format!(
            "moments-{}.jsonl",
            file_timestamp(UNIX_EPOCH + Duration::from_secs(1_780_000_000))
        )
    );
    assert_eq!(
        std::fs::read_to_string(&rotated[0])
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert_eq!(
        std::fs::read_to_string(&cfg.path).unwrap().lines().count(),
        1
    );
    // No moments, no rotation (and no empty files).
    secs.fetch_add(7200, Ordering::SeqCst);
    sink.write_batch(&[], &files).unwrap();
    assert_eq!(rotated_files(&cfg.path).unwrap().len(), 1);
    for _ in 0..3 {
        secs.fetch_add(3600, Ordering::SeqCst);
        sink.write_batch(&[m(5)], &files).unwrap();
    }
    assert_eq!(rotated_files(&cfg.path).unwrap().len(), 2, "keep = 2");
}

#[test]
fn rotated_file_names_are_recognised_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moments.jsonl");
    for name in [
        "moments-20260601T080003.000000Z.jsonl",
        "moments-20260601T080003.000000Z-1.jsonl",
        "moments-notatime.jsonl",
        "moments.jsonl",
        "other-20260601T080003.000000Z.jsonl",
        "moments-20260601T080003.000000Z.txt",
    ] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let mut found: Vec<String> = rotated_files(&path)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "moments-20260601T080003.000000Z-1.jsonl",
            "moments-20260601T080003.000000Z.jsonl"
        ]
    );
}

#[test]
fn sinks_open_from_settings_and_write_together() {
    let dir = tempfile::tempdir().unwrap();
    let one = settings(dir.path(), None, None, 1);
    let two = FileSinkSettings {
        path: dir.path().join("b").join("m.jsonl"),
        ..one.clone()
    };
    let mut sinks = open_sinks(&[
        SinkSettings::File(one.clone()),
        SinkSettings::File(two.clone()),
    ])
    .unwrap();
    let m = moment("001010000000001", MomentKind::Arrival, country("FR"), 7);
    sinks.write_batch(&[m], &["a".to_owned()]).unwrap();
    for p in [&one.path, &two.path] {
        let line = std::fs::read_to_string(p).unwrap();
        assert_eq!(line.as_bytes(), moment_line(&m, &["a".to_owned()]));
        assert!(line.contains("\"file\":\"a\""));
    }
}

#[test]
fn a_line_cut_by_a_kill_is_dropped_before_appending() {
    let dir = std::env::temp_dir().join(format!("landfall-torn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("moments.jsonl");
    for (before, after) in [
        ("", ""),
        ("a\nb\n", "a\nb\n"),
        ("a\nb\n{\"id\":", "a\nb\n"),
        ("no newline at all", ""),
    ] {
        std::fs::write(&path, before).unwrap();
        let (mut out, len) = open_append(&path).unwrap();
        assert_eq!(len, after.len() as u64);
        out.write_all(b"next\n").unwrap();
        out.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{after}next\n")
        );
    }
    // A long tail without a newline (more than one read back).
    let long = format!("a\n{}", "x".repeat(200_000));
    std::fs::write(&path, &long).unwrap();
    let (_, len) = open_append(&path).unwrap();
    assert_eq!(len, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

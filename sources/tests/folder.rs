//! A followed folder and a files source give replay's signals: captures dropped into the
//! folder one by one while it is followed (renamed in, copied, one written in chunks while
//! read, one split across a rotation), compared as sorted multisets with
//! `decode_captures` over the same files in the same order.

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use landfall_sources::{start, FolderSpec, SourceSpec, SourceStats};
use landfall_testkit::rotation::rotated_files;
use landfall_testkit::scenario::{roaming_scenario, skew_scenario};

/// Five captures one after another in time: the roaming scenario, the skew scenario, a
/// replicated roaming scenario (60 copies, distinct subscribers) cut in two at a frame in
/// the middle of its transactions (a rotation), and the roaming scenario again.
fn captures() -> Vec<(String, Vec<u8>)> {
    rotated_files(60)
}

fn read_to_end(stats: &SourceStats, name: &str, len: usize) -> bool {
    stats
        .position()
        .is_some_and(|p| p.file == name && p.offset == len as u64)
}

#[test]
fn a_followed_folder_gives_replays_signals() {
    let caps = captures();
    let dir = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    // The first file is there before the start; other files in the folder do not match.
    fs::write(dir.path().join(&caps[0].0), &caps[0].1).unwrap();
    fs::write(dir.path().join("notes.txt"), b"not a capture").unwrap();
    let sources = start(
        vec![SourceSpec::Folder(FolderSpec {
            path: dir.path().to_path_buf(),
            pattern: "probe-*.pcap*".into(),
        })],
        config(),
    )
    .unwrap();
    let stats = Arc::clone(&sources.control.sources()[0]);
    let writer = {
        let (dir, staging) = (dir.path().to_path_buf(), staging.path().to_path_buf());
        let caps = caps.clone();
        let stats = Arc::clone(&stats);
        std::thread::spawn(move || {
            let pause = || std::thread::sleep(Duration::from_millis(150));
            pause();
            // Renamed into the folder whole, as many probes do.
            let tmp = staging.join(&caps[1].0);
            fs::write(&tmp, &caps[1].1).unwrap();
            fs::rename(&tmp, dir.join(&caps[1].0)).unwrap();
            pause();
            fs::write(dir.join(&caps[2].0), &caps[2].1).unwrap();
            pause();
            // Written in pieces while it is read: records cut at the end for a while.
            let mut f = fs::File::create(dir.join(&caps[3].0)).unwrap();
            let chunks: Vec<&[u8]> = caps[3].1.chunks(7_777).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                f.write_all(chunk).unwrap();
                f.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
                if i == chunks.len() / 2 {
                    // It is being read while written.
                    wait_for("the half-written file read", || {
                        stats.position().is_some_and(|p| p.file == caps[3].0)
                    });
                }
            }
            drop(f);
            pause();
            fs::write(dir.join(&caps[4].0), &caps[4].1).unwrap();
        })
    };
    let (last_name, last_len) = (caps[4].0.clone(), caps[4].1.len());
    // The last file is never finished (no newer one comes): stop once it is read.
    let got = collect(&sources, |_| read_to_end(&stats, &last_name, last_len));
    writer.join().unwrap();
    let s = stats.snapshot();
    assert_eq!(s.files, 5, "the five captures, not the notes");
    assert_eq!(s.capture_errors, 0, "{:?}", stats.last_error());
    let names: Vec<String> = sources
        .control
        .files()
        .entries()
        .into_iter()
        .map(|(_, e)| e.name)
        .collect();
    let order: Vec<String> = caps.iter().map(|c| c.0.clone()).collect();
    assert_eq!(names, order, "picked up in name order, numbers as numbers");
    let paths: Vec<PathBuf> = order.iter().map(|n| dir.path().join(n)).collect();
    let want = replay(&paths);
    assert!(want.len() > 1000, "{} signals", want.len());
    let watermarks = got.watermarks.len();
    assert_eq!(got.sorted(), want);
    assert!(watermarks > 3);
    assert_eq!(stats.decode_stats().signal_total(), want.len() as u64);
}

#[test]
fn a_files_source_gives_replays_signals() {
    // Two captures over the same hours: merged by time, as replay merges them.
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("roaming.pcap");
    let b = dir.path().join("skew.pcap");
    fs::write(&a, roaming_scenario()).unwrap();
    fs::write(&b, skew_scenario(10)).unwrap();
    let paths = vec![a, b];
    let sources = start(vec![SourceSpec::Files(paths.clone())], config()).unwrap();
    let got = collect(&sources, |_| false);
    assert_eq!(got.sorted(), replay(&paths));
    let s = sources.control.sources()[0].snapshot();
    assert!(s.ended && s.files == 2 && s.frames > 0);
    sources.join();
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn a_files_source_gives_replays_signals_on_real_captures() {
    let dir = shared_captures();
    let paths = vec![
        dir.join("magma-gx-gy-s6a-32ue.pcapng"),
        dir.join("magma-inbound-roaming-05-s6a-s8-gtpv2.pcapng"),
        dir.join("open5gs-testattach-epc-s6a-gtpv2-s1ap-sll.pcapng"),
    ];
    for p in &paths {
        let sources = start(vec![SourceSpec::Files(vec![p.clone()])], config()).unwrap();
        let got = collect(&sources, |_| false);
        let want = replay(std::slice::from_ref(p));
        assert!(!want.is_empty(), "{}", p.display());
        assert_eq!(got.sorted(), want, "{}", p.display());
    }
}

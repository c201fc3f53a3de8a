//! `landfall serve` capturing live (feature `live`): serve runs inside a network namespace
//! the test makes, capturing on one end of a veth pair while the project's sender plays the
//! roaming scenario's frames into the other; its moments are replay's of that capture, up
//! to what a live capture sets itself (capture times, hence ids and expiry, and frame
//! numbers). The re-entry gap is 0 on both sides: played back in a second, the scenario's
//! hours would otherwise all fall within the gap. Needs CAP_NET_ADMIN: fails under CI
//! without it, reported skipped elsewhere.

#![cfg(feature = "live")]

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use landfall_sources::send::{Pace, Sender};
use landfall_testkit::netns::netns;
use landfall_testkit::rotation::frames;
use landfall_testkit::scenario::roaming_scenario;

const BIN: &str = env!("CARGO_BIN_EXE_landfall");

/// A moment line without what a live capture sets itself, as comparable text.
fn timeless(line: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["id", "at", "expires_at"] {
        o.remove(k);
    }
    let src = o.get_mut("source").unwrap().as_object_mut().unwrap();
    src.remove("frame");
    src.remove("file");
    v.to_string()
}

fn timeless_all(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(timeless).collect();
    v.sort();
    v
}

#[test]
fn a_live_capture_gives_replays_moments() {
    let Some(ns) = netns("serve") else { return };
    let dir = common::temp_dir("serve-live");
    let capture = roaming_scenario();
    let file = dir.join("roaming.pcap");
    fs::write(&file, &capture).unwrap();
    let replay = Command::new(BIN)
        .args(["replay", "-q", "--reentry-gap", "0s"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(replay.status.success());
    let want = timeless_all(&String::from_utf8(replay.stdout).unwrap());
    assert!(want.len() > 10);

    let out = dir.join("moments.jsonl");
    let cfg = dir.join("landfall.toml");
    fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"interface\"\ndevice = \"veth0\"\n\
             [rules]\nreentry_gap = \"0s\"\nwall_clock = false\n\
             [runtime]\ndata_dir = {:?}\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\
             [[sink]]\nkind = \"file\"\npath = {out:?}\n",
            dir.join("data")
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let child = ns
        .command(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("serving")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start: {}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    ns.enter();
    let frames = frames(&capture);
    let mut sender = Sender::open("veth1").unwrap();
    let report = sender
        .play(frames.iter().map(|f| f.as_frame_ref()), Pace::default())
        .unwrap();
    assert_eq!(report.sent as usize, frames.len());
    // The frames are in; let the capture hand them over, then stop serve: it drains.
    std::thread::sleep(Duration::from_secs(2));
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = child.wait_with_output().unwrap().status;
    let log = fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status:?}: {log}");
    let got = timeless_all(&fs::read_to_string(&out).unwrap_or_default());
    assert_eq!(got, want, "{log}");
    drop(ns);
}

//! A pcap or pcapng stream gives replay's signals: through an OS pipe written in small
//! pieces, and through a child process's real standard input. A stream that is not a
//! capture, or breaks off, is counted, never a crash.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use landfall_sources::{start, SourceSpec};
use landfall_testkit::replicate::replicate;
use landfall_testkit::scenario::{roaming_scenario, skew_scenario};

/// Write `bytes` into `w` in pieces with pauses, like a probe's pipe.
fn trickle(mut w: impl Write, bytes: &[u8], piece: usize) {
    for chunk in bytes.chunks(piece) {
        if w.write_all(chunk).is_err() {
            return;
        }
        let _ = w.flush();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// replay's signals for a capture held in memory (as file 0).
fn replay_bytes(bytes: &[u8]) -> Vec<landfall_model::signal::Signal> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.pcap");
    std::fs::write(&p, bytes).unwrap();
    replay(&[p])
}

#[test]
fn a_stream_through_a_pipe_gives_replays_signals() {
    for bytes in [
        roaming_scenario(),
        replicate(&frames(&skew_scenario(10)), 3).unwrap(),
    ] {
        let (r, w) = std::io::pipe().unwrap();
        let sources = start(
            vec![SourceSpec::Reader {
                name: "pipe".into(),
                reader: Box::new(r),
            }],
            config(),
        )
        .unwrap();
        let writer = {
            let bytes = bytes.clone();
            std::thread::spawn(move || trickle(w, &bytes, 1_000))
        };
        let got = collect(&sources, |_| false);
        writer.join().unwrap();
        assert_eq!(got.sorted(), replay_bytes(&bytes));
        let s = sources.control.sources()[0].snapshot();
        assert!(s.ended && s.capture_errors == 0);
        assert_eq!(
            sources.control.sources()[0]
                .position()
                .map(|p| (p.file, p.offset)),
            Some(("pipe".to_string(), bytes.len() as u64))
        );
        sources.join();
    }
}

#[test]
fn frames_are_decoded_as_they_arrive_not_when_the_buffer_fills() {
    // Half the capture, then nothing: its signals come out while the pipe stays open.
    let bytes = roaming_scenario();
    let want = replay_bytes(&bytes).len();
    let (r, mut w) = std::io::pipe().unwrap();
    let sources = start(
        vec![SourceSpec::Reader {
            name: "pipe".into(),
            reader: Box::new(r),
        }],
        config(),
    )
    .unwrap();
    w.write_all(&bytes).unwrap();
    let stats = &sources.control.sources()[0];
    wait_for("every frame decoded with the pipe open", || {
        stats.snapshot().frames == frames(&bytes).len() as u64
    });
    let mut c = Collected::default();
    wait_for("signals handed out with the pipe open", || {
        while let Ok(m) = sources.output.try_recv() {
            c.take(m);
        }
        // All but those whose answer the decoder still holds until the end.
        c.signals.len() + 2 >= want
    });
    drop(w);
    let rest = collect(&sources, |_| false);
    assert_eq!(c.signals.len() + rest.signals.len(), want);
}

#[test]
fn a_stream_that_is_no_capture_or_breaks_off_is_counted() {
    let bytes = roaming_scenario();
    for (input, frames_at_least) in [
        (b"this is not a capture file at all".to_vec(), 0),
        (bytes[..bytes.len() / 2 + 3].to_vec(), 10),
    ] {
        let sources = start(
            vec![SourceSpec::Reader {
                name: "bad".into(),
                reader: Box::new(std::io::Cursor::new(input)),
            }],
            config(),
        )
        .unwrap();
        let _ = collect(&sources, |_| false);
        let stats = &sources.control.sources()[0];
        let s = stats.snapshot();
        assert_eq!(s.capture_errors, 1);
        assert!(s.frames >= frames_at_least);
        assert!(stats.last_error().is_some_and(|e| e.starts_with("bad: ")));
        assert_eq!(stats.decode_stats().error_total(), 1);
    }
}

const CHILD: &str = "LANDFALL_SOURCES_STDIN_CHILD";

/// Run as a child process by the test below (otherwise does nothing): the stdin source,
/// each signal printed on standard output.
#[test]
fn child_reading_stdin() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let sources = start(vec![SourceSpec::Stdin], config()).unwrap();
    let got = collect(&sources, |_| false);
    let mut out = std::io::stdout().lock();
    for s in got.sorted() {
        writeln!(out, "SIGNAL {s:?}").unwrap();
    }
    writeln!(out, "FILE {:?}", sources.control.files().name(0)).unwrap();
}

#[test]
fn a_child_process_reads_a_capture_from_its_standard_input() {
    let bytes = replicate(&frames(&roaming_scenario()), 4).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reading_stdin",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let writer = {
        let bytes = bytes.clone();
        std::thread::spawn(move || trickle(stdin, &bytes, 4_096))
    };
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    let got: Vec<&str> = lines
        .iter()
        // The test harness may have written "test … " before the first line.
        .filter_map(|l| l.split_once("SIGNAL ").map(|(_, s)| s))
        .collect();
    let want: Vec<String> = replay_bytes(&bytes)
        .iter()
        .map(|s| format!("{s:?}"))
        .collect();
    assert!(want.len() > 50);
    let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(
        (got.len(), first_difference),
        (want.len(), None),
        "{:?}",
        first_difference.map(|i| (got[i], &want[i]))
    );
    assert!(
        lines.iter().any(|l| l.ends_with("FILE Some(\"-\")")),
        "stdin is `-`"
    );
}

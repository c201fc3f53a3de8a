//! Scale-out: the bundled scenario replayed by a timely cluster of 2 processes on
//! localhost (1 and 2 workers each) gives exactly the moments of one process, with both
//! processes given the same command (and so the same `--out`), as the README says; bad
//! hostfiles and missing peers are clean errors.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap")
}

fn cluster_command(workers: &str, process: usize, hostfile: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_landfall"));
    c.args([
        "replay",
        "--quiet",
        "--workers",
        workers,
        "--processes",
        "2",
    ])
    .args(["--process", &process.to_string()])
    .arg("--hostfile")
    .arg(hostfile)
    .arg("--out")
    .arg(out)
    .arg(fixture());
    c
}

fn assert_clean_failure(out: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

#[test]
fn two_processes_with_the_same_out_equal_one() {
    let golden = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.moments.jsonl"),
    )
    .expect("golden moments");
    let dir = common::temp_dir("cluster");
    let out = dir.join("moments.jsonl");
    // Ten runs of the same command in both processes: process 0 alone opens --out, so
    // however the processes interleave, the file holds every moment.
    for run in 0..10 {
        let workers = if run % 2 == 0 { "1" } else { "2" };
        let _ = std::fs::remove_file(&out);
        let hostfile = dir.join("hosts");
        std::fs::write(
            &hostfile,
            format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
        )
        .unwrap();
        let mut procs: Vec<_> = (0..2)
            .map(|p| {
                cluster_command(workers, p, &hostfile, &out)
                    .spawn()
                    .expect("spawn landfall")
            })
            .collect();
        for p in &mut procs {
            assert!(p.wait().expect("wait").success(), "run {run}");
        }
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, golden, "run {run}, {workers} workers per process");
    }
}

#[test]
fn only_process_0_creates_the_output() {
    let dir = common::temp_dir("cluster-outputs");
    let hostfile = dir.join("hosts");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    let outs = [dir.join("out-0.jsonl"), dir.join("out-1.jsonl")];
    let mut procs: Vec<_> = (0..2)
        .map(|p| {
            cluster_command("1", p, &hostfile, &outs[p])
                .spawn()
                .unwrap()
        })
        .collect();
    for p in &mut procs {
        assert!(p.wait().unwrap().success());
    }
    assert!(!std::fs::read_to_string(&outs[0]).unwrap().is_empty());
    assert!(!outs[1].exists(), "process 1 must not touch its --out");
}

#[test]
fn a_bad_hostfile_line_is_named_before_anything_starts() {
    let dir = common::temp_dir("cluster-hostfile");
    let hostfile = dir.join("hosts");
    let cases = [
        (
            "127.0.0.1:7101\nlocalhost\n",
            "line 2: \"localhost\" is not an IP address and port",
        ),
        (
            "# cluster\n127.0.0.1:7101\n\n127.0.0.1\n",
            "line 4: \"127.0.0.1\" is not",
        ),
        (
            "127.0.0.1:7101\n127.0.0.1:7101\n",
            "line 2: \"127.0.0.1:7101\" repeats the address of process 0",
        ),
        (
            "127.0.0.1:7101\n127.0.0.1:0\n",
            "line 2: \"127.0.0.1:0\" has port 0",
        ),
        ("127.0.0.1:7101\n", "lists 1 addresses for --processes 2"),
        ("127.0.0.1:7101\n127.0.0.1:99999\n", "line 2"),
    ];
    for (text, says) in cases {
        std::fs::write(&hostfile, text).unwrap();
        for p in 0..2 {
            let out = cluster_command("1", p, &hostfile, &dir.join("m.jsonl"))
                .output()
                .unwrap();
            assert_clean_failure(&out, says);
        }
    }
}

#[test]
fn a_peer_that_never_comes_up_times_out() {
    let dir = common::temp_dir("cluster-timeout");
    let hostfile = dir.join("hosts");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    // Each process alone: process 0 waits to be connected to, process 1 to connect.
    for p in 0..2 {
        let started = Instant::now();
        let out = cluster_command("1", p, &hostfile, &dir.join("m.jsonl"))
            .args(["--connect-timeout", "1s"])
            .output()
            .unwrap();
        assert_clean_failure(&out, "did not all connect within 1s");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

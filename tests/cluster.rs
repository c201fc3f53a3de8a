//! Scale-out: the bundled scenario replayed by a timely cluster of 2 processes on
//! localhost (1 and 2 workers each) gives exactly the moments of one process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

#[test]
fn two_processes_equal_one() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/roaming-scenario.pcap");
    let golden = std::fs::read_to_string(root.join("fixtures/roaming-scenario.moments.jsonl"))
        .expect("golden moments");
    let dir = std::env::temp_dir().join(format!("landfall-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for workers in ["1", "2"] {
        let hostfile = dir.join("hosts");
        std::fs::write(
            &hostfile,
            format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
        )
        .unwrap();
        // Both processes run at once; each waits for the other to connect.
        let mut procs: Vec<_> = (0..2)
            .map(|p| {
                Command::new(env!("CARGO_BIN_EXE_landfall"))
                    .args([
                        "replay",
                        "--quiet",
                        "--workers",
                        workers,
                        "--processes",
                        "2",
                    ])
                    .args(["--process", &p.to_string()])
                    .arg("--hostfile")
                    .arg(&hostfile)
                    .arg("--out")
                    .arg(dir.join(format!("out-{p}.jsonl")))
                    .arg(&fixture)
                    .spawn()
                    .expect("spawn landfall")
            })
            .collect();
        for p in &mut procs {
            assert!(p.wait().expect("wait").success());
        }
        let p0 = std::fs::read_to_string(dir.join("out-0.jsonl")).unwrap();
        let p1 = std::fs::read_to_string(dir.join("out-1.jsonl")).unwrap();
        assert_eq!(
            p0, golden,
            "{workers} workers per process: process 0 writes all moments"
        );
        assert!(p1.is_empty(), "process 1 writes none");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

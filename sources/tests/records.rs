//! Record sources: files side by side, a followed folder, a TCP and a Unix socket of lines,
//! a mapping's CSV per connection, and clock offsets. Each gives the signals that reading
//! the same lines in one go gives (`landfall_parsers::records`), handed on as they come.

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use landfall_model::record::SignalRecord;
use landfall_model::signal::Signal;
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::records::mapping::Mapping;
use landfall_parsers::records::{read_records, FileNames, RecordStats};
use landfall_sources::{start, FolderSpec, Input, RecordInput, RecordSpec, SourceSpec};
use landfall_testkit::scenario::{roaming_scenario, skew_scenario};

/// The signal records of a capture, one line each, in replay's order.
fn record_lines(capture: &[u8], name: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    fs::write(&p, capture).unwrap();
    let files = vec![name.to_owned()];
    replay(&[p])
        .iter()
        .map(|s| serde_json::to_string(&SignalRecord::of(s, &files)).unwrap())
        .collect()
}

/// What reading `text` in one go gives, with every file index 0 (the sources number
/// files across the run, so only what the signals say is compared).
fn read_whole(text: &str, mapping: Option<&Arc<Mapping>>) -> (Vec<Signal>, RecordStats) {
    let (mut names, mut out, mut stats) =
        (FileNames::default(), Vec::new(), RecordStats::default());
    let e212 = E212::default();
    match mapping {
        None => read_records(
            text.as_bytes(),
            "x",
            &e212,
            &mut names,
            &mut out,
            &mut stats,
        ),
        Some(m) => m.read(
            text.as_bytes(),
            "x",
            &e212,
            &mut names,
            &mut out,
            &mut stats,
        ),
    }
    .unwrap();
    (same_file(out), stats)
}

fn same_file(mut signals: Vec<Signal>) -> Vec<Signal> {
    for s in &mut signals {
        s.source.file = 0;
    }
    signals.sort();
    signals
}

fn records(input: RecordInput, mapping: Option<Arc<Mapping>>) -> SourceSpec {
    SourceSpec::Records(RecordSpec { input, mapping })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn vendor_a() -> (Arc<Mapping>, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/records");
    let mapping = Mapping::parse(&fs::read_to_string(dir.join("vendor-a.toml")).unwrap()).unwrap();
    (
        Arc::new(mapping),
        fs::read_to_string(dir.join("vendor-a.csv")).unwrap(),
    )
}

#[test]
fn record_files_are_read_side_by_side_and_merged_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let a = record_lines(&roaming_scenario(), "roaming.pcap");
    let b = record_lines(&skew_scenario(10), "skew.pcap");
    // A bad line and a blank one in the first file: counted, the rest read.
    let mut a_text = a[..3].join("\n") + "\nnot a record\n\n";
    a_text += &(a[3..].join("\n") + "\n");
    let b_text = b.join("\n") + "\n";
    let (pa, pb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    fs::write(&pa, &a_text).unwrap();
    fs::write(&pb, &b_text).unwrap();
    let mut cfg = config();
    cfg.batch_signals = 16;
    let sources = start(vec![records(RecordInput::Files(vec![pa, pb]), None)], cfg).unwrap();
    let got = collect(&sources, |_| false);
    let (mut want, _) = read_whole(&a_text, None);
    want.extend(read_whole(&b_text, None).0);
    let want = same_file(want);
    assert!(want.len() > 20, "{} signals", want.len());
    // Side by side: the two files' records over the same hours are merged, none late.
    assert_eq!(got.late, 0);
    assert!(got.watermarks.len() > 3, "{:?}", got.watermarks);
    assert_eq!(same_file(got.signals.clone()), want);
    let stats = &sources.control.sources()[0];
    let r = stats.record_stats();
    assert_eq!(r.signals, want.len() as u64);
    assert_eq!((r.blank, r.bad_total()), (1, 1), "{r:?}");
    assert!(r.examples[0].starts_with("a.jsonl:4: "), "{:?}", r.examples);
    let s = stats.snapshot();
    assert!(s.ended && s.files == 2, "{s:?}");
    assert_eq!(s.frames, (a.len() + b.len() + 2) as u64, "lines read");
    sources.join();
}

#[test]
fn a_tcp_socket_gives_each_record_as_it_comes_and_a_connection_each_its_own_csv_header() {
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let lines = record_lines(&roaming_scenario(), "roaming.pcap");
    let sources = start(vec![records(RecordInput::Tcp(addr), None)], config()).unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let half = lines.len() / 2;
    // Half the records, the last one cut in two writes: all of them arrive while the
    // connection stays open.
    let first = lines[..half].join("\n") + "\n";
    let (x, y) = first.split_at(first.len() - 10);
    conn.write_all(x.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    conn.write_all(y.as_bytes()).unwrap();
    let mut got = Collected::default();
    wait_for("the first half of the records", || {
        while let Ok(m) = sources.output.try_recv() {
            got.take(m);
        }
        got.signals.len() == half
    });
    conn.write_all((lines[half..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(conn);
    wait_for("every record", || {
        while let Ok(m) = sources.output.try_recv() {
            got.take(m);
        }
        got.signals.len() == lines.len()
    });
    let (want, _) = read_whole(&(lines.join("\n") + "\n"), None);
    assert_eq!(same_file(got.signals.clone()), want);
    sources.control.stop();
    let rest = collect(&sources, |_| false);
    assert!(rest.ended && rest.signals.is_empty());
    let s = sources.control.sources()[0].snapshot();
    assert!(s.ended && s.files == 1, "{s:?}");
    sources.join();
}

#[test]
fn a_unix_socket_reads_a_vendors_csv_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.sock");
    // A socket left by an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let (mapping, csv) = vendor_a();
    let sources = start(
        vec![records(
            RecordInput::Unix(path.clone()),
            Some(mapping.clone()),
        )],
        config(),
    )
    .unwrap();
    let (want, want_stats) = read_whole(&csv, Some(&mapping));
    assert!(!want.is_empty() && want_stats.bad_total() > 0);
    // Two connections, each with its header: the same rows twice.
    for _ in 0..2 {
        let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        c.write_all(csv.as_bytes()).unwrap();
    }
    let mut got = Collected::default();
    wait_for("both connections' rows", || {
        while let Ok(m) = sources.output.try_recv() {
            got.take(m);
        }
        got.signals.len() == 2 * want.len()
    });
    let mut twice = want.clone();
    twice.extend(want.iter().copied());
    assert_eq!(same_file(got.signals.clone()), same_file(twice));
    let r = sources.control.sources()[0].record_stats();
    assert_eq!(r.bad_total(), 2 * want_stats.bad_total(), "{r:?}");
    sources.control.stop();
    collect(&sources, |_| false);
    sources.join();
    assert!(!path.exists(), "the socket file is removed at the end");
    // Something that is not a socket is never replaced.
    fs::write(&path, b"keep me").unwrap();
    let err = start(
        vec![records(RecordInput::Unix(path.clone()), None)],
        config(),
    )
    .err()
    .expect("not a socket");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn a_followed_folder_of_record_files_gives_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let lines = record_lines(&roaming_scenario(), "roaming.pcap");
    let third = lines.len() / 3;
    let write = |name: &str, part: &[String]| {
        fs::write(dir.path().join(name), part.join("\n") + "\n").unwrap();
    };
    write("export-001.jsonl", &lines[..third]);
    fs::write(dir.path().join("notes.txt"), b"not records").unwrap();
    let sources = start(
        vec![records(
            RecordInput::Folder(FolderSpec {
                path: dir.path().to_path_buf(),
                pattern: "export-*.jsonl".into(),
            }),
            None,
        )],
        config(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    write("export-002.jsonl", &lines[third..2 * third]);
    // The third written in two parts, a line cut between them.
    let rest = lines[2 * third..].join("\n") + "\n";
    let (x, y) = rest.split_at(rest.len() / 2);
    let p = dir.path().join("export-003.jsonl");
    fs::write(&p, x).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(y.as_bytes())
        .unwrap();
    let n = lines.len();
    let got = collect(&sources, |c| c.signals.len() == n);
    let (want, _) = read_whole(&(lines.join("\n") + "\n"), None);
    assert_eq!(same_file(got.signals), want);
    assert_eq!(got.late, 0);
    let s = sources.control.sources()[0].snapshot();
    assert_eq!(s.files, 3, "{s:?}");
    sources.join();
}

#[test]
fn clock_offsets_move_captures_and_records_alike() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("roaming.pcap");
    fs::write(&cap, roaming_scenario()).unwrap();
    let rec = dir.path().join("roaming.jsonl");
    fs::write(
        &rec,
        record_lines(&roaming_scenario(), "roaming.pcap").join("\n"),
    )
    .unwrap();
    let offset = -1_500_000;
    let run = |spec: SourceSpec, clock_offset_us: i64| {
        let sources = start(
            vec![Input {
                spec,
                clock_offset_us,
            }],
            config(),
        )
        .unwrap();
        let got = collect(&sources, |_| false);
        sources.join();
        same_file(got.signals)
    };
    let plain = run(SourceSpec::Files(vec![cap.clone()]), 0);
    let shifted: Vec<Signal> = plain
        .iter()
        .map(|s| Signal {
            at: s.at + offset,
            ..*s
        })
        .collect();
    assert!(!plain.is_empty());
    assert_eq!(run(SourceSpec::Files(vec![cap]), offset), shifted);
    assert_eq!(
        run(records(RecordInput::Files(vec![rec]), None), offset),
        shifted
    );
}

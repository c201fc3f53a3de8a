//! `landfall serve` end to end: the moments it emits from a followed folder (files dropped
//! in one by one, one written while it is read) and from standard input equal `replay`'s
//! on the same files, same ids; SIGTERM drains and stops it cleanly; metrics and health
//! answer while it runs; misconfigurations fail with one readable error.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use landfall_testkit::rotation::{self, rotated_files};

const BIN: &str = env!("CARGO_BIN_EXE_landfall");
const DEADLINE: Duration = Duration::from_secs(120);

/// A configuration: `inputs` (TOML `[[input]]` tables), moments to `out`, HTTP on a port
/// the system picks, the data directory in `dir`.
fn config(dir: &Path, inputs: &str, out: &Path) -> PathBuf {
    let text = format!(
        "{inputs}\n\
         [rules]\n\
         wall_clock = false\n\
         [runtime]\n\
         data_dir = {data:?}\n\
         [http]\n\
         listen = \"127.0.0.1:0\"\n\
         operator_key = \"an-operator-key-of-some-length\"\n\
         [[sink]]\n\
         kind = \"file\"\n\
         path = {out:?}\n",
        data = dir.join("data"),
    );
    let path = dir.join("landfall.toml");
    fs::write(&path, text).unwrap();
    path
}

/// `replay -q` of `paths` with serve's default horizon of silence (the rotated files span
/// more than 30 days of capture time: a subscriber of the first file is new again in the
/// last), as its lines.
fn replay(paths: &[PathBuf]) -> Vec<String> {
    lines(&common::replay_as_serve(paths))
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// A moment line's id.
fn id(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// The lines by id, each id with its lines in order: equal maps mean the same moments
/// with the same ids (an id twice only where the same moment is twice).
fn by_id(lines: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines {
        m.entry(id(l)).or_default().push(l.clone());
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

/// The same moments by id; else the first few differences.
fn assert_same(got: &BTreeMap<String, Vec<String>>, expected: &BTreeMap<String, Vec<String>>) {
    let differ: Vec<_> = got
        .keys()
        .chain(expected.keys())
        .filter(|k| got.get(*k) != expected.get(*k))
        .collect();
    let show =
        |m: &BTreeMap<String, Vec<String>>, k: &String| m.get(k).cloned().unwrap_or_default();
    let examples: Vec<_> = differ
        .iter()
        .take(3)
        .map(|k| (show(got, k), show(expected, k)))
        .collect();
    assert!(
        differ.is_empty(),
        "{} ids differ ({} got, {} expected); first (got, expected): {examples:#?}",
        differ.len(),
        got.len(),
        expected.len()
    );
}

/// `serve --config cfg` started, its log to `log`, and its HTTP address once it listens.
fn spawn_serve(cfg: &Path, log: &Path) -> (Child, String) {
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let addr = common::http_address(log, DEADLINE);
    (child, addr)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
fn get(addr: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// The sum of a metric family's samples in Prometheus text.
fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_followed_folder_gives_replays_moments() {
    let dir = common::temp_dir("serve-folder");
    let (folder, staging) = (dir.join("probe"), dir.join("staging"));
    fs::create_dir_all(&folder).unwrap();
    fs::create_dir_all(&staging).unwrap();
    let files = rotated_files(40);
    let expected = by_id(&replay(
        &files
            .iter()
            .map(|(name, bytes)| {
                let p = staging.join(name);
                fs::write(&p, bytes).unwrap();
                p
            })
            .collect::<Vec<_>>(),
    ));
    assert!(expected.len() > 100, "a real amount of moments");

    let out = dir.join("moments.jsonl");
    let inputs =
        format!("[[input]]\nkind = \"folder\"\npath = {folder:?}\nidle_close = \"500ms\"\n");
    let cfg = config(&dir, &inputs, &out);
    let log = dir.join("serve.log");
    let (child, addr) = spawn_serve(&cfg, &log);

    // The first two dropped in whole (renamed in, as a probe finishing a file does).
    for (name, _) in &files[..2] {
        fs::rename(staging.join(name), folder.join(name)).unwrap();
    }
    // The third written in pieces while serve reads it.
    let (name, bytes) = &files[2];
    let mut f = fs::File::create(folder.join(name)).unwrap();
    for piece in bytes.chunks(bytes.len() / 7 + 1) {
        f.write_all(piece).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(f);
    // Moments come out while the folder is still followed.
    wait_until("moments before the input ends", || {
        fs::read_to_string(&out).is_ok_and(|t| t.lines().count() > 10)
    });
    for (name, _) in &files[3..] {
        fs::rename(staging.join(name), folder.join(name)).unwrap();
    }
    // Every frame read: the metrics say so.
    let frames: usize = files.iter().map(|(_, b)| rotation::frames(b).len()).sum();
    wait_until("every frame read", || {
        let (status, body) = get(&addr, "/metrics", None);
        status == 200 && metric_sum(&body, "landfall_frames_read_total") == frames as f64
    });
    let (status, _) = get(&addr, "/readyz", None);
    assert_eq!(status, 200);
    let (status, _) = get(&addr, "/v1/operator/areas?level=country", None);
    assert_eq!(status, 401);
    let (status, body) = get(
        &addr,
        "/v1/operator/areas?level=country",
        Some("an-operator-key-of-some-length"),
    );
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_secs(3));

    sigterm(&child);
    let status = child.wait_with_output().unwrap().status;
    assert!(
        status.success(),
        "{status:?}: {}",
        fs::read_to_string(&log).unwrap()
    );
    let got = by_id(&lines(&fs::read_to_string(&out).unwrap()));
    let only_got: Vec<_> = got
        .iter()
        .filter(|(k, _)| !expected.contains_key(*k))
        .collect();
    let only_expected: Vec<_> = expected
        .iter()
        .filter(|(k, _)| !got.contains_key(*k))
        .collect();
    assert!(
        only_got.is_empty() && only_expected.is_empty(),
        "only from serve: {only_got:#?}\nonly from replay: {only_expected:#?}"
    );
    assert_eq!(got, expected);
    let log = fs::read_to_string(&log).unwrap();
    assert!(!log.contains("20801"), "no IMSI in the log");
}

#[test]
fn standard_input_gives_replays_moments() {
    let dir = common::temp_dir("serve-stdin");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap");
    let expected = {
        let out = Command::new(BIN)
            .args(["replay", "-q", "-"])
            .stdin(fs::File::open(&fixture).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success());
        by_id(&lines(&String::from_utf8(out.stdout).unwrap()))
    };
    let out = dir.join("moments.jsonl");
    let cfg = config(&dir, "[[input]]\nkind = \"stdin\"\n", &out);
    let run = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdin(fs::File::open(&fixture).unwrap())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got = by_id(&lines(&fs::read_to_string(&out).unwrap()));
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

/// serve's one-line error for a configuration, and its exit status.
fn serve_error(dir: &Path, text: &str) -> (i32, String) {
    let cfg = dir.join("bad.toml");
    fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn misconfigurations_fail_with_one_readable_error() {
    let dir = common::temp_dir("serve-misconfig");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap");
    let files = format!("[[input]]\nkind = \"files\"\npaths = [{fixture:?}]\n");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let blocker = dir.join("a-file");
    fs::write(&blocker, "").unwrap();
    let cases: Vec<(String, &str)> = vec![
        (format!("{files}[rules]\nttl_x = \"1h\"\n"), "rules.ttl_x"),
        (format!("{files}[rules]\nttl = 5\n"), "rules.ttl"),
        (
            "[[input]]\nkind = \"files\"\npaths = [\"/nonexistent/x.pcap\"]\n".to_owned(),
            "/nonexistent/x.pcap",
        ),
        (
            "[[input]]\nkind = \"interface\"\ndevice = \"no-such-if0\"\n".to_owned(),
            "no-such-if0",
        ),
        (
            format!("{files}[http]\nlisten = \"127.0.0.1:{port}\"\n"),
            "http.listen",
        ),
        (
            format!("{files}[runtime]\ndata_dir = {:?}\n", blocker.join("data")),
            "data_dir",
        ),
        (
            "[[input]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:9\"\nformat = \"pcap\"\n".to_owned(),
            "input[0].format",
        ),
        (
            "[[input]]\nkind = \"tcp\"\nlisten = \"localhost\"\n".to_owned(),
            "input[0].listen",
        ),
        (
            format!("[[input]]\nkind = \"stdin\"\nmapping = {:?}\n", blocker),
            "input[0].mapping",
        ),
        (
            format!("[[input]]\nkind = \"unix\"\npath = {blocker:?}\n"),
            "is not a socket",
        ),
    ];
    for (text, names) in cases {
        let (code, stderr) = serve_error(&dir, &text);
        assert_eq!(code, 2, "{text}\n{stderr}");
        assert!(stderr.contains(names), "{names:?} not in {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one error line: {stderr}");
    }
    drop(taken);
}

/// A free loopback port (bound, then released for the process that uses it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_two_process_cluster_gives_one_process_moments() {
    let dir = common::temp_dir("serve-cluster");
    let files: Vec<PathBuf> = rotated_files(20)
        .into_iter()
        .take(3)
        .map(|(name, bytes)| {
            let p = dir.join(name);
            fs::write(&p, bytes).unwrap();
            p
        })
        .collect();
    let inputs = |name: &str, paths: &[PathBuf]| {
        let list: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
        format!(
            "[[input]]\nkind = \"files\"\nname = {name:?}\npaths = [{}]\n",
            list.join(", ")
        )
    };
    // One process with the same two inputs (each input its own decoder, as each process
    // of the cluster has).
    let one = dir.join("one");
    fs::create_dir_all(&one).unwrap();
    let out_one = one.join("moments.jsonl");
    let both = format!("{}{}", inputs("a", &files[..1]), inputs("b", &files[1..]));
    let cfg = config(&one, &both, &out_one);
    let run = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected = by_id(&lines(&fs::read_to_string(&out_one).unwrap()));
    assert!(expected.len() > 100);

    // Two processes: process 0 reads the first file, process 1 the other two (file indices
    // striped across the cluster: 0 on process 0, 1 and 3 on process 1; the moments name
    // the files, whichever process emits them).
    let hostfile = dir.join("hosts");
    fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    let parts = [&files[..1], &files[1..]];
    let mut children = Vec::new();
    let mut outs = Vec::new();
    for (process, part) in parts.iter().enumerate() {
        let pdir = dir.join(format!("p{process}"));
        fs::create_dir_all(&pdir).unwrap();
        let out = pdir.join("moments.jsonl");
        let cluster = format!(
            "{}[cluster]\nprocesses = 2\nprocess = {process}\nhostfile = {hostfile:?}\nconnect_timeout = \"30s\"\n",
            inputs(if process == 0 { "a" } else { "b" }, part)
        );
        let cfg = config(&pdir, &cluster, &out);
        children.push(
            Command::new(BIN)
                .args(["serve", "--config"])
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        outs.push(out);
    }
    for child in children {
        let run = child.wait_with_output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let mut all = Vec::new();
    let mut per_process = Vec::new();
    for out in &outs {
        let l = lines(&fs::read_to_string(out).unwrap_or_default());
        per_process.push(l.len());
        all.extend(l);
    }
    assert!(
        per_process.iter().all(|&n| n > 0),
        "each process emits the moments of the subscribers it owns: {per_process:?}"
    );
    let got = by_id(&all);
    assert_same(&got, &expected);
}

/// `landfall inspect --signals` of `capture`: its signal records.
fn signal_records(capture: &Path) -> String {
    let out = Command::new(BIN)
        .args(["inspect", "--signals"])
        .arg(capture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn record_inputs_give_the_moments_of_their_records() {
    let dir = common::temp_dir("serve-records");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap");
    let records = dir.join("roaming.jsonl");
    fs::write(&records, signal_records(&fixture)).unwrap();
    let expected = by_id(&lines(&common::replay_as_serve_with(
        std::slice::from_ref(&records),
        &["--records".into()],
    )));
    assert!(expected.len() > 10, "a real amount of moments");

    // Signal records streamed over TCP: moments come while the connection is open, and
    // every one once serve is stopped.
    let out = dir.join("moments.jsonl");
    let port = free_port();
    let inputs = format!("[[input]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\n");
    let cfg = config(&dir, &inputs, &out);
    let log = dir.join("serve.log");
    let (child, addr) = spawn_serve(&cfg, &log);
    let _guard = common::KillOnDrop(child.id());
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let text = fs::read_to_string(&records).unwrap();
    let all: Vec<&str> = text.lines().collect();
    conn.write_all((all[..all.len() / 2].join("\n") + "\nnot a record\n").as_bytes())
        .unwrap();
    wait_until("moments while the connection is open", || {
        fs::read_to_string(&out).is_ok_and(|t| t.lines().count() > 2)
    });
    conn.write_all((all[all.len() / 2..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(conn);
    wait_until("every record line counted", || {
        let (status, body) = get(&addr, "/metrics", None);
        status == 200
            && metric_sum(&body, "landfall_record_lines_total") == (all.len() + 1) as f64
            && body.contains(r#"result="bad",reason="not a signal record""#)
    });
    sigterm(&child);
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "{}", fs::read_to_string(&log).unwrap());
    assert_same(
        &by_id(&lines(&fs::read_to_string(&out).unwrap())),
        &expected,
    );

    // A vendor's CSV through its mapping: the moments its golden file states; serve ends
    // with its input. (A data directory of its own: the first run's state is not this one's.)
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/records");
    let dir = dir.join("vendor");
    fs::create_dir_all(&dir).unwrap();
    let out = dir.join("vendor.jsonl");
    let inputs = format!(
        "[[input]]\nkind = \"files\"\npaths = [{:?}]\nmapping = {:?}\n",
        vendor.join("vendor-a.csv"),
        vendor.join("vendor-a.toml"),
    );
    let cfg = config(&dir, &inputs, &out);
    let run = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let golden = lines(&fs::read_to_string(vendor.join("vendor-a.moments.jsonl")).unwrap());
    assert!(!golden.is_empty());
    assert_same(
        &by_id(&lines(&fs::read_to_string(&out).unwrap())),
        &by_id(&golden),
    );
    let _ = fs::remove_dir_all(dir.parent().unwrap());
}

//! Restart without floods or gaps: `serve` killed with SIGKILL at random points while it
//! reads a long capture (30 times and more, restarted each time, snapshots every 100 ms so
//! that kills land mid-snapshot too), then left to finish: the union of the moments of
//! every run is `replay`'s (same ids; an id twice only as the same moment), so none is
//! missing and no arrival is announced again for a subscriber already present (a second
//! arrival would be a moment `replay` does not have). Every run appends to the same sink
//! file, a line cut by a kill dropped by the next. The data directory stays bounded. The
//! same with zones and a minimum dwell (fewer kills): zone stays and the stays waiting for
//! their dwell are carried over by the snapshot too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use landfall_testkit::rotation::rotated_files;

const BIN: &str = env!("CARGO_BIN_EXE_landfall");
const KILLS: usize = 30;
/// Copies of the roaming scenario in the capture: an uninterrupted run lasts seconds.
const COPIES: u32 = 6000;

/// The zones of the roaming scenario (circle, cells, polygon) and their cell catalog.
fn zone_fixtures() -> (PathBuf, PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    (fixtures.join("zones.toml"), fixtures.join("cells.csv"))
}

/// The minimum dwell of the runs with zones: the replicated scenario's subscribers enter
/// the airport zones and stay, so kills at that point of the capture find stays waiting
/// for it.
const MIN_DWELL: &str = "10m";
/// Run `i`'s configuration: the capture files, moments to `out`, snapshots every 100 ms
/// into `data`; with `zones`, the zone fixtures and [`MIN_DWELL`].
fn config(
    dir: &Path,
    data: &Path,
    paths: &[PathBuf],
    out: &Path,
    i: usize,
    zones: bool,
) -> PathBuf {
    let zones = if zones {
        let (z, c) = zone_fixtures();
        format!("min_dwell = \"{MIN_DWELL}\"\n[zones]\nzones = {z:?}\ncells = {c:?}\n")
    } else {
        String::new()
    };
    let text = format!(
        "[[input]]\n\
         kind = \"files\"\n\
         paths = {paths:?}\n\
         [rules]\n\
         wall_clock = false\n\
         {zones}\
         [runtime]\n\
         data_dir = {data:?}\n\
         snapshot_interval = \"100ms\"\n\
         [http]\n\
         listen = \"127.0.0.1:0\"\n\
         [[sink]]\n\
         kind = \"file\"\n\
         path = {out:?}\n",
    );
    let path = dir.join(format!("landfall-{i}.toml"));
    fs::write(&path, text).unwrap();
    path
}

/// The runs' moments (`got`) are the uninterrupted ones, by id and line (an id with
/// another line is another moment): the first few ids only one side has are named.
fn assert_same(got: &Moments, expected: &Moments) {
    let only = |a: &Moments, b: &Moments| -> Vec<String> {
        a.keys()
            .filter(|k| !b.contains_key(*k))
            .take(5)
            .cloned()
            .collect()
    };
    let (extra, missing) = (only(got, expected), only(expected, got));
    assert!(
        extra.is_empty() && missing.is_empty(),
        "only after the kills: {extra:?}; missing: {missing:?}"
    );
    assert_eq!(got, expected, "an id with another moment");
}

type Moments = BTreeMap<String, BTreeSet<String>>;

/// The distinct lines of each id.
fn by_id<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        m.entry(v["id"].as_str().unwrap().to_owned())
            .or_default()
            .insert(l.to_owned());
    }
    m
}

#[test]
fn sigkill_at_random_points_loses_and_repeats_nothing() {
    sigkill_at_random_points("serve-restart", false, KILLS);
}

/// With zones and a minimum dwell: the same capture's 12,000 zone moments; restarts from
/// snapshots that hold zone state (checked in the logs). The replicated subscribers each
/// visit the zones once, so this pins serve == replay with zones across kills; losing zone
/// state at a restore is caught by `dataflows/tests/stream.rs`, not reliably here.
#[test]
fn with_zones_sigkill_at_random_points_loses_and_repeats_nothing() {
    sigkill_at_random_points("serve-restart-zones", true, 10);
}

/// `serve` killed `kills` times at random points and restarted, then left to finish; the
/// union of the runs' moments must be `replay`'s (with the same zones and dwell).
fn sigkill_at_random_points(name: &str, zones: bool, kills_wanted: usize) {
    let started = Instant::now();
    let dir = common::temp_dir(name);
    let capture = dir.join("capture");
    fs::create_dir_all(&capture).unwrap();
    let paths: Vec<PathBuf> = rotated_files(COPIES)
        .into_iter()
        .map(|(name, bytes)| {
            let p = capture.join(name);
            fs::write(&p, bytes).unwrap();
            p
        })
        .collect();
    let expected = if zones {
        let (z, c) = zone_fixtures();
        let mut args: Vec<std::ffi::OsString> = vec!["--zones".into(), z.into()];
        args.extend(["--cells".into(), c.into(), "--min-dwell".into()]);
        args.push(MIN_DWELL.into());
        by_id(common::replay_as_serve_with(&paths, &args).lines())
    } else {
        by_id(common::replay_as_serve(&paths).lines())
    };
    assert!(expected.len() > 1000, "a real amount of moments");
    let zone_moments = expected
        .values()
        .flatten()
        .filter(|l| l.contains(r#""level":"zone""#))
        .count();
    assert_eq!(zone_moments > 1000, zones, "{zone_moments} zone moments");

    // Every killed run appends to the same sink file, as a restarted service does (a line
    // cut by a kill is dropped when the next run opens it: every line must parse).
    let spawn_in = |data: &Path, i: usize| {
        let out = if i == 1000 {
            dir.join("moments-plain.jsonl")
        } else {
            dir.join("moments.jsonl")
        };
        let cfg = config(&dir, data, &paths, &out, i, zones);
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join(format!("serve-{i}.log"))).unwrap())
            .spawn()
            .unwrap();
        (child, out)
    };
    let wait = |child: &mut std::process::Child, i: usize| {
        let finish = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                finish.elapsed() < Duration::from_secs(60),
                "run {i} did not finish"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = fs::read_to_string(dir.join(format!("serve-{i}.log"))).unwrap();
        assert!(status.success(), "{status:?}: {log}");
        (finish.elapsed(), log)
    };

    // An uninterrupted run, timed (and its moments: replay's).
    let (mut child, plain) = spawn_in(&dir.join("data-plain"), 1000);
    let (whole, _) = wait(&mut child, 1000);
    let plain = fs::read_to_string(plain).unwrap();
    assert_eq!(by_id(plain.lines()), expected);
    let whole_ms = whole.as_millis() as u64;
    assert!(
        whole_ms >= 500,
        "an uninterrupted run takes {whole:?}: too short to kill it mid-read"
    );
    let data = dir.join("data");
    let spawn = |i: usize| spawn_in(&data, i);

    let count = |p: &Path| fs::read_to_string(p).map_or(0, |t| t.lines().count());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    let mut runs = 0;
    while kills < kills_wanted {
        assert!(
            runs < 3 * kills_wanted,
            "serve finished before it could be killed {kills_wanted} times: {kills} kills in {runs} runs"
        );
        let (mut child, _) = spawn(runs);
        runs += 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Anywhere from the start to nearly the end of what is left: a restart goes on
        // from its snapshot, so the runs get shorter as the moments written grow (drawn
        // over a whole run, the later runs would all end before their kill).
        let total = plain.lines().count().max(1) as u64;
        let left = total.saturating_sub(count(&dir.join("moments.jsonl")) as u64);
        let window = (whole_ms * 9 / 10 * left / total).max(100);
        std::thread::sleep(Duration::from_millis(50 + x % window));
        if child.try_wait().unwrap().is_none() {
            let ok = Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -KILL");
            kills += 1;
        }
        child.wait().unwrap();
    }
    // Left to finish.
    let out = dir.join("moments.jsonl");
    let before_last = count(&out);
    let (mut child, _) = spawn(runs);
    let (_, last_log) = wait(&mut child, runs);
    assert!(last_log.contains("restoring the snapshot"), "{last_log}");
    if zones {
        // Zone state went through the snapshots: some run restored subscribers in zones.
        let restored_in_zones = (0..=runs).any(|i| {
            fs::read_to_string(dir.join(format!("serve-{i}.log")))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("restoring the snapshot"))
                .filter_map(|l| l.split("in_zones=").nth(1))
                .filter_map(|n| n.split(' ').next()?.parse::<u64>().ok())
                .any(|n| n > 0)
        });
        assert!(restored_in_zones, "no restore with zone state: {last_log}");
    }

    let text = fs::read_to_string(&out).unwrap();
    assert_same(&by_id(text.lines()), &expected);
    // Moments derived again after a kill: some runs repeat what an earlier run wrote
    // (same lines), so restarts did happen mid-read.
    let total = text.lines().count();
    let distinct: usize = expected.values().map(BTreeSet::len).sum();
    assert!(total >= distinct);
    // The last run went on from a snapshot: it wrote only what came after it.
    let last = total - before_last;
    assert!(
        last < distinct,
        "the last run wrote {last} of {distinct} moments"
    );

    // Bounded: one snapshot (and at most the temporary a kill left behind).
    let data: Vec<_> = fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        data.iter().all(|n| n.contains("snapshot-p0")) && data.len() <= 2,
        "{data:?}"
    );
    eprintln!(
        "{kills} kills over {runs} runs, {total} lines for {distinct} moments; a whole run {whole:?}, the test {:?}",
        started.elapsed()
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Standard input cannot be read again: a run killed after its stdin gave a capture, and
/// restarted on a second capture of the same subscribers an hour after the first ends, gives together
/// `replay`'s moments of both. Without the journal the first capture's state and its
/// moments not yet emitted would be lost, and the second capture would announce its
/// subscribers again. No periodic snapshot runs (interval 1 h): the journal alone carries
/// the first run. The second run ends with its input and takes a last snapshot, after
/// which one (empty) journal segment remains.
#[test]
fn a_killed_stdin_run_is_carried_over_by_the_journal() {
    use landfall_testkit::replicate::{replicate_with, Options};
    use landfall_testkit::rotation::{frames, pcapng};
    use std::io::Write as _;

    let dir = common::temp_dir("serve-journal");
    let roaming =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap"))
            .unwrap();
    let (copies, _) = replicate_with(
        &frames(&roaming),
        &Options {
            copies: 50,
            distinct_subscribers: true,
            diameter_tcp_ports: vec![3868, 3871],
        },
    )
    .unwrap();
    let first = frames(&copies);
    let (a, b) = (dir.join("a.pcapng"), dir.join("b.pcapng"));
    fs::write(&a, pcapng(&first, 0)).unwrap();
    // The second capture starts an hour after the first ends (within the re-entry gap).
    let (start, end) = landfall_testkit::rotation::span(&first);
    fs::write(&b, pcapng(&first, end - start + 3_600_000_000)).unwrap();
    // Moments read from standard input name their file "-".
    let expected = common::replay_as_serve(&[a.clone(), b.clone()])
        .replace(r#""file":"a.pcapng""#, r#""file":"-""#)
        .replace(r#""file":"b.pcapng""#, r#""file":"-""#);
    let expected = by_id(expected.lines());
    assert!(expected.len() > 100);

    let data = dir.join("data");
    let out = dir.join("moments.jsonl");
    let cfg = dir.join("landfall.toml");
    fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"stdin\"\n[rules]\nwall_clock = false\n\
             [runtime]\ndata_dir = {data:?}\nsnapshot_interval = \"1h\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[[sink]]\nkind = \"file\"\npath = {out:?}\n"
        ),
    )
    .unwrap();
    let spawn = |i: usize| {
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&cfg)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join(format!("serve-{i}.log"))).unwrap())
            .spawn()
            .unwrap()
    };
    let journal_bytes = || -> u64 {
        fs::read_dir(&data).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
                .map(|e| e.metadata().unwrap().len())
                .sum()
        })
    };

    // Run 1: the first capture on stdin, which stays open; killed once it is journaled.
    let mut one = spawn(0);
    let mut stdin = one.stdin.take().unwrap();
    stdin.write_all(&fs::read(&a).unwrap()).unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    let (mut last, mut since) = (0, Instant::now());
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing journaled"
        );
        let n = journal_bytes();
        if n != last {
            (last, since) = (n, Instant::now());
        } else if n > 0 && since.elapsed() > Duration::from_millis(1500) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    one.kill().unwrap();
    one.wait().unwrap();
    drop(stdin);

    // Run 2: the second capture, then the end of its input.
    let mut two = spawn(1);
    let mut stdin = two.stdin.take().unwrap();
    stdin.write_all(&fs::read(&b).unwrap()).unwrap();
    drop(stdin);
    let status = two.wait().unwrap();
    let log = fs::read_to_string(dir.join("serve-1.log")).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("journal read"), "{log}");

    assert_same(&by_id(fs::read_to_string(&out).unwrap().lines()), &expected);

    // The last snapshot of the graceful end covers the journal: one segment is left, empty.
    let names: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "snapshot-p0"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("journal-")).count(),
        1,
        "{names:?}"
    );
    assert_eq!(journal_bytes(), 0);
    let _ = fs::remove_dir_all(&dir);
}

/// A two-process cluster (each process its own half of a capture twice the others' size, its own data
/// directory and sink file) killed at random points — both processes, or one (the other
/// then stops by itself: its peer is gone) — and restarted each time, then left to
/// finish: the union of both processes' moments over every run equals an uninterrupted
/// single process with the same two inputs, by id and line. The processes snapshot
/// together, and a restarted cluster restores the same boundary in both (checked in the
/// logs).
#[test]
fn a_cluster_killed_at_random_points_loses_and_repeats_nothing() {
    const ROUNDS: usize = 10;
    let dir = common::temp_dir("serve-restart-cluster");
    let capture = dir.join("capture");
    fs::create_dir_all(&capture).unwrap();
    let paths: Vec<PathBuf> = rotated_files(2 * COPIES)
        .into_iter()
        .map(|(name, bytes)| {
            let p = capture.join(name);
            fs::write(&p, bytes).unwrap();
            p
        })
        .collect();
    let halves: [Vec<PathBuf>; 2] = [
        paths.iter().step_by(2).cloned().collect(),
        paths.iter().skip(1).step_by(2).cloned().collect(),
    ];
    assert!(!halves[1].is_empty());
    let input = |name: &str, files: &[PathBuf]| {
        format!("[[input]]\nkind = \"files\"\nname = {name:?}\npaths = {files:?}\n")
    };
    let config = |process: Option<usize>, data: &Path, out: &Path, hostfile: &Path| {
        let (inputs, cluster) = match process {
            None => (
                format!("{}{}", input("a", &halves[0]), input("b", &halves[1])),
                String::new(),
            ),
            Some(p) => (
                input(if p == 0 { "a" } else { "b" }, &halves[p]),
                format!(
                    "[cluster]\nprocesses = 2\nprocess = {p}\nhostfile = {hostfile:?}\nconnect_timeout = \"30s\"\n"
                ),
            ),
        };
        let text = format!(
            "{inputs}[rules]\nwall_clock = false\n[runtime]\ndata_dir = {data:?}\nsnapshot_interval = \"100ms\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[[sink]]\nkind = \"file\"\npath = {out:?}\n{cluster}"
        );
        let path = dir.join(format!("landfall-{}.toml", process.map_or(9, |p| p)));
        fs::write(&path, text).unwrap();
        path
    };
    let hostfile = dir.join("hosts");
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();

    // The moments of one process with both inputs, uninterrupted.
    let one = dir.join("one.jsonl");
    let cfg = config(None, &dir.join("data-one"), &one, &hostfile);
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
    let expected = by_id(fs::read_to_string(&one).unwrap().lines());
    assert!(expected.len() > 1000, "a real amount of moments");

    let outs: Vec<PathBuf> = (0..2)
        .map(|p| dir.join(format!("moments-p{p}.jsonl")))
        .collect();
    let datas: Vec<PathBuf> = (0..2).map(|p| dir.join(format!("data-p{p}"))).collect();
    let spawn = |run: usize| -> Vec<std::process::Child> {
        (0..2)
            .map(|p| {
                let cfg = config(Some(p), &datas[p], &outs[p], &hostfile);
                Command::new(BIN)
                    .args(["serve", "--config"])
                    .arg(&cfg)
                    .stdout(Stdio::null())
                    .stderr(fs::File::create(dir.join(format!("serve-{run}-p{p}.log"))).unwrap())
                    .spawn()
                    .unwrap()
            })
            .collect()
    };
    let wait = |child: &mut std::process::Child, within: Duration| {
        let start = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < within, "a process did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let kill = |child: &std::process::Child| {
        let _ = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status();
    };

    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut kills = 0;
    for round in 0..ROUNDS {
        let mut children = spawn(round);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Once both processes have written a snapshot in this round (the cluster's
        // first comes only once the dataflow has caught up with files read at full
        // speed: an earlier kill would restore nothing), then anywhere within 300 ms.
        let round_start = std::time::SystemTime::now();
        let fresh = |p: usize| {
            fs::metadata(datas[p].join(format!("snapshot-p{p}")))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= round_start)
        };
        let waiting = Instant::now();
        while !(fresh(0) && fresh(1))
            && children.iter_mut().all(|c| c.try_wait().unwrap().is_none())
            && waiting.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(x % 300));
        if round % 3 == 2 {
            // One process killed: the other stops by itself, its peer gone.
            let victim = (x >> 32) as usize % 2;
            if children[victim].try_wait().unwrap().is_none() {
                kill(&children[victim]);
                kills += 1;
            }
            // It stops by itself (with an error, or done if the kill came at the end).
            wait(&mut children[1 - victim], Duration::from_secs(60));
        } else {
            for c in &mut children {
                if c.try_wait().unwrap().is_none() {
                    kill(c);
                    kills += 1;
                }
            }
        }
        for c in &mut children {
            c.wait().unwrap();
        }
    }
    // A kill may come after its run has ended (a run restored late in the capture).
    assert!(kills >= 3, "{kills} processes killed in {ROUNDS} rounds");
    // Left to finish.
    let mut last = spawn(ROUNDS);
    for c in &mut last {
        assert!(wait(c, Duration::from_secs(120)).success());
    }
    // Every restore: both processes at the same boundary.
    let restored = |log: &str| -> Option<String> {
        log.lines()
            .find(|l| l.contains("restoring the snapshot"))
            .and_then(|l| l.split("watermark=").nth(1))
            .map(|w| w.split(' ').next().unwrap_or_default().to_string())
    };
    let mut restores = 0;
    for run in 1..=ROUNDS {
        let logs: Vec<String> = (0..2)
            .map(|p| fs::read_to_string(dir.join(format!("serve-{run}-p{p}.log"))).unwrap())
            .collect();
        let (a, b) = (restored(&logs[0]), restored(&logs[1]));
        assert_eq!(a, b, "run {run}: both processes restore one boundary");
        restores += usize::from(a.is_some());
    }
    assert!(restores >= 3, "only {restores} runs restored a snapshot");

    let mut text = String::new();
    for out in &outs {
        text.push_str(&fs::read_to_string(out).unwrap());
    }
    assert_same(&by_id(text.lines()), &expected);
    // Bounded: at most the latest snapshot, the previous one and a temporary each.
    for data in &datas {
        let names: Vec<String> = fs::read_dir(data)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.len() <= 3, "{names:?}");
    }
    let _ = fs::remove_dir_all(&dir);
}

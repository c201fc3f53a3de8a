//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/captures` beside the repository. Tests that call this carry
/// `#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]` (set by `build.rs`
/// when the folder is absent outside CI); so when it is missing here, the run is CI's
/// and the test fails saying why.
pub fn shared_captures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    assert!(
        dir.is_dir(),
        "{} is missing: this test needs the shared captures (with CI set, their absence is a failure)",
        dir.display()
    );
    dir
}

/// Every pcap/pcapng file in `dir`, sorted.
pub fn capture_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read captures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// A fresh, empty temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("landfall-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// What `landfall replay -q` prints for `paths` with `serve`'s default horizon of silence
/// (30 days): the moments `serve` must give for the same inputs.
pub fn replay_as_serve(paths: &[PathBuf]) -> String {
    replay_as_serve_with(paths, &[])
}

/// [`replay_as_serve`] with more arguments (e.g. `--zones`, `--cells`, `--min-dwell`).
pub fn replay_as_serve_with(paths: &[PathBuf], args: &[std::ffi::OsString]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(["replay", "-q", "--horizon", "30d"])
        .args(args)
        .args(paths)
        .output()
        .expect("landfall replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Kills process `pid` (SIGKILL) when dropped, so a test that fails half-way leaves no
/// `serve` running; after a normal end the process is gone already and this does nothing.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The HTTP address `serve` logged ("serving http=…") in `log`, waited for `within`.
pub fn http_address(log: &std::path::Path, within: std::time::Duration) -> String {
    let start = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(i) = text.find("http=") {
            let addr = text[i + 5..].split_whitespace().next().unwrap_or("");
            if !addr.is_empty() {
                return addr.to_owned();
            }
        }
        assert!(
            start.elapsed() < within,
            "timed out waiting for serve to listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `landfall ARGS` run to its end; it must succeed.
pub fn run_landfall(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landfall"))
        .args(args)
        .output()
        .expect("run landfall");
    assert!(
        out.status.success(),
        "landfall {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `landfall ARGS`, which must succeed: its stdout (records, moments) then its stderr (the
/// stats report), as one text.
pub fn landfall_output(args: &[&str]) -> String {
    let out = run_landfall(args);
    let mut s = String::from_utf8(out.stdout).expect("utf-8");
    s.push_str(&String::from_utf8(out.stderr).expect("utf-8"));
    s
}

/// The JSON lines of `text` (lines starting with `{`), parsed.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// The path of capture `name` in `dir`, as an argument.
pub fn capture_arg(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8 path").to_owned()
}

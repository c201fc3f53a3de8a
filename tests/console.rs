//! The operator console in a real browser: Debian's headless chromium, driven through
//! chromedriver (WebDriver, fantoccini), against `serve` following a folder fed with the
//! roaming fixture replicated into more than 10 000 present arrivals, with the fixture's
//! zones and a partner whose receiver always answers 500.
//!
//! Checked: each page loads and shows its data within 1 s of navigation; the counts the
//! Now page shows (every area at every level), the Flow page's top home countries and the
//! Health page's tracked subscribers equal the API's at the same `as_of`; a capture
//! dropped in later appears on the page without a reload; the Partners page shows the
//! failing receiver's subscription as failing; while about 1 000 moments a second stream
//! in, the page keeps up and its JS heap (after a collection) does not grow beyond a
//! margin. Screenshots of every page (1280×800, and Now at a phone's width) go to
//! `target/console-screenshots/` (printed).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian: `apt-get install
//! chromium chromium-driver`): without them the test says it is skipped, and under CI it
//! fails.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use landfall_testkit::replicate::{replicate_with, Options};
use landfall_testkit::rotation::{frames, pcapng, span};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_landfall");
const OPERATOR_KEY: &str = "an-operator-key-of-some-length";
/// Copies of the (trimmed) fixture in the first capture: more than 10 000 present arrivals.
const INITIAL_COPIES: usize = 1_100;
/// Seconds of the streamed load, and the moments per second aimed at.
const STREAM_SECONDS: usize = 10;
const STREAM_RATE: f64 = 1_000.0;
/// The most copies a streamed second may need (a copy gives at least 17 moments).
const MAX_COPIES_PER_SECOND: usize = 60;
/// The fixture's first 95 minutes: its arrivals, without the day-long tail.
const TRIM_US: i64 = 95 * 60 * 1_000_000;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Debian's chromium and chromedriver, if installed.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let driver = PathBuf::from("/usr/bin/chromedriver");
    (chromium.is_file() && driver.is_file()).then_some((chromium, driver))
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A plain HTTP/1.1 request on loopback: (status, body).
fn call(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.map_or(String::new(), Value::to_string);
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {OPERATOR_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn get(addr: &str, path: &str) -> Value {
    let (status, body) = call(addr, "GET", path, None);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Moments emitted so far (the sum of `landfall_moments_total`).
fn moments_emitted(addr: &str) -> u64 {
    let (_, text) = call(addr, "GET", "/metrics", None);
    text.lines()
        .filter(|l| {
            l.starts_with("landfall_moments_total{") || l.starts_with("landfall_moments_total ")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A webhook receiver on 127.0.0.1 that answers every request 500.
fn failing_receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 65536];
                // Enough for one request; answer and close.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    port
}

/// The fixture trimmed to its first 95 minutes, replicated `copies` times with distinct
/// subscribers and moved to end an hour ago: (frames of one copy, the whole capture's
/// frames as one pcapng-ready list).
fn replicated(copies: usize) -> (usize, Vec<landfall_parsers::capture::Frame>) {
    let fixture =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap"))
            .unwrap();
    let all = frames(&fixture);
    let (start, _) = span(&all);
    let trimmed: Vec<_> = all
        .into_iter()
        .filter(|f| f.meta.ts_us < start + TRIM_US)
        .collect();
    let per_copy = trimmed.len();
    let (big, _) = replicate_with(
        &trimmed,
        &Options {
            copies: copies as u32,
            distinct_subscribers: true,
            diameter_tcp_ports: vec![3868, 3871],
        },
    )
    .expect("a replication");
    (per_copy, frames(&big))
}

/// A capture of one GTPv2-C datagram whose header claims more bytes than it carries, at
/// `at_us`: one decode error for the Health page.
fn bad_gtp_frame(at_us: i64) -> Vec<u8> {
    use landfall_parsers::capture::PcapNgWriter;
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = [0x48, 32, 0x01, 0x00, 0, 0, 0, 1, 0, 0, 1, 0];
    let udp_len = 8 + payload.len() as u16;
    let ip_len = 20 + udp_len;
    f.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&[
        0x08,
        0x4b,
        0x08,
        0x4b,
        (udp_len >> 8) as u8,
        udp_len as u8,
        0,
        0,
    ]);
    f.extend_from_slice(&payload);
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(1, 9).unwrap();
    w.write_packet(i, at_us * 1000, &f, f.len() as u32).unwrap();
    w.into_inner().unwrap()
}

fn config(dir: &Path, probe: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = dir.join("landfall.toml");
    fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"folder\"\npath = {probe:?}\nidle_close = \"300ms\"\n\
             [rules]\nwall_clock = false\nttl = \"366d\"\nhorizon = \"366d\"\n\
             [zones]\nzones = {zones:?}\ncells = {cells:?}\n\
             [runtime]\ndata_dir = {data:?}\n\
             [http]\nlisten = \"127.0.0.1:0\"\noperator_key = \"{OPERATOR_KEY}\"\n\
             [partners]\noperator_country = \"FR\"\nallow_http_loopback = true\n\
             max_attempts = 2\nretry_delays = [\"100ms\"]\n",
            zones = root.join("fixtures/zones.toml"),
            cells = root.join("fixtures/cells.csv"),
            data = dir.join("data"),
        ),
    )
    .unwrap();
    cfg
}

/// Wait until `cond` holds (checked every 100 ms), at most `secs`.
fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The view settled: the same `as_of` and present total twice, 1.5 s apart.
fn settled(addr: &str) -> Value {
    let mut last = Value::Null;
    let mut out = Value::Null;
    wait_until("the view to settle", 600, || {
        thread::sleep(Duration::from_millis(1500));
        let now = get(addr, "/v1/operator/areas?level=country");
        let same = now["as_of"] == last["as_of"] && now["areas"] == last["areas"];
        last = now.clone();
        out = now;
        same && out["areas"].as_array().is_some_and(|a| !a.is_empty())
    });
    out
}

/// A chromedriver on a free port; on drop it is killed, and so is every chromium process
/// of this test's profile (`--user-data-dir`, unique to the test's folder): a failed test
/// leaves no browser behind.
struct Driver {
    child: Child,
    port: u16,
    profile: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let flag = format!("--user-data-dir={}", self.profile);
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).any(|arg| arg == flag.as_bytes()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

fn start_driver(path: &Path, log: &Path, profile: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    wait_until("chromedriver to listen", 30, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Driver {
        child,
        port,
        profile: profile.display().to_string(),
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect(script)
}

/// Wait until `script` returns something other than null/false.
async fn js_until(c: &Client, what: &str, secs: u64, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = js(c, script).await;
        if !v.is_null() && v != Value::Bool(false) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Load `page` afresh (a navigation, not a hash change) and return how long after the
/// navigation started it showed its data (ms).
async fn load(c: &Client, base: &str, page: &str) -> f64 {
    c.goto(&format!("{base}/console/#{page}")).await.unwrap();
    c.refresh().await.unwrap();
    let ready = js_until(
        c,
        &format!("the {page} page's data"),
        30,
        &format!("const p = document.getElementById('page'); return p.dataset.page === '{page}' && p.dataset.ready ? Number(p.dataset.ready) : null;"),
    )
    .await;
    ready.as_f64().unwrap()
}

async fn screenshot(c: &Client, dir: &Path, name: &str) {
    // No focus ring in the picture.
    js(
        c,
        "if (document.activeElement) document.activeElement.blur(); return null;",
    )
    .await;
    let png = c.screenshot().await.unwrap();
    fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

const PAGE_COUNTS: &str = "const out = {country: {}, network: {}, zone: {}};
    for (const td of document.querySelectorAll('td[data-level][data-area]')) out[td.dataset.level][td.dataset.area] = Number(td.dataset.count);
    const a = document.getElementById('now-as-of');
    const t = document.getElementById('now-total');
    return {as_of: a ? a.dataset.asOf : null, present: t ? Number(t.dataset.present) : null, counts: out, updates: window.landfallConsole.updates};";

/// The API's counts per level as the page keys them, and its `as_of` (the same for the
/// three calls, or none).
fn api_counts(addr: &str) -> Option<(String, Value)> {
    let mut out = serde_json::Map::new();
    let mut as_of = None;
    for level in ["country", "network", "zone"] {
        let r = get(addr, &format!("/v1/operator/areas?level={level}"));
        let t = r["as_of"].as_str().unwrap().to_owned();
        if as_of.get_or_insert(t.clone()) != &t {
            return None;
        }
        let m: serde_json::Map<String, Value> = r["areas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["area"].as_str().unwrap().to_owned(), a["count"].clone()))
            .collect();
        out.insert(level.to_owned(), Value::Object(m));
    }
    Some((as_of.unwrap(), Value::Object(out)))
}

/// The page's counts equal the API's at the same `as_of` (both read again until their
/// clocks agree).
async fn assert_now_counts_match(c: &Client, addr: &str) -> u64 {
    for _ in 0..100 {
        let page = js(c, PAGE_COUNTS).await;
        if let Some((as_of, api)) = api_counts(addr) {
            if page["as_of"] == as_of {
                assert_eq!(
                    page["counts"], api,
                    "the Now page's counts against the API's at {as_of}"
                );
                let present: u64 = ["country", "network", "zone"]
                    .iter()
                    .flat_map(|l| api[*l].as_object().unwrap().values())
                    .map(|v| v.as_u64().unwrap())
                    .sum();
                assert_eq!(page["present"], present);
                return present;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the page's as_of never matched the API's");
}

#[test]
fn the_console_shows_the_apis_numbers_live_in_a_browser() {
    let Some((chromium, chromedriver)) = browser() else {
        assert!(!ci(), "CI: /usr/bin/chromium and /usr/bin/chromedriver are needed (apt-get install chromium chromium-driver)");
        eprintln!("skipped: the console's browser test needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = common::temp_dir("console");
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map_or(shots, |t| PathBuf::from(t).join("console-screenshots"));
    fs::create_dir_all(&shots).unwrap();

    // The captures: the initial 1 100 copies, one copy for the live check, then the
    // streamed seconds' copies, all one replication so that subscribers never repeat.
    let total = INITIAL_COPIES + 1 + STREAM_SECONDS * MAX_COPIES_PER_SECOND;
    let (per_copy, all) = replicated(total);
    let (_, end) = span(&all);
    let shift = now_us() - 3_600_000_000 - end;
    let cut = |from: usize, copies: usize| -> Vec<u8> {
        let a = (from * per_copy).min(all.len());
        let b = ((from + copies) * per_copy).min(all.len());
        pcapng(&all[a..b], shift)
    };

    let sink_port = failing_receiver();
    let cfg = config(&dir, &probe);
    let log = dir.join("serve.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _guard = common::KillOnDrop(child.id());
    let addr = common::http_address(&log, Duration::from_secs(60));
    let base = format!("http://{addr}");

    // A partner whose receiver fails: its subscription-started event already fails.
    let (status, created) = call(
        &addr,
        "POST",
        "/v1/operator/partners",
        Some(&json!({"name": "Failing Travel", "purposes": [1], "perPersonConsent": true})),
    );
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let partner_key = created["apiKey"].as_str().unwrap().to_owned();
    let subscribe = |sub: Value| {
        let sub = sub.to_string();
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /v1/subscriptions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {partner_key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sub}",
            sub.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        assert!(raw.starts_with("HTTP/1.1 201"), "{raw}");
    };
    let sink = format!("http://127.0.0.1:{sink_port}/hook");
    subscribe(json!({
        "protocol": "HTTP",
        "sink": sink,
        "types": ["org.landfall.moments.v0.arrival.country"],
        "config": {"subscriptionDetail": {"area": {"areaType": "COUNTRY", "country": "FR"}, "direction": "INBOUND"}}
    }));
    // A circle around the airport: a partner zone on the map.
    subscribe(json!({
        "protocol": "HTTP",
        "sink": sink,
        "types": ["org.landfall.moments.v0.arrival.zone"],
        "config": {"subscriptionDetail": {"area": {"areaType": "CIRCLE", "center": {"latitude": 49.0, "longitude": 2.55}, "radius": 3000}}}
    }));

    // The initial capture: more than 10 000 present arrivals, after a bad GTP datagram.
    let (first, _) = span(&all);
    fs::write(
        probe.join("probe-0-err.pcapng"),
        bad_gtp_frame(first + shift - 1_000_000),
    )
    .unwrap();
    let started = Instant::now();
    fs::write(probe.join("probe-0.pcapng"), cut(0, INITIAL_COPIES)).unwrap();
    let areas = settled(&addr);
    let initial_moments = moments_emitted(&addr);
    let per_copy_moments = initial_moments as f64 / INITIAL_COPIES as f64;
    let present: u64 = ["country", "network", "zone"]
        .iter()
        .map(|l| {
            get(&addr, &format!("/v1/operator/areas?level={l}"))["areas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["count"].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    eprintln!(
        "initial capture: {INITIAL_COPIES} copies, {initial_moments} moments ({per_copy_moments:.1} per copy), {present} present arrivals, settled after {:.1} s (as of {})",
        started.elapsed().as_secs_f64(),
        areas["as_of"]
    );
    assert!(
        present >= 10_000,
        "{present} present arrivals: the fixture of this test needs 10 000"
    );

    let profile = dir.join("chromium");
    let driver = start_driver(&chromedriver, &dir.join("chromedriver.log"), &profile);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--enable-precise-memory-info", "--js-flags=--expose-gc",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,800",
                ],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session with chromium");
        c.set_window_size(1280, 800).await.unwrap();

        // The key, through the form.
        c.goto(&format!("{base}/console/")).await.unwrap();
        let key = c.wait().for_element(Locator::Css("#key")).await.unwrap();
        key.send_keys(OPERATOR_KEY).await.unwrap();
        c.find(Locator::Css("#login button[type=submit]")).await.unwrap().click().await.unwrap();
        js_until(&c, "the Now page", 30, "return document.getElementById('page').dataset.ready || null").await;

        // Each page's load, with the 10 k present arrivals.
        let mut loads = BTreeMap::new();
        for page in ["now", "flow", "health", "partners"] {
            let ms = load(&c, &base, page).await;
            loads.insert(page, ms);
        }
        eprintln!("page loads to data (ms since navigation start, {present} present arrivals): {loads:?}");
        for (page, ms) in &loads {
            assert!(*ms < 1000.0, "the {page} page took {ms} ms to show its data");
        }

        // Now: every area's count equals the API's at the same as_of.
        load(&c, &base, "now").await;
        let shown = assert_now_counts_match(&c, &addr).await;
        assert_eq!(shown, present);
        // A country reached with the keyboard (Enter) lists its arrivals (a click on
        // FR's path would land on French Guiana's box centre, in the sea).
        c.find(Locator::Css("path.country[data-area='FR']"))
            .await
            .unwrap()
            .send_keys("\u{E007}")
            .await
            .unwrap();
        let listed = js_until(&c, "FR's arrivals", 10, "const t = document.getElementById('detail-table'); return t && t.dataset.area === 'FR' ? t.querySelectorAll('tbody tr').length : null;").await;
        assert!(listed.as_u64().unwrap() > 0);
        screenshot(&c, &shots, "now").await;
        c.find(Locator::Css("#fit-zones")).await.unwrap().click().await.unwrap();
        js_until(&c, "the zones' close-up", 10, "return document.querySelector('svg.map.zoomed .zone') !== null;").await;
        let drawn = js(&c, "return [...document.querySelectorAll('svg.map .zone')].map(g => g.dataset.zone + (g.classList.contains('partner') ? ' (partner)' : ''));").await;
        let drawn: Vec<&str> = drawn.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for zone in ["cdg-t2", "cdg-arrivals", "paris-centre"] {
            assert!(drawn.contains(&zone), "{zone} not drawn: {drawn:?}");
        }
        assert!(drawn.iter().any(|z| z.starts_with("circle:") && z.ends_with("(partner)")), "{drawn:?}");
        screenshot(&c, &shots, "now-zones").await;

        // Flow: the top home countries equal the API's.
        load(&c, &base, "flow").await;
        let page_top = js(&c, "return [...document.querySelectorAll('#top-countries li')].map(li => [li.dataset.name, Number(li.dataset.count)]);").await;
        let api_top = get(&addr, "/v1/operator/flow?minutes=180")["top_home_countries"].clone();
        assert_eq!(page_top, api_top, "the Flow page's top home countries");
        assert!(js(&c, "return document.querySelector('#flow-chart canvas') !== null").await == Value::Bool(true));
        screenshot(&c, &shots, "flow").await;

        // Health: tracked subscribers and present arrivals equal the API's.
        load(&c, &base, "health").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let page_tracked = js(&c, "return document.querySelector('#tracked strong').textContent.replace(/,/g, '');").await;
        let health = get(&addr, "/v1/operator/health");
        assert_eq!(page_tracked.as_str().unwrap(), health["tracked_subscribers"].to_string(), "tracked subscribers");
        assert!(health["tracked_subscribers"].as_u64().unwrap() > 0);
        // The bad datagram: its error by reason, with its file and frame, as the API says.
        let errors = health["decode_errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{health}");
        let page_errors = js(&c, "return [...document.querySelectorAll('#decode-errors tbody tr')].map(tr => [...tr.children].map(td => td.textContent));").await;
        let page_errors = page_errors.as_array().unwrap();
        assert_eq!(page_errors.len(), errors.len());
        for (row, e) in page_errors.iter().zip(errors) {
            assert_eq!(row[2], e["reason"], "{row}");
            assert_eq!(row[3].as_str().unwrap().replace(',', ""), e["count"].to_string());
            assert!(row[4].as_str().unwrap().contains("probe-0-err.pcapng frame 1"), "{row}");
        }
        screenshot(&c, &shots, "health").await;

        // Partners: the failing receiver's subscription is failing, on the page and the API.
        let mut delivery = Value::Null;
        let start = Instant::now();
        while delivery["partners"][0]["failing"] != true {
            assert!(start.elapsed() < Duration::from_secs(60), "the partner never failed: {delivery}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            delivery = get(&addr, "/v1/operator/delivery");
        }
        c.goto(&format!("{base}/console/#partners")).await.unwrap();
        js_until(&c, "the partner to show as failing", 60, "const s = document.querySelector('section.partner[data-partner=\"1\"]'); return s && s.dataset.failing === 'true' && s.textContent.includes('failing');").await;
        // Its dead letter (two attempts, both 500) sent again from the page.
        let start = Instant::now();
        while delivery["partners"][0]["subscriptions"][0]["dead_letters"].as_u64() < Some(1) {
            assert!(start.elapsed() < Duration::from_secs(60), "no dead letter: {delivery}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            delivery = get(&addr, "/v1/operator/delivery");
        }
        c.find(Locator::Css("section.partner[data-partner='1'] button[aria-expanded]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let redeliver = c
            .wait()
            .for_element(Locator::XPath("//section[@data-partner='1']//button[text()='Redeliver']"))
            .await
            .unwrap();
        redeliver.click().await.unwrap();
        js_until(&c, "the dead letter requeued", 10, "return [...document.querySelectorAll('section.partner button')].some(b => b.textContent === 'requeued (1)');").await;
        screenshot(&c, &shots, "partners").await;

        // Live: a capture dropped in later shows on the Now page without a reload.
        load(&c, &base, "now").await;
        js(&c, "window.__sameDocument = 42; return null;").await;
        let before = js(&c, PAGE_COUNTS).await;
        fs::write(probe.join("probe-1.pcapng"), cut(INITIAL_COPIES, 1)).unwrap();
        js_until(&c, "the new arrivals on the page", 60, &format!("return Number(document.getElementById('now-total').dataset.present) > {};", before["present"])).await;
        assert_eq!(js(&c, "return window.__sameDocument === 42").await, Value::Bool(true), "the page was reloaded");
        settled(&addr);
        let after = assert_now_counts_match(&c, &addr).await;
        assert!(after > shown);

        // The phone's width.
        c.set_window_size(390, 844).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        screenshot(&c, &shots, "now-phone").await;
        c.set_window_size(1280, 800).await.unwrap();

        // About 1 000 moments a second for STREAM_SECONDS, the Now page open: its heap
        // after a collection stays within a margin of the one before.
        let copies_per_second = ((STREAM_RATE / per_copy_moments).ceil() as usize).min(MAX_COPIES_PER_SECOND);
        let heap = "window.gc(); return performance.memory.usedJSHeapSize;";
        let heap_before = js(&c, heap).await.as_f64().unwrap();
        let updates_before = js(&c, "return window.landfallConsole.updates").await.as_u64().unwrap();
        let emitted_before = moments_emitted(&addr);
        let t0 = Instant::now();
        let mut samples = Vec::new();
        for i in 0..STREAM_SECONDS {
            let from = INITIAL_COPIES + 1 + i * copies_per_second;
            fs::write(probe.join(format!("probe-{}.pcapng", i + 2)), cut(from, copies_per_second)).unwrap();
            let next = t0 + Duration::from_secs(i as u64 + 1);
            tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
            samples.push(js(&c, "return performance.memory.usedJSHeapSize;").await.as_f64().unwrap());
        }
        let streamed_for = t0.elapsed().as_secs_f64();
        let emitted_by_end = moments_emitted(&addr) - emitted_before;
        // Caught up: the page ends at the API's counts.
        settled(&addr);
        let caught_up_after = t0.elapsed().as_secs_f64();
        assert_now_counts_match(&c, &addr).await;
        let emitted = moments_emitted(&addr) - emitted_before;
        let updates = js(&c, "return window.landfallConsole.updates").await.as_u64().unwrap() - updates_before;
        let heap_after = js(&c, heap).await.as_f64().unwrap();
        let peak = samples.iter().copied().fold(heap_before, f64::max);
        let mib = |b: f64| b / (1024.0 * 1024.0);
        eprintln!(
            "stream: {copies_per_second} copies/s for {STREAM_SECONDS} s: {emitted_by_end} moments emitted within {streamed_for:.1} s ({:.0}/s), {emitted} in all, the page caught up {caught_up_after:.1} s after the start with {updates} live updates; JS heap after GC {:.2} MiB before, {:.2} MiB after (peak without GC {:.2} MiB); samples {:?}",
            emitted_by_end as f64 / streamed_for,
            mib(heap_before),
            mib(heap_after),
            mib(peak),
            samples.iter().map(|s| format!("{:.1}", mib(*s))).collect::<Vec<_>>(),
        );
        assert!(emitted as f64 >= 0.9 * STREAM_RATE * STREAM_SECONDS as f64, "{emitted} moments streamed");
        assert!(heap_after <= heap_before * 1.25 + 4.0 * 1024.0 * 1024.0, "the page's heap grew from {heap_before} to {heap_after} bytes");
        // SIGTERM with the page still following the live feed: serve drains and stops
        // cleanly (an open feed does not hold it), and the page says it lost the feed.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "serve did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(status.success(), "serve ended with {status}");
        js_until(&c, "the page to say it lost the feed", 20, "return document.getElementById('status').textContent.startsWith('reconnecting');").await;
        let _ = c.close().await;
    });
    eprintln!("screenshots: {}", shots.display());
    drop(driver);
    let _ = fs::remove_dir_all(&dir);
}

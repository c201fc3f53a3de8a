//! Partners end to end: `serve` with `[partners]`, a webhook receiver on loopback, a
//! partner, consent and subscriptions made through the operator and partner APIs, then
//! the bundled fixture dropped into the followed folder. Exactly the expected events
//! arrive (a lifecycle event per subscription, then the consenting visitors' moments),
//! each signed so that the independent `standardwebhooks` crate verifies it, each a
//! structured CloudEvent, none carrying an IMSI or MSISDN; the API refuses what it must.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_landfall");
const OPERATOR_KEY: &str = "an-operator-key-of-some-length";
/// Visitors in the fixture (home DE, ES, US) and one of the operator's own subscribers.
const DE: &str = "262011234567890";
const ES: &str = "214070000000005";
const US: &str = "310410123456789";
const MSISDN_DE: &str = "4915112345678";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a receiver answers: `status` (204 unless set), after `delay_ms`; `hang`: never.
#[derive(Default)]
struct Behaviour {
    status: AtomicU16,
    delay_ms: AtomicU64,
    hang: AtomicBool,
}

/// A webhook receiver on 127.0.0.1: answers every POST as `how` says, keeps what came
/// (answered or not).
fn receiver_with(how: Arc<Behaviour>) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let keep = Arc::clone(&got);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (keep, how) = (Arc::clone(&keep), Arc::clone(&how));
            thread::spawn(move || serve_one(stream, &keep, &how));
        }
    });
    (port, got)
}

fn receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    receiver_with(Arc::default())
}

/// Requests on one connection (keep-alive) until it closes.
fn serve_one(stream: TcpStream, keep: &Mutex<Vec<Received>>, how: &Behaviour) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let received = Received {
            path,
            headers,
            body,
        };
        if how.hang.load(Ordering::SeqCst) {
            keep.lock().unwrap().push(received);
            thread::sleep(Duration::from_secs(3600));
            return;
        }
        thread::sleep(Duration::from_millis(how.delay_ms.load(Ordering::SeqCst)));
        let status = match how.status.load(Ordering::SeqCst) {
            0 => 204,
            s => s,
        };
        let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
        // Kept only once answered: what counts as delivered.
        if status < 300 {
            keep.lock().unwrap().push(received);
        }
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A plain HTTP/1.1 request on loopback: (status, body).
fn call(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let body = body.unwrap_or(b"");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
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

fn call_json(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let (status, text) = call(addr, method, path, key, Some(body.to_string().as_bytes()));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn subscription(sink: &str, types: &str, detail: Value) -> Value {
    json!({
        "protocol": "HTTP",
        "sink": sink,
        "sinkCredential": {
            "credentialType": "ACCESSTOKEN",
            "accessToken": "sink-token-abc",
            "accessTokenExpiresUtc": "2099-01-01T00:00:00Z",
            "accessTokenType": "bearer"
        },
        "types": [types],
        "config": {"subscriptionDetail": detail}
    })
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn partners_receive_exactly_their_signed_events() {
    let dir = common::temp_dir("partners");
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let fixture = dir.join("roaming-now.pcapng");
    fs::write(&fixture, ending_an_hour_ago(&roaming_fixture())).unwrap();
    let (port, got) = receiver();
    let out = dir.join("moments.jsonl");
    let cfg = dir.join("landfall.toml");
    fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"folder\"\npath = {probe:?}\nidle_close = \"300ms\"\n\
             [rules]\nwall_clock = false\nttl = \"366d\"\n\
             [runtime]\ndata_dir = {data:?}\n\
             [http]\nlisten = \"127.0.0.1:0\"\noperator_key = \"{OPERATOR_KEY}\"\n\
             [[sink]]\nkind = \"file\"\npath = {out:?}\n\
             [partners]\noperator_country = \"FR\"\nallow_http_loopback = true\n\
             event_source = \"urn:landfall:test\"\n",
            data = dir.join("data"),
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("LANDFALL_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _guard = common::KillOnDrop(child.id());
    let addr = common::http_address(&log, Duration::from_secs(60));

    // The operator: two partners, consent of two of the three visitors to the first.
    let (partner, key, secret) = new_partner(&addr, "Acme Travel", true);
    let (_, other_key, _) = new_partner(&addr, "Other", true);
    for imsi in [DE, ES] {
        grant_consent(&addr, partner, imsi);
    }

    // The partner: arrivals of visitors in the country, and CAMARA roaming-on.
    let sink = format!("http://127.0.0.1:{port}/hook");
    let (status, arrivals) = call_json(
        &addr,
        "POST",
        "/v1/subscriptions",
        Some(&key),
        &subscription(
            &sink,
            "org.landfall.moments.v0.arrival.country",
            json!({"area": {"areaType": "COUNTRY", "country": "FR"}, "direction": "INBOUND"}),
        ),
    );
    assert_eq!(status, 201, "{arrivals}");
    let (status, roaming) = call_json(
        &addr,
        "POST",
        "/v1/subscriptions",
        Some(&key),
        &subscription(
            &sink,
            "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-on",
            json!({}),
        ),
    );
    assert_eq!(status, 201, "{roaming}");
    let arrivals_id = arrivals["id"].as_str().unwrap().to_owned();
    // The same arrivals, at most one event: then it ends (MAX_EVENTS_REACHED).
    let mut once = subscription(
        &sink,
        "org.landfall.moments.v0.arrival.country",
        json!({"area": {"areaType": "COUNTRY", "country": "FR"}, "direction": "INBOUND"}),
    );
    once["config"]["subscriptionMaxEvents"] = json!(1);
    let (status, once) = call_json(&addr, "POST", "/v1/subscriptions", Some(&key), &once);
    assert_eq!(status, 201, "{once}");
    let once_id = once["id"].as_str().unwrap().to_owned();

    // What the API refuses.
    let (status, _) = call(&addr, "GET", "/v1/subscriptions", None, None);
    assert_eq!(status, 401, "no key");
    let (status, _) = call(&addr, "GET", "/v1/subscriptions", Some("lf_wrong"), None);
    assert_eq!(status, 401, "a wrong key");
    let (status, body) = call(
        &addr,
        "GET",
        &format!("/v1/subscriptions/{arrivals_id}"),
        Some(&other_key),
        None,
    );
    assert_eq!(status, 404, "another partner's subscription: {body}");
    for private in [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest",
        "http://example.com/hook",
    ] {
        let (status, body) = call_json(
            &addr,
            "POST",
            "/v1/subscriptions",
            Some(&key),
            &subscription(
                private,
                "org.landfall.moments.v0.arrival.country",
                json!({}),
            ),
        );
        assert_eq!(status, 400, "{private}: {body}");
        assert_eq!(body["code"], "INVALID_SINK", "{body}");
    }
    let (status, _) = call(
        &addr,
        "POST",
        "/v1/subscriptions",
        Some(&key),
        Some(&vec![b' '; 200_000]),
    );
    assert_eq!(status, 413, "oversize");
    let (status, body) = call(
        &addr,
        "POST",
        "/v1/subscriptions",
        Some(&key),
        Some(b"{not json"),
    );
    assert_eq!(status, 400, "{body}");

    // The expected events: replay's moments of the consenting visitors.
    let expected_moments = replay_moments(&[&fixture]);
    let want: BTreeSet<(String, String)> = expected_moments
        .iter()
        .filter(|m| [DE, ES].contains(&m["imsi"].as_str().unwrap()))
        .filter_map(|m| {
            match (
                m["type"].as_str().unwrap(),
                m["level"].as_str().unwrap(),
                m["area"].as_str().unwrap(),
            ) {
                ("arrival", "country", "FR") => {
                    Some(("org.landfall.moments.v0.arrival.country", m))
                }
                ("roaming-on", _, _) => Some((
                    "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-on",
                    m,
                )),
                _ => None,
            }
        })
        .map(|(t, m)| (t.to_owned(), m["at"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(want.len(), 4, "{want:?}");
    // Three lifecycle events first (subscription-started).
    wait_until("the lifecycle events", 30, || {
        got.lock().unwrap().len() >= 3
    });

    // Settled registry, then the capture.
    thread::sleep(Duration::from_millis(300));
    fs::copy(&fixture, probe.join("probe-1.pcapng")).unwrap();
    // Three started, the moments', the capped subscription's one and its end.
    let expected = 3 + want.len() + 2;
    let start = Instant::now();
    while got.lock().unwrap().len() < expected {
        if start.elapsed() > Duration::from_secs(60) {
            let g = got.lock().unwrap();
            let seen: Vec<String> = g
                .iter()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .collect();
            panic!("timed out waiting for the moments' events: {seen:#?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_secs(2));
    let received = got.lock().unwrap().clone();
    assert_eq!(
        received.len(),
        expected,
        "{:#?}",
        received
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    );

    // Same times as replay's moments (RFC 3339 either way: compare the instants).
    let norm = |s: &BTreeSet<(String, String)>| -> BTreeSet<(String, String)> {
        s.iter()
            .map(|(t, at)| {
                (
                    t.clone(),
                    at.trim_end_matches('Z')
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_owned(),
                )
            })
            .collect()
    };
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut events = BTreeSet::new();
    let mut lifecycle = 0;
    let mut capped = Vec::new();
    let mut ended = Vec::new();
    for r in &received {
        assert_eq!(r.path, "/hook");
        let mut map = http::HeaderMap::new();
        for (k, v) in &r.headers {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        wh.verify(&r.body, &map)
            .unwrap_or_else(|e| panic!("signature: {e:?}"));
        assert_eq!(
            r.header("content-type"),
            Some("application/cloudevents+json")
        );
        assert_eq!(r.header("authorization"), Some("Bearer sink-token-abc"));
        let text = String::from_utf8(r.body.clone()).unwrap();
        for secret_id in [DE, ES, US, MSISDN_DE] {
            assert!(!text.contains(secret_id), "an identity in a body: {text}");
        }
        let ce: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["source"], "urn:landfall:test");
        assert_eq!(r.header("webhook-id"), ce["id"].as_str());
        let ty = ce["type"].as_str().unwrap().to_owned();
        assert!(ce["time"].is_string() && ce["data"].is_object(), "{ce}");
        if ty.ends_with("subscription-started") {
            lifecycle += 1;
            continue;
        }
        if ty.ends_with("subscription-ended") {
            ended.push(ce["data"].clone());
            continue;
        }
        let at = ce["time"].as_str().unwrap().to_owned();
        if ce["data"]["subscriptionId"] == once_id.as_str() {
            capped.push((ty, at));
            continue;
        }
        events.insert((ty, at));
    }
    assert_eq!(lifecycle, 3);
    assert_eq!(capped.len(), 1, "{capped:?}");
    assert!(
        norm(&want).is_superset(&norm(&capped.iter().cloned().collect())),
        "{capped:?}"
    );
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["subscriptionId"], once_id.as_str());
    assert_eq!(ended[0]["terminationReason"], "MAX_EVENTS_REACHED");
    let (status, body) = call_json(
        &addr,
        "GET",
        &format!("/v1/subscriptions/{once_id}"),
        Some(&key),
        &Value::Null,
    );
    assert_eq!(status, 200);
    // CAMARA: EXPIRED covers subscriptionMaxEvents reached as well as the expiry time.
    assert_eq!(body["status"], "EXPIRED", "{body}");
    assert_eq!(norm(&events), norm(&want));

    // Subscribing now: with initialEvent the moments still live come (the consenting
    // visitors' two arrivals, their TTL a year), without it nothing but the start.
    let before = got.lock().unwrap().len();
    for (path, initial) in [("/initial", true), ("/later", false)] {
        let mut late = subscription(
            &format!("http://127.0.0.1:{port}{path}"),
            "org.landfall.moments.v0.arrival.country",
            json!({"area": {"areaType": "COUNTRY", "country": "FR"}, "direction": "INBOUND"}),
        );
        late["config"]["initialEvent"] = json!(initial);
        let (status, body) = call_json(&addr, "POST", "/v1/subscriptions", Some(&key), &late);
        assert_eq!(status, 201, "{body}");
    }
    // Time moves on (wall_clock is off): a frame carrying no signal, half an hour ago.
    thread::sleep(Duration::from_millis(300));
    fs::write(probe.join("probe-2.pcapng"), frame_without_signal(30 * 60)).unwrap();
    wait_until("the initial events", 30, || {
        got.lock().unwrap().len() >= before + 4
    });
    thread::sleep(Duration::from_secs(2));
    let late: Vec<(String, String, String)> = got.lock().unwrap()[before..]
        .iter()
        .map(|r| {
            let ce: Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.path.clone(),
                ce["type"]
                    .as_str()
                    .unwrap()
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .to_owned(),
                ce["time"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let count = |path: &str, ty: &str| late.iter().filter(|(p, t, _)| p == path && t == ty).count();
    assert_eq!(late.len(), 4, "{late:?}");
    assert_eq!(count("/initial", "subscription-started"), 1, "{late:?}");
    assert_eq!(count("/initial", "country"), 2, "{late:?}");
    assert_eq!(count("/later", "subscription-started"), 1, "{late:?}");
    let initial: BTreeSet<(String, String)> = late
        .iter()
        .filter(|(p, t, _)| p == "/initial" && t == "country")
        .map(|(_, _, at)| {
            (
                "org.landfall.moments.v0.arrival.country".to_owned(),
                at.clone(),
            )
        })
        .collect();
    assert!(norm(&want).is_superset(&norm(&initial)), "{initial:?}");

    // No identity in any log line (debug level).
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success());
    let text = fs::read_to_string(&log).unwrap();
    for secret_id in [DE, ES, US, MSISDN_DE] {
        assert!(!text.contains(secret_id), "an identity in the log");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A capture of one UDP datagram to port 9 (no signal), `ago_s` seconds ago: it moves
/// the input's time on.
fn frame_without_signal(ago_s: u64) -> Vec<u8> {
    use landfall_parsers::capture::PcapNgWriter;
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let ip = [
        0x45, 0, 0, 29, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x30, 0x39, 0, 9, 0, 9, 0, 0, 0]);
    let at = std::time::SystemTime::now() - Duration::from_secs(ago_s);
    let ns = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(1, 9).unwrap();
    w.write_packet(i, ns, &f, f.len() as u32).unwrap();
    w.into_inner().unwrap()
}

/// `capture` moved in time to end an hour ago: with a TTL of 366 days every moment is
/// still live, whenever the test runs (the fixture itself is dated 2026-06-01).
fn ending_an_hour_ago(capture: &[u8]) -> Vec<u8> {
    use landfall_testkit::rotation::{frames, pcapng, span};
    let f = frames(capture);
    let (_, end) = span(&f);
    pcapng(&f, now_us() - 3_600_000_000 - end)
}

/// Run `i` of `serve` with `cfg`, its log in `dir`.
fn spawn_serve(cfg: &Path, dir: &Path, i: usize) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("serve-{i}.log"));
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

/// [`spawn_serve`], then its HTTP address once it listens; the guard kills it if the
/// test fails before it stops.
fn start_serve(
    cfg: &Path,
    dir: &Path,
    i: usize,
) -> (Child, std::path::PathBuf, String, common::KillOnDrop) {
    let (child, log) = spawn_serve(cfg, dir, i);
    let guard = common::KillOnDrop(child.id());
    let addr = common::http_address(&log, Duration::from_secs(60));
    (child, log, addr, guard)
}

/// `dir/landfall.toml`: the folder `probe` followed, event time the captures' own, a TTL
/// of a year, the data in `dir/data`, loopback sinks allowed.
fn partners_config(dir: &Path, probe: &Path) -> std::path::PathBuf {
    let cfg = dir.join("landfall.toml");
    fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"folder\"\npath = {probe:?}\nidle_close = \"300ms\"\n\
             [rules]\nwall_clock = false\nttl = \"366d\"\n\
             [runtime]\ndata_dir = {data:?}\n\
             [http]\nlisten = \"127.0.0.1:0\"\noperator_key = \"{OPERATOR_KEY}\"\n\
             [partners]\noperator_country = \"FR\"\nallow_http_loopback = true\n",
            data = dir.join("data"),
        ),
    )
    .unwrap();
    cfg
}

/// A partner the operator creates with purpose 1: (id, API key, webhook secret).
fn new_partner(addr: &str, name: &str, per_person_consent: bool) -> (u64, String, String) {
    let (status, created) = call_json(
        addr,
        "POST",
        "/v1/operator/partners",
        Some(OPERATOR_KEY),
        &json!({"name": name, "purposes": [1], "perPersonConsent": per_person_consent}),
    );
    assert_eq!(status, 201, "{created}");
    (
        created["partner"]["id"].as_u64().unwrap(),
        created["apiKey"].as_str().unwrap().to_owned(),
        created["webhookSecret"].as_str().unwrap().to_owned(),
    )
}

/// The operator records `imsi`'s consent to `partner`, purpose 1.
fn grant_consent(addr: &str, partner: u64, imsi: &str) {
    let (status, body) = call(
        addr,
        "PUT",
        &format!("/v1/operator/consents/{partner}/1/{imsi}"),
        Some(OPERATOR_KEY),
        None,
    );
    assert!(status < 300, "{status} {body}");
}

/// What `landfall replay` gives for `paths` with serve's horizon and the tests' TTL.
fn replay_moments(paths: &[&Path]) -> Vec<Value> {
    let o = Command::new(BIN)
        .args(["replay", "-q", "--horizon", "30d", "--ttl", "366d"])
        .args(paths)
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The bundled roaming scenario.
fn roaming_fixture() -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap")).unwrap()
}

/// Microseconds since the epoch, now.
fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Delivery survives SIGKILL: `serve` is killed 50 times at random points while it
/// delivers (one partner's receiver slow, then down for a while, another's hanging) and
/// restarted each time. Every expected event reaches the first partner at least once,
/// with one id per event whatever the run that sent it, none past its `expiresAt`; the
/// hanging receiver never holds the other back.
#[test]
fn sigkill_during_delivery_loses_no_event() {
    use landfall_testkit::replicate::{replicate_with, Options};
    use landfall_testkit::rotation::frames;
    const KILLS: usize = 50;

    let dir = common::temp_dir("partners-crash");
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let roaming = roaming_fixture();
    let (copies, _) = replicate_with(
        &frames(&roaming),
        &Options {
            copies: 100,
            distinct_subscribers: true,
            diameter_tcp_ports: vec![3868, 3871],
        },
    )
    .unwrap();
    let capture = dir.join("capture.pcapng");
    fs::write(&capture, ending_an_hour_ago(&copies)).unwrap();
    // Replay's inbound country arrivals in FR: the events the subscription must give.
    let moments = replay_moments(&[&capture]);
    let visitors: BTreeSet<String> = moments
        .iter()
        .filter(|m| m["home_country"] != "FR")
        .map(|m| m["imsi"].as_str().unwrap().to_owned())
        .collect();
    let mut want: Vec<String> = moments
        .iter()
        .filter(|m| m["type"] == "arrival" && m["level"] == "country" && m["area"] == "FR")
        .filter(|m| m["home_country"] != "FR")
        .map(|m| m["at"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    assert!(want.len() >= 200, "{}", want.len());

    let slow = Arc::new(Behaviour::default());
    slow.delay_ms.store(60, Ordering::SeqCst);
    let (port, got) = receiver_with(Arc::clone(&slow));
    let hanging = Arc::new(Behaviour::default());
    hanging.hang.store(true, Ordering::SeqCst);
    let (hang_port, _) = receiver_with(hanging);
    let cfg = dir.join("landfall.toml");
    fs::write(
        &cfg,
        format!(
            "[[input]]\nkind = \"folder\"\npath = {probe:?}\nidle_close = \"300ms\"\n\
             [rules]\nwall_clock = false\nttl = \"366d\"\n\
             [runtime]\ndata_dir = {data:?}\nsnapshot_interval = \"200ms\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\noperator_key = \"{OPERATOR_KEY}\"\n\
             [[sink]]\nkind = \"file\"\npath = {out:?}\n\
             [partners]\noperator_country = \"FR\"\nallow_http_loopback = true\n\
             per_sink_concurrency = 1\nrequest_timeout = \"1s\"\nretry_delays = [\"200ms\"]\n\
             max_attempts = 100\n",
            data = dir.join("data"),
            out = dir.join("moments.jsonl"),
        ),
    )
    .unwrap();

    // Run 0 sets up two partners, their consent (bulk) and subscriptions, then reads.
    let (mut child, log) = spawn_serve(&cfg, &dir, 0);
    let mut _guard = common::KillOnDrop(child.id());
    let addr = common::http_address(&log, Duration::from_secs(60));
    let mut secrets = Vec::new();
    for (name, sink_port) in [("Acme", port), ("Stuck", hang_port)] {
        let (status, created) = call_json(
            &addr,
            "POST",
            "/v1/operator/partners",
            Some(OPERATOR_KEY),
            &json!({"name": name, "purposes": [1], "perPersonConsent": true}),
        );
        assert_eq!(status, 201, "{created}");
        let id = created["partner"]["id"].as_u64().unwrap();
        let csv: String = visitors
            .iter()
            .map(|i| format!("{i},{id},1,true\n"))
            .collect();
        let (status, body) = call(
            &addr,
            "POST",
            "/v1/operator/consents/bulk",
            Some(OPERATOR_KEY),
            Some(csv.as_bytes()),
        );
        assert!(status < 300, "{status} {body}");
        let (status, body) = call_json(
            &addr,
            "POST",
            "/v1/subscriptions",
            Some(created["apiKey"].as_str().unwrap()),
            &subscription(
                &format!("http://127.0.0.1:{sink_port}/hook"),
                "org.landfall.moments.v0.arrival.country",
                json!({"area": {"areaType": "COUNTRY", "country": "FR"}, "direction": "INBOUND"}),
            ),
        );
        assert_eq!(status, 201, "{body}");
        secrets.push(created["webhookSecret"].as_str().unwrap().to_owned());
    }
    thread::sleep(Duration::from_millis(300));
    fs::copy(&capture, probe.join("probe-1.pcapng")).unwrap();

    // Events of moments (not lifecycle) the first partner acknowledged: id → body.
    let delivered = |got: &Mutex<Vec<Received>>| -> Vec<(String, Value)> {
        got.lock()
            .unwrap()
            .iter()
            .map(|r| {
                let ce: Value = serde_json::from_slice(&r.body).unwrap();
                (r.header("webhook-id").unwrap().to_owned(), ce)
            })
            .filter(|(_, ce)| !ce["type"].as_str().unwrap().contains("subscription-"))
            .collect()
    };
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut kills = 0;
    let mut run = 1;
    while kills < KILLS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // The receiver is down (503) for ten of the runs: a backlog builds up.
        slow.status.store(
            if (20..30).contains(&kills) { 503 } else { 0 },
            Ordering::SeqCst,
        );
        thread::sleep(Duration::from_millis(150 + x % 500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve stopped on its own"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        (child, _) = spawn_serve(&cfg, &dir, run);
        _guard = common::KillOnDrop(child.id());
        run += 1;
    }
    slow.status.store(0, Ordering::SeqCst);
    let before = delivered(&got).len();
    // The last run delivers the rest, the hanging receiver notwithstanding.
    let start = Instant::now();
    wait_until("every event", 120, || {
        let ids: BTreeSet<String> = delivered(&got).into_iter().map(|(id, _)| id).collect();
        ids.len() >= want.len()
    });
    let rest = start.elapsed();
    thread::sleep(Duration::from_secs(1));
    sigterm(&child);
    assert!(child.wait().unwrap().success());

    let all = delivered(&got);
    let wh = standardwebhooks::Webhook::new(&secrets[0]).unwrap();
    let _ = &wh;
    // One body per id (stable ids across runs and retries), one id per moment.
    let mut by_id: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for (id, ce) in &all {
        let key = format!("{}|{}", ce["time"], ce["data"]["device"]);
        by_id.entry(id.clone()).or_default().insert(key);
    }
    assert!(
        by_id.values().all(|v| v.len() == 1),
        "an id carried two events"
    );
    let mut times: Vec<String> = Vec::new();
    let mut seen_events: BTreeSet<String> = BTreeSet::new();
    for (_, ce) in &all {
        let key = format!("{}|{}", ce["time"], ce["data"]["device"]);
        if seen_events.insert(key) {
            times.push(ce["time"].as_str().unwrap().to_owned());
        }
        let expires = ce["data"]["expiresAt"].as_str().unwrap_or("");
        let now = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
        assert!(expires > now.as_str(), "expired: {ce}");
    }
    assert_eq!(by_id.len(), want.len(), "distinct ids");
    let norm = |v: &mut Vec<String>| {
        for t in v.iter_mut() {
            *t = t
                .trim_end_matches('Z')
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned();
        }
        v.sort();
    };
    norm(&mut times);
    norm(&mut want);
    assert_eq!(times, want, "the events' times are replay's moments'");
    eprintln!(
        "{kills} kills over {run} runs; {} deliveries of {} events ({} before the last run, which took {rest:?} for the rest)",
        all.len(),
        want.len(),
        before
    );
    let _ = fs::remove_dir_all(&dir);
}

/// A partner without per-person consent gets aggregates only: for its subscription to
/// arrivals in FR per quarter of an hour, one report per closed interval, counting
/// distinct subscribers per home country, groups below k = 5 left out, an opted-out
/// subscriber never counted, nothing for an interval that has not closed; exactly what
/// replay's moments give.
#[test]
fn aggregate_partners_get_each_closed_interval_once() {
    use landfall_testkit::replicate::{replicate_with, Options};
    use landfall_testkit::rotation::{frames, pcapng, span};
    use std::collections::BTreeMap;
    const HOUR: i64 = 3_600_000_000;
    /// The subscription's interval: a quarter of an hour.
    const INTERVAL: i64 = 900_000_000;

    let dir = common::temp_dir("partners-aggregates");
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let roaming = roaming_fixture();
    // Fifty copies of the scenario's subscribers, their months squeezed into hours
    // (time / 1000): arrivals of many subscribers in each hour.
    let (copies, _) = replicate_with(
        &frames(&roaming),
        &Options {
            copies: 50,
            distinct_subscribers: true,
            diameter_tcp_ports: vec![3868, 3871],
        },
    )
    .unwrap();
    let squeeze = |mut f: Vec<landfall_parsers::capture::Frame>| {
        let (start, _) = span(&f);
        for x in &mut f {
            x.meta.ts_us = start + (x.meta.ts_us - start) / 1000;
        }
        f
    };
    let many = squeeze(frames(&copies));
    let tick = squeeze(frames(&roaming));
    // Placed to end a few hours ago (expiry checks hold on any date); the tick, the
    // scenario again, starts on an hour two hours later: it closes every hour of the
    // capture and none of its own.
    let now = now_us();
    let (m0, m1) = span(&many);
    let shift = (now - 10 * HOUR).div_euclid(HOUR) * HOUR - m1;
    let boundary = (m1 + shift).div_euclid(HOUR) * HOUR + 2 * HOUR;
    let (t0, _) = span(&tick);
    let (a, b) = (dir.join("a.pcapng"), dir.join("b.pcapng"));
    fs::write(&a, pcapng(&many, shift)).unwrap();
    fs::write(&b, pcapng(&tick, boundary - t0)).unwrap();
    assert!(m0 + shift < boundary);

    // The expected reports, from replay's moments.
    let moments = replay_moments(&[&a, &b]);
    let at_us = |s: &str| -> i64 {
        humantime::parse_rfc3339(s)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
    };
    let arrivals: Vec<&Value> = moments
        .iter()
        .filter(|m| m["type"] == "arrival" && m["level"] == "country" && m["area"] == "FR")
        .collect();
    let end_of = |m: &Value| (at_us(m["at"].as_str().unwrap()).div_euclid(INTERVAL) + 1) * INTERVAL;
    // Six of the German visitors of an interval with ten opt out: the group falls below k.
    let germans = |end: i64| -> BTreeSet<String> {
        arrivals
            .iter()
            .filter(|m| end_of(m) == end && m["home_country"] == "DE")
            .map(|m| m["imsi"].as_str().unwrap().to_owned())
            .collect()
    };
    let chosen = arrivals
        .iter()
        .map(|m| end_of(m))
        .find(|e| germans(*e).len() == 10)
        .expect("an interval with ten German arrivals");
    let opted_out: BTreeSet<String> = arrivals
        .iter()
        .filter(|m| end_of(m) == chosen && m["home_country"] == "DE")
        .map(|m| m["imsi"].as_str().unwrap().to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(6)
        .collect();
    assert_eq!(opted_out.len(), 6);
    let mut groups: BTreeMap<(i64, String), BTreeSet<String>> = BTreeMap::new();
    for m in &arrivals {
        let imsi = m["imsi"].as_str().unwrap();
        let end = end_of(m);
        if opted_out.contains(imsi) || end > boundary {
            continue;
        }
        let home = m["home_country"].as_str().unwrap_or("").to_owned();
        groups
            .entry((end, home))
            .or_default()
            .insert(imsi.to_owned());
    }
    let mut want: BTreeMap<i64, Vec<(String, u64)>> = BTreeMap::new();
    let mut suppressed = 0;
    for ((end, home), who) in &groups {
        if who.len() >= 5 {
            want.entry(*end)
                .or_default()
                .push((home.clone(), who.len() as u64));
        } else {
            suppressed += 1;
        }
    }
    assert!(want.len() >= 2 && suppressed >= 1, "{want:?} {suppressed}");

    let (port, got) = receiver();
    let cfg = partners_config(&dir, &probe);
    let (mut child, _, addr, _guard) = start_serve(&cfg, &dir, 0);
    // The served document lists the event feed with the APIs.
    let (status, doc) = call(&addr, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/v1/events",
        "/v1/subscriptions",
        "/v1/operator/opt-outs/{imsi}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} in {doc}");
    }
    let (_, key, secret) = new_partner(&addr, "Tourism Board", false);
    for imsi in &opted_out {
        let (status, body) = call(
            &addr,
            "PUT",
            &format!("/v1/operator/opt-outs/{imsi}"),
            Some(OPERATOR_KEY),
            None,
        );
        assert!(status < 300, "{status} {body}");
    }
    let sink = format!("http://127.0.0.1:{port}/agg");
    let mut request = subscription(
        &sink,
        "org.landfall.aggregates.v0.arrivals",
        json!({"area": {"areaType": "COUNTRY", "country": "FR"}}),
    );
    request["config"]["aggregationIntervalSeconds"] = json!(INTERVAL / 1_000_000);
    let (status, sub) = call_json(&addr, "POST", "/v1/subscriptions", Some(&key), &request);
    assert_eq!(status, 201, "{sub}");
    wait_until("subscription-started", 30, || {
        !got.lock().unwrap().is_empty()
    });
    thread::sleep(Duration::from_millis(300));
    fs::copy(&a, probe.join("probe-1.pcapng")).unwrap();
    fs::copy(&b, probe.join("probe-2.pcapng")).unwrap();
    wait_until("the reports", 90, || got.lock().unwrap().len() > want.len());
    thread::sleep(Duration::from_secs(2));
    sigterm(&child);
    assert!(child.wait().unwrap().success());

    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut reports: BTreeMap<i64, Vec<(String, u64)>> = BTreeMap::new();
    for r in got.lock().unwrap().iter() {
        let mut map = http::HeaderMap::new();
        for (k, v) in &r.headers {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        wh.verify(&r.body, &map).unwrap();
        let ce: Value = serde_json::from_slice(&r.body).unwrap();
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("\"imsi\"") && !opted_out.iter().any(|i| text.contains(i)));
        if ce["type"] != "org.landfall.aggregates.v0.arrivals" {
            assert!(ce["type"]
                .as_str()
                .unwrap()
                .ends_with("subscription-started"));
            continue;
        }
        let d = &ce["data"];
        assert_eq!(d["area"], json!({"level": "country", "id": "FR"}), "{ce}");
        assert_eq!(d["minimumCount"], 5);
        let end = at_us(d["intervalEnd"].as_str().unwrap());
        assert_eq!(at_us(d["intervalStart"].as_str().unwrap()), end - INTERVAL);
        let counts = d["arrivals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["homeCountry"].as_str().unwrap_or("").to_owned(),
                    g["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(
            reports.insert(end, counts).is_none(),
            "an interval twice: {ce}"
        );
    }
    assert_eq!(reports, want);
    let _ = fs::remove_dir_all(&dir);
}

/// The per-subscriber frequency cap holds across a restart (the dataflow's budgets start
/// afresh; the outbox remembers each subscriber's latest event): the consenting German
/// visitor arrives in a first capture, `serve` restarts, and arrives again in a second
/// capture, a day later (past the re-entry gap): a subscription without a cap gets both
/// arrivals, one capped at 30 days only the first.
#[test]
fn the_frequency_cap_holds_across_a_restart() {
    use landfall_testkit::rotation::{frames, pcapng, span};
    let dir = common::temp_dir("partners-cap");
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let roaming = frames(&roaming_fixture());
    let (r0, r1) = span(&roaming);
    let now = now_us();
    // The first capture ends three days before the second, which ends an hour ago.
    let second = now - 3_600_000_000 - r1;
    let first = second - (r1 - r0) - 3 * 86_400_000_000;
    let (a, b) = (dir.join("a.pcapng"), dir.join("b.pcapng"));
    fs::write(&a, pcapng(&roaming, first)).unwrap();
    fs::write(&b, pcapng(&roaming, second)).unwrap();
    let arrivals = replay_moments(&[&a, &b])
        .into_iter()
        .filter(|m| m["imsi"] == DE && m["type"] == "arrival" && m["level"] == "country")
        .count();
    assert_eq!(arrivals, 2, "the German visitor arrives in each capture");

    let (port, got) = receiver();
    let cfg = partners_config(&dir, &probe);
    let (mut child, _, addr, _guard) = start_serve(&cfg, &dir, 0);
    let (partner, key, _) = new_partner(&addr, "Acme Travel", true);
    grant_consent(&addr, partner, DE);
    for (path, cap) in [("/every", None), ("/capped", Some(30 * 86_400))] {
        let mut s = subscription(
            &format!("http://127.0.0.1:{port}{path}"),
            "org.landfall.moments.v0.arrival.country",
            json!({"area": {"areaType": "COUNTRY", "country": "FR"}}),
        );
        if let Some(c) = cap {
            s["config"]["frequencyCapSeconds"] = json!(c);
        }
        let (status, body) = call_json(&addr, "POST", "/v1/subscriptions", Some(&key), &s);
        assert_eq!(status, 201, "{body}");
    }
    // Distinct events (a restart may send one again: at least once, same id).
    let moments = |path: &str| {
        got.lock()
            .unwrap()
            .iter()
            .filter(|r| {
                r.path == path && !String::from_utf8_lossy(&r.body).contains("subscription-")
            })
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect::<BTreeSet<_>>()
            .len()
    };
    wait_until("the lifecycle events", 30, || {
        got.lock().unwrap().len() >= 2
    });
    thread::sleep(Duration::from_millis(300));
    fs::copy(&a, probe.join("probe-1.pcapng")).unwrap();
    wait_until("the first arrival", 60, || {
        moments("/every") >= 1 && moments("/capped") >= 1
    });

    // A restart: the dataflow's partner stage starts empty.
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let (mut child, _, _, _guard2) = start_serve(&cfg, &dir, 1);
    thread::sleep(Duration::from_millis(500));
    fs::copy(&b, probe.join("probe-2.pcapng")).unwrap();
    wait_until("the second arrival", 60, || moments("/every") >= 2);
    thread::sleep(Duration::from_secs(2));
    assert_eq!(moments("/every"), 2);
    assert_eq!(moments("/capped"), 1, "the cap holds across the restart");
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let _ = fs::remove_dir_all(&dir);
}

/// A sink that answers `410 Gone` ends its subscription, and gets nothing more: not the
/// `subscription-ended` (it would only be refused again, a dead letter for the operator).
#[test]
fn a_gone_sink_ends_its_subscription_and_gets_nothing_more() {
    let dir = common::temp_dir("partners-gone");
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let fixture = dir.join("roaming-now.pcapng");
    fs::write(&fixture, ending_an_hour_ago(&roaming_fixture())).unwrap();
    let how = Arc::new(Behaviour::default());
    let (port, got) = receiver_with(Arc::clone(&how));
    let cfg = partners_config(&dir, &probe);
    let (mut child, log, addr, _guard) = start_serve(&cfg, &dir, 0);
    let (partner, key, _) = new_partner(&addr, "Acme Travel", true);
    grant_consent(&addr, partner, DE);
    let (status, sub) = call_json(
        &addr,
        "POST",
        "/v1/subscriptions",
        Some(&key),
        &subscription(
            &format!("http://127.0.0.1:{port}/gone"),
            "org.landfall.moments.v0.arrival.country",
            json!({"area": {"areaType": "COUNTRY", "country": "FR"}}),
        ),
    );
    assert_eq!(status, 201, "{sub}");
    let id = sub["id"].as_str().unwrap().to_owned();
    wait_until("subscription-started", 30, || {
        got.lock().unwrap().len() == 1
    });
    // Answered (204) before the switch: the receiver keeps a request before answering.
    thread::sleep(Duration::from_secs(1));
    // From now on the partner's endpoint is gone.
    how.status.store(410, Ordering::SeqCst);
    fs::copy(&fixture, probe.join("probe-1.pcapng")).unwrap();
    let (mut status, mut body) = (0, Value::Null);
    wait_until("the subscription to end", 30, || {
        (status, body) = call_json(
            &addr,
            "GET",
            &format!("/v1/subscriptions/{id}"),
            Some(&key),
            &Value::Null,
        );
        status == 404 || body["status"] != "ACTIVE"
    });
    thread::sleep(Duration::from_secs(3));
    let types: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let ce: Value = serde_json::from_slice(&r.body).unwrap();
            ce["type"].as_str().unwrap().to_owned()
        })
        .collect();
    // The receiver keeps what it accepted: the subscription-started only; the arrival was
    // refused (410), and nothing came after it.
    assert_eq!(types.len(), 1, "{types:?}");
    assert!(types[0].ends_with("subscription-started"), "{types:?}");
    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.matches("410 Gone: the subscription ends").count(),
        1,
        "{text}"
    );
    let (status, dead) = call(
        &addr,
        "GET",
        &format!("/v1/operator/partners/{partner}/dead-letters"),
        Some(OPERATOR_KEY),
        None,
    );
    assert_eq!(status, 200, "{dead}");
    assert!(!dead.contains("subscription-ended"), "{dead}");
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let _ = fs::remove_dir_all(&dir);
}

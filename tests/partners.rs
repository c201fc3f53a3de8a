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

/// A webhook receiver on 127.0.0.1: answers 204 to every POST, keeps what came.
fn receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let keep = Arc::clone(&got);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = Arc::clone(&keep);
            thread::spawn(move || serve_one(stream, &keep));
        }
    });
    (port, got)
}

/// Requests on one connection (keep-alive) until it closes.
fn serve_one(stream: TcpStream, keep: &Mutex<Vec<Received>>) {
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
        keep.lock().unwrap().push(Received {
            path,
            headers,
            body,
        });
        if out
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
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

/// The HTTP address `serve` logged ("serving http=…").
fn http_address(log: &Path) -> String {
    let mut addr = String::new();
    wait_until("serve to listen", 60, || {
        let text = fs::read_to_string(log).unwrap_or_default();
        if let Some(i) = text.find("http=") {
            addr = text[i + 5..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned();
        }
        !addr.is_empty()
    });
    addr
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
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roaming-scenario.pcap");
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
    let addr = http_address(&log);

    // The operator: two partners, consent of two of the three visitors to the first.
    let (status, created) = call_json(
        &addr,
        "POST",
        "/v1/operator/partners",
        Some(OPERATOR_KEY),
        &json!({"name": "Acme Travel", "purposes": [1], "perPersonConsent": true}),
    );
    assert_eq!(status, 201, "{created}");
    let partner = created["partner"]["id"].as_u64().unwrap();
    let key = created["apiKey"].as_str().unwrap().to_owned();
    let secret = created["webhookSecret"].as_str().unwrap().to_owned();
    let (status, other) = call_json(
        &addr,
        "POST",
        "/v1/operator/partners",
        Some(OPERATOR_KEY),
        &json!({"name": "Other", "purposes": [1], "perPersonConsent": true}),
    );
    assert_eq!(status, 201);
    let other_key = other["apiKey"].as_str().unwrap().to_owned();
    for imsi in [DE, ES] {
        let (status, body) = call(
            &addr,
            "PUT",
            &format!("/v1/operator/consents/{partner}/1/{imsi}"),
            Some(OPERATOR_KEY),
            None,
        );
        assert!(status < 300, "{status} {body}");
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
    let expected_moments: Vec<Value> = {
        let o = Command::new(BIN)
            .args(["replay", "-q", "--horizon", "30d", "--ttl", "366d"])
            .arg(&fixture)
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect()
    };
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
    // Two lifecycle events first (subscription-started).
    wait_until("the lifecycle events", 30, || {
        got.lock().unwrap().len() >= 2
    });

    // Settled registry, then the capture.
    thread::sleep(Duration::from_millis(300));
    fs::copy(&fixture, probe.join("probe-1.pcap")).unwrap();
    wait_until("the moments' events", 60, || {
        got.lock().unwrap().len() >= 2 + want.len()
    });
    thread::sleep(Duration::from_secs(2));
    let received = got.lock().unwrap().clone();
    assert_eq!(
        received.len(),
        2 + want.len(),
        "{:#?}",
        received
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    );

    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut events = BTreeSet::new();
    let mut lifecycle = 0;
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
        let at = ce["time"].as_str().unwrap().to_owned();
        events.insert((ty, at));
    }
    assert_eq!(lifecycle, 2);
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
    assert_eq!(norm(&events), norm(&want));

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

//! End-to-end latency of `landfall serve`: from a signal entering `serve` (the frame that
//! completes it written to its standard input) to its webhook received by the partner's
//! sink, p50/p99 (target: p99 ≤ 250 ms at 100 k signals/s, about 1 % of them matching a
//! subscription); against the same `serve` configuration without `[partners]`, where the
//! same signals' moment lines are read from its stdout sink (the baseline, measured in
//! the same run: the ratio is what the partner path — partner stage, rendering, the
//! fsynced outbox, the dispatcher and HTTP — adds).
//!
//! The real binary runs (`CARGO_BIN_EXE_landfall`, built by cargo with the bench, release
//! profile), one fresh process per run with a temporary data directory:
//! `[[input]] kind = "stdin"`, `[[sink]] kind = "stdout"`, `[http]` on 127.0.0.1:0 with an
//! operator key, every `[rules]` key at its default (lateness 1 s, batch 10 ms,
//! `wall_clock` on, idle_timeout 2 s), `runtime.workers` = WORKERS; in the partner
//! variant also `[partners]` with `operator_country = "FR"` and `allow_http_loopback`
//! (everything else default: 8 requests in flight per sink, 10 s timeout).
//!
//! Traffic: GTPv2-C Create Session request/response pairs on S11 (UDP 2123, Ethernet/
//! IPv4, classic pcap, µs) in Orange France's network 208-01, each pair one
//! `session_start` signal. The bench writes them paced in real time at RATE signals/s:
//! every millisecond or so it writes in one `write` what the schedule asks for; every
//! frame is stamped with the wall clock when it is written (strictly increasing by at
//! least 1 µs), each answer ANSWER_DELAY_US after its request (as a real SGW answers, in
//! a few ms: serve's watermark then follows the oldest pending request, as it would on
//! a live link). Three phases: WARMUP seconds of background, SECONDS measured, TAIL
//! seconds of background (so the last measured batches complete as they would under
//! continuing traffic, not by the idle timeout). Background: POOL subscribers (homes in
//! FR, DE, ES and IT, so foreign ones are visitors who never consented) cycled in order;
//! each one's first session is an arrival (during the warm-up), later ones change
//! nothing. Measured: every MATCH_EVERY-th signal (1 %) is the first session of a fresh
//! inbound roamer (home DE, ES or IT) whose consent to the partner was loaded through the
//! bulk CSV endpoint: a country arrival in FR that the partner's subscription
//! (`org.landfall.moments.v0.arrival.country`, area FR, INBOUND) matches.
//!
//! Latency of a matching signal = when the receiver got its webhook (an axum server on
//! 127.0.0.1 answering 204) − when the `write` of the chunk holding its answer frame
//! returned. Webhook → signal by the CloudEvent's `time` (the moment's `at`, the
//! request's capture time, unique per matching signal); the body carries a pseudonym,
//! never the IMSI. Baseline: the `"type":"arrival","level":"country"` line of the same
//! signal on serve's stdout, mapped by `at` likewise. The run fails unless every matching
//! signal gave exactly its event (a missing, unexpected or duplicate one stops the
//! bench). Also printed: the latency from the *schedule* (when the answer should have
//! been written; differs only if the writer fell behind), the rate actually written and
//! how far the writer fell behind (a full pipe slows it down when serve cannot keep up),
//! serve's own counters (signals, late signals) and its peak RSS.
//!
//! Runs interleave (baseline, partners, baseline, …), RUNS of each; per variant the
//! median, spread (min–max) and best of each run's p50 and p99, and the ratio of medians.
//! Bounded: loopback only, a fixed number of signals and seconds, every wait with a
//! timeout (TIMEOUT seconds for the last events), `serve` killed on every exit path and
//! the data directory removed.
//!
//! ```sh
//! cargo bench --bench latency                                  # 100 k signals/s, 15 s, 3 runs each
//! LANDFALL_BENCH_RATE=20000 SECONDS=5 RUNS=1 cargo bench --bench latency   # a smoke run
//! ```
//! Other knobs: WARMUP (3), TAIL (1), POOL (100000), MATCH_EVERY (100), ANSWER_DELAY_US
//! (5000), WORKERS (1, serve's default), TIMEOUT (60); DUMP=FOLDER writes each run's
//! events as CSV (write time in s after the first frame, latency in ms) for a look at
//! when the slow ones happened.

#[path = "common/synthetic.rs"]
mod synthetic;

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use landfall_model::json::parse_rfc3339_us;
use landfall_parsers::capture::{PcapWriter, TsResolution};
use landfall_parsers::gtp::v2::Uli;
use landfall_parsers::transport::ip::{IpProtocol, Ipv4Repr};
use landfall_parsers::transport::link::{EtherType, EthernetRepr, LinkType};
use landfall_parsers::transport::udp::UdpRepr;
use landfall_parsers::{Imsi, Plmn};
use landfall_testkit::gtpv2::{self as gtp, SessionRequest, CAUSE_ACCEPTED, IF_S11_SGW};
use serde_json::{json, Value};
use synthetic::{mix, networks};

const BIN: &str = env!("CARGO_BIN_EXE_landfall");
const OPERATOR_KEY: &str = "an-operator-key-for-the-latency-bench";
const SINK_TOKEN: &str = "sink-token-of-the-bench";
/// The operator's network, where every session is opened.
const SERVING: Plmn = Plmn::new(208, 1, 2);
const MME: Ipv4Addr = Ipv4Addr::new(10, 30, 0, 1);
const SGW: Ipv4Addr = Ipv4Addr::new(10, 30, 0, 2);
const GTPC_PORT: u16 = 2123;
/// The p99 target, ms.
const TARGET_P99_MS: f64 = 250.0;
/// The subscription's event type.
const ARRIVAL_COUNTRY: &str = "org.landfall.moments.v0.arrival.country";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The knobs of a bench run.
#[derive(Clone, Debug)]
struct Settings {
    rate: u64,
    seconds: u64,
    warmup: u64,
    tail: u64,
    pool: u64,
    match_every: u64,
    answer_delay: Duration,
    workers: u64,
    timeout: Duration,
}

impl Settings {
    fn warm_signals(&self) -> u64 {
        self.rate * self.warmup
    }
    fn measured_signals(&self) -> u64 {
        self.rate * self.seconds
    }
    fn total_signals(&self) -> u64 {
        self.rate * (self.warmup + self.seconds + self.tail)
    }
    /// Signal `n` (0-based over the whole run) is the `Some(i)`-th matching one.
    fn matching(&self, n: u64) -> Option<u64> {
        let m = n.checked_sub(self.warm_signals())?;
        (m < self.measured_signals() && m % self.match_every == self.match_every / 2)
            .then_some(m / self.match_every)
    }
    fn matching_count(&self) -> u64 {
        (0..self.measured_signals())
            .filter(|m| m % self.match_every == self.match_every / 2)
            .count() as u64
    }
}

// ── Traffic ────────────────────────────────────────────────────────────────────────────

/// One Create Session exchange as two Ethernet frames.
struct Exchange {
    request: Vec<u8>,
    answer: Vec<u8>,
}

fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], ident: u16) -> Vec<u8> {
    let mut udp = Vec::with_capacity(8 + payload.len());
    UdpRepr {
        src_port: GTPC_PORT,
        dst_port: GTPC_PORT,
    }
    .emit(IpAddr::V4(src), IpAddr::V4(dst), payload, &mut udp);
    let mut ip = Vec::with_capacity(20 + udp.len());
    Ipv4Repr {
        src,
        dst,
        protocol: IpProtocol::UDP,
        ttl: 64,
        tos: 0,
        ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&udp, &mut ip);
    let mac = |a: Ipv4Addr| {
        let o = a.octets();
        [0x02, 0x00, o[0], o[1], o[2], o[3]]
    };
    let mut frame = Vec::with_capacity(14 + ip.len());
    EthernetRepr {
        dst: mac(dst),
        src: mac(src),
        vlans: vec![],
        ethertype: EtherType::IPV4,
    }
    .emit(&ip, &mut frame);
    frame
}

/// Create Session of `imsi` in 208-01 (cell `eci`), GTP sequence number `seq`, the MME's
/// and SGW's control TEIDs derived from `teid`; accepted.
fn exchange(imsi: &Imsi, seq: u32, teid: u32, eci: u32) -> Exchange {
    let mme_teid = 0x1000_0000 | teid;
    let request = gtp::create_session_request(
        seq,
        &SessionRequest {
            imsi,
            msisdn: None,
            serving: SERVING,
            rat: gtp::RAT_EUTRAN,
            uli: Uli {
                tai: Some((SERVING, (eci >> 8) as u16)),
                ecgi: Some((SERVING, eci)),
                ..Uli::default()
            },
            mme_teid,
            mme_addr: MME,
        },
    );
    let answer = gtp::response(
        &request,
        mme_teid,
        CAUSE_ACCEPTED,
        vec![gtp::fteid(IF_S11_SGW, 0x2000_0000 | teid, SGW)],
    );
    Exchange {
        request: udp_frame(MME, SGW, &request.emit(false), seq as u16),
        answer: udp_frame(SGW, MME, &answer.emit(false), seq as u16),
    }
}

fn imsi(home: Plmn, msin: u64) -> Imsi {
    let s = format!("{:03}{:02}{:010}", home.mcc, home.mnc, msin);
    Imsi::parse(&s).expect("an IMSI")
}

/// Background subscriber `k`: home in any of the 12 synthetic networks (FR, DE, ES, IT).
fn pool_exchange(k: u64) -> Exchange {
    let nets = networks();
    let home = nets[(mix(k) % nets.len() as u64) as usize].0;
    exchange(
        &imsi(home, k),
        k as u32 & 0x7f_ffff,
        k as u32,
        (mix(k ^ 7) % 20_000) as u32,
    )
}

/// Matching subscriber `i` of run `run`: an inbound roamer (home DE, ES or IT), an MSIN
/// from 9_000_000_000 on (the pool's stay below).
fn matching_imsi(run: u64, i: u64) -> Imsi {
    let nets = networks();
    let home = nets[3 + (mix(i ^ (run << 32)) % 9) as usize].0;
    imsi(home, 9_000_000_000 + run * 100_000_000 + i)
}

fn matching_exchange(run: u64, i: u64) -> Exchange {
    exchange(
        &matching_imsi(run, i),
        0x80_0000 | (i as u32 & 0x7f_ffff),
        0x0800_0000 | i as u32,
        (mix(i) % 20_000) as u32,
    )
}

/// When each matching signal's answer frame was written: its `at` (request time, µs) →
/// (the `write` returned, when the schedule wanted it written).
type Written = HashMap<i64, (Instant, Instant)>;

/// What the writer did.
struct Feed {
    written: Written,
    /// When the first frame was written.
    start: Instant,
    signals: u64,
    /// From the first frame to the last `write`.
    elapsed: Duration,
    /// The most the writer was behind its schedule.
    max_behind: Duration,
}

/// A classic pcap record header (little-endian, µs) and the frame.
fn push_frame(buf: &mut Vec<u8>, ts_us: i64, frame: &[u8]) {
    buf.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
    buf.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    buf.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    buf.extend_from_slice(frame);
}

/// A request written, its answer due.
struct Pending {
    /// The answer's write: `answer_delay` after the request's.
    due: Duration,
    /// When the schedule wanted the answer written.
    scheduled: Duration,
    n: u64,
    at: i64,
}

/// Write the run's traffic to `out`, paced at `s.rate` signals/s.
fn feed(out: &mut ChildStdin, s: &Settings, pool: &[Exchange], matching: &[Exchange]) -> Feed {
    let total = s.total_signals();
    let rate = s.rate as f64;
    let exchange_of = |n: u64| match s.matching(n) {
        Some(i) => &matching[i as usize],
        None => &pool[(n % pool.len() as u64) as usize],
    };
    let mut written = Written::with_capacity(matching.len());
    let mut buf = Vec::with_capacity(1 << 20);
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut chunk: Vec<(i64, Instant)> = Vec::new();
    let mut last_ts = 0i64;
    let mut sent = 0u64;
    let mut max_behind = Duration::ZERO;
    let epoch_us = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_micros() as i64;
    let start = Instant::now();
    // One write carries at most this many new signals (2 ms of the schedule): frames keep
    // their write time as stamp even when the writer runs behind.
    let max_chunk = (s.rate / 500).max(1);
    loop {
        let now = start.elapsed();
        let due = ((now.as_secs_f64() * rate) as u64).min(total);
        if due > sent {
            let lag = Duration::from_secs_f64((due - sent) as f64 / rate);
            max_behind = max_behind.max(lag);
        }
        let upto = due.min(sent + max_chunk);
        let mut stamp = || {
            let t = (epoch_us + start.elapsed().as_micros() as i64).max(last_ts + 1);
            last_ts = t;
            t
        };
        buf.clear();
        chunk.clear();
        while pending.front().is_some_and(|p| p.due <= now) {
            let p = pending.pop_front().expect("a pending answer");
            push_frame(&mut buf, stamp(), &exchange_of(p.n).answer);
            if s.matching(p.n).is_some() {
                chunk.push((p.at, start + p.scheduled));
            }
        }
        for n in sent..upto {
            let e = exchange_of(n);
            let at = stamp();
            push_frame(&mut buf, at, &e.request);
            let scheduled = Duration::from_secs_f64(n as f64 / rate) + s.answer_delay;
            if s.answer_delay.is_zero() {
                push_frame(&mut buf, stamp(), &e.answer);
                if s.matching(n).is_some() {
                    chunk.push((at, start + scheduled));
                }
            } else {
                pending.push_back(Pending {
                    due: now + s.answer_delay,
                    scheduled,
                    n,
                    at,
                });
            }
        }
        sent = upto;
        if !buf.is_empty() {
            out.write_all(&buf).expect("serve's stdin");
            let t = Instant::now();
            for &(at, scheduled) in &chunk {
                assert!(written.insert(at, (t, scheduled)).is_none(), "unique times");
            }
        }
        if sent == total && pending.is_empty() {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    Feed {
        written,
        start,
        signals: sent,
        elapsed: start.elapsed(),
        max_behind,
    }
}

// ── Receivers ──────────────────────────────────────────────────────────────────────────

/// What arrived: the moment's `at` (µs) and when.
#[derive(Default)]
struct Arrivals {
    got: Mutex<Vec<(i64, Instant)>>,
    /// Lines or requests of other kinds (other moments, lifecycle events).
    other: AtomicU64,
}

impl Arrivals {
    /// Of what arrived after the first `*checked`, how many are of `written`'s signals;
    /// `*checked` moves to the end.
    fn count_new(&self, written: &Written, checked: &mut usize) -> usize {
        let got = self.got.lock().expect("arrivals");
        let n = got[*checked..]
            .iter()
            .filter(|(at, _)| written.contains_key(at))
            .count();
        *checked = got.len();
        n
    }
    fn take(&self) -> Vec<(i64, Instant)> {
        std::mem::take(&mut *self.got.lock().expect("arrivals"))
    }
}

/// The webhook receiver: keeps the `time` of each country-arrival event, counts the rest
/// (lifecycle events); 204 for a request with the sink's bearer token, 401 otherwise.
async fn hook(
    State(a): State<Arc<Arrivals>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let t = Instant::now();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(SINK_TOKEN) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(ce) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if ce["type"] == ARRIVAL_COUNTRY {
        let Some(at) = ce["time"]
            .as_str()
            .and_then(|s| parse_rfc3339_us("time", s).ok())
        else {
            return StatusCode::BAD_REQUEST;
        };
        a.got.lock().expect("arrivals").push((at, t));
    } else {
        a.other.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::NO_CONTENT
}

/// Reads serve's stdout sink: the `at` of each country arrival, as its line appears.
fn read_moments(stdout: impl Read, a: &Arrivals) {
    let mut r = BufReader::with_capacity(1 << 20, stdout);
    let mut line = String::new();
    const KEY: &str = "\"at\":\"";
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        let t = Instant::now();
        let at = line
            .contains("\"type\":\"arrival\",\"level\":\"country\"")
            .then(|| line.find(KEY))
            .flatten()
            .and_then(|i| line.get(i + KEY.len()..i + KEY.len() + 27))
            .and_then(|s| parse_rfc3339_us("at", s).ok());
        match at {
            Some(at) => a.got.lock().expect("arrivals").push((at, t)),
            None => {
                a.other.fetch_add(1, Ordering::Relaxed);
            }
        }
        line.clear();
    }
}

// ── serve and its APIs ─────────────────────────────────────────────────────────────────

/// A running `serve`, killed when dropped (every exit path, panics included).
struct Serve {
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request on loopback: (status, body).
fn call(addr: &str, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("serve's HTTP");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("a request");
    s.write_all(body).expect("a request body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("an answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn call_json(addr: &str, method: &str, path: &str, key: Option<&str>, body: &Value) -> Value {
    let (status, text) = call(addr, method, path, key, body.to_string().as_bytes());
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The HTTP address `serve` logged ("serving http=…").
fn http_address(log: &Path) -> String {
    let mut addr = String::new();
    wait_until("serve to listen", Duration::from_secs(60), || {
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

/// The sum of a Prometheus counter's series in `/metrics`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `VmHWM` of process `pid`, MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn config(dir: &Path, s: &Settings, partners: bool) -> PathBuf {
    let mut text = format!(
        "[[input]]\nkind = \"stdin\"\n\
         [runtime]\nworkers = {}\ndata_dir = {:?}\n\
         [http]\nlisten = \"127.0.0.1:0\"\noperator_key = \"{OPERATOR_KEY}\"\n\
         [[sink]]\nkind = \"stdout\"\n",
        s.workers,
        dir.join("data"),
    );
    if partners {
        text.push_str(
            "[partners]\noperator_country = \"FR\"\nallow_http_loopback = true\n\
             event_source = \"urn:landfall:latency-bench\"\n",
        );
    }
    let path = dir.join("landfall.toml");
    fs::write(&path, text).expect("the configuration");
    path
}

/// A partner with per-person consent of the run's matching subscribers (bulk CSV) and a
/// subscription to their country arrivals in FR, delivered to `sink`; returns once the
/// subscription's lifecycle event has arrived (the registry is in place). Its id.
fn set_up_partner(addr: &str, run: u64, s: &Settings, sink: &str, hooks: &Arrivals) -> u64 {
    let created = call_json(
        addr,
        "POST",
        "/v1/operator/partners",
        Some(OPERATOR_KEY),
        &json!({"name": "Latency Bench Travel", "purposes": [1], "perPersonConsent": true}),
    );
    let partner = created["partner"]["id"].as_u64().expect("a partner id");
    let key = created["apiKey"].as_str().expect("an API key").to_owned();
    let mut csv = String::from("imsi,partner,purpose,granted\n");
    for i in 0..s.matching_count() {
        csv.push_str(&format!("{},{partner},1,true\n", matching_imsi(run, i)));
    }
    let (status, body) = call(
        addr,
        "POST",
        "/v1/operator/consents/bulk",
        Some(OPERATOR_KEY),
        csv.as_bytes(),
    );
    assert!(
        (200..300).contains(&status),
        "bulk consent: {status} {body}"
    );
    let before = hooks.other.load(Ordering::Relaxed);
    call_json(
        addr,
        "POST",
        "/v1/subscriptions",
        Some(&key),
        &json!({
            "protocol": "HTTP",
            "sink": sink,
            "sinkCredential": {
                "credentialType": "ACCESSTOKEN",
                "accessToken": SINK_TOKEN,
                "accessTokenExpiresUtc": "2099-01-01T00:00:00Z",
                "accessTokenType": "bearer"
            },
            "types": [ARRIVAL_COUNTRY],
            "config": {"subscriptionDetail": {
                "area": {"areaType": "COUNTRY", "country": "FR"}, "direction": "INBOUND"}}
        }),
    );
    wait_until(
        "the subscription-started event",
        Duration::from_secs(30),
        || hooks.other.load(Ordering::Relaxed) > before,
    );
    // As tests/partners.rs: the registry edit reaches the dataflow.
    thread::sleep(Duration::from_millis(300));
    partner
}

// ── One run ────────────────────────────────────────────────────────────────────────────

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Baseline,
    Partners,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Baseline => "baseline (moment line)",
            Variant::Partners => "partners (webhook)",
        }
    }
}

/// Latency quantiles of one run, ms.
#[derive(Clone, Copy, Debug)]
struct Quantiles {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    n: usize,
}

/// Nearest-rank quantiles of `ms`.
fn quantiles(mut ms: Vec<f64>) -> Quantiles {
    assert!(!ms.is_empty(), "no latency measured");
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Quantiles {
        p50: q(0.50),
        p99: q(0.99),
        p999: q(0.999),
        max: ms[ms.len() - 1],
        n: ms.len(),
    }
}

/// Latencies (from the write, from the schedule) of `got` against `written`; panics on
/// a duplicate or a missing one, and when `strict` on an event no matching signal
/// explains (a webhook; moment lines of background subscribers are skipped).
/// With `dump`, each event's write time (s after `start`) and latency (ms) go to a CSV.
fn latencies(
    what: &str,
    got: &[(i64, Instant)],
    written: &Written,
    strict: bool,
    start: Instant,
    dump: Option<PathBuf>,
) -> (Quantiles, Quantiles) {
    let mut seen = HashMap::with_capacity(got.len());
    let (mut from_write, mut from_schedule) = (Vec::new(), Vec::new());
    let mut csv = String::from("written_s,latency_ms\n");
    for &(at, t) in got {
        let Some(&(w, sched)) = written.get(&at) else {
            assert!(
                !strict,
                "{what}: an event at {at} µs that no matching signal has"
            );
            continue;
        };
        assert!(seen.insert(at, ()).is_none(), "{what}: a duplicate at {at}");
        let ms = t.saturating_duration_since(w).as_secs_f64() * 1e3;
        from_write.push(ms);
        from_schedule.push(t.saturating_duration_since(sched).as_secs_f64() * 1e3);
        if dump.is_some() {
            let s = w.saturating_duration_since(start).as_secs_f64();
            csv.push_str(&format!("{s:.6},{ms:.3}\n"));
        }
    }
    if let Some(path) = dump {
        fs::write(&path, csv).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    if seen.len() != written.len() {
        let mut missing: Vec<f64> = written
            .iter()
            .filter(|(at, _)| !seen.contains_key(*at))
            .map(|(_, (w, _))| w.saturating_duration_since(start).as_secs_f64())
            .collect();
        missing.sort_by(f64::total_cmp);
        panic!(
            "{what}: {} of {} matching signals arrived; the missing ones were written \
             {:.3}–{:.3} s after the first frame",
            seen.len(),
            written.len(),
            missing[0],
            missing[missing.len() - 1]
        );
    }
    (quantiles(from_write), quantiles(from_schedule))
}

/// What one run measured.
struct RunResult {
    /// The variant's own path: webhooks (partners) or moment lines (baseline).
    latency: Quantiles,
    from_schedule: Quantiles,
    /// Moment lines in the partner run too.
    moments: Quantiles,
    achieved_rate: f64,
    max_behind: Duration,
}

fn run_once(
    variant: Variant,
    run: u64,
    s: &Settings,
    pool: &[Exchange],
    rt: &tokio::runtime::Runtime,
) -> RunResult {
    let dir = tempfile::Builder::new()
        .prefix("landfall-latency-")
        .tempdir()
        .expect("a temporary folder");
    let partners = variant == Variant::Partners;
    let cfg = config(dir.path(), s, partners);
    let matching: Vec<Exchange> = (0..s.matching_count())
        .map(|i| matching_exchange(run, i))
        .collect();

    // The webhook receiver of this run.
    let hooks = Arc::new(Arrivals::default());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("an address").port();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(hooks.clone());
    let server = rt.spawn(async move { axum::serve(listener, app).await });

    let log = dir.path().join("serve.log");
    let mut serve = Serve {
        child: Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("LANDFALL_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("landfall serve"),
    };
    let pid = serve.child.id();
    let mut stdin = serve.child.stdin.take().expect("serve's stdin");
    let stdout = serve.child.stdout.take().expect("serve's stdout");
    let moments = Arc::new(Arrivals::default());
    let reader = {
        let moments = moments.clone();
        thread::spawn(move || read_moments(stdout, &moments))
    };
    let header = PcapWriter::new(Vec::new(), LinkType::ETHERNET, TsResolution::Micro)
        .and_then(|w| w.into_inner())
        .expect("a pcap header");
    stdin.write_all(&header).expect("serve's stdin");
    let addr = http_address(&log);
    wait_until("/readyz", Duration::from_secs(60), || {
        call(&addr, "GET", "/readyz", None, b"").0 == 200
    });
    let partner = partners.then(|| {
        let sink = format!("http://127.0.0.1:{port}/hook");
        set_up_partner(&addr, run, s, &sink, &hooks)
    });

    let fed = feed(&mut stdin, s, pool, &matching);
    let expected = fed.written.len();
    let target: &Arrivals = if partners { &hooks } else { &moments };
    let waited = Instant::now();
    let (mut checked, mut arrived) = (0, 0);
    loop {
        arrived += target.count_new(&fed.written, &mut checked);
        if arrived >= expected || waited.elapsed() > s.timeout {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    if arrived < expected {
        // What serve says about it, before the run fails below.
        eprintln!(
            "  {arrived} of {expected} arrived after {:.0} s",
            waited.elapsed().as_secs_f64()
        );
        if let Some(p) = partner {
            let path = format!("/v1/operator/partners/{p}/delivery");
            eprintln!(
                "  delivery: {:?}",
                call(&addr, "GET", &path, Some(OPERATOR_KEY), b"")
            );
        }
        let text = fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("  serve's log, last lines:");
        for l in &lines[lines.len().saturating_sub(30)..] {
            eprintln!("    {l}");
        }
    }
    // Anything more (a duplicate) would come at once.
    thread::sleep(Duration::from_millis(500));
    // serve's counters are copied out periodically: until they show every signal.
    let (mut serve_signals, mut late) = (0.0, 0.0);
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(10) {
        let (_, text) = call(&addr, "GET", "/metrics", None, b"");
        serve_signals = metric(&text, "landfall_signals_total");
        late = metric(&text, "landfall_late_signals_total");
        if serve_signals as u64 >= fed.signals {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let rss = peak_rss_mib(pid);

    // The end of the input ends serve (a graceful stop); killed if it does not.
    drop(stdin);
    let stopped = Instant::now();
    while serve.child.try_wait().expect("serve's status").is_none()
        && stopped.elapsed() < Duration::from_secs(30)
    {
        thread::sleep(Duration::from_millis(20));
    }
    drop(serve);
    reader.join().expect("the stdout reader");
    server.abort();

    let name = variant.name();
    let got = target.take();
    let dump = |what: &str| {
        std::env::var_os("DUMP").map(|d| Path::new(&d).join(format!("run{}-{what}.csv", run + 1)))
    };
    let (latency, from_schedule) = latencies(
        name,
        &got,
        &fed.written,
        partners,
        fed.start,
        dump(if partners { "webhooks" } else { "baseline" }),
    );
    let moments_q = if partners {
        latencies(
            "moment lines",
            &moments.take(),
            &fed.written,
            false,
            fed.start,
            dump("partners-moments"),
        )
        .0
    } else {
        latency
    };
    let achieved_rate = fed.signals as f64 / fed.elapsed.as_secs_f64();
    println!(
        "  run {} {name}: {} events; latency ms p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1} \
         (from the schedule: p99 {:.1}, max {:.1}){}",
        run + 1,
        latency.n,
        latency.p50,
        latency.p99,
        latency.p999,
        latency.max,
        from_schedule.p99,
        from_schedule.max,
        if partners {
            format!(
                "; its moment lines p50 {:.1}, p99 {:.1}",
                moments_q.p50, moments_q.p99
            )
        } else {
            String::new()
        }
    );
    println!(
        "      written {} signals in {:.2} s = {:.0}/s (at most {:.1} ms behind schedule); \
         serve counted {serve_signals:.0} signals, {late:.0} late; peak RSS {rss:.0} MiB",
        fed.signals,
        fed.elapsed.as_secs_f64(),
        achieved_rate,
        fed.max_behind.as_secs_f64() * 1e3,
    );
    assert_eq!(
        serve_signals as u64, fed.signals,
        "serve decoded every signal written"
    );
    RunResult {
        latency,
        from_schedule,
        moments: moments_q,
        achieved_rate,
        max_behind: fed.max_behind,
    }
}

/// Median, min, max of `v`.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let s = Settings {
        rate: env("LANDFALL_BENCH_RATE", 100_000).max(1),
        seconds: env("SECONDS", 15).max(1),
        warmup: env("WARMUP", 3),
        tail: env("TAIL", 1),
        pool: env("POOL", 100_000).clamp(1, 0x7f_ffff),
        match_every: env("MATCH_EVERY", 100).max(1),
        answer_delay: Duration::from_micros(env("ANSWER_DELAY_US", 5_000)),
        workers: env("WORKERS", 1).max(1),
        timeout: Duration::from_secs(env("TIMEOUT", 60)),
    };
    let runs = env("RUNS", 3).max(1);
    let tmp = std::env::temp_dir();
    println!(
        "latency: {} signals/s for {} s measured ({} s warm-up, {} s tail), 1 in {} matching \
         ({} webhooks a run); {} background subscribers; answers {} µs after requests; \
         serve: {} worker(s), [rules] defaults (lateness 1s, batch 10ms, wall_clock on), \
         [partners] defaults but allow_http_loopback; data in {}; {runs} runs per variant",
        s.rate,
        s.seconds,
        s.warmup,
        s.tail,
        s.match_every,
        s.matching_count(),
        s.pool,
        s.answer_delay.as_micros(),
        s.workers,
        tmp.display(),
    );
    let t = Instant::now();
    let pool: Vec<Exchange> = (0..s.pool).map(pool_exchange).collect();
    println!(
        "  {} background exchanges built in {:.1} s ({:.0} B per exchange)",
        pool.len(),
        t.elapsed().as_secs_f64(),
        pool.iter()
            .map(|e| e.request.len() + e.answer.len())
            .sum::<usize>() as f64
            / pool.len() as f64
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("receiver")
        .enable_all()
        .build()
        .expect("the receiver's runtime");

    let mut results: Vec<(Variant, RunResult)> = Vec::new();
    for run in 0..runs {
        for variant in [Variant::Baseline, Variant::Partners] {
            let r = run_once(variant, run, &s, &pool, &rt);
            results.push((variant, r));
        }
    }

    println!("summary over {runs} runs: median (min–max), best; ms");
    let mut medians = Vec::new();
    for variant in [Variant::Baseline, Variant::Partners] {
        let of = |f: fn(&RunResult) -> f64| {
            spread(
                results
                    .iter()
                    .filter(|(v, _)| *v == variant)
                    .map(|(_, r)| f(r))
                    .collect(),
            )
        };
        let (p50, p50_lo, p50_hi) = of(|r| r.latency.p50);
        let (p99, p99_lo, p99_hi) = of(|r| r.latency.p99);
        let (p999, p999_lo, p999_hi) = of(|r| r.latency.p999);
        let (max, _, max_hi) = of(|r| r.latency.max);
        let (sched99, _, sched99_hi) = of(|r| r.from_schedule.p99);
        let (m99, _, _) = of(|r| r.moments.p99);
        let (rate, rate_lo, _) = of(|r| r.achieved_rate);
        let (_, _, behind) = of(|r| r.max_behind.as_secs_f64() * 1e3);
        println!(
            "  {:<24} p50 {p50:.1} ({p50_lo:.1}–{p50_hi:.1}), best {p50_lo:.1}; \
             p99 {p99:.1} ({p99_lo:.1}–{p99_hi:.1}), best {p99_lo:.1}; \
             p99.9 {p999:.1} ({p999_lo:.1}–{p999_hi:.1}); max {max:.1} (worst {max_hi:.1})",
            variant.name()
        );
        println!(
            "  {:<24} from the schedule p99 {sched99:.1} (worst {sched99_hi:.1}); moment lines p99 \
             {m99:.1}; written {rate:.0}/s (lowest {rate_lo:.0}), at most {behind:.1} ms behind",
            ""
        );
        medians.push((p50, p99));
    }
    let [(b50, b99), (p50, p99)] = medians[..] else {
        unreachable!("two variants")
    };
    println!(
        "  partners / baseline (medians): p50 {:.2}×, p99 {:.2}×; partners p99 / {TARGET_P99_MS} ms target: {:.2}",
        p50 / b50,
        p99 / b99,
        p99 / TARGET_P99_MS
    );
}

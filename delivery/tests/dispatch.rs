//! The dispatcher against real HTTP receivers on 127.0.0.1, a real SQLite outbox in a
//! temporary folder and the real reqwest client.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use landfall_delivery::dispatch::{DispatchConfig, Dispatcher, GoneNotice, SecretTable};
use landfall_delivery::guard::GuardConfig;
use landfall_delivery::metrics::DeliveryMetrics;
use landfall_delivery::now_us;
use landfall_delivery::outbox::{Outbox, OutboxEvent, State as RowState};
use landfall_delivery::sign::WebhookSecret;
use tokio::sync::oneshot;

/// What a receiver got.
#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

/// How a receiver answers its n-th request (0-based).
type Script = Arc<dyn Fn(usize) -> Response + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    script: Script,
    hang: bool,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let n = {
        let mut g = r.got.lock().unwrap();
        g.push(Got {
            headers,
            body: body.to_vec(),
            at: Instant::now(),
        });
        g.len() - 1
    };
    if r.hang {
        tokio::time::sleep(Duration::from_secs(3_600)).await;
    }
    (r.script)(n)
}

/// A receiver on 127.0.0.1: its URL and what it got.
async fn receiver(script: Script, hang: bool) -> (String, Arc<Mutex<Vec<Got>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Receiver {
            got: got.clone(),
            script,
            hang,
        });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://127.0.0.1:{}/hook", addr.port()), got)
}

fn ok() -> Script {
    Arc::new(|_| StatusCode::NO_CONTENT.into_response())
}

struct Harness {
    _dir: tempfile::TempDir,
    outbox: Arc<Outbox>,
    secret: WebhookSecret,
    gone: Arc<Mutex<Vec<GoneNotice>>>,
    metrics: DeliveryMetrics,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    cfg: DispatchConfig,
}

fn test_config() -> DispatchConfig {
    DispatchConfig {
        retry_delays: vec![Duration::from_millis(100)],
        max_attempts: 5,
        jitter: 0.1,
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        guard: GuardConfig {
            allow_http_loopback: true,
            allow_private_sinks: false,
        },
        ..DispatchConfig::default()
    }
}

impl Harness {
    fn new(cfg: DispatchConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Outbox::open(&dir.path().join("landfall.db"), now_us()).unwrap());
        Harness {
            _dir: dir,
            outbox,
            secret: WebhookSecret::generate().unwrap(),
            gone: Arc::default(),
            metrics: DeliveryMetrics::default(),
            stop: None,
            task: None,
            cfg,
        }
    }

    fn start(&mut self) {
        let secrets = Arc::new(SecretTable::default());
        secrets.set(7, self.secret.clone());
        let gone = self.gone.clone();
        let d = Dispatcher::new(
            self.outbox.clone(),
            self.cfg.clone(),
            secrets,
            move |n| gone.lock().unwrap().push(n),
            self.metrics.clone(),
        )
        .unwrap();
        let (tx, rx) = oneshot::channel();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(d.run(async move {
            let _ = rx.await;
        })));
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("the dispatcher stops")
                .unwrap();
        }
    }

    fn insert(&self, events: &[OutboxEvent]) -> usize {
        self.outbox.insert_batch(events).unwrap()
    }
}

fn event(sub: u64, id: &str, sink: &str, expires_at_us: Option<i64>) -> OutboxEvent {
    OutboxEvent {
        event_id: id.into(),
        partner: 7,
        subscription: sub,
        sink_url: Some(sink.into()),
        sink_bearer: Some("sink-token".into()),
        event_type: "org.landfall.moments.v0.arrival.country".into(),
        body: format!(r#"{{"specversion":"1.0","id":"{id}","source":"urn:landfall:test","type":"org.landfall.moments.v0.arrival.country","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{{}}}}"#).into_bytes(),
        created_at_us: now_us(),
        expires_at_us,
    }
}

async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(got: &Arc<Mutex<Vec<Got>>>) -> usize {
    got.lock().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_signed_cloudevents_that_standardwebhooks_verifies() {
    let (url, got) = receiver(ok(), false).await;
    let mut h = Harness::new(test_config());
    h.start();
    let a = event(1, "e1", &url, None);
    assert_eq!(h.insert(&[a.clone(), event(1, "e2", &url, None)]), 2);
    wait_for("two deliveries", Duration::from_secs(10), || {
        count(&got) == 2
    })
    .await;
    let wh = standardwebhooks::Webhook::new(&h.secret.to_text()).unwrap();
    for g in got.lock().unwrap().iter() {
        assert_eq!(g.headers["content-type"], "application/cloudevents+json");
        assert_eq!(g.headers["authorization"], "Bearer sink-token");
        wh.verify(&g.body, &g.headers).expect("signature verifies");
        let mut tampered = g.body.clone();
        tampered[0] = b' ';
        assert!(
            wh.verify(&tampered, &g.headers).is_err(),
            "a tampered body fails"
        );
        let ce: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(ce["id"], g.headers["webhook-id"].to_str().unwrap());
    }
    wait_for("delivered marks", Duration::from_secs(5), || {
        h.outbox.state_of(1, "e1").unwrap().map(|s| s.0) == Some(RowState::Delivered)
    })
    .await;
    assert_eq!(
        h.outbox.state_of(1, "e1").unwrap(),
        Some((RowState::Delivered, 1, Some(204)))
    );
    // The same events inserted again (a restart re-deriving them) are not sent again.
    assert_eq!(h.insert(&[a]), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&got), 2);
    let mut reg = prometheus_client::registry::Registry::default();
    reg.register("latency", "", h.metrics.latency_seconds.clone());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    assert!(
        text.contains("latency_count 2\n"),
        "latency observed per delivery: {text}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_before_delivery_is_never_sent() {
    let (url, got) = receiver(ok(), false).await;
    let mut h = Harness::new(test_config());
    h.insert(&[
        event(1, "retracted", &url, None),
        event(2, "other-sub", &url, None),
    ]);
    assert!(h.outbox.cancel(1, "retracted", now_us()).unwrap());
    assert_eq!(h.outbox.cancel_subscription(2, now_us()).unwrap(), 1);
    h.insert(&[event(3, "marker", &url, None)]);
    h.start();
    wait_for("the marker", Duration::from_secs(10), || count(&got) >= 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|g| g.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec!["marker"]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_503_honouring_retry_after() {
    let script: Script = Arc::new(|n| {
        if n == 0 {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response()
        } else {
            StatusCode::OK.into_response()
        }
    });
    let (url, got) = receiver(script, false).await;
    let mut cfg = test_config();
    // Without Retry-After the retry would wait a minute.
    cfg.retry_delays = vec![Duration::from_secs(60)];
    let mut h = Harness::new(cfg);
    h.start();
    h.insert(&[event(1, "e1", &url, None)]);
    wait_for("the retry", Duration::from_secs(10), || count(&got) == 2).await;
    let g = got.lock().unwrap().clone();
    let gap = g[1].at - g[0].at;
    assert!(
        gap >= Duration::from_millis(950) && gap < Duration::from_secs(5),
        "{gap:?}"
    );
    assert_eq!(
        g[0].headers["webhook-id"], g[1].headers["webhook-id"],
        "same id on retry"
    );
    wait_for("delivered", Duration::from_secs(5), || {
        h.outbox.state_of(1, "e1").unwrap() == Some((RowState::Delivered, 2, Some(200)))
    })
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_ends_the_subscription() {
    let (url, got) = receiver(Arc::new(|_| StatusCode::GONE.into_response()), false).await;
    let mut cfg = test_config();
    cfg.per_sink_concurrency = 1;
    let mut h = Harness::new(cfg);
    h.insert(&[
        event(5, "first", &url, None),
        event(5, "second", &url, None),
    ]);
    h.start();
    wait_for("the gone notice", Duration::from_secs(10), || {
        !h.gone.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gone = h.gone.lock().unwrap().clone();
    assert_eq!(
        gone,
        vec![GoneNotice {
            partner: 7,
            subscription: 5,
            event_id: "first".into()
        }]
    );
    assert_eq!(count(&got), 1, "nothing more sent to the subscription");
    assert_eq!(
        h.outbox.state_of(5, "second").unwrap().unwrap().0,
        RowState::Cancelled
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_events_are_never_delivered() {
    let script: Script =
        Arc::new(|_| (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "2")]).into_response());
    let (url, got) = receiver(script, false).await;
    let (url_ok, got_ok) = receiver(ok(), false).await;
    let mut h = Harness::new(test_config());
    let now = now_us();
    h.insert(&[
        event(1, "stale", &url_ok, Some(now - 1)),
        // Fails once, then expires while waiting for its retry.
        event(2, "expires-while-retrying", &url, Some(now + 1_000_000)),
        event(3, "marker", &url_ok, None),
    ]);
    h.start();
    wait_for("the marker", Duration::from_secs(10), || {
        count(&got_ok) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(
        got_ok.lock().unwrap()[0].headers["webhook-id"],
        "marker",
        "the stale event was never sent"
    );
    assert_eq!(count(&got_ok), 1);
    assert_eq!(count(&got), 1, "sent once, never after expiry");
    assert_eq!(
        h.outbox.state_of(1, "stale").unwrap().unwrap().0,
        RowState::Expired
    );
    assert_eq!(
        h.outbox
            .state_of(2, "expires-while-retrying")
            .unwrap()
            .unwrap()
            .0,
        RowState::Expired
    );
    assert_eq!(h.metrics.expired.get(), 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_does_not_delay_another() {
    let (hung, hung_got) = receiver(ok(), true).await;
    let (fine, fine_got) = receiver(ok(), false).await;
    let mut cfg = test_config();
    cfg.request_timeout = Duration::from_secs(20);
    cfg.lease = Duration::from_secs(90);
    cfg.per_sink_concurrency = 2;
    let mut h = Harness::new(cfg);
    h.start();
    let hung_events: Vec<_> = (0..10)
        .map(|i| event(1, &format!("h{i}"), &hung, None))
        .collect();
    h.insert(&hung_events);
    wait_for(
        "the hung receiver's requests",
        Duration::from_secs(5),
        || count(&hung_got) == 2,
    )
    .await;
    let start = Instant::now();
    for i in 0..20 {
        h.insert(&[event(2, &format!("f{i}"), &fine, None)]);
    }
    wait_for(
        "the other receiver's events",
        Duration::from_secs(5),
        || count(&fine_got) == 20,
    )
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        count(&hung_got),
        2,
        "the hung sink's concurrency limit holds"
    );
    // Shutdown waits for requests in flight, bounded by the request timeout; drop the
    // harness's task instead of waiting 20 s.
    if let Some(t) = h.task.take() {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_opens_after_consecutive_failures() {
    let (url, got) = receiver(
        Arc::new(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        false,
    )
    .await;
    let mut cfg = test_config();
    cfg.per_sink_concurrency = 1;
    cfg.breaker_failures = 3;
    cfg.breaker_cooldown = Duration::from_millis(1_500);
    cfg.retry_delays = vec![Duration::from_millis(20)];
    cfg.max_attempts = 100;
    let mut h = Harness::new(cfg);
    h.start();
    let events: Vec<_> = (0..5)
        .map(|i| event(1, &format!("e{i}"), &url, None))
        .collect();
    h.insert(&events);
    wait_for("three failures", Duration::from_secs(5), || {
        count(&got) == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        count(&got),
        3,
        "the circuit is open: nothing sent during the cool-down"
    );
    // After the cool-down one probe; it fails and the circuit opens again.
    wait_for("the probe", Duration::from_secs(5), || count(&got) == 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&got), 4, "one probe only");
    assert_eq!(h.metrics.circuit_opens.get(), 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_refused_at_connect_time_and_redirects_not_followed() {
    let (target, target_got) = receiver(ok(), false).await;
    let target2 = target.clone();
    let (redirector, redirector_got) = receiver(
        Arc::new(move |_| {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", target2.clone())],
            )
                .into_response()
        }),
        false,
    )
    .await;
    let port = target
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // Loopback not allowed: a name resolving to loopback over https, a loopback literal.
    let mut cfg = test_config();
    cfg.guard = GuardConfig::default();
    let mut h = Harness::new(cfg);
    h.start();
    h.insert(&[
        event(
            1,
            "by-name",
            &format!("https://localhost:{port}/hook"),
            None,
        ),
        event(
            1,
            "by-literal",
            &format!("https://127.0.0.1:{port}/hook"),
            None,
        ),
        event(
            1,
            "metadata",
            "https://169.254.169.254/latest/meta-data",
            None,
        ),
    ]);
    wait_for("dead letters", Duration::from_secs(10), || {
        h.outbox.dead_letters(Some(7), 10).unwrap().len() == 3
    })
    .await;
    for d in h.outbox.dead_letters(Some(7), 10).unwrap() {
        let e = d.last_error.unwrap();
        assert!(e.starts_with("sink refused"), "{e}");
    }
    h.shutdown().await;
    assert_eq!(count(&target_got), 0);

    // Loopback allowed (for the redirector), but its redirect is not followed.
    let mut h = Harness::new(test_config());
    h.start();
    h.insert(&[event(1, "redirected", &redirector, None)]);
    wait_for("the dead letter", Duration::from_secs(10), || {
        h.outbox.state_of(1, "redirected").unwrap().map(|s| s.0) == Some(RowState::Dead)
    })
    .await;
    assert_eq!(count(&redirector_got), 1);
    assert_eq!(
        count(&target_got),
        0,
        "the redirect target was never called"
    );
    assert_eq!(
        h.outbox.state_of(1, "redirected").unwrap().unwrap().2,
        Some(307)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_back_gets_its_backlog_after_restart() {
    // Nothing listens on the port at first: connection refused, retried.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let url = format!("http://127.0.0.1:{port}/hook");
    let mut cfg = test_config();
    cfg.retry_delays = vec![Duration::from_millis(200)];
    cfg.max_attempts = 1_000;
    cfg.breaker_failures = 1_000;
    let mut h = Harness::new(cfg.clone());
    h.start();
    let events: Vec<_> = (0..5)
        .map(|i| event(1, &format!("b{i}"), &url, None))
        .collect();
    h.insert(&events);
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.shutdown().await;
    // The outbox survives the restart (same file), the receiver comes back.
    let path = h._dir.path().join("landfall.db");
    let mut h2 = Harness::new(cfg);
    h2.outbox = Arc::new(Outbox::open(&path, now_us()).unwrap());
    h2.secret = h.secret.clone();
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Receiver {
            got: got.clone(),
            script: ok(),
            hang: false,
        });
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    h2.start();
    wait_for("the backlog", Duration::from_secs(10), || count(&got) == 5).await;
    let wh = standardwebhooks::Webhook::new(&h.secret.to_text()).unwrap();
    let mut ids: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|g| {
            wh.verify(&g.body, &g.headers).unwrap();
            g.headers["webhook-id"].to_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["b0", "b1", "b2", "b3", "b4"]);
    h2.shutdown().await;
}

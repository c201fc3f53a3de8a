//! The operator endpoints on a real socket with a real HTTP client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use landfall_model::moment::Rules;
use landfall_model::{Area, Country, Moment, MomentKind};
use landfall_service::http::{bind, serve, AppState, Ready};
use landfall_service::metrics::Metrics;
use landfall_service::view::View;
use serde_json::Value;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn arrival(imsi: &str, country: &str, at: i64) -> Moment {
    let signal = landfall_testkit::signal::bare_attach(at, imsi, 1);
    let area = Area::Country(Country::new(country).unwrap());
    Moment::caused_by(
        &signal,
        &Rules::default(),
        MomentKind::Arrival,
        area,
        None,
        None,
    )
}

struct Server {
    base: String,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    client: reqwest::Client,
}

impl Server {
    async fn start(key: Option<&str>) -> Server {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(
            Arc::new(Metrics::new()),
            Arc::new(Mutex::new(View::new())),
            Ready::default(),
            key,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state.clone(), None, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Server {
            base: format!("http://{addr}"),
            state,
            stop: Some(tx),
            task,
            client,
        }
    }

    async fn get(&self, path: &str, key: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path, Some(KEY)).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let s = Server::start(Some(KEY)).await;
    assert_eq!(s.get("/healthz", None).await, (200, "ok\n".to_owned()));
    assert_eq!(s.get("/readyz", None).await.0, 503);
    s.state.ready.set();
    assert_eq!(s.get("/readyz", None).await, (200, "ready\n".to_owned()));
    s.state.ready.clear();
    assert_eq!(s.get("/readyz", None).await.0, 503);

    s.state.metrics.frames("probe-a", 3, 300);
    s.state.metrics.moment(&arrival("001010000000001", "FR", 1));
    let resp = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.unwrap();
    // The exposition parses: every line a comment or `name{labels} value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.starts_with("landfall_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
    }
    for needle in [
        "# TYPE landfall_frames_read counter",
        "landfall_frames_read_total{source=\"probe-a\"} 3",
        "landfall_moments_total{kind=\"arrival\",level=\"country\"} 1",
        "# TYPE landfall_signal_to_moment_latency_seconds histogram",
        "# EOF",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    s.stop().await;
}

#[tokio::test]
async fn operator_routes_need_the_key() {
    let s = Server::start(Some(KEY)).await;
    for path in [
        "/v1/operator/areas?level=country",
        "/v1/operator/areas/country/FR/arrivals",
    ] {
        let (status, body) = s.get(path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("Bearer"), "{body}");
        assert_eq!(
            s.get(path, Some("0123456789abcdef0123456789abcdeX"))
                .await
                .0,
            401
        );
        assert_eq!(s.get(path, Some("short")).await.0, 401);
        assert_eq!(s.get(path, Some(KEY)).await.0, 200);
    }
    // A scheme other than Bearer.
    let resp = s
        .client
        .get(format!("{}/v1/operator/areas", s.base))
        .header("Authorization", format!("Basic {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    s.stop().await;

    // No key configured: the operator view is off.
    let s = Server::start(None).await;
    assert_eq!(s.get("/v1/operator/areas", Some(KEY)).await.0, 404);
    assert_eq!(s.get("/healthz", None).await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn the_live_view_counts_and_lists_arrivals() {
    let s = Server::start(Some(KEY)).await;
    {
        let mut v = s.state.view.lock().unwrap();
        v.apply(&[
            arrival("001010000000001", "FR", 1_780_000_000_000_000),
            arrival("001010000000002", "FR", 1_780_000_001_000_000),
            arrival("001010000000003", "DE", 1_780_000_002_000_000),
        ]);
    }
    let a = s.json("/v1/operator/areas?level=country").await;
    assert_eq!(a["level"], "country");
    assert_eq!(a["as_of"], "2026-05-28T20:26:42.000000Z");
    assert_eq!(
        a["areas"],
        serde_json::json!([{"area": "FR", "count": 2}, {"area": "DE", "count": 1}])
    );
    let n = s.json("/v1/operator/areas?level=network").await;
    assert_eq!(n["areas"], serde_json::json!([]));
    let l = s
        .json("/v1/operator/areas/country/FR/arrivals?limit=1")
        .await;
    assert_eq!(l["total"], 2);
    assert_eq!(l["arrivals"].as_array().unwrap().len(), 1);
    assert_eq!(l["arrivals"][0]["imsi"], "001010000000002");
    assert_eq!(
        l["arrivals"][0]["arrived_at"],
        "2026-05-28T20:26:41.000000Z"
    );
    assert_eq!(
        l["arrivals"][0]["expires_at"],
        "2026-05-28T22:26:41.000000Z"
    );
    assert_eq!(l["arrivals"][0]["id"].as_str().unwrap().len(), 32);
    let none = s.json("/v1/operator/areas/country/IT/arrivals").await;
    assert_eq!(none["total"], 0);
    // Expiry empties the view.
    s.state
        .view
        .lock()
        .unwrap()
        .expire(1_780_000_002_000_000 + 2 * 3_600_000_000);
    assert_eq!(
        s.json("/v1/operator/areas").await["areas"],
        serde_json::json!([])
    );
    // Bad requests.
    for path in [
        "/v1/operator/areas?level=planet",
        "/v1/operator/areas/planet/FR/arrivals",
        "/v1/operator/areas/network/FR/arrivals",
        "/v1/operator/areas/country/FR/arrivals?limit=0",
        "/v1/operator/areas/country/FR/arrivals?limit=many",
        "/v1/operator/areas/country/FR/arrivals?limit=10001",
    ] {
        let (status, body) = s.get(path, Some(KEY)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            serde_json::from_str::<Value>(&body).unwrap()["error"].is_string(),
            "{body}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn a_port_in_use_is_an_error_naming_http_listen() {
    let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = first.local_addr().unwrap();
    let e = bind(addr).await.unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with(&format!("http.listen {addr}: ")), "{text}");
    assert!(text.contains("already in use"), "{text}");
    assert_eq!(e.source.kind(), std::io::ErrorKind::AddrInUse);
}

#[tokio::test]
async fn the_console_pages_and_its_live_feed() {
    let s = Server::start(Some(KEY)).await;
    // The pages hold no data: served without the key, from the binary.
    let (status, page) = s.get("/console/", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("console.js"), "{page}");
    let (status, script) = s.get("/console/console.js", None).await;
    assert_eq!(status, 200);
    assert!(script.len() > 50_000, "the bundle with the country shapes");
    // Their data needs the key.
    for path in [
        "/v1/operator/live",
        "/v1/operator/flow",
        "/v1/operator/health",
        "/v1/operator/zones",
        "/v1/operator/delivery",
    ] {
        assert_eq!(s.get(path, None).await.0, 401, "{path}");
    }
    // Moments as the emitter hands them on; one tick renders the update.
    let moments = [
        arrival("001010000000001", "FR", 1_000),
        arrival("001010000000002", "FR", 2_000),
        arrival("001010000000003", "ES", 3_000),
    ];
    {
        let mut view = s.state.view.lock().unwrap();
        view.apply(&moments);
    }
    s.state.console.flow.lock().unwrap().record(&moments);
    s.state.console.live.record(&moments, 0);
    assert!(s
        .state
        .console
        .live
        .tick(&s.state.view, &s.state.console.flow)
        .is_some());
    // A new listener gets the latest update at once; its counts are the API's.
    let mut resp = s
        .client
        .get(format!("{}/v1/operator/live", s.base))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.starts_with("event: update\n"), "{text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let update: Value = serde_json::from_str(data).unwrap();
    assert_eq!(update["present"], 3);
    assert_eq!(
        update["counts"]["country"],
        serde_json::json!([["FR", 2], ["ES", 1]])
    );
    assert_eq!(update["arrivals"].as_array().unwrap().len(), 3);
    let areas = s.json("/v1/operator/areas?level=country").await;
    assert_eq!(areas["as_of"], update["as_of"]);
    assert_eq!(
        areas["areas"][0],
        serde_json::json!({"area": "FR", "count": 2})
    );
    let flow = s.json("/v1/operator/flow?minutes=5").await;
    assert_eq!(flow["totals"]["country"], 3);
    // Nothing changed: no update before the heartbeat.
    assert!(s
        .state
        .console
        .live
        .tick(&s.state.view, &s.state.console.flow)
        .is_none());
    drop(resp);
    s.stop().await;
}

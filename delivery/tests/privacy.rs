//! End to end: a match rendered, written to the outbox and delivered through retries and
//! a 410; neither the bodies received nor any log line (at TRACE) carries the IMSI, the
//! MSISDN or the unkeyed moment id.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use landfall_delivery::dispatch::{DispatchConfig, Dispatcher, SecretTable};
use landfall_delivery::event::{render_match, EventType, PartnerKeys, RenderConfig};
use landfall_delivery::guard::GuardConfig;
use landfall_delivery::metrics::DeliveryMetrics;
use landfall_delivery::now_us;
use landfall_delivery::outbox::Outbox;
use landfall_delivery::sign::WebhookSecret;
use landfall_model::{
    Area, Country, Imsi, Match, Moment, MomentId, MomentKind, Msisdn, PartnerId, Plmn, Proto,
    Provenance, Purpose, ZoneId,
};

const IMSI: &str = "208019876543210";
const MSISDN: &str = "33698765432";

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Got = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;
/// The status of the n-th request.
type Statuses = Arc<dyn Fn(usize) -> StatusCode + Send + Sync>;

async fn hook(
    State((got, status)): State<(Got, Statuses)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let n = {
        let mut g = got.lock().unwrap();
        g.push((headers, body.to_vec()));
        g.len() - 1
    };
    status(n).into_response()
}

async fn receiver(status: Statuses) -> (String, Got) {
    let got: Got = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state((got.clone(), status));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://127.0.0.1:{port}/hook"), got)
}

fn moment(kind: MomentKind, area: Area, at: i64) -> Moment {
    let imsi = Imsi::parse(IMSI).unwrap();
    Moment {
        id: MomentId::derive(&imsi, kind, area.level(), &area, at),
        kind,
        level: area.level(),
        area,
        from: None,
        to: None,
        imsi,
        msisdn: Some(Msisdn::parse(MSISDN).unwrap()),
        home: Some(Plmn::new(208, 1, 2)),
        home_country: Country::new("FR"),
        rat: Some(6),
        at,
        expires_at: at + 7_200_000_000,
        source: Provenance {
            file: 0,
            frame: 1,
            proto: Proto::Diameter,
            message: 316,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identity_in_bodies_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // 503 once then 200; and a sink that answers 410.
    let (ok_url, ok_got) = receiver(Arc::new(|n| {
        if n == 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    }))
    .await;
    let (gone_url, gone_got) = receiver(Arc::new(|_| StatusCode::GONE)).await;

    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(&dir.path().join("landfall.db"), now_us()).unwrap());
    let keys = PartnerKeys {
        pseudonym_key: b"p-key".to_vec(),
        id_key: b"i-key".to_vec(),
        msisdn_allowed: false,
    };
    let cfg = RenderConfig::new("urn:landfall:test");
    let now = now_us();
    let zone = Area::Zone(ZoneId::new("harbour").unwrap());
    let m = moment(MomentKind::Arrival, zone, now - 1_000_000);
    let mut events = Vec::new();
    let mut moment_ids = Vec::new();
    for (sub, url, ty) in [
        (1u64, &ok_url, EventType::AreaEntered),
        (
            2,
            &gone_url,
            EventType::Arrival(landfall_model::Level::Zone),
        ),
    ] {
        let matched = Match {
            partner: PartnerId(7),
            subscription: sub,
            purpose: Purpose(1),
            moment: m,
        };
        moment_ids.push(m.id.to_hex());
        let r = render_match(&cfg, &keys, &matched, ty, now).unwrap();
        events.push(r.into_outbox(7, sub, Some(url.clone()), None, now));
    }
    outbox.insert_batch(&events).unwrap();

    let secret = WebhookSecret::generate().unwrap();
    let secrets = Arc::new(SecretTable::default());
    secrets.set(7, secret.clone());
    let dcfg = DispatchConfig {
        retry_delays: vec![Duration::from_millis(100)],
        poll_interval: Duration::from_millis(100),
        guard: GuardConfig {
            allow_http_loopback: true,
            allow_private_sinks: false,
        },
        ..DispatchConfig::default()
    };
    let d = Dispatcher::new(
        outbox.clone(),
        dcfg,
        secrets,
        |_| {},
        DeliveryMetrics::default(),
    )
    .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(d.run(async move {
        let _ = rx.await;
    }));
    let start = Instant::now();
    while ok_got.lock().unwrap().len() < 2 || gone_got.lock().unwrap().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "deliveries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tx.send(());
    task.await.unwrap();

    let wh = standardwebhooks::Webhook::new(&secret.to_text()).unwrap();
    let mut bodies = Vec::new();
    for (h, b) in ok_got
        .lock()
        .unwrap()
        .iter()
        .chain(gone_got.lock().unwrap().iter())
    {
        wh.verify(b, h).unwrap();
        let ce: serde_json::Value = serde_json::from_slice(b).unwrap();
        assert_eq!(ce["specversion"], "1.0");
        assert!(ce["data"]["device"]["pseudonym"].is_string());
        bodies.push(String::from_utf8(b.clone()).unwrap());
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retry scheduled") && logs.contains("410 Gone"),
        "the paths ran and logged:\n{logs}"
    );
    for text in bodies.iter().chain(std::iter::once(&logs)) {
        for secret_text in [IMSI, MSISDN, &moment_ids[0]] {
            assert!(!text.contains(secret_text), "{secret_text} in:\n{text}");
        }
    }
    // No body in the logs either.
    assert!(!logs.contains("specversion"), "{logs}");
}

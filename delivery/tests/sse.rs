//! The SSE feed: resumed with Last-Event-ID from the outbox, then live; and over HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use landfall_delivery::now_us;
use landfall_delivery::outbox::{Outbox, OutboxEvent};
use landfall_delivery::sse::{event_stream, last_event_id, sse_response};

fn ev(partner: u32, sub: u64, id: &str, expires_at_us: Option<i64>) -> OutboxEvent {
    OutboxEvent {
        event_id: id.into(),
        partner,
        subscription: sub,
        sink_url: None,
        sink_bearer: None,
        event_type: "org.landfall.moments.v0.arrival.zone".into(),
        body: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
        created_at_us: now_us(),
        expires_at_us,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_last_event_id_then_live() {
    let dir = tempfile::tempdir().unwrap();
    let ob = Arc::new(Outbox::open(&dir.path().join("landfall.db"), now_us()).unwrap());
    ob.insert_batch(&[
        ev(7, 1, "a", None),
        ev(8, 1, "other-partner", None),
        ev(7, 1, "b", None),
        ev(7, 2, "c", None),
        ev(7, 2, "cancelled", None),
        ev(7, 2, "expired", Some(1)),
        ev(7, 2, "d", None),
    ])
    .unwrap();
    ob.cancel(2, "cancelled", now_us()).unwrap();
    let s = event_stream(ob.clone(), 7, Some("b".into())).await.unwrap();
    tokio::pin!(s);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .unwrap()
            .unwrap();
        ids.push(e.event_id.clone());
    }
    assert_eq!(ids, vec!["c", "d"]);
    // Then live: another partner's event is not shown, ours is.
    ob.insert_batch(&[ev(8, 1, "x", None), ev(7, 3, "live", None)])
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event_id, "live");
    assert_eq!(&*e.body, br#"{"id":"live"}"#);

    // Without Last-Event-ID: live only.
    let s = event_stream(ob.clone(), 7, None).await.unwrap();
    tokio::pin!(s);
    assert!(tokio::time::timeout(Duration::from_millis(200), s.next())
        .await
        .is_err());
    ob.insert_batch(&[ev(7, 3, "later", None)]).unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event_id, "later");

    // An unknown Last-Event-ID (pruned): everything retained.
    let s = event_stream(ob.clone(), 7, Some("unknown".into()))
        .await
        .unwrap();
    let first: Vec<String> = s.take(3).map(|e| e.event_id.clone()).collect().await;
    assert_eq!(first, vec!["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_catches_up_from_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let ob = Arc::new(Outbox::open(&dir.path().join("landfall.db"), now_us()).unwrap());
    let s = event_stream(ob.clone(), 7, None).await.unwrap();
    // More than the broadcast buffer, before the client reads anything.
    let n = 5_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|i| ev(7, 1, &format!("e{i:05}"), None))
            .collect();
        ob.insert_batch(&batch).unwrap();
    }
    let got: Vec<String> = tokio::time::timeout(
        Duration::from_secs(20),
        s.take(n).map(|e| e.event_id.clone()).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let want: Vec<String> = (0..n).map(|i| format!("e{i:05}")).collect();
    assert_eq!(got, want, "every event once, in order");
}

async fn feed(State(ob): State<Arc<Outbox>>, headers: HeaderMap) -> axum::response::Response {
    match sse_response(ob, 7, last_event_id(&headers)).await {
        Ok(sse) => sse.into_response(),
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_with_the_last_event_id_header() {
    let dir = tempfile::tempdir().unwrap();
    let ob = Arc::new(Outbox::open(&dir.path().join("landfall.db"), now_us()).unwrap());
    ob.insert_batch(&[ev(7, 1, "a", None), ev(7, 1, "b", None)])
        .unwrap();
    let app = Router::new()
        .route("/v1/events", get(feed))
        .with_state(ob.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut resp = client
        .get(format!("http://{addr}/v1/events"))
        .header("last-event-id", "a")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("id: b\n"), "{text}");
    assert!(
        text.contains("event: org.landfall.moments.v0.arrival.zone\n"),
        "{text}"
    );
    assert!(text.contains("data: {\"id\":\"b\"}\n"), "{text}");
    assert!(!text.contains("id: a\n"), "{text}");
}

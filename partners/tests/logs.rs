//! Nothing the crate logs carries an IMSI or MSISDN: a whole session of both APIs (device
//! subscriptions, consent and opt-outs one at a time and in bulk, bad lines, deletions)
//! with every log line captured at TRACE.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_imsi_or_msisdn_in_any_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Global: the registry logs from blocking threads too.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let h = Harness::new();
    let (pid, key, _) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &circle_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut v = circle_request();
    v["config"]["subscriptionDetail"]["device"] =
        json!({"networkAccessIdentifier": format!("imsi-{IMSI}@operator.example")});
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut v = circle_request();
    v["config"]["subscriptionDetail"]["device"] = json!({"phoneNumber": MSISDN});
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    h.op(
        "PUT",
        &format!("/v1/operator/consents/{pid}/7/{IMSI}"),
        None,
    )
    .await;
    h.op(
        "DELETE",
        &format!("/v1/operator/consents/{pid}/7/{IMSI}"),
        None,
    )
    .await;
    h.op("PUT", &format!("/v1/operator/opt-outs/{IMSI}"), None)
        .await;
    h.op("DELETE", &format!("/v1/operator/opt-outs/{IMSI}"), None)
        .await;
    let bad = format!("{IMSI},{pid},7,true\n{IMSI}9,{pid},7,true\n");
    let r = h
        .call(
            "POST",
            "/v1/operator/consents/bulk",
            Some(OPERATOR_KEY),
            Some(bad.into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let good = format!("{IMSI},{pid},7,true\n");
    let r = h
        .call(
            "POST",
            "/v1/operator/consents/bulk",
            Some(OPERATOR_KEY),
            Some(good.into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .call(
            "POST",
            "/v1/operator/opt-outs/bulk",
            Some(OPERATOR_KEY),
            Some(IMSI.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    h.call(
        "DELETE",
        &format!("/v1/subscriptions/{id}"),
        Some(&key),
        None,
    )
    .await;
    h.op("DELETE", &format!("/v1/operator/partners/{pid}"), None)
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("subscription created"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("consent upload"));
    assert!(logs.contains("partner removed"));
    assert!(!logs.contains(IMSI), "an IMSI was logged:\n{logs}");
    assert!(!logs.contains(MSISDN), "an MSISDN was logged:\n{logs}");
}

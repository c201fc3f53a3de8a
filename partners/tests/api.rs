//! The partner and operator APIs called through the router, over a real SQLite file in a
//! temporary folder.

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use landfall_model::{Consent, Imsi, PartnerId, Purpose};
use landfall_partners::changes::{LifecycleKind, RegistryChange};
use landfall_partners::records::{Target, TerminationReason};
use serde_json::{json, Value};
use tower::ServiceExt;

#[tokio::test]
async fn missing_or_wrong_keys_are_401() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    for k in [
        None,
        Some("lf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Some("nonsense"),
        Some(OPERATOR_KEY),
    ] {
        let r = h.call("GET", "/v1/subscriptions", k, None).await;
        assert_camara(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // The right key with a wrong scheme.
    let req = Request::get("/v1/subscriptions")
        .header(header::AUTHORIZATION, format!("Basic {key}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        h.app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A key differing in its last character (same prefix).
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let r = h.call("GET", "/v1/subscriptions", Some(&wrong), None).await;
    assert_camara(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // A partner key is no operator key, and the operator routes want one.
    for k in [None, Some(key.as_str()), Some("operator-secret-kez")] {
        let r = h.call("GET", "/v1/operator/partners", k, None).await;
        assert_camara(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let r = h.call("GET", "/v1/subscriptions", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn subscription_round_trip() {
    let h = Harness::new();
    let (pid, key, _) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/v1/subscriptions/{id}").as_str())
    );
    assert_eq!(r.body["status"], "ACTIVE");
    assert_eq!(r.body["protocol"], "HTTP");
    assert_eq!(
        r.body["types"],
        json!(["org.landfall.moments.v0.arrival.zone"])
    );
    assert_eq!(r.body["expiresAt"], "2099-01-01T00:00:00.000Z");
    assert!(r.body["startsAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.body["config"]["subscriptionMaxEvents"], 100);
    assert!(
        r.body.get("sinkCredential").is_none(),
        "the credential is never echoed"
    );
    assert!(!r.text.contains("sink-token-abc"));
    let created = r.body.clone();

    let g = h
        .call("GET", &format!("/v1/subscriptions/{id}"), Some(&key), None)
        .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, created);
    let l = h.call("GET", "/v1/subscriptions", Some(&key), None).await;
    assert_eq!(l.body, json!([created]));

    // What the dataflow is told.
    let stored = h
        .registry
        .subscription(PartnerId(pid), id.parse().unwrap())
        .unwrap()
        .unwrap()
        .stored;
    let Target::Moments {
        subscription,
        level,
        device,
    } = &stored.target
    else {
        panic!("a per-person subscription")
    };
    assert_eq!(*level, landfall_model::Level::Zone);
    assert!(device.is_none());
    assert_eq!(subscription.purpose, Purpose(7));
    assert_eq!(subscription.max_events, Some(100));
    assert_eq!(subscription.frequency_cap_us, Some(3_600_000_000));
    assert_eq!(subscription.direction, landfall_model::Direction::Inbound);
    assert_eq!(subscription.home_countries.len(), 2);
    assert_eq!(stored.sink_token.as_ref().unwrap().token, "sink-token-abc");

    let d = h
        .call(
            "DELETE",
            &format!("/v1/subscriptions/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let g = h
        .call("GET", &format!("/v1/subscriptions/{id}"), Some(&key), None)
        .await;
    assert_camara(&g, StatusCode::NOT_FOUND, "NOT_FOUND");
    let d = h
        .call(
            "DELETE",
            &format!("/v1/subscriptions/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_camara(&d, StatusCode::NOT_FOUND, "NOT_FOUND");
    let l = h.call("GET", "/v1/subscriptions", Some(&key), None).await;
    assert_eq!(l.body, json!([]));
    let g = h
        .call("GET", "/v1/subscriptions/not-a-number", Some(&key), None)
        .await;
    assert_camara(&g, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn another_partners_subscription_is_404() {
    let h = Harness::new();
    let (_, alice, _) = h.partner(true).await;
    let (_, bob, _) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&alice), &zone_request())
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let g = h
        .call("GET", &format!("/v1/subscriptions/{id}"), Some(&bob), None)
        .await;
    assert_camara(&g, StatusCode::NOT_FOUND, "NOT_FOUND");
    let d = h
        .call(
            "DELETE",
            &format!("/v1/subscriptions/{id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_camara(&d, StatusCode::NOT_FOUND, "NOT_FOUND");
    let l = h.call("GET", "/v1/subscriptions", Some(&bob), None).await;
    assert_eq!(l.body, json!([]));
    // Still there for its owner.
    let g = h
        .call(
            "GET",
            &format!("/v1/subscriptions/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(g.status, StatusCode::OK);
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let h = Harness::new();
    let (pid, key, secret) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    let sub = r.body.clone();
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &circle_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let circle_id: u64 = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = h
        .op(
            "PUT",
            &format!("/v1/operator/consents/{pid}/7/{IMSI}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = h
        .op("PUT", "/v1/operator/opt-outs/001010000000001", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let h = h.reopen();
    let g = h
        .call(
            "GET",
            &format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        g.status,
        StatusCode::OK,
        "the key and the subscription survive"
    );
    assert_eq!(g.body, sub);
    let snap = h.registry.snapshot().unwrap();
    assert_eq!(snap.partners.len(), 1);
    assert_eq!(snap.partners[0].webhook_secret, secret);
    assert_eq!(snap.subscriptions.len(), 2);
    let circle = snap
        .subscriptions
        .iter()
        .find(|s| s.id == circle_id)
        .unwrap();
    let zone = circle.circle.as_ref().expect("the circle zone");
    assert_eq!(zone.radius_m, 2000);
    assert!(matches!(
        &circle.target,
        Target::Moments {
            device: Some(_),
            ..
        }
    ));
    assert_eq!(
        snap.consents,
        vec![Consent {
            imsi: Imsi::parse(IMSI).unwrap(),
            partner: PartnerId(pid),
            purpose: Purpose(7)
        }]
    );
    assert_eq!(snap.opt_outs, vec![Imsi::parse("001010000000001").unwrap()]);
    let changes = snap.into_changes();
    assert!(matches!(changes[0], RegistryChange::PartnerUpserted(_)));
    assert_eq!(
        changes
            .iter()
            .filter(|c| matches!(c, RegistryChange::CircleZoneAdded(_)))
            .count(),
        1
    );
    assert_eq!(
        changes
            .iter()
            .filter(|c| matches!(c, RegistryChange::SubscriptionAdded(_)))
            .count(),
        2
    );
}

#[tokio::test]
async fn malformed_json_and_invalid_fields_are_camara_400s() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    let r = h
        .call(
            "POST",
            "/v1/subscriptions",
            Some(&key),
            Some(b"{\"protocol\": ".to_vec()),
        )
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let r = h
        .call("POST", "/v1/subscriptions", Some(&key), Some(b"".to_vec()))
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");

    type Edit = fn(&mut Value);
    let cases: &[(&str, Edit, &str, &str)] = &[
        (
            "bad type",
            |v| v["types"] = json!(["org.camaraproject.nothing.v0.x"]),
            "INVALID_ARGUMENT",
            "types[0]",
        ),
        (
            "no type",
            |v| v["types"] = json!([]),
            "INVALID_ARGUMENT",
            "types",
        ),
        (
            "http sink",
            |v| v["sink"] = json!("http://partner.example.com/x"),
            "INVALID_SINK",
            "sink",
        ),
        (
            "not a URL",
            |v| v["sink"] = json!("partner"),
            "INVALID_SINK",
            "sink",
        ),
        (
            "no sink",
            |v| {
                v.as_object_mut().unwrap().remove("sink");
            },
            "INVALID_ARGUMENT",
            "sink",
        ),
        (
            "protocol",
            |v| v["protocol"] = json!("MQTT3"),
            "INVALID_PROTOCOL",
            "protocol",
        ),
        (
            "radius 0",
            |v| v["config"]["subscriptionDetail"]["area"] = json!({"areaType": "CIRCLE", "center": {"latitude": 1.0, "longitude": 2.0}, "radius": 0}),
            "OUT_OF_RANGE",
            "config.subscriptionDetail.area.radius",
        ),
        (
            "radius huge",
            |v| v["config"]["subscriptionDetail"]["area"] = json!({"areaType": "CIRCLE", "center": {"latitude": 1.0, "longitude": 2.0}, "radius": 200001}),
            "OUT_OF_RANGE",
            "config.subscriptionDetail.area.radius",
        ),
        (
            "radius text",
            |v| v["config"]["subscriptionDetail"]["area"] = json!({"areaType": "CIRCLE", "center": {"latitude": 1.0, "longitude": 2.0}, "radius": "far"}),
            "INVALID_ARGUMENT",
            "config.subscriptionDetail.area.radius",
        ),
        (
            "latitude",
            |v| v["config"]["subscriptionDetail"]["area"] = json!({"areaType": "CIRCLE", "center": {"latitude": 91.0, "longitude": 2.0}, "radius": 10}),
            "OUT_OF_RANGE",
            "config.subscriptionDetail.area.center.latitude",
        ),
        (
            "expire past",
            |v| v["config"]["subscriptionExpireTime"] = json!("2001-01-01T00:00:00Z"),
            "OUT_OF_RANGE",
            "config.subscriptionExpireTime",
        ),
        (
            "expire text",
            |v| v["config"]["subscriptionExpireTime"] = json!("tomorrow"),
            "INVALID_ARGUMENT",
            "config.subscriptionExpireTime",
        ),
        (
            "max events 0",
            |v| v["config"]["subscriptionMaxEvents"] = json!(0),
            "OUT_OF_RANGE",
            "config.subscriptionMaxEvents",
        ),
        (
            "zone id",
            |v| {
                v["config"]["subscriptionDetail"]["area"] =
                    json!({"areaType": "ZONE", "zoneId": "no spaces"})
            },
            "INVALID_ARGUMENT",
            "config.subscriptionDetail.area.zoneId",
        ),
        (
            "level",
            |v| {
                v["config"]["subscriptionDetail"]["area"] =
                    json!({"areaType": "COUNTRY", "country": "FR"})
            },
            "INVALID_ARGUMENT",
            "config.subscriptionDetail.area.areaType",
        ),
        (
            "country",
            |v| v["config"]["subscriptionDetail"]["homeCountries"] = json!(["France"]),
            "INVALID_ARGUMENT",
            "config.subscriptionDetail.homeCountries[0]",
        ),
        (
            "direction",
            |v| v["config"]["subscriptionDetail"]["direction"] = json!("SIDEWAYS"),
            "INVALID_ARGUMENT",
            "config.subscriptionDetail.direction",
        ),
        (
            "credential",
            |v| v["sinkCredential"]["credentialType"] = json!("PLAIN"),
            "INVALID_CREDENTIAL",
            "sinkCredential.credentialType",
        ),
        (
            "purpose",
            |v| v["config"]["purpose"] = json!(8),
            "PERMISSION_DENIED",
            "config.purpose",
        ),
        (
            "two types",
            |v| {
                v["types"] = json!([
                    "org.landfall.moments.v0.arrival.zone",
                    "org.landfall.moments.v0.departure.zone"
                ])
            },
            "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED",
            "types",
        ),
    ];
    for (what, edit, expected, field) in cases {
        let mut v = zone_request();
        edit(&mut v);
        let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
        assert!(r.status.is_client_error(), "{what}: {}", r.text);
        assert_eq!(
            r.body["status"].as_u64(),
            Some(u64::from(r.status.as_u16())),
            "{what}"
        );
        assert_eq!(code(&r).0, *expected, "{what}: {}", r.text);
        assert!(
            code(&r).1.contains(field),
            "{what}: {} does not name {field}",
            r.text
        );
    }
    // Nothing was created.
    let l = h.call("GET", "/v1/subscriptions", Some(&key), None).await;
    assert_eq!(l.body, json!([]));
}

#[tokio::test]
async fn oversize_bodies_are_413() {
    let h = Harness::new();
    let (pid, key, _) = h.partner(true).await;
    let mut v = zone_request();
    v["padding"] = json!("x".repeat(70 * 1024));
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    assert_camara(&r, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    let r = h
        .json(
            "POST",
            "/v1/operator/partners",
            Some(OPERATOR_KEY),
            &json!({"name": "x".repeat(70 * 1024)}),
        )
        .await;
    assert_camara(&r, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // A bulk upload may be larger (here 5000 lines, ~150 KiB).
    let csv: String = (0..5000)
        .map(|i| format!("20801{i:010},{pid},7,true\n"))
        .collect();
    assert!(csv.len() > 100 * 1024);
    let r = h
        .call(
            "POST",
            "/v1/operator/consents/bulk",
            Some(OPERATOR_KEY),
            Some(csv.into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"records": 5000, "changed": 5000}));
    // But not unbounded.
    let huge = vec![b'1'; 17 * 1024 * 1024];
    let r = h
        .call(
            "POST",
            "/v1/operator/opt-outs/bulk",
            Some(OPERATOR_KEY),
            Some(huge),
        )
        .await;
    assert_camara(&r, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn consent_and_opt_outs_single_and_bulk() {
    let h = Harness::new();
    let (pid, _, _) = h.partner(true).await;
    h.changes.take();
    let path = format!("/v1/operator/consents/{pid}/7/{IMSI}");
    let r = h.op("PUT", &path, None).await;
    assert_eq!(r.body, json!({"records": 1, "changed": 1}));
    let r = h.op("PUT", &path, None).await;
    assert_eq!(
        r.body,
        json!({"records": 1, "changed": 0}),
        "granted already: no change"
    );
    let c = Consent {
        imsi: Imsi::parse(IMSI).unwrap(),
        partner: PartnerId(pid),
        purpose: Purpose(7),
    };
    assert!(h.registry.consent(c).unwrap());
    let r = h.op("DELETE", &path, None).await;
    assert_eq!(r.body, json!({"records": 1, "changed": 1}));
    assert!(!h.registry.consent(c).unwrap());
    assert_eq!(
        h.changes.take(),
        vec![
            RegistryChange::ConsentGranted(c),
            RegistryChange::ConsentWithdrawn(c)
        ]
    );
    let r = h
        .op("PUT", &format!("/v1/operator/consents/999/7/{IMSI}"), None)
        .await;
    assert_camara(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let r = h
        .op("PUT", &format!("/v1/operator/consents/{pid}/7/12ab"), None)
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");

    // A bad line rejects the whole upload, naming the line.
    let bad = format!(
        "imsi,partner,purpose,granted\n{IMSI},{pid},7,true\n\n20801999,{pid},7,maybe\n208010000000002,999,7,true\n208010000000003,{pid},7\n"
    );
    let r = h
        .call(
            "POST",
            "/v1/operator/consents/bulk",
            Some(OPERATOR_KEY),
            Some(bad.into_bytes()),
        )
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let msg = code(&r).1;
    assert!(msg.contains("3 bad lines"), "{msg}");
    assert!(msg.contains("line 4: granted"), "{msg}");
    assert!(msg.contains("line 5: partner 999"), "{msg}");
    assert!(msg.contains("line 6: 3 fields"), "{msg}");
    assert!(!msg.contains(IMSI), "no IMSI quoted back");
    assert!(!h.registry.consent(c).unwrap(), "nothing applied");
    assert!(h.changes.take().is_empty());
    let good = format!(
        "{IMSI},{pid},7,true\n208010000000002,{pid},7,yes\n208010000000003,{pid},7,false\n"
    );
    let r = h
        .call(
            "POST",
            "/v1/operator/consents/bulk",
            Some(OPERATOR_KEY),
            Some(good.into_bytes()),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"records": 3, "changed": 2}),
        "withdrawing what was never granted changes nothing"
    );
    assert_eq!(h.changes.take().len(), 2);

    // Opt-outs.
    let r = h
        .op("PUT", &format!("/v1/operator/opt-outs/{IMSI}"), None)
        .await;
    assert_eq!(r.body, json!({"records": 1, "changed": 1}));
    assert!(h.registry.opted_out(Imsi::parse(IMSI).unwrap()).unwrap());
    let r = h
        .op("DELETE", &format!("/v1/operator/opt-outs/{IMSI}"), None)
        .await;
    assert_eq!(r.body, json!({"records": 1, "changed": 1}));
    let bad = format!("{IMSI}\n208010000000002,sometimes\n");
    let r = h
        .call(
            "POST",
            "/v1/operator/opt-outs/bulk",
            Some(OPERATOR_KEY),
            Some(bad.into_bytes()),
        )
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert!(code(&r).1.contains("line 2: opted_out"), "{}", r.text);
    assert!(!h.registry.opted_out(Imsi::parse(IMSI).unwrap()).unwrap());
    let good = format!("imsi,opted_out\n{IMSI}\n208010000000002,true\n208010000000003,false\n");
    let r = h
        .call(
            "POST",
            "/v1/operator/opt-outs/bulk",
            Some(OPERATOR_KEY),
            Some(good.into_bytes()),
        )
        .await;
    assert_eq!(r.body, json!({"records": 3, "changed": 2}));
    let snap = h.registry.snapshot().unwrap();
    assert_eq!(snap.opt_outs.len(), 2);
    assert_eq!(snap.consents.len(), 2);
}

#[tokio::test]
async fn changes_are_sent_in_order_after_commit() {
    let h = Harness::new();
    let (pid, key, _) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &circle_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id: u64 = r.body["id"].as_str().unwrap().parse().unwrap();
    h.op(
        "PUT",
        &format!("/v1/operator/consents/{pid}/7/{IMSI}"),
        None,
    )
    .await;
    h.op("PUT", &format!("/v1/operator/opt-outs/{IMSI}"), None)
        .await;
    h.op("DELETE", &format!("/v1/operator/opt-outs/{IMSI}"), None)
        .await;
    let d = h
        .call(
            "DELETE",
            &format!("/v1/subscriptions/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    h.op("DELETE", &format!("/v1/operator/partners/{pid}"), None)
        .await;

    let seen = h.changes.take();
    let names: Vec<String> = seen
        .iter()
        .map(|c| match c {
            RegistryChange::PartnerUpserted(_) => "partner+".into(),
            RegistryChange::PartnerRemoved(_) => "partner-".into(),
            RegistryChange::SubscriptionAdded(_) => "sub+".into(),
            RegistryChange::SubscriptionRemoved { reason, .. } => {
                format!("sub-:{}", reason.as_str())
            }
            RegistryChange::ConsentGranted(_) => "consent+".into(),
            RegistryChange::ConsentWithdrawn(_) => "consent-".into(),
            RegistryChange::OptOutAdded(_) => "optout+".into(),
            RegistryChange::OptOutRemoved(_) => "optout-".into(),
            RegistryChange::CircleZoneAdded(_) => "circle+".into(),
            RegistryChange::CircleZoneRemoved(_) => "circle-".into(),
            RegistryChange::Lifecycle(l) => format!(
                "{}:{}",
                l.event_type(),
                l.termination_reason.map(|r| r.as_str()).unwrap_or("")
            ),
        })
        .collect();
    assert_eq!(
        names,
        [
            "partner+",
            "circle+",
            "sub+",
            "org.camaraproject.geofencing-subscriptions.v0.subscription-started:",
            "consent+",
            "optout+",
            "optout-",
            "sub-:SUBSCRIPTION_DELETED",
            "circle-",
            "org.camaraproject.geofencing-subscriptions.v0.subscription-ended:SUBSCRIPTION_DELETED",
            "consent-",
            "partner-",
        ]
    );
    let committed = h.changes.committed.lock().unwrap().clone();
    assert!(
        committed.iter().all(|ok| *ok),
        "every change visible in the database when sent: {committed:?}"
    );
    let RegistryChange::Lifecycle(l) = &seen[3] else {
        panic!()
    };
    assert_eq!(l.kind, LifecycleKind::Started);
    assert_eq!(l.data(), json!({"subscriptionId": id.to_string()}));
    let RegistryChange::Lifecycle(l) = &seen[9] else {
        panic!()
    };
    assert_eq!(
        l.data(),
        json!({"subscriptionId": id.to_string(), "terminationReason": "SUBSCRIPTION_DELETED"})
    );
    // The circle's zone is the one the subscription names.
    let (RegistryChange::CircleZoneAdded(z), RegistryChange::SubscriptionAdded(s)) =
        (&seen[1], &seen[2])
    else {
        panic!()
    };
    assert_eq!(
        s.person_subscription().unwrap().areas,
        vec![landfall_model::Area::Zone(z.id)]
    );
}

#[tokio::test]
async fn expiry_and_ending_send_their_reasons() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    let mut v = zone_request();
    let soon =
        landfall_partners::camara::rfc3339(landfall_partners::records::now_us() + 60_000_000);
    v["config"]["subscriptionExpireTime"] = json!(soon);
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    let expiring: u64 = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    let other: u64 = r.body["id"].as_str().unwrap().parse().unwrap();
    h.changes.take();
    assert_eq!(
        h.registry
            .expire_due(landfall_partners::records::now_us())
            .unwrap(),
        Vec::<u64>::new()
    );
    let later = landfall_partners::records::now_us() + 120_000_000;
    assert_eq!(h.registry.expire_due(later).unwrap(), vec![expiring]);
    let g = h
        .call(
            "GET",
            &format!("/v1/subscriptions/{expiring}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(g.body["status"], "EXPIRED");
    assert!(h
        .registry
        .end_subscription(other, TerminationReason::MaxEventsReached)
        .unwrap());
    assert!(!h
        .registry
        .end_subscription(other, TerminationReason::MaxEventsReached)
        .unwrap());
    let reasons: Vec<_> = h
        .changes
        .take()
        .into_iter()
        .filter_map(|c| match c {
            RegistryChange::SubscriptionRemoved {
                id,
                reason,
                subscription,
                ..
            } => {
                assert!(subscription.is_some());
                Some((id, reason))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (expiring, TerminationReason::SubscriptionExpired),
            (other, TerminationReason::MaxEventsReached)
        ]
    );
    assert!(h.registry.snapshot().unwrap().subscriptions.is_empty());
}

#[tokio::test]
async fn keys_are_stored_hashed_and_rotate() {
    let h = Harness::new();
    let (pid, key, secret) = h.partner(true).await;
    h.registry.snapshot().unwrap();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let mut p = h.db.as_os_str().to_owned();
        p.push(suffix);
        if Path::new(&p).exists() {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(bytes.len() > 4096);
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!has(key.as_bytes()), "the API key is in the database file");
    assert!(
        !has(&key.as_bytes()[12..]),
        "the key's secret part is in the database file"
    );
    assert!(
        has(secret.as_bytes()),
        "the webhook secret is stored (delivery signs with it)"
    );

    // Rotation with no grace: the old key stops at once.
    let r = h
        .op("POST", &format!("/v1/operator/partners/{pid}/keys"), None)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let new = r.body["apiKey"].as_str().unwrap().to_string();
    assert_ne!(new, key);
    assert_eq!(
        h.call("GET", "/v1/subscriptions", Some(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.call("GET", "/v1/subscriptions", Some(&new), None)
            .await
            .status,
        StatusCode::OK
    );
    // With a grace period both work.
    let r = h
        .op(
            "POST",
            &format!("/v1/operator/partners/{pid}/keys"),
            Some(&json!({"graceSeconds": 600})),
        )
        .await;
    let newer = r.body["apiKey"].as_str().unwrap().to_string();
    assert_eq!(
        h.call("GET", "/v1/subscriptions", Some(&new), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.call("GET", "/v1/subscriptions", Some(&newer), None)
            .await
            .status,
        StatusCode::OK
    );
    // The webhook secret too.
    let r = h
        .op(
            "POST",
            &format!("/v1/operator/partners/{pid}/webhook-secret"),
            None,
        )
        .await;
    let s2 = r.body["webhookSecret"].as_str().unwrap();
    assert!(s2.starts_with("whsec_") && s2 != secret);
    // Listing shows no secret.
    let r = h.op("GET", "/v1/operator/partners", None).await;
    assert_eq!(r.body[0]["id"], pid);
    assert!(!r.text.contains("whsec_") && !r.text.contains("lf_"));
}

#[tokio::test]
async fn no_imsi_or_msisdn_in_partner_bodies() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &circle_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body["config"]["subscriptionDetail"]
        .get("device")
        .is_none());
    let mut v = circle_request();
    v["config"]["subscriptionDetail"]["device"] =
        json!({"networkAccessIdentifier": format!("imsi-{IMSI}@operator.example")});
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    h.call("GET", "/v1/subscriptions", Some(&key), None).await;
    h.call("GET", &format!("/v1/subscriptions/{id}"), Some(&key), None)
        .await;
    // Refusals of device identifiers do not quote them either.
    let mut v = circle_request();
    v["config"]["subscriptionDetail"]["device"] = json!({"phoneNumber": MSISDN});
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let mut v = circle_request();
    v["config"]["subscriptionDetail"]["device"] =
        json!({"networkAccessIdentifier": format!("{IMSI}x@operator.example")});
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &v).await;
    assert_camara(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNSUPPORTED_IDENTIFIER",
    );
    let bodies = h.partner_bodies.lock().unwrap();
    assert!(bodies.len() >= 6);
    for b in bodies.iter() {
        assert!(!b.contains(IMSI) && !b.contains(MSISDN), "{b}");
    }
}

#[tokio::test]
async fn aggregates_only_partners() {
    let h = Harness::new();
    let (pid, key, _) = h.partner(false).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    assert_camara(&r, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let agg = json!({
        "protocol": "HTTP",
        "sink": "http://127.0.0.1:9/agg",
        "types": ["org.landfall.aggregates.v0.arrivals"],
        "config": {
            "subscriptionDetail": {"area": {"areaType": "ZONE", "zoneId": "cdg-t2"}},
            "aggregationIntervalSeconds": 900
        }
    });
    let r = h.json("POST", "/v1/subscriptions", Some(&key), &agg).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id: u64 = r.body["id"].as_str().unwrap().parse().unwrap();
    let s = h
        .registry
        .subscription(PartnerId(pid), id)
        .unwrap()
        .unwrap()
        .stored;
    assert!(
        s.person_subscription().is_none(),
        "never into the per-person stage"
    );
    assert!(matches!(
        s.target,
        Target::Aggregate {
            interval_us: 900_000_000,
            ..
        }
    ));
    let mut no_area = agg.clone();
    no_area["config"]["subscriptionDetail"] = json!({});
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &no_area)
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    // Granting per-person consent and taking it back ends per-person subscriptions.
    h.op(
        "PATCH",
        &format!("/v1/operator/partners/{pid}"),
        Some(&json!({"perPersonConsent": true})),
    )
    .await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let person = r.body["id"].as_str().unwrap().to_string();
    let r = h
        .op(
            "PATCH",
            &format!("/v1/operator/partners/{pid}"),
            Some(&json!({"perPersonConsent": false})),
        )
        .await;
    assert_eq!(r.body["perPersonConsent"], false);
    let g = h
        .call(
            "GET",
            &format!("/v1/subscriptions/{person}"),
            Some(&key),
            None,
        )
        .await;
    assert_camara(&g, StatusCode::NOT_FOUND, "NOT_FOUND");
    let g = h
        .call("GET", &format!("/v1/subscriptions/{id}"), Some(&key), None)
        .await;
    assert_eq!(g.body["status"], "ACTIVE", "the aggregate one stays");
}

#[tokio::test]
async fn delivery_admin_is_called_for_the_partner() {
    let h = Harness::new();
    let (pid, _, _) = h.partner(true).await;
    let r = h
        .op(
            "GET",
            &format!("/v1/operator/partners/{pid}/delivery"),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"partner": pid, "pending": 3}));
    let r = h
        .op(
            "GET",
            &format!("/v1/operator/partners/{pid}/dead-letters?limit=5"),
            None,
        )
        .await;
    assert_eq!(r.body["limit"], 5);
    let r = h
        .op(
            "GET",
            &format!("/v1/operator/partners/{pid}/dead-letters?limit=0"),
            None,
        )
        .await;
    assert_camara(&r, StatusCode::BAD_REQUEST, "OUT_OF_RANGE");
    let r = h
        .op(
            "POST",
            &format!("/v1/operator/partners/{pid}/dead-letters/redeliver"),
            Some(&json!({"ids": ["e1", "e2"]})),
        )
        .await;
    assert_eq!(r.body, json!({"requeued": 2}));
    assert_eq!(
        *h.delivery.redelivered.lock().unwrap(),
        vec![(PartnerId(pid), vec!["e1".to_string(), "e2".to_string()])]
    );
    let r = h
        .op("GET", "/v1/operator/partners/999/delivery", None)
        .await;
    assert_camara(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_camara_errors() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    let r = h.call("GET", "/v1/nothing", Some(&key), None).await;
    assert_camara(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
    let r = h.call("PUT", "/v1/subscriptions", Some(&key), None).await;
    assert_camara(&r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn openapi_document_lists_the_paths() {
    let h = Harness::new();
    let r = h.call("GET", "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/subscriptions",
        "/v1/subscriptions/{id}",
        "/v1/operator/partners",
        "/v1/operator/partners/{id}/keys",
        "/v1/operator/consents/bulk",
        "/v1/operator/opt-outs/{imsi}",
        "/v1/operator/partners/{id}/dead-letters/redeliver",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(paths["/v1/subscriptions"]["post"].is_object());
    assert!(paths["/v1/subscriptions/{id}"]["delete"].is_object());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "SubscriptionRequest",
        "SubscriptionResponse",
        "ErrorInfo",
        "AreaSpec",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn a_partner_over_its_quota_gets_429() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = h
            .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    assert_camara(&r, StatusCode::TOO_MANY_REQUESTS, "QUOTA_EXCEEDED");
    // Another partner has its own quota; a deleted subscription frees a slot.
    let (_, other, _) = h.partner(true).await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&other), &zone_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    h.call(
        "DELETE",
        &format!("/v1/subscriptions/{}", ids[0]),
        Some(&key),
        None,
    )
    .await;
    let r = h
        .json("POST", "/v1/subscriptions", Some(&key), &zone_request())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// The service nests its own `/v1/operator` routes; merging these routes into it works.
#[tokio::test]
async fn routes_merge_with_a_nested_operator_router() {
    let h = Harness::new();
    let (_, key, _) = h.partner(true).await;
    let state = landfall_partners::ApiState::new(
        h.registry.clone(),
        std::sync::Arc::new(landfall_partners::HttpsOnly::default()),
        std::sync::Arc::new(landfall_partners::NoDelivery),
        Some(OPERATOR_KEY),
    );
    let service = axum::Router::new()
        .nest(
            "/v1/operator",
            axum::Router::new().route("/areas", axum::routing::get(|| async { "areas" })),
        )
        .merge(landfall_partners::routes(state));
    let get = |uri: &str, k: &str| {
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {k}"))
            .body(Body::empty())
            .unwrap()
    };
    let r = service
        .clone()
        .oneshot(get("/v1/operator/areas", OPERATOR_KEY))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = service
        .clone()
        .oneshot(get("/v1/operator/partners", OPERATOR_KEY))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = service
        .clone()
        .oneshot(get("/v1/subscriptions", &key))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // NoDelivery: 503 UNAVAILABLE.
    let r = service
        .oneshot(get("/v1/operator/partners/1/delivery", OPERATOR_KEY))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

//! The test harness: the router over a real SQLite file in a temporary folder, a change
//! recorder that checks each change is committed when it arrives, a delivery double.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use landfall_model::PartnerId;
use landfall_partners::api::ApiState;
use landfall_partners::changes::{ChangeSink, RegistryChange};
use landfall_partners::{router, DeliveryAdmin, HttpsOnly, Registry};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const OPERATOR_KEY: &str = "operator-secret-key";
pub const IMSI: &str = "208011234567890";
pub const MSISDN: &str = "33612345678";

/// Records every change, and checks, as it arrives, that what it says is already
/// committed: visible to another connection to the database file.
pub struct Recorder {
    db: PathBuf,
    pub seen: Mutex<Vec<RegistryChange>>,
    pub committed: Mutex<Vec<bool>>,
}

impl Recorder {
    fn visible(&self, change: &RegistryChange) -> bool {
        let conn = rusqlite::Connection::open(&self.db).expect("second connection");
        let one = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> bool {
            conn.query_row(sql, p, |_| Ok(())).is_ok()
        };
        match change {
            RegistryChange::SubscriptionAdded(s) => one(
                "SELECT 1 FROM subscription WHERE id = ?1 AND state = 'ACTIVE'",
                &[&(s.id as i64)],
            ),
            RegistryChange::SubscriptionRemoved { id, .. } => one(
                "SELECT 1 FROM subscription WHERE id = ?1 AND state != 'ACTIVE'",
                &[&(*id as i64)],
            ),
            RegistryChange::ConsentGranted(c) | RegistryChange::ConsentWithdrawn(c) => {
                let granted = one(
                    "SELECT 1 FROM consent WHERE imsi = ?1 AND partner = ?2 AND purpose = ?3 AND granted = 1",
                    &[&c.imsi.as_str(), &c.partner.0, &c.purpose.0],
                );
                granted == matches!(change, RegistryChange::ConsentGranted(_))
            }
            RegistryChange::OptOutAdded(i) | RegistryChange::OptOutRemoved(i) => {
                let out = matches!(change, RegistryChange::OptOutAdded(_));
                one(
                    "SELECT 1 FROM optout WHERE imsi = ?1 AND opted_out = ?2",
                    &[&i.as_str(), &out],
                )
            }
            RegistryChange::PartnerUpserted(p) => {
                one("SELECT 1 FROM partner WHERE id = ?1", &[&p.id.0])
            }
            RegistryChange::PartnerRemoved(p) => {
                !one("SELECT 1 FROM partner WHERE id = ?1", &[&p.0])
            }
            _ => true,
        }
    }

    pub fn take(&self) -> Vec<RegistryChange> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl ChangeSink for Recorder {
    fn send(&self, change: RegistryChange) {
        let ok = self.visible(&change);
        self.committed.lock().unwrap().push(ok);
        self.seen.lock().unwrap().push(change);
    }
}

/// The delivery double: answers with the partner it was asked about.
#[derive(Default)]
pub struct FakeDelivery {
    pub redelivered: Mutex<Vec<(PartnerId, Vec<String>)>>,
}

impl DeliveryAdmin for FakeDelivery {
    fn status(&self, partner: PartnerId) -> Result<Value, String> {
        Ok(json!({ "partner": partner.0, "pending": 3 }))
    }
    fn dead_letters(&self, partner: PartnerId, limit: usize) -> Result<Value, String> {
        Ok(json!({ "partner": partner.0, "limit": limit, "deadLetters": [] }))
    }
    fn redeliver(&self, partner: PartnerId, ids: &[String]) -> Result<usize, String> {
        self.redelivered
            .lock()
            .unwrap()
            .push((partner, ids.to_vec()));
        Ok(ids.len())
    }
}

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub registry: Arc<Registry>,
    pub changes: Arc<Recorder>,
    pub delivery: Arc<FakeDelivery>,
    pub app: Router,
    /// Every partner-facing response body.
    pub partner_bodies: Mutex<Vec<String>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("landfall.db");
        Harness::at(dir, db)
    }

    pub fn at(dir: tempfile::TempDir, db: PathBuf) -> Harness {
        let changes = Arc::new(Recorder {
            db: db.clone(),
            seen: Mutex::new(Vec::new()),
            committed: Mutex::new(Vec::new()),
        });
        let registry = Arc::new(Registry::open(&db, changes.clone()).unwrap());
        let delivery = Arc::new(FakeDelivery::default());
        let state = ApiState::new(
            registry.clone(),
            Arc::new(HttpsOnly {
                allow_http_loopback: true,
            }),
            delivery.clone(),
            Some(OPERATOR_KEY),
        )
        .with_max_active_subscriptions(3);
        Harness {
            _dir: dir,
            db,
            registry,
            changes,
            delivery,
            app: router(state),
            partner_bodies: Mutex::new(Vec::new()),
        }
    }

    /// Drop the registry and open the same file again.
    pub fn reopen(self) -> Harness {
        let Harness { _dir, db, .. } = self;
        Harness::at(_dir, db)
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        let req = b.body(Body::from(body.unwrap_or_default())).unwrap();
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !uri.starts_with("/v1/operator") {
            self.partner_bodies.lock().unwrap().push(text.clone());
        }
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            location,
            body,
            text,
        }
    }

    pub async fn json(&self, method: &str, uri: &str, key: Option<&str>, body: &Value) -> Reply {
        self.call(method, uri, key, Some(serde_json::to_vec(body).unwrap()))
            .await
    }

    pub async fn op(&self, method: &str, uri: &str, body: Option<&Value>) -> Reply {
        self.call(
            method,
            uri,
            Some(OPERATOR_KEY),
            body.map(|b| serde_json::to_vec(b).unwrap()),
        )
        .await
    }

    /// A partner through the operator API: (id, API key, webhook secret).
    pub async fn partner(&self, per_person: bool) -> (u32, String, String) {
        let r = self
            .op(
                "POST",
                "/v1/operator/partners",
                Some(&json!({"name": "Acme Travel", "purposes": [7], "perPersonConsent": per_person})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.body["partner"]["id"].as_u64().unwrap() as u32;
        assert_eq!(
            r.location.as_deref(),
            Some(format!("/v1/operator/partners/{id}").as_str())
        );
        (
            id,
            r.body["apiKey"].as_str().unwrap().to_string(),
            r.body["webhookSecret"].as_str().unwrap().to_string(),
        )
    }
}

pub fn zone_request() -> Value {
    json!({
        "protocol": "HTTP",
        "sink": "https://partner.example.com/events",
        "sinkCredential": {
            "credentialType": "ACCESSTOKEN",
            "accessToken": "sink-token-abc",
            "accessTokenExpiresUtc": "2099-01-01T00:00:00Z",
            "accessTokenType": "bearer"
        },
        "types": ["org.landfall.moments.v0.arrival.zone"],
        "config": {
            "subscriptionDetail": {
                "area": {"areaType": "ZONE", "zoneId": "cdg-t2"},
                "homeCountries": ["DE", "US"],
                "direction": "INBOUND"
            },
            "subscriptionExpireTime": "2099-01-01T00:00:00Z",
            "subscriptionMaxEvents": 100,
            "frequencyCapSeconds": 3600
        }
    })
}

pub fn circle_request() -> Value {
    json!({
        "protocol": "HTTP",
        "sink": "https://partner.example.com/geo",
        "types": ["org.camaraproject.geofencing-subscriptions.v0.area-entered"],
        "config": {
            "subscriptionDetail": {
                "device": {"phoneNumber": format!("+{MSISDN}")},
                "area": {"areaType": "CIRCLE", "center": {"latitude": 49.0097, "longitude": 2.5479}, "radius": 2000}
            },
            "initialEvent": true
        }
    })
}

pub fn code(r: &Reply) -> (&str, &str) {
    (
        r.body["code"].as_str().unwrap_or("<no code>"),
        r.body["message"].as_str().unwrap_or("<no message>"),
    )
}

pub fn assert_camara(r: &Reply, status: StatusCode, expected_code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.body["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{}",
        r.text
    );
    assert_eq!(code(r).0, expected_code, "{}", r.text);
    assert!(!code(r).1.is_empty());
}

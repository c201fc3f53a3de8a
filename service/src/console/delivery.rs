//! The console's Partners page (`GET /v1/operator/delivery`): per partner and
//! subscription, what the outbox holds (delivered, queued, retrying, dropped as expired,
//! dead letters, delivery latency, the oldest pending event) and the circuit breaker of
//! the subscription's sink. A subscription is `failing` while its sink's circuit is not
//! closed, or events wait for another attempt, or the last attempts failed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use landfall_delivery::dispatch::{CircuitState, Circuits};
use landfall_delivery::outbox::{sink_key, Outbox, SubscriptionDelivery};
use landfall_model::json::rfc3339_us;
use landfall_partners::Registry;
use serde_json::{json, Value};

/// Where the delivery status is read from.
pub struct DeliverySource {
    pub registry: Arc<Registry>,
    pub outbox: Arc<Outbox>,
    pub circuits: Arc<Circuits>,
}

fn circuit_json(c: Option<&CircuitState>) -> Value {
    match c {
        None => json!({ "state": "idle" }),
        Some(s @ CircuitState::Closed { failures }) => {
            json!({ "state": s.as_str(), "failures": failures })
        }
        Some(s @ CircuitState::Open { remaining }) => {
            json!({ "state": s.as_str(), "reopens_in_seconds": remaining.as_secs_f64() })
        }
        Some(s @ CircuitState::HalfOpen) => json!({ "state": s.as_str() }),
    }
}

impl DeliverySource {
    /// The whole status (blocking: SQLite).
    pub fn status(&self) -> Result<Value, String> {
        let now = landfall_delivery::now_us();
        let rows = self
            .outbox
            .subscription_delivery(now)
            .map_err(|e| e.to_string())?;
        let circuits = self.circuits.states();
        let mut by_sub: HashMap<u64, SubscriptionDelivery> =
            rows.into_iter().map(|r| (r.subscription, r)).collect();
        let partners = self.registry.partners().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for p in partners {
            let subs = self
                .registry
                .subscriptions(p.id)
                .map_err(|e| e.to_string())?;
            let mut list: BTreeMap<u64, Value> = BTreeMap::new();
            for s in subs {
                let st = &s.stored;
                let d = by_sub.remove(&st.id).unwrap_or_default();
                let circuit = circuits.get(&sink_key(&st.sink));
                list.insert(st.id, subscription_json(&d, Some(st.as_ref()), circuit));
            }
            // Rows of subscriptions the registry no longer lists (deleted, ended).
            let gone: Vec<u64> = by_sub
                .values()
                .filter(|d| d.partner == p.id.0)
                .map(|d| d.subscription)
                .collect();
            for id in gone {
                if let Some(d) = by_sub.remove(&id) {
                    let circuit = d.sink_key.as_ref().and_then(|k| circuits.get(k));
                    list.insert(id, subscription_json(&d, None, circuit));
                }
            }
            let subs: Vec<Value> = list.into_values().collect();
            let failing = subs.iter().any(|s| s["failing"] == true);
            out.push(json!({
                "id": p.id.0,
                "name": p.name,
                "failing": failing,
                "subscriptions": subs,
            }));
        }
        Ok(json!({ "as_of": rfc3339_us(now), "enabled": true, "partners": out }))
    }
}

fn subscription_json(
    d: &SubscriptionDelivery,
    stored: Option<&landfall_partners::StoredSubscription>,
    circuit: Option<&CircuitState>,
) -> Value {
    let circuit_bad = matches!(
        circuit,
        Some(CircuitState::Open { .. } | CircuitState::HalfOpen)
            | Some(CircuitState::Closed { failures: 1.. })
    );
    let failing = circuit_bad || d.retrying > 0;
    json!({
        "id": d.subscription.max(stored.map_or(0, |s| s.id)).to_string(),
        "type": stored.map(|s| s.event_type.clone()),
        "sink": stored.map(|s| s.sink.clone()).or_else(|| d.sink_key.clone()),
        "state": stored.map_or("ended", |s| s.state.as_str()),
        "delivered": d.delivered,
        "queued": d.queued,
        "retrying": d.retrying,
        "expired": d.expired,
        "dead_letters": d.dead,
        "latency_mean_ms": d.latency_mean_us.map(|u| (u / 100.0).round() / 10.0),
        "latency_max_ms": d.latency_max_us.map(|u| u as f64 / 1e3),
        "oldest_pending_age_seconds": d.oldest_pending_age_us as f64 / 1e6,
        "last_failure": d.last_failure.as_ref().map(|(status, error)| json!({ "status": status, "error": error })),
        "circuit": circuit_json(circuit),
        "failing": failing,
    })
}

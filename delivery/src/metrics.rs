//! The Prometheus families of delivery, registered into the service's registry:
//! deliveries by outcome, delivery latency (moment detected → 2xx), the outbox's depth
//! and oldest pending age per partner (refreshed from the outbox), events dropped as
//! expired.

use std::sync::atomic::AtomicU64;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::outbox::{Outbox, OutboxError};

/// How an attempt ended (label values in snake case).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Failed, to be retried.
    Retry,
    /// Given up: a dead letter.
    Dead,
    /// 410 Gone: the subscription ends.
    Gone,
    /// Past `expires_at` right before sending.
    Expired,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Gone => "gone",
            Outcome::Expired => "expired",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, enc: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        enc.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabels {
    pub partner: u32,
}

/// The delivery families (prefix `delivery_`; the service's registry adds `landfall_`).
#[derive(Clone, Debug)]
pub struct DeliveryMetrics {
    pub attempts: Family<OutcomeLabels, Counter>,
    pub latency_seconds: Histogram,
    pub outbox_depth: Family<PartnerLabels, Gauge>,
    pub oldest_pending_seconds: Family<PartnerLabels, Gauge<f64, AtomicU64>>,
    pub dead_letters: Family<PartnerLabels, Gauge>,
    pub expired: Counter,
    /// Times a sink's circuit opened.
    pub circuit_opens: Counter,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        DeliveryMetrics {
            attempts: Family::default(),
            // 5 ms … ~82 s.
            latency_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 15),
            ),
            outbox_depth: Family::default(),
            oldest_pending_seconds: Family::default(),
            dead_letters: Family::default(),
            expired: Counter::default(),
            circuit_opens: Counter::default(),
        }
    }
}

impl DeliveryMetrics {
    /// New families, registered into `registry`.
    pub fn register(registry: &mut Registry) -> DeliveryMetrics {
        let m = DeliveryMetrics::default();
        registry.register(
            "delivery_attempts",
            "Webhook delivery attempts by outcome",
            m.attempts.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Moment detected to its webhook's 2xx",
            m.latency_seconds.clone(),
        );
        registry.register(
            "delivery_outbox_depth",
            "Events waiting for delivery, per partner",
            m.outbox_depth.clone(),
        );
        registry.register(
            "delivery_oldest_pending_seconds",
            "Age of the oldest event waiting for delivery, per partner",
            m.oldest_pending_seconds.clone(),
        );
        registry.register(
            "delivery_dead_letters",
            "Dead letters kept, per partner",
            m.dead_letters.clone(),
        );
        registry.register(
            "delivery_expired",
            "Events dropped because they expired before delivery",
            m.expired.clone(),
        );
        registry.register(
            "delivery_circuit_opens",
            "Times a sink's circuit breaker opened",
            m.circuit_opens.clone(),
        );
        m
    }

    pub fn outcome(&self, o: Outcome) {
        self.attempts
            .get_or_create(&OutcomeLabels { outcome: o })
            .inc();
    }

    /// Refresh the per-partner gauges from the outbox (partners with nothing pending
    /// any more go to 0).
    pub fn refresh(&self, outbox: &Outbox, now_us: i64) -> Result<(), OutboxError> {
        let status = outbox.status(now_us)?;
        self.outbox_depth.clear();
        self.oldest_pending_seconds.clear();
        self.dead_letters.clear();
        for s in status {
            let l = PartnerLabels { partner: s.partner };
            self.outbox_depth
                .get_or_create(&l)
                .set(s.pending.min(i64::MAX as u64) as i64);
            self.oldest_pending_seconds
                .get_or_create(&l)
                .set(s.oldest_pending_age_us as f64 / 1e6);
            self.dead_letters
                .get_or_create(&l)
                .set(s.dead.min(i64::MAX as u64) as i64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::OutboxEvent;

    #[test]
    fn registered_and_refreshed() {
        let mut reg = Registry::with_prefix("landfall");
        let m = DeliveryMetrics::register(&mut reg);
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("landfall.db"), 0).unwrap();
        ob.insert_batch(&[OutboxEvent {
            event_id: "e".into(),
            partner: 3,
            subscription: 1,
            sink_url: Some("https://p.example/".into()),
            sink_bearer: None,
            event_type: "t".into(),
            body: b"{}".to_vec(),
            created_at_us: 1_000_000,
            expires_at_us: None,
        }])
        .unwrap();
        m.refresh(&ob, 3_000_000).unwrap();
        m.outcome(Outcome::Delivered);
        m.expired.inc();
        m.latency_seconds.observe(0.02);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        assert!(
            text.contains("landfall_delivery_outbox_depth{partner=\"3\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("landfall_delivery_oldest_pending_seconds{partner=\"3\"} 2.0"),
            "{text}"
        );
        assert!(
            text.contains("landfall_delivery_attempts_total{outcome=\"delivered\"} 1"),
            "{text}"
        );
        assert!(text.contains("landfall_delivery_expired_total 1"), "{text}");
    }
}

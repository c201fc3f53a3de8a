//! landfall's partner delivery: what a partner receives, and how it gets there.
//!
//! - [`event`]: a [`Match`](landfall_model::partner::Match) or a subscription's lifecycle
//!   change rendered as a CloudEvents 1.0 JSON body for one partner (pseudonym, keyed
//!   event id, CAMARA and landfall event types).
//! - [`sign`]: Standard Webhooks headers and `whsec_` secrets.
//! - [`outbox`]: the durable SQLite outbox (idempotent batched inserts, cancellation,
//!   leases, retries, dead letters, expiry, pruning, operator status).
//! - [`dispatch`]: the webhook dispatcher on tokio/reqwest (a task, a concurrency
//!   limit and a circuit breaker per sink; backoff with jitter, `Retry-After`,
//!   `410 Gone`, expiry checked right before sending, graceful shutdown).
//! - [`guard`]: SSRF protection of sink URLs, at subscription time and at connect time.
//! - [`aggregate`]: arrivals counted per area × home country × interval for partners
//!   without per-person consent (distinct subscribers, kept in the outbox's database
//!   until the interval closes, small counts suppressed, each interval sent once).
//! - [`sse`]: the pull alternative, a partner's Server-Sent Events feed resumable with
//!   `Last-Event-ID`.
//! - [`metrics`]: the Prometheus families of delivery.
//!
//! Nothing here logs an IMSI, an MSISDN or an event body.

pub mod aggregate;
pub mod dispatch;
pub mod event;
pub mod guard;
pub mod metrics;
pub mod outbox;
pub mod sign;
pub mod sse;

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

//! The operator console (issue 14): a small web application served by `serve` itself,
//! and the operator JSON endpoints and live feed it reads.
//!
//! | route | answer |
//! |---|---|
//! | `GET /console/` (and its `console.js`, `console.css`) | the pages (Now, Flow, Health, Partners), bundled from `console/` by `build.rs` and embedded in the binary: nothing is fetched from elsewhere at run time |
//! | `GET /v1/operator/live` | Server-Sent Events: at most every [`live::TICK`] while the view changes, an `update` with the view's counts per area at every level, its clock, the arrivals since the last update (at most [`live::ARRIVALS_PER_UPDATE`]) and the flow's last minutes |
//! | `GET /v1/operator/flow?minutes=N` | arrivals per minute by level over the last `N` (default 180, at most [`flow::WINDOW_MINUTES`]) minutes of event time, the top home countries and networks arriving |
//! | `GET /v1/operator/health` | the sources (frames, frames/s, watermark lag, drops), decode errors by reason with example frames, late signals, tracked subscribers, memory |
//! | `GET /v1/operator/zones` | the configured zones' geometry (circles, polygons, and cell-set zones as the convex hull of their catalog cells), and the partners' circle zones (`"partner": true`) |
//! | `GET /v1/operator/delivery` | per partner and subscription: delivered, queued, retrying, expired, dead letters, latency, oldest pending, the sink's circuit |
//!
//! The pages themselves carry no data: every number comes from these endpoints (and the
//! `/v1/operator/areas…` ones) behind the operator key, which the page asks for once and
//! keeps in the tab's session storage. The live feed is rendered once per tick for every
//! listener, so a thousand moments a second cost the browser four small messages.

pub mod assets;
pub mod delivery;
pub mod flow;
pub mod health;
pub mod live;
pub mod zones;

use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::AppState;

/// Reads the partners' circle zones.
pub type PartnerZones = Arc<dyn Fn() -> Vec<landfall_dataflows::zones::Zone> + Send + Sync>;

/// What the console's endpoints read, filled by the server's threads.
pub struct Console {
    /// The live feed's rendered updates.
    pub live: live::Live,
    /// Arrivals per minute.
    pub flow: Mutex<flow::Flow>,
    /// The latest health snapshot (the server's refresher writes it every second).
    pub health: Mutex<Value>,
    /// The configured zones' geometry (set once at start).
    pub zones: OnceLock<Value>,
    /// The partners' circle zones now (with `[partners]`).
    pub partner_zones: OnceLock<PartnerZones>,
    /// Delivery per subscription (with `[partners]`).
    pub delivery: OnceLock<Arc<dyn Fn() -> Result<Value, String> + Send + Sync>>,
}

impl Default for Console {
    fn default() -> Console {
        Console {
            live: live::Live::new(),
            flow: Mutex::new(flow::Flow::default()),
            health: Mutex::new(json!({ "sources": [] })),
            zones: OnceLock::new(),
            partner_zones: OnceLock::new(),
            delivery: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Console")
    }
}

/// The console's operator routes (nested under `/v1/operator`, behind its key).
pub fn operator_routes() -> Router<AppState> {
    Router::new()
        .route("/live", get(live::sse))
        .route("/flow", get(flow_json))
        .route("/health", get(health_json))
        .route("/zones", get(zones_json))
        .route("/delivery", get(delivery_json))
}

/// The pages (no key: they hold no data).
pub fn page_routes() -> Router<AppState> {
    assets::routes()
}

#[derive(Deserialize)]
struct FlowQuery {
    minutes: Option<u32>,
}

async fn flow_json(State(s): State<AppState>, Query(q): Query<FlowQuery>) -> Response {
    let minutes = q
        .minutes
        .unwrap_or(flow::DEFAULT_MINUTES)
        .clamp(1, flow::WINDOW_MINUTES);
    let flow = s.console.flow.lock().unwrap_or_else(|e| e.into_inner());
    Json(flow.json(minutes)).into_response()
}

async fn health_json(State(s): State<AppState>) -> Response {
    let mut h = s
        .console
        .health
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let present = s.view.lock().unwrap_or_else(|e| e.into_inner()).len();
    h["present_arrivals"] = json!(present);
    Json(h).into_response()
}

async fn zones_json(State(s): State<AppState>) -> Response {
    let mut all = s
        .console
        .zones
        .get()
        .cloned()
        .unwrap_or_else(|| json!({ "zones": [] }));
    if let Some(circles) = s.console.partner_zones.get() {
        let mut partner = zones::geometry(&circles(), &[]);
        if let (Some(list), Some(more)) =
            (all["zones"].as_array_mut(), partner["zones"].as_array_mut())
        {
            for z in more.iter_mut() {
                z["partner"] = json!(true);
            }
            list.append(more);
        }
    }
    Json(all).into_response()
}

async fn delivery_json(State(s): State<AppState>) -> Response {
    let Some(f) = s.console.delivery.get().cloned() else {
        return Json(json!({ "partners": [], "enabled": false })).into_response();
    };
    let answer = match tokio::task::spawn_blocking(move || f()).await {
        Ok(r) => r,
        Err(e) => Err(e.to_string()),
    };
    match answer {
        Ok(v) => Json(v).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("delivery status: {e}") })),
        )
            .into_response(),
    }
}

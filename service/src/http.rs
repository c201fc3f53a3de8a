//! The operator HTTP endpoints (axum on tokio):
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | the [`Metrics`] in OpenMetrics text (Prometheus scrapes it) |
//! | `GET /healthz` | 200 while the process serves requests |
//! | `GET /readyz` | 503 until [`Ready::set`] (state restored, sources open), then 200 |
//! | `GET /v1/operator/areas?level=country` | present arrivals per area at a level (`country` when not given), most first |
//! | `GET /v1/operator/areas/{level}/{area}/arrivals?limit=N` | the `N` (default 100, at most 10 000) latest present arrivals of one area (`FR`, `208-01`, a zone id) and their total, with IMSIs, home network and country |
//! | `/console/`, `/v1/operator/{live,flow,health,zones,delivery}` | the operator console and its data ([`crate::console`]) |
//!
//! The `/v1/operator/` routes need `Authorization: Bearer <http.operator_key>`: 401
//! without it or with another key (compared in constant time: the SHA-256 digests of the
//! two keys with `subtle`), 404 when no key is configured. Their answers are JSON; times
//! are RFC 3339 with microseconds, as in moments; `as_of` is the view's event-time clock.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use landfall_model::json::{area_text, rfc3339_us};
use landfall_model::{Area, Country, Level, Plmn, ZoneId};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::console::{self, Console};
use crate::metrics::Metrics;
use crate::view::View;

/// The default and the largest `limit` of the arrivals endpoint.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// The readiness flag `/readyz` reports: set once state is restored and sources are open.
#[derive(Clone, Debug, Default)]
pub struct Ready(Arc<AtomicBool>);

impl Ready {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Not ready again (e.g. while draining at shutdown).
    pub fn clear(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the endpoints read, shared with the wiring that updates it.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub view: Arc<Mutex<View>>,
    pub ready: Ready,
    /// The operator console's data (live feed, flow, health, zones, delivery).
    pub console: Arc<Console>,
    /// SHA-256 of the operator key; none: operator routes are off.
    key_digest: Option<[u8; 32]>,
}

impl AppState {
    /// `operator_key` is `HttpSettings::operator_key`.
    pub fn new(
        metrics: Arc<Metrics>,
        view: Arc<Mutex<View>>,
        ready: Ready,
        operator_key: Option<&str>,
    ) -> AppState {
        AppState {
            metrics,
            view,
            ready,
            console: Arc::default(),
            key_digest: operator_key.map(|k| Sha256::digest(k.as_bytes()).into()),
        }
    }
}

impl AppState {
    /// The console's data shared with the server's threads.
    pub fn with_console(mut self, console: Arc<Console>) -> AppState {
        self.console = console;
        self
    }
}

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    let operator = Router::new()
        .route("/areas", get(areas))
        .route("/areas/{level}/{area}/arrivals", get(arrivals))
        .merge(console::operator_routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), operator_auth));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .nest("/v1/operator", operator)
        .merge(console::page_routes())
        .with_state(state)
}

/// Serve `state` (and the `extra` routes: the partners') on `listener` until `shutdown` completes (then finish the requests in
/// flight and return).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    extra: Option<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = match extra {
        Some(extra) => router(state).merge(extra),
        None => router(state),
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Why `http.listen` could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("http.listen {addr}: {why}")]
pub struct BindError {
    pub addr: SocketAddr,
    why: String,
    #[source]
    pub source: io::Error,
}

/// Bind `http.listen`; an address in use or not allowed is an error naming the key.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|e| {
        let why = match e.kind() {
            io::ErrorKind::AddrInUse => {
                "the address is already in use (another landfall, or another program, listens there); choose another port".to_owned()
            }
            io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges); choose a port above 1023".to_owned()
            }
            io::ErrorKind::AddrNotAvailable => "no interface of this machine has that address".to_owned(),
            _ => format!("cannot listen there: {e}"),
        };
        BindError { addr, why, source: e }
    })
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.ready.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn operator_auth(
    State(s): State<AppState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let Some(expected) = s.key_digest else {
        return error(
            StatusCode::NOT_FOUND,
            "the operator view is off: no http.operator_key is configured",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| -> [u8; 32] { Sha256::digest(k.trim().as_bytes()).into() });
    match given {
        Some(d) if bool::from(d.ct_eq(&expected)) => next.run(req).await,
        _ => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "an operator key is needed: Authorization: Bearer <key>",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn parse_level(text: &str) -> Result<Level, Response> {
    match text {
        "country" => Ok(Level::Country),
        "network" => Ok(Level::Network),
        "zone" => Ok(Level::Zone),
        other => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("level {other:?}: use country, network or zone"),
        )),
    }
}

/// An area as moments write it, at `level`: `FR`, `208-01`, a zone id.
fn parse_area(level: Level, text: &str) -> Option<Area> {
    match level {
        Level::Country => Country::new(text).map(Area::Country),
        Level::Network => Plmn::parse(text).map(Area::Network),
        Level::Zone => ZoneId::new(text).ok().map(Area::Zone),
    }
}

#[derive(Deserialize)]
struct AreasQuery {
    level: Option<String>,
}

async fn areas(State(s): State<AppState>, Query(q): Query<AreasQuery>) -> Response {
    let level = match parse_level(q.level.as_deref().unwrap_or("country")) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (counts, as_of) = {
        let view = s.view.lock().unwrap_or_else(|e| e.into_inner());
        (view.counts(level), view.clock())
    };
    let areas: Vec<_> = counts
        .iter()
        .map(|(a, n)| json!({ "area": area_text(a), "count": n }))
        .collect();
    Json(json!({ "level": level.as_str(), "as_of": rfc3339_us(as_of), "areas": areas }))
        .into_response()
}

#[derive(Deserialize)]
struct ArrivalsQuery {
    limit: Option<String>,
}

async fn arrivals(
    State(s): State<AppState>,
    Path((level, area)): Path<(String, String)>,
    Query(q): Query<ArrivalsQuery>,
) -> Response {
    let level = match parse_level(&level) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Some(area) = parse_area(level, &area) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "{area:?} is not a {} area (e.g. FR, 208-01, a zone id)",
                level.as_str()
            ),
        );
    };
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("limit: a number from 1 to {MAX_LIMIT}"),
            )
        }
    };
    let ((list, total), as_of) = {
        let view = s.view.lock().unwrap_or_else(|e| e.into_inner());
        (view.arrivals(&area, limit), view.clock())
    };
    let arrivals: Vec<_> = list
        .iter()
        .map(|a| {
            json!({
                "imsi": a.imsi.as_str(),
                "msisdn": a.msisdn.as_ref().map(|m| m.as_str()),
                "home": a.home.map(|p| p.to_string()),
                "home_country": a.home_country.map(|c| c.to_string()),
                "arrived_at": rfc3339_us(a.arrived_at),
                "expires_at": rfc3339_us(a.expires_at),
                "id": a.id,
            })
        })
        .collect();
    Json(json!({
        "level": level.as_str(),
        "area": area_text(&area),
        "as_of": rfc3339_us(as_of),
        "total": total,
        "arrivals": arrivals,
    }))
    .into_response()
}

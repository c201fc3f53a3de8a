//! The HTTP API (axum 0.8): the partner API under `/v1/subscriptions` (bearer API key),
//! the operator API under `/v1/operator` (bearer operator key) and `/openapi.json`.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/subscriptions` | create (201, `Location`) |
//! | `GET /v1/subscriptions`, `GET /v1/subscriptions/{id}` | the partner's own (another's: 404) |
//! | `DELETE /v1/subscriptions/{id}` | 204 |
//! | `POST /v1/operator/partners`, `GET …/partners`, `GET`/`PATCH`/`DELETE …/partners/{id}` | partners; creation answers the API key and webhook secret, once |
//! | `POST …/partners/{id}/keys` | a new API key (`graceSeconds`: how long the old ones stay valid, default 0) |
//! | `POST …/partners/{id}/webhook-secret` | a new webhook secret |
//! | `GET …/partners/{id}/delivery`, `GET …/partners/{id}/dead-letters?limit=N`, `POST …/partners/{id}/dead-letters/redeliver` | delivery's ([`DeliveryAdmin`]) |
//! | `PUT`/`DELETE /v1/operator/consents/{partner}/{purpose}/{imsi}` | one consent granted / withdrawn |
//! | `POST /v1/operator/consents/bulk` | CSV `imsi,partner,purpose,granted` |
//! | `PUT`/`DELETE /v1/operator/opt-outs/{imsi}` | the global opt-out |
//! | `POST /v1/operator/opt-outs/bulk` | CSV `imsi[,opted_out]` |
//!
//! Bulk uploads are all or nothing: any bad line rejects the whole upload (400
//! `INVALID_ARGUMENT`, the bad lines named by number), so a fixed file can simply be sent
//! again. A header line (starting with `imsi`) and empty lines are skipped; `granted` /
//! `opted_out` is `true`/`false`/`1`/`0`/`yes`/`no`.
//!
//! Every error is CAMARA's `{status, code, message}`, axum's rejections included
//! (malformed JSON and bad fields: 400 `INVALID_ARGUMENT` naming the field; a body over
//! the limit: 413 `PAYLOAD_TOO_LARGE`). Nothing partner-facing carries an IMSI or MSISDN,
//! and nothing is logged with one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use landfall_model::{Consent, Imsi, PartnerId, Purpose};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::camara::{self, SubscriptionRequest, SubscriptionResponse};
use crate::error::{ApiError, ErrorInfo};
use crate::records::{now_us, Partner};
use crate::sink::SinkCheck;
use crate::store::{ConsentRow, NewPartner, PartnerPatch, Registry};

/// The largest JSON body accepted (64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;
/// The largest bulk CSV upload accepted (16 MiB).
pub const BULK_LIMIT: usize = 16 * 1024 * 1024;
/// The most active subscriptions a partner may have, unless the service says otherwise.
pub const DEFAULT_MAX_ACTIVE_SUBSCRIPTIONS: usize = 1000;
/// The most bad lines a rejected upload lists.
const MAX_LISTED_ERRORS: usize = 20;

/// Delivery's side of the operator API, implemented by the service over the delivery
/// crate. Called from a blocking thread.
pub trait DeliveryAdmin: Send + Sync {
    /// The partner's delivery status (outbox depth, oldest pending, last outcomes, …).
    fn status(&self, partner: PartnerId) -> Result<serde_json::Value, String>;
    /// The partner's dead letters, newest first, at most `limit`.
    fn dead_letters(&self, partner: PartnerId, limit: usize) -> Result<serde_json::Value, String>;
    /// Send dead letters `ids` (event ids) of the partner again; how many were requeued.
    fn redeliver(&self, partner: PartnerId, ids: &[String]) -> Result<usize, String>;
}

/// No delivery (every call: 503 `UNAVAILABLE`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDelivery;

impl DeliveryAdmin for NoDelivery {
    fn status(&self, _: PartnerId) -> Result<serde_json::Value, String> {
        Err("delivery is not running".into())
    }
    fn dead_letters(&self, _: PartnerId, _: usize) -> Result<serde_json::Value, String> {
        Err("delivery is not running".into())
    }
    fn redeliver(&self, _: PartnerId, _: &[String]) -> Result<usize, String> {
        Err("delivery is not running".into())
    }
}

/// What the routers need.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub sink_check: Arc<dyn SinkCheck>,
    pub delivery: Arc<dyn DeliveryAdmin>,
    /// SHA-256 of the operator key; none: the operator API answers 404.
    operator_key: Option<[u8; 32]>,
    /// The most active subscriptions a partner may have (429 `QUOTA_EXCEEDED` beyond).
    pub max_active_subscriptions: usize,
}

impl ApiState {
    /// `operator_key`: the operator API's bearer key (none: off).
    pub fn new(
        registry: Arc<Registry>,
        sink_check: Arc<dyn SinkCheck>,
        delivery: Arc<dyn DeliveryAdmin>,
        operator_key: Option<&str>,
    ) -> ApiState {
        ApiState {
            registry,
            sink_check,
            delivery,
            operator_key: operator_key.map(|k| Sha256::digest(k.as_bytes()).into()),
            max_active_subscriptions: DEFAULT_MAX_ACTIVE_SUBSCRIPTIONS,
        }
    }

    /// The same with another per-partner quota of active subscriptions.
    pub fn with_max_active_subscriptions(mut self, n: usize) -> ApiState {
        self.max_active_subscriptions = n;
        self
    }
}

/// The partner and operator routes and `/openapi.json`, with CAMARA 404/405 fallbacks:
/// the router to serve, or to `merge` into the service's (which must then have no
/// fallback of its own; [`routes`] is the same without them).
pub fn router(state: ApiState) -> Router {
    routes(state)
        .fallback(|| async { ApiError::not_found("no such resource") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "the method is not allowed on this resource",
            )
        })
}

/// [`router`] without fallbacks.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .merge(partner_routes(state.clone()))
        .merge(operator_routes(state))
        .route("/openapi.json", get(openapi_json))
}

/// `/v1/subscriptions…` behind the partner's API key.
pub fn partner_routes(state: ApiState) -> Router {
    Router::new()
        .route(
            "/v1/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription).delete(delete_subscription),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), partner_auth))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// `/v1/operator/…` (partners, consent, opt-outs, delivery) behind the operator key.
pub fn operator_routes(state: ApiState) -> Router {
    let bulk = DefaultBodyLimit::max(BULK_LIMIT);
    Router::new()
        .route(
            "/v1/operator/partners",
            post(create_partner).get(list_partners),
        )
        .route(
            "/v1/operator/partners/{id}",
            get(get_partner)
                .patch(update_partner)
                .delete(delete_partner),
        )
        .route("/v1/operator/partners/{id}/keys", post(rotate_key))
        .route(
            "/v1/operator/partners/{id}/webhook-secret",
            post(rotate_webhook_secret),
        )
        .route("/v1/operator/partners/{id}/delivery", get(delivery_status))
        .route("/v1/operator/partners/{id}/dead-letters", get(dead_letters))
        .route(
            "/v1/operator/partners/{id}/dead-letters/redeliver",
            post(redeliver),
        )
        .route(
            "/v1/operator/consents/{partner}/{purpose}/{imsi}",
            put(grant_consent).delete(withdraw_consent),
        )
        .route(
            "/v1/operator/consents/bulk",
            post(bulk_consents).layer(bulk),
        )
        .route(
            "/v1/operator/opt-outs/{imsi}",
            put(add_opt_out).delete(remove_opt_out),
        )
        .route(
            "/v1/operator/opt-outs/bulk",
            post(bulk_opt_outs).layer(bulk),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), operator_auth))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

// ------------------------------------------------------------------- plumbing

/// JSON body: any content type, parsed with the failing field's path named; axum's body
/// rejections mapped into CAMARA errors.
pub struct CamaraJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CamaraJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(CamaraJson)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::invalid(format!(
                "the request body cannot be read: {}",
                e.body_text()
            ))
        }
    })
}

/// Parse a JSON body, naming the field that fails.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::invalid(format!("the request body is not valid JSON: {inner}"))
            }
            _ => {
                let path = e.path().to_string();
                if path == "." {
                    ApiError::invalid(format!("request body: {inner}"))
                } else {
                    ApiError::invalid(format!("{path}: {inner}"))
                }
            }
        }
    })?;
    Ok(v)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "registry task failed");
        ApiError::internal()
    })?
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn partner_auth(
    State(s): State<ApiState>,
    headers: HeaderMap,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(key) = bearer(&headers).map(str::to_owned) else {
        return ApiError::unauthenticated("an API key is needed: Authorization: Bearer <key>")
            .into_response();
    };
    let registry = s.registry.clone();
    match blocking(move || Ok(registry.authenticate(&key)?)).await {
        Ok(Some(p)) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Ok(None) => ApiError::unauthenticated("the API key is not valid").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn operator_auth(
    State(s): State<ApiState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let Some(expected) = s.operator_key else {
        return ApiError::not_found("the operator API is off: no operator key is configured")
            .into_response();
    };
    match bearer(&headers).map(|k| -> [u8; 32] { Sha256::digest(k.as_bytes()).into() }) {
        Some(d) if bool::from(d.ct_eq(&expected)) => next.run(req).await,
        Some(_) => ApiError::unauthenticated("the operator key is not valid").into_response(),
        None => ApiError::unauthenticated("an operator key is needed: Authorization: Bearer <key>")
            .into_response(),
    }
}

fn parse_sub_id(text: &str) -> Result<u64, ApiError> {
    // A malformed id is just an id nobody has.
    text.parse::<u64>()
        .map_err(|_| ApiError::not_found(format!("subscription {text:?}: no such subscription")))
}

fn parse_partner_id(text: &str) -> Result<PartnerId, ApiError> {
    text.parse::<u32>()
        .map(PartnerId)
        .map_err(|_| ApiError::not_found("no such partner"))
}

fn parse_imsi(field: &str, text: &str) -> Result<Imsi, ApiError> {
    // The value is never quoted back.
    Imsi::parse(text)
        .ok()
        .filter(|i| i.len() >= 6)
        .ok_or_else(|| ApiError::invalid(format!("{field}: 6 to 15 digits are needed")))
}

// ------------------------------------------------------------- partner API

/// Create a subscription.
#[utoipa::path(
    post, path = "/v1/subscriptions", tag = "subscriptions",
    request_body = SubscriptionRequest,
    responses(
        (status = 201, description = "Created", body = SubscriptionResponse,
            headers(("Location" = String, description = "the subscription's URL"))),
        (status = 400, body = ErrorInfo), (status = 401, body = ErrorInfo),
        (status = 403, body = ErrorInfo), (status = 413, body = ErrorInfo),
        (status = 422, body = ErrorInfo), (status = 429, body = ErrorInfo),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_subscription(
    State(s): State<ApiState>,
    Extension(partner): Extension<Arc<Partner>>,
    CamaraJson(req): CamaraJson<SubscriptionRequest>,
) -> Result<Response, ApiError> {
    let (req, stored) = blocking(move || {
        let id = s.registry.new_subscription_id()?;
        let stored = camara::validate(&req, &partner, id, now_us(), &*s.sink_check)?;
        let stored = s
            .registry
            .insert_subscription(&req, stored, s.max_active_subscriptions)?;
        Ok((req, stored))
    })
    .await?;
    tracing::info!(
        subscription = stored.id,
        partner = stored.partner.0,
        r#type = %stored.event_type,
        "subscription created"
    );
    let location = format!("/v1/subscriptions/{}", stored.id);
    let mut r = (StatusCode::CREATED, Json(camara::response(&req, &stored))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// The partner's subscriptions.
#[utoipa::path(
    get, path = "/v1/subscriptions", tag = "subscriptions",
    responses((status = 200, body = [SubscriptionResponse]), (status = 401, body = ErrorInfo)),
    security(("bearer" = []))
)]
pub(crate) async fn list_subscriptions(
    State(s): State<ApiState>,
    Extension(partner): Extension<Arc<Partner>>,
) -> Result<Json<Vec<SubscriptionResponse>>, ApiError> {
    let rows = blocking(move || Ok(s.registry.subscriptions(partner.id)?)).await?;
    Ok(Json(
        rows.iter()
            .map(|r| camara::response(&r.request, &r.stored))
            .collect(),
    ))
}

/// One of the partner's subscriptions.
#[utoipa::path(
    get, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id")),
    responses(
        (status = 200, body = SubscriptionResponse), (status = 401, body = ErrorInfo),
        (status = 404, body = ErrorInfo)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_subscription(
    State(s): State<ApiState>,
    Extension(partner): Extension<Arc<Partner>>,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let id = parse_sub_id(&id)?;
    let row = blocking(move || Ok(s.registry.subscription(partner.id, id)?)).await?;
    let row =
        row.ok_or_else(|| ApiError::not_found(format!("subscription {id}: no such subscription")))?;
    Ok(Json(camara::response(&row.request, &row.stored)))
}

/// Delete one of the partner's subscriptions (a `subscription-ended` event follows,
/// `SUBSCRIPTION_DELETED`).
#[utoipa::path(
    delete, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id")),
    responses(
        (status = 204, description = "Deleted"), (status = 401, body = ErrorInfo),
        (status = 404, body = ErrorInfo)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_subscription(
    State(s): State<ApiState>,
    Extension(partner): Extension<Arc<Partner>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_sub_id(&id)?;
    let pid = partner.id;
    if blocking(move || Ok(s.registry.delete_subscription(pid, id)?)).await? {
        tracing::info!(subscription = id, partner = pid.0, "subscription deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "subscription {id}: no such subscription"
        )))
    }
}

// ------------------------------------------------------------ operator API

/// A partner to create.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerCreate {
    pub name: String,
    #[serde(default)]
    pub purposes: Vec<u16>,
    /// Whether events may carry the subscriber's MSISDN.
    #[serde(default)]
    pub msisdn_allowed: bool,
    /// Whether the partner holds per-person consent (false: aggregates only).
    #[serde(default)]
    pub per_person_consent: bool,
}

/// A change of a partner (absent fields unchanged).
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerUpdate {
    pub name: Option<String>,
    pub purposes: Option<Vec<u16>>,
    pub msisdn_allowed: Option<bool>,
    pub per_person_consent: Option<bool>,
}

/// A partner as the operator sees it (no secrets).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerView {
    pub id: u32,
    pub name: String,
    pub purposes: Vec<u16>,
    pub msisdn_allowed: bool,
    pub per_person_consent: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl PartnerView {
    fn of(p: &Partner) -> PartnerView {
        PartnerView {
            id: p.id.0,
            name: p.name.clone(),
            purposes: p.purposes.iter().map(|p| p.0).collect(),
            msisdn_allowed: p.msisdn_allowed,
            per_person_consent: p.per_person_consent,
            created_at: camara::rfc3339(p.created_at),
        }
    }
}

/// A created partner and its secrets, shown this once.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerCreated {
    pub partner: PartnerView,
    /// `lf_…`: the partner's API key (stored hashed, never shown again).
    pub api_key: String,
    /// `whsec_…`: the key of the events' `webhook-signature`.
    pub webhook_secret: String,
}

/// A key rotation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotation {
    /// How long the partner's current keys stay valid, seconds (default 0: revoked now).
    #[serde(default)]
    pub grace_seconds: u32,
}

/// A new API key, shown this once.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    pub api_key: String,
}

/// A new webhook secret.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewWebhookSecret {
    pub webhook_secret: String,
}

/// Event ids to send again.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct Redeliver {
    pub ids: Vec<String>,
}

/// How many dead letters were requeued.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct Requeued {
    pub requeued: usize,
}

/// The result of a consent or opt-out change.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct Applied {
    /// Lines or records read.
    pub records: usize,
    /// How many changed something (the rest held already).
    pub changed: usize,
}

/// Create a partner.
#[utoipa::path(
    post, path = "/v1/operator/partners", tag = "operator",
    request_body = PartnerCreate,
    responses((status = 201, body = PartnerCreated), (status = 400, body = ErrorInfo),
        (status = 401, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn create_partner(
    State(s): State<ApiState>,
    CamaraJson(body): CamaraJson<PartnerCreate>,
) -> Result<Response, ApiError> {
    let new = NewPartner {
        name: body.name,
        purposes: body.purposes.into_iter().map(Purpose).collect(),
        msisdn_allowed: body.msisdn_allowed,
        per_person_consent: body.per_person_consent,
    };
    let (p, key) = blocking(move || Ok(s.registry.create_partner(&new)?)).await?;
    tracing::info!(partner = p.id.0, "partner created");
    let mut r = (
        StatusCode::CREATED,
        Json(PartnerCreated {
            partner: PartnerView::of(&p),
            api_key: key,
            webhook_secret: p.webhook_secret.clone(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/operator/partners/{}", p.id.0)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// Every partner.
#[utoipa::path(
    get, path = "/v1/operator/partners", tag = "operator",
    responses((status = 200, body = [PartnerView]), (status = 401, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn list_partners(
    State(s): State<ApiState>,
) -> Result<Json<Vec<PartnerView>>, ApiError> {
    let ps = blocking(move || Ok(s.registry.partners()?)).await?;
    Ok(Json(ps.iter().map(|p| PartnerView::of(p)).collect()))
}

/// One partner.
#[utoipa::path(
    get, path = "/v1/operator/partners/{id}", tag = "operator",
    params(("id" = u32, Path)),
    responses((status = 200, body = PartnerView), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn get_partner(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<PartnerView>, ApiError> {
    let id = parse_partner_id(&id)?;
    let p = blocking(move || Ok(s.registry.partner(id)?)).await?;
    p.map(|p| Json(PartnerView::of(&p)))
        .ok_or_else(|| ApiError::not_found("no such partner"))
}

/// Change a partner. Subscriptions it may no longer have end (`NETWORK_TERMINATED`).
#[utoipa::path(
    patch, path = "/v1/operator/partners/{id}", tag = "operator",
    params(("id" = u32, Path)), request_body = PartnerUpdate,
    responses((status = 200, body = PartnerView), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn update_partner(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    CamaraJson(body): CamaraJson<PartnerUpdate>,
) -> Result<Json<PartnerView>, ApiError> {
    let id = parse_partner_id(&id)?;
    let patch = PartnerPatch {
        name: body.name,
        purposes: body.purposes.map(|v| v.into_iter().map(Purpose).collect()),
        msisdn_allowed: body.msisdn_allowed,
        per_person_consent: body.per_person_consent,
    };
    let p = blocking(move || Ok(s.registry.update_partner(id, &patch)?)).await?;
    tracing::info!(partner = id.0, "partner updated");
    Ok(Json(PartnerView::of(&p)))
}

/// Remove a partner: its subscriptions end, its consents and keys go.
#[utoipa::path(
    delete, path = "/v1/operator/partners/{id}", tag = "operator",
    params(("id" = u32, Path)),
    responses((status = 204), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn delete_partner(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_partner_id(&id)?;
    blocking(move || Ok(s.registry.delete_partner(id)?)).await?;
    tracing::info!(partner = id.0, "partner removed");
    Ok(StatusCode::NO_CONTENT)
}

/// A new API key for a partner.
#[utoipa::path(
    post, path = "/v1/operator/partners/{id}/keys", tag = "operator",
    params(("id" = u32, Path)), request_body(content = KeyRotation, description = "optional"),
    responses((status = 201, body = NewApiKey), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn rotate_key(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<NewApiKey>), ApiError> {
    let id = parse_partner_id(&id)?;
    let rot: KeyRotation = if body.iter().all(u8::is_ascii_whitespace) {
        KeyRotation::default()
    } else {
        parse_json(&body)?
    };
    let grace = i64::from(rot.grace_seconds) * 1_000_000;
    let key = blocking(move || Ok(s.registry.rotate_key(id, grace)?)).await?;
    tracing::info!(
        partner = id.0,
        grace_s = rot.grace_seconds,
        "API key rotated"
    );
    Ok((StatusCode::CREATED, Json(NewApiKey { api_key: key })))
}

/// A new webhook secret for a partner.
#[utoipa::path(
    post, path = "/v1/operator/partners/{id}/webhook-secret", tag = "operator",
    params(("id" = u32, Path)),
    responses((status = 200, body = NewWebhookSecret), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn rotate_webhook_secret(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<NewWebhookSecret>, ApiError> {
    let id = parse_partner_id(&id)?;
    let p = blocking(move || Ok(s.registry.rotate_webhook_secret(id)?)).await?;
    tracing::info!(partner = id.0, "webhook secret rotated");
    Ok(Json(NewWebhookSecret {
        webhook_secret: p.webhook_secret.clone(),
    }))
}

async fn existing_partner(s: &ApiState, id: PartnerId) -> Result<(), ApiError> {
    let registry = s.registry.clone();
    match blocking(move || Ok(registry.partner(id)?)).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("no such partner")),
    }
}

fn delivery_error(e: String) -> ApiError {
    tracing::warn!(error = %e, "delivery admin");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", e)
}

/// A partner's delivery status (delivery's).
#[utoipa::path(
    get, path = "/v1/operator/partners/{id}/delivery", tag = "operator",
    params(("id" = u32, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn delivery_status(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_partner_id(&id)?;
    existing_partner(&s, id).await?;
    let d = s.delivery.clone();
    blocking(move || d.status(id).map_err(delivery_error))
        .await
        .map(Json)
}

/// A partner's dead letters (delivery's), `limit` (default 100, at most 1000).
#[utoipa::path(
    get, path = "/v1/operator/partners/{id}/dead-letters", tag = "operator",
    params(("id" = u32, Path), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Object), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn dead_letters(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_partner_id(&id)?;
    let limit = match q.get("limit") {
        None => 100,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::out_of_range("limit: 1 to 1000"))?,
    };
    existing_partner(&s, id).await?;
    let d = s.delivery.clone();
    blocking(move || d.dead_letters(id, limit).map_err(delivery_error))
        .await
        .map(Json)
}

/// Send a partner's dead letters again.
#[utoipa::path(
    post, path = "/v1/operator/partners/{id}/dead-letters/redeliver", tag = "operator",
    params(("id" = u32, Path)), request_body = Redeliver,
    responses((status = 200, body = Requeued), (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn redeliver(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    CamaraJson(body): CamaraJson<Redeliver>,
) -> Result<Json<Requeued>, ApiError> {
    let id = parse_partner_id(&id)?;
    if body.ids.is_empty() || body.ids.len() > 10_000 {
        return Err(ApiError::out_of_range("ids: 1 to 10000 event ids"));
    }
    existing_partner(&s, id).await?;
    let d = s.delivery.clone();
    let n = blocking(move || d.redeliver(id, &body.ids).map_err(delivery_error)).await?;
    tracing::info!(partner = id.0, requeued = n, "dead letters requeued");
    Ok(Json(Requeued { requeued: n }))
}

fn consent_of(partner: &str, purpose: &str, imsi: &str) -> Result<Consent, ApiError> {
    let partner = parse_partner_id(partner)?;
    let purpose = purpose
        .parse::<u16>()
        .map(Purpose)
        .map_err(|_| ApiError::invalid("purpose: a number 0 to 65535 is needed"))?;
    Ok(Consent {
        imsi: parse_imsi("imsi", imsi)?,
        partner,
        purpose,
    })
}

/// Grant a subscriber's consent to a partner for a purpose.
#[utoipa::path(
    put, path = "/v1/operator/consents/{partner}/{purpose}/{imsi}", tag = "operator",
    params(("partner" = u32, Path), ("purpose" = u16, Path), ("imsi" = String, Path)),
    responses((status = 200, body = Applied), (status = 400, body = ErrorInfo),
        (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn grant_consent(
    State(s): State<ApiState>,
    Path((partner, purpose, imsi)): Path<(String, String, String)>,
) -> Result<Json<Applied>, ApiError> {
    set_consent(s, &partner, &purpose, &imsi, true).await
}

/// Withdraw a subscriber's consent.
#[utoipa::path(
    delete, path = "/v1/operator/consents/{partner}/{purpose}/{imsi}", tag = "operator",
    params(("partner" = u32, Path), ("purpose" = u16, Path), ("imsi" = String, Path)),
    responses((status = 200, body = Applied), (status = 400, body = ErrorInfo),
        (status = 404, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn withdraw_consent(
    State(s): State<ApiState>,
    Path((partner, purpose, imsi)): Path<(String, String, String)>,
) -> Result<Json<Applied>, ApiError> {
    set_consent(s, &partner, &purpose, &imsi, false).await
}

async fn set_consent(
    s: ApiState,
    partner: &str,
    purpose: &str,
    imsi: &str,
    granted: bool,
) -> Result<Json<Applied>, ApiError> {
    let c = consent_of(partner, purpose, imsi)?;
    let changed = blocking(move || Ok(s.registry.set_consent(c, granted)?)).await?;
    tracing::info!(
        partner = c.partner.0,
        purpose = c.purpose.0,
        granted,
        changed,
        "consent"
    );
    Ok(Json(Applied {
        records: 1,
        changed: usize::from(changed),
    }))
}

/// Grant or withdraw consents in bulk: CSV `imsi,partner,purpose,granted`, all or
/// nothing.
#[utoipa::path(
    post, path = "/v1/operator/consents/bulk", tag = "operator",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = Applied), (status = 400, body = ErrorInfo),
        (status = 413, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn bulk_consents(
    State(s): State<ApiState>,
    req: Request,
) -> Result<Json<Applied>, ApiError> {
    let body = body_bytes(req, &()).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("the upload is not UTF-8 text"))?
        .to_owned();
    let out = blocking(move || {
        let mut errors = Vec::new();
        let mut rows = Vec::new();
        for (n, fields) in csv_lines(&text) {
            match consent_line(&fields) {
                Ok(r) => rows.push((n, r)),
                Err(e) => errors.push(format!("line {n}: {e}")),
            }
        }
        // Partners named must exist: checked here to name the line.
        let mut known = std::collections::BTreeMap::new();
        for (n, r) in &rows {
            let p = r.consent.partner;
            let exists = match known.get(&p) {
                Some(e) => *e,
                None => {
                    let e = s.registry.partner(p)?.is_some();
                    known.insert(p, e);
                    e
                }
            };
            if !exists {
                errors.push(format!("line {n}: partner {}: no such partner", p.0));
            }
        }
        if !errors.is_empty() {
            return Err(bulk_rejected(errors));
        }
        let rows: Vec<ConsentRow> = rows.into_iter().map(|(_, r)| r).collect();
        let changed = s.registry.apply_consents(&rows)?;
        Ok(Applied {
            records: rows.len(),
            changed,
        })
    })
    .await?;
    tracing::info!(
        records = out.records,
        changed = out.changed,
        "consent upload"
    );
    Ok(Json(out))
}

fn bulk_rejected(mut errors: Vec<String>) -> ApiError {
    errors.sort_by_key(|e| {
        e.strip_prefix("line ")
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    });
    let total = errors.len();
    let mut msg = format!(
        "the upload was not applied: {total} bad line{}: ",
        if total == 1 { "" } else { "s" }
    );
    msg.push_str(&errors[..total.min(MAX_LISTED_ERRORS)].join("; "));
    if total > MAX_LISTED_ERRORS {
        msg.push_str(&format!("; and {} more", total - MAX_LISTED_ERRORS));
    }
    ApiError::invalid(msg)
}

/// The data lines of a CSV upload: (1-based line number, trimmed fields); empty lines
/// and a first line starting with `imsi` (a header) skipped.
fn csv_lines(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out = Vec::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if std::mem::take(&mut first) && line.to_ascii_lowercase().starts_with("imsi") {
            continue;
        }
        out.push((i + 1, line.split(',').map(str::trim).collect()));
    }
    out
}

fn parse_bool(field: &str, t: &str) -> Result<bool, String> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{field}: true or false is needed")),
    }
}

fn consent_line(f: &[&str]) -> Result<ConsentRow, String> {
    let [imsi, partner, purpose, granted] = f else {
        return Err(format!(
            "{} fields, 4 are needed (imsi,partner,purpose,granted)",
            f.len()
        ));
    };
    let imsi = Imsi::parse(imsi)
        .ok()
        .filter(|i| i.len() >= 6)
        .ok_or("imsi: 6 to 15 digits are needed")?;
    let partner = partner
        .parse::<u32>()
        .map(PartnerId)
        .map_err(|_| "partner: a partner id is needed")?;
    let purpose = purpose
        .parse::<u16>()
        .map(Purpose)
        .map_err(|_| "purpose: a number 0 to 65535 is needed")?;
    Ok(ConsentRow {
        consent: Consent {
            imsi,
            partner,
            purpose,
        },
        granted: parse_bool("granted", granted)?,
    })
}

/// Opt a subscriber out of everything.
#[utoipa::path(
    put, path = "/v1/operator/opt-outs/{imsi}", tag = "operator",
    params(("imsi" = String, Path)),
    responses((status = 200, body = Applied), (status = 400, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn add_opt_out(
    State(s): State<ApiState>,
    Path(imsi): Path<String>,
) -> Result<Json<Applied>, ApiError> {
    set_opt_out(s, &imsi, true).await
}

/// Take a subscriber's global opt-out back.
#[utoipa::path(
    delete, path = "/v1/operator/opt-outs/{imsi}", tag = "operator",
    params(("imsi" = String, Path)),
    responses((status = 200, body = Applied), (status = 400, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn remove_opt_out(
    State(s): State<ApiState>,
    Path(imsi): Path<String>,
) -> Result<Json<Applied>, ApiError> {
    set_opt_out(s, &imsi, false).await
}

async fn set_opt_out(s: ApiState, imsi: &str, out: bool) -> Result<Json<Applied>, ApiError> {
    let imsi = parse_imsi("imsi", imsi)?;
    let changed = blocking(move || Ok(s.registry.set_opt_out(imsi, out)?)).await?;
    tracing::info!(opted_out = out, changed, "opt-out");
    Ok(Json(Applied {
        records: 1,
        changed: usize::from(changed),
    }))
}

/// Opt-outs in bulk: CSV `imsi[,opted_out]` (default true), all or nothing.
#[utoipa::path(
    post, path = "/v1/operator/opt-outs/bulk", tag = "operator",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = Applied), (status = 400, body = ErrorInfo),
        (status = 413, body = ErrorInfo)),
    security(("operator" = []))
)]
pub(crate) async fn bulk_opt_outs(
    State(s): State<ApiState>,
    req: Request,
) -> Result<Json<Applied>, ApiError> {
    let body = body_bytes(req, &()).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("the upload is not UTF-8 text"))?
        .to_owned();
    let out = blocking(move || {
        let mut errors = Vec::new();
        let mut rows = Vec::new();
        for (n, f) in csv_lines(&text) {
            let row = (|| -> Result<(Imsi, bool), String> {
                let (imsi, out) = match f.as_slice() {
                    [imsi] => (*imsi, true),
                    [imsi, out] => (*imsi, parse_bool("opted_out", out)?),
                    _ => {
                        return Err(format!(
                            "{} fields, 1 or 2 are needed (imsi[,opted_out])",
                            f.len()
                        ))
                    }
                };
                let imsi = Imsi::parse(imsi)
                    .ok()
                    .filter(|i| i.len() >= 6)
                    .ok_or("imsi: 6 to 15 digits are needed")?;
                Ok((imsi, out))
            })();
            match row {
                Ok(r) => rows.push(r),
                Err(e) => errors.push(format!("line {n}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(bulk_rejected(errors));
        }
        let changed = s.registry.apply_opt_outs(&rows)?;
        Ok(Applied {
            records: rows.len(),
            changed,
        })
    })
    .await?;
    tracing::info!(
        records = out.records,
        changed = out.changed,
        "opt-out upload"
    );
    Ok(Json(out))
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

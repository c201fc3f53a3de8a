//! The partner API's request and response bodies, shaped like CAMARA's subscription APIs
//! (Device Roaming Status and Geofencing subscriptions) so that a CAMARA client works
//! unchanged, and their validation into a [`StoredSubscription`].
//!
//! landfall's extensions, all optional and all in `config`: `purpose` (the partner's
//! purpose the subscription is for; may be left out by a partner with one purpose),
//! `frequencyCapSeconds` (no two events about one subscriber closer than this in event
//! time), `aggregationIntervalSeconds` (aggregate subscriptions). `subscriptionDetail`
//! takes, besides CAMARA's `device` and `area` (`CIRCLE`), areas of type `ZONE`
//! (`zoneId`), `COUNTRY` (`country`) and `NETWORK` (`network`, `"MCC-MNC"`), and the
//! filters `homeCountries`, `homeNetworks`, `direction` (`ANY`, `INBOUND`, `OUTBOUND`) and
//! `rats`. Without a `device`, a subscription is about everyone in the area.
//!
//! Responses never carry the `device` or the `sinkCredential` the partner sent.

use axum::http::StatusCode;
use landfall_model::{Area, Country, Direction, Imsi, Msisdn, Plmn, Purpose, Subscription, ZoneId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::records::{
    CircleZone, DeviceFilter, Partner, SinkToken, StoredSubscription, SubscriptionState, Target,
    TimeUs,
};
use crate::sink::SinkCheck;
use crate::types::{self, EventType};

/// The largest circle radius accepted, in metres (CAMARA Geofencing's maximum).
pub const MAX_RADIUS_M: i64 = 200_000;
/// The aggregate interval when none is given, and its bounds, in seconds.
pub const DEFAULT_AGGREGATION_INTERVAL_S: i64 = 3_600;
pub const MIN_AGGREGATION_INTERVAL_S: i64 = 60;
pub const MAX_AGGREGATION_INTERVAL_S: i64 = 86_400;
/// The largest per-subscriber frequency cap, in seconds (30 days).
pub const MAX_FREQUENCY_CAP_S: i64 = 30 * 86_400;

/// `POST /v1/subscriptions`'s body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// `HTTP` (the only protocol).
    #[schema(example = "HTTP")]
    pub protocol: String,
    /// The https URL events are POSTed to.
    #[schema(example = "https://partner.example.com/events")]
    pub sink: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink_credential: Option<SinkCredential>,
    /// Exactly one event type.
    pub types: Vec<String>,
    pub config: SubscriptionConfig,
}

/// CAMARA's `sinkCredential`: an access token sent back as `Authorization: Bearer`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkCredential {
    /// `ACCESSTOKEN`.
    pub credential_type: String,
    #[serde(default)]
    pub access_token: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub access_token_expires_utc: Option<String>,
    /// `bearer`.
    #[serde(default)]
    pub access_token_type: Option<String>,
}

impl std::fmt::Debug for SinkCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkCredential")
            .field("credential_type", &self.credential_type)
            .finish_non_exhaustive()
    }
}

/// CAMARA's `config`, with landfall's extensions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionConfig {
    pub subscription_detail: SubscriptionDetail,
    /// RFC 3339, in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expire_time: Option<String>,
    /// At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_max_events: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_event: Option<bool>,
    /// landfall: the partner's purpose this subscription serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<u16>,
    /// landfall: per-subscriber frequency cap, seconds of event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap_seconds: Option<i64>,
    /// landfall: the interval of an aggregate subscription, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_interval_seconds: Option<i64>,
}

/// CAMARA's `subscriptionDetail`: a device or everyone, an area, filters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDetail {
    /// One device; none: everyone in the area. Never echoed in responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaSpec>,
    /// ISO 3166-1 alpha-2 home countries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_countries: Option<Vec<String>>,
    /// `MCC-MNC` home networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_networks: Option<Vec<String>>,
    /// `ANY` (default), `INBOUND` (visitors), `OUTBOUND` (the operator's own subscribers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// RAT types (3GPP RAT-Type values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rats: Option<Vec<u32>>,
}

/// CAMARA's `device`.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSpec {
    /// E.164 with a leading `+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// `imsi-<IMSI>@<domain>` (or the bare IMSI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_access_identifier: Option<String>,
    /// Not supported by landfall (signaling carries no IP addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub ipv4_address: Option<serde_json::Value>,
    /// Not supported by landfall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

impl std::fmt::Debug for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSpec(<redacted>)")
    }
}

/// An area: CAMARA's `CIRCLE`, or landfall's `ZONE`, `COUNTRY`, `NETWORK`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AreaSpec {
    /// `CIRCLE`, `ZONE`, `COUNTRY` or `NETWORK`.
    pub area_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center: Option<Point>,
    /// Metres, 1 to 200000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// A WGS 84 point.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct Point {
    pub latitude: f64,
    pub longitude: f64,
}

/// A subscription, as the API answers with it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionResponse {
    pub protocol: String,
    pub sink: String,
    pub types: Vec<String>,
    pub config: SubscriptionConfig,
    pub id: String,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; absent when it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `ACTIVE`, `EXPIRED`, `INACTIVE` or `DELETED`.
    pub status: String,
}

/// The response for a stored subscription and its request (device and credential left
/// out).
pub fn response(req: &SubscriptionRequest, s: &StoredSubscription) -> SubscriptionResponse {
    let mut config = req.config.clone();
    config.subscription_detail.device = None;
    SubscriptionResponse {
        protocol: req.protocol.clone(),
        sink: req.sink.clone(),
        types: req.types.clone(),
        config,
        id: s.id.to_string(),
        starts_at: rfc3339(s.starts_at),
        expires_at: s.expires_at.map(rfc3339),
        status: s.state.as_str().to_string(),
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(us: TimeUs) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

fn parse_time(field: &str, text: &str) -> Result<TimeUs, ApiError> {
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_micros() as i64)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{field}: {text:?} is not an RFC 3339 UTC time (e.g. 2030-01-31T12:00:00Z)"
            ))
        })
}

const DETAIL: &str = "config.subscriptionDetail";

/// Check `req` for `partner` and derive the subscription `id`, starting `now`.
pub fn validate(
    req: &SubscriptionRequest,
    partner: &Partner,
    id: u64,
    now: TimeUs,
    sink_check: &dyn SinkCheck,
) -> Result<StoredSubscription, ApiError> {
    if req.protocol != "HTTP" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PROTOCOL",
            format!(
                "protocol: {:?} is not supported, only \"HTTP\"",
                req.protocol
            ),
        ));
    }
    if let Err(why) = sink_check.check(&req.sink) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_SINK",
            format!("sink: {why}"),
        ));
    }
    let sink_token = match &req.sink_credential {
        None => None,
        Some(c) => Some(sink_token(c, now)?),
    };
    let event_type = match req.types.as_slice() {
        [] => return Err(ApiError::invalid("types: exactly one event type is needed")),
        [t] => t.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED",
                "types: one event type per subscription",
            ))
        }
    };
    let Some(kind) = types::parse_type(&event_type) else {
        return Err(ApiError::invalid(format!(
            "types[0]: {event_type:?} is not an event type landfall sends"
        )));
    };
    let c = &req.config;
    let d = &c.subscription_detail;
    let purpose = purpose(c.purpose, partner)?;
    let expires_at = match &c.subscription_expire_time {
        None => None,
        Some(text) => {
            let t = parse_time("config.subscriptionExpireTime", text)?;
            if t <= now {
                return Err(ApiError::out_of_range(format!(
                    "config.subscriptionExpireTime: {text} is not in the future"
                )));
            }
            Some(t)
        }
    };
    let max_events = match c.subscription_max_events {
        None => None,
        Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(ApiError::out_of_range(format!(
                "config.subscriptionMaxEvents: {n} is not between 1 and {}",
                u32::MAX
            )))
        }
    };
    let frequency_cap_us = match c.frequency_cap_seconds {
        None => None,
        Some(s) if (1..=MAX_FREQUENCY_CAP_S).contains(&s) => Some(s * 1_000_000),
        Some(s) => {
            return Err(ApiError::out_of_range(format!(
                "config.frequencyCapSeconds: {s} is not between 1 and {MAX_FREQUENCY_CAP_S}"
            )))
        }
    };
    let home_countries = d
        .home_countries
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            Country::new(t)
                .filter(|_| t.len() == 2 || t.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{DETAIL}.homeCountries[{i}]: {t:?} is not an ISO 3166-1 alpha-2 code"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let home_networks = d
        .home_networks
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            Plmn::parse(t).ok_or_else(|| {
                ApiError::invalid(format!(
                    "{DETAIL}.homeNetworks[{i}]: {t:?} is not a network \"MCC-MNC\""
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let direction = match d.direction.as_deref() {
        None | Some("ANY") => Direction::Any,
        Some("INBOUND") => Direction::Inbound,
        Some("OUTBOUND") => Direction::Outbound,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "{DETAIL}.direction: {other:?} is not ANY, INBOUND or OUTBOUND"
            )))
        }
    };
    let rats = d.rats.clone().unwrap_or_default();
    let (area, circle) = match &d.area {
        None => (None, None),
        Some(a) => {
            let (area, circle) = area(a, id)?;
            (Some(area), circle)
        }
    };
    let target = match kind {
        EventType::Aggregate => {
            if d.device.is_some() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "UNNECESSARY_IDENTIFIER",
                    format!("{DETAIL}.device: aggregates are not about one device"),
                ));
            }
            let Some(area) = area else {
                return Err(ApiError::invalid(format!(
                    "{DETAIL}.area: an aggregate subscription needs an area"
                )));
            };
            let interval_s = c
                .aggregation_interval_seconds
                .unwrap_or(DEFAULT_AGGREGATION_INTERVAL_S);
            if !(MIN_AGGREGATION_INTERVAL_S..=MAX_AGGREGATION_INTERVAL_S).contains(&interval_s) {
                return Err(ApiError::out_of_range(format!(
                    "config.aggregationIntervalSeconds: {interval_s} is not between \
                     {MIN_AGGREGATION_INTERVAL_S} and {MAX_AGGREGATION_INTERVAL_S}"
                )));
            }
            Target::Aggregate {
                purpose,
                level: area.level(),
                area: Some(area),
                interval_us: interval_s * 1_000_000,
            }
        }
        EventType::Moment { kind, level } => {
            if !partner.per_person_consent {
                return Err(ApiError::denied(format!(
                    "types[0]: this partner has no per-person consent and may subscribe to \
                     aggregates only ({})",
                    types::AGGREGATE_ARRIVALS
                )));
            }
            if let Some(a) = &area {
                if a.level() != level {
                    return Err(ApiError::invalid(format!(
                        "{DETAIL}.area.areaType: {event_type} is about {} areas, not {}",
                        level.as_str(),
                        a.level().as_str()
                    )));
                }
            } else if event_type.starts_with(types::GEOFENCING_NS) {
                return Err(ApiError::invalid(format!(
                    "{DETAIL}.area: a geofencing subscription needs an area"
                )));
            }
            let device = match &d.device {
                None => None,
                Some(dev) => Some(device(dev)?),
            };
            Target::Moments {
                subscription: Subscription {
                    id,
                    partner: partner.id,
                    purpose,
                    types: vec![kind],
                    levels: vec![level],
                    // The dataflow narrows by IMSI; a phone number is checked at delivery
                    // (`StoredSubscription::admits`).
                    device: match &device {
                        Some(DeviceFilter::Imsi(i)) => Some(*i),
                        _ => None,
                    },
                    areas: area.into_iter().collect(),
                    home_countries,
                    home_networks,
                    direction,
                    rats,
                    expires_at,
                    max_events,
                    frequency_cap_us,
                },
                level,
                device,
            }
        }
    };
    Ok(StoredSubscription {
        id,
        partner: partner.id,
        event_type,
        target,
        circle,
        sink: req.sink.clone(),
        sink_token,
        starts_at: now,
        expires_at,
        max_events,
        initial_event: c.initial_event.unwrap_or(false),
        state: SubscriptionState::Active,
    })
}

fn purpose(asked: Option<u16>, partner: &Partner) -> Result<Purpose, ApiError> {
    match asked {
        Some(p) if partner.purposes.contains(&Purpose(p)) => Ok(Purpose(p)),
        Some(p) => Err(ApiError::denied(format!(
            "config.purpose: purpose {p} is not one this partner may use"
        ))),
        None => match partner.purposes.as_slice() {
            [p] => Ok(*p),
            [] => Err(ApiError::denied(
                "config.purpose: this partner has no purpose to subscribe for",
            )),
            _ => Err(ApiError::invalid(
                "config.purpose: needed, this partner has several purposes",
            )),
        },
    }
}

fn sink_token(c: &SinkCredential, now: TimeUs) -> Result<SinkToken, ApiError> {
    let bad = |code: &'static str, msg: String| ApiError::new(StatusCode::BAD_REQUEST, code, msg);
    if c.credential_type != "ACCESSTOKEN" {
        return Err(bad(
            "INVALID_CREDENTIAL",
            format!(
                "sinkCredential.credentialType: {:?} is not supported, only \"ACCESSTOKEN\"",
                c.credential_type
            ),
        ));
    }
    if c.access_token_type.as_deref() != Some("bearer") {
        return Err(bad(
            "INVALID_TOKEN",
            "sinkCredential.accessTokenType: must be \"bearer\"".to_string(),
        ));
    }
    let token = c.access_token.clone().unwrap_or_default();
    if token.is_empty() || token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "INVALID_CREDENTIAL",
            "sinkCredential.accessToken: 1 to 4096 visible ASCII characters are needed".to_string(),
        ));
    }
    let expires_at = match &c.access_token_expires_utc {
        None => None,
        Some(t) => {
            let t = parse_time("sinkCredential.accessTokenExpiresUtc", t)?;
            if t <= now {
                return Err(ApiError::out_of_range(
                    "sinkCredential.accessTokenExpiresUtc: already expired",
                ));
            }
            Some(t)
        }
    };
    Ok(SinkToken { token, expires_at })
}

fn area(a: &AreaSpec, id: u64) -> Result<(Area, Option<CircleZone>), ApiError> {
    let missing = |f: &str| {
        ApiError::invalid(format!(
            "{DETAIL}.area.{f}: needed for areaType {}",
            a.area_type
        ))
    };
    match a.area_type.as_str() {
        "CIRCLE" => {
            let c = a.center.ok_or_else(|| missing("center"))?;
            let r = a.radius.ok_or_else(|| missing("radius"))?;
            if !(-90.0..=90.0).contains(&c.latitude) {
                return Err(ApiError::out_of_range(format!(
                    "{DETAIL}.area.center.latitude: {} is not between -90 and 90",
                    c.latitude
                )));
            }
            if !(-180.0..=180.0).contains(&c.longitude) {
                return Err(ApiError::out_of_range(format!(
                    "{DETAIL}.area.center.longitude: {} is not between -180 and 180",
                    c.longitude
                )));
            }
            if !(1..=MAX_RADIUS_M).contains(&r) {
                return Err(ApiError::out_of_range(format!(
                    "{DETAIL}.area.radius: {r} is not between 1 and {MAX_RADIUS_M} metres"
                )));
            }
            let zone = CircleZone {
                id: CircleZone::id_for(id),
                lon: c.longitude,
                lat: c.latitude,
                radius_m: r as u32,
            };
            Ok((Area::Zone(zone.id), Some(zone)))
        }
        "ZONE" => {
            let z = a.zone_id.as_deref().ok_or_else(|| missing("zoneId"))?;
            if z.starts_with("circle:") {
                return Err(ApiError::invalid(format!(
                    "{DETAIL}.area.zoneId: \"circle:\" ids are landfall's own"
                )));
            }
            let z = ZoneId::new(z)
                .map_err(|e| ApiError::invalid(format!("{DETAIL}.area.zoneId: {e}")))?;
            Ok((Area::Zone(z), None))
        }
        "COUNTRY" => {
            let t = a.country.as_deref().ok_or_else(|| missing("country"))?;
            let c = Country::new(t)
                .filter(|_| t.len() == 2 || t.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{DETAIL}.area.country: {t:?} is not an ISO 3166-1 alpha-2 code"
                    ))
                })?;
            Ok((Area::Country(c), None))
        }
        "NETWORK" => {
            let t = a.network.as_deref().ok_or_else(|| missing("network"))?;
            let p = Plmn::parse(t).ok_or_else(|| {
                ApiError::invalid(format!(
                    "{DETAIL}.area.network: {t:?} is not a network \"MCC-MNC\""
                ))
            })?;
            Ok((Area::Network(p), None))
        }
        other => Err(ApiError::invalid(format!(
            "{DETAIL}.area.areaType: {other:?} is not CIRCLE, ZONE, COUNTRY or NETWORK"
        ))),
    }
}

fn device(d: &DeviceSpec) -> Result<DeviceFilter, ApiError> {
    // The values are never quoted back: they identify a person.
    if let Some(p) = &d.phone_number {
        let digits = p.strip_prefix('+').ok_or_else(|| {
            ApiError::invalid(format!(
                "{DETAIL}.device.phoneNumber: E.164 with a leading '+' is needed"
            ))
        })?;
        let n = Msisdn::parse(digits)
            .ok()
            .filter(|n| n.len() >= 5)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{DETAIL}.device.phoneNumber: '+' and 5 to 15 digits are needed"
                ))
            })?;
        return Ok(DeviceFilter::Msisdn(n));
    }
    if let Some(nai) = &d.network_access_identifier {
        let user = nai.split_once('@').map(|(u, _)| u).unwrap_or(nai);
        let digits = user.strip_prefix("imsi-").unwrap_or(user);
        let i = Imsi::parse(digits)
            .ok()
            .filter(|i| i.len() >= 6)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "UNSUPPORTED_IDENTIFIER",
                    format!(
                        "{DETAIL}.device.networkAccessIdentifier: only imsi-<IMSI>@<domain> \
                         identifiers are supported"
                    ),
                )
            })?;
        return Ok(DeviceFilter::Imsi(i));
    }
    if d.ipv4_address.is_some() || d.ipv6_address.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNSUPPORTED_IDENTIFIER",
            format!("{DETAIL}.device: IP addresses are not supported, use phoneNumber"),
        ));
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "MISSING_IDENTIFIER",
        format!("{DETAIL}.device: no identifier given"),
    ))
}

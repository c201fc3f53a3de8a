//! A partner's event: a [`Match`] (or a subscription's lifecycle change) rendered as a
//! CloudEvents 1.0 structured-mode JSON body.
//!
//! Privacy is decided here, once: the body carries a per-partner pseudonym of the
//! subscriber (HMAC-SHA256 of the IMSI keyed with the partner's pseudonymization key),
//! never the IMSI, and the MSISDN only when the operator allows it for that partner. The
//! CloudEvent `id` is an HMAC of the moment id and the subscription keyed with the
//! partner's id key: the unkeyed moment id (a hash of the IMSI and fields the event
//! carries) never leaves the operator, and the same match always gets the same id
//! (retries, restarts, re-derived matches).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use landfall_model::identity::Country;
use landfall_model::json::{area_text, rfc3339_us};
use landfall_model::moment::{Area, Level, Moment, MomentKind};
use landfall_model::partner::Match;
use landfall_model::signal::TimestampUs;
use serde_json::{json, Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A partner's privacy settings, as the operator configured them.
#[derive(Clone)]
pub struct PartnerKeys {
    /// Key of the subscriber pseudonym (HMAC-SHA256 over the IMSI).
    pub pseudonym_key: Vec<u8>,
    /// Key of the CloudEvent ids (HMAC-SHA256 over moment id and subscription).
    pub id_key: Vec<u8>,
    /// Whether the partner may see the subscriber's MSISDN.
    pub msisdn_allowed: bool,
}

impl std::fmt::Debug for PartnerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerKeys")
            .field("msisdn_allowed", &self.msisdn_allowed)
            .finish_non_exhaustive()
    }
}

/// Which subscription API an event type belongs to (its dotted prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// `org.camaraproject.device-roaming-status-subscriptions.v0`
    RoamingStatus,
    /// `org.camaraproject.geofencing-subscriptions.v0`
    Geofencing,
    /// landfall's own: `org.landfall.moments.v0` (moments) and
    /// `org.landfall.subscriptions.v0` (lifecycle).
    Landfall,
}

const ROAMING: &str = "org.camaraproject.device-roaming-status-subscriptions.v0";
const GEOFENCING: &str = "org.camaraproject.geofencing-subscriptions.v0";
const LANDFALL_MOMENTS: &str = "org.landfall.moments.v0";
const LANDFALL_SUBSCRIPTIONS: &str = "org.landfall.subscriptions.v0";

/// The lifecycle events of a subscription (CAMARA's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    Started,
    Updated,
    Ended,
}

impl Lifecycle {
    fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Started => "subscription-started",
            Lifecycle::Updated => "subscription-updated",
            Lifecycle::Ended => "subscription-ended",
        }
    }
}

/// An event type a subscription can ask for (CAMARA's and landfall's), in dotted form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `…device-roaming-status-subscriptions.v0.roaming-on`
    RoamingOn,
    /// `…device-roaming-status-subscriptions.v0.roaming-off`
    RoamingOff,
    /// `…device-roaming-status-subscriptions.v0.roaming-change-country`
    RoamingChangeCountry,
    /// `…geofencing-subscriptions.v0.area-entered` (a zone arrival)
    AreaEntered,
    /// `…geofencing-subscriptions.v0.area-left` (a zone departure)
    AreaLeft,
    /// `org.landfall.moments.v0.arrival.<level>`
    Arrival(Level),
    /// `org.landfall.moments.v0.departure.<level>`
    Departure(Level),
    /// `<api prefix>.subscription-started|-updated|-ended`
    Lifecycle(Api, Lifecycle),
}

impl EventType {
    /// Every moment type (not the lifecycle ones).
    pub const MOMENT_TYPES: [EventType; 11] = [
        EventType::RoamingOn,
        EventType::RoamingOff,
        EventType::RoamingChangeCountry,
        EventType::AreaEntered,
        EventType::AreaLeft,
        EventType::Arrival(Level::Country),
        EventType::Arrival(Level::Network),
        EventType::Arrival(Level::Zone),
        EventType::Departure(Level::Country),
        EventType::Departure(Level::Network),
        EventType::Departure(Level::Zone),
    ];

    /// The dotted type string.
    pub fn as_string(&self) -> String {
        match self {
            EventType::RoamingOn => format!("{ROAMING}.roaming-on"),
            EventType::RoamingOff => format!("{ROAMING}.roaming-off"),
            EventType::RoamingChangeCountry => format!("{ROAMING}.roaming-change-country"),
            EventType::AreaEntered => format!("{GEOFENCING}.area-entered"),
            EventType::AreaLeft => format!("{GEOFENCING}.area-left"),
            EventType::Arrival(l) => format!("{LANDFALL_MOMENTS}.arrival.{}", l.as_str()),
            EventType::Departure(l) => format!("{LANDFALL_MOMENTS}.departure.{}", l.as_str()),
            EventType::Lifecycle(api, l) => {
                let prefix = match api {
                    Api::RoamingStatus => ROAMING,
                    Api::Geofencing => GEOFENCING,
                    Api::Landfall => LANDFALL_SUBSCRIPTIONS,
                };
                format!("{prefix}.{}", l.as_str())
            }
        }
    }

    /// The type of a dotted string, if it is one of ours.
    pub fn parse(s: &str) -> Option<EventType> {
        let lifecycle = |rest: &str| match rest {
            "subscription-started" => Some(Lifecycle::Started),
            "subscription-updated" => Some(Lifecycle::Updated),
            "subscription-ended" => Some(Lifecycle::Ended),
            _ => None,
        };
        let level = |rest: &str| match rest {
            "country" => Some(Level::Country),
            "network" => Some(Level::Network),
            "zone" => Some(Level::Zone),
            _ => None,
        };
        if let Some(rest) = s.strip_prefix(ROAMING).and_then(|r| r.strip_prefix('.')) {
            return match rest {
                "roaming-on" => Some(EventType::RoamingOn),
                "roaming-off" => Some(EventType::RoamingOff),
                "roaming-change-country" => Some(EventType::RoamingChangeCountry),
                r => lifecycle(r).map(|l| EventType::Lifecycle(Api::RoamingStatus, l)),
            };
        }
        if let Some(rest) = s.strip_prefix(GEOFENCING).and_then(|r| r.strip_prefix('.')) {
            return match rest {
                "area-entered" => Some(EventType::AreaEntered),
                "area-left" => Some(EventType::AreaLeft),
                r => lifecycle(r).map(|l| EventType::Lifecycle(Api::Geofencing, l)),
            };
        }
        if let Some(rest) = s
            .strip_prefix(LANDFALL_MOMENTS)
            .and_then(|r| r.strip_prefix('.'))
        {
            let (what, lv) = rest.split_once('.')?;
            let lv = level(lv)?;
            return match what {
                "arrival" => Some(EventType::Arrival(lv)),
                "departure" => Some(EventType::Departure(lv)),
                _ => None,
            };
        }
        if let Some(rest) = s
            .strip_prefix(LANDFALL_SUBSCRIPTIONS)
            .and_then(|r| r.strip_prefix('.'))
        {
            return lifecycle(rest).map(|l| EventType::Lifecycle(Api::Landfall, l));
        }
        None
    }

    /// The moment kind and level this type is about (`None` level: any level);
    /// `None` for lifecycle types.
    pub fn moment_kind(&self) -> Option<(MomentKind, Option<Level>)> {
        match self {
            EventType::RoamingOn => Some((MomentKind::RoamingOn, None)),
            EventType::RoamingOff => Some((MomentKind::RoamingOff, None)),
            EventType::RoamingChangeCountry => Some((MomentKind::RoamingChangeCountry, None)),
            EventType::AreaEntered => Some((MomentKind::Arrival, Some(Level::Zone))),
            EventType::AreaLeft => Some((MomentKind::Departure, Some(Level::Zone))),
            EventType::Arrival(l) => Some((MomentKind::Arrival, Some(*l))),
            EventType::Departure(l) => Some((MomentKind::Departure, Some(*l))),
            EventType::Lifecycle(..) => None,
        }
    }

    /// Whether a moment is an event of this type.
    pub fn matches(&self, m: &Moment) -> bool {
        self.moment_kind()
            .is_some_and(|(k, l)| k == m.kind && l.is_none_or(|l| l == m.level))
    }
}

/// How events are rendered: the operator's settings.
#[derive(Clone, Debug)]
pub struct RenderConfig {
    /// The CloudEvent `source`, e.g. `urn:landfall:<operator>`.
    pub source: String,
    /// When set, `expires_at = moment time + ttl_us` (else the moment's own `expires_at`).
    pub ttl_us: Option<i64>,
    /// The MCC of a serving country, for CAMARA's `countryCode` (omitted when unknown).
    /// Countries written as MCC digits (test networks) need no table.
    pub mcc_of: Option<fn(Country) -> Option<u16>>,
}

impl RenderConfig {
    pub fn new(source: impl Into<String>) -> RenderConfig {
        RenderConfig {
            source: source.into(),
            ttl_us: None,
            mcc_of: None,
        }
    }
}

/// A rendered event, ready for the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedEvent {
    /// The CloudEvent id (also the `webhook-id`): 32 lowercase hex characters.
    pub id: String,
    pub event_type: String,
    /// The CloudEvent's JSON (structured mode).
    pub body: Vec<u8>,
    /// When the event stops being worth delivering (µs), if ever.
    pub expires_at_us: Option<TimestampUs>,
}

impl RenderedEvent {
    /// The outbox row of this event for a subscription's sink (`None`: pull only);
    /// `detected_at_us` starts the delivery latency.
    pub fn into_outbox(
        self,
        partner: u32,
        subscription: u64,
        sink_url: Option<String>,
        sink_bearer: Option<String>,
        detected_at_us: TimestampUs,
    ) -> crate::outbox::OutboxEvent {
        crate::outbox::OutboxEvent {
            event_id: self.id,
            partner,
            subscription,
            sink_url,
            sink_bearer,
            event_type: self.event_type,
            body: self.body,
            created_at_us: detected_at_us,
            expires_at_us: self.expires_at_us,
        }
    }
}

/// Why an event could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("event type {0} is not about a moment of kind {1} at level {2}")]
    TypeMismatch(String, &'static str, &'static str),
    #[error("event type {0} is not a lifecycle type")]
    NotLifecycle(String),
    #[error("a partner key is empty")]
    EmptyKey,
}

/// CAMARA's reasons a subscription ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TerminationReason {
    MaxEventsReached,
    NetworkTerminated,
    SubscriptionExpired,
    AccessTokenExpired,
    SubscriptionDeleted,
}

impl TerminationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminationReason::MaxEventsReached => "MAX_EVENTS_REACHED",
            TerminationReason::NetworkTerminated => "NETWORK_TERMINATED",
            TerminationReason::SubscriptionExpired => "SUBSCRIPTION_EXPIRED",
            TerminationReason::AccessTokenExpired => "ACCESS_TOKEN_EXPIRED",
            TerminationReason::SubscriptionDeleted => "SUBSCRIPTION_DELETED",
        }
    }
}

/// What a lifecycle event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleChange {
    /// `subscription-started`, `initiationReason: SUBSCRIPTION_CREATED`.
    Started,
    /// `subscription-updated`: active (true) or inactive (false).
    Updated { active: bool },
    /// `subscription-ended` with its reason and an optional description.
    Ended {
        reason: TerminationReason,
        description: Option<String>,
    },
}

pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], RenderError> {
    if key.is_empty() {
        return Err(RenderError::EmptyKey);
    }
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| RenderError::EmptyKey)?;
    for p in parts {
        // Length-prefixed: no two different part lists give the same input.
        mac.update(&(p.len() as u32).to_be_bytes());
        mac.update(p);
    }
    Ok(mac.finalize().into_bytes().into())
}

pub(crate) fn hex16(d: &[u8; 32]) -> String {
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The partner's pseudonym of a subscriber: HMAC-SHA256(pseudonym key, IMSI digits),
/// the first 16 bytes (128 bits: no collisions among 10^15 IMSIs in practice) in
/// base64url without padding (22 characters).
pub fn pseudonym(keys: &PartnerKeys, imsi_digits: &str) -> Result<String, RenderError> {
    let d = hmac(
        &keys.pseudonym_key,
        &[b"landfall/pseudonym/v1", imsi_digits.as_bytes()],
    )?;
    Ok(URL_SAFE_NO_PAD.encode(&d[..16]))
}

/// The CloudEvent id of a match delivered as `event_type`: HMAC-SHA256(id key, moment
/// id, subscription, type), 16 bytes in hex. Deterministic, so retries, restarts and
/// re-derived matches keep it; keyed, so it reveals nothing of the moment id.
pub fn event_id(
    keys: &PartnerKeys,
    moment: &Moment,
    subscription: u64,
    event_type: &str,
) -> Result<String, RenderError> {
    let d = hmac(
        &keys.id_key,
        &[
            b"landfall/event/v1",
            &moment.id.0,
            &subscription.to_be_bytes(),
            event_type.as_bytes(),
        ],
    )?;
    Ok(hex16(&d))
}

pub(crate) fn area_json(a: &Area) -> Value {
    area_json_text(a.level().as_str(), &area_text(a))
}

pub(crate) fn area_json_text(level: &str, id: &str) -> Value {
    json!({ "level": level, "id": id })
}

fn country_of(a: &Area) -> Option<Country> {
    match a {
        Area::Country(c) => Some(*c),
        _ => None,
    }
}

fn mcc(cfg: &RenderConfig, c: Country) -> Option<u16> {
    let s = c.as_str();
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    cfg.mcc_of.and_then(|f| f(c))
}

fn device(keys: &PartnerKeys, m: &Moment) -> Result<Value, RenderError> {
    let mut d = Map::new();
    d.insert(
        "pseudonym".into(),
        Value::String(pseudonym(keys, m.imsi.as_str())?),
    );
    if keys.msisdn_allowed {
        if let Some(msisdn) = m.msisdn {
            d.insert(
                "phoneNumber".into(),
                Value::String(format!("+{}", msisdn.as_str())),
            );
        }
    }
    Ok(Value::Object(d))
}

pub(crate) fn envelope(
    cfg: &RenderConfig,
    id: &str,
    ty: &str,
    time_us: TimestampUs,
    data: Value,
) -> Vec<u8> {
    let ce = json!({
        "specversion": "1.0",
        "id": id,
        "source": cfg.source,
        "type": ty,
        "time": rfc3339_us(time_us),
        "datacontenttype": "application/json",
        "data": data,
    });
    serde_json::to_vec(&ce).unwrap_or_default()
}

/// Render match `m` as an event of `event_type` for its partner.
///
/// `data` holds CAMARA's fields for CAMARA types (`device` = the pseudonym and, if
/// allowed, `phoneNumber`; `subscriptionId`; roaming: `countryCode`/`countryName`;
/// geofencing: `area`) and landfall's fields for every type: `kind`, `area`,
/// `previousArea`, `nextArea`, `homeCountry`, `homeNetwork`, `rat`, `eventTime`,
/// `detectionTime`, `expiresAt`. The CloudEvent `time` is the event time.
pub fn render_match(
    cfg: &RenderConfig,
    keys: &PartnerKeys,
    m: &Match,
    event_type: EventType,
    detected_at_us: TimestampUs,
) -> Result<RenderedEvent, RenderError> {
    let mo = &m.moment;
    let ty = event_type.as_string();
    if !event_type.matches(mo) {
        return Err(RenderError::TypeMismatch(
            ty,
            mo.kind.as_str(),
            mo.level.as_str(),
        ));
    }
    let id = event_id(keys, mo, m.subscription, &ty)?;
    let expires_at = cfg
        .ttl_us
        .map_or(mo.expires_at, |t| mo.at.saturating_add(t));
    let mut data = Map::new();
    data.insert("device".into(), device(keys, mo)?);
    data.insert(
        "subscriptionId".into(),
        Value::String(m.subscription.to_string()),
    );
    match event_type {
        EventType::RoamingOn | EventType::RoamingChangeCountry => {
            if let Some(c) = country_of(&mo.area) {
                if let Some(code) = mcc(cfg, c) {
                    data.insert("countryCode".into(), json!(code));
                }
                let names: Vec<&str> = if c.as_str().bytes().all(|b| b.is_ascii_alphabetic()) {
                    vec![c.as_str()]
                } else {
                    vec![]
                };
                data.insert("countryName".into(), json!(names));
            }
        }
        EventType::AreaEntered | EventType::AreaLeft => {
            // CAMARA describes the subscription's area (a circle or polygon); landfall's
            // areas are operator zones, named by id.
            data.insert(
                "area".into(),
                json!({ "areaType": "ZONE", "zoneId": area_text(&mo.area) }),
            );
        }
        _ => {}
    }
    data.insert("kind".into(), json!(mo.kind.as_str()));
    // Geofencing's `area` is CAMARA's; landfall's own area goes under `landfallArea`
    // there, and `area` everywhere else.
    let area_key = if matches!(event_type, EventType::AreaEntered | EventType::AreaLeft) {
        "landfallArea"
    } else {
        "area"
    };
    data.insert(area_key.into(), area_json(&mo.area));
    if let Some(from) = &mo.from {
        data.insert("previousArea".into(), area_json(from));
    }
    if let Some(to) = &mo.to {
        data.insert("nextArea".into(), area_json(to));
    }
    if let Some(c) = mo.home_country {
        data.insert("homeCountry".into(), json!(c.as_str()));
    }
    if let Some(p) = mo.home {
        data.insert("homeNetwork".into(), json!(p.to_string()));
    }
    if let Some(r) = mo.rat {
        data.insert("rat".into(), json!(r));
    }
    data.insert("eventTime".into(), json!(rfc3339_us(mo.at)));
    data.insert("detectionTime".into(), json!(rfc3339_us(detected_at_us)));
    data.insert("expiresAt".into(), json!(rfc3339_us(expires_at)));
    Ok(RenderedEvent {
        body: envelope(cfg, &id, &ty, mo.at, Value::Object(data)),
        id,
        event_type: ty,
        expires_at_us: Some(expires_at),
    })
}

/// Render a lifecycle event of `subscription`, of type `event_type` (a
/// [`EventType::Lifecycle`] whose [`Lifecycle`] agrees with `change`) at `at_us`.
///
/// The id is keyed like a match's, over the subscription, the change and `at_us`: the
/// same change rendered again (a restart) keeps its id. Lifecycle events never expire.
pub fn render_lifecycle(
    cfg: &RenderConfig,
    keys: &PartnerKeys,
    subscription: u64,
    event_type: EventType,
    change: &LifecycleChange,
    at_us: TimestampUs,
) -> Result<RenderedEvent, RenderError> {
    let ty = event_type.as_string();
    let EventType::Lifecycle(_, kind) = event_type else {
        return Err(RenderError::NotLifecycle(ty));
    };
    let (want, mut data) = match change {
        LifecycleChange::Started => (
            Lifecycle::Started,
            json!({ "initiationReason": "SUBSCRIPTION_CREATED" }),
        ),
        LifecycleChange::Updated { active } => (
            Lifecycle::Updated,
            json!({ "updateReason": if *active { "SUBSCRIPTION_ACTIVE" } else { "SUBSCRIPTION_INACTIVE" } }),
        ),
        LifecycleChange::Ended {
            reason,
            description,
        } => {
            let mut d = json!({ "terminationReason": reason.as_str() });
            if let Some(text) = description {
                d["terminationDescription"] = json!(text);
            }
            (Lifecycle::Ended, d)
        }
    };
    if want != kind {
        return Err(RenderError::NotLifecycle(ty));
    }
    data["subscriptionId"] = json!(subscription.to_string());
    let reason = data.to_string();
    let d = hmac(
        &keys.id_key,
        &[
            b"landfall/lifecycle/v1",
            &subscription.to_be_bytes(),
            ty.as_bytes(),
            reason.as_bytes(),
            &at_us.to_be_bytes(),
        ],
    )?;
    let id = hex16(&d);
    Ok(RenderedEvent {
        body: envelope(cfg, &id, &ty, at_us, data),
        id,
        event_type: ty,
        expires_at_us: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use landfall_model::identity::{Imsi, Msisdn, Plmn};
    use landfall_model::moment::{MomentId, Rules};
    use landfall_model::partner::{PartnerId, Purpose};
    use landfall_model::signal::{Proto, Provenance};
    use landfall_model::zone::ZoneId;

    pub(crate) fn moment(kind: MomentKind, area: Area, from: Option<Area>) -> Moment {
        let imsi = Imsi::parse("208011234567890").unwrap();
        let at = 1_700_000_000_000_000;
        Moment {
            id: MomentId::derive(&imsi, kind, area.level(), &area, at),
            kind,
            level: area.level(),
            area,
            from,
            to: None,
            imsi,
            msisdn: Some(Msisdn::parse("33612345678").unwrap()),
            home: Some(Plmn::new(208, 1, 2)),
            home_country: Country::new("FR"),
            rat: Some(6),
            at,
            expires_at: at + Rules::default().ttl_us,
            source: Provenance {
                file: 0,
                frame: 1,
                proto: Proto::Diameter,
                message: 316,
            },
        }
    }

    fn keys(msisdn_allowed: bool) -> PartnerKeys {
        PartnerKeys {
            pseudonym_key: b"pseudonym key of partner 7".to_vec(),
            id_key: b"id key of partner 7".to_vec(),
            msisdn_allowed,
        }
    }

    fn matched(m: Moment) -> Match {
        Match {
            partner: PartnerId(7),
            subscription: 42,
            purpose: Purpose(1),
            moment: m,
        }
    }

    #[test]
    fn types_round_trip_and_match() {
        let mut all: Vec<EventType> = EventType::MOMENT_TYPES.to_vec();
        for api in [Api::RoamingStatus, Api::Geofencing, Api::Landfall] {
            for l in [Lifecycle::Started, Lifecycle::Updated, Lifecycle::Ended] {
                all.push(EventType::Lifecycle(api, l));
            }
        }
        for t in all {
            assert_eq!(EventType::parse(&t.as_string()), Some(t), "{t:?}");
        }
        assert_eq!(
            EventType::RoamingOn.as_string(),
            "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-on"
        );
        assert_eq!(
            EventType::Arrival(Level::Country).as_string(),
            "org.landfall.moments.v0.arrival.country"
        );
        assert_eq!(
            EventType::parse("org.landfall.moments.v0.arrival.planet"),
            None
        );
        assert_eq!(
            EventType::parse("org.camaraproject.geofencing-subscriptions.v0"),
            None
        );
        let zone = Area::Zone(ZoneId::new("harbour").unwrap());
        let m = moment(MomentKind::Arrival, zone, None);
        assert!(EventType::AreaEntered.matches(&m));
        assert!(EventType::Arrival(Level::Zone).matches(&m));
        assert!(!EventType::Arrival(Level::Country).matches(&m));
        assert!(!EventType::AreaLeft.matches(&m));
    }

    #[test]
    fn roaming_on_is_a_camara_cloudevent_without_the_imsi() {
        let fr = Area::Country(Country::new("FR").unwrap());
        let de = Area::Country(Country::new("DE").unwrap());
        let mut m = moment(MomentKind::RoamingOn, de, Some(fr));
        m.home_country = Country::new("FR");
        let cfg = RenderConfig {
            mcc_of: Some(|c| (c.as_str() == "DE").then_some(262)),
            ..RenderConfig::new("urn:landfall:test")
        };
        let ev = render_match(
            &cfg,
            &keys(false),
            &matched(m),
            EventType::RoamingOn,
            m.at + 5,
        )
        .unwrap();
        let text = String::from_utf8(ev.body.clone()).unwrap();
        assert!(!text.contains("208011234567890"), "{text}");
        assert!(!text.contains("33612345678"), "{text}");
        assert!(!text.contains(&m.id.to_hex()), "{text}");
        let v: Value = serde_json::from_slice(&ev.body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "urn:landfall:test");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["type"], EventType::RoamingOn.as_string());
        assert_eq!(v["id"], ev.id);
        assert_eq!(v["time"], rfc3339_us(m.at));
        let d = &v["data"];
        assert_eq!(d["subscriptionId"], "42");
        assert_eq!(d["countryCode"], 262);
        assert_eq!(d["countryName"], json!(["DE"]));
        assert_eq!(d["device"]["pseudonym"].as_str().unwrap().len(), 22);
        assert!(d["device"].get("phoneNumber").is_none());
        assert_eq!(d["previousArea"], json!({"level": "country", "id": "FR"}));
        assert_eq!(d["homeNetwork"], "208-01");
        assert_eq!(d["rat"], 6);
        assert_eq!(d["expiresAt"], rfc3339_us(m.expires_at));
        assert_eq!(d["detectionTime"], rfc3339_us(m.at + 5));
        assert_eq!(ev.expires_at_us, Some(m.expires_at));
    }

    #[test]
    fn msisdn_only_when_allowed_and_ids_keyed() {
        let zone = Area::Zone(ZoneId::new("harbour").unwrap());
        let m = moment(MomentKind::Arrival, zone, None);
        let cfg = RenderConfig {
            ttl_us: Some(60_000_000),
            ..RenderConfig::new("urn:landfall:test")
        };
        let a = render_match(&cfg, &keys(true), &matched(m), EventType::AreaEntered, m.at).unwrap();
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["data"]["device"]["phoneNumber"], "+33612345678");
        assert_eq!(v["data"]["area"]["zoneId"], "harbour");
        assert_eq!(v["data"]["landfallArea"]["level"], "zone");
        assert_eq!(a.expires_at_us, Some(m.at + 60_000_000));
        // Stable: the same match renders the same id.
        let again = render_match(
            &cfg,
            &keys(true),
            &matched(m),
            EventType::AreaEntered,
            m.at + 9,
        )
        .unwrap();
        assert_eq!(again.id, a.id);
        // Another type, subscription or key: another id; another pseudonym key: another
        // pseudonym.
        let other_type = render_match(
            &cfg,
            &keys(true),
            &matched(m),
            EventType::Arrival(Level::Zone),
            m.at,
        )
        .unwrap();
        assert_ne!(other_type.id, a.id);
        let mut other_sub = matched(m);
        other_sub.subscription = 43;
        assert_ne!(
            render_match(&cfg, &keys(true), &other_sub, EventType::AreaEntered, m.at)
                .unwrap()
                .id,
            a.id
        );
        let mut k2 = keys(true);
        k2.id_key = b"another id key".to_vec();
        k2.pseudonym_key = b"another pseudonym key".to_vec();
        assert_ne!(
            render_match(&cfg, &k2, &matched(m), EventType::AreaEntered, m.at)
                .unwrap()
                .id,
            a.id
        );
        assert_ne!(
            pseudonym(&k2, m.imsi.as_str()).unwrap(),
            pseudonym(&keys(true), m.imsi.as_str()).unwrap()
        );
        // Wrong type for the moment, empty key: typed errors.
        assert!(matches!(
            render_match(&cfg, &keys(true), &matched(m), EventType::RoamingOn, m.at),
            Err(RenderError::TypeMismatch(..))
        ));
        let mut empty = keys(true);
        empty.id_key.clear();
        assert_eq!(
            render_match(&cfg, &empty, &matched(m), EventType::AreaEntered, m.at),
            Err(RenderError::EmptyKey)
        );
    }

    #[test]
    fn lifecycle_events() {
        let cfg = RenderConfig::new("urn:landfall:test");
        let ended = LifecycleChange::Ended {
            reason: TerminationReason::SubscriptionDeleted,
            description: Some("deleted by the partner".into()),
        };
        let ty = EventType::Lifecycle(Api::RoamingStatus, Lifecycle::Ended);
        let ev = render_lifecycle(&cfg, &keys(false), 42, ty, &ended, 1_000_000).unwrap();
        let v: Value = serde_json::from_slice(&ev.body).unwrap();
        assert_eq!(
            v["type"],
            "org.camaraproject.device-roaming-status-subscriptions.v0.subscription-ended"
        );
        assert_eq!(v["data"]["terminationReason"], "SUBSCRIPTION_DELETED");
        assert_eq!(
            v["data"]["terminationDescription"],
            "deleted by the partner"
        );
        assert_eq!(v["data"]["subscriptionId"], "42");
        assert_eq!(ev.expires_at_us, None);
        let again = render_lifecycle(&cfg, &keys(false), 42, ty, &ended, 1_000_000).unwrap();
        assert_eq!(again, ev);
        let started = render_lifecycle(
            &cfg,
            &keys(false),
            42,
            EventType::Lifecycle(Api::Geofencing, Lifecycle::Started),
            &LifecycleChange::Started,
            1_000_000,
        )
        .unwrap();
        assert_ne!(started.id, ev.id);
        let v: Value = serde_json::from_slice(&started.body).unwrap();
        assert_eq!(v["data"]["initiationReason"], "SUBSCRIPTION_CREATED");
        // A change that disagrees with the type is refused.
        assert!(
            render_lifecycle(&cfg, &keys(false), 42, ty, &LifecycleChange::Started, 0).is_err()
        );
        assert!(render_lifecycle(&cfg, &keys(false), 42, EventType::RoamingOn, &ended, 0).is_err());
    }
}

//! What the registry keeps: partners, subscriptions (what the partner asked for, derived
//! into what the dataflow and delivery need), and the dynamic circle zones.

use std::fmt;

use landfall_model::{Area, Imsi, Level, Moment, Msisdn, PartnerId, Purpose, Subscription, ZoneId};
use serde::{Deserialize, Serialize};

use crate::types;

/// Microseconds since the Unix epoch (wall clock, like the moments' event times).
pub type TimeUs = i64;

/// The wall clock now, in µs.
pub fn now_us() -> TimeUs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A partner. Its secrets are here because delivery needs them (signing, pseudonyms,
/// event ids); `Debug` never shows them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    /// The purposes it may subscribe for (consent is per purpose).
    pub purposes: Vec<Purpose>,
    /// Whether events may carry the subscriber's MSISDN.
    pub msisdn_allowed: bool,
    /// Whether it holds per-person consent: false = aggregates only.
    pub per_person_consent: bool,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret.
    pub webhook_secret: String,
    /// Key of the per-partner subscriber pseudonym (HMAC of the IMSI).
    pub pseudonym_key: [u8; 32],
    /// Key of the per-partner CloudEvent id (HMAC of the moment id).
    pub event_id_key: [u8; 32],
    pub created_at: TimeUs,
}

impl fmt::Debug for Partner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partner")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("purposes", &self.purposes)
            .field("msisdn_allowed", &self.msisdn_allowed)
            .field("per_person_consent", &self.per_person_consent)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// One device a subscription is about (CAMARA's `device`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceFilter {
    /// `phoneNumber`: matched against the moment's MSISDN.
    Msisdn(Msisdn),
    /// `networkAccessIdentifier` `imsi-<digits>@…` (or the bare IMSI): the moment's IMSI.
    Imsi(Imsi),
}

impl DeviceFilter {
    pub fn admits(&self, m: &Moment) -> bool {
        match self {
            DeviceFilter::Msisdn(n) => m.msisdn.as_ref() == Some(n),
            DeviceFilter::Imsi(i) => m.imsi == *i,
        }
    }
}

impl fmt::Debug for DeviceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceFilter::Msisdn(_) => f.write_str("DeviceFilter::Msisdn(<redacted>)"),
            DeviceFilter::Imsi(_) => f.write_str("DeviceFilter::Imsi(<redacted>)"),
        }
    }
}

/// A circle subscription's area: a zone the dataflow does not know until it is told
/// ([`crate::RegistryChange::CircleZoneAdded`]); its id is `circle:<subscription id hex>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircleZone {
    pub id: ZoneId,
    pub lon: f64,
    pub lat: f64,
    pub radius_m: u32,
}

impl CircleZone {
    /// The zone id of subscription `id`'s circle (23 characters at most).
    pub fn id_for(subscription: u64) -> ZoneId {
        // "circle:" + 16 hex digits = 23 = ZoneId::MAX_LEN.
        ZoneId::new(&format!("circle:{subscription:016x}")).expect("a valid zone id")
    }
}

/// What a subscription delivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Per-person moments: `subscription` goes into the dataflow's partner stage. It
    /// cannot say the level or the device itself, so each of its matches must also pass
    /// [`StoredSubscription::admits`].
    Moments {
        subscription: Subscription,
        level: Level,
        device: Option<DeviceFilter>,
    },
    /// Aggregates (never per-person): arrivals in `area` (any area of `level` if none),
    /// per home country and `interval_us`, counts below k suppressed.
    Aggregate {
        purpose: Purpose,
        level: Level,
        area: Option<Area>,
        interval_us: i64,
    },
}

/// CAMARA's subscription status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionState {
    Active,
    Expired,
    Inactive,
    Deleted,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Active => "ACTIVE",
            SubscriptionState::Expired => "EXPIRED",
            SubscriptionState::Inactive => "INACTIVE",
            SubscriptionState::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> Option<SubscriptionState> {
        Some(match s {
            "ACTIVE" => SubscriptionState::Active,
            "EXPIRED" => SubscriptionState::Expired,
            "INACTIVE" => SubscriptionState::Inactive,
            "DELETED" => SubscriptionState::Deleted,
            _ => return None,
        })
    }
}

/// CAMARA's `terminationReason` of a `subscription-ended` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TerminationReason {
    /// The partner deleted it.
    SubscriptionDeleted,
    /// `subscriptionExpireTime` passed.
    SubscriptionExpired,
    /// `subscriptionMaxEvents` delivered.
    MaxEventsReached,
    /// The sink's access token expired.
    AccessTokenExpired,
    /// The operator ended it (partner removed, `410 Gone` from the sink, …).
    NetworkTerminated,
}

impl TerminationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminationReason::SubscriptionDeleted => "SUBSCRIPTION_DELETED",
            TerminationReason::SubscriptionExpired => "SUBSCRIPTION_EXPIRED",
            TerminationReason::MaxEventsReached => "MAX_EVENTS_REACHED",
            TerminationReason::AccessTokenExpired => "ACCESS_TOKEN_EXPIRED",
            TerminationReason::NetworkTerminated => "NETWORK_TERMINATED",
        }
    }

    /// The status a subscription ended for this reason is left in.
    pub fn state(self) -> SubscriptionState {
        match self {
            TerminationReason::SubscriptionDeleted | TerminationReason::NetworkTerminated => {
                SubscriptionState::Deleted
            }
            _ => SubscriptionState::Expired,
        }
    }
}

/// The sink's bearer token (CAMARA `sinkCredential`, `ACCESSTOKEN`/`bearer`): delivery
/// sends it as `Authorization: Bearer`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkToken {
    pub token: String,
    pub expires_at: Option<TimeUs>,
}

impl fmt::Debug for SinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A subscription as stored: the derived target plus everything delivery needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSubscription {
    pub id: u64,
    pub partner: PartnerId,
    /// The one type it asked for: the `type` of the events sent for it.
    pub event_type: String,
    pub target: Target,
    /// The circle zone of a circle area.
    pub circle: Option<CircleZone>,
    /// Where events go (https URL, checked by the sink check).
    pub sink: String,
    pub sink_token: Option<SinkToken>,
    pub starts_at: TimeUs,
    /// `subscriptionExpireTime`.
    pub expires_at: Option<TimeUs>,
    /// `subscriptionMaxEvents`.
    pub max_events: Option<u32>,
    /// `initialEvent`: whether the partner asked for the current state at creation.
    pub initial_event: bool,
    pub state: SubscriptionState,
}

impl StoredSubscription {
    /// The dataflow's subscription, if per-person (none for aggregates).
    pub fn person_subscription(&self) -> Option<&Subscription> {
        match &self.target {
            Target::Moments { subscription, .. } => Some(subscription),
            Target::Aggregate { .. } => None,
        }
    }

    /// What the model's [`Subscription::accepts`] cannot say: the level and the device.
    /// A match of this subscription is delivered only if this holds for its moment.
    pub fn admits(&self, m: &Moment) -> bool {
        match &self.target {
            Target::Moments { level, device, .. } => {
                m.level == *level && device.is_none_or(|d| d.admits(m))
            }
            Target::Aggregate { .. } => false,
        }
    }

    /// The namespace of its lifecycle events.
    pub fn lifecycle_namespace(&self) -> &str {
        types::namespace(&self.event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use landfall_model::{Direction, MomentId, MomentKind, Proto, Provenance};

    fn moment(level: Level, imsi: &str, msisdn: Option<&str>) -> Moment {
        let area = match level {
            Level::Zone => Area::Zone(ZoneId::new("cdg-t2").unwrap()),
            Level::Network => Area::Network(landfall_model::Plmn::new(208, 1, 2)),
            Level::Country => Area::Country(landfall_model::Country::new("FR").unwrap()),
        };
        Moment {
            id: MomentId([0; 16]),
            kind: MomentKind::Arrival,
            level,
            area,
            from: None,
            to: None,
            imsi: Imsi::parse(imsi).unwrap(),
            msisdn: msisdn.map(|m| Msisdn::parse(m).unwrap()),
            home: None,
            home_country: None,
            rat: None,
            at: 0,
            expires_at: 1,
            source: Provenance {
                file: 0,
                frame: 1,
                proto: Proto::Diameter,
                message: 316,
            },
        }
    }

    fn stored(target: Target) -> StoredSubscription {
        StoredSubscription {
            id: 1,
            partner: PartnerId(1),
            event_type: "org.landfall.moments.v0.arrival.zone".into(),
            target,
            circle: None,
            sink: "https://x.example/".into(),
            sink_token: None,
            starts_at: 0,
            expires_at: None,
            max_events: None,
            initial_event: false,
            state: SubscriptionState::Active,
        }
    }

    fn moments(device: Option<DeviceFilter>) -> Target {
        Target::Moments {
            subscription: Subscription {
                id: 1,
                partner: PartnerId(1),
                purpose: Purpose(1),
                types: vec![MomentKind::Arrival],
                levels: vec![Level::Zone],
                device: None,
                areas: vec![],
                home_countries: vec![],
                home_networks: vec![],
                direction: Direction::Any,
                rats: vec![],
                expires_at: None,
                max_events: None,
                frequency_cap_us: None,
            },
            level: Level::Zone,
            device,
        }
    }

    #[test]
    fn admits_checks_the_level_and_the_device() {
        let a = "208011234567890";
        let b = "208019999999999";
        let everyone = stored(moments(None));
        assert!(everyone.admits(&moment(Level::Zone, a, None)));
        assert!(!everyone.admits(&moment(Level::Country, a, None)));
        assert!(!everyone.admits(&moment(Level::Network, a, None)));
        let by_imsi = stored(moments(Some(DeviceFilter::Imsi(Imsi::parse(a).unwrap()))));
        assert!(by_imsi.admits(&moment(Level::Zone, a, None)));
        assert!(!by_imsi.admits(&moment(Level::Zone, b, None)));
        let by_number = stored(moments(Some(DeviceFilter::Msisdn(
            Msisdn::parse("33612345678").unwrap(),
        ))));
        assert!(by_number.admits(&moment(Level::Zone, b, Some("33612345678"))));
        assert!(!by_number.admits(&moment(Level::Zone, a, Some("33600000000"))));
        assert!(!by_number.admits(&moment(Level::Zone, a, None)));
        let agg = stored(Target::Aggregate {
            purpose: Purpose(1),
            level: Level::Zone,
            area: None,
            interval_us: 1,
        });
        assert!(agg.person_subscription().is_none());
        assert!(!agg.admits(&moment(Level::Zone, a, None)));
        assert!(everyone.person_subscription().is_some());
        // Debug never shows the identifiers.
        assert!(!format!("{by_imsi:?}").contains(a));
        assert!(!format!("{by_number:?}").contains("33612345678"));
    }
}

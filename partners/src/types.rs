//! The event types: CloudEvent `type` strings ⇄ what landfall detects. One table, shared
//! by the partner API (what a subscription may ask for) and delivery (the `type` of the
//! events it renders).

use landfall_model::{Level, MomentKind};

/// CAMARA Device Roaming Status subscriptions' namespace.
pub const ROAMING_NS: &str = "org.camaraproject.device-roaming-status-subscriptions.v0";
/// CAMARA Geofencing subscriptions' namespace.
pub const GEOFENCING_NS: &str = "org.camaraproject.geofencing-subscriptions.v0";
/// landfall's own moments.
pub const MOMENTS_NS: &str = "org.landfall.moments.v0";
/// landfall's aggregates (partners without per-person consent).
pub const AGGREGATES_NS: &str = "org.landfall.aggregates.v0";
/// The lifecycle events (`subscription-started`, …) of subscriptions to landfall's own
/// types, as delivery renders them.
pub const SUBSCRIPTIONS_NS: &str = "org.landfall.subscriptions.v0";

/// The aggregate subscription type: arrivals per area × home country × interval, counting
/// distinct subscribers, suppressed below k.
pub const AGGREGATE_ARRIVALS: &str = "org.landfall.aggregates.v0.arrivals";

/// Every per-person event type: `(type, kind, level)`. Several types may name one
/// `(kind, level)` (CAMARA's `area-entered` and landfall's `arrival.zone`); an event sent
/// for a subscription carries the subscription's own type
/// ([`crate::store::StoredSubscription::event_type`]), and [`moment_type`] picks the
/// canonical one otherwise (the first in this table).
pub const EVENT_TYPES: &[(&str, MomentKind, Level)] = &[
    (
        "org.landfall.moments.v0.arrival.country",
        MomentKind::Arrival,
        Level::Country,
    ),
    (
        "org.landfall.moments.v0.arrival.network",
        MomentKind::Arrival,
        Level::Network,
    ),
    (
        "org.landfall.moments.v0.arrival.zone",
        MomentKind::Arrival,
        Level::Zone,
    ),
    (
        "org.landfall.moments.v0.departure.country",
        MomentKind::Departure,
        Level::Country,
    ),
    (
        "org.landfall.moments.v0.departure.network",
        MomentKind::Departure,
        Level::Network,
    ),
    (
        "org.landfall.moments.v0.departure.zone",
        MomentKind::Departure,
        Level::Zone,
    ),
    (
        "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-on",
        MomentKind::RoamingOn,
        Level::Country,
    ),
    (
        "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-off",
        MomentKind::RoamingOff,
        Level::Country,
    ),
    (
        "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-change-country",
        MomentKind::RoamingChangeCountry,
        Level::Country,
    ),
    (
        "org.camaraproject.geofencing-subscriptions.v0.area-entered",
        MomentKind::Arrival,
        Level::Zone,
    ),
    (
        "org.camaraproject.geofencing-subscriptions.v0.area-left",
        MomentKind::Departure,
        Level::Zone,
    ),
];

/// What a subscription type asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Per-person moments of one kind at one level.
    Moment { kind: MomentKind, level: Level },
    /// [`AGGREGATE_ARRIVALS`].
    Aggregate,
}

/// The event type named `text`, if it is one.
pub fn parse_type(text: &str) -> Option<EventType> {
    if text == AGGREGATE_ARRIVALS {
        return Some(EventType::Aggregate);
    }
    EVENT_TYPES
        .iter()
        .find(|(t, _, _)| *t == text)
        .map(|&(_, kind, level)| EventType::Moment { kind, level })
}

/// The canonical type of a moment of `kind` at `level` (the first row of
/// [`EVENT_TYPES`] for it). Roaming moments exist at the country level only; asked at
/// another level, the roaming type is still the answer.
pub fn moment_type(kind: MomentKind, level: Level) -> &'static str {
    EVENT_TYPES
        .iter()
        .find(|(_, k, l)| *k == kind && *l == level)
        .or_else(|| EVENT_TYPES.iter().find(|(_, k, _)| *k == kind))
        .map(|(t, _, _)| *t)
        .unwrap_or("org.landfall.moments.v0.unknown")
}

/// The namespace of a type (`type` up to its last dot): where the subscription's
/// lifecycle events (`<ns>.subscription-started`, `-updated`, `-ended`) live.
pub fn namespace(event_type: &str) -> &str {
    // landfall's own types (moments and aggregates) share one lifecycle namespace.
    for ns in [MOMENTS_NS, AGGREGATES_NS] {
        if event_type
            .strip_prefix(ns)
            .is_some_and(|rest| rest.starts_with('.'))
        {
            return SUBSCRIPTIONS_NS;
        }
    }
    event_type
        .rsplit_once('.')
        .map(|(ns, _)| ns)
        .unwrap_or(event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_and_names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for &(t, kind, level) in EVENT_TYPES {
            assert!(seen.insert(t), "{t} twice");
            assert_eq!(parse_type(t), Some(EventType::Moment { kind, level }));
        }
        assert_eq!(parse_type(AGGREGATE_ARRIVALS), Some(EventType::Aggregate));
        assert_eq!(parse_type("org.landfall.moments.v0.arrival"), None);
    }

    #[test]
    fn canonical_types_and_namespaces() {
        assert_eq!(
            moment_type(MomentKind::Arrival, Level::Zone),
            "org.landfall.moments.v0.arrival.zone"
        );
        assert_eq!(
            moment_type(MomentKind::RoamingOn, Level::Network),
            "org.camaraproject.device-roaming-status-subscriptions.v0.roaming-on"
        );
        assert_eq!(
            namespace("org.landfall.moments.v0.arrival.zone"),
            SUBSCRIPTIONS_NS
        );
        assert_eq!(
            namespace("org.camaraproject.geofencing-subscriptions.v0.area-left"),
            GEOFENCING_NS
        );
        assert_eq!(namespace(AGGREGATE_ARRIVALS), SUBSCRIPTIONS_NS);
    }
}

//! What the running service learns of the registry: every accepted change, sent once it
//! is committed to SQLite, in commit order, through a [`ChangeSink`] (plain threads on the
//! other side: `std::sync::mpsc::SyncSender` is one).

use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;

use landfall_model::{Consent, Imsi, PartnerId, Subscription, ZoneId};

use crate::records::{CircleZone, Partner, StoredSubscription, TerminationReason, TimeUs};

/// One committed change of the registry. Each is a real change: granting a consent held
/// already, or adding an opt-out present already, sends nothing, so the dataflow can
/// count each `Added`/`Granted` as +1 and each `Removed`/`Withdrawn` as −1.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistryChange {
    /// A partner created or changed (its secrets and flags are delivery's).
    PartnerUpserted(Arc<Partner>),
    /// A partner removed (its subscriptions and consents went first, each with its own
    /// change).
    PartnerRemoved(PartnerId),
    /// An active subscription: into the partner stage (if per-person,
    /// [`StoredSubscription::person_subscription`]) or the aggregates, and delivery.
    SubscriptionAdded(Arc<StoredSubscription>),
    /// A subscription ended (deleted, expired, …): `subscription` is the value to retract
    /// from the partner stage (`None` for aggregates).
    SubscriptionRemoved {
        id: u64,
        partner: PartnerId,
        subscription: Option<Box<Subscription>>,
        reason: TerminationReason,
    },
    ConsentGranted(Consent),
    ConsentWithdrawn(Consent),
    OptOutAdded(Imsi),
    OptOutRemoved(Imsi),
    /// A circle subscription's zone: the dataflow's zone membership must learn it before
    /// (or with) the subscription naming it.
    CircleZoneAdded(CircleZone),
    CircleZoneRemoved(ZoneId),
    /// A lifecycle event to render and deliver (`subscription-started`/`-ended`).
    Lifecycle(LifecycleEvent),
}

/// Which lifecycle event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleKind {
    Started,
    Updated,
    Ended,
}

impl LifecycleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleKind::Started => "subscription-started",
            LifecycleKind::Updated => "subscription-updated",
            LifecycleKind::Ended => "subscription-ended",
        }
    }
}

/// A CAMARA lifecycle event of a subscription: CloudEvent type
/// `<namespace>.<kind>` ([`LifecycleEvent::event_type`]), data `subscriptionId`,
/// `terminationReason` (ended only). Sent to the subscription's sink.
#[derive(Clone, Debug, PartialEq)]
pub struct LifecycleEvent {
    pub kind: LifecycleKind,
    pub subscription: Arc<StoredSubscription>,
    pub termination_reason: Option<TerminationReason>,
    pub at: TimeUs,
}

impl LifecycleEvent {
    /// E.g. `org.camaraproject.geofencing-subscriptions.v0.subscription-ended`.
    pub fn event_type(&self) -> String {
        format!(
            "{}.{}",
            self.subscription.lifecycle_namespace(),
            self.kind.as_str()
        )
    }

    /// The CloudEvent's `data`: `subscriptionId`, and `terminationReason` when ended.
    pub fn data(&self) -> serde_json::Value {
        let mut d = serde_json::json!({ "subscriptionId": self.subscription.id.to_string() });
        if let Some(r) = self.termination_reason {
            d["terminationReason"] = r.as_str().into();
        }
        d
    }
}

/// Where committed changes go. Called with the registry's lock held, so changes arrive
/// in commit order; it may block (a bounded channel), never call back into the registry.
pub trait ChangeSink: Send + Sync {
    fn send(&self, change: RegistryChange);
}

impl ChangeSink for SyncSender<RegistryChange> {
    fn send(&self, change: RegistryChange) {
        if SyncSender::send(self, change).is_err() {
            tracing::warn!("registry change dropped: the receiver is gone");
        }
    }
}

impl ChangeSink for Sender<RegistryChange> {
    fn send(&self, change: RegistryChange) {
        if Sender::send(self, change).is_err() {
            tracing::warn!("registry change dropped: the receiver is gone");
        }
    }
}

/// Drops every change (a registry nobody runs a dataflow for: tools, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl ChangeSink for Discard {
    fn send(&self, _change: RegistryChange) {}
}

//! landfall's partner side: the partner API (CAMARA-shaped subscriptions), the operator
//! API (partners, keys, consent, opt-outs, delivery's dead letters) and their SQLite
//! persistence. Every committed change reaches the running dataflow as a
//! [`RegistryChange`] through the [`ChangeSink`] the service provides.
//!
//! * [`types`]: event type strings ⇄ (`MomentKind`, `Level`), shared with delivery.
//! * [`camara`]: request/response bodies and their validation.
//! * [`store`]: [`Registry`] (SQLite, WAL) and the startup [`RegistrySnapshot`].
//! * [`changes`]: [`RegistryChange`], [`ChangeSink`], lifecycle events.
//! * [`api`]: the axum routers, [`ApiState`], [`DeliveryAdmin`].
//! * [`sink`]: [`SinkCheck`] (delivery's SSRF guard plugs in), [`HttpsOnly`].
//! * [`openapi`]: `/openapi.json`, generated with utoipa.

pub mod api;
pub mod camara;
pub mod changes;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod records;
pub mod sink;
pub mod store;
pub mod types;

pub use api::{partner_auth, router, routes, ApiState, DeliveryAdmin, NoDelivery};
pub use changes::{ChangeSink, LifecycleEvent, LifecycleKind, RegistryChange};
pub use error::{ApiError, ErrorInfo};
pub use records::{
    CircleZone, DeviceFilter, Partner, StoredSubscription, SubscriptionState, Target,
    TerminationReason,
};
pub use sink::{HttpsOnly, SinkCheck};
pub use store::{Registry, RegistrySnapshot, StoreError};

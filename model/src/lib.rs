//! landfall-model: the domain values every other crate speaks, and nothing else.
//!
//! [`identity`] (`Imsi`, `Msisdn`, `Plmn`, `Country`) → [`signal`] (a normalized
//! signaling transaction, what the decoders produce) → [`moment`] (an arrival, departure
//! or roaming transition, what the dataflow produces, with its deterministic id) at an
//! [`moment::Area`] that may be a [`zone`]; [`partner`] (subscriptions, consent, matches);
//! [`json`] (the moment's one JSON Lines form, written and read); [`record`] (the
//! signal's, version 1). The decoders, the
//! dataflow and the service depend on this crate; it depends on none of them.

pub mod identity;
pub mod json;
pub mod moment;
pub mod partner;
pub mod record;
pub mod signal;
pub mod zone;

pub use identity::{Country, Imsi, Msisdn, Plmn};
pub use moment::{Area, Level, Moment, MomentId, MomentKind};
pub use partner::{Consent, Direction, Match, PartnerId, Purpose, Subscription};
pub use signal::{Location, Proto, Provenance, Signal, SignalKind, TimestampUs};
pub use zone::ZoneId;

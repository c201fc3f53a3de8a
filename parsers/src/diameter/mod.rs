//! Diameter (RFC 6733) with the S6a/S6d application (3GPP TS 29.272).
//!
//! * [`header`]: the 20-byte header and the zero-copy [`Message`] view;
//! * [`avp`]: zero-copy [`Avp`]s and their iterator (grouped AVPs, padding, errors with
//!   offsets);
//! * [`repr`]: owned [`MessageRepr`]/[`AvpRepr`] trees with symmetric `emit`/`parse`;
//! * [`dictionary`]: application, command, AVP and result codes;
//! * [`framing`]: message boundaries and resynchronisation in TCP streams;
//! * [`s6a`]: the subscriber fields of a message ([`S6aFields`]);
//! * [`record`]: the `landfall inspect` record (conformance oracle schema);
//! * [`correlate`]: request/answer pairing into [`crate::Signal`]s.

pub mod avp;
pub mod correlate;
pub mod dictionary;
pub mod framing;
pub mod header;
mod inspect;
pub mod repr;
pub mod s6a;

#[cfg(test)]
mod tests;

pub use avp::{Avp, AvpFlags, AvpIter};
pub use correlate::{CorrelatorConfig, CorrelatorStats, DiameterCorrelator};
pub use header::{Flags, Header, Message, HEADER_LEN};
pub use inspect::record;
pub use repr::{AvpRepr, AvpValue, MessageRepr};
pub use s6a::{ExperimentalResult, S6aFields};

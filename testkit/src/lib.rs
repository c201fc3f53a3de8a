//! landfall-testkit: what builds captures rather than reads them. Used by the tests,
//! benchmarks and fuzz targets (as a dev-dependency) and by the binary's `scenario` and
//! `replicate` commands.
//!
//! * [`diameter`]: realistic S6a/S6d and base/Gy messages ([`diameter::S6aSession`],
//!   [`diameter::Outcome`]) as `MessageRepr`s;
//! * [`gtpv2`]: GTPv2-C S11 session messages as `Gtpv2Repr`s;
//! * [`map`]: MAP arguments and results (BER) for the MAP/TCAP messages of scenarios and
//!   tests;
//! * [`sbi`]: 5G SBI Nudm UECM registrations and purges (typed bodies) over an HTTP/2
//!   cleartext connection (preface, SETTINGS, HPACK per direction) as `FrameRepr`s;
//! * [`feed`]: shuffled schedules of signals for the dataflow runner's out-of-order
//!   tests, and which signals they make late;
//! * [`scenario`]: simulated endpoints (an SCTP association, a TCP connection, an M3UA
//!   link) writing Ethernet/IPv4 pcaps, and the scenarios built on them: the bundled
//!   roaming scenario and the clock-skew scenario;
//! * [`replicate`]: N time-shifted copies of a capture on their own addresses, optionally
//!   with distinct subscribers.

pub mod diameter;
pub mod feed;
pub mod gtpv2;
pub mod map;
pub mod netns;
pub mod replicate;
pub mod rotation;
pub mod sbi;
pub mod scenario;
pub mod signal;

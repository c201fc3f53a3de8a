//! landfall-parsers: carrier signaling from capture bytes to normalized [`Signal`]s.
//!
//! One folder per layer of ARCHITECTURE.md's diagram. Each codec has a typed view over
//! bytes and a `Repr` with symmetric `parse`/`emit` (the encoders build the project's
//! fixtures and round-trip tests):
//! [`capture`] (pcap/pcapng files, merged by time) → [`transport`] (link, IP with fragment
//! reassembly, UDP, TCP stream reassembly, SCTP user messages) → [`diameter`] (S6a/S6d) |
//! [`gtp`] (GTPv1-C, GTPv2-C) | [`ss7`] (SIGTRAN, SCCP, TCAP, MAP) → each protocol's
//! request/answer correlator → [`signal::Signal`]. [`numbering`] holds the reference data
//! (E.212 MCCs, E.164 calling codes); [`decode`] wires the layers into one pass over a
//! capture. [`records`] reads signal record files (JSON Lines: a probe's or pipeline's
//! transactions, or `inspect --signals`) into the same signals.

pub mod capture;
pub mod decode;
pub mod diameter;
pub mod early;
pub mod error;
pub mod flow;
pub mod gtp;
pub mod http;
pub mod ngap;
pub mod numbering;
pub mod record;
pub mod records;
pub mod sbi;
pub use landfall_model::signal;
pub mod ss7;
pub mod transport;
pub use landfall_model::identity as types;
pub mod wire;

pub use error::{DecodeError, Layer};
pub use signal::{Location, Proto, Provenance, Signal, SignalKind, TimestampUs};
pub use types::{Country, Imsi, Msisdn, Plmn};

//! landfall-parsers: carrier signaling from capture bytes to normalized [`Signal`]s.
//!
//! Layers, each a module with a typed view over bytes and a `Repr` with symmetric
//! `parse`/`emit` (the encoders build the project's fixtures and round-trip tests):
//! [`capture`] (pcap/pcapng files, merged by time) → [`link`] → [`ip`] (with fragment
//! reassembly) → [`udp`] | [`tcp`] (stream reassembly) | [`sctp`] (chunks, fragmented user
//! messages) → [`diameter`] (S6a/S6d, request/answer correlation) → [`signal::Signal`].
//! [`decode`] wires the layers into one pass over a capture.

pub mod ber;
pub mod capture;
pub mod decode;
pub mod diameter;
pub mod e164;
pub mod e212;
pub mod early;
pub mod error;
pub mod flow;
pub mod gtpv1;
pub mod gtpv2;
pub mod ip;
pub mod link;
pub mod map;
mod pending;
pub mod record;
pub mod sccp;
pub mod sctp;
pub use landfall_model::signal;
pub mod sigtran;
pub mod tcap;
pub mod tcp;
pub use landfall_model::identity as types;
pub mod udp;
pub mod wire;

pub use error::{DecodeError, Layer};
pub use signal::{Location, Proto, Provenance, Signal, SignalKind, TimestampUs};
pub use types::{Country, Imsi, Msisdn, Plmn};

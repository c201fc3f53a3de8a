//! Simulated network elements writing Ethernet/IPv4 pcaps, and the scenarios built on
//! them:
//!
//! * `endpoints`: the pcap writer (`Wire`) and the transport endpoints it
//!   drives: an SCTP association (setup, consecutive TSNs and stream sequence numbers,
//!   SACKs, bundled DATA chunks), a TCP connection (handshake, sequence and acknowledgement
//!   numbers, segments at any sequence number), UDP datagrams;
//! * `network`: the Diameter peers on those transports (MME A over SCTP, MME B over TCP,
//!   request/answer exchanges, update-location attaches) and the M3UA link of a VLR
//!   carrying MAP over TCAP over SCCP;
//! * `sbi`: the 5G SA hops (AMF → vSEPP, hSEPP → UDM, HTTP/2 over TCP) of an inbound
//!   roamer's Nudm UECM registration and purge;
//! * [`roaming`]: the bundled roaming scenario (`fixtures/roaming-scenario.pcap`);
//! * [`skew`]: the clock-skew scenario (short round trips on five links).

mod endpoints;
mod network;
pub mod roaming;
mod sbi;
pub mod skew;

use landfall_parsers::Plmn;

pub use roaming::{roaming_scenario, write_roaming_scenario};
pub use skew::{skew_scenario, SKEW_SERVERS};

/// 2026-06-01T08:00:00Z, the scenarios' first second.
pub(crate) const T0_US: i64 = 1_780_300_800_000_000;
pub(crate) const SECOND: i64 = 1_000_000;
pub(crate) const MINUTE: i64 = 60 * SECOND;
pub(crate) const HOUR: i64 = 60 * MINUTE;

pub(crate) const DIAMETER_PORT: u16 = 3868;
pub(crate) const GTPC_PORT: u16 = 2123;
/// MAP application contexts (TS 29.002 §17.3.3): networkLocUp v3, infoRetrieval v3.
pub(crate) const AC_NETWORK_LOC_UP: u8 = 1;
pub(crate) const AC_INFO_RETRIEVAL: u8 = 14;
/// S6a RAT-Type EUTRAN and ULR-Flags (S6a indicator + initial attach, or S6a indicator).
pub(crate) const RAT_EUTRAN: u32 = 1004;
pub(crate) const ULR_INITIAL_ATTACH: u32 = 0x22;
pub(crate) const ULR_UPDATE: u32 = 0x02;

pub(crate) const ORANGE_FR: Plmn = Plmn::new(208, 1, 2);
pub(crate) const SFR_FR: Plmn = Plmn::new(208, 10, 2);
pub(crate) const BOUYGUES_FR: Plmn = Plmn::new(208, 20, 2);
pub(crate) const TELEKOM_DE: Plmn = Plmn::new(262, 1, 2);
pub(crate) const ORANGE_ES: Plmn = Plmn::new(214, 7, 2);
pub(crate) const SWISSCOM_CH: Plmn = Plmn::new(228, 1, 2);
pub(crate) const CHINA_MOBILE: Plmn = Plmn::new(460, 0, 2);
pub(crate) const VODAFONE_GB: Plmn = Plmn::new(234, 15, 2);
pub(crate) const VODAFONE_IT: Plmn = Plmn::new(222, 10, 2);

//! SIGTRAN: SS7 over SCTP. [`m3ua`] (PPID 3) carries MTP3 user messages with their routing
//! label in a parameter; [`m2pa`] (PPID 5) carries whole [`mtp3`] signal units. Both lead
//! to SCCP (service indicator 3).

pub mod m2pa;
pub mod m3ua;
pub mod mtp3;

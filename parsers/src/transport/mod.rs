//! The transport layers under the signaling protocols: link framing, IP (fragment
//! reassembly), UDP, TCP (stream reassembly) and SCTP (user messages). Each module keeps
//! its wire view and `Repr` in one file and its reassembly state machine in another.

pub mod ip;
pub mod link;
pub mod sctp;
pub mod tcp;
pub mod udp;

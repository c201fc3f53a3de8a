//! SS7 over IP: SIGTRAN adaptation (M3UA, M2PA, MTP3) → SCCP → TCAP (BER) → GSM MAP,
//! with the MAP dialogue correlator.

pub mod ber;
pub mod map;
pub mod sccp;
pub mod sigtran;
pub mod tcap;

//! Numbering-plan reference data: [`e212`] (MCC → country, MNC length) and [`e164`]
//! (calling code → country, global-title prefixes → PLMN).

pub mod e164;
pub mod e212;

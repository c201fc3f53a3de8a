//! A typed view of what S6a/S6d (TS 29.272) messages say about a subscriber, extracted
//! by the conformance rules (shared/conformance/README.md): User-Name, Visited-PLMN-Id,
//! RAT-Type, ULR-Flags, Result-Code and Cancellation-Type at the top level only, the
//! Experimental-Result-Code inside the top-level Experimental-Result, and the first
//! MSISDN anywhere, depth-first.

use super::dictionary::{self, avp, ulr_flags, VENDOR_3GPP};
use super::header::Message;
use crate::types::{Digits, Imsi, Msisdn, Plmn};

/// An Experimental-Result: vendor and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExperimentalResult {
    pub vendor: Option<u32>,
    pub code: u32,
}

/// The subscriber-related fields of one Diameter message (any application: the rules
/// are the same, only S6a carries most of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct S6aFields<'a> {
    /// Raw User-Name (top level, first occurrence).
    pub user_name: Option<&'a [u8]>,
    /// Raw Visited-PLMN-Id octets.
    pub visited_plmn_raw: Option<&'a [u8]>,
    pub rat: Option<u32>,
    pub ulr_flags: Option<u32>,
    pub result_code: Option<u32>,
    pub experimental: Option<ExperimentalResult>,
    pub cancellation_type: Option<u32>,
    /// Raw MSISDN octets (TBCD), first anywhere in the message.
    pub msisdn_raw: Option<&'a [u8]>,
}

impl<'a> S6aFields<'a> {
    /// One pass over the top-level AVPs (stopping at a malformed one), plus a
    /// depth-first search for MSISDN.
    pub fn extract(msg: &Message<'a>) -> S6aFields<'a> {
        let mut f = S6aFields::default();
        for a in msg.avps().map_while(Result::ok) {
            match (a.code, a.vendor_id()) {
                (avp::USER_NAME, 0) if f.user_name.is_none() => f.user_name = Some(a.data),
                (avp::VISITED_PLMN_ID_3GPP, VENDOR_3GPP) if f.visited_plmn_raw.is_none() => {
                    f.visited_plmn_raw = Some(a.data)
                }
                (avp::RAT_TYPE_3GPP, VENDOR_3GPP) if f.rat.is_none() => f.rat = a.u32(),
                (avp::ULR_FLAGS_3GPP, VENDOR_3GPP) if f.ulr_flags.is_none() => {
                    f.ulr_flags = a.u32()
                }
                (avp::CANCELLATION_TYPE_3GPP, VENDOR_3GPP) if f.cancellation_type.is_none() => {
                    f.cancellation_type = a.u32()
                }
                (avp::RESULT_CODE, 0) if f.result_code.is_none() => f.result_code = a.u32(),
                (avp::EXPERIMENTAL_RESULT, 0) if f.experimental.is_none() => {
                    let mut vendor = None;
                    let mut code = None;
                    for c in a.grouped().map_while(Result::ok) {
                        match (c.code, c.vendor_id()) {
                            (avp::VENDOR_ID, 0) if vendor.is_none() => vendor = c.u32(),
                            (avp::EXPERIMENTAL_RESULT_CODE, 0) if code.is_none() => code = c.u32(),
                            _ => {}
                        }
                    }
                    f.experimental = code.map(|code| ExperimentalResult { vendor, code });
                }
                _ => {}
            }
        }
        f.msisdn_raw = msg.find_deep(avp::MSISDN_3GPP, VENDOR_3GPP).map(|a| a.data);
        f
    }

    /// User-Name when it is all decimal digits (any length), as text.
    pub fn user_name_digits(&self) -> Option<&'a str> {
        let u = self.user_name?;
        if u.is_empty() || !u.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(u).ok()
    }

    /// User-Name as an IMSI (all digits, at most 15).
    pub fn imsi(&self) -> Option<Imsi> {
        Imsi::parse(self.user_name_digits()?).ok()
    }

    /// Visited-PLMN-Id decoded from its 3 octets, MNC length as encoded.
    pub fn visited_plmn(&self) -> Option<Plmn> {
        Plmn::from_bcd(self.visited_plmn_raw?)
    }

    /// MSISDN as a subscriber number (TBCD, at most 15 digits).
    pub fn msisdn(&self) -> Option<Msisdn> {
        Msisdn::from_tbcd(self.msisdn_raw?).ok()
    }

    /// MSISDN digits as text for the inspect record (TBCD up to 32 digits).
    pub fn msisdn_digits(&self) -> Option<String> {
        Digits::<32>::from_tbcd(self.msisdn_raw?)
            .ok()
            .map(|d| d.as_str().to_owned())
    }

    /// Result-Code, or the Experimental-Result-Code when there is no Result-Code.
    pub fn result(&self) -> Option<u32> {
        self.result_code.or(self.experimental.map(|e| e.code))
    }

    /// Did the answer succeed (2xxx)? `None` when it carries no result at all.
    pub fn success(&self) -> Option<bool> {
        self.result().map(dictionary::is_success)
    }

    /// ULR-Flags bit 5, initial-attach indicator.
    pub fn initial_attach(&self) -> bool {
        self.ulr_flags
            .is_some_and(|f| f & ulr_flags::INITIAL_ATTACH_INDICATOR != 0)
    }
}

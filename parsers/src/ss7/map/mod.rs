//! GSM MAP (3GPP TS 29.002) components: the operations that say where a subscriber is
//! (updateLocation, updateGprsLocation, cancelLocation, purgeMS, sendAuthenticationInfo,
//! insertSubscriberData) and the ones whose identities a tester wants to see (SRI, SRI-SM,
//! forwardSM, ATI, PSI, sendIdentification, sendIMSI, PRN).
//!
//! Each operation's argument and result is read as its ASN.1 type, element by element
//! over [`crate::ss7::ber`], accepting the v1/v2 and v3 syntaxes where they differ. Fields read
//! before a malformed element are kept and the error is returned beside them (the
//! returnError of `pcapr-test`, whose v1 parameter a v3 reader calls malformed, is the case
//! the conformance oracle keeps on purpose).
//!
//! [`encode`] builds the same types, so fixtures contain MAP and `decode(encode(x)) == x`
//! is property-tested.

pub mod correlate;

use std::cell::Cell;

use crate::error::{DecodeError, Layer};
use crate::flow::PacketMeta;
use crate::record::Record;
use crate::signal::Proto;
use crate::ss7::ber::Tlv;
use crate::ss7::sccp::SccpAddress;
use crate::ss7::tcap::{Component, ComponentKind, TcapMessage};
use crate::types::{Digits, Imsi, Msisdn};

const L: Layer = Layer::Map;

/// An ISDN-AddressString's digits: VLR, MSC, SGSN and HLR numbers (E.164).
pub type Isdn = Digits<15>;

/// Operation codes (TS 29.002 §17.5).
pub mod op {
    pub const UPDATE_LOCATION: i64 = 2;
    pub const CANCEL_LOCATION: i64 = 3;
    pub const PROVIDE_ROAMING_NUMBER: i64 = 4;
    pub const INSERT_SUBSCRIBER_DATA: i64 = 7;
    pub const SEND_ROUTING_INFO: i64 = 22;
    pub const UPDATE_GPRS_LOCATION: i64 = 23;
    pub const MT_FORWARD_SM: i64 = 44;
    pub const SEND_ROUTING_INFO_FOR_SM: i64 = 45;
    pub const MO_FORWARD_SM: i64 = 46;
    pub const SEND_IDENTIFICATION: i64 = 55;
    pub const SEND_AUTHENTICATION_INFO: i64 = 56;
    pub const SEND_IMSI: i64 = 58;
    pub const PURGE_MS: i64 = 67;
    pub const PROVIDE_SUBSCRIBER_INFO: i64 = 70;
    pub const ANY_TIME_INTERROGATION: i64 = 71;
}

/// Error codes (TS 29.002 §17.6.6) that matter to location management.
pub mod error {
    pub const UNKNOWN_SUBSCRIBER: i64 = 1;
    pub const ROAMING_NOT_ALLOWED: i64 = 8;
}

/// The name of a MAP operation, for statistics.
pub fn operation_name(code: i64) -> &'static str {
    match code {
        2 => "updateLocation",
        3 => "cancelLocation",
        4 => "provideRoamingNumber",
        5 => "noteSubscriberDataModified",
        6 => "resumeCallHandling",
        7 => "insertSubscriberData",
        8 => "deleteSubscriberData",
        10 => "registerSS",
        11 => "eraseSS",
        14 => "interrogateSS",
        22 => "sendRoutingInfo",
        23 => "updateGprsLocation",
        24 => "sendRoutingInfoForGprs",
        37 => "reset",
        38 => "forwardCheckSS-Indication",
        43 => "checkIMEI",
        44 => "mt-forwardSM",
        45 => "sendRoutingInfoForSM",
        46 => "mo-forwardSM",
        47 => "reportSM-DeliveryStatus",
        55 => "sendIdentification",
        56 => "sendAuthenticationInfo",
        57 => "restoreData",
        58 => "sendIMSI",
        59 => "processUnstructuredSS-Request",
        60 => "unstructuredSS-Request",
        61 => "unstructuredSS-Notify",
        66 => "readyForSM",
        67 => "purgeMS",
        70 => "provideSubscriberInfo",
        71 => "anyTimeInterrogation",
        83 => "provideSubscriberLocation",
        _ => "other operation",
    }
}

/// The name of a MAP error, for statistics.
pub fn error_name(code: i64) -> &'static str {
    match code {
        1 => "unknownSubscriber",
        5 => "unidentifiedSubscriber",
        8 => "roamingNotAllowed",
        9 => "illegalSubscriber",
        10 => "bearerServiceNotProvisioned",
        11 => "teleserviceNotProvisioned",
        12 => "illegalEquipment",
        27 => "absentSubscriber",
        34 => "systemFailure",
        35 => "dataMissing",
        36 => "unexpectedDataValue",
        _ => "other error",
    }
}

/// The identities a component carries (the oracle's `imsi`, `msisdn`, `vlr`, `msc`,
/// `sgsn`). A digit string with a non-decimal nibble is left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapFields {
    pub imsi: Option<Imsi>,
    pub msisdn: Option<Msisdn>,
    pub vlr: Option<Isdn>,
    pub msc: Option<Isdn>,
    pub sgsn: Option<Isdn>,
}

fn tbcd(t: &Tlv<'_>) -> Option<Imsi> {
    if t.constructed {
        return None;
    }
    Imsi::from_tbcd(t.value).ok()
}

/// An AddressString: nature/plan octet, then TBCD digits.
fn address(t: &Tlv<'_>) -> Option<Isdn> {
    if t.constructed {
        return None;
    }
    Isdn::from_tbcd(t.value.get(1..)?).ok()
}

/// Reads the children of constructed elements, remembering the first error.
#[derive(Default)]
struct Reader {
    error: Cell<Option<DecodeError>>,
}

impl Reader {
    /// The children of `t` up to the first malformed one.
    fn kids<'a, 's>(&'s self, t: &Tlv<'a>) -> impl Iterator<Item = Tlv<'a>> + use<'a, 's> {
        t.children(L).map_while(|k| match k {
            Ok(k) => Some(k),
            Err(e) => {
                if self.error.get().is_none() {
                    self.error.set(Some(e));
                }
                None
            }
        })
    }

    fn first_child<'a>(&self, t: &Tlv<'a>, pred: impl Fn(&Tlv<'a>) -> bool) -> Option<Tlv<'a>> {
        self.kids(t).find(|k| pred(k))
    }
}

/// The fields of an invoke's argument for operation `op`.
fn decode_argument<'a>(r: &Reader, op: i64, p: &Tlv<'a>, f: &mut MapFields) {
    let seq = p.constructed;
    match op {
        op::UPDATE_LOCATION if seq => {
            // SEQUENCE { imsi, msc-Number [1], vlr-Number, lmsi [10], … }
            for k in r.kids(p) {
                if k.is_universal(4) && f.imsi.is_none() {
                    f.imsi = tbcd(&k);
                } else if k.is_universal(4) && f.vlr.is_none() {
                    f.vlr = address(&k);
                } else if k.is_context(1) && f.msc.is_none() {
                    f.msc = address(&k);
                }
            }
        }
        op::UPDATE_GPRS_LOCATION if seq => {
            // SEQUENCE { imsi, sgsn-Number, sgsn-Address, … }
            let mut strings = r.kids(p).filter(|k| k.is_universal(4));
            f.imsi = strings.next().as_ref().and_then(tbcd);
            f.sgsn = strings.next().as_ref().and_then(address);
        }
        op::CANCEL_LOCATION | op::PURGE_MS => {
            // v3: [3] SEQUENCE { identity/imsi, … vlr-Number [0], sgsn-Number [1] };
            // v2: SEQUENCE { imsi, vlr-Number } or the Identity CHOICE itself.
            if !seq && p.is_universal(4) {
                f.imsi = tbcd(p);
                return;
            }
            let v3 = p.is_context(3);
            for k in r.kids(p) {
                if k.is_universal(4) && f.imsi.is_none() {
                    f.imsi = tbcd(&k);
                } else if k.is_universal(16) && f.imsi.is_none() {
                    // imsi-WithLMSI SEQUENCE { imsi, lmsi }
                    f.imsi = r
                        .first_child(&k, |t| t.is_universal(4))
                        .and_then(|t| tbcd(&t));
                } else if op == op::PURGE_MS
                    && ((k.is_universal(4) && !v3) || (v3 && k.is_context(0)))
                {
                    f.vlr = address(&k);
                } else if op == op::PURGE_MS && v3 && k.is_context(1) {
                    f.sgsn = address(&k);
                }
            }
        }
        op::PROVIDE_ROAMING_NUMBER if seq => {
            for k in r.kids(p) {
                match k.tag {
                    0 if k.is_context(0) => f.imsi = tbcd(&k),
                    1 if k.is_context(1) => f.msc = address(&k),
                    2 if k.is_context(2) => f.msisdn = address(&k),
                    _ => {}
                }
            }
        }
        op::INSERT_SUBSCRIBER_DATA if seq => {
            // SEQUENCE { imsi [0], msisdn [1], category [2], … }
            for k in r.kids(p) {
                if k.is_context(0) && f.imsi.is_none() {
                    f.imsi = tbcd(&k);
                } else if k.is_context(1) && f.msisdn.is_none() {
                    f.msisdn = address(&k);
                }
            }
        }
        op::SEND_AUTHENTICATION_INFO => {
            // v2: IMSI; v3: SEQUENCE { imsi [0], numberOfRequestedVectors, … }
            if p.is_universal(4) {
                f.imsi = tbcd(p);
            } else if seq {
                f.imsi = r.first_child(p, |t| t.is_context(0)).and_then(|t| tbcd(&t));
            }
        }
        op::SEND_ROUTING_INFO | op::SEND_ROUTING_INFO_FOR_SM if seq => {
            // SEQUENCE { msisdn [0], … }
            f.msisdn = r
                .first_child(p, |t| t.is_context(0))
                .and_then(|t| address(&t));
        }
        op::MO_FORWARD_SM | op::MT_FORWARD_SM if seq => {
            // SEQUENCE { sm-RP-DA CHOICE { imsi [0], lmsi [1], sc [4], none [5] },
            //            sm-RP-OA CHOICE { msisdn [2], sc [4], none [5] }, sm-RP-UI, … }
            let mut kids = r.kids(p);
            if let Some(da) = kids.next().filter(|k| k.is_context(0)) {
                f.imsi = tbcd(&da);
            }
            if let Some(oa) = kids.next().filter(|k| k.is_context(2)) {
                f.msisdn = address(&oa);
            }
        }
        op::ANY_TIME_INTERROGATION if seq => {
            // SEQUENCE { subscriberIdentity [0] CHOICE { imsi [0], msisdn [1] }, … }
            if let Some(id) = r.first_child(p, |t| t.is_context(0) && t.constructed) {
                for k in r.kids(&id) {
                    if k.is_context(0) {
                        f.imsi = tbcd(&k);
                    } else if k.is_context(1) {
                        f.msisdn = address(&k);
                    }
                }
            }
        }
        op::PROVIDE_SUBSCRIBER_INFO if seq => {
            f.imsi = r.first_child(p, |t| t.is_context(0)).and_then(|t| tbcd(&t));
        }
        op::SEND_IMSI if p.is_universal(4) => f.msisdn = address(p),
        _ => {}
    }
}

/// SubscriberInfo ::= SEQUENCE { locationInformation [0] { …, vlr-number [1], … }, … }
fn subscriber_info<'a>(r: &Reader, info: &Tlv<'a>, f: &mut MapFields) {
    if let Some(loc) = r.first_child(info, |t| t.is_context(0) && t.constructed) {
        f.vlr = r
            .first_child(&loc, |t| t.is_context(1))
            .and_then(|t| address(&t));
    }
}

/// The fields of a result's parameter for operation `op`.
fn decode_result<'a>(r: &Reader, op: i64, p: &Tlv<'a>, f: &mut MapFields) {
    let seq = p.constructed;
    match op {
        op::SEND_ROUTING_INFO_FOR_SM if seq => {
            // SEQUENCE { imsi, locationInfoWithLMSI [0] { networkNode-Number [1], … } }
            for k in r.kids(p) {
                if k.is_universal(4) && f.imsi.is_none() {
                    f.imsi = tbcd(&k);
                } else if k.is_context(0) && k.constructed {
                    f.msc = r
                        .first_child(&k, |t| t.is_context(1))
                        .and_then(|t| address(&t));
                }
            }
        }
        op::ANY_TIME_INTERROGATION if seq => {
            if let Some(info) = r.first_child(p, |t| t.is_universal(16)) {
                subscriber_info(r, &info, f);
            }
        }
        op::PROVIDE_SUBSCRIBER_INFO if seq => {
            if let Some(info) = r.first_child(p, |t| t.is_universal(16)) {
                subscriber_info(r, &info, f);
            }
        }
        op::SEND_IDENTIFICATION if seq => {
            f.imsi = r
                .first_child(p, |t| t.is_universal(4))
                .and_then(|t| tbcd(&t));
        }
        op::SEND_ROUTING_INFO if seq => {
            // v3: [3] { imsi [9], … }; v2: SEQUENCE { imsi, routingInfo }
            let imsi = if p.is_context(3) {
                r.first_child(p, |t| t.is_context(9))
            } else {
                r.first_child(p, |t| t.is_universal(4))
            };
            f.imsi = imsi.and_then(|t| tbcd(&t));
        }
        op::SEND_IMSI if p.is_universal(4) => f.imsi = tbcd(p),
        _ => {}
    }
}

/// The fields of one component, and the first decode error inside its parameter.
pub fn decode_fields(c: &Component<'_>) -> (MapFields, Option<DecodeError>) {
    let mut f = MapFields::default();
    let r = Reader::default();
    let op = c.opcode.and_then(|o| o.local());
    if let (Some(op), Some(p)) = (op, c.parameter.as_ref()) {
        match c.kind {
            ComponentKind::Invoke => decode_argument(&r, op, p, &mut f),
            ComponentKind::ReturnResultLast | ComponentKind::ReturnResult => {
                decode_result(&r, op, p, &mut f)
            }
            _ => {}
        }
    }
    (f, r.error.get())
}

/// One MAP component with its transaction context, as the decoder hands it to a sink.
#[derive(Clone, Debug)]
pub struct MapComponent<'a> {
    pub tcap: &'a TcapMessage<'a>,
    pub component: Component<'a>,
    pub fields: MapFields,
    pub called: SccpAddress,
    pub calling: SccpAddress,
}

impl MapComponent<'_> {
    /// The inspect record (conformance schema).
    pub fn record(&self, meta: &PacketMeta) -> Record {
        let mut r = Record::new(Proto::Map, meta.frame, meta.ts_us);
        let c = &self.component;
        r.component = Some(c.kind.as_str());
        match c.kind {
            ComponentKind::ReturnError => {
                r.error = c.error.and_then(|e| e.local()).map(|v| v as u32)
            }
            ComponentKind::Reject => {}
            _ => r.opcode = c.opcode.and_then(|o| o.local()).map(|v| v as u32),
        }
        r.otid = self.tcap.otid.map(TcapMessage::tid_hex);
        r.dtid = self.tcap.dtid.map(TcapMessage::tid_hex);
        let f = &self.fields;
        r.imsi = f.imsi.map(|d| d.as_str().to_owned());
        r.msisdn = f.msisdn.map(|d| d.as_str().to_owned());
        r.vlr = f.vlr.map(|d| d.as_str().to_owned());
        r.msc = f.msc.map(|d| d.as_str().to_owned());
        r.sgsn = f.sgsn.map(|d| d.as_str().to_owned());
        r
    }
}

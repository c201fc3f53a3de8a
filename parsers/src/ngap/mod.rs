//! NGAP (TS 38.413): the control plane between a gNB and an AMF, aligned PER over SCTP
//! (payload protocol 60, port 38412). A PDU is decoded with oxirush-ngap, whose types are
//! generated from the specification's ASN.1 modules: the envelope (direction, procedure
//! code) at once, and only the IEs this module reads (the UE's NGAP ids, the user
//! location, the NAS-PDU, the 5G-S-TMSI), each where it is, without copying the message.
//!
//! [`NgapView`] is what a message says about a UE: its ids, its cell and tracking area
//! ([`UeLocation`]), what its NAS-PDU tells of its identity ([`nas`]). [`correlate`] ties
//! the ids to a subscriber and makes `cell_change` signals. Every procedure is
//! recognised and named; only those about a UE's location give signals.

use oxirush_ngap::aper::Octets;
use oxirush_ngap::ngap::{
    Criticality, InitiatingMessage, ProcedureCode, UENGAPIDs, UserLocationInformation,
    UserLocationInformationEUTRA, UserLocationInformationNR, NGAPPDU, TAI,
};
use oxirush_ngap::{ie, ErrorKind};

use crate::error::{DecodeError, Layer};
use crate::flow::PacketMeta;
use crate::record::{PlmnCode, Record};
use crate::signal::{Location, Proto};
use crate::types::Plmn;

pub mod correlate;
pub mod nas;

use nas::{NasFacts, STmsi};

/// SCTP payload protocol identifier of NGAP (TS 38.412 §7).
pub const PPID: u32 = 60;
/// The AMF's SCTP port (TS 38.412 §7): NGAP by port where the PPID is 0.
pub const PORT: u16 = 38412;

/// Procedure codes (TS 38.413 §9.4.7) of the procedures this module reads a location
/// or a pairing of ids from.
pub mod procedure {
    pub const DOWNLINK_NAS_TRANSPORT: u8 = 4;
    pub const HANDOVER_NOTIFICATION: u8 = 11;
    pub const INITIAL_CONTEXT_SETUP: u8 = 14;
    pub const INITIAL_UE_MESSAGE: u8 = 15;
    pub const LOCATION_REPORT: u8 = 18;
    pub const PATH_SWITCH_REQUEST: u8 = 25;
    pub const UE_CONTEXT_RELEASE: u8 = 41;
    pub const UPLINK_NAS_TRANSPORT: u8 = 46;
}

/// The three kinds of NGAP PDU (the alternatives of `NGAP-PDU`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PduKind {
    Initiating,
    Successful,
    Unsuccessful,
}

impl PduKind {
    /// The alternative's index, as tshark's `ngap.NGAP_PDU` writes it.
    pub fn index(self) -> u32 {
        match self {
            PduKind::Initiating => 0,
            PduKind::Successful => 1,
            PduKind::Unsuccessful => 2,
        }
    }
}

/// An NR cell: PLMN and 36-bit NR cell identity (TS 38.413 §9.3.1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NrCgi {
    pub plmn: Plmn,
    pub nci: u64,
}

/// An E-UTRA cell (ng-eNB): PLMN and 28-bit E-UTRA cell identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EutraCgi {
    pub plmn: Plmn,
    pub eci: u32,
}

/// A 5GS tracking area: PLMN and 24-bit TAC (TS 38.413 §9.3.3.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tai5gs {
    pub plmn: Plmn,
    pub tac: u32,
}

/// The cell a UE is in, from the User Location Information IE: NR or E-UTRA (other
/// accesses, N3IWF, carry no cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    Nr(NrCgi),
    Eutra(EutraCgi),
}

/// User Location Information (TS 38.413 §9.3.1.16): a cell and its tracking area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UeLocation {
    pub cell: Cell,
    pub tai: Tai5gs,
}

impl UeLocation {
    /// The finest element as a signal's location: the cell.
    pub fn location(&self) -> Location {
        match self.cell {
            Cell::Nr(c) => Location::Ncgi {
                plmn: c.plmn,
                nci: c.nci,
            },
            Cell::Eutra(c) => Location::Ecgi {
                plmn: c.plmn,
                eci: c.eci,
            },
        }
    }

    /// The serving network: the cell's PLMN.
    pub fn plmn(&self) -> Plmn {
        match self.cell {
            Cell::Nr(c) => c.plmn,
            Cell::Eutra(c) => c.plmn,
        }
    }

    /// The RAT as S6a's RAT-Type codes it (TS 29.212 §5.3.31): NR 1006, E-UTRAN 1004.
    pub fn rat(&self) -> u32 {
        match self.cell {
            Cell::Nr(_) => 1006,
            Cell::Eutra(_) => 1004,
        }
    }
}

/// What one NGAP PDU says about a UE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NgapView {
    pub kind: PduKind,
    pub procedure: u8,
    /// The procedure's name (`InitialUEMessage`), `None` for a code the specification
    /// does not have.
    pub name: Option<&'static str>,
    pub ran_ue_id: Option<u32>,
    pub amf_ue_id: Option<u64>,
    /// PathSwitchRequest: the UE's AMF-UE-NGAP-ID at the source gNB.
    pub source_amf_ue_id: Option<u64>,
    pub location: Option<UeLocation>,
    /// The 5G-S-TMSI IE (InitialUEMessage of a UE known to the AMF).
    pub s_tmsi: Option<STmsi>,
    /// What the NAS-PDU says, when the message carries one.
    pub nas: Option<NasFacts>,
}

/// An IE that was present and did not decode: counted, the others still read.
const IE_UNDECODABLE: DecodeError = DecodeError::new(Layer::Ngap, "ngap IE does not decode", 0);

impl NgapView {
    /// Decode one NGAP PDU (an SCTP user message). An IE that does not decode is left
    /// out and reported as the second value; a PDU that does not decode is an error.
    pub fn parse(data: &[u8]) -> Result<(NgapView, Option<DecodeError>), DecodeError> {
        let pdu = NGAPPDU::decode_borrowed(data).map_err(|e| {
            let reason = match e.kind() {
                ErrorKind::Decode => "ngap PDU does not decode (aligned PER)",
                _ => "ngap PDU refused",
            };
            DecodeError::new(Layer::Ngap, reason, 0)
        })?;
        let kind = if pdu.is_initiating() {
            PduKind::Initiating
        } else if pdu.is_successful() {
            PduKind::Successful
        } else {
            PduKind::Unsuccessful
        };
        let procedure = pdu.procedure_code();
        let mut view = NgapView {
            kind,
            procedure,
            name: procedure_name(procedure),
            ran_ue_id: None,
            amf_ue_id: None,
            source_amf_ue_id: None,
            location: None,
            s_tmsi: None,
            nas: None,
        };
        // The private message has no container of protocol IEs.
        if procedure == PRIVATE_MESSAGE {
            return Ok((view, None));
        }
        let mut bad = None;
        view.ran_ue_id = read(&mut bad, pdu.ie::<ie::RAN_UE_NGAP_ID>()).map(|v| v.0);
        view.amf_ue_id = read(&mut bad, pdu.ie::<ie::AMF_UE_NGAP_ID>()).map(|v| v.0);
        // UE Context Release Command: both ids in one IE, or the AMF's alone.
        match read(&mut bad, pdu.ie::<ie::UE_NGAP_IDs>()) {
            Some(UENGAPIDs::uE_NGAP_ID_pair(p)) => {
                view.amf_ue_id = view.amf_ue_id.or(Some(p.amf_ue_ngap_id.0));
                view.ran_ue_id = view.ran_ue_id.or(Some(p.ran_ue_ngap_id.0));
            }
            Some(UENGAPIDs::aMF_UE_NGAP_ID(a)) => {
                view.amf_ue_id = view.amf_ue_id.or(Some(a.0));
            }
            _ => {}
        }
        view.source_amf_ue_id = read(&mut bad, pdu.ie::<ie::SourceAMF_UE_NGAP_ID>()).map(|v| v.0);
        view.location = read(&mut bad, pdu.ie::<ie::UserLocationInformation>())
            .as_ref()
            .and_then(ue_location);
        view.s_tmsi = read(&mut bad, pdu.ie::<ie::FiveG_S_TMSI>()).and_then(|t| {
            let tmsi = u32::from_be_bytes(t.five_g_tmsi.0);
            STmsi::new(
                t.amf_set_id.0.value() as u16,
                t.amf_pointer.0.value() as u8,
                tmsi,
            )
        });
        view.nas = read(&mut bad, pdu.ie::<ie::NAS_PDU>()).map(|n| NasFacts::parse(&n.0));
        Ok((view, bad))
    }

    /// The message as an inspect record: procedure code (`code`), its kind
    /// (`component`: initiating, successful, unsuccessful), name (`service`), the UE's
    /// ids, the cell (`ncgi` or `ecgi`) and the tracking area (`tai`, 24-bit TAC), the
    /// IMSI where the NAS-PDU has it in clear.
    pub fn record(&self, meta: &PacketMeta) -> Record {
        let mut r = Record::new(Proto::Ngap, meta.frame, meta.ts_us);
        r.code = Some(u32::from(self.procedure));
        r.component = Some(match self.kind {
            PduKind::Initiating => "initiating",
            PduKind::Successful => "successful",
            PduKind::Unsuccessful => "unsuccessful",
        });
        r.service = self.name.map(str::to_owned);
        r.ran_ue_id = self.ran_ue_id;
        r.amf_ue_id = self.amf_ue_id;
        r.imsi = self
            .nas
            .as_ref()
            .and_then(|n| n.imsi)
            .map(|i| i.as_str().to_owned());
        if let Some(loc) = &self.location {
            match loc.cell {
                Cell::Nr(c) => {
                    r.ncgi = Some(PlmnCode {
                        nci: Some(c.nci),
                        ..PlmnCode::of(c.plmn)
                    })
                }
                Cell::Eutra(c) => {
                    r.ecgi = Some(PlmnCode {
                        eci: Some(c.eci),
                        ..PlmnCode::of(c.plmn)
                    })
                }
            }
            r.tai = Some(PlmnCode {
                tac: Some(loc.tai.tac),
                ..PlmnCode::of(loc.tai.plmn)
            });
            r.plmn = Some(loc.plmn().to_string());
            r.rat = Some(loc.rat());
        }
        r
    }
}

/// An IE's value; one that does not decode is noted in `bad` and left out.
fn read<T>(bad: &mut Option<DecodeError>, r: Option<Result<T, oxirush_ngap::Error>>) -> Option<T> {
    match r {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            *bad = Some(IE_UNDECODABLE);
            None
        }
        None => None,
    }
}

/// The procedure code of the private message (no protocol IEs).
const PRIVATE_MESSAGE: u8 = 31;

fn tai(t: &TAI) -> Option<Tai5gs> {
    let [a, b, c] = t.tac.0;
    Some(Tai5gs {
        plmn: Plmn::from_bcd(&t.plmn_identity.0)?,
        tac: u32::from_be_bytes([0, a, b, c]),
    })
}

fn nr(l: &UserLocationInformationNR) -> Option<UeLocation> {
    Some(UeLocation {
        cell: Cell::Nr(NrCgi {
            plmn: Plmn::from_bcd(&l.nr_cgi.plmn_identity.0)?,
            nci: l.nr_cgi.nr_cell_identity.0.value(),
        }),
        tai: tai(&l.tai)?,
    })
}

fn eutra(l: &UserLocationInformationEUTRA) -> Option<UeLocation> {
    Some(UeLocation {
        cell: Cell::Eutra(EutraCgi {
            plmn: Plmn::from_bcd(&l.eutra_cgi.plmn_identity.0)?,
            eci: u32::try_from(l.eutra_cgi.eutra_cell_identity.0.value()).ok()?,
        }),
        tai: tai(&l.tai)?,
    })
}

/// The cell and tracking area of a User Location Information; `None` for an access
/// without a cell (N3IWF) or a PLMN that is not BCD digits.
fn ue_location(u: &UserLocationInformation<'_>) -> Option<UeLocation> {
    match u {
        UserLocationInformation::userLocationInformationNR(l) => nr(l),
        UserLocationInformation::userLocationInformationEUTRA(l) => eutra(l),
        _ => None,
    }
}

/// The elementary procedure of a code (TS 38.413 §9.4.7) as the ASN.1 names it
/// (`InitialUEMessage`, `NGSetup`), from the codec's generated registry; `None` for a
/// code the specification does not have.
pub fn procedure_name(code: u8) -> Option<&'static str> {
    let pdu = NGAPPDU::initiatingMessage(InitiatingMessage {
        procedure_code: ProcedureCode(code),
        criticality: Criticality::ignore,
        value: Octets::borrowed(&[]),
    });
    let name = pdu.procedure_name();
    (name != "Unknown").then_some(name)
}

#[cfg(test)]
mod tests;

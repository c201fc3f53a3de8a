//! NGAP UE contexts → `cell_change` signals for the UEs whose subscriber the capture
//! tells, never guessed.
//!
//! A UE context is named by its RAN-UE-NGAP-ID on the gNB's association and by its
//! AMF-UE-NGAP-ID at the AMF (the address of the association's AMF end); a Path Switch
//! Request brings its source AMF-UE-NGAP-ID to the new gNB. The subscriber comes from
//! the NAS the context carries ([`super::nas`]): a SUCI of the null scheme is the IMSI;
//! a 5G-GUTI or 5G-S-TMSI (in the NAS or the InitialUEMessage's IE) is matched to the
//! GUTI the AMF assigned to a known subscriber in a readable Registration Accept or
//! Configuration Update Command.
//!
//! A location counts once the network took the UE: its Initial Context Setup answered,
//! a readable Registration Accept/Complete or Service Accept, a handover, a path switch,
//! a location report, or a context first met in its middle (established before the
//! capture). From then on each new cell of an attributed UE is a `cell_change` (serving
//! PLMN = the cell's); one of a UE whose subscriber is unknown is counted as
//! unattributed. A signal has the time and frame of the message that made it count: the
//! location a UE sent before it was taken (InitialUEMessage, Uplink NAS Transport) is
//! signalled at the message that took it, not before (a UE is not in a network until
//! the network accepts it: a roamer's arrival stays at its UDM registration).

use ahash::AHashMap as HashMap;
use std::net::IpAddr;

use super::nas::{NasFacts, Protection, STmsi};
use super::{procedure as p, NgapView, PduKind, UeLocation, PORT};
use crate::flow::{FlowKey, PacketMeta};
use crate::numbering::e212::E212;
use crate::signal::{Proto, Provenance, Signal, SignalKind, TimestampUs};
use crate::types::Imsi;

/// UE contexts kept at most; past it, those idle for longer than [`IDLE_US`] go, and if
/// that is not enough, all of them (counted).
const MAX_UES: usize = 1 << 20;
/// A context with no message for this long may be dropped when the table is full.
const IDLE_US: TimestampUs = 3_600_000_000;
/// Assigned GUTIs (S-TMSI → IMSI) kept at most; the table starts over when full.
const MAX_GUTIS: usize = 1 << 21;

/// What gave no signal, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NgapStats {
    pub signals: u64,
    /// Cell changes of taken UEs whose subscriber the capture does not tell.
    pub unattributed: u64,
    /// NAS messages ciphered (not 5G-EA0): their content unread.
    pub ciphered: u64,
    /// SUCIs under a protection scheme: the IMSI concealed.
    pub concealed: u64,
    /// UE-associated messages whose context was not seen started (no ids to go by).
    pub unknown_context: u64,
    /// Contexts dropped because the table was full.
    pub dropped: u64,
}

#[derive(Clone, Debug, Default)]
struct Ue {
    imsi: Option<Imsi>,
    /// The 5G-EA0 cipher was chosen: ciphered messages are plain.
    null_cipher: bool,
    /// The network took the UE: its locations count.
    taken: bool,
    /// The latest location.
    location: Option<UeLocation>,
    /// The location last signalled.
    reported: Option<UeLocation>,
    /// The location last counted unattributed.
    unattributed: Option<UeLocation>,
    /// The keys that name it now (removed with it).
    ran: Option<(FlowKey, u32)>,
    amf: Option<(IpAddr, u64)>,
    last_seen: TimestampUs,
}

type UeId = u64;

/// Ties NGAP UE contexts to subscribers and makes their `cell_change` signals.
pub struct NgapCorrelator {
    e212: E212,
    ues: HashMap<UeId, Ue>,
    next: UeId,
    /// (gNB association, RAN-UE-NGAP-ID) → context.
    by_ran: HashMap<(FlowKey, u32), UeId>,
    /// (AMF address, AMF-UE-NGAP-ID) → context.
    by_amf: HashMap<(IpAddr, u64), UeId>,
    /// Assigned 5G-GUTIs, by their S-TMSI, of known subscribers.
    gutis: HashMap<STmsi, Imsi>,
    stats: NgapStats,
}

/// Procedures a gNB initiates (its initiating message goes to the AMF).
fn gnb_initiated(code: u8) -> bool {
    matches!(
        code,
        p::INITIAL_UE_MESSAGE
            | p::UPLINK_NAS_TRANSPORT
            | p::PATH_SWITCH_REQUEST
            | p::HANDOVER_NOTIFICATION
            | p::LOCATION_REPORT
            | 12 // HandoverPreparation
            | 19 // NASNonDeliveryIndication
            | 27 // PDUSessionResourceModifyIndication
            | 30 // PDUSessionResourceNotify
            | 37 // RRCInactiveTransitionReport
            | 42 // UEContextReleaseRequest
            | 44 // UERadioCapabilityInfoIndication
    )
}

/// The address of the AMF end of an association: the end on port 38412, or, where
/// both or neither are, the end the message's procedure says.
fn amf_address(flow: &FlowKey, v: &NgapView) -> IpAddr {
    match (flow.src.port == PORT, flow.dst.port == PORT) {
        (true, false) => flow.src.addr,
        (false, true) => flow.dst.addr,
        _ => {
            let to_amf = gnb_initiated(v.procedure) == (v.kind == PduKind::Initiating);
            if to_amf {
                flow.dst.addr
            } else {
                flow.src.addr
            }
        }
    }
}

impl NgapCorrelator {
    pub fn new(e212: E212) -> NgapCorrelator {
        NgapCorrelator {
            e212,
            ues: HashMap::default(),
            next: 0,
            by_ran: HashMap::default(),
            by_amf: HashMap::default(),
            gutis: HashMap::default(),
            stats: NgapStats::default(),
        }
    }

    pub fn stats(&self) -> &NgapStats {
        &self.stats
    }

    /// One NGAP message of the association `flow`: its signal, if it gives one.
    pub fn push(&mut self, meta: &PacketMeta, flow: FlowKey, v: &NgapView) -> Option<Signal> {
        let assoc = flow.connection();
        let amf = amf_address(&flow, v);
        let id = self.context(assoc, amf, v)?;
        let e212 = &self.e212;
        let stats = &mut self.stats;
        let gutis = &mut self.gutis;
        let ue = self.ues.get_mut(&id)?;
        ue.last_seen = meta.ts_us;
        if let Some(n) = &v.nas {
            learn(ue, n, gutis, stats);
        }
        if let (None, Some(t)) = (ue.imsi, v.s_tmsi) {
            ue.imsi = gutis.get(&t).copied();
        }
        let taken_now = matches!(
            (v.kind, v.procedure),
            (PduKind::Successful, p::INITIAL_CONTEXT_SETUP)
                | (
                    PduKind::Initiating,
                    p::PATH_SWITCH_REQUEST | p::HANDOVER_NOTIFICATION | p::LOCATION_REPORT,
                )
        );
        ue.taken |= taken_now;
        if let Some(loc) = v.location {
            ue.location = Some(loc);
        }
        let signal = if ue.taken {
            report(ue, meta, v.procedure, e212, stats)
        } else {
            None
        };
        if (v.kind, v.procedure) == (PduKind::Successful, p::UE_CONTEXT_RELEASE) {
            self.release(id);
        }
        signal
    }

    /// The context a message is about, made or found; `None` for a message about no
    /// UE (NG Setup, …) or about one never seen started.
    fn context(&mut self, assoc: FlowKey, amf: IpAddr, v: &NgapView) -> Option<UeId> {
        if v.procedure == p::INITIAL_UE_MESSAGE && v.kind == PduKind::Initiating {
            // A new signalling connection: a RAN id used before names another UE now.
            let ran = v.ran_ue_id?;
            let id = self.make();
            self.name_ran((assoc, ran), id);
            return Some(id);
        }
        if v.procedure == p::PATH_SWITCH_REQUEST && v.kind == PduKind::Initiating {
            // The UE's context at the AMF moves to this gNB's association.
            let found = v
                .source_amf_ue_id
                .and_then(|s| self.by_amf.get(&(amf, s)).copied());
            let id = match found {
                Some(id) => id,
                None => self.make_mid_session(),
            };
            if let Some(ran) = v.ran_ue_id {
                self.name_ran((assoc, ran), id);
            }
            return Some(id);
        }
        let by_ran = v
            .ran_ue_id
            .and_then(|r| self.by_ran.get(&(assoc, r)).copied());
        let by_amf = v
            .amf_ue_id
            .and_then(|a| self.by_amf.get(&(amf, a)).copied());
        let id = match (by_ran, by_amf) {
            (Some(r), Some(a)) if r != a => {
                // The AMF id was another context's: this one (the RAN's, newer) takes
                // it, with what the AMF's context knew of the UE.
                if let Some(old) = self.ues.get(&a).cloned() {
                    if let Some(ue) = self.ues.get_mut(&r) {
                        ue.imsi = ue.imsi.or(old.imsi);
                    }
                }
                r
            }
            (Some(r), _) => r,
            (None, Some(a)) => a,
            (None, None) => {
                if v.ran_ue_id.is_none() && v.amf_ue_id.is_none() {
                    return None;
                }
                if v.amf_ue_id.is_none() {
                    self.stats.unknown_context += 1;
                    return None;
                }
                // Met in its middle: established before the capture began.
                self.make_mid_session()
            }
        };
        if let Some(r) = v.ran_ue_id {
            self.name_ran((assoc, r), id);
        }
        if let Some(a) = v.amf_ue_id {
            self.name_amf((amf, a), id);
        }
        Some(id)
    }

    fn make(&mut self) -> UeId {
        if self.ues.len() >= MAX_UES {
            self.shrink();
        }
        let id = self.next;
        self.next += 1;
        self.ues.insert(id, Ue::default());
        id
    }

    fn make_mid_session(&mut self) -> UeId {
        let id = self.make();
        if let Some(ue) = self.ues.get_mut(&id) {
            ue.taken = true;
        }
        id
    }

    /// The UE's signalling connection is released: its ids are free again.
    fn release(&mut self, id: UeId) {
        let Some(ue) = self.ues.remove(&id) else {
            return;
        };
        if let Some(k) = ue.ran {
            if self.by_ran.get(&k) == Some(&id) {
                self.by_ran.remove(&k);
            }
        }
        if let Some(k) = ue.amf {
            if self.by_amf.get(&k) == Some(&id) {
                self.by_amf.remove(&k);
            }
        }
    }

    fn name_ran(&mut self, key: (FlowKey, u32), id: UeId) {
        self.by_ran.insert(key, id);
        if let Some(ue) = self.ues.get_mut(&id) {
            ue.ran = Some(key);
        }
    }

    fn name_amf(&mut self, key: (IpAddr, u64), id: UeId) {
        self.by_amf.insert(key, id);
        if let Some(ue) = self.ues.get_mut(&id) {
            ue.amf = Some(key);
        }
    }

    /// The table is full: contexts idle for an hour go, or all of them.
    fn shrink(&mut self) {
        let newest = self.ues.values().map(|u| u.last_seen).max().unwrap_or(0);
        let before = self.ues.len();
        self.ues
            .retain(|_, u| newest.saturating_sub(u.last_seen) < IDLE_US);
        if self.ues.len() >= MAX_UES {
            self.ues.clear();
        }
        self.stats.dropped += (before - self.ues.len()) as u64;
        let ues = &self.ues;
        self.by_ran.retain(|_, v| ues.contains_key(v));
        self.by_amf.retain(|_, v| ues.contains_key(v));
    }

    /// End of input: nothing pending gives a signal later; the tables are emptied.
    pub fn flush(&mut self) {
        self.ues.clear();
        self.by_ran.clear();
        self.by_amf.clear();
    }
}

/// What a NAS message teaches about its UE: its IMSI, its cipher, its GUTI.
fn learn(ue: &mut Ue, n: &NasFacts, gutis: &mut HashMap<STmsi, Imsi>, stats: &mut NgapStats) {
    let n = match (&n.protection, &n.if_null_cipher) {
        (Some(Protection::Ciphered), Some(plain)) if ue.null_cipher => plain.as_ref(),
        (Some(Protection::Ciphered), _) => {
            stats.ciphered += 1;
            return;
        }
        _ => n,
    };
    if n.concealed {
        stats.concealed += 1;
    }
    if let Some(i) = n.imsi {
        ue.imsi = Some(i);
    }
    if let (None, Some(t)) = (ue.imsi, n.presented) {
        ue.imsi = gutis.get(&t).copied();
    }
    if let Some(c) = n.null_cipher {
        ue.null_cipher = c;
    }
    if let (Some(t), Some(i)) = (n.assigned, ue.imsi) {
        if gutis.len() >= MAX_GUTIS {
            gutis.clear();
        }
        gutis.insert(t, i);
    }
    // Registration Accept / Complete, Service Accept: the network took the UE.
    if matches!(n.message_type, Some(0x42 | 0x43 | 0x4e)) {
        ue.taken = true;
    }
}

/// The UE's latest location, if new: a signal for a known subscriber, else counted.
fn report(
    ue: &mut Ue,
    meta: &PacketMeta,
    procedure: u8,
    e212: &E212,
    stats: &mut NgapStats,
) -> Option<Signal> {
    let loc = ue.location?;
    if ue.reported == Some(loc) {
        return None;
    }
    let Some(imsi) = ue.imsi else {
        if ue.unattributed != Some(loc) {
            stats.unattributed += 1;
            ue.unattributed = Some(loc);
        }
        return None;
    };
    ue.reported = Some(loc);
    stats.signals += 1;
    let serving = loc.plmn();
    Some(Signal {
        at: meta.ts_us,
        imsi,
        msisdn: None,
        kind: SignalKind::CellChange,
        home: e212.home_plmn(&imsi),
        home_country: e212.imsi_country(&imsi),
        serving: Some(serving),
        serving_country: e212.plmn_country(&serving),
        location: Some(loc.location()),
        rat: Some(loc.rat()),
        source: Provenance {
            file: meta.file,
            frame: meta.frame,
            proto: Proto::Ngap,
            message: u32::from(procedure),
        },
    })
}

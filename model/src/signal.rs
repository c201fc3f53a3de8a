//! The normalized record every decoder produces: one per meaningful signaling transaction
//! (docs/semantics.md, "Signals"). It is what the dataflow consumes, whatever protocol it
//! came from.

use crate::identity::{Country, Imsi, Msisdn, Plmn};
use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch (capture time).
pub type TimestampUs = i64;

/// What the subscriber did, as far as location is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Initial attach accepted (S6a ULR with the initial-attach flag, answered 2001).
    Attach,
    /// Location update accepted (S6a ULR without initial-attach, MAP UL/UGL).
    LocationUpdate,
    /// Cell or tracking-area change inside a network (GTP ULI change).
    CellChange,
    SessionStart,
    SessionEnd,
    Detach,
    /// The HSS cancelled the registration at this serving node (CLR).
    Cancel,
    /// The serving node purged the subscriber (PUR).
    Purge,
    /// Authentication vectors fetched (AIR/SAI).
    Auth,
    /// A location request the home network refused (e.g. 5004 roaming not allowed).
    Rejected,
}

impl SignalKind {
    /// Does an accepted signal of this kind place the subscriber in its serving area?
    pub fn is_location(self) -> bool {
        matches!(
            self,
            SignalKind::Attach
                | SignalKind::LocationUpdate
                | SignalKind::CellChange
                | SignalKind::SessionStart
        )
    }

    /// Does it end the subscriber's presence at the serving node?
    pub fn is_departure(self) -> bool {
        matches!(
            self,
            SignalKind::Cancel | SignalKind::Purge | SignalKind::Detach
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Attach => "attach",
            SignalKind::LocationUpdate => "location_update",
            SignalKind::CellChange => "cell_change",
            SignalKind::SessionStart => "session_start",
            SignalKind::SessionEnd => "session_end",
            SignalKind::Detach => "detach",
            SignalKind::Cancel => "cancel",
            SignalKind::Purge => "purge",
            SignalKind::Auth => "auth",
            SignalKind::Rejected => "rejected",
        }
    }
}

/// The protocol a message or signal was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Diameter,
    Gtpv2,
    Gtpv1,
    Map,
    // The 5G service-based interface (HTTP/2 or HTTP/1.1, JSON bodies).
    Sbi,
    // NGAP (TS 38.413), the gNB–AMF control plane: cells of 5G UEs.
    Ngap,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Diameter => "diameter",
            Proto::Gtpv2 => "gtpv2",
            Proto::Gtpv1 => "gtpv1",
            Proto::Map => "map",
            Proto::Sbi => "sbi",
            Proto::Ngap => "ngap",
        }
    }
}

/// Where a signal came from: enough for a tester to find the frame in Wireshark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Provenance {
    /// Index of the capture file in the run's file list.
    pub file: u16,
    /// 1-based frame number of the request within that file.
    pub frame: u64,
    pub proto: Proto,
    /// Command code / message type / operation code of the request.
    pub message: u32,
}

/// The finest location element a message carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Tai { plmn: Plmn, tac: u16 },
    Ecgi { plmn: Plmn, eci: u32 },
    Lai { plmn: Plmn, lac: u16 },
    Cgi { plmn: Plmn, lac: u16, ci: u16 },
    Sai { plmn: Plmn, lac: u16, sac: u16 },
    Rai { plmn: Plmn, lac: u16, rac: u8 },
    Ncgi { plmn: Plmn, nci: u64 },
}

impl Location {
    /// The network the location element belongs to.
    pub fn plmn(&self) -> Plmn {
        match *self {
            Location::Tai { plmn, .. }
            | Location::Ecgi { plmn, .. }
            | Location::Lai { plmn, .. }
            | Location::Cgi { plmn, .. }
            | Location::Sai { plmn, .. }
            | Location::Rai { plmn, .. }
            | Location::Ncgi { plmn, .. } => plmn,
        }
    }
}

/// One normalized signaling transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Signal {
    /// Capture time of the request, µs since the epoch.
    pub at: TimestampUs,
    pub imsi: Imsi,
    pub msisdn: Option<Msisdn>,
    pub kind: SignalKind,
    /// The subscriber's home network (IMSI prefix split with the E.212 MNC length).
    pub home: Option<Plmn>,
    /// The home network's country (E.212 MCC → ISO 3166; test MCCs map to themselves).
    pub home_country: Option<Country>,
    /// The network serving the subscriber (Visited-PLMN-Id, Serving Network, …).
    pub serving: Option<Plmn>,
    /// The serving country: from the serving PLMN's MCC (E.212), or for MAP from the VLR
    /// number's E.164 country code.
    pub serving_country: Option<Country>,
    pub location: Option<Location>,
    /// RAT type as the protocol encodes it (S6a RAT-Type 1004 = EUTRAN, …).
    pub rat: Option<u32>,
    pub source: Provenance,
}

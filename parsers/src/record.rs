//! The `landfall inspect` record: one decoded signaling message, in exactly the schema of
//! the tshark oracle (shared/conformance/README.md). Absent keys are left out, never null.

use serde::Serialize;

use crate::signal::{Location, Proto};
use crate::types::Plmn;

/// A location element as the oracle prints it: PLMN exactly as encoded plus its codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlmnCode {
    pub plmn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tac: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eci: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lac: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sac: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rac: Option<u32>,
    /// NR cell identity (36 bits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nci: Option<u64>,
}

impl PlmnCode {
    /// The element's PLMN, no codes yet.
    pub fn of(plmn: Plmn) -> PlmnCode {
        PlmnCode {
            plmn: plmn.to_string(),
            ..PlmnCode::default()
        }
    }
}

/// One decoded message. Field order follows the oracle so diffs read naturally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub frame: u64,
    pub ts_us: i64,
    pub proto: Proto,
    // Diameter
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hbh: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e: Option<u32>,
    // GTP
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub msg_type: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teid: Option<u32>,
    // MAP
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtid: Option<String>,
    // SBI (HTTP)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    // NGAP: the UE's ids
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran_ue_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amf_ue_id: Option<u64>,
    // Subscriber and location
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plmn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rat: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulr_flags: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tai: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecgi: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lai: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgi: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sai: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rai: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ncgi: Option<PlmnCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sgsn: Option<String>,
}

impl Record {
    /// An empty record of `proto` for frame `frame` at `ts_us`; decoders fill the rest.
    pub fn new(proto: Proto, frame: u64, ts_us: i64) -> Record {
        Record {
            frame,
            ts_us,
            proto,
            app: None,
            code: None,
            request: None,
            hbh: None,
            e2e: None,
            msg_type: None,
            seq: None,
            teid: None,
            component: None,
            opcode: None,
            error: None,
            otid: None,
            dtid: None,
            method: None,
            path: None,
            status: None,
            stream: None,
            service: None,
            ran_ue_id: None,
            amf_ue_id: None,
            imsi: None,
            msisdn: None,
            plmn: None,
            rat: None,
            ulr_flags: None,
            result: None,
            cause: None,
            tai: None,
            ecgi: None,
            lai: None,
            cgi: None,
            sai: None,
            rai: None,
            ncgi: None,
            vlr: None,
            msc: None,
            sgsn: None,
        }
    }

    /// Put a location element under its key (`tai`, `ecgi`, `lai`, `cgi`, `sai`, `rai`,
    /// `ncgi`), its PLMN as encoded.
    pub fn locate(&mut self, loc: Location) {
        let code = PlmnCode::of(loc.plmn());
        let (key, code) = match loc {
            Location::Tai { tac, .. } => (
                &mut self.tai,
                PlmnCode {
                    tac: Some(tac.into()),
                    ..code
                },
            ),
            Location::Ecgi { eci, .. } => (
                &mut self.ecgi,
                PlmnCode {
                    eci: Some(eci),
                    ..code
                },
            ),
            Location::Lai { lac, .. } => (
                &mut self.lai,
                PlmnCode {
                    lac: Some(lac.into()),
                    ..code
                },
            ),
            Location::Cgi { lac, ci, .. } => (
                &mut self.cgi,
                PlmnCode {
                    lac: Some(lac.into()),
                    ci: Some(ci.into()),
                    ..code
                },
            ),
            Location::Sai { lac, sac, .. } => (
                &mut self.sai,
                PlmnCode {
                    lac: Some(lac.into()),
                    sac: Some(sac.into()),
                    ..code
                },
            ),
            Location::Rai { lac, rac, .. } => (
                &mut self.rai,
                PlmnCode {
                    lac: Some(lac.into()),
                    rac: Some(rac.into()),
                    ..code
                },
            ),
            Location::Ncgi { nci, .. } => (
                &mut self.ncgi,
                PlmnCode {
                    nci: Some(nci),
                    ..code
                },
            ),
        };
        *key = Some(code);
    }
}

//! GTP control plane: [`v1`] (GTPv1-C, Gn/Gp) and [`v2`] (GTPv2-C, S5/S8/S11), and what
//! their correlators share: the IE walk ([`ie`]), the pending-request table and the
//! correlator itself ([`transactions`]: stats, subscriber, request/response pairing,
//! session table), each version supplying what its messages mean.

use crate::flow::PacketMeta;
use crate::record::Record;
use crate::signal::Proto;
use crate::types::{Imsi, Msisdn};

/// The registered GTP-C port, both versions (UDP, and TCP when tshark's GTP-over-TCP is on).
pub const PORT: u16 = 2123;

/// What both versions' inspect records carry: header fields and the subscriber's IEs.
pub(crate) struct RecordHead {
    pub proto: Proto,
    pub msg_type: u8,
    pub seq: Option<u32>,
    pub teid: Option<u32>,
    pub imsi: Option<Imsi>,
    pub msisdn: Option<Msisdn>,
    pub rat: Option<u8>,
    pub cause: Option<u8>,
}

impl RecordHead {
    /// The record of the message seen at `meta`, the version's own fields still empty.
    pub fn record(self, meta: &PacketMeta) -> Record {
        let mut r = Record::new(self.proto, meta.frame, meta.ts_us);
        r.msg_type = Some(u32::from(self.msg_type));
        r.seq = self.seq;
        r.teid = self.teid;
        r.imsi = self.imsi.map(|d| d.to_string());
        r.msisdn = self.msisdn.map(|d| d.to_string());
        r.rat = self.rat.map(u32::from);
        r.cause = self.cause.map(u32::from);
        r
    }
}

pub(crate) mod ie;
pub(crate) mod pending;
pub mod transactions;
pub mod v1;
pub mod v2;

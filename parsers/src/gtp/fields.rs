//! What a GTP message says about its subscriber, both versions: the IEs they share (IMSI,
//! MSISDN, RAT Type, Cause) and the version's own location IEs; the inspect record they
//! make. Each version reads its IEs itself (`Gtpv1Fields::extract`,
//! `Gtpv2Fields::extract`): their types, encodings and which occurrence counts differ.

use crate::flow::PacketMeta;
use crate::record::Record;
use crate::signal::{Location, Proto};
use crate::types::{Imsi, Msisdn, Plmn};

/// What a GTP message says about its subscriber; `L`: the version's location IEs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GtpFields<L> {
    pub imsi: Option<Imsi>,
    pub msisdn: Option<Msisdn>,
    pub rat: Option<u8>,
    pub cause: Option<u8>,
    /// Where the subscriber is, as far as the message says.
    pub location: L,
}

/// A version's location IEs, as the correlator reads them.
pub trait Locator {
    /// The finest location the IEs give.
    fn location(&self) -> Option<Location>;
    /// The network serving the subscriber.
    fn serving(&self) -> Option<Plmn>;
}

impl<L> GtpFields<L> {
    /// The inspect record of the `proto` message seen at `meta` with these fields: its
    /// header fields and subscriber; the version adds its location keys.
    pub(crate) fn record(
        &self,
        meta: &PacketMeta,
        proto: Proto,
        msg_type: u8,
        seq: Option<u32>,
        teid: Option<u32>,
    ) -> Record {
        let mut r = Record::new(proto, meta.frame, meta.ts_us);
        r.msg_type = Some(u32::from(msg_type));
        r.seq = seq;
        r.teid = teid;
        r.imsi = self.imsi.map(|d| d.to_string());
        r.msisdn = self.msisdn.map(|d| d.to_string());
        r.rat = self.rat.map(u32::from);
        r.cause = self.cause.map(u32::from);
        r
    }
}

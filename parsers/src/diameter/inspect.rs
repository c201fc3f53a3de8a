//! The `landfall inspect` record of one Diameter message, by the conformance rules.

use super::header::Message;
use super::s6a::S6aFields;
use crate::flow::PacketMeta;
use crate::record::Record;
use crate::signal::Proto;

/// The inspect record of `msg` seen in the packet `meta` (the frame completing it).
pub fn record(msg: &Message<'_>, meta: &PacketMeta) -> Record {
    let h = msg.header;
    let f = S6aFields::extract(msg);
    let mut r = Record::new(Proto::Diameter, meta.frame, meta.ts_us);
    r.app = Some(h.app_id);
    r.code = Some(h.code);
    r.request = Some(h.flags.request());
    r.hbh = Some(h.hbh);
    r.e2e = Some(h.e2e);
    r.imsi = f.user_name_digits().map(str::to_owned);
    r.msisdn = f.msisdn_digits();
    r.plmn = f.visited_plmn().map(|p| p.to_string());
    r.rat = f.rat;
    r.ulr_flags = f.ulr_flags;
    r.result = f.result();
    r
}

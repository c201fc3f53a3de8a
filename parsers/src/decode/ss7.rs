//! The SS7 branch of the decoder.

use super::*;
use crate::flow::PacketMeta;
use crate::signal::Proto;
use crate::ss7::map::correlate::MapCorrelator;
use crate::ss7::map::{self, MapComponent};
use crate::ss7::sccp::{Reassembled, SccpMessage, SccpReassembler};
use crate::ss7::sigtran::m2pa::M2paMessage;
use crate::ss7::sigtran::m3ua::{self, M3uaMessage};
use crate::ss7::sigtran::mtp3::{self, Mtp3Message};
use crate::ss7::tcap::{ComponentKind, TcapMessage};

/// The SS7 part of the decoder: M3UA/M2PA → MTP3 → SCCP (reassembly) → TCAP → MAP.
pub(super) struct Ss7<'d> {
    pub sccp: &'d mut SccpReassembler,
    pub map: &'d mut MapCorrelator,
    pub stats: &'d mut DecodeStats,
}

impl Ss7<'_> {
    pub fn sigtran(&mut self, meta: &PacketMeta, ppid: u32, data: &[u8], sink: &mut dyn Sink) {
        let (label, si, user) = if ppid == m3ua::PPID {
            let m = match M3uaMessage::parse(data) {
                Ok(m) => m,
                Err(e) => return self.stats.error(meta, e),
            };
            if !m.is_data() {
                return self
                    .stats
                    .skip("m3ua management (ASPSM/ASPTM/MGMT/SSNM/RKM)");
            }
            match m.protocol_data() {
                Ok(pd) => (pd.label(), pd.si, pd.data),
                Err(e) => return self.stats.error(meta, e),
            }
        } else {
            let m = match M2paMessage::parse(data) {
                Ok(m) => m,
                Err(e) => return self.stats.error(meta, e),
            };
            let Some(mtp3) = m.mtp3 else {
                return self.stats.skip("m2pa link status or empty user data");
            };
            match Mtp3Message::parse(mtp3) {
                Ok(m) => (m.label, m.si, m.data),
                Err(e) => return self.stats.error(meta, e),
            }
        };
        if si != mtp3::SI_SCCP {
            return self
                .stats
                .skip("mtp3 user other than SCCP (management, ISUP)");
        }
        let msg = match SccpMessage::parse(user) {
            Ok(m) => m,
            Err(e) if e.reason == "not a connectionless SCCP message" => {
                return self.stats.skip("sccp connection-oriented or management");
            }
            Err(e) => return self.stats.error(meta, e),
        };
        if msg.called.ssn == Some(1) {
            return self.stats.skip("sccp management (SCMG, SSN 1)");
        }
        if msg.is_return() {
            // The returned message was never delivered: its components are shown (as
            // tshark does) but do not take part in dialogues. A returned segment is not.
            self.stats
                .skip("sccp service return (message not delivered)");
            if msg.segmentation.is_none() {
                self.tcap(meta, &msg, msg.data, false, sink);
            }
            return;
        }
        match self.sccp.push(meta.ts_us, label, &msg) {
            Reassembled::Whole(d) => self.tcap(meta, &msg, d, true, sink),
            Reassembled::Complete(d) => self.tcap(meta, &msg, &d, true, sink),
            Reassembled::Pending => {}
            Reassembled::Dropped(e) => self.stats.error(meta, e),
        }
    }

    /// A TCAP message; `delivered` is false for one an SCCP service return brought back.
    fn tcap(
        &mut self,
        meta: &PacketMeta,
        sccp: &SccpMessage<'_>,
        data: &[u8],
        delivered: bool,
        sink: &mut dyn Sink,
    ) {
        let tcap = match TcapMessage::parse(data) {
            Ok(t) => t,
            Err(e) => return self.stats.error(meta, e),
        };
        if !self.map.is_map(meta, &sccp.called, &sccp.calling, &tcap) {
            return;
        }
        // The dialogue is looked up first and each component correlated as it is decoded
        // (no array of components); the signals still go out after the messages.
        let dialogue = if delivered {
            self.map.begin(meta, &sccp.called, &sccp.calling, &tcap)
        } else {
            None
        };
        let mut signals = Vec::new();
        for c in tcap.components() {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    self.stats.error(meta, e);
                    break;
                }
            };
            let (fields, err) = map::decode_fields(&c);
            if let Some(e) = err {
                self.stats.error(meta, e);
            }
            let (code, request) = match c.kind {
                ComponentKind::ReturnError => (c.error.and_then(|e| e.local()), false),
                ComponentKind::Invoke => (c.opcode.and_then(|o| o.local()), true),
                _ => (c.opcode.and_then(|o| o.local()), false),
            };
            let key = MessageType {
                proto: Proto::Map,
                app: map_component_code(c.kind),
                code: code.map_or(u32::MAX, |c| c as u32),
                request,
            };
            self.stats.count_message(key);
            let mc = MapComponent {
                tcap: &tcap,
                component: c,
                fields,
                called: sccp.called,
                calling: sccp.calling,
            };
            sink.message(meta, &AppMessage::Map(&mc));
            if let Some(d) = dialogue {
                self.map
                    .component(meta, d, &mc.component, &mc.fields, &mut signals);
            }
        }
        if let Some(d) = dialogue {
            self.map.end(meta, d, &mut signals);
        }
        for signal in signals {
            self.stats.deliver(signal, sink);
        }
    }
}

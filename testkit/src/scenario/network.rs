//! The Diameter peers of the scenarios on their transports, and the M3UA link of a VLR
//! carrying MAP dialogues.

use std::io;

use landfall_parsers::diameter::MessageRepr;
use landfall_parsers::ss7::sccp::{SccpAddress, SccpRepr};
use landfall_parsers::ss7::sigtran::m3ua::M3uaRepr;
use landfall_parsers::ss7::sigtran::mtp3::{RoutingLabel, SI_SCCP};
use landfall_parsers::ss7::tcap::{ComponentKind, ComponentRepr, TcapRepr};
use landfall_parsers::Plmn;

use super::endpoints::{Dir, SctpAssoc, TcpConn, Wire};
use super::RAT_EUTRAN;
use crate::diameter::{Outcome, S6aSession};

/// M3UA over SCTP: port 2905, payload protocol 3 (RFC 4666).
const M3UA: (u16, u32) = (2905, 3);
/// SCCP subsystems: HLR and VLR.
const SSN_HLR: u8 = 6;
const SSN_VLR: u8 = 7;

/// Hop-by-hop and end-to-end identifiers, unique within the scenario.
pub(crate) struct Ids(pub(crate) u32);

impl Ids {
    pub(crate) fn next(&mut self) -> (u32, u32) {
        self.0 += 1;
        (0x5ce0_0000 + self.0, 0xe2e0_0000 + self.0)
    }
}

/// Everything on the wire: the pcap, the two MMEs' transports, the Diameter identifiers.
pub(crate) struct Net {
    pub(crate) w: Wire,
    pub(crate) ids: Ids,
    /// MME A ↔ HSS.
    pub(crate) a: SctpAssoc,
    /// MME B ↔ DRA.
    pub(crate) b: TcpConn,
}

/// Which MME carries an exchange.
#[derive(Clone, Copy)]
pub(crate) enum Via {
    /// MME A, SCTP.
    Sctp,
    /// MME B, TCP.
    Tcp,
}

/// One update-location exchange: who, where, how the HSS answers.
pub(crate) struct Attach<'a> {
    pub(crate) session: &'a S6aSession,
    pub(crate) imsi: &'a str,
    pub(crate) visited: Plmn,
    pub(crate) ulr_flags: u32,
    pub(crate) outcome: Outcome,
    pub(crate) msisdn: Option<&'a str>,
}

impl Net {
    /// A request at `t` and its answer `delay_us` later, each in a packet of its own.
    pub(crate) fn exchange(
        &mut self,
        via: Via,
        t: i64,
        request: &MessageRepr,
        answer: &MessageRepr,
        delay_us: i64,
    ) -> io::Result<()> {
        match via {
            Via::Sctp => {
                self.w.sctp(t, &mut self.a, Dir::Up, &[request])?;
                self.w.sctp(t + delay_us, &mut self.a, Dir::Down, &[answer])
            }
            Via::Tcp => {
                self.w.tcp(t, &mut self.b, Dir::Up, &request.emit())?;
                self.w
                    .tcp(t + delay_us, &mut self.b, Dir::Down, &answer.emit())
            }
        }
    }

    /// The ULR and ULA of `attach`.
    pub(crate) fn update_location(&mut self, attach: &Attach<'_>) -> (MessageRepr, MessageRepr) {
        let (h, e) = self.ids.next();
        let ulr = attach.session.ulr(
            h,
            e,
            attach.imsi,
            attach.visited,
            RAT_EUTRAN,
            attach.ulr_flags,
        );
        let ula = attach.session.ula(&ulr, attach.outcome, attach.msisdn);
        (ulr, ula)
    }

    /// ULR at `t`, ULA `delay_us` later.
    pub(crate) fn attach(
        &mut self,
        via: Via,
        t: i64,
        attach: Attach<'_>,
        delay_us: i64,
    ) -> io::Result<()> {
        let (ulr, ula) = self.update_location(&attach);
        self.exchange(via, t, &ulr, &ula, delay_us)
    }
}

/// The SS7 link of a French VLR (MSC/VLR 33609000001, point code 1001) to its STP
/// (point code 2002) over M3UA; the HLRs are reached by global title through the STP.
pub(crate) struct MapLink {
    pub(crate) assoc: SctpAssoc,
    pub(crate) vlr_gt: &'static str,
}

impl MapLink {
    /// One TCAP message in an SCCP UDT in an M3UA DATA. `Up` travels from the VLR to the
    /// HLR whose global title is `hlr_gt`, `Down` back.
    pub(crate) fn send(
        &mut self,
        w: &mut Wire,
        at: i64,
        dir: Dir,
        hlr_gt: &str,
        tcap: &TcapRepr,
    ) -> io::Result<()> {
        let vlr = SccpAddress::e164(SSN_VLR, self.vlr_gt);
        let hlr = SccpAddress::e164(SSN_HLR, hlr_gt);
        let (called, calling, label) = match dir {
            Dir::Up => (
                hlr,
                vlr,
                RoutingLabel {
                    opc: 1001,
                    dpc: 2002,
                    sls: 1,
                },
            ),
            Dir::Down => (
                vlr,
                hlr,
                RoutingLabel {
                    opc: 2002,
                    dpc: 1001,
                    sls: 1,
                },
            ),
        };
        let udt = SccpRepr::udt(called, calling, tcap.emit()).emit();
        let m3ua = M3uaRepr::data(Some(1), label, SI_SCCP, &udt).emit();
        w.sctp_data(at, &mut self.assoc, dir, M3UA, &[m3ua])
    }
}

pub(crate) fn tid(t: u32) -> Option<Vec<u8>> {
    Some(t.to_be_bytes().to_vec())
}

pub(crate) fn invoke(id: i64, operation: i64, arg: Vec<u8>) -> ComponentRepr {
    ComponentRepr {
        kind: ComponentKind::Invoke,
        invoke_id: id,
        code: Some(operation),
        parameter: Some(arg),
    }
}

pub(crate) fn result(id: i64, operation: Option<i64>, res: Option<Vec<u8>>) -> ComponentRepr {
    ComponentRepr {
        kind: ComponentKind::ReturnResultLast,
        invoke_id: id,
        code: operation,
        parameter: res,
    }
}

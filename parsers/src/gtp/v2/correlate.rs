//! GTPv2-C request/response correlation into normalized [`Signal`](crate::signal::Signal)s
//! (docs/semantics.md, "Signals").
//!
//! Requests are held, keyed by (connection, sequence number), until their response; only
//! an accepted cause (16–63, TS 29.274 §8.4) makes a signal, carrying the request's time
//! and frame. Modify Bearer and Delete Session rarely carry the IMSI: it is found through
//! the control-plane TEID learned from the Create Session exchange (the peers' Sender
//! F-TEIDs), keyed by (address, TEID).
//!
//! | request | accepted response | signal |
//! |---|---|---|
//! | Create Session (32) | 33 | `session_start` |
//! | Modify Bearer (34) with a ULI | 35 | `cell_change` |
//! | Delete Session (36) | 37 | `session_end` |
//! | Change Notification (38) with a ULI | 39 | `cell_change` |

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

use super::{ie, Gtpv2Fields, Gtpv2Message, LocationIes, V2};
use crate::gtp::fields::Locator;
use crate::gtp::transactions::{
    Effect, GtpCorrelator, GtpStats, GtpVersion, Learn, Retransmission, Sender,
};
use crate::signal::Location;
use crate::types::Plmn;

const CREATE_SESSION: u8 = 32;
const MODIFY_BEARER: u8 = 34;
const DELETE_SESSION: u8 = 36;
const CHANGE_NOTIFICATION: u8 = 38;

/// GTPv2: 24-bit sequence numbers, a retransmission replaces the pending request; the
/// sender's control TEID is its Sender F-TEID.
impl GtpVersion for V2 {
    type Location = LocationIes;
    const RETRANSMISSION: Retransmission = Retransmission::Replace;
    /// The acceptances of TS 29.274 §8.4.
    const ACCEPTING: RangeInclusive<u8> = 16..=63;

    fn head(m: &Gtpv2Message<'_>) -> (u8, Option<u32>) {
        (m.header.msg_type, Some(m.header.seq))
    }

    /// Any header TEID, 0 included.
    fn session_teid(m: &Gtpv2Message<'_>) -> Option<u32> {
        m.header.teid
    }

    fn fields(m: &Gtpv2Message<'_>) -> Gtpv2Fields {
        Gtpv2Fields::extract(m).0
    }

    fn sender(m: &Gtpv2Message<'_>, src: IpAddr) -> Sender {
        [sender_fteid(m, src), None]
    }

    fn effect(t: u8) -> Option<Effect> {
        match t {
            CREATE_SESSION => Some(Effect::Start),
            MODIFY_BEARER | CHANGE_NOTIFICATION => Some(Effect::Move),
            DELETE_SESSION => Some(Effect::End),
            _ => None,
        }
    }

    /// Create Session: both ends' control TEIDs.
    fn learns(t: u8) -> Option<Learn> {
        (t == CREATE_SESSION).then_some(Learn::Senders)
    }
}

impl Locator for LocationIes {
    /// The ULI's finest element.
    fn location(&self) -> Option<Location> {
        self.uli.and_then(|u| u.finest())
    }

    /// The Serving Network IE.
    fn serving(&self) -> Option<Plmn> {
        self.serving
    }
}

/// Counters of what gave no signal, and why.
pub type Gtpv2Stats = GtpStats;

/// Pairs GTPv2-C requests with responses and emits signals.
pub type Gtpv2Correlator = GtpCorrelator<V2>;

/// The sender's control-plane F-TEID: (IPv4 address or the packet's source, TEID). It is
/// instance 0 (Sender F-TEID for Control Plane); a PGW's Create Session Response on S5/S8
/// may carry only instance 1 (PGW S5/S8 F-TEID for control plane).
fn sender_fteid(msg: &Gtpv2Message<'_>, src: IpAddr) -> Option<(IpAddr, u32)> {
    let fteid = |instance| {
        msg.ies()
            .map_while(Result::ok)
            .find(|i| i.kind == ie::F_TEID && i.instance == instance)
    };
    let v = fteid(0).or_else(|| fteid(1))?.value;
    let teid = u32::from_be_bytes(v.get(1..5)?.try_into().ok()?);
    let addr = match v.first()? & 0x80 != 0 {
        true => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v.get(5..9)?).ok()?)),
        false => src,
    };
    Some((addr, teid))
}

#[cfg(test)]
mod tests {
    use super::super::{Gtpv2Repr, IeRepr};
    use super::*;
    use crate::flow::{FlowKey, PacketMeta};
    use crate::numbering::e212::E212;
    use crate::signal::{Location, Signal, SignalKind};
    use crate::types::{Imsi, Plmn};
    use std::net::Ipv4Addr;

    fn flow(a: u8, b: u8) -> FlowKey {
        let ip = |x| IpAddr::V4(Ipv4Addr::new(10, 0, 0, x));
        FlowKey::new(ip(a), 2123, ip(b), 2123)
    }

    fn meta(frame: u64) -> PacketMeta {
        PacketMeta {
            file: 0,
            frame,
            ts_us: 1_000_000 * frame as i64,
        }
    }

    fn fteid(teid: u32, addr: [u8; 4]) -> IeRepr {
        let mut value = vec![0x80 | 10];
        value.extend_from_slice(&teid.to_be_bytes());
        value.extend_from_slice(&addr);
        IeRepr {
            kind: ie::F_TEID,
            instance: 0,
            value,
        }
    }

    fn cause(c: u8) -> IeRepr {
        IeRepr {
            kind: ie::CAUSE,
            instance: 0,
            value: vec![c, 0],
        }
    }

    fn uli(eci: u8) -> IeRepr {
        IeRepr {
            kind: ie::ULI,
            instance: 0,
            value: vec![0x18, 0x02, 0xf8, 0x10, 0, 1, 0x02, 0xf8, 0x10, 0, 0, 0, eci],
        }
    }

    fn push(c: &mut Gtpv2Correlator, frame: u64, f: FlowKey, m: &Gtpv2Repr) -> Option<Signal> {
        let bytes = m.emit(false);
        c.push(&meta(frame), f, &Gtpv2Message::parse(&bytes).unwrap())
    }

    #[test]
    fn session_lifecycle_through_learned_teids() {
        let mut c = Gtpv2Correlator::with_tolerance(E212::default(), 0);
        let (mme, sgw) = (flow(1, 2), flow(2, 1));
        let imsi = Imsi::parse("208011000000001").unwrap();
        let csr = Gtpv2Repr {
            msg_type: 32,
            teid: Some(0),
            seq: 1,
            ies: vec![
                IeRepr {
                    kind: ie::IMSI,
                    instance: 0,
                    value: imsi.to_tbcd(),
                },
                IeRepr {
                    kind: ie::SERVING_NETWORK,
                    instance: 0,
                    value: vec![0x02, 0xf8, 0x10],
                },
                IeRepr {
                    kind: ie::RAT_TYPE,
                    instance: 0,
                    value: vec![6],
                },
                uli(1),
                fteid(0x100, [10, 0, 0, 1]),
            ],
        };
        assert_eq!(push(&mut c, 1, mme, &csr), None);
        let resp = Gtpv2Repr {
            msg_type: 33,
            teid: Some(0x100),
            seq: 1,
            ies: vec![cause(16), fteid(0x200, [10, 0, 0, 2])],
        };
        let s = push(&mut c, 2, sgw, &resp).expect("session start");
        assert_eq!(
            (s.kind, s.imsi, s.at, s.source.frame),
            (SignalKind::SessionStart, imsi, 1_000_000, 1)
        );
        assert_eq!(s.serving, Plmn::parse("208-01"));
        assert_eq!(
            s.location,
            Some(Location::Ecgi {
                plmn: Plmn::new(208, 1, 2),
                eci: 1
            })
        );

        // Modify Bearer towards the SGW's TEID, no IMSI: a cell change of the same subscriber.
        let mbr = Gtpv2Repr {
            msg_type: 34,
            teid: Some(0x200),
            seq: 2,
            ies: vec![uli(2)],
        };
        assert_eq!(push(&mut c, 3, mme, &mbr), None);
        let ok = Gtpv2Repr {
            msg_type: 35,
            teid: Some(0x100),
            seq: 2,
            ies: vec![cause(16)],
        };
        let s = push(&mut c, 4, sgw, &ok).expect("cell change");
        assert_eq!(
            (s.kind, s.imsi, s.rat),
            (SignalKind::CellChange, imsi, Some(6))
        );
        assert_eq!(
            s.location,
            Some(Location::Ecgi {
                plmn: Plmn::new(208, 1, 2),
                eci: 2
            })
        );

        // A rejected Modify Bearer gives nothing.
        let mbr = Gtpv2Repr {
            msg_type: 34,
            teid: Some(0x200),
            seq: 3,
            ies: vec![uli(3)],
        };
        push(&mut c, 5, mme, &mbr);
        let no = Gtpv2Repr {
            msg_type: 35,
            teid: Some(0x100),
            seq: 3,
            ies: vec![cause(64)],
        };
        assert_eq!(push(&mut c, 6, sgw, &no), None);
        assert_eq!(c.stats().rejected, 1);

        let dsr = Gtpv2Repr {
            msg_type: 36,
            teid: Some(0x200),
            seq: 4,
            ies: vec![],
        };
        push(&mut c, 7, mme, &dsr);
        let ok = Gtpv2Repr {
            msg_type: 37,
            teid: Some(0x100),
            seq: 4,
            ies: vec![cause(16)],
        };
        assert_eq!(
            push(&mut c, 8, sgw, &ok).map(|s| s.kind),
            Some(SignalKind::SessionEnd)
        );

        // After the session ended, its TEID no longer names anyone.
        let mbr = Gtpv2Repr {
            msg_type: 34,
            teid: Some(0x200),
            seq: 5,
            ies: vec![uli(4)],
        };
        push(&mut c, 9, mme, &mbr);
        let ok = Gtpv2Repr {
            msg_type: 35,
            teid: Some(0x100),
            seq: 5,
            ies: vec![cause(16)],
        };
        assert_eq!(push(&mut c, 10, sgw, &ok), None);
        assert_eq!(c.stats().no_imsi, 1);

        // A response without its request is counted.
        let ok = Gtpv2Repr {
            msg_type: 33,
            teid: Some(0x100),
            seq: 99,
            ies: vec![cause(16)],
        };
        assert_eq!(push(&mut c, 11, sgw, &ok), None);
        assert_eq!(c.stats().unmatched_responses, 1);
    }
}

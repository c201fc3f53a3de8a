//! The clock-skew scenario: short round trips on five links, for the tests that split a
//! capture into a request file and an answer file stamped early.

use std::io;
use std::net::Ipv4Addr;

use crate::map as map_encode;
use landfall_parsers::capture::{PcapWriter, TsResolution};
use landfall_parsers::gtp::v2::Uli;
use landfall_parsers::ss7::map::{op, Isdn};
use landfall_parsers::ss7::tcap::{map_context, DialoguePdu, TcapKind, TcapRepr};
use landfall_parsers::transport::link::LinkType;
use landfall_parsers::{Imsi, Msisdn};

use super::endpoints::{Dir, SctpAssoc, SctpPath, TcpConn, TcpPath, Wire};
use super::network::{invoke, result, tid, Attach, Ids, MapLink, Net, Via};
use super::{
    AC_NETWORK_LOC_UP, DIAMETER_PORT, GTPC_PORT, ORANGE_FR, SECOND, T0_US, TELEKOM_DE,
    ULR_INITIAL_ATTACH, VODAFONE_GB,
};
use crate::diameter::{Outcome, S6aSession};
use crate::gtpv2::{
    self as gtp, SessionRequest, CAUSE_ACCEPTED, IF_S11_SGW, RAT_EUTRAN as GTP_RAT_EUTRAN,
};

/// Links of [`skew_scenario`], each one client (requests) and one server (answers): the
/// servers' addresses, whose packets make the answer direction.
pub const SKEW_SERVERS: [Ipv4Addr; 5] = [
    Ipv4Addr::new(10, 30, 0, 10), // HSS, Diameter over SCTP
    Ipv4Addr::new(10, 30, 0, 20), // DRA, Diameter over TCP
    Ipv4Addr::new(10, 30, 0, 30), // SGW, GTPv2-C
    Ipv4Addr::new(10, 30, 0, 40), // GGSN, GTPv1-C
    Ipv4Addr::new(10, 30, 2, 10), // STP towards the HLRs, MAP over M3UA
];

/// A capture of short round trips (2 ms) on five links, for clock-skew tests: `n`
/// subscribers per link, one every 50 ms. Diameter S6a over SCTP (AIR/AIA, ULR/ULA) and
/// over TCP (ULR/ULA), GTPv2-C (Create Session, Modify Bearer with a new cell), GTPv1-C
/// (Create PDP Context, Update with a new routing area, Delete) and MAP (updateLocation
/// with insertSubscriberData from the HLR inside the dialogue). Every subscriber is an
/// inbound roamer in 208-01, so each accepted transaction makes arrival moments.
/// Deterministic.
pub fn skew_scenario(n: u32) -> Vec<u8> {
    build_skew(n).expect("writing into a Vec cannot fail")
}

fn build_skew(n: u32) -> io::Result<Vec<u8>> {
    use landfall_parsers::gtp::v1::{ie as ie1, msg as msg1, Gtpv1Repr, IeRepr as Ie1};
    const RTT: i64 = 2_000;
    let pcap = PcapWriter::new(Vec::new(), LinkType::ETHERNET, TsResolution::Micro)?;
    let [hss, dra, sgw, ggsn, stp] = SKEW_SERVERS;
    let (mme_a, mme_b, sgsn, vlr_ip) = (
        Ipv4Addr::new(10, 30, 0, 1),
        Ipv4Addr::new(10, 30, 1, 1),
        Ipv4Addr::new(10, 30, 3, 1),
        Ipv4Addr::new(10, 30, 2, 1),
    );
    let path = |src, vtag, tsn, cum_ack| SctpPath {
        src,
        vtag,
        tsn,
        ssn: 0,
        cum_ack,
        unacked: false,
    };
    let mut net = Net {
        w: Wire { pcap, ident: 0 },
        ids: Ids(0),
        a: SctpAssoc {
            up: path(mme_a, 0x0a0b_0c0d, 1000, 4999),
            down: path(hss, 0x0d0c_0b0a, 5000, 999),
        },
        b: TcpConn {
            up: TcpPath {
                src: mme_b,
                port: 40002,
                seq: 1_000_000,
            },
            down: TcpPath {
                src: dra,
                port: DIAMETER_PORT,
                seq: 2_000_000,
            },
        },
    };
    let mut link = MapLink {
        assoc: SctpAssoc {
            up: path(vlr_ip, 0x6161_0001, 100, 199),
            down: path(stp, 0x6161_0002, 200, 99),
        },
        vlr_gt: "33609000001",
    };
    let vlr = Isdn::parse("33609000001").expect("VLR number");
    let us_hlr = "14054000001";
    let hlr_number = Isdn::parse(us_hlr).expect("HLR number");
    let gtp1 = |msg_type, teid, seq, ies| Gtpv1Repr {
        msg_type,
        teid,
        seq: Some(seq),
        npdu: None,
        extensions: vec![],
        ies,
    };
    let rai = |lac: u16| {
        let mut v = ORANGE_FR.to_bcd().to_vec();
        v.extend_from_slice(&lac.to_be_bytes());
        v.push(1);
        Ie1 {
            kind: ie1::RAI,
            value: v,
        }
    };
    let teid_c = |t: u32| Ie1 {
        kind: ie1::TEID_C_PLANE,
        value: t.to_be_bytes().to_vec(),
    };
    let cause1 = Ie1 {
        kind: ie1::CAUSE,
        value: vec![128],
    };
    let de = S6aSession::new(TELEKOM_DE, ORANGE_FR, 11);
    let gb = S6aSession::new(VODAFONE_GB, ORANGE_FR, 12);
    let cell = |eci| Uli {
        tai: Some((ORANGE_FR, 0x0101)),
        ecgi: Some((ORANGE_FR, eci)),
        ..Uli::default()
    };
    let t0 = T0_US + SECOND;
    for i in 0..n {
        let t = t0 + i64::from(i) * 50_000;
        // Diameter over SCTP: AIR/AIA, then the ULR 10 ms later.
        let imsi = format!("2620100{:08}", i);
        let (h, e) = net.ids.next();
        let air = de.air(h, e, &imsi, ORANGE_FR, 1);
        net.exchange(Via::Sctp, t, &air, &de.aia(&air, Outcome::SUCCESS), RTT)?;
        net.attach(
            Via::Sctp,
            t + 10_000,
            Attach {
                session: &de,
                imsi: &imsi,
                visited: ORANGE_FR,
                ulr_flags: ULR_INITIAL_ATTACH,
                outcome: Outcome::SUCCESS,
                msisdn: None,
            },
            RTT,
        )?;
        // Diameter over TCP.
        let imsi = format!("2341500{:08}", i);
        net.attach(
            Via::Tcp,
            t + 5_000,
            Attach {
                session: &gb,
                imsi: &imsi,
                visited: ORANGE_FR,
                ulr_flags: ULR_INITIAL_ATTACH,
                outcome: Outcome::SUCCESS,
                msisdn: None,
            },
            RTT,
        )?;
        // GTPv2-C: Create Session, then Modify Bearer (no IMSI) with another cell.
        let imsi2 = Imsi::parse(&format!("2140700{:08}", i)).expect("IMSI");
        let (mme_teid, sgw_teid) = (0x1100_0000 + i, 0x2200_0000 + i);
        let csr = gtp::create_session_request(
            2 * i + 1,
            &SessionRequest {
                imsi: &imsi2,
                msisdn: None,
                serving: ORANGE_FR,
                rat: GTP_RAT_EUTRAN,
                uli: cell(0x0012_3401),
                mme_teid,
                mme_addr: mme_a,
            },
        );
        let csa = gtp::response(
            &csr,
            mme_teid,
            CAUSE_ACCEPTED,
            vec![gtp::fteid(IF_S11_SGW, sgw_teid, sgw)],
        );
        let (c, s) = ((mme_a, GTPC_PORT), (sgw, GTPC_PORT));
        net.w.udp(t + 15_000, c, s, &csr.emit(false))?;
        net.w.udp(t + 15_000 + RTT, s, c, &csa.emit(false))?;
        let mbr = gtp::modify_bearer_request(sgw_teid, 2 * i + 2, &cell(0x0012_3402));
        let mba = gtp::response(&mbr, mme_teid, CAUSE_ACCEPTED, vec![]);
        net.w.udp(t + 25_000, c, s, &mbr.emit(false))?;
        net.w.udp(t + 25_000 + RTT, s, c, &mba.emit(false))?;
        // GTPv1-C: Create PDP Context, Update (new routing area), Delete.
        let imsi1 = Imsi::parse(&format!("2220100{:08}", i)).expect("IMSI");
        let (t_sgsn, t_ggsn) = (0x3300_0000 + i, 0x4400_0000 + i);
        let seq = (3 * i) as u16;
        let (c, s) = ((sgsn, GTPC_PORT), (ggsn, GTPC_PORT));
        let create = gtp1(
            msg1::CREATE_PDP_CONTEXT_REQUEST,
            0,
            seq,
            vec![
                Ie1 {
                    kind: ie1::IMSI,
                    value: imsi1.to_tbcd(),
                },
                rai(0x10),
                teid_c(t_sgsn),
                Ie1 {
                    kind: ie1::RAT_TYPE,
                    value: vec![1],
                },
            ],
        );
        let created = gtp1(
            msg1::CREATE_PDP_CONTEXT_RESPONSE,
            t_sgsn,
            seq,
            vec![cause1.clone(), teid_c(t_ggsn)],
        );
        let update = gtp1(
            msg1::UPDATE_PDP_CONTEXT_REQUEST,
            t_ggsn,
            seq.wrapping_add(1),
            vec![rai(0x20)],
        );
        let updated = gtp1(
            msg1::UPDATE_PDP_CONTEXT_RESPONSE,
            t_sgsn,
            seq.wrapping_add(1),
            vec![cause1.clone()],
        );
        let delete = gtp1(
            msg1::DELETE_PDP_CONTEXT_REQUEST,
            t_ggsn,
            seq.wrapping_add(2),
            vec![],
        );
        let deleted = gtp1(
            msg1::DELETE_PDP_CONTEXT_RESPONSE,
            t_sgsn,
            seq.wrapping_add(2),
            vec![cause1.clone()],
        );
        for (k, (q, a)) in [(create, created), (update, updated), (delete, deleted)]
            .into_iter()
            .enumerate()
        {
            let at = t + 20_000 + 8_000 * k as i64;
            net.w.udp(at, c, s, &q.emit())?;
            net.w.udp(at + RTT, s, c, &a.emit())?;
        }
        // MAP: updateLocation; the HLR inserts the subscriber data within the dialogue.
        let imsi_m = Imsi::parse(&format!("3104100{:08}", i)).expect("IMSI");
        let otid = 0x0c00_0000 + i;
        let at = t + 30_000;
        let ul = TcapRepr {
            kind: TcapKind::Begin,
            otid: tid(otid),
            dtid: None,
            dialogue: Some((DialoguePdu::Request, map_context(AC_NETWORK_LOC_UP, 3))),
            components: vec![invoke(
                1,
                op::UPDATE_LOCATION,
                map_encode::update_location(&imsi_m, &vlr, &vlr),
            )],
        };
        link.send(&mut net.w, at, Dir::Up, us_hlr, &ul)?;
        let isd = TcapRepr {
            kind: TcapKind::Continue,
            otid: tid(0x0d00_0000 + i),
            dtid: tid(otid),
            dialogue: Some((DialoguePdu::Response, map_context(AC_NETWORK_LOC_UP, 3))),
            components: vec![invoke(
                2,
                op::INSERT_SUBSCRIBER_DATA,
                map_encode::insert_subscriber_data(
                    Some(&imsi_m),
                    &Msisdn::parse(&format!("1405{:07}", i)).expect("MSISDN"),
                ),
            )],
        };
        link.send(&mut net.w, at + RTT, Dir::Down, us_hlr, &isd)?;
        let isd_ack = TcapRepr {
            kind: TcapKind::Continue,
            otid: tid(otid),
            dtid: tid(0x0d00_0000 + i),
            dialogue: None,
            components: vec![result(2, None, None)],
        };
        link.send(&mut net.w, at + RTT + 500, Dir::Up, us_hlr, &isd_ack)?;
        let end = TcapRepr {
            kind: TcapKind::End,
            otid: None,
            dtid: tid(otid),
            dialogue: None,
            components: vec![result(
                1,
                Some(op::UPDATE_LOCATION),
                Some(map_encode::location_result(&hlr_number)),
            )],
        };
        link.send(&mut net.w, at + 2 * RTT, Dir::Down, us_hlr, &end)?;
    }
    net.w.pcap.into_inner()
}

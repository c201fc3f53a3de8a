//! The bundled roaming scenario: a capture built by the project's own encoders
//! (Diameter → SCTP/TCP, GTPv2-C → UDP, MAP → TCAP → SCCP → M3UA → SCTP, SBI JSON →
//! HTTP/2 → TCP; → IPv4 →
//! Ethernet → pcap), so testers have a fixture whose every
//! moment is known in advance. `landfall scenario --out F` writes it; the golden moments
//! live beside it in `fixtures/`.
//!
//! The operator is Orange France (208-01). MME A talks SCTP (port 3868, PPID 46) to the
//! HSS, MME B talks TCP (port 3868) to the DRA. Each case is one subscriber:
//! | subscriber | case | expected moments |
//! |---|---|---|
//! | 262011234567890 (DE) | inbound roamer attaches in 208-01, later purged | arrival 208-01 + FR, roaming-on; departures on purge |
//! | 208011000000001 (FR) | outbound roamer: ES (214-07) → CH (228-01) → home | arrivals, roaming-on, roaming-change-country, roaming-off |
//! | 460001234567890 (CN) | attach rejected, Experimental-Result 5004 roaming not allowed | none |
//! | 234150000000001 (GB) | attach rejected, Result-Code 5001 | none |
//! | 208015000000002 (FR) | 208-01 → 208-10 → back to 208-01 within the 12 h gap | no second arrival into 208-01 |
//! | 208016000000003 (FR) | 208-01 → 208-20 → back to 208-01 after 15 h | a second arrival into 208-01 |
//! | 214070000000005 (ES) | GTPv2 Create Session in 208-01, Modify Bearer (new cell), Delete Session | arrival 208-01 + FR, roaming-on (session_start) |
//! | 310410123456789 (US) | MAP updateLocation dialogue over M3UA with insertSubscriberData | arrival FR, roaming-on FR (VLR number +33) |
//! | 250011234567890 (RU) | MAP updateLocation refused, roamingNotAllowed | none |
//! | 222100000000007 (IT) | 5G SA: Nudm UECM registration through the SEPPs (two copies), purged 3 h later | arrival 208-01 + FR, roaming-on; departures on purge |
//!
//! Noise that yields no moment: AIR/AIA, DWR/DWA, a Gy CCR/CCA (application 4).
//! Transport edge cases ride along: an SCTP association set up with INIT/INIT-ACK/
//! COOKIE-ECHO/COOKIE-ACK, consecutive TSNs and stream sequence numbers per direction and
//! SACKs acknowledging the peer's last TSN; SCTP packets with several DATA chunks; a TCP
//! three-way handshake with consistent sequence and acknowledgement numbers; a ULR split
//! over three TCP segments, one of them delivered out of order; two Diameter messages in
//! one TCP segment; a retransmitted TCP segment.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::map as map_encode;
use landfall_parsers::capture::{PcapWriter, TsResolution};
use landfall_parsers::gtp::v2::Uli;
use landfall_parsers::ss7::map::{error as map_error, op, Isdn};
use landfall_parsers::ss7::tcap::{
    map_context, ComponentKind, ComponentRepr, DialoguePdu, TcapKind, TcapRepr,
};
use landfall_parsers::transport::link::LinkType;
use landfall_parsers::transport::tcp::TcpFlags;
use landfall_parsers::{Imsi, Msisdn};

use super::endpoints::{Dir, SctpAssoc, SctpPath, TcpConn, TcpPath, Wire};
use super::network::{invoke, result, tid, Attach, Ids, MapLink, Net, Via};
use super::sbi;
use super::{
    AC_INFO_RETRIEVAL, AC_NETWORK_LOC_UP, BOUYGUES_FR, CHINA_MOBILE, DIAMETER_PORT, GTPC_PORT,
    HOUR, MINUTE, ORANGE_ES, ORANGE_FR, SECOND, SFR_FR, SWISSCOM_CH, T0_US, TELEKOM_DE,
    ULR_INITIAL_ATTACH, ULR_UPDATE, VODAFONE_GB,
};
use crate::diameter::{cca, ccr, dwa, dwr, Outcome, S6aSession};
use crate::gtpv2::{
    self as gtp, SessionRequest, CAUSE_ACCEPTED, IF_S11_SGW, RAT_EUTRAN as GTP_RAT_EUTRAN,
};

/// The roaming scenario as pcap bytes (Ethernet, µs). Deterministic.
pub fn roaming_scenario() -> Vec<u8> {
    build().expect("writing into a Vec cannot fail")
}

/// Write [`roaming_scenario`] to `path`.
pub fn write_roaming_scenario(path: &Path) -> io::Result<()> {
    std::fs::write(path, roaming_scenario())
}

fn build() -> io::Result<Vec<u8>> {
    let pcap = PcapWriter::new(Vec::new(), LinkType::ETHERNET, TsResolution::Micro)?;
    // Network elements: MME A talks SCTP to the HSS, MME B talks TCP to the DRA.
    let mme_a = Ipv4Addr::new(10, 20, 0, 1);
    let hss = Ipv4Addr::new(10, 20, 0, 10);
    let mme_b = Ipv4Addr::new(10, 20, 1, 1);
    let dra = Ipv4Addr::new(10, 20, 0, 20);
    let mut net = Net {
        w: Wire { pcap, ident: 0 },
        ids: Ids(0),
        a: SctpAssoc {
            // MME A's packets carry the HSS's Initiate Tag and vice versa.
            up: SctpPath {
                src: mme_a,
                vtag: 0x1a2b_3c4d,
                tsn: 1000,
                ssn: 0,
                cum_ack: 4999,
                unacked: false,
            },
            down: SctpPath {
                src: hss,
                vtag: 0x4d3c_2b1a,
                tsn: 5000,
                ssn: 0,
                cum_ack: 999,
                unacked: false,
            },
        },
        b: TcpConn {
            up: TcpPath {
                src: mme_b,
                port: 40001,
                seq: 7_000_000,
            },
            down: TcpPath {
                src: dra,
                port: DIAMETER_PORT,
                seq: 9_000_000,
            },
        },
    };
    let push = TcpFlags::ACK | TcpFlags::PSH;

    let fr_mme = S6aSession::new(ORANGE_FR, ORANGE_FR, 1);
    let (mme_host, mme_realm) = (fr_mme.mme_host.clone(), fr_mme.mme_realm.clone());
    let hss_host = fr_mme.hss_host.clone().unwrap_or_default();
    let hss_realm = fr_mme.hss_realm.clone();

    // Transport: SCTP association setup for MME A (INIT, INIT-ACK with the State Cookie,
    // COOKIE-ECHO, COOKIE-ACK), then the TCP three-way handshake for MME B's connection.
    net.w.sctp_setup(T0_US, &net.a)?;
    net.w.tcp_handshake(T0_US + 1_000, &mut net.b)?;

    // Noise: a watchdog on the SCTP association (recognised, no signal).
    let t = T0_US + SECOND;
    let (h, e) = net.ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    net.exchange(Via::Sctp, t, &q, &dwa(&q, &hss_host, &hss_realm), 300)?;

    // Case: inbound roamer from Germany attaches in 208-01. Noise first: AIR/AIA (auth),
    // then the ULR with initial attach, answered 2001 with the MSISDN in Subscription-Data
    // → network arrival 208-01, country arrival FR, roaming-on FR.
    let anna = "262011234567890";
    let de = S6aSession::new(TELEKOM_DE, ORANGE_FR, 2);
    let t = T0_US + 2 * SECOND;
    let (h, e) = net.ids.next();
    let air = de.air(h, e, anna, ORANGE_FR, 1);
    net.exchange(Via::Sctp, t, &air, &de.aia(&air, Outcome::SUCCESS), 5_000)?;
    net.attach(
        Via::Sctp,
        t + SECOND,
        Attach {
            session: &de,
            imsi: anna,
            visited: ORANGE_FR,
            ulr_flags: ULR_INITIAL_ATTACH,
            outcome: Outcome::SUCCESS,
            msisdn: Some("4915112345678"),
        },
        7_000,
    )?;

    // Case: outbound roamer, our subscriber, attaches in Spain (214-07) through the DRA
    // → arrivals 214-07 and ES, roaming-on ES.
    // Transport: the ULR is split over three TCP segments and the middle one is captured
    // first (out of order); the ULA segment is captured twice (a retransmission).
    let bruno = "208011000000001";
    let es = S6aSession::new(ORANGE_FR, ORANGE_ES, 3);
    let t = T0_US + 10 * MINUTE;
    let (ulr, ula) = net.update_location(&Attach {
        session: &es,
        imsi: bruno,
        visited: ORANGE_ES,
        ulr_flags: ULR_INITIAL_ATTACH,
        outcome: Outcome::SUCCESS,
        msisdn: Some("33612000001"),
    });
    let bytes = ulr.emit();
    let (p1, rest) = bytes.split_at(16);
    let (p2, p3) = rest.split_at(rest.len() / 2);
    let s1 = net.b.up.seq;
    let s2 = s1.wrapping_add(p1.len() as u32);
    let s3 = s2.wrapping_add(p2.len() as u32);
    net.w.tcp_at(t, &net.b, Dir::Up, s2, push, p2)?;
    net.w.tcp_at(t + 100, &net.b, Dir::Up, s1, push, p1)?;
    net.w.tcp_at(t + 200, &net.b, Dir::Up, s3, push, p3)?;
    net.b.up.seq = s3.wrapping_add(p3.len() as u32);
    let ula = ula.emit();
    let resend_seq = net.b.down.seq;
    net.w.tcp(t + 9_000, &mut net.b, Dir::Down, &ula)?;
    // The same ULA segment again 200 ms later: a retransmission, decoded once.
    net.w
        .tcp_at(t + 209_000, &net.b, Dir::Down, resend_seq, push, &ula)?;

    // Case: rejected attach. Steering of roaming answers Experimental-Result 5004
    // DIAMETER_ERROR_ROAMING_NOT_ALLOWED → no moment.
    let chen = "460001234567890";
    let cn = S6aSession::new(CHINA_MOBILE, ORANGE_FR, 4);
    net.attach(
        Via::Sctp,
        T0_US + 20 * MINUTE,
        Attach {
            session: &cn,
            imsi: chen,
            visited: ORANGE_FR,
            ulr_flags: ULR_INITIAL_ATTACH,
            outcome: Outcome::ROAMING_NOT_ALLOWED,
            msisdn: None,
        },
        30_000,
    )?;

    // Case: rejected attach with a base Result-Code, 5001 (not an Experimental-Result)
    // → no moment.
    let dora = "234150000000001";
    let gb = S6aSession::new(VODAFONE_GB, ORANGE_FR, 5);
    net.attach(
        Via::Tcp,
        T0_US + 25 * MINUTE,
        Attach {
            session: &gb,
            imsi: dora,
            visited: ORANGE_FR,
            ulr_flags: ULR_INITIAL_ATTACH,
            outcome: Outcome::Result(5001),
            msisdn: None,
        },
        25_000,
    )?;

    // Case: re-entry inside the gap, part 1. Home subscriber attaches in 208-01 → arrivals
    // 208-01 and FR (a first sighting), no roaming moment.
    // Transport: the ULR is bundled with a DWR in one SCTP packet (two DATA chunks), the
    // ULA with the DWA.
    let emil = "208015000000002";
    let home = S6aSession::new(ORANGE_FR, ORANGE_FR, 6);
    let t = T0_US + 30 * MINUTE;
    let (ulr, ula) = net.update_location(&Attach {
        session: &home,
        imsi: emil,
        visited: ORANGE_FR,
        ulr_flags: ULR_INITIAL_ATTACH,
        outcome: Outcome::SUCCESS,
        msisdn: Some("33612000002"),
    });
    let (h, e) = net.ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    net.w.sctp(t, &mut net.a, Dir::Up, &[&q, &ulr])?;
    let a = dwa(&q, &hss_host, &hss_realm);
    net.w.sctp(t + 4_000, &mut net.a, Dir::Down, &[&a, &ula])?;

    // Case: GTPv2-C on S11. Gina, an inbound roamer from Spain (214-07), opens a PDN
    // session through MME A: Create Session Request (IMSI, MSISDN, Serving Network
    // 208-01, ULI TAI+ECGI, the MME's F-TEID) to the SGW, accepted (cause 16) with the
    // SGW's F-TEID → session_start: arrivals 208-01 and FR, roaming-on FR.
    let sgw = Ipv4Addr::new(10, 20, 0, 30);
    let gina = Imsi::parse("214070000000005").expect("IMSI");
    let gina_msisdn = Msisdn::parse("34600000005").expect("MSISDN");
    let cell = |eci| Uli {
        tai: Some((ORANGE_FR, 0x0101)),
        ecgi: Some((ORANGE_FR, eci)),
        ..Uli::default()
    };
    let (mme_teid, sgw_teid) = (0x1000_0005, 0x2000_0005);
    let t = T0_US + 40 * MINUTE;
    let csr = gtp::create_session_request(
        0x10,
        &SessionRequest {
            imsi: &gina,
            msisdn: Some(&gina_msisdn),
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
    net.w
        .udp(t, (mme_a, GTPC_PORT), (sgw, GTPC_PORT), &csr.emit(false))?;
    net.w.udp(
        t + 2_000,
        (sgw, GTPC_PORT),
        (mme_a, GTPC_PORT),
        &csa.emit(false),
    )?;

    // Case: GSM MAP over M3UA. Hugo, an AT&T (310-410) subscriber, registers with the
    // French VLR 33609000001: sendAuthenticationInfo (auth, no moment), then an
    // updateLocation dialogue (Begin UL, Continue with insertSubscriberData carrying his
    // MSISDN, Continue acknowledging it, End with the UL result) → location_update whose
    // country comes from +33: arrival FR, roaming-on FR; no network (MAP names no PLMN).
    // Transport: the STP relays the End twice (the copy must not count again).
    let mut link = MapLink {
        assoc: SctpAssoc {
            up: SctpPath {
                src: Ipv4Addr::new(10, 20, 2, 1),
                vtag: 0x5151_0001,
                tsn: 100,
                ssn: 0,
                cum_ack: 199,
                unacked: false,
            },
            down: SctpPath {
                src: Ipv4Addr::new(10, 20, 2, 10),
                vtag: 0x5151_0002,
                tsn: 200,
                ssn: 0,
                cum_ack: 99,
                unacked: false,
            },
        },
        vlr_gt: "33609000001",
    };
    let vlr = Isdn::parse("33609000001").expect("VLR number");
    let us_hlr = "14054000001";
    let hugo = Imsi::parse("310410123456789").expect("IMSI");
    let t = T0_US + 45 * MINUTE;
    let begin = |otid: u32, ac: u8, comps: Vec<ComponentRepr>| TcapRepr {
        kind: TcapKind::Begin,
        otid: tid(otid),
        dtid: None,
        dialogue: Some((DialoguePdu::Request, map_context(ac, 3))),
        components: comps,
    };
    let sai = begin(
        0x0a00_0001,
        AC_INFO_RETRIEVAL,
        vec![invoke(
            1,
            op::SEND_AUTHENTICATION_INFO,
            map_encode::send_authentication_info(&hugo),
        )],
    );
    link.send(&mut net.w, t, Dir::Up, us_hlr, &sai)?;
    let sai_end = TcapRepr {
        kind: TcapKind::End,
        otid: None,
        dtid: tid(0x0a00_0001),
        dialogue: Some((DialoguePdu::Response, map_context(AC_INFO_RETRIEVAL, 3))),
        components: vec![result(1, None, None)],
    };
    link.send(&mut net.w, t + 80_000, Dir::Down, us_hlr, &sai_end)?;
    let ul = begin(
        0x0a00_0002,
        AC_NETWORK_LOC_UP,
        vec![invoke(
            1,
            op::UPDATE_LOCATION,
            map_encode::update_location(&hugo, &vlr, &vlr),
        )],
    );
    let t = t + SECOND;
    link.send(&mut net.w, t, Dir::Up, us_hlr, &ul)?;
    let isd = TcapRepr {
        kind: TcapKind::Continue,
        otid: tid(0x0b00_0002),
        dtid: tid(0x0a00_0002),
        dialogue: Some((DialoguePdu::Response, map_context(AC_NETWORK_LOC_UP, 3))),
        components: vec![invoke(
            2,
            op::INSERT_SUBSCRIBER_DATA,
            map_encode::insert_subscriber_data(
                Some(&hugo),
                &Msisdn::parse("14055550100").expect("MSISDN"),
            ),
        )],
    };
    link.send(&mut net.w, t + 90_000, Dir::Down, us_hlr, &isd)?;
    let isd_ack = TcapRepr {
        kind: TcapKind::Continue,
        otid: tid(0x0a00_0002),
        dtid: tid(0x0b00_0002),
        dialogue: None,
        components: vec![result(2, None, None)],
    };
    link.send(&mut net.w, t + 95_000, Dir::Up, us_hlr, &isd_ack)?;
    let hlr_number = Isdn::parse(us_hlr).expect("HLR number");
    let ul_end = TcapRepr {
        kind: TcapKind::End,
        otid: None,
        dtid: tid(0x0a00_0002),
        dialogue: None,
        components: vec![result(
            1,
            Some(op::UPDATE_LOCATION),
            Some(map_encode::location_result(&hlr_number)),
        )],
    };
    link.send(&mut net.w, t + 180_000, Dir::Down, us_hlr, &ul_end)?;
    link.send(&mut net.w, t + 181_000, Dir::Down, us_hlr, &ul_end)?;

    // Case: MAP updateLocation refused. Ivan (MTS Russia, 250-01) tries the same VLR; his
    // HLR answers returnError roamingNotAllowed (8) → rejected, no moment.
    let ru_hlr = "79160000001";
    let ivan = Imsi::parse("250011234567890").expect("IMSI");
    let t = T0_US + 50 * MINUTE;
    let ul = begin(
        0x0a00_0003,
        AC_NETWORK_LOC_UP,
        vec![invoke(
            1,
            op::UPDATE_LOCATION,
            map_encode::update_location(&ivan, &vlr, &vlr),
        )],
    );
    link.send(&mut net.w, t, Dir::Up, ru_hlr, &ul)?;
    let refused = TcapRepr {
        kind: TcapKind::End,
        otid: None,
        dtid: tid(0x0a00_0003),
        dialogue: Some((DialoguePdu::Response, map_context(AC_NETWORK_LOC_UP, 3))),
        components: vec![ComponentRepr {
            kind: ComponentKind::ReturnError,
            invoke_id: 1,
            code: Some(map_error::ROAMING_NOT_ALLOWED),
            parameter: Some(map_encode::roaming_not_allowed(0)),
        }],
    };
    link.send(&mut net.w, t + 120_000, Dir::Down, ru_hlr, &refused)?;

    // Case: GTPv2 cell change. Gina's eNodeB hands her over to another cell of 208-01:
    // Modify Bearer Request (no IMSI: found through the SGW's TEID) with the new ULI,
    // accepted → cell_change, no new moment (same network and country).
    let t = T0_US + 55 * MINUTE;
    let mbr = gtp::modify_bearer_request(sgw_teid, 0x11, &cell(0x0012_3402));
    let mba = gtp::response(&mbr, mme_teid, CAUSE_ACCEPTED, vec![]);
    net.w
        .udp(t, (mme_a, GTPC_PORT), (sgw, GTPC_PORT), &mbr.emit(false))?;
    net.w.udp(
        t + 1_500,
        (sgw, GTPC_PORT),
        (mme_a, GTPC_PORT),
        &mba.emit(false),
    )?;

    // Case: re-entry outside the gap, part 1. Fay attaches in 208-01 → arrivals 208-01, FR.
    let fay = "208016000000003";
    net.attach(
        Via::Sctp,
        T0_US + HOUR,
        Attach {
            session: &home,
            imsi: fay,
            visited: ORANGE_FR,
            ulr_flags: ULR_INITIAL_ATTACH,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        4_000,
    )?;

    // Noise: a Gy credit-control exchange (application 4) and a watchdog.
    // Transport: two Diameter messages in one TCP segment, each way.
    let t = T0_US + HOUR + 10 * MINUTE;
    let (h, e) = net.ids.next();
    let session = format!("{mme_host};gy;1");
    let c = ccr(h, e, &session, fay, "33612000003");
    let (h, e) = net.ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    let mut both = c.emit();
    both.extend_from_slice(&q.emit());
    net.w.tcp(t, &mut net.b, Dir::Up, &both)?;
    let mut both = cca(&c, &session, Outcome::SUCCESS).emit();
    both.extend_from_slice(&dwa(&q, &hss_host, &hss_realm).emit());
    net.w.tcp(t + 3_000, &mut net.b, Dir::Down, &both)?;

    // Case: GTPv2 session end. Gina's session is deleted (Delete Session, accepted)
    // → session_end, no moment (a session ending is not a departure).
    let t = T0_US + HOUR + 20 * MINUTE;
    let dsr = gtp::delete_session_request(sgw_teid, 0x12);
    let dsa = gtp::response(&dsr, mme_teid, CAUSE_ACCEPTED, vec![]);
    net.w
        .udp(t, (mme_a, GTPC_PORT), (sgw, GTPC_PORT), &dsr.emit(false))?;
    net.w.udp(
        t + 1_000,
        (sgw, GTPC_PORT),
        (mme_a, GTPC_PORT),
        &dsa.emit(false),
    )?;

    // Case: re-entry outside the gap, part 2. Fay moves to Bouygues (208-20, national
    // roaming), 30 minutes later → departure 208-01, arrival 208-20; the country is
    // unchanged, so no country moment.
    let fay_b = S6aSession::new(ORANGE_FR, BOUYGUES_FR, 7);
    net.attach(
        Via::Tcp,
        T0_US + HOUR + 30 * MINUTE,
        Attach {
            session: &fay_b,
            imsi: fay,
            visited: BOUYGUES_FR,
            ulr_flags: ULR_UPDATE,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        8_000,
    )?;

    // Case: re-entry inside the gap, part 2. Emil moves to SFR (208-10) two hours in
    // → departure 208-01, arrival 208-10; no country moment.
    let emil_sfr = S6aSession::new(ORANGE_FR, SFR_FR, 8);
    net.attach(
        Via::Tcp,
        T0_US + 2 * HOUR,
        Attach {
            session: &emil_sfr,
            imsi: emil,
            visited: SFR_FR,
            ulr_flags: ULR_UPDATE,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        8_000,
    )?;

    // Case: purge. The inbound roamer is purged three hours in (PUR/PUA 2001)
    // → departures from 208-01 and FR.
    let (h, e) = net.ids.next();
    let pur = de.pur(h, e, anna);
    let pua = de.pua(&pur, Outcome::SUCCESS);
    net.exchange(Via::Sctp, T0_US + 3 * HOUR, &pur, &pua, 2_000)?;

    // Case: re-entry inside the gap, part 3. Emil returns to 208-01 at four hours, 3.5 h
    // after his last 208-01 signal → departure 208-10 only, no second arrival into 208-01.
    net.attach(
        Via::Sctp,
        T0_US + 4 * HOUR,
        Attach {
            session: &home,
            imsi: emil,
            visited: ORANGE_FR,
            ulr_flags: ULR_UPDATE,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        4_000,
    )?;

    // Case: outbound roamer, part 2. Bruno crosses from Spain into Switzerland (228-01)
    // five hours in → roaming-change-country ES → CH, arrivals CH and 228-01, departures.
    let ch = S6aSession::new(ORANGE_FR, SWISSCOM_CH, 9);
    net.attach(
        Via::Tcp,
        T0_US + 5 * HOUR,
        Attach {
            session: &ch,
            imsi: bruno,
            visited: SWISSCOM_CH,
            ulr_flags: ULR_INITIAL_ATTACH,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        40_000,
    )?;

    // Case: outbound roamer, part 3. Bruno comes home (208-01) nine hours in
    // → roaming-off, arrivals FR and 208-01 (never seen there before), departures.
    net.attach(
        Via::Sctp,
        T0_US + 9 * HOUR,
        Attach {
            session: &home,
            imsi: bruno,
            visited: ORANGE_FR,
            ulr_flags: ULR_INITIAL_ATTACH,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        4_000,
    )?;

    // Case: re-entry outside the gap, part 3. Fay returns to 208-01 sixteen hours in,
    // 15 h after her last 208-01 signal → a second arrival into 208-01.
    net.attach(
        Via::Sctp,
        T0_US + 16 * HOUR,
        Attach {
            session: &home,
            imsi: fay,
            visited: ORANGE_FR,
            ulr_flags: ULR_UPDATE,
            outcome: Outcome::SUCCESS,
            msisdn: None,
        },
        4_000,
    )?;

    // Case: 5G SA inbound roamer. Lia, a Vodafone Italia (222-10) subscriber, registers
    // in 208-01 seventeen hours in: the AMF's Nudm UECM PUT to her home UDM crosses the
    // SEPPs on N32, captured twice on TCP 7777 (AMF → vSEPP, hSEPP → UDM), each hop its
    // own HTTP/2 cleartext connection (preface, SETTINGS, HPACK per direction); the UDM
    // answers 201 → one attach (the copy joins the first): arrivals 208-01 and FR,
    // roaming-on FR. Three hours later the AMF purges her (PATCH purgeFlag, 204 through
    // both hops) → departures from 208-01 and FR.
    sbi::inbound_roamer(&mut net.w, T0_US + 17 * HOUR, T0_US + 20 * HOUR)?;

    // Noise: a last watchdog a day later closes the capture (the timeline spans 25 h).
    let (h, e) = net.ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    net.exchange(
        Via::Sctp,
        T0_US + 25 * HOUR,
        &q,
        &dwa(&q, &hss_host, &hss_realm),
        300,
    )?;

    net.w.pcap.into_inner()
}

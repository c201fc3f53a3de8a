//! The bundled roaming scenario: a capture built by the project's own encoders
//! (Diameter → SCTP/TCP → IPv4 → Ethernet → pcap), so testers have a fixture whose every
//! moment is known in advance. `landfall scenario --out F` writes it; the golden moments
//! live beside it in `fixtures/`.
//!
//! The operator is Orange France (208-01). Each case is one subscriber:
//! | subscriber | case | expected moments |
//! |---|---|---|
//! | 262011234567890 (DE) | inbound roamer attaches in 208-01, later purged | arrival 208-01 + FR, roaming-on; departures on purge |
//! | 208011000000001 (FR) | outbound roamer: ES (214-07) → CH (228-01) → home | arrivals, roaming-on, roaming-change-country, roaming-off |
//! | 460001234567890 (CN) | attach rejected, Experimental-Result 5004 roaming not allowed | none |
//! | 234150000000001 (GB) | attach rejected, Result-Code 5003 authorization rejected | none |
//! | 208015000000002 (FR) | 208-01 → 208-10 → back to 208-01 within the 12 h gap | no second arrival into 208-01 |
//! | 208016000000003 (FR) | 208-01 → 208-20 → back to 208-01 after 14 h | a second arrival into 208-01 |
//!
//! Transport edge cases ride along: SCTP packets with several DATA chunks (and a SACK),
//! a ULR split over three TCP segments delivered out of order, two Diameter messages in
//! one TCP segment, and a retransmitted TCP segment.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use landfall_parsers::capture::{PcapWriter, TsResolution};
use landfall_parsers::diameter::builder::{cca, ccr, dwa, dwr};
use landfall_parsers::diameter::{MessageRepr, Outcome, S6aSession};
use landfall_parsers::ip::Ipv4Repr;
use landfall_parsers::link::{EtherType, EthernetRepr, LinkType};
use landfall_parsers::sctp::{Chunk, DataChunk, SctpRepr};
use landfall_parsers::tcp::{TcpFlags, TcpRepr};
use landfall_parsers::Plmn;

/// 2026-06-01T08:00:00Z, the scenario's first second.
const T0_US: i64 = 1_780_300_800_000_000;
const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

const DIAMETER_PORT: u16 = 3868;
const PPID_DIAMETER: u32 = 46;
/// S6a RAT-Type EUTRAN and ULR-Flags (S6a indicator + initial attach).
const RAT_EUTRAN: u32 = 1004;
const ULR_INITIAL_ATTACH: u32 = 0x22;
const ULR_UPDATE: u32 = 0x02;

const ORANGE_FR: Plmn = Plmn {
    mcc: 208,
    mnc: 1,
    mnc_len: 2,
};
const SFR_FR: Plmn = Plmn {
    mcc: 208,
    mnc: 10,
    mnc_len: 2,
};
const BOUYGUES_FR: Plmn = Plmn {
    mcc: 208,
    mnc: 20,
    mnc_len: 2,
};
const TELEKOM_DE: Plmn = Plmn {
    mcc: 262,
    mnc: 1,
    mnc_len: 2,
};
const ORANGE_ES: Plmn = Plmn {
    mcc: 214,
    mnc: 7,
    mnc_len: 2,
};
const SWISSCOM_CH: Plmn = Plmn {
    mcc: 228,
    mnc: 1,
    mnc_len: 2,
};

/// One SCTP association direction: addresses, ports, verification tag, next TSN.
struct SctpPath {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    vtag: u32,
    tsn: u32,
    ssn: u16,
}

/// One TCP connection direction: addresses, ports, next sequence number.
struct TcpPath {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
}

/// Writes Ethernet/IPv4 frames into a pcap, one timestamp at a time.
struct Wire {
    pcap: PcapWriter<Vec<u8>>,
    ident: u16,
}

impl Wire {
    fn ip(
        &mut self,
        at: i64,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        self.ident = self.ident.wrapping_add(1);
        let ip = Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            tos: 0,
            ident: self.ident,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        let mut packet = Vec::with_capacity(20 + payload.len());
        ip.emit(payload, &mut packet);
        let mac = |a: Ipv4Addr| {
            let o = a.octets();
            [0x02, 0x00, o[0], o[1], o[2], o[3]]
        };
        let eth = EthernetRepr {
            dst: mac(dst),
            src: mac(src),
            vlans: vec![],
            ethertype: EtherType::IPV4,
        };
        let mut frame = Vec::with_capacity(14 + packet.len());
        eth.emit(&packet, &mut frame);
        self.pcap
            .write_packet(at * 1000, &frame, frame.len() as u32)
    }

    /// One SCTP packet carrying `messages` as bundled DATA chunks (plus a SACK if asked).
    fn sctp(
        &mut self,
        at: i64,
        path: &mut SctpPath,
        messages: &[&MessageRepr],
        sack: bool,
    ) -> io::Result<()> {
        let bodies: Vec<Vec<u8>> = messages.iter().map(|m| m.emit()).collect();
        let mut chunks = Vec::new();
        if sack {
            // cumulative TSN ack, a_rwnd, no gap blocks, no duplicates
            chunks.push(Chunk::Other {
                kind: 3,
                flags: 0,
                value: &SACK_VALUE,
            });
        }
        for body in &bodies {
            chunks.push(Chunk::Data(DataChunk {
                unordered: false,
                begin: true,
                end: true,
                immediate: false,
                tsn: path.tsn,
                stream_id: 0,
                ssn: path.ssn,
                ppid: PPID_DIAMETER,
                i_data: None,
                payload: body,
            }));
            path.tsn = path.tsn.wrapping_add(1);
            path.ssn = path.ssn.wrapping_add(1);
        }
        let repr = SctpRepr {
            src_port: DIAMETER_PORT,
            dst_port: DIAMETER_PORT,
            vtag: path.vtag,
            chunks,
        };
        let bytes = repr.emit();
        self.ip(at, path.src, path.dst, 132, &bytes)
    }

    /// A TCP segment of `payload` at the path's next sequence number (not advanced).
    fn tcp_at(
        &mut self,
        at: i64,
        path: &TcpPath,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> io::Result<()> {
        let seg = TcpRepr {
            src_port: path.src_port,
            dst_port: path.dst_port,
            seq,
            ack: path.ack,
            flags,
            window: 65535,
            urgent: 0,
        };
        let bytes = seg.emit(IpAddr::V4(path.src), IpAddr::V4(path.dst), payload);
        self.ip(at, path.src, path.dst, 6, &bytes)
    }

    /// Send `payload` in one segment and advance the sequence number.
    fn tcp(&mut self, at: i64, path: &mut TcpPath, payload: &[u8]) -> io::Result<()> {
        self.tcp_at(at, path, path.seq, TcpFlags::ACK | TcpFlags::PSH, payload)?;
        path.seq = path.seq.wrapping_add(payload.len() as u32);
        Ok(())
    }
}

/// SACK chunk value: cumulative TSN ack 0x1000, a_rwnd 106496, no gaps, no duplicates.
const SACK_VALUE: [u8; 12] = [0x00, 0x00, 0x10, 0x00, 0x00, 0x01, 0xa0, 0x00, 0, 0, 0, 0];

/// Hop-by-hop and end-to-end identifiers, unique within the scenario.
struct Ids(u32);

impl Ids {
    fn next(&mut self) -> (u32, u32) {
        self.0 += 1;
        (0x5ce0_0000 + self.0, 0xe2e0_0000 + self.0)
    }
}

/// One update-location exchange: who, where, how it is answered.
struct Attach<'a> {
    session: &'a S6aSession,
    imsi: &'a str,
    visited: Plmn,
    ulr_flags: u32,
    outcome: Outcome,
    msisdn: Option<&'a str>,
}

impl Attach<'_> {
    fn messages(&self, ids: &mut Ids) -> (MessageRepr, MessageRepr) {
        let (h, e) = ids.next();
        let ulr = self
            .session
            .ulr(h, e, self.imsi, self.visited, RAT_EUTRAN, self.ulr_flags);
        let ula = self.session.ula(&ulr, self.outcome, self.msisdn);
        (ulr, ula)
    }

    /// ULR and its answer over MME A's SCTP association, `delay_us` apart.
    fn over_sctp(
        &self,
        w: &mut Wire,
        ids: &mut Ids,
        paths: &mut (SctpPath, SctpPath),
        t: i64,
        delay_us: i64,
    ) -> io::Result<()> {
        let (ulr, ula) = self.messages(ids);
        w.sctp(t, &mut paths.0, &[&ulr], true)?;
        w.sctp(t + delay_us, &mut paths.1, &[&ula], true)
    }

    /// ULR and its answer over MME B's TCP connection, `delay_us` apart.
    fn over_tcp(
        &self,
        w: &mut Wire,
        ids: &mut Ids,
        paths: &mut (TcpPath, TcpPath),
        t: i64,
        delay_us: i64,
    ) -> io::Result<()> {
        let (ulr, ula) = self.messages(ids);
        w.tcp(t, &mut paths.0, &ulr.emit())?;
        w.tcp(t + delay_us, &mut paths.1, &ula.emit())
    }
}

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
    let mut w = Wire { pcap, ident: 0 };
    let mut ids = Ids(0);

    // Network elements: MME A talks SCTP to the HSS/DRA, MME B talks TCP to the DRA.
    let mme_a = Ipv4Addr::new(10, 20, 0, 1);
    let hss = Ipv4Addr::new(10, 20, 0, 10);
    let mme_b = Ipv4Addr::new(10, 20, 1, 1);
    let dra = Ipv4Addr::new(10, 20, 0, 20);
    let mut a = (
        SctpPath {
            src: mme_a,
            dst: hss,
            vtag: 0x1a2b_3c4d,
            tsn: 1000,
            ssn: 0,
        },
        SctpPath {
            src: hss,
            dst: mme_a,
            vtag: 0x4d3c_2b1a,
            tsn: 5000,
            ssn: 0,
        },
    );
    let mut b = (
        TcpPath {
            src: mme_b,
            dst: dra,
            src_port: 40001,
            dst_port: DIAMETER_PORT,
            seq: 7_000_000,
            ack: 0,
        },
        TcpPath {
            src: dra,
            dst: mme_b,
            src_port: DIAMETER_PORT,
            dst_port: 40001,
            seq: 9_000_000,
            ack: 0,
        },
    );

    let fr_mme = S6aSession::new(ORANGE_FR, ORANGE_FR, 1);
    let (mme_host, mme_realm) = (fr_mme.mme_host.clone(), fr_mme.mme_realm.clone());
    let hss_host = fr_mme.hss_host.clone().unwrap_or_default();
    let hss_realm = fr_mme.hss_realm.clone();

    // TCP three-way handshake for MME B's connection.
    let t = T0_US;
    w.tcp_at(t, &b.0, b.0.seq, TcpFlags::SYN, &[])?;
    b.0.seq += 1;
    b.1.ack = b.0.seq;
    w.tcp_at(t + 200, &b.1, b.1.seq, TcpFlags::SYN | TcpFlags::ACK, &[])?;
    b.1.seq += 1;
    b.0.ack = b.1.seq;
    w.tcp_at(t + 400, &b.0, b.0.seq, TcpFlags::ACK, &[])?;

    // Watchdogs on both connections (noise: recognised, no signal).
    let (h, e) = ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    w.sctp(t + SECOND, &mut a.0, &[&q], false)?;
    w.sctp(
        t + SECOND + 300,
        &mut a.1,
        &[&dwa(&q, &hss_host, &hss_realm)],
        true,
    )?;

    // Case: inbound roamer from Germany attaches in 208-01 (AIR, then ULR initial attach).
    let anna = "262011234567890";
    let de = S6aSession::new(TELEKOM_DE, ORANGE_FR, 2);
    let t = T0_US + 2 * SECOND;
    let (h, e) = ids.next();
    let air = de.air(h, e, anna, ORANGE_FR, 1);
    w.sctp(t, &mut a.0, &[&air], false)?;
    w.sctp(
        t + 5_000,
        &mut a.1,
        &[&de.aia(&air, Outcome::Result(2001))],
        true,
    )?;
    let (h, e) = ids.next();
    let ulr = de.ulr(h, e, anna, ORANGE_FR, RAT_EUTRAN, ULR_INITIAL_ATTACH);
    w.sctp(t + SECOND, &mut a.0, &[&ulr], true)?;
    w.sctp(
        t + SECOND + 7_000,
        &mut a.1,
        &[&de.ula(&ulr, Outcome::Result(2001), Some("4915112345678"))],
        true,
    )?;

    // Case: outbound roamer, our subscriber, attaches in Spain (foreign MME via the DRA).
    let bruno = "208011000000001";
    let es = S6aSession::new(ORANGE_FR, ORANGE_ES, 3);
    let t = T0_US + 10 * MINUTE;
    let (h, e) = ids.next();
    let ulr = es.ulr(h, e, bruno, ORANGE_ES, RAT_EUTRAN, ULR_INITIAL_ATTACH);
    let bytes = ulr.emit();
    // The ULR is split over three segments; the middle one arrives first (out of order).
    let (p1, rest) = bytes.split_at(16);
    let (p2, p3) = rest.split_at(rest.len() / 2);
    let s1 = b.0.seq;
    let s2 = s1.wrapping_add(p1.len() as u32);
    let s3 = s2.wrapping_add(p2.len() as u32);
    let push = TcpFlags::ACK | TcpFlags::PSH;
    w.tcp_at(t, &b.0, s2, push, p2)?;
    w.tcp_at(t + 100, &b.0, s1, push, p1)?;
    w.tcp_at(t + 200, &b.0, s3, push, p3)?;
    b.0.seq = s3.wrapping_add(p3.len() as u32);
    let ula = es
        .ula(&ulr, Outcome::Result(2001), Some("33612000001"))
        .emit();
    let resend_seq = b.1.seq;
    w.tcp(t + 9_000, &mut b.1, &ula)?;
    // The same ULA segment captured again: a retransmission, decoded once.
    w.tcp_at(t + 209_000, &b.1, resend_seq, push, &ula)?;

    // Case: attach rejected by steering of roaming (5004 ROAMING_NOT_ALLOWED).
    let cn = S6aSession::new(Plmn::new(460, 0, 2), ORANGE_FR, 4);
    let chen = Attach {
        session: &cn,
        imsi: "460001234567890",
        visited: ORANGE_FR,
        ulr_flags: ULR_INITIAL_ATTACH,
        outcome: Outcome::experimental(5004),
        msisdn: None,
    };
    chen.over_sctp(&mut w, &mut ids, &mut a, T0_US + 20 * MINUTE, 30_000)?;

    // Case: attach rejected with a Result-Code (5003 DIAMETER_AUTHORIZATION_REJECTED).
    let gb = S6aSession::new(Plmn::new(234, 15, 2), ORANGE_FR, 5);
    let dora = Attach {
        session: &gb,
        imsi: "234150000000001",
        visited: ORANGE_FR,
        ulr_flags: ULR_INITIAL_ATTACH,
        outcome: Outcome::Result(5003),
        msisdn: None,
    };
    dora.over_tcp(&mut w, &mut ids, &mut b, T0_US + 25 * MINUTE, 25_000)?;

    // Case: re-entry inside the gap. Home subscriber in 208-01 …
    let emil = "208015000000002";
    let home = S6aSession::new(ORANGE_FR, ORANGE_FR, 6);
    let t = T0_US + 30 * MINUTE;
    let emil_home = Attach {
        session: &home,
        imsi: emil,
        visited: ORANGE_FR,
        ulr_flags: ULR_INITIAL_ATTACH,
        outcome: Outcome::Result(2001),
        msisdn: Some("33612000002"),
    };
    let (ulr, ula) = emil_home.messages(&mut ids);
    // … its ULR bundled with a watchdog in one SCTP packet (two DATA chunks).
    let (h, e) = ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    w.sctp(t, &mut a.0, &[&q, &ulr], true)?;
    w.sctp(
        t + 4_000,
        &mut a.1,
        &[&dwa(&q, &hss_host, &hss_realm), &ula],
        true,
    )?;

    // Case: re-entry outside the gap, first visit to 208-01.
    let fay = "208016000000003";
    let fay_home = Attach {
        session: &home,
        imsi: fay,
        visited: ORANGE_FR,
        ulr_flags: ULR_INITIAL_ATTACH,
        outcome: Outcome::Result(2001),
        msisdn: None,
    };
    fay_home.over_sctp(&mut w, &mut ids, &mut a, T0_US + HOUR, 4_000)?;

    // Noise: a Gy credit-control exchange and a watchdog, two messages in one TCP segment.
    let t = T0_US + HOUR + 10 * MINUTE;
    let (h, e) = ids.next();
    let session = format!("{mme_host};gy;1");
    let c = ccr(h, e, &session, fay, "33612000003");
    let (h, e) = ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    let mut both = c.emit();
    both.extend_from_slice(&q.emit());
    w.tcp(t, &mut b.0, &both)?;
    let mut both = cca(&c, &session, Outcome::Result(2001)).emit();
    both.extend_from_slice(&dwa(&q, &hss_host, &hss_realm).emit());
    w.tcp(t + 3_000, &mut b.1, &both)?;

    // Fay moves to Bouygues (national roaming), 30 minutes later.
    let bouygues = S6aSession::new(ORANGE_FR, BOUYGUES_FR, 7);
    let update = |session, imsi, visited| Attach {
        session,
        imsi,
        visited,
        ulr_flags: ULR_UPDATE,
        outcome: Outcome::Result(2001),
        msisdn: None,
    };
    update(&bouygues, fay, BOUYGUES_FR).over_tcp(
        &mut w,
        &mut ids,
        &mut b,
        T0_US + HOUR + 30 * MINUTE,
        8_000,
    )?;

    // Emil moves to SFR two hours in …
    let sfr = S6aSession::new(ORANGE_FR, SFR_FR, 8);
    update(&sfr, emil, SFR_FR).over_tcp(&mut w, &mut ids, &mut b, T0_US + 2 * HOUR, 8_000)?;

    // Inbound roamer purged three hours in (PUR/PUA): departures.
    let t = T0_US + 3 * HOUR;
    let (h, e) = ids.next();
    let pur = de.pur(h, e, anna);
    w.sctp(t, &mut a.0, &[&pur], true)?;
    w.sctp(
        t + 2_000,
        &mut a.1,
        &[&de.pua(&pur, Outcome::Result(2001))],
        true,
    )?;

    // … and Emil returns to 208-01 at four hours: inside the gap, no second arrival.
    update(&home, emil, ORANGE_FR).over_sctp(&mut w, &mut ids, &mut a, T0_US + 4 * HOUR, 4_000)?;

    // Bruno crosses from Spain into Switzerland five hours in.
    let ch = S6aSession::new(ORANGE_FR, SWISSCOM_CH, 9);
    let bruno_ch = Attach {
        ulr_flags: ULR_INITIAL_ATTACH,
        ..update(&ch, bruno, SWISSCOM_CH)
    };
    bruno_ch.over_tcp(&mut w, &mut ids, &mut b, T0_US + 5 * HOUR, 40_000)?;

    // Bruno comes home nine hours in.
    let bruno_home = Attach {
        ulr_flags: ULR_INITIAL_ATTACH,
        ..update(&home, bruno, ORANGE_FR)
    };
    bruno_home.over_sctp(&mut w, &mut ids, &mut a, T0_US + 9 * HOUR, 4_000)?;

    // Fay returns to 208-01 sixteen hours in: 15 h after her last 208-01 signal, a new arrival.
    update(&home, fay, ORANGE_FR).over_sctp(&mut w, &mut ids, &mut a, T0_US + 16 * HOUR, 4_000)?;

    // A last watchdog a day later closes the capture.
    let t = T0_US + 25 * HOUR;
    let (h, e) = ids.next();
    let q = dwr(h, e, &mme_host, &mme_realm);
    w.sctp(t, &mut a.0, &[&q], true)?;
    w.sctp(t + 300, &mut a.1, &[&dwa(&q, &hss_host, &hss_realm)], true)?;

    w.pcap.into_inner()
}

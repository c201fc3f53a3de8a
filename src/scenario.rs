//! The bundled roaming scenario: a capture built by the project's own encoders
//! (Diameter → SCTP/TCP, GTPv2-C → UDP, MAP → TCAP → SCCP → M3UA → SCTP; → IPv4 →
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
//!
//! Noise that yields no moment: AIR/AIA, DWR/DWA, a Gy CCR/CCA (application 4).
//! Transport edge cases ride along: an SCTP association set up with INIT/INIT-ACK/
//! COOKIE-ECHO/COOKIE-ACK, consecutive TSNs and stream sequence numbers per direction and
//! SACKs acknowledging the peer's last TSN; SCTP packets with several DATA chunks; a TCP
//! three-way handshake with consistent sequence and acknowledgement numbers; a ULR split
//! over three TCP segments, one of them delivered out of order; two Diameter messages in
//! one TCP segment; a retransmitted TCP segment.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use landfall_parsers::capture::{PcapWriter, TsResolution};
use landfall_parsers::diameter::builder::{cca, ccr, dwa, dwr};
use landfall_parsers::diameter::{MessageRepr, Outcome, S6aSession};
use landfall_parsers::gtp::v2::builder::{
    self as gtp, SessionRequest, CAUSE_ACCEPTED, IF_S11_SGW, RAT_EUTRAN as GTP_RAT_EUTRAN,
};
use landfall_parsers::gtp::v2::Uli;
use landfall_parsers::ss7::map::{encode as map_encode, error as map_error, op, Isdn};
use landfall_parsers::ss7::sccp::{SccpAddress, SccpRepr};
use landfall_parsers::ss7::sigtran::m3ua::M3uaRepr;
use landfall_parsers::ss7::sigtran::mtp3::{RoutingLabel, SI_SCCP};
use landfall_parsers::ss7::tcap::{
    map_context, ComponentKind, ComponentRepr, DialoguePdu, TcapKind, TcapRepr,
};
use landfall_parsers::transport::ip::Ipv4Repr;
use landfall_parsers::transport::link::{EtherType, EthernetRepr, LinkType};
use landfall_parsers::transport::sctp::{Chunk, DataChunk, SctpRepr};
use landfall_parsers::transport::tcp::{TcpFlags, TcpRepr};
use landfall_parsers::transport::udp::UdpRepr;
use landfall_parsers::{Imsi, Msisdn, Plmn};

/// 2026-06-01T08:00:00Z, the scenario's first second.
const T0_US: i64 = 1_780_300_800_000_000;
const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

const DIAMETER_PORT: u16 = 3868;
const PPID_DIAMETER: u32 = 46;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const GTPC_PORT: u16 = 2123;
/// M3UA over SCTP: port 2905, payload protocol 3 (RFC 4666).
const M3UA: (u16, u32) = (2905, 3);
/// SCCP subsystems: HLR and VLR.
const SSN_HLR: u8 = 6;
const SSN_VLR: u8 = 7;
/// MAP application contexts (TS 29.002 §17.3.3): networkLocUp v3, infoRetrieval v3.
const AC_NETWORK_LOC_UP: u8 = 1;
const AC_INFO_RETRIEVAL: u8 = 14;
const IPPROTO_SCTP: u8 = 132;
/// S6a RAT-Type EUTRAN and ULR-Flags (S6a indicator + initial attach, or S6a indicator).
const RAT_EUTRAN: u32 = 1004;
const ULR_INITIAL_ATTACH: u32 = 0x22;
const ULR_UPDATE: u32 = 0x02;

/// SCTP chunk types of the association setup and acknowledgements (RFC 9260 §3.2).
const SCTP_INIT: u8 = 1;
const SCTP_INIT_ACK: u8 = 2;
const SCTP_SACK: u8 = 3;
const SCTP_COOKIE_ECHO: u8 = 10;
const SCTP_COOKIE_ACK: u8 = 11;
/// Advertised receiver window (SCTP a_rwnd, bytes).
const A_RWND: u32 = 106_496;
/// The HSS's opaque State Cookie, echoed back by the MME.
const STATE_COOKIE: [u8; 16] = *b"landfall-cookie!";

const ORANGE_FR: Plmn = Plmn::new(208, 1, 2);
const SFR_FR: Plmn = Plmn::new(208, 10, 2);
const BOUYGUES_FR: Plmn = Plmn::new(208, 20, 2);
const TELEKOM_DE: Plmn = Plmn::new(262, 1, 2);
const ORANGE_ES: Plmn = Plmn::new(214, 7, 2);
const SWISSCOM_CH: Plmn = Plmn::new(228, 1, 2);
const CHINA_MOBILE: Plmn = Plmn::new(460, 0, 2);
const VODAFONE_GB: Plmn = Plmn::new(234, 15, 2);

/// Which way a packet travels: from the MME (requests) or towards it (answers).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

/// One SCTP association direction: sender's address, the verification tag its packets
/// carry (the receiver's Initiate Tag), its next TSN and stream sequence number, the last
/// TSN it received from the peer (what its SACKs acknowledge) and whether that is not
/// acknowledged yet.
struct SctpPath {
    src: Ipv4Addr,
    vtag: u32,
    tsn: u32,
    ssn: u16,
    cum_ack: u32,
    unacked: bool,
}

/// MME A ↔ HSS over SCTP, stream 0.
struct SctpAssoc {
    up: SctpPath,
    down: SctpPath,
}

/// One TCP connection direction: sender's address and port, its next sequence number.
struct TcpPath {
    src: Ipv4Addr,
    port: u16,
    seq: u32,
}

/// MME B ↔ DRA over TCP. Every segment acknowledges all the peer has sent so far.
struct TcpConn {
    up: TcpPath,
    down: TcpPath,
}

impl TcpConn {
    /// (sender, receiver) for `dir`.
    fn ends(&self, dir: Dir) -> (&TcpPath, &TcpPath) {
        match dir {
            Dir::Up => (&self.up, &self.down),
            Dir::Down => (&self.down, &self.up),
        }
    }

    fn sender(&mut self, dir: Dir) -> &mut TcpPath {
        match dir {
            Dir::Up => &mut self.up,
            Dir::Down => &mut self.down,
        }
    }
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

    /// One SCTP packet of control chunks only, with an explicit verification tag.
    fn sctp_control(
        &mut self,
        at: i64,
        assoc: &SctpAssoc,
        dir: Dir,
        vtag: u32,
        kind: u8,
        value: &[u8],
    ) -> io::Result<()> {
        let (from, to) = match dir {
            Dir::Up => (&assoc.up, &assoc.down),
            Dir::Down => (&assoc.down, &assoc.up),
        };
        let repr = SctpRepr {
            src_port: DIAMETER_PORT,
            dst_port: DIAMETER_PORT,
            vtag,
            chunks: vec![Chunk::Other {
                kind,
                flags: 0,
                value,
            }],
        };
        self.ip(at, from.src, to.src, IPPROTO_SCTP, &repr.emit())
    }

    /// One SCTP packet carrying Diameter `messages` as bundled DATA chunks.
    fn sctp(
        &mut self,
        at: i64,
        assoc: &mut SctpAssoc,
        dir: Dir,
        messages: &[&MessageRepr],
    ) -> io::Result<()> {
        let bodies: Vec<Vec<u8>> = messages.iter().map(|m| m.emit()).collect();
        self.sctp_data(at, assoc, dir, (DIAMETER_PORT, PPID_DIAMETER), &bodies)
    }

    /// One SCTP packet carrying `bodies` as bundled DATA chunks (consecutive TSNs and
    /// SSNs on stream 0) of payload protocol `ppid` between `port`s, preceded by a SACK
    /// when the peer sent data not acknowledged yet.
    fn sctp_data(
        &mut self,
        at: i64,
        assoc: &mut SctpAssoc,
        dir: Dir,
        (port, ppid): (u16, u32),
        bodies: &[Vec<u8>],
    ) -> io::Result<()> {
        let (from, to) = match dir {
            Dir::Up => (&mut assoc.up, &mut assoc.down),
            Dir::Down => (&mut assoc.down, &mut assoc.up),
        };
        // SACK: cumulative TSN ack, a_rwnd, no gap blocks, no duplicate TSNs.
        let mut sack_value = Vec::with_capacity(12);
        sack_value.extend_from_slice(&from.cum_ack.to_be_bytes());
        sack_value.extend_from_slice(&A_RWND.to_be_bytes());
        sack_value.extend_from_slice(&[0, 0, 0, 0]);
        let mut chunks = Vec::new();
        if std::mem::take(&mut from.unacked) {
            chunks.push(Chunk::Other {
                kind: SCTP_SACK,
                flags: 0,
                value: &sack_value,
            });
        }
        for body in bodies {
            chunks.push(Chunk::Data(DataChunk {
                unordered: false,
                begin: true,
                end: true,
                immediate: false,
                tsn: from.tsn,
                stream_id: 0,
                ssn: from.ssn,
                ppid,
                i_data: None,
                payload: body,
            }));
            to.cum_ack = from.tsn;
            to.unacked = true;
            from.tsn = from.tsn.wrapping_add(1);
            from.ssn = from.ssn.wrapping_add(1);
        }
        let repr = SctpRepr {
            src_port: port,
            dst_port: port,
            vtag: from.vtag,
            chunks,
        };
        let bytes = repr.emit();
        self.ip(at, from.src, to.src, IPPROTO_SCTP, &bytes)
    }

    /// A UDP datagram.
    fn udp(
        &mut self,
        at: i64,
        (src, sport): (Ipv4Addr, u16),
        (dst, dport): (Ipv4Addr, u16),
        payload: &[u8],
    ) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(8 + payload.len());
        UdpRepr {
            src_port: sport,
            dst_port: dport,
        }
        .emit(IpAddr::V4(src), IpAddr::V4(dst), payload, &mut bytes);
        self.ip(at, src, dst, IPPROTO_UDP, &bytes)
    }

    /// A TCP segment of `payload` at sequence number `seq` (the path is not advanced),
    /// acknowledging everything the peer has sent.
    fn tcp_at(
        &mut self,
        at: i64,
        conn: &TcpConn,
        dir: Dir,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> io::Result<()> {
        let (from, to) = conn.ends(dir);
        let seg = TcpRepr {
            src_port: from.port,
            dst_port: to.port,
            seq,
            ack: if flags.0 & TcpFlags::ACK.0 != 0 {
                to.seq
            } else {
                0
            },
            flags,
            window: 65535,
            urgent: 0,
        };
        let bytes = seg.emit(IpAddr::V4(from.src), IpAddr::V4(to.src), payload);
        self.ip(at, from.src, to.src, IPPROTO_TCP, &bytes)
    }

    /// Send `payload` in one segment at the next sequence number and advance it.
    fn tcp(&mut self, at: i64, conn: &mut TcpConn, dir: Dir, payload: &[u8]) -> io::Result<()> {
        let seq = conn.sender(dir).seq;
        self.tcp_at(at, conn, dir, seq, TcpFlags::ACK | TcpFlags::PSH, payload)?;
        let from = conn.sender(dir);
        from.seq = from.seq.wrapping_add(payload.len() as u32);
        Ok(())
    }
}

/// Hop-by-hop and end-to-end identifiers, unique within the scenario.
struct Ids(u32);

impl Ids {
    fn next(&mut self) -> (u32, u32) {
        self.0 += 1;
        (0x5ce0_0000 + self.0, 0xe2e0_0000 + self.0)
    }
}

/// Everything on the wire: the pcap, the two MMEs' transports, the Diameter identifiers.
struct Net {
    w: Wire,
    ids: Ids,
    /// MME A ↔ HSS.
    a: SctpAssoc,
    /// MME B ↔ DRA.
    b: TcpConn,
}

/// Which MME carries an exchange.
#[derive(Clone, Copy)]
enum Via {
    /// MME A, SCTP.
    Sctp,
    /// MME B, TCP.
    Tcp,
}

/// One update-location exchange: who, where, how the HSS answers.
struct Attach<'a> {
    session: &'a S6aSession,
    imsi: &'a str,
    visited: Plmn,
    ulr_flags: u32,
    outcome: Outcome,
    msisdn: Option<&'a str>,
}

impl Net {
    /// A request at `t` and its answer `delay_us` later, each in a packet of its own.
    fn exchange(
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
    fn update_location(&mut self, attach: &Attach<'_>) -> (MessageRepr, MessageRepr) {
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
    fn attach(&mut self, via: Via, t: i64, attach: Attach<'_>, delay_us: i64) -> io::Result<()> {
        let (ulr, ula) = self.update_location(&attach);
        self.exchange(via, t, &ulr, &ula, delay_us)
    }
}

/// The SS7 link of a French VLR (MSC/VLR 33609000001, point code 1001) to its STP
/// (point code 2002) over M3UA; the HLRs are reached by global title through the STP.
struct MapLink {
    assoc: SctpAssoc,
    vlr_gt: &'static str,
}

impl MapLink {
    /// One TCAP message in an SCCP UDT in an M3UA DATA. `Up` travels from the VLR to the
    /// HLR whose global title is `hlr_gt`, `Down` back.
    fn send(
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

fn tid(t: u32) -> Option<Vec<u8>> {
    Some(t.to_be_bytes().to_vec())
}

fn invoke(id: i64, operation: i64, arg: Vec<u8>) -> ComponentRepr {
    ComponentRepr {
        kind: ComponentKind::Invoke,
        invoke_id: id,
        code: Some(operation),
        parameter: Some(arg),
    }
}

fn result(id: i64, operation: Option<i64>, res: Option<Vec<u8>>) -> ComponentRepr {
    ComponentRepr {
        kind: ComponentKind::ReturnResultLast,
        invoke_id: id,
        code: operation,
        parameter: res,
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
    // COOKIE-ECHO, COOKIE-ACK). INIT/INIT-ACK announce each side's Initiate Tag and
    // initial TSN; the INIT travels with verification tag 0.
    let t = T0_US;
    let init = |tag: u32, tsn: u32, cookie: Option<&[u8]>| {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.to_be_bytes());
        v.extend_from_slice(&A_RWND.to_be_bytes());
        v.extend_from_slice(&2u16.to_be_bytes()); // outbound streams
        v.extend_from_slice(&2u16.to_be_bytes()); // maximum inbound streams
        v.extend_from_slice(&tsn.to_be_bytes());
        if let Some(c) = cookie {
            // State Cookie parameter (type 7)
            v.extend_from_slice(&7u16.to_be_bytes());
            v.extend_from_slice(&(4 + c.len() as u16).to_be_bytes());
            v.extend_from_slice(c);
        }
        v
    };
    let (a_up_tag, a_down_tag) = (net.a.up.vtag, net.a.down.vtag);
    let init_chunk = init(a_down_tag, net.a.up.tsn, None);
    net.w
        .sctp_control(t, &net.a, Dir::Up, 0, SCTP_INIT, &init_chunk)?;
    let init_ack = init(a_up_tag, net.a.down.tsn, Some(&STATE_COOKIE));
    net.w.sctp_control(
        t + 150,
        &net.a,
        Dir::Down,
        a_down_tag,
        SCTP_INIT_ACK,
        &init_ack,
    )?;
    net.w.sctp_control(
        t + 300,
        &net.a,
        Dir::Up,
        a_up_tag,
        SCTP_COOKIE_ECHO,
        &STATE_COOKIE,
    )?;
    net.w
        .sctp_control(t + 450, &net.a, Dir::Down, a_down_tag, SCTP_COOKIE_ACK, &[])?;

    // Transport: TCP three-way handshake for MME B's connection.
    let t = T0_US + 1_000;
    net.w
        .tcp_at(t, &net.b, Dir::Up, net.b.up.seq, TcpFlags::SYN, &[])?;
    net.b.up.seq += 1;
    net.w.tcp_at(
        t + 200,
        &net.b,
        Dir::Down,
        net.b.down.seq,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
    )?;
    net.b.down.seq += 1;
    net.w
        .tcp_at(t + 400, &net.b, Dir::Up, net.b.up.seq, TcpFlags::ACK, &[])?;

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

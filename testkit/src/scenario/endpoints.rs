//! Transport endpoints on a simulated wire: an SCTP association, a TCP connection, UDP,
//! each packet in IPv4 in Ethernet in a pcap.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use landfall_parsers::capture::PcapWriter;
use landfall_parsers::diameter::MessageRepr;
use landfall_parsers::transport::ip::{IpProtocol, Ipv4Repr};
use landfall_parsers::transport::link::{EtherType, EthernetRepr};
use landfall_parsers::transport::sctp::{Chunk, DataChunk, SctpRepr};
use landfall_parsers::transport::tcp::{TcpFlags, TcpRepr};
use landfall_parsers::transport::udp::UdpRepr;

use super::DIAMETER_PORT;

const PPID_DIAMETER: u32 = 46;
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

/// Which way a packet travels: from the MME (requests) or towards it (answers).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Up,
    Down,
}

/// One SCTP association direction: sender's address, the verification tag its packets
/// carry (the receiver's Initiate Tag), its next TSN and stream sequence number, the last
/// TSN it received from the peer (what its SACKs acknowledge) and whether that is not
/// acknowledged yet.
pub(crate) struct SctpPath {
    pub(crate) src: Ipv4Addr,
    pub(crate) vtag: u32,
    pub(crate) tsn: u32,
    pub(crate) ssn: u16,
    pub(crate) cum_ack: u32,
    pub(crate) unacked: bool,
}

/// MME A ↔ HSS over SCTP, stream 0.
pub(crate) struct SctpAssoc {
    pub(crate) up: SctpPath,
    pub(crate) down: SctpPath,
}

/// One TCP connection direction: sender's address and port, its next sequence number.
pub(crate) struct TcpPath {
    pub(crate) src: Ipv4Addr,
    pub(crate) port: u16,
    pub(crate) seq: u32,
}

/// MME B ↔ DRA over TCP. Every segment acknowledges all the peer has sent so far.
pub(crate) struct TcpConn {
    pub(crate) up: TcpPath,
    pub(crate) down: TcpPath,
}

impl TcpConn {
    /// (sender, receiver) for `dir`.
    pub(crate) fn ends(&self, dir: Dir) -> (&TcpPath, &TcpPath) {
        match dir {
            Dir::Up => (&self.up, &self.down),
            Dir::Down => (&self.down, &self.up),
        }
    }

    pub(crate) fn sender(&mut self, dir: Dir) -> &mut TcpPath {
        match dir {
            Dir::Up => &mut self.up,
            Dir::Down => &mut self.down,
        }
    }
}

/// Writes Ethernet/IPv4 frames into a pcap, one timestamp at a time.
pub(crate) struct Wire {
    pub(crate) pcap: PcapWriter<Vec<u8>>,
    pub(crate) ident: u16,
}

impl Wire {
    pub(crate) fn ip(
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
    pub(crate) fn sctp_control(
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
        self.ip(at, from.src, to.src, IpProtocol::SCTP, &repr.emit())
    }

    /// One SCTP packet carrying Diameter `messages` as bundled DATA chunks.
    pub(crate) fn sctp(
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
    pub(crate) fn sctp_data(
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
        self.ip(at, from.src, to.src, IpProtocol::SCTP, &bytes)
    }

    /// A UDP datagram.
    pub(crate) fn udp(
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
        self.ip(at, src, dst, IpProtocol::UDP, &bytes)
    }

    /// A TCP segment of `payload` at sequence number `seq` (the path is not advanced),
    /// acknowledging everything the peer has sent.
    pub(crate) fn tcp_at(
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
        self.ip(at, from.src, to.src, IpProtocol::TCP, &bytes)
    }

    /// Send `payload` in one segment at the next sequence number and advance it.
    pub(crate) fn tcp(
        &mut self,
        at: i64,
        conn: &mut TcpConn,
        dir: Dir,
        payload: &[u8],
    ) -> io::Result<()> {
        let seq = conn.sender(dir).seq;
        self.tcp_at(at, conn, dir, seq, TcpFlags::ACK | TcpFlags::PSH, payload)?;
        let from = conn.sender(dir);
        from.seq = from.seq.wrapping_add(payload.len() as u32);
        Ok(())
    }
}

impl Wire {
    /// SCTP association setup at `t` (INIT, INIT-ACK with the State Cookie, COOKIE-ECHO,
    /// COOKIE-ACK, 150 µs apart). INIT/INIT-ACK announce each side's Initiate Tag and
    /// initial TSN; the INIT travels with verification tag 0.
    pub(crate) fn sctp_setup(&mut self, t: i64, assoc: &SctpAssoc) -> io::Result<()> {
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
        let (up_tag, down_tag) = (assoc.up.vtag, assoc.down.vtag);
        let init_chunk = init(down_tag, assoc.up.tsn, None);
        self.sctp_control(t, assoc, Dir::Up, 0, SCTP_INIT, &init_chunk)?;
        let init_ack = init(up_tag, assoc.down.tsn, Some(&STATE_COOKIE));
        self.sctp_control(
            t + 150,
            assoc,
            Dir::Down,
            down_tag,
            SCTP_INIT_ACK,
            &init_ack,
        )?;
        self.sctp_control(
            t + 300,
            assoc,
            Dir::Up,
            up_tag,
            SCTP_COOKIE_ECHO,
            &STATE_COOKIE,
        )?;
        self.sctp_control(t + 450, assoc, Dir::Down, down_tag, SCTP_COOKIE_ACK, &[])
    }

    /// TCP three-way handshake at `t` (SYN, SYN-ACK, ACK, 200 µs apart); each SYN takes
    /// one sequence number.
    pub(crate) fn tcp_handshake(&mut self, t: i64, conn: &mut TcpConn) -> io::Result<()> {
        self.tcp_at(t, conn, Dir::Up, conn.up.seq, TcpFlags::SYN, &[])?;
        conn.up.seq += 1;
        self.tcp_at(
            t + 200,
            conn,
            Dir::Down,
            conn.down.seq,
            TcpFlags::SYN | TcpFlags::ACK,
            &[],
        )?;
        conn.down.seq += 1;
        self.tcp_at(t + 400, conn, Dir::Up, conn.up.seq, TcpFlags::ACK, &[])
    }
}

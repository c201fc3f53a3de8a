//! TCP: a checked view over a segment, a [`TcpRepr`] with symmetric `parse`/`emit`, and a
//! per-direction [`TcpReassembler`] that turns captured segments into application messages.
//!
//! Message boundaries are the application's business (Diameter, GTP over TCP): the
//! reassembler only orders bytes and asks a [`Framer`] where messages start and end. It
//! is built for captures, not for a live stack: it never acknowledges, it must cope with
//! streams that start mid-way, and a hole that never fills (a packet the capture missed)
//! must not stall a stream forever.

use crate::error::{DecodeError, Layer};
use crate::transport::ip::IpProtocol;
use crate::wire::{be16_or_zero as be16, be32_or_zero as be32};
use std::fmt;
use std::net::IpAddr;

mod reassembly;
pub use reassembly::*;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Bytes an out-of-order segment is charged beyond its payload (map entry, allocation).
const SEGMENT_OVERHEAD: usize = 64;

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Tcp, reason, offset)
}

/// The control bits of byte 13 (the obsolete NS bit of byte 12 is not kept).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// A length-checked view over a TCP segment (header, options, payload). Accessors never
/// panic: the constructor checked that the header, as long as its data offset says, is
/// present.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap `buffer` after checking the fixed header and the data offset.
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(err("segment shorter than the 20-byte header", b.len()));
        }
        let hl = usize::from(b[12] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(err("data offset below 5 words", 12));
        }
        if hl > b.len() {
            return Err(err("data offset beyond the end of the segment", 12));
        }
        Ok(TcpPacket { buffer })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.buffer
            .as_ref()
            .get(12)
            .map_or(HEADER_LEN, |b| usize::from(b >> 4) * 4)
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref().get(13).copied().unwrap_or(0))
    }

    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }

    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer.as_ref(), 18)
    }

    /// The raw option bytes (not interpreted: reassembly needs none of them).
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or_default()
    }

    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..)
            .unwrap_or_default()
    }

    /// Whether the checksum over the pseudo-header and segment is right. Captures taken on
    /// the sending host often carry checksum-offload garbage, so decoders do not insist.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        checksum(src, dst, IpProtocol::TCP, self.buffer.as_ref()) == 0
    }
}

/// A parsed TCP header. Options are skipped on parse and not emitted, so
/// `parse(emit(r)) == r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
}

impl TcpRepr {
    /// Parse a segment (as delimited by the IP layer) into its header and payload.
    pub fn parse(bytes: &[u8]) -> Result<(TcpRepr, &[u8]), DecodeError> {
        let p = TcpPacket::new_checked(bytes)?;
        let repr = TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window_len(),
            urgent: p.urgent_at(),
        };
        let payload = bytes.get(p.header_len()..).unwrap_or_default();
        Ok((repr, payload))
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn segment_len(&self, payload_len: usize) -> u32 {
        let mut n = payload_len as u32;
        if self.flags.contains(TcpFlags::SYN) {
            n = n.wrapping_add(1);
        }
        if self.flags.contains(TcpFlags::FIN) {
            n = n.wrapping_add(1);
        }
        n
    }

    /// The segment bytes with a correct checksum over the IPv4 or IPv6 pseudo-header.
    pub fn emit(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + payload.len());
        b.extend_from_slice(&self.src_port.to_be_bytes());
        b.extend_from_slice(&self.dst_port.to_be_bytes());
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ack.to_be_bytes());
        b.push(((HEADER_LEN / 4) as u8) << 4);
        b.push(self.flags.0);
        b.extend_from_slice(&self.window.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.urgent.to_be_bytes());
        b.extend_from_slice(payload);
        let sum = checksum(src, dst, IpProtocol::TCP, &b);
        b[16..18].copy_from_slice(&sum.to_be_bytes());
        b
    }
}

/// Internet checksum of `segment` with the pseudo-header of RFC 793 (IPv4) or RFC 8200
/// §8.1 (IPv6; used as soon as either address is IPv6, an IPv4 one then mapped). Over a
/// segment whose checksum field is filled in, a correct checksum yields 0.
pub fn checksum(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> u16 {
    fn add(sum: u32, bytes: &[u8]) -> u32 {
        let mut s = sum;
        let mut it = bytes.chunks_exact(2);
        for w in &mut it {
            s += u32::from(u16::from_be_bytes([w[0], w[1]]));
            s = (s & 0xffff) + (s >> 16);
        }
        if let [last] = it.remainder() {
            s += u32::from(*last) << 8;
            s = (s & 0xffff) + (s >> 16);
        }
        s
    }
    let len = segment.len() as u32;
    let mut s = match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let s = add(add(0, &a.octets()), &b.octets());
            add(s, &[0, protocol, (len >> 8) as u8, len as u8])
        }
        (a, b) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(x) => x.to_ipv6_mapped(),
                IpAddr::V6(x) => x,
            };
            let s = add(add(0, &v6(a).octets()), &v6(b).octets());
            let l = len.to_be_bytes();
            add(s, &[l[0], l[1], l[2], l[3], 0, 0, 0, protocol])
        }
    };
    s = add(s, segment);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[cfg(test)]
mod tests;

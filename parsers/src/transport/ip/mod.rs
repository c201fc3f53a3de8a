//! IPv4 and IPv6: header parsing and emission, extension-header walking, and fragment
//! reassembly.
//!
//! [`IpLayer::push`] hands out unfragmented datagrams as borrowed slices of the frame (the
//! common case, no copy) and buffers fragments until a datagram is whole. Reassembly state
//! is bounded: it expires by capture time and is capped in datagrams and bytes, because a
//! capture that starts or ends mid-datagram, or a probe that drops fragments, must not grow
//! memory without limit.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{DecodeError, Layer};
use crate::wire::{be16, be32};

mod reassembly;
pub use reassembly::*;

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Ip, reason, offset)
}

/// Upper-layer protocol numbers used here.
#[derive(Debug)]
pub struct IpProtocol;

impl IpProtocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NO_NEXT: u8 = 59;
    pub const IPV6_DEST_OPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`. Each part but the
/// last must have even length (true of the pseudo-headers and headers it is used with).
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header (options are skipped on parse and not emitted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// DSCP and ECN byte.
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

pub const IPV4_HEADER_LEN: usize = 20;
pub const IPV6_HEADER_LEN: usize = 40;

impl Ipv4Repr {
    /// Parse a packet; the payload is cut at the total length, which drops link-layer
    /// padding (Ethernet pads short frames to 60 bytes).
    pub fn parse(data: &[u8]) -> Result<(Ipv4Repr, &[u8]), DecodeError> {
        let hdr = data
            .get(..IPV4_HEADER_LEN)
            .ok_or(err("ipv4: shorter than a header", 0))?;
        let vihl = hdr.first().copied().unwrap_or_default();
        if vihl >> 4 != 4 {
            return Err(err("ipv4: version is not 4", 0));
        }
        let hl = usize::from(vihl & 0x0f) * 4;
        if hl < IPV4_HEADER_LEN {
            return Err(err("ipv4: header length below 20", 0));
        }
        if hl > data.len() {
            return Err(err("ipv4: header longer than the packet", 0));
        }
        let total = usize::from(be16(hdr, 2).unwrap_or_default());
        // A zero total length comes from captures of TCP segmentation offload: trust the frame.
        let total = if total == 0 { data.len() } else { total };
        if total < hl {
            return Err(err("ipv4: total length shorter than the header", 2));
        }
        let payload = data
            .get(hl..total)
            .ok_or(err("ipv4: total length beyond the captured data", 2))?;
        let flags_frag = be16(hdr, 6).unwrap_or_default();
        let b = |i: usize| hdr.get(i).copied().unwrap_or_default();
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(b(12), b(13), b(14), b(15)),
            dst: Ipv4Addr::new(b(16), b(17), b(18), b(19)),
            protocol: b(9),
            ttl: b(8),
            tos: b(1),
            ident: be16(hdr, 4).unwrap_or_default(),
            dont_frag: flags_frag & 0x4000 != 0,
            more_frags: flags_frag & 0x2000 != 0,
            frag_offset: (flags_frag & 0x1fff) * 8,
        };
        Ok((repr, payload))
    }

    /// Does the header of `packet` carry a correct checksum? (Not checked by `parse`:
    /// captures taken on the sending host often hold checksum-offloaded zeros.)
    pub fn checksum_ok(packet: &[u8]) -> bool {
        let hl = usize::from(packet.first().copied().unwrap_or_default() & 0x0f) * 4;
        packet
            .get(..hl)
            .is_some_and(|h| hl >= IPV4_HEADER_LEN && internet_checksum(&[h]) == 0)
    }

    /// Append a 20-byte header (checksum computed) and the payload to `out`.
    pub fn emit(&self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let total = (IPV4_HEADER_LEN + payload.len()).min(usize::from(u16::MAX)) as u16;
        let flags = (u16::from(self.dont_frag) << 14)
            | (u16::from(self.more_frags) << 13)
            | ((self.frag_offset / 8) & 0x1fff);
        out.reserve(IPV4_HEADER_LEN + payload.len());
        out.push(0x45);
        out.push(self.tos);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&self.ident.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.push(self.ttl);
        out.push(self.protocol);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        let sum = internet_checksum(&[out.get(start..).unwrap_or_default()]);
        if let Some(c) = out.get_mut(start + 10..start + 12) {
            c.copy_from_slice(&sum.to_be_bytes());
        }
        out.extend_from_slice(payload);
    }
}

/// Split `payload` into IPv4 fragments of at most `max_fragment_payload` bytes (rounded
/// down to a multiple of 8, at least 8), each emitted with `repr`'s addresses and ident.
pub fn fragment_ipv4(repr: &Ipv4Repr, payload: &[u8], max_fragment_payload: usize) -> Vec<Vec<u8>> {
    let step = (max_fragment_payload / 8).max(1) * 8;
    let mut out = Vec::new();
    let mut off = 0usize;
    loop {
        let end = (off + step).min(payload.len());
        let last = end == payload.len();
        let frag = Ipv4Repr {
            frag_offset: off as u16,
            more_frags: !last,
            dont_frag: false,
            ..*repr
        };
        let mut pkt = Vec::new();
        frag.emit(payload.get(off..end).unwrap_or_default(), &mut pkt);
        out.push(pkt);
        if last {
            return out;
        }
        off = end;
    }
}

/// The fixed IPv6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The header after the fixed one (an extension header or the upper protocol).
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parse the fixed header; the payload (extension headers included) is cut at the
    /// payload length.
    pub fn parse(data: &[u8]) -> Result<(Ipv6Repr, &[u8]), DecodeError> {
        let hdr = data
            .get(..IPV6_HEADER_LEN)
            .ok_or(err("ipv6: shorter than a header", 0))?;
        let word = be32(hdr, 0).unwrap_or_default();
        if word >> 28 != 6 {
            return Err(err("ipv6: version is not 6", 0));
        }
        let plen = usize::from(be16(hdr, 4).unwrap_or_default());
        let next_header = hdr.get(6).copied().unwrap_or_default();
        let rest = data.get(IPV6_HEADER_LEN..).unwrap_or_default();
        // Zero with a hop-by-hop header is a jumbogram: the length is in an option; trust the frame.
        let payload = if plen == 0 && next_header == IpProtocol::HOP_BY_HOP {
            rest
        } else {
            rest.get(..plen)
                .ok_or(err("ipv6: payload length beyond the captured data", 4))?
        };
        let addr = |at: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(hdr.get(at..at + 16).unwrap_or(&[0; 16]));
            Ipv6Addr::from(a)
        };
        let repr = Ipv6Repr {
            src: addr(8),
            dst: addr(24),
            next_header,
            hop_limit: hdr.get(7).copied().unwrap_or_default(),
            traffic_class: ((word >> 20) & 0xff) as u8,
            flow_label: word & 0x000f_ffff,
        };
        Ok((repr, payload))
    }

    /// Append the fixed header and `payload` (which starts with `next_header`) to `out`.
    pub fn emit(&self, payload: &[u8], out: &mut Vec<u8>) {
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        out.reserve(IPV6_HEADER_LEN + payload.len());
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&(payload.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.push(self.next_header);
        out.push(self.hop_limit);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        out.extend_from_slice(payload);
    }
}

/// Split `payload` (the fragmentable part, starting with `repr.next_header`) into IPv6
/// fragments with a Fragment header, at most `max_fragment_payload` bytes each (rounded
/// down to a multiple of 8, at least 8).
pub fn fragment_ipv6(
    repr: &Ipv6Repr,
    ident: u32,
    payload: &[u8],
    max_fragment_payload: usize,
) -> Vec<Vec<u8>> {
    let step = (max_fragment_payload / 8).max(1) * 8;
    let outer = Ipv6Repr {
        next_header: IpProtocol::IPV6_FRAGMENT,
        ..*repr
    };
    let mut out = Vec::new();
    let mut off = 0usize;
    loop {
        let end = (off + step).min(payload.len());
        let last = end == payload.len();
        let mut body = vec![repr.next_header, 0];
        body.extend_from_slice(&((off as u16 & 0xfff8) | u16::from(!last)).to_be_bytes());
        body.extend_from_slice(&ident.to_be_bytes());
        body.extend_from_slice(payload.get(off..end).unwrap_or_default());
        let mut pkt = Vec::new();
        outer.emit(&body, &mut pkt);
        out.push(pkt);
        if last {
            return out;
        }
        off = end;
    }
}

/// An IPv6 Fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// First header of the fragmentable part (meaningful in the offset-0 fragment).
    pub next_header: u8,
    /// Offset in bytes.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

/// Where the extension-header chain of an IPv6 payload ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Chain {
    /// The upper-layer protocol, or 44 when a Fragment header stops the walk.
    pub protocol: u8,
    /// Offset in the payload of the upper-layer data (or of the fragment data).
    pub offset: usize,
    pub fragment: Option<Ipv6Fragment>,
}

/// Walk extension headers (hop-by-hop, routing, destination options, AH, mobility, HIP,
/// shim6) from `next_header` over `payload`, stopping at the upper layer or after a
/// Fragment header (whose data can only be read once reassembled). `base` is added to
/// error offsets.
pub fn walk_ipv6_extensions(
    mut next_header: u8,
    payload: &[u8],
    base: usize,
) -> Result<Ipv6Chain, DecodeError> {
    let mut at = 0usize;
    loop {
        let len = match next_header {
            IpProtocol::HOP_BY_HOP
            | IpProtocol::IPV6_ROUTING
            | IpProtocol::IPV6_DEST_OPTS
            | 135
            | 139
            | 140 => {
                let l = payload
                    .get(at + 1)
                    .ok_or(err("ipv6: truncated extension header", base + at))?;
                (usize::from(*l) + 1) * 8
            }
            IpProtocol::AH => {
                let l = payload
                    .get(at + 1)
                    .ok_or(err("ipv6: truncated extension header", base + at))?;
                (usize::from(*l) + 2) * 4
            }
            IpProtocol::IPV6_FRAGMENT => {
                let h = payload
                    .get(at..at + 8)
                    .ok_or(err("ipv6: truncated fragment header", base + at))?;
                let of = be16(h, 2).unwrap_or_default();
                let fragment = Ipv6Fragment {
                    next_header: h.first().copied().unwrap_or_default(),
                    offset: of & 0xfff8,
                    more: of & 1 != 0,
                    ident: be32(h, 4).unwrap_or_default(),
                };
                return Ok(Ipv6Chain {
                    protocol: IpProtocol::IPV6_FRAGMENT,
                    offset: at + 8,
                    fragment: Some(fragment),
                });
            }
            protocol => {
                return Ok(Ipv6Chain {
                    protocol,
                    offset: at,
                    fragment: None,
                })
            }
        };
        let h = payload
            .get(at..at + len)
            .ok_or(err("ipv6: truncated extension header", base + at))?;
        next_header = h.first().copied().unwrap_or_default();
        at += len;
    }
}

#[cfg(test)]
mod tests;

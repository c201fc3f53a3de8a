//! IPv4 and IPv6: header parsing and emission, extension-header walking, and fragment
//! reassembly.
//!
//! [`IpLayer::push`] hands out unfragmented datagrams as borrowed slices of the frame (the
//! common case, no copy) and buffers fragments until a datagram is whole. Reassembly state
//! is bounded: it expires by capture time and is capped in datagrams and bytes, because a
//! capture that starts or ends mid-datagram, or a probe that drops fragments, must not grow
//! memory without limit.

use ahash::AHashMap as HashMap;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{DecodeError, Layer};
use crate::flow::PacketMeta;
use crate::transport::link::Network;
use crate::wire::{be16, be32};

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

/// An IP datagram ready for the transport layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpDatagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// TTL / hop limit (of the first fragment, when reassembled).
    pub ttl: u8,
    /// Borrowed from the frame when unfragmented, owned when reassembled.
    pub payload: Cow<'a, [u8]>,
}

/// Limits of the reassembly state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpLayerConfig {
    /// Pending reassemblies older than this (capture time, µs since their first fragment)
    /// are dropped.
    pub timeout_us: i64,
    /// At most this many datagrams pending; the oldest is dropped to admit a new one.
    pub max_pending: usize,
    /// At most this many fragment bytes buffered in total; oldest datagrams are dropped.
    pub max_bytes: usize,
}

impl Default for IpLayerConfig {
    fn default() -> Self {
        IpLayerConfig {
            timeout_us: 30_000_000,
            max_pending: 4096,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Reassembly counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpStats {
    /// Fragments accepted into reassembly (duplicates and overlaps included).
    pub fragments: u64,
    pub reassembled: u64,
    /// Fragments whose bytes had all arrived already.
    pub duplicate_fragments: u64,
    /// Fragments overlapping earlier data (earlier bytes win).
    pub overlapping_fragments: u64,
    /// Datagrams (and their fragments) dropped by the timeout.
    pub expired_datagrams: u64,
    pub expired_fragments: u64,
    /// Datagrams (and their fragments) dropped by the caps or by inconsistent lengths.
    pub dropped_datagrams: u64,
    pub dropped_fragments: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    ident: u32,
    /// IPv4 keys include the protocol (RFC 791); IPv6 keys do not (RFC 8200).
    protocol: u8,
}

#[derive(Debug)]
struct Pending {
    created_us: i64,
    seq: u64,
    /// Length of the whole payload, once the last fragment is seen.
    total: Option<usize>,
    /// Sorted, disjoint, non-adjacent byte ranges received.
    covered: Vec<(usize, usize)>,
    /// Non-overlapping pieces: only bytes not already held are stored (first arrival wins).
    pieces: Vec<(usize, Vec<u8>)>,
    bytes: usize,
    fragments: u64,
    /// TTL and (IPv6) first next-header of the offset-0 fragment.
    first: Option<(u8, u8)>,
}

/// Largest reassembled payload (IPv4 total length / IPv6 payload length are 16-bit).
const MAX_DATAGRAM: usize = 65_535;

/// The IP layer of a decode pass: parses packets and reassembles fragments.
#[derive(Debug, Default)]
pub struct IpLayer {
    cfg: IpLayerConfig,
    pending: HashMap<FragKey, Pending>,
    /// Pending datagrams by age, for expiry and eviction in a deterministic order.
    by_age: BTreeMap<(i64, u64), FragKey>,
    bytes: usize,
    /// Latest capture time seen: the clock of expiry (captures can go backwards in time).
    now_us: Option<i64>,
    seq: u64,
    stats: IpStats,
}

impl IpLayer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_config(cfg: IpLayerConfig) -> Self {
        IpLayer {
            cfg,
            ..Self::default()
        }
    }

    pub fn stats(&self) -> IpStats {
        self.stats
    }

    /// Datagrams awaiting fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Parse the network packet of one frame. Returns the datagram when it is complete:
    /// at once (borrowed) when unfragmented, or (owned) with its last missing fragment.
    /// Non-IP packets give `Ok(None)`.
    pub fn push<'a>(
        &mut self,
        meta: &PacketMeta,
        net: Network<'a>,
    ) -> Result<Option<IpDatagram<'a>>, DecodeError> {
        self.expire(meta.ts_us);
        match net {
            Network::Ipv4(b) => self.push_v4(meta, b),
            Network::Ipv6(b) => self.push_v6(meta, b),
            Network::Other { .. } => Ok(None),
        }
    }

    fn push_v4<'a>(
        &mut self,
        meta: &PacketMeta,
        data: &'a [u8],
    ) -> Result<Option<IpDatagram<'a>>, DecodeError> {
        let (repr, payload) = Ipv4Repr::parse(data)?;
        let (src, dst) = (IpAddr::V4(repr.src), IpAddr::V4(repr.dst));
        if !repr.more_frags && repr.frag_offset == 0 {
            return Ok(Some(IpDatagram {
                src,
                dst,
                protocol: repr.protocol,
                ttl: repr.ttl,
                payload: Cow::Borrowed(payload),
            }));
        }
        if repr.more_frags && payload.len() % 8 != 0 {
            self.stats.dropped_fragments += 1;
            return Err(err(
                "ipv4: non-final fragment length not a multiple of 8",
                2,
            ));
        }
        let hl = usize::from(data.first().copied().unwrap_or_default() & 0x0f) * 4;
        if usize::from(repr.frag_offset) + payload.len() + hl > MAX_DATAGRAM {
            self.stats.dropped_fragments += 1;
            return Err(err("ipv4: fragment ends beyond 65535 bytes", 6));
        }
        let key = FragKey {
            src,
            dst,
            ident: u32::from(repr.ident),
            protocol: repr.protocol,
        };
        let first = (repr.frag_offset == 0).then_some((repr.ttl, repr.protocol));
        let done = self.insert(
            key,
            meta.ts_us,
            usize::from(repr.frag_offset),
            payload,
            !repr.more_frags,
            first,
            repr.ttl,
        )?;
        Ok(done.map(|(buf, ttl, _)| IpDatagram {
            src,
            dst,
            protocol: repr.protocol,
            ttl,
            payload: Cow::Owned(buf),
        }))
    }

    fn push_v6<'a>(
        &mut self,
        meta: &PacketMeta,
        data: &'a [u8],
    ) -> Result<Option<IpDatagram<'a>>, DecodeError> {
        let (repr, payload) = Ipv6Repr::parse(data)?;
        let (src, dst) = (IpAddr::V6(repr.src), IpAddr::V6(repr.dst));
        let chain = walk_ipv6_extensions(repr.next_header, payload, IPV6_HEADER_LEN)?;
        let rest = payload.get(chain.offset..).unwrap_or_default();
        let Some(frag) = chain.fragment else {
            return Ok(Some(IpDatagram {
                src,
                dst,
                protocol: chain.protocol,
                ttl: repr.hop_limit,
                payload: Cow::Borrowed(rest),
            }));
        };
        let base = IPV6_HEADER_LEN + chain.offset;
        if frag.offset == 0 && !frag.more {
            // An atomic fragment (RFC 6946): a whole datagram with a Fragment header.
            let inner = walk_ipv6_extensions(frag.next_header, rest, base)?;
            if inner.fragment.is_some() {
                return Err(err("ipv6: nested fragment header", base + inner.offset));
            }
            let upper = rest.get(inner.offset..).unwrap_or_default();
            return Ok(Some(IpDatagram {
                src,
                dst,
                protocol: inner.protocol,
                ttl: repr.hop_limit,
                payload: Cow::Borrowed(upper),
            }));
        }
        if frag.more && rest.len() % 8 != 0 {
            self.stats.dropped_fragments += 1;
            return Err(err(
                "ipv6: non-final fragment length not a multiple of 8",
                base - 8,
            ));
        }
        if usize::from(frag.offset) + rest.len() > MAX_DATAGRAM {
            self.stats.dropped_fragments += 1;
            return Err(err("ipv6: fragment ends beyond 65535 bytes", base - 6));
        }
        let key = FragKey {
            src,
            dst,
            ident: frag.ident,
            protocol: 0,
        };
        let first = (frag.offset == 0).then_some((repr.hop_limit, frag.next_header));
        let Some((mut buf, ttl, nh)) = self.insert(
            key,
            meta.ts_us,
            usize::from(frag.offset),
            rest,
            !frag.more,
            first,
            repr.hop_limit,
        )?
        else {
            return Ok(None);
        };
        // The fragmentable part may begin with more extension headers (destination options).
        let inner = walk_ipv6_extensions(nh, &buf, 0)?;
        if inner.fragment.is_some() {
            return Err(err("ipv6: nested fragment header", inner.offset));
        }
        buf.drain(..inner.offset.min(buf.len()));
        Ok(Some(IpDatagram {
            src,
            dst,
            protocol: inner.protocol,
            ttl,
            payload: Cow::Owned(buf),
        }))
    }

    /// Drop pending datagrams older than the timeout, by the latest capture time seen.
    fn expire(&mut self, ts_us: i64) {
        let now = self.now_us.map_or(ts_us, |n| n.max(ts_us));
        self.now_us = Some(now);
        while let Some((&(created, seq), &key)) = self.by_age.first_key_value() {
            if created.saturating_add(self.cfg.timeout_us) >= now {
                break;
            }
            self.by_age.remove(&(created, seq));
            if let Some(p) = self.pending.remove(&key) {
                self.bytes -= p.bytes;
                self.stats.expired_datagrams += 1;
                self.stats.expired_fragments += p.fragments;
            }
        }
    }

    fn remove(&mut self, key: &FragKey) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.by_age.remove(&(p.created_us, p.seq));
        self.bytes -= p.bytes;
        Some(p)
    }

    fn drop_datagram(&mut self, key: &FragKey) {
        if let Some(p) = self.remove(key) {
            self.stats.dropped_datagrams += 1;
            self.stats.dropped_fragments += p.fragments;
        }
    }

    fn evict_oldest(&mut self) -> bool {
        match self.by_age.first_key_value() {
            Some((_, &key)) => {
                self.drop_datagram(&key);
                true
            }
            None => false,
        }
    }

    /// Add one fragment's data; returns the whole payload, its TTL and first next-header
    /// when complete.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        key: FragKey,
        ts_us: i64,
        offset: usize,
        data: &[u8],
        last: bool,
        first: Option<(u8, u8)>,
        ttl: u8,
    ) -> Result<Option<(Vec<u8>, u8, u8)>, DecodeError> {
        let end = offset + data.len();
        if data.len() > self.cfg.max_bytes {
            self.stats.dropped_fragments += 1;
            return Ok(None);
        }
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= self.cfg.max_pending.max(1) && self.evict_oldest() {}
        }
        while self.bytes + data.len() > self.cfg.max_bytes && self.evict_oldest() {}
        self.stats.fragments += 1;
        let (seq, cfg_ts) = (self.seq, ts_us);
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            created_us: cfg_ts,
            seq,
            total: None,
            covered: Vec::new(),
            pieces: Vec::new(),
            bytes: 0,
            fragments: 0,
            first: None,
        });
        if p.seq == seq {
            self.seq += 1;
            self.by_age.insert((cfg_ts, seq), key);
        }
        p.fragments += 1;
        // Lengths must agree: one end, and nothing past it.
        let max_end = p.covered.last().map_or(0, |r| r.1);
        let conflict = match (last, p.total) {
            (true, Some(t)) => t != end,
            (true, None) => max_end > end,
            (false, Some(t)) => end > t,
            (false, None) => false,
        };
        if conflict {
            self.drop_datagram(&key);
            return Err(err("ip: fragments disagree on the datagram length", 0));
        }
        if last {
            p.total = Some(end);
        }
        if p.first.is_none() {
            p.first = first;
        }
        // Store only the bytes not yet held: earlier data wins on overlap.
        let mut cursor = offset;
        let mut added = 0usize;
        let mut overlapped = false;
        for &(s, e) in &p.covered {
            if e <= cursor {
                continue;
            }
            if s >= end {
                break;
            }
            if s > cursor {
                p.pieces.push((
                    cursor,
                    data.get(cursor - offset..s - offset)
                        .unwrap_or_default()
                        .to_vec(),
                ));
                added += s - cursor;
            }
            overlapped = true;
            cursor = cursor.max(e);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            p.pieces.push((
                cursor,
                data.get(cursor - offset..).unwrap_or_default().to_vec(),
            ));
            added += end - cursor;
        }
        if overlapped {
            if added == 0 {
                self.stats.duplicate_fragments += 1;
            } else {
                self.stats.overlapping_fragments += 1;
            }
        }
        if added > 0 {
            p.covered.push((offset, end));
            p.covered.sort_unstable();
            let mut merged: Vec<(usize, usize)> = Vec::with_capacity(p.covered.len());
            for &(s, e) in &p.covered {
                match merged.last_mut() {
                    Some(m) if s <= m.1 => m.1 = m.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            p.covered = merged;
        }
        p.bytes += added;
        self.bytes += added;
        let complete = p
            .total
            .is_some_and(|t| p.covered.as_slice() == [(0, t)] || (t == 0 && p.covered.is_empty()));
        if !complete {
            return Ok(None);
        }
        let Some(p) = self.remove(&key) else {
            return Ok(None);
        };
        let total = p.total.unwrap_or_default();
        let mut buf = vec![0u8; total];
        for (at, piece) in &p.pieces {
            if let Some(dst) = buf.get_mut(*at..*at + piece.len()) {
                dst.copy_from_slice(piece);
            }
        }
        self.stats.reassembled += 1;
        let (ttl, nh) = p.first.unwrap_or((ttl, 0));
        Ok(Some((buf, ttl, nh)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(protocol: u8) -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol,
            ttl: 64,
            tos: 0,
            ident: 0x1234,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    fn v6(next_header: u8) -> Ipv6Repr {
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header,
            hop_limit: 55,
            traffic_class: 0x12,
            flow_label: 0xabcde,
        }
    }

    fn meta(ts_us: i64) -> PacketMeta {
        PacketMeta {
            file: 0,
            frame: 1,
            ts_us,
        }
    }

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn ipv4_round_trip_checksum_and_padding() {
        let repr = Ipv4Repr {
            dont_frag: true,
            tos: 0xb8,
            ..v4(IpProtocol::UDP)
        };
        let mut pkt = Vec::new();
        repr.emit(b"hello", &mut pkt);
        assert!(Ipv4Repr::checksum_ok(&pkt));
        // Ethernet minimum-frame padding after the datagram is trimmed.
        pkt.extend_from_slice(&[0; 21]);
        let (back, payload) = Ipv4Repr::parse(&pkt).unwrap();
        assert_eq!((back, payload), (repr, &b"hello"[..]));
    }

    #[test]
    fn ipv4_options_skipped_and_bad_lengths() {
        let mut pkt = Vec::new();
        v4(6).emit(b"abcd", &mut pkt);
        // Insert 4 bytes of options (NOPs): IHL 6, total length + 4.
        pkt.splice(20..20, [1, 1, 1, 1]);
        pkt[0] = 0x46;
        pkt[3] += 4;
        assert_eq!(Ipv4Repr::parse(&pkt).unwrap().1, b"abcd");
        let mut bad = pkt.clone();
        bad[0] = 0x44;
        assert_eq!(
            Ipv4Repr::parse(&bad).unwrap_err().reason,
            "ipv4: header length below 20"
        );
        let mut bad = pkt.clone();
        bad[3] = 200;
        assert_eq!(
            Ipv4Repr::parse(&bad).unwrap_err(),
            err("ipv4: total length beyond the captured data", 2)
        );
        let mut bad = pkt.clone();
        bad[3] = 10;
        assert_eq!(Ipv4Repr::parse(&bad).unwrap_err().offset, 2);
        let mut bad = pkt.clone();
        bad[0] = 0x55;
        assert!(Ipv4Repr::parse(&bad).is_err());
        assert!(Ipv4Repr::parse(&pkt[..19]).is_err());
        // TSO: total length 0 means "the frame".
        let mut tso = pkt.clone();
        tso[2] = 0;
        tso[3] = 0;
        assert_eq!(Ipv4Repr::parse(&tso).unwrap().1, b"abcd");
    }

    #[test]
    fn ipv6_extension_chain() {
        // Hop-by-hop (8) -> routing (16) -> dest opts (8) -> UDP.
        let mut payload = vec![IpProtocol::IPV6_ROUTING, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&[IpProtocol::IPV6_DEST_OPTS, 1, 0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&[0; 8]);
        payload.extend_from_slice(&[IpProtocol::UDP, 0, 1, 4, 0, 0, 0, 0]);
        payload.extend_from_slice(b"upper");
        let repr = v6(IpProtocol::HOP_BY_HOP);
        let mut pkt = Vec::new();
        repr.emit(&payload, &mut pkt);
        let (back, p) = Ipv6Repr::parse(&pkt).unwrap();
        assert_eq!(back, repr);
        let mut layer = IpLayer::new();
        let d = layer.push(&meta(0), Network::Ipv6(&pkt)).unwrap().unwrap();
        assert_eq!(
            (d.protocol, d.ttl, &d.payload[..]),
            (IpProtocol::UDP, 55, &b"upper"[..])
        );
        assert!(matches!(d.payload, Cow::Borrowed(_)));
        // A chain cut short is an error, not a panic.
        let c = walk_ipv6_extensions(IpProtocol::HOP_BY_HOP, p.get(..20).unwrap(), 40).unwrap_err();
        assert_eq!(c, err("ipv6: truncated extension header", 48));
        let mut short = pkt.clone();
        short.truncate(50);
        assert!(Ipv6Repr::parse(&short).is_err());
    }

    #[test]
    fn ipv4_fragments_any_order() {
        let payload = body(1000);
        let frags = fragment_ipv4(&v4(IpProtocol::UDP), &payload, 300);
        assert_eq!(frags.len(), 4);
        let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
        for order in orders {
            let mut layer = IpLayer::new();
            let mut out = None;
            for (n, &i) in order.iter().enumerate() {
                let r = layer
                    .push(&meta(n as i64), Network::Ipv4(&frags[i]))
                    .unwrap();
                assert_eq!(r.is_some(), n == 3, "order {order:?}");
                out = out.or(r);
            }
            let d = out.unwrap();
            assert_eq!((d.protocol, d.ttl), (IpProtocol::UDP, 64));
            assert_eq!(&d.payload[..], &payload[..]);
            assert_eq!(layer.pending(), 0);
            assert_eq!(layer.stats().reassembled, 1);
        }
    }

    #[test]
    fn ipv6_fragments_with_dest_opts() {
        let mut fragmentable = vec![IpProtocol::UDP, 0, 1, 4, 0, 0, 0, 0];
        fragmentable.extend_from_slice(&body(500));
        let frags = fragment_ipv6(&v6(IpProtocol::IPV6_DEST_OPTS), 77, &fragmentable, 128);
        let mut layer = IpLayer::new();
        let mut got = None;
        for f in frags.iter().rev() {
            got = got.or(layer.push(&meta(0), Network::Ipv6(f)).unwrap());
        }
        let d = got.unwrap();
        assert_eq!((d.protocol, d.ttl), (IpProtocol::UDP, 55));
        assert_eq!(&d.payload[..], &body(500)[..]);
        // Atomic fragment: delivered at once.
        let atomic = fragment_ipv6(&v6(IpProtocol::UDP), 5, b"tiny", 64);
        assert_eq!(atomic.len(), 1);
        let d = layer
            .push(&meta(0), Network::Ipv6(&atomic[0]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (&d.payload[..], d.protocol),
            (&b"tiny"[..], IpProtocol::UDP)
        );
    }

    #[test]
    fn duplicates_and_overlaps_first_wins() {
        let payload = body(48);
        let frags = fragment_ipv4(&v4(17), &payload, 16);
        let mut layer = IpLayer::new();
        assert!(layer
            .push(&meta(0), Network::Ipv4(&frags[0]))
            .unwrap()
            .is_none());
        assert!(layer
            .push(&meta(0), Network::Ipv4(&frags[0]))
            .unwrap()
            .is_none());
        // An overlapping fragment with different bytes over [8, 32): only [16, 32) is new.
        let mut olap = Vec::new();
        Ipv4Repr {
            frag_offset: 8,
            more_frags: true,
            ..v4(17)
        }
        .emit(&[0xEE; 24], &mut olap);
        assert!(layer
            .push(&meta(0), Network::Ipv4(&olap))
            .unwrap()
            .is_none());
        let d = layer
            .push(&meta(0), Network::Ipv4(&frags[2]))
            .unwrap()
            .unwrap();
        let mut want = payload.clone();
        want[16..32].fill(0xEE);
        assert_eq!(&d.payload[..], &want[..]);
        let s = layer.stats();
        assert_eq!(
            (
                s.duplicate_fragments,
                s.overlapping_fragments,
                s.fragments,
                s.reassembled
            ),
            (1, 1, 4, 1)
        );
    }

    #[test]
    fn expiry_caps_and_conflicts() {
        let frags = fragment_ipv4(&v4(17), &body(64), 16);
        let mut layer = IpLayer::with_config(IpLayerConfig {
            timeout_us: 1_000_000,
            ..IpLayerConfig::default()
        });
        layer.push(&meta(0), Network::Ipv4(&frags[0])).unwrap();
        layer
            .push(&meta(500_000), Network::Ipv4(&frags[1]))
            .unwrap();
        assert_eq!(layer.pending(), 1);
        // Any packet past the timeout expires it, even a non-IP one.
        layer
            .push(&meta(1_000_001), Network::Other { ethertype: 0x0806 })
            .unwrap();
        assert_eq!(layer.pending(), 0);
        assert_eq!(
            (
                layer.stats().expired_datagrams,
                layer.stats().expired_fragments
            ),
            (1, 2)
        );
        // The rest of that datagram never completes it.
        for f in &frags[2..] {
            assert!(layer
                .push(&meta(1_000_002), Network::Ipv4(f))
                .unwrap()
                .is_none());
        }

        let mut layer = IpLayer::with_config(IpLayerConfig {
            max_pending: 2,
            ..IpLayerConfig::default()
        });
        for ident in 0..3u16 {
            let f = fragment_ipv4(&Ipv4Repr { ident, ..v4(17) }, &body(32), 16);
            layer.push(&meta(0), Network::Ipv4(&f[0])).unwrap();
        }
        assert_eq!(layer.pending(), 2);
        assert_eq!(
            (
                layer.stats().dropped_datagrams,
                layer.stats().dropped_fragments
            ),
            (1, 1)
        );

        let mut layer = IpLayer::with_config(IpLayerConfig {
            max_bytes: 40,
            ..IpLayerConfig::default()
        });
        for ident in 0..3u16 {
            let f = fragment_ipv4(&Ipv4Repr { ident, ..v4(17) }, &body(64), 16);
            layer.push(&meta(0), Network::Ipv4(&f[0])).unwrap();
        }
        assert_eq!(layer.pending(), 2);
        assert!(layer.bytes <= 40);

        // Two final fragments ending at different places: the datagram is dropped.
        let mut layer = IpLayer::new();
        let mut a = Vec::new();
        Ipv4Repr {
            frag_offset: 16,
            ..v4(17)
        }
        .emit(&[1; 8], &mut a);
        let mut b = Vec::new();
        Ipv4Repr {
            frag_offset: 32,
            ..v4(17)
        }
        .emit(&[1; 8], &mut b);
        layer.push(&meta(0), Network::Ipv4(&a)).unwrap();
        assert!(layer.push(&meta(0), Network::Ipv4(&b)).is_err());
        assert_eq!(layer.pending(), 0);
        // Non-final fragment not a multiple of 8.
        let mut c = Vec::new();
        Ipv4Repr {
            more_frags: true,
            ..v4(17)
        }
        .emit(&[1; 9], &mut c);
        assert!(layer.push(&meta(0), Network::Ipv4(&c)).is_err());
    }

    proptest! {
        #[test]
        fn shuffled_fragments_reassemble(
            len in 1usize..3000,
            size in 8usize..600,
            v6_too in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let payload = body(len);
            let mut frags = if v6_too {
                fragment_ipv6(&v6(IpProtocol::UDP), 9, &payload, size)
            } else {
                fragment_ipv4(&v4(IpProtocol::UDP), &payload, size)
            };
            prop_assume!(frags.len() > 1);
            // Deterministic shuffle from the seed, plus a duplicate of one fragment.
            let mut s = seed;
            for i in (1..frags.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                frags.swap(i, (s >> 33) as usize % (i + 1));
            }
            let dup = frags[(s as usize) % frags.len()].clone();
            frags.insert(0, dup);
            let mut layer = IpLayer::new();
            let mut got = Vec::new();
            for f in &frags {
                let net = if v6_too { Network::Ipv6(f) } else { Network::Ipv4(f) };
                if let Some(d) = layer.push(&meta(0), net).unwrap() {
                    got.push(d.payload.into_owned());
                }
            }
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(&got[0], &payload);
            // A duplicate arriving after completion opens a new reassembly, left to expire.
            prop_assert!(layer.pending() <= 1);
        }

        #[test]
        fn ipv4_round_trip(src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(), ttl in any::<u8>(),
                           tos in any::<u8>(), ident in any::<u16>(), df in any::<bool>(),
                           payload in prop::collection::vec(any::<u8>(), 0..200)) {
            let repr = Ipv4Repr { src: src.into(), dst: dst.into(), protocol, ttl, tos, ident, dont_frag: df, more_frags: false, frag_offset: 0 };
            let mut pkt = Vec::new();
            repr.emit(&payload, &mut pkt);
            prop_assert!(Ipv4Repr::checksum_ok(&pkt));
            let (back, p) = Ipv4Repr::parse(&pkt).unwrap();
            prop_assert_eq!(back, repr);
            prop_assert_eq!(p, &payload[..]);
        }

        #[test]
        fn ip_layer_never_panics(packets in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..120)), 1..20)) {
            let mut layer = IpLayer::with_config(IpLayerConfig { max_pending: 4, max_bytes: 256, timeout_us: 10 });
            for (i, (is_v6, mut data)) in packets.into_iter().enumerate() {
                // Bias towards plausible headers so deeper paths run.
                if let Some(b) = data.first_mut() {
                    *b = if is_v6 { 0x60 | (*b & 0x0f) } else { 0x40 | (*b & 0x0f) };
                }
                let net = if is_v6 { Network::Ipv6(&data) } else { Network::Ipv4(&data) };
                let _ = layer.push(&meta(i as i64 * 3), net);
            }
        }
    }
}

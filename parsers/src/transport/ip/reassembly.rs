//! IP fragment reassembly ([`IpLayer`]): unfragmented datagrams borrowed from the frame, fragments buffered until whole, expired by capture time and capped in datagrams and bytes.

use super::*;
use crate::error::DecodeError;
use crate::flow::PacketMeta;
use crate::transport::link::Network;
use ahash::AHashMap as HashMap;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

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
struct PartialDatagram {
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
    pending: HashMap<FragKey, PartialDatagram>,
    /// Pending datagrams by age, for expiry and eviction in a deterministic order.
    by_age: BTreeMap<(i64, u64), FragKey>,
    pub(super) bytes: usize,
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

    fn remove(&mut self, key: &FragKey) -> Option<PartialDatagram> {
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
        let p = self.pending.entry(key).or_insert_with(|| PartialDatagram {
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

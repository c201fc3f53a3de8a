//! SCTP (RFC 9260): the common header, an iterator over the chunks of a packet, a
//! [`SctpRepr`] that emits bundled packets with their CRC32c, and an [`SctpReassembler`]
//! that turns DATA / I-DATA chunks into user messages, fragmented ones reassembled and
//! duplicates (retransmissions, the same packet captured on two hops) dropped.

use crate::error::{DecodeError, Layer};
use crate::flow::{FlowKey, PacketMeta};
use crate::wire::{be16_or_zero as be16, be32_or_zero as be32};
use ahash::AHashMap as HashMap;
use std::collections::BTreeMap;

/// Length of the common header.
pub const HEADER_LEN: usize = 12;
/// Chunk type of DATA.
pub const CHUNK_DATA: u8 = 0;
/// Chunk type of SACK.
pub const CHUNK_SACK: u8 = 3;
/// Chunk type of I-DATA (RFC 8260, interleaving).
pub const CHUNK_IDATA: u8 = 64;

const FLAG_END: u8 = 0x01;
const FLAG_BEGIN: u8 = 0x02;
const FLAG_UNORDERED: u8 = 0x04;
const FLAG_IMMEDIATE: u8 = 0x08;

/// CRC-32C (Castagnoli), as SCTP uses it.
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Sctp, reason, offset)
}

/// The CRC32c of a packet, computed with its checksum field taken as zero. The value goes
/// on the wire least significant byte first (RFC 9260 appendix A; checked against real
/// captures), which is how [`SctpHeader::checksum`] reads it back.
pub fn checksum(packet: &[u8]) -> u32 {
    let mut d = CRC32C.digest();
    d.update(packet.get(..8).unwrap_or(packet));
    if packet.len() >= HEADER_LEN {
        d.update(&[0; 4]);
        d.update(packet.get(HEADER_LEN..).unwrap_or_default());
    }
    d.finalize()
}

/// The common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SctpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub vtag: u32,
    /// The CRC32c as a number (wire bytes read little-endian). Often 0 or wrong in
    /// captures taken with checksum offload, so decoders do not insist on it.
    pub checksum: u32,
}

/// Entry point for a packet's bytes: see [`SctpPacket::parse`].
#[derive(Debug, Clone, Copy)]
pub struct SctpPacket<'a> {
    bytes: &'a [u8],
}

impl<'a> SctpPacket<'a> {
    pub fn new_checked(bytes: &'a [u8]) -> Result<SctpPacket<'a>, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(err(
                "packet shorter than the 12-byte common header",
                bytes.len(),
            ));
        }
        Ok(SctpPacket { bytes })
    }

    /// The common header and a lazy iterator over the chunks.
    pub fn parse(bytes: &'a [u8]) -> Result<(SctpHeader, ChunkIter<'a>), DecodeError> {
        let p = SctpPacket::new_checked(bytes)?;
        Ok((p.header(), p.chunks()))
    }

    pub fn header(&self) -> SctpHeader {
        let b = self.bytes;
        let c = b
            .get(8..12)
            .map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        SctpHeader {
            src_port: be16(b, 0),
            dst_port: be16(b, 2),
            vtag: be32(b, 4),
            checksum: c,
        }
    }

    pub fn chunks(&self) -> ChunkIter<'a> {
        ChunkIter {
            bytes: self.bytes,
            offset: HEADER_LEN,
            done: false,
        }
    }

    pub fn verify_checksum(&self) -> bool {
        checksum(self.bytes) == self.header().checksum
    }
}

/// The chunks of a packet in order. A chunk whose length field is impossible yields one
/// `Err` and ends the iteration (nothing after it can be located).
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    bytes: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = Result<Chunk<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.offset;
        let rest = self.bytes.get(at..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let item = match rest {
            [kind, flags, l0, l1, ..] => {
                let len = usize::from(u16::from_be_bytes([*l0, *l1]));
                if len < 4 {
                    Err(err("chunk length below 4", at + 2))
                } else if len > rest.len() {
                    Err(err("chunk length beyond the end of the packet", at + 2))
                } else {
                    let value = rest.get(4..len).unwrap_or_default();
                    // The last chunk's padding is sometimes cut off by the capture.
                    self.offset = (at + len.next_multiple_of(4)).min(self.bytes.len());
                    Chunk::parse(*kind, *flags, value).map_err(|e| e.shifted(at))
                }
            }
            _ => Err(err("truncated chunk header", at)),
        };
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

/// A DATA (type 0) or I-DATA (type 64) chunk: one user message or a fragment of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataChunk<'a> {
    /// U: unordered delivery.
    pub unordered: bool,
    /// B: first fragment of the user message.
    pub begin: bool,
    /// E: last fragment of the user message.
    pub end: bool,
    /// I: the sender asks for an immediate SACK.
    pub immediate: bool,
    pub tsn: u32,
    pub stream_id: u16,
    /// Stream sequence number (DATA only; 0 for I-DATA).
    pub ssn: u16,
    /// Payload protocol identifier (for I-DATA only carried by the first fragment; 0
    /// in the others).
    pub ppid: u32,
    /// Present for I-DATA: message id and fragment sequence number (0 on the B fragment).
    pub i_data: Option<IData>,
    pub payload: &'a [u8],
}

/// The I-DATA fields that replace DATA's SSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IData {
    pub mid: u32,
    pub fsn: u32,
}

/// The same type is the parsed chunk and the thing emitted.
pub type DataChunkRepr<'a> = DataChunk<'a>;

impl<'a> DataChunk<'a> {
    fn parse_data(flags: u8, value: &'a [u8]) -> Result<DataChunk<'a>, DecodeError> {
        if value.len() < 12 {
            return Err(err("DATA chunk shorter than 16 bytes", 2));
        }
        Ok(DataChunk {
            unordered: flags & FLAG_UNORDERED != 0,
            begin: flags & FLAG_BEGIN != 0,
            end: flags & FLAG_END != 0,
            immediate: flags & FLAG_IMMEDIATE != 0,
            tsn: be32(value, 0),
            stream_id: be16(value, 4),
            ssn: be16(value, 6),
            ppid: be32(value, 8),
            i_data: None,
            payload: value.get(12..).unwrap_or_default(),
        })
    }

    fn parse_idata(flags: u8, value: &'a [u8]) -> Result<DataChunk<'a>, DecodeError> {
        if value.len() < 16 {
            return Err(err("I-DATA chunk shorter than 20 bytes", 2));
        }
        let begin = flags & FLAG_BEGIN != 0;
        let ppid_or_fsn = be32(value, 12);
        Ok(DataChunk {
            unordered: flags & FLAG_UNORDERED != 0,
            begin,
            end: flags & FLAG_END != 0,
            immediate: flags & FLAG_IMMEDIATE != 0,
            tsn: be32(value, 0),
            stream_id: be16(value, 4),
            ssn: 0,
            ppid: if begin { ppid_or_fsn } else { 0 },
            i_data: Some(IData {
                mid: be32(value, 8),
                fsn: if begin { 0 } else { ppid_or_fsn },
            }),
            payload: value.get(16..).unwrap_or_default(),
        })
    }

    fn flags(&self) -> u8 {
        let mut f = 0;
        for (on, bit) in [
            (self.end, FLAG_END),
            (self.begin, FLAG_BEGIN),
            (self.unordered, FLAG_UNORDERED),
            (self.immediate, FLAG_IMMEDIATE),
        ] {
            if on {
                f |= bit;
            }
        }
        f
    }

    /// Append the chunk, padded to 4 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut value = Vec::with_capacity(16 + self.payload.len());
        value.extend_from_slice(&self.tsn.to_be_bytes());
        value.extend_from_slice(&self.stream_id.to_be_bytes());
        match self.i_data {
            None => {
                value.extend_from_slice(&self.ssn.to_be_bytes());
                value.extend_from_slice(&self.ppid.to_be_bytes());
            }
            Some(i) => {
                value.extend_from_slice(&[0, 0]);
                value.extend_from_slice(&i.mid.to_be_bytes());
                let x = if self.begin { self.ppid } else { i.fsn };
                value.extend_from_slice(&x.to_be_bytes());
            }
        }
        value.extend_from_slice(self.payload);
        let kind = if self.i_data.is_some() {
            CHUNK_IDATA
        } else {
            CHUNK_DATA
        };
        emit_chunk(out, kind, self.flags(), &value);
    }
}

/// Append one chunk (type, flags, length, value, padding). A value too long for the
/// 16-bit length is cut to fit, since emit is for fixtures and cannot fail.
fn emit_chunk(out: &mut Vec<u8>, kind: u8, flags: u8, value: &[u8]) {
    let value = value.get(..usize::from(u16::MAX) - 4).unwrap_or(value);
    let len = 4 + value.len();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

/// One chunk. Only user data is decoded; control chunks (SACK, INIT, HEARTBEAT, ...) are
/// passed through as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chunk<'a> {
    Data(DataChunk<'a>),
    Other {
        kind: u8,
        flags: u8,
        value: &'a [u8],
    },
}

impl<'a> Chunk<'a> {
    /// A chunk from its type, flags and value (the bytes after the 4-byte chunk header, up
    /// to its length, padding excluded). Error offsets are relative to the chunk.
    pub fn parse(kind: u8, flags: u8, value: &'a [u8]) -> Result<Chunk<'a>, DecodeError> {
        match kind {
            CHUNK_DATA => DataChunk::parse_data(flags, value).map(Chunk::Data),
            CHUNK_IDATA => DataChunk::parse_idata(flags, value).map(Chunk::Data),
            _ => Ok(Chunk::Other { kind, flags, value }),
        }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Chunk::Data(d) => d.emit(out),
            Chunk::Other { kind, flags, value } => emit_chunk(out, *kind, *flags, value),
        }
    }
}

/// A whole packet: header fields and chunks (bundling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub vtag: u32,
    pub chunks: Vec<Chunk<'a>>,
}

impl<'a> SctpRepr<'a> {
    /// All chunks of a packet; fails on the first bad one (use [`SctpPacket::parse`] to keep
    /// the chunks before it).
    pub fn parse(bytes: &'a [u8]) -> Result<SctpRepr<'a>, DecodeError> {
        let (h, chunks) = SctpPacket::parse(bytes)?;
        Ok(SctpRepr {
            src_port: h.src_port,
            dst_port: h.dst_port,
            vtag: h.vtag,
            chunks: chunks.collect::<Result<_, _>>()?,
        })
    }

    /// The packet bytes with a correct CRC32c.
    pub fn emit(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + 64 * self.chunks.len());
        b.extend_from_slice(&self.src_port.to_be_bytes());
        b.extend_from_slice(&self.dst_port.to_be_bytes());
        b.extend_from_slice(&self.vtag.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        for c in &self.chunks {
            c.emit(&mut b);
        }
        let c = checksum(&b);
        b[8..12].copy_from_slice(&c.to_le_bytes());
        b
    }
}

/// A complete user message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpMessage<'a> {
    pub flow: FlowKey,
    /// The packet that completed the message.
    pub meta: PacketMeta,
    pub stream: u16,
    pub ppid: u32,
    pub data: &'a [u8],
}

/// Bounds of an [`SctpReassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpConfig {
    /// Fragment bytes one direction may hold; beyond it the oldest fragments are dropped.
    pub max_pending_bytes: usize,
    /// A fragment older than this (capture time, µs) will not be completed any more.
    pub fragment_timeout_us: i64,
    /// Association directions tracked at once; beyond it the least recently active go.
    pub max_assocs: usize,
}

impl Default for SctpConfig {
    fn default() -> Self {
        SctpConfig {
            max_pending_bytes: 1 << 20,
            fragment_timeout_us: 30_000_000,
            max_assocs: 4096,
        }
    }
}

/// Counters of an [`SctpReassembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SctpStats {
    pub chunks: u64,
    /// User messages delivered (whole and reassembled).
    pub delivered: u64,
    /// Chunks whose TSN was already seen (or is too old to tell): not delivered again.
    pub duplicates: u64,
    /// Chunks that were fragments of a larger user message.
    pub fragments: u64,
    /// User messages put together from fragments.
    pub reassembled: u64,
    /// Fragments given up (stale, over the byte bound, or with an evicted association).
    pub dropped: u64,
    pub evicted: u64,
}

/// How many TSNs below the highest one seen are remembered per direction.
const TSN_WINDOW: u32 = 4096;

/// Directions the table reserves room for up front (the default `max_assocs`): ≈400 kB.
const MAX_RESERVED_ASSOCS: usize = 4096;

/// Recently seen TSNs: the highest plus a bitmap of the `TSN_WINDOW` below it, like an
/// anti-replay window. Older TSNs count as seen: a retransmission that late is far
/// likelier than new data.
///
/// While every TSN seen lies within 128 of the highest (an association's first chunks,
/// and every association of a replicated capture) the bits are one inline `u128`; the
/// 512-byte ring is allocated the first time a seen TSN would fall further behind. Both
/// forms answer exactly as the ring alone would (property-tested).
#[derive(Debug)]
struct TsnWindow {
    hi: Option<u32>,
    /// Before the ring: bit `k` is TSN `hi - k`.
    recent: u128,
    ring: Option<Box<Ring>>,
}

/// The bitmap ring of the window, indexed by `tsn % TSN_WINDOW`.
#[derive(Debug, Clone)]
struct Ring {
    bits: [u64; (TSN_WINDOW / 64) as usize],
}

impl Ring {
    fn new() -> Ring {
        Ring {
            bits: [0; (TSN_WINDOW / 64) as usize],
        }
    }

    fn bit(tsn: u32) -> (usize, u64) {
        let i = tsn % TSN_WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn set(&mut self, tsn: u32, on: bool) {
        let (w, m) = Self::bit(tsn);
        if let Some(word) = self.bits.get_mut(w) {
            if on {
                *word |= m;
            } else {
                *word &= !m;
            }
        }
    }

    fn get(&self, tsn: u32) -> bool {
        let (w, m) = Self::bit(tsn);
        self.bits.get(w).is_some_and(|word| word & m != 0)
    }

    /// Record `tsn` given the highest so far; false if seen before (or older than the
    /// window). Returns the new highest too.
    fn insert(&mut self, hi: u32, tsn: u32) -> (bool, u32) {
        let ahead = tsn.wrapping_sub(hi);
        if ahead != 0 && ahead < 1 << 31 {
            if ahead >= TSN_WINDOW {
                self.bits.fill(0);
            } else {
                for t in 1..=ahead {
                    self.set(hi.wrapping_add(t), false);
                }
            }
            self.set(tsn, true);
            return (true, tsn);
        }
        let behind = hi.wrapping_sub(tsn);
        if behind >= TSN_WINDOW || self.get(tsn) {
            return (false, hi);
        }
        self.set(tsn, true);
        (true, hi)
    }
}

/// TSNs within this distance of the highest fit the inline bits.
const RECENT: u32 = 128;

impl TsnWindow {
    fn new() -> TsnWindow {
        TsnWindow {
            hi: None,
            recent: 0,
            ring: None,
        }
    }

    /// Record `tsn`; false if it was seen before (or is older than the window).
    fn insert(&mut self, tsn: u32) -> bool {
        let Some(hi) = self.hi else {
            self.hi = Some(tsn);
            self.recent = 1;
            return true;
        };
        if let Some(ring) = self.ring.as_mut() {
            let (new, hi) = ring.insert(hi, tsn);
            self.hi = Some(hi);
            return new;
        }
        let ahead = tsn.wrapping_sub(hi);
        if ahead != 0 && ahead < 1 << 31 {
            if ahead >= TSN_WINDOW {
                // Everything seen falls out of the window, as the ring would clear it.
                self.recent = 1;
                self.hi = Some(tsn);
                return true;
            }
            if ahead < RECENT && self.recent >> (RECENT - ahead) == 0 {
                self.recent = (self.recent << ahead) | 1;
                self.hi = Some(tsn);
                return true;
            }
        } else {
            let behind = hi.wrapping_sub(tsn);
            if behind >= TSN_WINDOW {
                return false;
            }
            if behind < RECENT {
                let m = 1u128 << behind;
                let new = self.recent & m == 0;
                self.recent |= m;
                return new;
            }
        }
        // A seen TSN would fall (or a new one lies) beyond the inline bits: the ring.
        let mut ring = Box::new(Ring::new());
        for k in 0..RECENT {
            if self.recent >> k & 1 == 1 {
                ring.set(hi.wrapping_sub(k), true);
            }
        }
        let (new, hi) = ring.insert(hi, tsn);
        self.hi = Some(hi);
        self.ring = Some(ring);
        new
    }
}

/// A DATA fragment waiting for the rest of its message.
#[derive(Debug)]
struct Frag {
    begin: bool,
    end: bool,
    unordered: bool,
    stream: u16,
    ppid: u32,
    ts_us: i64,
    data: Vec<u8>,
}

/// An I-DATA message being put together from fragments keyed by FSN.
#[derive(Debug, Default)]
struct IMsg {
    parts: BTreeMap<u32, Vec<u8>>,
    ppid: Option<u32>,
    last_fsn: Option<u32>,
    ts_us: i64,
    bytes: usize,
}

/// What identifies one direction of an association: ports and the verification tag the
/// receiver chose. Addresses are left out so that the paths of a multi-homed association
/// share one TSN record (a retransmission may take another path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct AssocKey {
    src_port: u16,
    dst_port: u16,
    vtag: u32,
}

/// One direction of an association: the TSNs seen and when it was last active, plus the
/// partial messages only a direction that fragments needs (boxed on its first fragment, so
/// the many directions that never fragment stay small and are held inline in the table).
#[derive(Debug)]
struct Direction {
    seen: TsnWindow,
    last: PacketMeta,
    partial: Option<Box<Partial>>,
}

impl Direction {
    fn new(meta: PacketMeta) -> Direction {
        Direction {
            seen: TsnWindow::new(),
            last: meta,
            partial: None,
        }
    }

    fn pending(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.pending)
    }

    fn fragment_count(&self) -> u64 {
        self.partial.as_ref().map_or(0, |p| p.fragment_count())
    }
}

/// Fragments of one direction waiting for the rest of their messages.
#[derive(Debug)]
struct Partial {
    frags: HashMap<u32, Frag>,
    imsgs: HashMap<(u16, bool, u32), IMsg>,
    pending: usize,
    last_sweep_us: i64,
}

impl Partial {
    /// `hasher` is the reassembler's (cloned, so a new direction does not draw fresh
    /// random seeds: that was 4 % of the MAP benchmark's time, a direction per copy).
    fn new(now: i64, hasher: &ahash::RandomState) -> Partial {
        Partial {
            frags: HashMap::with_hasher(hasher.clone()),
            imsgs: HashMap::with_hasher(hasher.clone()),
            pending: 0,
            last_sweep_us: now,
        }
    }

    fn fragment_count(&self) -> u64 {
        self.frags.len() as u64
            + self
                .imsgs
                .values()
                .map(|m| m.parts.len() as u64)
                .sum::<u64>()
    }

    /// Drop fragments older than `cutoff`; returns how many.
    fn drop_older(&mut self, cutoff: i64) -> u64 {
        let mut dropped = 0u64;
        let mut freed = 0usize;
        self.frags.retain(|_, f| {
            let keep = f.ts_us >= cutoff;
            if !keep {
                dropped += 1;
                freed += f.data.len();
            }
            keep
        });
        self.imsgs.retain(|_, m| {
            let keep = m.ts_us >= cutoff;
            if !keep {
                dropped += m.parts.len() as u64;
                freed += m.bytes;
            }
            keep
        });
        self.pending = self.pending.saturating_sub(freed);
        dropped
    }

    /// Drop the oldest fragments until at most `target` bytes are pending.
    fn shrink_to(&mut self, target: usize) -> u64 {
        let mut ages: Vec<(i64, usize)> = self
            .frags
            .values()
            .map(|f| (f.ts_us, f.data.len()))
            .collect();
        ages.extend(self.imsgs.values().map(|m| (m.ts_us, m.bytes)));
        ages.sort_unstable();
        let mut left = self.pending;
        let mut cutoff = None;
        for (ts, bytes) in ages {
            if left <= target {
                break;
            }
            left = left.saturating_sub(bytes);
            cutoff = Some(ts.saturating_add(1));
        }
        cutoff.map_or(0, |c| self.drop_older(c))
    }

    /// Try to complete the DATA message that fragment `tsn` belongs to: fragments of one
    /// message have consecutive TSNs, from a B fragment to an E fragment on one stream.
    fn complete_data(&mut self, tsn: u32) -> Option<(u16, u32, Vec<u8>)> {
        let f = self.frags.get(&tsn)?;
        let (stream, unordered) = (f.stream, f.unordered);
        let same = |g: &Frag| g.stream == stream && g.unordered == unordered;
        let mut first = tsn;
        let mut walked = 0usize;
        while !self.frags.get(&first)?.begin {
            let prev = first.wrapping_sub(1);
            let p = self.frags.get(&prev)?;
            if !same(p) || p.end {
                return None;
            }
            first = prev;
            walked += 1;
            if walked > self.frags.len() {
                return None;
            }
        }
        let mut last = tsn;
        while !self.frags.get(&last)?.end {
            let next = last.wrapping_add(1);
            let n = self.frags.get(&next)?;
            if !same(n) || n.begin {
                return None;
            }
            last = next;
            walked += 1;
            if walked > self.frags.len() {
                return None;
            }
        }
        let ppid = self.frags.get(&first)?.ppid;
        let mut data = Vec::new();
        let mut t = first;
        loop {
            if let Some(f) = self.frags.remove(&t) {
                self.pending = self.pending.saturating_sub(f.data.len());
                if data.is_empty() {
                    data = f.data;
                } else {
                    data.extend_from_slice(&f.data);
                }
            }
            if t == last {
                break;
            }
            t = t.wrapping_add(1);
        }
        Some((stream, ppid, data))
    }

    /// Add an I-DATA fragment and complete its message if all fragments are there.
    fn add_idata(
        &mut self,
        c: &DataChunk<'_>,
        i: IData,
        ts_us: i64,
    ) -> Option<(u16, u32, Vec<u8>)> {
        let key = (c.stream_id, c.unordered, i.mid);
        let m = self.imsgs.entry(key).or_default();
        m.ts_us = ts_us;
        if m.parts.contains_key(&i.fsn) {
            return None;
        }
        m.parts.insert(i.fsn, c.payload.to_vec());
        m.bytes += c.payload.len();
        self.pending += c.payload.len();
        if c.begin {
            m.ppid = Some(c.ppid);
        }
        if c.end {
            m.last_fsn = Some(i.fsn);
        }
        let (ppid, last) = (m.ppid?, m.last_fsn?);
        let complete = m.parts.len() as u64 == u64::from(last) + 1
            && m.parts.last_key_value().map(|(k, _)| *k) == Some(last);
        if !complete {
            return None;
        }
        let m = self.imsgs.remove(&key)?;
        self.pending = self.pending.saturating_sub(m.bytes);
        let mut data = Vec::with_capacity(m.bytes);
        for p in m.parts.values() {
            data.extend_from_slice(p);
        }
        Some((c.stream_id, ppid, data))
    }
}

/// User messages from DATA / I-DATA chunks, per association direction.
#[derive(Debug, Default)]
pub struct SctpReassembler {
    cfg: SctpConfig,
    /// Directions inline (64 bytes each, fragments boxed apart), the table's room
    /// reserved once so that it never grows under association churn.
    dirs: HashMap<AssocKey, Direction>,
    stats: SctpStats,
    /// Seeds the fragment maps of every direction.
    hasher: ahash::RandomState,
}

impl SctpReassembler {
    pub fn new(cfg: SctpConfig) -> SctpReassembler {
        SctpReassembler {
            cfg,
            dirs: HashMap::default(),
            stats: SctpStats::default(),
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn stats(&self) -> SctpStats {
        self.stats
    }

    /// Association directions currently tracked.
    pub fn assoc_count(&self) -> usize {
        self.dirs.len()
    }

    /// Fragment bytes held for all directions.
    pub fn pending_bytes(&self) -> usize {
        self.dirs.values().map(Direction::pending).sum()
    }

    /// Feed one DATA / I-DATA chunk of the packet `meta`, sent along `flow` with
    /// verification tag `vtag`; complete user messages go to `out`.
    pub fn push(
        &mut self,
        meta: &PacketMeta,
        flow: FlowKey,
        vtag: u32,
        chunk: &DataChunk<'_>,
        out: &mut dyn FnMut(SctpMessage<'_>),
    ) {
        self.stats.chunks += 1;
        let key = AssocKey {
            src_port: flow.src.port,
            dst_port: flow.dst.port,
            vtag,
        };
        // Only a full table needs the extra probe (one hash lookup per chunk otherwise).
        let max = self.cfg.max_assocs.max(1);
        if self.dirs.len() >= max && !self.dirs.contains_key(&key) {
            self.evict();
        }
        if self.dirs.capacity() == 0 {
            self.dirs.reserve(max.min(MAX_RESERVED_ASSOCS));
        }
        let cfg = self.cfg;
        let stats = &mut self.stats;
        let dir = self
            .dirs
            .entry(key)
            .or_insert_with(|| Direction::new(*meta));
        dir.last = *meta;
        if !dir.seen.insert(chunk.tsn) {
            stats.duplicates += 1;
            return;
        }
        let now = meta.ts_us;
        if chunk.begin && chunk.end {
            stats.delivered += 1;
            out(SctpMessage {
                flow,
                meta: *meta,
                stream: chunk.stream_id,
                ppid: chunk.ppid,
                data: chunk.payload,
            });
            return;
        }
        stats.fragments += 1;
        let hasher = &self.hasher;
        let dir = dir
            .partial
            .get_or_insert_with(|| Box::new(Partial::new(now, hasher)));
        // Stale partial messages: swept at most twice per timeout period.
        if dir.pending > 0 && now.saturating_sub(dir.last_sweep_us) >= cfg.fragment_timeout_us / 2 {
            stats.dropped += dir.drop_older(now.saturating_sub(cfg.fragment_timeout_us));
            dir.last_sweep_us = now;
        }
        let done = match chunk.i_data {
            Some(i) => dir.add_idata(chunk, i, now),
            None => {
                dir.pending += chunk.payload.len();
                let f = Frag {
                    begin: chunk.begin,
                    end: chunk.end,
                    unordered: chunk.unordered,
                    stream: chunk.stream_id,
                    ppid: chunk.ppid,
                    ts_us: now,
                    data: chunk.payload.to_vec(),
                };
                dir.frags.insert(chunk.tsn, f);
                dir.complete_data(chunk.tsn)
            }
        };
        if let Some((stream, ppid, data)) = done {
            stats.reassembled += 1;
            stats.delivered += 1;
            out(SctpMessage {
                flow,
                meta: *meta,
                stream,
                ppid,
                data: &data,
            });
        }
        if dir.pending > cfg.max_pending_bytes {
            stats.dropped += dir.shrink_to(cfg.max_pending_bytes / 4 * 3);
        }
    }

    /// Drop the least recently active quarter of the directions (at least one): the
    /// smallest `(last, key)`. Selected on file and frame packed in one integer (the order
    /// of `PacketMeta` begins with them); only when that leaves a tie at the boundary (two
    /// directions last seen in one frame) on the whole `(last, key)`.
    fn evict(&mut self) {
        let pack = |m: &PacketMeta| (u64::from(m.file) << 48) | m.frame.min((1 << 48) - 1);
        let mut by_age: Vec<(u64, AssocKey)> =
            self.dirs.iter().map(|(k, d)| (pack(&d.last), *k)).collect();
        let n = (by_age.len() / 4).max(1).min(by_age.len());
        if n == 0 {
            return;
        }
        by_age.select_nth_unstable_by_key(n - 1, |e| e.0);
        let boundary = by_age.get(n - 1).map(|e| e.0);
        let tied = by_age
            .get(n..)
            .unwrap_or_default()
            .iter()
            .any(|e| Some(e.0) == boundary);
        if tied {
            let mut full: Vec<(PacketMeta, AssocKey)> =
                self.dirs.iter().map(|(k, d)| (d.last, *k)).collect();
            full.select_nth_unstable(n - 1);
            by_age = full.iter().map(|(m, k)| (pack(m), *k)).collect();
        }
        for (_, k) in by_age.iter().take(n) {
            if let Some(d) = self.dirs.remove(k) {
                self.stats.dropped += d.fragment_count();
                self.stats.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr};

    /// A real packet (magma-gx-gy-s6a-1ue.pcapng): one DATA chunk, B+E, PPID 46 (Diameter)
    /// carrying a Device-Watchdog-Request, with a correct CRC32c.
    const REAL: &str = "0f430f1cb59730b2434561f900030050b61ea9de0000022c0000002e0100004080000118000000004d8db8f39fbb2d5f000001084000000e737472696e670000000001284000000e737472696e670000000001164000000c60920884";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn flow() -> FlowKey {
        FlowKey {
            src: Endpoint {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port: 3868,
            },
            dst: Endpoint {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                port: 3868,
            },
        }
    }

    fn data(tsn: u32, stream_id: u16, begin: bool, end: bool, payload: &[u8]) -> DataChunk<'_> {
        DataChunk {
            unordered: false,
            begin,
            end,
            immediate: false,
            tsn,
            stream_id,
            ssn: 0,
            ppid: 46,
            i_data: None,
            payload,
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Got {
        frame: u64,
        stream: u16,
        ppid: u32,
        data: Vec<u8>,
    }

    struct Run {
        r: SctpReassembler,
        got: Vec<Got>,
    }

    impl Run {
        fn new(cfg: SctpConfig) -> Run {
            Run {
                r: SctpReassembler::new(cfg),
                got: Vec::new(),
            }
        }
        fn push(&mut self, frame: u64, vtag: u32, c: &DataChunk<'_>) {
            let meta = PacketMeta {
                file: 0,
                frame,
                ts_us: frame as i64 * 1_000_000,
            };
            let got = &mut self.got;
            self.r.push(&meta, flow(), vtag, c, &mut |m| {
                got.push(Got {
                    frame: m.meta.frame,
                    stream: m.stream,
                    ppid: m.ppid,
                    data: m.data.to_vec(),
                })
            });
        }
    }

    #[test]
    fn real_packet_parses_and_checksum_verifies() {
        let b = unhex(REAL);
        let p = SctpPacket::new_checked(&b).unwrap();
        assert!(p.verify_checksum());
        let (h, mut chunks) = SctpPacket::parse(&b).unwrap();
        assert_eq!((h.src_port, h.dst_port, h.vtag), (3907, 3868, 0xb59730b2));
        let Some(Ok(Chunk::Data(d))) = chunks.next() else {
            panic!("no DATA chunk")
        };
        assert!(d.begin && d.end && !d.unordered);
        assert_eq!(
            (d.tsn, d.stream_id, d.ssn, d.ppid),
            (0xb61ea9de, 0, 556, 46)
        );
        assert_eq!(d.payload.len(), 64);
        assert_eq!(&d.payload[..4], &[1, 0, 0, 0x40]); // Diameter v1, length 64
        assert!(chunks.next().is_none());
        // Emitting what was parsed gives the same bytes, checksum included.
        assert_eq!(SctpRepr::parse(&b).unwrap().emit(), b);
    }

    #[test]
    fn bundled_emit_parse_round_trip_with_padding() {
        let sack = [0u8, 0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0];
        let repr = SctpRepr {
            src_port: 2905,
            dst_port: 2905,
            vtag: 0x01020304,
            chunks: vec![
                Chunk::Other {
                    kind: CHUNK_SACK,
                    flags: 0,
                    value: &sack,
                },
                Chunk::Data(data(7, 1, true, true, b"abcde")),
                Chunk::Data(DataChunk {
                    unordered: true,
                    immediate: true,
                    ..data(8, 2, true, false, b"xy")
                }),
                Chunk::Data(DataChunk {
                    ppid: 0,
                    i_data: Some(IData { mid: 9, fsn: 3 }),
                    ..data(9, 3, false, true, b"idata")
                }),
                Chunk::Other {
                    kind: 4,
                    flags: 0,
                    value: b"hb!",
                },
            ],
        };
        let b = repr.emit();
        assert_eq!(b.len() % 4, 0);
        assert!(SctpPacket::new_checked(&b).unwrap().verify_checksum());
        assert_eq!(SctpRepr::parse(&b).unwrap(), repr);
        let mut corrupted = b.clone();
        corrupted[20] ^= 1;
        assert!(!SctpPacket::new_checked(&corrupted)
            .unwrap()
            .verify_checksum());
    }

    #[test]
    fn bad_chunk_length_yields_error_and_stops() {
        let repr = SctpRepr {
            src_port: 1,
            dst_port: 2,
            vtag: 3,
            chunks: vec![
                Chunk::Data(data(1, 0, true, true, b"abcd")),
                Chunk::Other {
                    kind: 6,
                    flags: 0,
                    value: b"",
                },
            ],
        };
        let good = repr.emit();
        for bad_len in [0u16, 3, 200] {
            let mut b = good.clone();
            b[34..36].copy_from_slice(&bad_len.to_be_bytes()); // second chunk at 12 + 20
            let (_, it) = SctpPacket::parse(&b).unwrap();
            let items: Vec<_> = it.collect();
            assert_eq!(items.len(), 2, "{items:?}");
            assert!(items[0].is_ok());
            assert_eq!(items[1].unwrap_err().offset, 34);
            assert!(SctpRepr::parse(&b).is_err());
        }
        // A DATA chunk too short to hold its fields.
        let mut b = good.clone();
        b[14..16].copy_from_slice(&12u16.to_be_bytes());
        let (_, mut it) = SctpPacket::parse(&b).unwrap();
        assert_eq!(
            it.next().unwrap().unwrap_err().reason,
            "DATA chunk shorter than 16 bytes"
        );
        assert!(it.next().is_none());
        assert!(SctpPacket::parse(&b[..11]).is_err());
        // A trailing partial chunk header.
        let mut b = good[..32].to_vec();
        b.extend_from_slice(&[6, 0]);
        let items: Vec<_> = SctpPacket::parse(&b).unwrap().1.collect();
        assert!(items[0].is_ok() && items[1].is_err());
    }

    #[test]
    fn fragmented_message_in_three_chunks_any_order() {
        let parts: [&[u8]; 3] = [b"first-", b"second-", b"third"];
        let orders = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        for order in orders {
            let mut run = Run::new(SctpConfig::default());
            let base = u32::MAX - 1; // the TSNs wrap: MAX-1, MAX, 0
            for (n, &i) in order.iter().enumerate() {
                let c = data(base.wrapping_add(i as u32), 4, i == 0, i == 2, parts[i]);
                run.push(10 + n as u64, 0xabc, &c);
            }
            assert_eq!(
                run.got,
                vec![Got {
                    frame: 12,
                    stream: 4,
                    ppid: 46,
                    data: b"first-second-third".to_vec()
                }],
                "order {order:?}"
            );
            assert_eq!(run.r.pending_bytes(), 0);
            let st = run.r.stats();
            assert_eq!((st.fragments, st.reassembled, st.delivered), (3, 1, 1));
        }
    }

    #[test]
    fn duplicate_tsns_are_delivered_once() {
        let mut run = Run::new(SctpConfig::default());
        let whole = data(100, 0, true, true, b"whole");
        run.push(1, 7, &whole);
        run.push(2, 7, &whole); // the same packet captured on the next hop
        let (a, b) = (
            data(101, 0, true, false, b"ab"),
            data(102, 0, false, true, b"cd"),
        );
        run.push(3, 7, &a);
        run.push(4, 7, &a);
        run.push(5, 7, &b);
        run.push(6, 7, &b);
        run.push(7, 7, &whole);
        assert_eq!(
            run.got.iter().map(|g| g.data.clone()).collect::<Vec<_>>(),
            vec![b"whole".to_vec(), b"abcd".to_vec()]
        );
        assert_eq!(run.r.stats().duplicates, 4);
        // Another verification tag is another association: same TSN is new there.
        run.push(8, 8, &whole);
        assert_eq!(run.got.len(), 3);
        // Far behind the window: taken as a late retransmission.
        run.push(9, 7, &data(100 + 2 * TSN_WINDOW, 0, true, true, b"ahead"));
        run.push(10, 7, &data(150, 0, true, true, b"late"));
        assert_eq!(run.got.last().unwrap().data, b"ahead");
    }

    #[test]
    fn bundled_data_chunks_each_delivered() {
        let repr = SctpRepr {
            src_port: 3868,
            dst_port: 3868,
            vtag: 42,
            chunks: vec![
                Chunk::Other {
                    kind: CHUNK_SACK,
                    flags: 0,
                    value: &[0; 12],
                },
                Chunk::Data(data(1, 0, true, true, b"one")),
                Chunk::Data(data(2, 1, true, true, b"two!")),
                Chunk::Data(data(3, 0, true, true, b"three")),
            ],
        };
        let bytes = repr.emit();
        let (h, chunks) = SctpPacket::parse(&bytes).unwrap();
        let mut run = Run::new(SctpConfig::default());
        for c in chunks {
            if let Chunk::Data(d) = c.unwrap() {
                run.push(1, h.vtag, &d);
            }
        }
        let got: Vec<(u16, Vec<u8>)> = run.got.iter().map(|g| (g.stream, g.data.clone())).collect();
        assert_eq!(
            got,
            vec![
                (0, b"one".to_vec()),
                (1, b"two!".to_vec()),
                (0, b"three".to_vec())
            ]
        );
    }

    #[test]
    fn interrupted_message_is_not_glued_to_the_next() {
        let mut run = Run::new(SctpConfig::default());
        run.push(1, 1, &data(10, 0, true, false, b"lost-start"));
        // TSN 11 (the end of that message) never arrives; the next message starts at 12.
        run.push(2, 1, &data(13, 0, false, true, b"B"));
        run.push(3, 1, &data(12, 0, true, false, b"A"));
        assert_eq!(run.got.len(), 1);
        assert_eq!(run.got[0].data, b"AB");
        assert_eq!(run.r.pending_bytes(), 10);
    }

    #[test]
    fn idata_fragments_reassembled_by_fsn() {
        let mut run = Run::new(SctpConfig::default());
        let frag = |tsn, mid, fsn: u32, end, p: &'static [u8]| DataChunk {
            ppid: if fsn == 0 { 5 } else { 0 },
            i_data: Some(IData { mid, fsn }),
            ..data(tsn, 2, fsn == 0, end, p)
        };
        // Two messages interleaved on one stream, fragments out of order.
        run.push(1, 9, &frag(3, 1, 2, true, b"3"));
        run.push(2, 9, &frag(4, 2, 0, false, b"x"));
        run.push(3, 9, &frag(1, 1, 0, false, b"1"));
        run.push(4, 9, &frag(5, 2, 1, true, b"y"));
        run.push(5, 9, &frag(2, 1, 1, false, b"2"));
        let got: Vec<(u64, u32, Vec<u8>)> = run
            .got
            .iter()
            .map(|g| (g.frame, g.ppid, g.data.clone()))
            .collect();
        assert_eq!(got, vec![(4, 5, b"xy".to_vec()), (5, 5, b"123".to_vec())]);
        assert_eq!(run.r.pending_bytes(), 0);
    }

    #[test]
    fn pending_bytes_bounded_and_stale_fragments_expire() {
        let cfg = SctpConfig {
            max_pending_bytes: 1000,
            fragment_timeout_us: 5_000_000,
            max_assocs: 16,
        };
        let mut run = Run::new(cfg);
        for i in 0..100u32 {
            // Only B fragments: none can complete.
            run.push(
                u64::from(i / 10),
                1,
                &data(i * 2, 0, true, false, &[0u8; 100]),
            );
            assert!(run.r.pending_bytes() <= 1000 + 100);
        }
        assert!(run.r.stats().dropped > 0);
        // 20 s later all that is left is stale and goes with the next fragment.
        run.push(30, 1, &data(1000, 0, true, false, b"new"));
        assert_eq!(run.r.pending_bytes(), 3);
    }

    proptest! {
        /// The window with its inline start answers every insert as the ring alone does,
        /// for TSN runs with small steps back and forth, jumps, wrap-around, and replays
        /// of TSNs seen earlier (retransmissions, near and far behind).
        #[test]
        fn tsn_window_equals_the_ring_alone(
            start in any::<u32>(),
            steps in proptest::collection::vec(
                prop_oneof![
                    6 => (-40i64..60).prop_map(Ok),
                    1 => (-5000i64..5000).prop_map(Ok),
                    1 => proptest::num::i64::ANY.prop_map(Ok),
                    3 => any::<proptest::sample::Index>().prop_map(Err),
                ],
                1..400,
            ),
        ) {
            let mut w = TsnWindow::new();
            let mut ring = Ring::new();
            let mut hi: Option<u32> = None;
            let mut tsn = start;
            let mut seen: Vec<u32> = Vec::new();
            for step in steps {
                let t = match step {
                    Ok(d) => {
                        tsn = tsn.wrapping_add(d as u32);
                        tsn
                    }
                    Err(i) if !seen.is_empty() => seen[i.index(seen.len())],
                    Err(_) => tsn,
                };
                seen.push(t);
                let want = match hi {
                    None => {
                        ring.set(t, true);
                        hi = Some(t);
                        true
                    }
                    Some(h) => {
                        let (new, h) = ring.insert(h, t);
                        hi = Some(h);
                        new
                    }
                };
                prop_assert_eq!(w.insert(t), want, "tsn {}", t);
            }
        }
    }

    #[test]
    fn association_cap_evicts_oldest() {
        let mut run = Run::new(SctpConfig {
            max_assocs: 3,
            ..SctpConfig::default()
        });
        for vtag in 0..10u32 {
            run.push(u64::from(vtag), vtag, &data(1, 0, true, false, b"frag"));
            assert!(run.r.assoc_count() <= 3);
        }
        let st = run.r.stats();
        assert_eq!((st.evicted, st.dropped), (7, 7));
    }

    /// The directions kept after an eviction are the ones with the largest `(last, key)`,
    /// also when several were last seen in the same frame (the packed selection ties).
    #[test]
    fn eviction_keeps_the_latest_by_last_and_key() {
        for per_frame in [1u32, 4, 16] {
            let mut run = Run::new(SctpConfig {
                max_assocs: 16,
                ..SctpConfig::default()
            });
            for vtag in 0..16u32 {
                run.push(
                    u64::from(vtag / per_frame),
                    vtag,
                    &data(1, 0, true, true, b"x"),
                );
            }
            let mut all: Vec<(PacketMeta, AssocKey)> =
                run.r.dirs.iter().map(|(k, d)| (d.last, *k)).collect();
            all.sort();
            run.push(100, 99, &data(1, 0, true, true, b"x"));
            let mut kept: Vec<AssocKey> = run.r.dirs.keys().copied().collect();
            kept.sort();
            let mut want: Vec<AssocKey> = all.iter().skip(4).map(|(_, k)| *k).collect();
            want.push(AssocKey {
                src_port: 3868,
                dst_port: 3868,
                vtag: 99,
            });
            want.sort();
            assert_eq!(kept, want, "{per_frame} directions per frame");
        }
    }

    fn chunk_strategy(
    ) -> impl Strategy<Value = (u8, bool, bool, bool, bool, u32, u16, u16, u32, Vec<u8>)> {
        (
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..40),
        )
    }

    proptest! {
        #[test]
        fn repr_round_trips(
            src_port: u16, dst_port: u16, vtag: u32,
            specs in prop::collection::vec(chunk_strategy(), 1..6),
            sack in prop::collection::vec(any::<u8>(), 0..30),
            sack_at in any::<prop::sample::Index>(),
        ) {
            let mut chunks: Vec<Chunk<'_>> = specs
                .iter()
                .map(|(kind, u, b, e, i, tsn, sid, ssn, ppid, payload)| {
                    let idata = *kind == 2;
                    let mut c = DataChunk {
                        unordered: *u, begin: *b, end: *e, immediate: *i, tsn: *tsn, stream_id: *sid,
                        ssn: *ssn, ppid: *ppid, i_data: None, payload,
                    };
                    if idata {
                        c.ssn = 0;
                        c.i_data = Some(IData { mid: *ppid ^ 0x5555, fsn: if *b { 0 } else { *tsn } });
                        if !*b {
                            c.ppid = 0;
                        }
                    }
                    Chunk::Data(c)
                })
                .collect();
            chunks.insert(sack_at.index(chunks.len() + 1), Chunk::Other { kind: CHUNK_SACK, flags: 0, value: &sack });
            let repr = SctpRepr { src_port, dst_port, vtag, chunks };
            let bytes = repr.emit();
            prop_assert!(SctpPacket::new_checked(&bytes).unwrap().verify_checksum());
            prop_assert_eq!(SctpRepr::parse(&bytes).unwrap(), repr);
        }

        #[test]
        fn reassembly_of_shuffled_fragments(
            msgs in prop::collection::vec(prop::collection::vec(prop::collection::vec(1u8..=255, 1..20), 1..5), 1..6),
            seed: u64,
            tsn0: u32,
        ) {
            // Messages on alternating streams, fragments numbered by consecutive TSNs, then
            // shuffled and partly duplicated.
            let mut chunks = Vec::new();
            let mut tsn = tsn0;
            for (m, frags) in msgs.iter().enumerate() {
                for (i, f) in frags.iter().enumerate() {
                    chunks.push(data(tsn, (m % 2) as u16, i == 0, i + 1 == frags.len(), f));
                    tsn = tsn.wrapping_add(1);
                }
            }
            let mut rng = seed;
            let mut order: Vec<usize> = (0..chunks.len()).collect();
            for i in (1..order.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (rng >> 33) as usize % (i + 1));
            }
            let dups: Vec<usize> = order.iter().copied().filter(|i| i % 3 == 0).collect();
            order.extend(dups);
            let mut run = Run::new(SctpConfig::default());
            for (n, i) in order.iter().enumerate() {
                run.push(n as u64, 77, &chunks[*i]);
            }
            let mut got: Vec<Vec<u8>> = run.got.iter().map(|g| g.data.clone()).collect();
            let mut want: Vec<Vec<u8>> = msgs.iter().map(|f| f.concat()).collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
            prop_assert_eq!(run.r.pending_bytes(), 0);
        }

        #[test]
        fn no_panic_on_random_input(
            bytes in prop::collection::vec(any::<u8>(), 0..120),
            chunks in prop::collection::vec(
                (any::<u8>(), 0u32..64, 0u16..3, 0u32..3, prop::collection::vec(any::<u8>(), 0..50), any::<u32>()),
                0..60,
            ),
        ) {
            if let Ok((_, it)) = SctpPacket::parse(&bytes) {
                for c in it.take(100) {
                    let _ = c;
                }
            }
            let _ = SctpRepr::parse(&bytes);
            let cfg = SctpConfig { max_pending_bytes: 200, fragment_timeout_us: 3, max_assocs: 2 };
            let mut r = SctpReassembler::new(cfg);
            for (n, (flags, tsn, sid, vtag, payload, x)) in chunks.iter().enumerate() {
                let idata = flags & 0x10 != 0;
                let c = DataChunk {
                    unordered: flags & FLAG_UNORDERED != 0,
                    begin: flags & FLAG_BEGIN != 0,
                    end: flags & FLAG_END != 0,
                    immediate: false,
                    tsn: *tsn,
                    stream_id: *sid,
                    ssn: 0,
                    ppid: *x,
                    i_data: idata.then_some(IData { mid: x % 4, fsn: x % 5 }),
                    payload,
                };
                let meta = PacketMeta { file: 0, frame: n as u64, ts_us: n as i64 };
                r.push(&meta, flow(), *vtag, &c, &mut |_| {});
                prop_assert!(r.pending_bytes() <= 2 * (200 + 50));
                prop_assert!(r.assoc_count() <= 2);
            }
        }
    }
}

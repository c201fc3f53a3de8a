//! TCP: a checked view over a segment, a [`TcpRepr`] with symmetric `parse`/`emit`, and a
//! per-direction [`TcpReassembler`] that turns captured segments into application messages.
//!
//! Message boundaries are the application's business (Diameter, GTP over TCP): the
//! reassembler only orders bytes and asks a [`Framer`] where messages start and end. It
//! is built for captures, not for a live stack: it never acknowledges, it must cope with
//! streams that start mid-way, and a hole that never fills (a packet the capture missed)
//! must not stall a stream forever.

use crate::error::{DecodeError, Layer};
use crate::flow::{FlowKey, PacketMeta};
use crate::wire::{be16_or_zero as be16, be32_or_zero as be32};
use ahash::AHashMap as HashMap;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Bytes an out-of-order segment is charged beyond its payload (map entry, allocation).
const SEGMENT_OVERHEAD: usize = 64;
/// IP protocol number of TCP (pseudo-header).
const PROTOCOL: u8 = 6;

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
        checksum(src, dst, PROTOCOL, self.buffer.as_ref()) == 0
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
        let sum = checksum(src, dst, PROTOCOL, &b);
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

/// What a [`Framer`] makes of the start of a reassembled byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Possibly a message, but more bytes are needed to tell or to complete it.
    Incomplete,
    /// The first message is this many bytes long (0 is taken as `Invalid`; more than the
    /// buffer holds as `Incomplete`).
    Message(usize),
    /// No message starts here: the reassembler skips a byte and calls [`Framer::resync`].
    Invalid,
}

/// Application message framing over a TCP byte stream (Diameter, GTP over TCP, ...).
pub trait Framer {
    /// How long the message at the start of `buf` is.
    fn frame(&self, buf: &[u8]) -> Framing;
    /// The offset of the first plausible message start in `buf` (0 allowed), after a gap or
    /// garbage. Return a candidate also where the bytes from it are too few to judge, or
    /// a message split across segments is lost; `None` means all of `buf` is garbage.
    fn resync(&self, buf: &[u8]) -> Option<usize>;
}

/// What reassembly yields, in stream order per flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpEvent<'a> {
    /// One application message; `meta` is that of the segment that completed it.
    Message {
        flow: FlowKey,
        meta: PacketMeta,
        data: &'a [u8],
    },
    /// `missing` stream bytes were never captured; reassembly went on past them.
    Gap {
        flow: FlowKey,
        meta: PacketMeta,
        missing: u64,
    },
    /// `bytes` were dropped: garbage before a resynchronised message start, a message cut
    /// by a gap or by the end of the flow, or one longer than the buffer bound.
    Skipped {
        flow: FlowKey,
        meta: PacketMeta,
        bytes: u64,
    },
}

/// Bounds of a [`TcpReassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Bytes one direction may hold (unframed plus out-of-order); also the largest message.
    pub max_buffered: usize,
    /// A hole is declared a gap once this many later segments arrived on its flow...
    pub max_hole_segments: u32,
    /// ...or once it is this old in capture time (µs).
    pub hole_timeout_us: i64,
    /// Directions tracked at once; beyond it the least recently active are evicted.
    pub max_flows: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered: 1 << 20,
            max_hole_segments: 256,
            hole_timeout_us: 10_000_000,
            max_flows: 65_536,
        }
    }
}

/// Counters of a [`TcpReassembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub segments: u64,
    pub messages: u64,
    /// Segments carrying only (or partly) bytes already received.
    pub retransmissions: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub skipped_bytes: u64,
    /// Flows dropped (with whatever they buffered) to respect `max_flows`.
    pub evicted: u64,
    /// Flows ended by FIN or RST.
    pub closed: u64,
}

/// An unfilled hole before the out-of-order data of a stream.
#[derive(Debug, Clone, Copy)]
struct Hole {
    since_us: i64,
    segments: u32,
}

/// One direction of a connection. Stream positions are kept as 64-bit offsets from the
/// first byte seen, so sequence wrap-around is dealt with once, when a segment comes in.
#[derive(Debug)]
struct Stream {
    /// Sequence number of stream offset 0 and whether a SYN gave it.
    start_seq: u32,
    from_syn: bool,
    /// Offset and sequence number of the next byte expected (end of contiguous data).
    next_abs: u64,
    next_seq: u32,
    /// Contiguous bytes not yet framed; they end at `next_abs`.
    buf: Vec<u8>,
    /// Segments beyond `next_abs`, by offset; they may overlap.
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    hole: Option<Hole>,
    /// The next framing must start with [`Framer::resync`] (after a gap or garbage).
    resync: bool,
    last: PacketMeta,
}

/// What the framing loop needs besides the bytes.
struct Ctx<'f, 'o> {
    flow: FlowKey,
    meta: PacketMeta,
    limit: usize,
    framer: &'f dyn Framer,
    out: &'o mut dyn FnMut(TcpEvent<'_>),
}

/// Frame as many messages as `data` holds; returns the bytes consumed (delivered or
/// skipped). `resync` carries the resynchronising state across calls.
fn frame_loop(data: &[u8], resync: &mut bool, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) -> usize {
    let (flow, meta, limit, framer) = (cx.flow, cx.meta, cx.limit, cx.framer);
    let out = &mut *cx.out;
    let mut pos = 0usize;
    let mut skipped = 0u64;
    let flush = |skipped: &mut u64, stats: &mut TcpStats, out: &mut dyn FnMut(TcpEvent<'_>)| {
        if *skipped > 0 {
            stats.skipped_bytes += *skipped;
            out(TcpEvent::Skipped {
                flow,
                meta,
                bytes: *skipped,
            });
            *skipped = 0;
        }
    };
    loop {
        let rest = data.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        if *resync {
            match framer.resync(rest) {
                Some(k) if k < rest.len() => {
                    skipped += k as u64;
                    pos += k;
                    *resync = false;
                    continue;
                }
                _ => {
                    skipped += rest.len() as u64;
                    pos = data.len();
                    break;
                }
            }
        }
        let wait_for_more = match framer.frame(rest) {
            Framing::Message(n) if n > 0 && n <= rest.len() => {
                flush(&mut skipped, stats, out);
                stats.messages += 1;
                out(TcpEvent::Message {
                    flow,
                    meta,
                    data: &rest[..n],
                });
                pos += n;
                continue;
            }
            // Longer than anything we may buffer: not a message we can deliver.
            Framing::Message(n) => n > 0 && n <= limit && rest.len() < limit,
            Framing::Incomplete => rest.len() < limit,
            Framing::Invalid => false,
        };
        if wait_for_more {
            break;
        }
        skipped += 1;
        pos += 1;
        *resync = true;
    }
    flush(&mut skipped, stats, out);
    pos
}

impl Stream {
    fn new(start_seq: u32, from_syn: bool, meta: PacketMeta) -> Stream {
        Stream {
            start_seq,
            from_syn,
            next_abs: 0,
            next_seq: start_seq,
            buf: Vec::new(),
            ooo: BTreeMap::new(),
            ooo_bytes: 0,
            hole: None,
            resync: false,
            last: meta,
        }
    }

    fn advance(&mut self, n: usize) {
        self.next_abs += n as u64;
        self.next_seq = self.next_seq.wrapping_add(n as u32);
    }

    fn buffered(&self) -> usize {
        self.buf.len() + self.ooo_bytes
    }

    /// Frame what `buf` holds and drop the consumed prefix.
    fn frame_buf(&mut self, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) {
        let used = frame_loop(&self.buf, &mut self.resync, stats, cx);
        self.buf.drain(..used.min(self.buf.len()));
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
    }

    /// Move out-of-order segments that now touch `next_abs` into `buf`.
    fn drain_ooo(&mut self) {
        while let Some(entry) = self.ooo.first_entry() {
            let at = *entry.key();
            if at > self.next_abs {
                break;
            }
            let seg = entry.remove();
            self.ooo_bytes -= seg.len();
            let end = at + seg.len() as u64;
            if end <= self.next_abs {
                continue;
            }
            let skip = (self.next_abs - at) as usize;
            let fresh = seg.get(skip..).unwrap_or_default();
            self.buf.extend_from_slice(fresh);
            self.advance(fresh.len());
        }
    }

    /// Give up on the hole before the first out-of-order segment: report it, drop the
    /// message it cut, and go on (resynchronising) from the data after it.
    fn declare_gap(&mut self, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) {
        let Some((&first, _)) = self.ooo.first_key_value() else {
            return;
        };
        let missing = first.saturating_sub(self.next_abs);
        if !self.buf.is_empty() {
            let bytes = self.buf.len() as u64;
            stats.skipped_bytes += bytes;
            (cx.out)(TcpEvent::Skipped {
                flow: cx.flow,
                meta: cx.meta,
                bytes,
            });
            self.buf.clear();
        }
        stats.gaps += 1;
        stats.gap_bytes += missing;
        (cx.out)(TcpEvent::Gap {
            flow: cx.flow,
            meta: cx.meta,
            missing,
        });
        self.next_abs += missing;
        self.next_seq = self.next_seq.wrapping_add(missing as u32);
        self.resync = true;
        self.hole = None;
        self.drain_ooo();
        self.frame_buf(stats, cx);
    }

    /// Declare gaps while the hole is past its bounds (bytes, later segments, age).
    fn check_hole(&mut self, cfg: &TcpConfig, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) {
        loop {
            if self.ooo.is_empty() {
                self.hole = None;
                return;
            }
            let now = cx.meta.ts_us;
            let h = *self.hole.get_or_insert(Hole {
                since_us: now,
                segments: 0,
            });
            // Each held segment is charged some overhead, so that a flood of tiny
            // segments is bounded too.
            let held = self.buffered() + self.ooo.len() * SEGMENT_OVERHEAD;
            let over = held > cfg.max_buffered
                || h.segments > cfg.max_hole_segments
                || now.saturating_sub(h.since_us) > cfg.hole_timeout_us;
            if !over {
                return;
            }
            self.declare_gap(stats, cx);
        }
    }

    /// Take in the payload of a segment whose first byte has sequence number `seq`.
    fn ingest(
        &mut self,
        cfg: &TcpConfig,
        stats: &mut TcpStats,
        seq: u32,
        payload: &[u8],
        cx: &mut Ctx<'_, '_>,
    ) {
        if let Some(h) = self.hole.as_mut() {
            h.segments = h.segments.saturating_add(1);
        }
        let delta = i64::from(seq.wrapping_sub(self.next_seq) as i32);
        let next = self.next_abs as i64;
        let start = next + delta;
        let end = start + payload.len() as i64;
        if end <= next {
            stats.retransmissions += 1;
        } else {
            let (start, fresh) = if start < next {
                stats.retransmissions += 1;
                (
                    next,
                    payload.get((next - start) as usize..).unwrap_or_default(),
                )
            } else {
                (start, payload)
            };
            if start == next {
                if self.buf.is_empty() && self.ooo.is_empty() {
                    // Fast path: frame straight from the segment, copy only a partial tail.
                    self.advance(fresh.len());
                    let used = frame_loop(fresh, &mut self.resync, stats, cx);
                    self.buf
                        .extend_from_slice(fresh.get(used..).unwrap_or_default());
                } else {
                    self.buf.extend_from_slice(fresh);
                    self.advance(fresh.len());
                    self.drain_ooo();
                    self.frame_buf(stats, cx);
                }
            } else {
                stats.out_of_order += 1;
                let at = start as u64;
                let known = self.ooo.get(&at).map_or(0, Vec::len);
                if known >= fresh.len() {
                    stats.retransmissions += 1;
                } else {
                    self.ooo_bytes = self.ooo_bytes - known + fresh.len();
                    self.ooo.insert(at, fresh.to_vec());
                }
            }
        }
        self.check_hole(cfg, stats, cx);
    }

    /// End of the flow (FIN, RST, end of capture): deliver what lies past any holes and
    /// report the unfinished tail.
    fn finish(&mut self, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) {
        while !self.ooo.is_empty() {
            self.declare_gap(stats, cx);
        }
        if !self.buf.is_empty() {
            let bytes = self.buf.len() as u64;
            stats.skipped_bytes += bytes;
            (cx.out)(TcpEvent::Skipped {
                flow: cx.flow,
                meta: cx.meta,
                bytes,
            });
            self.buf.clear();
        }
    }
}

/// Per-direction TCP stream reassembly into framed application messages.
#[derive(Debug, Default)]
pub struct TcpReassembler {
    cfg: TcpConfig,
    flows: HashMap<FlowKey, Stream>,
    stats: TcpStats,
}

impl TcpReassembler {
    pub fn new(cfg: TcpConfig) -> TcpReassembler {
        TcpReassembler {
            cfg,
            flows: HashMap::new(),
            stats: TcpStats::default(),
        }
    }

    pub fn stats(&self) -> TcpStats {
        self.stats
    }

    /// Directions currently tracked.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Bytes held for `flow` (unframed plus out-of-order).
    pub fn buffered(&self, flow: &FlowKey) -> usize {
        self.flows.get(flow).map_or(0, Stream::buffered)
    }

    /// Feed one captured segment of direction `flow`; messages, gaps and skips are passed
    /// to `out` in stream order.
    pub fn push(
        &mut self,
        meta: &PacketMeta,
        flow: FlowKey,
        seg: &TcpRepr,
        payload: &[u8],
        framer: &dyn Framer,
        out: &mut dyn FnMut(TcpEvent<'_>),
    ) {
        self.stats.segments += 1;
        let syn = seg.flags.contains(TcpFlags::SYN);
        let closing = seg.flags.contains(TcpFlags::FIN) || seg.flags.contains(TcpFlags::RST);
        // A SYN's own sequence number is not a data byte; data in a SYN starts after it.
        let data_seq = if syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let mut cx = Ctx {
            flow,
            meta: *meta,
            limit: self.cfg.max_buffered,
            framer,
            out,
        };

        // A SYN with another ISN on a known key is a new connection: close the old one.
        if syn {
            if let Some(mut old) = self.flows.remove(&flow) {
                if old.from_syn && old.start_seq == data_seq {
                    self.flows.insert(flow, old);
                } else {
                    cx.meta = old.last;
                    old.finish(&mut self.stats, &mut cx);
                    cx.meta = *meta;
                    self.stats.closed += 1;
                }
            }
        }
        if !self.flows.contains_key(&flow) {
            if payload.is_empty() && !syn {
                return;
            }
            if self.flows.len() >= self.cfg.max_flows.max(1) {
                self.evict();
            }
            self.flows.insert(flow, Stream::new(data_seq, syn, *meta));
        }
        let Some(stream) = self.flows.get_mut(&flow) else {
            return;
        };
        stream.last = *meta;
        if !payload.is_empty() {
            stream.ingest(&self.cfg, &mut self.stats, data_seq, payload, &mut cx);
        }
        if closing {
            stream.finish(&mut self.stats, &mut cx);
            self.flows.remove(&flow);
            self.stats.closed += 1;
        }
    }

    /// End of input: every flow gives up its holes and reports its unfinished tail, in
    /// order of last activity.
    pub fn finish(&mut self, framer: &dyn Framer, out: &mut dyn FnMut(TcpEvent<'_>)) {
        let mut flows: Vec<(FlowKey, Stream)> = self.flows.drain().collect();
        flows.sort_by_key(|(k, s)| (s.last, *k));
        for (flow, mut s) in flows {
            let mut cx = Ctx {
                flow,
                meta: s.last,
                limit: self.cfg.max_buffered,
                framer,
                out: &mut *out,
            };
            s.finish(&mut self.stats, &mut cx);
        }
    }

    /// Drop the least recently active eighth of the flows (at least one), so that a full
    /// table costs one sort per many new flows rather than a scan per flow.
    fn evict(&mut self) {
        let mut by_age: Vec<(PacketMeta, FlowKey)> =
            self.flows.iter().map(|(k, s)| (s.last, *k)).collect();
        let n = (by_age.len() / 8).max(1).min(by_age.len());
        if n == 0 {
            return;
        }
        by_age.select_nth_unstable(n - 1);
        for (_, k) in by_age.iter().take(n) {
            self.flows.remove(k);
            self.stats.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Test framing: `0xA5`, a u16 total length, then the body (bodies never hold 0xA5).
    struct TestFramer;

    impl Framer for TestFramer {
        fn frame(&self, buf: &[u8]) -> Framing {
            match buf {
                [] => Framing::Incomplete,
                [m, ..] if *m != 0xA5 => Framing::Invalid,
                [_, h, l, ..] => {
                    let n = usize::from(u16::from_be_bytes([*h, *l]));
                    if n < 3 {
                        Framing::Invalid
                    } else {
                        Framing::Message(n)
                    }
                }
                _ => Framing::Incomplete,
            }
        }
        fn resync(&self, buf: &[u8]) -> Option<usize> {
            buf.iter().position(|&b| b == 0xA5)
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Msg(Vec<u8>),
        Gap(u64),
        Skip(u64),
    }

    fn flow() -> FlowKey {
        FlowKey {
            src: Endpoint {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port: 40000,
            },
            dst: Endpoint {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                port: 3868,
            },
        }
    }

    /// A test message: id selects the body byte (never 0xA5), len the total length.
    fn msg(id: u8, len: u8) -> Vec<u8> {
        let len = len.max(3);
        let mut m = vec![0xA5, 0, len];
        m.resize(usize::from(len), b'a' + id % 26);
        m
    }

    fn seg(seq: u32, flags: TcpFlags) -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 3868,
            seq,
            ack: 1,
            flags,
            window: 1000,
            urgent: 0,
        }
    }

    /// Cut `stream` (first byte at `seq0`) at the given points into (seq, bytes).
    fn cut(stream: &[u8], seq0: u32, points: &[usize]) -> Vec<(u32, Vec<u8>)> {
        let mut pts: Vec<usize> = points.iter().map(|p| p % (stream.len() + 1)).collect();
        pts.push(0);
        pts.push(stream.len());
        pts.sort_unstable();
        pts.dedup();
        pts.windows(2)
            .map(|w| (seq0.wrapping_add(w[0] as u32), stream[w[0]..w[1]].to_vec()))
            .collect()
    }

    struct Run {
        r: TcpReassembler,
        ev: Vec<Ev>,
        frames: Vec<u64>,
        frame: u64,
    }

    impl Run {
        fn new(cfg: TcpConfig) -> Run {
            Run {
                r: TcpReassembler::new(cfg),
                ev: Vec::new(),
                frames: Vec::new(),
                frame: 0,
            }
        }
        fn push_flags(&mut self, seq: u32, flags: TcpFlags, payload: &[u8]) {
            self.frame += 1;
            let meta = PacketMeta {
                file: 0,
                frame: self.frame,
                ts_us: self.frame as i64 * 1000,
            };
            let (ev, frames) = (&mut self.ev, &mut self.frames);
            self.r.push(
                &meta,
                flow(),
                &seg(seq, flags),
                payload,
                &TestFramer,
                &mut |e| match e {
                    TcpEvent::Message { data, meta, .. } => {
                        ev.push(Ev::Msg(data.to_vec()));
                        frames.push(meta.frame);
                    }
                    TcpEvent::Gap { missing, .. } => ev.push(Ev::Gap(missing)),
                    TcpEvent::Skipped { bytes, .. } => ev.push(Ev::Skip(bytes)),
                },
            );
        }
        fn push(&mut self, seq: u32, payload: &[u8]) {
            self.push_flags(seq, TcpFlags::ACK | TcpFlags::PSH, payload);
        }
        fn finish(&mut self) {
            let ev = &mut self.ev;
            self.r.finish(&TestFramer, &mut |e| match e {
                TcpEvent::Message { data, .. } => ev.push(Ev::Msg(data.to_vec())),
                TcpEvent::Gap { missing, .. } => ev.push(Ev::Gap(missing)),
                TcpEvent::Skipped { bytes, .. } => ev.push(Ev::Skip(bytes)),
            });
        }
    }

    fn msgs(ms: &[Vec<u8>]) -> Vec<Ev> {
        ms.iter().cloned().map(Ev::Msg).collect()
    }

    #[test]
    fn repr_round_trip_with_checksum_v4_v6() {
        let r = TcpRepr {
            src_port: 3868,
            dst_port: 51000,
            seq: 0xdead_beef,
            ack: 7,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65535,
            urgent: 0,
        };
        let v4 = (
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
        );
        let v6 = (
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        );
        for (src, dst) in [v4, v6] {
            for payload in [&b""[..], b"odd", b"even"] {
                let bytes = r.emit(src, dst, payload);
                let (back, p) = TcpRepr::parse(&bytes).unwrap();
                assert_eq!((back, p), (r, payload));
                let view = TcpPacket::new_checked(&bytes[..]).unwrap();
                assert!(view.verify_checksum(src, dst));
                assert!(!view.verify_checksum(dst, IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
            }
        }
    }

    #[test]
    fn known_checksum() {
        // SYN 10.0.0.1:40000 -> 10.0.0.2:3868, seq 1, computed independently (RFC 1071 sum).
        let r = TcpRepr {
            src_port: 40000,
            dst_port: 3868,
            seq: 1,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 0,
            urgent: 0,
        };
        let b = r.emit(flow().src.addr, flow().dst.addr, &[]);
        // words: 0a00 0001 0a00 0002 0006 0014 | 9c40 0f1c 0000 0001 0000 0000 5002 0000 0000 0000
        let sum: u32 = [
            0x0a00u32, 1, 0x0a00, 2, 6, 0x14, 0x9c40, 0x0f1c, 0, 1, 0, 0, 0x5002, 0, 0, 0,
        ]
        .iter()
        .sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!(u16::from_be_bytes([b[16], b[17]]), !(folded as u16));
    }

    #[test]
    fn parse_skips_options_and_rejects_bad_offsets() {
        let r = seg(5, TcpFlags::ACK);
        let mut b = r.emit(flow().src.addr, flow().dst.addr, b"");
        b[12] = 8 << 4; // 12 bytes of options
        b.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        b.extend_from_slice(b"data");
        let (back, p) = TcpRepr::parse(&b).unwrap();
        assert_eq!(back, r);
        assert_eq!(p, b"data");
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().options().len(), 12);

        assert_eq!(
            TcpRepr::parse(&b[..19]).unwrap_err().reason,
            "segment shorter than the 20-byte header"
        );
        let mut bad = b.clone();
        bad[12] = 4 << 4;
        assert_eq!(TcpRepr::parse(&bad).unwrap_err().offset, 12);
        bad[12] = 15 << 4;
        assert!(TcpRepr::parse(&bad).is_err());
    }

    #[test]
    fn three_messages_in_one_segment() {
        let ms = [msg(0, 10), msg(1, 20), msg(2, 3)];
        let mut run = Run::new(TcpConfig::default());
        run.push(100, &ms.concat());
        assert_eq!(run.ev, msgs(&ms));
        assert_eq!(run.r.buffered(&flow()), 0);
    }

    #[test]
    fn message_split_over_three_segments() {
        let ms = [msg(0, 100), msg(1, 7)];
        let stream = ms.concat();
        let mut run = Run::new(TcpConfig::default());
        for (seq, p) in cut(&stream, 1000, &[1, 40]) {
            run.push(seq, &p);
        }
        assert_eq!(run.ev, msgs(&ms));
        // Both messages are completed by the third segment.
        assert_eq!(run.frames, vec![3, 3]);
    }

    #[test]
    fn data_in_syn_counts() {
        let mut run = Run::new(TcpConfig::default());
        let m = msg(3, 12);
        run.push_flags(7, TcpFlags::SYN, &m);
        run.push(8, &m); // retransmission of the SYN's data as a plain segment
        run.push(8 + 12, &msg(4, 5));
        assert_eq!(run.ev, msgs(&[m, msg(4, 5)]));
        assert_eq!(run.r.stats().retransmissions, 1);
    }

    #[test]
    fn mid_stream_start_resyncs() {
        let mut run = Run::new(TcpConfig::default());
        let m1 = msg(0, 30);
        let m2 = msg(1, 8);
        let stream = [&m1[12..], &m2[..]].concat(); // capture starts inside m1
        run.push(5000, &stream);
        assert_eq!(run.ev, vec![Ev::Skip(18), Ev::Msg(m2)]);
    }

    #[test]
    fn fin_and_rst_free_the_flow() {
        let mut run = Run::new(TcpConfig::default());
        run.push_flags(0, TcpFlags::SYN, b"");
        assert_eq!(run.r.flow_count(), 1);
        run.push_flags(1, TcpFlags::FIN | TcpFlags::ACK, &msg(0, 9));
        assert_eq!(run.r.flow_count(), 0);
        assert_eq!(run.ev, msgs(&[msg(0, 9)]));
        run.push(50, &msg(1, 4)[..2]);
        run.push_flags(52, TcpFlags::RST, b"");
        assert_eq!(run.r.flow_count(), 0);
        assert_eq!(run.ev.last(), Some(&Ev::Skip(2)));
        assert_eq!(run.r.stats().closed, 2);
    }

    #[test]
    fn gap_then_resync() {
        let cfg = TcpConfig {
            max_hole_segments: 2,
            ..TcpConfig::default()
        };
        let ms: Vec<Vec<u8>> = (0..6).map(|i| msg(i, 20)).collect();
        let stream = ms.concat();
        // Segments: [0..30) [30..50) lost, [50..70) [70..90) [90..110) [110..120)
        let segs = cut(&stream, 0, &[30, 50, 70, 90, 110]);
        let mut run = Run::new(cfg);
        for (i, (seq, p)) in segs.iter().enumerate() {
            if i != 1 {
                run.push(*seq, p);
            }
        }
        // m0 delivered; m1's first 10 bytes dropped; 20 bytes lost (m1's tail, m2's head);
        // m2's tail is not a message start (10 bytes skipped); then m3.. delivered.
        assert_eq!(
            run.ev,
            vec![
                Ev::Msg(ms[0].clone()),
                Ev::Skip(10),
                Ev::Gap(20),
                Ev::Skip(10),
                Ev::Msg(ms[3].clone()),
                Ev::Msg(ms[4].clone()),
                Ev::Msg(ms[5].clone()),
            ]
        );
        let st = run.r.stats();
        assert_eq!((st.gaps, st.gap_bytes), (1, 20));
    }

    #[test]
    fn hole_times_out_in_capture_time() {
        let cfg = TcpConfig {
            hole_timeout_us: 1500,
            ..TcpConfig::default()
        };
        let mut run = Run::new(cfg);
        let (a, c) = (msg(0, 10), msg(2, 10));
        run.push(0, &a);
        run.push(20, &c); // msg 1 (offset 10..20) missing; frame 2 at 2 ms
        assert_eq!(run.ev, msgs(std::slice::from_ref(&a)));
        run.push(20, &c); // frame 3 at 3 ms: only 1 ms old, still waiting
        assert_eq!(run.ev.len(), 1);
        run.push(30, &msg(3, 10)); // frame 4 at 4 ms: 2 ms > 1.5 ms
        assert_eq!(
            run.ev,
            vec![Ev::Msg(a), Ev::Gap(10), Ev::Msg(c), Ev::Msg(msg(3, 10))]
        );
    }

    #[test]
    fn seq_wraps_around() {
        let isn = u32::MAX - 25;
        let ms: Vec<Vec<u8>> = (0..5).map(|i| msg(i, 15)).collect();
        let stream = ms.concat();
        let segs = cut(&stream, isn.wrapping_add(1), &[7, 22, 40, 41, 60]);
        let mut run = Run::new(TcpConfig::default());
        run.push_flags(isn, TcpFlags::SYN, b"");
        // Deliver out of order across the wrap: last first, then the rest.
        let (last, rest) = segs.split_last().unwrap();
        run.push(last.0, &last.1);
        for (seq, p) in rest.iter().rev() {
            run.push(*seq, p);
        }
        assert_eq!(run.ev, msgs(&ms));
    }

    #[test]
    fn memory_bound_respected() {
        let cfg = TcpConfig {
            max_buffered: 1000,
            max_hole_segments: 10_000,
            ..TcpConfig::default()
        };
        let mut run = Run::new(cfg);
        run.push(0, &msg(0, 10));
        // A hole at 10..20, then 100 segments of 50 bytes beyond it.
        let mut max_seen = 0;
        for i in 0..100u32 {
            run.push(20 + i * 50, &[b'z'; 50]);
            max_seen = max_seen.max(run.r.buffered(&flow()));
        }
        assert!(max_seen <= 1000, "buffered {max_seen}");
        assert!(run.r.stats().gaps >= 1);

        // A framer-announced message longer than the bound is skipped, not buffered forever.
        let mut run = Run::new(TcpConfig {
            max_buffered: 100,
            ..TcpConfig::default()
        });
        run.push(0, &[0xA5, 0x10, 0x00]); // claims 4096 bytes
        for i in 0..10u32 {
            run.push(3 + i * 50, &[b'q'; 50]);
            assert!(run.r.buffered(&flow()) <= 100);
        }
        assert!(run.ev.iter().all(|e| matches!(e, Ev::Skip(_))));
        assert_eq!(run.r.stats().skipped_bytes, 503);
    }

    #[test]
    fn flow_cap_evicts_oldest() {
        let mut r = TcpReassembler::new(TcpConfig {
            max_flows: 4,
            ..TcpConfig::default()
        });
        let mut out = |_: TcpEvent<'_>| {};
        for port in 0..10u16 {
            let mut f = flow();
            f.src.port = port;
            let meta = PacketMeta {
                file: 0,
                frame: u64::from(port),
                ts_us: i64::from(port),
            };
            r.push(
                &meta,
                f,
                &seg(0, TcpFlags::ACK),
                &[0xA5, 0],
                &TestFramer,
                &mut out,
            );
            assert!(r.flow_count() <= 4);
        }
        assert_eq!(r.stats().evicted, 6);
        let mut newest = flow();
        newest.src.port = 9;
        assert_eq!(r.buffered(&newest), 2);
    }

    #[test]
    fn finish_delivers_past_holes() {
        let mut run = Run::new(TcpConfig::default());
        run.push(0, &msg(0, 10));
        run.push(20, &[msg(2, 10), msg(3, 6)[..4].to_vec()].concat());
        assert_eq!(run.ev.len(), 1);
        run.finish();
        assert_eq!(
            run.ev,
            vec![
                Ev::Msg(msg(0, 10)),
                Ev::Gap(10),
                Ev::Msg(msg(2, 10)),
                Ev::Skip(4)
            ]
        );
        assert_eq!(run.r.flow_count(), 0);
    }

    fn messages_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec((0u8..26, 3u8..120), 1..12)
            .prop_map(|v| v.into_iter().map(|(id, len)| msg(id, len)).collect())
    }

    proptest! {
        #[test]
        fn repr_round_trips(
            src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, window: u16, urgent: u16,
            payload in prop::collection::vec(any::<u8>(), 0..64),
            v6: bool, a: [u8; 16], b: [u8; 16],
        ) {
            let r = TcpRepr { src_port, dst_port, seq, ack, flags: TcpFlags(flags), window, urgent };
            let (src, dst) = if v6 {
                (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
            } else {
                (IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            };
            let bytes = r.emit(src, dst, &payload);
            let (back, p) = TcpRepr::parse(&bytes).unwrap();
            prop_assert_eq!(back, r);
            prop_assert_eq!(p, &payload[..]);
            prop_assert!(TcpPacket::new_checked(&bytes[..]).unwrap().verify_checksum(src, dst));
        }

        #[test]
        fn shuffled_and_duplicated_segments_give_each_message_once_in_order(
            ms in messages_strategy(),
            points in prop::collection::vec(any::<usize>(), 0..20),
            retrans in prop::collection::vec((any::<usize>(), any::<usize>()), 0..8),
            order in any::<u64>(),
            isn: u32,
            syn: bool,
        ) {
            let stream = ms.concat();
            let first = if syn { isn.wrapping_add(1) } else { isn };
            let mut segs = cut(&stream, first, &points);
            // Overlapping retransmissions: arbitrary sub-ranges of the stream.
            for (a, b) in retrans {
                let (a, b) = (a % stream.len(), b % stream.len());
                let (lo, hi) = (a.min(b), a.max(b) + 1);
                segs.push((first.wrapping_add(lo as u32), stream[lo..hi].to_vec()));
            }
            // A deterministic shuffle, keeping the first segment first (the stream start
            // must be seen first when there is no SYN).
            let mut rng = order;
            for i in (2..segs.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = 1 + (rng >> 33) as usize % i;
                segs.swap(i, j);
            }
            let mut run = Run::new(TcpConfig::default());
            if syn {
                run.push_flags(isn, TcpFlags::SYN, b"");
            }
            for (seq, p) in &segs {
                run.push(*seq, p);
            }
            prop_assert_eq!(run.ev.clone(), msgs(&ms));
            prop_assert_eq!(run.r.buffered(&flow()), 0);
        }

        #[test]
        fn no_panic_on_random_input(
            bytes in prop::collection::vec(any::<u8>(), 0..80),
            segs in prop::collection::vec(
                (any::<u32>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..200), 0u16..3),
                0..40,
            ),
        ) {
            let _ = TcpRepr::parse(&bytes);
            if let Ok(p) = TcpPacket::new_checked(&bytes[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(flow().src.addr, flow().dst.addr));
            }
            let cfg = TcpConfig { max_buffered: 300, max_hole_segments: 5, hole_timeout_us: 3000, max_flows: 2 };
            let mut r = TcpReassembler::new(cfg);
            for (i, (seq, flags, payload, port)) in segs.iter().enumerate() {
                let mut f = flow();
                f.src.port = *port;
                let meta = PacketMeta { file: 0, frame: i as u64, ts_us: i as i64 * 1000 };
                let mut total = 0usize;
                r.push(&meta, f, &seg(*seq % 1000, TcpFlags(*flags)), payload, &TestFramer, &mut |e| {
                    if let TcpEvent::Message { data, .. } = e {
                        total += data.len();
                    }
                });
                prop_assert!(r.buffered(&f) <= 300 + 200);
                prop_assert!(r.flow_count() <= 2);
            }
            r.finish(&TestFramer, &mut |_| {});
        }
    }
}

//! Per-direction TCP stream reassembly: segments ordered into a byte stream, cut into application messages by a [`Framer`], bounded in bytes, flows and hole time.

use crate::flow::{FlowKey, PacketMeta};

use super::*;
use ahash::AHashMap as HashMap;
use std::collections::BTreeMap;

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
    /// Each with the packet it came in, the time its bytes are complete from once the
    /// hole before it is declared a gap.
    ooo: BTreeMap<u64, (Vec<u8>, PacketMeta)>,
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
    /// No data taken in yet.
    fn untouched(&self) -> bool {
        self.next_abs == 0 && self.buf.is_empty() && self.ooo.is_empty()
    }

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
        self.drain_ooo_framing(None);
    }

    /// [`Stream::drain_ooo`]; with `framing`, each segment's bytes are framed as they
    /// are appended, under that segment's own packet (after a gap: the messages it
    /// completes were complete when it came, not when the hole was given up).
    fn drain_ooo_framing(&mut self, mut framing: Option<(&mut TcpStats, &mut Ctx<'_, '_>)>) {
        while let Some(entry) = self.ooo.first_entry() {
            let at = *entry.key();
            if at > self.next_abs {
                break;
            }
            let (seg, seg_meta) = entry.remove();
            self.ooo_bytes -= seg.len();
            let end = at + seg.len() as u64;
            if end <= self.next_abs {
                continue;
            }
            let skip = (self.next_abs - at) as usize;
            let fresh = seg.get(skip..).unwrap_or_default();
            self.buf.extend_from_slice(fresh);
            self.advance(fresh.len());
            if let Some((stats, cx)) = framing.as_mut() {
                let now = cx.meta;
                cx.meta = seg_meta;
                self.frame_buf(stats, cx);
                cx.meta = now;
            }
        }
    }

    /// Drop the bytes buffered for a message that will not complete, reporting them.
    fn skip_buffered(&mut self, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) {
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

    /// Give up on the hole before the first out-of-order segment: report it, drop the
    /// message it cut, and go on (resynchronising) from the data after it.
    fn declare_gap(&mut self, stats: &mut TcpStats, cx: &mut Ctx<'_, '_>) {
        let Some((&first, _)) = self.ooo.first_key_value() else {
            return;
        };
        let missing = first.saturating_sub(self.next_abs);
        self.skip_buffered(stats, cx);
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
        self.drain_ooo_framing(Some((stats, cx)));
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
                let known = self.ooo.get(&at).map_or(0, |(v, _)| v.len());
                if known >= fresh.len() {
                    stats.retransmissions += 1;
                } else {
                    self.ooo_bytes = self.ooo_bytes - known + fresh.len();
                    self.ooo.insert(at, (fresh.to_vec(), cx.meta));
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
        self.skip_buffered(stats, cx);
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

    /// Whether direction `flow` is tracked.
    pub fn tracks(&self, flow: &FlowKey) -> bool {
        self.flows.contains_key(flow)
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

        // A SYN on a known key is a new connection (close the old one), unless it repeats
        // the SYN that opened a direction no data has flowed on yet (a retransmission).
        // The same ISN after data is a new connection too: the SYN was answered before.
        if syn {
            if let Some(mut old) = self.flows.remove(&flow) {
                if old.from_syn && old.start_seq == data_seq && old.untouched() {
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

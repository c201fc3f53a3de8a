//! SCTP user-message reassembly: DATA / I-DATA fragments joined (B/E flags), retransmitted and doubly captured chunks dropped by a per-direction TSN window, bounded in bytes and associations.

use super::*;
use crate::flow::{FlowKey, PacketMeta};
use ahash::AHashMap as HashMap;
use std::collections::BTreeMap;

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

/// A direction silent this long (capture time, µs) starts a new TSN record: SCTP gives
/// up retransmitting after Association.Max.Retrans (10) × RTO.Max (60 s) by default
/// (RFC 9260 §16), so no chunk this late can repeat one seen before.
pub(super) const ASSOCIATION_GONE_US: i64 = 15 * 60 * 1_000_000;

/// How many TSNs below the highest one seen are remembered per direction.
pub(super) const TSN_WINDOW: u32 = 4096;

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
pub(super) struct TsnWindow {
    hi: Option<u32>,
    /// Before the ring: bit `k` is TSN `hi - k`.
    recent: u128,
    ring: Option<Box<Ring>>,
}

/// The bitmap ring of the window, indexed by `tsn % TSN_WINDOW`.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    bits: [u64; (TSN_WINDOW / 64) as usize],
}

impl Ring {
    pub(super) fn new() -> Ring {
        Ring {
            bits: [0; (TSN_WINDOW / 64) as usize],
        }
    }

    fn bit(tsn: u32) -> (usize, u64) {
        let i = tsn % TSN_WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    pub(super) fn set(&mut self, tsn: u32, on: bool) {
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
    pub(super) fn insert(&mut self, hi: u32, tsn: u32) -> (bool, u32) {
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
    pub(super) fn new() -> TsnWindow {
        TsnWindow {
            hi: None,
            recent: 0,
            ring: None,
        }
    }

    /// Record `tsn`; false if it was seen before (or is older than the window).
    pub(super) fn insert(&mut self, tsn: u32) -> bool {
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
pub(super) struct AssocKey {
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    pub(super) vtag: u32,
}

/// One direction of an association: the TSNs seen and when it was last active, plus the
/// partial messages only a direction that fragments needs (boxed on its first fragment, so
/// the many directions that never fragment stay small and are held inline in the table).
#[derive(Debug)]
pub(super) struct Direction {
    seen: TsnWindow,
    pub(super) last: PacketMeta,
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
    /// random seeds, a cost per direction: benches/README.md).
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
    pub(super) dirs: HashMap<AssocKey, Direction>,
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
        // Silent longer than any retransmission lives: the TSNs seen before belong to
        // an association that is gone (one restarted without its INIT in the capture).
        if meta.ts_us.saturating_sub(dir.last.ts_us) > ASSOCIATION_GONE_US {
            dir.seen = TsnWindow::new();
        }
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

    /// An INIT or INIT ACK with `initiate_tag` went from `src_port` to `dst_port`: the
    /// direction back under that tag is a new association, whatever TSNs an earlier one
    /// with the same ports and tag used (its unfinished fragments are dropped, counted).
    pub fn association_started(&mut self, src_port: u16, dst_port: u16, initiate_tag: u32) {
        let key = AssocKey {
            src_port: dst_port,
            dst_port: src_port,
            vtag: initiate_tag,
        };
        if let Some(d) = self.dirs.remove(&key) {
            self.stats.dropped += d.fragment_count();
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

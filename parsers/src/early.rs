//! Answers seen before their request, and how far apart requests and answers were.
//!
//! When the two directions of a link are captured by different probes (ports, taps,
//! hosts) whose clocks disagree by more than the round trip, an answer can be stamped
//! before its request, and the merged capture delivers it first. Every correlator then
//! holds such an answer here, for at most the *tolerance* of capture time and a maximum
//! count, expired in capture-time order, until its request arrives; the transaction is
//! paired then, with the request's time, as if seen in order. A tolerance of 0 disables
//! this (an answer without request is dropped at once, as tshark does).
//!
//! Transactions completed recently are remembered for the tolerance too, so that a copy
//! of an answer (a retransmission, a second probe) is not held as the answer of a later
//! copy of its request, and a request copy after an early pairing is a duplicate.
//!
//! [`Pairing`] is what every correlator keeps of this: the table, how each answer was
//! paired ([`PairingStats`]) and the delays.
//!
//! [`Delays`] records the request→answer delay of every pairing per (request file,
//! answer file): negative delays are the sign of a clock offset between the probes. An
//! answer dropped (after the tolerance, or at once when it is 0) is remembered a while
//! longer ([`MISSED_WINDOW_US`]) by key, so that its request, when it comes, still
//! measures the delay: the offset can be suggested even when it exceeds the tolerance.

use ahash::AHashMap as HashMap;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;

use crate::flow::PacketMeta;
use crate::signal::TimestampUs;

/// Default tolerance: how long an answer waits for its request (capture time, µs).
pub const DEFAULT_TOLERANCE_US: i64 = 300_000;
/// Default bound on the answers held at once.
pub const DEFAULT_MAX_EARLY: usize = 1 << 16;
/// How long a dropped answer is remembered for measuring its request's delay.
pub const MISSED_WINDOW_US: i64 = 10_000_000;

/// How pairings went, per correlator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PairingStats {
    /// Answers that found their request already waiting.
    pub in_order: u64,
    /// Answers seen first, paired when their request arrived.
    pub early: u64,
    /// Answers held for their request that did not come within the tolerance (or were
    /// pushed out of a full table); also counted as answers without request.
    pub early_dropped: u64,
    /// Requests dropped unanswered (timeout, full table, end of input).
    pub expired: u64,
}

impl PairingStats {
    pub fn add(&mut self, o: &PairingStats) {
        self.in_order += o.in_order;
        self.early += o.early;
        self.early_dropped += o.early_dropped;
        self.expired += o.expired;
    }
}

/// What [`EarlyAnswers::hold`] did with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Held until its request arrives or the tolerance passes.
    Held,
    /// Not held: early pairing is disabled, or the answer is a copy of one held or of a
    /// transaction just completed. The caller counts it as an answer without request.
    Refused,
}

#[derive(Clone, Debug)]
struct Held<A> {
    meta: PacketMeta,
    seq: u64,
    answer: A,
}

/// Answers waiting for their request, keyed by `K` (a correlator's transaction key) and
/// optionally indexed by a shorter key `S` (GTP: the sequence number alone, for answers
/// whose addresses do not mirror the request's).
#[derive(Clone, Debug)]
pub struct EarlyAnswers<K, S, A> {
    tolerance_us: i64,
    max: usize,
    held: HashMap<K, Held<A>>,
    by_alt: HashMap<S, Vec<K>>,
    alt_of: HashMap<K, S>,
    /// (answer time, sequence, key) in arrival order; stale entries skipped.
    order: VecDeque<(TimestampUs, u64, K)>,
    /// Transactions completed within the tolerance: key → (time, paired early).
    completed: HashMap<K, (TimestampUs, bool)>,
    completed_order: VecDeque<(TimestampUs, K)>,
    /// Answers dropped unpaired within [`MISSED_WINDOW_US`]: key → where the answer was.
    missed: HashMap<K, PacketMeta>,
    missed_order: VecDeque<(TimestampUs, K)>,
    seq: u64,
    /// Latest capture time seen: answers and completions older than `now - tolerance` go.
    now: TimestampUs,
    /// Held answers dropped (tolerance passed, table full, end of input).
    pub dropped: u64,
}

impl<K: Copy + Eq + Hash, S: Copy + Eq + Hash, A> EarlyAnswers<K, S, A> {
    pub fn new(tolerance_us: i64, max: usize) -> Self {
        EarlyAnswers {
            tolerance_us: tolerance_us.max(0),
            max: max.max(1),
            held: HashMap::new(),
            by_alt: HashMap::new(),
            alt_of: HashMap::new(),
            order: VecDeque::new(),
            completed: HashMap::new(),
            completed_order: VecDeque::new(),
            missed: HashMap::new(),
            missed_order: VecDeque::new(),
            seq: 0,
            now: TimestampUs::MIN,
            dropped: 0,
        }
    }

    pub fn tolerance_us(&self) -> i64 {
        self.tolerance_us
    }

    pub fn enabled(&self) -> bool {
        self.tolerance_us > 0
    }

    /// Answers currently held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Advance the clock to `now` (kept monotone) and drop what is older than the
    /// tolerance; returns how many held answers were dropped.
    pub fn expire(&mut self, now: TimestampUs) -> u64 {
        self.expire_each(now, |_| {})
    }

    /// [`EarlyAnswers::expire`], handing each dropped answer to `dropped`.
    pub fn expire_each(&mut self, now: TimestampUs, mut dropped: impl FnMut(A)) -> u64 {
        self.now = self.now.max(now);
        let limit = self.now.saturating_sub(self.tolerance_us);
        let mut n = 0;
        while let Some(&(ts, seq, key)) = self.order.front() {
            if ts >= limit {
                break;
            }
            self.order.pop_front();
            if self.held.get(&key).is_some_and(|h| h.seq == seq) {
                if let Some(h) = self.remove(&key) {
                    self.miss(key, h.meta);
                    dropped(h.answer);
                }
                n += 1;
            }
        }
        let missed_limit = self.now.saturating_sub(MISSED_WINDOW_US);
        while let Some(&(ts, key)) = self.missed_order.front() {
            if ts >= missed_limit {
                break;
            }
            self.missed_order.pop_front();
            if self.missed.get(&key).is_some_and(|m| m.ts_us == ts) {
                self.missed.remove(&key);
            }
        }
        while let Some(&(ts, key)) = self.completed_order.front() {
            if ts >= limit {
                break;
            }
            self.completed_order.pop_front();
            if self.completed.get(&key).is_some_and(|c| c.0 == ts) {
                self.completed.remove(&key);
            }
        }
        self.dropped += n;
        n
    }

    /// Remember an answer dropped unpaired, for its request's delay.
    fn miss(&mut self, key: K, meta: PacketMeta) {
        if self.missed.len() >= self.max {
            self.missed.clear();
            self.missed_order.clear();
        }
        self.missed.insert(key, meta);
        self.missed_order.push_back((meta.ts_us, key));
    }

    /// Where the answer of `key` was seen, if it was dropped unpaired within
    /// [`MISSED_WINDOW_US`]: its request, seen now, measures the delay.
    pub fn take_missed(&mut self, key: &K) -> Option<PacketMeta> {
        if self.missed.is_empty() {
            return None;
        }
        self.missed.remove(key)
    }

    /// Hold `answer`, seen in packet `meta`, for the request of `key` (also findable by
    /// `alt`). A second answer for a held key is a copy and refused; a full table drops
    /// its oldest. Disabled (tolerance 0), the answer is refused but remembered as missed.
    pub fn hold(&mut self, key: K, alt: Option<S>, meta: &PacketMeta, answer: A) -> Hold {
        if self.held.contains_key(&key) || self.completed.contains_key(&key) {
            return Hold::Refused;
        }
        if !self.enabled() {
            self.now = self.now.max(meta.ts_us);
            self.miss(key, *meta);
            return Hold::Refused;
        }
        let ts = meta.ts_us;
        while self.held.len() >= self.max {
            let Some((_, seq, k)) = self.order.pop_front() else {
                break;
            };
            if self.held.get(&k).is_some_and(|h| h.seq == seq) {
                if let Some(h) = self.remove(&k) {
                    self.miss(k, h.meta);
                }
                self.dropped += 1;
            }
        }
        self.seq += 1;
        self.held.insert(
            key,
            Held {
                meta: *meta,
                seq: self.seq,
                answer,
            },
        );
        if let Some(s) = alt {
            self.by_alt.entry(s).or_default().push(key);
            self.alt_of.insert(key, s);
        }
        self.order.push_back((ts, self.seq, key));
        if self.order.len() > 2 * self.max + 1024 {
            let held = &self.held;
            self.order
                .retain(|(_, seq, k)| held.get(k).is_some_and(|h| h.seq == *seq));
        }
        Hold::Held
    }

    /// The answer held for `key`, if `fits` accepts it, else the only held answer indexed
    /// by `alt` that `fits`; removed from the table, with where it was seen.
    pub fn take(
        &mut self,
        key: &K,
        alt: Option<S>,
        fits: impl Fn(&A) -> bool,
    ) -> Option<(A, PacketMeta)> {
        if self.held.is_empty() {
            return None;
        }
        let found = if self.held.get(key).is_some_and(|h| fits(&h.answer)) {
            *key
        } else {
            let keys = self.by_alt.get(&alt?)?;
            let mut c = keys
                .iter()
                .filter(|k| self.held.get(k).is_some_and(|h| fits(&h.answer)));
            match (c.next(), c.next()) {
                (Some(&k), None) => k,
                _ => return None,
            }
        };
        self.remove(&found).map(|h| (h.answer, h.meta))
    }

    /// The answer held for `key`, to add to (MAP: further messages of a dialogue whose
    /// Begin was not seen yet).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut A> {
        self.held.get_mut(key).map(|h| &mut h.answer)
    }

    fn remove(&mut self, key: &K) -> Option<Held<A>> {
        let h = self.held.remove(key)?;
        if let Some(s) = self.alt_of.remove(key) {
            if let Some(keys) = self.by_alt.get_mut(&s) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    self.by_alt.remove(&s);
                }
            }
        }
        Some(h)
    }

    /// Remember that the transaction of `key` completed at the current time (`early`: its
    /// answer had been held), so that copies within the tolerance are recognised.
    pub fn complete(&mut self, key: K, early: bool) {
        if !self.enabled() {
            return;
        }
        let now = self.now;
        if self.completed.len() >= self.max {
            self.completed.clear();
            self.completed_order.clear();
        }
        self.completed.insert(key, (now, early));
        self.completed_order.push_back((now, key));
    }

    /// Was `key` completed within the tolerance with an answer that came first? A request
    /// seen then is a copy of the one already paired.
    pub fn completed_early(&self, key: &K) -> bool {
        self.completed.get(key).is_some_and(|c| c.1)
    }

    /// End of input: drop every held answer; returns how many.
    pub fn flush(&mut self) -> u64 {
        self.flush_each(|_| {})
    }

    /// [`EarlyAnswers::flush`], handing each dropped answer to `dropped`.
    pub fn flush_each(&mut self, dropped: impl FnMut(A)) -> u64 {
        let n = self.held.len() as u64;
        self.held.drain().map(|(_, h)| h.answer).for_each(dropped);
        self.by_alt.clear();
        self.alt_of.clear();
        self.order.clear();
        self.completed.clear();
        self.completed_order.clear();
        self.missed.clear();
        self.missed_order.clear();
        self.dropped += n;
        n
    }
}

/// What a correlator keeps of its pairings: the answers held for their request
/// ([`EarlyAnswers`]), how each answer was paired, and the request→answer delays.
#[derive(Clone, Debug)]
pub struct Pairing<K, S, A> {
    /// Answers waiting for their request.
    pub early: EarlyAnswers<K, S, A>,
    stats: PairingStats,
    delays: Delays,
}

impl<K: Copy + Eq + Hash, S: Copy + Eq + Hash, A> Pairing<K, S, A> {
    /// Answers wait `tolerance_us` for their request, at most `max_early` at once.
    pub fn new(tolerance_us: i64, max_early: usize) -> Self {
        Pairing {
            early: EarlyAnswers::new(tolerance_us, max_early),
            stats: PairingStats::default(),
            delays: Delays::default(),
        }
    }

    /// How answers were paired; `expired`: the correlator's requests dropped unanswered.
    pub fn stats(&self, expired: u64) -> PairingStats {
        PairingStats {
            expired,
            ..self.stats
        }
    }

    /// Request→answer delays per pair of input files.
    pub fn delays(&self) -> &Delays {
        &self.delays
    }

    /// A request seen in `request` paired with its answer seen in `answer` (`early`: the
    /// answer had been held for it): counted, and its delay recorded.
    pub fn paired(&mut self, request: &PacketMeta, answer: &PacketMeta, early: bool) {
        if early {
            self.stats.early += 1;
        } else {
            self.stats.in_order += 1;
        }
        self.delays.record(request, answer);
    }

    /// The transaction of `key` completed: [`Pairing::paired`], and remembered so that
    /// copies within the tolerance are recognised ([`EarlyAnswers::complete`]).
    pub fn completed(&mut self, key: K, request: &PacketMeta, answer: &PacketMeta, early: bool) {
        self.paired(request, answer, early);
        self.early.complete(key, early);
    }

    /// The request of `key`, seen in `request`: the answer held for it that `fits` (see
    /// [`EarlyAnswers::take`]), the transaction completed early; else, when its answer was
    /// dropped unpaired, the delay recorded all the same.
    pub fn request(
        &mut self,
        key: K,
        alt: Option<S>,
        request: &PacketMeta,
        fits: impl Fn(&A) -> bool,
    ) -> Option<A> {
        if let Some((answer, at)) = self.early.take(&key, alt, fits) {
            self.completed(key, request, &at, true);
            return Some(answer);
        }
        self.missed(&key, request);
        None
    }

    /// The request of `key`, seen in `request`, whose answer came too early for the
    /// tolerance and was dropped: the delay still tells the skew.
    pub fn missed(&mut self, key: &K, request: &PacketMeta) {
        if let Some(at) = self.early.take_missed(key) {
            self.delays.record(request, &at);
        }
    }

    /// Drop the held answers older than the tolerance at `now`; returns how many, each
    /// counted `weight` times (MAP: a held dialogue, its messages), as early dropped.
    pub fn expire(&mut self, now: TimestampUs, weight: impl Fn(&A) -> u64) -> u64 {
        let mut dropped = 0;
        self.early.expire_each(now, |a| dropped += weight(&a));
        self.stats.early_dropped += dropped;
        dropped
    }

    /// End of input: [`Pairing::expire`] for every held answer.
    pub fn flush(&mut self, weight: impl Fn(&A) -> u64) -> u64 {
        let mut dropped = 0;
        self.early.flush_each(|a| dropped += weight(&a));
        self.stats.early_dropped += dropped;
        dropped
    }
}

/// At most this many delays are kept per pair of files; beyond it every other one is
/// dropped and only every `stride`-th further delay is kept (a uniform sample).
const MAX_SAMPLE: usize = 1 << 16;

/// Request→answer delays of one (request file, answer file) pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DelaySample {
    pub count: u64,
    pub negative: u64,
    pub min_us: i64,
    pub max_us: i64,
    sample: Vec<i64>,
    stride: u64,
}

impl Default for DelaySample {
    fn default() -> Self {
        DelaySample {
            count: 0,
            negative: 0,
            min_us: i64::MAX,
            max_us: i64::MIN,
            sample: Vec::new(),
            stride: 1,
        }
    }
}

impl DelaySample {
    pub fn add(&mut self, d: i64) {
        if self.count.is_multiple_of(self.stride) {
            if self.sample.len() >= MAX_SAMPLE {
                let mut i = 0;
                self.sample.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = self.stride.saturating_mul(2);
            }
            if self.count.is_multiple_of(self.stride) {
                self.sample.push(d);
            }
        }
        self.count += 1;
        self.negative += u64::from(d < 0);
        self.min_us = self.min_us.min(d);
        self.max_us = self.max_us.max(d);
    }

    fn merge(&mut self, o: &DelaySample) {
        for &d in &o.sample {
            if self.sample.len() < MAX_SAMPLE {
                self.sample.push(d);
            }
        }
        self.count += o.count;
        self.negative += o.negative;
        self.min_us = self.min_us.min(o.min_us);
        self.max_us = self.max_us.max(o.max_us);
    }

    /// The `p`-th percentile (0–100) of the sampled delays, nearest rank.
    pub fn percentile(&self, p: u32) -> Option<i64> {
        let mut s = self.sample.clone();
        if s.is_empty() {
            return None;
        }
        s.sort_unstable();
        let rank = (u64::from(p.min(100)) * (s.len() as u64 - 1) + 50) / 100;
        s.get(rank as usize).copied()
    }
}

/// Request→answer delays per (request file index, answer file index), and the recent
/// ones in a windowed histogram ([`RecentDelays`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Delays {
    pub pairs: BTreeMap<(u16, u16), DelaySample>,
    #[serde(skip)]
    pub recent: RecentDelays,
}

impl Delays {
    /// Record one pairing of a request seen in `req` with its answer seen in `ans`.
    pub fn record(&mut self, req: &PacketMeta, ans: &PacketMeta) {
        let d = ans.ts_us.saturating_sub(req.ts_us);
        self.pairs.entry((req.file, ans.file)).or_default().add(d);
        self.recent.add(d, ans.ts_us);
    }

    pub fn merge(&mut self, o: &Delays) {
        for (k, v) in &o.pairs {
            self.pairs.entry(*k).or_default().merge(v);
        }
    }
}

/// The request→answer delays of the last two windows of event time (the current one and
/// the previous, [`RecentDelays::WINDOW_US`] each) in a log-scale histogram: how long an
/// answer takes *now*, for how long an unanswered request is worth waiting for (a
/// source's watermark). Constant size; a quantile costs one pass over the buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentDelays {
    current: [u32; RecentDelays::BUCKETS],
    previous: [u32; RecentDelays::BUCKETS],
    window_start: TimestampUs,
}

impl Default for RecentDelays {
    fn default() -> Self {
        RecentDelays {
            current: [0; Self::BUCKETS],
            previous: [0; Self::BUCKETS],
            window_start: TimestampUs::MIN,
        }
    }
}

impl RecentDelays {
    /// One window of event time (µs).
    pub const WINDOW_US: i64 = 60_000_000;
    /// Four buckets per doubling from 1 µs up to 2^40 µs (12.7 days): a quantile is
    /// known to within 19 %.
    const BUCKETS: usize = 4 * 40 + 1;

    fn bucket(d: i64) -> usize {
        if d <= 1 {
            return 0;
        }
        let d = d as u64;
        let log = 63 - d.leading_zeros() as usize;
        // The two bits after the leading one: the quarter within the doubling.
        let quarter = if log >= 2 {
            ((d >> (log - 2)) & 3) as usize
        } else {
            ((d << (2 - log)) & 3) as usize
        };
        (4 * log + quarter + 1).min(Self::BUCKETS - 1)
    }

    /// The largest delay of bucket `b` (µs).
    fn upper(b: usize) -> i64 {
        if b == 0 {
            return 1;
        }
        let (log, quarter) = ((b - 1) / 4, (b - 1) % 4);
        let base = 1i64 << log;
        base + (base * (quarter as i64 + 1)) / 4
    }

    /// An answer at `at` came `d` µs after its request.
    pub fn add(&mut self, d: i64, at: TimestampUs) {
        if at.saturating_sub(self.window_start) >= Self::WINDOW_US {
            // Windows follow each other; a jump over several forgets both.
            self.previous = if at.saturating_sub(self.window_start) < 2 * Self::WINDOW_US {
                self.current
            } else {
                [0; Self::BUCKETS]
            };
            self.current = [0; Self::BUCKETS];
            self.window_start = at;
        }
        let b = &mut self.current[Self::bucket(d)];
        *b = b.saturating_add(1);
    }

    /// How many delays the two windows hold.
    pub fn count(&self) -> u64 {
        self.current
            .iter()
            .chain(&self.previous)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// The delay (µs, rounded up to its bucket's end) that `per_mille` ‰ of the recent
    /// answers took at most; `None` with fewer than `min_count` recent answers.
    pub fn quantile(&self, per_mille: u32, min_count: u64) -> Option<i64> {
        let n = self.count();
        if n == 0 || n < min_count {
            return None;
        }
        let rank = (n * u64::from(per_mille.min(1000))).div_ceil(1000).max(1);
        let mut seen = 0u64;
        for b in 0..Self::BUCKETS {
            seen += u64::from(self.current[b]) + u64::from(self.previous[b]);
            if seen >= rank {
                return Some(Self::upper(b));
            }
        }
        Some(Self::upper(Self::BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts_us: i64) -> PacketMeta {
        PacketMeta {
            file: 1,
            frame: 0,
            ts_us,
        }
    }

    #[test]
    fn dropped_answers_are_remembered_for_their_requests_delay() {
        let mut e: EarlyAnswers<u32, (), ()> = EarlyAnswers::new(100, 4);
        e.hold(1, None, &at(1_000), ());
        assert_eq!(e.expire(1_200), 1);
        assert_eq!(e.take_missed(&1).map(|m| m.ts_us), Some(1_000));
        assert_eq!(e.take_missed(&1), None, "once");
        e.hold(2, None, &at(1_300), ());
        e.expire(1_500);
        e.expire(1_300 + MISSED_WINDOW_US + 1);
        assert_eq!(e.take_missed(&2), None, "forgotten after the window");
        let mut off: EarlyAnswers<u32, (), ()> = EarlyAnswers::new(0, 4);
        assert_eq!(off.hold(3, None, &at(5), ()), Hold::Refused);
        assert_eq!(off.take_missed(&3).map(|m| m.ts_us), Some(5));
    }

    #[test]
    fn held_answers_pair_expire_and_refuse_copies() {
        let mut e: EarlyAnswers<u32, u8, &str> = EarlyAnswers::new(100, 4);
        assert_eq!(e.hold(1, Some(9), &at(1_000), "a"), Hold::Held);
        assert_eq!(e.hold(1, Some(9), &at(1_010), "copy"), Hold::Refused);
        assert_eq!(e.expire(1_100), 0, "not older than the tolerance");
        // Found by the alternative key when the exact one differs.
        assert_eq!(e.take(&7, Some(9), |_| true), Some(("a", at(1_000))));
        e.complete(1, true);
        assert!(e.completed_early(&1));
        assert_eq!(e.hold(1, None, &at(1_100), "late copy"), Hold::Refused);
        assert_eq!(e.hold(2, None, &at(1_100), "b"), Hold::Held);
        assert_eq!(e.expire(1_201), 1);
        assert!(!e.completed_early(&1), "completions expire too");
        assert_eq!(e.dropped, 1);
        // Full: the oldest goes.
        for k in 10..15 {
            e.hold(k, None, &at(1_300), "x");
        }
        assert_eq!((e.len(), e.dropped), (4, 2));
        assert!(e.take(&10, None, |_| true).is_none());
        let mut off: EarlyAnswers<u32, u8, ()> = EarlyAnswers::new(0, 4);
        assert_eq!(off.hold(1, None, &at(0), ()), Hold::Refused);
    }

    #[test]
    fn ambiguous_alternatives_do_not_pair() {
        let mut e: EarlyAnswers<(u8, u16), u16, u8> = EarlyAnswers::new(100, 16);
        e.hold((1, 5), Some(5), &at(0), 33);
        e.hold((2, 5), Some(5), &at(0), 33);
        assert!(e.take(&(3, 5), Some(5), |_| true).is_none());
        assert!(e.take(&(1, 5), Some(5), |t| *t == 35).is_none());
        assert_eq!(e.take(&(1, 5), Some(5), |_| true), Some((33, at(0))));
        assert_eq!(e.take(&(3, 5), Some(5), |_| true), Some((33, at(0))));
    }

    #[test]
    fn delay_percentiles_and_sampling() {
        let mut s = DelaySample::default();
        for d in [-5, -3, 1, 2, 10] {
            s.add(d);
        }
        assert_eq!((s.count, s.negative, s.min_us, s.max_us), (5, 2, -5, 10));
        assert_eq!(s.percentile(50), Some(1));
        assert_eq!(s.percentile(0), Some(-5));
        assert_eq!(s.percentile(100), Some(10));
        let mut big = DelaySample::default();
        for d in 0..(3 * MAX_SAMPLE as i64) {
            big.add(d);
        }
        assert!(big.sample.len() <= MAX_SAMPLE);
        let med = big.percentile(50).unwrap();
        assert!((med - 3 * MAX_SAMPLE as i64 / 2).abs() < 1000, "{med}");
    }

    #[test]
    fn recent_delays_give_quantiles_of_the_last_two_windows() {
        let mut r = RecentDelays::default();
        assert_eq!(r.quantile(999, 1), None);
        // 999 answers within 4 ms, one after 900 ms.
        for i in 0..999 {
            r.add(1_000 + i * 3, 1_000_000 + i64::from(i as i32));
        }
        r.add(900_000, 2_000_000);
        let p999 = r.quantile(999, 100).unwrap();
        assert!((4_000..=5_000).contains(&p999), "{p999}");
        assert!(r.quantile(1000, 100).unwrap() >= 900_000);
        assert_eq!(r.quantile(999, 10_000), None, "too few answers");
        // Two windows later only the new answers count.
        r.add(50, 1_000_000 + RecentDelays::WINDOW_US);
        r.add(50, 1_000_000 + 2 * RecentDelays::WINDOW_US);
        assert_eq!(r.count(), 2);
        assert!(r.quantile(1000, 1).unwrap() <= 64);
    }

    #[test]
    fn recent_delay_buckets_cover_their_values() {
        for d in [
            0i64,
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            100,
            1_000,
            123_456,
            1 << 39,
            i64::MAX,
        ] {
            let b = RecentDelays::bucket(d);
            assert!(RecentDelays::upper(b) >= d.min(1 << 40), "{d}: bucket {b}");
            if b > 1 && d < (1 << 40) {
                assert!(RecentDelays::upper(b - 1) <= d, "{d}: bucket {b}");
            }
        }
    }
}

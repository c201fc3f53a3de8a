//! S6a request/answer correlation into normalized [`Signal`]s (docs/semantics.md, "Signals").
//!
//! Requests are held, keyed by (connection, hop-by-hop id, end-to-end id), until their
//! answer arrives, for at most a capture-time timeout and a maximum count. A signal
//! carries the request's capture time and frame.
//!
//! | request | answer 2xxx | answer error |
//! |---|---|---|
//! | ULR (316) | `attach` (ULR-Flags initial-attach) or `location_update` | `rejected` |
//! | CLR (317) | `cancel` | counted |
//! | AIR (318) | `auth` | counted |
//! | PUR (321) | `purge` | counted |
//! | NOR (323) | counted, no signal | |
//!
//! Other applications (Gx, Gy, Rx, Cx, base, …) are counted per application id.

use ahash::AHashMap as HashMap;
use std::collections::{BTreeMap, VecDeque};

use super::dictionary::{self, cmd};
use super::header::Message;
use super::s6a::S6aFields;
use crate::early::{Delays, Hold, Pairing, PairingStats, DEFAULT_MAX_EARLY, DEFAULT_TOLERANCE_US};
use crate::flow::{FlowKey, PacketMeta};
use crate::numbering::e212::E212;
use crate::signal::{Proto, Provenance, Signal, SignalKind, TimestampUs};
use crate::types::{Imsi, Msisdn, Plmn};

/// Limits of the pending-request table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelatorConfig {
    /// A request unanswered for this long (capture time, µs) is dropped and counted.
    pub timeout_us: i64,
    /// At most this many pending requests; the oldest is dropped beyond it.
    pub max_pending: usize,
    /// At most this many IMSI→MSISDN associations are remembered (oldest-inserted
    /// entries are not tracked; the table is cleared when full).
    pub max_msisdns: usize,
    /// An answer seen before its request waits this long (capture time, µs) for it
    /// ([`crate::early`]); 0 drops it at once.
    pub answer_tolerance_us: i64,
    /// At most this many answers wait for their request.
    pub max_early: usize,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            timeout_us: 30_000_000,
            max_pending: 1 << 20,
            max_msisdns: 50_000_000,
            answer_tolerance_us: DEFAULT_TOLERANCE_US,
            max_early: DEFAULT_MAX_EARLY,
        }
    }
}

/// What the correlator saw and why messages gave no signal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorrelatorStats {
    pub messages: u64,
    pub requests: u64,
    pub answers: u64,
    /// Messages per application id (see [`dictionary::app_name`]).
    pub by_app: BTreeMap<u32, u64>,
    /// Messages of applications other than S6a/S6d (skipped for signals).
    pub non_s6a: u64,
    /// S6a commands that give no signal (IDR, DSR, RSR, …), requests and answers.
    pub other_s6a: u64,
    pub signals: u64,
    /// Of which `rejected`.
    pub rejected: u64,
    /// Notify requests (no signal).
    pub notify: u64,
    /// Answers whose request was never seen (capture started mid-transaction, or the
    /// request expired), including those held early that their request never claimed.
    pub unmatched_answers: u64,
    /// Requests dropped unanswered after the timeout, by [`DiameterCorrelator::flush`],
    /// or when over `max_pending` (those also counted in `evicted`).
    pub unanswered: u64,
    pub evicted: u64,
    /// A request whose key was already pending (retransmission); the first is kept.
    pub duplicate_requests: u64,
    /// Error answers to CLR/PUR/AIR.
    pub failed_answers: u64,
    /// Answers with neither Result-Code nor Experimental-Result.
    pub no_result: u64,
    /// Transactions whose User-Name is not an IMSI.
    pub no_imsi: u64,
}

type Key = (FlowKey, u32, u32);

#[derive(Clone, Debug)]
struct PendingRequest {
    meta: PacketMeta,
    code: u32,
    imsi: Option<Imsi>,
    serving: Option<Plmn>,
    rat: Option<u32>,
    initial_attach: bool,
    seq: u64,
}

/// What a signal needs of an answer, kept while it waits for its request.
#[derive(Clone, Copy, Debug)]
struct Answer {
    code: u32,
    success: Option<bool>,
    msisdn: Option<Msisdn>,
}

impl Answer {
    fn of(msg: &Message<'_>) -> Answer {
        let f = S6aFields::extract(msg);
        Answer {
            code: msg.header.code,
            success: f.success(),
            msisdn: f.msisdn(),
        }
    }
}

/// Pairs S6a requests with answers and emits signals.
#[derive(Clone, Debug)]
pub struct DiameterCorrelator {
    config: CorrelatorConfig,
    e212: E212,
    pending: HashMap<Key, PendingRequest>,
    /// Insertion order for expiry: (request time, sequence, key); may hold stale keys.
    order: VecDeque<(TimestampUs, u64, Key)>,
    seq: u64,
    now: TimestampUs,
    msisdns: HashMap<Imsi, Msisdn>,
    stats: CorrelatorStats,
    /// Answers waiting for their request.
    pairing: Pairing<Key, (), Answer>,
}

impl Default for DiameterCorrelator {
    fn default() -> Self {
        DiameterCorrelator::new(CorrelatorConfig::default(), E212::default())
    }
}

fn tracked(code: u32) -> bool {
    matches!(
        code,
        cmd::UPDATE_LOCATION
            | cmd::CANCEL_LOCATION
            | cmd::AUTHENTICATION_INFORMATION
            | cmd::PURGE_UE
    )
}

impl DiameterCorrelator {
    pub fn new(config: CorrelatorConfig, e212: E212) -> DiameterCorrelator {
        DiameterCorrelator {
            pairing: Pairing::new(config.answer_tolerance_us, config.max_early),
            config,
            e212,
            pending: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
            now: TimestampUs::MIN,
            msisdns: HashMap::new(),
            stats: CorrelatorStats::default(),
        }
    }

    pub fn stats(&self) -> &CorrelatorStats {
        &self.stats
    }

    /// How answers were paired (in order, early, dropped; requests expired).
    pub fn pairing(&self) -> PairingStats {
        self.pairing.stats(self.stats.unanswered)
    }

    /// Request→answer delays per pair of input files.
    pub fn delays(&self) -> &Delays {
        self.pairing.delays()
    }

    /// Requests currently waiting for an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The capture time of the oldest request still waiting for its answer (the oldest
    /// inserted: requests come in capture order), if any: no signal this correlator has
    /// yet to emit can be older. Answered requests still queued for expiry are dropped
    /// from the front of that queue on the way (they are skipped there anyway), so the
    /// cost is amortized O(1); nothing else changes.
    pub fn oldest_pending(&mut self) -> Option<TimestampUs> {
        while let Some(&(ts, seq, key)) = self.order.front() {
            if self.pending.get(&key).is_some_and(|p| p.seq == seq) {
                return Some(ts);
            }
            self.order.pop_front();
        }
        None
    }

    /// The MSISDN learned for `imsi` (from a ULA or IDR), if any.
    pub fn msisdn_of(&self, imsi: &Imsi) -> Option<Msisdn> {
        self.msisdns.get(imsi).copied()
    }

    /// Feed one message, seen in packet `meta` on the direction `flow`. Returns the
    /// signal completed by an answer.
    pub fn push(&mut self, meta: &PacketMeta, flow: FlowKey, msg: &Message<'_>) -> Option<Signal> {
        let h = msg.header;
        let s = &mut self.stats;
        s.messages += 1;
        *s.by_app.entry(h.app_id).or_default() += 1;
        if h.flags.request() {
            s.requests += 1;
        } else {
            s.answers += 1;
        }
        self.now = self.now.max(meta.ts_us);
        self.expire();
        if !dictionary::is_s6a(h.app_id) {
            self.stats.non_s6a += 1;
            return None;
        }
        let key = (flow.connection(), h.hbh, h.e2e);
        if h.flags.request() {
            return self.request(meta, key, msg);
        }
        if !tracked(h.code) {
            self.stats.other_s6a += 1;
            return None;
        }
        let Some(req) = self.pending.remove(&key) else {
            // Perhaps early: its request may still come (clock skew between probes).
            if self.pairing.early.hold(key, None, meta, Answer::of(msg)) == Hold::Refused {
                self.stats.unmatched_answers += 1;
            }
            return None;
        };
        if req.code != h.code {
            // Same ids, different command: not this request's answer.
            self.stats.unmatched_answers += 1;
            self.stats.unanswered += 1;
            return None;
        }
        self.pairing.completed(key, &req.meta, meta, false);
        self.answer(req, Answer::of(msg))
    }

    fn request(&mut self, meta: &PacketMeta, key: Key, msg: &Message<'_>) -> Option<Signal> {
        let code = msg.header.code;
        if code == cmd::NOTIFY {
            self.stats.notify += 1;
            return None;
        }
        if !tracked(code) {
            self.stats.other_s6a += 1;
            if code == cmd::INSERT_SUBSCRIBER_DATA {
                let f = S6aFields::extract(msg);
                if let (Some(i), Some(m)) = (f.imsi(), f.msisdn()) {
                    self.learn(i, m);
                }
            }
            return None;
        }
        if self.pending.contains_key(&key) || self.pairing.early.completed_early(&key) {
            self.stats.duplicate_requests += 1;
            return None;
        }
        let f = S6aFields::extract(msg);
        self.seq += 1;
        let p = PendingRequest {
            meta: *meta,
            code,
            imsi: f.imsi(),
            serving: f.visited_plmn(),
            rat: f.rat,
            initial_attach: f.initial_attach(),
            seq: self.seq,
        };
        if let Some(a) = self.pairing.request(key, None, meta, |a| a.code == code) {
            return self.answer(p, a);
        }
        self.order.push_back((meta.ts_us, self.seq, key));
        self.pending.insert(key, p);
        while self.pending.len() > self.config.max_pending {
            if !self.drop_oldest() {
                break;
            }
            self.stats.evicted += 1;
        }
        if self.order.len() > 2 * self.config.max_pending + 1024 {
            let pending = &self.pending;
            self.order
                .retain(|(_, seq, k)| pending.get(k).is_some_and(|p| p.seq == *seq));
        }
        None
    }

    /// Remove the oldest live pending request; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        while let Some((_, seq, key)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.seq == seq) {
                self.pending.remove(&key);
                self.stats.unanswered += 1;
                return true;
            }
        }
        false
    }

    /// Requests older than the timeout go, answers held longer than the tolerance too. A
    /// request waits the timeout plus the tolerance: the capture time `now` may come from
    /// a probe whose clock runs ahead of the one its answer is stamped by.
    fn expire(&mut self) {
        self.stats.unmatched_answers += self.pairing.expire(self.now, |_| 1);
        let wait = self
            .config
            .timeout_us
            .saturating_add(self.pairing.early.tolerance_us());
        while let Some(&(ts, seq, key)) = self.order.front() {
            if ts.saturating_add(wait) >= self.now {
                break;
            }
            self.order.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.seq == seq) {
                self.pending.remove(&key);
                self.stats.unanswered += 1;
            }
        }
    }

    /// Drop every pending request (end of input), counting them as unanswered.
    pub fn flush(&mut self) {
        self.stats.unanswered += self.pending.len() as u64;
        self.pending.clear();
        self.order.clear();
        self.stats.unmatched_answers += self.pairing.flush(|_| 1);
    }

    fn learn(&mut self, imsi: Imsi, msisdn: Msisdn) {
        if self.msisdns.len() >= self.config.max_msisdns && !self.msisdns.contains_key(&imsi) {
            self.msisdns.clear();
        }
        self.msisdns.insert(imsi, msisdn);
    }

    fn answer(&mut self, req: PendingRequest, ans: Answer) -> Option<Signal> {
        let Some(success) = ans.success else {
            self.stats.no_result += 1;
            return None;
        };
        let Some(imsi) = req.imsi else {
            self.stats.no_imsi += 1;
            return None;
        };
        let answer_msisdn = ans.msisdn;
        let kind = match (req.code, success) {
            (cmd::UPDATE_LOCATION, true) if req.initial_attach => SignalKind::Attach,
            (cmd::UPDATE_LOCATION, true) => SignalKind::LocationUpdate,
            (cmd::UPDATE_LOCATION, false) => SignalKind::Rejected,
            (cmd::CANCEL_LOCATION, true) => SignalKind::Cancel,
            (cmd::PURGE_UE, true) => SignalKind::Purge,
            (cmd::AUTHENTICATION_INFORMATION, true) => SignalKind::Auth,
            _ => {
                self.stats.failed_answers += 1;
                return None;
            }
        };
        if let (Some(m), true) = (answer_msisdn, success) {
            self.learn(imsi, m);
        }
        let home = self.e212.home_plmn(&imsi);
        let signal = Signal {
            at: req.meta.ts_us,
            imsi,
            msisdn: answer_msisdn.or_else(|| self.msisdns.get(&imsi).copied()),
            kind,
            home,
            home_country: self.e212.imsi_country(&imsi),
            serving: req.serving,
            serving_country: req.serving.and_then(|p| self.e212.plmn_country(&p)),
            location: None,
            rat: req.rat,
            source: Provenance {
                file: req.meta.file,
                frame: req.meta.frame,
                proto: Proto::Diameter,
                message: req.code,
            },
        };
        self.stats.signals += 1;
        if kind == SignalKind::Rejected {
            self.stats.rejected += 1;
        }
        Some(signal)
    }
}

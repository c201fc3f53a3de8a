//! What the GTPv1 and GTPv2 correlators share: the stats, the subscriber a session is
//! known by, the request and response kept while they wait for each other, and
//! [`Transactions`], which pairs them (pending requests, early responses, delays) and keeps
//! the session table. Each version decides what its messages mean: which are requests,
//! which causes accept, which TEIDs name a session, which signal a pair makes.

use ahash::AHashMap as HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use super::pending::{PendingRequests, Request};
use crate::early::{
    Delays, EarlyAnswers, Hold, PairingStats, DEFAULT_MAX_EARLY, DEFAULT_TOLERANCE_US,
};
use crate::flow::{FlowKey, PacketMeta};
use crate::numbering::e212::E212;
use crate::signal::{Location, Proto, Provenance, Signal, SignalKind};
use crate::types::{Imsi, Msisdn, Plmn};

/// A GTP correlator's counters of what gave no signal, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GtpStats {
    pub signals: u64,
    /// Responses with a rejecting cause.
    pub rejected: u64,
    /// Requests dropped after the timeout or at the end of input.
    pub unanswered: u64,
    /// Responses whose request was not seen (held early ones included once dropped).
    pub unmatched_responses: u64,
    /// Accepted transactions whose subscriber could not be identified.
    pub no_imsi: u64,
}

/// A control-plane endpoint naming a session: (address, TEID).
pub(crate) type Teid = (IpAddr, u32);

/// What a session's subscriber is known by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Subscriber {
    pub imsi: Imsi,
    pub msisdn: Option<Msisdn>,
    pub serving: Option<Plmn>,
    pub rat: Option<u8>,
}

impl Subscriber {
    /// The request's identities, completed by what its session knew: `None` when neither
    /// names an IMSI.
    pub fn of(
        imsi: Option<Imsi>,
        msisdn: Option<Msisdn>,
        serving: Option<Plmn>,
        rat: Option<u8>,
        known: Option<Subscriber>,
    ) -> Option<Subscriber> {
        match (imsi, known) {
            (Some(imsi), k) => Some(Subscriber {
                imsi,
                msisdn: msisdn.or(k.and_then(|k| k.msisdn)),
                serving: serving.or(k.and_then(|k| k.serving)),
                rat: rat.or(k.and_then(|k| k.rat)),
            }),
            (None, Some(k)) => Some(Subscriber {
                msisdn: msisdn.or(k.msisdn),
                serving: serving.or(k.serving),
                rat: rat.or(k.rat),
                ..k
            }),
            (None, None) => None,
        }
    }
}

/// A request waiting for its response. `F`: the version's fields; `S`: the requester's
/// control TEIDs.
#[derive(Clone, Debug)]
pub(crate) struct GtpRequest<F, S> {
    pub meta: PacketMeta,
    pub msg_type: u8,
    pub fields: F,
    /// (destination address, header TEID): the session a request without IMSI is for.
    /// `None` for TEID 0 or none (a request sent before the peer's TEID is known).
    pub session: Option<Teid>,
    pub sender: S,
}

impl<F, S> Request for GtpRequest<F, S> {
    fn meta(&self) -> &PacketMeta {
        &self.meta
    }
    fn msg_type(&self) -> u8 {
        self.msg_type
    }
}

/// What a signal needs of a response, kept while it waits for its request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GtpResponse<S> {
    pub meta: PacketMeta,
    pub msg_type: u8,
    pub cause: Option<u8>,
    /// The responder's control TEIDs.
    pub sender: S,
}

/// A request reusing the key of a pending one with the same message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retransmission {
    /// The first copy stays (its time is the signal's); a different request replacing
    /// it counts the old one unanswered (GTPv1).
    KeepFirst,
    /// The later copy replaces the pending one (GTPv2).
    Replace,
}

type Key<Q> = (FlowKey, Q);

/// Request/response pairing and the session table of one GTP correlator. `Q`: the
/// sequence number type (16 bits in GTPv1, 24 in GTPv2).
#[derive(Clone, Debug)]
pub(crate) struct Transactions<Q: Copy + Eq + Hash, F, S> {
    e212: E212,
    proto: Proto,
    retransmission: Retransmission,
    pending: PendingRequests<Q, GtpRequest<F, S>>,
    early: EarlyAnswers<Key<Q>, Q, GtpResponse<S>>,
    sessions: HashMap<Teid, Subscriber>,
    max_sessions: usize,
    pub stats: GtpStats,
    pairing: PairingStats,
    delays: Delays,
}

impl<Q: Copy + Eq + Hash, F, S> Transactions<Q, F, S> {
    /// Responses wait `tolerance_us` for a request not seen yet.
    pub fn new(
        e212: E212,
        proto: Proto,
        retransmission: Retransmission,
        tolerance_us: i64,
    ) -> Self {
        Transactions {
            e212,
            proto,
            retransmission,
            // A request waits the tolerance longer (see `early`): `now` may come from a
            // probe whose clock runs ahead.
            pending: PendingRequests::new(
                30_000_000_i64.saturating_add(tolerance_us.max(0)),
                1 << 20,
            ),
            early: EarlyAnswers::new(tolerance_us, DEFAULT_MAX_EARLY),
            sessions: HashMap::new(),
            max_sessions: 10_000_000,
            stats: GtpStats::default(),
            pairing: PairingStats::default(),
            delays: Delays::default(),
        }
    }

    /// How responses were paired (in order, early, dropped; requests expired).
    pub fn pairing(&self) -> PairingStats {
        PairingStats {
            expired: self.stats.unanswered,
            ..self.pairing
        }
    }

    pub fn delays(&self) -> &Delays {
        &self.delays
    }

    /// The capture time of the oldest request waiting for its response, if any.
    pub fn oldest_pending(&mut self) -> Option<i64> {
        self.pending.oldest()
    }

    /// Expire requests and early responses older than their timeouts at `now`.
    pub fn expire(&mut self, now: i64) {
        self.stats.unanswered += self.pending.expire(now);
        let dropped = self.early.expire(now);
        self.stats.unmatched_responses += dropped;
        self.pairing.early_dropped += dropped;
    }

    /// A request seen on `key`: the pair when its response came first, else it waits.
    pub fn request(
        &mut self,
        key: Key<Q>,
        req: GtpRequest<F, S>,
    ) -> Option<(GtpRequest<F, S>, GtpResponse<S>)> {
        let t = req.msg_type;
        let first_kept = self.retransmission == Retransmission::KeepFirst
            && self.pending.get(&key).is_some_and(|p| p.msg_type == t);
        if first_kept || self.early.completed_early(&key) {
            return None;
        }
        if let Some((resp, _)) = self.early.take(&key, Some(key.1), |r| r.msg_type == t + 1) {
            self.pairing.early += 1;
            self.delays.record(&req.meta, &resp.meta);
            self.early.complete(key, true);
            return Some((req, resp));
        }
        if let Some(a) = self.early.take_missed(&key) {
            // Its response came too early for the tolerance: the delay tells the skew.
            self.delays.record(&req.meta, &a);
        }
        let displaced = self.pending.insert(key, req);
        self.stats.unanswered += displaced.flushed;
        if self.retransmission == Retransmission::KeepFirst {
            // A different request reusing the sequence number replaces the old one.
            self.stats.unanswered += u64::from(displaced.replaced);
        }
        None
    }

    /// A response seen on `key`: the pair when its request is pending, else it waits.
    pub fn response(
        &mut self,
        key: Key<Q>,
        resp: GtpResponse<S>,
    ) -> Option<(GtpRequest<F, S>, GtpResponse<S>)> {
        let meta = resp.meta;
        let Some(req) = self.pending.take(key, resp.msg_type) else {
            if self.early.hold(key, Some(key.1), &meta, resp) == Hold::Refused {
                self.stats.unmatched_responses += 1;
            }
            return None;
        };
        self.pairing.in_order += 1;
        self.delays.record(&req.meta, &meta);
        self.early.complete(key, false);
        Some((req, resp))
    }

    /// Does `cause` accept? A rejection is counted.
    pub fn accepted(&mut self, cause: Option<u8>, accepting: std::ops::RangeInclusive<u8>) -> bool {
        let ok = cause.is_some_and(|c| accepting.contains(&c));
        if !ok {
            self.stats.rejected += 1;
        }
        ok
    }

    /// The subscriber of a session, when known.
    pub fn session(&self, session: Option<Teid>) -> Option<Subscriber> {
        session.and_then(|s| self.sessions.get(&s).copied())
    }

    /// These TEIDs now name `sub` (the table is cleared when full).
    pub fn learn<'t>(&mut self, teids: impl IntoIterator<Item = &'t Teid>, sub: Subscriber) {
        if self.sessions.len() >= self.max_sessions {
            self.sessions.clear();
        }
        for k in teids {
            self.sessions.insert(*k, sub);
        }
    }

    /// The session a deleting request was sent to ends.
    pub fn forget(&mut self, session: Option<Teid>) {
        if let Some(s) = session {
            self.sessions.remove(&s);
        }
    }

    /// The signal of an accepted transaction, with the request's time and frame.
    pub fn signal(
        &mut self,
        req: &PacketMeta,
        msg_type: u8,
        sub: Subscriber,
        kind: SignalKind,
        serving: Option<Plmn>,
        location: Option<Location>,
    ) -> Signal {
        self.stats.signals += 1;
        Signal {
            at: req.ts_us,
            imsi: sub.imsi,
            msisdn: sub.msisdn,
            kind,
            home: self.e212.home_plmn(&sub.imsi),
            home_country: self.e212.imsi_country(&sub.imsi),
            serving,
            serving_country: serving.and_then(|p| self.e212.plmn_country(&p)),
            location,
            rat: sub.rat.map(u32::from),
            source: Provenance {
                file: req.file,
                frame: req.frame,
                proto: self.proto,
                message: u32::from(msg_type),
            },
        }
    }

    /// End of input: requests still pending are counted as unanswered.
    pub fn flush(&mut self) {
        self.stats.unanswered += self.pending.flush();
        let dropped = self.early.flush();
        self.stats.unmatched_responses += dropped;
        self.pairing.early_dropped += dropped;
    }
}

/// What distinguishes the two GTP versions' correlators.
pub trait GtpVersion {
    /// Sequence number type (16 bits in GTPv1, 24 in GTPv2).
    type Seq: Copy + Eq + Hash + std::fmt::Debug;
    /// The request fields a signal needs.
    type Fields: Clone + std::fmt::Debug;
    /// The control TEIDs a message's sender names itself by.
    type Sender: Clone + std::fmt::Debug;
    const PROTO: Proto;
    const RETRANSMISSION: Retransmission;
}

/// A GTP-C correlator: requests paired with responses into signals, subscribers found
/// through the control TEIDs learned from earlier transactions. Each version implements
/// `push` on its own instance (`Gtpv1Correlator`, `Gtpv2Correlator`).
#[derive(Clone, Debug)]
pub struct GtpCorrelator<V: GtpVersion> {
    pub(crate) tx: Transactions<V::Seq, V::Fields, V::Sender>,
}

impl<V: GtpVersion> GtpCorrelator<V> {
    pub fn new(e212: E212) -> Self {
        Self::with_tolerance(e212, DEFAULT_TOLERANCE_US)
    }

    /// A correlator whose responses wait `tolerance_us` for a request not seen yet.
    pub fn with_tolerance(e212: E212, tolerance_us: i64) -> Self {
        GtpCorrelator {
            tx: Transactions::new(e212, V::PROTO, V::RETRANSMISSION, tolerance_us),
        }
    }

    pub fn stats(&self) -> &GtpStats {
        &self.tx.stats
    }

    /// How responses were paired (in order, early, dropped; requests expired).
    pub fn pairing(&self) -> PairingStats {
        self.tx.pairing()
    }

    /// Request→response delays per pair of input files.
    pub fn delays(&self) -> &Delays {
        self.tx.delays()
    }

    /// The capture time of the oldest request waiting for its response, if any: no
    /// signal this correlator has yet to emit can be older.
    pub fn oldest_pending(&mut self) -> Option<i64> {
        self.tx.oldest_pending()
    }

    /// End of input: requests still pending are counted as unanswered.
    pub fn flush(&mut self) {
        self.tx.flush();
    }
}

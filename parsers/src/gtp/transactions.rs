//! The GTP-C correlator, both versions: [`GtpCorrelator`] pairs requests with responses
//! into signals, finding subscribers through the control TEIDs learned from earlier
//! transactions. What they share: the stats, the subscriber a session is known by, the
//! request and response kept while they wait for each other, and `Transactions`, which
//! pairs them (pending requests, early responses, delays) and keeps the session table.
//! Each version ([`GtpVersion`]) decides what its messages mean: which are requests, which
//! causes accept, which TEIDs name a session, which signal an accepted request makes.

use ahash::AHashMap as HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use super::fields::{GtpFields, Locator};
use super::pending::{PendingRequests, Request};
use super::GtpWire;
use crate::early::{Delays, Hold, Pairing, PairingStats, DEFAULT_MAX_EARLY, DEFAULT_TOLERANCE_US};
use crate::flow::{FlowKey, PacketMeta};
use crate::numbering::e212::E212;
use crate::signal::{Location, Provenance, Signal, SignalKind};
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
pub type Teid = (IpAddr, u32);

/// The control TEIDs a message's sender names itself by: at most two (GTPv1: its TEID
/// Control Plane under the packet's source and under its GSN address; GTPv2: its
/// F-TEID).
pub type Sender = [Option<Teid>; 2];

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

/// A request waiting for its response.
#[derive(Clone, Debug)]
pub struct GtpRequest<V: GtpVersion> {
    pub meta: PacketMeta,
    pub msg_type: u8,
    pub fields: GtpFields<V::Location>,
    /// (destination address, header TEID): the session a request without IMSI is for.
    /// `None` before the peer's TEID is known (no TEID; in GTPv1 TEID 0).
    pub session: Option<Teid>,
    /// The requester's control TEIDs.
    pub sender: Sender,
}

impl<V: GtpVersion> Request for GtpRequest<V> {
    fn meta(&self) -> &PacketMeta {
        &self.meta
    }
    fn msg_type(&self) -> u8 {
        self.msg_type
    }
}

/// What a signal needs of a response, kept while it waits for its request.
#[derive(Clone, Copy, Debug)]
pub struct GtpResponse {
    pub meta: PacketMeta,
    pub msg_type: u8,
    pub cause: Option<u8>,
    /// The responder's control TEIDs.
    pub sender: Sender,
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

/// A transaction: connection and sequence number (16 bits in GTPv1, 24 in GTPv2).
type Key = (FlowKey, u32);

/// Request/response pairing and the session table of one GTP correlator.
#[derive(Clone, Debug)]
struct Transactions<V: GtpVersion> {
    e212: E212,
    pending: PendingRequests<u32, GtpRequest<V>>,
    /// Responses waiting for their request (also found by sequence number alone).
    pairing: Pairing<Key, u32, GtpResponse>,
    sessions: HashMap<Teid, Subscriber>,
    max_sessions: usize,
    stats: GtpStats,
}

impl<V: GtpVersion> Transactions<V> {
    /// Responses wait `tolerance_us` for a request not seen yet.
    fn new(e212: E212, tolerance_us: i64) -> Self {
        Transactions {
            e212,
            // A request waits the tolerance longer (see `early`): `now` may come from a
            // probe whose clock runs ahead.
            pending: PendingRequests::new(
                30_000_000_i64.saturating_add(tolerance_us.max(0)),
                1 << 20,
            ),
            pairing: Pairing::new(tolerance_us, DEFAULT_MAX_EARLY),
            sessions: HashMap::new(),
            max_sessions: 10_000_000,
            stats: GtpStats::default(),
        }
    }

    /// The capture time of the oldest request waiting for its response, if any.
    pub fn oldest_pending(&mut self) -> Option<i64> {
        self.pending.oldest()
    }

    /// Expire requests and early responses older than their timeouts at `now`.
    fn expire(&mut self, now: i64) {
        self.stats.unanswered += self.pending.expire(now);
        self.stats.unmatched_responses += self.pairing.expire(now, |_| 1);
    }

    /// A request seen on `key`: the pair when its response came first, else it waits.
    fn request(&mut self, key: Key, req: GtpRequest<V>) -> Option<(GtpRequest<V>, GtpResponse)> {
        let t = req.msg_type;
        let first_kept = V::RETRANSMISSION == Retransmission::KeepFirst
            && self.pending.get(&key).is_some_and(|p| p.msg_type == t);
        if first_kept || self.pairing.early.completed_early(&key) {
            return None;
        }
        let answers = |r: &GtpResponse| r.msg_type == t + 1;
        if let Some(resp) = self.pairing.request(key, Some(key.1), &req.meta, answers) {
            return Some((req, resp));
        }
        let displaced = self.pending.insert(key, req);
        self.stats.unanswered += displaced.flushed;
        if V::RETRANSMISSION == Retransmission::KeepFirst {
            // A different request reusing the sequence number replaces the old one.
            self.stats.unanswered += u64::from(displaced.replaced);
        }
        None
    }

    /// A response seen on `key`: the pair when its request is pending, else it waits.
    fn response(&mut self, key: Key, resp: GtpResponse) -> Option<(GtpRequest<V>, GtpResponse)> {
        let meta = resp.meta;
        let Some(req) = self.pending.take(key, resp.msg_type) else {
            if self.pairing.early.hold(key, Some(key.1), &meta, resp) == Hold::Refused {
                self.stats.unmatched_responses += 1;
            }
            return None;
        };
        self.pairing.completed(key, &req.meta, &meta, false);
        Some((req, resp))
    }

    /// Does `cause` accept? A rejection is counted.
    fn accepted(&mut self, cause: Option<u8>) -> bool {
        let ok = cause.is_some_and(|c| V::ACCEPTING.contains(&c));
        if !ok {
            self.stats.rejected += 1;
        }
        ok
    }

    /// The subscriber of a session, when known.
    fn session(&self, session: Option<Teid>) -> Option<Subscriber> {
        session.and_then(|s| self.sessions.get(&s).copied())
    }

    /// These TEIDs now name `sub` (the table is cleared when full).
    fn learn<'t>(&mut self, teids: impl IntoIterator<Item = &'t Teid>, sub: Subscriber) {
        if self.sessions.len() >= self.max_sessions {
            self.sessions.clear();
        }
        for k in teids {
            self.sessions.insert(*k, sub);
        }
    }

    /// The session a deleting request was sent to ends.
    fn forget(&mut self, session: Option<Teid>) {
        if let Some(s) = session {
            self.sessions.remove(&s);
        }
    }

    /// The signal of an accepted transaction, with the request's time and frame.
    fn signal(
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
                proto: V::VERSION.proto(),
                message: u32::from(msg_type),
            },
        }
    }

    /// End of input: requests still pending are counted as unanswered.
    fn flush(&mut self) {
        self.stats.unanswered += self.pending.flush();
        self.stats.unmatched_responses += self.pairing.flush(|_| 1);
    }
}

/// What an accepted request signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A session starts: `session_start`.
    Start,
    /// The subscriber may have moved: `cell_change` when the request locates it.
    Move,
    /// The session it was sent to ends: `session_end`.
    End,
}

/// Which control TEIDs name the subscriber once a request is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learn {
    /// Both ends' (the request's and the response's senders').
    Senders,
    /// Both ends' and the one the request was sent to.
    SessionAndSenders,
}

/// What distinguishes the two GTP versions' correlators.
pub trait GtpVersion: GtpWire + Sized {
    /// The location IEs of the request fields a signal needs.
    type Location: Locator + Clone + std::fmt::Debug;
    const RETRANSMISSION: Retransmission;
    /// The causes that accept a request.
    const ACCEPTING: RangeInclusive<u8>;

    /// The message's type and sequence number (`None`: it cannot be paired).
    fn head(m: &Self::Message<'_>) -> (u8, Option<u32>);
    /// The header TEID of a request: the session it is for (`None`: not known yet).
    fn session_teid(m: &Self::Message<'_>) -> Option<u32>;
    /// What the message says about its subscriber.
    fn fields(m: &Self::Message<'_>) -> GtpFields<Self::Location>;
    /// The sender's control TEIDs; `src`: the packet's source address.
    fn sender(m: &Self::Message<'_>, src: IpAddr) -> Sender;
    /// What an accepted request of type `t` signals; `None`: not a request paired here
    /// (its response's type is `t + 1`).
    fn effect(t: u8) -> Option<Effect>;
    /// Which control TEIDs name the subscriber once a request of type `t` is accepted;
    /// `None`: no new ones.
    fn learns(t: u8) -> Option<Learn>;
}

/// A GTP-C correlator: requests paired with responses into signals, subscribers found
/// through the control TEIDs learned from earlier transactions (`Gtpv1Correlator`,
/// `Gtpv2Correlator`).
#[derive(Clone, Debug)]
pub struct GtpCorrelator<V: GtpVersion> {
    tx: Transactions<V>,
}

impl<V: GtpVersion> GtpCorrelator<V> {
    pub fn new(e212: E212) -> Self {
        Self::with_tolerance(e212, DEFAULT_TOLERANCE_US)
    }

    /// A correlator whose responses wait `tolerance_us` for a request not seen yet.
    pub fn with_tolerance(e212: E212, tolerance_us: i64) -> Self {
        GtpCorrelator {
            tx: Transactions::new(e212, tolerance_us),
        }
    }

    pub fn stats(&self) -> &GtpStats {
        &self.tx.stats
    }

    /// How responses were paired (in order, early, dropped; requests expired).
    pub fn pairing(&self) -> PairingStats {
        self.tx.pairing.stats(self.tx.stats.unanswered)
    }

    /// Request→response delays per pair of input files.
    pub fn delays(&self) -> &Delays {
        self.tx.pairing.delays()
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

    /// Feed one message seen on `flow`; returns a signal when it completes a transaction.
    /// Messages without a sequence number cannot be paired and are ignored.
    pub fn push(&mut self, meta: &PacketMeta, flow: FlowKey, m: &V::Message<'_>) -> Option<Signal> {
        self.tx.expire(meta.ts_us);
        let (t, seq) = V::head(m);
        let key = (flow.connection(), seq?);
        let (req, resp) = if V::effect(t).is_some() {
            // A retransmission keeps the first copy or replaces it (`V::RETRANSMISSION`).
            let req = GtpRequest {
                meta: *meta,
                msg_type: t,
                fields: V::fields(m),
                session: V::session_teid(m).map(|teid| (flow.dst.addr, teid)),
                sender: V::sender(m, flow.src.addr),
            };
            self.tx.request(key, req)?
        } else if t.checked_sub(1).and_then(V::effect).is_some() {
            let resp = GtpResponse {
                meta: *meta,
                msg_type: t,
                cause: V::fields(m).cause,
                sender: V::sender(m, flow.src.addr),
            };
            self.tx.response(key, resp)?
        } else {
            return None;
        };
        if !self.tx.accepted(resp.cause) {
            return None;
        }
        self.answer(req, resp)
    }

    /// The signal of an accepted exchange, with the request's time and frame.
    fn answer(&mut self, req: GtpRequest<V>, resp: GtpResponse) -> Option<Signal> {
        let f = &req.fields;
        let known = self.tx.session(req.session);
        let serving = f.location.serving();
        let Some(sub) = Subscriber::of(f.imsi, f.msisdn, serving, f.rat, known) else {
            self.tx.stats.no_imsi += 1;
            return None;
        };
        let location = f.location.location();
        if let Some(learn) = V::learns(req.msg_type) {
            let session = req.session.filter(|_| learn == Learn::SessionAndSenders);
            let senders = req.sender.iter().chain(&resp.sender).flatten();
            self.tx.learn(session.iter().chain(senders), sub);
        }
        let kind = match V::effect(req.msg_type)? {
            Effect::Start => SignalKind::SessionStart,
            Effect::Move if location.is_some() => SignalKind::CellChange,
            Effect::Move => return None,
            Effect::End => {
                self.tx.forget(req.session);
                SignalKind::SessionEnd
            }
        };
        let serving = sub.serving.or(location.map(|l| l.plmn()));
        Some(
            self.tx
                .signal(&req.meta, req.msg_type, sub, kind, serving, location),
        )
    }
}

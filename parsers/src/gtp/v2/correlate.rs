//! GTPv2-C request/response correlation into normalized [`Signal`]s
//! (docs/semantics.md, "Signals").
//!
//! Requests are held, keyed by (connection, sequence number), until their response; only
//! an accepted cause (16–63, TS 29.274 §8.4) makes a signal, carrying the request's time
//! and frame. Modify Bearer and Delete Session rarely carry the IMSI: it is found through
//! the control-plane TEID learned from the Create Session exchange (the peers' Sender
//! F-TEIDs), keyed by (address, TEID).
//!
//! | request | accepted response | signal |
//! |---|---|---|
//! | Create Session (32) | 33 | `session_start` |
//! | Modify Bearer (34) with a ULI | 35 | `cell_change` |
//! | Delete Session (36) | 37 | `session_end` |
//! | Change Notification (38) with a ULI | 39 | `cell_change` |

use ahash::AHashMap as HashMap;
use std::net::{IpAddr, Ipv4Addr};

use super::{ie, Gtpv2Fields, Gtpv2Message, Uli};
use crate::early::{
    Delays, EarlyAnswers, Hold, PairingStats, DEFAULT_MAX_EARLY, DEFAULT_TOLERANCE_US,
};
use crate::flow::{FlowKey, PacketMeta};
use crate::gtp::pending::{PendingRequests, Request};
use crate::numbering::e212::E212;
use crate::signal::{Location, Proto, Provenance, Signal, SignalKind};
use crate::types::{Imsi, Msisdn, Plmn};

const CREATE_SESSION: u8 = 32;
const MODIFY_BEARER: u8 = 34;
const DELETE_SESSION: u8 = 36;
const CHANGE_NOTIFICATION: u8 = 38;

/// Counters of what gave no signal, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gtpv2Stats {
    pub signals: u64,
    /// Responses with a rejection cause.
    pub rejected: u64,
    /// Requests dropped after the timeout or at the end of input.
    pub unanswered: u64,
    /// Responses whose request was not seen (held early ones included once dropped).
    pub unmatched_responses: u64,
    /// Accepted transactions whose subscriber could not be identified.
    pub no_imsi: u64,
}

/// What a session's subscriber is known by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Subscriber {
    imsi: Imsi,
    msisdn: Option<Msisdn>,
    serving: Option<Plmn>,
    rat: Option<u8>,
}

#[derive(Clone, Debug)]
struct Pending {
    meta: PacketMeta,
    msg_type: u8,
    fields: Gtpv2Fields,
    /// (destination address, header TEID) of the request: finds the session.
    session: Option<(IpAddr, u32)>,
    /// The requester's own control TEID (Sender F-TEID), for requests towards it.
    sender: Option<(IpAddr, u32)>,
}

impl Request for Pending {
    fn meta(&self) -> &PacketMeta {
        &self.meta
    }
    fn msg_type(&self) -> u8 {
        self.msg_type
    }
}

/// What a signal needs of a response, kept while it waits for its request.
#[derive(Clone, Copy, Debug)]
struct Response {
    meta: PacketMeta,
    msg_type: u8,
    cause: Option<u8>,
    /// The responder's control TEID (its Sender F-TEID).
    sender: Option<(IpAddr, u32)>,
}

impl Response {
    fn of(meta: &PacketMeta, msg: &Gtpv2Message<'_>, flow: FlowKey) -> Response {
        let (f, _) = Gtpv2Fields::extract(msg);
        Response {
            meta: *meta,
            msg_type: msg.header.msg_type,
            cause: f.cause,
            sender: sender_fteid(msg, flow.src.addr),
        }
    }
}

type Key = (FlowKey, u32);

/// Pairs GTPv2-C requests with responses and emits signals.
#[derive(Clone, Debug)]
pub struct Gtpv2Correlator {
    e212: E212,
    pending: PendingRequests<u32, Pending>,
    early: EarlyAnswers<Key, u32, Response>,
    sessions: HashMap<(IpAddr, u32), Subscriber>,
    max_sessions: usize,
    stats: Gtpv2Stats,
    pairing: PairingStats,
    delays: Delays,
}

impl Gtpv2Correlator {
    pub fn new(e212: E212) -> Gtpv2Correlator {
        Gtpv2Correlator::with_tolerance(e212, DEFAULT_TOLERANCE_US)
    }

    /// A correlator whose responses wait `tolerance_us` for a request not seen yet.
    pub fn with_tolerance(e212: E212, tolerance_us: i64) -> Gtpv2Correlator {
        Gtpv2Correlator {
            e212,
            // A request waits the tolerance longer (see `early`): `now` may come from a
            // probe whose clock runs ahead.
            pending: PendingRequests::new(
                30_000_000_i64.saturating_add(tolerance_us.max(0)),
                1 << 20,
            ),
            early: EarlyAnswers::new(tolerance_us, DEFAULT_MAX_EARLY),
            sessions: HashMap::new(),
            max_sessions: 10_000_000,
            stats: Gtpv2Stats::default(),
            pairing: PairingStats::default(),
            delays: Delays::default(),
        }
    }

    pub fn stats(&self) -> &Gtpv2Stats {
        &self.stats
    }

    /// How responses were paired (in order, early, dropped; requests expired).
    pub fn pairing(&self) -> PairingStats {
        PairingStats {
            expired: self.stats.unanswered,
            ..self.pairing
        }
    }

    /// Request→response delays per pair of input files.
    pub fn delays(&self) -> &Delays {
        &self.delays
    }

    fn expire(&mut self, now: i64) {
        self.stats.unanswered += self.pending.expire(now);
        let dropped = self.early.expire(now);
        self.stats.unmatched_responses += dropped;
        self.pairing.early_dropped += dropped;
    }

    /// Feed one message seen on `flow`; returns a signal when it completes a transaction.
    pub fn push(
        &mut self,
        meta: &PacketMeta,
        flow: FlowKey,
        msg: &Gtpv2Message<'_>,
    ) -> Option<Signal> {
        self.expire(meta.ts_us);
        let t = msg.header.msg_type;
        let key = (flow.connection(), msg.header.seq);
        if matches!(
            t,
            CREATE_SESSION | MODIFY_BEARER | DELETE_SESSION | CHANGE_NOTIFICATION
        ) {
            if self.early.completed_early(&key) {
                return None; // a copy of a request already paired with its early response
            }
            let (fields, _) = Gtpv2Fields::extract(msg);
            let pending = Pending {
                meta: *meta,
                msg_type: t,
                session: msg.header.teid.map(|teid| (flow.dst.addr, teid)),
                sender: sender_fteid(msg, flow.src.addr),
                fields,
            };
            if let Some((resp, _)) = self.early.take(&key, Some(key.1), |r| r.msg_type == t + 1) {
                self.pairing.early += 1;
                self.delays.record(meta, &resp.meta);
                self.early.complete(key, true);
                return self.respond(pending, resp);
            }
            if let Some(a) = self.early.take_missed(&key) {
                // Its response came too early for the tolerance: the delay tells the skew.
                self.delays.record(meta, &a);
            }
            // A request reusing the key (a retransmission) replaces the pending one.
            self.stats.unanswered += self.pending.insert(key, pending).flushed;
            return None;
        }
        if !matches!(t, 33 | 35 | 37 | 39) {
            return None;
        }
        let resp = Response::of(meta, msg, flow);
        let Some(req) = self.pending.take(key, t) else {
            if self.early.hold(key, Some(key.1), meta, resp) == Hold::Refused {
                self.stats.unmatched_responses += 1;
            }
            return None;
        };
        self.pairing.in_order += 1;
        self.delays.record(&req.meta, meta);
        self.early.complete(key, false);
        self.respond(req, resp)
    }

    /// A request and its response: a signal when the cause accepts.
    fn respond(&mut self, req: Pending, resp: Response) -> Option<Signal> {
        if !resp.cause.is_some_and(|c| (16..=63).contains(&c)) {
            self.stats.rejected += 1;
            return None;
        }
        self.answer(req, resp)
    }

    fn answer(&mut self, req: Pending, resp: Response) -> Option<Signal> {
        let known = req.session.and_then(|s| self.sessions.get(&s).copied());
        let f = &req.fields;
        let sub = match (f.imsi, known) {
            (Some(imsi), k) => Subscriber {
                imsi,
                msisdn: f.msisdn.or(k.and_then(|k| k.msisdn)),
                serving: f.serving.or(k.and_then(|k| k.serving)),
                rat: f.rat.or(k.and_then(|k| k.rat)),
            },
            (None, Some(k)) => Subscriber {
                msisdn: f.msisdn.or(k.msisdn),
                serving: f.serving.or(k.serving),
                rat: f.rat.or(k.rat),
                ..k
            },
            (None, None) => {
                self.stats.no_imsi += 1;
                return None;
            }
        };
        let location = f.uli.and_then(finest);
        let kind = match req.msg_type {
            CREATE_SESSION => {
                // Both ends' control TEIDs now name this subscriber.
                if self.sessions.len() >= self.max_sessions {
                    self.sessions.clear();
                }
                if let Some(s) = req.sender {
                    self.sessions.insert(s, sub);
                }
                if let Some(s) = resp.sender {
                    self.sessions.insert(s, sub);
                }
                SignalKind::SessionStart
            }
            MODIFY_BEARER | CHANGE_NOTIFICATION if location.is_some() => SignalKind::CellChange,
            MODIFY_BEARER | CHANGE_NOTIFICATION => return None,
            _ => {
                if let Some(s) = req.session {
                    self.sessions.remove(&s);
                }
                SignalKind::SessionEnd
            }
        };
        let serving = sub.serving.or(location.map(|l| l.plmn()));
        self.stats.signals += 1;
        Some(Signal {
            at: req.meta.ts_us,
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
                file: req.meta.file,
                frame: req.meta.frame,
                proto: Proto::Gtpv2,
                message: u32::from(req.msg_type),
            },
        })
    }

    /// End of input: pending requests count as unanswered.
    pub fn flush(&mut self) {
        self.stats.unanswered += self.pending.flush();
        let dropped = self.early.flush();
        self.stats.unmatched_responses += dropped;
        self.pairing.early_dropped += dropped;
    }
}

/// The sender's control-plane F-TEID: (IPv4 address or the packet's source, TEID). It is
/// instance 0 (Sender F-TEID for Control Plane); a PGW's Create Session Response on S5/S8
/// may carry only instance 1 (PGW S5/S8 F-TEID for control plane).
fn sender_fteid(msg: &Gtpv2Message<'_>, src: IpAddr) -> Option<(IpAddr, u32)> {
    let fteid = |instance| {
        msg.ies()
            .map_while(Result::ok)
            .find(|i| i.kind == ie::F_TEID && i.instance == instance)
    };
    let v = fteid(0).or_else(|| fteid(1))?.value;
    let teid = u32::from_be_bytes(v.get(1..5)?.try_into().ok()?);
    let addr = match v.first()? & 0x80 != 0 {
        true => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v.get(5..9)?).ok()?)),
        false => src,
    };
    Some((addr, teid))
}

/// The finest element of a ULI: cell (ECGI, CGI, SAI) before area (TAI, RAI, LAI).
fn finest(u: Uli) -> Option<Location> {
    u.ecgi
        .map(|(plmn, eci)| Location::Ecgi { plmn, eci })
        .or(u.cgi.map(|(plmn, lac, ci)| Location::Cgi { plmn, lac, ci }))
        .or(u
            .sai
            .map(|(plmn, lac, sac)| Location::Sai { plmn, lac, sac }))
        .or(u.tai.map(|(plmn, tac)| Location::Tai { plmn, tac }))
        .or(u
            .rai
            .map(|(plmn, lac, rac)| Location::Rai { plmn, lac, rac }))
        .or(u.lai.map(|(plmn, lac)| Location::Lai { plmn, lac }))
}

#[cfg(test)]
mod tests {
    use super::super::{Gtpv2Repr, IeRepr};
    use super::*;
    use std::net::Ipv4Addr;

    fn flow(a: u8, b: u8) -> FlowKey {
        let ip = |x| IpAddr::V4(Ipv4Addr::new(10, 0, 0, x));
        FlowKey::new(ip(a), 2123, ip(b), 2123)
    }

    fn meta(frame: u64) -> PacketMeta {
        PacketMeta {
            file: 0,
            frame,
            ts_us: 1_000_000 * frame as i64,
        }
    }

    fn fteid(teid: u32, addr: [u8; 4]) -> IeRepr {
        let mut value = vec![0x80 | 10];
        value.extend_from_slice(&teid.to_be_bytes());
        value.extend_from_slice(&addr);
        IeRepr {
            kind: ie::F_TEID,
            instance: 0,
            value,
        }
    }

    fn cause(c: u8) -> IeRepr {
        IeRepr {
            kind: ie::CAUSE,
            instance: 0,
            value: vec![c, 0],
        }
    }

    fn uli(eci: u8) -> IeRepr {
        IeRepr {
            kind: ie::ULI,
            instance: 0,
            value: vec![0x18, 0x02, 0xf8, 0x10, 0, 1, 0x02, 0xf8, 0x10, 0, 0, 0, eci],
        }
    }

    fn push(c: &mut Gtpv2Correlator, frame: u64, f: FlowKey, m: &Gtpv2Repr) -> Option<Signal> {
        let bytes = m.emit(false);
        c.push(&meta(frame), f, &Gtpv2Message::parse(&bytes).unwrap())
    }

    #[test]
    fn session_lifecycle_through_learned_teids() {
        let mut c = Gtpv2Correlator::with_tolerance(E212::default(), 0);
        let (mme, sgw) = (flow(1, 2), flow(2, 1));
        let imsi = Imsi::parse("208011000000001").unwrap();
        let csr = Gtpv2Repr {
            msg_type: 32,
            teid: Some(0),
            seq: 1,
            ies: vec![
                IeRepr {
                    kind: ie::IMSI,
                    instance: 0,
                    value: imsi.to_tbcd(),
                },
                IeRepr {
                    kind: ie::SERVING_NETWORK,
                    instance: 0,
                    value: vec![0x02, 0xf8, 0x10],
                },
                IeRepr {
                    kind: ie::RAT_TYPE,
                    instance: 0,
                    value: vec![6],
                },
                uli(1),
                fteid(0x100, [10, 0, 0, 1]),
            ],
        };
        assert_eq!(push(&mut c, 1, mme, &csr), None);
        let resp = Gtpv2Repr {
            msg_type: 33,
            teid: Some(0x100),
            seq: 1,
            ies: vec![cause(16), fteid(0x200, [10, 0, 0, 2])],
        };
        let s = push(&mut c, 2, sgw, &resp).expect("session start");
        assert_eq!(
            (s.kind, s.imsi, s.at, s.source.frame),
            (SignalKind::SessionStart, imsi, 1_000_000, 1)
        );
        assert_eq!(s.serving, Plmn::parse("208-01"));
        assert_eq!(
            s.location,
            Some(Location::Ecgi {
                plmn: Plmn::new(208, 1, 2),
                eci: 1
            })
        );

        // Modify Bearer towards the SGW's TEID, no IMSI: a cell change of the same subscriber.
        let mbr = Gtpv2Repr {
            msg_type: 34,
            teid: Some(0x200),
            seq: 2,
            ies: vec![uli(2)],
        };
        assert_eq!(push(&mut c, 3, mme, &mbr), None);
        let ok = Gtpv2Repr {
            msg_type: 35,
            teid: Some(0x100),
            seq: 2,
            ies: vec![cause(16)],
        };
        let s = push(&mut c, 4, sgw, &ok).expect("cell change");
        assert_eq!(
            (s.kind, s.imsi, s.rat),
            (SignalKind::CellChange, imsi, Some(6))
        );
        assert_eq!(
            s.location,
            Some(Location::Ecgi {
                plmn: Plmn::new(208, 1, 2),
                eci: 2
            })
        );

        // A rejected Modify Bearer gives nothing.
        let mbr = Gtpv2Repr {
            msg_type: 34,
            teid: Some(0x200),
            seq: 3,
            ies: vec![uli(3)],
        };
        push(&mut c, 5, mme, &mbr);
        let no = Gtpv2Repr {
            msg_type: 35,
            teid: Some(0x100),
            seq: 3,
            ies: vec![cause(64)],
        };
        assert_eq!(push(&mut c, 6, sgw, &no), None);
        assert_eq!(c.stats().rejected, 1);

        let dsr = Gtpv2Repr {
            msg_type: 36,
            teid: Some(0x200),
            seq: 4,
            ies: vec![],
        };
        push(&mut c, 7, mme, &dsr);
        let ok = Gtpv2Repr {
            msg_type: 37,
            teid: Some(0x100),
            seq: 4,
            ies: vec![cause(16)],
        };
        assert_eq!(
            push(&mut c, 8, sgw, &ok).map(|s| s.kind),
            Some(SignalKind::SessionEnd)
        );

        // After the session ended, its TEID no longer names anyone.
        let mbr = Gtpv2Repr {
            msg_type: 34,
            teid: Some(0x200),
            seq: 5,
            ies: vec![uli(4)],
        };
        push(&mut c, 9, mme, &mbr);
        let ok = Gtpv2Repr {
            msg_type: 35,
            teid: Some(0x100),
            seq: 5,
            ies: vec![cause(16)],
        };
        assert_eq!(push(&mut c, 10, sgw, &ok), None);
        assert_eq!(c.stats().no_imsi, 1);

        // A response without its request is counted.
        let ok = Gtpv2Repr {
            msg_type: 33,
            teid: Some(0x100),
            seq: 99,
            ies: vec![cause(16)],
        };
        assert_eq!(push(&mut c, 11, sgw, &ok), None);
        assert_eq!(c.stats().unmatched_responses, 1);
    }
}

//! GTPv1-C request/response correlation into normalized [`Signal`]s (TS 29.060).
//!
//! Requests are held, keyed by (connection, sequence number), until their response; only
//! an accepting cause (128–191, §7.7.1) makes a signal, with the request's time and frame.
//! Update and Delete requests are sent to the peer's control TEID and rarely carry the
//! IMSI: the subscriber is found through the TEIDs learned at Create (the SGSN's TEID
//! Control Plane in the request, the GGSN's in the response), keyed by (address, TEID).
//!
//! | request | accepted response | signal |
//! |---|---|---|
//! | Create PDP Context (16) | 17 | `session_start` |
//! | Update PDP Context (18) with RAI or ULI | 19 | `cell_change` |
//! | Delete PDP Context (20) | 21 | `session_end` |

use ahash::AHashMap as HashMap;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ie, msg, Gtpv1Fields, Gtpv1Message, Uli};
use crate::e212::E212;
use crate::flow::{FlowKey, PacketMeta};
use crate::signal::{Location, Proto, Provenance, Signal, SignalKind, TimestampUs};
use crate::types::{Imsi, Msisdn, Plmn};

/// Counters of what gave no signal, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gtpv1Stats {
    pub signals: u64,
    /// Responses with a rejecting cause.
    pub rejected: u64,
    /// Requests dropped after the timeout or at the end of input.
    pub unanswered: u64,
    /// Responses whose request was not seen.
    pub unmatched_responses: u64,
    /// Accepted transactions whose subscriber could not be identified.
    pub no_imsi: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Subscriber {
    imsi: Imsi,
    msisdn: Option<Msisdn>,
}

#[derive(Clone, Debug)]
struct Pending {
    meta: PacketMeta,
    msg_type: u8,
    fields: Gtpv1Fields,
    /// (destination address, header TEID): the session a request without IMSI is for.
    session: (IpAddr, u32),
    /// The requester's control TEIDs: (its addresses, TEID Control Plane IE).
    sender: Vec<(IpAddr, u32)>,
}

type Key = (FlowKey, u16);

/// Pairs GTPv1-C requests with responses and emits signals.
#[derive(Clone, Debug)]
pub struct Gtpv1Correlator {
    e212: E212,
    timeout_us: i64,
    max_pending: usize,
    max_sessions: usize,
    pending: HashMap<Key, Pending>,
    /// Pending requests by sequence number alone, for responses whose addressing does
    /// not mirror the request's.
    by_seq: HashMap<u16, Vec<Key>>,
    order: VecDeque<(TimestampUs, Key)>,
    sessions: HashMap<(IpAddr, u32), Subscriber>,
    stats: Gtpv1Stats,
}

fn is_request(t: u8) -> bool {
    matches!(
        t,
        msg::CREATE_PDP_CONTEXT_REQUEST
            | msg::UPDATE_PDP_CONTEXT_REQUEST
            | msg::DELETE_PDP_CONTEXT_REQUEST
    )
}

fn is_response(t: u8) -> bool {
    matches!(
        t,
        msg::CREATE_PDP_CONTEXT_RESPONSE
            | msg::UPDATE_PDP_CONTEXT_RESPONSE
            | msg::DELETE_PDP_CONTEXT_RESPONSE
    )
}

/// The TEID Control Plane IE and GSN Address IEs of a message, with the sender's address.
fn control_teids(m: &Gtpv1Message<'_>, src: IpAddr) -> Vec<(IpAddr, u32)> {
    let mut teid = None;
    let mut addrs = vec![src];
    for i in m.ies().map_while(Result::ok) {
        match i.kind {
            ie::TEID_C_PLANE if teid.is_none() => {
                teid = i
                    .value
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            }
            // The first GSN Address is the sender's control-plane address.
            ie::GSN_ADDRESS if addrs.len() == 1 => {
                let a = match i.value.len() {
                    4 => <[u8; 4]>::try_from(i.value)
                        .ok()
                        .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                    16 => <[u8; 16]>::try_from(i.value)
                        .ok()
                        .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
                    _ => None,
                };
                addrs.extend(a.filter(|a| *a != src));
            }
            _ => {}
        }
    }
    match teid {
        Some(t) => addrs.into_iter().map(|a| (a, t)).collect(),
        None => Vec::new(),
    }
}

/// The finest location: the ULI (CGI, SAI, RAI), else the RAI IE.
fn location(f: &Gtpv1Fields) -> Option<Location> {
    match f.uli {
        Some(Uli::Cgi { plmn, lac, ci }) => Some(Location::Cgi { plmn, lac, ci }),
        Some(Uli::Sai { plmn, lac, sac }) => Some(Location::Sai { plmn, lac, sac }),
        Some(Uli::Rai { plmn, lac, rac }) => Some(Location::Rai { plmn, lac, rac }),
        None => f.rai.map(|r| Location::Rai {
            plmn: r.plmn,
            lac: r.lac,
            rac: r.rac,
        }),
    }
}

fn location_plmn(l: &Location) -> Plmn {
    match *l {
        Location::Tai { plmn, .. }
        | Location::Ecgi { plmn, .. }
        | Location::Lai { plmn, .. }
        | Location::Cgi { plmn, .. }
        | Location::Sai { plmn, .. }
        | Location::Rai { plmn, .. }
        | Location::Ncgi { plmn, .. } => plmn,
    }
}

impl Gtpv1Correlator {
    pub fn new(e212: E212) -> Gtpv1Correlator {
        Gtpv1Correlator {
            e212,
            timeout_us: 30_000_000,
            max_pending: 1 << 20,
            max_sessions: 10_000_000,
            pending: HashMap::new(),
            by_seq: HashMap::new(),
            order: VecDeque::new(),
            sessions: HashMap::new(),
            stats: Gtpv1Stats::default(),
        }
    }

    pub fn stats(&self) -> &Gtpv1Stats {
        &self.stats
    }

    /// Feed one message seen on `flow`; returns a signal when it completes a transaction.
    pub fn push(
        &mut self,
        meta: &PacketMeta,
        flow: FlowKey,
        m: &Gtpv1Message<'_>,
    ) -> Option<Signal> {
        self.expire(meta.ts_us);
        let t = m.header.msg_type;
        let seq = m.header.seq?;
        let key = (flow.connection(), seq);
        if is_request(t) {
            let (fields, _) = Gtpv1Fields::extract(m);
            if self.pending.len() >= self.max_pending {
                self.stats.unanswered += self.pending.len() as u64;
                self.pending.clear();
                self.by_seq.clear();
                self.order.clear();
            }
            let pending = Pending {
                meta: *meta,
                msg_type: t,
                fields,
                session: (flow.dst.addr, m.header.teid),
                sender: control_teids(m, flow.src.addr),
            };
            self.by_seq.entry(seq).or_default().push(key);
            self.pending.insert(key, pending);
            self.order.push_back((meta.ts_us, key));
            return None;
        }
        if !is_response(t) {
            return None;
        }
        let req = match self.take(key, t) {
            Some(r) => r,
            None => {
                self.stats.unmatched_responses += 1;
                return None;
            }
        };
        let (resp, _) = Gtpv1Fields::extract(m);
        let accepted = resp.cause.is_some_and(|c| (128..=191).contains(&c));
        if !accepted {
            self.stats.rejected += 1;
            return None;
        }
        let known = self.sessions.get(&req.session).copied();
        let subscriber = match (req.fields.imsi, known) {
            (Some(imsi), _) => Subscriber {
                imsi,
                msisdn: req.fields.msisdn.or(known.and_then(|k| k.msisdn)),
            },
            (None, Some(k)) => k,
            (None, None) => {
                self.stats.no_imsi += 1;
                return None;
            }
        };
        let kind = match req.msg_type {
            msg::CREATE_PDP_CONTEXT_REQUEST => {
                if self.sessions.len() >= self.max_sessions {
                    self.sessions.clear();
                }
                let responder = control_teids(m, flow.src.addr);
                for k in req.sender.iter().chain(responder.iter()) {
                    self.sessions.insert(*k, subscriber);
                }
                SignalKind::SessionStart
            }
            msg::UPDATE_PDP_CONTEXT_REQUEST => SignalKind::CellChange,
            _ => {
                self.sessions.remove(&req.session);
                SignalKind::SessionEnd
            }
        };
        let loc = location(&req.fields);
        if kind == SignalKind::CellChange && loc.is_none() {
            return None;
        }
        let serving = loc.as_ref().map(location_plmn);
        self.stats.signals += 1;
        Some(Signal {
            at: req.meta.ts_us,
            imsi: subscriber.imsi,
            msisdn: subscriber.msisdn,
            kind,
            home: self.e212.home_plmn(&subscriber.imsi),
            home_country: self.e212.imsi_country(&subscriber.imsi),
            serving,
            serving_country: serving.and_then(|p| self.e212.country(p.mcc)),
            location: loc,
            rat: req.fields.rat.map(u32::from),
            source: Provenance {
                file: req.meta.file,
                frame: req.meta.frame,
                proto: Proto::Gtpv1,
                message: u32::from(req.msg_type),
            },
        })
    }

    /// The pending request answered by a response of type `t` with `key`, or the only
    /// pending request of the matching type with that sequence number.
    fn take(&mut self, key: Key, t: u8) -> Option<Pending> {
        let found = if self.pending.get(&key).is_some_and(|p| p.msg_type + 1 == t) {
            Some(key)
        } else {
            let same: Vec<Key> = self
                .by_seq
                .get(&key.1)
                .into_iter()
                .flatten()
                .filter(|k| self.pending.get(k).is_some_and(|p| p.msg_type + 1 == t))
                .copied()
                .collect();
            (same.len() == 1).then(|| same[0])
        }?;
        if let Some(v) = self.by_seq.get_mut(&found.1) {
            v.retain(|k| *k != found);
            if v.is_empty() {
                self.by_seq.remove(&found.1);
            }
        }
        self.pending.remove(&found)
    }

    fn expire(&mut self, now: TimestampUs) {
        while let Some(&(ts, key)) = self.order.front() {
            if now - ts < self.timeout_us {
                break;
            }
            self.order.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.meta.ts_us == ts) {
                self.pending.remove(&key);
                if let Some(v) = self.by_seq.get_mut(&key.1) {
                    v.retain(|k| *k != key);
                    if v.is_empty() {
                        self.by_seq.remove(&key.1);
                    }
                }
                self.stats.unanswered += 1;
            }
        }
    }

    /// End of input: requests still pending are counted as unanswered.
    pub fn flush(&mut self) {
        self.stats.unanswered += self.pending.len() as u64;
        self.pending.clear();
        self.by_seq.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gtpv1::{Gtpv1Repr, IeRepr};

    fn ie(kind: u8, value: Vec<u8>) -> IeRepr {
        IeRepr { kind, value }
    }

    fn msg(msg_type: u8, teid: u32, seq: u16, ies: Vec<IeRepr>) -> Vec<u8> {
        Gtpv1Repr {
            msg_type,
            teid,
            seq: Some(seq),
            npdu: None,
            extensions: vec![],
            ies,
        }
        .emit()
    }

    struct Link {
        c: Gtpv1Correlator,
        frame: u64,
    }

    const SGSN: [u8; 4] = [10, 0, 0, 1];
    const GGSN: [u8; 4] = [10, 0, 0, 2];

    impl Link {
        fn send(&mut self, up: bool, bytes: &[u8]) -> Option<Signal> {
            self.frame += 1;
            let meta = PacketMeta {
                file: 0,
                frame: self.frame,
                ts_us: self.frame as i64,
            };
            let (s, g) = (IpAddr::from(SGSN), IpAddr::from(GGSN));
            let flow = if up {
                FlowKey::new(s, 2123, g, 2123)
            } else {
                FlowKey::new(g, 2123, s, 2123)
            };
            let m = Gtpv1Message::parse(bytes).unwrap();
            self.c.push(&meta, flow, &m)
        }
    }

    fn rai(lac: u16) -> IeRepr {
        let mut v = Plmn::new(262, 1, 2).to_bcd().to_vec();
        v.extend_from_slice(&lac.to_be_bytes());
        v.push(7);
        ie(super::ie::RAI, v)
    }

    fn create(seq: u16) -> Vec<u8> {
        msg(
            msg::CREATE_PDP_CONTEXT_REQUEST,
            0,
            seq,
            vec![
                ie(
                    super::ie::IMSI,
                    Imsi::parse("262011234567890").unwrap().to_tbcd(),
                ),
                rai(0x10),
                ie(super::ie::TEID_C_PLANE, 0x1111u32.to_be_bytes().to_vec()),
                ie(
                    super::ie::MSISDN,
                    [
                        vec![0x91],
                        Msisdn::parse("4915112345678").unwrap().to_tbcd(),
                    ]
                    .concat(),
                ),
                ie(super::ie::RAT_TYPE, vec![1]),
            ],
        )
    }

    fn response(t: u8, teid: u32, seq: u16, cause: u8, extra: Vec<IeRepr>) -> Vec<u8> {
        let mut ies = vec![ie(super::ie::CAUSE, vec![cause])];
        ies.extend(extra);
        msg(t, teid, seq, ies)
    }

    #[test]
    fn session_lifecycle_resolves_imsi_through_teids() {
        let mut l = Link {
            c: Gtpv1Correlator::new(E212::default()),
            frame: 0,
        };
        assert!(l.send(true, &create(1)).is_none());
        let s = l
            .send(
                false,
                &response(
                    msg::CREATE_PDP_CONTEXT_RESPONSE,
                    0x1111,
                    1,
                    128,
                    vec![ie(
                        super::ie::TEID_C_PLANE,
                        0x2222u32.to_be_bytes().to_vec(),
                    )],
                ),
            )
            .unwrap();
        assert_eq!(s.kind, SignalKind::SessionStart);
        assert_eq!(s.imsi.as_str(), "262011234567890");
        assert_eq!(s.msisdn.unwrap().as_str(), "4915112345678");
        assert_eq!(s.serving, Some(Plmn::new(262, 1, 2)));
        assert_eq!(s.rat, Some(1));
        assert_eq!(s.source.frame, 1);
        // Update without IMSI, to the GGSN's TEID, with a new RAI.
        l.send(
            true,
            &msg(msg::UPDATE_PDP_CONTEXT_REQUEST, 0x2222, 2, vec![rai(0x20)]),
        );
        let s = l
            .send(
                false,
                &response(msg::UPDATE_PDP_CONTEXT_RESPONSE, 0x1111, 2, 128, vec![]),
            )
            .unwrap();
        assert_eq!(s.kind, SignalKind::CellChange);
        assert_eq!(s.imsi.as_str(), "262011234567890");
        assert_eq!(
            s.location,
            Some(Location::Rai {
                plmn: Plmn::new(262, 1, 2),
                lac: 0x20,
                rac: 7
            })
        );
        l.send(
            true,
            &msg(msg::DELETE_PDP_CONTEXT_REQUEST, 0x2222, 3, vec![]),
        );
        let s = l
            .send(
                false,
                &response(msg::DELETE_PDP_CONTEXT_RESPONSE, 0x1111, 3, 128, vec![]),
            )
            .unwrap();
        assert_eq!(s.kind, SignalKind::SessionEnd);
        assert_eq!(l.c.stats().signals, 3);
    }

    #[test]
    fn rejections_strays_and_timeouts_are_counted() {
        let mut l = Link {
            c: Gtpv1Correlator::new(E212::default()),
            frame: 0,
        };
        l.send(true, &create(5));
        // 209: "User authentication failed" (a rejection).
        assert!(l
            .send(
                false,
                &response(msg::CREATE_PDP_CONTEXT_RESPONSE, 0x1111, 5, 209, vec![])
            )
            .is_none());
        assert_eq!(l.c.stats().rejected, 1);
        assert!(l
            .send(
                false,
                &response(msg::CREATE_PDP_CONTEXT_RESPONSE, 0x1111, 6, 128, vec![])
            )
            .is_none());
        assert_eq!(l.c.stats().unmatched_responses, 1);
        // An update for an unknown session: accepted, but nobody to attribute it to.
        l.send(
            true,
            &msg(msg::UPDATE_PDP_CONTEXT_REQUEST, 0x9999, 7, vec![rai(1)]),
        );
        assert!(l
            .send(
                false,
                &response(msg::UPDATE_PDP_CONTEXT_RESPONSE, 0x1111, 7, 128, vec![])
            )
            .is_none());
        assert_eq!(l.c.stats().no_imsi, 1);
        l.send(true, &create(8));
        l.c.flush();
        assert_eq!(l.c.stats().unanswered, 1);
    }
}

//! GTPv1-C request/response correlation into normalized [`Signal`](crate::signal::Signal)s
//! (TS 29.060).
//!
//! Requests are held, keyed by (connection, sequence number), until their response; only
//! an accepting cause (128–191, §7.7.1) makes a signal, with the request's time and frame.
//! Update and Delete requests are sent to the peer's control TEID and rarely carry the
//! IMSI (nor does a secondary Create): the subscriber is found through the TEIDs learned
//! at Create (the SGSN's TEID Control Plane in the request, the GGSN's in the response),
//! keyed by (address, TEID). An accepted Update re-learns them (a new SGSN after an
//! inter-SGSN routing area update sends its own TEID-C); an accepted Delete forgets the
//! TEID it was sent to.
//!
//! | request | accepted response | signal |
//! |---|---|---|
//! | Create PDP Context (16) | 17 | `session_start` |
//! | Update PDP Context (18) with RAI or ULI | 19 | `cell_change` |
//! | Delete PDP Context (20) | 21 | `session_end` |
//!
//! Location is the finest the request carried: the ULI (CGI, SAI, RAI), else the RAI IE;
//! its PLMN is the serving network. GTPv1 has no serving-network IE, so a signal without
//! location (Delete) keeps the serving network and RAT learned for the session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use super::{ie, msg, Gtpv1Fields, Gtpv1Message, LocationIes, Rai, Uli, V1};
use crate::gtp::fields::Locator;
use crate::gtp::transactions::{
    Effect, GtpCorrelator, GtpStats, GtpVersion, Learn, Retransmission, Sender,
};
use crate::signal::Location;
use crate::types::Plmn;

/// GTPv1: 16-bit sequence numbers (messages without one are not paired), a retransmission
/// keeps the first copy; the sender's control TEIDs are those of its TEID Control Plane IE.
impl GtpVersion for V1 {
    type Location = LocationIes;
    const RETRANSMISSION: Retransmission = Retransmission::KeepFirst;
    /// "Request accepted" and the other acceptances (§7.7.1).
    const ACCEPTING: RangeInclusive<u8> = 128..=191;

    fn head(m: &Gtpv1Message<'_>) -> (u8, Option<u32>) {
        (m.header.msg_type, m.header.seq.map(u32::from))
    }

    /// TEID 0: a Create sent before the peer's TEID is known.
    fn session_teid(m: &Gtpv1Message<'_>) -> Option<u32> {
        (m.header.teid != 0).then_some(m.header.teid)
    }

    fn fields(m: &Gtpv1Message<'_>) -> Gtpv1Fields {
        Gtpv1Fields::extract(m).0
    }

    fn sender(m: &Gtpv1Message<'_>, src: IpAddr) -> Sender {
        control_teids(m, src)
    }

    fn effect(t: u8) -> Option<Effect> {
        match t {
            msg::CREATE_PDP_CONTEXT_REQUEST => Some(Effect::Start),
            msg::UPDATE_PDP_CONTEXT_REQUEST => Some(Effect::Move),
            msg::DELETE_PDP_CONTEXT_REQUEST => Some(Effect::End),
            _ => None,
        }
    }

    /// Create and Update: both ends' control TEIDs (new ones after an SGSN change) and the
    /// one the request was sent to.
    fn learns(t: u8) -> Option<Learn> {
        matches!(
            t,
            msg::CREATE_PDP_CONTEXT_REQUEST | msg::UPDATE_PDP_CONTEXT_REQUEST
        )
        .then_some(Learn::SessionAndSenders)
    }
}

impl Locator for LocationIes {
    /// The ULI (CGI, SAI, RAI), else the RAI IE.
    fn location(&self) -> Option<Location> {
        self.uli.map(Uli::location).or(self.rai.map(Rai::location))
    }

    /// The location's PLMN: GTPv1 has no serving-network IE.
    fn serving(&self) -> Option<Plmn> {
        self.location().map(|l| l.plmn())
    }
}

/// Counters of what gave no signal, and why.
pub type Gtpv1Stats = GtpStats;

/// Pairs GTPv1-C requests with responses and emits signals.
pub type Gtpv1Correlator = GtpCorrelator<V1>;

/// The sender's control TEIDs: its TEID Control Plane IE (TV 17) under the packet's source
/// address and under the first GSN Address IE (the sender's address for signalling, when
/// it differs). Nothing when the IE is absent or zero.
fn control_teids(m: &Gtpv1Message<'_>, src: IpAddr) -> Sender {
    let mut teid = None;
    let mut gsn = None;
    for i in m.ies().map_while(Result::ok) {
        match i.kind {
            ie::TEID_C_PLANE if teid.is_none() => {
                teid = i
                    .value
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            }
            ie::GSN_ADDRESS if gsn.is_none() => {
                gsn = Some(match i.value.len() {
                    4 => <[u8; 4]>::try_from(i.value)
                        .ok()
                        .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                    16 => <[u8; 16]>::try_from(i.value)
                        .ok()
                        .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    let Some(teid) = teid.filter(|&t| t != 0) else {
        return [None, None];
    };
    let gsn = gsn.flatten().filter(|a| *a != src);
    [Some((src, teid)), gsn.map(|a| (a, teid))]
}

#[cfg(test)]
mod tests {
    use super::super::{Gtpv1Repr, IeRepr};
    use super::*;
    use crate::flow::{FlowKey, PacketMeta};
    use crate::numbering::e212::E212;
    use crate::signal::Provenance;
    use crate::signal::{Location, Proto, Signal, SignalKind};
    use crate::types::Country;
    use crate::types::{Imsi, Msisdn, Plmn};

    const SGSN: [u8; 4] = [10, 0, 0, 1];
    const GGSN: [u8; 4] = [10, 0, 0, 2];
    const SGSN2: [u8; 4] = [10, 0, 0, 3];
    /// The TEID-C of the SGSN, the GGSN and the second SGSN.
    const T_SGSN: u32 = 0x1111;
    const T_GGSN: u32 = 0x2222;
    const T_SGSN2: u32 = 0x3333;

    fn imsi() -> Imsi {
        Imsi::parse("262011234567890").unwrap()
    }

    fn plmn() -> Plmn {
        Plmn::new(262, 1, 2)
    }

    /// A correlator fed one message per second of capture time.
    struct Net {
        c: Gtpv1Correlator,
        frame: u64,
        ts_us: i64,
    }

    impl Net {
        fn new() -> Net {
            // No early pairing: these tests count responses without request at once.
            Net {
                c: Gtpv1Correlator::with_tolerance(E212::default(), 0),
                frame: 0,
                ts_us: 0,
            }
        }

        /// `m` from `src` to `dst`, emitted and parsed again.
        fn send(&mut self, src: [u8; 4], dst: [u8; 4], m: Gtpv1Repr) -> Option<Signal> {
            self.frame += 1;
            self.ts_us += 1_000_000;
            let meta = PacketMeta {
                file: 0,
                frame: self.frame,
                ts_us: self.ts_us,
            };
            let flow = FlowKey::new(IpAddr::from(src), 2123, IpAddr::from(dst), 2123);
            let bytes = m.emit();
            self.c
                .push(&meta, flow, &Gtpv1Message::parse(&bytes).unwrap())
        }

        fn stats(&self) -> Gtpv1Stats {
            self.c.stats().clone()
        }
    }

    fn gtp(msg_type: u8, teid: u32, seq: u16, ies: Vec<IeRepr>) -> Gtpv1Repr {
        Gtpv1Repr {
            msg_type,
            teid,
            seq: Some(seq),
            npdu: None,
            extensions: vec![],
            ies,
        }
    }

    fn tv(kind: u8, value: &[u8]) -> IeRepr {
        IeRepr {
            kind,
            value: value.to_vec(),
        }
    }

    fn cause(c: u8) -> IeRepr {
        tv(ie::CAUSE, &[c])
    }

    fn teid_c(t: u32) -> IeRepr {
        tv(ie::TEID_C_PLANE, &t.to_be_bytes())
    }

    fn gsn(a: [u8; 4]) -> IeRepr {
        tv(ie::GSN_ADDRESS, &a)
    }

    fn rai(lac: u16) -> IeRepr {
        let mut v = plmn().to_bcd().to_vec();
        v.extend_from_slice(&lac.to_be_bytes());
        v.push(7);
        tv(ie::RAI, &v)
    }

    /// ULI of geographic location type 0 (CGI).
    fn uli_cgi(lac: u16, ci: u16) -> IeRepr {
        let mut v = vec![0];
        v.extend_from_slice(&plmn().to_bcd());
        v.extend_from_slice(&lac.to_be_bytes());
        v.extend_from_slice(&ci.to_be_bytes());
        tv(ie::ULI, &v)
    }

    fn create(seq: u16, teid_ie: u32) -> Gtpv1Repr {
        let mut msisdn = vec![0x91];
        msisdn.extend(Msisdn::parse("4915112345678").unwrap().to_tbcd());
        gtp(
            msg::CREATE_PDP_CONTEXT_REQUEST,
            0,
            seq,
            vec![
                tv(ie::IMSI, &imsi().to_tbcd()),
                rai(0x10),
                teid_c(teid_ie),
                gsn(SGSN),
                tv(ie::MSISDN, &msisdn),
                tv(ie::RAT_TYPE, &[1]),
            ],
        )
    }

    fn response(t: u8, teid: u32, seq: u16, c: u8, extra: Vec<IeRepr>) -> Gtpv1Repr {
        let mut ies = vec![cause(c)];
        ies.extend(extra);
        gtp(t, teid, seq, ies)
    }

    /// SGSN → GGSN Create, accepted with the GGSN's TEID-C: the session_start.
    fn establish(n: &mut Net) -> Signal {
        assert_eq!(n.send(SGSN, GGSN, create(1, T_SGSN)), None);
        let ok = response(
            msg::CREATE_PDP_CONTEXT_RESPONSE,
            T_SGSN,
            1,
            128,
            vec![teid_c(T_GGSN), gsn(GGSN)],
        );
        n.send(GGSN, SGSN, ok).expect("session_start")
    }

    #[test]
    fn accepted_create_starts_a_session_with_imsi_and_rai() {
        let mut n = Net::new();
        let s = establish(&mut n);
        assert_eq!(
            (s.kind, s.imsi, s.at),
            (SignalKind::SessionStart, imsi(), 1_000_000)
        );
        assert_eq!(
            s.source,
            Provenance {
                file: 0,
                frame: 1,
                proto: Proto::Gtpv1,
                message: 16
            }
        );
        assert_eq!(s.msisdn, Msisdn::parse("4915112345678").ok());
        assert_eq!(
            s.location,
            Some(Location::Rai {
                plmn: plmn(),
                lac: 0x10,
                rac: 7
            })
        );
        assert_eq!((s.serving, s.home), (Some(plmn()), Some(plmn())));
        assert_eq!(s.home_country, Country::new("DE"));
        assert_eq!(s.serving_country, Country::new("DE"));
        assert_eq!(s.rat, Some(1));
        assert_eq!(n.stats().signals, 1);
    }

    #[test]
    fn update_and_delete_without_imsi_are_found_through_the_ggsn_teid() {
        let mut n = Net::new();
        establish(&mut n);
        // Update to the GGSN's TEID-C, no IMSI: the CGI of the ULI is finer than the RAI.
        let upd = gtp(
            msg::UPDATE_PDP_CONTEXT_REQUEST,
            T_GGSN,
            2,
            vec![rai(0x20), uli_cgi(0x20, 0x4242)],
        );
        assert_eq!(n.send(SGSN, GGSN, upd), None);
        let ok = response(msg::UPDATE_PDP_CONTEXT_RESPONSE, T_SGSN, 2, 128, vec![]);
        let s = n.send(GGSN, SGSN, ok).expect("cell_change");
        assert_eq!(
            (s.kind, s.imsi, s.source.frame),
            (SignalKind::CellChange, imsi(), 3)
        );
        assert_eq!(
            s.location,
            Some(Location::Cgi {
                plmn: plmn(),
                lac: 0x20,
                ci: 0x4242
            })
        );
        // MSISDN and RAT come from the session.
        assert_eq!(s.msisdn, Msisdn::parse("4915112345678").ok());
        assert_eq!(s.rat, Some(1));

        // An Update without RAI or ULI (a QoS change) places nobody.
        n.send(
            SGSN,
            GGSN,
            gtp(msg::UPDATE_PDP_CONTEXT_REQUEST, T_GGSN, 3, vec![]),
        );
        let ok = response(msg::UPDATE_PDP_CONTEXT_RESPONSE, T_SGSN, 3, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, ok), None);

        n.send(
            SGSN,
            GGSN,
            gtp(msg::DELETE_PDP_CONTEXT_REQUEST, T_GGSN, 4, vec![]),
        );
        let ok = response(msg::DELETE_PDP_CONTEXT_RESPONSE, T_SGSN, 4, 128, vec![]);
        let s = n.send(GGSN, SGSN, ok).expect("session_end");
        assert_eq!(
            (s.kind, s.imsi, s.location),
            (SignalKind::SessionEnd, imsi(), None)
        );
        assert_eq!(s.serving, Some(plmn()));

        // After the delete the GGSN's TEID names nobody.
        let upd = gtp(msg::UPDATE_PDP_CONTEXT_REQUEST, T_GGSN, 5, vec![rai(0x30)]);
        n.send(SGSN, GGSN, upd);
        let ok = response(msg::UPDATE_PDP_CONTEXT_RESPONSE, T_SGSN, 5, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, ok), None);
        let st = n.stats();
        assert_eq!((st.signals, st.no_imsi, st.rejected), (3, 1, 0));
    }

    #[test]
    fn ggsn_initiated_delete_is_found_through_the_sgsn_teid() {
        let mut n = Net::new();
        establish(&mut n);
        n.send(
            GGSN,
            SGSN,
            gtp(msg::DELETE_PDP_CONTEXT_REQUEST, T_SGSN, 9, vec![]),
        );
        let ok = response(msg::DELETE_PDP_CONTEXT_RESPONSE, T_GGSN, 9, 128, vec![]);
        let s = n.send(SGSN, GGSN, ok).expect("session_end");
        assert_eq!((s.kind, s.imsi), (SignalKind::SessionEnd, imsi()));
    }

    #[test]
    fn a_new_sgsn_is_learned_from_its_update() {
        let mut n = Net::new();
        establish(&mut n);
        // Inter-SGSN routing area update: the new SGSN sends its own TEID-C.
        let upd = gtp(
            msg::UPDATE_PDP_CONTEXT_REQUEST,
            T_GGSN,
            2,
            vec![rai(0x40), teid_c(T_SGSN2), gsn(SGSN2)],
        );
        n.send(SGSN2, GGSN, upd);
        let ok = response(msg::UPDATE_PDP_CONTEXT_RESPONSE, T_SGSN2, 2, 128, vec![]);
        let s = n.send(GGSN, SGSN2, ok).expect("cell_change");
        assert_eq!((s.kind, s.imsi), (SignalKind::CellChange, imsi()));
        // The GGSN later deletes the context towards the new SGSN.
        n.send(
            GGSN,
            SGSN2,
            gtp(msg::DELETE_PDP_CONTEXT_REQUEST, T_SGSN2, 7, vec![]),
        );
        let ok = response(msg::DELETE_PDP_CONTEXT_RESPONSE, T_GGSN, 7, 128, vec![]);
        let s = n.send(SGSN2, GGSN, ok).expect("session_end");
        assert_eq!((s.kind, s.imsi), (SignalKind::SessionEnd, imsi()));
        assert_eq!(s.serving, Some(plmn()));
    }

    #[test]
    fn secondary_create_without_imsi_uses_the_session() {
        let mut n = Net::new();
        establish(&mut n);
        let secondary = gtp(
            msg::CREATE_PDP_CONTEXT_REQUEST,
            T_GGSN,
            2,
            vec![tv(ie::NSAPI, &[6])],
        );
        n.send(SGSN, GGSN, secondary);
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 2, 128, vec![]);
        let s = n.send(GGSN, SGSN, ok).expect("session_start");
        assert_eq!(
            (s.kind, s.imsi, s.serving),
            (SignalKind::SessionStart, imsi(), Some(plmn()))
        );
    }

    #[test]
    fn rejected_create_gives_no_signal_and_learns_no_teid() {
        let mut n = Net::new();
        n.send(SGSN, GGSN, create(1, T_SGSN));
        // 199 "No resources available" (rejections are 192..=255).
        let no = response(
            msg::CREATE_PDP_CONTEXT_RESPONSE,
            T_SGSN,
            1,
            199,
            vec![teid_c(T_GGSN)],
        );
        assert_eq!(n.send(GGSN, SGSN, no), None);
        assert_eq!((n.stats().rejected, n.stats().signals), (1, 0));
        // A response without a cause is not an acceptance either.
        n.send(SGSN, GGSN, create(2, T_SGSN));
        let bare = gtp(
            msg::CREATE_PDP_CONTEXT_RESPONSE,
            T_SGSN,
            2,
            vec![teid_c(T_GGSN)],
        );
        assert_eq!(n.send(GGSN, SGSN, bare), None);
        assert_eq!(n.stats().rejected, 2);
        let upd = gtp(msg::UPDATE_PDP_CONTEXT_REQUEST, T_GGSN, 3, vec![rai(0x20)]);
        n.send(SGSN, GGSN, upd);
        let ok = response(msg::UPDATE_PDP_CONTEXT_RESPONSE, T_SGSN, 3, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, ok), None);
        assert_eq!(n.stats().no_imsi, 1);
        // The boundaries of the accepting range: 191 accepts, 192 rejects.
        for (seq, c, accepted) in [(4, 191, true), (5, 192, false)] {
            n.send(SGSN, GGSN, create(seq, T_SGSN));
            let r = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, seq, c, vec![]);
            assert_eq!(n.send(GGSN, SGSN, r).is_some(), accepted, "cause {c}");
        }
    }

    #[test]
    fn stray_and_mismatched_responses_are_counted() {
        let mut n = Net::new();
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 6, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, ok), None);
        assert_eq!(n.stats().unmatched_responses, 1);
        // A response of another type does not answer a pending Create…
        n.send(SGSN, GGSN, create(7, T_SGSN));
        let wrong = response(msg::DELETE_PDP_CONTEXT_RESPONSE, T_SGSN, 7, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, wrong), None);
        assert_eq!(n.stats().unmatched_responses, 2);
        // …which stays pending for its own response.
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 7, 128, vec![]);
        assert!(n.send(GGSN, SGSN, ok).is_some());
    }

    #[test]
    fn response_from_another_address_pairs_by_sequence_number() {
        let mut n = Net::new();
        let other = [10, 0, 0, 9];
        n.send(SGSN, GGSN, create(1, T_SGSN));
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 1, 128, vec![]);
        assert!(n.send(other, SGSN, ok.clone()).is_some());
        // Two candidates with that sequence number: ambiguous, not guessed.
        n.send(SGSN, GGSN, create(2, T_SGSN));
        n.send(SGSN2, GGSN, create(2, T_SGSN2));
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 2, 128, vec![]);
        assert_eq!(n.send(other, SGSN, ok), None);
        assert_eq!(n.stats().unmatched_responses, 1);
    }

    #[test]
    fn retransmitted_request_keeps_the_first_copy() {
        let mut n = Net::new();
        n.send(SGSN, GGSN, create(1, T_SGSN));
        n.send(SGSN, GGSN, create(1, T_SGSN));
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 1, 128, vec![]);
        let s = n.send(GGSN, SGSN, ok).unwrap();
        assert_eq!((s.source.frame, s.at), (1, 1_000_000));
        n.c.flush();
        assert_eq!(n.stats().unanswered, 0);
    }

    #[test]
    fn unanswered_requests_expire_and_flush() {
        let mut n = Net::new();
        n.send(SGSN, GGSN, create(1, T_SGSN));
        n.ts_us += 31_000_000;
        let late = response(msg::CREATE_PDP_CONTEXT_RESPONSE, T_SGSN, 1, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, late), None);
        assert_eq!(
            (n.stats().unanswered, n.stats().unmatched_responses),
            (1, 1)
        );
        n.send(SGSN, GGSN, create(2, T_SGSN));
        n.c.flush();
        assert_eq!(n.stats().unanswered, 2);
    }

    #[test]
    fn teid_zero_names_no_session() {
        let mut n = Net::new();
        // Peers that (wrongly) announce TEID-C 0.
        n.send(SGSN, GGSN, create(1, 0));
        let ok = response(msg::CREATE_PDP_CONTEXT_RESPONSE, 0, 1, 128, vec![teid_c(0)]);
        assert!(n.send(GGSN, SGSN, ok).is_some());
        let upd = gtp(msg::UPDATE_PDP_CONTEXT_REQUEST, 0, 2, vec![rai(0x20)]);
        n.send(SGSN, GGSN, upd);
        let ok = response(msg::UPDATE_PDP_CONTEXT_RESPONSE, 0, 2, 128, vec![]);
        assert_eq!(n.send(GGSN, SGSN, ok), None);
        assert_eq!(n.stats().no_imsi, 1);
    }

    /// One message of the interleaving property: when, which packet, which way, what.
    type Timed = (i64, bool, PacketMeta, [u8; 4], [u8; 4], Gtpv1Repr);

    /// `n` sessions 5 ms apart, each Create, Update (new routing area) 20 ms later and
    /// Delete 40 ms later, SGSN → GGSN; each response stamped `delays[k]` after its request.
    fn sessions(n: usize, delays: &[i64], ties: &[bool]) -> Vec<Timed> {
        let mut out = Vec::new();
        let mut frame = 0;
        for s in 0..n {
            let (t_sgsn, t_ggsn) = (0x1000 + s as u32, 0x2000 + s as u32);
            let seq = 3 * s as u16;
            let t = 5_000 * s as i64;
            let steps = [
                (
                    create(seq, t_sgsn),
                    response(
                        msg::CREATE_PDP_CONTEXT_RESPONSE,
                        t_sgsn,
                        seq,
                        128,
                        vec![teid_c(t_ggsn), gsn(GGSN)],
                    ),
                ),
                (
                    gtp(
                        msg::UPDATE_PDP_CONTEXT_REQUEST,
                        t_ggsn,
                        seq + 1,
                        vec![rai(0x20)],
                    ),
                    response(
                        msg::UPDATE_PDP_CONTEXT_RESPONSE,
                        t_sgsn,
                        seq + 1,
                        128,
                        vec![],
                    ),
                ),
                (
                    gtp(msg::DELETE_PDP_CONTEXT_REQUEST, t_ggsn, seq + 2, vec![]),
                    response(
                        msg::DELETE_PDP_CONTEXT_RESPONSE,
                        t_sgsn,
                        seq + 2,
                        128,
                        vec![],
                    ),
                ),
            ];
            for (k, (q, a)) in steps.into_iter().enumerate() {
                let i = 3 * s + k;
                let at = t + 20_000 * k as i64;
                let tie = ties.get(i).copied().unwrap_or(false);
                let m = |frame, ts_us| PacketMeta {
                    file: 0,
                    frame,
                    ts_us,
                };
                frame += 1;
                out.push((at, !tie, m(frame, at), SGSN, GGSN, q));
                frame += 1;
                let ra = at + delays.get(i).copied().unwrap_or(1);
                out.push((ra, tie, m(frame, ra), GGSN, SGSN, a));
            }
        }
        out.sort_by_key(|m| (m.0, m.1, m.2.frame));
        out
    }

    fn correlate(msgs: &[Timed]) -> (Vec<Signal>, crate::early::PairingStats) {
        let mut c = Gtpv1Correlator::new(E212::default());
        let mut out = Vec::new();
        for (_, _, meta, src, dst, m) in msgs {
            let flow = FlowKey::new(IpAddr::from(*src), 2123, IpAddr::from(*dst), 2123);
            let bytes = m.emit();
            out.extend(c.push(meta, flow, &Gtpv1Message::parse(&bytes).unwrap()));
        }
        c.flush();
        out.sort_by_key(|s| (s.at, s.source.frame));
        (out, c.pairing())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Responses stamped anywhere from just under the tolerance (300 ms) before their
        /// request to 5 ms after it, in any interleaving, give the in-order signals.
        #[test]
        fn interleavings_within_the_tolerance_give_the_in_order_signals(
            n in 1usize..12,
            delays in proptest::collection::vec(-299_999i64..5_000, 36),
            ties in proptest::collection::vec(proptest::prelude::any::<bool>(), 36),
        ) {
            let in_order: Vec<i64> = delays.iter().map(|d| d.abs() % 5_000 + 1).collect();
            let (expected, p) = correlate(&sessions(n, &in_order, &ties));
            proptest::prop_assert_eq!(expected.len(), 3 * n);
            proptest::prop_assert_eq!(p.early, 0);
            let (got, p) = correlate(&sessions(n, &delays, &ties));
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(p.in_order + p.early, 3 * n as u64);
            proptest::prop_assert_eq!((p.early_dropped, p.expired), (0, 0));
        }
    }
}

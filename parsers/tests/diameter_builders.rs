//! Diameter tests that build their messages with the test kit's S6a builders: the builders
//! against real bytes and the oracle, the S6a field rules, and request/answer correlation
//! (out of the crate's unit tests, which cannot depend on `landfall-testkit`).

use std::net::{IpAddr, Ipv4Addr};

use landfall_parsers::diameter::dictionary::{self, app, avp, cmd, VENDOR_3GPP};
use landfall_parsers::diameter::{
    framing, record, AvpRepr, CorrelatorConfig, CorrelatorStats, DiameterCorrelator,
    ExperimentalResult, Flags, Message, MessageRepr, S6aFields,
};
use landfall_parsers::flow::{Endpoint, FlowKey, PacketMeta};
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::signal::{Proto, SignalKind};
use landfall_parsers::types::{Imsi, Plmn};
use landfall_testkit::diameter::{self as builder, Outcome, S6aSession};
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// magma-inbound-roaming-01, frame 28: S6a ULR (SCTP payload as captured).
const MAGMA_ULR: &str = "01000104c000013c01000023b80e2177e6ec4c37000001074000003b737472696e672d7336613b31343038333231363434353937313232383231393b313037393838303432393b313266383239613200000001084000000e737472696e670000000001284000000e737472696e670000000001164000000c60920a95000000014000001730303130323030303030303030363400000001154000000c0000000100000408c0000010000028af000003ec0000057dc0000010000028af000000220000057fc000000f000028af00f110000000011b400000116d61676d612e636f6d000000000001254000001d6d61676d612d66656467772e6d61676d612e636f6d000000";

const ORACLE_ULR: &str = r#"{"frame":28,"ts_us":1620245311835967,"proto":"diameter","app":16777251,"code":316,"request":true,"hbh":3087933815,"e2e":3874245687,"imsi":"001020000000064","plmn":"001-01","rat":1004,"ulr_flags":34}"#;
const ORACLE_ULA: &str = r#"{"frame":29,"ts_us":1620245311836178,"proto":"diameter","app":16777251,"code":316,"request":false,"hbh":3087933815,"e2e":3874245687,"msisdn":"0015102000064","result":2001}"#;

fn meta(frame: u64, ts_us: i64) -> PacketMeta {
    PacketMeta {
        file: 0,
        frame,
        ts_us,
    }
}

fn json(msg: &[u8], m: PacketMeta) -> String {
    serde_json::to_string(&record(&Message::parse(msg).unwrap(), &m)).unwrap()
}

#[test]
fn s6a_fields_rules() {
    let s = S6aSession::new(Plmn::new(1, 1, 2), Plmn::new(208, 1, 2), 1);
    // Top-level only: a RAT-Type nested in a grouped AVP is ignored.
    let mut ulr = s.ulr(1, 2, "001010000000001", Plmn::new(208, 1, 2), 1004, 0x20);
    ulr.avps.retain(|a| a.code != avp::RAT_TYPE_3GPP);
    ulr.avps.push(AvpRepr::grouped(
        avp::SUPPORTED_FEATURES_3GPP,
        VENDOR_3GPP,
        vec![AvpRepr::u32(avp::RAT_TYPE_3GPP, VENDOR_3GPP, 1000)],
    ));
    let b = ulr.emit();
    let f = S6aFields::extract(&Message::parse(&b).unwrap());
    assert_eq!(f.rat, None);
    assert!(f.initial_attach());
    assert_eq!(f.visited_plmn(), Some(Plmn::new(208, 1, 2)));
    assert_eq!(f.imsi(), Imsi::parse("001010000000001").ok());
    // Result-Code wins over Experimental-Result; the latter is the fallback.
    let ula = s.ula(&ulr, Outcome::ROAMING_NOT_ALLOWED, None);
    let b = ula.emit();
    let f = S6aFields::extract(&Message::parse(&b).unwrap());
    assert_eq!(f.result(), Some(5004));
    assert_eq!(
        f.experimental,
        Some(ExperimentalResult {
            vendor: Some(VENDOR_3GPP),
            code: 5004
        })
    );
    assert_eq!(f.success(), Some(false));
    let both = ula.clone().with(AvpRepr::u32(avp::RESULT_CODE, 0, 2001));
    let b = both.emit();
    assert_eq!(
        S6aFields::extract(&Message::parse(&b).unwrap()).result(),
        Some(2001)
    );
    // A non-numeric User-Name is no IMSI (NAI-style user names exist in SWx/S6b).
    let mut nai = s.pur(3, 4, "user@example.org");
    nai.flags = Flags(Flags::REQUEST);
    let b = nai.emit();
    let m = Message::parse(&b).unwrap();
    let f = S6aFields::extract(&m);
    assert_eq!((f.imsi(), f.user_name_digits()), (None, None));
    assert_eq!(record(&m, &meta(1, 1)).imsi, None);
    // CLR carries Cancellation-Type.
    let b = s
        .clr(
            5,
            6,
            "001010000000001",
            dictionary::cancellation_type::SUBSCRIPTION_WITHDRAWAL,
        )
        .emit();
    assert_eq!(
        S6aFields::extract(&Message::parse(&b).unwrap()).cancellation_type,
        Some(2)
    );
}

/// The magma MME's session, so that the builder reproduces frame 28 byte for byte.
fn magma_session() -> S6aSession {
    S6aSession {
        session_id: "string-s6a;14083216445971228219;1079880429;12f829a2".into(),
        mme_host: "string".into(),
        mme_realm: "string".into(),
        origin_state_id: Some(0x60920a95),
        hss_host: Some("magma-fedgw.magma.com".into()),
        hss_realm: "magma.com".into(),
    }
}

#[test]
fn builder_reproduces_real_ulr_and_oracle_records() {
    let s = magma_session();
    let ulr = s.ulr(
        0xb80e2177,
        0xe6ec4c37,
        "001020000000064",
        Plmn::new(1, 1, 2),
        1004,
        0x22,
    );
    assert_eq!(ulr.emit(), hex(MAGMA_ULR));
    let mut ula = s.ula(&ulr, Outcome::SUCCESS, Some("0015102000064"));
    ula.flags = Flags(Flags::PROXIABLE);
    assert_eq!(json(&ula.emit(), meta(29, 1620245311836178)), ORACLE_ULA);
    assert_eq!(json(&ulr.emit(), meta(28, 1620245311835967)), ORACLE_ULR);
}

#[test]
fn builders_emit_valid_messages() {
    let s = S6aSession::new(Plmn::new(1, 1, 2), Plmn::new(208, 1, 2), 7);
    let imsi = "001010000000007";
    let v = Plmn::new(208, 1, 2);
    let ulr = s.ulr(1, 1, imsi, v, 1004, 0x22);
    let air = s.air(2, 2, imsi, v, 1);
    let pur = s.pur(3, 3, imsi);
    let clr = s.clr(4, 4, imsi, 0);
    let nor = s.nor(5, 5, imsi);
    let dw = builder::dwr(6, 6, "mme", "realm");
    let cc = builder::ccr(7, 7, "pgw;1", imsi, "33612345678");
    let all = [
        s.ula(&ulr, Outcome::SUCCESS, Some("33612345678")),
        s.ula(&ulr, Outcome::USER_UNKNOWN, None),
        s.ula(&ulr, Outcome::Result(3002), None),
        s.aia(&air, Outcome::SUCCESS),
        s.pua(&pur, Outcome::SUCCESS),
        s.cla(&clr, Outcome::SUCCESS),
        s.noa(&nor, Outcome::SUCCESS),
        s.idr(8, 8, imsi, Some("33612345678")),
        builder::dwa(&dw, "hss", "realm"),
        builder::cca(&cc, "pgw;1", Outcome::SUCCESS),
        ulr,
        air,
        pur,
        clr,
        nor,
        dw,
        cc,
    ];
    for m in &all {
        let b = m.emit();
        assert_eq!(b.len(), m.len());
        assert!(framing::plausible_header(&b), "{m:?}");
        let parsed = Message::parse_strict(&b).unwrap();
        assert_eq!(MessageRepr::from_message(&parsed).unwrap(), *m);
    }
    let e = all[2].emit();
    assert!(Message::parse(&e).unwrap().header.flags.error());
    let r = record(&Message::parse(&all[0].emit()).unwrap(), &meta(1, 1));
    assert_eq!(
        (r.msisdn.as_deref(), r.result),
        (Some("33612345678"), Some(2001))
    );
    let r = record(&Message::parse(&all[1].emit()).unwrap(), &meta(1, 1));
    assert_eq!(r.result, Some(5001));
}

// ---------------------------------------------------------------------------------
// Correlation

fn flow() -> FlowKey {
    let ep = |last, port| Endpoint {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    };
    FlowKey {
        src: ep(1, 38868),
        dst: ep(2, 3868),
    }
}

struct Feed {
    c: DiameterCorrelator,
    frame: u64,
}

impl Feed {
    fn new(c: DiameterCorrelator) -> Feed {
        Feed { c, frame: 0 }
    }
    fn push(&mut self, ts_us: i64, m: &MessageRepr) -> Option<landfall_parsers::Signal> {
        self.frame += 1;
        let b = m.emit();
        let f = if m.flags.request() == (m.code != cmd::CANCEL_LOCATION) {
            flow()
        } else {
            flow().reversed()
        };
        self.c
            .push(&meta(self.frame, ts_us), f, &Message::parse(&b).unwrap())
    }
}

const T0: i64 = 1_620_245_311_835_967;

#[test]
fn ulr_ula_success_is_attach_with_msisdn_and_later_signals_carry_it() {
    let s = magma_session();
    let mut f = Feed::new(DiameterCorrelator::default());
    let ulr = s.ulr(
        0xb80e2177,
        0xe6ec4c37,
        "001020000000064",
        Plmn::new(1, 1, 2),
        1004,
        0x22,
    );
    assert_eq!(f.push(T0, &ulr), None);
    let sig = f
        .push(
            T0 + 211,
            &s.ula(&ulr, Outcome::SUCCESS, Some("0015102000064")),
        )
        .unwrap();
    assert_eq!(sig.kind, SignalKind::Attach);
    assert_eq!(sig.at, T0);
    assert_eq!(sig.imsi.as_str(), "001020000000064");
    assert_eq!(sig.msisdn.unwrap().as_str(), "0015102000064");
    assert_eq!(sig.home, Some(Plmn::new(1, 2, 2)));
    assert_eq!(sig.home_country.unwrap().as_str(), "001");
    assert_eq!(sig.serving, Some(Plmn::new(1, 1, 2)));
    assert_eq!(sig.serving_country.unwrap().as_str(), "001");
    assert_eq!(sig.rat, Some(1004));
    assert_eq!(sig.location, None);
    assert_eq!(
        (
            sig.source.file,
            sig.source.frame,
            sig.source.proto,
            sig.source.message
        ),
        (0, 1, Proto::Diameter, 316)
    );

    // A later location update (no initial-attach flag) and a PUR carry the learned MSISDN.
    let ulr2 = s.ulr(10, 11, "001020000000064", Plmn::new(1, 1, 2), 1004, 0x02);
    f.push(T0 + 1_000_000, &ulr2);
    let sig = f
        .push(T0 + 1_000_100, &s.ula(&ulr2, Outcome::SUCCESS, None))
        .unwrap();
    assert_eq!(sig.kind, SignalKind::LocationUpdate);
    assert_eq!(sig.msisdn.unwrap().as_str(), "0015102000064");
    let pur = s.pur(12, 13, "001020000000064");
    f.push(T0 + 2_000_000, &pur);
    let sig = f
        .push(T0 + 2_000_100, &s.pua(&pur, Outcome::SUCCESS))
        .unwrap();
    assert_eq!(
        (sig.kind, sig.at, sig.source.message),
        (SignalKind::Purge, T0 + 2_000_000, 321)
    );
    assert_eq!(sig.msisdn.unwrap().as_str(), "0015102000064");
    assert_eq!(sig.serving, None);
    let st = f.c.stats();
    assert_eq!(
        (st.signals, st.requests, st.answers, st.pending_check()),
        (3, 3, 3, 0)
    );
}

trait PendingCheck {
    fn pending_check(&self) -> u64;
}
impl PendingCheck for CorrelatorStats {
    fn pending_check(&self) -> u64 {
        self.unanswered + self.unmatched_answers
    }
}

#[test]
fn error_answers_reject_ulr_only() {
    let home = Plmn::new(234, 15, 2);
    let visited = Plmn::new(208, 1, 2);
    let s = S6aSession::new(home, visited, 1);
    let imsi = "234150000000001";
    let mut f = Feed::new(DiameterCorrelator::default());
    for (i, outcome) in [
        Outcome::ROAMING_NOT_ALLOWED,
        Outcome::USER_UNKNOWN,
        Outcome::UNKNOWN_EPS_SUBSCRIPTION,
        Outcome::Result(5012),
        Outcome::Result(3002),
    ]
    .into_iter()
    .enumerate()
    {
        let ulr = s.ulr(100 + i as u32, 7, imsi, visited, 1004, 0x20);
        f.push(T0 + i as i64, &ulr);
        let sig = f
            .push(T0 + i as i64 + 50, &s.ula(&ulr, outcome, None))
            .unwrap();
        assert_eq!(sig.kind, SignalKind::Rejected, "{outcome:?}");
        assert_eq!(sig.serving_country.unwrap().as_str(), "FR");
        assert_eq!(sig.home_country.unwrap().as_str(), "GB");
        assert_eq!(sig.home, Some(home));
        assert_eq!(sig.msisdn, None);
    }
    assert_eq!(f.c.stats().rejected, 5);
    // Errors to AIR/PUR/CLR are counted, not signalled.
    let air = s.air(200, 1, imsi, visited, 1);
    f.push(T0 + 100, &air);
    assert_eq!(f.push(T0 + 101, &s.aia(&air, Outcome::USER_UNKNOWN)), None);
    let clr = s.clr(201, 1, imsi, 0);
    f.push(T0 + 102, &clr);
    assert_eq!(f.push(T0 + 103, &s.cla(&clr, Outcome::Result(5012))), None);
    assert_eq!(f.c.stats().failed_answers, 2);
    // Successes: Auth and Cancel.
    let air = s.air(202, 1, imsi, visited, 1);
    f.push(T0 + 104, &air);
    let sig = f.push(T0 + 105, &s.aia(&air, Outcome::SUCCESS)).unwrap();
    assert_eq!((sig.kind, sig.serving), (SignalKind::Auth, Some(visited)));
    let clr = s.clr(203, 1, imsi, 0);
    f.push(T0 + 106, &clr);
    let sig = f.push(T0 + 107, &s.cla(&clr, Outcome::SUCCESS)).unwrap();
    assert_eq!((sig.kind, sig.source.message), (SignalKind::Cancel, 317));
}

#[test]
fn notify_noise_and_answers_without_request_are_counted() {
    let s = S6aSession::new(Plmn::new(1, 1, 2), Plmn::new(1, 1, 2), 1);
    // No early pairing: an answer without request is counted at once.
    let config = CorrelatorConfig {
        answer_tolerance_us: 0,
        ..Default::default()
    };
    let mut f = Feed::new(DiameterCorrelator::new(config, E212::default()));
    let nor = s.nor(1, 1, "001010000000001");
    assert_eq!(f.push(T0, &nor), None);
    assert_eq!(f.push(T0 + 1, &s.noa(&nor, Outcome::SUCCESS)), None);
    let dw = builder::dwr(2, 2, "a", "b");
    f.push(T0 + 2, &dw);
    f.push(T0 + 3, &builder::dwa(&dw, "c", "d"));
    let cc = builder::ccr(3, 3, "x", "001010000000001", "123");
    f.push(T0 + 4, &cc);
    f.push(T0 + 5, &builder::cca(&cc, "x", Outcome::SUCCESS));
    // Capture started after the ULR.
    let ulr = s.ulr(4, 4, "001010000000001", Plmn::new(1, 1, 2), 1004, 0x20);
    assert_eq!(
        f.push(T0 + 6, &s.ula(&ulr, Outcome::SUCCESS, Some("123"))),
        None
    );
    // IDR teaches the MSISDN.
    f.push(T0 + 7, &s.idr(5, 5, "001010000000001", Some("4477")));
    let st = f.c.stats();
    assert_eq!(st.notify, 1);
    assert_eq!(st.non_s6a, 4);
    assert_eq!(st.unmatched_answers, 1);
    assert_eq!(st.other_s6a, 2); // NOA, IDR
    assert_eq!(st.by_app.get(&app::BASE), Some(&2));
    assert_eq!(st.by_app.get(&app::CREDIT_CONTROL), Some(&2));
    assert_eq!(st.by_app.get(&app::S6A), Some(&4));
    assert_eq!(st.signals, 0);
    assert_eq!(
        f.c.msisdn_of(&Imsi::parse("001010000000001").unwrap())
            .unwrap()
            .as_str(),
        "4477"
    );
    assert_eq!(dictionary::app_name(app::GX), Some("Gx"));
    assert_eq!(dictionary::app_name(12345), None);
}

#[test]
fn pending_requests_expire_and_are_bounded() {
    let s = S6aSession::new(Plmn::new(1, 1, 2), Plmn::new(1, 1, 2), 1);
    let config = CorrelatorConfig {
        timeout_us: 30_000_000,
        max_pending: 3,
        answer_tolerance_us: 0,
        ..Default::default()
    };
    let mut f = Feed::new(DiameterCorrelator::new(config, E212::default()));
    let ulr = s.ulr(1, 1, "001010000000001", Plmn::new(1, 1, 2), 1004, 0x20);
    f.push(T0, &ulr);
    // Retransmission of the same request: the first is kept.
    f.push(T0 + 10, &ulr);
    assert_eq!(f.c.stats().duplicate_requests, 1);
    assert_eq!(f.c.pending(), 1);
    // 30 s later the request still waits; just past it, it has expired.
    let other = s.pur(2, 2, "001010000000001");
    f.push(T0 + 30_000_000, &other);
    assert_eq!(f.c.pending(), 2);
    f.push(T0 + 30_000_001, &s.pur(3, 3, "001010000000001"));
    assert_eq!(f.c.pending(), 2);
    assert_eq!(f.c.stats().unanswered, 1);
    assert_eq!(
        f.push(T0 + 30_000_002, &s.ula(&ulr, Outcome::SUCCESS, None)),
        None
    );
    assert_eq!(f.c.stats().unmatched_answers, 1);
    // The count bound drops the oldest.
    for i in 10..14 {
        f.push(T0 + 30_000_003, &s.pur(i, i, "001010000000001"));
    }
    assert_eq!(f.c.pending(), 3);
    assert_eq!(f.c.stats().evicted, 3);
    // The PUR answered after eviction gives nothing; a recent one is still matched.
    assert_eq!(
        f.push(T0 + 30_000_004, &s.pua(&other, Outcome::SUCCESS)),
        None
    );
    let recent = s.pur(13, 13, "001010000000001");
    assert_eq!(
        f.push(T0 + 30_000_005, &s.pua(&recent, Outcome::SUCCESS))
            .unwrap()
            .kind,
        SignalKind::Purge
    );
    f.c.flush();
    assert_eq!(f.c.pending(), 0);
    assert_eq!(f.c.stats().unanswered, 1 + 3 + 2);
}

#[test]
fn correlation_is_per_connection() {
    let s = S6aSession::new(Plmn::new(1, 1, 2), Plmn::new(1, 1, 2), 1);
    let mut c = DiameterCorrelator::default();
    let ulr = s.ulr(1, 1, "001010000000001", Plmn::new(1, 1, 2), 1004, 0x20);
    let b = ulr.emit();
    c.push(&meta(1, T0), flow(), &Message::parse(&b).unwrap());
    let mut other = flow();
    other.src.port = 1;
    let a = s.ula(&ulr, Outcome::SUCCESS, None).emit();
    assert_eq!(
        c.push(
            &meta(2, T0 + 1),
            other.reversed(),
            &Message::parse(&a).unwrap()
        ),
        None
    );
    assert!(c
        .push(
            &meta(3, T0 + 2),
            flow().reversed(),
            &Message::parse(&a).unwrap()
        )
        .is_some());
}

/// One S6a transaction of the interleaving property: request and answer messages with
/// their capture metadata (the answer's time chosen by the test).
struct Exchange {
    req: (PacketMeta, Vec<u8>),
    ans: (PacketMeta, Vec<u8>),
}

/// `n` transactions 10 ms apart (ULR with initial attach, AIR, PUR, a rejected ULR, by
/// `kinds`), of distinct subscribers; the answer of transaction `i` stamped `delays[i]`
/// after its request (negative: before it, a probe clock behind).
fn exchanges(kinds: &[u8], delays: &[i64]) -> Vec<Exchange> {
    let s = S6aSession::new(Plmn::new(262, 1, 2), Plmn::new(208, 1, 2), 1);
    let visited = Plmn::new(208, 1, 2);
    kinds
        .iter()
        .zip(delays)
        .enumerate()
        .map(|(i, (&k, &d))| {
            let imsi = format!("2620100000{:05}", i);
            let id = i as u32 + 1;
            let (q, a) = match k % 4 {
                0 => {
                    let q = s.ulr(id, id, &imsi, visited, 1004, 0x22);
                    let a = s.ula(&q, Outcome::SUCCESS, Some("4915100000001"));
                    (q, a)
                }
                1 => {
                    let q = s.air(id, id, &imsi, visited, 1);
                    let a = s.aia(&q, Outcome::SUCCESS);
                    (q, a)
                }
                2 => {
                    let q = s.pur(id, id, &imsi);
                    let a = s.pua(&q, Outcome::SUCCESS);
                    (q, a)
                }
                _ => {
                    let q = s.ulr(id, id, &imsi, visited, 1004, 0x22);
                    let a = s.ula(&q, Outcome::ROAMING_NOT_ALLOWED, None);
                    (q, a)
                }
            };
            let t = T0 + 10_000 * i as i64;
            Exchange {
                req: (meta(2 * id as u64 - 1, t), q.emit()),
                ans: (meta(2 * id as u64, t + d), a.emit()),
            }
        })
        .collect()
}

/// Feed the messages in capture-time order (ties: the order `ties` picks) and return the
/// signals, sorted, with the correlator's pairing counts.
fn correlate_in_time_order(
    xs: &[Exchange],
    ties: &[bool],
    tolerance_us: i64,
) -> (
    Vec<landfall_parsers::Signal>,
    landfall_parsers::early::PairingStats,
) {
    let mut msgs: Vec<(i64, bool, &PacketMeta, &Vec<u8>, bool)> = Vec::new();
    for (x, &tie) in xs.iter().zip(ties) {
        msgs.push((x.req.0.ts_us, !tie, &x.req.0, &x.req.1, true));
        msgs.push((x.ans.0.ts_us, tie, &x.ans.0, &x.ans.1, false));
    }
    msgs.sort_by_key(|m| (m.0, m.1, m.2.frame));
    let config = CorrelatorConfig {
        answer_tolerance_us: tolerance_us,
        ..Default::default()
    };
    let mut c = DiameterCorrelator::new(config, E212::default());
    let mut out = Vec::new();
    for (_, _, m, bytes, request) in msgs {
        let f = if request { flow() } else { flow().reversed() };
        out.extend(c.push(m, f, &Message::parse(bytes).unwrap()));
    }
    c.flush();
    out.sort_by_key(|s| (s.at, s.source.frame));
    (out, c.pairing())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Answers stamped anywhere from the tolerance before their request to 5 ms after it,
    /// in any interleaving, give exactly the signals of the in-order capture; each answer
    /// pairs once, early or in order.
    #[test]
    fn interleavings_within_the_tolerance_give_the_in_order_signals(
        kinds in prop::collection::vec(any::<u8>(), 1..24),
        delays in prop::collection::vec(-299_999i64..5_000, 24),
        ties in prop::collection::vec(any::<bool>(), 24),
    ) {
        let in_order_delays: Vec<i64> = delays.iter().map(|d| d.abs() % 5_000 + 1).collect();
        let (expected, p) = correlate_in_time_order(&exchanges(&kinds, &in_order_delays), &ties, 300_000);
        prop_assert_eq!(p.early, 0);
        let (got, p) = correlate_in_time_order(&exchanges(&kinds, &delays), &ties, 300_000);
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(p.in_order + p.early, kinds.len() as u64);
        prop_assert_eq!((p.early_dropped, p.expired), (0, 0));
    }
}

#[test]
fn answers_beyond_the_tolerance_are_dropped_and_counted() {
    let xs = exchanges(&[0, 0], &[-400_000, -100_000]);
    let (got, p) = correlate_in_time_order(&xs, &[false, false], 300_000);
    assert_eq!(got.len(), 1, "only the answer within the tolerance pairs");
    assert_eq!((p.early, p.early_dropped, p.expired), (1, 1, 1));
    let (got, p) = correlate_in_time_order(&xs, &[false, false], 0);
    assert!(got.is_empty());
    assert_eq!((p.early, p.early_dropped, p.expired), (0, 0, 2));
}

#[test]
fn copies_from_a_second_probe_stay_one_transaction_when_the_answer_comes_first() {
    let s = S6aSession::new(Plmn::new(262, 1, 2), Plmn::new(208, 1, 2), 1);
    let ulr = s.ulr(7, 7, "262010000000007", Plmn::new(208, 1, 2), 1004, 0x22);
    let ula = s.ula(&ulr, Outcome::SUCCESS, None);
    let (q, a) = (ulr.emit(), ula.emit());
    let mut c = DiameterCorrelator::default();
    let mut push = |frame, ts, bytes: &[u8], f: FlowKey| {
        c.push(&meta(frame, T0 + ts), f, &Message::parse(bytes).unwrap())
    };
    // Two probes, each seeing both directions; the answers' clocks are 100 ms behind.
    assert_eq!(push(1, -100_000, &a, flow().reversed()), None);
    assert_eq!(push(2, -99_000, &a, flow().reversed()), None, "a copy");
    let sig = push(3, 0, &q, flow()).expect("paired with the early answer");
    assert_eq!((sig.at, sig.source.frame), (T0, 3), "the request's time");
    assert_eq!(push(4, 1_000, &q, flow()), None, "the request's copy");
    c.flush();
    let st = c.stats();
    assert_eq!(
        (st.signals, st.duplicate_requests, st.unanswered),
        (1, 1, 0)
    );
    assert_eq!(st.unmatched_answers, 1, "the answer's copy");
    let p = c.pairing();
    assert_eq!((p.in_order, p.early, p.early_dropped), (0, 1, 0));
    assert_eq!(c.delays().pairs[&(0, 0)].min_us, -100_000);
}

#[test]
fn a_request_waits_its_timeout_plus_the_tolerance() {
    // The request's probe is behind: its answer comes the skew later than the timeout.
    let config = CorrelatorConfig {
        timeout_us: 1_000_000,
        answer_tolerance_us: 300_000,
        ..Default::default()
    };
    let xs = exchanges(&[0, 0], &[1_200_000, 1_400_000]);
    let mut c = DiameterCorrelator::new(config, E212::default());
    let mut got = Vec::new();
    for x in &xs {
        got.extend(c.push(&x.req.0, flow(), &Message::parse(&x.req.1).unwrap()));
    }
    for x in &xs {
        got.extend(c.push(
            &x.ans.0,
            flow().reversed(),
            &Message::parse(&x.ans.1).unwrap(),
        ));
    }
    assert_eq!(got.len(), 1, "1.2 s is within 1 s + 300 ms, 1.4 s is not");
    assert_eq!(c.stats().unanswered, 1);
}

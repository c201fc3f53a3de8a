//! MAP tests: arguments and results built with the test kit's MAP builders decoded back,
//! dialogues correlated into signals, malformed parameters (out of the crate's unit tests,
//! which cannot depend on `landfall-testkit`).

use landfall_parsers::error::{DecodeError, Layer};
use landfall_parsers::flow::PacketMeta;
use landfall_parsers::numbering::e164::{GtPlmnTable, E164};
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::signal::{Signal, SignalKind};
use landfall_parsers::ss7::ber::{self, Tlv};
use landfall_parsers::ss7::map::correlate::MapCorrelator;
use landfall_parsers::ss7::map::{decode_fields, error, op, Isdn, MapFields};
use landfall_parsers::ss7::sccp::SccpAddress;
use landfall_parsers::ss7::tcap::{
    map_context, Code, Component, ComponentKind, ComponentRepr, DialoguePdu, TcapKind, TcapMessage,
    TcapRepr,
};
use landfall_parsers::types::{Imsi, Plmn};
use landfall_testkit::map as encode;
use proptest::prelude::*;

fn imsi(s: &str) -> Imsi {
    Imsi::parse(s).unwrap()
}

fn isdn(s: &str) -> Isdn {
    Isdn::parse(s).unwrap()
}

fn component(kind: ComponentKind, id: i64, code: Option<i64>, p: Option<Vec<u8>>) -> ComponentRepr {
    ComponentRepr {
        kind,
        invoke_id: id,
        code,
        parameter: p,
    }
}

/// Decode the single component of a TCAP message built around `c`.
fn fields_of(c: ComponentRepr) -> (MapFields, Option<DecodeError>) {
    let wire = TcapRepr {
        kind: TcapKind::Begin,
        otid: Some(vec![1]),
        dtid: None,
        dialogue: None,
        components: vec![c],
    }
    .emit();
    let m = TcapMessage::parse(&wire).unwrap();
    let c = m.components().next().unwrap().unwrap();
    decode_fields(&c)
}

#[test]
fn update_location_argument() {
    let p = encode::update_location(&imsi("001011356567851"), &isdn("441122"), &isdn("441123"));
    let (f, e) = fields_of(component(
        ComponentKind::Invoke,
        1,
        Some(op::UPDATE_LOCATION),
        Some(p),
    ));
    assert_eq!(e, None);
    assert_eq!(f.imsi, Some(imsi("001011356567851")));
    assert_eq!(f.msc, Some(isdn("441122")));
    assert_eq!(f.vlr, Some(isdn("441123")));
}

#[test]
fn v2_and_v3_syntaxes_of_sai_and_purge() {
    let i = imsi("460004100000101");
    let v2 = ber::octet_string(&i.to_tbcd());
    let (f, _) = fields_of(component(
        ComponentKind::Invoke,
        1,
        Some(op::SEND_AUTHENTICATION_INFO),
        Some(v2),
    ));
    assert_eq!(f.imsi, Some(i));
    let v3 = encode::send_authentication_info(&i);
    let (f, _) = fields_of(component(
        ComponentKind::Invoke,
        1,
        Some(op::SEND_AUTHENTICATION_INFO),
        Some(v3),
    ));
    assert_eq!(f.imsi, Some(i));
    let p = encode::purge_ms(&i, &isdn("861370800"));
    let (f, _) = fields_of(component(
        ComponentKind::Invoke,
        1,
        Some(op::PURGE_MS),
        Some(p),
    ));
    assert_eq!((f.imsi, f.vlr), (Some(i), Some(isdn("861370800"))));
}

#[test]
fn malformed_parameter_keeps_what_was_read() {
    // A SEQUENCE whose second element claims more bytes than there are.
    let mut p = ber::sequence(
        &[
            ber::octet_string(&imsi("001010000000001").to_tbcd()),
            vec![0x04, 0x20, 0x91],
        ]
        .concat(),
    );
    let len = p.len();
    p[1] = (len - 2) as u8;
    let (f, e) = fields_of(component(
        ComponentKind::Invoke,
        1,
        Some(op::UPDATE_LOCATION),
        Some(p),
    ));
    assert_eq!(f.imsi, Some(imsi("001010000000001")));
    assert!(e.is_some());
}

#[test]
fn non_decimal_digits_drop_the_field() {
    let p = ber::sequence(
        &[
            ber::context(0, &[0x10, 0xa1]),
            ber::context(1, &[0x91, 0x21, 0x43]),
        ]
        .concat(),
    );
    let (f, _) = fields_of(component(
        ComponentKind::Invoke,
        1,
        Some(op::INSERT_SUBSCRIBER_DATA),
        Some(p),
    ));
    assert_eq!(f.imsi, None);
    assert_eq!(f.msisdn, Some(isdn("1234")));
}

/// A MAP dialogue between a VLR (GT `vlr`) and an HLR, over TCAP messages.
struct Dialogue {
    corr: MapCorrelator,
    frame: u64,
}

impl Dialogue {
    fn new(gt: GtPlmnTable) -> Self {
        Dialogue {
            // No early holding: messages of unseen dialogues are counted at once.
            corr: MapCorrelator::with_tolerance(E212::default(), E164::default(), gt, 0),
            frame: 0,
        }
    }

    fn send(&mut self, from_vlr: bool, repr: TcapRepr) -> Vec<Signal> {
        let ts_us = (self.frame as i64 + 1) * 1000;
        self.send_at(from_vlr, repr, ts_us)
    }

    fn send_at(&mut self, from_vlr: bool, repr: TcapRepr, ts_us: i64) -> Vec<Signal> {
        self.frame += 1;
        let meta = PacketMeta {
            file: 0,
            frame: self.frame,
            ts_us,
        };
        let vlr = SccpAddress::e164(7, "447785000685");
        let hlr = SccpAddress::e164(6, "33612000000");
        let (called, calling) = if from_vlr { (hlr, vlr) } else { (vlr, hlr) };
        let wire = repr.emit();
        let m = TcapMessage::parse(&wire).unwrap();
        assert!(self.corr.is_map(&meta, &called, &calling, &m));
        let comps: Vec<_> = m
            .components()
            .map(|c| {
                let c = c.unwrap();
                let (f, _) = decode_fields(&c);
                (c, f)
            })
            .collect();
        self.corr.push(&meta, &called, &calling, &m, &comps)
    }
}

fn tcap(kind: TcapKind, otid: Option<u8>, dtid: Option<u8>, comps: Vec<ComponentRepr>) -> TcapRepr {
    TcapRepr {
        kind,
        otid: otid.map(|t| vec![0, 0, 0, t]),
        dtid: dtid.map(|t| vec![0, 0, 0, t]),
        dialogue: (kind == TcapKind::Begin).then(|| (DialoguePdu::Request, map_context(1, 3))),
        components: comps,
    }
}

fn ul_begin(i: &str) -> TcapRepr {
    let p = encode::update_location(&imsi(i), &isdn("447785000685"), &isdn("447785000685"));
    tcap(
        TcapKind::Begin,
        Some(1),
        None,
        vec![component(
            ComponentKind::Invoke,
            1,
            Some(op::UPDATE_LOCATION),
            Some(p),
        )],
    )
}

#[test]
fn update_location_with_isd_gives_location_update() {
    let mut d = Dialogue::new(GtPlmnTable::default());
    assert!(d.send(true, ul_begin("310150123456789")).is_empty());
    let isd = encode::insert_subscriber_data(None, &isdn("14155550100"));
    let cont = tcap(
        TcapKind::Continue,
        Some(9),
        Some(1),
        vec![component(
            ComponentKind::Invoke,
            2,
            Some(op::INSERT_SUBSCRIBER_DATA),
            Some(isd),
        )],
    );
    assert!(d.send(false, cont).is_empty());
    let ack = tcap(
        TcapKind::Continue,
        Some(1),
        Some(9),
        vec![component(ComponentKind::ReturnResultLast, 2, None, None)],
    );
    assert!(d.send(true, ack).is_empty());
    let end = tcap(
        TcapKind::End,
        None,
        Some(1),
        vec![component(
            ComponentKind::ReturnResultLast,
            1,
            Some(op::UPDATE_LOCATION),
            Some(encode::location_result(&isdn("33612000000"))),
        )],
    );
    let s = d.send(false, end.clone());
    assert_eq!(s.len(), 1);
    let s = s[0];
    assert_eq!(s.kind, SignalKind::LocationUpdate);
    assert_eq!(s.imsi.as_str(), "310150123456789");
    assert_eq!(s.msisdn.unwrap().as_str(), "14155550100");
    assert_eq!(s.serving_country.unwrap().as_str(), "GB");
    assert_eq!(s.home_country.unwrap().as_str(), "US");
    assert_eq!(s.serving, None);
    assert_eq!((s.source.frame, s.at), (1, 1000));
    // A relayed copy of the End is recognised and gives nothing.
    assert!(d.send(false, end).is_empty());
    assert_eq!(d.corr.stats().duplicates, 1);
}

#[test]
fn responder_messages_before_the_begin_are_held_and_replayed_after_it() {
    let mut d = Dialogue::new(GtPlmnTable::default());
    d.corr = MapCorrelator::new(E212::default(), E164::default(), GtPlmnTable::default());
    // The HLR side's probe is 20 ms behind: its Continue (ISD) and End come first.
    let isd = encode::insert_subscriber_data(None, &isdn("14155550100"));
    let cont = tcap(
        TcapKind::Continue,
        Some(9),
        Some(1),
        vec![component(
            ComponentKind::Invoke,
            2,
            Some(op::INSERT_SUBSCRIBER_DATA),
            Some(isd),
        )],
    );
    let end = tcap(
        TcapKind::End,
        None,
        Some(1),
        vec![component(
            ComponentKind::ReturnResultLast,
            1,
            Some(op::UPDATE_LOCATION),
            Some(encode::location_result(&isdn("33612000000"))),
        )],
    );
    assert!(d.send_at(false, cont, 90_000).is_empty());
    assert!(d.send_at(false, end.clone(), 95_000).is_empty());
    let s = d.send_at(true, ul_begin("310150123456789"), 100_000);
    assert_eq!(s.len(), 1, "the held End completes the dialogue");
    assert_eq!(
        (s[0].kind, s[0].at, s[0].source.frame),
        (SignalKind::LocationUpdate, 100_000, 3)
    );
    assert_eq!(
        s[0].msisdn.unwrap().as_str(),
        "14155550100",
        "from the held ISD"
    );
    // The initiator's acknowledgement of the ISD and a relayed End copy give nothing.
    let ack = tcap(
        TcapKind::Continue,
        Some(1),
        Some(9),
        vec![component(ComponentKind::ReturnResultLast, 2, None, None)],
    );
    assert!(d.send_at(true, ack, 101_000).is_empty());
    assert!(d.send_at(false, end, 102_000).is_empty());
    let p = d.corr.pairing();
    assert_eq!((p.in_order, p.early, p.early_dropped), (0, 1, 0));
    // A stray End whose Begin never comes is dropped after the tolerance, as unmatched.
    let stray = tcap(TcapKind::End, None, Some(77), vec![]);
    assert!(d.send_at(false, stray, 200_000).is_empty());
    assert_eq!(d.corr.stats().unmatched, 0, "still held");
    assert!(d
        .send_at(true, ul_begin("310150123456780"), 600_000)
        .is_empty());
    assert_eq!(d.corr.stats().unmatched, 1);
    assert_eq!(d.corr.pairing().early_dropped, 1);
}

#[test]
fn return_error_gives_rejected_and_gt_table_gives_network() {
    let mut gt = GtPlmnTable::default();
    gt.insert("447785", Plmn::new(234, 15, 2));
    let mut d = Dialogue::new(gt);
    d.send(true, ul_begin("404450123456789"));
    let end = tcap(
        TcapKind::End,
        None,
        Some(1),
        vec![component(
            ComponentKind::ReturnError,
            1,
            Some(error::ROAMING_NOT_ALLOWED),
            Some(encode::roaming_not_allowed(0)),
        )],
    );
    let s = d.send(false, end);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].kind, SignalKind::Rejected);
    assert_eq!(s[0].serving, Some(Plmn::new(234, 15, 2)));
    assert_eq!(s[0].serving_country.unwrap().as_str(), "GB");
}

#[test]
fn relayed_begin_copies_make_one_dialogue_and_unseen_ends_are_counted() {
    let mut d = Dialogue::new(GtPlmnTable::default());
    d.send(true, ul_begin("001010000000001"));
    d.send(true, ul_begin("001010000000001"));
    assert_eq!(d.corr.stats().duplicates, 1);
    let stray = tcap(TcapKind::End, None, Some(77), vec![]);
    assert!(d.send(false, stray).is_empty());
    assert_eq!(d.corr.stats().unmatched, 1);
    d.corr.flush();
    assert_eq!(d.corr.stats().unanswered, 1);
}

#[test]
fn non_map_dialogues_and_their_later_messages_are_skipped() {
    let mut c = MapCorrelator::new(E212::default(), E164::default(), GtPlmnTable::default());
    let meta = PacketMeta::default();
    let a = SccpAddress::e164(11, "4670000");
    let b = SccpAddress::e164(6, "4670001");
    let inap = TcapRepr {
        kind: TcapKind::Begin,
        otid: Some(vec![0, 0, 0, 5]),
        dtid: None,
        dialogue: Some((
            DialoguePdu::Request,
            vec![0x2a, 0x86, 0x3a, 0x00, 0x89, 0x61, 0x33],
        )),
        components: vec![],
    }
    .emit();
    assert!(!c.is_map(&meta, &b, &a, &TcapMessage::parse(&inap).unwrap()));
    let cont = tcap(TcapKind::Continue, Some(6), Some(5), vec![]).emit();
    assert!(!c.is_map(&meta, &a, &b, &TcapMessage::parse(&cont).unwrap()));
    // Without a dialogue portion, subsystems decide: CAP (146) to gsmSCF is not MAP.
    let v1 = tcap(TcapKind::End, None, Some(40), vec![]).emit();
    let scf = SccpAddress::e164(146, "1");
    assert!(!c.is_map(&meta, &scf, &scf, &TcapMessage::parse(&v1).unwrap()));
    // The same between an HLR (6) and an unnamed subsystem is MAP.
    let v1 = tcap(TcapKind::End, None, Some(41), vec![]).emit();
    assert!(c.is_map(&meta, &b, &a, &TcapMessage::parse(&v1).unwrap()));
    assert_eq!(c.stats().not_map, 3);
}

fn digits(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9]{{5,{max}}}")).unwrap()
}

proptest! {
    /// decode(encode(x)) == x for every argument the encoders build.
    #[test]
    fn arguments_round_trip(i in digits(15), a in digits(15), b in digits(15)) {
        let (i, a, b) = (imsi(&i), isdn(&a), isdn(&b));
        let (f, e) = fields_of(component(ComponentKind::Invoke, 1, Some(op::UPDATE_LOCATION), Some(encode::update_location(&i, &a, &b))));
        prop_assert_eq!(e, None);
        prop_assert_eq!(f, MapFields { imsi: Some(i), msc: Some(a), vlr: Some(b), ..MapFields::default() });
        let (f, _) = fields_of(component(ComponentKind::Invoke, 1, Some(op::UPDATE_GPRS_LOCATION), Some(encode::update_gprs_location(&i, &a, [10, 0, 0, 1]))));
        prop_assert_eq!(f, MapFields { imsi: Some(i), sgsn: Some(a), ..MapFields::default() });
        let (f, _) = fields_of(component(ComponentKind::Invoke, 1, Some(op::INSERT_SUBSCRIBER_DATA), Some(encode::insert_subscriber_data(Some(&i), &b))));
        prop_assert_eq!(f, MapFields { imsi: Some(i), msisdn: Some(b), ..MapFields::default() });
        let (f, _) = fields_of(component(ComponentKind::Invoke, 1, Some(op::PURGE_MS), Some(encode::purge_ms(&i, &a))));
        prop_assert_eq!(f, MapFields { imsi: Some(i), vlr: Some(a), ..MapFields::default() });
    }

    #[test]
    fn any_parameter_never_panics(op in 0i64..100, kind in 0usize..3,
                                  p in proptest::collection::vec(any::<u8>(), 0..64)) {
        let kind = [ComponentKind::Invoke, ComponentKind::ReturnResultLast, ComponentKind::ReturnError][kind];
        if let Ok((t, _)) = Tlv::parse(&p, Layer::Map) {
            let c = Component {
                kind,
                invoke_id: Some(1),
                linked_id: None,
                opcode: Some(Code::Local(op)),
                error: None,
                parameter: Some(t),
            };
            let _ = decode_fields(&c);
        }
    }
}

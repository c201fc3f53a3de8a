//! Diameter tests: real bytes from the captures, the conformance oracle, round trips,
//! robustness, framing and correlation.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::dictionary::{app, avp, VENDOR_3GPP};
use super::*;
use crate::flow::{Endpoint, FlowKey, PacketMeta};
use crate::types::Msisdn;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// magma-inbound-roaming-01, frame 28: S6a ULR (SCTP payload as captured).
const MAGMA_ULR: &str = "01000104c000013c01000023b80e2177e6ec4c37000001074000003b737472696e672d7336613b31343038333231363434353937313232383231393b313037393838303432393b313266383239613200000001084000000e737472696e670000000001284000000e737472696e670000000001164000000c60920a95000000014000001730303130323030303030303030363400000001154000000c0000000100000408c0000010000028af000003ec0000057dc0000010000028af000000220000057fc000000f000028af00f110000000011b400000116d61676d612e636f6d000000000001254000001d6d61676d612d66656467772e6d61676d612e636f6d000000";
/// Same capture, frame 29: the ULA, Result-Code 2001, MSISDN inside Subscription-Data.
const MAGMA_ULA: &str = "010002e04000013c01000023b80e2177e6ec4c37000001074000003b737472696e672d7336613b31343038333231363434353937313232383231393b313037393838303432393b31326638323961320000000104400000200000010a4000000c000028af000001024000000c010000230000010c4000000c000007d1000001154000000c00000001000001084000001a74766d2d766873732e6d61676d612e636f6d000000000128400000116d61676d612e636f6d00000000000578c0000228000028af00000590c0000010000028af00000000000002bdc0000013000028af005101020060f40000000589c0000010000028af0000000000000592c0000010000028af0000000000000593c000001e000028af6d6e633030322e6d63633030312e6770727300000000000d8000000e000028af313200000000059bc000002c000028af00000204c0000010000028af02cd29c000000203c0000010000028af05c81a4000000595c000017c000028af0000058fc0000010000028af0000000100000594c0000010000028af0000000000000596c0000150000028af0000058fc0000010000028af0000000100000350c0000012000028af0001c0a97fb70000000005b0c0000010000028af00000000000001ed4000000c726f616d00000597c0000048000028af00000404c0000010000028af000000090000040ac000002c000028af00000416c0000010000028af0000000900000417c0000010000028af0000000000000598c0000010000028af00000001000001e6400000340000014e4000000e0001ac10010200000000014e4000001a00022516000000000000017200160001000200000000059ec0000010000028af000000010000025880000029000028af6d6e633030322e6d63633030312e336770706e6574776f726b2e6f72670000000000000dc000000e000028af313200000000059bc000002c000028af00000204c0000010000028af02cd29c000000203c0000010000028af05c81a40";
/// open5gs-testattach, frame 116: AIA with Experimental-Result 5001 (user unknown).
const OPEN5GS_AIA_5001: &str = "010000b84000013e010000237c8a72c6f3d80eed000001074000002c6d6d652e6c6f63616c646f6d61696e3b313539383131313534393b333b6170705f73366100000129400000200000010a4000000c000028af0000012a4000000c0000138900000108400000176873732e6c6f63616c646f6d61696e0000000128400000136c6f63616c646f6d61696e00000001154000000c0000000100000104400000200000010a4000000c000028af000001024000000c01000023";

const ORACLE_ULR: &str = r#"{"frame":28,"ts_us":1620245311835967,"proto":"diameter","app":16777251,"code":316,"request":true,"hbh":3087933815,"e2e":3874245687,"imsi":"001020000000064","plmn":"001-01","rat":1004,"ulr_flags":34}"#;
const ORACLE_ULA: &str = r#"{"frame":29,"ts_us":1620245311836178,"proto":"diameter","app":16777251,"code":316,"request":false,"hbh":3087933815,"e2e":3874245687,"msisdn":"0015102000064","result":2001}"#;
const ORACLE_AIA: &str = r#"{"frame":116,"ts_us":1598111550181222,"proto":"diameter","app":16777251,"code":318,"request":false,"hbh":2089448134,"e2e":4091023085,"result":5001}"#;

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
fn real_ulr_ula_records_match_oracle() {
    assert_eq!(
        json(&hex(MAGMA_ULR), meta(28, 1620245311835967)),
        ORACLE_ULR
    );
    assert_eq!(
        json(&hex(MAGMA_ULA), meta(29, 1620245311836178)),
        ORACLE_ULA
    );
    assert_eq!(
        json(&hex(OPEN5GS_AIA_5001), meta(116, 1598111550181222)),
        ORACLE_AIA
    );
}

#[test]
fn real_messages_parse_strictly_and_round_trip() {
    for h in [MAGMA_ULR, MAGMA_ULA, OPEN5GS_AIA_5001] {
        let bytes = hex(h);
        let m = Message::parse_strict(&bytes).unwrap();
        assert_eq!(m.len(), bytes.len());
        let repr = MessageRepr::parse(&bytes).unwrap();
        assert_eq!(repr.emit(), bytes);
    }
    let ula = MessageRepr::parse(&hex(MAGMA_ULA)).unwrap();
    let sd = ula.find(avp::SUBSCRIPTION_DATA_3GPP, VENDOR_3GPP).unwrap();
    assert!(
        matches!(sd.value, AvpValue::Grouped(ref c) if c.len() == 8),
        "{sd:?}"
    );
}

#[test]
fn header_fields_and_errors() {
    let b = hex(MAGMA_ULR);
    let m = Message::parse(&b).unwrap();
    let h = m.header;
    assert_eq!(
        (h.version, h.length, h.code, h.app_id),
        (1, 260, 316, app::S6A)
    );
    assert!(h.flags.request() && h.flags.proxiable() && !h.flags.error() && !h.flags.retransmit());
    assert_eq!((h.hbh, h.e2e), (3087933815, 3874245687));
    assert_eq!(Header::peek(&h.emit()), Some(h));
    // Trailing bytes are not part of the message.
    let mut longer = b.clone();
    longer.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(Message::parse(&longer).unwrap().as_bytes(), &b[..]);

    let e = Message::parse(&b[..19]).unwrap_err();
    assert_eq!(
        (e.layer, e.reason),
        (crate::Layer::Diameter, "truncated header")
    );
    assert_eq!(
        Message::parse(&b[..100]).unwrap_err().reason,
        "truncated message"
    );
    let mut v2 = b.clone();
    v2[0] = 2;
    assert_eq!(
        Message::parse(&v2).unwrap_err().reason,
        "unsupported version"
    );
    let mut short = b.clone();
    short[1..4].copy_from_slice(&[0, 0, 8]);
    assert_eq!(
        Message::parse(&short).unwrap_err().reason,
        "length shorter than header"
    );
}

#[test]
fn avp_iteration_and_malformed_avp_offsets() {
    let b = hex(MAGMA_ULR);
    let m = Message::parse(&b).unwrap();
    let codes: Vec<u32> = m.avps().map(|a| a.unwrap().code).collect();
    assert_eq!(
        codes,
        [263, 264, 296, 278, 1, 277, 1032, 1405, 1407, 283, 293]
    );
    let plmn = m.find(avp::VISITED_PLMN_ID_3GPP, VENDOR_3GPP).unwrap();
    assert_eq!(plmn.data, [0x00, 0xf1, 0x10]);
    assert_eq!(plmn.vendor, Some(VENDOR_3GPP));
    assert!(plmn.flags.vendor() && plmn.flags.mandatory() && !plmn.flags.protected());
    assert_eq!(
        m.find(avp::USER_NAME, 0).unwrap().utf8(),
        Some("001020000000064")
    );
    // Vendor matters: User-Name with a vendor id is another AVP.
    assert!(m.find(avp::USER_NAME, VENDOR_3GPP).is_none());

    // Corrupt the 3rd AVP's length (Origin-Realm at offset 20+60+16 = 96) to 4.
    let mut bad = b.clone();
    let off = 20 + 60 + 16;
    assert_eq!(&bad[off..off + 4], &296u32.to_be_bytes());
    bad[off + 5..off + 8].copy_from_slice(&[0, 0, 4]);
    let m = Message::parse(&bad).unwrap();
    let items: Vec<_> = m.avps().collect();
    assert_eq!(items.len(), 3);
    let e = items[2].unwrap_err();
    assert_eq!(
        (e.reason, e.offset),
        ("AVP length shorter than its header", off + 5)
    );
    assert_eq!(Message::parse_strict(&bad).unwrap_err().offset, off + 5);
    // Length beyond the message.
    bad[off + 5..off + 8].copy_from_slice(&[0, 1, 0]);
    let e = Message::parse(&bad)
        .unwrap()
        .avps()
        .nth(2)
        .unwrap()
        .unwrap_err();
    assert_eq!(e.reason, "AVP length beyond the enclosing data");

    // Grouped: errors inside carry message offsets too.
    let ula = hex(MAGMA_ULA);
    let m = Message::parse(&ula).unwrap();
    let sd = m.find(avp::SUBSCRIPTION_DATA_3GPP, VENDOR_3GPP).unwrap();
    let first = sd.grouped().next().unwrap().unwrap();
    assert_eq!(first.offset, sd.offset + 12);
    assert_eq!(first.code, avp::SUBSCRIBER_STATUS_3GPP);
    let msisdn = m.find_deep(avp::MSISDN_3GPP, VENDOR_3GPP).unwrap();
    assert_eq!(
        Msisdn::from_tbcd(msisdn.data).unwrap().as_str(),
        "0015102000064"
    );
    assert!(
        m.find(avp::MSISDN_3GPP, VENDOR_3GPP).is_none(),
        "MSISDN is not top level"
    );
}

#[test]
fn framing_length_plausibility_resync() {
    let ulr = hex(MAGMA_ULR);
    assert_eq!(framing::message_length(&ulr), Some(260));
    assert_eq!(framing::message_length(&ulr[..3]), None);
    assert_eq!(framing::message_length(&ulr[..4]), Some(260));
    assert!(framing::plausible_header(&ulr));
    assert!(!framing::plausible_header(&ulr[..19]));
    let mut bad = ulr.clone();
    bad[4] |= 0x01; // reserved flag
    assert!(!framing::plausible_header(&bad));
    let mut bad = ulr.clone();
    bad[4] |= Flags::ERROR; // R and E together
    assert!(!framing::plausible_header(&bad));
    let mut bad = ulr.clone();
    bad[3] = 0x05; // not a multiple of 4
    assert!(!framing::plausible_header(&bad));
    let mut bad = ulr.clone();
    bad[1] = 0x20; // 2 MiB
    assert!(!framing::plausible_header(&bad));

    // Garbage, then a message, then the start of another: resync finds the first.
    let mut stream = vec![
        0x01, 0x00, 0x00, 0x07, 0xff, 0x13, 0x37, 0x00, 0x01, 0x00, 0x00,
    ];
    let at = stream.len();
    stream.extend_from_slice(&ulr);
    stream.extend_from_slice(&hex(MAGMA_ULA)[..30]);
    assert_eq!(framing::find_header(&stream), Some(at));
    assert_eq!(framing::find_header(&stream[at + 1..]), Some(260 - 1));
    assert_eq!(framing::find_header(&[0u8; 64]), None);
    assert_eq!(framing::find_header(&[]), None);
    // A plausible header whose AVPs are broken is skipped when the message is complete.
    let mut broken = ulr.clone();
    broken[20 + 5..20 + 8].copy_from_slice(&[0, 0, 1]);
    assert_eq!(framing::find_header(&broken), None);
}

// ---------------------------------------------------------------------------------
// Property tests

const GROUPED: [(u32, u32); 5] = [
    (avp::SUBSCRIPTION_DATA_3GPP, VENDOR_3GPP),
    (avp::APN_CONFIGURATION_3GPP, VENDOR_3GPP),
    (avp::EXPERIMENTAL_RESULT, 0),
    (avp::VENDOR_SPECIFIC_APPLICATION_ID, 0),
    (avp::PROXY_INFO, 0),
];

fn leaf() -> impl Strategy<Value = AvpRepr> {
    (
        prop_oneof![Just(0u32), Just(VENDOR_3GPP), any::<u32>()],
        any::<u32>(),
        prop::sample::select(vec![0u8, 0x40, 0x20, 0x60, 0x1f]),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_filter_map(
            "leaf codes are not grouped",
            |(vendor, code, flags, data)| {
                if dictionary::is_grouped(code, vendor) {
                    return None;
                }
                let vendor = (vendor != 0).then_some(vendor);
                let flags = AvpFlags(
                    flags
                        | if vendor.is_some() {
                            AvpFlags::VENDOR
                        } else {
                            0
                        },
                );
                Some(AvpRepr {
                    code,
                    flags,
                    vendor,
                    value: AvpValue::Bytes(data),
                })
            },
        )
}

fn tree() -> impl Strategy<Value = AvpRepr> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        (
            prop::sample::select(GROUPED.to_vec()),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|((code, vendor), children)| AvpRepr::grouped(code, vendor, children))
    })
}

fn message() -> impl Strategy<Value = MessageRepr> {
    (
        any::<u8>(),
        0u32..(1 << 24),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(tree(), 0..8),
    )
        .prop_map(|(flags, code, app_id, hbh, e2e, avps)| MessageRepr {
            flags: Flags(flags),
            code,
            app_id,
            hbh,
            e2e,
            avps,
        })
}

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

fn exercise(b: &[u8]) {
    if let Ok(m) = Message::parse(b) {
        let _ = m.validate();
        let _ = record(&m, &meta(1, 1));
        let _ = S6aFields::extract(&m);
        let _ = MessageRepr::from_message(&m);
        for a in m.avps().flatten() {
            let _ = a.grouped().count();
        }
        let mut c = DiameterCorrelator::default();
        let _ = c.push(&meta(1, 1), flow(), &m);
    }
    let _ = framing::message_length(b);
    let _ = framing::plausible_header(b);
    let _ = framing::find_header(b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn emit_parse_round_trip(m in message()) {
        let b = m.emit();
        prop_assert_eq!(b.len(), m.len());
        prop_assert_eq!(b.len() % 4, 0);
        let back = MessageRepr::parse(&b).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.emit(), b.clone());
        prop_assert!(Message::parse_strict(&b).is_ok());
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&b);
        let mut with_header = b.clone();
        if with_header.len() >= 4 {
            with_header[0] = 1;
            let len = with_header.len() as u32;
            with_header[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
        }
        exercise(&with_header);
    }

    #[test]
    fn truncated_and_corrupted_messages_never_panic(
        m in message(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let b = m.emit();
        let n = cut.index(b.len() + 1);
        exercise(&b[..n]);
        let mut c = b.clone();
        c[1..4].copy_from_slice(&(n as u32).to_be_bytes()[1..]);
        exercise(&c[..n.min(c.len())]);
        let i = flip.index(b.len());
        let mut d = b.clone();
        d[i] = byte;
        exercise(&d);
    }

    #[test]
    fn real_messages_survive_truncation(cut in 0usize..736, byte in any::<u8>(), at in 20usize..736) {
        let b = hex(MAGMA_ULA);
        exercise(&b[..cut]);
        let mut d = b.clone();
        d[at] = byte;
        exercise(&d);
    }
}

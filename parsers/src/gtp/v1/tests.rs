use super::*;
use crate::record::PlmnCode;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn meta(frame: u64) -> PacketMeta {
    PacketMeta {
        file: 0,
        frame,
        ts_us: 1_267_091_876_294_807,
    }
}

fn tv(kind: u8, value: &[u8]) -> IeRepr {
    IeRepr {
        kind,
        value: value.to_vec(),
    }
}

#[test]
fn create_pdp_context_request_record() {
    // The fields of zeek-gtpv1-create-pdp-ctx-with-gb frame 2, rebuilt with our encoder.
    let m = Gtpv1Repr {
        msg_type: msg::CREATE_PDP_CONTEXT_REQUEST,
        teid: 0,
        seq: Some(0x130b),
        npdu: None,
        extensions: vec![],
        ies: vec![
            tv(ie::IMSI, &Imsi::parse("460004100000101").unwrap().to_tbcd()),
            tv(ie::RAI, &[0x64, 0xf0, 0x60, 0xff, 0xfe, 0xff]),
            tv(ie::RECOVERY, &[3]),
            tv(ie::TEID_DATA_I, &[0, 0, 0, 1]),
            tv(ie::NSAPI, &[5]),
            tv(ie::END_USER_ADDRESS, &[0xf1, 0x21]),
            tv(ie::MSISDN, &{
                let mut v = vec![0x91];
                v.extend(Msisdn::parse("8615221000101").unwrap().to_tbcd());
                v
            }),
            tv(ie::RAT_TYPE, &[2]),
        ],
    };
    let bytes = m.emit();
    let msg = Gtpv1Message::parse(&bytes).unwrap();
    assert!(msg.is_recorded());
    assert!(wants_record(34273, PORT, &bytes));
    assert!(!wants_record(2152, 2152, &bytes));
    let got = serde_json::to_value(record(&msg, &meta(2))).unwrap();
    let want: serde_json::Value = serde_json::from_str(
        r#"{"frame":2,"ts_us":1267091876294807,"proto":"gtpv1","type":16,"seq":4875,"teid":0,"imsi":"460004100000101","msisdn":"8615221000101","rai":{"plmn":"460-06","lac":65534,"rac":255},"rat":2}"#,
    )
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(Gtpv1Repr::parse(&bytes).unwrap(), m);
}

#[test]
fn uli_cgi_sai_and_rai_type() {
    let plmn = [0x62, 0xf2, 0x10];
    let uli = |kind: u8| {
        let mut v = vec![kind];
        v.extend_from_slice(&plmn);
        v.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        v
    };
    let p = Plmn::new(262, 1, 2);
    let rec = |kind: u8| {
        let m = Gtpv1Repr {
            msg_type: msg::UPDATE_PDP_CONTEXT_REQUEST,
            teid: 7,
            seq: None,
            npdu: None,
            extensions: vec![],
            ies: vec![tv(ie::ULI, &uli(kind))],
        };
        let bytes = m.emit();
        record(&Gtpv1Message::parse(&bytes).unwrap(), &meta(1))
    };
    let r = rec(0);
    assert_eq!(r.seq, None, "no S flag, no seq");
    assert_eq!(
        r.cgi,
        Some(PlmnCode {
            plmn: "262-01".into(),
            lac: Some(0x1234),
            ci: Some(0x5678),
            ..PlmnCode::default()
        })
    );
    assert_eq!(r.sai, None);
    let r = rec(1);
    assert_eq!(
        r.sai,
        Some(PlmnCode {
            plmn: "262-01".into(),
            lac: Some(0x1234),
            sac: Some(0x5678),
            ..PlmnCode::default()
        })
    );
    let r = rec(2);
    assert_eq!((r.cgi, r.sai, r.rai), (None, None, None));
    assert_eq!(
        Uli::parse(&uli(2)),
        Some(Uli::Rai {
            plmn: p,
            lac: 0x1234,
            rac: 0x56
        })
    );
    assert_eq!(Uli::parse(&uli(9)), None);
    assert_eq!(Uli::parse(&uli(0)[..5]), None);
}

#[test]
fn unknown_tv_type_keeps_earlier_fields() {
    let m = Gtpv1Repr {
        msg_type: msg::CREATE_PDP_CONTEXT_RESPONSE,
        teid: 9,
        seq: Some(1),
        npdu: None,
        extensions: vec![],
        ies: vec![
            tv(ie::CAUSE, &[128]),
            tv(ie::IMSI, &Imsi::parse("001010123456789").unwrap().to_tbcd()),
        ],
    };
    let mut bytes = m.emit();
    // Unknown TV type 6, then a RAT Type that must not be reached.
    bytes.extend_from_slice(&[6, 0xaa, ie::RAT_TYPE, 0, 1, 1]);
    let len = (bytes.len() - 8) as u16;
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    let msg = Gtpv1Message::parse(&bytes).unwrap();
    let (f, e) = Gtpv1Fields::extract(&msg);
    assert_eq!(f.cause, Some(128));
    assert_eq!(
        f.imsi.map(|i| i.to_string()).as_deref(),
        Some("001010123456789")
    );
    assert_eq!(f.rat, None);
    let e = e.unwrap();
    assert_eq!(
        (e.layer, e.reason, e.offset),
        (Layer::Gtpv1, "unknown TV IE type", 23)
    );
    let (r, e2) = decode_record(&msg, &meta(3));
    assert_eq!(e2, Some(e));
    assert_eq!((r.cause, r.seq, r.teid), (Some(128), Some(1), Some(9)));
    assert!(Gtpv1Repr::parse(&bytes).is_err());
}

#[test]
fn header_variants_and_errors() {
    // Extension headers, N-PDU without S: no seq, but the optional octets are there.
    let m = Gtpv1Repr {
        msg_type: msg::ECHO_REQUEST,
        teid: 0,
        seq: None,
        npdu: Some(4),
        extensions: vec![
            ExtHeaderRepr {
                kind: 0xc0,
                content: vec![1, 2],
            },
            ExtHeaderRepr {
                kind: 0x85,
                content: vec![3, 4, 5, 6, 7, 8],
            },
        ],
        ies: vec![tv(ie::RECOVERY, &[0])],
    };
    let bytes = m.emit();
    assert_eq!(bytes[0], 0x35);
    let msg = Gtpv1Message::parse(&bytes).unwrap();
    assert_eq!(msg.header.seq, None);
    assert_eq!(msg.header.npdu, Some(4));
    assert_eq!(msg.extensions().count(), 2);
    assert_eq!(msg.find(ie::RECOVERY).map(|i| i.value), Some(&[0u8][..]));
    assert_eq!(Gtpv1Repr::parse(&bytes).unwrap(), m);

    // G-PDU and GTP' are not recorded; other versions are refused.
    let gpdu = [0x30, G_PDU, 0, 0, 0, 0, 0, 1];
    assert!(!Gtpv1Message::parse(&gpdu).unwrap().is_recorded());
    let prime = [0x20, 1, 0, 0, 0, 0, 0, 1];
    assert!(!Gtpv1Message::parse(&prime).unwrap().is_recorded());
    assert!(Gtpv1Message::parse(&[0x48, 32, 0, 4, 0, 0, 0, 0]).is_err());
    assert!(Gtpv1Message::parse(&[0x0e, 1, 0, 4, 0, 0, 0, 0]).is_err());
    assert!(Gtpv1Message::parse(&[0x32, 1, 0, 4, 0, 0, 0]).is_err());
    // S flag set but too short for the optional octets.
    assert!(Gtpv1Message::parse(&[0x32, 1, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(Gtpv1Message::parse(&[0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1]).is_err());
    // Extension header of length zero.
    assert_eq!(
        Gtpv1Message::parse(&[0x34, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x85, 0, 0, 0, 0])
            .unwrap_err()
            .reason,
        "extension header length zero"
    );
    // Length beyond the datagram: header kept, IEs report the error.
    let long = Gtpv1Message::parse(&[0x32, 1, 0, 40, 0, 0, 0, 5, 0, 9, 0, 0]).unwrap();
    assert_eq!((long.header.seq, long.header.teid), (Some(9), 5));
    assert_eq!(
        long.ies().next().unwrap().unwrap_err().reason,
        "message length beyond datagram"
    );
    // TLV running past the message.
    let m = Gtpv1Message::parse(&[0x30, 1, 0, 3, 0, 0, 0, 0, 0x97, 0, 5]).unwrap();
    let (_, e) = Gtpv1Fields::extract(&m);
    assert_eq!(e.map(|e| e.reason), Some("IE length beyond message"));
    // MSISDN with only the nature octet has no digits.
    let m = Gtpv1Repr {
        msg_type: 16,
        teid: 0,
        seq: None,
        npdu: None,
        extensions: vec![],
        ies: vec![tv(ie::MSISDN, &[0x91])],
    };
    let bytes = m.emit();
    let (f, e) = Gtpv1Fields::extract(&Gtpv1Message::parse(&bytes).unwrap());
    assert_eq!((f.msisdn, e), (None, None));
}

fn tv_kinds() -> Vec<u8> {
    (1..128).filter(|&k| tv_len(k).is_some()).collect()
}

fn arb_ie() -> impl Strategy<Value = IeRepr> {
    prop_oneof![
        proptest::sample::select(tv_kinds()).prop_flat_map(|kind| {
            proptest::collection::vec(any::<u8>(), tv_len(kind).unwrap_or(0))
                .prop_map(move |value| IeRepr { kind, value })
        }),
        (128u8..=255, proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(kind, value)| IeRepr { kind, value }),
    ]
}

fn arb_ext() -> impl Strategy<Value = ExtHeaderRepr> {
    (1u8..=255, 1usize..4).prop_flat_map(|(kind, units)| {
        proptest::collection::vec(any::<u8>(), units * 4 - 2)
            .prop_map(move |content| ExtHeaderRepr { kind, content })
    })
}

proptest! {
    #[test]
    fn round_trip(msg_type: u8, teid: u32, seq: Option<u16>, npdu: Option<u8>,
                  extensions in proptest::collection::vec(arb_ext(), 0..3),
                  ies in proptest::collection::vec(arb_ie(), 0..10)) {
        let m = Gtpv1Repr { msg_type, teid, seq, npdu, extensions, ies };
        let bytes = m.emit();
        prop_assert_eq!(Gtpv1Repr::parse(&bytes).unwrap(), m.clone());
        let msg = Gtpv1Message::parse(&bytes).unwrap();
        let (r, e) = decode_record(&msg, &meta(1));
        prop_assert!(e.is_none());
        prop_assert_eq!(r.seq, seq.map(u32::from));
        prop_assert_eq!(r.teid, Some(teid));
    }

    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Gtpv1Message::parse(&bytes) {
            let _ = decode_record(&m, &meta(1));
            let _ = m.extensions().count();
            let _ = Gtpv1Repr::parse(&bytes);
        }
    }

    #[test]
    fn never_panics_v1(mut bytes in proptest::collection::vec(any::<u8>(), 8..200)) {
        // Force version 1 with a consistent length so the IE paths are exercised.
        bytes[0] = (bytes[0] & 0x1f) | 0x20;
        let len = (bytes.len() - 8) as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        if let Ok(m) = Gtpv1Message::parse(&bytes) {
            let _ = decode_record(&m, &meta(1));
            let _ = m.extensions().count();
            let _ = Gtpv1Repr::parse(&bytes);
        }
    }
}

fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures")
}

/// Records for every UDP port-2123 GTPv1-C message of a capture.
fn decode_capture(path: &Path) -> Vec<serde_json::Value> {
    use crate::capture::CaptureReader;
    use crate::transport::ip::{IpLayer, IpProtocol};
    use crate::transport::link::parse_link;
    use crate::transport::udp::UdpRepr;

    let mut out = Vec::new();
    let mut ip = IpLayer::new();
    for frame in CaptureReader::open(path, 0).unwrap() {
        let frame = frame.unwrap();
        let Ok(net) = parse_link(frame.linktype, &frame.data) else {
            continue;
        };
        let Ok(Some(dgram)) = ip.push(&frame.meta, net) else {
            continue;
        };
        if dgram.protocol != IpProtocol::UDP {
            continue;
        }
        let Ok((udp, payload)) = UdpRepr::parse(&dgram.payload) else {
            continue;
        };
        if udp.src_port != PORT && udp.dst_port != PORT {
            continue;
        }
        if let Ok(m) = Gtpv1Message::parse(payload) {
            if m.is_recorded() {
                let (r, e) = decode_record(&m, &frame.meta);
                assert_eq!(e, None, "frame {}", frame.meta.frame);
                out.push(serde_json::to_value(&r).unwrap());
            }
        }
    }
    out
}

#[test]
#[cfg_attr(shared_missing, ignore = "needs ../shared/captures")]
fn zeek_captures_match_oracle() {
    let dir = captures_dir();
    assert!(dir.is_dir(), "{} is missing", dir.display());
    let oracle = dir.join("../conformance/oracle");
    let names = [
        "zeek-gtpv1-create-pdp-ctx-with-gb.pcap",
        "zeek-gtpv1-pdp-ctx-messages.pcapng",
    ];
    let mut total = 0;
    for name in names {
        let path = dir.join(name);
        let want_path = oracle.join(format!("{name}.jsonl"));
        assert!(
            path.exists() && want_path.exists(),
            "{name}: capture or oracle not found under {dir:?}"
        );
        let want: Vec<serde_json::Value> = std::fs::read_to_string(&want_path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got = decode_capture(&path);
        assert_eq!(got, want, "{name}");
        total += got.len();
    }
    assert_eq!(total, 8, "8 GTPv1 records in the oracle");
}

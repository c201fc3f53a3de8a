//! NGAP views and correlation over PDUs built with the codec's own builder: a UE's
//! registration, its handovers and location reports, the UE whose SUCI is concealed, the
//! one that comes back with its GUTI; and bytes that are no PDU.

use std::net::{IpAddr, Ipv4Addr};

use oxirush_ngap::build_ngap;
use oxirush_ngap::helpers::{nr_cgi, plmn, tai};
use oxirush_ngap::ngap::*;

use super::correlate::NgapCorrelator;
use super::nas::{NasFacts, Protection, STmsi};
use super::*;
use crate::flow::{FlowKey, PacketMeta};
use crate::signal::SignalKind;

/// REGISTRATION REQUEST, plain, SUCI of 208-93 under the null scheme (MSIN 0000000120,
/// as oxirush-nas reads it: `suci-0-208-93-0000-0-0-0000000120`).
const REGISTRATION: &str = "7e004179000d0102f8390000000000000010022e08a020000000000000";
/// The same with protection scheme 1 (profile A) and key 1: the MSIN concealed.
const REGISTRATION_CONCEALED: &str =
    "7e004179001b0102f839000001010102030405060708090a0b0c0d0e0f1011121314";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn uli(cell: u16, tac: u8) -> UserLocationInformation<'static> {
    let net = plmn("208", "93").unwrap();
    UserLocationInformation::userLocationInformationNR(UserLocationInformationNR::new(
        nr_cgi(net, 0x123456, 24, cell).unwrap(),
        tai(net, [0, 0, tac]),
        None,
        None,
    ))
}

fn initial_ue(ran: u32, nas: Vec<u8>, cell: u16) -> Vec<u8> {
    build_ngap!(
        InitiatingMessage,
        InitialUEMessage,
        InitialUEMessage,
        RAN_UE_NGAP_ID(ran),
        NAS_PDU(nas),
        UserLocationInformation(uli(cell, 1)),
        RRCEstablishmentCause(RRCEstablishmentCause::mo_Signalling),
    )
    .unwrap()
    .encode()
    .unwrap()
}

fn downlink(amf: u64, ran: u32) -> Vec<u8> {
    build_ngap!(
        InitiatingMessage,
        DownlinkNASTransport,
        DownlinkNASTransport,
        AMF_UE_NGAP_ID(amf),
        RAN_UE_NGAP_ID(ran),
        NAS_PDU(vec![0x7e, 0x00, 0x56, 0x00]),
    )
    .unwrap()
    .encode()
    .unwrap()
}

fn setup_response(amf: u64, ran: u32) -> Vec<u8> {
    build_ngap!(
        SuccessfulOutcome,
        InitialContextSetup,
        InitialContextSetupResponse,
        AMF_UE_NGAP_ID(amf),
        RAN_UE_NGAP_ID(ran),
    )
    .unwrap()
    .encode()
    .unwrap()
}

fn uplink(amf: u64, ran: u32, nas: Vec<u8>, cell: u16) -> Vec<u8> {
    build_ngap!(
        InitiatingMessage,
        UplinkNASTransport,
        UplinkNASTransport,
        AMF_UE_NGAP_ID(amf),
        RAN_UE_NGAP_ID(ran),
        NAS_PDU(nas),
        UserLocationInformation(uli(cell, 1)),
    )
    .unwrap()
    .encode()
    .unwrap()
}

const GNB1: FlowKey = flow(1);
const GNB2: FlowKey = flow(2);

const fn flow(gnb: u8) -> FlowKey {
    FlowKey {
        src: crate::flow::Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, gnb)),
            port: 9487,
        },
        dst: crate::flow::Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
            port: PORT,
        },
    }
}

struct Run {
    c: NgapCorrelator,
    frame: u64,
}

impl Run {
    fn new() -> Run {
        Run {
            c: NgapCorrelator::new(Default::default()),
            frame: 0,
        }
    }

    /// Push one PDU (gNB → AMF when `up`), its signal if any.
    fn push(&mut self, gnb: FlowKey, up: bool, pdu: &[u8]) -> Option<crate::Signal> {
        self.frame += 1;
        let meta = PacketMeta {
            file: 0,
            frame: self.frame,
            ts_us: self.frame as i64 * 1_000_000,
        };
        let (view, bad) = NgapView::parse(pdu).expect("PDU decodes");
        assert_eq!(bad, None);
        let flow = if up { gnb } else { gnb.reversed() };
        self.c.push(&meta, flow, &view)
    }
}

fn nci(cell: u16) -> u64 {
    (0x123456 << 12) | u64::from(cell)
}

fn ncgi(cell: u16) -> Location {
    Location::Ncgi {
        plmn: Plmn::new(208, 93, 2),
        nci: nci(cell),
    }
}

#[test]
fn initial_ue_message_is_read() {
    let pdu = initial_ue(7, hex(REGISTRATION), 5);
    let (v, bad) = NgapView::parse(&pdu).unwrap();
    assert_eq!(bad, None);
    assert_eq!((v.kind, v.procedure), (PduKind::Initiating, 15));
    assert_eq!(v.name, Some("InitialUEMessage"));
    assert_eq!((v.ran_ue_id, v.amf_ue_id), (Some(7), None));
    let loc = v.location.unwrap();
    assert_eq!(loc.location(), ncgi(5));
    assert_eq!(
        loc.tai,
        Tai5gs {
            plmn: Plmn::new(208, 93, 2),
            tac: 1
        }
    );
    let nas = v.nas.as_ref().unwrap();
    assert_eq!(nas.protection, Some(Protection::Plain));
    assert_eq!(nas.message_type, Some(0x41));
    assert_eq!(nas.imsi.unwrap().as_str(), "208930000000120");
    let r = v.record(&PacketMeta::default());
    assert_eq!(r.code, Some(15));
    assert_eq!(r.ncgi.as_ref().unwrap().nci, Some(nci(5)));
    assert_eq!(r.tai.as_ref().unwrap().tac, Some(1));
    assert_eq!(r.imsi.as_deref(), Some("208930000000120"));
}

#[test]
fn a_registered_ue_moves_through_handovers_and_reports() {
    let mut r = Run::new();
    // Before the network takes the UE, its location waits.
    assert_eq!(
        r.push(GNB1, true, &initial_ue(7, hex(REGISTRATION), 5)),
        None
    );
    assert_eq!(r.push(GNB1, false, &downlink(1, 7)), None);
    // Initial Context Setup answered: the location of the InitialUEMessage, at the answer.
    let s = r
        .push(GNB1, true, &setup_response(1, 7))
        .expect("cell_change");
    assert_eq!(s.kind, SignalKind::CellChange);
    assert_eq!(s.imsi.as_str(), "208930000000120");
    assert_eq!(s.location, Some(ncgi(5)));
    assert_eq!(s.serving, Some(Plmn::new(208, 93, 2)));
    assert_eq!(s.rat, Some(1006));
    assert_eq!((s.source.frame, s.source.message), (3, 14));
    assert_eq!(s.source.proto, Proto::Ngap);
    // The same cell again: nothing; another cell: a signal at its message.
    assert_eq!(
        r.push(GNB1, true, &uplink(1, 7, vec![0x7e, 0, 0x43], 5)),
        None
    );
    let s = r
        .push(GNB1, true, &uplink(1, 7, vec![0x7e, 0, 0x43], 6))
        .unwrap();
    assert_eq!((s.location, s.source.frame), (Some(ncgi(6)), 5));
    // Xn handover: the target gNB asks for a path switch with the source AMF id.
    let switch = build_ngap!(
        InitiatingMessage,
        PathSwitchRequest,
        PathSwitchRequest,
        RAN_UE_NGAP_ID(3u32),
        SourceAMF_UE_NGAP_ID(1u64),
        UserLocationInformation(uli(9, 2)),
    )
    .unwrap()
    .encode()
    .unwrap();
    let s = r.push(GNB2, true, &switch).unwrap();
    assert_eq!((s.location, s.source.message), (Some(ncgi(9)), 25));
    assert_eq!(s.imsi.as_str(), "208930000000120");
    // N2 handover into the first gNB again, then a location report there.
    let notify = build_ngap!(
        InitiatingMessage,
        HandoverNotification,
        HandoverNotify,
        AMF_UE_NGAP_ID(1u64),
        RAN_UE_NGAP_ID(8u32),
        UserLocationInformation(uli(4, 1)),
    )
    .unwrap()
    .encode()
    .unwrap();
    let s = r.push(GNB1, true, &notify).unwrap();
    assert_eq!((s.location, s.source.message), (Some(ncgi(4)), 11));
    let report = build_ngap!(
        InitiatingMessage,
        LocationReport,
        LocationReport,
        AMF_UE_NGAP_ID(1u64),
        RAN_UE_NGAP_ID(8u32),
        UserLocationInformation(uli(2, 1)),
    )
    .unwrap()
    .encode()
    .unwrap();
    let s = r.push(GNB1, true, &report).unwrap();
    assert_eq!((s.location, s.source.message), (Some(ncgi(2)), 18));
    assert_eq!(r.c.stats().signals, 5);
    assert_eq!(r.c.stats().unattributed, 0);
}

#[test]
fn a_concealed_suci_is_counted_unattributed_never_guessed() {
    let nas = NasFacts::parse(&hex(REGISTRATION_CONCEALED));
    assert!(nas.concealed, "{nas:?}");
    assert_eq!(nas.imsi, None);
    let mut r = Run::new();
    assert_eq!(
        r.push(GNB1, true, &initial_ue(7, hex(REGISTRATION_CONCEALED), 5)),
        None
    );
    assert_eq!(r.push(GNB1, false, &downlink(1, 7)), None);
    assert_eq!(r.push(GNB1, true, &setup_response(1, 7)), None);
    assert_eq!(
        r.push(GNB1, true, &uplink(1, 7, vec![0x7e, 0, 0x43], 5)),
        None
    );
    assert_eq!(
        r.push(GNB1, true, &uplink(1, 7, vec![0x7e, 0, 0x43], 6)),
        None
    );
    let st = r.c.stats();
    assert_eq!((st.signals, st.unattributed, st.concealed), (0, 2, 1));
}

#[test]
fn a_ue_back_with_its_guti_is_known() {
    let mut r = Run::new();
    r.push(GNB1, true, &initial_ue(7, hex(REGISTRATION), 5));
    r.push(GNB1, false, &downlink(1, 7));
    // REGISTRATION ACCEPT under integrity protection only, with 5G-GUTI 208-93, AMF
    // region 0xca, set 0x3fe, pointer 0x3f, 5G-TMSI 0x11223344.
    let accept = hex("7e010000000001 7e0042010177000bf202f839cafffe11223344"
        .replace(' ', "")
        .as_str());
    let facts = NasFacts::parse(&accept);
    assert_eq!(facts.protection, Some(Protection::Integrity));
    let tmsi = STmsi::new(0x3ff, 0x3e, 0x11223344);
    assert_eq!(facts.assigned, tmsi, "{facts:?}");
    let to_ue = build_ngap!(
        InitiatingMessage,
        InitialContextSetup,
        InitialContextSetupRequest,
        AMF_UE_NGAP_ID(1u64),
        RAN_UE_NGAP_ID(7u32),
        NAS_PDU(accept),
    )
    .unwrap()
    .encode()
    .unwrap();
    // The readable Registration Accept tells the network took the UE: its cell now.
    assert!(r.push(GNB1, false, &to_ue).is_some());
    assert_eq!(r.push(GNB1, true, &setup_response(1, 7)), None);
    // Released, then back on another gNB with a Service Request naming its 5G-S-TMSI.
    let release = build_ngap!(
        SuccessfulOutcome,
        UEContextRelease,
        UEContextReleaseComplete,
        AMF_UE_NGAP_ID(1u64),
        RAN_UE_NGAP_ID(7u32),
    )
    .unwrap()
    .encode()
    .unwrap();
    r.push(GNB1, true, &release);
    // SERVICE REQUEST, plain: ngKSI 0, type signalling, 5G-S-TMSI set 0x3ff pointer 0x3e.
    let service = hex("7e004c0000 07f4fffe11223344".replace(' ', "").as_str());
    assert_eq!(NasFacts::parse(&service).presented, tmsi);
    r.push(GNB2, true, &initial_ue(3, service, 8));
    let s = r
        .push(GNB2, true, &setup_response(2, 3))
        .expect("known by its GUTI");
    assert_eq!(s.imsi.as_str(), "208930000000120");
    assert_eq!(s.location, Some(ncgi(8)));
}

#[test]
fn other_procedures_are_named_not_errors() {
    let setup = build_ngap!(
        InitiatingMessage,
        NGSetup,
        NGSetupRequest,
        DefaultPagingDRX(PagingDRX::v128),
    )
    .unwrap()
    .encode()
    .unwrap();
    let (v, bad) = NgapView::parse(&setup).unwrap();
    assert_eq!((v.procedure, v.name, bad), (21, Some("NGSetup"), None));
    let mut r = Run::new();
    assert_eq!(r.push(GNB1, true, &setup), None);
    assert_eq!(procedure_name(46), Some("UplinkNASTransport"));
    assert_eq!(procedure_name(250), None);
}

#[test]
fn bytes_that_are_no_pdu_are_errors_not_panics() {
    let pdu = initial_ue(7, hex(REGISTRATION), 5);
    for n in 0..pdu.len() {
        let _ = NgapView::parse(&pdu[..n]);
        let _ = NasFacts::parse(&pdu[..n]);
    }
    let e = NgapView::parse(&[0xff, 0xff, 0xff]).unwrap_err();
    assert_eq!(e.layer, crate::error::Layer::Ngap);
    let mut flipped = pdu.clone();
    for i in 0..flipped.len() {
        flipped[i] ^= 0x5a;
        let _ = NgapView::parse(&flipped);
        flipped[i] ^= 0x5a;
    }
}

use super::correlate::{message_code, SbiCorrelator};
use super::model::{AmfRegistration, Guami, PlmnId, RatType};
use super::*;
use crate::flow::FlowKey;
use crate::http::{Exchange, Head, Version};
use crate::signal::SignalKind;
use std::net::{IpAddr, Ipv4Addr};

const PATH: &str = "/nudm-uecm/v1/imsi-999700000021309/registrations/amf-3gpp-access";

fn e212() -> E212 {
    E212::default()
        .with_override_spec("999=2:999")
        .unwrap()
        .with_override_spec("001=2:001")
        .unwrap()
}

fn exchange(hop: u8, id: u64) -> Exchange {
    let a = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(127, 0, 1, hop));
    Exchange {
        conn: FlowKey::new(a, 40000 + u16::from(hop), b, 7777).connection(),
        version: Version::H2,
        id,
    }
}

fn registration(initial: bool) -> Vec<u8> {
    serde_json::to_vec(&AmfRegistration {
        amf_instance_id: "2746064e".into(),
        dereg_callback_uri: "http://127.0.0.5:7777/namf-callback/v1/x/dereg-notify".into(),
        guami: Guami {
            plmn_id: PlmnId {
                mcc: "001".into(),
                mnc: "01".into(),
            },
            amf_id: "020040".into(),
        },
        rat_type: RatType::Nr,
        initial_registration_ind: Some(initial),
        purge_flag: None,
        pei: None,
        supi: None,
    })
    .unwrap()
}

struct Msg {
    head: Head,
    body: Vec<u8>,
    exchange: Exchange,
    frame: u64,
}

fn request(method: Method, path: &str, body: Vec<u8>, exchange: Exchange, frame: u64) -> Msg {
    Msg {
        head: Head {
            method: Some(method),
            path: Some(path.into()),
            content_type: Some("application/json".into()),
            ..Head::default()
        },
        body,
        exchange,
        frame,
    }
}

fn response(status: u16, exchange: Exchange, frame: u64) -> Msg {
    Msg {
        head: Head {
            status: Some(status),
            ..Head::default()
        },
        body: Vec::new(),
        exchange,
        frame,
    }
}

fn push(c: &mut SbiCorrelator, m: &Msg) -> Option<crate::Signal> {
    let meta = PacketMeta {
        file: 0,
        frame: m.frame,
        ts_us: 1_000_000 + m.frame as i64,
    };
    let http = HttpMessage {
        start: meta,
        meta,
        flow: m.exchange.conn,
        exchange: Some(m.exchange),
        head: &m.head,
        body: &m.body,
    };
    let (_, err, signal) = c.push(&http);
    assert!(err.is_none(), "{err:?}");
    signal
}

#[test]
fn paths_name_service_resource_and_subscriber() {
    let t = target(PATH).unwrap();
    assert_eq!(t.service, Service::NudmUecm);
    assert_eq!(t.resource, Resource::AmfRegistration(Access::ThreeGpp));
    assert_eq!(t.imsi.unwrap().as_str(), "999700000021309");
    let t =
        target("/nudm-uecm/v1/imsi-1234567/registrations/amf-non-3gpp-access/dereg-amf").unwrap();
    assert_eq!(t.resource, Resource::AmfDeregistration(Access::NonThreeGpp));
    let t = target("/nudm-sdm/v2/imsi-999700000021309/am-data?plmn-id=%7B%7D").unwrap();
    assert_eq!(t.resource, Resource::AmData);
    let t = target("/nausf-auth/v1/ue-authentications").unwrap();
    assert_eq!(t.resource, Resource::UeAuthentications);
    assert_eq!(target("/index.html"), None);
    assert_eq!(target("relative"), None);
}

#[test]
fn subscriber_identities() {
    assert_eq!(
        imsi_of("suci-0-999-70-0-0-0-0000021309").unwrap().as_str(),
        "999700000021309"
    );
    assert_eq!(
        imsi_of("suci-0-208-93-0000-0-0-00007487").unwrap().as_str(),
        "2089300007487"
    );
    // A concealed SUCI (profile A) names nobody; nor do NAIs and GPSIs.
    assert_eq!(imsi_of("suci-0-208-93-0-1-1-a1b2c3d4e5"), None);
    assert_eq!(imsi_of("nai-user@realm"), None);
    assert_eq!(imsi_of("msisdn-491725670014"), None);
    assert_eq!(imsi_of("imsi-12x"), None);
}

#[test]
fn serving_network_names() {
    let e = e212();
    assert_eq!(
        serving_network("5G:mnc001.mcc001.3gppnetwork.org", &e),
        Plmn::parse("001-01")
    );
    assert_eq!(
        serving_network("5G:mnc070.mcc999.3gppnetwork.org", &e),
        Plmn::parse("999-70")
    );
    assert_eq!(serving_network("5G:mnc01.mcc001.3gppnetwork.org", &e), None);
    assert_eq!(serving_network("EPS:mnc001.mcc001", &e), None);
}

#[test]
fn registration_schema_requires_its_members() {
    let ok: Result<AmfRegistration, _> = serde_json::from_slice(&registration(true));
    assert!(ok.is_ok());
    let missing_guami = br#"{"amfInstanceId":"x","deregCallbackUri":"y","ratType":"NR"}"#;
    assert!(serde_json::from_slice::<AmfRegistration>(missing_guami).is_err());
    let odd_rat = br#"{"amfInstanceId":"x","deregCallbackUri":"y","ratType":"NR_LEO","guami":{"plmnId":{"mcc":"001","mnc":"01"},"amfId":"1"}}"#;
    let r: AmfRegistration = serde_json::from_slice(odd_rat).unwrap();
    assert_eq!(r.rat_type, RatType::Other);
    assert_eq!(r.rat_type.code(), None);
}

#[test]
fn a_registration_relayed_by_seps_is_one_attach() {
    let mut c = SbiCorrelator::new(e212());
    let body = registration(true);
    // AMF -> SCP -> vSEPP -> hSEPP -> UDM: four exchanges, the same request.
    for (hop, frame) in [(1u8, 10u64), (2, 11), (3, 12), (4, 13)] {
        let r = request(Method::Put, PATH, body.clone(), exchange(hop, 31), frame);
        assert!(push(&mut c, &r).is_none());
    }
    // The answers come back from the UDM outwards: the first completes it.
    let first = push(&mut c, &response(201, exchange(4, 31), 20)).expect("signal");
    assert_eq!(first.kind, SignalKind::Attach);
    assert_eq!(first.at, 1_000_010, "the first copy's time");
    assert_eq!(first.source.frame, 10);
    assert_eq!(first.serving, Plmn::parse("001-01"));
    assert_eq!(first.home, Plmn::parse("999-70"));
    assert_eq!(first.rat, Some(1006));
    assert_eq!(
        first.source.message,
        message_code(Service::NudmUecm, Method::Put)
    );
    for (hop, frame) in [(3u8, 21u64), (2, 22), (1, 23)] {
        assert!(push(&mut c, &response(201, exchange(hop, 31), frame)).is_none());
    }
    assert_eq!(c.stats().relay_copies, 3);
    assert_eq!(c.stats().copy_answers, 3);
    assert_eq!(c.stats().signals, 1);
    // The same registration again after its answer is a new transaction.
    let again = request(Method::Put, PATH, registration(false), exchange(1, 33), 30);
    push(&mut c, &again);
    let s = push(&mut c, &response(200, exchange(1, 33), 31)).expect("signal");
    assert_eq!(s.kind, SignalKind::LocationUpdate);
}

#[test]
fn answers_decide_the_signal() {
    let mut c = SbiCorrelator::new(e212());
    push(
        &mut c,
        &request(Method::Put, PATH, registration(true), exchange(1, 1), 1),
    );
    let s = push(&mut c, &response(403, exchange(1, 1), 2)).expect("rejected");
    assert_eq!(s.kind, SignalKind::Rejected);
    push(
        &mut c,
        &request(Method::Put, PATH, registration(true), exchange(1, 3), 3),
    );
    assert!(push(&mut c, &response(503, exchange(1, 3), 4)).is_none());
    assert_eq!(c.stats().failed, 1);
    let purge =
        br#"{"guami":{"plmnId":{"mcc":"001","mnc":"01"},"amfId":"020040"},"purgeFlag":true}"#;
    push(
        &mut c,
        &request(Method::Patch, PATH, purge.to_vec(), exchange(1, 5), 5),
    );
    let s = push(&mut c, &response(204, exchange(1, 5), 6)).expect("purge");
    assert_eq!(s.kind, SignalKind::Purge);
    assert_eq!(s.serving, Plmn::parse("001-01"));
    let auth = br#"{"supiOrSuci":"suci-0-999-70-0-0-0-0000021309","servingNetworkName":"5G:mnc001.mcc001.3gppnetwork.org"}"#;
    push(
        &mut c,
        &request(
            Method::Post,
            "/nausf-auth/v1/ue-authentications",
            auth.to_vec(),
            exchange(1, 7),
            7,
        ),
    );
    let s = push(&mut c, &response(201, exchange(1, 7), 8)).expect("auth");
    assert_eq!(s.kind, SignalKind::Auth);
    assert_eq!(s.imsi.as_str(), "999700000021309");
    assert_eq!(s.serving, Plmn::parse("001-01"));
    // An answer to nothing tracked gives nothing.
    assert!(push(&mut c, &response(200, exchange(1, 99), 9)).is_none());
    assert_eq!(c.stats().unmatched, 1);
}

#[test]
fn a_bad_body_is_an_error_not_a_signal() {
    let mut c = SbiCorrelator::new(e212());
    let m = request(
        Method::Put,
        PATH,
        b"{\"guami\":".to_vec(),
        exchange(1, 1),
        1,
    );
    let meta = PacketMeta::default();
    let http = HttpMessage {
        start: meta,
        meta,
        flow: m.exchange.conn,
        exchange: Some(m.exchange),
        head: &m.head,
        body: &m.body,
    };
    let (_, err, signal) = c.push(&http);
    assert_eq!(err.unwrap().layer, crate::error::Layer::Sbi);
    assert!(signal.is_none());
}
